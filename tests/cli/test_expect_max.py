"""A worst case longer than the scenario's ``[expect] ... = { max = N }`` is a violation.

restart-v2.6.25-ticket's waiter waits at worst 7 ticks (over every arrival); with ``max = 3``
every output (``check`` text and JSON, the trace file and its replay, the suite's reports) must say
*violated*, show the worst-case trace as the counterexample, and exit 1.
"""

from __future__ import annotations

import json
from contextlib import chdir
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from lockbreak.cli import main
from tests.support.paths import REPO

RESTART = REPO / "scenarios" / "restart-v2.6.25-ticket.toml"


def _tight(tmp_path: Path, bound: int) -> Path:
    """restart-v2.6.25-ticket expecting ``bounded_wait`` of at most ``bound`` ticks."""
    text = RESTART.read_text()
    assert "bounded_wait = { max = 7 }" in text
    path = tmp_path / "s" / "tight.toml"
    path.parent.mkdir()
    path.write_text(text.replace("bounded_wait = { max = 7 }",
                                 f"bounded_wait = {{ max = {bound} }}"))
    return path


def _check(tmp_path: Path, path: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["check", "--trace-dir", str(tmp_path / "traces"),
                                     "--property", "bounded_wait", *args, str(path)])


def test_a_worst_case_beyond_max_is_violated_in_the_text_output(tmp_path: Path) -> None:
    result = _check(tmp_path, _tight(tmp_path, 3))
    assert result.exit_code == 1, result.output
    [line] = [x for x in result.output.splitlines() if x.startswith("  bounded_wait ...")]
    assert " violated " in line and "worst 7 ticks" in line
    assert line.endswith("expected max 3: NOT MET")
    assert "bounded_wait violated in 21 steps: worst case 7 ticks, on cpu1: more than the " \
           "expected max of 3" in result.output
    assert "=> worst case 7 ticks, on cpu1: more than the expected max of 3" in result.output
    assert "  replay: lockbreak replay " in result.output


def test_a_worst_case_within_max_still_holds(tmp_path: Path) -> None:
    result = _check(tmp_path, _tight(tmp_path, 7))
    assert result.exit_code == 0, result.output
    assert "holds      worst 7 ticks" in result.output
    assert "expected max 7: ok" in result.output


def test_json_carries_the_max_expectation_and_the_violation(tmp_path: Path) -> None:
    result = _check(tmp_path, _tight(tmp_path, 3), "--json")
    data = json.loads(result.stdout)
    [record] = data["results"]
    assert (record["status"], record["worst"], record["worst_case"], record["expected"],
            record["max"], record["met"]) == ("violated", 7, "bounded", "max 3", 3, False)
    assert data["exit"] == 1 and result.exit_code == 1
    trace = json.loads(Path(record["trace_file"]).read_text())
    assert (trace["status"], trace["worst"], len(trace["steps"])) == ("violated", 7, 21)


def test_replay_reproduces_the_worst_case_beyond_max(tmp_path: Path) -> None:
    result = _check(tmp_path, _tight(tmp_path, 3), "--json")
    [record] = json.loads(result.stdout)["results"]
    replayed = CliRunner().invoke(main, ["replay", record["trace_file"]])
    assert replayed.exit_code == 0, replayed.output
    assert ("replayed: bounded_wait violated again: the worst case of 7 ticks, more than "
            "max = 3, is attained again, ending at step 21") in replayed.output


def test_the_suite_reports_a_worst_case_beyond_max_as_a_counterexample(
        tmp_path: Path) -> None:
    _tight(tmp_path, 3)
    out = tmp_path / "out"
    with chdir(tmp_path):
        result = CliRunner().invoke(main, ["suite", "s", "--property", "bounded_wait",
                                           "--out", str(out)])
    assert result.exit_code == 1, result.output
    data = json.loads((out / "results.json").read_text())
    [finding] = data["findings"]
    assert (finding["status"], finding["worst"], finding["expected"], finding["met"],
            finding["failed"]) == ("violated", 7, "max 3", False, True)
    cex = finding["counterexample"]
    assert len(cex["steps"]) == 21 and cex["why"].endswith("more than the expected max of 3")
    assert "violated (worst 7), expected max 3" in (out / "report.md").read_text()


def test_another_configuration_of_the_suite_is_not_held_to_the_max(tmp_path: Path) -> None:
    """Only the scenario's own configuration answers to its [expect] table."""
    _tight(tmp_path, 3)
    out = tmp_path / "out"
    with chdir(tmp_path):
        result = CliRunner().invoke(main, ["suite", "s", "--property", "bounded_wait",
                                           "--lock", "ticket,tas", "--out", str(out)])
    findings = {f["lock"]: f for f in json.loads((out / "results.json").read_text())[
        "findings"]}
    assert findings["ticket"]["status"] == "violated", result.output
    tas = findings["tas"]
    assert (tas["status"], tas["worst"], tas["expected"], tas["failed"]) == (
        "holds", 12, None, False)


@pytest.mark.slow
def test_a_z3_wait_longer_than_max_says_how_long_not_unbounded(tmp_path: Path) -> None:
    """z3's shortest trace ends while cpu0 still waits, past max: the explanation is that
    wait, never "waits for its lock without bound"."""
    scenario = REPO / "scenarios" / "stale-data-reread-v2.6.9-lockstep.toml"
    path = tmp_path / "z.toml"
    path.write_text(scenario.read_text().replace("bounded_wait = { max = 6 }",
                                                 "bounded_wait = { max = 5 }"))
    result = _check(tmp_path, path, "--engine", "z3")
    assert result.exit_code == 1, result.output
    assert "  => z3: cpu0 waits 6 ticks, more than max = 5" in result.output
    assert "without bound" not in result.output
