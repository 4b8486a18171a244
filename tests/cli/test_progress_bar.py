"""The plain breadth-first engine's progress bar: states/s, frontier, memory and ETA on a
terminal; the engine tells a reporter that wants it the frontier's size."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from lockbreak.cli.progress import ProgressBar, resident_bytes
from lockbreak.engines import check, plain_search
from tests.support.toys import Counter


def terminal() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, width=160, color_system=None), out


def test_bar_shows_rate_frontier_memory_and_eta_from_the_expected_total() -> None:
    console, out = terminal()
    with ProgressBar(console=console, expected=300_000) as bar:
        bar.frontier(1_234)
        bar.progress(states=500, transitions=900, depth=3, seconds=0.5)
        assert out.getvalue() == ""                  # quiet for the first second
        bar.frontier(4_321)
        bar.progress(states=100_000, transitions=250_000, depth=40, seconds=2.0)
        shown = out.getvalue()
    assert "100,000 states  50,000/s  frontier 4,321  depth 40  RSS " in shown
    assert "ETA 4s" in shown                          # 200,000 states to go at 50,000/s
    assert "━" in shown                               # the bar itself


def test_bar_extrapolates_its_eta_from_the_levels_it_saw() -> None:
    console, out = terminal()
    with ProgressBar(console=console) as bar:
        # a bell of 60 levels, reported once per level as it is expanded
        sizes = [round(1000 * 2.718 ** -(((d - 30) / 10) ** 2)) + 1 for d in range(60)]
        done = 0
        for depth in range(40):
            bar.frontier(sizes[depth])
            bar.progress(done + sizes[depth], 0, depth, 1.0 + depth)
            done += sizes[depth]
        shown = out.getvalue()
    etas = re.findall(r"ETA (\S+)", shown)
    assert etas[0] == "?"                   # before the bend there is nothing to go by
    assert etas[-1] == "4s"                 # 17,784 states in all; 40 s for 13,800 of them


def test_bar_stays_silent_off_a_terminal() -> None:
    out = io.StringIO()
    with ProgressBar(console=Console(file=out, force_terminal=False)) as bar:
        bar.progress(states=300_000, transitions=900_000, depth=40, seconds=5.0)
    assert out.getvalue() == ""


def test_resident_memory_is_read() -> None:
    assert 10 * 2**20 < resident_bytes() < 2**40


def test_engine_reports_the_frontier(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plain_search, "_PROGRESS_SECONDS", 0.0)
    monkeypatch.setattr(plain_search, "_FIRST_CHUNK", 1)
    monkeypatch.setattr(plain_search, "_MAX_CHUNK", 1)
    calls: list[tuple[int, int]] = []

    class Recorder:
        front = 0

        def frontier(self, size: int) -> None:
            self.front = size

        def progress(self, states: int, transitions: int, depth: int, seconds: float) -> None:
            calls.append((states, self.front))

    check(Counter(limit=3), reporter=Recorder())
    # one call per expanded state: found so far minus expanded so far
    assert [states - front for states, front in calls] == list(range(1, 17))
