"""Show where a doomed execution gets stuck: extend a can-finish counterexample to a lasso.

The shortest can-finish counterexample ends at the first state from which some agent can no
longer finish; for an ABBA deadlock that is often before anyone even blocks. A reader wants
to see the deadlock itself, so the trace is extended to the nearest state of a bottom
strongly connected component (where every execution ends up: CPUs spinning on each other, or
nobody able to move) and, when that component has a cycle, once round the cycle, marked as the
repeating part.
"""

from __future__ import annotations

from collections import deque

import networkx as nx

from lockbreak.core import A, CheckResult, Model, S, Stats, Status, Step, Trace, successors

_LIMIT = 200_000


def cannot_finish(model: Model[S, A], name: str, doomed: Trace[S, A], agent: str,
                  stats: Stats) -> CheckResult:
    """The CAN_FINISH violation of property ``name``: after the last step of ``doomed``,
    ``agent`` can no longer finish; the trace is shown extended to where the CPUs are stuck
    (`extend_to_stuck`)."""
    trace = extend_to_stuck(model, doomed)
    where = ("the steps marked repeat forever" if trace.loop_start is not None
             else "nothing can move at the end")
    return CheckResult(name, Status.VIOLATED, trace, stats,
                       f"{agent} can never finish after step {len(doomed)}; {where}")


def extend_to_stuck(model: Model[S, A], trace: Trace[S, A], limit: int = _LIMIT) -> Trace[S, A]:
    """``trace`` continued to a bottom component (and once round its cycle, if it has one).

    Returns ``trace`` unchanged when more than ``limit`` states are reachable from its end.
    """
    start = trace.states[-1]
    index: dict[S, int] = {start: 0}
    states: list[S] = [start]
    parent: list[tuple[int, int]] = [(-1, -1)]
    graph = nx.DiGraph()
    graph.add_node(0)
    queue = deque([0])
    while queue:
        i = queue.popleft()
        for action_index, after, _, _ in successors(model, states[i]):
            j = index.get(after)
            if j is None:
                if len(states) >= limit:
                    return trace
                j = index[after] = len(states)
                states.append(after)
                parent.append((i, action_index))
                queue.append(j)
            graph.add_edge(i, j, action=action_index)
    condensed = nx.condensation(graph)
    bottom = {node for node in condensed if condensed.out_degree(node) == 0}
    members = condensed.graph["mapping"]
    target = min(i for i in range(len(states)) if members[i] in bottom)
    stem = _path_to(parent, target)
    component = {i for i, c in members.items() if c == members[target]}
    cycle = _cycle_through(graph, target, component)
    steps = list(trace.steps)
    state = start
    for action_index in stem:
        state = _take(model, state, action_index, steps)
    loop_start = None
    if cycle:
        loop_start = len(steps)
        for action_index in cycle:
            state = _take(model, state, action_index, steps)
    return Trace(trace.init, tuple(steps), loop_start)


def _take(model: Model[S, A], state: S, action_index: int, steps: list[Step[S, A]]) -> S:
    action = model.actions(state)[action_index]
    after = model.next_state(state, action)
    steps.append(Step(action_index, action, after))
    return after


def _path_to(parent: list[tuple[int, int]], target: int) -> list[int]:
    path = []
    node = target
    while parent[node][0] >= 0:
        node, action_index = parent[node]
        path.append(action_index)
    return path[::-1]


def _cycle_through(graph: nx.DiGraph, node: int, component: set[int]) -> list[int]:
    """Action indices of a shortest cycle from ``node`` back to itself inside ``component``."""
    if graph.has_edge(node, node):
        return [graph.edges[node, node]["action"]]
    back: dict[int, tuple[int, int]] = {}
    queue = deque([node])
    while queue:
        i = queue.popleft()
        for j in sorted(graph.successors(i)):
            if j not in component or j in back:
                continue
            back[j] = (i, graph.edges[i, j]["action"])
            if j == node:
                path = []
                k = node
                while True:
                    k, action_index = back[k]
                    path.append(action_index)
                    if k == node:
                        return path[::-1]
            queue.append(j)
    return []
