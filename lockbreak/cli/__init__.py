"""The ``lockbreak`` command: check scenarios, list what the model knows, replay traces, fuzz.

Exit codes carry the verdict: 0 every expectation met (without ``[expect]``: every property
holds), 1 an expectation not met or a violation, 2 bad input, 3 incomplete (a budget ran out),
4 an internal error (a bug in lockbreak, `lockbreak.cli.guard`; with several scenarios, the
  others' results are still given).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import click

from lockbreak.atomic import write_atomically
from lockbreak.cli.checkpointing import Checkpoints, scenario_key
from lockbreak.cli.diff import diff_cmd
from lockbreak.cli.export import export_cmd
from lockbreak.cli.extract import extract_cmd
from lockbreak.cli.fuzz import fuzz_cmd
from lockbreak.cli.guard import GuardedGroup
from lockbreak.cli.hypothesis_check import coverage_fields, coverage_text, search_options
from lockbreak.cli.kernel_tree import kernel_tree_choice, kernel_tree_options, with_tree
from lockbreak.cli.latency import latency_cmd
from lockbreak.cli.progress import ProgressBar, ProgressLine
from lockbreak.cli.prove import prove_cmd
from lockbreak.cli.replay import replay_file
from lockbreak.cli.request import check_request
from lockbreak.cli.scale import scale_options
from lockbreak.cli.scan import scan_cmd
from lockbreak.cli.store_options import estimate_record, with_store_options
from lockbreak.cli.suite import suite_cmd
from lockbreak.cli.symbolic import invariant_lines
from lockbreak.core import EXIT_INTERNAL, LockbreakError, Status
from lockbreak.pipeline import (
    CheckRequest,
    Overrides,
    ScenarioRun,
    Workers,
    check_scenario,
    internal_error,
    load,
    unfinished_run,
)
from lockbreak.pipeline.check import estimate_scenario
from lockbreak.report.checklist import verdict_line
from lockbreak.report.escape import error_text, terminal_text
from lockbreak.report.results import worst_case
from lockbreak.report.traces import explain, render_trace, trace_to_json
from model.eras import ERAS
from model.locks import MUTEX, RWSEM, SPIN_ALGORITHMS, spin_algorithm
from model.scenario.load import find_scenarios
from model.scenario.types import Scenario
from properties.catalogue import CATALOGUE, KNOWN, by_name

EXIT_OK, EXIT_FAIL, EXIT_BAD_INPUT, EXIT_INCOMPLETE = 0, 1, 2, 3
OUT_OF_MEMORY = ("out of memory (MemoryError) before --max-memory was reached; rerun with a "
                 "lower --max-memory to stop with a checkpoint, or with --store hashcompact")
PREEMPT_MODELS = {
    "none": "schedules only at schedule(), cond_resched() and the lock-break primitives",
    "voluntary": "also at might_sleep()",
    "full": "CONFIG_PREEMPT: also whenever preempt_count drops to 0 with need_resched set",
    "lazy": "CONFIG_PREEMPT_LAZY (v6.13 on): as full, but a fair wakeup waits for the tick",
    "rt": "PREEMPT_RT: spinlocks sleep, holding one does not raise preempt_count",
}


@click.group(cls=GuardedGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="lockbreak")
def main() -> None:
    """lockbreak: a model checker for lock-break correctness in Linux-style kernels."""


@main.command("check")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--property", "-p", "props", multiple=True, metavar="P",
              help="Check only this property (repeatable).")
@click.option("--version", "version", metavar="ERA", help="Rerun under another kernel era.")
@click.option("--lock", type=click.Choice(SPIN_ALGORITHMS),
              help="Rerun with another lock algorithm.")
@click.option("--preempt", type=click.Choice(tuple(PREEMPT_MODELS)),
              help="Rerun under another preemption model.")
@click.option("--timing", type=click.Choice(("interleaving", "lockstep")),
              help="Rerun under another timing (bounded_wait and bounded_latency are always "
                   "measured under lockstep).")
@click.option("--engine", type=click.Choice(["explicit", "hypothesis", "z3"]),
              default="explicit", show_default=True,
              help="Every interleaving, random runs (hypothesis), or z3: bounded model "
                   "checking and k-induction.")
@click.option("--depth", type=click.IntRange(min=1), default=60, show_default=True,
              help="z3 engine: the BMC depth and largest k tried, in steps.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable results.")
@click.option("--max-states", type=click.IntRange(min=1), help="Stop after this many states.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="Stop after this many seconds.")
@click.option("--no-symmetry", is_flag=True, help="Do not merge states of identical CPUs.")
@click.option("--plain-bfs", is_flag=True,
              help="Explore with the plain breadth-first engine only, not the vectorised one "
                   "(same verdicts and counterexamples; for comparison).")
@click.option("--no-por", is_flag=True,
              help="No partial-order reduction in the vectorised engine (same verdicts and "
                   "counterexample lengths, more states).")
@click.option("--trace-dir", type=click.Path(path_type=Path), default=Path("lockbreak-traces"),
              show_default=True, help="Where counterexample traces are written for replay.")
@search_options
@with_store_options
@scale_options
@kernel_tree_options
def check_cmd(paths: tuple[Path, ...], props: tuple[str, ...], as_json: bool, trace_dir: Path,
              **options: Any) -> None:
    """Check every scenario in PATHS (files, or folders of *.toml) for every interleaving."""
    unknown = [p for p in props if p not in KNOWN]
    if unknown:
        _bad_input(f"--property {unknown[0]}: unknown property; known: {', '.join(KNOWN)}")
    try:
        files = find_scenarios(paths)
        tree = kernel_tree_choice(options, options["version"])
        if tree is not None:
            options["version"] = tree.version
        request = check_request(props=props, **options)
    except LockbreakError as err:
        _bad_input(error_text(err))
    if request.estimate_seconds is not None:
        _estimate(files, request, request.estimate_seconds, as_json)
    try:
        checkpoints = Checkpoints(request.checkpoint.path, request.checkpoint.resume,
                                  request.checkpoint.max_memory)
        if request.checkpoint.resume is not None:
            checkpoints.require_match({_key(load(f, request.overrides), request)
                                       for f in files})
    except LockbreakError as err:
        _bad_input(error_text(err))
    bad_input, interrupted, crashed = False, False, False
    runs: list[ScenarioRun] = []
    records: list[dict[str, Any]] = []
    written: set[Path] = set()
    workers = Workers(request.scale)
    for file in files:
        scenario: Scenario | None = None
        try:
            scenario = with_tree(tree, load(file, request.overrides))
            run = _check(scenario, request, checkpoints, workers, as_json)
            interrupted = bool(checkpoints.stop)
            found = _records(run, trace_dir, request.overrides, written)
        except KeyboardInterrupt:
            # What was checked so far is printed, and its traces are already on disk.
            interrupted = True
            click.echo(f"interrupted while checking {file}; it and the scenarios after it "
                       "were not checked", err=True)
            break
        except LockbreakError as err:
            bad_input = True
            click.echo(f"error: {error_text(err)}", err=True)
            records.append({"file": str(file), "error": str(err)})
            continue
        except MemoryError as err:
            if scenario is None:     # a file under the size limit never needs this much
                crashed = _crashed(file, err, records)
                continue
            # The search's memory is released with the exception; its state cannot be saved.
            run = unfinished_run(scenario, request.properties, OUT_OF_MEMORY)
            found = _records(run, trace_dir, request.overrides, written)
        except Exception as err:     # a bug: reported for this scenario, the others go on
            crashed = _crashed(file, err, records)
            continue
        runs.append(run)
        records += found
        if not as_json:
            _print_run(run, records)
        if interrupted:
            break
    workers.close()
    code = _exit_code(runs, bad_input, interrupted, crashed)
    if as_json:
        results = [r for r in records if "error" not in r]
        errors = [r for r in records if "error" in r]
        click.echo(json.dumps({"results": results, "errors": errors, "exit": code}, indent=2))
    elif runs:
        click.echo(_summary(runs, code))
    sys.exit(code)


def _key(scenario: Scenario, request: CheckRequest) -> str:
    """The checkpoint entry of ``scenario`` under ``request``."""
    return scenario_key(scenario, request.overrides.as_dict(), request.properties,
                        request.storage, request.symmetry, request.budget)


def _check(scenario: Scenario, request: CheckRequest, checkpoints: Checkpoints,
           workers: Workers, as_json: bool) -> ScenarioRun:
    """One scenario's run, with its progress shown; an exhaustive search is saved to the
    checkpoint file when stopped, and resumed from it."""
    if request.engine != "explicit":
        with ProgressLine(enabled=not as_json and request.engine == "hypothesis") as line:
            return check_scenario(scenario, request, reporter=line)
    entry = checkpoints.scenario(_key(scenario, request), f"scenario '{scenario.name}'")
    with checkpoints, ProgressBar(enabled=not as_json) as bar:
        run = check_scenario(scenario, request, reporter=bar, checkpoint=entry,
                             workers=workers)
    if entry.stopped:
        path = request.checkpoint.path
        click.echo(f"checkpoint written to {path}; continue with --resume {path}", err=True)
    return run


def _estimate(files: list[Path], request: CheckRequest, seconds: float, as_json: bool) -> None:
    """``check --estimate``: each scenario's estimated number of states; exits."""
    out = []
    try:
        for file in files:
            scenario = load(file, request.overrides)
            found = estimate_scenario(scenario, request, seconds)
            out.append(estimate_record(scenario, found))
            if not as_json:
                click.echo(f"{scenario.name}: {found}")
    except LockbreakError as err:
        _bad_input(error_text(err))
    if as_json:
        click.echo(json.dumps({"estimates": out}, indent=2))
    sys.exit(EXIT_OK)


def trace_stem(scenario: str, version: str, overrides: Overrides, prop: str) -> str:
    """A trace file's name without ``.json``: ``scenario--era--property``, with each
    ``--lock``, ``--preempt`` and ``--timing`` given on the command line named after the era,
    so a run with them never overwrites the traces of the scenario's own configuration.

    >>> trace_stem("nested", "v2.6.9", Overrides(), "deadlock_free")
    'nested--v2.6.9--deadlock_free'
    >>> trace_stem("nested", "v2.6.9", Overrides(lock="ticket", preempt="none"), "deadlock_free")
    'nested--v2.6.9-lock-ticket-preempt-none--deadlock_free'
    """
    config = version + "".join(f"-{field}-{value}" for field, value in (
        ("lock", overrides.lock), ("preempt", overrides.preempt), ("timing", overrides.timing))
        if value is not None)
    return "--".join(re.sub(r"[^A-Za-z0-9_.+-]+", "-", part) for part in (scenario, config, prop))


def _trace_path(trace_dir: Path, stem: str, written: set[Path]) -> Path:
    """A file for one trace, never one this run already wrote (same-named scenarios), and
    never one outside ``trace_dir`` whatever ``stem`` holds (scenario names are checked at
    load; this is the second line of defence)."""
    path, n = trace_dir / f"{stem}.json", 1
    while path in written:
        n += 1
        path = trace_dir / f"{stem}--{n}.json"
    if path.parent != trace_dir or "\0" in stem:
        raise LockbreakError(f"refusing to write the trace {stem!r} outside --trace-dir "
                             f"{trace_dir}: rename the scenario (letters, digits and . _ + -)")
    written.add(path)
    return path


def _records(run: ScenarioRun, trace_dir: Path, overrides: Overrides,
             written: set[Path]) -> list[dict]:
    """JSON records of one scenario's verdicts; counterexamples are also written to files."""
    out = []
    k = run.scenario.kernel
    for verdict in run.verdicts:
        r = verdict.result
        expected = verdict.expected
        record: dict[str, Any] = {
            "scenario": run.scenario.name, "file": str(run.scenario.path),
            "version": k.version, "lock": run.model.world.lock_algorithm, "preempt": k.preempt,
            "timing": verdict.timing, "property": r.property, "status": r.status.value,
            "worst": r.worst, "worst_case": worst_case(by_name(r.property).kind, r),
            "expected": str(expected) if expected else None,
            "max": expected.max if expected else None,
            "met": verdict.met, "states": r.stats.states, "transitions": r.stats.transitions,
            "depth": r.stats.depth, "seconds": round(r.stats.seconds, 3), "detail": r.detail,
            "omission_probability": r.omission,
            "trace": None, "trace_file": None, **coverage_fields(run, r.property),
        }
        if r.trace is not None:
            meta = {"name": run.scenario.name, "file": str(run.scenario.path.resolve()),
                    "sha256": run.scenario.sha256,
                    "overrides": {**overrides.as_dict(), **(
                        {"timing": verdict.timing} if verdict.timing != k.timing else {})}}
            data = trace_to_json(verdict.model, r.trace, scenario=meta, property_name=r.property,
                                 status=r.status.value, worst=r.worst)
            path = _trace_path(trace_dir, trace_stem(run.scenario.name, k.version, overrides,
                                                     r.property), written)
            try:
                write_atomically(path, json.dumps(data, indent=2) + "\n")
            except OSError as err:
                raise LockbreakError(f"cannot write the trace {path}: {err.strerror}; choose "
                                     "another folder with --trace-dir") from None
            record["trace"] = [step["text"] for step in data["steps"]]
            record["trace_file"] = str(path)
        out.append(record)
    return out


def _print_run(run: ScenarioRun, records: list[dict]) -> None:
    click.echo(terminal_text(f"{run.scenario.name}  ({run.scenario.path}: {run.label})"))
    for verdict in run.verdicts:
        click.echo(verdict_line(verdict.result, verdict.expected, verdict.met, verdict.timing))
    if coverage_text(run):
        click.echo(coverage_text(run))
    for line in invariant_lines(run):
        click.echo(line)
    files = {(r["scenario"], r["property"]): r["trace_file"] for r in records if "error" not in r}
    for verdict in run.verdicts:
        r = verdict.result
        if r.trace is None:
            continue
        replay = f"lockbreak replay {files[(run.scenario.name, r.property)]}"
        if r.status is not Status.VIOLATED:     # a worst case: written, not printed
            click.echo(f"  {r.property}: the worst case's trace: {replay}")
            continue
        headline = (f"\n{r.property} violated in {len(r.trace)} steps"
                    + (f": {r.detail}" if r.detail else ""))
        click.echo(render_trace(verdict.model, r.trace, headline, explain(verdict.model, r)))
        click.echo(f"  replay: {replay}")
    click.echo("")


def _crashed(file: Path, err: Exception, records: list[dict[str, Any]]) -> bool:
    """Report a scenario whose check raised ``err`` (a lockbreak bug): on stderr and as an
    error record of the JSON output."""
    message = internal_error(err)
    click.echo(f"{file}: {message}", err=True)
    records.append({"file": str(file), "error": message, "internal": True})
    return True


def _exit_code(runs: list[ScenarioRun], bad_input: bool, interrupted: bool,
               crashed: bool) -> int:
    verdicts = [v for run in runs for v in run.verdicts]
    if crashed:
        return EXIT_INTERNAL
    if bad_input:
        return EXIT_BAD_INPUT
    if any(v.failed for v in verdicts):
        return EXIT_FAIL
    if interrupted or any(v.incomplete for v in verdicts):
        return EXIT_INCOMPLETE
    return EXIT_OK


def _summary(runs: list[ScenarioRun], code: int) -> str:
    verdicts = [v for run in runs for v in run.verdicts]
    failed = sum(v.failed for v in verdicts)
    incomplete = sum(v.incomplete for v in verdicts)
    words = {EXIT_OK: "every expectation met" if any(r.has_expect for r in runs)
             else "every property holds",
             EXIT_FAIL: f"{failed} failed", EXIT_BAD_INPUT: "bad input",
             EXIT_INCOMPLETE: f"{incomplete} undecided",
             EXIT_INTERNAL: "internal error (a lockbreak bug)"}
    return (f"{_count(len(runs), 'scenario')}, {_count(len(verdicts), 'verdict')}: "
            f"{words[code]}")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _bad_input(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_BAD_INPUT)


@main.command("list")
def list_cmd() -> None:
    """Show eras, lock algorithms, preemption models and properties, one line each."""
    click.echo("eras:")
    for era in ERAS.values():
        click.echo(f"  {era.name:<10} [{era.default_lock}] {era.summary}")
    click.echo("lock algorithms:")
    for name in SPIN_ALGORITHMS:
        click.echo(f"  {name:<10} {spin_algorithm(name, 2).summary}")
    click.echo("  rwlock     queued rwlock (for locks declared \"rwlock\")")
    for sleeping in (MUTEX, RWSEM):
        click.echo(f"  {sleeping.name:<10} {sleeping.summary} (for locks declared "
                   f"\"{sleeping.name}\")")
    click.echo("preemption models:")
    for name, text in PREEMPT_MODELS.items():
        click.echo(f"  {name:<10} {text}")
    click.echo("properties:")
    for prop in CATALOGUE:
        click.echo(f"  {prop.name:<19} {prop.kind.value:<10} {prop.holds_when}")


@main.command("replay")
@click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
def replay_cmd(file: Path) -> None:
    """Re-execute a JSON trace step by step and re-check its property."""
    try:
        report, reproduced = replay_file(file)
    except LockbreakError as err:
        _bad_input(error_text(err))
    click.echo(report)
    sys.exit(EXIT_OK if reproduced else EXIT_FAIL)


main.add_command(suite_cmd)
main.add_command(diff_cmd)
main.add_command(latency_cmd)
main.add_command(prove_cmd)
main.add_command(fuzz_cmd)
main.add_command(export_cmd)
main.add_command(extract_cmd)
main.add_command(scan_cmd)
