"""The pipeline of a check: the request, the engine choice, the timing split, the verdicts.

Each test runs the real kernel model on a public scenario (or a toy from `toys.py`) through
`lockbreak.pipeline`; none mocks an engine.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from lockbreak.core import Budget, LockbreakError, PropertyKind, Stats, Status, Trace
from lockbreak.engines import plain_bfs
from lockbreak.engines.checkpoint import require_engine, require_same
from lockbreak.engines.compaction import Storage
from lockbreak.engines.verdict import NEVER_WITNESSED, verdict
from lockbreak.pipeline import (
    CheckRequest,
    Engine,
    Overrides,
    RandomOptions,
    ScaleOptions,
    check_scenario,
    choose_engine,
    load,
    unfinished_run,
)
from lockbreak.pipeline.check import timing_split, wanted
from model.world import build_world
from properties.catalogue import CATALOGUE, by_name, of_kind
from tests.support.paths import REPO
from tests.support.toys import Counter, TwoLocks

SCENARIOS = REPO / "scenarios"
NESTED = SCENARIOS / "nested-v2.6.9.toml"
LOCKSTEP = SCENARIOS / "stale-data-reread-v2.6.9-lockstep.toml"
WORST = of_kind(PropertyKind.WORST)


def phases_of(path: Path, names: tuple[str, ...] = ()) -> list:
    return timing_split(build_world(load(path, Overrides())), wanted(names))


def test_the_request_is_frozen_and_refuses_what_it_cannot_run() -> None:
    request = CheckRequest()
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.engine = "z3"  # type: ignore[misc]
    with pytest.raises(LockbreakError, match="choose one of explicit, hypothesis, z3"):
        CheckRequest(engine="spin")
    with pytest.raises(LockbreakError, match="RandomOptions"):
        CheckRequest(engine="hypothesis")


def test_every_property_is_wanted_unless_some_are_named() -> None:
    assert wanted(()) == [p.name for p in CATALOGUE]
    assert wanted(("bounded_wait", "mutual_exclusion")) == ["bounded_wait", "mutual_exclusion"]


def test_worst_cases_move_to_lockstep_only_under_interleaving() -> None:
    own, lockstep = phases_of(NESTED)
    assert set(lockstep.names) == set(WORST) and not set(own.names) & set(WORST)
    assert lockstep.model.world is own.model.world
    own, lockstep = phases_of(LOCKSTEP)
    assert own.names == wanted(()) and lockstep.names == []


def test_the_engine_follows_the_request_then_the_model() -> None:
    own, lockstep = (phase.model for phase in phases_of(NESTED))
    assert choose_engine(CheckRequest(), own) is Engine.VECTORISED
    # lockstep timing: its worst-case graph is searched from its parts
    assert choose_engine(CheckRequest(), lockstep) is Engine.VECTORISED
    assert choose_engine(CheckRequest(vectorised=False), lockstep) is Engine.PLAIN
    assert choose_engine(CheckRequest(vectorised=False), own) is Engine.PLAIN
    assert choose_engine(CheckRequest(storage=Storage("hashcompact")), own) is Engine.PLAIN
    assert choose_engine(CheckRequest(), Counter()) is Engine.PLAIN     # not factored
    assert choose_engine(CheckRequest(scale=ScaleOptions(workers=2)), own) is Engine.PARALLEL
    assert choose_engine(CheckRequest(scale=ScaleOptions(ray_address="local")), own) \
        is Engine.PARALLEL
    assert choose_engine(CheckRequest(scale=ScaleOptions(swarm_size=3)), own) is Engine.SWARM
    random_search = CheckRequest(engine="hypothesis", random=RandomOptions(database=None))
    assert choose_engine(random_search, own) is Engine.RANDOM
    assert choose_engine(CheckRequest(engine="z3"), own) is Engine.Z3


def test_verdicts_come_in_the_order_asked_each_on_its_timing() -> None:
    scenario = load(NESTED, Overrides())
    run = check_scenario(scenario, CheckRequest(properties=("bounded_wait", "mutual_exclusion",
                                                            "break_return_truth")))
    assert [v.result.property for v in run.verdicts] == [
        "bounded_wait", "mutual_exclusion", "break_return_truth"]
    assert [v.timing for v in run.verdicts] == ["lockstep", "interleaving", "interleaving"]
    assert [v.result.status for v in run.verdicts] == [
        Status.HOLDS, Status.HOLDS, Status.VIOLATED]
    assert run.model is run.verdicts[1].model and all(v.requested for v in run.verdicts)


def test_the_plain_and_vectorised_engines_give_the_same_verdicts() -> None:
    scenario = load(NESTED, Overrides())
    fast = check_scenario(scenario, CheckRequest())
    plain = check_scenario(scenario, CheckRequest(vectorised=False))
    assert ([(v.result.status, v.result.stats.states, v.result.detail) for v in fast.verdicts]
            == [(v.result.status, v.result.stats.states, v.result.detail)
                for v in plain.verdicts])


def test_a_vacuous_pass_names_its_witness_once() -> None:
    run = check_scenario(load(NESTED, Overrides()), CheckRequest(properties=("no_stale_use",)))
    [result] = [v.result for v in run.verdicts]
    assert result.status is Status.VACUOUS
    assert result.detail == f"{NEVER_WITNESSED} ({by_name('no_stale_use').witness})"


def test_a_random_search_names_the_witness_it_never_reached() -> None:
    request = CheckRequest(properties=("no_stale_use", "bounded_wait"), engine="hypothesis",
                           budget=Budget(), random=RandomOptions(budget="20", seed=1,
                                                                 database=None))
    run = check_scenario(load(NESTED, Overrides()), request)
    stale, wait = (v.result for v in run.verdicts)
    assert run.coverage is not None and not run.witness_reached("no_stale_use")
    assert stale.status is Status.INCOMPLETE and stale.detail.endswith(
        f"(witness: {by_name('no_stale_use').witness})")
    assert wait.status is Status.INCOMPLETE and "cannot decide" in wait.detail


def test_a_run_out_of_memory_leaves_every_property_undecided() -> None:
    run = unfinished_run(load(NESTED, Overrides()), ("mutual_exclusion", "bounded_wait"),
                         "out of memory")
    assert [(v.result.status, v.result.detail, v.timing) for v in run.verdicts] == [
        (Status.INCOMPLETE, "out of memory", "interleaving"),
        (Status.INCOMPLETE, "out of memory", "lockstep")]


def test_the_verdict_ladder_puts_a_violation_above_a_stop_and_a_stop_above_vacuity() -> None:
    trace = Trace(0, ())
    found = verdict(None, "p", PropertyKind.SAFETY, Stats(3), witnessed=False, violation=trace,
                    cut_short="timed out")
    assert (found.status, found.trace, found.stats.states) == (Status.VIOLATED, trace, 3)
    stopped = verdict(None, "p", PropertyKind.SAFETY, Stats(), witnessed=False,
                      cut_short="timed out")
    assert (stopped.status, stopped.detail) == (Status.INCOMPLETE, "timed out")
    # no_graph is about CAN_FINISH properties only
    assert verdict(None, "p", PropertyKind.SAFETY, Stats(), witnessed=True,
                   no_graph="no edges").status is Status.HOLDS
    assert verdict(None, "p", PropertyKind.CAN_FINISH, Stats(), witnessed=True,
                   no_graph="no edges").detail == "no edges"


def test_the_verdict_ladder_extends_a_stuck_trace_to_the_deadlock() -> None:
    [result] = plain_bfs.check(TwoLocks("abba"))
    assert result.status is Status.VIOLATED and "can never finish" in result.detail


def test_a_resumed_search_names_the_option_that_differs() -> None:
    with pytest.raises(LockbreakError, match=r"storage 'a', this one has 'b'; resume with the "
                                             r"same storage and symmetry"):
        require_same({"storage": ("a", "b"), "symmetry": (True, True)})
    require_same({"symmetry": (False, False)})
    with pytest.raises(LockbreakError, match=r"plain breadth-first engine.*with --plain-bfs"):
        require_engine(plain_bfs.ENGINE, "vectorised_bfs")
    require_engine("vectorised_bfs", "vectorised_bfs")
