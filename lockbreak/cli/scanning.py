"""The scan itself: files to sites to extracted, checked functions to rows, on a process pool.

A file is the unit of work: a worker process parses it, finds its sites
(`model.cfront.sites`), extracts each function holding one once (`model.cfront.extract`) and
checks the scenario, exhaustively while it fits the budget; what the exhaustive search leaves
undecided is searched at random (a fixed seed, so the same tree gives the same rows with any
number of workers). Rows come back in file order, whatever finished first.
"""

from __future__ import annotations

import hashlib
import re
import shlex
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from importlib.metadata import version as package_version
from pathlib import Path

from rich.progress import Progress

from lockbreak.core import EXIT_INTERNAL, Budget, LockbreakError, Status
from lockbreak.pipeline import (
    CheckRequest,
    Overrides,
    RandomOptions,
    Verdict,
    check_scenario,
    internal_error,
    load,
)
from lockbreak.report.escape import error_text
from lockbreak.report.results import Finding, finding, report_id
from lockbreak.report.scan import ScanReport, SiteRow
from model.cfront.extract import DEFAULT_ERA, Extraction, extract
from model.cfront.parse import CSource, parse_file
from model.cfront.sites import Site, break_lines, callers, find_sites
from model.cfront.sourcemap import kernel_lines
from model.scenario.types import Scenario
from properties.catalogue import CATALOGUE

EXIT_OK, EXIT_FAIL, EXIT_BAD_INPUT, EXIT_INCOMPLETE = 0, 1, 2, 3
SUFFIXES = (".c", ".h")
RANDOM_RUNS = 200
KINDS = {p.name: p.kind for p in CATALOGUE}
# A scenario statement that drops a lock: an unlock in any spelling, or a break primitive.
_BREAK = re.compile(r"\b(\w*unlock\w*|cond_resched_\w+|up_read|up_write)\s*\(")


@dataclass(frozen=True)
class SiteBudget:
    """What one site's check may spend: states of the exhaustive search, and seconds."""

    states: int | None
    seconds: float | None

    @property
    def words(self) -> str:
        parts = [str(self.states)] if self.states else []
        parts += [f"{self.seconds:g}s"] if self.seconds else []
        return ",".join(parts)

@dataclass(frozen=True)
class ScanOptions:
    """What the command line asked for; ``command`` is its rerunnable form."""

    paths: tuple[str, ...]
    era: str | None
    budget: SiteBudget
    workers: int
    out: str | None = None

    @property
    def command(self) -> str:
        words = ["lockbreak", "scan", *self.paths]
        if self.era:
            words += ["--era", self.era]
        words += ["--budget-per-site", self.budget.words]
        if self.out:
            words += ["--out", self.out]
        return shlex.join(words)


@dataclass(frozen=True)
class FileScan:
    """One file's rows and the scenarios extracted for them (file name -> TOML text)."""

    rows: tuple[SiteRow, ...]
    scenarios: tuple[tuple[str, str], ...]
    internal: bool = False


def c_files(paths: Sequence[Path]) -> list[Path]:
    """The .c and .h files of ``paths`` (files as given, folders walked), sorted, each once;
    a path that does not exist, or none of them holding C, is a `LockbreakError`."""
    found: dict[Path, None] = {}
    for path in paths:
        if path.is_dir():
            found.update(dict.fromkeys(sorted(p for p in path.rglob("*")
                                              if p.suffix in SUFFIXES and p.is_file())))
        elif path.is_file():
            found[path] = None
        else:
            raise LockbreakError(f"{path}: no such file or folder; give .c/.h files or folders "
                                 "holding them")
    if not found:
        raise LockbreakError(f"no .c or .h file in {', '.join(p.as_posix() for p in paths)}; "
                             "give kernel source files or folders holding them")
    return list(found)


def scenario_name(site: Site) -> str:
    """The extracted scenario's file name: the kernel file and function, anchor-safe.

    >>> scenario_name(Site("fs/icache.c", 31, 3, "icache_prune", "cond_resched_lock", "l"))
    'fs-icache.c--icache_prune.toml'
    """
    stem = re.sub(r"[^A-Za-z0-9._]+", "-", site.path).strip("-")
    return f"{stem}--{site.function}.toml"


@dataclass(frozen=True)
class Checked:
    """What checking one function gave: the engine, the scenario's file name in the report
    folder and its text (empty when extraction failed), the findings, why it was not checked
    (empty when it was), the seconds it took and the function extracted (the site's, or a
    caller of it)."""

    engine: str = ""
    scenario: str = ""
    text: str = ""
    findings: tuple[Finding, ...] = ()
    why: str = ""
    seconds: float = 0.0
    via: str = ""


def scan_file(path: str, options: ScanOptions) -> FileScan:
    """Parse one file, find its sites, extract and check each function holding one."""
    try:
        source = parse_file(path)
        sites = find_sites(source)
    except LockbreakError as err:
        return FileScan((_row(Site(path, 1, 1, "", "", ""), Checked(why=_one_line(
            error_text(err)))),), ())
    except Exception as err:     # a bug: this file's row says so, the other files go on
        return FileScan((_row(Site(path, 1, 1, "", "", ""), Checked(why=internal_error(err))),),
                        (), internal=True)
    scenarios: dict[str, str] = {}
    checked: dict[str, Checked] = {}
    internal = False
    rows = []
    for site in sites:
        if site.why:
            rows.append(_row(site, Checked(why=site.why)))
            continue
        where = break_lines(source, site)
        started = time.monotonic()
        try:
            extraction = _extract(source, site, where, options)
            if extraction.function not in checked:
                checked[extraction.function] = _check(extraction, site, options)
            done = checked[extraction.function]
        except LockbreakError as err:
            done = Checked(why=_one_line(error_text(err)))
        except Exception as err:     # a bug: this site's row says so, the others go on
            done = Checked(why=internal_error(err))
            internal = True
        if not done.seconds:
            done = replace(done, seconds=round(time.monotonic() - started, 3))
        if done.text:
            scenarios[done.scenario] = done.text
        rows.append(_row(site, done, where))
    return FileScan(tuple(rows), tuple(scenarios.items()), internal)


def _row(site: Site, done: Checked, where: set[int] | None = None) -> SiteRow:
    """The site's row; ``where`` is the lines its break is written on (`break_lines`), which
    the extracted scenario must keep a break from for its verdicts to be the site's."""
    origins = tuple((number, line) for number, (file, line) in kernel_lines(done.text).items()
                    if file == site.path)
    if done.findings and not keeps_break(done.text, site.path, where or {site.line}):
        # The scenario checked the function without this break (its lock or call was
        # dropped): its verdicts say nothing about the site.
        function = done.via or site.function
        done = Checked(scenario=done.scenario, text=done.text, seconds=done.seconds,
                       via=done.via, why=(
                           f"the scenario extracted from {function} has no lock break from "
                           f"line {site.line}: it was abstracted away (the header of "
                           f"{done.scenario} says how)"))
    return SiteRow(site.path, site.line, site.col, site.function, site.idiom, site.lock,
                   done.engine, done.why, done.scenario, done.seconds, done.findings, origins,
                   done.via if done.via != site.function else "")


def _one_line(text: str) -> str:
    """An error's message and hint on one line, as a row cell shows it."""
    return "; ".join(part.strip() for part in text.splitlines() if part.strip())


def _check(extraction: Extraction, site: Site, options: ScanOptions) -> Checked:
    """Check an extracted function within the site's budget."""
    started = time.monotonic()
    name = f"scenarios/{scenario_name(replace(site, function=extraction.function))}"
    # The scenario file stays while its counterexamples are built: they read its kernel
    # line comments back.
    with tempfile.TemporaryDirectory(prefix="lockbreak-scan-") as folder:
        file = Path(folder) / name
        file.parent.mkdir()
        file.write_text(extraction.scenario)
        try:
            scenario = load(file, Overrides())
        except LockbreakError as err:
            # Cited as the report folder holds it: scenarios/NAME.toml:line:col.
            why = error_text(err).replace(f"{folder}/", "")
            return Checked(scenario=name, text=extraction.scenario,
                           why=_one_line(f"the extracted scenario: {why}"))
        try:
            engine, verdicts = _verdicts(scenario, options)
            findings = tuple(_finding(scenario, v, site, _rerun(site, name, options))
                             for v in verdicts)
        except LockbreakError as err:
            why = error_text(err).replace(f"{folder}/", "")
            return Checked(scenario=name, text=extraction.scenario,
                           why=_one_line(f"checking the extracted scenario: {why}"))
    return Checked(engine, name, extraction.scenario, findings, via=extraction.function,
                   seconds=round(time.monotonic() - started, 3))


def keeps_break(text: str, path: str, where: set[int]) -> bool:
    """Whether the scenario ``text`` has a statement from one of the kernel lines ``where``
    of ``path`` that drops a lock: the site's break, kept by the extraction."""
    lines = text.splitlines()
    return any(_BREAK.search(lines[number - 1])
               for number, (file, line) in kernel_lines(text).items()
               if file == path and line in where)


def _verdicts(scenario: Scenario, options: ScanOptions) -> tuple[str, list[Verdict]]:
    """The engine and every property's verdict: exhaustive within the budget, then the
    random search for what the budget left undecided."""
    budget = Budget(max_states=options.budget.states, timeout=options.budget.seconds)
    run = check_scenario(scenario, CheckRequest(budget=budget))
    verdicts = list(run.verdicts)
    if not any(_out_of_budget(v, budget) for v in verdicts):
        return "explicit", verdicts
    random = check_scenario(scenario, CheckRequest(
        budget=Budget(timeout=options.budget.seconds), engine="hypothesis",
        random=RandomOptions(budget=str(RANDOM_RUNS), seed=0, database=None)))
    by_name = {v.result.property: v for v in random.verdicts}
    return "explicit + random", [by_name.get(v.result.property, v)
                                 if _out_of_budget(v, budget) else v for v in verdicts]


def _extract(source: CSource, site: Site, where: set[int], options: ScanOptions
             ) -> Extraction:
    """The site's function extracted; when the extractor refuses it, or takes the lock its
    caller holds around its body (a helper handed a held lock: the loop that makes it a
    break is the caller's), the first of its callers in the file that it accepts and whose
    scenario keeps the site's break (a caller may pass a constant that leaves the other
    branch out: ``if (shared) cond_resched_rwlock_read(...) else ...``), which runs the
    helper inlined; the helper alone when no caller is accepted."""
    function = site.function
    try:
        found: Extraction | None = extract(source, function, era=options.era)
    except LockbreakError as refused:
        found, error = None, refused
    if found is not None and not any(note.startswith("entered holding")
                                     for note in found.abstracted):
        return found
    first: Extraction | None = None
    for caller in callers(source, function):
        try:
            candidate = extract(source, caller, era=options.era)
        except LockbreakError:
            continue
        if keeps_break(candidate.scenario, site.path, where):
            return candidate
        first = first or candidate
    if first is not None:
        return first
    if found is not None:
        return found
    raise error from None


def _rerun(site: Site, name: str, options: ScanOptions) -> str:
    """The command that checks the site's scenario again: from the report folder, or by
    extracting it first when there is none."""
    if options.out:
        return shlex.join(["lockbreak", "check", f"{options.out}/{name}"])
    era = ["--era", options.era] if options.era else []
    local = Path(name).name
    return (shlex.join(["lockbreak", "extract", site.path, site.function, *era, "-o", local])
            + " && " + shlex.join(["lockbreak", "check", local]))


def _out_of_budget(verdict: Verdict, budget: Budget) -> bool:
    """Whether the exhaustive search left ``verdict`` undecided because the site's budget ran
    out (not because the property cannot be decided there, which random runs cannot change)."""
    r = verdict.result
    return r.status is Status.INCOMPLETE and (
        (budget.max_states is not None and budget.out_of_states() in r.detail)
        or (budget.timeout is not None and budget.out_of_time() in r.detail))


def _finding(scenario: Scenario, verdict: Verdict, site: Site, rerun: str) -> Finding:
    r = verdict.result
    return finding(scenario=scenario, model=verdict.model,
                   config=verdict.model.world.era.name, result=r, kind=KINDS.get(r.property),
                   expected=verdict.expected, met=verdict.met, failed=verdict.failed,
                   rerun=f"{rerun} --property {r.property}", file=site.path)


def scan(options: ScanOptions, files: Sequence[Path], progress: Progress | None = None
         ) -> tuple[ScanReport, dict[str, str]]:
    """Scan ``files`` with ``options.workers`` processes; the report and every extracted
    scenario (name -> TOML text). ``progress``, made with ``auto_refresh=False`` so that no
    thread runs while workers fork, is advanced and redrawn once per file."""
    started = time.monotonic()
    rows: list[SiteRow] = []
    scenarios: dict[str, str] = {}
    internal = False
    task = progress.add_task("scanning", total=len(files)) if progress else None
    for done in _results(options, files):
        rows += done.rows
        scenarios.update(done.scenarios)
        internal |= done.internal
        if progress is not None and task is not None:
            failing = sum(r.status == "violated" for r in rows)
            progress.update(task, advance=1,
                            description=f"{len(rows)} sites, {failing} violated")
            progress.refresh()
    code = _exit_code(rows, internal)
    era = options.era or DEFAULT_ERA
    inputs = {"files": [[p.as_posix(), hashlib.sha256(p.read_bytes()).hexdigest()]
                        for p in files], "era": options.era, "budget": options.budget.words,
              "version": package_version("lockbreak")}
    report = ScanReport(report_id(inputs), options.command, package_version("lockbreak"),
                        era, len(files), tuple(rows), code,
                        round(time.monotonic() - started, 3))
    return report, scenarios


def _results(options: ScanOptions, files: Sequence[Path]) -> Iterator[FileScan]:
    names = [p.as_posix() for p in files]
    if options.workers <= 1 or len(names) <= 1:
        yield from (scan_file(name, options) for name in names)
        return
    # Forked: the workers start with everything imported. No thread runs in this process
    # when they fork (the live bar is redrawn by hand, see `scan`).
    with ProcessPoolExecutor(max_workers=options.workers) as pool:
        yield from pool.map(scan_file, names, [options] * len(names), chunksize=1)


def _exit_code(rows: Sequence[SiteRow], internal: bool) -> int:
    """An internal error, else a violation, else a site undecided or not checked, else ok."""
    if internal:
        return EXIT_INTERNAL
    statuses = {row.status for row in rows}
    if "violated" in statuses:
        return EXIT_FAIL
    if statuses & {"incomplete", "not checked"}:
        return EXIT_INCOMPLETE
    return EXIT_OK
