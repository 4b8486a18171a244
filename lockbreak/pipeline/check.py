"""One check of one scenario, from a loaded `Scenario` and a `CheckRequest` to its verdicts.

`check_scenario` is the one place that puts a specific model (the kernel model), the
properties and an engine together, in four steps:

1. property selection (`wanted`): the request's properties, or the whole catalogue;
2. the timing split (`timing_split`): the scenario's own timing decides every property but
   the WORST ones (bounded_wait, bounded_latency), which are measured in ticks and so always
   under lockstep timing; each of the two phases has its kernel model;
3. engine choice (`lockbreak.pipeline.engines.choose_engine`) and the engine's run, per phase
   for the exhaustive engines (each phase resuming from a checkpoint and leaving in it what it
   did), over both phases at once for the z3 engine and the random search;
4. verdict assembly (`lockbreak.pipeline.verdicts.assemble`).
"""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Protocol

from lockbreak.core import CheckResult, PropertyKind, Reporter, SilentReporter, Status
from lockbreak.engines import fair_graph, plain_bfs
from lockbreak.engines.checkpoint import Interruption
from lockbreak.engines.estimate import Estimate, estimate
from lockbreak.pipeline import random_search, symbolic
from lockbreak.pipeline.engines import Engine, choose_engine
from lockbreak.pipeline.request import CheckRequest, Overrides
from lockbreak.pipeline.verdicts import ScenarioRun, assemble
from lockbreak.pipeline.workers import Workers
from model.kernel import KernelModel
from model.lockstep import kernel_model
from model.scenario.load import load_scenario
from model.scenario.types import Scenario
from model.world import World, build_world
from properties.catalogue import CATALOGUE, KNOWN, by_name, specs


class PhaseCheckpoint(Protocol):
    """Where the phases of one scenario's check resume from and leave what they did
    (`lockbreak.cli.checkpointing.ScenarioCheckpoint` on the command line)."""

    def finished(self, phase: str, model: KernelModel) -> list[CheckResult] | None: ...

    def interruption(self, phase: str) -> Interruption: ...

    def record(self, phase: str, model: KernelModel, results: list[CheckResult],
               interruption: Interruption) -> None: ...


@dataclass
class Phase:
    """One of a check's two phases: its name (a checkpoint's key), its properties, and the
    timing its model runs under (None: the scenario's own)."""

    name: str
    names: list[str]
    world: World
    timing: str | None = None

    @cached_property
    def model(self) -> KernelModel:
        return kernel_model(self.world, specs(self.names), self.timing)


def load(path: Path, overrides: Overrides) -> Scenario:
    """Load and statically check one scenario (raises `ScenarioError` on bad input)."""
    return load_scenario(path, known_properties=KNOWN, version=overrides.version,
                         lock=overrides.lock, preempt=overrides.preempt, timing=overrides.timing)


def wanted(properties: Sequence[str]) -> list[str]:
    """The properties a check decides, in report order: those asked for, or every one."""
    return list(properties) if properties else [p.name for p in CATALOGUE]


def timing_split(world: World, names: Sequence[str]) -> list[Phase]:
    """The two phases of a check of ``world``'s scenario (see the module docstring)."""
    own = world.scenario.kernel.timing
    timed = [name for name in names
             if by_name(name).kind is PropertyKind.WORST and own != "lockstep"]
    untimed = [name for name in names if name not in timed]
    return [Phase("own timing", untimed, world), Phase("lockstep", timed, world, "lockstep")]


def check_scenario(scenario: Scenario, request: CheckRequest, *,
                   reporter: Reporter = SilentReporter(),  # noqa: B008 (stateless)
                   checkpoint: PhaseCheckpoint | None = None,
                   workers: Workers | None = None) -> ScenarioRun:
    """Decide ``request``'s properties of ``scenario``; ``reporter`` hears the search's
    progress, ``checkpoint`` resumes and keeps each phase of an exhaustive search, and
    ``workers`` are the ones a spread-out search runs on (opened here, and closed after,
    when the request spreads and none are given)."""
    names = wanted(request.properties)
    requested = bool(request.properties)
    world = build_world(scenario)
    phases = timing_split(world, names)
    engine = choose_engine(request, phases[0].model)
    if engine is Engine.Z3:
        model, results = symbolic.decide(scenario, world, names, request)
        return assemble(scenario, model, names, results, requested=requested)
    if engine is Engine.RANDOM:
        assert request.random is not None
        model, results, coverage = random_search.decide(
            scenario, world, names, request.budget, request.random, reporter)
        return assemble(scenario, model, names, results, requested=requested,
                        coverage=coverage)
    own = workers or Workers(request.scale)
    try:
        found = {}
        for phase in phases:
            if phase.names:
                phase_results = _explore(scenario, request, phase, reporter, checkpoint, own)
                found.update({r.property: (r, phase.model) for r in phase_results})
    finally:
        if workers is None:
            own.close()
    return assemble(scenario, phases[0].model, names, found, requested=requested)


def _explore(scenario: Scenario, request: CheckRequest, phase: Phase, reporter: Reporter,
             checkpoint: PhaseCheckpoint | None, workers: Workers) -> list[CheckResult]:
    """One phase's results from the exhaustive engine `choose_engine` picks for its model,
    or from the checkpoint when the phase finished before it was written."""
    model = phase.model
    symmetry = request.symmetry and bool(model.canonical_groups)
    finished = checkpoint.finished(phase.name, model) if checkpoint is not None else None
    if finished is not None:
        return finished
    engine = choose_engine(request, model)
    if engine in (Engine.SWARM, Engine.PARALLEL):
        return workers.check(scenario, request.overrides, model, budget=request.budget,
                             reporter=reporter, symmetry=symmetry)
    interruption = checkpoint.interruption(phase.name) if checkpoint is not None else None
    if engine is Engine.VECTORISED:
        results = fair_graph.check(model, budget=request.budget, reporter=reporter,
                                   symmetry=symmetry, por=request.por,
                                   interruption=interruption)
    else:
        results = plain_bfs.check(model, budget=request.budget, reporter=reporter,
                                  symmetry=symmetry, storage=request.storage,
                                  interruption=interruption)
    if checkpoint is not None and interruption is not None:
        checkpoint.record(phase.name, model, results, interruption)
    return results


def estimate_scenario(scenario: Scenario, request: CheckRequest, seconds: float) -> Estimate:
    """`lockbreak.engines.estimate.estimate` of the kernel model of the request's properties
    under the scenario's own timing, counting states the way `check_scenario` does."""
    model = kernel_model(build_world(scenario), specs(wanted(request.properties)))
    return estimate(model, seconds=seconds,
                    symmetry=request.symmetry and bool(model.canonical_groups))


def unfinished_run(scenario: Scenario, properties: Sequence[str], detail: str) -> ScenarioRun:
    """The run of a scenario whose search could not go on (it ran out of memory): every
    property incomplete, saying why."""
    names = wanted(properties)
    phases = timing_split(build_world(scenario), names)
    results = {name: (CheckResult(name, Status.INCOMPLETE, detail=detail), phase.model)
               for phase in phases for name in phase.names}
    return assemble(scenario, phases[0].model, names, results, requested=bool(properties))


def internal_error(err: Exception) -> str:
    """One line for a scenario whose check crashed: the exception, where it was raised, and
    that it is a lockbreak bug to report (the other scenarios' results still stand)."""
    frames = traceback.extract_tb(err.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return (f"internal error: {type(err).__name__}: {err}{where}; this is a bug in lockbreak, "
            "not in the scenario: please report it with the scenario file and the command line")
