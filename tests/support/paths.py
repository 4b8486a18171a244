"""Where the tests find the repository, its scenarios and their own data and golden files."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TESTS = REPO / "tests"
DATA = TESTS / "data"
GOLDEN = TESTS / "golden"
