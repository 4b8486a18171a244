"""`check --swarm N`: diversified searches find the known violations, and never say holds."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from lockbreak.cli import main
from lockbreak.core import Budget, Status
from lockbreak.engines import swarm
from lockbreak.engines.parallel import ProcessPool
from tests.support.paths import REPO
from tests.support.scaling import SCENARIOS, models, replays


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPool]:
    with ProcessPool(2) as workers:
        yield workers


@pytest.mark.slow
@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_a_swarm_finds_the_known_violations(pool: ProcessPool, path: Path) -> None:
    for model, factory, expected in models(path):
        got = swarm.check(model, factory, pool.run_swarm, pool.size, 4,
                          budget=Budget(max_states=4 * 3000))
        for want, have in zip(expected, got, strict=True):
            label = f"{path.name}: {want.property}"
            assert have.status in (Status.VIOLATED, Status.INCOMPLETE), label
            if have.status is Status.VIOLATED:
                # Real: it replays, and the explicit engine agrees, with a trace no shorter.
                assert want.status is Status.VIOLATED, label
                assert replays(model, have.trace, have.property), label
                assert len(have.trace) >= len(want.trace), label
            elif want.status is Status.VIOLATED and want.property not in (
                    "bounded_wait", "bounded_latency", "starvation_free", "livelock_free"):
                pytest.fail(f"{label}: the swarm missed a safety violation or deadlock")


def test_the_command_line_reports_incomplete_never_holds(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    result = CliRunner().invoke(main, ["check", "scenarios/ticket-v2.6.25.toml", "--swarm", "4",
                                       "-p", "mutual_exclusion", "--json",
                                       "--trace-dir", str(tmp_path)])
    assert result.exit_code == 3, result.output
    [record] = json.loads(result.stdout)["results"]
    assert record["status"] == "incomplete" and "exhaustive" in record["detail"]


def test_the_plan_diversifies_strategy_seed_and_depth() -> None:
    members = swarm.plan(8, depth=200)
    assert {m.strategy for m in members} == {"dfs", "walk"}
    assert len({m.seed for m in members}) == 8
    assert len({m.depth for m in members}) == 4
