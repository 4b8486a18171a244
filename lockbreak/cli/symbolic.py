"""Wiring for ``lockbreak check --engine z3``: the kernel model's symbolic twin and the BMC /
k-induction engine, into the same verdicts as the explicit engine's.

Safety properties are checked under the scenario's timing (`SymbolicKernel`, or
`SymbolicLockstepKernel` for a lockstep scenario); the worst cases (bounded_wait,
bounded_latency) always under lockstep timing, as capped tick counters (`bmc_ticks`): against
the scenario's ``{ max = N }`` when it gives one (counters capped at N + 1), else for the exact
worst case (counters capped at `DEFAULT_CAP`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from lockbreak.cli.checking import ScenarioRun, Verdict
from lockbreak.core import (
    CheckResult,
    LockbreakError,
    PropertyKind,
    ScenarioError,
    Stats,
    Status,
)
from lockbreak.engines.bmc import EncodingError, check
from lockbreak.engines.bmc_ticks import check_worst
from model.kernel import KernelModel
from model.lockstep import LockstepKernelModel
from model.scenario.types import Scenario
from model.symbolic import SymbolicKernel
from model.symbolic_lockstep import DEFAULT_CAP, SymbolicLockstepKernel
from model.world import World, build_world
from properties.catalogue import CATALOGUE, by_name, of_kind, specs

# What the symbolic twins encode; fairness needs the whole state graph.
ENCODED = of_kind(PropertyKind.SAFETY, PropertyKind.CAN_FINISH)
TIMED = of_kind(PropertyKind.WORST)


def run_scenario_z3(scenario: Scenario, *, properties: Sequence[str] | None, depth: int,
                    timeout: float | None) -> ScenarioRun:
    """Check one loaded scenario by BMC and k-induction up to ``depth`` steps."""
    wanted = list(properties) if properties else [p.name for p in CATALOGUE]
    world = build_world(scenario)
    lockstep = scenario.kernel.timing == "lockstep"
    untimed = [n for n in wanted if n in ENCODED]
    timed = [n for n in wanted if n in TIMED]
    cls = LockstepKernelModel if lockstep else KernelModel
    model = cls(world, specs(untimed))
    began = time.perf_counter()
    # The safety properties get half the time when worst cases are also asked for.
    share = timeout / 2 if timeout is not None and timed else timeout
    results = _undecided(untimed, lambda: {r.property: (r, model) for r in check(
        SymbolicLockstepKernel(model) if isinstance(model, LockstepKernelModel)
        else SymbolicKernel(model), depth=depth, timeout=share)}, model)
    if timed:
        left = None if timeout is None else max(0.001, timeout - (time.perf_counter() - began))
        results.update(_worst_cases(scenario, world, timed, depth, left))
    run = ScenarioRun(scenario, model, has_expect=bool(scenario.expect))
    for name in wanted:
        result, checked = results.get(name) or (CheckResult(
            name, Status.INCOMPLETE, None, Stats(),
            detail="fairness is not decidable by the z3 engine; use --engine explicit"), model)
        if result.status is Status.VACUOUS:
            result.detail = f"{result.detail} ({by_name(name).witness})"
        elif result.status is Status.HOLDS and not result.detail:
            result.detail = by_name(name).holds_means
        run.verdicts.append(Verdict(result, scenario.expect.get(name), checked, run.has_expect,
                                    requested=bool(properties)))
    return run


def invariant_lines(run: ScenarioRun) -> list[str]:
    """The inductive invariant the z3 proofs of ``run`` assumed, one line per program point or
    lock word it talks about (empty when no proof needed one)."""
    invariant = next((v.result.invariant for v in run.verdicts if v.result.invariant), ())
    if not invariant:
        return []
    return ["  inductive invariant the proofs assume (z3 proved it holds initially and after "
            "every step):", *(f"    {line}" for line in invariant)]


def _worst_cases(scenario: Scenario, world: World, names: list[str], depth: int,
                 timeout: float | None) -> dict[str, tuple[CheckResult, KernelModel]]:
    """The worst cases under lockstep timing, each against its expected max if any."""
    bounds = {}
    for name in names:
        expected = scenario.expect.get(name)
        bounds[name] = expected.max if expected is not None else None
    given = [b for b in bounds.values() if b is not None]
    cap = max(given) + 1 if given and len(given) == len(bounds) else max([DEFAULT_CAP, *(
        b + 1 for b in given)])
    model = LockstepKernelModel(world, specs(names))
    return _undecided(names, lambda: {r.property: (r, model) for r in check_worst(
        SymbolicLockstepKernel(model, cap), bounds, depth=depth, timeout=timeout)}, model)


def _undecided(names: list[str], decide: Callable[[], dict[str, tuple[CheckResult, KernelModel]]],
               model: KernelModel) -> dict[str, tuple[CheckResult, KernelModel]]:
    """``decide()``'s results, or INCOMPLETE for every name when the world is too large to
    tabulate (an `EncodingError` is a bug and propagates; a `ScenarioError`, a construct the
    twin does not model, is bad input and propagates too)."""
    if not names:
        return {}
    try:
        return decide()
    except (EncodingError, ScenarioError):
        raise
    except LockbreakError as err:
        return {name: (CheckResult(name, Status.INCOMPLETE, detail=f"z3: {err}"), model)
                for name in names}
