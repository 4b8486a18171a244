"""The Promela export: SPIN agrees with lockbreak, verdict by verdict and state by state.

For every public scenario with interleaving timing, SPIN's verdict on each property the export
decides (the safety properties and deadlock_free) equals the explicit engine's, and SPIN stores
exactly as many states as lockbreak explores without symmetry reduction (the export encodes
every field of lockbreak's state, one variable each, and nothing more). Broken eras are caught
by SPIN as by lockbreak; a deadlock in which no CPU can move at all (PREEMPT_RT sleeping locks)
is SPIN's invalid end state; a scenario fault is an error, never a verdict. The Promela text of
one scenario is a golden file (``LOCKBREAK_REGEN_GOLDEN=1`` rewrites it).

SPIN runs when ``spin`` and ``gcc`` are installed (``.ci/run`` installs them; under CI a
missing SPIN fails instead of skipping: see ``conftest.py``).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from click.testing import CliRunner

from lockbreak.cli import main
from lockbreak.cli.spin import PanOptions, SpinRun, check_with_spin
from lockbreak.core import LockbreakError, Status
from lockbreak.pipeline import CheckRequest, Overrides, check_scenario, load
from model.constructs import first_unmodelled
from model.promela import exported, promela_model
from model.scenario.load import find_scenarios
from model.scenario.types import Scenario
from model.world import build_world
from properties.catalogue import specs
from tests.model.test_broken_variants import VARIANTS, Variant
from tests.support.helpers import NESTED_CPU0, NESTED_CPU1, load_scenario_text, scenario_toml
from tests.support.paths import REPO

GOLDEN = REPO / "tests" / "golden" / "starvation-tas-v2.6.12.pml"
GOLDEN_SCENARIO = "scenarios/starvation-tas-v2.6.12.toml"
REGEN = os.environ.get("LOCKBREAK_REGEN_GOLDEN") == "1"
PROPERTIES = exported(specs())
NAMES = [p.name for p in PROPERTIES]
# Small tables and a quick compile: the public scenarios have at most a few thousand states.
QUICK = PanOptions(depth=100_000, hash_bits=18, optimise="-O0")

needs_spin = pytest.mark.needs_program("spin", "gcc",
                                       install="apt-get install -y spin gcc libc6-dev")

def exportable(path: Path) -> bool:
    """Interleaving timing, and no construct the export refuses (`model.constructs`)."""
    scenario = load(path, Overrides())
    return (scenario.kernel.timing == "interleaving"
            and first_unmodelled(build_world(scenario)) is None)


PUBLIC = [path for path in find_scenarios([REPO / "scenarios"]) if exportable(path)]


def lockbreak_run(scenario: Scenario) -> tuple[dict[str, Status], int]:
    """The explicit engine's verdicts and states, without symmetry reduction (as SPIN)."""
    run = check_scenario(scenario, CheckRequest(properties=tuple(NAMES), symmetry=False))
    return ({v.result.property: v.result.status for v in run.verdicts},
            max(v.result.stats.states for v in run.verdicts))


def spin_run(scenario: Scenario) -> SpinRun:
    return check_with_spin(promela_model(build_world(scenario), PROPERTIES), PROPERTIES, QUICK)


@pytest.fixture(scope="module")
def spin_public() -> dict[str, SpinRun]:
    """SPIN on every public scenario, two at a time (the compile dominates)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = pool.map(lambda p: spin_run(load(p, Overrides())), PUBLIC)
        return {path.name: run for path, run in zip(PUBLIC, runs, strict=True)}


def test_the_sweep_covers_the_public_scenarios() -> None:
    # Left out: the lockstep scenario (the export models interleaving timing) and those using
    # * guards, interrupts, pins or preempt = "lazy", which the export refuses by name
    # (tests/model/test_kernel_c.py, tests/model/test_lazy_preemption.py).
    left_out = {path.stem for path in find_scenarios([REPO / "scenarios"])} - {
        path.stem for path in PUBLIC}
    assert left_out == {"stale-data-reread-v2.6.9-lockstep", "zone-batch-needbreak-v5.17",
                        "zone-batch-unbroken-v5.17", "irqsave-break-v6.11",
                        "irqs-off-cond-resched-v6.11", "drop-pagecache-iget-v5.17",
                        "zone-batch-spurious-v5.17", "nested-wakeup-lazy-v6.13",
                        "nested-wakeup-rt-v6.13", "purge-lazy-wakeup-v6.13"}
    assert NAMES == ["mutual_exclusion", "deadlock_free", "no_sleep_in_atomic",
                     "might_sleep_clean", "break_return_truth", "no_stale_use",
                     "no_spurious_break"]


@needs_spin
@pytest.mark.slow
@pytest.mark.parametrize("path", PUBLIC, ids=lambda p: p.stem)
def test_spin_agrees_with_lockbreak(path: Path, spin_public: dict[str, SpinRun]) -> None:
    scenario = load(path, Overrides())
    verdicts, states = lockbreak_run(scenario)
    spin = spin_public[path.name]
    assert spin.verdicts == verdicts
    assert spin.states == states
    # Each scenario's expectations are met by SPIN too (not only by agreement).
    for name in NAMES:
        expected = scenario.expect.get(name)
        if expected is not None and expected.status is not None:
            assert spin.verdicts[name].value == expected.status, name


@needs_spin
@pytest.mark.slow
def test_the_public_verdicts_are_not_all_alike(spin_public: dict[str, SpinRun]) -> None:
    # The sweep would mean little if SPIN said the same thing everywhere.
    seen = {(name, status) for run in spin_public.values() for name, status in run.verdicts.items()}
    for name in NAMES:
        assert (name, Status.VIOLATED) in seen or name == "mutual_exclusion"
        assert (name, Status.HOLDS) in seen
    assert ("deadlock_free", Status.VIOLATED) in seen


@needs_spin
@pytest.mark.slow
@pytest.mark.parametrize("variant", [v for v in VARIANTS if v.base == "v2.6.12"][:1],
                         ids=lambda v: v.name)
def test_spin_catches_a_broken_era(tmp_path: Path, variant: Variant,
                                   spin_public: dict[str, SpinRun]) -> None:
    # The variants break the nested scenario of nested-v2.6.12.toml, where the property holds.
    scenario = load_scenario_text(tmp_path, scenario_toml(variant.base, [NESTED_CPU0,
                                                                        NESTED_CPU1]))
    spin = check_with_spin(promela_model(build_world(scenario, era=variant.era()), PROPERTIES),
                           PROPERTIES, QUICK)
    assert spin.verdicts[variant.property] is Status.VIOLATED
    assert spin_public["nested-v2.6.12.toml"].verdicts[variant.property] is Status.HOLDS


@needs_spin
def test_a_deadlock_where_nobody_can_move_is_an_invalid_end_state(tmp_path: Path) -> None:
    # Under PREEMPT_RT a waiter sleeps: in an ABBA neither CPU can take another step.
    scenario = load_scenario_text(tmp_path, scenario_toml("v5.17", [
        "spin_lock(A); spin_lock(B); spin_unlock(B); spin_unlock(A);",
        "spin_lock(B); spin_lock(A); spin_unlock(A); spin_unlock(B);"], locks="AB",
        preempt="rt"))
    verdicts, states = lockbreak_run(scenario)
    assert verdicts["deadlock_free"] is Status.VIOLATED
    spin = spin_run(scenario)
    assert "invalid end state" in spin.output
    # One state more than lockbreak: the watchdog's, after it saw the deadlocked end state.
    assert spin.verdicts == verdicts and spin.states == states + 1


@needs_spin
def test_a_scenario_fault_is_an_error_not_a_verdict(tmp_path: Path) -> None:
    scenario = load_scenario_text(tmp_path, scenario_toml(
        "v5.17", ["spin_lock(A); preempt_enable(); spin_unlock(A);", "work();"], locks="A"))
    with pytest.raises(LockbreakError, match="fault in the scenario"):
        spin_run(scenario)


def test_export_golden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    result = CliRunner().invoke(main, ["export", "--promela", GOLDEN_SCENARIO])
    assert result.exit_code == 0, result.output
    if REGEN:
        GOLDEN.write_text(result.stdout)
        return
    assert result.stdout == GOLDEN.read_text(), (
        f"`lockbreak export --promela {GOLDEN_SCENARIO}` differs from {GOLDEN.name} "
        "(if the change is intended: LOCKBREAK_REGEN_GOLDEN=1 rewrites the file)")


def test_export_writes_a_file_and_takes_overrides(tmp_path: Path) -> None:
    out = tmp_path / "model.pml"
    result = CliRunner().invoke(main, ["export", "--promela", str(REPO / GOLDEN_SCENARIO),
                                       "-o", str(out), "--version", "v2.6.25",
                                       "--lock", "ticket", "--preempt", "none"])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "v2.6.25, ticket, preempt none" in text.splitlines()[0]
    assert "active proctype cpu0()" in text and "active proctype cpu1()" in text


def test_export_refuses_lockstep_and_bad_input(tmp_path: Path) -> None:
    lockstep = REPO / "scenarios" / "stale-data-reread-v2.6.9-lockstep.toml"
    result = CliRunner().invoke(main, ["export", "--promela", str(lockstep)])
    assert result.exit_code == 2
    assert "interleaving timing only" in result.stderr
    result = CliRunner().invoke(main, ["export", str(lockstep)])
    assert result.exit_code == 2 and "--promela" in result.output
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[kernel]\nversion = "v9.9"\n')
    result = CliRunner().invoke(main, ["export", "--promela", str(bad)])
    assert result.exit_code == 2 and "bad.toml" in result.stderr
