"""``lockbreak check --engine z3``: verdicts, exit codes, traces that ``lockbreak replay``
accepts, and properties the engine does not decide reported as incomplete."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from lockbreak.cli import main
from tests.support.paths import REPO

WAKEUP = REPO / "scenarios" / "nested-wakeup-v2.6.20.toml"


@pytest.mark.slow
def test_z3_finds_the_shortest_violation_and_writes_a_replayable_trace(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["check", "--engine", "z3", "--depth", "13", "--json",
                                  "--property", "no_sleep_in_atomic", "--trace-dir",
                                  str(tmp_path), str(WAKEUP)])
    assert result.exit_code == 0, result.output     # the scenario expects the violation
    [record] = json.loads(result.output)["results"]
    assert record["status"] == "violated" and record["met"] and len(record["trace"]) == 13
    replay = runner.invoke(main, ["replay", record["trace_file"]])
    assert replay.exit_code == 0, replay.output
    assert "no_sleep_in_atomic violated again at step 13" in replay.output


@pytest.mark.slow
def test_z3_reports_what_it_cannot_decide_as_incomplete(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["check", "--engine", "z3", "--depth", "2",
                                       "--trace-dir", str(tmp_path), str(WAKEUP)])
    assert result.exit_code == 3, result.output
    assert "deadlock_free ......... incomplete" in result.output
    assert "not decidable by the z3 engine" in result.output
    assert "no violation within 2 steps" in result.output
    assert ". holds " not in result.output      # no verdict line says holds
