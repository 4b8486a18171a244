"""Fair liveness and worst cases, decided on the whole labelled state graph.

Both kinds of property are about *obligations*: per agent, something that is open in a state
and should close (a lock acquisition that has started, a wakeup not yet served, a program not
yet finished). The model reports them as ``obligations(state)``, a bitmask with bit
``p * len(agents) + a`` for property ``p`` and agent ``a``, and reports every transition as
``moves(state)``: ``(agent, next_state, ticks)`` in ``successors`` order, with agent -1 for the
environment, which no fairness assumption covers.

* A FAIR property fails when an obligation can stay open forever in an execution that is
  weakly fair to every agent: a strongly connected component of the states where it is open,
  in which every agent either moves or is unable to move somewhere (weak fairness only asks
  a continuously enabled agent to move, and a cycle through the whole component does both),
  or a state where it is open and nothing can move at all. The counterexample is a lasso:
  the shortest path to the component, then a cycle through it that meets every fairness
  requirement, marked as repeating. Its witness is any cycle, fair or not, that keeps the
  obligation open: without one there was nothing for fairness to rule out.
* A WORST property's value is the longest time, in ticks, that an obligation stays open,
  counted from the transition that opens it (a tick ended by that transition counts) up to
  but not including the one that closes it. A cycle with a tick inside the open states, or a
  state where it is open and nothing can move, makes it unbounded. The counterexample is the
  path that attains the worst case (or the lasso that makes it unbounded). Its witness is an
  obligation that opened at all.

Strongly connected components come from `scipy.sparse.csgraph`; the rest is numpy over flat
edge arrays, so graphs of millions of edges stay cheap.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, runtime_checkable

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from lockbreak.core import (
    A,
    Budget,
    CheckResult,
    Model,
    PropertyKind,
    S,
    Stats,
    Status,
    Step,
    Trace,
)
from lockbreak.engines import longest_interval
from lockbreak.engines.choice_guards import guard_moves, guarded_graph
from lockbreak.engines.longest_interval import Component
from lockbreak.engines.streett import (
    FairComponents,
    GuardedGraph,
    UnfairCycle,
    fair_components,
    fair_cycle,
)


class _NoPath(Exception):
    """No path within the given states reaches the goal."""


@runtime_checkable
class ObligationModel(Protocol):
    """What a model adds to `lockbreak.core.Model` for FAIR and WORST properties."""

    def moves(self, state: Any) -> Sequence[tuple[int, Any, int]]: ...

    def obligations(self, state: Any) -> int: ...


@dataclass
class LabelledGraph(Generic[S]):
    """Every reachable state (BFS order) and every transition with its agent and ticks.

    ``parent[k]`` is the edge by which BFS first reached state ``k`` (-1 for initial states),
    so paths from an initial state along parents are shortest.
    """

    states: list[S]
    src: np.ndarray
    dst: np.ndarray
    agent: np.ndarray
    ticks: np.ndarray
    index: np.ndarray          # action index of each edge in its source's `moves` order
    parent: np.ndarray
    depth: np.ndarray          # BFS depth of each state
    obligations: list[int]
    enabled: np.ndarray        # per state: bitmask of agents that can move there
    seconds: float
    cut_short: str             # why the graph is partial ("" when complete)


def labelled_graph(model: Model[S, A], budget: Budget = Budget()  # noqa: B008 (frozen)
                   ) -> LabelledGraph[S]:
    """Explore ``model`` breadth-first, keeping every edge with its agent and ticks."""
    assert isinstance(model, ObligationModel)
    start = time.monotonic()
    deadline = start + budget.timeout if budget.timeout is not None else float("inf")
    limit = budget.max_states if budget.max_states is not None else float("inf")
    ids: dict[S, int] = {}
    states: list[S] = []
    parent: list[int] = []
    depth: list[int] = []
    for state in model.init_states():
        if state not in ids:
            ids[state] = len(states)
            states.append(state)
            parent.append(-1)
            depth.append(0)
    src: list[int] = []
    dst: list[int] = []
    agents: list[int] = []
    ticks: list[int] = []
    index: list[int] = []
    enabled: list[int] = []
    cut_short = ""
    k = 0
    while k < len(states):
        if k % 1024 == 0 and time.monotonic() > deadline:
            cut_short = budget.out_of_time()
            break
        mask = 0
        for i, (agent, after, tick) in enumerate(model.moves(states[k])):
            target = ids.get(after)
            if target is None:
                if len(states) >= limit:
                    cut_short = budget.out_of_states()
                    break
                target = ids[after] = len(states)
                states.append(after)
                parent.append(len(src))
                depth.append(depth[k] + 1)
            src.append(k)
            dst.append(target)
            agents.append(agent)
            ticks.append(tick)
            index.append(i)
            if agent >= 0:
                mask |= 1 << agent
        if cut_short:
            break
        enabled.append(mask)
        k += 1
    enabled += [0] * (len(states) - len(enabled))
    return LabelledGraph(
        states, np.array(src, dtype=np.int64), np.array(dst, dtype=np.int64),
        np.array(agents, dtype=np.int64), np.array(ticks, dtype=np.int64),
        np.array(index, dtype=np.int64), np.array(parent, dtype=np.int64),
        np.array(depth, dtype=np.int64), [model.obligations(s) for s in states],
        np.array(enabled, dtype=mask_dtype(len(model.agents))),
        time.monotonic() - start, cut_short)


def mask_dtype(n_agents: int) -> np.dtype:
    """The dtype of a bitmask over ``n_agents`` agents: int64 while they fit beside its sign
    bit, Python integers (an object array, slower but unbounded) for more CPUs than that."""
    return np.dtype(np.int64) if n_agents < 63 else np.dtype(object)


def agent_bits(agents: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``1 << agent`` for each agent, in the bitmask dtype ``dtype`` (`mask_dtype`)."""
    if dtype == np.int64:
        return np.left_shift(1, agents.astype(np.int64))
    return np.array([1 << int(a) for a in agents], dtype=object)


def check_obligations(model: Model[S, A], bits: Sequence[int],
                      budget: Budget = Budget()  # noqa: B008 (frozen)
                      ) -> list[CheckResult]:
    """Decide the FAIR and WORST properties at positions ``bits`` of ``model.property_names``."""
    names = [model.property_names[b] for b in bits]
    if not isinstance(model, ObligationModel):
        return [CheckResult(name, Status.INCOMPLETE, detail=(
            f"{type(model).__name__} reports no obligations (moves, obligations), so this "
            "property cannot be decided on it")) for name in names]
    graph = labelled_graph(model, budget)
    stats = Stats(len(graph.states), len(graph.src), int(graph.depth.max(initial=0)),
                  graph.seconds)
    if graph.cut_short:
        return [CheckResult(name, Status.INCOMPLETE, stats=stats, detail=graph.cut_short)
                for name in names]
    return decide(Analysis(model, graph), bits, stats)


def strongly_fair(analysis: Analysis[S, A], bit: int, guards: GuardedGraph) -> CheckResult:
    """The FAIR property at ``bit`` under weak fairness to every agent and strong fairness on
    every `*` guard (docs/semantics.md section 10), decided by `streett.fair_components`.

    As `Analysis.fair`: a state where the obligation is open and nothing can move, or the
    shallowest state of a fair component, gives the counterexample; any cycle that keeps it
    open, fair or not, is its witness. The lasso is replayed before it is reported: it must
    keep the obligation open, be weakly fair (`open_forever`) and take both outcomes of every
    guard its loop takes (`choices_fair`).
    """
    model, depth = analysis.model, analysis.depth
    witnessed = False
    best: tuple[int, int, int, np.ndarray, FairComponents] | None = None
    for agent in range(analysis.n_agents):
        inside = analysis.open_states(bit, agent)
        if not inside.any():
            continue
        members = np.flatnonzero(inside)
        labels, internal, count = analysis.components(inside)
        witnessed = witnessed or bool(analysis.cyclic(labels, internal, count)[labels].any())
        found = fair_components(guards, inside)
        for k in members[~analysis.has_out[members]]:     # a finite execution ends open
            if best is None or depth[k] < best[0]:
                best = (int(depth[k]), agent, int(k), inside, found)
        candidates = members[found.fair[found.labels[members]]]
        if len(candidates):
            k = int(candidates[np.argmin(depth[candidates])])
            if best is None or depth[k] < best[0]:
                best = (int(depth[k]), agent, k, inside, found)
    if best is None:
        if not witnessed:
            return CheckResult("", Status.VACUOUS, detail=(
                "never violated, but no execution, fair or not, keeps it open forever"))
        return CheckResult("", Status.HOLDS)
    _, agent, entry, inside, found = best
    who = model.agents[agent]
    if not analysis.has_out[entry]:
        return CheckResult("", Status.VIOLATED, analysis.path_to(entry), detail=(
            f"{who} can never be served: nothing can move at the end (a deadlock)"))
    cycle = fair_cycle(guards, found, entry)
    trace = analysis.lasso(entry, cycle)
    if open_forever(model, trace, bit, fair=True) is None or not choices_fair(model, trace):
        raise UnfairCycle(f"the fair cycle found for {who} does not replay as one")
    others = [model.agents[a] for a in analysis._open_throughout(bit, cycle) if a != agent]
    return never_served(trace, who, others, analysis._can_close(entry, inside))


def decide(analysis: Analysis[S, A], bits: Sequence[int], stats: Stats) -> list[CheckResult]:
    """The results of the FAIR and WORST properties at positions ``bits``, on one analysed
    graph (whichever engine built it) explored with ``stats``."""
    model = analysis.model
    fair = any(model.property_kinds[bit] is PropertyKind.FAIR for bit in bits)
    guards = guarded_graph(analysis) if fair else None
    results = []
    for bit in bits:
        kind = model.property_kinds[bit]
        if kind is PropertyKind.FAIR and guards is not None:
            result = strongly_fair(analysis, bit, guards)
        elif kind is PropertyKind.FAIR:
            result = analysis.fair(bit)
        else:
            result = analysis.worst(bit)
        result.property = model.property_names[bit]
        result.stats = stats
        results.append(result)
    return results


def never_served(trace: Trace[Any, Any], who: str, others: Sequence[str],
                 can_close: bool) -> CheckResult:
    """The violation a fair lasso shows: ``who`` (and ``others``, open throughout its loop)
    never served, in an execution fair to every agent when the obligation could still close
    (``can_close``), else whatever the execution does from the loop on.

    Spinning and restarting are both moves here, so a cycle that can never serve ``who`` may
    be a deadlock or a livelock: the trace's explanation tells them apart.
    """
    if can_close:
        served = " and ".join([who, *others])
        why = (f"{served} {'is' if not others else 'are'} never served in an execution "
               "fair to every agent")
    else:
        why = f"{who} can never be served after step {trace.loop_start}, fair or not"
        if others:
            why += (f", and {' and '.join(others)} {'is' if len(others) == 1 else 'are'} "
                    "not served in the repeating steps either")
    return CheckResult("", Status.VIOLATED, trace, detail=f"{why}; the steps marked repeat forever")


class Analysis(Generic[S, A]):
    """The per-property questions, sharing one graph and its adjacency.

    The graph may be any object with `LabelledGraph`'s fields: ``states`` need only be
    indexable, and a subclass whose obligations are kept otherwise overrides `owing`.
    """

    def __init__(self, model: Model[S, A], graph: LabelledGraph[S]) -> None:
        self.model, self.graph = model, graph
        self.n_agents = len(model.agents)
        self.n = len(graph.states)
        self.depth = graph.depth
        # Both graph builders list edges by source, so a source's edges are one slice.
        self.out_order: np.ndarray | None = None
        if len(graph.src) and (np.diff(graph.src) < 0).any():
            self.out_order = np.argsort(graph.src, kind="stable")
        ordered = graph.src if self.out_order is None else graph.src[self.out_order]
        self.out_start = np.searchsorted(ordered, np.arange(self.n + 1))
        self.has_out = np.diff(self.out_start) > 0
        self.all_agents = (1 << self.n_agents) - 1

    # ------------------------------------------------------------ shared pieces


    def out_edges(self, k: int) -> list[int]:
        """The indices of the edges out of state ``k``."""
        lo, hi = int(self.out_start[k]), int(self.out_start[k + 1])
        return list(range(lo, hi)) if self.out_order is None else self.out_order[lo:hi].tolist()
    def owing(self, state: int) -> int:
        """State ``state``'s open obligations, as the model's ``obligations`` bitmask."""
        return int(self.graph.obligations[state])

    def open_states(self, bit: int, agent: int) -> np.ndarray:
        shift = bit * self.n_agents + agent
        return np.fromiter(((o >> shift) & 1 for o in self.graph.obligations), dtype=bool,
                           count=self.n)

    def components(self, inside: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        """SCC labels of the subgraph of ``inside`` states, the mask of edges that stay inside
        one component, and the number of components."""
        g = self.graph
        internal = inside[g.src] & inside[g.dst]
        matrix = csr_matrix((np.ones(int(internal.sum()), dtype=np.int8),
                             (g.src[internal], g.dst[internal])), shape=(self.n, self.n))
        count, labels = connected_components(matrix, directed=True, connection="strong")
        return labels, internal & (labels[g.src] == labels[g.dst]), count

    def cyclic(self, labels: np.ndarray, internal: np.ndarray, count: int) -> np.ndarray:
        """Per component: whether it holds a cycle (two or more states, or a self-loop)."""
        g = self.graph
        size = np.bincount(labels, minlength=count)
        loops = np.zeros(count, dtype=bool)
        loops[labels[g.src[internal & (g.src == g.dst)]]] = True
        return (size > 1) | loops

    def stem(self, target: int) -> list[int]:
        """Edges of the shortest path from an initial state to ``target``."""
        edges = []
        while self.graph.parent[target] >= 0:
            e = int(self.graph.parent[target])
            edges.append(e)
            target = int(self.graph.src[e])
        return edges[::-1]

    def path_within(self, start: int, inside: np.ndarray | Component,
                    goal: Callable[[int, int | None], bool]) -> list[int]:
        """Edges of a shortest path from ``start`` through ``inside`` states to one that
        ``goal(state, edge)`` accepts (``edge`` is the last edge taken, None at ``start``)."""
        g = self.graph
        if goal(start, None):
            return []
        seen = {start: -1}
        queue = deque([start])
        while queue:
            k = queue.popleft()
            for e in self.out_edges(k):
                t = int(g.dst[e])
                if not inside[t]:
                    continue
                if goal(t, int(e)):
                    path = [int(e)]
                    while k != start:
                        path.append(seen[k])
                        k = int(g.src[seen[k]])
                    return path[::-1]
                if t not in seen:
                    seen[t] = int(e)
                    queue.append(t)
        raise _NoPath

    def trace(self, edges: list[int], loop_at: int | None = None,
              start: int | None = None) -> Trace[S, A]:
        """The trace along ``edges``, which start at state ``start`` (default: where the first
        edge starts); ``loop_at`` marks where a lasso's repeating part begins."""
        g = self.graph
        if start is None:
            start = int(g.src[edges[0]])
        steps = []
        for e in edges:
            state = g.states[int(g.src[e])]
            action = self.model.actions(state)[int(g.index[e])]
            steps.append(Step(int(g.index[e]), action, g.states[int(g.dst[e])]))
        return Trace(g.states[start], tuple(steps), loop_at)

    def path_to(self, target: int) -> Trace[S, A]:
        """The shortest trace from an initial state to ``target``."""
        stem = self.stem(target)
        return self.trace(stem, start=int(self.graph.src[stem[0]]) if stem else target)

    def lasso(self, entry: int, cycle: list[int]) -> Trace[S, A]:
        """The shortest path to ``entry``, then ``cycle`` (which returns to it), repeating."""
        stem = self.stem(entry)
        start = int(self.graph.src[stem[0]]) if stem else entry
        return self.trace(stem + cycle, len(stem), start)

    # ------------------------------------------------------------ FAIR

    def fair(self, bit: int) -> CheckResult:
        g = self.graph
        witnessed = False
        best: tuple[int, int, int, np.ndarray, np.ndarray] | None = None
        depth = self.depth
        for agent in range(self.n_agents):
            inside = self.open_states(bit, agent)
            if not inside.any():
                continue
            labels, internal, count = self.components(inside)
            cyclic = self.cyclic(labels, internal, count)
            members = np.flatnonzero(inside)
            witnessed = witnessed or bool(cyclic[labels[members]].any())
            moving = np.zeros(count, dtype=g.enabled.dtype)
            mover = internal & (g.agent >= 0)
            np.bitwise_or.at(moving, labels[g.src[mover]], agent_bits(g.agent[mover],
                                                                      g.enabled.dtype))
            unable = np.zeros(count, dtype=g.enabled.dtype)
            np.bitwise_or.at(unable, labels[members], self.all_agents & ~g.enabled[members])
            fair = cyclic & ((moving | unable) & self.all_agents == self.all_agents)
            stuck = members[~self.has_out[members]]
            for k in stuck:                     # a finite execution that ends with it open
                if best is None or depth[k] < best[0]:
                    best = (int(depth[k]), agent, int(k), inside, labels)
            candidates = members[fair[labels[members]]]
            if len(candidates):
                k = int(candidates[np.argmin(depth[candidates])])
                if best is None or depth[k] < best[0]:
                    best = (int(depth[k]), agent, k, inside, labels)
        if best is None:
            if not witnessed:
                return CheckResult("", Status.VACUOUS, detail=(
                    "never violated, but no execution, fair or not, keeps it open forever"))
            return CheckResult("", Status.HOLDS)
        _, agent, entry, inside, labels = best
        if not self.has_out[entry]:
            return CheckResult("", Status.VIOLATED, self.path_to(entry), detail=(
                f"{self.model.agents[agent]} can never be served: nothing can move at the end "
                "(a deadlock)"))
        component = labels == labels[entry]
        cycle = self._fair_cycle(entry, component)
        trace = self.lasso(entry, cycle)
        others = [self.model.agents[a] for a in self._open_throughout(bit, cycle)
                  if a != agent]
        return never_served(trace, self.model.agents[agent], others,
                            self._can_close(entry, inside))

    def _open_throughout(self, bit: int, cycle: list[int]) -> list[int]:
        """The agents whose obligation ``bit`` stays open in every state of ``cycle``."""
        states = [int(self.graph.src[e]) for e in cycle]
        open_all = self.all_agents
        for k in states:
            open_all &= self.owing(k) >> (bit * self.n_agents)
        return [a for a in range(self.n_agents) if open_all >> a & 1]

    def _can_close(self, start: int, inside: np.ndarray) -> bool:
        """Whether some path from ``start`` reaches a state where the obligation is closed."""
        everywhere = np.ones(self.n, dtype=bool)
        try:
            self.path_within(start, everywhere, lambda state, edge: not inside[state])
        except _NoPath:
            return False
        return True

    def _fair_cycle(self, entry: int, component: np.ndarray) -> list[int]:
        """A cycle from ``entry`` inside ``component`` on which every agent moves or is unable
        to move at some state (the component is fair, so each agent can be served)."""
        g = self.graph
        cycle: list[int] = []
        at = entry
        for agent in range(self.n_agents):
            def served(state: int, edge: int | None, a: int = agent) -> bool:
                unable = not g.enabled[state] >> a & 1
                return unable or (edge is not None and int(g.agent[edge]) == a)

            if any(served(int(g.dst[e]), e) for e in cycle) or served(entry, None):
                continue
            leg = self.path_within(at, component, served)
            cycle += leg
            at = int(g.dst[leg[-1]]) if leg else at
        if cycle and at == entry:
            return cycle
        return cycle + self.path_within(at, component, lambda state, edge: edge is not None
                                        and state == entry)

    # ------------------------------------------------------------ WORST

    def worst(self, bit: int) -> CheckResult:
        """The WORST property at ``bit`` (`lockbreak.engines.longest_interval.worst`)."""
        return longest_interval.worst(self, bit)


# ---------------------------------------------------------------- re-checking a given trace

def open_forever(model: Model[S, A], trace: Trace[S, A], bit: int, *, fair: bool) -> str | None:
    """The agent whose obligation ``bit`` the lasso ``trace`` keeps open forever, or None.

    The repeating part must return to the state where it starts, keep the obligation open in
    every state it visits and, with ``fair``, move or disable every agent (weak fairness);
    without ``fair`` it must let time pass (a step with ticks). A trace without a loop must
    end where nothing can move, with the obligation still open.
    """
    assert isinstance(model, ObligationModel)
    n = len(model.agents)
    states = trace.states
    start = trace.loop_start
    if start is None:
        end = states[-1]
        if model.moves(end):
            return None
        loop_states = [end]
    else:
        if not trace.steps[start:] or states[-1] != states[start]:
            return None
        loop_states = states[start:-1]
    for agent in range(n):
        shift = bit * n + agent
        if not all(model.obligations(s) >> shift & 1 for s in loop_states):
            continue
        if start is None:
            return model.agents[agent]
        moved, unable, ticks = 0, 0, 0
        for state, step in zip(loop_states, trace.steps[start:], strict=True):
            moves = model.moves(state)
            mover, _, tick = moves[step.index]
            moved |= 1 << mover if mover >= 0 else 0
            ticks += tick
            enabled = sum(1 << a for a, _, _ in moves if a >= 0)
            unable |= ((1 << n) - 1) & ~enabled
        if (fair and (moved | unable) == (1 << n) - 1) or (not fair and ticks):
            return model.agents[agent]
    return None


def choices_fair(model: Model[S, A], trace: Trace[S, A]) -> bool:
    """Whether the repeating part of the lasso ``trace`` takes both outcomes of every `*`
    guard it takes (strong fairness on the choice, docs/semantics.md section 10); the model
    tells the guards by ``guard_outcomes(state)``, matched to moves by `guard_moves`."""
    assert isinstance(model, ObligationModel)
    guard_outcomes = getattr(model, "guard_outcomes", None)
    if guard_outcomes is None or trace.loop_start is None:
        return True
    outcomes: dict[tuple[int, int], set[int]] = {}
    for state, step in zip(trace.states[trace.loop_start:], trace.steps[trace.loop_start:],
                           strict=False):
        moves = [(agent, after) for agent, after, _ in model.moves(state)]
        for index, cpu, pc, taken in guard_moves(guard_outcomes(state), moves):
            if index == step.index:
                outcomes.setdefault((cpu, pc), set()).add(taken)
    return all(len(taken) == 2 for taken in outcomes.values())


def ticks_open_at_end(model: Model[S, A], trace: Trace[S, A], bit: int) -> int | None:
    """How long (ticks) the obligation ``bit`` that the last step of ``trace`` closes was open,
    counted as the WORST properties count; None if the last step closes none."""
    assert isinstance(model, ObligationModel)
    n = len(model.agents)
    states = trace.states
    best = None
    for agent in range(n):
        shift = bit * n + agent
        opened, ticks = bool(model.obligations(states[0]) >> shift & 1), 0
        for k, step in enumerate(trace.steps):
            before = model.obligations(states[k]) >> shift & 1
            after = model.obligations(states[k + 1]) >> shift & 1
            tick = model.moves(states[k])[step.index][2]
            if after and not before:
                opened, ticks = True, 0
            if after:
                ticks += tick
            elif before and k == len(trace.steps) - 1 and opened:
                best = max(best or 0, ticks)
            if not after:
                opened = False
    return best


def ticks_open_now(model: Model[S, A], trace: Trace[S, A], bit: int) -> list[int]:
    """Per agent, how long (ticks) its obligation ``bit`` has been open at the end of ``trace``,
    counted as the WORST properties count (0 where it is closed at the end)."""
    assert isinstance(model, ObligationModel)
    n = len(model.agents)
    states = trace.states
    out = []
    for agent in range(n):
        shift = bit * n + agent
        ticks = 0
        for k, step in enumerate(trace.steps):
            if model.obligations(states[k + 1]) >> shift & 1:
                ticks += model.moves(states[k])[step.index][2]
            else:
                ticks = 0
        out.append(ticks)
    return out
