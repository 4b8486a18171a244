"""Representatives under symmetry for the vectorised search, a chunk of states at a time
(`Representatives`, part of `lockbreak.engines.level_search.Search`): identical agents'
parts sorted, the shared part and the renaming looked up in a table filled by the model's
``canonical_perm``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from lockbreak.engines.store import perm_index
from lockbreak.engines.transition_tables import Table


class Representatives:
    """The search's canonicalisation (see `_canonical`); what it reads of the search is
    declared here, set by `Search`."""

    model: Any
    graph: bool
    n: int
    groups: tuple[tuple[int, ...], ...] | None
    ranks: Table | None
    radices: list[int]
    orders: dict[int | bytes, int]
    shared_of: Table
    perms: list[tuple[int, ...]]
    perm_ids: dict[tuple[int, ...], int]
    canon_of: Callable[[int], int]
    rows: np.ndarray
    renamings: np.ndarray
    _fits: Callable[[int, int], None]
    _pack: Callable[[np.ndarray], np.ndarray]
    _state: Callable[[int], int]

    def _canonical(self, rows: np.ndarray) -> np.ndarray:
        """The keys of the representatives of the states ``rows``.

        A symmetric model's ``canonical`` sorts the parts of each group in
        ``canonical_groups`` ascending (by ``canonical_rank(part)`` when the model has one,
        a one-to-one key) and picks the shared part from the shared part, the
        sorting order and which sorted parts tie (`Symmetric`); so the parts are sorted here,
        and the shared part is looked up in a table from those three, filled by asking
        ``canonical`` about one state per new entry.
        """
        if not self.groups:         # None: sorted one state at a time; (): nothing to sort
            return self._canonical_each(rows)
        out = rows.copy()
        described = []          # per row: each group's sorting order, then which parts tie
        for group in self.groups:
            columns = [a + 1 for a in group]
            parts = rows[:, columns]
            ranks = parts if self.ranks is None else self.ranks.lookup(
                (parts << 32).reshape(-1))[:, 0].reshape(parts.shape)
            order = np.argsort(ranks, axis=1, kind="stable")
            ordered = np.take_along_axis(parts, order, axis=1)
            out[:, columns] = ordered
            described += [order, (ordered[:, :-1] == ordered[:, 1:]).astype(np.int64)]
        self.rows = rows
        codes, inverse = _described(np.concatenate(described, axis=1), self.radices)
        compact = np.array([self.orders.setdefault(code, len(self.orders))
                            for code in codes], dtype=np.int64)[inverse.reshape(-1)]
        found = self.shared_of.lookup(rows[:, 0] << 32 | compact)
        out[:, 0] = found[:, 0]
        self.renamings = found[:, 1]
        self._fits(int(out[:, 0].max(initial=0)), 0)
        return self._pack(out)

    def _fill_shared(self, key: int, at: int) -> tuple[int, int]:
        """The representative's shared id and renaming, for the state ``rows[at]``."""
        state = self.model.join(self.rows[at])
        if not self.graph:
            return self.model.split(self.canon_of(state))[0], 0
        value, perm = self.model.canonical_perm(state)
        return self.model.split(value)[0], self._perm_id(perm)

    def _perm_id(self, perm: tuple[int, ...]) -> int:
        return perm_index(self.perms, self.perm_ids, perm)

    def _canonical_each(self, rows: np.ndarray) -> np.ndarray:
        """`_canonical` by one ``canonical`` call per distinct state (any symmetry)."""
        canon = self.canon_of
        raw, inverse = np.unique(self._pack(rows), return_inverse=True)
        states = [canon(self._state(int(k))) for k in raw]
        if self.graph:
            perms = [self._perm_id(self.model.canonical_perm(self._state(int(k)))[1])
                     for k in raw]
            self.renamings = np.array(perms, dtype=np.int64)[inverse.reshape(-1)]
        for state in states:
            ids = self.model.split(state)
            self._fits(ids[0], max(ids[1:]))
        out = self._pack(np.array([self.model.split(s) for s in states], dtype=np.int64)
                         .reshape(-1, self.n + 1))
        return out[inverse.reshape(-1)]


def _described(rows: np.ndarray, radices: Sequence[int]) -> tuple[list[int | bytes], np.ndarray]:
    """The distinct ``rows`` of small numbers (column ``c`` below ``radices[c]``), each as
    one int (its digits in those radices) while they fit in 63 bits, else as its bytes; and
    the index of each row's among them. An int per row makes this one sort of a column, where
    numpy's ``unique`` over rows sorts records, most of the search's time under symmetry."""
    if math.prod(radices) < 1 << 63:
        code = np.zeros(len(rows), dtype=np.int64)
        for column, radix in enumerate(radices):
            code = code * radix + rows[:, column]
        distinct, inverse = np.unique(code, return_inverse=True)
        return distinct.tolist(), inverse
    distinct, inverse = np.unique(rows, axis=0, return_inverse=True)
    return [row.tobytes() for row in distinct], inverse
