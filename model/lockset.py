"""What a CPU's compiled code holds where: the locks (must-held locksets), the snapshots it
has taken, and the open-coded lock breaks they reveal (docs/semantics.md section 10).

The kernel breaks a lock in two ways: by a primitive (``cond_resched_lock(L)``), and in open
code, ``spin_unlock(L); cond_resched(); spin_lock(L);`` inside a loop that holds ``L``. The
model knows the first by name; the second is found here, on the flat program of the
scenario's own statements (era primitives are not looked into), so that every kind of loop
the language has (``while``, ``for (;;)``, ``do { } while``, ``repeat``, a backward
``goto``) is one kind of cycle: a backward jump of the scenario's code.

An unlock of ``L`` is an open-coded lock-break site when it lies in such a cycle and

- ``L`` is held when the cycle's iteration begins: held at the loop's head on every path, or,
  for the cycle of a backward ``goto``, taken by the statement at its label (``again:
  spin_lock(L); ... spin_unlock(L); goto again;``), and
- the hold it releases is the one the iteration began with: no path from the head to the
  unlock passes another release of ``L`` (a hold taken after such a release is a critical
  section of its own, as when a helper called inside a break takes ``L`` for one item), and
- ``L`` is held again before the iteration continues: every path from the unlock reaches an
  acquisition of ``L`` (its *relock*) before it comes back to the head, leaves the loop or
  ends the code path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from model.lang.ast import Pos
from model.program import Belief, Instr, Op


@dataclass(frozen=True)
class LockStatement:
    """A lock statement of the scenario's code: instructions ``start`` to ``end`` (past its
    last) take (``acquire``) or release ``lock``."""

    start: int
    end: int
    lock: int
    acquire: bool
    pos: Pos


@dataclass(frozen=True)
class Cycle:
    """A backward jump of the scenario's code from ``back`` to ``head``; ``goto`` when a
    ``goto`` statement made it, not a loop."""

    head: int
    back: int
    goto: bool = False


@dataclass(frozen=True)
class BreakSite:
    """An open-coded lock break: the unlock and the acquisitions that retake its lock."""

    unlock: LockStatement
    relocks: tuple[LockStatement, ...]

    @property
    def lock(self) -> int:
        return self.unlock.lock


def held_locks(code: Sequence[Instr]) -> tuple[int | None, ...]:
    """Per pc (and the end), the bitmask of locks held there on every path from the start,
    as the scenario's code believes them (``Op.BELIEVE`` after each lock statement); None
    where no path arrives.

    >>> from model.program import Instr, Op
    >>> held_locks((Instr(Op.WORK), Instr(Op.BELIEVE, 0, 1), Instr(Op.WORK)))
    (0, 0, 1, 1)
    """
    def believe(instr: Instr, here: int) -> int:
        if instr.op is not Op.BELIEVE:
            return here
        bit = 1 << int(instr.a)
        return here | bit if Belief(int(instr.b)) is not Belief.NONE else here & ~bit

    return _on_every_path(code, believe)


def snapshots_taken(code: Sequence[Instr]) -> tuple[int, ...]:
    """Per pc (and the end), the bitmask of data the CPU has read on every path from the
    start: it holds a snapshot of each, live or not (a dead one the model forgets, see
    `model.program.Program.live_snapshots`, but the CPU still had it).

    >>> from model.program import Instr, Op
    >>> snapshots_taken((Instr(Op.DATA_READ, 1), Instr(Op.WORK)))
    (0, 2, 2)
    """
    taken = _on_every_path(
        code, lambda instr, here: here | (1 << instr.a if instr.op is Op.DATA_READ else 0))
    return tuple(0 if t is None else t for t in taken)


def _on_every_path(code: Sequence[Instr], step: Callable[[Instr, int], int]
                   ) -> tuple[int | None, ...]:
    """Per pc (and the end), the bits set on every path from the start (bits meet by
    intersection where paths join), each instruction changing them by ``step``; None where
    no path arrives."""
    n = len(code)
    facts: list[int | None] = [None] * (n + 1)
    facts[0] = 0
    work = [0]
    while work:
        pc = work.pop()
        here = facts[pc]
        if pc >= n or here is None:
            continue
        after = step(code[pc], here)
        for nxt in _successors(code, pc):
            old = facts[nxt]
            new = after if old is None else old & after
            if new != old:
                facts[nxt] = new
                work.append(nxt)
    return tuple(facts)


def find_breaks(code: Sequence[Instr], statements: Sequence[LockStatement],
                cycles: Sequence[Cycle]) -> tuple[BreakSite, ...]:
    """The open-coded lock-break sites of one CPU's code, in program order.

    ``statements`` are the scenario's own lock statements and ``cycles`` its backward jumps
    (both recorded by the compiler); ``code`` is the flat program they index.
    """
    held = held_locks(code)
    sites = []
    for unlock in statements:
        if unlock.acquire:
            continue
        enclosing = sorted((c for c in cycles if c.head <= unlock.start and unlock.end <= c.back),
                           key=lambda c: c.back - c.head)
        for cycle in enclosing:
            relocks = _relocks(code, statements, unlock, cycle, held)
            if relocks and _held_since_head(code, statements, unlock, cycle):
                sites.append(BreakSite(unlock, relocks))
                break
    return tuple(sites)


def _relocks(code: Sequence[Instr], statements: Sequence[LockStatement],
             unlock: LockStatement, cycle: Cycle, held: Sequence[int | None]
             ) -> tuple[LockStatement, ...]:
    """The acquisitions of the unlock's lock that every path from it reaches before the
    iteration of ``cycle`` continues, or () when some path does not (or it is no break)."""
    lock = unlock.lock
    acquires = {s.start: s for s in statements if s.acquire and s.lock == lock}
    at_head = held[cycle.head]
    taken_at_head = cycle.goto and cycle.head in acquires
    if not taken_at_head and (at_head is None or not at_head >> lock & 1):
        return ()
    found: dict[int, LockStatement] = {}
    seen = {unlock.end}
    work = [unlock.end]
    while work:
        pc = work.pop()
        if pc in acquires:
            found[pc] = acquires[pc]
            continue
        if pc == cycle.head or not cycle.head <= pc <= cycle.back:
            return ()           # the iteration continues, or the loop is left, unlocked
        for nxt in _successors(code, pc):
            if nxt not in seen:
                seen.add(nxt)
                work.append(nxt)
    return tuple(found[pc] for pc in sorted(found))


def _held_since_head(code: Sequence[Instr], statements: Sequence[LockStatement],
                     unlock: LockStatement, cycle: Cycle) -> bool:
    """Whether the unlock releases the hold of ``L`` the iteration of ``cycle`` began with:
    no path of the iteration from the head to the unlock passes another release of ``L``.
    A path carries a mark once it has passed one; the unlock reached by a marked path
    releases a hold taken since, not the iteration's."""
    releases = {s.start: s for s in statements
                if not s.acquire and s.lock == unlock.lock and s is not unlock}
    seen = {(cycle.head, False)}
    work = [(cycle.head, False)]
    while work:
        pc, released = work.pop()
        if pc == unlock.start:
            if released:
                return False
            continue
        if pc in releases:
            nexts: tuple[int, ...] = (releases[pc].end,)
            released = True
        else:
            nexts = _successors(code, pc)
        for nxt in nexts:
            if nxt != cycle.head and cycle.head <= nxt <= cycle.back \
                    and (nxt, released) not in seen:
                seen.add((nxt, released))
                work.append((nxt, released))
    return True


def _successors(code: Sequence[Instr], pc: int) -> tuple[int, ...]:
    instr = code[pc]
    if instr.op is Op.JUMP:
        return (instr.target,)
    if instr.target >= 0:
        return (pc + 1, instr.target)
    return (pc + 1,)
