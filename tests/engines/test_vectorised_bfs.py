"""The vectorised level-synchronous engine (`lockbreak.engines.vectorised_bfs`) against the plain
one.

Both engines, with symmetry reduction on and off, must give the same verdicts, store the same
number of states and find counterexamples of the same (shortest) length, on every public
scenario and on deliberately broken variants; the vectorised engine's traces must replay.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from lockbreak.core import Budget, CheckResult, PropertyKind, Status
from lockbreak.engines import plain_bfs, vectorised_bfs
from model.kernel import KernelModel
from model.lockstep import kernel_model
from model.scenario import load_scenario
from model.world import build_world
from properties.catalogue import KNOWN, of_kind, specs
from tests.model.test_broken_variants import VARIANTS, nested
from tests.model.test_kernel import SYMMETRY_COUNTS, assert_real_execution, identical_model
from tests.support.helpers import kernel_model as model_of_text
from tests.support.paths import REPO

sys.path.insert(0, str(REPO / "bench"))
from bench_nested import scenario_text

SAFETY = of_kind(PropertyKind.SAFETY)
STATE_PROPERTIES = of_kind(PropertyKind.SAFETY, PropertyKind.CAN_FINISH)
PUBLIC = sorted((REPO / "scenarios").glob("*.toml"))


def safety_model(path: Path, timing: str | None = None,
                 properties: tuple[str, ...] = SAFETY) -> KernelModel:
    scenario = load_scenario(path, known_properties=KNOWN)
    return kernel_model(build_world(scenario), specs(properties), timing)


def summary(results: list[CheckResult]) -> list[tuple[str, str, int, int | None]]:
    """What must agree: each property's verdict, states stored and trace length."""
    return [(r.property, r.status.value, r.stats.states, r.trace and len(r.trace))
            for r in results]


def assert_agree(model: KernelModel, symmetry: bool, budget: Budget | None = None) -> None:
    budget = budget or Budget()
    plain = plain_bfs.check(model, budget=budget, symmetry=symmetry)
    fast = vectorised_bfs.check(model, budget=budget, symmetry=symmetry)
    assert summary(fast) == summary(plain)
    for result in fast:
        if result.trace is not None:
            assert_real_execution(model, result)


@pytest.mark.parametrize("path", PUBLIC, ids=[p.stem for p in PUBLIC])
def test_public_scenarios_agree_with_the_plain_engine(path: Path) -> None:
    model = safety_model(path, properties=STATE_PROPERTIES)
    assert vectorised_bfs.serves(model) == (model.world.scenario.kernel.timing == "interleaving")
    for symmetry in (False, True) if model.canonical_groups else (False,):
        assert_agree(model, symmetry)


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.name for v in VARIANTS])
def test_broken_variants_give_the_same_shortest_counterexample(tmp_path: Path, variant) -> None:
    model = model_of_text(tmp_path, nested(variant), era=variant.era())
    fast = {r.property: r for r in vectorised_bfs.check(model, properties=SAFETY)}
    result = fast[variant.property]
    assert result.status is Status.VIOLATED
    assert result.trace is not None and len(result.trace) == variant.trace_length
    assert_real_execution(model, result)


# Scaled nested scenario (bench/bench_nested.py), v2.6.12, tas: states stored without and with
# symmetry up to renaming the private locks own{i}. Pinned; both engines must give them.
SCALED = {2: (3_185, 1_597), 3: (298_809, 50_869)}


@pytest.mark.slow
@pytest.mark.parametrize("cpus", list(SCALED))
def test_scaled_nested_counts_are_pinned(tmp_path: Path, cpus: int) -> None:
    path = tmp_path / "scaled.toml"
    path.write_text(scenario_text(cpus))
    model = safety_model(path)
    for symmetry, states in zip((False, True), SCALED[cpus], strict=True):
        fast = vectorised_bfs.check(model, symmetry=symmetry)
        assert {r.stats.states for r in fast} == {states}
        assert {r.property: r.status.value for r in fast}["mutual_exclusion"] == "holds"
    assert_agree(model, True)


@pytest.mark.slow
def test_a_violation_in_the_scaled_scenario_keeps_its_length(tmp_path: Path) -> None:
    # v2.6.9 lies about dropping B and breaks with nobody waiting: two real violations.
    path = tmp_path / "scaled.toml"
    path.write_text(scenario_text(3).replace("v2.6.12", "v2.6.9"))
    model = safety_model(path)
    for symmetry in (False, True):
        assert_agree(model, symmetry)
    lengths = {r.property: len(r.trace) for r in vectorised_bfs.check(model, symmetry=True)
               if r.trace}
    assert set(lengths) == {"break_return_truth", "no_spurious_break"}


@pytest.mark.parametrize("max_states", [1, 100, 500, 5_000])
def test_a_state_budget_stops_where_the_plain_engine_stops(max_states: int) -> None:
    model = safety_model(REPO / "scenarios" / "nested-v2.6.9.toml")
    assert_agree(model, False, Budget(max_states=max_states))
    results = vectorised_bfs.check(model, budget=Budget(max_states=max_states))
    everything = vectorised_bfs.check(model)[0].stats.states
    assert any(r.status is Status.INCOMPLETE for r in results) == (max_states < everything)


def test_what_it_does_not_serve_goes_to_the_plain_engine() -> None:
    path = REPO / "scenarios" / "nested-v2.6.9.toml"
    lockstep = safety_model(path, "lockstep")
    assert not vectorised_bfs.serves(lockstep)         # the tick bookkeeping is not in the parts
    assert summary(vectorised_bfs.check(lockstep)) == summary(plain_bfs.check(lockstep))
    # FAIR and WORST properties go to the plain engine, the others stay.
    everything = safety_model(path, properties=KNOWN)
    assert summary(vectorised_bfs.check(everything)) == summary(plain_bfs.check(everything))


def test_a_stuck_cpu_is_found_with_the_same_shortest_trace() -> None:
    # v4.15-rc strands a waiter on break_lock: deadlock_free is violated.
    model = safety_model(REPO / "scenarios" / "v4.15-rc-stuck.toml", properties=STATE_PROPERTIES)
    [plain] = plain_bfs.check(model, properties=["deadlock_free"])
    [fast] = vectorised_bfs.check(model, properties=["deadlock_free"])
    assert fast.status is Status.VIOLATED and fast.detail == plain.detail
    assert fast.trace == plain.trace


def test_too_many_cpus_to_pack_falls_back_to_the_plain_engine() -> None:
    # 16 CPUs do not fit 64-bit keys; the answer is the plain engine's, budget and all.
    model = safety_model(REPO / "bench" / "scenarios" / "nested-16cpu-v2.6.9.toml")
    assert_agree(model, False, Budget(max_states=300))


@pytest.mark.parametrize(("cpus", "era"), list(SYMMETRY_COUNTS))
def test_identical_cpus_agree_under_symmetry_deadlock_free_included(cpus: int, era: str) -> None:
    # v4.15-rc strands a waiter: the stuck CPU must be followed across renamings.
    model = identical_model(cpus, era)
    assert_agree(model, True)
    assert_agree(model, False)
    stuck = {r.property: r.status for r in vectorised_bfs.check(model, symmetry=True)}
    assert (stuck["deadlock_free"] is Status.VIOLATED) == (era == "v4.15-rc")


def test_the_cli_switches_give_the_same_verdicts_and_trace_lengths(tmp_path: Path) -> None:
    from tests.cli.test_cli import assert_exit, by_property, check_json

    scenario = REPO / "scenarios" / "nested-v2.6.9.toml"
    # v2.6.9 has no might-sleep point: might_sleep_clean would be vacuous there (exit 1).
    safety = [word for name in SAFETY if name != "might_sleep_clean"
              for word in ("--property", name)]
    runs = {flag: check_json(tmp_path, *safety, *([flag] if flag else []), scenario)
            for flag in ("", "--no-por", "--plain-bfs")}
    for run, _ in runs.values():
        assert_exit(run, 0)      # the scenario expects its violations
    verdicts = {flag: (by_property(data), [len(r["trace"] or []) for r in data["results"]])
                for flag, (_, data) in runs.items()}
    assert verdicts[""] == verdicts["--no-por"] == verdicts["--plain-bfs"]
    assert by_property(runs[""][1])["break_return_truth"] == "violated"
    states = {flag: data["results"][0]["states"] for flag, (_, data) in runs.items()}
    assert states[""] < states["--no-por"] == states["--plain-bfs"]   # mutual_exclusion holds


def test_a_state_budget_leaves_deadlock_free_alone_incomplete() -> None:
    """With no safety property pending, running out of states must still say so: the edges
    kept so far are not the graph's."""
    model = safety_model(REPO / "scenarios" / "nested-v2.6.12.toml",
                         properties=("deadlock_free",))
    budget = Budget(max_states=100)
    [fast] = vectorised_bfs.check(model, budget=budget)
    [plain] = plain_bfs.check(model, budget=budget)
    assert (fast.status, fast.detail, fast.stats.states) == (
        plain.status, plain.detail, plain.stats.states) == (
        Status.INCOMPLETE, "stopped at 100 states (--max-states)", 100)


@pytest.mark.parametrize("code", ["forever { cpu_relax(); }",
                                  "forever { spin_lock(A); work(); spin_unlock(A); }"])
def test_edges_back_to_an_initial_state_reach_the_stuck_analysis(tmp_path: Path,
                                                                 code: str) -> None:
    # A loop returning to the initial state gives edges into state 0; the one-state model is
    # the smallest (a single self-loop).
    model = model_of_text(tmp_path, f'name = "t"\n[kernel]\nversion = "v2.6.12"\n'
                          f'[locks]\nA = "spin"\n[[cpu]]\ncode = """\n{code}\n"""\n')
    assert_agree(model, symmetry=False)
    [stuck] = vectorised_bfs.check(model, properties=["deadlock_free"])
    assert stuck.status is not Status.VIOLATED
