"""One level-synchronous breadth-first exploration of a model made of parts (`Search`), as
`lockbreak.engines.vectorised_bfs` runs it: states packed into uint64 keys, a visited set of
sorted runs, a level expanded a chunk at a time through the per-agent tables
(`lockbreak.engines.transition_tables`), representatives under symmetry
(`lockbreak.engines.search_symmetry`), counterexamples rebuilt from the BFS tree
(`lockbreak.engines.search_paths`), and, under lockstep timing, the arrivals and the step that
ends a tick done on whole chunks.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from lockbreak.core import (
    Budget,
    Reporter,
)
from lockbreak.engines.factored import Lockstep
from lockbreak.engines.search_paths import Counterexamples
from lockbreak.engines.search_symmetry import Representatives
from lockbreak.engines.transition_tables import (
    DISABLED,
    Table,
    fill_choice,
    fill_finished,
    fill_local,
    fill_rank,
    fill_step,
    fill_tick,
    fill_wake,
)

# At most this many states of a level are expanded together (bounds the arrays of one chunk).
_CHUNK = 1 << 17


class Search(Representatives, Counterexamples):
    """One level-synchronous exploration; mirrors `plain_search.PlainSearch` for SAFETY
    properties."""

    def __init__(self, model: Any, safety: int, canon: Callable[[int], int] | None,
                 budget: Budget, reporter: Reporter, por: bool = False,
                 graph: bool = False, requested: Callable[[], str] | None = None) -> None:
        self.model = model
        # Polled between chunks when the search may be stopped and resumed (see `snapshot`).
        self.requested = requested
        # CAN_FINISH: every edge as the index of its target (and, under symmetry, the id of
        # its renaming in `perms`); states are indexed in BFS order as in the plain engine.
        self.graph = graph
        self.dst: list[np.ndarray] = []
        self.edge_counts: list[np.ndarray] = []
        self.edge_perm: list[np.ndarray] = []
        self.edge_slot: list[np.ndarray] = []      # each edge's action slot (`_successors`)
        self.perms: list[tuple[int, ...]] = []
        self.perm_ids: dict[tuple[int, ...], int] = {}
        self.run_index: list[np.ndarray] = []      # graph: each run key's global index
        self.observed = safety           # what makes a transition visible to reduction
        self.local = ([Table(functools.partial(fill_local, model, a), width=1)
                       for a in range(len(model.agents))] if por else None)
        self.n = len(model.agents)
        self.canon = canon
        self.canon_of: Callable[[int], int] = canon or (lambda state: state)
        self.budget = budget
        self.reporter = reporter
        self.pending = safety
        self.witnessed = 0
        self.transitions = 0
        self.room = budget.max_states if budget.max_states is not None else 1 << 62
        self.hits: dict[int, tuple[int, int]] = {}   # bit: (source index, state reached)
        self.cut_short = ""
        self.stopped = False             # by `requested` or the timeout: resumable
        self.saved: dict[str, Any] | None = None    # the snapshot taken as it stopped
        self.position: int | None = None   # next frontier index, while a level is half done
        self.depth = 0
        self.seconds = 0.0
        self.earlier = 0.0               # seconds spent before a resume
        self.stored = 0
        # Packing: shared id in the low `shared_bits`, then `own_bits` per agent.
        self.shared_bits, self.own_bits = 8, 4
        if self.shared_bits + self.own_bits * self.n > 64:
            raise TooWide
        self.runs: list[np.ndarray] = []           # sorted keys of every stored state
        self.levels: list[np.ndarray] = []         # keys in BFS order, one array per level
        self.parents: list[np.ndarray] = []        # global index of each state's parent
        self.starts: list[int] = []                # global index of each level's first state
        self.steps = [Table(functools.partial(fill_step, model, a)) for a in range(self.n)]
        self.wakes = [(a, Table(functools.partial(fill_wake, model, k)))
                      for k, a in enumerate(model.wake_agents)]
        self.choices = [(a, Table(functools.partial(fill_choice, model, a)))
                        for a in getattr(model, "choice_agents", ())]
        # A model that says which agents it sorts (`canonical_groups`) is canonicalised here
        # in bulk; any other symmetric model one state at a time.
        self.groups: tuple[tuple[int, ...], ...] | None = (
            tuple(model.canonical_groups) if hasattr(model, "canonical_groups")
            else None) if canon is not None else ()
        self.rows: np.ndarray = np.zeros((0, self.n + 1), dtype=np.int64)
        self.renamings: np.ndarray = np.zeros(0, dtype=np.int64)   # of the last canonical
        self.slots: np.ndarray = np.zeros(0, dtype=np.int64)       # of the last expansion
        self.shared_of = Table(self._fill_shared, width=2)   # shared id, renaming id
        # A model whose ``canonical`` sorts parts otherwise than by their ids says how.
        self.ranks = (Table(functools.partial(fill_rank, model), width=1)
                      if hasattr(model, "canonical_rank") else None)
        self.orders: dict[int | bytes, int] = {}   # sorting orders and ties -> a small id
        # Each column of a description (`_canonical`): a place in a group's sorting order,
        # below the group's size, or whether two sorted parts tie, 0 or 1.
        self.radices = [r for group in self.groups or () for r in
                        [len(group)] * len(group) + [2] * (len(group) - 1)]
        self.finished = [Table(functools.partial(fill_finished, model, a), width=1)
                         for a in range(self.n)] if graph else []
        # Lockstep timing: per agent, its part's arrival and tick bookkeeping (`Lockstep`).
        self.ticking = ([Table(functools.partial(fill_tick, model, a)) for a in range(self.n)]
                        if isinstance(model, Lockstep) else None)
        self.ticks: np.ndarray = np.zeros(0, dtype=bool)   # of the last expansion
        self.edge_ticks: list[np.ndarray] = []     # lockstep: whether each edge ends a tick

    # ------------------------------------------------------------ packing

    def _fits(self, shared: int, own: int) -> None:
        """Widen the packing (repacking everything stored) so that these ids fit."""
        sb, ob = self.shared_bits, self.own_bits
        while shared >> sb:
            sb += 4
        while own >> ob:
            ob += 2
        if (sb, ob) == (self.shared_bits, self.own_bits):
            return
        if sb + ob * self.n > 64:
            raise TooWide
        old = self.shared_bits, self.own_bits
        self.shared_bits, self.own_bits = sb, ob
        for k, run in enumerate(self.runs):
            packed = self._pack(self._unpack(run, *old))
            order = np.argsort(packed, kind="stable")
            self.runs[k] = packed[order]
            if self.graph:
                self.run_index[k] = self.run_index[k][order]
        self.levels = [self._pack(self._unpack(r, *old)) for r in self.levels]

    def _pack(self, ids: np.ndarray) -> np.ndarray:
        key = ids[:, 0].astype(np.uint64)
        for a in range(self.n):
            key |= ids[:, a + 1].astype(np.uint64) << np.uint64(
                self.shared_bits + a * self.own_bits)
        return key

    def _unpack(self, keys: np.ndarray, shared_bits: int | None = None,
                own_bits: int | None = None) -> np.ndarray:
        sb = self.shared_bits if shared_bits is None else shared_bits
        ob = self.own_bits if own_bits is None else own_bits
        ids = np.empty((len(keys), self.n + 1), dtype=np.int64)
        ids[:, 0] = (keys & np.uint64((1 << sb) - 1)).astype(np.int64)
        for a in range(self.n):
            ids[:, a + 1] = ((keys >> np.uint64(sb + a * ob))
                             & np.uint64((1 << ob) - 1)).astype(np.int64)
        return ids

    def _key(self, state: int) -> int:
        ids = self.model.split(state)
        self._fits(ids[0], max(ids[1:]))
        return int(self._pack(np.array([ids], dtype=np.int64))[0])

    def _state(self, key: int) -> int:
        return int(self.model.join(self._unpack(np.array([key], dtype=np.uint64))[0]))

    # ------------------------------------------------------------ the visited set

    def _unseen(self, keys: np.ndarray) -> np.ndarray:
        """A mask of ``keys`` not stored yet."""
        new = np.ones(len(keys), dtype=bool)
        for run in self.runs:
            pos = np.searchsorted(run, keys)
            pos[pos == len(run)] = 0
            new &= run[pos] != keys
        return new

    def _remember(self, keys: np.ndarray) -> None:
        """Add ``keys`` (new, distinct, numbered from `stored` on) as a run, merging runs so
        that there stay few."""
        if not len(keys):
            return
        if not self.graph:
            self.runs.append(np.sort(keys))
            while len(self.runs) > 1 and len(self.runs[-2]) <= 2 * len(self.runs[-1]):
                last = self.runs.pop()
                self.runs[-1] = np.sort(np.concatenate([self.runs[-1], last]), kind="stable")
            return
        order = np.argsort(keys, kind="stable")
        self.runs.append(keys[order])
        index_type = np.int32 if self.stored + len(keys) < 1 << 31 else np.int64
        self.run_index.append(np.arange(self.stored, self.stored + len(keys),
                                        dtype=index_type)[order])
        while len(self.runs) > 1 and len(self.runs[-2]) <= 2 * len(self.runs[-1]):
            keys = np.concatenate([self.runs[-2], self.runs.pop()])
            index = np.concatenate([self.run_index[-2], self.run_index.pop()])
            order = np.argsort(keys, kind="stable")
            self.runs[-1], self.run_index[-1] = keys[order], index[order]

    def _index_of(self, keys: np.ndarray) -> np.ndarray:
        """The global index of each of ``keys`` (graph mode), -1 for one not stored."""
        out = np.full(len(keys), -1, dtype=np.int64)
        for run, index in zip(self.runs, self.run_index, strict=True):
            pos = np.searchsorted(run, keys)
            pos[pos == len(run)] = 0
            found = run[pos] == keys
            out[found] = index[pos[found]]
        return out

    # ------------------------------------------------------------ the search

    def run(self) -> None:
        began = time.perf_counter()
        deadline = (began + self.budget.timeout if self.budget.timeout is not None
                    else float("inf"))
        going = self._roots() if not self.levels else True
        while going and (self.position is not None or len(self.levels[-1])):
            if self.position is None:         # a new level
                self.starts.append(self.stored)
                self.levels.append(np.zeros(0, dtype=np.uint64))
                self.parents.append(np.zeros(0, dtype=np.int32))
                self.position = 0
            frontier, base = self.levels[-2], self.starts[-2]
            while self.position < len(frontier):
                lo = self.position
                keys = self.levels[-2][lo:lo + _CHUNK]   # re-read: packing may have widened
                going, new, parent = self._expand(keys, base + lo)
                self.position = min(lo + _CHUNK, len(frontier))
                self.parents[-1] = np.concatenate([self.parents[-1], parent])
                self.levels[-1] = np.concatenate([self.levels[-1], new])
                now = time.perf_counter()
                self.reporter.progress(self.stored, self.transitions, len(self.levels) - 1,
                                       self.earlier + now - began)
                if going and now > deadline:
                    going = False
                    self.cut_short = self.budget.out_of_time()
                    self.stopped = self.requested is not None
                elif going and self.requested is not None and (why := self.requested()):
                    going = False
                    self.cut_short = f"interrupted ({why})"
                    self.stopped = True
                if not going:
                    break
            if going:
                self.position = None
        self.seconds = self.earlier + time.perf_counter() - began
        if self.stopped:
            self.saved = self.snapshot()
        while self.levels and not len(self.levels[-1]) and len(self.levels) > 1:
            self.levels.pop()
            self.parents.pop()
            self.starts.pop()
        self.depth = len(self.levels) - 1

    # What `snapshot` keeps besides the tables (everything the search changes as it goes).
    _KEPT = ("pending", "witnessed", "transitions", "hits", "stored", "shared_bits",
             "own_bits", "runs", "levels", "parents", "starts", "position", "seconds", "dst",
             "edge_counts", "edge_perm", "edge_slot", "perms", "perm_ids", "run_index", "orders")

    def snapshot(self) -> dict[str, Any]:
        """Everything needed to go on from where the search stands (see `restore`): taken
        by `run` as it stops (before it trims a level left empty), or of a finished search."""
        if self.saved is not None:
            return self.saved
        kept = {name: getattr(self, name) for name in self._KEPT}
        for name, value in kept.items():
            if isinstance(value, (list, dict)):
                kept[name] = type(value)(value)
        tables = [*self.steps, *(table for _, table in self.wakes), self.shared_of,
                  *self.finished, *(self.local or ()), *(table for _, table in self.choices)]
        return {**kept, "tables": [table.state() for table in tables], "stopped": self.stopped,
                "cut_short": self.cut_short}

    def restore(self, saved: Mapping[str, Any]) -> None:
        """Go on from a `snapshot` of a search of the same model (its tables restored) and
        options."""
        for name in self._KEPT:
            setattr(self, name, saved[name])
        self.earlier = saved["seconds"]
        tables = [*self.steps, *(table for _, table in self.wakes), self.shared_of,
                  *self.finished, *(self.local or ()), *(table for _, table in self.choices)]
        for table, state in zip(tables, saved["tables"], strict=True):
            table.load(state)
        if self.budget.max_states is not None:
            self.room = max(self.budget.max_states - self.stored, 0)
        if not saved["stopped"]:     # a finished search: as `run` leaves one
            self.cut_short = saved["cut_short"]
            while self.levels and not len(self.levels[-1]) and len(self.levels) > 1:
                self.levels.pop()
                self.parents.pop()
                self.starts.pop()
            self.depth = len(self.levels) - 1

    def _roots(self) -> bool:
        model = self.model
        keys: list[int] = []
        going = True
        for state in model.init_states():
            key = self._key(self.canon(state) if self.canon is not None else state)
            if key not in keys:
                if not self.room:
                    self.cut_short = self.budget.out_of_states()
                    going = False
                    break
                self.room -= 1
                keys.append(key)
            violated, witnessed = model.observe(None, None, state)
            self.witnessed |= witnessed
            if violated & self.pending:
                for bit in _bits(violated & self.pending):
                    self.hits[bit] = (-1, state)
                self.pending &= ~violated
                if not self.pending and not self.graph:
                    going = False
                    break
        array = np.array(keys, dtype=np.uint64)
        self.levels.append(array)
        self.parents.append(np.full(len(keys), -1, dtype=np.int64))
        self.starts.append(0)
        self._remember(array)             # numbered from `stored`, 0 here
        self.stored = len(keys)
        return going

    def _successors(self, keys: np.ndarray) -> tuple[np.ndarray, ...]:
        """Every transition out of ``keys``, in the plain engine's order: ``(source position,
        successor's ids, violated, witnessed)``.

        Slots are numbered: the agents' steps, the wakeups, the choices, and under lockstep
        timing the arrivals (`Lockstep`), which come first in the order of transitions."""
        ids = self._unpack(keys)
        per_slot = []
        for a, table in enumerate(self.steps):
            per_slot.append((a, table.lookup(ids[:, a + 1] << 32 | ids[:, 0])))
        for k, (a, table) in enumerate(self.wakes):
            per_slot.append((self.n + k, table.lookup(ids[:, a + 1] << 32)))
        first_choice = self.n + len(self.wakes)
        for k, (a, table) in enumerate(self.choices):
            per_slot.append((first_choice + k, table.lookup(ids[:, a + 1] << 32 | ids[:, 0])))
        first_arrival = first_choice + len(self.choices)
        ticking = self._ticking(ids) if self.ticking is not None else None
        if ticking is not None:
            between = ~np.logical_or.reduce([t[:, 2] == 1 for t in ticking])
            for a, rows in enumerate(ticking):
                arrival = np.full((len(ids), 4), DISABLED, dtype=np.int64)
                arrival[between, 0] = rows[between, 0]
                arrival[between, 1:] = 0
                per_slot.append((first_arrival + a, arrival))
        self._fits(max(int(v[:, 1].max(initial=0)) for _, v in per_slot),
                   max(int(v[:, 0].max(initial=0)) for _, v in per_slot))
        alone = self._ample(ids, per_slot) if self.local is not None else None
        # One cell per (source, column): flattened, they are in the plain engine's order.
        columns = ([*range(first_arrival, len(per_slot)), *range(first_arrival)]
                   if ticking is not None else list(range(len(per_slot))))
        width = len(columns)
        after = np.repeat(ids[:, None, :], width, axis=1)
        on = np.empty((len(ids), width), dtype=bool)
        violated = np.empty((len(ids), width), dtype=np.int64)
        witnessed = np.empty((len(ids), width), dtype=np.int64)
        for column, slot in enumerate(columns):
            values = per_slot[slot][1]
            on[:, column] = values[:, 0] != DISABLED
            if alone is not None:
                on[:, column] &= (alone < 0) | (alone == slot)
            a = self._slot_agent(slot)
            after[:, column, a + 1] = values[:, 0]
            if slot < self.n or first_choice <= slot < first_arrival:
                after[:, column, 0] = values[:, 1]
            violated[:, column] = values[:, 2]
            witnessed[:, column] = values[:, 3]
        taken = np.flatnonzero(on)
        if ticking is not None:
            movers = [(column, self._slot_agent(slot)) for column, slot in enumerate(columns)
                      if slot < self.n or first_choice <= slot < first_arrival]
            ends = self._tick_ends(after, on, movers, ticking)
            self.ticks = ends.reshape(-1)[taken]
        self.slots = np.array(columns, dtype=np.int64)[taken % width]
        return (taken // width, after.reshape(-1, self.n + 1)[taken],
                violated.reshape(-1)[taken], witnessed.reshape(-1)[taken])

    def _slot_agent(self, slot: int) -> int:
        """The agent whose part action slot ``slot`` changes (`_successors` numbers them)."""
        if slot < self.n:
            return slot
        slot -= self.n
        if slot < len(self.wakes):
            return self.wakes[slot][0]
        slot -= len(self.wakes)
        if slot < len(self.choices):
            return self.choices[slot][0]
        return slot - len(self.choices)

    def _ticking(self, ids: np.ndarray) -> list[np.ndarray]:
        """Per agent, `Lockstep.tick_entry` of its part in each state of ``ids``."""
        assert self.ticking is not None
        return [table.lookup(ids[:, a + 1] << 32) for a, table in enumerate(self.ticking)]

    def _tick_ends(self, after: np.ndarray, on: np.ndarray, movers: list[tuple[int, int]],
                   ticking: list[np.ndarray]) -> np.ndarray:
        """Which cells of ``after`` (source, column) end a tick, with every agent's part in
        those made fresh in place: a step (``movers``: its column and agent) after which no
        agent that is yet to step in this tick can step (`Lockstep`). ``ticking`` is each
        agent's `Lockstep.tick_entry` in the sources: the other agents' parts are as there."""
        assert self.ticking is not None
        ends = np.zeros(on.shape, dtype=bool)
        for column, mover in movers:
            cells = np.flatnonzero(on[:, column])
            if not len(cells):
                continue
            rows = after[cells, column]
            undecided = np.arange(len(cells))       # no agent found yet that keeps it going
            for b in range(self.n):
                if b == mover or not len(undecided):
                    continue
                waiting = undecided[ticking[b][cells[undecided], 1] == 1]
                if len(waiting):
                    can = self.steps[b].lookup(rows[waiting, b + 1] << 32
                                               | rows[waiting, 0])[:, 0] != DISABLED
                    undecided = np.setdiff1d(undecided, waiting[can], assume_unique=True)
            if len(undecided):
                over = cells[undecided]
                fresh = rows[undecided]
                for b in range(self.n):
                    fresh[:, b + 1] = (ticking[b][over, 3] if b != mover else
                                       self.ticking[b].lookup(fresh[:, b + 1] << 32)[:, 3])
                self._fits(0, int(fresh[:, 1:].max()))
                after[over, column] = fresh
                ends[over, column] = True
        return ends

    def _ample(self, ids: np.ndarray, per_slot: list[tuple[int, np.ndarray]]) -> np.ndarray:
        """Per state, the one agent whose step is taken alone (partial-order reduction), or
        -1 to take every action: the first agent whose step is enabled, local and forward
        (`Local`) and invisible (it neither breaks nor witnesses a checked property)."""
        assert self.local is not None
        alone = np.full(len(ids), -1, dtype=np.int64)
        for a, table in enumerate(self.local):
            values = per_slot[a][1]
            ok = (values[:, 0] != DISABLED) & ((values[:, 2] | values[:, 3]) & self.observed == 0)
            ok &= alone < 0
            if ok.any():
                ok[ok] = table.lookup(ids[ok, a + 1] << 32)[:, 0] == 1
                alone[ok] = a
        return alone

    def _expand(self, keys: np.ndarray, base: int) -> tuple[bool, np.ndarray, np.ndarray]:
        """Expand one chunk of a level whose first state has global index ``base``.

        Returns whether to go on, and the new states' keys and parents.
        """
        source, rows, violated, witnessed = self._successors(keys)
        canon = self._canonical(rows) if self.canon is not None else self._pack(rows)
        # New states in first-seen order.
        distinct, first = np.unique(canon, return_index=True)
        unseen = self._unseen(distinct)
        first = np.sort(first[unseen])
        stop = len(canon)                     # transitions [0, stop) are taken
        going = True
        if len(first) > self.room:            # the plain engine stops at the state past room
            stop = int(first[self.room]) + 1
            first = first[:self.room]
            going = False
        breaking = np.flatnonzero(violated[:stop] & self.pending)
        for t in breaking:
            bits = int(violated[t]) & self.pending
            if not bits:
                continue
            for bit in _bits(bits):
                self.hits[bit] = (base + int(source[t]), self.model.join(rows[t]))
            self.pending &= ~bits
            if not self.pending and not self.graph:
                stop, going = int(t), False    # the breaking transition stores nothing
                self.transitions += 1
                break
        if not going and not self.cut_short and (self.pending or self.graph):
            self.cut_short = self.budget.out_of_states()
        self.transitions += stop
        self.witnessed |= int(np.bitwise_or.reduce(witnessed[:stop], initial=0))
        first = first[first < stop]
        new = canon[first]
        self.room -= len(new)
        self._remember(new)
        self.stored += len(new)
        if self.graph:
            self.dst.append(self._index_of(canon[:stop]).astype(np.uint32))
            self.edge_counts.append(np.bincount(source[:stop], minlength=len(keys))
                                    .astype(np.uint8))     # fewer than 256 action slots
            self.edge_slot.append(self.slots[:stop].astype(np.uint8))
            if self.ticking is not None:
                self.edge_ticks.append(self.ticks[:stop])
            if self.canon is not None:
                self.edge_perm.append(self.renamings[:stop].astype(
                    np.uint16 if len(self.perms) < 1 << 16 else np.uint32))
        parents = base + source[first]
        return going, new, parents.astype(np.int32 if self.stored < 1 << 31 else np.int64)


class TooWide(Exception):
    """The ids no longer pack into 64 bits; the plain engine takes over."""


def _bits(mask: int) -> list[int]:
    return [b for b in range(mask.bit_length()) if mask >> b & 1]
