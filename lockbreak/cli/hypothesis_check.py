"""``lockbreak check --engine hypothesis``: the random search wired to scenarios, and its options.

The options (``--seed``, ``--budget``, ``--steps``, ``--no-swarm``, ``--db``, ``--no-db``) are
added to ``check`` by `search_options`; `run_scenario_random` checks one loaded scenario the
way `lockbreak.cli.checking.run_scenario` does with the explicit engine, and returns the same
`ScenarioRun` plus what the runs covered.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from lockbreak.cli.checking import ScenarioRun, Verdict
from lockbreak.core import (
    Budget,
    CheckResult,
    LockbreakError,
    PropertyKind,
    Reporter,
    Stats,
    Status,
)
from lockbreak.engines.hypothesis_engine import DEFAULT_RUNS, Coverage, Search, check
from lockbreak.report.coverage import coverage_lines, coverage_record
from model.kernel import KernelModel
from model.lockstep import kernel_model
from model.scenario.types import Scenario
from model.world import build_world
from properties.catalogue import CATALOGUE, by_name, specs

DEFAULT_DATABASE = Path(".lockbreak") / "hypothesis"
DEFAULT_STEPS = 300
_BUDGET = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|seconds|runs|examples)?\s*$")

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class RandomOptions:
    """The command line's choices for a random search."""

    budget: str | None = None
    seed: int | None = None
    steps: int = DEFAULT_STEPS
    swarm: bool = True
    database: Path | None = DEFAULT_DATABASE

    def search(self, budget: Budget, key: bytes) -> Search:
        """The engine's `Search`; ``--timeout`` is a seconds budget when ``--budget`` is not
        given."""
        examples, seconds = parse_budget(self.budget) if self.budget else (None, budget.timeout)
        if examples is None and seconds is None:
            examples = DEFAULT_RUNS
        return Search(examples=examples, seconds=seconds, steps=self.steps, seed=self.seed,
                      swarm=self.swarm, database=self.database, database_key=key)


def parse_budget(text: str) -> tuple[int | None, float | None]:
    """``"500"`` is 500 runs, ``"30s"`` 30 seconds.

    >>> parse_budget("500"), parse_budget("2.5s")
    ((500, None), (None, 2.5))
    """
    match = _BUDGET.match(text)
    if not match or float(match.group(1)) <= 0:
        raise LockbreakError(f"--budget {text}: give a number of runs (500) or of seconds (30s)")
    value, unit = match.group(1), match.group(2)
    if unit and unit.startswith("s"):
        return None, float(value)
    if "." in value:
        raise LockbreakError(f"--budget {text}: a number of runs is a whole number")
    return int(value), None


def search_options(command: F) -> F:
    """Add the random search's options to a click command."""
    for decorator in reversed((
        click.option("--seed", type=int, help="[hypothesis] Seed for a reproducible search."),
        click.option("--budget", metavar="N|Ns",
                     help=f"[hypothesis] Runs (500) or seconds (30s); default "
                          f"{DEFAULT_RUNS} runs, or --timeout seconds."),
        click.option("--steps", type=click.IntRange(min=1), default=DEFAULT_STEPS,
                     show_default=True,
                     help="[hypothesis] Steps in one random run."),
        click.option("--no-swarm", is_flag=True,
                     help="[hypothesis] Never switch CPUs, wakeups or break paths off."),
        click.option("--db", "database", type=click.Path(path_type=Path),
                     default=DEFAULT_DATABASE, show_default=True,
                     help="[hypothesis] Example database: failures found are retried first."),
        click.option("--no-db", is_flag=True, help="[hypothesis] Use no example database."),
    )):
        command = decorator(command)
    return command


def random_options(engine: str, max_states: int | None, seed: int | None, budget: str | None,
                   steps: int, no_swarm: bool, database: Path, no_db: bool
                   ) -> RandomOptions | None:
    """The options of ``--engine hypothesis``, or None for the explicit engine; options of the
    other engine are bad input (`LockbreakError`)."""
    if engine != "hypothesis":
        given = [name for name, value in (("--seed", seed), ("--budget", budget),
                                          ("--no-swarm", no_swarm), ("--no-db", no_db))
                 if value not in (None, False)]
        if steps != DEFAULT_STEPS:
            given.append("--steps")
        if given:
            raise LockbreakError(f"{given[0]} applies to --engine hypothesis only")
        return None
    if max_states is not None:
        raise LockbreakError("--max-states applies to the explicit engine; give the random "
                             "search a --budget in runs or seconds")
    if budget is not None:
        parse_budget(budget)
    return RandomOptions(budget, seed, steps, not no_swarm, None if no_db else database)


@dataclass
class RandomRun(ScenarioRun):
    """A `ScenarioRun` from the random search, with what its runs covered."""

    coverage: Coverage | None = None


def database_key(scenario: Scenario, model: KernelModel, options: RandomOptions) -> bytes:
    """What a stored failing schedule is valid for: the scenario file as checked (overrides
    included), the properties in bit order, and the run length and swarm setting that give
    its bytes their meaning."""
    k = scenario.kernel
    parts = [scenario.sha256, model.world.era.name, model.world.lock_algorithm, k.preempt,
             ",".join(model.property_names), str(options.steps), str(options.swarm)]
    return hashlib.sha256("\n".join(parts).encode()).digest()


def run_scenario_random(scenario: Scenario, *, properties: Sequence[str] | None,
                        budget: Budget, reporter: Reporter, options: RandomOptions
                        ) -> RandomRun:
    """Check one loaded scenario with the random search."""
    wanted = list(properties) if properties else [p.name for p in CATALOGUE]
    # Fairness and worst cases are questions about every execution's graph, which random
    # runs never have: those stay incomplete.
    checked = [name for name in wanted
               if by_name(name).kind not in (PropertyKind.FAIR, PropertyKind.WORST)]
    model = kernel_model(build_world(scenario), specs(checked))
    search = options.search(budget, database_key(scenario, model, options))
    exploration = check(model, search=search, reporter=reporter)
    results = {r.property: r for r in exploration.results}
    run = RandomRun(scenario, model, has_expect=bool(scenario.expect),
                    coverage=exploration.coverage)
    for name in wanted:
        result = results.get(name) or CheckResult(
            name, Status.INCOMPLETE, None, Stats(),
            detail="random runs cannot decide fairness or a worst case; use --engine explicit")
        names = model.property_names
        if (result.status is Status.INCOMPLETE and name in names
                and not exploration.coverage.witnessed >> names.index(name) & 1):
            result.detail += f" (witness: {by_name(name).witness})"
        run.verdicts.append(Verdict(result, scenario.expect.get(name), model, run.has_expect,
                                    requested=bool(properties)))
    return run


def coverage_text(run: ScenarioRun) -> str | None:
    """The coverage lines printed under a random search's verdicts (None for other runs)."""
    if not isinstance(run, RandomRun) or run.coverage is None:
        return None
    return "\n".join(coverage_lines(run.model, run.coverage))


def coverage_fields(run: ScenarioRun, property_name: str) -> dict[str, Any]:
    """Extra JSON fields of one verdict of a random search (nothing for other runs)."""
    if not isinstance(run, RandomRun) or run.coverage is None:
        return {}
    names = run.model.property_names
    reached = (property_name in names
               and bool(run.coverage.witnessed >> names.index(property_name) & 1))
    return {"engine": "hypothesis", "witness_reached": reached,
            "coverage": coverage_record(run.model, run.coverage)}
