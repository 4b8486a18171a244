"""What `lockbreak prove` proves, by name: safety goals, the primitives' contracts, FIFO service.

State goals are conjuncts of the inductive invariant. Contracts are judged at the moves that
enter and leave ``cond_resched_lock`` (a Hoare triple for the call, in the context of any
number of CPUs running the same loop). FIFO goals are two-state properties of every move.
"""

from __future__ import annotations

from dataclasses import dataclass

STATE, CONTRACT, FIFO = "state", "contract", "fifo"
# witnesses, looked for in the reachable states of 2 concrete CPUs
CONTENDED = "a CPU waits for L while another holds it"
SCHEDULED = "a CPU reaches schedule(), or can be preempted"
BROKE = "cond_resched_lock(L) drops L"
QUEUED = "a CPU waits in the queue of L"


@dataclass(frozen=True)
class Goal:
    name: str
    kind: str
    statement: str            # what it says, in kernel words
    witness: str              # what 2 concrete CPUs must show for a proof to mean something


GOALS: tuple[Goal, ...] = (
    Goal("mutual_exclusion", STATE, "no two CPUs hold L", CONTENDED),
    Goal("no_sleep_in_atomic", STATE, "schedule() never runs with preempt_count > 0",
         SCHEDULED),
    Goal("holds_before", CONTRACT,
         "{pre} a CPU entering cond_resched_lock(L) holds L", BROKE),
    Goal("holds_after", CONTRACT,
         "{post} a CPU leaving cond_resched_lock(L) holds L again", BROKE),
    Goal("preempt_count_restored", CONTRACT,
         "{post} preempt_count on leaving cond_resched_lock(L) is what it was on entry", BROKE),
    Goal("break_return_truth", CONTRACT,
         "{post} cond_resched_lock(L) returns 1 exactly when it dropped L", BROKE),
    Goal("fifo_no_overtaking", FIFO,
         "no CPU ever gets ahead of a queued waiter (the CPUs ahead of it only leave)", QUEUED),
    Goal("fifo_one_per_interval", FIFO,
         "each release of L (each lock-break interval's end) is by a CPU ahead of every queued "
         "waiter, which is then no longer ahead of it: a waiter is served after at most as "
         "many intervals as CPUs were ahead of it", QUEUED),
)
BY_NAME = {g.name: g for g in GOALS}
