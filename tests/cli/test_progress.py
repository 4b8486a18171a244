"""The live progress line: shown on an interactive stderr for runs longer than a second."""

from __future__ import annotations

import io

import pytest

from lockbreak.cli.progress import ProgressLine


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_line_shows_states_and_rate_after_a_second(monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    err = _Tty()
    monkeypatch.setattr("sys.stderr", err)
    with ProgressLine() as line:
        line.progress(states=500, transitions=900, depth=3, seconds=0.5)
        assert err.getvalue() == ""          # quiet for the first second
        line.progress(states=300_000, transitions=900_000, depth=40, seconds=2.0)
        assert "300,000 states, depth 40, 150,000 states/s, 2 s" in err.getvalue()
    assert err.getvalue().endswith("\r\x1b[K")   # the line is cleared when the run ends


def test_progress_line_stays_silent_off_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    with ProgressLine() as line:
        line.progress(states=300_000, transitions=900_000, depth=40, seconds=5.0)
    assert err.getvalue() == ""
