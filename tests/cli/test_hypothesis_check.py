"""``lockbreak check --engine hypothesis`` and the pytest entry point `lockbreak.testing`.

Every run writes its traces and its example database under ``tmp_path``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner, Result

from lockbreak.cli import main
from lockbreak.cli.replay import replay_file
from lockbreak.core import LockbreakError, Status
from lockbreak.report.traces import TRACE_SCHEMA_FILE
from lockbreak.testing import assert_holds, assert_violated, check_property
from tests.cli.test_cli import EXPECT, assert_exit, nested
from tests.support.paths import REPO

NESTED_9 = REPO / "scenarios" / "nested-v2.6.9.toml"
NESTED_12 = REPO / "scenarios" / "nested-v2.6.12.toml"
OUTER = REPO / "scenarios" / "nested-outer-v2.6.12.toml"


def random_check(tmp_path: Path, *args: object) -> Result:
    return CliRunner().invoke(main, [str(a) for a in (
        "check", "--engine", "hypothesis", "--trace-dir", tmp_path / "traces",
        "--db", tmp_path / "db", "--seed", 0, "--budget", 100, *args)])


def records(result: Result) -> dict[str, dict[str, Any]]:
    return {r["property"]: r for r in json.loads(result.stdout)["results"]}


def test_violations_found_and_the_rest_undecided_exit_1_when_an_expectation_fails(
        tmp_path: Path) -> None:
    result = random_check(tmp_path, "--json", nested(tmp_path))
    assert_exit(result, 3)      # the violations were expected; "holds" cannot be shown
    found = records(result)
    assert found["break_return_truth"]["status"] == "violated"
    assert found["no_spurious_break"]["status"] == "violated"
    assert found["mutual_exclusion"]["status"] == "incomplete"
    assert found["mutual_exclusion"]["met"] is False
    wrong = nested(tmp_path, EXPECT.replace('break_return_truth = "violated"',
                                            'break_return_truth = "holds"'))
    assert_exit(random_check(tmp_path, wrong), 1)


def test_json_has_the_coverage_of_the_runs(tmp_path: Path) -> None:
    result = random_check(tmp_path, "--json", "-p", "mutual_exclusion", NESTED_12)
    assert_exit(result, 3)
    record = records(result)["mutual_exclusion"]
    assert record["engine"] == "hypothesis" and record["witness_reached"] is True
    coverage = record["coverage"]
    assert coverage["seed"] == 0 and coverage["runs"] >= 100
    assert coverage["budget_spent"] == "100 runs"
    reached, total = coverage["program_points"]["cpu0"]
    assert 0 < reached <= total
    assert {p["cpu"] for p in coverage["break_paths"]} == {"cpu0"}
    assert any(p["reached"] for p in coverage["break_paths"])
    assert coverage["witnesses"] == {"mutual_exclusion": True}


def test_text_output_says_what_the_runs_covered(tmp_path: Path) -> None:
    result = random_check(tmp_path, NESTED_12)
    assert_exit(result, 3)
    assert "coverage: seed 0, " in result.output
    assert "program points reached: cpu0 " in result.output
    assert "lock-break paths reached: " in result.output
    assert "witnesses: mutual_exclusion reached" in result.output
    assert "random runs cannot show that it holds" in result.output


def test_traces_it_writes_are_valid_and_replay(tmp_path: Path) -> None:
    result = random_check(tmp_path, "--json", NESTED_9, OUTER)
    files = [r["trace_file"] for r in json.loads(result.stdout)["results"] if r["trace_file"]]
    assert len(files) == 3      # two in the nested scenario, the deadlock in the outer one
    schema = json.loads(TRACE_SCHEMA_FILE.read_text())
    for file in files:
        jsonschema.validate(json.loads(Path(file).read_text()), schema)
        report, reproduced = replay_file(Path(file))
        assert reproduced, report


def test_the_same_seed_gives_the_same_answer(tmp_path: Path) -> None:
    first, second = (records(random_check(tmp_path, "--json", "--no-db", NESTED_9))
                     for _ in range(2))
    for name, record in first.items():
        assert record["status"] == second[name]["status"]
        assert record["trace"] == second[name]["trace"]
        assert record["coverage"]["steps"] == second[name]["coverage"]["steps"]


def test_a_failure_in_the_example_database_is_retried_first(tmp_path: Path) -> None:
    assert_exit(random_check(tmp_path, "-p", "break_return_truth", NESTED_9), 0)
    assert any((tmp_path / "db").iterdir())
    again = random_check(tmp_path, "--json", "-p", "break_return_truth", "--budget", 1,
                         "--seed", 99, NESTED_9)
    assert records(again)["break_return_truth"]["status"] == "violated"
    assert records(again)["break_return_truth"]["coverage"]["runs"] <= 2
    fresh = random_check(tmp_path, "--json", "-p", "break_return_truth", "--budget", 1,
                         "--seed", 99, "--no-db", NESTED_9)
    assert records(fresh)["break_return_truth"]["status"] == "incomplete"


@pytest.mark.parametrize(("args", "message"), [
    (["--engine", "hypothesis", "--max-states", "10"], "--max-states applies to the explicit"),
    (["--engine", "hypothesis", "--budget", "soon"], "--budget soon: give a number"),
    (["--engine", "hypothesis", "--budget", "0"], "--budget 0: give a number"),
    (["--engine", "hypothesis", "--budget", "2.5"], "a number of runs is a whole number"),
    (["--seed", "3"], "--seed applies to --engine hypothesis only"),
    (["--budget", "10"], "--budget applies to --engine hypothesis only"),
])
def test_options_of_the_wrong_engine_are_bad_input(tmp_path: Path, args: list[str],
                                                   message: str) -> None:
    result = CliRunner().invoke(main, ["check", "--trace-dir", str(tmp_path), *args,
                                       str(NESTED_9)])
    assert_exit(result, 2)
    assert message in result.output


# ------------------------------------------------------------------ lockbreak.testing

def test_assert_holds_passes_on_a_property_that_holds() -> None:
    result = assert_holds(NESTED_12, "mutual_exclusion")
    assert result.status is Status.HOLDS
    assert assert_holds(NESTED_12, "mutual_exclusion", engine="hypothesis",
                        budget="50").status is Status.INCOMPLETE


def test_assert_holds_fails_with_the_counterexample_in_kernel_words() -> None:
    for engine in ("explicit", "hypothesis"):
        with pytest.raises(AssertionError) as failure:
            assert_holds(NESTED_9, "break_return_truth", engine=engine)
        text = str(failure.value)
        assert "expected break_return_truth to hold" in text
        assert "break_return_truth violated in 20 steps" in text
        assert "cond_resched_lock(B) returns 0 after dropping B" in text


def test_assert_holds_fails_when_the_witness_was_never_reached() -> None:
    for engine in ("explicit", "hypothesis"):
        with pytest.raises(AssertionError, match="expected no_sleep_in_atomic to hold"):
            assert_holds(NESTED_12, "no_sleep_in_atomic", engine=engine, budget="50")


def test_assert_violated_returns_the_counterexample() -> None:
    result = assert_violated(NESTED_9, "no_spurious_break", engine="hypothesis", max_steps=24)
    assert result.trace is not None and len(result.trace) == 24
    with pytest.raises(AssertionError, match="expected a counterexample of at most 10 steps"):
        assert_violated(NESTED_9, "no_spurious_break", max_steps=10)
    with pytest.raises(AssertionError, match="expected mutual_exclusion to be violated"):
        assert_violated(NESTED_12, "mutual_exclusion")


def test_overrides_and_a_bad_engine() -> None:
    run = check_property(NESTED_12, "break_return_truth", version="v2.6.9")
    assert run.verdicts[0].result.status is Status.VIOLATED
    with pytest.raises(LockbreakError, match="engine 'z3'"):
        check_property(NESTED_12, "mutual_exclusion", engine="z3")


def test_a_runtime_mistake_is_exit_2_at_the_statement(tmp_path: Path) -> None:
    """A mistake found while running (here the second CPU's unpaired preempt_enable, which
    only some schedules reach) is bad input for the random search too, not a violation."""
    scenario = tmp_path / "s.toml"
    scenario.write_text('name = "s"\n[kernel]\nversion = "v5.17"\n[locks]\nA = "spin"\n'
                        '[[cpu]]\ncode = "spin_lock(A); work(); spin_unlock(A);"\n'
                        '[[cpu]]\ncode = """\nwork();\npreempt_enable();\n"""\n')
    result = random_check(tmp_path, scenario)
    assert result.exit_code == 2
    assert result.stderr.startswith(
        f"error: {scenario}:11:1: cpu1 reaches preempt_enable() with preempt_count 0")
    assert "Traceback" not in result.output + result.stderr


def test_timeout_is_a_seconds_budget_for_the_random_search(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, [
        "check", "--engine", "hypothesis", "--trace-dir", str(tmp_path), "--no-db", "--json",
        "--timeout", "0.5", "-p", "mutual_exclusion", str(NESTED_12)])
    assert_exit(result, 3)
    assert records(result)["mutual_exclusion"]["coverage"]["budget_spent"] == "0.5 s"
