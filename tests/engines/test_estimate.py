"""The state-space estimate: exact when the sample explores everything, within a factor on the
benchmark scenario once the sample has passed the steepest growth, and from the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from lockbreak.cli import main
from lockbreak.engines import check
from lockbreak.engines.estimate import estimate, extrapolate
from tests.support.helpers import NESTED_CPU0, NESTED_CPU1, kernel_model, scenario_toml
from tests.support.paths import REPO
from tests.support.toys import TasLock

# bench/bench_nested.py at n = 2 (3,185 states): its BFS level sizes
NESTED2_LEVELS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 16, 18, 22, 26, 32, 36, 40, 44, 46, 52,
                  58, 62, 68, 74, 76, 80, 82, 78, 80, 82, 89, 102, 109, 122, 135, 138, 149, 152,
                  150, 154, 144, 126, 116, 94, 74, 62, 42, 28, 20, 8, 6, 6, 2, 2, 2]


def test_a_sample_of_everything_counts_exactly(tmp_path: Path) -> None:
    model = kernel_model(tmp_path, scenario_toml("v2.6.9", [NESTED_CPU0, NESTED_CPU1]))
    found = estimate(model, seconds=60)
    assert found.exact and found.states == check(model)[0].stats.states
    symmetric = estimate(TasLock(3, "atomic", rounds=2), symmetry=True)
    assert symmetric.exact and symmetric.states == 22      # as test_engine_explicit pins


def test_extrapolation_of_a_bell() -> None:
    sizes = [round(5000 * np.exp(-(((d - 40) / 12) ** 2))) + 1 for d in range(80)]
    for seen in (35, 50):
        assert 0.7 < extrapolate(sizes[:seen]) / sum(sizes) < 1.4
    assert extrapolate(sizes[:4]) is None          # too few levels
    assert extrapolate(sizes[:20]) is None         # the bend is too slight yet
    assert extrapolate([1, 2, 4, 8, 16, 32, 64, 128]) is None   # no bend yet


def test_extrapolation_on_the_nested_benchmark_levels() -> None:
    """Pinned: how far off the guess is from the first d levels of bench_nested n = 2."""
    total = sum(NESTED2_LEVELS)
    ratios = {d: round(extrapolate(NESTED2_LEVELS[:d]) / total, 2) for d in (25, 30, 40, 50)}
    assert ratios == {25: 1.18, 30: 0.84, 40: 1.92, 50: 1.17}


def test_check_estimate_prints_and_checks_nothing() -> None:
    scenario = REPO / "scenarios" / "nested-v2.6.9.toml"
    out = CliRunner().invoke(main, ["check", str(scenario), "--estimate", "--json"])
    assert out.exit_code == 0, out.output
    [record] = json.loads(out.output)["estimates"]
    assert record["exact"] and record["states"] == 1002     # as `check` counts it
    text = CliRunner().invoke(main, ["check", str(scenario), "--estimate"])
    assert text.output == ("nested-v2.6.9: 1,002 states (counted: the sample explored "
                           "everything)\n")
