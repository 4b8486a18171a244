"""Worst cases in ticks on the symmetry quotient (`lockbreak.engines.worst_symmetry`) against
the unreduced lockstep graph (`fair_graph` without symmetry) and the plain engine.

Identical CPUs, so the quotient is smaller; the verdicts and the worst cases must be the full
graph's, every trace, lifted to real CPUs, must replay on the real model, a bounded worst case
must be what its trace's last step closes after and an unbounded one a lasso that keeps the
wait open while time passes. A quotient that forgets the renaming on its edges, and a search
whose representatives are sorted otherwise than the model's, must be caught.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from lockbreak.core import CheckResult, PropertyKind, Stats, Status
from lockbreak.engines import fair_graph, plain_bfs
from lockbreak.engines.quotient import UnfaithfulLift
from lockbreak.engines.worst_symmetry import SymmetricWorst
from model.lockstep import LockstepKernelModel
from model.scenario import load_scenario
from model.world import build_world
from properties.catalogue import KNOWN, of_kind, specs
from tests.engines.test_fair_graph import assert_replays
from tests.engines.test_fair_symmetry import SYMMETRIC, forever_text
from tests.engines.test_worst_graph import assert_measured
from tests.support.paths import REPO

sys.path.insert(0, str(REPO / "bench"))
from bench_nested import scenario_text

WORST = of_kind(PropertyKind.WORST)


def lockstep_model(path: Path, cls: type[LockstepKernelModel] = LockstepKernelModel
                   ) -> LockstepKernelModel:
    model = cls(build_world(load_scenario(path, known_properties=KNOWN)), specs(WORST))
    assert model.canonical_groups and fair_graph.serves(model)
    assert fair_graph.symmetric(model, PropertyKind.WORST)
    return model


def written(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "symmetric.toml"
    path.write_text(text)
    return path


def assert_agree(model: LockstepKernelModel, full: list[CheckResult],
                 quotient: list[CheckResult]) -> None:
    """The same verdicts and worst cases, on fewer states; the quotient's traces replay and
    measure what they claim."""
    for whole, reduced in zip(full, quotient, strict=True):
        assert (reduced.property, reduced.status, reduced.worst) == (
            whole.property, whole.status, whole.worst)
        assert reduced.stats.states < whole.stats.states
        assert (reduced.trace is None) == (whole.trace is None)
        if reduced.trace is not None:
            assert_replays(model, reduced)
            assert (reduced.trace.loop_start is None) == (whole.trace.loop_start is None)
        if whole.status is Status.HOLDS:    # the lowest CPU that attains it, named alike
            assert reduced.detail == whole.detail
        # the same words but for the CPU named, which is one of the interchangeable ones
        assert re.sub(r"cpu\d+", "cpu", reduced.detail) == re.sub(r"cpu\d+", "cpu",
                                                                 whole.detail)
    assert_measured(model, quotient)


PUBLIC = {"qspinlock-v5.17": (2727, 5368), "ticket-v2.6.25": (2411, 4726)}


@pytest.mark.parametrize("name", PUBLIC)
def test_public_scenarios_with_identical_cpus_agree(name: str) -> None:
    """Every public scenario whose lockstep model has interchangeable CPUs (two, pinned by
    their state counts), against the full graph and the plain engine."""
    model = lockstep_model(REPO / "scenarios" / f"{name}.toml")
    plain = plain_bfs.check(model)
    full = fair_graph.check(model)
    quotient = fair_graph.check(model, symmetry=True)
    assert [(r.status, r.worst) for r in full] == [(r.status, r.worst) for r in plain]
    assert_agree(model, full, quotient)
    assert (quotient[0].stats.states, full[0].stats.states) == PUBLIC[name]


def test_only_these_public_scenarios_have_interchangeable_cpus_under_lockstep() -> None:
    found = []
    for path in sorted((REPO / "scenarios").glob("*.toml")):
        model = LockstepKernelModel(build_world(load_scenario(path, known_properties=KNOWN)),
                                    specs(WORST))
        if model.canonical_groups and fair_graph.serves(model):
            found.append(path.stem)
    assert found == sorted(PUBLIC)


TOYS = {**SYMMETRIC, "tas-3cpu-starves": forever_text(3, "tas", "full")}


@pytest.mark.parametrize("name", TOYS)
def test_toy_scenarios_agree(tmp_path: Path, name: str) -> None:
    model = lockstep_model(written(tmp_path, TOYS[name]))
    full = fair_graph.check(model)
    quotient = fair_graph.check(model, symmetry=True)
    assert_agree(model, full, quotient)
    if name.endswith("starves") or name.endswith("stuck"):
        assert quotient[0].status is Status.VIOLATED and quotient[0].worst is None


@pytest.mark.parametrize(("cpus", "states", "worst"), [(2, (1385, 2763), 33),
                                                       (3, (53911, 319198), 66)])
def test_the_scaled_nested_scenario_agrees(tmp_path: Path, cpus: int,
                                           states: tuple[int, int], worst: int) -> None:
    model = lockstep_model(written(tmp_path, scenario_text(cpus)))
    full = plain_bfs.check(model) if cpus == 2 else fair_graph.check(model)
    quotient = fair_graph.check(model, symmetry=True)
    assert_agree(model, full, quotient)
    assert (quotient[0].stats.states, full[0].stats.states) == states
    assert quotient[0].worst == worst


class Forgetful(SymmetricWorst):
    """A broken quotient: every edge's renaming taken as the identity, as if the tracked
    CPU kept its place whatever the representative's order."""

    def __init__(self, model: LockstepKernelModel, graph: fair_graph.ColumnGraph) -> None:
        super().__init__(model, graph)
        self.renaming[:] = self.group.identity


@pytest.mark.parametrize("name", ["v2.6.9-2cpu-wakeups-holds", "scaled-nested-2cpu-holds"])
def test_forgetting_the_renaming_on_the_edges_is_caught(tmp_path: Path, name: str) -> None:
    """The broken quotient's longest path does not lift to the real model: its edges, followed
    with the real renamings, leave the stored states it names."""
    model = lockstep_model(written(tmp_path, SYMMETRIC[name]))
    assert model.property_names[0] == "bounded_wait"
    graph = fair_graph.labelled(model, symmetry=True)
    [right] = SymmetricWorst(model, graph).decide([0], Stats())
    assert right.worst == fair_graph.check(model)[0].worst
    with pytest.raises(UnfaithfulLift):
        Forgetful(model, graph).decide([0], Stats())


class SortedById(LockstepKernelModel):
    """A model whose vectorised search sorts identical CPUs by their parts' ids, whose tick
    bits are the low ones, while `canonical` sorts by arrived and moved first."""

    def canonical_rank(self, own: int) -> int:
        return own


def test_the_search_sorts_cpus_as_canonical_does(tmp_path: Path) -> None:
    path = written(tmp_path, scenario_text(2))
    model = lockstep_model(path)
    graph = fair_graph.labelled(model, symmetry=True)
    assert all(model.canonical(graph.states[k]) == graph.states[k]
               for k in range(len(graph.states)))
    broken = lockstep_model(path, SortedById)
    graph = fair_graph.labelled(broken, symmetry=True)
    assert any(broken.canonical(graph.states[k]) != graph.states[k]
               for k in range(len(graph.states)))


def test_check_measures_worst_cases_on_the_quotient_and_the_trace_replays(
        tmp_path: Path) -> None:
    """`lockbreak check` routes the lockstep phase to the vectorised engine, symmetry on."""
    from click.testing import CliRunner

    from lockbreak.cli import main

    scenario = written(tmp_path, scenario_text(3))
    result = CliRunner().invoke(main, ["check", "-p", "bounded_wait", "--trace-dir",
                                       str(tmp_path), str(scenario)])
    assert result.exit_code == 0, result.output
    assert "worst 66 ticks (53,911 states" in result.stdout
    [trace] = tmp_path.glob("*--bounded_wait.json")
    replayed = CliRunner().invoke(main, ["replay", str(trace)])
    assert replayed.exit_code == 0, replayed.output
    assert "worst case of 66 ticks attained again" in replayed.stdout


@pytest.mark.parametrize("name", ["v2.6.9-2cpu-wakeups-holds", "scaled-nested-2cpu-holds"])
def test_without_open_cycles_the_components_are_not_needed(tmp_path: Path, name: str) -> None:
    """The longest interval read with each node its own component (no open cycle) is the
    one read over the strongly connected components."""
    model = lockstep_model(written(tmp_path, SYMMETRIC[name]))
    worst = SymmetricWorst(model, fair_graph.labelled(model, symmetry=True))
    inside = worst.open_nodes(0)
    labels, count = worst.components(inside)
    assert count == worst.size          # every node its own component here
    fast = worst._longest_nodes(inside)
    assert fast is not None
    assert fast == worst._longest(inside, labels, count)
