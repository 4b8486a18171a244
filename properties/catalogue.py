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


@dataclass(frozen=True, kw_only=True)
class Property:
    """A named property with its witness, as a kernel developer reads it; built with
    keywords only, since five of its fields are sentences that read alike."""

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
        name="mutual_exclusion",
        kind=PropertyKind.SAFETY,
        holds_when="no spinlock has two holders; no rwlock has a writer beside any other holder",
        witness="contention: some CPU found a lock taken",
        broken="a lock got a second holder",
        violated_by=Event.DOUBLE_HOLD,
        witnessed_by=Event.CONTENDED,
    ),
    Property(
        name="deadlock_free",
        kind=PropertyKind.CAN_FINISH,
        holds_when="from every reachable state, every CPU whose code has no forever loop can "
                   "still finish",
        witness="contention: some CPU found a lock taken",
        broken="a CPU can no longer finish",
        violated_by=Event.NONE,
        witnessed_by=Event.CONTENDED,
    ),
    Property(
        name="no_sleep_in_atomic",
        kind=PropertyKind.SAFETY,
        holds_when="schedule() never runs with preempt_count > 0",
        witness="a reschedule: schedule() ran",
        broken="schedule() ran with preempt_count > 0",
        violated_by=Event.SCHEDULE_IN_ATOMIC,
        witnessed_by=Event.SCHEDULE,
    ),
    Property(
        name="might_sleep_clean",
        kind=PropertyKind.SAFETY,
        holds_when="every might-sleep point (might_sleep(), cond_resched*(), mutex_lock, down_*) "
                   "is "
                   "reached with preempt_count at most its offset and interrupts enabled, as "
                   "CONFIG_DEBUG_ATOMIC_SLEEP checks it",
        witness="a might-sleep point reached",
        broken="a might-sleep point was reached in atomic context (sleeping function called from "
               "invalid context)",
        violated_by=Event.MIGHT_SLEEP_ATOMIC,
        witnessed_by=Event.MIGHT_SLEEP,
    ),
    Property(
        name="break_return_truth",
        kind=PropertyKind.SAFETY,
        holds_when="cond_resched_lock returns 1 exactly when it dropped the lock",
        witness="a lock break whose return value was checked",
        broken="the lock-break site's return value is not whether it dropped",
        violated_by=Event.BREAK_LIE,
        witnessed_by=Event.BREAK_RETURNED,
    ),
    Property(
        name="no_stale_use",
        kind=PropertyKind.SAFETY,
        holds_when="use(X) never relies on a snapshot that another CPU's write(X) made stale",
        witness="a lock break while the CPU held a snapshot of data the lock protects, live or not "
                "(or a snapshot went stale)",
        broken="use() relied on a snapshot another CPU's write made stale",
        violated_by=Event.STALE_USE,
        witnessed_by=Event.STALE | Event.BREAK_WITH_DATA,
        holds_means="no stale snapshot was used: every snapshot live across a lock break "
                                "was re-read, pinned or not written meanwhile",
    ),
    Property(
        name="no_spurious_break",
        kind=PropertyKind.SAFETY,
        holds_when="a lock-break site never drops a lock while nobody waits for it, except to "
                   "schedule "
                   "for its own CPU's need_resched",
        witness="a lock break: a lock-break site dropped its lock",
        broken="the lock was dropped and retaken while nobody waited for it and its CPU did not "
               "schedule",
        violated_by=Event.SPURIOUS_BREAK,
        witnessed_by=Event.BREAK,
    ),
    Property(
        name="starvation_free",
        kind=PropertyKind.FAIR,
        holds_when="in every execution weakly fair to every CPU, every lock acquisition that "
                   "starts "
                   "eventually completes",
        witness="an execution, fair or not, in which a CPU waits for a lock forever",
        broken="a CPU waits for its lock forever although every CPU keeps being scheduled",
        violated_by=Event.NONE,
        witnessed_by=Event.NONE,
        obligation=Obligation.ACQUIRE,
    ),
    Property(
        name="livelock_free",
        kind=PropertyKind.FAIR,
        holds_when="every execution weakly fair to every CPU finishes every CPU whose code has no "
                   "forever loop",
        witness="an execution, fair or not, that never finishes a CPU that must finish",
        broken="a CPU never finishes although every CPU keeps being scheduled",
        violated_by=Event.NONE,
        witnessed_by=Event.NONE,
        obligation=Obligation.FINISH,
    ),
    Property(
        name="bounded_wait",
        kind=PropertyKind.WORST,
        holds_when="every spin_lock completes within max ticks of its first attempt (lockstep "
                   "timing)",
        witness="contention: an acquisition had to wait",
        broken="a CPU waits for its lock without bound",
        violated_by=Event.NONE,
        witnessed_by=Event.NONE,
        obligation=Obligation.ACQUIRE,
    ),
    Property(
        name="bounded_latency",
        kind=PropertyKind.WORST,
        holds_when="from a wakeup on a CPU until that CPU schedules, at most max ticks (lockstep "
                   "timing)",
        witness="a wakeup arrived",
        broken="a woken CPU never gets to schedule",
        violated_by=Event.NONE,
        witnessed_by=Event.NONE,
        obligation=Obligation.WAKEUP,
    ),
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
