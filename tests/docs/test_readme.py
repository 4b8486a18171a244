"""The README's counterexample is real output: every line it shows, the checker prints."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from lockbreak.cli import main
from tests.support.paths import REPO


def test_the_readme_counterexample_is_what_the_checker_prints(tmp_path: Path,
                                                              monkeypatch) -> None:
    readme = (REPO / "README.md").read_text()
    block = re.search(r"```text\n\$ lockbreak (check [^\n]+)\n(.*?)```", readme, re.S)
    assert block, "the README lost its counterexample"
    args, shown = block.group(1).split(), block.group(2)
    monkeypatch.chdir(REPO)
    result = CliRunner().invoke(main, [*args, "--trace-dir", str(tmp_path)])
    printed = result.stdout.replace(str(tmp_path), "lockbreak-traces")
    printed = re.sub(r"\d+\.\d\d s", "N s", printed)
    for line in shown.splitlines():
        if line.strip() != "...":
            assert re.sub(r"\d+\.\d\d s", "N s", line) in printed.splitlines(), line


def test_the_readme_scenario_is_the_file_it_names() -> None:
    """The scenario shown above the counterexample is a contiguous part of its file, so the
    code the reader sees is the code the counterexample runs."""
    readme = (REPO / "README.md").read_text()
    block = re.search(r"```toml\n(.*?)```", readme, re.S)
    assert block, "the README lost its scenario"
    shown = block.group(1).splitlines()
    named = re.search(r"`(scenarios/[\w.-]+\.toml)` is", readme)
    assert named, "the README no longer names the scenario's file"
    lines = (REPO / named.group(1)).read_text().splitlines()
    assert shown[0] in lines, f"{named.group(1)} has no line {shown[0]!r}"
    start = lines.index(shown[0])
    assert lines[start:start + len(shown)] == shown
