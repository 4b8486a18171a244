"""The report of a ``lockbreak scan``: one row per lock-break site of a kernel tree.

A row is a site (kernel ``file:line``, function, idiom, lock), the engine that checked its
function's extracted scenario (exhaustive, or random search where the exhaustive one did not
fit the per-site budget), every property's verdict and the first counterexample. A site that
could not be extracted is a row too, saying why. The formats are the suite's: ``results.json``
(schema ``lockbreak-scan/1``), ``report.md``, a self-contained ``index.html`` and
``results.sarif`` located at the kernel's own lines.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from html import escape
from pathlib import Path
from typing import Any

from lockbreak.report.escape import markdown_block, markdown_code, markdown_fence, markdown_text
from lockbreak.report.html import CSP, CSS
from lockbreak.report.results import ICONS, Finding, TraceStep, trace_text
from lockbreak.report.sarif import SARIF_SCHEMA_URI, SARIF_VERSION
from lockbreak.report.stable import seconds
from lockbreak.report.timeline import render_svg

SCAN_SCHEMA = "lockbreak-scan/1"
SCAN_SCHEMA_FILE = Path(__file__).with_name("schemas") / "scan-1.schema.json"
NOT_CHECKED = "not checked"


@dataclass(frozen=True)
class SiteRow:
    """One lock-break site and what checking its function found.

    ``engine`` is ``explicit`` (every state explored), ``explicit + random`` (the exhaustive
    search did not fit the budget; what it left undecided was searched at random) or empty when
    not checked; ``why`` says why a site was not checked; ``scenario`` is the extracted
    scenario's file in the report folder; ``origins`` maps its lines to kernel lines; ``via``
    names the caller whose extraction checked the site, when the site's own function (a
    helper handed a lock its caller holds) could not be extracted alone."""

    file: str
    line: int
    col: int
    function: str
    idiom: str
    lock: str
    engine: str
    why: str
    scenario: str
    seconds: float
    findings: tuple[Finding, ...]
    origins: tuple[tuple[int, int], ...] = ()
    via: str = ""

    @property
    def id(self) -> str:
        """The row's anchor: ``fs-icache.c-31``."""
        return re.sub(r"[^A-Za-z0-9._]+", "-", f"{self.file}-{self.line}").strip("-")

    @property
    def label(self) -> str:
        """The function as a row shows it: ``lru_yield (checked in lru_age)``."""
        name = self.function or "–"
        return f"{name} (checked in {self.via})" if self.via else name

    @property
    def status(self) -> str:
        """``violated`` when any property is, ``incomplete`` when any is undecided,
        ``not checked`` without findings, else ``holds`` (vacuous verdicts included)."""
        if not self.findings:
            return NOT_CHECKED
        statuses = {f.status for f in self.findings}
        for word in ("violated", "incomplete"):
            if word in statuses:
                return word
        return "holds"

    @property
    def counterexample(self) -> Finding | None:
        """The first violated property's finding with its counterexample."""
        return next((f for f in self.findings if f.counterexample is not None), None)

    def kernel_line(self, step: TraceStep) -> int:
        """The kernel line of a counterexample step: the statement it executes, else (a
        wakeup) the one its CPU is at, else the site's."""
        if step.kernel:
            return int(step.kernel.rsplit(":", 1)[1])
        return dict(self.origins).get(step.line, self.line)


@dataclass(frozen=True)
class ScanReport:
    """Everything one ``lockbreak scan`` found."""

    report_id: str
    command: str
    version: str
    era: str
    files: int
    rows: tuple[SiteRow, ...]
    exit_code: int
    seconds: float


def to_json(report: ScanReport) -> dict[str, Any]:
    """``results.json`` of a scan (schema ``lockbreak-scan/1``)."""
    sites = []
    for row in report.rows:
        cex = row.counterexample
        item = {k: v for k, v in asdict(row).items() if k not in ("findings", "origins")}
        item["status"] = row.status
        item["verdicts"] = {f.property: f.status for f in row.findings}
        item["counterexample"] = None if cex is None or cex.counterexample is None else {
            "property": cex.property, "why": cex.counterexample.why,
            "rerun": cex.rerun,
            "steps": [{"number": s.number, "actor": s.actor, "text": s.text,
                       "line": row.kernel_line(s)} for s in cex.counterexample.steps]}
        sites.append(item)
    return {"schema": SCAN_SCHEMA, "report_id": report.report_id,
            "exit_code": report.exit_code, "command": report.command,
            "lockbreak_version": report.version, "era": report.era, "files": report.files,
            "seconds": report.seconds, "sites": sites}


def summary(report: ScanReport) -> str:
    """One line: files, sites, and how many of them hold, fail, were undecided or unchecked."""
    counts: dict[str, int] = {}
    for row in report.rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    said = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none"
    return (f"scan {report.report_id}: {report.files} files, {len(report.rows)} lock-break "
            f"sites ({said})")


def _verdicts(row: SiteRow) -> str:
    return ", ".join(f"{f.property} {ICONS.get(f.status, '')}" for f in row.findings
                     if f.status != "holds") or "every property holds"


def render_markdown(report: ScanReport) -> str:
    """``report.md``: the site table, then each counterexample at kernel lines."""
    command = markdown_code(report.command)
    lines = [f"<!-- generated by {command.replace('-->', '--&gt;')}; do not edit -->",
             f"# lockbreak scan {report.report_id}", "",
             f"{summary(report)}; era {report.era}; exit code {report.exit_code}. "
             f"Rerun: {command}", "",
             "| site | function | idiom | status | engine | verdicts not holding |",
             "| --- | --- | --- | --- | --- | --- |"]
    for row in report.rows:
        verdicts = _verdicts(row) if row.findings else markdown_text(row.why)
        link = f"[{row.status}](#{row.id})" if row.counterexample else row.status
        lines.append(f"| {markdown_code(f'{row.file}:{row.line}')} | "
                     f"{markdown_text(row.label)} | {markdown_text(row.idiom)} | "
                     f"{link} | {row.engine or '–'} | {verdicts} |")
    lines += ["", "## Counterexamples", ""]
    shown = [row for row in report.rows if row.counterexample]
    if not shown:
        lines.append("None: no property was violated.")
    for row in shown:
        f = row.counterexample
        assert f is not None and f.counterexample is not None
        cex = f.counterexample
        where = cex.kernel or f"{row.file}:{row.line}"
        trace = markdown_block(trace_text(f))
        fence = markdown_fence(trace)
        lines += [f'<a id="{row.id}"></a>', "",
                  f"### {markdown_text(row.function)} at {markdown_code(where)}: "
                  f"{f.property} violated", "",
                  f"- site: {markdown_code(f'{row.file}:{row.line}:{row.col}')} "
                  f"({markdown_text(row.idiom)})",
                  f"- scenario: {markdown_code(row.scenario)}; rerun: {markdown_code(f.rerun)}",
                  "", f"![timeline of {row.id}](timelines/{row.id}.svg)",
                  "", f"{fence}text", trace, fence, ""]
    return "\n".join(lines) + "\n"


def render_html(report: ScanReport) -> str:
    """``index.html``: one self-contained page (inline CSS and SVG, no scripts)."""
    out = ["<!DOCTYPE html>", f"<!-- generated by {escape(report.command)}; do not edit -->",
           '<html lang="en"><head><meta charset="utf-8">',
           f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
           f"<title>lockbreak scan {escape(report.report_id)}</title>",
           f"<style>{CSS}</style></head><body>",
           f"<h1>lockbreak scan {escape(report.report_id)}</h1>",
           f"<p>{escape(summary(report))}; era {escape(report.era)}; exit code "
           f"{report.exit_code}; {seconds(report.seconds)}. Rerun: "
           f"<code>{escape(report.command)}</code></p>",
           '<h2 id="sites">Lock-break sites</h2>',
           '<div class="scroll"><table class="matrix"><thead><tr><th>site</th><th>function</th>'
           "<th>idiom</th><th>status</th><th>engine</th><th>verdicts not holding</th>"
           "</tr></thead><tbody>"]
    for row in report.rows:
        status = escape(row.status)
        if row.counterexample:
            status = f'<a href="#{row.id}">{status}</a>'
        cls = row.status if row.findings else "incomplete"
        verdicts = _verdicts(row) if row.findings else row.why
        out.append(f"<tr><td><code>{escape(row.file)}:{row.line}</code></td>"
                   f"<td>{escape(row.label)}</td><td>{escape(row.idiom)}</td>"
                   f'<td class="{cls}">{status}</td><td>{escape(row.engine or "–")}</td>'
                   f"<td>{escape(verdicts)}</td></tr>")
    out.append("</tbody></table></div>")
    out.append('<h2 id="counterexamples">Counterexamples</h2>')
    shown = [row for row in report.rows if row.counterexample]
    if not shown:
        out.append("<p>None: no property was violated.</p>")
    for row in shown:
        out += _html_counterexample(row)
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _html_counterexample(row: SiteRow) -> list[str]:
    f = row.counterexample
    assert f is not None and f.counterexample is not None
    cex = f.counterexample
    title = f"{row.function} ({row.file}:{row.line}): {f.property} {f.status}"
    out = [f'<section class="finding" id="{row.id}">',
           f"<h3>{escape(row.function)} at <code>{escape(row.file)}:{row.line}</code>: "
           f'{escape(f.property)} <span class="violated">violated</span></h3>',
           f"<p>{escape(row.idiom)} · scenario <code>{escape(row.scenario)}</code> · rerun: "
           f"<code>{escape(f.rerun)}</code></p>",
           '<div class="side"><figure>' + render_svg(cex.timeline, title) + "</figure>",
           f'<ol class="trace"><li value="0">initial: {escape("; ".join(cex.initial))}</li>']
    for step in cex.steps:
        cls = ' class="broke"' if step.number == cex.violating_step else ""
        where = f"{row.file}:{row.kernel_line(step)}"
        out.append(f"<li{cls}>{escape(step.actor)}: {escape(step.text)} "
                   f"<code>{escape(where)}</code></li>")
    out.append(f'</ol></div><p class="why">{escape(cex.why)}</p></section>')
    return out


def _location(uri: str, line: int, col: int = 1) -> dict[str, Any]:
    return {"physicalLocation": {"artifactLocation": {"uri": uri, "uriBaseId": "%SRCROOT%"},
                                 "region": {"startLine": max(line, 1),
                                            "startColumn": max(col, 1)}}}


def render_sarif(report: ScanReport) -> dict[str, Any]:
    """``results.sarif``: each violated property an ``error`` at the site's kernel line, its
    counterexample a code flow through kernel lines; each site not checked a ``note`` saying
    why."""
    results = []
    rules: dict[str, dict[str, Any]] = {}
    for row in report.rows:
        if not row.findings:
            rules.setdefault("not_checked", {"id": "not_checked", "shortDescription": {
                "text": "a lock-break site whose function could not be extracted"}})
            results.append({"ruleId": "not_checked", "level": "note",
                            "message": {"text": f"{row.idiom} in {row.function or '?'} not "
                                                f"checked: {row.why}"},
                            "locations": [_location(row.file, row.line, row.col)]})
        for f in row.findings:
            if f.counterexample is None:
                continue
            rules.setdefault(f.property, {"id": f.property, "shortDescription": {
                "text": f"{f.property} at a lock-break site"}})
            cex = f.counterexample
            flow = [{"location": {**_location(row.file, row.kernel_line(s)),
                                  "message": {"text": f"{s.number}. {s.actor}: {s.text}"}},
                     "executionOrder": s.number} for s in cex.steps]
            results.append({
                "ruleId": f.property, "level": "error",
                "message": {"text": f"{f.property} violated at the {row.idiom} site of "
                                    f"{row.function}: {cex.why.removeprefix('=> ')}"},
                "locations": [_location(row.file, row.line, row.col)],
                "partialFingerprints": {"lockbreakSite/v1": f"{row.id}--{f.property}"},
                "codeFlows": [{"threadFlows": [{"locations": flow}]}],
                "properties": {"scenario": row.scenario, "rerun": f.rerun}})
    return {"$schema": SARIF_SCHEMA_URI, "version": SARIF_VERSION, "runs": [{
        "tool": {"driver": {"name": "lockbreak", "version": report.version,
                            "rules": list(rules.values())}},
        "automationDetails": {"id": f"lockbreak-scan/{report.report_id}"},
        "invocations": [{"commandLine": report.command,
                         "executionSuccessful": report.exit_code in (0, 1, 3),
                         "exitCode": report.exit_code}],
        "results": results}]}
