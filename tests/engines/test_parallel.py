"""`check --workers N`: the parallel breadth-first search agrees with the sequential one."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from lockbreak.cli import main
from lockbreak.core import Budget, LockbreakError, Status
from lockbreak.engines import parallel, plain_bfs
from lockbreak.engines.parallel import ProcessPool
from tests.support.paths import REPO
from tests.support.scaling import SCENARIOS, assert_agree, models
from tests.support.toys import Peterson, TasLock


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPool]:
    with ProcessPool(2) as workers:
        yield workers


@pytest.mark.slow
@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_two_workers_agree_with_the_sequential_engine(pool: ProcessPool, path: Path) -> None:
    for model, factory, expected in models(path):
        got = parallel.check(model, factory, pool, symmetry=bool(model.canonical_groups))
        assert_agree(model, expected, got, path.name)


@pytest.mark.slow
def test_three_workers_and_no_symmetry_agree_too() -> None:
    path = REPO / "scenarios" / "nested-outer-v2.6.12.toml"
    with ProcessPool(3) as three:
        for model, factory, _ in models(path):
            expected = plain_bfs.check(model)
            assert_agree(model, expected, parallel.check(model, factory, three), path.name)


def test_counterexamples_are_the_same_on_every_run(pool: ProcessPool) -> None:
    path = REPO / "scenarios" / "nested-v2.6.9.toml"
    model, factory, _ = next(models(path))
    runs = [parallel.check(model, factory, pool, symmetry=True) for _ in range(2)]
    traces = [[(r.property, [s.index for s in r.trace.steps]) for r in run if r.trace]
              for run in runs]
    assert traces[0] and traces[0] == traces[1]


@pytest.mark.parametrize("toy", [functools.partial(Peterson, "check_then_set"),
                                 functools.partial(TasLock, 3, "split")],
                         ids=["peterson-broken", "tas-split"])
def test_toy_models_whose_states_are_plain_tuples(pool: ProcessPool, toy) -> None:
    model = toy()
    symmetry = hasattr(model, "canonical_perm")
    expected = plain_bfs.check(model, symmetry=symmetry)
    got = parallel.check(model, toy, pool, symmetry=symmetry)
    assert [r.status for r in got] == [r.status for r in expected]
    assert Status.VIOLATED in [r.status for r in got]
    assert [len(r.trace) for r in got if r.trace] == [len(r.trace) for r in expected if r.trace]


def test_a_state_budget_makes_it_incomplete(pool: ProcessPool) -> None:
    path = REPO / "scenarios" / "nested-wakeup-v2.6.20.toml"
    model, factory, _ = next(models(path))
    results = parallel.check(model, factory, pool, properties=["mutual_exclusion"],
                             budget=Budget(max_states=50))
    assert [r.status for r in results] == [Status.INCOMPLETE]
    assert "--max-states" in results[0].detail


def test_a_factory_that_builds_another_model_is_an_error(pool: ProcessPool) -> None:
    model = Peterson("check_then_set")
    with pytest.raises(LockbreakError, match="factory"):
        parallel.check(model, functools.partial(TasLock, 2), pool)


@pytest.mark.slow
def test_the_command_line_gives_the_sequential_exit_code_and_trace(tmp_path: Path,
                                                                  monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    args = ["check", "scenarios/nested-v2.6.9.toml", "--json"]
    plain = CliRunner().invoke(main, [*args, "--trace-dir", str(tmp_path / "a")])
    spread = CliRunner().invoke(main, [*args, "--workers", "2", "--trace-dir",
                                       str(tmp_path / "b")])
    assert spread.exit_code == plain.exit_code == 0, spread.output
    assert any(r["trace"] for r in json.loads(spread.stdout)["results"])
    a, b = json.loads(plain.stdout)["results"], json.loads(spread.stdout)["results"]
    assert [(r["property"], r["status"], len(r["trace"] or ())) for r in a] == [
        (r["property"], r["status"], len(r["trace"] or ())) for r in b]


def test_workers_with_another_engine_is_bad_input() -> None:
    result = CliRunner().invoke(main, ["check", str(SCENARIOS[0]), "--engine", "z3",
                                       "--workers", "2"])
    assert result.exit_code == 2 and "explicit engine only" in result.output
