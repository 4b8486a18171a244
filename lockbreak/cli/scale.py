"""``check --workers N``, ``--ray [ADDRESS]`` and ``--swarm N``: the explicit search spread out.

`scale_options` adds the options to ``check``; `Scaling` turns them into a checker for
`lockbreak.cli.checking.run_scenario`: the parallel breadth-first search
(`lockbreak.engines.parallel`) on worker processes or on Ray actors, or a swarm of
diversified searches (`lockbreak.engines.swarm`). Workers rebuild the kernel model from the
scenario file (`rebuild_model`, picklable through `functools.partial`), since a loaded
scenario and its model do not pickle.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import click

from lockbreak.cli.checking import Checker, Overrides
from lockbreak.core import Budget, CheckResult, LockbreakError, Reporter
from lockbreak.engines import parallel, swarm
from lockbreak.engines.parallel import ProcessPool
from model.kernel import KernelModel
from model.lockstep import LockstepKernelModel, kernel_model
from model.scenario.load import load_scenario
from model.scenario.types import Scenario
from model.world import build_world
from properties.catalogue import KNOWN, specs

F = TypeVar("F", bound=Callable[..., Any])
LOCAL_RAY = "local"


def scale_options(command: F) -> F:
    """Add ``--workers``, ``--ray`` and ``--swarm`` to a click command."""
    for decorator in reversed((
        click.option("--workers", type=click.IntRange(min=1), metavar="N",
                     help="[explicit] Parallel breadth-first search on N worker processes "
                          "(same verdicts and counterexample lengths)."),
        click.option("--ray", "ray_address", is_flag=False, flag_value=LOCAL_RAY,
                     metavar="[ADDRESS]",
                     help="[explicit] The parallel search on a Ray cluster (ADDRESS, or a "
                          "local Ray instance); needs pip install -e '.[ray]'."),
        click.option("--swarm", "swarm_size", type=click.IntRange(min=1), metavar="N",
                     help="[explicit] N diversified depth-first and random searches instead "
                          "of an exhaustive one: violations or incomplete, never holds."),
    )):
        command = decorator(command)
    return command


def rebuild_model(path: str, overrides: Overrides, params: dict[str, int] | None,
                  sha256: str, names: tuple[str, ...], timing: str) -> KernelModel:
    """The kernel model of a scenario file, as `lockbreak.cli.checking.run_scenario` builds
    it; in a worker process. The file must not have changed since the coordinator loaded it."""
    scenario = load_scenario(path, known_properties=KNOWN, params=params, **overrides.as_dict())
    if scenario.sha256 != sha256:
        raise LockbreakError(f"{path} changed while it was being checked; check it again")
    return kernel_model(build_world(scenario), specs(names), timing)


@dataclass
class Scaling:
    """The command line's choice of how to spread a check, and the workers it opened."""

    workers: int | None = None
    ray_address: str | None = None
    swarm_size: int | None = None
    _pool: Any = field(default=None, repr=False)

    @property
    def active(self) -> bool:
        return bool(self.workers or self.ray_address or self.swarm_size)

    def checker(self, scenario: Scenario, overrides: Overrides) -> Checker | None:
        """A checker for ``run_scenario`` (None when not scaled: its own engines then)."""
        if not self.active:
            return None

        def check(model: KernelModel, *, budget: Budget, reporter: Reporter,
                  symmetry: bool) -> list[CheckResult]:
            timing = "lockstep" if isinstance(model, LockstepKernelModel) else "interleaving"
            factory = functools.partial(
                rebuild_model, str(scenario.path), overrides, dict(scenario.params) or None,
                scenario.sha256, tuple(model.property_names), timing)
            if self.swarm_size:
                return swarm.check(model, factory, self._runner(), self._size(),
                                   self.swarm_size, budget=budget)
            return parallel.check(model, factory, self._open(), budget=budget,
                                  reporter=reporter, symmetry=symmetry)

        return check

    def _size(self) -> int:
        return self.workers or 2

    def _open(self) -> Any:
        if self._pool is None:
            if self.ray_address:
                from lockbreak.engines.ray_engine import RayPool, connect
                connect(None if self.ray_address == LOCAL_RAY else self.ray_address)
                self._pool = RayPool(self._size())
            else:
                self._pool = ProcessPool(self._size())
        return self._pool

    def _runner(self) -> swarm.Runner:
        if self.ray_address:
            from lockbreak.engines.ray_engine import connect, run_swarm
            connect(None if self.ray_address == LOCAL_RAY else self.ray_address)
            return run_swarm
        pool = self._open()
        return pool.run_swarm

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None


def scaling(engine: str, search: dict[str, Any]) -> Scaling:
    """Take ``--workers``, ``--ray`` and ``--swarm`` out of ``search`` (the options that are
    not the check command's own); they are bad input with another engine."""
    chosen = Scaling(search.pop("workers"), search.pop("ray_address"), search.pop("swarm_size"))
    address = chosen.ray_address
    if address and address != LOCAL_RAY and (address.endswith(".toml") or Path(address).exists()):
        raise LockbreakError(f"--ray took {address!r} as the cluster's address; write "
                             "--ray=ADDRESS, or put a bare --ray after the scenario paths")
    if chosen.active and engine != "explicit":
        raise LockbreakError("--workers, --ray and --swarm apply to the explicit engine only")
    return chosen


