"""Symmetry reduction up to renaming private locks (the scaled nested scenario's own{i}).

CPUs whose code differs only in locks that no other CPU names form a group; renaming CPUs
renames their private locks with them. Verdicts and shortest counterexample lengths must not
change, and the canonical form must be one state per orbit.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from lockbreak.core import PropertyKind
from lockbreak.engines.plain_bfs import check
from model.kernel import Action, KernelModel
from model.scenario import load_scenario
from model.world import build_world
from properties.catalogue import KNOWN, of_kind, specs
from tests.model.test_kernel import _permutations, assert_real_execution, reachable, statuses
from tests.support.paths import REPO

sys.path.insert(0, str(REPO / "bench"))
from bench_nested import scenario_text

PROPERTIES = of_kind(PropertyKind.SAFETY, PropertyKind.CAN_FINISH)


def model_of(tmp_path: Path, text: str) -> KernelModel:
    path = tmp_path / "scaled.toml"
    path.write_text(text)
    return KernelModel(build_world(load_scenario(path, known_properties=KNOWN)),
                       specs(PROPERTIES))


def test_cpus_differing_only_in_private_locks_form_a_group(tmp_path: Path) -> None:
    model = model_of(tmp_path, scenario_text(3))
    assert model.canonical_groups == ((0, 1, 2),)
    # own1 is no longer private once cpu2 takes it too: cpu0 (private own0) is then unlike
    # cpu1 and cpu2, which share own1 and run the very same code.
    shared = scenario_text(3).replace("spin_lock(own2)", "spin_lock(own1)").replace(
        "spin_unlock(own2)", "spin_unlock(own1)")
    assert model_of(tmp_path, shared).canonical_groups == ((1, 2),)
    # Different code around the private lock is no symmetry either.
    other = scenario_text(3).replace("spin_lock(own2);\n", "spin_lock(own2);\nwork();\n", 1)
    assert model_of(tmp_path, other).canonical_groups == ((0, 1),)


@pytest.mark.slow
@pytest.mark.parametrize(("cpus", "era"), [(2, "v2.6.12"), (3, "v2.6.12"), (2, "v2.6.9"),
                                          (3, "v2.6.9")])
def test_verdicts_and_trace_lengths_do_not_change(tmp_path: Path, cpus: int, era: str) -> None:
    model = model_of(tmp_path, scenario_text(cpus, repeat=2).replace("v2.6.12", era))
    plain, reduced = check(model), check(model, symmetry=True)
    assert statuses(plain) == statuses(reduced)
    assert [r.trace and len(r.trace) for r in plain] == [r.trace and len(r.trace) for r in reduced]
    assert reduced[0].stats.states < plain[0].stats.states
    for result in reduced:
        if result.trace is not None:
            assert_real_execution(model, result)
    if era == "v2.6.9":   # a broken era: there is something to compare
        assert statuses(reduced)["break_return_truth"] == "violated"


@pytest.mark.parametrize("cpus", [2, 3])
def test_canonical_is_one_state_per_orbit_of_renamed_cpus_and_locks(
        tmp_path: Path, cpus: int) -> None:
    model = model_of(tmp_path, scenario_text(cpus, repeat=1))
    perms = _permutations(model)
    # renamed[p][s]: s with CPU c renamed p[c] (and its own lock with it), reached by renaming
    # every action on the way to s.
    renamed: dict[tuple[int, ...], dict[int, int]] = {p: {} for p in perms}
    representatives = set()
    for state, parent, action in reachable(model):
        for p in perms:
            if parent is None:
                renamed[p][state] = state
            else:
                assert action is not None
                twin = Action(p[action.cpu], action.wakeup)
                renamed[p][state] = model.next_state(renamed[p][parent], twin)
        orbit = {renamed[p][state] for p in perms}
        canon = model.canonical(state)
        assert canon in orbit
        assert {model.canonical(twin) for twin in orbit} == {canon}
        value, perm = model.canonical_perm(state)
        assert value == canon and renamed[perm][state] == canon
        representatives.add(canon)
    assert len(representatives) == check(model, symmetry=True)[0].stats.states
    # The renaming really moves the private locks: cpu0 holding own0 maps to cpu1 holding own1.
    moved = next(renamed[perms[-1]][s] for s, _, _ in reachable(model)
                 if model.view(s).cpus[0].holds == ("own0",) and not model.view(s).cpus[1].holds)
    assert model.view(moved).cpus[perms[-1][0]].holds == (f"own{perms[-1][0]}",)
