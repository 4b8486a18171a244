"""Finite instances of the proofs' any-N vocabulary: N named CPUs and K ordered positions.

The tests pin a frame of the parameterized system to a `Structure` (a state of the explicit
model, read in the proof's words) and ask z3 whether the symbolic formulas agree with it.
"""

from __future__ import annotations

from collections.abc import Sequence

import z3

from model.proofs.structure import Structure
from model.proofs.vocabulary import Frame, Vocabulary


class Instance:
    """CPU constants ``cpu[0..n-1]`` and positions ``pos[0..k-1]`` (in ``lt`` order), closed."""

    def __init__(self, voc: Vocabulary, n: int, k: int, tag: str = "") -> None:
        self.voc = voc
        self.cpu = [z3.Const(f"cpu{i}{tag}", voc.cpu) for i in range(n)]
        self.pos = [z3.Const(f"p{i}{tag}", voc.pos) for i in range(k)]
        x, y = z3.Const("x_cpu", voc.cpu), z3.Const("x_pos", voc.pos)
        self.axioms = z3.And(
            z3.Distinct(*self.cpu) if n > 1 else voc.bool(True),
            z3.Distinct(*self.pos) if k > 1 else voc.bool(True),
            z3.ForAll([x], z3.Or([x == c for c in self.cpu])),
            z3.ForAll([y], z3.Or([y == p for p in self.pos])),
            *(voc.lt(self.pos[i], self.pos[j]) == voc.bool(i < j)
              for i in range(k) for j in range(k)))

    def pin(self, f: Frame, st: Structure, skip: Sequence[str] = ()) -> z3.BoolRef:
        """``f`` is ``st`` (fields in ``skip`` left free; unused positions and owners free)."""
        bv = self.voc.count
        parts = [f.locked == st.locked, f.break_lock == st.break_lock,
                 f.head == self.pos[st.head], f.tail == self.pos[st.tail]]
        if st.locked:
            parts.append(f.owner == self.cpu[st.owner])
        for c, cs in zip(self.cpu, st.cpus, strict=True):
            parts += [f.pc(c) == self.voc.pc_of[cs.pc], f.count(c) == bv(cs.count),
                      f.need(c) == cs.need, f.holds(c) == cs.holds, f.queued(c) == cs.queued,
                      f.dropped(c) == cs.dropped]
            parts += [g(c) == (r in cs.regs) for r, g in f.regs.items()]
            if cs.queued:
                parts.append(f.pos(c) == self.pos[cs.pos])
            if "saved" not in skip:
                parts.append(f.saved(c) == bv(cs.saved))
        return z3.And(parts)
