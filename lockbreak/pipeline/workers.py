"""The exhaustive search spread out: the parallel breadth-first search on worker processes or
Ray actors (`lockbreak.engines.parallel`), or a swarm of diversified searches
(`lockbreak.engines.swarm`).

Workers rebuild the kernel model from the scenario file (`rebuild_model`, picklable through
`functools.partial`), since a loaded scenario and its model do not pickle. `Workers` holds the
pool a check opened, so that the scenarios of one command share it until `Workers.close`.
"""

from __future__ import annotations

import functools
from typing import Any

from lockbreak.core import Budget, CheckResult, LockbreakError, Reporter
from lockbreak.engines import parallel, swarm
from lockbreak.engines.parallel import ProcessPool
from lockbreak.pipeline.request import Overrides, ScaleOptions
from model.kernel import KernelModel
from model.lockstep import LockstepKernelModel, kernel_model
from model.scenario.load import load_scenario
from model.scenario.types import Scenario
from model.world import build_world
from properties.catalogue import KNOWN, specs

LOCAL_RAY = "local"


def rebuild_model(path: str, overrides: Overrides, params: dict[str, int] | None,
                  sha256: str, names: tuple[str, ...], timing: str) -> KernelModel:
    """The kernel model of a scenario file, as `lockbreak.pipeline.check.check_scenario`
    builds it; in a worker process. The file must not have changed since the coordinator
    loaded it."""
    scenario = load_scenario(path, known_properties=KNOWN, params=params, **overrides.as_dict())
    if scenario.sha256 != sha256:
        raise LockbreakError(f"{path} changed while it was being checked; check it again")
    return kernel_model(build_world(scenario), specs(names), timing)


class Workers:
    """The workers of one command's spread-out checks, opened on first use."""

    def __init__(self, scale: ScaleOptions) -> None:
        self.scale = scale
        self._pool: Any = None

    def check(self, scenario: Scenario, overrides: Overrides, model: KernelModel, *,
              budget: Budget, reporter: Reporter, symmetry: bool) -> list[CheckResult]:
        """``model``'s properties, by the swarm or the parallel search as ``scale`` asks."""
        timing = "lockstep" if isinstance(model, LockstepKernelModel) else "interleaving"
        factory = functools.partial(
            rebuild_model, str(scenario.path), overrides, dict(scenario.params) or None,
            scenario.sha256, tuple(model.property_names), timing)
        if self.scale.swarm_size:
            return swarm.check(model, factory, self._runner(), self._size(),
                               self.scale.swarm_size, budget=budget)
        return parallel.check(model, factory, self._open(), budget=budget,
                              reporter=reporter, symmetry=symmetry)

    def _size(self) -> int:
        return self.scale.workers or 2

    def _connect(self) -> None:
        from lockbreak.engines.ray_engine import connect
        address = self.scale.ray_address
        connect(None if address == LOCAL_RAY else address)

    def _open(self) -> Any:
        if self._pool is None:
            if self.scale.ray_address:
                from lockbreak.engines.ray_engine import RayPool
                self._connect()
                self._pool = RayPool(self._size())
            else:
                self._pool = ProcessPool(self._size())
        return self._pool

    def _runner(self) -> swarm.Runner:
        if self.scale.ray_address:
            from lockbreak.engines.ray_engine import run_swarm
            self._connect()
            return run_swarm
        pool = self._open()
        return pool.run_swarm

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None
