"""``lockbreak suite``: check every scenario across a matrix of configurations, write reports.

Each scenario runs under its own ``[kernel]`` configuration, or, with ``--versions``,
``--lock`` or ``--preempt``, under every combination of the listed values. A scenario's
``[expect]`` table was written for its own configuration, so only those cells decide the exit
code; the other cells of the matrix are shown for comparison. A configuration a scenario cannot
run under (an era without a primitive it calls) is listed as a problem, not a crash.
"""

from __future__ import annotations

import itertools
import json
import shlex
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from pathlib import Path

import click

from lockbreak.atomic import replace_folder, write_atomically
from lockbreak.core import EXIT_INTERNAL, Budget, LockbreakError
from lockbreak.pipeline import CheckRequest, Overrides, check_scenario, internal_error, load
from lockbreak.report import html, junit, markdown, sarif
from lockbreak.report.escape import error_text
from lockbreak.report.results import (
    EraDefinition,
    Finding,
    Problem,
    Provenance,
    ScenarioFile,
    SuiteReport,
    era_definition,
    finding,
    report_id,
    to_json,
)
from lockbreak.report.timeline import render_svg
from model.eras import ERAS
from model.locks import SPIN_ALGORITHMS
from model.scenario.load import PREEMPT_MODELS, find_scenarios
from properties.catalogue import CATALOGUE, KNOWN

EXIT_OK, EXIT_FAIL, EXIT_BAD_INPUT, EXIT_INCOMPLETE = 0, 1, 2, 3
REPORT_FILES = ("index.html", "report.md", "results.json", "junit.xml", "results.sarif",
                "timelines")
KINDS = {p.name: p.kind for p in CATALOGUE}
OUT_OF_MEMORY = ("out of memory (MemoryError): not checked; give it more memory, a --max-states "
                 "or a --timeout, or check it alone with lockbreak check --max-memory")


@dataclass(frozen=True)
class SuiteOptions:
    """What the command line asked for; ``command`` is its canonical, rerunnable form."""

    paths: tuple[str, ...]
    out: str
    versions: tuple[str, ...] = ()
    locks: tuple[str, ...] = ()
    preempts: tuple[str, ...] = ()
    properties: tuple[str, ...] = ()
    max_states: int | None = None
    timeout: float | None = None
    symmetry: bool = True

    @property
    def command(self) -> str:
        words = ["lockbreak", "suite", *self.paths, "--out", self.out]
        for flag, values in (("--versions", self.versions), ("--lock", self.locks),
                             ("--preempt", self.preempts)):
            if values:
                words += [flag, ",".join(values)]
        words += [w for p in self.properties for w in ("--property", p)]
        words += _budget_words(self.max_states, self.timeout, self.symmetry)
        return shlex.join(words)

    def configs(self) -> list[Overrides]:
        return [Overrides(v, lk, p) for v, lk, p in itertools.product(
            self.versions or [None], self.locks or [None], self.preempts or [None])]


def _budget_words(max_states: int | None, timeout: float | None, symmetry: bool) -> list[str]:
    words = []
    if max_states is not None:
        words += ["--max-states", str(max_states)]
    if timeout is not None:
        words += ["--timeout", f"{timeout:g}"]
    if not symmetry:
        words.append("--no-symmetry")
    return words


def _label(era: str, overrides: Overrides, options: SuiteOptions) -> str:
    """The matrix column: the era, then the lock and preemption model when those vary."""
    parts = [era]
    if options.locks and overrides.lock:
        parts.append(overrides.lock)
    if options.preempts and overrides.preempt:
        parts.append(overrides.preempt)
    return "-".join(parts)


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], capture_output=True, text=True, check=False,
                              timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _rerun(file: str, prop: str, overrides: Overrides, options: SuiteOptions) -> str:
    words = ["lockbreak", "check", file, "--property", prop]
    for flag, value in (("--version", overrides.version), ("--lock", overrides.lock),
                        ("--preempt", overrides.preempt)):
        if value:
            words += [flag, value]
    return shlex.join(words + _budget_words(options.max_states, options.timeout,
                                            options.symmetry))


def run_suite(options: SuiteOptions) -> SuiteReport:
    """Check every scenario of ``options.paths`` under every configuration of the matrix."""
    files = find_scenarios(options.paths)
    budget = Budget(max_states=options.max_states, timeout=options.timeout)
    findings: list[Finding] = []
    problems: list[Problem] = []
    scenario_files: dict[str, ScenarioFile] = {}
    eras: dict[str, EraDefinition] = {}
    used_ids: set[str] = set()
    undecided = False
    for path in files:
        file = path.as_posix()
        try:
            own = load(path, Overrides()).kernel
        except LockbreakError as err:
            problems.append(Problem(file, "", str(err), own_config=True))
            continue
        except Exception as err:     # a bug: reported for this file, the others go on
            problems.append(Problem(file, "", internal_error(err), True, internal=True))
            continue
        for overrides in options.configs():
            is_own = ((overrides.version or own.version) == own.version
                      and (overrides.lock or own.lock) == own.lock
                      and (overrides.preempt or own.preempt) == own.preempt)
            try:
                scenario = load(path, overrides)
                run = check_scenario(scenario, CheckRequest(
                    properties=options.properties, budget=budget, overrides=overrides,
                    symmetry=options.symmetry))
            except LockbreakError as err:
                problems.append(Problem(file, _config(overrides, own.version), str(err), is_own))
                continue
            except MemoryError:      # undecided, as a budget that ran out
                problems.append(Problem(file, _config(overrides, own.version),
                                        OUT_OF_MEMORY, own_config=False))
                undecided |= is_own
                continue
            except Exception as err:     # a bug: reported for this cell, the others go on
                problems.append(Problem(file, _config(overrides, own.version),
                                        internal_error(err), is_own, internal=True))
                continue
            scenario_files[file] = ScenarioFile(file, scenario.name, scenario.sha256)
            era = run.model.world.era
            eras[era.name] = era_definition(era)
            config = _label(era.name, overrides, options)
            for verdict in run.verdicts:
                # Other configurations are not held to the scenario's expectations.
                r = verdict.result if is_own else verdict.measured
                item = finding(
                    scenario=scenario, model=verdict.model, config=config, result=r,
                    kind=KINDS.get(r.property),
                    expected=verdict.expected if is_own else None,
                    met=verdict.met if is_own else None,
                    failed=verdict.failed if is_own else False,
                    rerun=_rerun(file, r.property, overrides, options), file=file)
                findings.append(_unique(item, used_ids))
                undecided |= is_own and verdict.incomplete
    code = _exit_code(findings, problems, undecided)
    provenance = Provenance(
        lockbreak_version=package_version("lockbreak"),
        git_commit=_git("rev-parse", "HEAD"),
        git_dirty=_dirty(),
        date=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        command=options.command, engine="explicit", max_states=options.max_states,
        timeout=options.timeout, symmetry=options.symmetry,
        matrix={"versions": list(options.versions), "locks": list(options.locks),
                "preempts": list(options.preempts)},
        properties=options.properties,
        scenarios=tuple(scenario_files.values()),
        eras=tuple(eras[name] for name in sorted(eras)),
        total_states=_total_states(findings),
        total_seconds=round(_total_seconds(findings), 3))
    configs = tuple(dict.fromkeys(f.config for f in findings))
    return SuiteReport(report_id(_inputs(provenance, options)), provenance, tuple(findings),
                       tuple(problems), code, configs)


def _inputs(provenance: Provenance, options: SuiteOptions) -> dict[str, object]:
    """What the report's ID is a digest of: everything that decides its verdicts."""
    return {"scenarios": [[s.file, s.sha256] for s in provenance.scenarios],
            "eras": [[e.name, e.sha256] for e in provenance.eras],
            "matrix": provenance.matrix, "properties": list(options.properties),
            "engine": provenance.engine, "max_states": options.max_states,
            "timeout": options.timeout, "symmetry": options.symmetry,
            "version": provenance.lockbreak_version}


def _config(overrides: Overrides, own_version: str) -> str:
    """A problem's configuration: the overrides, or the scenario's own era."""
    return "-".join(v for v in (overrides.version, overrides.lock, overrides.preempt)
                    if v) or own_version


def _unique(item: Finding, used: set[str]) -> Finding:
    """Two scenario files with the same name get distinct anchors (``--2``, ``--3``)."""
    anchor, n = item.id, 1
    while anchor in used:
        n += 1
        anchor = f"{item.id}--{n}"
    used.add(anchor)
    return item if anchor == item.id else replace(item, id=anchor)


def _dirty() -> bool | None:
    status = _git("status", "--porcelain", "--untracked-files=no")
    return None if status is None else bool(status)


def _runs(findings: Sequence[Finding]) -> dict[tuple[str, str], Finding]:
    """One finding per scenario run (they share the exploration's figures)."""
    return {(f.file, f.config): f for f in findings}


def _total_states(findings: Sequence[Finding]) -> int:
    return sum(f.states for f in _runs(findings).values())


def _total_seconds(findings: Sequence[Finding]) -> float:
    return sum(f.seconds for f in _runs(findings).values())


def _exit_code(findings: Sequence[Finding], problems: Sequence[Problem],
               undecided: bool) -> int:
    """As `lockbreak check`: an internal error, else bad input, else a failure, else an
    undecided verdict, else ok."""
    if any(p.internal for p in problems):
        return EXIT_INTERNAL
    if any(p.own_config for p in problems):
        return EXIT_BAD_INPUT
    if any(f.failed for f in findings):
        return EXIT_FAIL
    return EXIT_INCOMPLETE if undecided else EXIT_OK


def write_report(report: SuiteReport, out: Path) -> list[Path]:
    """Write every format into ``out``; returns the files written, in a fixed order.

    The report is built in a folder beside ``out`` and swapped in only when complete
    (`lockbreak.atomic.replace_folder`), so a failure part way leaves the previous report
    whole. ``out`` is replaced as a whole, so a folder holding anything but a report is
    refused rather than emptied.
    """
    foreign = sorted(p.name for p in out.iterdir() if p.name not in REPORT_FILES) if (
        out.is_dir()) else []
    if foreign:
        raise LockbreakError(f"{out} holds files that are not part of a lockbreak report "
                             f"({', '.join(foreign[:3])}); the report replaces the whole "
                             "folder: choose a new or empty one with --out")

    def build(folder: Path) -> list[Path]:
        written = []
        for f in report.counterexamples:
            assert f.counterexample is not None
            name = Path("timelines") / f"{f.id}.svg"
            write_atomically(folder / name,
                             render_svg(f.counterexample.timeline, _title(f)) + "\n")
            written.append(out / name)
        outputs = {
            "index.html": html.render(report),
            "report.md": markdown.render(report),
            "results.json": json.dumps(to_json(report), indent=2),
            "junit.xml": junit.render(report),
            "results.sarif": json.dumps(sarif.render(report), indent=2),
        }
        for file, text in outputs.items():
            write_atomically(folder / file, text.rstrip("\n") + "\n")
            written.append(out / file)
        return written
    try:
        return replace_folder(out, build)
    except OSError as err:
        raise LockbreakError(f"cannot write the report into {out}: {err.strerror}; choose "
                             "another folder with --out") from None


def _title(f: Finding) -> str:
    return f"{f.scenario} ({f.config}): {f.property} {f.status}"


def summary(report: SuiteReport) -> str:
    """The lines the command prints after writing the report."""
    by_status: dict[str, int] = {}
    for f in report.findings:
        by_status[f.status] = by_status.get(f.status, 0) + 1
    counts = ", ".join(f"{n} {s}" for s, n in sorted(by_status.items()))
    failed = sum(f.failed for f in report.findings)
    lines = [f"report {report.report_id}: {len(report.findings)} verdicts ({counts or 'none'})"
             f"; {failed} failed expectations"]
    lines += [f"problem: {p.file} [{p.config}]: {p.message}" for p in report.problems]
    return "\n".join(lines)


def split_list(values: Sequence[str]) -> tuple[str, ...]:
    """``--versions a,b --versions c`` into ``("a", "b", "c")``, in order, without repeats.

    >>> split_list(["v2.6.9,v2.6.12", "v2.6.9"])
    ('v2.6.9', 'v2.6.12')
    """
    return tuple(dict.fromkeys(v.strip() for value in values for v in value.split(",")
                               if v.strip()))




def _checked_list(flag: str, values: Sequence[str], known: Sequence[str]) -> tuple[str, ...]:
    chosen = split_list(values)
    unknown = [v for v in chosen if v not in known]
    if unknown:
        raise click.BadParameter(f"unknown {unknown[0]!r}; known: {', '.join(known)}",
                                 param_hint=flag)
    return chosen


@click.command("suite")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Folder to write the reports into (created if missing).")
@click.option("--versions", multiple=True, metavar="ERA,...",
              help="Run every scenario under each of these eras.")
@click.option("--lock", "locks", multiple=True, metavar="ALG,...",
              help="Run every scenario with each of these lock algorithms.")
@click.option("--preempt", "preempts", multiple=True, metavar="MODEL,...",
              help="Run every scenario under each of these preemption models.")
@click.option("--property", "-p", "props", multiple=True, metavar="P",
              help="Check only this property (repeatable).")
@click.option("--max-states", type=click.IntRange(min=1), help="Stop after this many states.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="Stop each scenario after this many seconds.")
@click.option("--no-symmetry", is_flag=True, help="Do not merge states of identical CPUs.")
def suite_cmd(paths: tuple[Path, ...], out: Path, versions: tuple[str, ...],
              locks: tuple[str, ...], preempts: tuple[str, ...], props: tuple[str, ...],
              max_states: int | None, timeout: float | None, no_symmetry: bool) -> None:
    """Check every scenario in PATHS (default: scenarios/) and write HTML, Markdown,
    results.json, JUnit XML and SARIF reports into OUT."""
    unknown = [p for p in props if p not in KNOWN]
    if unknown:
        raise click.BadParameter(f"unknown property {unknown[0]!r}; known: {', '.join(KNOWN)}",
                                 param_hint="--property")
    options = SuiteOptions(
        paths=tuple(p.as_posix() for p in paths) or ("scenarios",), out=out.as_posix(),
        versions=_checked_list("--versions", versions, tuple(ERAS)),
        locks=_checked_list("--lock", locks, SPIN_ALGORITHMS),
        preempts=_checked_list("--preempt", preempts, PREEMPT_MODELS),
        properties=props, max_states=max_states, timeout=timeout, symmetry=not no_symmetry)
    try:
        report = run_suite(options)
        written = write_report(report, out)
    except LockbreakError as err:
        click.echo(f"error: {error_text(err)}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    click.echo(summary(report))
    click.echo(f"wrote {len(written)} files into {out}: {out / 'index.html'}, "
               f"{out / 'report.md'}, results.json, junit.xml, results.sarif")
    sys.exit(report.exit_code)
