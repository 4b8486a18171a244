"""``lockbreak latency``: worst cases per era and lock against a swept parameter, the UP case,
the figure's files, and bad input.

The command is invoked in-process through its click command object, on the committed scenario
``scenarios/latency/nested-latency.toml`` (the nested scenario of the 2004 mail, a wakeup on
the waiter cpu1, ``repeat`` iterations of cpu0's ``cond_resched_lock(B)`` loop).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from lockbreak.cli.latency import latency_cmd, parse_sweep
from lockbreak.core import LockbreakError
from lockbreak.report.latency import LatencySweep, Series, write_reports
from tests.support.paths import REPO

NESTED = REPO / "scenarios" / "latency" / "nested-latency.toml"
REPORT = REPO / "reports" / "latency"


def invoke(*args: object) -> Result:
    return CliRunner().invoke(latency_cmd, [str(a) for a in args])


def measured(tmp_path: Path, *args: object) -> dict[str, Any]:
    result = invoke(NESTED, "--out", tmp_path, "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def worst_by_label(data: dict[str, Any]) -> dict[str, list[int | None]]:
    return {s["label"]: s["worst"] for s in data["series"]}


# ---------------------------------------------------------------- the measurements


def test_worst_cases_of_the_nested_waiter_and_of_up(tmp_path: Path) -> None:
    """Worst cases in lockstep ticks, read off the traces ``lockbreak check`` writes for
    ``bounded_latency`` (``lockbreak replay`` prints them tick by tick).

    Every worst case starts with the wakeup in tick 0, before anyone holds a lock.

    * v2.6.8, tas: cpu1 holds C, so it spins on B with preempt_count 2 and cannot schedule;
      ``cond_resched_lock(B)`` only looks at cpu0's own need_resched, so cpu0 keeps B for its
      whole loop: 2 ticks per iteration (``work()``, the ``need_resched()`` test). cpu0 takes
      B in tick 3 and drops it in tick 4 + 2*repeat; cpu1 sees it free and wins the trylock
      in the next two ticks, then ``work()``, two steps each to unlock B and C: it schedules
      at its last ``preempt_enable()``, in tick 11 + 2*repeat, so 13, 15, 17 ticks.
    * v2.6.25, ticket: cpu1's ticket makes B contended, and cpu0's first
      ``cond_resched_lock(B)`` (tick 5) sees ``spin_needbreak(B)``, drops B and queues
      behind cpu1, which holds B from tick 8 and schedules in tick 13 whatever the loop
      length: 13, 13, 13.
    * UP (cpu0 alone, ``smp = false``, the wakeup moved to it): in v2.6.8 the worst wakeup
      lands just after cpu0 took A; ``work()``, ``need_resched() -> 1``,
      ``preempt_enable_no_resched()``, then ``schedule()`` in the fifth tick: 4 ticks at any
      loop length (while atomic: A is still held). v2.6.25's ``cond_resched_lock`` first
      tests ``spin_needbreak`` and unlocks before scheduling: 6. v2.6.12's
      ``__resched_legal`` refuses to schedule with A held, so the woken task waits for the
      whole loop: 2 + 2*repeat.
    """
    data = measured(tmp_path, "--sweep", "repeat=1..3", "--versions", "v2.6.8,v2.6.12,v2.6.25",
                    "--lock", "tas,ticket")
    assert (data["parameter"], data["values"], data["woken"], data["up_cpu"]) == (
        "repeat", [1, 2, 3], "cpu1", "cpu0")
    worst = worst_by_label(data)
    assert list(worst) == ["v2.6.8 tas", "v2.6.8 ticket", "v2.6.8 UP",
                           "v2.6.12 tas", "v2.6.12 ticket", "v2.6.12 UP",
                           "v2.6.25 tas", "v2.6.25 ticket", "v2.6.25 UP"]
    assert worst["v2.6.8 tas"] == [13, 15, 17]
    assert worst["v2.6.25 ticket"] == [13, 13, 13]
    assert worst["v2.6.8 UP"] == [4, 4, 4]
    assert worst["v2.6.25 UP"] == [6, 6, 6]
    assert worst["v2.6.12 UP"] == [4, 6, 8]
    assert [s["smp"] for s in data["series"]].count(False) == 3
    assert data["notes"] == []
    # the committed figure's table starts with these rows: it is what the model says today
    committed = list(csv.reader((REPORT / "nested-latency.csv").open()))
    assert committed[:4] == list(csv.reader((tmp_path / "nested-latency.csv").open()))


def test_unbounded_is_shown_as_such_and_an_invalid_pair_is_skipped(tmp_path: Path) -> None:
    """v4.15-rc's waiter spins ``while (break_lock(L))`` and can spin forever: no number. It
    has generic_lockbreak, so a ticket lock is not a configuration of it: skipped, with why."""
    result = invoke(NESTED, "--out", tmp_path, "--sweep", "repeat=1..2", "--versions",
                    "v4.15-rc", "--lock", "tas,ticket")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[1].split() == ["repeat", "v4.15-rc", "tas", "v4.15-rc", "UP"]
    assert lines[2].split() == ["1", "unbounded", "6"]
    assert lines[4] == ('note: v4.15-rc ticket skipped: --lock ticket: generic_lockbreak '
                        'needs lock = "tas", not "ticket"')
    data = measured(tmp_path, "--sweep", "repeat=1..2", "--versions", "v4.15-rc",
                    "--lock", "tas")
    assert worst_by_label(data)["v4.15-rc tas"] == [None, None]
    rows = list(csv.reader((tmp_path / "nested-latency.csv").open()))
    assert rows == [["repeat", "v4.15-rc tas", "v4.15-rc UP"], ["1", "unbounded", "6"],
                    ["2", "unbounded", "6"]]


def test_defaults_are_the_scenarios_own_era_and_lock(tmp_path: Path) -> None:
    data = measured(tmp_path, "--sweep", "repeat=2")
    assert worst_by_label(data) == {"v2.6.25 ticket": [13], "v2.6.25 UP": [6]}
    assert data["command"] == "lockbreak latency " + str(NESTED) + " --sweep repeat=2 --out " \
        + str(tmp_path)


# ---------------------------------------------------------------- the files


def _sweep() -> LatencySweep:
    return LatencySweep("toy", "n", (1, 2, 3),
                        (Series("v2.6.8", "tas", (3, 5, None)), Series("v2.6.8", "up", (2, 2, 2))),
                        "cpu1", "cpu0", "lockbreak latency toy.toml --sweep n=1..3")


def test_svg_is_byte_for_byte_reproducible(tmp_path: Path) -> None:
    first = write_reports(_sweep(), tmp_path / "a")
    second = write_reports(_sweep(), tmp_path / "b")
    assert [p.name for p in first] == ["toy.png", "toy.svg", "toy.csv", "toy.md"]
    svg = first[1].read_bytes()
    assert svg == second[1].read_bytes()
    assert b"<dc:date>" not in svg
    assert first[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_markdown_cites_the_command_and_marks_unbounded(tmp_path: Path) -> None:
    md = write_reports(_sweep(), tmp_path)[3].read_text()
    assert md.splitlines()[0] == "Made by `lockbreak latency toy.toml --sweep n=1..3`."
    assert "| n | v2.6.8 tas | v2.6.8 UP |" in md
    assert "| 3 | unbounded | 2 |" in md


# ---------------------------------------------------------------- bad input


def test_parse_sweep_shapes() -> None:
    assert parse_sweep("repeat=2..4") == ("repeat", (2, 3, 4))
    assert parse_sweep("repeat=3,1") == ("repeat", (1, 3))
    assert parse_sweep("repeat=7") == ("repeat", (7,))
    with pytest.raises(LockbreakError, match=r"expected NAME=LO\.\.HI"):
        parse_sweep("repeat=-1..2")
    assert len(parse_sweep("repeat=1..64")[1]) == 64
    with pytest.raises(LockbreakError, match="65 values; the limit is 64"):
        parse_sweep("repeat=1..65")
    with pytest.raises(LockbreakError, match="1000000000 values; the limit is 64"):
        parse_sweep("repeat=1..1000000000")
    with pytest.raises(LockbreakError, match="65 values; the limit is 64"):
        parse_sweep("repeat=" + ",".join(map(str, range(65))))


def _no_wakeups(tmp_path: Path) -> Path:
    path = tmp_path / "quiet.toml"
    path.write_text(NESTED.read_text().replace("wakeups = 1", "wakeups = 0"))
    return path


@pytest.mark.parametrize(("args", "message"), [
    (["--sweep", "repeat=1-24"], "error: --sweep repeat=1-24: expected NAME=LO..HI or "
     "NAME=V1,V2,..., e.g. repeat=1..24"),
    (["--sweep", "repeat=5..1"], "error: --sweep repeat=5..1: the range 5..1 is empty"),
    (["--sweep", "repet=1..2"], f"error: {NESTED}: no parameter 'repet' to set; declared in "
     "[params]: repeat\n  hint: did you mean repeat?"),
    (["--sweep", "repeat=1..2", "--versions", "v2.6.99"], "error: --versions v2.6.99: unknown "
     "era; known: v2.6.8,"),
    (["--sweep", "repeat=1..2", "--lock", "tas,mcs"], "error: --lock mcs: unknown lock "
     "algorithm; known: "),
    (["--sweep", "repeat=0..1"], f"error: {NESTED}:17:1: repeat (0) never runs its body"),
    (["--sweep", "repeat=1", "--up-cpu", "2"], f"error: {NESTED}: --up-cpu 2: the scenario "
     "has cpu0..cpu1"),
])
def test_bad_input_exits_2_with_a_message(tmp_path: Path, args: list[str], message: str) -> None:
    result = invoke(NESTED, "--out", tmp_path, *args)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(message)
    assert not list(tmp_path.iterdir())


def test_a_scenario_without_a_woken_cpu_is_bad_input(tmp_path: Path) -> None:
    path = _no_wakeups(tmp_path)
    result = invoke(path, "--out", tmp_path / "out", "--sweep", "repeat=1")
    assert result.exit_code == 2
    assert result.stderr == (f"error: {path}: lockbreak latency measures one woken CPU, but "
                             "no CPU has wakeups\n  hint: give wakeups = 1 to exactly one "
                             "[[cpu]], the waiter whose scheduling latency you want\n")


def test_a_missing_file_is_bad_input(tmp_path: Path) -> None:
    result = invoke(tmp_path / "nope.toml", "--sweep", "repeat=1", "--versions", "v2.6.8",
                    "--lock", "tas")
    assert result.exit_code == 2
    assert "nope.toml: cannot read the scenario" in result.stderr
