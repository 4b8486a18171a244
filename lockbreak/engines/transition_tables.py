"""The vectorised search's per-agent transition tables: lazily filled rows keyed by (an agent's
own part, the shared part), looked up for a whole chunk of states in one gather (`Table`),
and the entries each kind of table is filled with, asked of the model once per new key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

DISABLED = -1
# A table's dense index may have this many cells (8 bytes each) before it turns to sorted keys.
_DENSE_LIMIT = 1 << 21


class Table:
    """One action's lazily filled transition table.

    Keys are ``high << 32 | low`` (an agent's own id and the shared id, say). Rows are kept in
    the order they were filled; the index from key to row is a dense ``high x low`` array
    while that stays small (ids are dense from 0), which makes a lookup one gather, and a
    sorted key array for `numpy.searchsorted` once it would not.
    """

    def __init__(self, fill: Callable[[int, int], tuple[int, ...] | None], width: int = 4
                 ) -> None:
        self.fill = fill
        self.width = width
        self.values = np.zeros((0, width), dtype=np.int64)
        self.dense: np.ndarray | None = np.full((1, 1), -1, dtype=np.int64)
        self.keys = np.zeros(0, dtype=np.int64)     # sorted, once not dense
        self.rows = np.zeros(0, dtype=np.int64)

    def state(self) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray]:
        """What the table has filled so far (for a snapshot; `load` puts it back)."""
        return self.values, self.dense, self.keys, self.rows

    def load(self, state: tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray]
             ) -> None:
        self.values, self.dense, self.keys, self.rows = state

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """The rows of ``keys``; ``fill(key, position of its first occurrence in keys)``
        makes the missing ones, and None from it is a row of -1 (a disabled action)."""
        where = self._find(keys)
        missing = where < 0
        if missing.any():
            new, at = np.unique(keys[missing], return_index=True)
            first = np.flatnonzero(missing)[at]
            none = (DISABLED,) * self.width
            rows = np.array([entry if (entry := self.fill(int(k), int(i))) is not None
                             else none for k, i in zip(new, first, strict=True)],
                            dtype=np.int64).reshape(-1, self.width)
            start = len(self.values)
            self.values = np.concatenate([self.values, rows])
            self._index(new, np.arange(start, len(self.values)))
            where = self._find(keys)
        return self.values[where]

    def _find(self, keys: np.ndarray) -> np.ndarray:
        """The row of each key, -1 where there is none yet."""
        if self.dense is not None:
            high, low = keys >> 32, keys & 0xFFFFFFFF
            inside = (high < self.dense.shape[0]) & (low < self.dense.shape[1])
            out = np.full(len(keys), -1, dtype=np.int64)
            out[inside] = self.dense[high[inside], low[inside]]
            return out
        pos = np.searchsorted(self.keys, keys)
        pos[pos == len(self.keys)] = 0
        return np.where(self.keys[pos] == keys, self.rows[pos], -1)

    def _index(self, keys: np.ndarray, rows: np.ndarray) -> None:
        if self.dense is not None:
            high, low = keys >> 32, keys & 0xFFFFFFFF
            shape = [_cover(self.dense.shape[0], int(high.max()) + 1),
                     _cover(self.dense.shape[1], int(low.max()) + 1)]
            if shape[0] * shape[1] <= _DENSE_LIMIT:
                if shape != list(self.dense.shape):
                    grown = np.full(shape, -1, dtype=np.int64)
                    grown[:self.dense.shape[0], :self.dense.shape[1]] = self.dense
                    self.dense = grown
                self.dense[high, low] = rows
                return
            known_high, known_low = np.nonzero(self.dense >= 0)
            self.keys = known_high.astype(np.int64) << 32 | known_low
            self.rows = self.dense[known_high, known_low]
            self.dense = None
        all_keys = np.concatenate([self.keys, keys])
        order = np.argsort(all_keys, kind="stable")
        self.keys = all_keys[order]
        self.rows = np.concatenate([self.rows, rows])[order]


def _cover(size: int, needed: int) -> int:
    """``size`` doubled until it is at least ``needed``."""
    while size < needed:
        size *= 2
    return size


def fill_step(model: Any, agent: int, key: int, _: int) -> tuple[int, int, int, int] | None:
    """A step table's entry: ``key`` is the agent's own id << 32 | the shared id."""
    entry: tuple[int, int, int, int] | None = model.step_entry(agent, key >> 32,
                                                               key & 0xFFFFFFFF)
    return entry


def fill_choice(model: Any, agent: int, key: int, _: int) -> tuple[int, int, int, int] | None:
    """A choice table's entry: the second outcome of the agent's step, keyed as `fill_step`."""
    entry: tuple[int, int, int, int] | None = model.choice_entry(agent, key >> 32,
                                                                 key & 0xFFFFFFFF)
    return entry


def fill_tick(model: Any, agent: int, key: int, _: int) -> tuple[int, int, int, int]:
    """A tick table's entry: `Lockstep.tick_entry` of the agent's part ``key >> 32``."""
    entry: tuple[int, int, int, int] = model.tick_entry(agent, key >> 32)
    return entry


def fill_rank(model: Any, key: int, _: int) -> tuple[int]:
    """A rank table's entry: ``canonical_rank`` of the part ``key >> 32``."""
    return (int(model.canonical_rank(key >> 32)),)


def fill_finished(model: Any, agent: int, key: int, _: int) -> tuple[int]:
    """A finished table's entry: 1 when the agent's part ``key >> 32`` has finished."""
    return (int(model.finished(agent, key >> 32)),)


def fill_local(model: Any, agent: int, key: int, _: int) -> tuple[int]:
    """A local-step table's entry: 1 when the agent's step from its part is `Local`."""
    return (int(model.local_step(agent, key >> 32)),)


def fill_wake(model: Any, slot: int, key: int, _: int) -> tuple[int, int, int, int] | None:
    """A wakeup table's entry: ``key`` is the own id << 32 of the agent the environment's
    action number ``slot`` acts on."""
    entry = model.wake_entry(slot, key >> 32)
    return None if entry is None else (entry[0], 0, entry[1], entry[2])
