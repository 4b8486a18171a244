"""Interned state parts and packed states: what a state int of the kernel model means.

A state is one int (`model.layout`): the id of its shared part, then one id per CPU for its
private part, then, under lockstep timing, the "moved" and "arrived" bits. The ids index the
tables kept here, so the engines hash small ints while views decode the parts. Ids depend
on the order parts were first met, so a state int means something only in the process that
made it: `portable` states are plain tuples that mean the same everywhere, and `interned`
tables are what a checkpoint saves beside its states.
"""

from __future__ import annotations

from collections.abc import Sequence

from lockbreak.core import LockbreakError
from model.layout import (
    LOCAL_BITS,
    LOCAL_MASK,
    PC,
    SHARED_BITS,
    SHARED_MASK,
    DataCell,
    LockCell,
)

Interned = tuple[tuple[tuple[int, ...], ...], tuple[tuple, ...]]


class Interning:
    """The private and shared parts met so far, each under its id, and how a state packs
    them: ``shifts[cpu]`` is where a CPU's id sits, ``moved_shift`` where lockstep timing's
    bits begin."""

    def __init__(self, lengths: Sequence[int], locks: int) -> None:
        n = len(lengths)
        self.lengths = tuple(lengths)          # each CPU's program length: pc there = finished
        self.n_locks = locks
        self.locals: list[tuple[int, ...]] = []
        self.local_ids: dict[tuple[int, ...], int] = {}
        self.shared: list[tuple] = []
        self.shared_ids: dict[tuple, int] = {}
        # Per CPU, the private-part ids in which it has finished its program.
        self.finished: list[set[int]] = [set() for _ in range(n)]
        self.shifts = tuple(SHARED_BITS + LOCAL_BITS * i for i in range(n))
        self.moved_shift = SHARED_BITS + LOCAL_BITS * n

    def local_id(self, local: tuple[int, ...]) -> int:
        """The id of a CPU's private part, interned on first sight."""
        lid = self.local_ids.get(local)
        if lid is None:
            lid = len(self.locals)
            if lid > LOCAL_MASK:
                raise LockbreakError("more than 2**20 distinct CPU states: scenario too large")
            self.locals.append(local)
            self.local_ids[local] = lid
        return lid

    def cpu_local_id(self, cpu: int, local: tuple[int, ...]) -> int:
        """`local_id`, noting the ids in which ``cpu`` has finished its program."""
        lid = self.local_id(local)
        if local[PC] >= self.lengths[cpu]:
            self.finished[cpu].add(lid)
        return lid

    def shared_id(self, shared: tuple) -> int:
        """The id of a shared part, interned on first sight."""
        sid = self.shared_ids.get(shared)
        if sid is None:
            sid = len(self.shared)
            if sid > SHARED_MASK:
                raise LockbreakError("more than 2**28 distinct shared states: scenario too large")
            self.shared.append(shared)
            self.shared_ids[shared] = sid
        return sid

    def cells(self, shared: Sequence[Sequence]) -> tuple:
        """A shared part read from plain tuples (a pickle of another version, a test) as
        the interpreter keeps it: lock cells, then data cells."""
        locks = self.n_locks
        return tuple(LockCell(*cell) for cell in shared[:locks]) + tuple(
            DataCell(*cell) for cell in shared[locks:])

    # ------------------------------------------------------------ checkpoints

    def interned(self) -> Interned:
        """The interned private and shared parts, in id order: what gives a packed state its
        meaning, so a checkpoint saves them with its states."""
        return tuple(self.locals), tuple(self.shared)

    def restore(self, parts: Interned) -> None:
        """Intern ``parts`` (from `interned` of a model of the same world) under the same ids,
        so that states saved by that model mean the same here."""
        locals_, shared = parts
        for lid, local in enumerate(locals_):
            if self.local_id(local) != lid:
                raise LockbreakError("a checkpoint's states belong to another scenario")
            for cpu, length in enumerate(self.lengths):
                if local[PC] >= length:
                    self.finished[cpu].add(lid)
        for sid, part in enumerate(shared):
            if self.shared_id(self.cells(part)) != sid:
                raise LockbreakError("a checkpoint's states belong to another scenario")

    # ------------------------------------------------------------ packed states

    def parts(self, state: int) -> tuple[tuple, tuple[tuple[int, ...], ...]]:
        """The shared part and each CPU's private part of ``state``, as stored."""
        return (self.shared[state & SHARED_MASK],
                tuple(self.locals[(state >> shift) & LOCAL_MASK] for shift in self.shifts))

    def portable(self, state: int) -> tuple:
        """``state`` as plain tuples of ints that mean the same in every process.

        A state int indexes this process's tables, which another process (a parallel
        search's worker) fills in another order; its parts and lockstep bits do not.
        """
        shared, locals_ = self.parts(state)
        return shared, locals_, state >> self.moved_shift

    def from_portable(self, value: tuple) -> int:
        """The state int, in this process, of a `portable` value from any process."""
        shared, locals_, moved = value
        sid = self.shared_ids.get(shared)
        state = self.shared_id(self.cells(shared)) if sid is None else sid
        for cpu, local in enumerate(locals_):
            state |= self.cpu_local_id(cpu, local) << self.shifts[cpu]
        return state | moved << self.moved_shift

    def orbit_key(self, state: int) -> tuple:
        """A portable value equal for every renaming of identical CPUs of ``state`` (what
        symmetry merges), so a parallel search can give a whole orbit one owner: the CPUs'
        private parts with their lockstep bits, sorted, and per lock and datum the
        renaming-free fields (the ``break_lock`` flag, how many CPUs hold, write or wait), the
        locks' in sorted order since renaming CPUs also renames their private locks."""
        upper, n = state >> self.moved_shift, len(self.shifts)
        cpus = sorted((self.locals[(state >> shift) & LOCAL_MASK], upper >> i & 1,
                       upper >> (n + i) & 1) for i, shift in enumerate(self.shifts))
        shared = self.shared[state & SHARED_MASK]
        locks = self.n_locks
        counts = tuple(sorted((cell.flag, cell.holders.bit_count(), cell.writers.bit_count(),
                               cell.waiters.bit_count())
                              for cell in shared[:locks]))
        data = tuple((fresh.bit_count(), stale.bit_count()) for fresh, stale in shared[locks:])
        return tuple(cpus), counts, data
