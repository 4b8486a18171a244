"""JUnit XML: each scenario run a test suite, each property a test case.

A verdict that fails the run (an expectation not met, or, without one, a violation or a vacuous
pass) is a ``<failure>`` carrying the counterexample; an undecided one is ``<skipped>``; a
scenario that could not be checked is an ``<error>``. An expected violation passes and keeps
its trace in ``<system-out>``, so CI shows it without failing.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from lockbreak.report.escape import xml_text
from lockbreak.report.results import Finding, SuiteReport, rows_of, trace_text


def _case(parent: ET.Element, f: Finding) -> None:
    case = ET.SubElement(parent, "testcase", {
        "classname": f"lockbreak.{f.scenario}.{f.config}", "name": f.property,
        "file": f.file, "time": f"{f.seconds:.3f}"})
    if f.counterexample is not None:
        case.set("line", str(f.counterexample.line))
    trace = trace_text(f) if f.counterexample is not None else ""
    if f.failed:
        expected = f"expected {f.expected}" if f.expected else "expected holds"
        failure = ET.SubElement(case, "failure", {
            "type": f.status, "message": f"{f.property} {f.status} ({expected}) {f.detail}"
            .strip()})
        failure.text = "\n".join(t for t in (trace, f"rerun: {f.rerun}") if t)
    elif f.status == "incomplete" and (f.expected is not None or f.met is None):
        ET.SubElement(case, "skipped", {"message": f"incomplete: {f.detail}"})
    if trace and not f.failed:
        ET.SubElement(case, "system-out").text = f"{trace}\nrerun: {f.rerun}"


def render(report: SuiteReport) -> str:
    """The JUnit XML document."""
    root = ET.Element("testsuites", {"name": f"lockbreak {report.report_id}"})
    total = failures = skipped = errors = 0
    for (file, config), cells in rows_of(report).items():
        first = next(iter(cells.values()))
        suite = ET.SubElement(root, "testsuite", {
            "name": f"{first.scenario} [{config}]", "file": file,
            "time": f"{first.seconds:.3f}"})
        props = ET.SubElement(suite, "properties")
        for name, value in (("report_id", report.report_id), ("file", file),
                            ("era", first.era), ("lock", first.lock),
                            ("preempt", first.preempt), ("states", str(first.states)),
                            ("git_commit", report.provenance.git_commit or "unknown")):
            ET.SubElement(props, "property", {"name": name, "value": value})
        for f in cells.values():
            _case(suite, f)
        n_fail = sum(f.failed for f in cells.values())
        n_skip = len(suite.findall("testcase/skipped"))
        suite.set("tests", str(len(cells)))
        suite.set("failures", str(n_fail))
        suite.set("skipped", str(n_skip))
        suite.set("errors", "0")
        total, failures, skipped = total + len(cells), failures + n_fail, skipped + n_skip
    if report.problems:
        suite = ET.SubElement(root, "testsuite", {"name": "not checked", "time": "0.000",
                                                  "tests": str(len(report.problems)),
                                                  "failures": "0", "skipped": "0",
                                                  "errors": str(len(report.problems))})
        for p in report.problems:
            case = ET.SubElement(suite, "testcase", {"classname": "lockbreak.load",
                                                     "name": f"{p.file} [{p.config}]",
                                                     "file": p.file, "time": "0.000"})
            if p.own_config:
                ET.SubElement(case, "error", {"message": p.message})
                errors += 1
            else:
                ET.SubElement(case, "skipped", {"message": p.message})
        total += len(report.problems)
    root.set("tests", str(total))
    root.set("failures", str(failures))
    root.set("errors", str(errors))
    root.set("skipped", str(skipped))
    for element in root.iter():     # names, paths and messages come from scenario files
        element.attrib.update({k: xml_text(v) for k, v in element.attrib.items()})
        if element.text:
            element.text = xml_text(element.text)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
