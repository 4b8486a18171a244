"""Fair liveness and worst cases on the vectorised engine's graph (`lockbreak.engines.fair_graph`)
against the plain engine's (`lockbreak.engines.liveness`).

On one model both must store the same states and give the same verdicts, details, worst cases
and the very same counterexamples (lassos with the same stem and repeating part), for every
public scenario under interleaving timing and for the scaled nested scenario; every lasso
must replay and keep its CPU's obligation open forever in a weakly fair execution.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from lockbreak.core import Budget, CheckResult, PropertyKind, Status
from lockbreak.engines import fair_graph, level_search, plain_bfs
from lockbreak.engines.checkpoint import Interruption
from lockbreak.engines.liveness import open_forever
from lockbreak.engines.snapshots import FairGraphSnapshot
from model.kernel import KernelModel
from model.lockstep import kernel_model
from model.scenario import load_scenario
from model.world import build_world
from properties.catalogue import KNOWN, of_kind, specs
from tests.support.paths import REPO
from tests.support.toys import Spinners

sys.path.insert(0, str(REPO / "bench"))
from bench_nested import scenario_text

OWING = of_kind(PropertyKind.FAIR, PropertyKind.WORST)
INTERLEAVED = [path for path in sorted((REPO / "scenarios").glob("*.toml"))
               if load_scenario(path, known_properties=KNOWN).kernel.timing == "interleaving"]


def owing_model(path: Path) -> KernelModel:
    scenario = load_scenario(path, known_properties=KNOWN)
    return kernel_model(build_world(scenario), specs(OWING))


def everything(result: CheckResult) -> tuple[object, ...]:
    trace = result.trace
    return (result.property, result.status, result.detail, result.worst, result.stats.states,
            result.stats.transitions, result.stats.depth,
            None if trace is None else (trace.states, trace.loop_start,
                                        [step.index for step in trace.steps]))


def assert_same(model: KernelModel) -> list[CheckResult]:
    """Both engines on ``model`` agree on everything; the new one's results."""
    plain = plain_bfs.check(model)
    columns = fair_graph.check(model)
    assert [everything(r) for r in columns] == [everything(r) for r in plain]
    for result in columns:
        if result.status is Status.VIOLATED and result.trace is not None:
            assert_replays(model, result)
    return columns


def assert_replays(model: KernelModel, result: CheckResult) -> None:
    trace = result.trace
    assert trace is not None and trace.init in model.init_states()
    state = trace.init
    for step in trace.steps:
        assert model.actions(state)[step.index] == step.action
        state = model.next_state(state, step.action)
        assert state == step.state
    bit = model.property_names.index(result.property)
    fair = model.property_kinds[bit] is PropertyKind.FAIR
    if fair or result.worst is None:
        assert open_forever(model, trace, bit, fair=fair) is not None


@pytest.mark.parametrize("path", INTERLEAVED, ids=lambda p: p.stem)
def test_public_scenarios_agree_with_the_plain_engine(path: Path) -> None:
    model = owing_model(path)
    assert fair_graph.serves(model)
    assert_same(model)


def test_the_scaled_nested_scenario_at_two_cpus_agrees_and_holds(tmp_path: Path) -> None:
    path = tmp_path / "nested-scaled-2.toml"
    path.write_text(scenario_text(2))
    model = kernel_model(build_world(load_scenario(path, known_properties=KNOWN)),
                         specs(of_kind(PropertyKind.FAIR)))
    results = assert_same(model)
    assert {r.status for r in results} == {Status.HOLDS}
    assert results[0].stats.states == 3185


def test_a_cpu_starved_by_an_unfair_lock_is_found_with_a_replaying_lasso() -> None:
    """A CPU taking and dropping a test-and-set lock forever can win every race against the
    other, in an execution fair to both (the loser does move: it spins)."""
    model = owing_model(REPO / "scenarios" / "starvation-tas-v2.6.12.toml")
    results = {r.property: r for r in assert_same(model)}
    starved = results["starvation_free"]
    assert starved.status is Status.VIOLATED and starved.trace is not None
    assert starved.trace.loop_start is not None
    assert starved.detail.startswith("cpu1 is never served in an execution fair to every")


def test_fair_properties_under_lockstep_timing_agree_with_the_plain_engine() -> None:
    """Lockstep timing is searched from its parts and tick bookkeeping: the same results as
    the plain engine, on the full graph (no quotient under lockstep)."""
    path = REPO / "scenarios" / "stale-data-reread-v2.6.9-lockstep.toml"
    scenario = load_scenario(path, known_properties=KNOWN)
    model = kernel_model(build_world(scenario), specs(of_kind(PropertyKind.FAIR)))
    assert fair_graph.serves(model) and not fair_graph.symmetric(model)
    assert_same(model)


@pytest.mark.slow
def test_check_gives_the_plain_engines_fair_verdicts_and_lassos(tmp_path: Path) -> None:
    """`lockbreak check` takes this engine for fairness by default; --plain-bfs the plain one."""
    from tests.cli.test_cli import assert_exit, check_json

    scenario = REPO / "scenarios" / "starvation-tas-v2.6.12.toml"
    fair = [word for name in of_kind(PropertyKind.FAIR) for word in ("--property", name)]
    runs = {flag: check_json(tmp_path, *fair, *([flag] if flag else []), scenario)
            for flag in ("", "--plain-bfs")}
    for run, _ in runs.values():
        assert_exit(run, 0)      # the scenario expects its starvation
    seen = {flag: [(r["property"], r["status"], r["states"], r["trace"])
                   for r in data["results"]] for flag, (_, data) in runs.items()}
    assert seen[""] == seen["--plain-bfs"]
    assert ("starvation_free", "violated") in {(p, s) for p, s, *_ in seen[""]}


@pytest.mark.parametrize("symmetry", [False, True])
def test_a_state_budget_leaves_fairness_undecided(tmp_path: Path, symmetry: bool) -> None:
    path = tmp_path / "nested-scaled-2.toml"
    path.write_text(scenario_text(2))
    model = kernel_model(build_world(load_scenario(path, known_properties=KNOWN)),
                         specs(of_kind(PropertyKind.FAIR)))
    for result in fair_graph.check(model, budget=Budget(max_states=100), symmetry=symmetry):
        assert result.status is Status.INCOMPLETE
        assert result.detail == "stopped at 100 states (--max-states)"


@pytest.mark.parametrize("forever", [True, False], ids=["retaking", "once"])
def test_a_factored_toy_agrees_with_the_plain_engine_with_and_without_symmetry(
        forever: bool) -> None:
    """`Spinners`: no kernel code, only the protocols. Retaking the lock forever, a process
    can be starved in an execution fair to all; taking it once, every process is served."""
    model = Spinners(3, forever)
    assert fair_graph.serves(model) and fair_graph.symmetric(model)
    plain = plain_bfs.check(model)  # type: ignore[arg-type]
    columns = fair_graph.check(model)
    assert [everything(r) for r in columns] == [everything(r) for r in plain]
    reduced = fair_graph.check(model, symmetry=True)
    assert [(r.property, r.status) for r in reduced] == [(r.property, r.status) for r in plain]
    served = reduced[0]
    assert served.stats.states < plain[0].stats.states
    assert served.status is (Status.VIOLATED if forever else Status.HOLDS)
    if forever:
        assert served.trace is not None and plain[0].trace is not None
        assert served.trace.loop_start == plain[0].trace.loop_start
        assert open_forever(model, served.trace, 0, fair=True) is not None  # type: ignore[arg-type]


def test_too_many_cpus_to_pack_fall_back_to_the_plain_analysis() -> None:
    """16 CPUs do not fit 64-bit keys: the plain engine's answer, budget and all."""
    path = REPO / "bench" / "scenarios" / "nested-16cpu-v2.6.9.toml"
    scenario = load_scenario(path, known_properties=KNOWN)
    model = kernel_model(build_world(scenario), specs(of_kind(PropertyKind.FAIR)))
    budget = Budget(max_states=300)
    plain = plain_bfs.check(model, budget=budget)
    assert [everything(r) for r in fair_graph.check(model, budget=budget)] == [
        everything(r) for r in plain]
    assert {r.status for r in plain} == {Status.INCOMPLETE}


class StopAt:
    """``Interruption.requested`` that asks for a stop at its ``at``-th poll, and never again."""

    def __init__(self, at: int) -> None:
        self.at, self.polls = at, 0

    def __call__(self) -> str:
        self.polls += 1
        return "test stop" if self.polls == self.at else ""


@pytest.mark.parametrize("symmetry", [False, True])
@pytest.mark.parametrize("at", [1, 8, 24, 32, 1000])
def test_a_stopped_check_resumes_to_the_uninterrupted_results(at: int, symmetry: bool) -> None:
    """`lockbreak check` always runs with an interruption (Ctrl-C, SIGTERM, --timeout write a
    checkpoint): wherever the stop falls, in the frontier part or in the graph search, the
    run says incomplete, leaves a snapshot, and a fresh model resumed from it gives the
    uninterrupted results."""
    path = REPO / "scenarios" / "starvation-tas-v2.6.12.toml"
    scenario = load_scenario(path, known_properties=KNOWN)
    whole = fair_graph.check(kernel_model(build_world(scenario), specs(list(KNOWN))),
                             symmetry=symmetry)
    model = kernel_model(build_world(scenario), specs(list(KNOWN)))
    stop = Interruption(StopAt(at))
    first = fair_graph.check(model, symmetry=symmetry, interruption=stop)
    if stop.saved is None:          # finished before the at-th poll
        assert [everything(r) for r in first] == [everything(r) for r in whole]
        return
    assert isinstance(stop.saved, FairGraphSnapshot)
    assert any(r.status is Status.INCOMPLETE and "test stop" in r.detail for r in first)
    fresh = kernel_model(build_world(scenario), specs(list(KNOWN)))
    again = Interruption(StopAt(0), resume=stop.saved)
    resumed = fair_graph.check(fresh, symmetry=symmetry, interruption=again)
    assert again.saved is None
    assert [everything(r)[:3] for r in resumed] == [everything(r)[:3] for r in whole]
    assert [r.trace and r.trace.states for r in resumed] == [
        r.trace and r.trace.states for r in whole]


@pytest.mark.parametrize("symmetry", [False, True])
def test_fairness_is_decided_on_the_graph_deadlock_freedom_searched(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, symmetry: bool) -> None:
    """With `deadlock_free` asked for, its search's graph (every edge kept) is the one the
    FAIR properties read: one search, the same results as their own search gives."""
    path = tmp_path / "nested-scaled-2.toml"
    path.write_text(scenario_text(2))
    model = kernel_model(build_world(load_scenario(path, known_properties=KNOWN)),
                         specs(of_kind(PropertyKind.FAIR, PropertyKind.CAN_FINISH)))
    alone = fair_graph.check(model, properties=["starvation_free", "livelock_free"],
                             symmetry=symmetry)
    runs = []
    real_run = level_search.Search.run

    def counted(search: level_search.Search) -> None:
        runs.append(search)
        real_run(search)

    monkeypatch.setattr(level_search.Search, "run", counted)
    together = fair_graph.check(model, symmetry=symmetry)
    assert len(runs) == 1
    fair = [r for r in together if r.property in ("starvation_free", "livelock_free")]
    assert [everything(r) for r in fair] == [everything(r) for r in alone]


@pytest.mark.parametrize("symmetry", [False, True])
def test_columns_built_a_few_edges_at_a_time_are_the_same(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, symmetry: bool) -> None:
    """Edge places, parent edges and obligations read a chunk at a time give the columns
    one whole chunk gives, across chunk boundaries that split a state's edges."""
    path = tmp_path / "nested-scaled-2.toml"
    path.write_text(scenario_text(2))
    model = owing_model(path)
    whole = fair_graph.labelled(model, symmetry=symmetry)
    monkeypatch.setattr(fair_graph, "_CHUNK", 7)
    chunked = fair_graph.labelled(model, symmetry=symmetry)
    assert len(whole.dst) > 7 * 10
    for name in ("src", "dst", "index", "parent", "owing", "enabled", "ticks", "agent"):
        assert (getattr(chunked, name) == getattr(whole, name)).all(), name
    reached = np.flatnonzero(whole.parent >= 0)
    assert len(reached) == len(whole.states) - 1        # every state but the one root
    assert (whole.dst[whole.parent[reached]] == reached).all()
