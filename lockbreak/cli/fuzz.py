"""``lockbreak fuzz``: generate scenarios, check each exhaustively, keep the smallest violation.

Exit codes (those of ``lockbreak check``): 1 a violating scenario was found and written, 3 none
found within the budget (that is not a proof: the run is incomplete) or interrupted, 2 bad
input (or a generator bug, reported with the scenario it drew).
"""

from __future__ import annotations

import re
import shlex
import sys
from dataclasses import replace
from pathlib import Path

import click

from lockbreak.core import LockbreakError
from lockbreak.pipeline.fuzz_search import FUZZED, FuzzBudget, FuzzRun, fuzz, write_finding
from model.eras import ERAS

EXIT_FOUND, EXIT_BAD_INPUT, EXIT_NONE_FOUND = 1, 2, 3
DEFAULT_DATABASE = Path(".lockbreak/hypothesis")
_BUDGET = re.compile(r"(\d+)(s?)\Z")


def parse_budget(text: str) -> tuple[int | None, float | None]:
    """``"200"`` is 200 examples, ``"30s"`` is 30 seconds.

    >>> parse_budget("200"), parse_budget("30s")
    ((200, None), (None, 30.0))
    """
    found = _BUDGET.match(text.strip())
    if not found or int(found[1]) < 1:
        raise click.BadParameter(f"{text!r}: give a number of examples (200) or of seconds (30s)")
    return (None, float(found[1])) if found[2] else (int(found[1]), None)


@click.command("fuzz")
@click.option("--version", "version", required=True, metavar="ERA",
              help="The kernel era every generated scenario runs under.")
@click.option("--property", "-p", "props", multiple=True, metavar="P",
              help="Look for violations of this property (repeatable; default: any).")
@click.option("--seed", type=int,
              help="Seed for a reproducible run, which does not use the example database.")
@click.option("--budget", default="200", show_default=True, metavar="N|Ns",
              help="Examples to generate (200), or seconds to spend (30s).")
@click.option("--max-states", type=click.IntRange(min=1), default=20_000, show_default=True,
              help="A generated scenario with more states is discarded, not judged.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("lockbreak-findings"),
              show_default=True, help="Where the violating scenario file is written.")
@click.option("--db", type=click.Path(path_type=Path), default=DEFAULT_DATABASE,
              show_default=True,
              help="Example database of unseeded runs: findings are retried first.")
@click.option("--no-db", is_flag=True, help="Run without an example database.")
def fuzz_cmd(version: str, props: tuple[str, ...], seed: int | None, budget: str,
             max_states: int, out: Path, db: Path, no_db: bool) -> None:
    """Generate scenarios under ERA and write the smallest one that violates a property."""
    if version not in ERAS:
        _bad_input(f"--version {version}: unknown era; known: {', '.join(ERAS)}")
    names = list(FUZZED)
    unknown = [p for p in props if p not in names]
    if unknown:
        _bad_input(f"--property {unknown[0]}: not a property the fuzzer can decide; "
                   f"known: {', '.join(names)}")
    try:
        examples, seconds = parse_budget(budget)
    except click.BadParameter as err:
        _bad_input(f"--budget {err.message}")
    command = _command(version, props, seed, budget, max_states)
    try:
        run = fuzz(version, props or None, seed=seed,
                   budget=FuzzBudget(examples, seconds, max_states),
                   database=None if no_db else db)
    except KeyboardInterrupt:
        click.echo("interrupted: nothing written", err=True)
        sys.exit(EXIT_NONE_FOUND)
    except LockbreakError as err:      # a generator bug: say so, with the scenario drawn
        _bad_input(str(err))
    click.echo(_covered(run))
    if run.finding is None:
        click.echo(f"none found in {run.generated} examples: no generated scenario violates "
                   f"{' or '.join(run.properties)} under {version} (not a proof; a larger "
                   "--budget or --max-states searches further)")
        sys.exit(EXIT_NONE_FOUND)
    finding = replace(run.finding, sketch=run.finding.sketch.trimmed())
    path = out / f"fuzz-{version}-{'-'.join(finding.violated)}.toml"
    description = (f"Found by `{command}` and shrunk by Hypothesis: "
                   f"{', '.join(finding.violated)} violated under {version}.")
    try:
        out.mkdir(parents=True, exist_ok=True)
        expect = write_finding(finding, path, name=path.stem, description=description,
                               max_states=max_states)
    except OSError as err:
        _bad_input(f"cannot write into {out}: {err.strerror}; choose another folder with --out")
    except LockbreakError as err:
        _bad_input(str(err))
    click.echo(f"found: {', '.join(finding.violated)} violated under {version} "
               f"({_count(len(finding.sketch.cpus), 'CPU')}, "
               f"{_count(len(finding.sketch.locks), 'lock')}, "
               f"{_count(finding.sketch.size, 'statement')})")
    click.echo(f"  first violation after {run.generated_to_first} examples "
               f"({run.seconds_to_first or 0:.2f} s); shrunk with {run.shrink_checks} more checks")
    click.echo(f"  wrote {path} with [expect]:")
    for prop, status in expect.items():
        click.echo(f"    {prop} = \"{status}\"")
    click.echo(f"  check it: lockbreak check {path}")
    sys.exit(EXIT_FOUND)


def _covered(run: FuzzRun) -> str:
    how = (f"seed {run.seed}" if run.seed is not None else
           "unseeded, " + ("example database in use" if run.database else "no example database"))
    held = ", ".join(f"{p} {run.held.get(p, 0)}" for p in run.properties)
    return (f"fuzz {run.version} ({how}): {run.generated} examples in "
            f"{run.seconds:.1f} s: {run.checked} checked exhaustively, {run.discarded} "
            f"discarded over the state budget\n  held with the witness reached: {held}")


def _command(version: str, props: tuple[str, ...], seed: int | None, budget: str,
             max_states: int) -> str:
    words = ["lockbreak", "fuzz", "--version", version]
    for prop in props:
        words += ["--property", prop]
    if seed is not None:
        words += ["--seed", str(seed)]
    words += ["--budget", budget]
    if max_states != 20_000:
        words += ["--max-states", str(max_states)]
    return shlex.join(words)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _bad_input(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_BAD_INPUT)
