"""What `lockbreak prove` proves, by name: safety goals, the primitives' contracts, FIFO service.

State goals are conjuncts of the inductive invariant. Contracts are judged at the moves that
enter and leave ``cond_resched_lock`` (a Hoare triple for the call, in the context of any
number of CPUs running the same loop). FIFO goals are two-state properties of every move.
"""

from __future__ import annotations

from dataclasses import dataclass

STATE, CONTRACT, FIFO = "state", "contract", "fifo"


@dataclass(frozen=True)
class Goal:
    name: str
    kind: str
    statement: str            # what it says, in kernel words


GOALS: tuple[Goal, ...] = (
    Goal("mutual_exclusion", STATE, "no two CPUs hold L"),
    Goal("no_sleep_in_atomic", STATE, "schedule() never runs with preempt_count > 0"),
    Goal("holds_before", CONTRACT,
         "{pre} a CPU entering cond_resched_lock(L) holds L"),
    Goal("holds_after", CONTRACT,
         "{post} a CPU leaving cond_resched_lock(L) holds L again"),
    Goal("preempt_count_restored", CONTRACT,
         "{post} preempt_count on leaving cond_resched_lock(L) is what it was on entry"),
    Goal("break_return_truth", CONTRACT,
         "{post} cond_resched_lock(L) returns 1 exactly when it dropped L"),
    Goal("fifo_no_overtaking", FIFO,
         "no CPU ever gets ahead of a queued waiter (the CPUs ahead of it only leave)"),
    Goal("fifo_one_per_interval", FIFO,
         "each release of L (each lock-break interval's end) is by a CPU ahead of every queued "
         "waiter, which is then no longer ahead of it: a waiter is served after at most as "
         "many intervals as CPUs were ahead of it"),
)
BY_NAME = {g.name: g for g in GOALS}
