"""The kernel model itself: pinned state counts, its fast path, determinism, symmetry.

Pinned counts were computed once with the explicit engine. They change only when the model's
step granularity changes (what one atomic step is, docs/semantics.md section 2), or what a state
records (lock words, ghost bookkeeping), or an era's code; a change to any of them needs a
reason in the commit that makes it.
"""

from __future__ import annotations

import itertools
import re
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import pytest

from lockbreak.core import CheckResult, Status
from lockbreak.engines.plain_bfs import check
from lockbreak.report.traces import render_trace
from model.eras import ERAS
from model.kernel import Action, KernelModel
from model.layout import DataCell, LockCell
from model.scenario import load_scenario
from model.world import build_world
from properties.catalogue import KNOWN, specs
from tests.support.helpers import STATE_PROPERTIES
from tests.support.paths import REPO, TESTS

DATA = TESTS / "data"
NESTED = REPO / "scenarios" / "nested-v2.6.9.toml"


def kernel_model(path: Path, **overrides: str) -> KernelModel:
    """The kernel model of a scenario file with every checked property."""
    scenario = load_scenario(path, known_properties=KNOWN, **overrides)
    return KernelModel(build_world(scenario), specs(STATE_PROPERTIES))


def identical_text(cpus: int, version: str = "v2.6.12", wakeups: int = 0) -> str:
    """``cpus`` CPUs each running ``spin_lock(L); work(); cond_resched_lock(L); spin_unlock(L);``
    (the text of tests/data/identical-{2,3}cpu.toml, with ``wakeups`` per CPU)."""
    head = (f'name = "identical-{cpus}cpu"\n'
            f'description = "{cpus} CPUs run the same lock-break loop on one lock '
            '(for symmetry reduction)"\n'
            f'[kernel]\nversion = "{version}"\n[locks]\nL = "spin"\n')
    cpu = ("[[cpu]]\n" + (f"wakeups = {wakeups}\n" if wakeups else "")
           + 'code = "spin_lock(L); work(); cond_resched_lock(L); spin_unlock(L);"\n')
    return head + cpu * cpus


def identical_model(cpus: int, version: str, wakeups: int = 0,
                    tmp_path: Path | None = None) -> KernelModel:
    """The kernel model of ``identical_text``: from tests/data, or written to ``tmp_path``."""
    if wakeups:
        assert tmp_path is not None
        path = tmp_path / "identical.toml"
        path.write_text(identical_text(cpus, version, wakeups))
    else:
        path = DATA / f"identical-{cpus}cpu.toml"
    model = kernel_model(path, version=version)
    assert model.canonical_groups == (tuple(range(cpus)),)
    return model


def reachable(model: KernelModel) -> Iterator[tuple[int, int | None, Action | None]]:
    """``(state, parent, action)`` for every reachable state, breadth-first, through the
    plain `actions`/`next_state` protocol (not the fast `successors`)."""
    [init] = model.init_states()
    seen = {init}
    queue = deque([init])
    yield init, None, None
    while queue:
        state = queue.popleft()
        for action in model.actions(state):
            after = model.next_state(state, action)
            if after not in seen:
                seen.add(after)
                queue.append(after)
                yield after, state, action


def by_name(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {r.property: r for r in results}


def statuses(results: list[CheckResult]) -> dict[str, str]:
    return {r.property: r.status.value for r in results}


class _From:
    """``model`` started from ``state`` instead of its initial state."""

    def __init__(self, model: KernelModel, state: int) -> None:
        self._model, self._state = model, state

    def init_states(self) -> list[int]:
        return [self._state]

    def __getattr__(self, name: str) -> object:
        return getattr(self._model, name)


def assert_real_execution(model: KernelModel, result: CheckResult) -> None:
    """The trace replays from the initial state by its action indices. A safety trace's last
    transition breaks its property; a deadlock trace ends in a state from which the CPU its
    detail names can never finish, and its marked loop really returns to where it started."""
    trace = result.trace
    assert trace is not None
    assert trace.init in model.init_states()
    state = trace.init
    for step in trace.steps:
        assert model.actions(state)[step.index] == step.action
        after = model.next_state(state, step.action)
        assert after == step.state
        last = model.observe(state, step.action, after)
        state = after
    assert trace.steps
    if result.property != "deadlock_free":
        assert last[0] >> model.property_names.index(result.property) & 1
        assert trace.loop_start is None
        return
    cpu = int(re.match(r"cpu(\d+) can never finish after step \d+", result.detail)[1])
    stuck = _From(model, state)
    assert not any(stuck.done(s) >> cpu & 1 for s, _, _ in reachable(stuck))  # type: ignore
    if trace.loop_start is not None:
        assert trace.states[trace.loop_start] == trace.states[-1]


# ------------------------------------------------------------------ the nested scenario, pinned

# (era, distinct states, transitions) of scenarios/nested-v2.6.9.toml under --version ERA, every
# property checked, no symmetry (its two CPUs run different code). These change only when the
# model's step granularity changes (or what its states record), never with the engine.
NESTED_COUNTS = [
    ("v2.6.8", 187, 343),
    ("v2.6.8-mm", 556, 1036),
    ("v2.6.9", 1002, 1868),
    ("v2.6.11", 1090, 2034),
    ("v2.6.12", 943, 1766),
    ("v2.6.20", 943, 1766),      # = v2.6.12: without a wakeup __resched_legal never matters
    ("v2.6.25", 418, 768),       # ticket
    ("v4.15-rc", 439, 828),
    ("v4.15", 356, 659),         # qspinlock, from here on
    ("v5.17", 356, 659),
    ("v6.11", 356, 659),
    ("v6.13", 356, 659),         # preempt full: the lazy model changes nothing here
]


def test_every_era_has_a_pinned_count() -> None:
    assert [era for era, _, _ in NESTED_COUNTS] == list(ERAS)


@pytest.mark.parametrize(("era", "states", "transitions"), NESTED_COUNTS)
def test_nested_scenario_state_count(era: str, states: int, transitions: int) -> None:
    results = check(kernel_model(NESTED, version=era))
    assert {(r.stats.states, r.stats.transitions) for r in results} == {(states, transitions)}
    assert not any(r.status is Status.INCOMPLETE for r in results)


@pytest.mark.parametrize("era", ["v2.6.8", "v2.6.12", "v2.6.8-mm", "v2.6.25"])
def test_nested_scenario_keeps_mutual_exclusion_and_finishes(era: str) -> None:
    # docs/semantics.md section 9, first two columns.
    results = statuses(check(kernel_model(NESTED, version=era)))
    assert results["mutual_exclusion"] == "holds"
    assert results["deadlock_free"] == "holds"


@pytest.mark.parametrize(("era", "possible"), [
    ("v2.6.8", False), ("v2.6.12", True), ("v2.6.8-mm", True), ("v2.6.25", True)])
def test_cpu1_gets_b_while_cpu0_is_in_its_lock_break(era: str, possible: bool) -> None:
    # docs/semantics.md section 9, third column: "CPU1 can get B while CPU0 is in its loop".
    # Before v2.6.9 nothing a waiter does makes the holder break; after, it can.
    model = kernel_model(NESTED, version=era)
    found = False
    for state, _, _ in reachable(model):
        cpu0, cpu1 = model.view(state).cpus
        if "B" in cpu1.holds and cpu0.at.startswith("cond_resched_lock(B)"):
            assert cpu0.holds == ("A",)
            found = True
            break
    assert found is possible


@pytest.mark.parametrize(("era", "atomic"), [
    ("v2.6.8", True), ("v2.6.8-mm", True), ("v2.6.9", True), ("v2.6.11", True),
    ("v2.6.12", False), ("v2.6.20", True), ("v2.6.25", True), ("v4.15-rc", True),
    ("v4.15", False), ("v5.17", False), ("v6.11", False)])
def test_a_wakeup_in_the_nested_break_schedules_while_atomic(era: str, atomic: bool) -> None:
    # docs/semantics.md section 9, last paragraph: only __resched_legal (v2.6.12) and the
    # "preempt_count == one lock" test (v4.15 on) keep the nested caller from scheduling.
    model = kernel_model(DATA / "nested-wakeup.toml", version=era)
    result = by_name(check(model, properties=["no_sleep_in_atomic"]))["no_sleep_in_atomic"]
    assert result.status is (Status.VIOLATED if atomic else Status.HOLDS)
    if atomic:
        assert_real_execution(model, result)
        assert "scheduling while atomic" in model.step_info(
            result.trace.states[-2], result.trace.steps[-1].action).text


# ------------------------------------------------------------------ successors = the protocol

@pytest.mark.parametrize(("path", "era"), [
    (DATA / "mixed-small.toml", None),
    (NESTED, "v2.6.9"),
    (NESTED, "v2.6.25"),
    (NESTED, "v5.17"),
    (DATA / "nested-wakeup.toml", "v4.15-rc"),
])
def test_successors_agrees_with_actions_next_state_observe(path: Path, era: str | None) -> None:
    model = kernel_model(path, **({"version": era} if era else {}))
    wakes = violations = witnesses = 0
    for state, _, _ in reachable(model):
        fast = model.successors(state)
        actions = model.actions(state)
        slow = []
        for index, action in enumerate(actions):
            after = model.next_state(state, action)
            slow.append((index, after, *model.observe(state, action, after)))
        assert fast == slow
        wakes += sum(a.wakeup for a in actions)
        violations |= sum(v for _, _, v, _ in fast)
        witnesses |= sum(w for _, _, _, w in fast)
    assert model.observe(None, None, model.init_states()[0]) == (0, 0)
    assert witnesses   # the agreement was tested on transitions that matter
    if path.name != "nested-v2.6.9.toml":
        assert wakes and violations


def test_the_small_scenario_takes_every_kind_of_transition() -> None:
    # What makes test_successors_agrees_... on mixed-small.toml a thorough test.
    results = statuses(check(kernel_model(DATA / "mixed-small.toml")))
    assert results == {
        "mutual_exclusion": "holds", "deadlock_free": "holds",
        "no_sleep_in_atomic": "violated", "might_sleep_clean": "holds",
        "break_return_truth": "holds", "no_stale_use": "violated", "no_spurious_break": "holds",
    }


# ------------------------------------------------------------------ determinism

def _fingerprint(model: KernelModel, results: list[CheckResult]) -> list[tuple]:
    out = []
    for r in results:
        trace_text = None
        if r.trace is not None:
            trace_text = render_trace(model, r.trace, r.property)
        out.append((r.property, r.status, r.stats.states, r.stats.transitions, r.stats.depth,
                    r.detail, trace_text,
                    None if r.trace is None else [(s.index, s.action) for s in r.trace.steps]))
    return out


@pytest.mark.parametrize(("path", "era"), [
    (NESTED, "v2.6.9"), (NESTED, "v4.15-rc"), (DATA / "abba-outer.toml", "v2.6.12"),
    (DATA / "mixed-small.toml", "v2.6.20")])
def test_two_fresh_models_give_identical_counts_and_traces(path: Path, era: str) -> None:
    first_model, second_model = kernel_model(path, version=era), kernel_model(path, version=era)
    first = _fingerprint(first_model, check(first_model))
    second = _fingerprint(second_model, check(second_model))
    assert first == second
    assert any(trace_text for *_, trace_text, _ in first)


def test_counterexamples_are_real_executions() -> None:
    for path, era in [(NESTED, "v2.6.9"), (DATA / "mixed-small.toml", "v2.6.20"),
                      (DATA / "abba-outer.toml", "v2.6.12")]:
        model = kernel_model(path, version=era)
        violated = [r for r in check(model) if r.status is Status.VIOLATED]
        assert violated
        for result in violated:
            assert_real_execution(model, result)


# ------------------------------------------------------------------ symmetry

# (CPUs, era): (states without symmetry, states with it). Pinned like NESTED_COUNTS.
SYMMETRY_COUNTS = {
    (2, "v2.6.12"): (610, 307),
    (3, "v2.6.12"): (25_753, 4_500),
    (2, "v5.17"): (252, 128),
    (3, "v5.17"): (6_640, 1_164),
    (2, "v2.6.9"): (840, 423),       # v2.6.9 and v4.15-rc give counterexamples to compare
    (3, "v2.6.9"): (39_696, 6_933),
    (2, "v4.15-rc"): (202, 103),
    (3, "v4.15-rc"): (14_503, 2_542),
}


@pytest.mark.parametrize(("cpus", "era"), list(SYMMETRY_COUNTS))
def test_symmetry_keeps_verdicts_and_trace_lengths_and_stores_fewer_states(
        cpus: int, era: str) -> None:
    model = identical_model(cpus, era)
    plain, reduced = check(model), check(model, symmetry=True)
    assert (plain[0].stats.states, reduced[0].stats.states) == SYMMETRY_COUNTS[cpus, era]
    assert statuses(plain) == statuses(reduced)
    assert [r.trace and len(r.trace) for r in plain] == [r.trace and len(r.trace) for r in reduced]
    for result in reduced:
        if result.trace is not None:
            assert_real_execution(model, result)


def test_identical_cpu_verdicts() -> None:
    # What the symmetry test compares, so that it compares something: v2.6.12 and v5.17 are
    # clean, v2.6.9 lies and breaks spuriously, v4.15-rc strands a waiter on break_lock.
    expected = {
        "v2.6.12": {"break_return_truth": "holds", "no_spurious_break": "holds",
                    "deadlock_free": "holds"},
        "v5.17": {"break_return_truth": "holds", "no_spurious_break": "holds",
                  "deadlock_free": "holds"},
        "v2.6.9": {"break_return_truth": "violated", "no_spurious_break": "violated",
                   "deadlock_free": "holds"},
        "v4.15-rc": {"break_return_truth": "holds", "no_spurious_break": "holds",
                     "deadlock_free": "violated"},
    }
    for era, want in expected.items():
        got = statuses(check(identical_model(2, era), symmetry=True))
        assert {k: got[k] for k in want} == want, era


def _permutations(model: KernelModel) -> list[tuple[int, ...]]:
    [group] = model.canonical_groups
    n = len(model.agents)
    out = []
    for order in itertools.permutations(group):
        perm = list(range(n))
        for old, new in zip(group, order, strict=True):
            perm[old] = new
        out.append(tuple(perm))
    return out


@pytest.mark.slow
@pytest.mark.parametrize(("cpus", "era", "wakeups"), [
    (2, "v2.6.12", 0), (3, "v5.17", 0), (2, "v2.6.9", 0), (2, "v2.6.20", 1), (2, "v2.6.25", 1),
    (3, "v2.6.25", 0)])
def test_canonical_is_idempotent_and_invariant_under_renaming_identical_cpus(
        cpus: int, era: str, wakeups: int, tmp_path: Path) -> None:
    model = identical_model(cpus, era, wakeups, tmp_path)
    perms = _permutations(model)
    # renamed[p][s] is s with CPU c renamed to p[c]: reached by renaming every action on the
    # way to s, which needs nothing but the model's own transitions.
    renamed: dict[tuple[int, ...], dict[int, int]] = {p: {} for p in perms}
    representatives = set()
    moved = 0
    for state, parent, action in reachable(model):
        for p in perms:
            if parent is None:
                renamed[p][state] = state
            else:
                twin = Action(p[action.cpu], action.wakeup)
                source = renamed[p][parent]
                assert twin in model.actions(source)
                renamed[p][state] = model.next_state(source, twin)
        orbit = {renamed[p][state] for p in perms}
        moved += len(orbit) > 1
        canon = model.canonical(state)
        assert model.canonical(canon) == canon
        assert canon in orbit
        assert {model.canonical(twin) for twin in orbit} == {canon}
        value, perm = model.canonical_perm(state)
        assert value == canon
        assert renamed[perm][state] == canon
        representatives.add(canon)
    assert moved   # some states really change under renaming
    # One representative per orbit is exactly what the engine stores under symmetry.
    assert len(representatives) == check(model, symmetry=True)[0].stats.states


def test_identical_cpus_form_a_symmetry_group_whatever_their_lines(tmp_path: Path) -> None:
    # Regression: compiled instructions keep their source position, which once made every
    # CPU's code compare different and switched symmetry reduction off for every scenario.
    for cpus in (2, 3):
        model = kernel_model(DATA / f"identical-{cpus}cpu.toml")
        assert model.canonical_groups == (tuple(range(cpus)),)
        assert model.world.programs[0] != model.world.programs[1]   # their lines differ
    # Different wakeups, or different code, are no symmetry.
    path = tmp_path / "mixed.toml"
    path.write_text(identical_text(3).replace("[[cpu]]\n", "[[cpu]]\nwakeups = 1\n", 1))
    assert kernel_model(path).canonical_groups == ((1, 2),)
    assert kernel_model(NESTED).canonical_groups == ()


@pytest.mark.parametrize("lock", ["ticket", "qspinlock"])
def test_a_failed_trylock_is_contention_under_every_lock_algorithm(lock: str) -> None:
    # Regression: ticket and qspinlock trylocks once failed without waiting, so in the eras
    # whose spin_lock() is a trylock loop (v2.6.9 .. v2.6.20) mutual_exclusion came out
    # vacuous and a break for a real waiter counted as spurious.
    tas = statuses(check(kernel_model(NESTED, version="v2.6.12", lock="tas")))
    other = statuses(check(kernel_model(NESTED, version="v2.6.12", lock=lock)))
    assert tas["mutual_exclusion"] == "holds"
    assert tas["no_spurious_break"] == "holds"
    assert other["mutual_exclusion"] == "holds"
    assert other["no_spurious_break"] == "holds"



def _reachable(model: KernelModel, levels: int) -> list[int]:
    seen = dict.fromkeys(model.init_states())
    frontier = list(seen)
    for _ in range(levels):
        frontier = [after for state in frontier for _, after, _, _ in model.successors(state)
                    if after not in seen]
        seen.update(dict.fromkeys(frontier))
    return list(seen)


def test_the_shared_part_is_named_lock_and_data_cells() -> None:
    """Every lock of a shared part is a `LockCell` and every datum a `DataCell`, whose named
    fields are what the readable view shows."""
    model = kernel_model(REPO / "scenarios" / "stale-data-v2.6.12.toml")
    locks = len(model.world.locks)
    seen_stale = False
    for state in _reachable(model, 40):
        shared, _ = model.parts(state)
        assert all(isinstance(cell, LockCell) for cell in shared[:locks])
        assert all(isinstance(cell, DataCell) for cell in shared[locks:])
        view = model.view(state)
        for lock, cell in zip(view.locks, shared[:locks], strict=True):
            assert lock.break_lock == cell.flag
        stale = {f"cpu{i}:{name}" for name, cell in zip(model.world.data, shared[locks:],
                                                          strict=True)
                 for i in range(model.world.n_cpus) if cell.stale >> i & 1}
        assert set(view.stale) == stale
        seen_stale |= bool(stale)
    assert seen_stale            # a write made a snapshot stale somewhere


def test_interned_parts_saved_as_plain_tuples_restore_the_same_states() -> None:
    """A checkpoint's interned tables read back as plain tuples (as a checkpoint from before
    the cells were named holds them) give a fresh model the same states: the same views and
    the same successors."""
    saved = kernel_model(NESTED)
    states = _reachable(saved, 10)
    locals_, shared = saved.interned()
    plain = (locals_, tuple(tuple(tuple(cell) for cell in part) for part in shared))
    assert all(type(cell) is tuple for part in plain[1] for cell in part)
    restored = kernel_model(NESTED)
    restored.restore_interned(plain)
    for state in states:
        assert restored.view(state) == saved.view(state)
        assert restored.successors(state) == saved.successors(state)
