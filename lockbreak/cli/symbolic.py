"""Wiring for ``lockbreak check --engine z3``: the kernel model's symbolic twin and the BMC /
k-induction engine, into the same verdicts as the explicit engine's."""

from __future__ import annotations

from collections.abc import Sequence

from lockbreak.cli.checking import ScenarioRun, Verdict
from lockbreak.core import CheckResult, LockbreakError, PropertyKind, Stats, Status
from lockbreak.engines.bmc import EncodingError, check
from model.kernel import KernelModel
from model.scenario.types import Scenario
from model.symbolic import SymbolicKernel
from model.world import build_world
from properties.catalogue import CATALOGUE, by_name, of_kind, specs

# What the symbolic twin encodes; fairness and worst cases need the whole state graph.
ENCODED = of_kind(PropertyKind.SAFETY, PropertyKind.CAN_FINISH)


def run_scenario_z3(scenario: Scenario, *, properties: Sequence[str] | None, depth: int,
                    timeout: float | None) -> ScenarioRun:
    """Check one loaded scenario by BMC and k-induction up to ``depth`` steps."""
    wanted = list(properties) if properties else [p.name for p in CATALOGUE]
    model = KernelModel(build_world(scenario), specs([n for n in wanted if n in ENCODED]))
    checked = list(model.property_names)
    if scenario.kernel.timing != "interleaving":
        # The twin encodes interleaving steps; checking a lockstep scenario with it would
        # answer a different question.
        results = {name: CheckResult(name, Status.INCOMPLETE, detail=(
            "the z3 engine encodes interleaving timing only; use --engine explicit, or "
            "--timing interleaving")) for name in checked}
    else:
        try:
            results = {r.property: r for r in check(SymbolicKernel(model), depth=depth,
                                                     timeout=timeout)}
        except EncodingError:
            raise
        except LockbreakError as err:     # the world is too large to tabulate: undecided
            results = {name: CheckResult(name, Status.INCOMPLETE, detail=f"z3: {err}")
                       for name in checked}
    run = ScenarioRun(scenario, model, has_expect=bool(scenario.expect))
    for name in wanted:
        result = results.get(name) or CheckResult(
            name, Status.INCOMPLETE, None, Stats(),
            detail="fairness and worst cases are not decidable by the z3 engine; use "
                   "--engine explicit")
        if result.status is Status.VACUOUS:
            result.detail = f"{result.detail} ({by_name(name).witness})"
        run.verdicts.append(Verdict(result, scenario.expect.get(name), model, run.has_expect,
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
