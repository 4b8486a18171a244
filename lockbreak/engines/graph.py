"""The reachable state graph of a model, and the analyses that need the whole graph.

`reachable_graph` materialises states and labelled edges for tests and one-off questions ("can
CPU1 get lock B while CPU0 is in its loop?"), with a `networkx` view. `first_stuck` decides the
CAN_FINISH properties by backward reachability over flat edge arrays; the explicit engine calls
it on the edges it stored, so it must stay cheap in memory and never go through networkx.
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic

import numpy as np

from lockbreak.core import A, Budget, Model, S, successors

if TYPE_CHECKING:
    import networkx


Column = Sequence[int] | np.ndarray     # edge endpoints: an array('I'), a list or numpy


@dataclass(frozen=True)
class StateGraph(Generic[S, A]):
    """Every reachable state in BFS order and every transition between them.

    ``edges[e]`` is ``(src, dst, action_index)`` over state indices, and ``actions[e]`` is the
    action itself. ``complete`` is False when a budget cut the exploration short, in which case
    states past the cut have no outgoing edges.
    """

    states: tuple[S, ...]
    init: tuple[int, ...]
    edges: tuple[tuple[int, int, int], ...]
    actions: tuple[A, ...]
    complete: bool = True

    def to_networkx(self) -> networkx.MultiDiGraph:
        """The graph as a `networkx.MultiDiGraph`: node attribute ``state``, edge attributes
        ``action`` and ``index`` (the action's index, for replay)."""
        import networkx

        graph = networkx.MultiDiGraph()
        graph.add_nodes_from((k, {"state": s}) for k, s in enumerate(self.states))
        labelled = zip(self.edges, self.actions, strict=True)
        graph.add_edges_from((src, dst, {"action": action, "index": index})
                             for (src, dst, index), action in labelled)
        return graph

    def first_stuck(self, model: Model[S, Any]) -> tuple[int, int] | None:
        """`first_stuck` on this graph with ``model``'s `done` and ``must_finish``."""
        return first_stuck(len(self.states), [e[0] for e in self.edges],
                           [e[1] for e in self.edges], [model.done(s) for s in self.states],
                           model.must_finish, len(model.agents))


def reachable_graph(model: Model[S, A],
                    budget: Budget = Budget(),  # noqa: B008 (frozen, so one shared default is safe)
                    ) -> StateGraph[S, A]:
    """Explore ``model`` breadth-first and return its whole state graph.

    Parameters
    ----------
    model : Model
        Any object of the `lockbreak.core.Model` shape.
    budget : Budget
        ``max_states`` caps the stored states and ``timeout`` the seconds; either one running
        out gives a graph with ``complete=False``.

    Examples
    --------
    >>> from lockbreak.core import PropertyKind
    >>> class Ring:  # 0 -> 1 -> 2 -> 0
    ...     property_names, property_kinds, agents, must_finish = (), (), ("cpu0",), 0
    ...     def init_states(self): return (0,)
    ...     def actions(self, s): return ("step",)
    ...     def next_state(self, s, a): return (s + 1) % 3
    ...     def observe(self, before, action, after): return 0, 0
    ...     def done(self, s): return 0
    >>> reachable_graph(Ring()).edges
    ((0, 1, 0), (1, 2, 0), (2, 0, 0))
    """
    index: dict[S, int] = {}
    states: list[S] = []
    edges: list[tuple[int, int, int]] = []
    actions: list[A] = []
    limit = budget.max_states if budget.max_states is not None else float("inf")
    deadline = time.monotonic() + budget.timeout if budget.timeout is not None else float("inf")
    complete = True
    for state in model.init_states():
        if state not in index:
            if len(states) >= limit:
                complete = False
                break
            index[state] = len(states)
            states.append(state)
    init = tuple(range(len(states)))
    k = 0
    while complete and k < len(states):
        if k % 1024 == 0 and time.monotonic() > deadline:
            complete = False
            break
        state = states[k]
        enabled = model.actions(state)
        for action_index, after, _, _ in successors(model, state):
            target = index.get(after)
            if target is None:
                if len(states) >= limit:
                    complete = False
                    break
                target = index[after] = len(states)
                states.append(after)
            edges.append((k, target, action_index))
            actions.append(enabled[action_index])
        k += 1
    return StateGraph(tuple(states), init, tuple(edges), tuple(actions), complete)


def first_stuck(n_states: int, src: Column, dst: Column, done: Column,
                must_finish: int, n_agents: int, edge_perm: Column | None = None,
                perms: Sequence[Sequence[int]] = ()) -> tuple[int, int] | None:
    """The lowest-index state from which some must-finish agent can never finish.

    An agent *can finish* from a state when some path leads to a state whose ``done`` mask has
    the agent's bit. Because states are indexed in BFS order, the lowest such index is one of
    the shallowest stuck states, so the explicit engine's path to it is a shortest
    counterexample.

    Under symmetry the states are canonical representatives and agents change places along an
    edge: ``perms[edge_perm[e]][a]`` is the index agent ``a`` of edge ``e``'s source has in its
    (canonical) target. The question is then asked of (state, agent) pairs.

    Parameters
    ----------
    n_states : int
        States are ``0 .. n_states - 1``, all reachable.
    src, dst : Sequence[int]
        Edge ``e`` goes from ``src[e]`` to ``dst[e]``.
    done : Sequence[int]
        ``done[v]``: bitmask of agents finished in state ``v``.
    must_finish : int
        Bitmask of the agents expected to be able to finish.
    n_agents : int
        Number of agents (bits that ``done`` and ``must_finish`` may use).
    edge_perm, perms : optional
        The agent permutation of every edge, under symmetry.

    Returns
    -------
    tuple[int, int] or None
        ``(state, agent)`` with the lowest state, then the lowest agent; None when every
        must-finish agent can finish from every state.

    Examples
    --------
    Agent 0 finishes in state 2; state 3 is a dead end reached from the initial state 0:

    >>> first_stuck(4, src=[0, 1, 0], dst=[1, 2, 3], done=[0, 0, 1, 0], must_finish=1,
    ...             n_agents=1)
    (3, 0)
    """
    if edge_perm is None:
        return _first_stuck_plain(n_states, src, dst, done, must_finish, n_agents)
    return _first_stuck_symmetric(n_states, src, dst, edge_perm, done, must_finish,
                                  n_agents, perms)


def _first_stuck_plain(n_states: int, src: Column, dst: Column,
                       done: Column, must_finish: int,
                       n_agents: int) -> tuple[int, int] | None:
    """`first_stuck` without symmetry: one backward search per must-finish agent.

    The searches run level by level as numpy array operations over the reversed edges (the
    edges sorted by target), so a graph of tens of millions of edges is analysed in seconds
    rather than minutes.
    """
    sources, targets = _as_numpy(src), _as_numpy(dst)
    order = np.argsort(targets, kind="stable")   # fast: edges arrive nearly sorted
    rev_src = sources[order]
    del order
    start = np.zeros(n_states + 1, dtype=np.int64)
    np.cumsum(np.bincount(targets, minlength=n_states), out=start[1:])
    del targets
    finished = np.asarray(done, dtype=np.int64)
    stamp = np.zeros(n_states, dtype=np.int64)
    best: tuple[int, int] | None = None
    for agent in range(n_agents):
        if not must_finish >> agent & 1:
            continue
        can = (finished >> agent & 1).astype(bool)
        frontier = np.flatnonzero(can)
        while frontier.size:
            lo, counts = start[frontier], start[frontier + 1] - start[frontier]
            total = int(counts.sum())
            if not total:
                break
            # Positions lo[k] .. lo[k] + counts[k] - 1 for every frontier state k, flattened.
            offsets = np.arange(total) + np.repeat(lo - (np.cumsum(counts) - counts), counts)
            preds = rev_src[offsets]
            preds = preds[~can[preds]]
            can[preds] = True
            # Each new state once: of its copies, keep the one whose position its stamp holds
            # (a linear-time dedupe; sorting with np.unique would cost a log factor).
            positions = np.arange(preds.size)
            stamp[preds] = positions
            frontier = preds[stamp[preds] == positions]
        stuck = np.flatnonzero(~can)
        if stuck.size and (best is None or int(stuck[0]) < best[0]):
            best = (int(stuck[0]), agent)
    return best


def _as_numpy(column: Column) -> np.ndarray:
    """A read-only numpy view of an ``array('I')`` column or an array (no copy), or a copy of
    a list."""
    if isinstance(column, np.ndarray):
        return column
    if isinstance(column, array) and column.typecode == "I":
        return np.frombuffer(column, dtype=np.uint32) if len(column) else np.zeros(0, np.uint32)
    return np.asarray(column, dtype=np.int64)


def _first_stuck_symmetric(n_states: int, src: Column, dst: Column, edge_perm: Column,
                           done: Column, must_finish: int, n_agents: int,
                           perms: Sequence[Sequence[int]]) -> tuple[int, int] | None:
    """`first_stuck` over (state, agent) pairs, numbered ``state * n_agents + agent``: one
    backward search, level by level as numpy array operations over the reversed edges, as
    `_first_stuck_plain` does per agent.

    Every agent is seeded, not only the must-finish ones: a permutation may carry a
    must-finish agent's fate through any other agent's place.
    """
    k = n_agents
    targets = _as_numpy(dst)
    order = np.argsort(targets, kind="stable")
    rev_src = _as_numpy(src)[order].astype(np.int64)
    rev_perm = _as_numpy(edge_perm)[order]
    del order
    start = np.zeros(n_states + 1, dtype=np.int64)
    np.cumsum(np.bincount(targets, minlength=n_states), out=start[1:])
    del targets
    # inverse[p, place]: the agent of an edge's source that permutation p puts in ``place``.
    inverse = np.zeros((max(len(perms), 1), k), dtype=np.int64)
    for p, perm in enumerate(perms):
        inverse[p, list(perm)] = np.arange(len(perm))
    finished = np.asarray(done, dtype=np.int64)
    can = ((finished[:, None] >> np.arange(k)) & 1).astype(bool).reshape(-1)
    stamp = np.zeros(n_states * k, dtype=np.int64)
    frontier = np.flatnonzero(can)
    while frontier.size:
        states, places = frontier // k, frontier % k
        lo, counts = start[states], start[states + 1] - start[states]
        total = int(counts.sum())
        if not total:
            break
        offsets = np.arange(total) + np.repeat(lo - (np.cumsum(counts) - counts), counts)
        preds = rev_src[offsets] * k + inverse[rev_perm[offsets], np.repeat(places, counts)]
        preds = preds[~can[preds]]
        can[preds] = True
        positions = np.arange(preds.size)
        stamp[preds] = positions
        frontier = preds[stamp[preds] == positions]
    stuck = np.flatnonzero(~can)
    stuck = stuck[(must_finish >> (stuck % k)) & 1 == 1]
    if not stuck.size:
        return None
    v, agent = divmod(int(stuck[0]), k)
    return v, agent
