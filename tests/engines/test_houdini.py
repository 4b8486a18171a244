"""Houdini and the invariants k-induction assumes (`lockbreak.engines.houdini`,
`model.invariants`), from a counter small enough to check by hand to the kernel model.

The counter: ``x`` starts at 0 and goes up by 2 modulo 16: "x is even" is inductive; "x != 1"
is true of every reachable state but inductive only together with "x is even" (15 + 2 = 1);
"x < 4" is true initially and not after two steps, so it must be dropped.

On the kernel model: what Houdini keeps from candidates mined on a few sample states holds in
every state the explicit model reaches; it lets k-induction prove a scenario the explicit
engine, cut at a state budget, leaves incomplete; where both engines finish, they agree.
"""

from __future__ import annotations

import re

import pytest
import z3

from lockbreak.core import Budget, CheckResult, PropertyKind, Status
from lockbreak.engines.bmc import check
from lockbreak.engines.houdini import houdini, inductive_core
from lockbreak.engines.plain_bfs import check as explicit_check
from model.invariants import Candidates, Mining
from model.kernel import KernelModel
from model.symbolic import SymbolicKernel
from properties.catalogue import CATALOGUE
from tests.support.helpers import check_by_name, first_states, kernel_model, scenario_toml

SAFETY = [p.name for p in CATALOGUE if p.kind is PropertyKind.SAFETY]


def candidates(x: z3.BitVecRef) -> list[z3.BoolRef]:
    return [x & 1 == 0, x != 1, z3.ULT(x, 4), x != 0]


def solve(solver: z3.Solver, assumed: list[z3.BoolRef]) -> bool | None:
    return solver.check(*assumed) == z3.sat


X0, X1 = z3.BitVec("x@0", 4), z3.BitVec("x@1", 4)
STEP = X1 == X0 + 2


def test_houdini_keeps_what_is_inductive_together_and_drops_the_rest() -> None:
    assert houdini(X0 == 0, STEP, candidates(X0), candidates(X1), "QF_BV", solve) == [0, 1]


def test_out_of_time_is_no_invariant() -> None:
    assert houdini(X0 == 0, STEP, candidates(X0), candidates(X1), "QF_BV",
                   lambda solver, assumed: None) is None


def test_the_core_of_an_invariant_is_inductive_by_itself() -> None:
    """"x != 1" alone is not inductive (15 + 2 = 1): its core brings in "x is even"."""
    kept = [0, 1]
    assert inductive_core(STEP, candidates(X0), candidates(X1), kept, [1], "QF_BV",
                          solve) == [0, 1]
    assert inductive_core(STEP, candidates(X0), candidates(X1), kept, [0], "QF_BV",
                          solve) == [0]


# Two CPUs that take B, work, break the lock and release it, forever: BMC is never exhaustive,
# so every proof is by k-induction; 713 reachable states.
LOOP = scenario_toml(
    "v2.6.12", ["forever { spin_lock(B); work(); cond_resched_lock(B); spin_unlock(B); }"] * 2,
    locks="B")
# Candidates from 20 random runs only: 540 of the 713 states, not all of them.
FEW = Mining(first=0, walks=20, steps=100)


@pytest.mark.slow
def test_what_houdini_keeps_holds_in_every_reachable_state(loop: KernelModel) -> None:
    model = loop
    twin = SymbolicKernel(model, FEW)
    init, _, _ = twin.initial()
    relation, _, _ = twin.step(0)
    kept = houdini(init, z3.And(twin.domain(0), relation, twin.domain(1)),
                   twin.candidate_invariants(0), twin.candidate_invariants(1), twin.logic,
                   solve)
    assert kept is not None
    mined = twin._candidates
    assert isinstance(mined, Candidates)
    states = first_states(model)
    assert len(states) == 713 and mined.samples < len(states)
    wrong = set().union(*(mined.false_in(model.parts(s)) for s in states))
    assert wrong, "the few samples should suggest some facts that are false"
    assert not wrong & set(kept)
    assert len(kept) > 100


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> KernelModel:
    return kernel_model(tmp_path_factory.mktemp("loop"), LOOP)


@pytest.fixture(scope="module")
def proofs(loop: KernelModel) -> dict[str, CheckResult]:
    """z3's verdicts on `LOOP`, with candidates mined from `FEW` sample states."""
    return {r.property: r for r in check(SymbolicKernel(loop, FEW), properties=SAFETY,
                                          depth=12)}


@pytest.mark.slow
def test_k_induction_proves_what_a_state_budget_leaves_incomplete(
        loop: KernelModel, proofs: dict[str, CheckResult]) -> None:
    [cut] = explicit_check(loop, properties=["mutual_exclusion"],
                           budget=Budget(max_states=200))
    assert cut.status is Status.INCOMPLETE
    proved = proofs["mutual_exclusion"]
    assert proved.status is Status.HOLDS, proved.detail
    assert re.search(r"proved by k-induction, k=0, assuming an inductive invariant of \d+ "
                     r"facts \(of \d+ facts proved inductive, from \d+ candidates\)",
                     proved.detail), proved.detail
    text = "\n".join(proved.invariant)
    assert "cpu0 at `spin_unlock(B): arch_spin_unlock(B)`" in text
    assert "holds B" in text and "when B is free: holders(B) = nobody" in text


@pytest.mark.slow
def test_proofs_agree_with_the_explicit_engine(loop: KernelModel,
                                              proofs: dict[str, CheckResult]) -> None:
    explicit = check_by_name(loop, SAFETY)
    decided = {n: r.status for n, r in proofs.items() if r.status is not Status.INCOMPLETE}
    assert decided == {n: explicit[n].status for n in decided}
    proved = {n for n, r in proofs.items() if "k-induction" in r.detail and r.status in (
        Status.HOLDS, Status.VACUOUS)}
    assert proved >= {"mutual_exclusion", "no_sleep_in_atomic", "no_spurious_break"}
    assert all(proofs[n].invariant for n in proved)


def test_a_query_out_of_time_leaves_the_property_incomplete(loop: KernelModel) -> None:
    for result in check(SymbolicKernel(loop, FEW), properties=SAFETY, depth=40, timeout=0.5):
        assert result.status is Status.INCOMPLETE, result.detail
        assert "timed out" in result.detail


@pytest.mark.parametrize(("n", "noun", "text"), [(1, "fact", "1 fact"),
                                                 (1094, "fact", "1,094 facts")])
def test_counts_read_as_english(n: int, noun: str, text: str) -> None:
    from lockbreak.engines.bmc import _count
    assert _count(n, noun) == text
