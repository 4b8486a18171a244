"""Houdini (`lockbreak.engines.houdini`) on a counter small enough to check by hand.

``x`` starts at 0 and goes up by 2 modulo 16: "x is even" is inductive; "x != 1" is true of
every reachable state but inductive only together with "x is even" (15 + 2 = 1); "x < 4" is
true initially and not after two steps, so it must be dropped.
"""

from __future__ import annotations

import z3

from lockbreak.engines.houdini import houdini


def candidates(x: z3.BitVecRef) -> list[z3.BoolRef]:
    return [x & 1 == 0, x != 1, z3.ULT(x, 4), x != 0]


def run() -> list[int] | None:
    x0, x1 = z3.BitVec("x@0", 4), z3.BitVec("x@1", 4)
    return houdini(x0 == 0, x1 == x0 + 2, candidates(x0), candidates(x1), "QF_BV",
                   lambda solver, assumed: solver.check(*assumed) == z3.sat)


def test_houdini_keeps_what_is_inductive_together_and_drops_the_rest() -> None:
    assert run() == [0, 1]     # "x < 4" is not inductive, "x != 0" is false initially


def test_out_of_time_is_no_invariant() -> None:
    x0, x1 = z3.BitVec("x@0", 4), z3.BitVec("x@1", 4)
    assert houdini(x0 == 0, x1 == x0 + 2, candidates(x0), candidates(x1), "QF_BV",
                   lambda solver, assumed: None) is None
