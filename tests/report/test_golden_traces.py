"""Golden files: the checklist and counterexamples that ``lockbreak check`` prints.

Each file in tests/golden/ starts with the command that produced it (``# lockbreak check ...``,
run from the repository root, with ``$TRACE_DIR`` standing for a scratch folder) and ends with
its exit code. Timings vary from run to run, so ``0.01 s`` becomes ``N.NN s`` and a rate
``12,345 states/s`` becomes ``N states/s`` before comparing. A mismatch fails with a short
unified diff; ``LOCKBREAK_REGEN_GOLDEN=1 python -m pytest tests/report/test_golden_traces.py``
rewrites the files (read the diff before committing them).
"""

from __future__ import annotations

import difflib
import os
import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from lockbreak.cli import main
from tests.support.paths import REPO, TESTS

GOLDEN = TESTS / "golden"
REGEN = os.environ.get("LOCKBREAK_REGEN_GOLDEN") == "1"
MAX_DIFF_LINES = 40

# golden file stem -> the `lockbreak` arguments that produce it
CASES = {
    # The v2.6.9 return-value bug: cond_resched_lock(B) drops B for the flag a waiter set,
    # then returns 0; and the flag, never cleared on acquire, makes a later call break for a
    # waiter that has already gone.
    "nested-v2.6.9": "check scenarios/nested-v2.6.9.toml --trace-dir $TRACE_DIR",
    # Breaking the outer lock while holding the inner one: an ABBA deadlock on the relock,
    # with a test-and-set lock (the relock loses the race) and with a ticket lock (the relock
    # queues behind the waiter, who then wants B).
    "abba-outer-v2.6.12": "check tests/data/abba-outer.toml --trace-dir $TRACE_DIR",
    "abba-outer-v2.6.25": ("check tests/data/abba-outer.toml --version v2.6.25 -p deadlock_free"
                           " --trace-dir $TRACE_DIR"),
    # A wakeup during the nested break: v2.6.20 lost __resched_legal and schedules while
    # holding A.
    "nested-wakeup-v2.6.20": ("check tests/data/nested-wakeup.toml --version v2.6.20"
                              " -p no_sleep_in_atomic --trace-dir $TRACE_DIR"),
    # An open-coded lock break that drops the zone lock every batch, waiter or not: the
    # trace names the site (its line and lock) at the unlock and at the relock.
    "zone-batch-spurious-v5.17": ("check scenarios/zone-batch-spurious-v5.17.toml"
                                  " -p no_spurious_break --trace-dir $TRACE_DIR"),
}


def normalise(text: str, trace_dir: Path) -> str:
    text = text.replace(str(trace_dir), "$TRACE_DIR")
    text = re.sub(r"\b\d+\.\d\d s\b", "N.NN s", text)
    return re.sub(r"\b[\d,]+(\.\d+)? states/s\b", "N states/s", text)


def produce(args: str, trace_dir: Path) -> str:
    """What the golden file for ``lockbreak ARGS`` should contain."""
    argv = [a.replace("$TRACE_DIR", str(trace_dir)) for a in shlex.split(args)]
    result = CliRunner().invoke(main, argv)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.stderr == "", result.stderr
    return f"# lockbreak {args}\n{normalise(result.stdout, trace_dir)}# exit {result.exit_code}\n"


def short_diff(expected: str, actual: str) -> str:
    lines = list(difflib.unified_diff(expected.splitlines(), actual.splitlines(),
                                      "golden", "now", lineterm="", n=1))
    if len(lines) > MAX_DIFF_LINES:
        lines = [*lines[:MAX_DIFF_LINES], f"... ({len(lines) - MAX_DIFF_LINES} more diff lines)"]
    return "\n".join(lines)


@pytest.mark.parametrize("name", list(CASES))
def test_golden_trace(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)     # the commands name their scenarios relative to the repository
    path = GOLDEN / f"{name}.txt"
    actual = produce(CASES[name], tmp_path)
    if REGEN:
        path.parent.mkdir(exist_ok=True)
        path.write_text(actual)
        return
    if not path.exists():
        pytest.fail(f"{path} is missing; LOCKBREAK_REGEN_GOLDEN=1 writes it", pytrace=False)
    expected = path.read_text()
    if expected != actual:
        pytest.fail(f"{path.relative_to(REPO)} differs from `lockbreak {CASES[name]}`:\n"
                    f"{short_diff(expected, actual)}\n"
                    "(if the change is intended: LOCKBREAK_REGEN_GOLDEN=1 rewrites the file)",
                    pytrace=False)


def test_every_golden_file_has_a_case_and_a_header() -> None:
    files = sorted(GOLDEN.glob("*.txt"))
    assert sorted(p.stem for p in files) == sorted(CASES)
    for path in files:
        lines = path.read_text().splitlines()
        assert lines[0] == f"# lockbreak {CASES[path.stem]}"
        assert re.fullmatch(r"# exit [0-3]", lines[-1])


def test_normalise_hides_only_timings_and_the_trace_dir(tmp_path: Path) -> None:
    text = (f"  mutual_exclusion ...... holds      (1,002 states, depth 40, 12.34 s)\n"
            f"  3,456 states, depth 12, 98,765 states/s, 2 s\n"
            f"  replay: lockbreak replay {tmp_path}/x--v2.6.9--p.json\n")
    assert normalise(text, tmp_path) == (
        "  mutual_exclusion ...... holds      (1,002 states, depth 40, N.NN s)\n"
        "  3,456 states, depth 12, N states/s, 2 s\n"
        "  replay: lockbreak replay $TRACE_DIR/x--v2.6.9--p.json\n")


def test_a_mismatch_shows_a_short_diff() -> None:
    old = "".join(f"line {i}\n" for i in range(200))
    new = old.replace("line 7\n", "line seven\n")
    diff = short_diff(old, new)
    assert "-line 7" in diff and "+line seven" in diff
    assert len(diff.splitlines()) < 10
    many = short_diff(old, "")
    assert len(many.splitlines()) == MAX_DIFF_LINES + 1
    assert many.endswith("more diff lines)")
