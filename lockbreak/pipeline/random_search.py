"""The random search's part of a check: Hypothesis runs over the kernel model of the scenario's
own timing, with an example database keyed by what a stored schedule means.

Fairness and worst cases are questions about every execution's graph, which random runs never
have: those properties stay incomplete.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from lockbreak.core import Budget, CheckResult, PropertyKind, Reporter, Stats, Status
from lockbreak.engines.hypothesis_engine import Coverage, check
from lockbreak.pipeline.request import RandomOptions
from lockbreak.pipeline.verdicts import Results
from model.kernel import KernelModel
from model.lockstep import kernel_model
from model.scenario.types import Scenario
from model.world import World
from properties.catalogue import by_name, specs

UNDECIDABLE = "random runs cannot decide fairness or a worst case; use --engine explicit"


def database_key(scenario: Scenario, model: KernelModel, options: RandomOptions) -> bytes:
    """What a stored failing schedule is valid for: the scenario file as checked (overrides
    included), the properties in bit order, and the run length and swarm setting that give
    its bytes their meaning."""
    k = scenario.kernel
    parts = [scenario.sha256, model.world.era.name, model.world.lock_algorithm, k.preempt,
             ",".join(model.property_names), str(options.steps), str(options.swarm)]
    return hashlib.sha256("\n".join(parts).encode()).digest()


def decide(scenario: Scenario, world: World, wanted: Sequence[str], budget: Budget,
           options: RandomOptions, reporter: Reporter
           ) -> tuple[KernelModel, Results, Coverage]:
    """The results of ``wanted`` from random runs, with the model they belong to and what the
    runs covered."""
    checked = [name for name in wanted
               if by_name(name).kind not in (PropertyKind.FAIR, PropertyKind.WORST)]
    model = kernel_model(world, specs(checked))
    search = options.search(budget, database_key(scenario, model, options))
    exploration = check(model, search=search, reporter=reporter)
    results = {r.property: (r, model) for r in exploration.results}
    for name in wanted:
        results.setdefault(name, (CheckResult(name, Status.INCOMPLETE, None, Stats(),
                                              detail=UNDECIDABLE), model))
    return model, results, exploration.coverage
