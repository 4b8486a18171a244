"""SARIF 2.1.0: each violation a result located at the scenario statement that broke it.

The location is the scenario file line of the statement whose step broke the property (the
instruction's source position); the whole counterexample is a code flow, one location per
step, so a code-scanning view can walk it. A scenario written by `lockbreak extract` also
names the kernel line: each flow step's message ends in ``[FILE:LINE]`` and the result's
related location is the kernel statement of the violating step. Failures are ``error``; a
violation the scenario expects (it demonstrates a known bug) is a ``note``.
"""

from __future__ import annotations

from typing import Any

from lockbreak.core import LockbreakError
from lockbreak.report.results import Finding, SuiteReport
from properties.catalogue import by_name

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
FINGERPRINT = "lockbreakFinding/v1"


def _rule(name: str) -> dict[str, Any]:
    try:
        prop = by_name(name)
    except LockbreakError:
        return {"id": name, "name": name,
                "shortDescription": {"text": f"{name} (not decided by this checker yet)"}}
    return {"id": name, "name": name, "shortDescription": {"text": prop.holds_when},
            "fullDescription": {"text": f"{prop.holds_when}; witnessed by {prop.witness}"},
            "properties": {"kind": prop.kind.value}}


def _location(uri: str, index: int, line: int, col: int) -> dict[str, Any]:
    return {"physicalLocation": {
        "artifactLocation": {"uri": uri, "uriBaseId": "%SRCROOT%", "index": index},
        "region": {"startLine": max(line, 1), "startColumn": max(col, 1)}}}


def _result(f: Finding, rule_index: int, artifact: int) -> dict[str, Any]:
    cex = f.counterexample
    assert cex is not None
    at = cex.steps[cex.violating_step - 1] if cex.violating_step >= 1 else None
    step = f"; step {at.number}: {at.actor}: {at.text}" if at else ""
    flow = [{"location": {**_location(f.file, artifact, s.line, s.col),
                          "message": {"text": f"{s.number}. {s.actor}: {s.text}"
                                              + (f" [{s.kernel}]" if s.kernel else "")}},
             "executionOrder": s.number} for s in cex.steps]
    result = {
        "ruleId": f.property, "ruleIndex": rule_index,
        "level": "error" if f.failed else "note",
        "message": {"text": f"{f.property} violated in {f.scenario} ({f.config}) in "
                            f"{len(cex.steps)} steps: {cex.why.removeprefix('=> ')}{step}"},
        "locations": [_location(f.file, artifact, cex.line, cex.col)],
        "partialFingerprints": {FINGERPRINT: f.id},
        "codeFlows": [{"threadFlows": [{"locations": flow}]}],
        "properties": {"finding": f.id, "config": f.config, "expected": f.expected,
                       "rerun": f.rerun},
    }
    if cex.kernel:
        result["relatedLocations"] = [_kernel_location(cex.kernel)]
    return result


def _kernel_location(where: str) -> dict[str, Any]:
    """The kernel source line an extracted scenario's violating step came from."""
    path, line = where.rsplit(":", 1)
    return {"id": 1, "message": {"text": "the kernel statement of the violating step"},
            "physicalLocation": {"artifactLocation": {"uri": path, "uriBaseId": "KERNEL"},
                                 "region": {"startLine": int(line)}}}


def render(report: SuiteReport) -> dict[str, Any]:
    """The SARIF log as a JSON-ready dict."""
    rules = list(dict.fromkeys(f.property for f in report.findings))
    files = [s.file for s in report.provenance.scenarios]
    artifacts = [{"location": {"uri": s.file, "uriBaseId": "%SRCROOT%"},
                  "hashes": {"sha-256": s.sha256}} for s in report.provenance.scenarios]
    results = [_result(f, rules.index(f.property), files.index(f.file))
               for f in report.findings if f.status == "violated" and f.counterexample]
    return {
        "$schema": SARIF_SCHEMA_URI,
        "version": SARIF_VERSION,
        "runs": [{
            "tool": {"driver": {"name": "lockbreak",
                                "version": report.provenance.lockbreak_version,
                                "rules": [_rule(name) for name in rules]}},
            "automationDetails": {"id": f"lockbreak/{report.report_id}"},
            "invocations": [{"commandLine": report.provenance.command,
                             "executionSuccessful": report.exit_code in (0, 1, 3),
                             "exitCode": report.exit_code}],
            "artifacts": artifacts,
            "results": results,
        }],
    }
