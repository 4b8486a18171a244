"""Mistakes found only by running a scenario are bad input too: file:line:col, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from lockbreak.cli import main
from tests.support.paths import REPO

HEADER = 'name = "s"\n[kernel]\nversion = "v5.17"\n[locks]\nA = "spin"\n[[cpu]]\ncode = """\n'


@pytest.mark.parametrize(("code", "message"), [
    ("forever { }\n", "s.toml:8:1: cpu0 loops here without ever taking a step"),
    ("work();\npreempt_enable();\n",
     "s.toml:9:1: cpu0 reaches preempt_enable() with preempt_count 0"),
], ids=["loop-without-a-step", "unbalanced-preempt-enable"])
def test_runtime_mistakes_are_exit_2_at_the_statement(tmp_path: Path, code: str,
                                                      message: str) -> None:
    (tmp_path / "s.toml").write_text(HEADER + code + '"""\n')
    result = CliRunner().invoke(main, ["check", "--trace-dir", str(tmp_path),
                                       str(tmp_path / "s.toml")])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {tmp_path / message}")
    assert "Traceback" not in result.output + result.stderr


def test_an_unwritable_trace_folder_is_bad_input(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    scenario = REPO / "scenarios" / "nested-v2.6.9.toml"
    result = CliRunner().invoke(main, ["check", "--trace-dir", str(blocker / "traces"),
                                       str(scenario)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: cannot write the trace {blocker / 'traces'}")
    assert "choose another folder with --trace-dir" in result.stderr
