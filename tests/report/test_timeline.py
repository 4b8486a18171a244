"""Per-CPU timelines of real counterexamples: what each cell says, and the SVG drawn from it."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from contextlib import chdir

import pytest

from lockbreak.cli.suite import SuiteOptions, run_suite
from lockbreak.report.results import Finding
from lockbreak.report.timeline import render_svg
from tests.support.paths import REPO

SVG = "{http://www.w3.org/2000/svg}"


def _finding(scenario: str, prop: str) -> Finding:
    with chdir(REPO):
        report = run_suite(SuiteOptions(paths=(f"scenarios/{scenario}.toml",), out="unused",
                                        properties=(prop,)))
    [found] = report.findings
    assert found.counterexample is not None
    return found


def test_the_return_value_lie_breaks_at_step_20_after_a_lock_break_at_15() -> None:
    cex = _finding("nested-v2.6.9", "break_return_truth").counterexample
    assert cex is not None
    t = cex.timeline
    assert t.cpus == ("cpu0", "cpu1") and t.steps == len(cex.steps) == 20
    assert t.violating_step == 20 and cex.violating_step == 20
    breaks = [s + 1 for s, cell in enumerate(t.rows[0]) if "break" in cell.marks]
    assert breaks == [15]           # cond_resched_lock(B) > spin_unlock(B): released
    assert [c.state for c in t.rows[1][8:12]] == ["spins"] * 4   # cpu1 waits for B
    assert t.rows[0][4].marks == ("work",) and t.rows[0][4].state == "holds"
    assert all(c.moved for c in t.rows[0][:5]) and not any(c.moved for c in t.rows[1][:5])
    # The statement of step 20 is `cond_resched_lock(B);` on line 15, column 5.
    assert (cex.line, cex.col) == (15, 5)


def test_a_wakeup_and_a_schedule_in_atomic_are_drawn() -> None:
    cex = _finding("nested-wakeup-v2.6.20", "no_sleep_in_atomic").counterexample
    assert cex is not None
    cells = [cell for row in cex.timeline.rows for cell in row]
    assert sum("wakeup" in c.marks for c in cells) == 1
    last = cex.steps[-1]
    cpu = int(last.actor.removeprefix("cpu"))
    assert cex.timeline.rows[cpu][-1].state == "out"      # schedule() with preempt_count > 0


def test_a_deadlock_marks_the_doomed_step_and_the_repeating_part() -> None:
    f = _finding("nested-outer-v2.6.12", "deadlock_free")
    cex = f.counterexample
    assert cex is not None
    assert "after step 17" in f.detail and cex.violating_step == 17
    assert cex.timeline.loop_start is not None and cex.timeline.loop_start > 17
    assert sum(s.repeats_from for s in cex.steps) == 1


@pytest.mark.parametrize("scenario,prop", [("nested-v2.6.9", "break_return_truth"),
                                           ("nested-outer-v2.6.12", "deadlock_free")])
def test_the_svg_is_well_formed_and_sized(scenario: str, prop: str) -> None:
    cex = _finding(scenario, prop).counterexample
    assert cex is not None
    svg = ET.fromstring(render_svg(cex.timeline, "t"))
    assert int(svg.get("width", 0)) >= 640 and int(svg.get("height", 0)) >= 60
    cells = svg.findall(f".//{SVG}rect[@class]")
    per_step = [c for c in cells if c.get("class", "").startswith("cell ")]
    assert len(per_step) == len(cex.timeline.cpus) * cex.timeline.steps
    assert len([c for c in cells if c.get("class") == "violation"]) == 1
    assert not svg.findall(f".//{SVG}script") and "href" not in render_svg(cex.timeline, "t")
