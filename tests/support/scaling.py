"""Shared by the parallel, Ray and swarm tests: every public scenario's models, the sequential
explicit engine's results on them, and what a parallel result must match."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

from lockbreak.core import (
    CheckResult,
    PropertyKind,
    Status,
    Trace,
    successors,
)
from lockbreak.pipeline import CheckRequest, Overrides, check_scenario, load
from lockbreak.pipeline.workers import rebuild_model
from model.kernel import KernelModel
from model.lockstep import LockstepKernelModel
from tests.support.paths import REPO

SCENARIOS = sorted((REPO / "scenarios").glob("*.toml"))


def models(path: Path) -> Iterator[tuple[KernelModel, functools.partial, list[CheckResult]]]:
    """Each model `check_scenario` checks for ``path`` (the scenario's timing, and lockstep for
    the WORST properties), a factory that rebuilds it in a worker, and the sequential
    explicit engine's results on it."""
    scenario = load(path, Overrides())
    run = check_scenario(scenario, CheckRequest())
    by_model: dict[int, tuple[KernelModel, list[CheckResult]]] = {}
    for verdict in run.verdicts:
        by_model.setdefault(id(verdict.model), (verdict.model, []))[1].append(verdict.result)
    for model, results in by_model.values():
        timing = "lockstep" if isinstance(model, LockstepKernelModel) else "interleaving"
        factory = functools.partial(rebuild_model, str(path), Overrides(), None,
                                    scenario.sha256, tuple(model.property_names), timing)
        yield model, factory, results


def replays(model: KernelModel, trace: Trace, prop: str) -> bool:
    """Whether ``trace`` is a real execution of ``model`` from its action indices, and (for a
    safety property) its last step breaks ``prop``."""
    state = trace.init
    assert state in model.init_states()
    last = 0
    for step in trace.steps:
        options = {i: (after, violated) for i, after, violated, _ in successors(model, state)}
        after, last = options[step.index]
        assert after == step.state
        state = after
    bit = model.property_names.index(prop)
    return trace.loop_start is not None or not trace.steps or bool(last >> bit & 1) or (
        model.property_kinds[bit].value != "safety")


def assert_agree(model: KernelModel, expected: list[CheckResult], got: list[CheckResult],
                 where: str) -> None:
    """Same verdicts; same counterexample lengths; the same state count where the whole
    space was explored (but for fairness and worst cases with interchangeable CPUs, which
    `check_scenario` decides on the symmetry quotient and the parallel engines on the whole
    graph); every
    counterexample replays."""
    assert [r.property for r in got] == [r.property for r in expected], where
    for want, have in zip(expected, got, strict=True):
        label = f"{where}: {want.property}"
        assert have.status is want.status, label
        assert have.worst == want.worst, label
        if want.trace is not None:
            assert have.trace is not None and len(have.trace) == len(want.trace), label
            assert replays(model, have.trace, have.property), label
        quotient = (model.property_kinds[model.property_names.index(want.property)]
                    in (PropertyKind.FAIR, PropertyKind.WORST) and bool(model.canonical_groups))
        if want.status in (Status.HOLDS, Status.VACUOUS) and not quotient:
            assert have.stats.states == want.stats.states, label
