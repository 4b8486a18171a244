"""The symbols of the parameterized system: sorts, and one copy of the state per time frame.

CPUs are an uninterpreted sort, so a proof covers every number of them. Queue positions
(ticket numbers, qspinlock arrival order) are a second uninterpreted sort with a strict total
order ``lt``; functions go only from CPUs to finite sorts or to positions, never back, so every
query stays in the decidable effectively-propositional fragment (as in Ivy and mypyvy).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import z3

COUNT_BITS = 3          # preempt_count as a 3-bit value; a proved lemma keeps it below 5
COUNT_LIMIT = 4


@dataclass(frozen=True)
class Vocabulary:
    """Sorts shared by every frame: CPUs, positions, program points."""

    cpu: z3.SortRef
    pos: z3.SortRef
    pc: z3.SortRef
    pc_of: dict[int, z3.ExprRef]      # program counter -> enum constant
    lt: z3.FuncDeclRef
    regs: tuple[int, ...]             # registers live across steps (the rest are scratch)
    ctx: z3.Context                   # one per proof: no z3 state is shared between proofs

    def bool(self, value: bool) -> z3.BoolRef:
        return z3.BoolVal(value, self.ctx)

    def count(self, value: int) -> z3.BitVecRef:
        """A ``preempt_count`` value."""
        return z3.BitVecVal(value, COUNT_BITS, self.ctx)

    def order_axioms(self) -> z3.BoolRef:
        """``lt`` is a strict total order on positions."""
        a, b, c = z3.Consts("a b c", self.pos)
        lt = self.lt
        return z3.And(
            z3.ForAll([a], z3.Not(lt(a, a))),
            z3.ForAll([a, b, c], z3.Implies(z3.And(lt(a, b), lt(b, c)), lt(a, c))),
            z3.ForAll([a, b], z3.Or(lt(a, b), a == b, lt(b, a))))

    def succ(self, a: z3.ExprRef, b: z3.ExprRef) -> z3.BoolRef:
        """``b`` is the position right after ``a``."""
        x = z3.Const("x_succ", self.pos)
        return z3.And(self.lt(a, b), z3.ForAll([x], z3.Implies(self.lt(a, x),
                                                               z3.Not(self.lt(x, b)))))

    def le(self, a: z3.ExprRef, b: z3.ExprRef) -> z3.BoolRef:
        return z3.Or(a == b, self.lt(a, b))


def vocabulary(step_pcs: Sequence[int], regs: Sequence[int]) -> Vocabulary:
    """The sorts of one proof, in a fresh z3 context."""
    ctx = z3.Context()
    sort, consts = z3.EnumSort("PC", [f"pc{pc}" for pc in step_pcs], ctx=ctx)
    cpu = z3.DeclareSort("CPU", ctx)
    pos = z3.DeclareSort("Pos", ctx)
    return Vocabulary(cpu, pos, sort, dict(zip(step_pcs, consts, strict=True)),
                      z3.Function("lt", pos, pos, z3.BoolSort(ctx)), tuple(regs), ctx)


class Frame:
    """One copy of the state: per-CPU functions and the lock's shared fields.

    ``holds`` is the ghost holder set the explicit model keeps (acquired, released, and what
    the code assumes after ``spin_lock``/``cond_resched_lock``); ``owner``/``locked`` are the
    lock word; ``queued``/``pos`` the FIFO queue of ticket and queued locks (``head``, ``tail``
    its ends); ``dropped`` and ``saved`` the lock-break site's bookkeeping (it dropped the
    lock; ``preempt_count`` when it was entered).
    """

    def __init__(self, voc: Vocabulary, tag: str) -> None:
        count = z3.BitVecSort(COUNT_BITS, voc.ctx)
        cpu, boolean = voc.cpu, z3.BoolSort(voc.ctx)
        self.voc = voc
        self.pc = z3.Function(f"pc{tag}", cpu, voc.pc)
        self.count = z3.Function(f"preempt_count{tag}", cpu, count)
        self.need = z3.Function(f"need_resched{tag}", cpu, boolean)
        self.holds = z3.Function(f"holds{tag}", cpu, boolean)
        self.queued = z3.Function(f"queued{tag}", cpu, boolean)
        self.pos = z3.Function(f"pos{tag}", cpu, voc.pos)
        self.dropped = z3.Function(f"dropped{tag}", cpu, boolean)
        self.saved = z3.Function(f"saved{tag}", cpu, count)
        self.regs = {r: z3.Function(f"r{r}{tag}", cpu, boolean) for r in voc.regs}
        self.locked = z3.Bool(f"locked{tag}", voc.ctx)
        self.owner = z3.Const(f"owner{tag}", cpu)
        self.head = z3.Const(f"head{tag}", voc.pos)
        self.tail = z3.Const(f"tail{tag}", voc.pos)
        self.break_lock = z3.Bool(f"break_lock{tag}", voc.ctx)

    def per_cpu(self) -> dict[str, z3.FuncDeclRef]:
        """The per-CPU functions by field name (registers as ``r<i>``)."""
        fields = {"pc": self.pc, "count": self.count, "need": self.need, "holds": self.holds,
                  "queued": self.queued, "pos": self.pos, "dropped": self.dropped,
                  "saved": self.saved}
        fields.update({f"r{r}": f for r, f in self.regs.items()})
        return fields

    def shared(self) -> dict[str, z3.ExprRef]:
        return {"locked": self.locked, "owner": self.owner, "head": self.head,
                "tail": self.tail, "break_lock": self.break_lock}

    def owns(self, c: z3.ExprRef) -> z3.BoolRef:
        """The lock word says ``c`` owns L."""
        return z3.And(self.locked, self.owner == c)

    def at(self, c: z3.ExprRef, pc: int) -> z3.BoolRef:
        return self.pc(c) == self.voc.pc_of[pc]

    def initial(self) -> z3.BoolRef:
        """Every CPU at the loop's first step, nothing held, nothing queued, the flag clear."""
        c = z3.Const("c_init", self.voc.cpu)
        zero = self.voc.count(0)
        first = min(self.voc.pc_of)
        per = [self.at(c, first), self.count(c) == zero, z3.Not(self.need(c)),
               z3.Not(self.holds(c)), z3.Not(self.queued(c)), z3.Not(self.dropped(c)),
               self.saved(c) == zero, *(z3.Not(f(c)) for f in self.regs.values())]
        return z3.And(z3.ForAll([c], z3.And(per)), z3.Not(self.locked),
                      z3.Not(self.break_lock), self.head == self.tail)
