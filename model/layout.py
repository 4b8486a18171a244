"""The layout of the kernel model's state: a CPU's private part, the shared part, the packing.

A CPU's private part is a tuple of ints: the registers named below, then its register file
(``REGS + i``: repeat counters, era locals, call results, interrupt-disabled sections). The
shared part is a tuple of one `LockCell` per lock, then one `DataCell` per datum. A state is
one int: the shared part's id in the low `SHARED_BITS`, then `LOCAL_BITS` per CPU for its
private part's id (`model.interning`).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import NamedTuple

# Private-part layout.
PC, COUNT, NEED, WAKE, ACC, TICKET, MM, DROPPED = range(8)
REGS = 8
# NEED values: need_resched (TIF_NEED_RESCHED) set, or only the lazy flag
# (TIF_NEED_RESCHED_LAZY), which need_resched() does not see; schedule() clears both.
NEED_RESCHED, NEED_LAZY = 1, 2
# WAKE holds the immediate wakeups left times (the CPU's lazy wakeups + 1) plus the lazy
# wakeups left (`KernelModel.wakeups_left`): without lazy wakeups, just the wakeups left.
# DROPPED bits: the lock-break site in progress dropped its lock; and that drop is not yet
# justified (nobody waited, and the CPU has not scheduled since).
DROP_DONE, DROP_UNJUSTIFIED = 1, 2

SHARED_BITS = 28
LOCAL_BITS = 20
SHARED_MASK = (1 << SHARED_BITS) - 1
LOCAL_MASK = (1 << LOCAL_BITS) - 1


class LockCell(NamedTuple):
    """One lock in the shared part: its lock word (as its algorithm keeps it), the
    ``break_lock`` flag, and the ghost masks of the CPUs that hold it (readers for an
    rwlock), write-hold it, and wait for it (a failed first attempt, not yet taken)."""

    word: Hashable
    flag: int
    holders: int
    writers: int
    waiters: int


class DataCell(NamedTuple):
    """One datum in the shared part: the CPUs whose snapshot of it is fresh, and stale."""

    fresh: int
    stale: int
