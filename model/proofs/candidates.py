"""The pool of candidate invariant conjuncts, built from program points and lock state.

Each candidate is a universally quantified formula over CPUs (one or two CPU variables, no
existentials), so the invariant stays in the decidable fragment. Each has three faces: its
z3 formula over a frame, a Python judge over a finite `Structure` (to drop, before any z3
query, those that some reachable state of 2 concrete CPUs refutes), and its text in kernel
words for the printed invariant.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial

import z3

from model.program import Instr, Op
from model.proofs.structure import CpuState, Structure
from model.proofs.symlocks import FIFO_LOCKS
from model.proofs.vocabulary import Frame

Body = Callable[..., z3.BoolRef]     # (frame, *cpu variables) -> the quantifier-free body


@dataclass(frozen=True)
class Candidate:
    """One conjunct ``forall c [d]. body``: its body in z3, a Python judge, its text.

    ``arity`` is the number of CPU variables (0, 1 or 2; with 2 they are distinct CPUs).
    """

    key: tuple[object, ...]
    text: str
    arity: int
    body: Body
    judge: Callable[[Structure], bool]
    pc: int = -1                    # the program point it talks about (-1: none)

    def formula(self, s: Frame) -> z3.BoolRef:
        return conjoin(s, [self])


def conjoin(s: Frame, cands: Sequence[Candidate]) -> z3.BoolRef:
    """The conjunction of ``cands`` with one quantifier per arity (cheaper for z3 to match)."""
    c, d = z3.Consts("c d", s.voc.cpu)
    parts = [k.body(s) for k in cands if k.arity == 0]
    ones = [k.body(s, c) for k in cands if k.arity == 1]
    twos = [k.body(s, c, d) for k in cands if k.arity == 2]
    if ones:
        parts.append(z3.ForAll([c], z3.And(ones)))
    if twos:
        parts.append(z3.ForAll([c, d], z3.Implies(c != d, z3.And(twos))))
    return z3.And(parts)


@dataclass(frozen=True)
class Literal:
    """A fact about one CPU ``c`` (and the lock), in its three faces."""

    text: str
    formula: Callable[[Frame, z3.ExprRef], z3.BoolRef]
    judge: Callable[[Structure, int, CpuState], bool]


def _lit(text: str, formula: Callable[[Frame, z3.ExprRef], z3.BoolRef],
         judge: Callable[[Structure, int, CpuState], bool]) -> Iterator[Literal]:
    yield Literal(text, formula, judge)
    yield Literal(_negate(text), lambda s, c: z3.Not(formula(s, c)),
                  lambda st, i, cs: not judge(st, i, cs))


def _negate(text: str) -> str:
    return text[4:] if text.startswith("not ") else f"not {text}"


def literals(lock: str, regs: tuple[int, ...], max_count: int, flag: bool) -> list[Literal]:
    """What a candidate may say about a CPU at a program point."""
    out: list[Literal] = []
    for v in range(max_count + 1):
        out.append(Literal(f"preempt_count == {v}", partial(_count_is, "count", v),
                           partial(_count_was, "count", v)))
    for v in range(max_count + 1):
        out.append(Literal(f"preempt_count on entering cond_resched_lock == {v}",
                           partial(_count_is, "saved", v), partial(_count_was, "saved", v)))
    out += _lit("holds L", lambda s, c: s.holds(c), lambda st, i, cs: cs.holds)
    out += _lit("owns the lock word of L", lambda s, c: s.owns(c), lambda st, i, cs: st.owns(i))
    out += _lit("dropped L in this cond_resched_lock", lambda s, c: s.dropped(c),
                lambda st, i, cs: cs.dropped)
    if flag:
        out += _lit("L->break_lock", lambda s, c: s.break_lock,
                    lambda st, i, cs: st.break_lock)
    for r in regs:
        out += _lit(f"local r{r}", partial(_reg_is, r), partial(_reg_was, r))
        out.append(Literal(f"local r{r} == whether it dropped L", partial(_reg_tells, r),
                           partial(_reg_told, r)))
    if lock in FIFO_LOCKS:
        out += _lit("queued on L", lambda s, c: s.queued(c), lambda st, i, cs: cs.queued)
    return out


def at_pc(pc: int, lit: Literal) -> Candidate:
    """Every CPU at ``pc`` satisfies ``lit``."""
    def body(s: Frame, c: z3.ExprRef) -> z3.BoolRef:
        return z3.Implies(s.at(c, pc), lit.formula(s, c))

    def judge(st: Structure) -> bool:
        return all(lit.judge(st, i, cs) for i, cs in enumerate(st.cpus) if cs.pc == pc)

    return Candidate(("at", pc, lit.text), lit.text, 1, body, judge, pc)


def unreached(pc: int) -> Candidate:
    """No CPU is ever at ``pc``."""
    return Candidate(("unreached", pc), "no CPU is ever here", 1,
                     lambda s, c: z3.Not(s.at(c, pc)),
                     lambda st: all(cs.pc != pc for cs in st.cpus), pc)


def _one(key: str, text: str, body: Callable[[Frame, z3.ExprRef], z3.BoolRef],
         judge: Callable[[Structure, int, CpuState], bool]) -> Candidate:
    return Candidate((key,), text, 1, body,
                     lambda st: all(judge(st, i, cs) for i, cs in enumerate(st.cpus)))


def _two(key: str, text: str, body: Callable[[Frame, z3.ExprRef, z3.ExprRef], z3.BoolRef],
         judge: Callable[[Structure, int, CpuState, int, CpuState], bool]) -> Candidate:
    return Candidate((key,), text, 2, body, lambda st: all(
        judge(st, i, a, j, b) for i, a in enumerate(st.cpus) for j, b in enumerate(st.cpus)
        if i != j))


def _count_is(name: str, v: int, s: Frame, c: z3.ExprRef) -> z3.BoolRef:
    return getattr(s, name)(c) == s.voc.count(v)


def _count_was(name: str, v: int, st: Structure, i: int, cs: CpuState) -> bool:
    return bool(getattr(cs, name) == v)


def _reg_is(r: int, s: Frame, c: z3.ExprRef) -> z3.BoolRef:
    return s.regs[r](c)


def _reg_was(r: int, st: Structure, i: int, cs: CpuState) -> bool:
    return r in cs.regs


def _reg_tells(r: int, s: Frame, c: z3.ExprRef) -> z3.BoolRef:
    return s.regs[r](c) == s.dropped(c)


def _reg_told(r: int, st: Structure, i: int, cs: CpuState) -> bool:
    return (r in cs.regs) == cs.dropped


def mutual_exclusion() -> Candidate:
    """The safety goal: no two CPUs hold L."""
    return _two("mutual_exclusion", "no two CPUs hold L",
                lambda s, c, d: z3.Not(z3.And(s.holds(c), s.holds(d))),
                lambda st, i, a, j, b: not (a.holds and b.holds))


def lock_state(lock: str) -> list[Candidate]:
    """Conjuncts about the lock word and queue that hold whatever the program."""
    out = [
        _one("holds_owns", "a CPU that holds L owns its lock word",
             lambda s, c: z3.Implies(s.holds(c), s.owns(c)),
             lambda st, i, cs: not cs.holds or st.owns(i)),
        _one("owns_holds", "a CPU that owns the lock word holds L",
             lambda s, c: z3.Implies(s.owns(c), s.holds(c)),
             lambda st, i, cs: not st.owns(i) or cs.holds),
    ]
    if lock not in FIFO_LOCKS:
        return out
    out += [
        _one("queued_not_owner", "a queued CPU does not own L",
             lambda s, c: z3.Implies(s.queued(c), z3.Not(s.owns(c))),
             lambda st, i, cs: not cs.queued or not st.owns(i)),
        _one("queued_before_tail", "every queued CPU's place is before the tail",
             lambda s, c: z3.Implies(s.queued(c), s.voc.lt(s.pos(c), s.tail)),
             lambda st, i, cs: not cs.queued or cs.pos < st.tail),
        _two("places_distinct", "no two queued CPUs share a place",
             lambda s, c, d: z3.Not(z3.And(s.queued(c), s.queued(d), s.pos(c) == s.pos(d))),
             lambda st, i, a, j, b: not (a.queued and b.queued and a.pos == b.pos)),
    ]
    if lock == "ticket":
        out += [
            _one("served_not_passed", "no queued CPU's ticket is before now-serving",
                 lambda s, c: z3.Implies(s.queued(c), s.voc.le(s.head, s.pos(c))),
                 lambda st, i, cs: not cs.queued or st.head <= cs.pos),
            _one("owner_serving", "while L is owned, every queued ticket is after now-serving",
                 lambda s, c: z3.Implies(z3.And(s.queued(c), s.locked),
                                         s.voc.lt(s.head, s.pos(c))),
                 lambda st, i, cs: not (cs.queued and st.locked) or st.head < cs.pos),
            Candidate(("serving_not_past_next",), "now-serving is never past the next ticket",
                      0, lambda s: s.voc.le(s.head, s.tail), lambda st: st.head <= st.tail),
            Candidate(("owned_outstanding",), "while L is owned, now-serving is before the tail",
                      0, lambda s: z3.Implies(s.locked, s.voc.lt(s.head, s.tail)),
                      lambda st: not st.locked or st.head < st.tail),
        ]
    return out


def pool(lock: str, step_pcs: tuple[int, ...], code: tuple[Instr, ...], regs: tuple[int, ...],
         seen_pcs: set[int], max_count: int) -> list[Candidate]:
    """Every candidate: per program point (unreached, or each literal), then the lock's."""
    flag = any(code[pc].op in (Op.FLAG_READ, Op.FLAG_WRITE) for pc in step_pcs)
    lits = literals(lock, regs, max_count, flag)
    out: list[Candidate] = []
    for pc in step_pcs:
        if pc not in seen_pcs:
            out.append(unreached(pc))       # the literals below then say nothing more
        out += [at_pc(pc, lit) for lit in lits]
    return out + lock_state(lock)
