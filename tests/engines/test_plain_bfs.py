"""The plain breadth-first engine on toy models: pinned counts, shortest traces, budgets, symmetry.

Counts that are not worked out by hand in `toys` were computed once with this engine and agree
with `reachable_graph` (see tests/engines/test_graph.py); a change to any of them means the
engine or the toy changed meaning.
"""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from lockbreak.core import Budget, CheckResult, LockbreakError, Model, PropertyKind, Status, Trace
from lockbreak.engines import check, plain_search, reachable_graph
from tests.support.toys import Counter, Endless, Peterson, Precomputed, TasLock, TokenRing, TwoLocks


def by_name(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {r.property: r for r in results}


def counts(result: CheckResult) -> tuple[int, int]:
    return result.stats.states, result.stats.transitions


def replay(model: Model, trace: Trace) -> None:
    """Re-execute the trace's action indices from its initial state; every state must match."""
    assert trace.init in model.init_states()
    state = trace.init
    for step in trace.steps:
        assert model.actions(state)[step.index] == step.action
        state = model.next_state(state, step.action)
        assert state == step.state


def assert_breaks(model: Model, result: CheckResult) -> None:
    """The trace replays and its last transition (or initial state) breaks the property."""
    assert result.trace is not None
    replay(model, result.trace)
    bit = list(model.property_names).index(result.property)
    states = result.trace.states
    before = states[-2] if len(states) > 1 else None
    action = result.trace.steps[-1].action if result.trace.steps else None
    assert model.observe(before, action, states[-1])[0] >> bit & 1


def assert_stuck(model: Model, result: CheckResult) -> None:
    """The trace replays and the agent named in the detail can never finish after it."""
    assert result.trace is not None
    replay(model, result.trace)
    agent = model.agents.index(result.detail.split()[0])
    assert re.fullmatch(rf"{model.agents[agent]} can never finish after step \d+; "
                        "(the steps marked repeat forever|nothing can move at the end)",
                        result.detail), result.detail

    class FromLast:
        def __getattr__(self, name: str) -> object:
            return getattr(model, name)

        def init_states(self) -> tuple:
            return (result.trace.states[-1],)

    reachable = reachable_graph(FromLast()).states
    assert not any(model.done(s) >> agent & 1 for s in reachable)


# ------------------------------------------------------------------------------------- counter


def test_counter_state_count_is_the_product_of_the_counters() -> None:
    # 4 values per counter, 2 counters: 4 * 4 states; each counter steps 3 times in each of
    # the other's 4 values: 2 * 3 * 4 transitions; the deepest state (3, 3) is 6 steps away.
    results = by_name(check(Counter(limit=3, agents=2)))
    assert counts(results["in_range"]) == (16, 24)
    assert results["in_range"].stats.depth == 6
    # 5 ** 3 states, 3 * 4 * 5 ** 2 transitions, depth 3 * 4.
    bigger = check(Counter(limit=4, agents=3))[0]
    assert (*counts(bigger), bigger.stats.depth) == (125, 300, 12)


def test_counter_verdicts_and_vacuous_witness() -> None:
    results = by_name(check(Counter()))
    assert results["in_range"].status is Status.HOLDS
    assert results["can_finish"].status is Status.HOLDS
    vacuous = results["far_apart"]
    assert vacuous.status is Status.VACUOUS and vacuous.trace is None
    assert "witness" in vacuous.detail


def test_results_follow_property_names_order_and_filter() -> None:
    results = check(Counter(), properties=["can_finish", "in_range"])
    assert [r.property for r in results] == ["in_range", "can_finish"]


def test_unknown_property_raises_with_the_known_names() -> None:
    with pytest.raises(LockbreakError) as caught:
        check(Counter(), properties=["in_range", "nope"])
    assert str(caught.value) == \
        "unknown property 'nope'; this model has: in_range, far_apart, can_finish"


# ------------------------------------------------------------------------------------ peterson


def test_peterson_holds() -> None:
    results = by_name(check(Peterson()))
    assert {r.status for r in results.values()} == {Status.HOLDS}
    assert counts(results["mutual_exclusion"]) == (38, 62)
    assert results["mutual_exclusion"].stats.depth == 8
    twice = check(Peterson(rounds=2))[0]
    assert twice.status is Status.HOLDS and counts(twice) == (138, 248)


@pytest.mark.parametrize(("variant", "length", "full", "early"), [
    # turn = j before flag[i] = 1: p0 sets turn, p1 enters (3 steps after its own turn
    # write), p0 sets its flag, sees p1's flag, then passes on the stale turn: 7 steps.
    ("turn_first", 7, (55, 88), (45, 66)),
    # no turn: both read the other's flag as 0, then both set their own and enter: 4 steps.
    ("check_then_set", 4, (16, 24), (11, 15)),
])
def test_broken_peterson_gives_shortest_counterexample(
        variant: str, length: int, full: tuple[int, int], early: tuple[int, int]) -> None:
    model = Peterson(variant)
    results = by_name(check(model))
    broken = results["mutual_exclusion"]
    assert broken.status is Status.VIOLATED and len(broken.trace) == length
    assert_breaks(model, broken)
    assert results["can_finish"].status is Status.HOLDS   # needs the whole graph: full counts
    assert counts(broken) == full
    # Alone, the safety property stops the search once it is violated.
    [alone] = check(model, properties=["mutual_exclusion"])
    assert alone.trace == broken.trace and counts(alone) == early


def test_check_then_set_trace_is_pinned() -> None:
    [result] = check(Peterson("check_then_set"), properties=["mutual_exclusion"])
    assert [step.action for step in result.trace.steps] == [
        ("p0", "read flag[1]"), ("p1", "read flag[0]"), ("p0", "flag[0] = 1"),
        ("p1", "flag[1] = 1")]


def test_fast_successors_give_identical_results() -> None:
    for model in (Peterson("turn_first"), TwoLocks("abba"), Counter()):
        fast = check(Precomputed(model))
        assert replace_seconds(check(model), fast) == fast


def replace_seconds(results: list[CheckResult], like: list[CheckResult]) -> list[CheckResult]:
    """``results`` with the (run-dependent) seconds of ``like``, for equality checks."""
    return [replace(r, stats=replace(r.stats, seconds=o.stats.seconds))
            for r, o in zip(results, like, strict=True)]


# ---------------------------------------------------------------------------------- can_finish


def test_abba_cannot_finish_and_same_order_can() -> None:
    model = TwoLocks("abba")
    [result] = check(model)
    assert result.status is Status.VIOLATED
    # cpu0 takes A, cpu1 takes B: each spins on the other's lock forever.
    assert [s.action for s in result.trace.steps[:2]] == [("cpu0", "spin_lock(A)"),
                                                          ("cpu1", "spin_lock(B)")]
    assert result.detail.startswith("cpu0 can never finish after step 2; ")
    assert counts(result) == (19, 22)
    assert_stuck(model, result)
    # With one lock order, one CPU runs its 4 steps while the other is at its start or end:
    # 2 * 5 + 5 * 2 - 2 * 2 states and 2 * (4 * 2) transitions.
    [same] = check(TwoLocks("same"))
    assert same.status is Status.HOLDS and counts(same) == (16, 16)


def test_can_finish_witness_never_reached_is_vacuous() -> None:
    class NeverWaits(TwoLocks):
        def observe(self, before: object, action: object, after: tuple[int, ...]
                    ) -> tuple[int, int]:
            return 0, 0

    [result] = check(NeverWaits("same"))
    assert result.status is Status.VACUOUS


# ------------------------------------------------------------------------------------- budgets


def test_max_states_gives_incomplete_never_holds() -> None:
    results = check(Counter(limit=10), budget=Budget(max_states=50))
    assert {r.status for r in results} == {Status.INCOMPLETE}
    assert results[0].detail == "stopped at 50 states (--max-states)"
    assert results[0].stats.states == 50
    big = check(Counter(limit=40), budget=Budget(max_states=1_000))[0]
    assert big.detail == "stopped at 1,000 states (--max-states)"


def test_max_states_exactly_enough_is_complete() -> None:
    assert by_name(check(Counter(), budget=Budget(max_states=16)))["in_range"].status \
        is Status.HOLDS


def test_budget_keeps_a_violation_found_before_it_ran_out() -> None:
    results = by_name(check(Peterson("turn_first"), budget=Budget(max_states=50)))
    assert results["mutual_exclusion"].status is Status.VIOLATED
    assert len(results["mutual_exclusion"].trace) == 7
    assert results["can_finish"].status is Status.INCOMPLETE


def test_timeout_gives_incomplete_and_keeps_violations() -> None:
    results = by_name(check(Endless(bad_at=5), budget=Budget(timeout=0.1)))
    assert results["forever"].status is Status.INCOMPLETE
    assert results["forever"].detail == "timed out after 0.1 s (--timeout)"
    assert results["below"].status is Status.VIOLATED and len(results["below"].trace) == 5
    assert results["forever"].stats.seconds < 1


def test_initial_state_violation_has_an_empty_trace() -> None:
    results = by_name(check(Endless(bad_at=0), budget=Budget(max_states=10)))
    assert results["below"].status is Status.VIOLATED
    assert results["below"].trace == Trace(init=0)


def test_progress_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plain_search, "_PROGRESS_SECONDS", 0.0)
    calls: list[tuple[int, int, int, float]] = []

    class Recorder:
        def progress(self, states: int, transitions: int, depth: int, seconds: float) -> None:
            calls.append((states, transitions, depth, seconds))

    check(Counter(limit=3), reporter=Recorder())
    assert calls and calls[-1][:2] == (16, 24)
    assert [c[0] for c in calls] == sorted(c[0] for c in calls)


# ------------------------------------------------------------------------------------ symmetry


@pytest.mark.parametrize(("model", "plain", "reduced"), [
    # lock free: each process trying or done, 2 ** 3; lock held: 3 holders times 2 ** 2.
    # Up to renaming: 4 counts of done processes, plus 3 with a holder.
    (TasLock(3, "atomic"), (20, 36), (7, 12)),
    (TasLock(3, "atomic", rounds=2), (81, 180), (22, 48)),
    (TasLock(3, "split"), (82, 177), (24, 52)),
    (TasLock(3, "leak", rounds=2), (44, 120), (13, 36)),
    # n holders and n passes; one orbit and one pass up to rotation.
    (TokenRing(3), (3, 3), (1, 1)),
    (TokenRing(4, lossy=True), (5, 8), (2, 2)),
])
def test_symmetry_agrees_and_stores_fewer_states(
        model: Model, plain: tuple[int, int], reduced: tuple[int, int]) -> None:
    without, with_ = check(model), check(model, symmetry=True)
    for a, b in zip(without, with_, strict=True):
        assert a.status is b.status
        assert (a.trace is None) == (b.trace is None)
        if b.trace is not None:
            assert len(a.trace) == len(b.trace)
            check_counterexample = assert_stuck if b.detail else assert_breaks
            check_counterexample(model, a)
            check_counterexample(model, b)
        assert counts(a) == plain and counts(b) == reduced


def test_symmetric_safety_trace_is_real_and_shortest() -> None:
    model = TasLock(3, "split", rounds=2)
    [plain] = check(model, properties=["mutual_exclusion"])
    [reduced] = check(model, properties=["mutual_exclusion"], symmetry=True)
    assert len(plain.trace) == len(reduced.trace) == 4
    assert_breaks(model, reduced)
    # The trace passes through states that are not representatives, so it was rebuilt.
    assert any(model.canonical(s) != s for s in reduced.trace.states)


def test_symmetric_can_finish_names_the_real_agent() -> None:
    model = TasLock(3, "leak", rounds=2)
    plain = by_name(check(model))["can_finish"]
    reduced = by_name(check(model, symmetry=True))["can_finish"]
    # p0 finishes a round and takes the lock again to leave without releasing it.
    assert len(plain.trace) == len(reduced.trace) == 5   # 3 to the doomed state, 2 round the cycle
    assert plain.trace.loop_start == reduced.trace.loop_start == 4
    assert reduced.detail.startswith("p1 can never finish after step 3; ")
    assert_stuck(model, reduced)


def test_symmetry_needs_canonical() -> None:
    with pytest.raises(LockbreakError, match="canonical"):
        check(Counter(), symmetry=True)

    class NoPerm(TasLock):
        canonical_perm = None  # type: ignore[assignment]

    with pytest.raises(LockbreakError, match="canonical_perm"):
        check(NoPerm(), symmetry=True)
    # Safety properties alone need only canonical().
    assert check(NoPerm(), properties=["mutual_exclusion"], symmetry=True)[0].status \
        is Status.HOLDS


def test_a_false_symmetry_is_reported() -> None:
    class Wrong(Endless):
        def canonical(self, state: int) -> int:  # claims 2 behaves like 4; it is 2 steps short
            return 4 if state == 2 else state

    with pytest.raises(LockbreakError, match="not a symmetry"):
        check(Wrong(bad_at=5), properties=["below"], symmetry=True)


# ------------------------------------------------------------------------------- determinism


@pytest.mark.parametrize("symmetry", [False, True])
def test_two_runs_give_identical_results(symmetry: bool) -> None:
    for model in (TasLock(3, "split", rounds=2), TasLock(3, "leak", rounds=2)):
        first, second = check(model, symmetry=symmetry), check(model, symmetry=symmetry)
        assert replace_seconds(first, second) == second


def test_property_kinds_of_toys_are_consistent() -> None:
    for model in (Counter(), Peterson(), TwoLocks(), TasLock(), TokenRing(), Endless()):
        assert len(model.property_names) == len(model.property_kinds)
        assert all(isinstance(kind, PropertyKind) for kind in model.property_kinds)
