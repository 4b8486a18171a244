"""``lockbreak suite``: the reports it writes, their schema, anchors, locations, staleness."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import xml.etree.ElementTree as ET
from contextlib import chdir
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from lockbreak.cli import main
from lockbreak.cli.suite import SuiteOptions, run_suite
from lockbreak.report import html, markdown, sarif
from lockbreak.report.results import RESULTS_SCHEMA, RESULTS_SCHEMA_FILE, SuiteReport, to_json
from lockbreak.report.stable import normalise
from tests.support.paths import REPO

REPORTS = REPO / "reports"
FILES = ("index.html", "report.md", "results.json", "junit.xml", "results.sarif")


@pytest.fixture(scope="module")
def schema() -> dict:
    loaded = json.loads(RESULTS_SCHEMA_FILE.read_text())
    jsonschema.Draft202012Validator.check_schema(loaded)
    assert loaded["$id"] == loaded["properties"]["schema"]["const"] == RESULTS_SCHEMA
    return loaded


def _suite(tmp: Path, *args: str, root: Path = REPO) -> tuple[int, str, Path]:
    """Run ``lockbreak suite`` from ``root`` into ``tmp/out``."""
    out = tmp / "out"
    with chdir(root):
        result = CliRunner().invoke(main, ["suite", *args, "--out", str(out)])
    return result.exit_code, result.output, out


@pytest.fixture(scope="module")
def public(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str, Path]:
    return _suite(tmp_path_factory.mktemp("public"), "scenarios")


def test_suite_writes_every_format_and_meets_every_expectation(public) -> None:
    code, output, out = public
    assert code == 0, output
    for name in FILES:
        assert (out / name).stat().st_size > 0, name
    data = json.loads((out / "results.json").read_text())
    # 49 scenarios x 11 properties, as `lockbreak check scenarios/` prints; nothing is
    # incomplete, fairness with * guards included.
    assert len(data["findings"]) == 539
    statuses = {s: sum(f["status"] == s for f in data["findings"])
                for s in ("holds", "violated", "vacuous", "incomplete")}
    assert statuses == {"holds": 347, "violated": 45, "vacuous": 147, "incomplete": 0}
    svgs = sorted(p.stem for p in (out / "timelines").glob("*.svg"))
    assert svgs == sorted(f["id"] for f in data["findings"] if f["counterexample"])
    assert len(svgs) == 45


def test_results_json_follows_its_schema(public, schema: dict) -> None:
    data = json.loads((public[2] / "results.json").read_text())
    jsonschema.validate(data, schema)
    ids = [f["id"] for f in data["findings"]]
    assert len(ids) == len(set(ids))
    broken = dict(data, findings=[dict(data["findings"][0], status="passed")])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_every_finding_has_one_anchor_and_every_link_resolves(public) -> None:
    out = public[2]
    ids = [f["id"] for f in json.loads((out / "results.json").read_text())["findings"]]
    page = (out / "index.html").read_text()
    anchors = re.findall(r'\bid="([^"]+)"', page)
    assert all(anchors.count(i) == 1 for i in ids)
    for target in set(re.findall(r'href="#([^"]+)"', page)):
        assert target in anchors, target
    md = (out / "report.md").read_text()
    md_anchors = re.findall(r'<a id="([^"]+)"></a>', md)
    assert sorted(md_anchors) == sorted(ids)
    for target in set(re.findall(r"\]\(#([^)]+)\)", md)):
        assert target in md_anchors, target
    assert "nested-v2.6.9--v2.6.9--break_return_truth" in ids


def test_sarif_locates_each_violation_at_its_statement(public) -> None:
    out = public[2]
    log = json.loads((out / "results.sarif").read_text())
    assert log["version"] == "2.1.0" and log["$schema"].endswith("sarif-2.1.0.json")
    run = log["runs"][0]
    rules = [r["id"] for r in run["tool"]["driver"]["rules"]]
    results = run["results"]
    assert len(results) == 45
    for r in results:
        assert rules[r["ruleIndex"]] == r["ruleId"]
        assert r["level"] in ("error", "warning", "note")
        loc = r["locations"][0]["physicalLocation"]
        assert loc["region"]["startLine"] >= 1
        assert run["artifacts"][loc["artifactLocation"]["index"]]["location"]["uri"] == \
            loc["artifactLocation"]["uri"]
        assert r["codeFlows"][0]["threadFlows"][0]["locations"]
    # nested-v2.6.9: the 20th step is cond_resched_lock(B) returning 0 after dropping B,
    # the statement on line 15 of the file.
    [lie] = [r for r in results
             if r["partialFingerprints"]["lockbreakFinding/v1"]
             == "nested-v2.6.9--v2.6.9--break_return_truth"]
    region = lie["locations"][0]["physicalLocation"]["region"]
    source = (REPO / "scenarios/nested-v2.6.9.toml").read_text().splitlines()
    statement = source[region["startLine"] - 1][region["startColumn"] - 1:]
    assert statement.startswith("if (cond_resched_lock(B))") or \
        statement.startswith("cond_resched_lock(B)"), statement
    assert lie["level"] == "note"       # the scenario expects this violation


def test_junit_has_one_case_per_verdict_and_failures_carry_the_trace(tmp_path: Path) -> None:
    # Expect the opposite of what nested-v2.6.9 shows: two failures with traces.
    text = (REPO / "scenarios/nested-v2.6.9.toml").read_text()
    text = re.sub(r'break_return_truth = "violated"', 'break_return_truth = "holds"', text)
    assert 'break_return_truth = "holds"' in text
    (tmp_path / "s").mkdir()
    (tmp_path / "s/nested.toml").write_text(text)
    code, output, out = _suite(tmp_path, "s", root=tmp_path)
    assert code == 1, output
    root = ET.parse(out / "junit.xml").getroot()
    cases = root.findall("testsuite/testcase")
    assert len(cases) == 11 and root.get("failures") == "1"
    [failed] = [c for c in cases if c.find("failure") is not None]
    assert failed.get("name") == "break_return_truth"
    assert "cond_resched_lock(B) returns 0 after dropping B" in failed.find("failure").text
    assert "rerun: lockbreak check s/nested.toml --property break_return_truth" in \
        failed.find("failure").text
    sarif = json.loads((out / "results.sarif").read_text())
    levels = {r["ruleId"]: r["level"] for r in sarif["runs"][0]["results"]}
    assert levels["break_return_truth"] == "error"
    md = (out / "report.md").read_text()
    assert "**✗ violated, expected holds**" in md


def test_a_version_matrix_runs_every_era_and_lists_what_cannot_run(tmp_path: Path) -> None:
    code, output, out = _suite(tmp_path, "scenarios/stale-data-reread-v2.6.12.toml",
                               "--versions", "v2.6.8,v2.6.9,v2.6.12")
    assert code == 0, output
    data = json.loads((out / "results.json").read_text())
    configs = sorted({f["config"] for f in data["findings"]})
    assert configs == ["v2.6.12", "v2.6.9"]
    [problem] = data["problems"]
    assert problem["config"] == "v2.6.8" and not problem["own_config"]
    assert "returns void in v2.6.8" in problem["message"]
    # v2.6.9's return-value bug shows up, but the scenario's expectations belong to v2.6.12.
    old = {f["property"]: f for f in data["findings"] if f["config"] == "v2.6.9"}
    assert old["break_return_truth"]["status"] == "violated"
    assert old["break_return_truth"]["expected"] is None
    assert not old["break_return_truth"]["failed"]
    own = {f["property"]: f for f in data["findings"] if f["config"] == "v2.6.12"}
    assert own["no_stale_use"]["expected"] == "holds" and own["no_stale_use"]["met"]
    assert data["provenance"]["matrix"]["versions"] == ["v2.6.8", "v2.6.9", "v2.6.12"]


def test_lock_and_preempt_matrices_name_their_columns(tmp_path: Path) -> None:
    code, output, out = _suite(tmp_path, "scenarios/nested-v2.6.12.toml",
                               "--lock", "tas,ticket", "--preempt", "none,full",
                               "--property", "mutual_exclusion")
    assert code == 0, output
    data = json.loads((out / "results.json").read_text())
    assert [f["id"] for f in data["findings"]] == [
        f"nested-v2.6.12--v2.6.12-{lock}-{p}--mutual_exclusion"
        for lock in ("tas", "ticket") for p in ("none", "full")]
    assert data["provenance"]["command"].endswith(
        "--lock tas,ticket --preempt none,full --property mutual_exclusion")


def test_undecided_properties_are_reported_incomplete(tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    shutil.copy(REPO / "scenarios/nested-v2.6.12.toml", tmp_path / "s/nested.toml")
    code, output, out = _suite(tmp_path, "s", "--max-states", "50", root=tmp_path)
    assert code == 3, output
    data = json.loads((out / "results.json").read_text())
    [timed] = [f for f in data["findings"] if f["property"] == "bounded_wait"]
    assert timed["status"] == "incomplete" and timed["worst"] is None
    assert {f["status"] for f in data["findings"]} == {"incomplete"}
    root = ET.parse(out / "junit.xml").getroot()
    assert root.find("testsuite/testcase[@name='bounded_wait']/skipped") is not None
    assert "No timing results in this run" in (out / "report.md").read_text()


def test_worst_cases_are_shown_in_matrix_and_table(public) -> None:
    """nested-v2.6.12's waiter waits at worst 33 ticks (tests/model/test_lockstep.py works it out);
    its bounded_latency is vacuous (no wakeup), which shows no worst case at all."""
    report = _report(public[2])
    md = markdown.render(report)
    assert "holds (worst 33)" in md and "| bounded_wait | 33 |" in md
    assert "vacuous (worst" not in md
    page = html.render(report)
    assert "holds (worst 33)" in page and '<td class="num">33</td>' in page


def _report(out: Path) -> SuiteReport:
    """The in-memory report of a suite run (for renderer tests)."""
    with chdir(REPO):
        return run_suite(SuiteOptions(paths=("scenarios/nested-v2.6.12.toml",), out=str(out)))


def test_bad_input_exits_2_with_the_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    (tmp_path / "s/bad.toml").write_text('name = "bad"\n[kernel]\nversion = "v9.9"\n')
    code, output, _ = _suite(tmp_path, "s", root=tmp_path)
    assert code == 2
    assert "s/bad.toml:3:" in output
    code, output, _ = _suite(tmp_path, "scenarios", "--versions", "v9.9")
    assert code == 2 and "unknown 'v9.9'" in output


def _committed() -> list[Path]:
    return sorted(p.parent for p in REPORTS.glob("*/results.json"))


def test_regenerate_script_lists_every_committed_report() -> None:
    script = (REPORTS / "regenerate.sh").read_text()
    listed = [line.removeprefix("run ") for line in script.splitlines()
              if line.startswith("run lockbreak suite")]
    recorded = [json.loads((d / "results.json").read_text())["provenance"]["command"]
                for d in _committed()]
    assert sorted(listed) == sorted(recorded)
    assert len(recorded) == 2


@pytest.mark.parametrize("folder", _committed(), ids=lambda p: p.name)
def test_committed_reports_are_up_to_date(tmp_path: Path, folder: Path) -> None:
    command = json.loads((folder / "results.json").read_text())["provenance"]["command"]
    args = shlex.split(command)[2:]
    # Regenerate in a copy of the tree, with the same relative paths as the recorded command.
    shutil.copytree(REPO / "scenarios", tmp_path / "scenarios")
    out = args.index("--out")
    with chdir(tmp_path):
        result = CliRunner().invoke(main, ["suite", *args])
    assert result.exit_code in (0, 1, 3), result.output
    fresh = tmp_path / args[out + 1]
    names = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(fresh).as_posix() for p in fresh.rglob("*")
                           if p.is_file()), "files added or removed: run reports/regenerate.sh"
    for name in names:
        old = normalise(name, (folder / name).read_text())
        new = normalise(name, (fresh / name).read_text())
        assert old == new, f"{folder.name}/{name} is stale: run bash reports/regenerate.sh"


@pytest.mark.parametrize("folder", _committed(), ids=lambda p: p.name)
def test_committed_results_follow_the_schema(folder: Path, schema: dict) -> None:
    data = json.loads((folder / "results.json").read_text())
    jsonschema.validate(data, schema)
    ids = [f["id"] for f in data["findings"]]
    assert len(ids) == len(set(ids))


def test_a_vacuous_worst_case_is_not_shown_as_unbounded(tmp_path: Path, schema: dict) -> None:
    """starvation-tas-v2.6.12's waiter is never served (bounded_wait unbounded); neither it nor
    nested-v2.6.12 ever wakes a CPU (bounded_latency vacuous): results.json, the Markdown and
    the HTML timing tables must tell the two apart."""
    with chdir(REPO):
        report = run_suite(SuiteOptions(
            paths=("scenarios/starvation-tas-v2.6.12.toml", "scenarios/nested-v2.6.12.toml"),
            out=str(tmp_path), properties=("bounded_wait", "bounded_latency")))
    data = json.loads(json.dumps(to_json(report)))
    jsonschema.validate(data, schema)
    cases = {(f["scenario"], f["property"]): (f["worst"], f["worst_case"])
             for f in data["findings"]}
    assert cases == {
        ("starvation-tas-v2.6.12", "bounded_wait"): (None, "unbounded"),
        ("starvation-tas-v2.6.12", "bounded_latency"): (None, "vacuous"),
        ("nested-v2.6.12", "bounded_wait"): (33, "bounded"),
        ("nested-v2.6.12", "bounded_latency"): (None, "vacuous")}
    md = markdown.render(report)
    assert "| bounded_wait | unbounded |" in md
    assert md.count("| bounded_latency | vacuous (never waited) |") == 2
    rows = re.findall(r"<tr><td><a [^>]+>[^<]+</a></td><td>[^<]+</td><td>(\w+)</td>"
                      r'<td class="num">([^<]+)</td><td>(.*?)</td></tr>', html.render(report))
    assert [(p, w, "#c62828" in bar, bar == "") for p, w, bar in rows] == [
        ("bounded_wait", "unbounded", True, False),
        ("bounded_latency", "vacuous (never waited)", False, True),
        ("bounded_wait", "33", False, False),
        ("bounded_latency", "vacuous (never waited)", False, True)]


def _contents(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_failure_part_way_leaves_the_previous_report_whole(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, output, out = _suite(tmp_path, "scenarios/nested-v2.6.9.toml")
    assert code == 0, output
    before = _contents(out)
    assert any(name.startswith("timelines/") for name in before)

    def disk_full(report: SuiteReport) -> dict:
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(sarif, "render", disk_full)
    code, output, _ = _suite(tmp_path, "scenarios/nested-v2.6.12.toml")
    assert code == 2 and "No space left on device" in output
    assert _contents(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]      # no temporary folder left
    monkeypatch.undo()
    code, output, _ = _suite(tmp_path, "scenarios/nested-v2.6.12.toml")
    assert code == 0, output
    after = _contents(out)
    assert set(after) == {*FILES, *(n for n in after if n.startswith("timelines/"))}
    assert not set(after) & {n for n in before if n.startswith("timelines/")}
    assert "nested-v2.6.12" in after["results.json"].decode()


def test_a_folder_holding_other_files_is_not_replaced(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine\n")
    code, output, _ = _suite(tmp_path, "scenarios/nested-v2.6.12.toml")
    assert code == 2 and "notes.txt" in output and "choose a new or empty one" in output
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_a_crash_in_one_scenario_is_a_problem_and_the_report_is_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, schema: dict) -> None:
    import lockbreak.pipeline.check as checking

    real = checking.build_world

    def build_world(scenario):
        if scenario.kernel.version == "v2.6.12":
            raise KeyError("injected")      # as a bug in lockbreak would
        return real(scenario)
    monkeypatch.setattr(checking, "build_world", build_world)
    code, output, out = _suite(tmp_path, "scenarios/nested-v2.6.9.toml",
                               "scenarios/nested-v2.6.12.toml")
    assert code == 4, output
    data = json.loads((out / "results.json").read_text())
    jsonschema.validate(data, schema)
    assert {f["scenario"] for f in data["findings"]} == {"nested-v2.6.9"}
    [problem] = data["problems"]
    assert problem["internal"] is True and problem["file"].endswith("nested-v2.6.12.toml")
    assert "internal error: KeyError" in problem["message"]
    assert "internal error: KeyError" in (out / "index.html").read_text()
