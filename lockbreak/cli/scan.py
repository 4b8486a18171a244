"""``lockbreak scan``: every lock-break site of a kernel tree, each enclosing function extracted
and checked within a per-site budget (`lockbreak.cli.scanning`), written as the suite's report
formats with one row per site, a live bar on an interactive stderr while it runs.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from lockbreak.atomic import replace_folder, write_atomically
from lockbreak.cli.scanning import EXIT_BAD_INPUT, ScanOptions, SiteBudget, c_files, scan
from lockbreak.core import LockbreakError
from lockbreak.report.escape import error_text, terminal_text
from lockbreak.report.scan import (
    ScanReport,
    render_html,
    render_markdown,
    render_sarif,
    summary,
    to_json,
)
from lockbreak.report.timeline import render_svg
from model.eras import ERAS

DEFAULT_BUDGET = "200000,60s"
_BUDGET_PART = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s?)\s*$")


def parse_site_budget(text: str) -> SiteBudget:
    """``"200000"`` states, ``"30s"`` seconds, or both: ``"200000,30s"``.

    >>> parse_site_budget("200000,30s")
    SiteBudget(states=200000, seconds=30.0)
    """
    states: int | None = None
    secs: float | None = None
    for part in text.split(","):
        match = _BUDGET_PART.match(part)
        if not match or float(match[1]) <= 0:
            raise click.BadParameter(f"{part!r}: give states (200000), seconds (30s) or both "
                                     "(200000,30s)", param_hint="--budget-per-site")
        if match[2]:
            secs = float(match[1])
        elif "." in match[1]:
            raise click.BadParameter(f"{part!r}: a number of states is a whole number",
                                     param_hint="--budget-per-site")
        else:
            states = int(match[1])
    return SiteBudget(states, secs)


def write_scan(report: ScanReport, scenarios: dict[str, str], out: Path) -> list[Path]:
    """Write the report into ``out`` whole (built beside it, swapped in when complete)."""
    def build(folder: Path) -> list[Path]:
        written = []
        for name, text in sorted(scenarios.items()):
            write_atomically(folder / name, text)
            written.append(out / name)
        for row in report.rows:
            f = row.counterexample
            if f is not None and f.counterexample is not None:
                name = f"timelines/{row.id}.svg"
                write_atomically(folder / name, render_svg(
                    f.counterexample.timeline, f"{row.function}: {f.property}") + "\n")
                written.append(out / name)
        outputs = {"index.html": render_html(report), "report.md": render_markdown(report),
                   "results.json": json.dumps(to_json(report), indent=2),
                   "results.sarif": json.dumps(render_sarif(report), indent=2)}
        for file, text in outputs.items():
            write_atomically(folder / file, text.rstrip("\n") + "\n")
            written.append(out / file)
        return written
    foreign = sorted(p.name for p in out.iterdir() if p.name not in (
        "index.html", "report.md", "results.json", "results.sarif", "scenarios",
        "timelines")) if out.is_dir() else []
    if foreign:
        raise LockbreakError(f"{out} holds files that are not part of a scan report "
                             f"({', '.join(foreign[:3])}); the report replaces the whole "
                             "folder: choose a new or empty one with --out")
    try:
        return replace_folder(out, build)
    except OSError as err:
        raise LockbreakError(f"cannot write the report into {out}: {err.strerror}; choose "
                             "another folder with --out") from None

@click.command("scan")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--era", type=click.Choice(tuple(ERAS)), metavar="ERA",
              help="Check every extracted function under this era (default: the extractor's).")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False),
              help="Folder to write the reports and extracted scenarios into.")
@click.option("--json", "as_json", is_flag=True, help="Print results.json on stdout.")
@click.option("--workers", type=click.IntRange(min=1), default=os.cpu_count() or 1,
              show_default="the CPU count", help="Processes parsing and checking files.")
@click.option("--budget-per-site", "budget", default=DEFAULT_BUDGET, show_default=True,
              metavar="STATES,SECONDS", help="What one function's exhaustive search may "
              "spend (states, seconds or both); past it, a random search decides what it can.")
def scan_cmd(paths: tuple[Path, ...], era: str | None, out: Path | None, as_json: bool,
             workers: int, budget: str) -> None:
    """Find every lock-break site in PATHS (.c/.h files or folders), extract and check each
    enclosing function, and report one row per site."""
    options = ScanOptions(tuple(p.as_posix() for p in paths), era, parse_site_budget(budget),
                          workers, out.as_posix() if out else None)
    try:
        files = c_files(paths)
    except LockbreakError as err:
        click.echo(f"error: {error_text(err)}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    console = Console(stderr=True)
    live = console.is_terminal
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("files"), TimeElapsedColumn(), console=console, transient=True,
                  auto_refresh=False, disable=not live) as progress:
        report, scenarios = scan(options, files, progress)
    if out is not None:
        try:
            write_scan(report, scenarios, out)
        except LockbreakError as err:
            click.echo(f"error: {error_text(err)}", err=True)
            sys.exit(EXIT_BAD_INPUT)
    if as_json:
        click.echo(json.dumps(to_json(report), indent=2))
    else:
        for row in report.rows:
            said = row.why if not row.findings else ", ".join(
                f"{f.property} {f.status}" for f in row.findings if f.status != "holds")
            click.echo(terminal_text(f"{row.file}:{row.line}: {row.label}: "
                                     f"{row.idiom}: {row.status}"
                                     + (f" ({row.engine})" if row.engine else "")
                                     + (f": {said}" if said else "")))
        click.echo(summary(report))
        if out is not None:
            click.echo(f"wrote {out / 'index.html'}, {out / 'report.md'}, results.json, "
                       "results.sarif")
    sys.exit(report.exit_code)
