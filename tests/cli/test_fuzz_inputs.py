"""Mutated public scenarios never crash ``lockbreak check``: every run ends in a verdict code
(0 to 3), never a traceback, and bad input (exit 2) is always placed at file:line:col.

The mutants are the public scenarios with bytes flipped, lines deleted or duplicated, tokens
swapped and the text cut short; each is checked for real, within a small state budget.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lockbreak.cli import main
from tests.support.paths import REPO

PUBLIC = sorted((REPO / "scenarios").rglob("*.toml"))
TOKEN = re.compile(rb"\w+|[^\w\s]")


@st.composite
def mutants(draw: st.DrawFn) -> bytes:
    """A public scenario with one to four mutations."""
    text = draw(st.sampled_from(PUBLIC)).read_bytes()
    for _ in range(draw(st.integers(1, 4))):
        lines = text.split(b"\n")
        kind = draw(st.sampled_from(["flip", "delete", "duplicate", "swap", "truncate"]))
        if kind == "flip" and text:
            at = draw(st.integers(0, len(text) - 1))
            text = text[:at] + bytes([draw(st.integers(0, 255))]) + text[at + 1:]
        elif kind == "delete" and lines:
            del lines[draw(st.integers(0, len(lines) - 1))]
            text = b"\n".join(lines)
        elif kind == "duplicate" and lines:
            at = draw(st.integers(0, len(lines) - 1))
            lines.insert(draw(st.integers(0, len(lines))), lines[at])
            text = b"\n".join(lines)
        elif kind == "swap":
            spans = [m.span() for m in TOKEN.finditer(text)]
            if len(spans) >= 2:
                i, j = sorted(draw(st.lists(st.integers(0, len(spans) - 1), min_size=2,
                                            max_size=2, unique=True)))
                (a, b), (c, d) = spans[i], spans[j]
                text = text[:a] + text[c:d] + text[b:c] + text[a:b] + text[d:]
        elif kind == "truncate":
            text = text[:draw(st.integers(0, len(text)))]
    return text


def assert_checked_without_crashing(text: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mutant.toml"
        path.write_bytes(text)
        result = CliRunner().invoke(main, ["check", "--max-states", "40", "--trace-dir",
                                           str(Path(tmp) / "traces"), str(path)],
                                    catch_exceptions=False)
    assert result.exit_code in (0, 1, 2, 3), result.output
    assert "Traceback" not in result.output
    if result.exit_code == 2:
        assert re.search(rf"{re.escape(str(path))}:\d+:\d+: ", result.output), result.output


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(mutants())
def test_mutated_scenarios_never_crash(text: bytes) -> None:
    assert_checked_without_crashing(text)


@pytest.mark.slow
@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(mutants())
def test_many_mutated_scenarios_never_crash(text: bytes) -> None:
    assert_checked_without_crashing(text)
