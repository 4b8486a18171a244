"""``lockbreak check --engine hypothesis``: the random search's options and its output.

The options (``--seed``, ``--budget``, ``--steps``, ``--no-swarm``, ``--db``, ``--no-db``) are
added to ``check`` by `search_options` and turned into the request's `RandomOptions` by
`random_options`; `coverage_text` and `coverage_fields` show what the runs covered.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from lockbreak.core import LockbreakError
from lockbreak.engines.hypothesis_engine import DEFAULT_RUNS
from lockbreak.pipeline.request import (
    DEFAULT_DATABASE,
    DEFAULT_STEPS,
    RandomOptions,
    parse_budget,
)
from lockbreak.pipeline.verdicts import ScenarioRun
from lockbreak.report.coverage import coverage_lines, coverage_record

F = TypeVar("F", bound=Callable[..., Any])


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


def coverage_text(run: ScenarioRun) -> str | None:
    """The coverage lines printed under a random search's verdicts (None for other runs)."""
    if run.coverage is None:
        return None
    return "\n".join(coverage_lines(run.model, run.coverage))


def coverage_fields(run: ScenarioRun, property_name: str) -> dict[str, Any]:
    """Extra JSON fields of one verdict of a random search (nothing for other runs)."""
    if run.coverage is None:
        return {}
    return {"engine": "hypothesis", "witness_reached": run.witness_reached(property_name),
            "coverage": coverage_record(run.model, run.coverage)}
