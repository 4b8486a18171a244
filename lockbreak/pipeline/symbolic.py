"""The z3 engine's part of a check: the kernel model's symbolic twin and the BMC /
k-induction engines, into the same results as the explicit engine's.

Safety properties are checked under the scenario's timing (`SymbolicKernel`, or
`SymbolicLockstepKernel` for a lockstep scenario); the worst cases (bounded_wait,
bounded_latency) always under lockstep timing, as capped tick counters (`bmc_ticks`): against
the scenario's ``{ max = N }`` when it gives one (counters capped at N + 1), else for the exact
worst case (counters capped at `DEFAULT_CAP`). Fairness needs the whole state graph: those
properties stay incomplete.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from lockbreak.core import CheckResult, LockbreakError, PropertyKind, ScenarioError, Stats, Status
from lockbreak.engines.bmc import EncodingError, check
from lockbreak.engines.bmc_ticks import check_worst
from lockbreak.pipeline.request import CheckRequest
from lockbreak.pipeline.verdicts import Results
from model.kernel import KernelModel
from model.lockstep import LockstepKernelModel, kernel_model
from model.scenario.types import Scenario
from model.symbolic import SymbolicKernel
from model.symbolic_lockstep import DEFAULT_CAP, SymbolicLockstepKernel
from model.world import World
from properties.catalogue import of_kind, specs

# What the symbolic twins encode; fairness needs the whole state graph.
ENCODED = of_kind(PropertyKind.SAFETY, PropertyKind.CAN_FINISH)
TIMED = of_kind(PropertyKind.WORST)
UNDECIDABLE = "fairness is not decidable by the z3 engine; use --engine explicit"


def decide(scenario: Scenario, world: World, wanted: Sequence[str], request: CheckRequest
           ) -> tuple[KernelModel, Results]:
    """The results of ``wanted`` by BMC and k-induction up to ``request.depth`` steps, within
    ``request.budget.timeout`` seconds (half of it for the safety properties when worst cases
    are also asked for); with the model of the scenario's own timing they belong to."""
    untimed = [n for n in wanted if n in ENCODED]
    timed = [n for n in wanted if n in TIMED]
    timeout = request.budget.timeout
    model = kernel_model(world, specs(untimed))
    began = time.perf_counter()
    share = timeout / 2 if timeout is not None and timed else timeout
    results = _undecided(untimed, lambda: {r.property: (r, model) for r in check(
        SymbolicLockstepKernel(model) if isinstance(model, LockstepKernelModel)
        else SymbolicKernel(model), depth=request.depth, timeout=share)}, model)
    if timed:
        left = None if timeout is None else max(0.001, timeout - (time.perf_counter() - began))
        results.update(_worst_cases(scenario, world, timed, request.depth, left))
    for name in wanted:
        results.setdefault(name, (CheckResult(name, Status.INCOMPLETE, None, Stats(),
                                              detail=UNDECIDABLE), model))
    return model, results


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
