"""The README's random-search example is real output: every line it shows, the checker prints
(seconds aside: they vary from run to run)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from lockbreak.cli import main
from tests.support.paths import REPO


@pytest.mark.slow
def test_the_readme_random_search_example_is_what_the_checker_prints(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (REPO / "README.md").read_text()
    block = re.search(r"```text\n\$ lockbreak (check [^\n]+--engine hypothesis[^\n]*)\n(.*?)```",
                      readme, re.S)
    assert block, "the README lost its random-search example"
    args, shown = block.group(1).split(), block.group(2)
    monkeypatch.chdir(REPO)
    result = CliRunner().invoke(main, [*args, "--trace-dir", str(tmp_path), "--no-db"])
    printed = [_stable(line) for line in
               result.stdout.replace(str(tmp_path), "lockbreak-traces").splitlines()]
    for line in shown.splitlines():
        if line.strip() != "...":
            assert _stable(line) in printed, line


_COUNTS = re.compile(r"states|program points reached")


def _stable(line: str) -> str:
    """``line`` without what varies between machines: seconds, and the counts of distinct
    states and program points (they depend on how far the shrinker got in its time limit)."""
    line = re.sub(r"\d+\.\d\d s", "N s", line)
    if _COUNTS.search(line):
        line = re.sub(r"cpu\d+", "cpuN", re.sub(r"\d[\d,]*", "N", line))
    return line
