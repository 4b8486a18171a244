"""The HTML report: one self-contained file (inline CSS and SVG, no scripts, no network).

A Content-Security-Policy forbids every external load, so the page a reviewer opens is exactly
the file that was written. Every finding has an anchor (``id="scenario--config--property"``);
the matrix cells link to them, and each counterexample shows its timeline beside its trace.
"""

from __future__ import annotations

from html import escape

from lockbreak.report.results import (
    ICONS,
    Finding,
    SuiteReport,
    configuration,
    expectation_words,
    properties_of,
    rows_of,
    status_word,
    worst_words,
)
from lockbreak.report.stable import seconds
from lockbreak.report.timeline import render_svg

CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 1400px;
       padding: 0 1em; color: #1b1b1b; }
h1 { font-size: 1.5em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
code, pre { font: 12px/1.4 ui-monospace, monospace; }
table { border-collapse: collapse; margin: .5em 0; }
th, td { border: 1px solid #ddd; padding: 2px 6px; text-align: left; vertical-align: top; }
td.num { text-align: right; white-space: nowrap; }
.scroll { overflow-x: auto; max-width: 100%; }
.matrix th { white-space: nowrap; }
.matrix td.config { min-width: 9em; }
.matrix td.v a { display: block; text-decoration: none; color: inherit; }
.holds { background: #e8f5e9; } .violated { background: #ffebee; }
.vacuous { background: #fff8e1; } .incomplete { background: #eceff1; }
.notmet { outline: 2px solid #c62828; font-weight: bold; }
.finding { border: 1px solid #ccc; border-radius: 4px; padding: .5em 1em; margin: 1em 0; }
.finding:target, tr:target { box-shadow: 0 0 0 3px #1565c0; }
.side { display: flex; flex-wrap: wrap; gap: 1.5em; align-items: flex-start; }
.side figure { margin: 0; flex: 0 0 auto; }
ol.trace { margin: 0; padding-left: 3em; flex: 1 1 480px; }
ol.trace li { font: 12px/1.4 ui-monospace, monospace; }
ol.trace li.broke { background: #ffebee; font-weight: bold; }
ol.trace .changes { color: #555; display: block; }
.why { font-weight: bold; color: #c62828; }
"""

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def _volatile(text: str) -> str:
    return f'<span class="volatile">{escape(text)}</span>'


def _verdict_cell(f: Finding) -> str:
    cls = f.status + (" notmet" if f.met is False else "")
    text = f"{ICONS.get(f.status, '')} {status_word(f)}"
    if f.met is False:
        text += f" (expected {f.expected})"
    return (f'<td class="v {cls}"><a href="#{escape(f.id)}" '
            f'title="{escape(f.id)}">{escape(text)}</a></td>')


def _matrix(report: SuiteReport) -> list[str]:
    props = properties_of(report)
    # Wider than the window with many properties: the matrix scrolls sideways in its own box.
    out = ['<div class="scroll"><table class="matrix"><thead><tr><th>scenario</th>'
           "<th>configuration</th><th>states</th><th>depth</th><th>time</th>"
           # a property's name may wrap after an underscore, never inside a word
           + "".join(f"<th>{escape(p).replace('_', '_<wbr>')}</th>" for p in props)
           + "</tr></thead><tbody>"]
    for cells in rows_of(report).values():
        first = next(iter(cells.values()))
        out.append(f"<tr><td>{escape(first.scenario)}</td>"
                   f'<td class="config">{escape(configuration(first))}</td>'
                   f'<td class="num">{first.states:,}</td><td class="num">{first.depth}</td>'
                   f'<td class="num">{_volatile(seconds(first.seconds))}</td>'
                   + "".join(_verdict_cell(cells[p]) if p in cells else "<td>–</td>"
                             for p in props) + "</tr>")
    out.append("</tbody></table></div>")
    return out


def _bar(f: Finding, top: int) -> str:
    """The plot cell of a timing row: a bar scaled to ``top`` ticks, a full red one when
    unbounded, and none when nothing waited (a vacuous worst case measures nothing)."""
    if f.worst_case not in ("bounded", "unbounded"):
        return ""
    bar = 200 if f.worst is None else round(200 * f.worst / top)
    colour = "#c62828" if f.worst is None else "#1565c0"
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="210" height="14">'
            f'<rect x="0" y="2" width="{bar}" height="10" fill="{colour}"/></svg>')


def _timing(report: SuiteReport) -> list[str]:
    timed = [f for f in report.findings if f.kind == "worst" and f.status != "incomplete"]
    if not timed:
        return ["<p>No timing results in this run: no worst-case property was decided "
                "(<code>bounded_wait</code>, <code>bounded_latency</code> need "
                "<code>timing = \"lockstep\"</code>).</p>"]
    out = ['<table class="timing"><tr><th>scenario</th><th>config</th><th>property</th>'
           "<th>worst case (ticks)</th><th>plot</th></tr>"]
    top = max((f.worst or 0) for f in timed) or 1
    for f in timed:
        out.append(f'<tr><td><a href="#{escape(f.id)}">{escape(f.scenario)}</a></td>'
                   f"<td>{escape(f.config)}</td><td>{escape(f.property)}</td>"
                   f'<td class="num">{escape(worst_words(f))}</td><td>{_bar(f, top)}</td></tr>')
    out.append("</table>")
    return out


def _counterexample(f: Finding) -> list[str]:
    cex = f.counterexample
    assert cex is not None
    expected = expectation_words(f)
    title = f"{f.scenario} ({f.config}): {f.property} {f.status}"
    out = [f'<section class="finding" id="{escape(f.id)}">',
           f'<h3>{escape(f.scenario)} · {escape(f.config)} · {escape(f.property)}: '
           f'<span class="{f.status}">{escape(f.status)}</span></h3>',
           f"<p><code>{escape(f.file)}:{cex.line}:{cex.col}</code> (the statement of step "
           f"{cex.violating_step}) · {escape(expected)} · {len(cex.steps)} steps · "
           f"{f.states:,} states · rerun: <code>{escape(f.rerun)}</code></p>"]
    if f.detail:
        out.append(f"<p>{escape(f.detail)}</p>")
    out.append('<div class="side"><figure>' + render_svg(cex.timeline, title) + "</figure>")
    out.append(f'<ol class="trace"><li value="0">initial: {escape("; ".join(cex.initial))}</li>')
    for step in cex.steps:
        cls = ' class="broke"' if step.number == cex.violating_step else ""
        mark = " ⟲ repeats from here" if step.repeats_from else ""
        changes = (f'<span class="changes">{escape("; ".join(step.changes))}</span>'
                   if step.changes else "")
        source = f" <code>[{escape(step.kernel)}]</code>" if step.kernel else ""
        out.append(f"<li{cls}>{escape(step.actor)}: {escape(step.text)}{source}{mark}{changes}"
                   "</li>")
    out.append(f'</ol></div><p class="why">{escape(cex.why)}</p></section>')
    return out


def _all_verdicts(report: SuiteReport) -> list[str]:
    out = ["<table><tr><th>finding</th><th>verdict</th><th>expected</th><th>states</th>"
           "<th>detail</th></tr>"]
    for f in report.findings:
        anchor = "" if f.counterexample is not None else f' id="{escape(f.id)}"'
        link = f'<a href="#{escape(f.id)}">{escape(f.id)}</a>'
        out.append(f'<tr{anchor}><td>{link}</td><td class="{f.status}">'
                   f"{escape(status_word(f))}</td><td>{escape(f.expected or '–')}</td>"
                   f'<td class="num">{f.states:,}</td><td>{escape(f.detail or "–")}</td></tr>')
    out.append("</table>")
    return out


def _provenance(report: SuiteReport) -> list[str]:
    p = report.provenance
    commit = (p.git_commit or "unknown") + (" (with uncommitted changes)" if p.git_dirty else "")
    rows = [("report", escape(report.report_id) + " (a digest of the inputs below)"),
            ("rerun", f"<code>{escape(p.command)}</code>"),
            ("lockbreak version", escape(p.lockbreak_version)),
            ("git commit", _volatile(commit)),
            ("date", _volatile(p.date)),
            ("engine", escape(f"{p.engine}, symmetry {'on' if p.symmetry else 'off'}, max "
                              f"states {p.max_states or 'unlimited'}, timeout "
                              f"{f'{p.timeout:g} s' if p.timeout else 'none'}")),
            ("states explored", f"{p.total_states:,}"),
            ("total time", _volatile(seconds(p.total_seconds)))]
    out = ['<table class="provenance">']
    out += [f"<tr><th>{name}</th><td>{value}</td></tr>" for name, value in rows]
    out.append("</table><table><tr><th>scenario file</th><th>name</th><th>sha256</th></tr>")
    out += [f"<tr><td><code>{escape(s.file)}</code></td><td>{escape(s.name)}</td>"
            f"<td><code>{s.sha256}</code></td></tr>" for s in p.scenarios]
    out.append("</table><table><tr><th>era</th><th>summary</th><th>modelled from</th>"
               "<th>definitions sha256</th></tr>")
    out += [f"<tr><td>{escape(e.name)}</td><td>{escape(e.summary)}</td>"
            f"<td>{escape(e.source)}</td><td><code>{e.sha256}</code></td></tr>" for e in p.eras]
    out.append("</table>")
    return out


def render(report: SuiteReport) -> str:
    """The whole HTML page."""
    p = report.provenance
    failed = sum(f.failed for f in report.findings)
    out = ["<!DOCTYPE html>", f"<!-- generated by {escape(p.command)}; do not edit -->",
           '<html lang="en"><head><meta charset="utf-8">',
           f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>lockbreak report {escape(report.report_id)}</title>",
           f"<style>{CSS}</style></head><body>",
           f"<h1>lockbreak report {escape(report.report_id)}</h1>",
           f"<p>{len(report.findings)} verdicts on {len(p.scenarios)} scenarios; {failed} failed "
           f"expectations; exit code {report.exit_code}. Rerun: <code>{escape(p.command)}</code>"
           "</p>",
           '<h2 id="matrix">Verdict matrix</h2>',
           "<p>✓ holds (its witness was reached) · ✗ violated · ⚠ vacuous (never violated, "
           "witness never reached) · ? incomplete (not decided). Outlined: an expectation not "
           "met. Only a scenario's own configuration carries its expectations.</p>"]
    out += _matrix(report)
    if report.problems:
        out.append('<h2 id="problems">Not checked</h2><ul>')
        out += [f"<li><code>{escape(pr.file)}</code> [{escape(pr.config)}]: "
                f"{escape(pr.message)}</li>" for pr in report.problems]
        out.append("</ul>")
    out.append('<h2 id="timing">Timing</h2>')
    out += _timing(report)
    out.append('<h2 id="counterexamples">Counterexamples</h2>')
    if not report.counterexamples:
        out.append("<p>None: no property was violated.</p>")
    for f in report.counterexamples:
        out += _counterexample(f)
    out.append('<h2 id="verdicts">All verdicts</h2>')
    out += _all_verdicts(report)
    out.append('<h2 id="provenance">Provenance</h2>')
    out += _provenance(report)
    out.append("</body></html>")
    return "\n".join(out) + "\n"
