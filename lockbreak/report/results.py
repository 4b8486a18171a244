"""The results of a suite run as plain data, and their versioned JSON form (``results.json``).

Every other report (HTML, Markdown, JUnit, SARIF, timelines) renders these values and never
the kernel model, so all formats show the same verdicts. A *finding* is one property on one
scenario under one configuration (era, lock algorithm, preemption model); its ``id`` is the
anchor a review links to (``nested-v2.6.9--v2.6.9--break_return_truth``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lockbreak.core import CheckResult, PropertyKind, Status, Trace
from lockbreak.report.timeline import Timeline, timeline_of
from lockbreak.report.traces import (
    changes,
    explain,
    initial_lines,
    kernel_lines,
    step_kernel_line,
)
from model.eras import Era
from model.kernel import Action, KernelModel
from model.scenario.types import Expectation, Scenario

RESULTS_SCHEMA = "lockbreak-results/1"
RESULTS_SCHEMA_FILE = Path(__file__).with_name("schemas") / "results-1.schema.json"


@dataclass(frozen=True)
class TraceStep:
    """One numbered step of a counterexample, with the scenario statement it executed."""

    number: int
    actor: str              # "cpu0", or "env" for a wakeup
    text: str
    changes: tuple[str, ...]
    line: int               # the scenario file line of the statement (0: none, e.g. a wakeup)
    col: int
    repeats_from: bool      # the lasso's repeating part starts here
    kernel: str = ""        # the kernel FILE:LINE, in an extracted scenario ("" otherwise)


@dataclass(frozen=True)
class Counterexample:
    """A counterexample as reports show it: steps, why it fails, and where it broke."""

    initial: tuple[str, ...]
    steps: tuple[TraceStep, ...]
    why: str
    violating_step: int     # 1-based; the step after which the property is broken
    line: int               # the scenario file line of that step's statement
    col: int
    timeline: Timeline
    kernel: str = ""        # the kernel FILE:LINE of that step, in an extracted scenario


@dataclass(frozen=True)
class Finding:
    """One property's verdict on one scenario under one configuration."""

    id: str
    scenario: str
    file: str
    config: str              # "v2.6.12" or, with a lock/preempt matrix, "v2.6.12-ticket-none"
    era: str
    lock: str
    preempt: str
    timing: str              # the scenario's own; worst cases are always measured in lockstep
    property: str
    kind: str | None         # None: a property this checker does not decide yet
    status: str
    expected: str | None
    met: bool | None
    failed: bool             # decides the exit code as `lockbreak check` would
    states: int
    transitions: int
    depth: int
    seconds: float
    worst: int | None
    worst_case: str | None   # WORST properties: "bounded", "unbounded", "vacuous", "undecided"
    detail: str
    rerun: str               # the command that reruns this one verdict and prints its trace
    counterexample: Counterexample | None = None


@dataclass(frozen=True)
class Problem:
    """A scenario that could not be checked under one configuration: bad input, or an
    internal error (a lockbreak bug) in its check."""

    file: str
    config: str
    message: str
    own_config: bool         # the scenario's own configuration (else a matrix override)
    internal: bool = False   # lockbreak crashed on it: exit 4


@dataclass(frozen=True)
class EraDefinition:
    """An era used by the run, with a digest of its primitive bodies."""

    name: str
    summary: str
    source: str
    sha256: str


@dataclass(frozen=True)
class ScenarioFile:
    file: str
    name: str
    sha256: str


@dataclass(frozen=True)
class Provenance:
    """What produced the report, and how to produce it again."""

    lockbreak_version: str
    git_commit: str | None
    git_dirty: bool | None
    date: str
    command: str
    engine: str
    max_states: int | None
    timeout: float | None
    symmetry: bool
    matrix: Mapping[str, Sequence[str]]
    properties: tuple[str, ...]
    scenarios: tuple[ScenarioFile, ...]
    eras: tuple[EraDefinition, ...]
    total_states: int
    total_seconds: float


@dataclass(frozen=True)
class SuiteReport:
    """Everything one ``lockbreak suite`` run found."""

    report_id: str
    provenance: Provenance
    findings: tuple[Finding, ...]
    problems: tuple[Problem, ...] = ()
    exit_code: int = 0
    configs: tuple[str, ...] = field(default=())

    @property
    def counterexamples(self) -> list[Finding]:
        return [f for f in self.findings if f.counterexample is not None]


def slug(text: str) -> str:
    """An anchor-safe form of ``text``.

    >>> slug("v2.6.9+return-fix")
    'v2.6.9-return-fix'
    """
    return re.sub(r"[^A-Za-z0-9._]+", "-", text).strip("-")


def finding_id(scenario: str, config: str, prop: str) -> str:
    """The anchor of one finding: ``scenario--config--property``.

    >>> finding_id("nested-journal", "v2.6.12", "bounded_wait")
    'nested-journal--v2.6.12--bounded_wait'
    """
    return f"{slug(scenario)}--{slug(config)}--{slug(prop)}"


def era_definition(era: Era) -> EraDefinition:
    """``era`` with a digest of every primitive body, so a report says which code it checked."""
    digest = hashlib.sha256()
    for name in sorted(era.primitives):
        digest.update(f"{name}\0{era.primitives[name].body}\0".encode())
    return EraDefinition(era.name, era.summary, era.source, digest.hexdigest())


def report_id(inputs: Mapping[str, Any]) -> str:
    """A stable identifier of a run's inputs (scenario hashes, era digests, options).

    >>> report_id({"a": 1}) == report_id({"a": 1}) != report_id({"a": 2})
    True
    """
    text = json.dumps(inputs, sort_keys=True, separators=(",", ":"))
    return "lbr-" + hashlib.sha256(text.encode()).hexdigest()[:16]


def _violating_step(result: CheckResult, trace: Trace[int, Action]) -> int:
    """The step after which the property is broken: a safety trace's last step; for a
    deadlock, the step after which a CPU can never finish (the engine says which)."""
    found = re.search(r"after step (\d+)", result.detail)
    return int(found[1]) if found else len(trace.steps)


def counterexample(model: KernelModel, result: CheckResult) -> Counterexample:
    """The counterexample of ``result`` in kernel words, with each step's scenario line."""
    trace = result.trace
    assert trace is not None
    steps: list[TraceStep] = []
    last_line: dict[int, tuple[int, int]] = {}
    state = trace.init
    kernel = kernel_lines(model)
    for number, step in enumerate(trace.steps, 1):
        action = step.action
        info = model.step_info(state, action)
        if info.instr is not None and info.instr.pos.line:
            last_line[action.cpu] = (info.instr.pos.line, info.instr.pos.col)
            line, col = last_line[action.cpu]
        else:
            # A wakeup or a preemption executes no statement: point at the CPU's last one.
            line, col = last_line.get(action.cpu, (model.world.scenario.cpus[action.cpu].line, 1))
        actor = "env" if action.wakeup else f"cpu{action.cpu}"
        text = action.env_text if action.wakeup else info.text
        steps.append(TraceStep(number, actor, text,
                               tuple(changes(model.view(state), model.view(step.state), info.text)),
                               line, col, trace.loop_start == number - 1,
                               step_kernel_line(model, state, action, kernel)))
        state = step.state
    at = _violating_step(result, trace)
    where = steps[at - 1] if at >= 1 else None
    cpus = model.world.scenario.cpus
    line, col = (where.line, where.col) if where else (cpus[0].line if cpus else 1, 1)
    return Counterexample(tuple(initial_lines(model.view(trace.init))), tuple(steps),
                          explain(model, result), at, line, col,
                          timeline_of(model, trace, at), where.kernel if where else "")


def finding(*, scenario: Scenario, model: KernelModel, config: str, result: CheckResult,
            kind: PropertyKind | None, expected: Expectation | None, met: bool | None,
            failed: bool, rerun: str, file: str) -> Finding:
    """One finding from the checker's result and what the scenario expected of it."""
    k = scenario.kernel
    # Only a violation is a counterexample; a worst case's trace is in `lockbreak check`'s files.
    violated = result.trace is not None and result.status is Status.VIOLATED
    cex = counterexample(model, result) if violated else None
    return Finding(
        id=finding_id(scenario.name, config, result.property), scenario=scenario.name,
        file=file, config=config, era=model.world.era.name, lock=model.world.lock_algorithm,
        preempt=k.preempt, timing=k.timing, property=result.property,
        kind=kind.value if kind else None,
        status=result.status.value, expected=str(expected) if expected else None, met=met,
        failed=failed, states=result.stats.states, transitions=result.stats.transitions,
        depth=result.stats.depth, seconds=round(result.stats.seconds, 3), worst=result.worst,
        worst_case=worst_case(kind, result), detail=result.detail, rerun=rerun, counterexample=cex)


def configuration(f: Finding) -> str:
    """The whole configuration a finding was checked under, as a matrix row names it.

    ``config`` names only what the run's matrix varies (it is part of the anchor); this says
    era, lock algorithm, preemption model and timing, so a ``preempt = "none"`` scenario never
    reads as its era's default.
    """
    return f"{f.era} · {f.lock} · preempt {f.preempt} · {f.timing}"


def worst_case(kind: PropertyKind | None, result: CheckResult) -> str | None:
    """What a WORST property's ``worst`` means (None for other kinds).

    ``bounded``: ``worst`` is the longest wait in ticks (even when it is longer than the
    scenario's max); ``unbounded``: some wait never ends; ``vacuous``: nothing ever had to wait
    (no contention, no wakeup), so there is no wait to measure; ``undecided``: the search
    stopped before it knew.
    """
    if kind is not PropertyKind.WORST:
        return None
    if result.worst is not None:
        return "bounded"
    return {Status.VIOLATED: "unbounded", Status.VACUOUS: "vacuous"}.get(result.status,
                                                                       "undecided")


def worst_words(f: Finding) -> str:
    """A timing table's cell: the ticks, ``unbounded``, or ``vacuous (never waited)``."""
    if f.worst_case == "bounded":
        return str(f.worst)
    if f.worst_case == "vacuous":
        return "vacuous (never waited)"
    return f.worst_case or "–"


def status_word(f: Finding) -> str:
    """The verdict as a matrix cell shows it, with the worst case when there is one.

    A WORST property shows its worst case in ticks (``holds (worst 12)``, ``violated (worst
    unbounded)``); a vacuous or incomplete one, and every other property, its status alone.
    """
    if f.kind == PropertyKind.WORST.value and f.worst is not None:
        return f"{f.status} (worst {f.worst})"
    if f.kind == PropertyKind.WORST.value and f.status == Status.VIOLATED.value:
        return f"{f.status} (worst unbounded)"
    return f.status


def expectation_words(f: Finding) -> str:
    """``expected holds: met``, ``expected max 12: NOT MET``, or ``no expectation``."""
    if not f.expected:
        return "no expectation"
    return f"expected {f.expected}: {'met' if f.met else 'NOT MET'}"


ICONS = {"holds": "✓", "violated": "✗", "vacuous": "⚠", "incomplete": "?"}


def properties_of(report: SuiteReport) -> list[str]:
    """The properties of the matrix's columns, in the order the checker reported them."""
    return list(dict.fromkeys(f.property for f in report.findings))


def rows_of(report: SuiteReport) -> dict[tuple[str, str], dict[str, Finding]]:
    """Matrix rows: (file, config) -> property -> finding, in run order."""
    rows: dict[tuple[str, str], dict[str, Finding]] = {}
    for f in report.findings:
        rows.setdefault((f.file, f.config), {})[f.property] = f
    return rows


def trace_text(f: Finding) -> str:
    """A counterexample as numbered plain text (Markdown code blocks, JUnit failures)."""
    cex = f.counterexample
    assert cex is not None
    lines = ["initial: " + "; ".join(cex.initial)]
    width = len(str(len(cex.steps)))
    for step in cex.steps:
        mark = "  <-- repeats from here" if step.repeats_from else ""
        broke = "  <-- property broken" if step.number == cex.violating_step else ""
        source = f"  [{step.kernel}]" if step.kernel else ""
        lines.append(f"{step.number:>{width}}. {step.actor}: {step.text}{source}{mark}{broke}")
        if step.changes:
            lines.append(f"{'':>{width}}  {'; '.join(step.changes)}")
    lines.append(cex.why)
    return "\n".join(lines)


def _drop_empty_kernel(cex: dict[str, Any]) -> None:
    """Kernel lines only where a scenario has them, so other reports read as they did."""
    for part in (cex, *cex["steps"]):
        if not part["kernel"]:
            del part["kernel"]


def to_json(report: SuiteReport) -> dict[str, Any]:
    """The ``results.json`` document (schema ``lockbreak-results/1``)."""
    findings = []
    for f in report.findings:
        item = asdict(f)
        if f.counterexample is not None:
            item["counterexample"].pop("timeline")
            _drop_empty_kernel(item["counterexample"])
        findings.append(item)
    return {
        "schema": RESULTS_SCHEMA,
        "report_id": report.report_id,
        "exit_code": report.exit_code,
        "provenance": asdict(report.provenance),
        "findings": findings,
        # "internal" only when set, so reports without a crash read as they always did
        "problems": [{k: v for k, v in asdict(p).items() if k != "internal" or v}
                     for p in report.problems],
    }

