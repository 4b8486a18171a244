"""Fair liveness on the symmetry quotient (`lockbreak.engines.fair_symmetry`) against the plain
engine on the full graph.

Identical CPUs, so the quotient is smaller; the verdicts, the kind of counterexample (a fair
lasso, or a deadlock a lasso ends in) and its stem and loop lengths must be the plain
engine's, and every lasso, lifted to real CPUs, must replay on the real model and keep its
CPU's obligation open forever in an execution weakly fair to every CPU.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from lockbreak.core import CheckResult, PropertyKind, Status
from lockbreak.engines import fair_graph, plain_bfs
from lockbreak.engines.fair_symmetry import SymmetricFair
from lockbreak.engines.liveness import open_forever
from lockbreak.engines.quotient import Renamings
from model.kernel import KernelModel
from model.lockstep import kernel_model
from model.scenario import load_scenario
from model.world import build_world
from properties.catalogue import KNOWN, of_kind, specs
from tests.engines.test_fair_graph import assert_replays
from tests.model.test_kernel import identical_text
from tests.support.paths import REPO

sys.path.insert(0, str(REPO / "bench"))
from bench_nested import scenario_text

FAIR = of_kind(PropertyKind.FAIR)


def forever_text(cpus: int, lock: str, preempt: str, wakeups: int = 0) -> str:
    """``cpus`` identical CPUs taking, breaking and dropping one lock forever."""
    head = (f'name = "forever-{cpus}cpu"\ndescription = "identical CPUs retaking one lock"\n'
            f'[kernel]\nversion = "v2.6.12"\nlock = "{lock}"\npreempt = "{preempt}"\n'
            '[locks]\nL = "spin"\n')
    cpu = ("[[cpu]]\n" + (f"wakeups = {wakeups}\n" if wakeups else "")
           + 'code = """\nforever {\n    spin_lock(L);\n    work();\n'
           '    cond_resched_lock(L);\n    spin_unlock(L);\n}\n"""\n')
    return head + cpu * cpus


SYMMETRIC = {
    "tas-2cpu-starves": forever_text(2, "tas", "full"),
    "tas-2cpu-wakeups-starves": forever_text(2, "tas", "none", 1),
    "ticket-2cpu-preempted-starves": forever_text(2, "ticket", "full"),
    "v4.15-rc-2cpu-stuck": identical_text(2, "v4.15-rc"),
    "v2.6.9-2cpu-wakeups-holds": identical_text(2, "v2.6.9", 2),
    "scaled-nested-2cpu-holds": scenario_text(2),
}


def model_of(tmp_path: Path, text: str) -> KernelModel:
    path = tmp_path / "symmetric.toml"
    path.write_text(text)
    model = kernel_model(build_world(load_scenario(path, known_properties=KNOWN)), specs(FAIR))
    assert model.canonical_groups and fair_graph.symmetric(model)
    return model


def assert_lifted(model: KernelModel, result: CheckResult) -> None:
    """The lasso replays on the real model and is a weakly fair starvation of a real CPU."""
    assert_replays(model, result)
    assert result.trace is not None
    bit = model.property_names.index(result.property)
    who = open_forever(model, result.trace, bit, fair=True)
    assert who is not None and result.detail.startswith(who)


@pytest.mark.parametrize("name", SYMMETRIC)
def test_the_quotient_agrees_with_the_full_graph(tmp_path: Path, name: str) -> None:
    model = model_of(tmp_path, SYMMETRIC[name])
    plain = plain_bfs.check(model)
    reduced = fair_graph.check(model, symmetry=True)
    for full, quotient in zip(plain, reduced, strict=True):
        assert (quotient.property, quotient.status) == (full.property, full.status)
        assert quotient.stats.states < full.stats.states
        # the same words but for the CPU named, which is one of the interchangeable ones
        assert quotient.detail.split(" ")[1:] == full.detail.split(" ")[1:]
        if full.trace is None:
            assert quotient.trace is None
            continue
        assert quotient.trace is not None
        assert quotient.trace.loop_start == full.trace.loop_start
        assert len(quotient.trace.steps) == len(full.trace.steps)
        assert_lifted(model, quotient)
    expected = name.rsplit("-", 1)[1]
    verdict = {"starves": Status.VIOLATED, "stuck": Status.VIOLATED, "holds": Status.HOLDS}
    assert reduced[0].status is verdict[expected]


@pytest.mark.parametrize("path", [REPO / "scenarios" / "ticket-v2.6.25.toml",
                                  REPO / "scenarios" / "qspinlock-v5.17.toml"],
                         ids=lambda p: p.stem)
def test_public_scenarios_with_identical_cpus_agree(path: Path) -> None:
    scenario = load_scenario(path, known_properties=KNOWN)
    model = kernel_model(build_world(scenario), specs(FAIR))
    plain = plain_bfs.check(model)
    reduced = fair_graph.check(model, symmetry=True)
    assert [(r.property, r.status) for r in reduced] == [(r.property, r.status) for r in plain]
    assert all(q.stats.states < f.stats.states for q, f in zip(reduced, plain, strict=True))


def test_three_identical_cpus_one_starving_is_found_on_a_sixth_of_the_states(
        tmp_path: Path) -> None:
    model = model_of(tmp_path, forever_text(3, "tas", "full"))
    plain = {r.property: r for r in plain_bfs.check(model)}
    reduced = {r.property: r for r in fair_graph.check(model, symmetry=True)}
    starved = reduced["starvation_free"]
    assert starved.status is Status.VIOLATED
    assert_lifted(model, starved)
    assert starved.stats.states * 5 < plain["starvation_free"].stats.states


def test_the_renamings_form_the_group_of_each_set_of_identical_cpus() -> None:
    group = Renamings(4, [(0, 1, 2)])
    assert len(group.perms) == 6 == Renamings.size(4, [(0, 1, 2)])
    assert all(p[3] == 3 for p in group.perms)
    for a in range(6):
        assert group.compose[a, group.inverse[a]] == group.identity
        for b in range(6):
            composed = group.perms[group.compose[a, b]]
            assert composed == tuple(group.perms[a][group.perms[b][x]] for x in range(4))
    swap = group.ids[(1, 0, 2, 3)]
    assert group.image[swap, 0b0001] == 0b0010
    assert group.image[swap, 0b1100] == 0b1100


@pytest.mark.slow
def test_check_reports_a_lifted_lasso_that_lockbreak_replay_accepts(tmp_path: Path) -> None:
    """`lockbreak check` decides fairness on the quotient by default (symmetry is on); the
    trace it writes names real CPUs and replays."""
    from click.testing import CliRunner

    from lockbreak.cli import main

    scenario = tmp_path / "forever.toml"
    scenario.write_text(forever_text(3, "tas", "full"))
    result = CliRunner().invoke(main, ["check", "-p", "starvation_free", "--trace-dir",
                                       str(tmp_path), str(scenario)])
    assert result.exit_code == 1, result.output
    assert "<-- repeats from here" in result.stdout
    [trace] = tmp_path.glob("*--starvation_free.json")
    replayed = CliRunner().invoke(main, ["replay", str(trace)])
    assert replayed.exit_code == 0, replayed.output
    assert "replayed: starvation_free violated again for cpu" in replayed.stdout


def test_the_product_built_a_place_at_a_time_has_the_components_of_the_whole(
        tmp_path: Path) -> None:
    model = model_of(tmp_path, forever_text(3, "tas", "full"))
    graph = fair_graph.labelled(model, symmetry=True)
    fair = SymmetricFair(model, graph)
    bit = model.property_names.index("starvation_free")
    inside = fair.open_nodes(bit)
    # The whole product laid out, as the analysis never does: edge (u, j) -> (v, pi[j]).
    places = np.arange(fair.n).repeat(len(graph.dst))
    edge = np.tile(np.arange(len(graph.dst)), fair.n)
    src = places * fair.states + graph.src[edge]
    dst = fair.group.apply[fair.renaming[edge], places] * fair.states + graph.dst[edge]
    assert len(set(zip(src.tolist(), dst.tolist(), strict=True))) < len(src)  # parallel edges
    kept = inside[src] & inside[dst]
    whole = csr_matrix((np.ones(int(kept.sum())), (src[kept], dst[kept])),
                       shape=(fair.size, fair.size))
    count, labels = connected_components(whole, directed=True, connection="strong")
    built, built_count = fair.components(inside)
    assert built_count == count
    pairs = set(zip(labels.tolist(), built.tolist(), strict=True))
    assert len(pairs) == count          # the same partition of the nodes


def test_the_columns_are_narrow_and_the_search_keeps_no_edge_lists(tmp_path: Path) -> None:
    model = model_of(tmp_path, forever_text(3, "tas", "full"))
    graph = fair_graph.labelled(model, symmetry=True)
    assert graph.renaming is not None
    assert {column.dtype.itemsize for column in (graph.agent, graph.ticks, graph.index,
                                                 graph.enabled, graph.renaming, graph.slot)} == {1}
    assert {graph.src.dtype, graph.dst.dtype, graph.parent.dtype} == {np.dtype(np.int32)}
    search = graph.states.search
    assert not (search.dst or search.edge_counts or search.edge_slot or search.edge_perm)
    fair = SymmetricFair(model, graph)
    product_edges = len(graph.dst) * fair.n
    assert all(len(value) < product_edges for value in vars(fair).values()
               if isinstance(value, np.ndarray))
