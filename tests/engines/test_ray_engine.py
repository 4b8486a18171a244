"""`check --ray`: the parallel search on a real local Ray cluster, and a killed actor.

Ray starts once for the session (`ray_cluster`), with two CPUs, in a temporary folder.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from lockbreak.cli import main
from lockbreak.engines import parallel, plain_bfs
from lockbreak.engines.swarm import plan
from tests.support.paths import REPO
from tests.support.scaling import SCENARIOS, assert_agree, models

ray = pytest.importorskip("ray", reason="Ray is the optional extra: pip install -e '.[ray]'")

from lockbreak.engines.ray_engine import RayPool, run_swarm  # noqa: E402


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    temp = tmp_path_factory.mktemp("ray")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR",
             _temp_dir=str(temp), log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def pool(ray_cluster: None) -> Iterator[RayPool]:
    actors = RayPool(2)
    yield actors
    actors.close()


@pytest.mark.slow
@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_ray_agrees_with_the_sequential_engine(pool: RayPool, path: Path) -> None:
    for model, factory, expected in models(path):
        got = parallel.check(model, factory, pool, symmetry=bool(model.canonical_groups))
        assert_agree(model, expected, got, path.name)


class Killer:
    """Kills actor 1 once, right after the calls of ``phase`` in ``level`` were sent."""

    def __init__(self, phase: str, level: int) -> None:
        self.phase, self.level, self.killed = phase, level, False

    def __call__(self, phase: str, level: int, actors: list[Any]) -> None:
        if not self.killed and (phase, level) == (self.phase, self.level):
            ray.kill(actors[1], no_restart=False)
            self.killed = True


@pytest.mark.slow
@pytest.mark.parametrize("phase", ["expand", "receive"])
def test_an_actor_killed_mid_run_does_not_change_the_verdict(ray_cluster: None,
                                                             phase: str) -> None:
    """Safety properties under symmetry: the actor is rebuilt from its checkpoints."""
    path = REPO / "scenarios" / "nested-wakeup-v2.6.20.toml"
    model, factory, expected = next(models(path))
    safety = [r.property for r in expected if r.property != "deadlock_free"]
    killer = Killer(phase, 4)
    actors = RayPool(2, on_call=killer)
    try:
        got = parallel.check(model, factory, actors, properties=safety, symmetry=True)
    finally:
        actors.close()
    assert killer.killed and actors.restarts >= 1
    want = [r for r in expected if r.property in safety]
    assert [r.status for r in got] == [r.status for r in want]
    assert_agree(model, want, got, path.name)


@pytest.mark.slow
@pytest.mark.parametrize("symmetry", [True, False], ids=["restarted", "rebuilt"])
def test_a_killed_actor_with_edges_does_not_change_the_deadlock(ray_cluster: None,
                                                                 symmetry: bool) -> None:
    """With deadlock_free, edges are kept: rebuilt from checkpoints without symmetry, and the
    search started again under it."""
    path = REPO / "scenarios" / "nested-outer-v2.6.12.toml"
    model, factory, expected = next(models(path))
    if not symmetry:
        expected = plain_bfs.check(model)
    assert "violated" in [r.status.value for r in expected]
    killer = Killer("receive", 3)
    actors = RayPool(2, on_call=killer)
    try:
        got = parallel.check(model, factory, actors, symmetry=symmetry)
    finally:
        actors.close()
    assert killer.killed and actors.restarts >= 1
    assert_agree(model, expected, got, path.name)


@pytest.mark.slow
def test_a_swarm_runs_as_ray_tasks(ray_cluster: None) -> None:
    path = REPO / "scenarios" / "nested-v2.6.9.toml"
    model, factory, _ = next(models(path))
    bit = model.property_names.index("no_spurious_break")
    reports = run_swarm(factory, [plan(4)[0::2], plan(4)[1::2]], 1 << bit, False, 1e18)
    assert sorted(r[0] for share in reports for r in share) == [0, 1, 2, 3]
    assert any(bit in r[1] for share in reports for r in share)


@pytest.mark.slow
def test_ray_and_worker_processes_give_the_same_counterexamples(pool: RayPool) -> None:
    """Same partitions, same order of arrival: the same trace, action for action."""
    from lockbreak.engines.parallel import ProcessPool

    path = REPO / "scenarios" / "stale-data-reread-v2.6.9.toml"
    model, factory, _ = next(models(path))
    on_ray = parallel.check(model, factory, pool, symmetry=True)
    with ProcessPool(2) as processes:
        on_processes = parallel.check(model, factory, processes, symmetry=True)
    indices = [[(r.property, [s.index for s in r.trace.steps]) for r in run if r.trace]
               for run in (on_ray, on_processes)]
    assert indices[0] and indices[0] == indices[1]


def test_the_command_line_on_ray(ray_cluster: None, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    args = ["check", "scenarios/nested-v2.6.9.toml", "--json"]
    plain = CliRunner().invoke(main, [*args, "--trace-dir", str(tmp_path / "a")])
    spread = CliRunner().invoke(main, [*args, "--ray", "--trace-dir", str(tmp_path / "b")])
    assert spread.exit_code == plain.exit_code, spread.output
    a, b = json.loads(plain.stdout)["results"], json.loads(spread.stdout)["results"]
    assert [(r["property"], r["status"], len(r["trace"] or ())) for r in a] == [
        (r["property"], r["status"], len(r["trace"] or ())) for r in b]
    assert any(r["trace"] for r in b)


def test_a_bare_ray_before_the_paths_is_caught() -> None:
    result = CliRunner().invoke(main, ["check", "--ray", str(SCENARIOS[0]), str(SCENARIOS[1])])
    assert result.exit_code == 2 and "--ray=ADDRESS" in result.output
