"""Wiring: a scenario file, the property catalogue and an engine, into verdicts.

This is the one place that puts a specific model (the kernel model), the properties and an
engine together; everything it returns is plain data for `lockbreak.report` to render.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lockbreak.core import Budget, CheckResult, Reporter, Stats, Status
from lockbreak.engines.explicit import check
from model.kernel import KernelModel
from model.scenario.load import load_scenario
from model.scenario.types import Expectation, Scenario
from model.world import build_world
from properties.catalogue import CATALOGUE, KNOWN, NOT_YET_CHECKED, by_name, specs


@dataclass(frozen=True)
class Overrides:
    """Command-line replacements of a scenario's ``[kernel]`` fields."""

    version: str | None = None
    lock: str | None = None
    preempt: str | None = None

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in vars(self).items() if v is not None}


@dataclass
class Verdict:
    """One property's result on one scenario, and what the scenario expected of it."""

    result: CheckResult
    expected: Expectation | None
    scenario_has_expect: bool = False
    requested: bool = False         # named with --property

    @property
    def met(self) -> bool | None:
        """Whether the expectation was met; None when the scenario expects nothing of it."""
        if self.expected is None or self.expected.status is None:
            return None
        return self.result.status.value == self.expected.status

    @property
    def counts(self) -> bool:
        """Whether this verdict decides the exit code: an expected property, or any property
        of a scenario without ``[expect]``."""
        return self.expected is not None or not self.scenario_has_expect or self.requested

    @property
    def failed(self) -> bool:
        """A definite failure: an expectation not met, or (with none) a violation or vacuity."""
        if self.result.status is Status.INCOMPLETE or not self.counts:
            return False
        if self.expected is not None:
            return self.met is False
        return self.result.status is not Status.HOLDS

    @property
    def incomplete(self) -> bool:
        return self.counts and self.result.status is Status.INCOMPLETE


@dataclass
class ScenarioRun:
    """Everything one scenario produced."""

    scenario: Scenario
    model: KernelModel
    verdicts: list[Verdict] = field(default_factory=list)
    has_expect: bool = False

    @property
    def label(self) -> str:
        k = self.scenario.kernel
        return (f"{self.model.world.era.name}, {self.model.world.lock_algorithm}, "
                f"preempt {k.preempt}, {k.timing}")


def load(path: Path, overrides: Overrides) -> Scenario:
    """Load and statically check one scenario (raises `ScenarioError` on bad input)."""
    return load_scenario(path, known_properties=KNOWN, **overrides.as_dict())


def run_scenario(scenario: Scenario, *, properties: Sequence[str] | None, budget: Budget,
                 reporter: Reporter, symmetry: bool = True) -> ScenarioRun:
    """Check one loaded scenario with the explicit engine."""
    wanted = list(properties) if properties else [p.name for p in CATALOGUE] + [
        name for name in scenario.expect if name in NOT_YET_CHECKED]
    checked = [name for name in wanted if name not in NOT_YET_CHECKED]
    model = KernelModel(build_world(scenario), specs(checked))
    results = {r.property: r for r in check(model, budget=budget, reporter=reporter,
                                             symmetry=symmetry and bool(model.canonical_groups))}
    run = ScenarioRun(scenario, model, has_expect=bool(scenario.expect))
    for name in wanted:
        result = results.get(name) or CheckResult(
            name, Status.INCOMPLETE, None, Stats(),
            detail="needs lockstep timing or fairness, which this checker does not decide yet")
        if result.status is Status.VACUOUS:
            result.detail = f"{result.detail} ({by_name(name).witness})"
        run.verdicts.append(Verdict(result, scenario.expect.get(name), run.has_expect,
                                    requested=bool(properties)))
    return run
