"""Fair cycles under weak fairness to every agent and strong fairness on every `*` guard.

docs/semantics.md section 10: a `*` guard is a choice on data the model does not keep, and the
choice is fair: an execution that takes guard ``g`` (a CPU's program point) infinitely often
takes each of its outcomes infinitely often. With weak fairness to the agents this is a Streett
condition, decided here by the standard refinement:

1. compute the strongly connected components of the candidate subgraph (the states where an
   obligation is open);
2. in a component where some guard has an edge but one of its outcomes has none, no fair
   execution can stay in the component and take that guard forever, so the guard's edges
   there (both outcomes) are removed, and the components of what remains are computed again;
3. at the fixed point, a component that holds a cycle, in which every agent moves or is unable
   to move somewhere, holds a fair cycle: one through an edge of each agent that must move and
   an edge of each outcome of each guard taken inside.

Removing edges only splits components, so recomputing the components of the whole subgraph each
round is the recursion done breadth-first: no recursion limit, one scipy call per round, and at
most one round per (component, guard) pair removed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components


class UnfairCycle(Exception):
    """A component judged fair yields no cycle meeting its requirements: a bug here, never a
    verdict."""


@dataclass(frozen=True)
class GuardedGraph:
    """A state graph as flat edge arrays, each edge labelled with the guard it takes.

    ``guard[e]`` is the `*` guard edge ``e`` tests (numbered from 0, -1 for an edge that tests
    none) and ``outcome[e]`` the outcome it takes (0 or 1); ``enabled[k]`` is the bitmask of
    agents that can move in state ``k`` (in the whole graph, not only the candidate subgraph).
    """

    n_states: int
    n_agents: int
    src: np.ndarray
    dst: np.ndarray
    agent: np.ndarray
    enabled: np.ndarray
    guard: np.ndarray
    outcome: np.ndarray


@dataclass(frozen=True)
class FairComponents:
    """The refinement's fixed point on one candidate subgraph.

    ``labels`` numbers each state's component; ``edges`` marks the edges left inside a
    component (guards that could not be taken fairly there are gone); ``fair`` says, per
    component, whether it holds a cycle that meets every fairness requirement.
    """

    labels: np.ndarray
    edges: np.ndarray
    fair: np.ndarray


def fair_components(graph: GuardedGraph, inside: np.ndarray) -> FairComponents:
    """The components of the ``inside`` states where an execution can stay forever and be
    weakly fair to every agent and strongly fair to every guard (the module's steps 1-3)."""
    g = graph
    alive = inside[g.src] & inside[g.dst]
    n_guards = int(g.guard.max(initial=-1)) + 1
    while True:
        count, labels = _components(g, alive)
        alive &= labels[g.src] == labels[g.dst]
        guarded = np.flatnonzero(alive & (g.guard >= 0))
        key = labels[g.src[guarded]].astype(np.int64) * n_guards + g.guard[guarded]
        has_false = np.unique(key[g.outcome[guarded] == 0])
        has_true = np.unique(key[g.outcome[guarded] == 1])
        one_sided = np.setxor1d(has_false, has_true, assume_unique=True)
        if not len(one_sided):
            break
        alive[guarded[np.isin(key, one_sided)]] = False
    return FairComponents(labels, alive, _weakly_fair(g, inside, labels, alive, count))


def _components(g: GuardedGraph, alive: np.ndarray) -> tuple[int, np.ndarray]:
    """The number of strongly connected components over the ``alive`` edges, and the labels."""
    matrix = csr_matrix((np.ones(int(alive.sum()), dtype=np.int8), (g.src[alive], g.dst[alive])),
                        shape=(g.n_states, g.n_states))
    return connected_components(matrix, directed=True, connection="strong")


def _weakly_fair(g: GuardedGraph, inside: np.ndarray, labels: np.ndarray, alive: np.ndarray,
                 count: int) -> np.ndarray:
    """Per component: a cycle (two states, or a self-loop) on which every agent either moves
    or is unable to move in one of its states."""
    members = np.flatnonzero(inside)
    size = np.bincount(labels[members], minlength=count)
    cyclic = size > 1
    cyclic[labels[g.src[alive & (g.src == g.dst)]]] = True
    everyone = (1 << g.n_agents) - 1
    dtype = g.enabled.dtype
    moving = np.zeros(count, dtype=dtype)
    mover = alive & (g.agent >= 0)
    bits = (np.left_shift(1, g.agent[mover].astype(np.int64)) if dtype == np.int64
            else np.array([1 << int(a) for a in g.agent[mover]], dtype=object))
    np.bitwise_or.at(moving, labels[g.src[mover]], bits)
    unable = np.zeros(count, dtype=dtype)
    np.bitwise_or.at(unable, labels[members], everyone & ~g.enabled[members])
    return cyclic & ((moving | unable) & everyone == everyone)


def fair_cycle(graph: GuardedGraph, found: FairComponents, entry: int) -> list[int]:
    """Edges of a cycle from ``entry`` back to it, inside its fair component, that moves every
    agent or passes a state where it cannot move, and takes both outcomes of every guard that
    has an edge in the component."""
    g = graph
    label = found.labels[entry]
    edges = np.flatnonzero(found.edges & (found.labels[g.src] == label))
    order = edges[np.argsort(g.src[edges], kind="stable")]
    start = np.searchsorted(g.src[order], np.arange(g.n_states + 1))
    requirements: list[Callable[[int, int | None], bool]] = []
    for agent in range(g.n_agents):
        def served(state: int, edge: int | None, a: int = agent) -> bool:
            return (not int(g.enabled[state]) >> a & 1
                    or (edge is not None and int(g.agent[edge]) == a))

        requirements.append(served)
    for guard in np.unique(g.guard[edges[g.guard[edges] >= 0]]).tolist():
        for outcome in (0, 1):
            def taken(_: int, edge: int | None, c: int = guard, o: int = outcome) -> bool:
                return edge is not None and int(g.guard[edge]) == c and int(g.outcome[edge]) == o

            requirements.append(taken)
    cycle: list[int] = []
    at = entry
    for met in requirements:
        if met(entry, None) or any(met(int(g.dst[e]), e) for e in cycle):
            continue
        leg = _path(g, order, start, at, met)
        cycle += leg
        at = int(g.dst[leg[-1]])
    if cycle and at == entry:
        return cycle
    return cycle + _path(g, order, start, at,
                         lambda state, edge: edge is not None and state == entry)


def _path(g: GuardedGraph, order: np.ndarray, start: np.ndarray, source: int,
          goal: Callable[[int, int | None], bool]) -> list[int]:
    """Edges of a shortest path from ``source`` along the edges ``order`` (sorted by source,
    ``start`` indexing them per state) to an edge that ``goal(its target, edge)`` accepts."""
    seen = {source: -1}
    queue = deque([source])
    while queue:
        k = queue.popleft()
        for e in order[start[k]:start[k + 1]].tolist():
            t = int(g.dst[e])
            if goal(t, e):
                path = [e]
                while k != source:
                    path.append(seen[k])
                    k = int(g.src[seen[k]])
                return path[::-1]
            if t not in seen:
                seen[t] = e
                queue.append(t)
    raise UnfairCycle(f"no path from state {source} meets a requirement inside its component, "
                     "which the component's fairness promised")
