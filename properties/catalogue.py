"""The property catalogue: each property's meaning, its violation and its witness.

Every property is defined over the events the kernel model records for a transition
(`model.events.Event`), so the explicit engine and later engines check the same named thing.
Each ``always`` has a ``sometimes`` sibling, its witness: a property that holds while its
witness was never reached is reported as vacuous (the check had nothing to bite on).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lockbreak.core import LockbreakError, PropertyKind
from model.events import Event
from model.kernel import Obligation, PropertySpec


@dataclass(frozen=True)
class Property:
    """A named property with its witness, as a kernel developer reads it."""

    name: str
    kind: PropertyKind
    holds_when: str               # docs/semantics.md section 8, one line
    witness: str                  # what must have happened for a pass to mean something
    broken: str                   # what the last step of a counterexample did
    violated_by: Event
    witnessed_by: Event
    obligation: Obligation = Obligation.NONE   # FAIR and WORST: what must not stay open
    holds_means: str = ""         # what a pass with its witness reached says, where it helps

    def spec(self) -> PropertySpec:
        return PropertySpec(self.name, self.kind, self.violated_by, self.witnessed_by,
                            self.obligation)


CATALOGUE: tuple[Property, ...] = (
    Property(
        "mutual_exclusion", PropertyKind.SAFETY,
        "no spinlock has two holders; no rwlock has a writer beside any other holder",
        "contention: some CPU found a lock taken",
        "a lock got a second holder",
        Event.DOUBLE_HOLD, Event.CONTENDED),
    Property(
        "deadlock_free", PropertyKind.CAN_FINISH,
        "from every reachable state, every CPU whose code has no forever loop can still finish",
        "contention: some CPU found a lock taken",
        "a CPU can no longer finish",
        Event.NONE, Event.CONTENDED),
    Property(
        "no_sleep_in_atomic", PropertyKind.SAFETY,
        "schedule() never runs with preempt_count > 0",
        "a reschedule: schedule() ran",
        "schedule() ran with preempt_count > 0",
        Event.SCHEDULE_IN_ATOMIC, Event.SCHEDULE),
    Property(
        "might_sleep_clean", PropertyKind.SAFETY,
        "every might-sleep point (might_sleep(), cond_resched*(), mutex_lock, down_*) is "
        "reached with preempt_count at most its offset and interrupts enabled, as "
        "CONFIG_DEBUG_ATOMIC_SLEEP checks it",
        "a might-sleep point reached",
        "a might-sleep point was reached in atomic context (sleeping function called from "
        "invalid context)",
        Event.MIGHT_SLEEP_ATOMIC, Event.MIGHT_SLEEP),
    Property(
        "break_return_truth", PropertyKind.SAFETY,
        "cond_resched_lock returns 1 exactly when it dropped the lock",
        "a lock break whose return value was checked",
        "the lock-break site's return value is not whether it dropped",
        Event.BREAK_LIE, Event.BREAK_RETURNED),
    Property(
        "no_stale_use", PropertyKind.SAFETY,
        "use(X) never relies on a snapshot that another CPU's write(X) made stale",
        "a lock break while the CPU held a snapshot of data the lock protects, live or not "
        "(or a snapshot went stale)",
        "use() relied on a snapshot another CPU's write made stale",
        Event.STALE_USE, Event.STALE | Event.BREAK_WITH_DATA,
        holds_means="no stale snapshot was used: every snapshot live across a lock break "
                    "was re-read, pinned or not written meanwhile"),
    Property(
        "no_spurious_break", PropertyKind.SAFETY,
        "a lock-break site never drops a lock while nobody waits for it, except to schedule "
        "for its own CPU's need_resched",
        "a lock break: a lock-break site dropped its lock",
        "the lock was dropped and retaken while nobody waited for it and its CPU did not schedule",
        Event.SPURIOUS_BREAK, Event.BREAK),
    Property(
        "starvation_free", PropertyKind.FAIR,
        "in every execution weakly fair to every CPU, every lock acquisition that starts "
        "eventually completes",
        "an execution, fair or not, in which a CPU waits for a lock forever",
        "a CPU waits for its lock forever although every CPU keeps being scheduled",
        Event.NONE, Event.NONE, Obligation.ACQUIRE),
    Property(
        "livelock_free", PropertyKind.FAIR,
        "every execution weakly fair to every CPU finishes every CPU whose code has no "
        "forever loop",
        "an execution, fair or not, that never finishes a CPU that must finish",
        "a CPU never finishes although every CPU keeps being scheduled",
        Event.NONE, Event.NONE, Obligation.FINISH),
    Property(
        "bounded_wait", PropertyKind.WORST,
        "every spin_lock completes within max ticks of its first attempt (lockstep timing)",
        "contention: an acquisition had to wait",
        "a CPU waits for its lock without bound",
        Event.NONE, Event.NONE, Obligation.ACQUIRE),
    Property(
        "bounded_latency", PropertyKind.WORST,
        "from a wakeup on a CPU until that CPU schedules, at most max ticks (lockstep timing)",
        "a wakeup arrived",
        "a woken CPU never gets to schedule",
        Event.NONE, Event.NONE, Obligation.WAKEUP),
)

KNOWN: tuple[str, ...] = tuple(p.name for p in CATALOGUE)


def of_kind(*kinds: PropertyKind) -> tuple[str, ...]:
    """The names of the catalogue's properties of ``kinds``.

    >>> of_kind(PropertyKind.WORST)
    ('bounded_wait', 'bounded_latency')
    """
    return tuple(p.name for p in CATALOGUE if p.kind in kinds)


def by_name(name: str) -> Property:
    """The catalogue entry called ``name``.

    >>> by_name("no_sleep_in_atomic").kind.value
    'safety'
    """
    for prop in CATALOGUE:
        if prop.name == name:
            return prop
    raise LockbreakError(f"unknown property {name!r}; known: {', '.join(KNOWN)}")


def specs(names: Sequence[str] | None = None) -> list[PropertySpec]:
    """The model-facing specs of ``names`` (all checked properties when None)."""
    chosen = CATALOGUE if names is None else [by_name(n) for n in names]
    return [p.spec() for p in chosen]
