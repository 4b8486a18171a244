"""The `*` guards a labelled state graph's edges take: for each edge that tests a guard, which
guard (a CPU's program point) and which outcome (`guard_moves`, `guarded_graph`), what the
strong-fairness refinement of `lockbreak.engines.streett` reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from lockbreak.core import A, S
from lockbreak.engines.streett import GuardedGraph

if TYPE_CHECKING:
    from lockbreak.engines.liveness import Analysis


def guarded_graph(analysis: Analysis[S, A]) -> GuardedGraph | None:
    """``analysis``'s graph with each edge's `*` guard and outcome (`guard_moves`), a guard
    being one CPU's program point. None when the model makes no `*` choices."""
    model, g = analysis.model, analysis.graph
    guard_outcomes = getattr(model, "guard_outcomes", None)
    if guard_outcomes is None or not getattr(model, "choice_agents", ()):
        return None
    guard = np.full(len(g.src), -1, dtype=np.int64)
    outcome = np.zeros(len(g.src), dtype=np.int64)
    ids: dict[tuple[int, int], int] = {}
    for k in range(analysis.n):
        outcomes = guard_outcomes(g.states[k])
        if not outcomes:
            continue
        edges = analysis.out_edges(k)
        moves = [(int(g.agent[e]), g.states[int(g.dst[e])]) for e in edges]
        for index, cpu, pc, taken in guard_moves(outcomes, moves):
            e = edges[index]
            guard[e], outcome[e] = ids.setdefault((cpu, pc), len(ids)), taken
    return GuardedGraph(analysis.n, analysis.n_agents, g.src, g.dst, g.agent, g.enabled,
                        guard, outcome)


def guard_moves(outcomes: Sequence[tuple[int, int, Any, Any]], moves: Sequence[tuple[int, Any]]
                ) -> list[tuple[int, int, int, int]]:
    """``(index, cpu, pc, outcome)`` for each of ``moves`` (``(agent, next state)`` of a
    state, in the model's order) that tests a `*` guard, given the model's
    ``guard_outcomes`` of that state: ``(cpu, pc, state if false, state if true)``. When both
    outcomes reach the same state, the first such move is the false one (a CPU's step comes
    before its true outcome)."""
    out: list[tuple[int, int, int, int]] = []
    for cpu, pc, if_false, if_true in outcomes:
        used: set[int] = set()
        for taken, target in ((0, if_false), (1, if_true)):
            index = next(i for i, (agent, after) in enumerate(moves)
                         if agent == cpu and after == target and i not in used)
            used.add(index)
            out.append((index, cpu, pc, taken))
    return out
