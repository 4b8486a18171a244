"""The ``lockbreak`` command: exit codes, errors at the input, overrides, JSON, list, replay.

Most tests run the click group in-process with `CliRunner`; `test_console_script_*` run the
installed ``lockbreak`` script in a subprocess. Every ``check`` writes its traces under
``tmp_path``, never into the working tree.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from lockbreak.cli import main
from tests.support.paths import REPO, TESTS

DATA = TESTS / "data"
NESTED = REPO / "scenarios" / "nested-v2.6.9.toml"
STATUSES = {"holds", "violated", "vacuous", "incomplete"}

# docs/semantics.md sections 3, 4, 5 and 8: what `lockbreak list` must show, one line each.
ERAS = ["v2.6.8", "v2.6.8-mm", "v2.6.9", "v2.6.11", "v2.6.12", "v2.6.20", "v2.6.25",
        "v4.15-rc", "v4.15", "v5.17", "v6.11", "v6.13"]
LOCK_ALGORITHMS = ["tas", "ticket", "qspinlock", "rwlock", "mutex", "rwsem"]
PREEMPT_MODELS = ["none", "voluntary", "full", "lazy", "rt"]
PROPERTIES = ["mutual_exclusion", "deadlock_free", "starvation_free", "livelock_free",
              "no_sleep_in_atomic", "might_sleep_clean", "break_return_truth", "no_stale_use",
              "no_spurious_break", "bounded_wait", "bounded_latency"]
CHECKED = ["mutual_exclusion", "deadlock_free", "no_sleep_in_atomic", "might_sleep_clean",
           "break_return_truth", "no_stale_use", "no_spurious_break", "starvation_free",
           "livelock_free", "bounded_wait", "bounded_latency"]


def invoke(*args: object) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def check(tmp_path: Path, *args: object) -> Result:
    """``lockbreak check --trace-dir TMP/traces ARGS``."""
    return invoke("check", "--trace-dir", tmp_path / "traces", *args)


def check_json(tmp_path: Path, *args: object) -> tuple[Result, dict[str, Any]]:
    result = check(tmp_path, "--json", *args)
    return result, json.loads(result.stdout)


def by_property(data: dict[str, Any]) -> dict[str, str]:
    return {r["property"]: r["status"] for r in data["results"]}


def assert_exit(result: Result, code: int) -> None:
    """Exited with ``code`` through sys.exit, without a traceback."""
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# What these tests expect of the nested scenario; its own [expect] table may grow.
EXPECT = """mutual_exclusion = "holds"
deadlock_free = "holds"
break_return_truth = "violated"
no_spurious_break = "violated"
"""


def nested_text(expect: str | None = EXPECT) -> str:
    """The nested scenario's text with ``expect`` as its [expect] table (None: no table)."""
    text = NESTED.read_text()
    head = text[:text.index("[expect]")]
    return head if expect is None else head + "[expect]\n" + expect


def nested(tmp_path: Path, expect: str | None = EXPECT) -> Path:
    """A copy of the nested scenario in ``tmp_path`` with ``expect`` as its [expect] table."""
    return write(tmp_path, "nested.toml", nested_text(expect))


def verdict_lines(output: str) -> dict[str, str]:
    """The checklist lines of a text run, by property."""
    lines = {}
    for line in output.splitlines():
        found = re.match(r"  (\w+) \.{3,} (\w+) ", line)
        if found:
            lines[found[1]] = line
    return lines


# ------------------------------------------------------------------ exit codes 0 and 1


def test_exit_0_when_every_expectation_is_met(tmp_path: Path) -> None:
    result = check(tmp_path, nested(tmp_path))
    assert_exit(result, 0)
    lines = verdict_lines(result.stdout)
    assert list(lines) == CHECKED
    for prop, status in [("mutual_exclusion", "holds"), ("deadlock_free", "holds"),
                         ("break_return_truth", "violated"), ("no_spurious_break", "violated")]:
        assert f" {status} " in lines[prop]
        assert lines[prop].endswith(f"expected {status}: ok")
    assert "expected" not in lines["no_stale_use"]          # not expected, does not count
    assert result.stdout.rstrip().endswith("every expectation met")


def test_exit_1_when_an_expectation_is_not_met(tmp_path: Path) -> None:
    wrong = write(tmp_path, "wrong.toml", nested_text(
        'mutual_exclusion = "holds"\nbreak_return_truth = "holds"\n'))
    result = check(tmp_path, wrong)
    assert_exit(result, 1)
    lines = verdict_lines(result.stdout)
    assert " violated " in lines["break_return_truth"]
    assert lines["break_return_truth"].endswith("expected holds: NOT MET")
    assert lines["mutual_exclusion"].endswith("expected holds: ok")
    assert "1 failed" in result.stdout.splitlines()[-1]


def test_exit_1_when_a_scenario_without_expect_has_a_violation(tmp_path: Path) -> None:
    bare = write(tmp_path, "bare.toml", nested_text(None))
    result = check(tmp_path, bare)
    assert_exit(result, 1)
    assert re.search(r"^break_return_truth violated in \d+ steps$", result.stdout, re.M)


def test_exit_1_when_a_scenario_without_expect_passes_vacuously(tmp_path: Path) -> None:
    # No violation under v2.6.12, but nothing schedules and no datum exists: vacuous passes.
    bare = write(tmp_path, "bare.toml", nested_text(None))
    result, data = check_json(tmp_path, "--version", "v2.6.12", bare)
    assert_exit(result, 1)
    assert "violated" not in by_property(data).values()
    assert by_property(data)["no_stale_use"] == "vacuous"


def test_a_property_asked_for_by_name_must_hold_even_if_the_scenario_expects_nothing_of_it(
        tmp_path: Path) -> None:
    # no_stale_use is vacuous on the nested scenario, which expects nothing of it; asked for
    # with --property, it is judged like a property of a scenario without [expect].
    result = check(tmp_path, "-p", "no_stale_use", nested(tmp_path))
    assert_exit(result, 1)
    assert " vacuous " in verdict_lines(result.stdout)["no_stale_use"]


# ------------------------------------------------------------------ exit code 2: bad input

HEADER = '[kernel]\nversion = "v2.6.12"\n[locks]\nA = "spin"\nB = "spin"\n[[cpu]]\ncode = """\n'


@pytest.mark.parametrize(("code", "where", "message"), [
    ("spin_lock(A);\nfrobnicate(A);\nspin_unlock(A);\n", "9:1",
     "unknown statement 'frobnicate'"),
    ("spin_lock(A);\nspin_lock(Q);\nspin_unlock(A);\n", "9:11",
     "undeclared lock 'Q'; declared: A, B"),
    ("spin_lock(A);\nspin_unlock(B);\nspin_unlock(A);\n", "9:13",
     "spin_unlock(B): cpu0 does not hold B here"),
], ids=["unknown-statement", "undeclared-lock", "unlock-not-held"])
def test_bad_code_is_exit_2_at_file_line_col(tmp_path: Path, code: str, where: str,
                                              message: str) -> None:
    path = write(tmp_path, "bad.toml", HEADER + code + '"""\n')
    result = check(tmp_path, path)
    assert_exit(result, 2)
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: {path}:{where}: {message}")
    assert not (tmp_path / "traces").exists()


def test_toml_syntax_error_is_exit_2_at_file_line_col(tmp_path: Path) -> None:
    path = write(tmp_path, "syntax.toml", '[kernel]\nversion = "v2.6.12\n[locks]\nA = "spin"\n')
    result = check(tmp_path, path)
    assert_exit(result, 2)
    assert re.match(rf"error: {re.escape(str(path))}:2:19: invalid TOML: ", result.stderr)


@pytest.mark.parametrize(("args", "message"), [
    (["--version", "v9.9", NESTED],
     f"error: {NESTED}: --version v9.9: unknown era; known: {', '.join(ERAS)}\n"
     "  hint: v9.9 is not modelled; choose the era whose code you mean (lockbreak list "
     "describes each)"),
    ([REPO / "no-such-scenario.toml"], f"error: {REPO / 'no-such-scenario.toml'}: no such file"),
    (["--property", "bogus", NESTED], "error: --property bogus: unknown property; known: "),
], ids=["unknown-era", "missing-path", "unknown-property"])
def test_bad_arguments_are_exit_2_with_a_message(tmp_path: Path, args: list[object],
                                                 message: str) -> None:
    result = check(tmp_path, *args)
    assert_exit(result, 2)
    assert result.stdout == ""
    assert result.stderr.startswith(message)


def test_bad_input_in_json_mode_is_reported_in_the_json(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.toml", HEADER + 'frobnicate(A);\n"""\n')
    result, data = check_json(tmp_path, path)
    assert_exit(result, 2)
    assert data["exit"] == 2
    assert data["results"] == []
    assert data["errors"][0]["file"] == str(path)
    assert data["errors"][0]["error"].startswith(f"{path}:8:1: unknown statement 'frobnicate'")


def test_a_bad_file_in_a_folder_is_exit_2_and_the_others_are_still_checked(
        tmp_path: Path) -> None:
    folder = tmp_path / "suite"
    folder.mkdir()
    write(folder, "a-nested.toml", nested_text())
    write(folder, "b-bad.toml", HEADER + 'frobnicate(A);\n"""\n')
    result = check(tmp_path, folder)
    assert_exit(result, 2)
    assert "nested-v2.6.9  (" in result.stdout
    assert f"{folder / 'b-bad.toml'}:8:1: unknown statement" in result.stderr


# ------------------------------------------------------------------ exit code 3: incomplete


def test_exit_3_when_the_state_budget_stops_the_run(tmp_path: Path) -> None:
    result = check(tmp_path, "--max-states", 10, nested(tmp_path))
    assert_exit(result, 3)
    lines = verdict_lines(result.stdout)
    assert list(lines) == CHECKED
    for line in lines.values():
        assert " incomplete " in line
        assert "(10 states," in line
    assert result.stdout.count("stopped at 10 states (--max-states)") == len(CHECKED)
    assert "holds" not in " ".join(line.split("expected")[0] for line in lines.values())


def test_incomplete_never_holds_in_json(tmp_path: Path) -> None:
    bare = write(tmp_path, "bare.toml", nested_text(None))
    result, data = check_json(tmp_path, "--max-states", 10, "--version", "v2.6.12", bare)
    assert_exit(result, 3)
    assert set(by_property(data).values()) == {"incomplete"}
    assert {r["states"] for r in data["results"]} == {10}


# ------------------------------------------------------------------ --property and overrides


def test_property_option_checks_only_that_property(tmp_path: Path) -> None:
    path = nested(tmp_path)
    result = check(tmp_path, "--property", "break_return_truth", path)
    assert_exit(result, 0)
    assert list(verdict_lines(result.stdout)) == ["break_return_truth"]
    assert "no_spurious_break" not in result.stdout
    result, data = check_json(tmp_path, "-p", "deadlock_free", "-p", "mutual_exclusion", path)
    assert_exit(result, 0)
    assert by_property(data) == {"mutual_exclusion": "holds", "deadlock_free": "holds"}


@pytest.mark.parametrize(("args", "label", "statuses"), [
    ([], ("v2.6.9", "tas", "full"),
     {"break_return_truth": "violated", "no_spurious_break": "violated"}),
    # the 2005 fixes: the return value tells the truth and acquire clears the flag
    (["--version", "v2.6.12"], ("v2.6.12", "tas", "full"),
     {"break_return_truth": "holds", "no_spurious_break": "holds"}),
    # before v2.6.25 the flag exists only under CONFIG_PREEMPT: nothing ever breaks
    (["--preempt", "none"], ("v2.6.9", "tas", "none"),
     {"break_return_truth": "vacuous", "no_spurious_break": "vacuous"}),
    # v2.6.25 asks the lock word; a test-and-set word cannot tell that anyone waits
    (["--version", "v2.6.25"], ("v2.6.25", "ticket", "full"),
     {"break_return_truth": "holds", "no_spurious_break": "holds"}),
    (["--version", "v2.6.25", "--lock", "tas"], ("v2.6.25", "tas", "full"),
     {"break_return_truth": "vacuous", "no_spurious_break": "vacuous"}),
], ids=["as-written", "version", "preempt", "ticket", "lock"])
def test_overrides_change_the_verdict(tmp_path: Path, args: list[str],
                                      label: tuple[str, str, str],
                                      statuses: dict[str, str]) -> None:
    result, data = check_json(tmp_path, *args, nested(tmp_path))
    assert_exit(result, 0 if not args else 1)   # the file expects the v2.6.9 verdicts
    got = by_property(data)
    assert {p: got[p] for p in statuses} == statuses
    assert got["mutual_exclusion"] == got["deadlock_free"] == "holds"
    assert {(r["version"], r["lock"], r["preempt"]) for r in data["results"]} == {label}


def test_version_override_is_named_in_the_text_output(tmp_path: Path) -> None:
    path = nested(tmp_path)
    result = check(tmp_path, "--version", "v2.6.12", path)
    assert_exit(result, 1)
    assert f"nested-v2.6.9  ({path}: v2.6.12, tas, preempt full, interleaving)" in result.stdout
    assert verdict_lines(result.stdout)["break_return_truth"].endswith(
        "expected violated: NOT MET")


def test_no_symmetry_stores_more_states_for_the_same_verdicts(tmp_path: Path) -> None:
    scenario = DATA / "identical-2cpu.toml"
    reduced_run, reduced = check_json(tmp_path, "--version", "v2.6.9", scenario)
    plain_run, plain = check_json(tmp_path, "--version", "v2.6.9", "--no-symmetry", scenario)
    assert_exit(reduced_run, 1)
    assert_exit(plain_run, 1)
    assert by_property(reduced) == by_property(plain)
    assert by_property(plain)["break_return_truth"] == "violated"
    assert [len(r["trace"] or []) for r in reduced["results"]] == [
        len(r["trace"] or []) for r in plain["results"]]
    assert reduced["results"][0]["states"] < plain["results"][0]["states"]


# ------------------------------------------------------------------ --json and folders


def test_json_has_every_property_with_its_status_states_and_trace(tmp_path: Path) -> None:
    result, data = check_json(tmp_path, nested(tmp_path))
    assert_exit(result, 0)
    assert data["exit"] == 0
    assert data["errors"] == []
    assert [r["property"] for r in data["results"]] == CHECKED
    for r in data["results"]:
        assert {"scenario", "property", "status", "states", "trace"} <= set(r)
        assert r["scenario"] == "nested-v2.6.9"
        assert r["status"] in STATUSES
        # Ticks are counted under lockstep timing, whatever the scenario's timing.
        timing = "lockstep" if r["property"].startswith("bounded_") else "interleaving"
        assert r["timing"] == timing
        assert r["states"] == next(x["states"] for x in data["results"]
                                   if x["timing"] == timing) > 0
        if r["status"] == "violated" or r["worst"] is not None:   # a worst case has a trace
            assert isinstance(r["trace"], list)
            assert all(isinstance(step, str) and step for step in r["trace"])
            assert Path(r["trace_file"]).is_file()
            assert Path(r["trace_file"]).parent == tmp_path / "traces"
        else:
            assert r["trace"] is None
            assert r["trace_file"] is None
    lies = next(r for r in data["results"] if r["property"] == "break_return_truth")
    assert lies["trace"][0].startswith("spin_lock(A): ")
    assert lies["trace"][-1].endswith("cond_resched_lock(B) returns 0 after dropping B")
    assert lies["met"] is True


def test_json_tells_a_vacuous_worst_case_from_an_unbounded_one(tmp_path: Path) -> None:
    """starvation-tas-v2.6.12: cpu1's wait never ends; no CPU is ever woken."""
    _, data = check_json(tmp_path, "-p", "bounded_wait", "-p", "bounded_latency",
                         "-p", "mutual_exclusion", REPO / "scenarios/starvation-tas-v2.6.12.toml")
    assert {r["property"]: (r["status"], r["worst"], r["worst_case"]) for r in data["results"]} \
        == {"bounded_wait": ("violated", None, "unbounded"),
            "bounded_latency": ("vacuous", None, "vacuous"),
            "mutual_exclusion": ("holds", None, None)}


def test_a_folder_checks_every_toml_in_it(tmp_path: Path) -> None:
    folder = tmp_path / "suite"
    folder.mkdir()
    write(folder, "one.toml", nested_text())
    shutil.copy(DATA / "abba-outer.toml", folder / "two.toml")
    write(folder, "notes.txt", "not a scenario")
    result, data = check_json(tmp_path, folder)
    assert_exit(result, 0)
    files = [r["file"] for r in data["results"]]
    assert sorted(set(files)) == [str(folder / "one.toml"), str(folder / "two.toml")]
    assert files.count(str(folder / "one.toml")) == files.count(str(folder / "two.toml")) == 11
    text = check(tmp_path, folder)
    assert_exit(text, 0)
    assert text.stdout.rstrip().endswith("2 scenarios, 22 verdicts: every expectation met")


def test_a_folder_without_scenarios_is_bad_input(tmp_path: Path) -> None:
    result = check(tmp_path, tmp_path)
    assert_exit(result, 2)
    assert result.stderr.startswith(f"error: {tmp_path}: no *.toml scenario files")


# ------------------------------------------------------------------ list


def test_list_shows_every_era_lock_preemption_model_and_property_on_one_line() -> None:
    result = invoke("list")
    assert_exit(result, 0)
    lines = result.stdout.splitlines()
    sections = [line for line in lines if not line.startswith(" ")]
    assert sections == ["eras:", "lock algorithms:", "preemption models:", "properties:"]
    entries: dict[str, list[str]] = {}
    section = ""
    for line in lines:
        if not line.startswith(" "):
            section = line
            continue
        name, _, text = line.strip().partition(" ")
        assert text.strip(), line       # every entry says something about itself
        entries.setdefault(section, []).append(name)
    assert entries["eras:"] == ERAS
    assert entries["lock algorithms:"] == LOCK_ALGORITHMS
    assert entries["preemption models:"] == PREEMPT_MODELS
    assert sorted(entries["properties:"]) == sorted(PROPERTIES)
    assert re.search(r"^  v2\.6\.25 +\[ticket\] ", result.stdout, re.M)
    assert re.search(r"^  v5\.17 +\[qspinlock\] ", result.stdout, re.M)


# ------------------------------------------------------------------ replay


def trace_files(result: Result) -> list[Path]:
    return [Path(p) for p in re.findall(r"^  replay: lockbreak replay (\S+)$", result.stdout,
                                        re.M)]


def test_replay_reproduces_every_trace_that_check_wrote(tmp_path: Path) -> None:
    result = check(tmp_path, nested(tmp_path))
    files = trace_files(result)
    assert [f.name for f in files] == ["nested-v2.6.9--v2.6.9--break_return_truth.json",
                                       "nested-v2.6.9--v2.6.9--no_spurious_break.json"]
    for file in files:
        assert file.parent == tmp_path / "traces"
        steps = len(json.loads(file.read_text())["steps"])
        assert f"{file.stem.rsplit('--', 1)[1]} violated in {steps} steps" in result.stdout
        replayed = invoke("replay", file)
        assert_exit(replayed, 0)
        prop = file.stem.rsplit("--", 1)[1]
        assert replayed.stdout.rstrip().endswith(
            f"replayed: {prop} violated again at step {steps}")
        assert "mismatch" not in replayed.stdout


def test_replay_keeps_the_overrides(tmp_path: Path) -> None:
    result = check(tmp_path, "--version", "v2.6.8-mm", nested(tmp_path))
    [file] = trace_files(result)
    assert json.loads(file.read_text())["scenario"]["overrides"] == {"version": "v2.6.8-mm"}
    replayed = invoke("replay", file)
    assert_exit(replayed, 0)
    steps = len(json.loads(file.read_text())["steps"])
    assert f"replayed: no_spurious_break violated again at step {steps}" in replayed.stdout


def test_replay_reproduces_a_deadlock(tmp_path: Path) -> None:
    traces = trace_files(check(tmp_path, DATA / "abba-outer.toml"))
    [deadlock] = [t for t in traces if t.name.endswith("--deadlock_free.json")]
    data = json.loads(deadlock.read_text())
    assert data["property"] == "deadlock_free"
    replayed = invoke("replay", deadlock)
    assert_exit(replayed, 0)
    assert f"replayed: deadlock_free violated again at step {len(data['steps'])}" in (
        replayed.stdout)


SOLO = """name = "solo"
[kernel]
version = "v2.6.8-mm"
[locks]
A = "spin"
[[cpu]]
code = "spin_lock(A); work(); cond_resched_lock(A); spin_unlock(A);"
[[cpu]]
code = "work();"
"""


@pytest.fixture
def solo_trace(tmp_path: Path) -> Path:
    """A trace in which only cpu0 moves: the -mm kludge drops A with nobody waiting."""
    result = check(tmp_path, "-p", "no_spurious_break", write(tmp_path, "solo.toml", SOLO))
    [file] = trace_files(result)
    data = json.loads(file.read_text())
    assert {step["cpu"] for step in data["steps"]} == {0}
    assert len(data["steps"]) >= 3
    return file


def tamper(file: Path, change: Any) -> Path:
    data = json.loads(file.read_text())
    change(data)
    out = file.with_name("tampered.json")
    out.write_text(json.dumps(data))
    return out


def _to_cpu(step: int, cpu: int) -> Any:
    def change(data: dict[str, Any]) -> None:
        data["steps"][step]["cpu"] = cpu
    return change


def test_replay_rejects_a_step_by_a_cpu_that_does_not_exist(solo_trace: Path) -> None:
    result = invoke("replay", tamper(solo_trace, _to_cpu(1, 7)))
    assert_exit(result, 2)
    assert result.stderr.startswith("error: ")
    assert "step 2: cpu7 cannot move here; the trace does not replay on this model" in (
        result.stderr)


def test_replay_rejects_a_step_by_a_cpu_that_has_finished(solo_trace: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        data["steps"][0]["cpu"] = data["steps"][1]["cpu"] = 1   # cpu1's only step is work()
    result = invoke("replay", tamper(solo_trace, change))
    assert_exit(result, 2)
    assert "step 2: cpu1 cannot move here" in result.stderr


def test_replay_rejects_a_wakeup_the_scenario_does_not_allow(solo_trace: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        data["steps"][0]["wakeup"] = True
    result = invoke("replay", tamper(solo_trace, change))
    assert_exit(result, 2)
    assert "step 1: wakeup(cpu0) cannot move here" in result.stderr


def test_replay_reports_a_trace_that_no_longer_reaches_the_violation(
        solo_trace: Path) -> None:
    result = invoke("replay", tamper(solo_trace, lambda d: d["steps"].pop()))
    assert_exit(result, 1)
    assert result.stdout.rstrip().endswith(
        "replayed: no_spurious_break is NOT violated by this trace any more")


def test_replay_reports_steps_that_now_read_differently(solo_trace: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        data["steps"][0]["text"] = "something else"
    result = invoke("replay", tamper(solo_trace, change))
    assert_exit(result, 1)
    assert "replayed: no_spurious_break violated again" in result.stdout
    assert re.search(r"^  mismatch: step 1: now 'spin_lock\(A\): preempt_disable\(\)[^']*', "
                     r"recorded 'something else'$", result.stdout, re.M)


def test_replay_refuses_a_trace_of_a_scenario_that_changed(tmp_path: Path,
                                                            solo_trace: Path) -> None:
    scenario = tmp_path / "solo.toml"
    scenario.write_text(SOLO.replace('code = "work();"', 'code = "work(); work();"'))
    result = invoke("replay", solo_trace)
    assert_exit(result, 2)
    assert "solo.toml changed since this trace was written; rerun `lockbreak check`" in (
        result.stderr)


@pytest.mark.parametrize("text", ["{", "[]", '{"schema": "lockbreak-trace/0"}', "[" * 100_000],
                         ids=["unclosed", "array", "old-schema", "deeply-nested"])
def test_replay_refuses_what_is_not_a_trace(tmp_path: Path, text: str) -> None:
    result = invoke("replay", write(tmp_path, "junk.json", text))
    assert_exit(result, 2)
    assert re.match(r"error: .*junk\.json: not a (readable JSON|lockbreak) trace", result.stderr)


@pytest.mark.parametrize("change", [
    lambda d: d["steps"][0].pop("cpu"),
    lambda d: d["steps"][0].update(cpu="x"),
    lambda d: d.pop("scenario"),
    lambda d: d["scenario"].update(overrides={"timing": "lockstep", "bogus": 1}),
], ids=["no-cpu", "cpu-not-int", "no-scenario", "unknown-override"])
def test_replay_of_a_malformed_trace_is_bad_input_without_traceback(
        solo_trace: Path, change: Any) -> None:
    result = invoke("replay", tamper(solo_trace, change))
    assert_exit(result, 2)
    assert result.stderr.startswith("error: ")


def test_replay_works_from_another_directory(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "work"
    work.mkdir()
    write(work, "solo.toml", SOLO)
    monkeypatch.chdir(work)
    [file] = trace_files(check(tmp_path, "-p", "no_spurious_break", "solo.toml"))
    monkeypatch.chdir(tmp_path)
    assert_exit(invoke("replay", file), 0)


def test_two_scenarios_with_the_same_name_get_their_own_traces(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    write(one, "s.toml", SOLO)
    write(two, "s.toml", SOLO.replace('code = "work();"', 'code = "work(); work();"'))
    result = check(tmp_path, "-p", "no_spurious_break", one / "s.toml", two / "s.toml")
    files = trace_files(result)
    assert len(files) == 2
    assert len(set(files)) == 2


@pytest.mark.parametrize(("args", "suffix"), [
    (["--preempt", "none"], "-preempt-none"), (["--lock", "ticket"], "-lock-ticket"),
    (["--timing", "lockstep"], "-timing-lockstep"),
    (["--lock", "ticket", "--preempt", "none", "--timing", "lockstep"],
     "-lock-ticket-preempt-none-timing-lockstep")])
def test_an_override_gets_its_own_trace_files(tmp_path: Path, args: list[str],
                                              suffix: str) -> None:
    """A run with --lock, --preempt or --timing never overwrites the default run's traces."""
    scenario = nested(tmp_path)
    own = check(tmp_path, "-p", "bounded_wait", scenario)
    [default] = re.findall(r"lockbreak replay (\S+)$", own.stdout, re.M)
    assert Path(default).name == "nested-v2.6.9--v2.6.9--bounded_wait.json"
    before = Path(default).read_text()
    other = check(tmp_path, "-p", "bounded_wait", *args, scenario)
    [path] = re.findall(r"lockbreak replay (\S+)$", other.stdout, re.M)
    assert Path(path).name == f"nested-v2.6.9--v2.6.9{suffix}--bounded_wait.json"
    assert Path(default).read_text() == before
    recorded = json.loads(Path(path).read_text())["scenario"]["overrides"]
    given = {name.removeprefix("--"): value for name, value in zip(args[::2], args[1::2],
                                                                  strict=True)}
    assert recorded == given | {"timing": "lockstep"}       # worst cases: lockstep timing
    assert_exit(invoke("replay", path), 0)


# ------------------------------------------------------------------ the installed script


@pytest.fixture(scope="module")
def lockbreak_script() -> str:
    beside = Path(sys.executable).parent / "lockbreak"
    found = str(beside) if beside.is_file() else shutil.which("lockbreak")
    assert found, "the lockbreak console script is not installed: pip install -e ."
    return found


def run_script(script: str, *args: object, seed: str = "0") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    return subprocess.run([script, *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=120, check=False)


@pytest.mark.slow
def test_console_script_checks_and_replays(tmp_path: Path, lockbreak_script: str) -> None:
    done = run_script(lockbreak_script, "check", "--trace-dir", tmp_path, nested(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.rstrip().endswith("1 scenario, 11 verdicts: every expectation met")
    trace = tmp_path / "nested-v2.6.9--v2.6.9--break_return_truth.json"
    replayed = run_script(lockbreak_script, "replay", trace)
    assert replayed.returncode == 0, replayed.stderr
    assert "replayed: break_return_truth violated again at step 20" in replayed.stdout


def test_console_script_bad_input_is_exit_2_without_traceback(
        tmp_path: Path, lockbreak_script: str) -> None:
    path = write(tmp_path, "bad.toml", HEADER + 'spin_lock(A);\nspin_unlock(B);\n"""\n')
    done = run_script(lockbreak_script, "check", "--trace-dir", tmp_path, path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith(f"error: {path}:9:13: spin_unlock(B): cpu0 does not hold B")
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_console_script_output_does_not_depend_on_the_hash_seed(
        tmp_path: Path, lockbreak_script: str) -> None:
    runs = []
    for seed in ("1", "4242"):
        done = run_script(lockbreak_script, "check", "--json", "--trace-dir", tmp_path / seed,
                          NESTED, DATA / "abba-outer.toml", DATA / "mixed-small.toml", seed=seed)
        assert done.returncode == 1, done.stderr     # mixed-small has no [expect]
        data = json.loads(done.stdout)
        for r in data["results"]:
            r.pop("seconds")
            r.pop("trace_file")
        runs.append(data)
    assert runs[0] == runs[1]
    # 8 counterexamples (2 nested, 4 abba-outer, 2 mixed-small) and 3 worst cases.
    assert sum(r["trace"] is not None for r in runs[0]["results"]) == 11


@pytest.fixture
def crashes_on_v2_6_12(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make building the model of any v2.6.12 scenario raise, as a bug in lockbreak would."""
    import lockbreak.pipeline.check as checking

    real = checking.build_world

    def build_world(scenario: Any) -> Any:
        if scenario.kernel.version == "v2.6.12":
            raise KeyError("injected")
        return real(scenario)
    monkeypatch.setattr(checking, "build_world", build_world)


def test_a_crash_in_one_scenario_keeps_the_others_results(
        tmp_path: Path, crashes_on_v2_6_12: None) -> None:
    folder = tmp_path / "s"
    folder.mkdir()
    for name in ("nested-v2.6.9.toml", "nested-v2.6.12.toml"):
        shutil.copy(REPO / "scenarios" / name, folder / name)
    result, data = check_json(tmp_path, folder)
    assert_exit(result, 4)
    assert {r["scenario"] for r in data["results"]} == {"nested-v2.6.9"}
    assert by_property(data)["break_return_truth"] == "violated"
    [error] = data["errors"]
    assert error["file"].endswith("nested-v2.6.12.toml") and error["internal"] is True
    assert error["error"].startswith("internal error: KeyError: 'injected' at ")
    assert "bug in lockbreak" in error["error"] and data["exit"] == 4
    result = check(tmp_path, folder)
    assert_exit(result, 4)
    assert "nested-v2.6.9" in result.stdout and "internal error (a lockbreak bug)" in result.stdout
