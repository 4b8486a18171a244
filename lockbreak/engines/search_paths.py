"""Counterexamples of the vectorised search, rebuilt from its BFS tree as real executions
(`Counterexamples`, part of `lockbreak.engines.level_search.Search`).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from typing import Any

import numpy as np

from lockbreak.core import (
    Step,
    Trace,
)
from lockbreak.engines.graph import first_stuck
from lockbreak.engines.transition_tables import Table


class Counterexamples:
    """Real paths from the stored levels and parents (see `_real_path`); what it reads of the
    search is declared here, set by `Search`."""

    model: Any
    n: int
    stored: int
    starts: list[int]
    levels: list[np.ndarray]
    parents: list[np.ndarray]
    hits: dict[int, tuple[int, int]]
    canon: Callable[[int], int] | None
    canon_of: Callable[[int], int]
    dst: list[np.ndarray]
    edge_counts: list[np.ndarray]
    edge_perm: list[np.ndarray]
    perms: list[tuple[int, ...]]
    finished: list[Table]
    _state: Callable[[int], int]
    _unpack: Callable[..., np.ndarray]

    def _chain(self, index: int) -> list[int]:
        """Keys from a root to the state of global ``index``."""
        keys = []
        while index >= 0:
            level = bisect.bisect_right(self.starts, index) - 1
            at = index - self.starts[level]
            keys.append(int(self.levels[level][at]))
            index = int(self.parents[level][at])
        return keys[::-1]

    def trace(self, bit: int) -> Trace[Any, Any]:
        """A shortest real execution whose last transition breaks property ``bit``."""
        source, reached = self.hits[bit]
        model = self.model
        if source < 0:
            return Trace(init=reached)
        init, steps = self._real_path(source)
        current = steps[-1].state if steps else init
        target = reached if self.canon is None else None
        index, after = next((i, s) for i, s, violated, _ in model.successors(current)
                            if violated >> bit & 1 and target in (None, s))
        steps.append(Step(index, model.actions(current)[index], after))
        return Trace(init, tuple(steps))


    def _real_path(self, index: int) -> tuple[int, list[Step[Any, Any]]]:
        """A real execution to the stored state ``index`` (to one it represents, under
        symmetry): each step the lowest action that reaches the next stored state."""
        model = self.model
        chain = [self._state(k) for k in self._chain(index)]
        canon = self.canon_of
        init = next(s for s in model.init_states() if canon(s) == chain[0])
        current, steps = init, []
        for stored in chain[1:]:
            action, after = next((i, s) for i, s, _, _ in model.successors(current)
                                 if canon(s) == stored)
            steps.append(Step(action, model.actions(current)[action], after))
            current = after
        return init, steps

    def stuck(self) -> tuple[Trace[Any, Any], int] | None:
        """A shortest path to a state some must-finish agent cannot finish from, and the
        agent (`lockbreak.engines.graph.first_stuck` on the stored edges)."""
        model = self.model
        dst = np.concatenate(self.dst) if self.dst else np.zeros(0, dtype=np.uint32)
        counts = np.concatenate(self.edge_counts) if self.edge_counts else np.zeros(0, int)
        src = np.repeat(np.arange(len(counts), dtype=np.uint32), counts)
        done = np.concatenate([self._done(level) for level in self.levels])
        renamed = self.canon is not None
        found = first_stuck(self.stored, src, dst, done, model.must_finish, self.n,
                            np.concatenate(self.edge_perm) if renamed else None, self.perms)
        if found is None:
            return None
        index, agent = found
        init, steps = self._real_path(index)
        if renamed:
            # ``agent`` is a place in the representative; name the real agent in that place.
            _, perm = model.canonical_perm(steps[-1].state if steps else init)
            agent = list(perm).index(agent)
        return Trace(init, tuple(steps)), agent

    def _done(self, keys: np.ndarray) -> np.ndarray:
        """The mask of finished agents of each state ``keys``."""
        ids = self._unpack(keys)
        done = np.zeros(len(keys), dtype=np.int64)
        for a, table in enumerate(self.finished):
            done |= table.lookup(ids[:, a + 1] << 32)[:, 0] << a
        return done
