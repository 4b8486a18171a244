"""What a kernel-model transition can be seen to do; properties are defined over these.

The interpreter records, for every step, the events below. A property (in `properties`) is
violated by some events and witnessed by others, so every engine checks the same named thing.
"""

from __future__ import annotations

import enum


class Event(enum.IntFlag):
    """Observable facts about one transition."""

    NONE = 0
    SCHEDULE = enum.auto()            # schedule() ran (explicit, preemption, or an rt sleep)
    SCHEDULE_IN_ATOMIC = enum.auto()  # ... with preempt_count > 0
    CONTENDED = enum.auto()           # an acquisition attempt found the lock taken
    BREAK = enum.auto()               # a lock-break site dropped its lock
    SPURIOUS_BREAK = enum.auto()      # ... while nobody waited and need_resched was clear
    BREAK_RETURNED = enum.auto()      # an int-returning lock-break site returned after dropping
    BREAK_LIE = enum.auto()           # ... or returned a value that is not whether it dropped
    STALE = enum.auto()               # a write made another CPU's snapshot stale
    STALE_USE = enum.auto()           # use(X) relied on a stale snapshot
    WAKEUP = enum.auto()              # the environment set need_resched on a CPU
    DOUBLE_HOLD = enum.auto()         # after this step, a lock has two holders (or writer + other)
    BREAK_WITH_DATA = enum.auto()     # a lock-break site dropped a lock while its CPU held a
                                      # snapshot of data that lock protects (live or not)
    MIGHT_SLEEP = enum.auto()         # a might-sleep point was reached (mutex_lock, might_sleep())
    MIGHT_SLEEP_ATOMIC = enum.auto()  # ... with preempt_count above its offset or interrupts off
