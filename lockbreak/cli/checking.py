"""Wiring: a scenario file, the property catalogue and an engine, into verdicts.

This is the one place that puts a specific model (the kernel model), the properties and an
engine together; everything it returns is plain data for `lockbreak.report` to render.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

from lockbreak.cli.checkpointing import ScenarioCheckpoint
from lockbreak.core import Budget, CheckResult, PropertyKind, Reporter, Status
from lockbreak.engines import fair_graph
from lockbreak.engines.compaction import Storage
from lockbreak.engines.explicit import check
from model.kernel import KernelModel
from model.lockstep import LockstepKernelModel, kernel_model
from model.scenario.load import load_scenario
from model.scenario.types import Expectation, Scenario
from model.world import build_world
from properties.catalogue import CATALOGUE, KNOWN, by_name, specs


@dataclass(frozen=True)
class Overrides:
    """Command-line replacements of a scenario's ``[kernel]`` fields."""

    version: str | None = None
    lock: str | None = None
    preempt: str | None = None
    timing: str | None = None

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in vars(self).items() if v is not None}


@dataclass
class Verdict:
    """One property's result on one scenario, and what the scenario expected of it.

    ``measured`` is what the engine found; ``result`` is that result judged against the
    scenario's ``max``, which is what every report shows.
    """

    measured: CheckResult
    expected: Expectation | None
    model: KernelModel              # the model the result (and its trace) belongs to
    scenario_has_expect: bool = False
    requested: bool = False         # named with --property

    @cached_property
    def result(self) -> CheckResult:
        """The measured result, judged against the expected ``max`` (see `beyond_max`)."""
        return beyond_max(self.measured, self.expected)

    @property
    def met(self) -> bool | None:
        """Whether the expectation was met; None when the scenario expects nothing of it.

        ``{ max = N }`` is met by a worst case of at most N ticks (an unbounded one fails).
        """
        if self.expected is None:
            return None
        if self.expected.max is not None:
            worst = self.measured.worst
            return (self.measured.status is not Status.VIOLATED and worst is not None
                    and worst <= self.expected.max)
        if self.expected.status is None:
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
        if self.expected is not None and self.met is not None:
            return self.met is False
        return self.result.status is not Status.HOLDS

    @property
    def timing(self) -> str:
        """The timing the result was checked under."""
        return self.model.world.scenario.kernel.timing if not isinstance(
            self.model, LockstepKernelModel) else "lockstep"

    @property
    def incomplete(self) -> bool:
        return self.counts and self.result.status is Status.INCOMPLETE


def beyond_max(result: CheckResult, expected: Expectation | None) -> CheckResult:
    """``result`` as a violation when it is a worst case longer than the expected ``max``.

    A worst case of 7 ticks where the scenario allows 3 breaks the property as the scenario
    states it, so it is reported as violated, and the trace that attains the worst case is
    its counterexample (the worst case itself stays in ``worst``).
    """
    if (expected is None or expected.max is None or result.status is not Status.HOLDS
            or result.worst is None or result.worst <= expected.max):
        return result
    return replace(result, status=Status.VIOLATED, detail=(
        f"{result.detail}: more than the expected max of {expected.max}"))


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


def internal_error(err: Exception) -> str:
    """One line for a scenario whose check crashed: the exception, where it was raised, and
    that it is a lockbreak bug to report (the other scenarios' results still stand)."""
    frames = traceback.extract_tb(err.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return (f"internal error: {type(err).__name__}: {err}{where}; this is a bug in lockbreak, "
            "not in the scenario: please report it with the scenario file and the command line")


def load(path: Path, overrides: Overrides) -> Scenario:
    """Load and statically check one scenario (raises `ScenarioError` on bad input)."""
    return load_scenario(path, known_properties=KNOWN, version=overrides.version,
                         lock=overrides.lock, preempt=overrides.preempt, timing=overrides.timing)


# An engine with the explicit engine's signature (`lockbreak.cli.scale` builds parallel ones).
Checker = Callable[..., list[CheckResult]]


def run_scenario(scenario: Scenario, *, properties: Sequence[str] | None, budget: Budget,
                 reporter: Reporter, symmetry: bool = True,
                 storage: Storage = Storage(),  # noqa: B008 (frozen)
                 checkpoint: ScenarioCheckpoint | None = None, fast: bool = True,
                 por: bool = True, checker: Checker | None = None) -> ScenarioRun:
    """Check one loaded scenario with the explicit engine (or ``checker``, called as
    `lockbreak.engines.explicit.check` is, which then decides everything).

    ``fast``: decide what `lockbreak.engines.frontier` serves (the safety properties and
    deadlock_free under interleaving timing) with its vectorised search, with partial-order
    reduction unless ``por`` is False, and the FAIR properties there on the state graph it
    keeps (`lockbreak.engines.fair_graph`); it keeps every state exactly, so a lossy ``storage``
    takes the plain engine. A checkpoint resumes only with the engine that wrote it.

    The scenario's own timing decides every property except the WORST ones (bounded_wait,
    bounded_latency), which are measured in ticks and so always under lockstep timing.
    ``storage`` is the engine's store; with a ``checkpoint``, each of those two phases
    resumes from it and leaves in it what it did.
    """
    wanted = list(properties) if properties else [p.name for p in CATALOGUE]
    phases = _phases(scenario, wanted)
    model = phases[0][2]
    results: dict[str, tuple[CheckResult, KernelModel]] = {}
    for phase, names, checked in phases:
        if names:
            use_symmetry = symmetry and bool(checked.canonical_groups)
            done = checkpoint.finished(phase, checked) if checkpoint is not None else None
            if done is None and checker is not None:
                done = checker(checked, budget=budget, reporter=reporter, symmetry=use_symmetry)
            elif done is None:
                interruption = checkpoint.interruption(phase) if checkpoint else None
                if fast and not storage.lossy:
                    done = fair_graph.check(checked, budget=budget, reporter=reporter,
                                            symmetry=use_symmetry, por=por,
                                            interruption=interruption)
                else:
                    done = check(checked, budget=budget, reporter=reporter,
                                 symmetry=use_symmetry, storage=storage,
                                 interruption=interruption)
                if checkpoint is not None and interruption is not None:
                    checkpoint.record(phase, checked, done, interruption)
            for r in done:
                results[r.property] = (r, checked)
    return _verdicts(scenario, model, wanted, results, requested=bool(properties))


def unfinished_run(scenario: Scenario, properties: Sequence[str] | None,
                   detail: str) -> ScenarioRun:
    """The run of a scenario whose search could not go on (it ran out of memory): every
    property incomplete, saying why."""
    wanted = list(properties) if properties else [p.name for p in CATALOGUE]
    phases = _phases(scenario, wanted)
    results = {name: (CheckResult(name, Status.INCOMPLETE, detail=detail), checked)
               for _, names, checked in phases for name in names}
    return _verdicts(scenario, phases[0][2], wanted, results, requested=bool(properties))


def _phases(scenario: Scenario, wanted: list[str]) -> list[tuple[str, list[str], KernelModel]]:
    """The two checks of a scenario: its own timing, then the WORST properties (measured in
    ticks) under lockstep timing; each with its property names and model."""
    world = build_world(scenario)
    timed = [name for name in wanted if by_name(name).kind is PropertyKind.WORST
             and scenario.kernel.timing != "lockstep"]
    untimed = [name for name in wanted if name not in timed]
    return [("own timing", untimed, kernel_model(world, specs(untimed))),
            ("lockstep", timed, kernel_model(world, specs(timed), "lockstep"))]


def _verdicts(scenario: Scenario, model: KernelModel, wanted: list[str],
              results: dict[str, tuple[CheckResult, KernelModel]],
              requested: bool) -> ScenarioRun:
    run = ScenarioRun(scenario, model, has_expect=bool(scenario.expect))
    for name in wanted:
        result, checked = results[name]
        if result.status is Status.VACUOUS:
            result.detail = f"{result.detail} ({by_name(name).witness})"
        elif result.status is Status.HOLDS and not result.detail:
            result.detail = by_name(name).holds_means
        run.verdicts.append(Verdict(result, scenario.expect.get(name), checked, run.has_expect,
                                    requested=requested))
    return run
