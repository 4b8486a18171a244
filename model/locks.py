"""Lock algorithms: the lock word and its atomic operations (docs/semantics.md section 3).

Each operation is one atomic step on one lock word: it takes the word, the CPU and that CPU's
private ticket, and returns an `Outcome` (the new word, the value read, and whether the CPU
now owns the lock or has started to wait for it). ``None`` means the operation cannot run yet
(an rt_mutex waiter asleep until the owner releases). ``arch_spin_lock`` and friends are kernel
C built from these operations, so the eras above them never see the word's shape.

Lock words are small tuples of ints; CPU ids inside them are permuted by `LockAlgorithm.permute`
for symmetry reduction.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Generic, TypeVar

NOBODY = -1

W = TypeVar("W", bound=Hashable)                       # one algorithm's lock word
TasWord = tuple[int]                                   # (owner,)
TicketWord = tuple[int, int, int]                      # (head, tail, owner)
QWord = tuple[int, int, tuple[int, ...]]               # (locked, pending, queue)
UpWord = tuple[()]                                     # no lock word
RwWord = tuple[tuple[int, ...], int, tuple[tuple[int, int], ...]]  # (readers, writer, queue)


@dataclass(frozen=True)
class Outcome(Generic[W]):
    """What one atomic operation on a lock word did."""

    word: W
    value: int = 0            # the result a condition tests (trylock success, is_locked, ...)
    acquired: bool = False    # the CPU owns the lock after this step
    waits: bool = False       # the attempt failed: the CPU now waits (witness of contention)
    ticket: int | None = None  # the CPU's new private ticket (None: unchanged)
    sleeps: bool = False      # the CPU slept (rt_mutex): schedule() ran inside the lock
    exclusive: bool = True    # acquired as the only holder (False: an rwlock reader)
    note: str = ""            # kernel words for traces: "fails: held by cpu0"


Op = Callable[[W, int, int], "Outcome[W] | None"]


@dataclass(frozen=True)
class LockAlgorithm(Generic[W]):
    """One lock algorithm: initial word, atomic operations, and the C of its lock routines."""

    name: str
    summary: str
    initial: Callable[[int], W]                       # n_cpus -> word
    ops: Mapping[str, Op[W]]                          # atomic steps by kernel name
    routines: Mapping[str, str]                       # C bodies built from ops (arch_spin_lock)
    owners: Callable[[W], tuple[int, ...]]            # CPUs the word says own it
    permute: Callable[[W, tuple[int, ...]], W]
    describe: Callable[[W], str]
    free_ops: frozenset[str] = frozenset()            # ops that are no step at all (UP)


def _who(cpu: int) -> str:
    return f"cpu{cpu}"


# ------------------------------------------------------------------ tas
# word = (owner,) with NOBODY when free


def _tas_trylock(word: TasWord, cpu: int, ticket: int) -> Outcome[TasWord]:
    (owner,) = word
    if owner == NOBODY:
        return Outcome((cpu,), value=1, acquired=True, note="acquired")
    return Outcome(word, value=0, waits=True, note=f"fails: held by {_who(owner)}")


def _tas_unlock(word: TasWord, cpu: int, ticket: int) -> Outcome[TasWord]:
    return Outcome((NOBODY,), note="released")


def _tas_is_locked(word: TasWord, cpu: int, ticket: int) -> Outcome[TasWord]:
    (owner,) = word
    return Outcome(word, value=int(owner != NOBODY),
                   note=f"locked by {_who(owner)}" if owner != NOBODY else "unlocked")


def _tas_not_contended(word: TasWord, cpu: int, ticket: int) -> Outcome[TasWord]:
    return Outcome(word, value=0, note="0 (a test-and-set word cannot tell)")


TAS: LockAlgorithm[TasWord] = LockAlgorithm(
    name="tas",
    summary="test-and-set: unfair, the CPU that just unlocked may win the next trylock again",
    initial=lambda n: (NOBODY,),
    ops=MappingProxyType({
        "arch_spin_trylock": _tas_trylock,
        "arch_spin_unlock": _tas_unlock,
        "arch_spin_is_locked": _tas_is_locked,
        "arch_spin_is_contended": _tas_not_contended,
    }),
    routines=MappingProxyType({
        "arch_spin_lock": """
            for (;;) {
                if (arch_spin_trylock(lock))
                    break;
                while (arch_spin_is_locked(lock))
                    cpu_relax();
            }
        """,
    }),
    owners=lambda w: () if w[0] == NOBODY else (w[0],),
    permute=lambda w, p: w if w[0] == NOBODY else (p[w[0]],),
    describe=lambda w: "free" if w[0] == NOBODY else f"held by {_who(w[0])}",
)


# ------------------------------------------------------------------ ticket
# word = (head, tail, owner); tickets are taken modulo n + 1, enough for n CPUs in line.


def ticket_algorithm(n_cpus: int) -> LockAlgorithm[TicketWord]:
    """The ticket lock for ``n_cpus`` CPUs (tickets wrap modulo ``n_cpus + 1``)."""
    m = n_cpus + 1

    def take(word: TicketWord, cpu: int, ticket: int) -> Outcome[TicketWord]:
        head, tail, _ = word
        nxt = (tail + 1) % m
        if head == tail:
            return Outcome((head, nxt, cpu), value=1, acquired=True,
                           note=f"ticket {tail}: acquired")
        return Outcome((head, nxt, word[2]), value=0, waits=True, ticket=tail,
                       note=f"ticket {tail}, now serving {head}: waits")

    def mine(word: TicketWord, cpu: int, ticket: int) -> Outcome[TicketWord]:
        head, tail, _ = word
        if head == ticket:
            return Outcome((head, tail, cpu), value=1, acquired=True, ticket=0,
                           note=f"now serving {head}: acquired")
        return Outcome(word, value=0, note=f"now serving {head}, mine is {ticket}")

    def trylock(word: TicketWord, cpu: int, ticket: int) -> Outcome[TicketWord]:
        head, tail, _ = word
        if head == tail:
            return Outcome((head, (tail + 1) % m, cpu), value=1, acquired=True, note="acquired")
        return Outcome(word, value=0, waits=True, note="fails: tickets outstanding")

    def unlock(word: TicketWord, cpu: int, ticket: int) -> Outcome[TicketWord]:
        head, tail, _ = word
        return Outcome(((head + 1) % m, tail, NOBODY), note=f"now serving {(head + 1) % m}")

    def is_locked(word: TicketWord, cpu: int, ticket: int) -> Outcome[TicketWord]:
        head, tail, _ = word
        return Outcome(word, value=int(head != tail))

    def is_contended(word: TicketWord, cpu: int, ticket: int) -> Outcome[TicketWord]:
        head, tail, _ = word
        queued = (tail - head) % m
        return Outcome(word, value=int(queued > 1), note=f"tail - head = {queued}")

    def describe(word: TicketWord) -> str:
        head, tail, owner = word
        queued = (tail - head) % m
        if owner != NOBODY:
            return f"held by {_who(owner)}" + (f", {queued - 1} waiting" if queued > 1 else "")
        return f"free, {queued} waiting for the next ticket" if queued else "free"

    return LockAlgorithm(
        name="ticket",
        summary="ticket lock: FIFO, a CPU that drops and retakes queues behind the waiters",
        initial=lambda n: (0, 0, NOBODY),
        ops=MappingProxyType({
            "__ticket_take": take, "__ticket_mine": mine, "arch_spin_trylock": trylock,
            "arch_spin_unlock": unlock, "arch_spin_is_locked": is_locked,
            "arch_spin_is_contended": is_contended,
        }),
        routines=MappingProxyType({
            "arch_spin_lock": """
                if (!__ticket_take(lock)) {
                    while (!__ticket_mine(lock))
                        cpu_relax();
                }
            """,
        }),
        owners=lambda w: () if w[2] == NOBODY else (w[2],),
        permute=lambda w, p: w if w[2] == NOBODY else (w[0], w[1], p[w[2]]),
        describe=describe,
    )


# ------------------------------------------------------------------ qspinlock
# word = (locked, pending, queue): owner or NOBODY, pending waiter or NOBODY, MCS queue of CPUs.


def _q_enter(word: QWord, cpu: int, ticket: int) -> Outcome[QWord]:
    locked, pending, queue = word
    if locked == NOBODY and pending == NOBODY and not queue:
        return Outcome((cpu, NOBODY, ()), value=1, acquired=True, note="fast path: acquired")
    if pending == NOBODY and not queue:
        return Outcome((locked, cpu, ()), waits=True, note="sets pending, spins on locked")
    return Outcome((locked, pending, (*queue, cpu)), waits=True,
                   note=f"queues behind {', '.join(map(_who, (pending, *queue)[-1:]))}")


def _q_handoff(word: QWord, cpu: int, ticket: int) -> Outcome[QWord]:
    locked, pending, queue = word
    if locked != NOBODY:
        return Outcome(word, note=f"locked by {_who(locked)}")
    if pending == cpu:
        return Outcome((cpu, NOBODY, queue), value=1, acquired=True, note="pending -> locked")
    if pending == NOBODY and queue and queue[0] == cpu:
        return Outcome((cpu, NOBODY, queue[1:]), value=1, acquired=True,
                       note="queue head -> locked")
    return Outcome(word, note="not first in line")


def _q_trylock(word: QWord, cpu: int, ticket: int) -> Outcome[QWord]:
    locked, pending, queue = word
    if locked == NOBODY and pending == NOBODY and not queue:
        return Outcome((cpu, NOBODY, ()), value=1, acquired=True, note="acquired")
    return Outcome(word, waits=True, note="fails: locked or queued")


def _q_unlock(word: QWord, cpu: int, ticket: int) -> Outcome[QWord]:
    _, pending, queue = word
    return Outcome((NOBODY, pending, queue), note="released")


def _q_is_locked(word: QWord, cpu: int, ticket: int) -> Outcome[QWord]:
    locked, pending, queue = word
    return Outcome(word, value=int(locked != NOBODY or pending != NOBODY or bool(queue)))


def _q_is_contended(word: QWord, cpu: int, ticket: int) -> Outcome[QWord]:
    _, pending, queue = word
    waiting = int(pending != NOBODY or bool(queue))
    return Outcome(word, value=waiting, note="waiters queued" if waiting else "no waiters")


def _q_owners(word: QWord) -> tuple[int, ...]:
    return () if word[0] == NOBODY else (word[0],)


def _q_permute(word: QWord, p: tuple[int, ...]) -> QWord:
    locked, pending, queue = word
    return (p[locked] if locked != NOBODY else NOBODY, p[pending] if pending != NOBODY else NOBODY,
            tuple(p[c] for c in queue))


def _q_describe(word: QWord) -> str:
    locked, pending, queue = word
    parts = ["free" if locked == NOBODY else f"held by {_who(locked)}"]
    if pending != NOBODY:
        parts.append(f"pending {_who(pending)}")
    if queue:
        parts.append("queue " + " ".join(map(_who, queue)))
    return ", ".join(parts)


QSPINLOCK: LockAlgorithm[QWord] = LockAlgorithm(
    name="qspinlock",
    summary="queued spinlock: FIFO hand-off; the first waiter spins on pending, others queue",
    initial=lambda n: (NOBODY, NOBODY, ()),
    ops=MappingProxyType({
        "__qspin_enter": _q_enter, "__qspin_handoff": _q_handoff,
        "arch_spin_trylock": _q_trylock, "arch_spin_unlock": _q_unlock,
        "arch_spin_is_locked": _q_is_locked, "arch_spin_is_contended": _q_is_contended,
    }),
    routines=MappingProxyType({
        "arch_spin_lock": """
            if (!__qspin_enter(lock)) {
                while (!__qspin_handoff(lock))
                    cpu_relax();
            }
        """,
    }),
    owners=_q_owners, permute=_q_permute, describe=_q_describe,
)


# ------------------------------------------------------------------ rtmutex (PREEMPT_RT)


def _rt_slowlock(word: TasWord, cpu: int, ticket: int) -> Outcome[TasWord] | None:
    (owner,) = word
    if owner != NOBODY:
        return None          # asleep until the owner releases
    return Outcome((cpu,), value=1, acquired=True, sleeps=True, note="woken: acquired")


def _rt_not_contended(word: TasWord, cpu: int, ticket: int) -> Outcome[TasWord]:
    return Outcome(word, value=0, note="0 (PREEMPT_RT: spin_is_contended is 0)")


RTMUTEX: LockAlgorithm[TasWord] = LockAlgorithm(
    name="rtmutex",
    summary="PREEMPT_RT sleeping lock: a waiter blocks until the owner releases",
    initial=lambda n: (NOBODY,),
    ops=MappingProxyType({
        "arch_spin_trylock": _tas_trylock, "arch_spin_unlock": _tas_unlock,
        "arch_spin_is_locked": _tas_is_locked, "arch_spin_is_contended": _rt_not_contended,
        "__rt_mutex_slowlock": _rt_slowlock,
    }),
    routines=MappingProxyType({
        "arch_spin_lock": """
            if (!arch_spin_trylock(lock))
                __rt_mutex_slowlock(lock);      /* sleeps */
        """,
    }),
    owners=TAS.owners, permute=TAS.permute, describe=TAS.describe,
)


# ------------------------------------------------------------------ UP (smp = false)


def _up_acquire(word: UpWord, cpu: int, ticket: int) -> Outcome[UpWord]:
    return Outcome(word, value=1, acquired=True, note="UP: no lock word")


UP: LockAlgorithm[UpWord] = LockAlgorithm(
    name="up",
    summary="uniprocessor: spin_lock is preempt_disable(), there is no lock word",
    initial=lambda n: (),
    ops=MappingProxyType({
        "arch_spin_trylock": _up_acquire,
        "arch_spin_unlock": lambda w, c, t: Outcome(w, note="UP: no lock word"),
        "arch_spin_is_locked": lambda w, c, t: Outcome(w, value=0),
        "arch_spin_is_contended": lambda w, c, t: Outcome(w, value=0),
    }),
    routines=MappingProxyType({"arch_spin_lock": "arch_spin_trylock(lock);"}),
    owners=lambda w: (), permute=lambda w, p: w, describe=lambda w: "UP",
    free_ops=frozenset({"arch_spin_trylock", "arch_spin_unlock"}),
)


# ------------------------------------------------------------------ queued rwlock
# word = (readers, writer, queue): reader CPUs (sorted), writer or NOBODY, FIFO of (cpu, is_write)


def _rw_writer_waits(queue: tuple[tuple[int, int], ...]) -> bool:
    """True when the writer first in line has announced itself in the lock word.

    Only the waiter at the head of the queue holds the kernel's ``wait_lock``, and only a writer
    there sets ``_QW_WAITING`` (kernel/locking/qrwlock.c, ``queued_write_lock_slowpath``);
    writers further back are invisible to a reader's fast path.
    """
    return bool(queue) and queue[0][1] == 1


def _rw_read_enter(word: RwWord, cpu: int, ticket: int) -> Outcome[RwWord]:
    """``queued_read_lock``: share at once unless ``cnts & _QW_WMASK`` (a writer holds or waits),
    even past readers still queued behind a writer that has left (include/asm-generic/qrwlock.h).
    """
    readers, writer, queue = word
    if writer == NOBODY and not _rw_writer_waits(queue):
        return Outcome((tuple(sorted((*readers, cpu))), writer, queue), value=1, acquired=True,
                       exclusive=False, note="read-acquired")
    return Outcome((readers, writer, (*queue, (cpu, 0))), waits=True, note="queues to read")


def _rw_write_enter(word: RwWord, cpu: int, ticket: int) -> Outcome[RwWord]:
    readers, writer, queue = word
    if writer == NOBODY and not readers and not queue:
        return Outcome((readers, cpu, queue), value=1, acquired=True, note="write-acquired")
    return Outcome((readers, writer, (*queue, (cpu, 1))), waits=True, note="queues to write")


def _rw_read_trylock(word: RwWord, cpu: int, ticket: int) -> Outcome[RwWord]:
    """queued_read_trylock: share at once when no writer holds or waits, else fail."""
    readers, writer, queue = word
    if writer == NOBODY and not any(is_write for _, is_write in queue):
        return Outcome((tuple(sorted((*readers, cpu))), writer, queue), value=1, acquired=True,
                       exclusive=False, note="read-acquired")
    return Outcome(word, note="fails: a writer holds or waits")


def _rw_write_trylock(word: RwWord, cpu: int, ticket: int) -> Outcome[RwWord]:
    """queued_write_trylock: take it when nobody holds it, else fail."""
    readers, writer, queue = word
    if writer == NOBODY and not readers:
        return Outcome((readers, cpu, queue), value=1, acquired=True, note="write-acquired")
    return Outcome(word, note="fails: held")


def _rw_handoff(word: RwWord, cpu: int, ticket: int) -> Outcome[RwWord]:
    readers, writer, queue = word
    if not queue or queue[0][0] != cpu:
        return Outcome(word, note="not first in line")
    is_write = queue[0][1]
    if writer != NOBODY or (is_write and readers):
        return Outcome(word, note="still held")
    if is_write:
        return Outcome((readers, cpu, queue[1:]), value=1, acquired=True, note="write-acquired")
    return Outcome((tuple(sorted((*readers, cpu))), writer, queue[1:]), value=1, acquired=True,
                   exclusive=False, note="read-acquired")


def _rw_read_unlock(word: RwWord, cpu: int, ticket: int) -> Outcome[RwWord]:
    readers, writer, queue = word
    return Outcome((tuple(r for r in readers if r != cpu), writer, queue), note="read-released")


def _rw_write_unlock(word: RwWord, cpu: int, ticket: int) -> Outcome[RwWord]:
    readers, _, queue = word
    return Outcome((readers, NOBODY, queue), note="write-released")


def _rw_is_contended(word: RwWord, cpu: int, ticket: int) -> Outcome[RwWord]:
    return Outcome(word, value=int(bool(word[2])))


def _rw_permute(word: RwWord, p: tuple[int, ...]) -> RwWord:
    readers, writer, queue = word
    return (tuple(sorted(p[r] for r in readers)), p[writer] if writer != NOBODY else NOBODY,
            tuple((p[c], w) for c, w in queue))


def _rw_describe(word: RwWord) -> str:
    readers, writer, queue = word
    parts = []
    if writer != NOBODY:
        parts.append(f"write-held by {_who(writer)}")
    if readers:
        parts.append("read-held by " + " ".join(map(_who, readers)))
    if queue:
        parts.append("queue " + " ".join(f"{_who(c)}({'w' if w else 'r'})" for c, w in queue))
    return ", ".join(parts) or "free"


RWLOCK: LockAlgorithm[RwWord] = LockAlgorithm(
    name="rwlock",
    summary="queued rwlock: readers share unless a writer holds or waits first; FIFO wait queue",
    initial=lambda n: ((), NOBODY, ()),
    ops=MappingProxyType({
        "__rw_read_enter": _rw_read_enter, "__rw_write_enter": _rw_write_enter,
        "__rw_handoff": _rw_handoff, "arch_read_unlock": _rw_read_unlock,
        "arch_read_trylock": _rw_read_trylock, "arch_write_trylock": _rw_write_trylock,
        "arch_write_unlock": _rw_write_unlock, "arch_rwlock_is_contended": _rw_is_contended,
    }),
    routines=MappingProxyType({
        "arch_read_lock": """
            if (!__rw_read_enter(lock)) {
                while (!__rw_handoff(lock))
                    cpu_relax();
            }
        """,
        "arch_write_lock": """
            if (!__rw_write_enter(lock)) {
                while (!__rw_handoff(lock))
                    cpu_relax();
            }
        """,
    }),
    owners=lambda w: (*w[0], *(() if w[1] == NOBODY else (w[1],))),
    permute=_rw_permute, describe=_rw_describe,
)

# ------------------------------------------------------------------ sleeping locks
# A mutex is the rt_mutex word and its sleeping waiter (`_rt_slowlock`) under the mutex's own
# names; an rwsem is the queued rwlock's word whose waiters sleep instead of spinning.


MUTEX: LockAlgorithm[TasWord] = LockAlgorithm(
    name="mutex",
    summary="sleeping lock: a waiter sleeps until the owner releases, then takes it",
    initial=lambda n: (NOBODY,),
    ops=MappingProxyType({
        "__mutex_trylock": _tas_trylock, "__mutex_unlock": _tas_unlock,
        "__mutex_lock_slowpath": _rt_slowlock,
    }),
    routines=MappingProxyType({}),
    owners=TAS.owners, permute=TAS.permute, describe=TAS.describe,
)


def _rwsem_read_enter(word: RwWord, cpu: int, ticket: int) -> Outcome[RwWord]:
    """``__down_read``: share at once when no writer holds it and nobody waits
    (``RWSEM_READ_FAILED_MASK`` in kernel/locking/rwsem.c), else queue to sleep."""
    readers, writer, queue = word
    if writer == NOBODY and not queue:
        return Outcome((tuple(sorted((*readers, cpu))), writer, queue), value=1, acquired=True,
                       exclusive=False, note="read-acquired")
    return Outcome((readers, writer, (*queue, (cpu, 0))), waits=True, note="queues to read")


def _rwsem_read_trylock(word: RwWord, cpu: int, ticket: int) -> Outcome[RwWord]:
    """``__down_read_trylock``: share when no writer holds it and nobody waits, else fail."""
    readers, writer, queue = word
    if writer == NOBODY and not queue:
        return Outcome((tuple(sorted((*readers, cpu))), writer, queue), value=1, acquired=True,
                       exclusive=False, note="read-acquired")
    return Outcome(word, note="fails: a writer holds it or a waiter sleeps")


def _rwsem_write_trylock(word: RwWord, cpu: int, ticket: int) -> Outcome[RwWord]:
    """``__down_write_trylock``: take it when nobody holds it and nobody waits, else fail."""
    readers, writer, queue = word
    if writer == NOBODY and not readers and not queue:
        return Outcome((readers, cpu, queue), value=1, acquired=True, note="write-acquired")
    return Outcome(word, note="fails: held or waited for")


def _rwsem_sleep(word: RwWord, cpu: int, ticket: int) -> Outcome[RwWord] | None:
    """``rwsem_down_{read,write}_slowpath``: asleep until the rwsem can be granted to this
    waiter, first in line, as the queued rwlock's hand-off would; then it owns it."""
    out = _rw_handoff(word, cpu, ticket)
    if not out.acquired:
        return None
    return Outcome(out.word, value=1, acquired=True, sleeps=True, exclusive=out.exclusive,
                   note=f"woken: {out.note}")


RWSEM: LockAlgorithm[RwWord] = LockAlgorithm(
    name="rwsem",
    summary="sleeping rw lock: readers share while nobody waits, waiters sleep in FIFO order",
    initial=lambda n: ((), NOBODY, ()),
    ops=MappingProxyType({
        "__down_read": _rwsem_read_enter, "__down_write": _rw_write_enter,
        "__down_read_trylock": _rwsem_read_trylock,
        "__down_write_trylock": _rwsem_write_trylock,
        "rwsem_down_slowpath": _rwsem_sleep,
        "__up_read": _rw_read_unlock, "__up_write": _rw_write_unlock,
    }),
    routines=MappingProxyType({}),
    owners=lambda w: (*w[0], *(() if w[1] == NOBODY else (w[1],))),
    permute=_rw_permute, describe=_rw_describe,
)


SPIN_ALGORITHMS = ("tas", "ticket", "qspinlock")


def spin_algorithm(name: str, n_cpus: int) -> LockAlgorithm[Any]:
    """The spinlock algorithm ``name``: tas, ticket, qspinlock, rtmutex or up."""
    fixed: dict[str, LockAlgorithm[Any]] = {
        "tas": TAS, "qspinlock": QSPINLOCK, "rtmutex": RTMUTEX, "up": UP}
    if name == "ticket":
        return ticket_algorithm(n_cpus)
    return fixed[name]


RELEASE_OPS = frozenset({"arch_spin_unlock", "arch_read_unlock", "arch_write_unlock",
                         "__mutex_unlock", "__up_read", "__up_write"})
# The operations in which a waiter sleeps (gives its CPU away) until the lock is granted.
SLEEPING_OPS = frozenset({"__rt_mutex_slowlock", "__mutex_lock_slowpath", "rwsem_down_slowpath"})
# Lock kinds whose holders are readers or one writer (the others have one holder).
SHARED_KINDS = frozenset({"rwlock", "rwsem"})


def kind_algorithm(kind: str, spin: LockAlgorithm[Any]) -> LockAlgorithm[Any]:
    """The algorithm of a lock of ``kind`` (spin, rwlock, mutex, rwsem), with ``spin`` the
    spinlock algorithm in force."""
    return {"spin": spin, "rwlock": RWLOCK, "mutex": MUTEX, "rwsem": RWSEM}[kind]
