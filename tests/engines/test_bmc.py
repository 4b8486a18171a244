"""The z3 engine (`lockbreak.engines.bmc` over `model.symbolic`) against the explicit engine.

On every public scenario, BMC finds exactly the safety properties the explicit engine finds
violated, each at the explicit engine's shortest length, with a trace that replays on the
kernel model and renders; on scenarios small enough for z3 to decide, every verdict agrees.
A symbolic model whose counterexample does not replay is an error, never a verdict.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import z3

from lockbreak.core import PropertyKind, Status
from lockbreak.engines.bmc import EncodingError, check
from lockbreak.pipeline import Overrides, load
from lockbreak.report.traces import render_trace
from model.constructs import first_unmodelled
from model.kernel import Action, KernelModel
from model.scenario.load import find_scenarios
from model.symbolic import SymbolicKernel
from model.world import build_world
from properties.catalogue import CATALOGUE, specs
from tests.support.helpers import check_by_name, kernel_model, scenario_toml
from tests.support.paths import REPO

SAFETY = [p.name for p in CATALOGUE if p.kind is PropertyKind.SAFETY]
# patch-v2.6.9-return-fix repeats nested-v2.6.9's 24-step no_spurious_break and takes half a
# minute; bench/bench_z3.py --agree checks it with the rest, outside CI.
DEEP = {"patch-v2.6.9-return-fix"}
# The scenarios using constructs the z3 twin refuses by name (tests/model/test_kernel_c.py) are left
# out.
PUBLIC = [pytest.param(p, id=p.stem, marks=[pytest.mark.bench] if p.stem in DEEP else [])
          for p in sorted(find_scenarios([REPO / "scenarios"]))
          if first_unmodelled(build_world(load(p, Overrides()))) is None]


def public_model(path: Path) -> KernelModel:
    return KernelModel(build_world(load(path, Overrides())), specs(SAFETY))


@pytest.mark.slow
@pytest.mark.parametrize("path", PUBLIC)
def test_bmc_finds_every_explicit_violation_at_the_same_length(path: Path) -> None:
    model = public_model(path)
    explicit = check_by_name(model, SAFETY)
    lengths = {name: len(r.trace) for name, r in explicit.items()
               if r.status is Status.VIOLATED and r.trace is not None}
    depth = max(lengths.values(), default=8)
    symbolic = {r.property: r for r in check(SymbolicKernel(model), depth=depth,
                                              induction=False)}
    found = {name: len(r.trace) for name, r in symbolic.items()
             if r.status is Status.VIOLATED and r.trace is not None}
    assert found == lengths
    for name, result in symbolic.items():
        if result.status is Status.VIOLATED:
            assert result.trace is not None
            text = render_trace(model, result.trace, f"{name} violated", "")
            assert f"{len(result.trace)}. cpu" in text
        elif result.status is not Status.INCOMPLETE:    # decided: it must agree
            assert result.status is explicit[name].status, name


# A small world z3 decides completely (one CPU: no spinning, so k-induction closes): every
# verdict, holds and vacuous included, must agree with the explicit engine's.
SMALL = """
name = "small"
[kernel]
version = "v2.6.20"
smp = false
[locks]
A = "spin"
B = "spin"
[data]
X = "B"
[[cpu]]
wakeups = 1
code = \"\"\"
spin_lock(A); spin_lock(B); read(X); work(); cond_resched_lock(B); use(X);
spin_unlock(B); spin_unlock(A);
\"\"\"
"""

# CPUs that never stop: BMC is never exhaustive, only k-induction can prove anything. (With
# spinlocks in the loop it cannot yet: from an arbitrary state, preempt_enable() may meet
# preempt_count 0, which the encoding counts against every property.)
FOREVER = scenario_toml("v2.6.12", ["forever { work(); cpu_relax(); }"] * 2, locks="B")


def test_z3_verdicts_agree_with_the_explicit_engine_where_z3_decides(tmp_path: Path) -> None:
    model = kernel_model(tmp_path, SMALL)
    explicit = check_by_name(model, SAFETY)
    symbolic = {r.property: r for r in check(SymbolicKernel(model), properties=SAFETY,
                                              depth=40)}
    assert {n: r.status for n, r in symbolic.items()} == {n: explicit[n].status for n in SAFETY}
    assert "proved by k-induction" in symbolic["break_return_truth"].detail
    for name, result in symbolic.items():
        if result.status is Status.VIOLATED:
            assert result.trace is not None and len(result.trace) == len(explicit[name].trace)


def test_a_proof_by_k_induction_names_its_k(tmp_path: Path) -> None:
    """In a world whose CPUs loop forever BMC can never be exhaustive; what z3 proves there it
    proves by k-induction, and it says with which k."""
    model = kernel_model(tmp_path, FOREVER)
    [result] = check(SymbolicKernel(model), properties=["break_return_truth"], depth=10)
    assert result.status is Status.VACUOUS
    assert result.status is check_by_name(model, ["break_return_truth"])[
        "break_return_truth"].status
    assert "proved by k-induction, k=0" in result.detail


class _Lying(SymbolicKernel):
    """A twin that misreports which CPU moved: its counterexamples cannot replay."""

    def decode_actions(self, model: z3.ModelRef, length: int) -> list[Action]:
        return [Action(1 - a.cpu, a.wakeup) for a in super().decode_actions(model, length)]


def test_a_counterexample_that_does_not_replay_is_an_error_not_a_verdict() -> None:
    model = public_model(REPO / "scenarios" / "nested-wakeup-v2.6.20.toml")
    with pytest.raises(EncodingError, match="z3 path"):
        check(_Lying(model), properties=["no_sleep_in_atomic"], depth=13, induction=False)


def test_graph_properties_are_not_decided_by_z3(tmp_path: Path) -> None:
    model = kernel_model(tmp_path, FOREVER)
    [result] = check(SymbolicKernel(model), properties=["deadlock_free"], depth=5)
    assert result.status is Status.INCOMPLETE
    assert "not decidable by the z3 engine" in result.detail


# Public scenarios whose CPUs spin: k-induction closes only with the invariants z3 proves
# inductive first (`model.invariants`, `lockbreak.engines.houdini`); every verdict must be a
# proof or a counterexample, and agree with the explicit engine's. About 16 s each on a loaded
# 2-core machine: one runs in CI, the other with the benchmarks
# (tests/engines/test_houdini.py checks the same on a smaller world).
PROVED = [pytest.param("nested-v2.6.8", marks=pytest.mark.slow),
          pytest.param("nested-outer-v5.17", marks=pytest.mark.bench)]


@pytest.mark.parametrize("name", PROVED)
def test_z3_proves_public_scenarios_where_cpus_spin(name: str) -> None:
    model = public_model(REPO / "scenarios" / f"{name}.toml")
    explicit = check_by_name(model, SAFETY)
    symbolic = {r.property: r for r in check(SymbolicKernel(model), depth=12)}
    assert {n: r.status for n, r in symbolic.items()} == {n: explicit[n].status for n in SAFETY}
    for result in symbolic.values():
        if result.status is Status.VIOLATED:     # replayed on the explicit model
            assert result.trace, result.detail
            continue
        assert result.status in (Status.HOLDS, Status.VACUOUS), result.detail
        assert "proved by k-induction, k=0, assuming an inductive invariant of" in result.detail
        assert result.invariant
