"""The Hypothesis engine agrees with the explicit engine on the public scenarios.

For every scenario in ``scenarios/`` and every property: a violation the explicit engine finds,
the Hypothesis engine finds within `BUDGET` runs (seed `SEED`), with a shrunk trace at most
`SLACK` steps longer than the explicit engine's shortest (for deadlock_free: the step after
which a CPU can never finish, which both engines report). A property the explicit engine
proves is never reported violated, and the random search never says "holds". Every trace
replays on the model and ends in the violation. The deliberately broken eras of
`test_broken_variants` are caught the same way.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

from lockbreak.core import CheckResult, PropertyKind, Status
from lockbreak.engines.hypothesis_engine import Search
from lockbreak.engines.hypothesis_engine import check as random_check
from lockbreak.engines.plain_bfs import check as explicit_check
from model.kernel import KernelModel
from model.lockstep import kernel_model as model_under_its_timing
from model.scenario.load import load_scenario
from model.world import build_world
from properties.catalogue import KNOWN, specs
from tests.model.test_broken_variants import VARIANTS, Variant, nested
from tests.support.helpers import STATE_PROPERTIES, kernel_model
from tests.support.paths import REPO

SCENARIOS = sorted((REPO / "scenarios").glob("*.toml"))
BUDGET = 200        # runs (Hypothesis examples) per scenario
SEED = 0
SLACK = 2           # steps a shrunk trace may exceed the shortest one by


def search() -> Search:
    return Search(examples=BUDGET, seed=SEED, shrink_seconds=10.0)


@cache
def both(path: Path) -> tuple[KernelModel, dict[str, CheckResult], dict[str, CheckResult]]:
    """The model of ``path`` and both engines' results, by property."""
    world = build_world(load_scenario(path, known_properties=KNOWN))
    model = model_under_its_timing(world, specs(STATE_PROPERTIES))
    explicit = {r.property: r for r in explicit_check(model, symmetry=False)}
    found = {r.property: r for r in random_check(model, search=search()).results}
    return model, explicit, found


def doomed_at(result: CheckResult) -> int:
    match = re.search(r"can never finish after step (\d+)", result.detail)
    assert match, result.detail
    return int(match.group(1))


def ends_in_violation(model: KernelModel, result: CheckResult) -> bool:
    """The trace replays by action index and its last step breaks the property."""
    assert result.trace is not None
    bit = model.property_names.index(result.property)
    state, violated = result.trace.init, 0
    for step in result.trace.steps:
        action = model.actions(state)[step.index]
        assert action == step.action
        after = model.next_state(state, action)
        assert after == step.state
        violated, _ = model.observe(state, action, after)
        state = after
    return bool(violated >> bit & 1)


@pytest.mark.slow
@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_random_search_finds_every_violation_with_a_short_trace(path: Path) -> None:
    model, explicit, found = both(path)
    for name, shortest in explicit.items():
        got = found[name]
        if shortest.status is not Status.VIOLATED:
            assert got.status is Status.INCOMPLETE, f"{name}: {got.status} ({got.detail})"
            continue
        assert got.status is Status.VIOLATED, f"{name} not found: {got.detail}"
        assert got.trace is not None and shortest.trace is not None
        if model.property_kinds[model.property_names.index(name)] is PropertyKind.SAFETY:
            assert len(got.trace) <= len(shortest.trace) + SLACK, name
            assert ends_in_violation(model, got)
        else:
            assert doomed_at(got) <= doomed_at(shortest) + SLACK, name


@pytest.mark.slow
def test_the_public_scenarios_have_violations_of_every_checked_kind() -> None:
    """The agreement above is not vacuous: it covers violations of six properties."""
    violated = {name for path in SCENARIOS for name, r in both(path)[1].items()
                if r.status is Status.VIOLATED}
    assert violated == {"deadlock_free", "no_sleep_in_atomic", "might_sleep_clean",
                        "break_return_truth", "no_stale_use", "no_spurious_break"}


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.name for v in VARIANTS])
def test_broken_variant_is_caught_by_the_random_search(tmp_path: Path, variant: Variant) -> None:
    model = kernel_model(tmp_path, nested(variant), era=variant.era())
    [result] = random_check(model, properties=[variant.property], search=search()).results
    assert result.status is Status.VIOLATED, result.detail
    assert result.trace is not None
    assert len(result.trace) <= variant.trace_length + SLACK
    assert ends_in_violation(model, result)
