"""Symmetry reduction canonicalises by sorting: many identical CPUs cost one sort per state,
not one try per ordering of the tied ones, and the form stays one state per orbit."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from lockbreak.cli import main
from lockbreak.engines import plain_bfs, vectorised_bfs
from model.kernel import LOCAL_MASK, SHARED_MASK, KernelModel
from tests.model.test_kernel import _permutations
from tests.support.helpers import kernel_model
from tests.support.paths import REPO

# Ten CPUs with the same code and, in the initial state, the same private part: 2**10
# states (each CPU has done its work or not), 11 orbits (how many have).
TEN = ('name = "ten-workers"\n[kernel]\nversion = "v2.6.12"\n[locks]\nL = "spin"\n'
       + '[[cpu]]\ncode = """\nwork();\n"""\n' * 10)


def test_ten_identical_cpus_are_one_sort_per_state(tmp_path: Path) -> None:
    model = kernel_model(tmp_path, TEN)
    assert model.canonical_groups == (tuple(range(10)),)
    began = time.process_time()
    for engine in (plain_bfs, vectorised_bfs):
        assert {r.stats.states for r in engine.check(model, symmetry=True)} == {11}
    # trying every order of ten tied CPUs took minutes here; one sort takes milliseconds
    assert time.process_time() - began < 20
    assert {r.stats.states for r in vectorised_bfs.check(model, symmetry=False)} == {1_024}


@pytest.mark.parametrize("lock", ["tas", "qspinlock"])
def test_tied_cpus_told_apart_by_the_shared_state_give_one_state_per_orbit(
        tmp_path: Path, lock: str) -> None:
    # Same code, so CPUs often have the same private part while the lock word tells them
    # apart (qspinlock: their places in its queue). The number of representatives must be the
    # number of orbits, counted here by brute force over every renaming.
    text = (f'name = "three"\n[kernel]\nversion = "v2.6.12"\nlock = "{lock}"\n'
            '[locks]\nL = "spin"\n'
            + '[[cpu]]\ncode = """\nspin_lock(L);\nwork();\nspin_unlock(L);\n"""\n' * 3)
    model = kernel_model(tmp_path, text)
    states = _reachable(model)
    perms = _permutations(model)
    orbits = {min(_renamed(model, s, p) for p in perms) for s in states}
    assert len(states) > 2 * len(orbits)        # the reduction is real
    for engine in (plain_bfs, vectorised_bfs):
        assert {r.stats.states for r in engine.check(model, symmetry=True)} == {len(orbits)}
    for state in states:
        value = model.canonical(state)
        assert model.canonical(value) == value
        assert {model.canonical(_renamed(model, state, p)) for p in perms} == {value}


def _reachable(model: KernelModel) -> list[int]:
    seen = list(model.init_states())
    known = set(seen)
    for state in seen:
        for action in model.actions(state):
            after = model.next_state(state, action)
            if after not in known:
                known.add(after)
                seen.append(after)
    return seen


def _renamed(model: KernelModel, state: int, perm: tuple[int, ...]) -> int:
    """``state`` with CPU ``c`` renamed to ``perm[c]`` (and its private locks with it)."""
    value = model.symmetry.permute_shared(state & SHARED_MASK, perm)
    for cpu, shift in enumerate(model.interning.shifts):
        value |= ((state >> shift) & LOCAL_MASK) << model.interning.shifts[perm[cpu]]
    return value


@pytest.mark.slow
@pytest.mark.parametrize("name", ["nested-64cpu-v2.6.9.toml", "nested-64cpu-v2.6.25-ticket.toml"])
def test_sixty_four_cpu_scenarios_start(tmp_path: Path, name: str) -> None:
    run = CliRunner().invoke(main, [
        "check", str(REPO / "bench" / "scenarios" / name), "--max-states", "200", "--json",
        "--checkpoint", str(tmp_path / "ck"), "--trace-dir", str(tmp_path / "traces")])
    assert run.exit_code == 3, run.output
    details = {r["property"]: r["detail"] for r in json.loads(run.stdout)["results"]}
    # every property, fairness and worst cases too (a bit per CPU: Python integers beyond
    # 62 CPUs), stops at the budget instead of crashing
    assert set(details.values()) == {"stopped at 200 states (--max-states)"}
