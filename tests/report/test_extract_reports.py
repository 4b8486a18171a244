"""Counterexamples of an extracted scenario point at the kernel lines: the text trace, the
JSON trace, results.json and SARIF name ``FILE:LINE`` of the kernel statement beside the
scenario line (tests/golden/extract/walk-unpinned.toml: a stale use after an open-coded
break of fs/inodewalk.c)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
from click.testing import CliRunner

from lockbreak.cli import main
from lockbreak.report.results import RESULTS_SCHEMA_FILE
from lockbreak.report.traces import TRACE_SCHEMA_FILE
from tests.support.paths import TESTS

GOLDEN = TESTS / "golden" / "extract"


def test_text_and_json_traces_name_kernel_lines(tmp_path: Path) -> None:
    scenario = GOLDEN / "walk-unpinned.toml"
    result = CliRunner().invoke(main, ["check", str(scenario), "-p", "no_stale_use",
                                       "--trace-dir", str(tmp_path)])
    assert result.exit_code == 1
    last = [line for line in result.stdout.splitlines() if "use(inode)" in line][-1]
    assert last.endswith("relies on a stale snapshot  [fs/inodewalk.c:53]")
    assert "cpu1: write(inode)" in result.stdout
    assert "cpu1: write(inode) -> cpu0's snapshot is now stale  [" not in result.stdout
    (trace,) = tmp_path.glob("*.json")
    data = json.loads(trace.read_text())
    jsonschema.validate(data, json.loads(TRACE_SCHEMA_FILE.read_text()))
    assert data["steps"][-1]["kernel"] == "fs/inodewalk.c:53"
    assert all("kernel" not in s for s in data["steps"] if s["cpu"] == 1)


def test_results_and_sarif_name_kernel_lines(tmp_path: Path) -> None:
    shutil.copy(GOLDEN / "walk-unpinned.toml", tmp_path / "walk-unpinned.toml")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["suite", str(tmp_path / "walk-unpinned.toml"),
                                       "--out", str(out)])
    assert result.exit_code == 1, result.output
    results = json.loads((out / "results.json").read_text())
    jsonschema.validate(results, json.loads(RESULTS_SCHEMA_FILE.read_text()))
    (stale,) = [f for f in results["findings"] if f["property"] == "no_stale_use"]
    assert stale["counterexample"]["kernel"] == "fs/inodewalk.c:53"
    assert stale["counterexample"]["steps"][-1]["kernel"] == "fs/inodewalk.c:53"
    sarif = json.loads((out / "results.sarif").read_text())
    (found,) = [r for r in sarif["runs"][0]["results"] if r["ruleId"] == "no_stale_use"]
    (kernel,) = found["relatedLocations"]
    assert kernel["physicalLocation"]["artifactLocation"]["uri"] == "fs/inodewalk.c"
    assert kernel["physicalLocation"]["region"]["startLine"] == 53
    steps = found["codeFlows"][0]["threadFlows"][0]["locations"]
    assert steps[-1]["location"]["message"]["text"].endswith("[fs/inodewalk.c:53]")
    html = (out / "index.html").read_text()
    assert "<code>[fs/inodewalk.c:53]</code>" in html
