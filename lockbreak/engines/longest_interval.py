"""The WORST properties on a labelled state graph: the longest time, in ticks, that an
obligation stays open (`worst`), taken over the DAG of the strongly connected components of
the open states a layer at a time (`dag_longest`), or the counterexample that makes it
unbounded. `lockbreak.engines.liveness.Analysis.worst` is this on its graph; the symmetry
quotient's analysis (`lockbreak.engines.worst_symmetry`) shares `dag_longest`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from lockbreak.core import A, CheckResult, LockbreakError, S, Status, Trace

if TYPE_CHECKING:
    from lockbreak.engines.liveness import Analysis


def worst(analysis: Analysis[S, A], bit: int) -> CheckResult:
    """The WORST property at ``bit`` on ``analysis``'s graph (the module docstring of
    `lockbreak.engines.liveness`): its worst case over every agent and the trace that
    attains it, or the counterexample that makes it unbounded."""
    g = analysis.graph
    best: tuple[int, int, Trace[S, A]] | None = None     # (ticks, agent, trace)
    opened = False
    depth = analysis.depth
    for agent in range(analysis.n_agents):
        inside = analysis.open_states(bit, agent)
        if not inside.any():
            continue
        opened = True
        labels, internal, count = analysis.components(inside)
        ticking = np.zeros(count, dtype=bool)
        ticking[labels[g.src[internal & (g.ticks > 0)]]] = True
        looping = ticking & analysis.cyclic(labels, internal, count)
        members = np.flatnonzero(inside)
        stuck = members[~analysis.has_out[members]]
        endless = members[looping[labels[members]]]
        if len(endless) or len(stuck):
            return _unbounded(analysis, agent, inside, labels, internal, endless, stuck, depth)
        ticks, trace = _longest(analysis, inside, labels, internal, count)
        if best is None or ticks > best[0]:
            best = (ticks, agent, trace)
    if not opened or best is None:
        return CheckResult("", Status.VACUOUS, detail=(
            "never violated, but it never had to wait: nothing ever opened"))
    ticks, agent, trace = best
    return CheckResult("", Status.HOLDS, trace, worst=ticks, detail=(
        f"worst case {ticks} tick{'s' if ticks != 1 else ''}, on {analysis.model.agents[agent]}"))


def _unbounded(analysis: Analysis[S, A], agent: int, inside: np.ndarray, labels: np.ndarray,
               internal: np.ndarray, endless: np.ndarray, stuck: np.ndarray,
               depth: np.ndarray) -> CheckResult:
    """The counterexample that makes ``agent``'s worst case unbounded: a shortest path to a
    state where its obligation is open and nothing can move, or a lasso whose loop lets
    time pass with it open (whichever starts shallower; the first on a tie)."""
    g = analysis.graph
    who = analysis.model.agents[agent]
    if len(stuck) and (not len(endless) or depth[stuck].min() <= depth[endless].min()):
        k = int(stuck[np.argmin(depth[stuck])])
        return CheckResult("", Status.VIOLATED, analysis.path_to(k), detail=(
            f"unbounded on {who}: it is never served, nothing can move at the end"))
    entry = int(endless[np.argmin(depth[endless])])
    component = labels == labels[entry]
    to_tick = analysis.path_within(entry, component, lambda state, edge: edge is not None
                               and bool(g.ticks[edge]) and bool(component[g.src[edge]]))
    at = int(g.dst[to_tick[-1]])
    home = analysis.path_within(at, component, lambda state, edge: state == entry
                            and edge is not None) if at != entry else []
    return CheckResult("", Status.VIOLATED, analysis.lasso(entry, to_tick + home), detail=(
        f"unbounded on {who}: it is never served while the steps marked repeat forever"))

def _longest(analysis: Analysis[S, A], inside: np.ndarray, labels: np.ndarray, internal: np.ndarray,
             count: int) -> tuple[int, Trace[S, A]]:
    """The longest open interval (ticks) and a path that attains it.

    With no ticking cycle inside, components are tick-free, so longest paths are taken
    over the component DAG; inside a component, moving costs nothing. The DAG is walked
    from its sinks back a layer at a time (all components whose successors are done),
    each layer one numpy reduction. Where several ways out of a component attain its
    value, a closing edge is taken before a following one, and the first in edge order
    among them; the first opening that attains the worst case is taken.
    """
    g = analysis.graph
    comp_src, comp_dst = labels[g.src], labels[g.dst]
    leaving = inside[g.src] & (comp_src != comp_dst)
    closing = np.flatnonzero(leaving & ~inside[g.dst])
    following = np.flatnonzero(leaving & inside[g.dst])
    value, _ = dag_longest(count, comp_src[following], comp_dst[following],
                           g.ticks[following], comp_src[closing])
    if (value[labels[inside]] < 0).any():
        raise LockbreakError(
            "an obligation stays open on a cycle without ticks: the model's time "
            "does not advance there")
    # Per component: its first closing edge if that attains its value (the interval
    # ends there), else its first following edge that does.
    exit_edge = np.full(count, len(g.src), dtype=np.int64)
    gained = g.ticks[following] + value[comp_dst[following]]
    attaining = following[gained == value[comp_src[following]]]
    np.minimum.at(exit_edge, comp_src[attaining], attaining)
    attaining = closing[value[comp_src[closing]] == 0]
    exit_edge[comp_src[attaining]] = len(g.src)
    np.minimum.at(exit_edge, comp_src[attaining], attaining)
    # Openings: an edge into an open state from a closed one, or an open initial state.
    opening = np.flatnonzero(~inside[g.src] & inside[g.dst])
    best_ticks, best_start = -1, (-1, -1)
    if len(opening):
        reached = g.ticks[opening] + value[comp_dst[opening]]
        first = int(opening[int(np.argmax(reached))])
        best_ticks, best_start = int(reached.max()), (int(g.dst[first]), first)
    roots = np.flatnonzero(inside & (g.parent < 0))
    if len(roots) and int(value[labels[roots]].max()) > best_ticks:
        k = int(roots[int(np.argmax(value[labels[roots]]))])
        best_ticks, best_start = int(value[labels[k]]), (k, -1)
    at, first = best_start
    edges = [*analysis.stem(int(g.src[first])), first] if first >= 0 else []
    start = int(g.src[edges[0]]) if edges else at
    while True:
        e = int(exit_edge[labels[at]])
        exit_from = int(g.src[e])
        if exit_from != at:
            def at_exit(state: int, _: int | None, target: int = exit_from) -> bool:
                return state == target

            edges += analysis.path_within(at, Component(labels, int(labels[at])), at_exit)
        edges.append(e)
        at = int(g.dst[e])
        if not inside[at]:
            return best_ticks, analysis.trace(edges, start=start)


class Component:
    """The states of one strongly connected component, as a mask `path_within` reads
    state by state (without a whole boolean column per component)."""

    def __init__(self, labels: np.ndarray, label: int) -> None:
        self.labels, self.label = labels, label

    def __getitem__(self, state: int) -> bool:
        return bool(self.labels[state] == self.label)



def dag_longest(count: int, src: np.ndarray, dst: np.ndarray, ticks: np.ndarray,
                closable: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per node of a graph of ``count`` nodes (edges ``src -> dst`` weighing ``ticks``): the
    heaviest path from it to a node of ``closable`` (ending there costs nothing), -1 where
    none is; and whether the node was settled. Nodes are settled a layer at a time, from the
    sinks back (Kahn's order): on a DAG every node is, and a node left unsettled is on a
    cycle or leads to one (its value is then not to be read)."""
    value = np.full(count, -1, dtype=np.int32)
    value[closable] = 0
    pending = np.bincount(src, minlength=count).astype(np.int32)
    order = np.argsort(dst, kind="stable")
    if len(order) < 1 << 31:
        order = order.astype(np.int32)
    into = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(np.bincount(dst, minlength=count), out=into[1:])
    ready = np.flatnonzero(pending == 0)
    while len(ready):
        lengths = into[ready + 1] - into[ready]
        at = np.repeat(into[ready] - np.cumsum(lengths) + lengths, lengths) + np.arange(
            int(lengths.sum()))
        edges = order[at]
        reachable = value[dst[edges]] >= 0
        np.maximum.at(value, src[edges[reachable]], ticks[edges[reachable]]
                      + value[dst[edges[reachable]]])
        touched = src[edges]
        np.subtract.at(pending, touched, 1)
        # Each settled node once (by sorting: numpy's hashing unique costs more per layer).
        ready = np.sort(touched[pending[touched] == 0])
        ready = ready[np.concatenate([[True], ready[1:] != ready[:-1]])] if len(ready) else ready
    return value, pending == 0
