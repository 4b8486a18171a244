"""The lock algorithms of `model.locks` in their any-N form: each atomic operation as cases.

An operation is a list of `Case`: a guard over the pre-state, the value the code tests, and
what changes. The concrete operations act on words of N CPUs; these act on an uninterpreted
set of CPUs and a FIFO queue of ordered positions (a ticket is a position; a qspinlock
waiter's place in pending + MCS queue is too). `tests/model/proofs/test_symlocks.py` checks,
for every word of 2 and 3 CPUs, that each case agrees with the concrete operation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import z3

from model.proofs.vocabulary import Frame


@dataclass(frozen=True)
class Case:
    """One outcome of an operation: when it happens and what it does."""

    guard: z3.BoolRef
    value: int = 0
    acquired: bool = False
    waits: bool = False                 # the CPU joins the queue (ticket, qspinlock)
    shared: Mapping[str, z3.ExprRef] = field(default_factory=dict)   # locked, owner, head, tail
    mine: Mapping[str, z3.ExprRef] = field(default_factory=dict)     # queued, pos of the CPU


SymOp = Callable[[Frame, z3.ExprRef, z3.ExprRef], list[Case]]
# (pre-state, the CPU, a fresh position for this step) -> cases


def _yes_no(cond: z3.BoolRef) -> list[Case]:
    return [Case(cond, value=1), Case(z3.Not(cond), value=0)]


def _acquire(s: Frame, me: z3.ExprRef, **extra: z3.ExprRef) -> dict[str, z3.ExprRef]:
    return {"locked": s.voc.bool(True), "owner": me, **extra}


def _anyone_queued(s: Frame) -> z3.BoolRef:
    d = z3.Const("d_queued", s.voc.cpu)
    return z3.Exists([d], s.queued(d))


def _new_tail(s: Frame, fresh: z3.ExprRef) -> z3.BoolRef:
    return s.voc.succ(s.tail, fresh)


# ------------------------------------------------------------------ tas

def _tas_trylock(s: Frame, me: z3.ExprRef, fresh: z3.ExprRef) -> list[Case]:
    return [Case(z3.Not(s.locked), 1, acquired=True, shared=_acquire(s, me)),
            Case(s.locked, 0)]


def _unlock(s: Frame, me: z3.ExprRef, fresh: z3.ExprRef) -> list[Case]:
    return [Case(s.voc.bool(True), shared={"locked": s.voc.bool(False)})]


def _tas_is_locked(s: Frame, me: z3.ExprRef, fresh: z3.ExprRef) -> list[Case]:
    return _yes_no(s.locked)


def _never(s: Frame, me: z3.ExprRef, fresh: z3.ExprRef) -> list[Case]:
    return [Case(s.voc.bool(True), 0)]


# ------------------------------------------------------------------ ticket
# head is the ticket now served, tail the next one handed out; fresh is succ(tail) or
# succ(head), constrained by the case's guard.

def _ticket_take(s: Frame, me: z3.ExprRef, fresh: z3.ExprRef) -> list[Case]:
    step = _new_tail(s, fresh)
    return [Case(z3.And(s.head == s.tail, step), 1, acquired=True,
                 shared=_acquire(s, me, tail=fresh)),
            Case(z3.And(s.head != s.tail, step), 0, waits=True, shared={"tail": fresh},
                 mine={"queued": s.voc.bool(True), "pos": s.tail})]


def _ticket_mine(s: Frame, me: z3.ExprRef, fresh: z3.ExprRef) -> list[Case]:
    mine = s.head == s.pos(me)
    return [Case(mine, 1, acquired=True, shared=_acquire(s, me),
                 mine={"queued": s.voc.bool(False)}),
            Case(z3.Not(mine), 0)]


def _ticket_trylock(s: Frame, me: z3.ExprRef, fresh: z3.ExprRef) -> list[Case]:
    return [Case(z3.And(s.head == s.tail, _new_tail(s, fresh)), 1, acquired=True,
                 shared=_acquire(s, me, tail=fresh)),
            Case(s.head != s.tail, 0)]


def _ticket_unlock(s: Frame, me: z3.ExprRef, fresh: z3.ExprRef) -> list[Case]:
    return [Case(s.voc.succ(s.head, fresh), shared={"locked": s.voc.bool(False),
                                                   "head": fresh})]


def _ticket_is_locked(s: Frame, me: z3.ExprRef, fresh: z3.ExprRef) -> list[Case]:
    return _yes_no(s.head != s.tail)


def _ticket_is_contended(s: Frame, me: z3.ExprRef, fresh: z3.ExprRef) -> list[Case]:
    t = z3.Const("t_between", s.voc.pos)
    return _yes_no(z3.Exists([t], z3.And(s.voc.lt(s.head, t), s.voc.lt(t, s.tail))))


# ------------------------------------------------------------------ qspinlock
# pending and the MCS queue are one FIFO: pending, when set, is always its first member.

def _q_free(s: Frame) -> z3.BoolRef:
    return z3.And(z3.Not(s.locked), z3.Not(_anyone_queued(s)))


def _q_enter(s: Frame, me: z3.ExprRef, fresh: z3.ExprRef) -> list[Case]:
    return [Case(_q_free(s), 1, acquired=True, shared=_acquire(s, me)),
            Case(z3.And(z3.Not(_q_free(s)), _new_tail(s, fresh)), 0, waits=True,
                 shared={"tail": fresh}, mine={"queued": s.voc.bool(True), "pos": s.tail})]


def _q_handoff(s: Frame, me: z3.ExprRef, fresh: z3.ExprRef) -> list[Case]:
    d = z3.Const("d_first", s.voc.cpu)
    first = z3.And(s.queued(me), z3.ForAll([d], z3.Implies(
        s.queued(d), s.voc.le(s.pos(me), s.pos(d)))))
    go = z3.And(z3.Not(s.locked), first)
    return [Case(go, 1, acquired=True, shared=_acquire(s, me),
                 mine={"queued": s.voc.bool(False)}),
            Case(z3.Not(go), 0)]


def _q_trylock(s: Frame, me: z3.ExprRef, fresh: z3.ExprRef) -> list[Case]:
    return [Case(_q_free(s), 1, acquired=True, shared=_acquire(s, me)),
            Case(z3.Not(_q_free(s)), 0)]


def _q_is_locked(s: Frame, me: z3.ExprRef, fresh: z3.ExprRef) -> list[Case]:
    return _yes_no(z3.Or(s.locked, _anyone_queued(s)))


def _q_is_contended(s: Frame, me: z3.ExprRef, fresh: z3.ExprRef) -> list[Case]:
    return _yes_no(_anyone_queued(s))


SYMBOLIC_OPS: Mapping[str, Mapping[str, SymOp]] = MappingProxyType({
    "tas": MappingProxyType({
        "arch_spin_trylock": _tas_trylock, "arch_spin_unlock": _unlock,
        "arch_spin_is_locked": _tas_is_locked, "arch_spin_is_contended": _never}),
    "ticket": MappingProxyType({
        "__ticket_take": _ticket_take, "__ticket_mine": _ticket_mine,
        "arch_spin_trylock": _ticket_trylock, "arch_spin_unlock": _ticket_unlock,
        "arch_spin_is_locked": _ticket_is_locked,
        "arch_spin_is_contended": _ticket_is_contended}),
    "qspinlock": MappingProxyType({
        "__qspin_enter": _q_enter, "__qspin_handoff": _q_handoff,
        "arch_spin_trylock": _q_trylock, "arch_spin_unlock": _unlock,
        "arch_spin_is_locked": _q_is_locked, "arch_spin_is_contended": _q_is_contended}),
})
FIFO_LOCKS = frozenset({"ticket", "qspinlock"})
