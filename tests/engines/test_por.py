"""Partial-order reduction in the vectorised engine: CPU-local, forward, invisible steps alone.

With reduction on or off (and symmetry on or off) every safety verdict and every shortest
counterexample length must be the same, on every public scenario and on deliberately broken
variants. The reduced search alone may reach a violation late; the tests show that happens,
and that `check` still returns a shortest counterexample.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from lockbreak.core import Budget, CheckResult, SilentReporter, Status
from lockbreak.engines import level_search, vectorised_bfs
from model.kernel import PC, WAKE, KernelModel
from tests.engines.test_vectorised_bfs import PUBLIC, safety_model
from tests.model.test_broken_variants import VARIANTS, nested
from tests.model.test_kernel import assert_real_execution, reachable
from tests.support.helpers import kernel_model as model_of_text
from tests.support.paths import REPO

sys.path.insert(0, str(REPO / "bench"))
from bench_nested import scenario_text

INTERLEAVING = [p for p in PUBLIC if "lockstep" not in p.read_text()]


def verdicts(results: list[CheckResult]) -> list[tuple[str, str, int | None]]:
    return [(r.property, r.status.value, r.trace and len(r.trace)) for r in results]


def assert_reduction_agrees(model: KernelModel) -> int:
    """Reduction on and off agree (with and without symmetry); the reduced states stored."""
    plain = vectorised_bfs.check(model)
    reduced = vectorised_bfs.check(model, por=True)
    assert verdicts(reduced) == verdicts(plain)
    for result in reduced:
        if result.trace is not None:
            assert_real_execution(model, result)
    if model.canonical_groups:
        assert verdicts(vectorised_bfs.check(model, symmetry=True, por=True)) == verdicts(plain)
    holding = [r.stats.states for r in reduced if r.status is not Status.VIOLATED]
    return holding[0] if holding else 0


@pytest.mark.parametrize("path", INTERLEAVING, ids=[p.stem for p in INTERLEAVING])
def test_public_scenarios_keep_verdicts_and_trace_lengths(path: Path) -> None:
    model = safety_model(path)
    reduced = assert_reduction_agrees(model)
    if reduced:
        assert reduced < vectorised_bfs.check(model)[0].stats.states


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.name for v in VARIANTS])
def test_broken_variants_keep_their_shortest_counterexample(tmp_path: Path, variant) -> None:
    model = model_of_text(tmp_path, nested(variant), era=variant.era())
    [result] = vectorised_bfs.check(model, properties=[variant.property], por=True)
    assert result.status is Status.VIOLATED
    assert result.trace is not None and len(result.trace) == variant.trace_length
    assert_real_execution(model, result)


def test_the_reduced_search_alone_can_reach_a_violation_late(tmp_path: Path) -> None:
    # Why check() searches again without reduction: here the reduced graph's first violation
    # is one step deeper than the shortest counterexample.
    [variant] = [v for v in VARIANTS if v.name == "resched-without-count-test"]
    model = model_of_text(tmp_path, nested(variant), era=variant.era())
    bit = model.property_names.index(variant.property)
    search = level_search.Search(model, 1 << bit, None, Budget(), SilentReporter(), por=True)
    search.run()
    assert len(search.trace(bit)) == variant.trace_length + 1
    [result] = vectorised_bfs.check(model, properties=[variant.property], por=True)
    assert result.trace is not None and len(result.trace) == variant.trace_length


# Scaled nested scenario, v2.6.12, tas: states stored with reduction, without and with
# symmetry (without reduction: test_vectorised_bfs.SCALED). Pinned.
REDUCED = {2: (2_517, 1_263), 3: (188_809, 32_214)}


@pytest.mark.parametrize("cpus", list(REDUCED))
def test_scaled_nested_reduced_counts_are_pinned(tmp_path: Path, cpus: int) -> None:
    path = tmp_path / "scaled.toml"
    path.write_text(scenario_text(cpus))
    model = safety_model(path)
    for symmetry, states in zip((False, True), REDUCED[cpus], strict=True):
        results = vectorised_bfs.check(model, symmetry=symmetry, por=True)
        assert {r.stats.states for r in results} == {states}
        assert {r.property: r.status.value for r in results} == {
            r.property: r.status.value for r in vectorised_bfs.check(model, symmetry=symmetry)}


def test_local_steps_are_what_reduction_may_take_alone() -> None:
    model = safety_model(REPO / "scenarios" / "nested-wakeup-v2.6.12.toml")
    seen: dict[tuple[str, bool], set[bool]] = {}
    for state, _, _ in reachable(model):
        ids = model.split(state)
        _, parts = model.parts(state)
        for cpu, (own, part) in enumerate(zip(ids[1:], parts, strict=True)):
            code = model.world.programs[cpu].code
            if part[PC] >= len(code):
                assert not model.local_step(cpu, own)        # a finished CPU takes no step
                continue
            key = (code[part[PC]].op.name, part[WAKE] > 0)
            seen.setdefault(key, set()).add(model.local_step(cpu, own))
    # Lock operations are never local; a CPU whose wakeup may still come never steps alone
    # (the wakeup touches its part); preempt_count and work steps of the others can.
    assert seen[("LOCK_OP", False)] == {False}
    assert all(local == {False} for (_, waking), local in seen.items() if waking)
    assert True in seen[("PREEMPT_DISABLE", False)] and True in seen[("WORK", False)]


def test_a_budget_spent_by_the_reduced_search_says_the_trace_may_not_be_shortest(
        tmp_path: Path) -> None:
    [variant] = [v for v in VARIANTS if v.name == "resched-without-count-test"]
    model = model_of_text(tmp_path, nested(variant), era=variant.era())
    # Room for the reduced search, not for the unreduced one after it.
    reduced = level_search.Search(model, 1 << model.property_names.index(variant.property), None,
                                   Budget(), SilentReporter(), por=True)
    reduced.run()
    [result] = vectorised_bfs.check(model, properties=[variant.property], por=True,
                              budget=Budget(max_states=reduced.stored))
    assert result.status is Status.VIOLATED
    assert result.trace is not None and len(result.trace) == variant.trace_length + 1
    assert "confirmed" in result.detail
    assert_real_execution(model, result)


def test_four_cpus_with_both_reductions_are_pinned(tmp_path: Path) -> None:
    # 22,733,177 states unreduced (bench/bench_scale.py); both reductions leave 505,918.
    path = tmp_path / "scaled.toml"
    path.write_text(scenario_text(4))
    results = vectorised_bfs.check(safety_model(path), symmetry=True, por=True)
    assert {r.stats.states for r in results} == {505_918}
    assert {r.property: r.status.value for r in results} == {
        "mutual_exclusion": "holds", "no_sleep_in_atomic": "vacuous",
        "might_sleep_clean": "vacuous", "break_return_truth": "holds", "no_stale_use": "vacuous",
        "no_spurious_break": "holds"}
