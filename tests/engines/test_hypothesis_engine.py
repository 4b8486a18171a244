"""The Hypothesis engine on toy models: verdicts, shrinking, seeds, the example database.

The toys (`toys.py`) know nothing of kernels, so these tests pin the engine's generic
behaviour: a violation it reports is a real, replayable, locally minimal execution; no
violation is INCOMPLETE, never HOLDS; the same seed gives the same search; a failure stored in
the example database is retried first.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from lockbreak.core import Model, PropertyKind, Status, Trace
from lockbreak.engines.hypothesis_engine import Search, check
from lockbreak.engines.plain_bfs import check as explicit_check
from lockbreak.engines.shrink import shortcut, shrink, switches
from lockbreak.engines.walk import Walker, doomed_path, drain, replay
from tests.support.toys import Counter, Endless, Peterson, TwoLocks

FAST = Search(examples=100, seed=0, shrink_seconds=5.0)
# Peterson's turn_first bug needs one narrow interleaving that few random runs take.
WIDE = Search(examples=600, seed=0, shrink_seconds=5.0)


class Combination:
    """Two agents; the property breaks only when they alternate ``a b a b ...`` for ``length``
    steps in a row (any other step resets the count), which few random runs do."""

    property_names = ("no_combination",)
    property_kinds = (PropertyKind.SAFETY,)
    agents = ("a", "b")
    must_finish = 0

    def __init__(self, length: int = 12) -> None:
        self.length = length

    def init_states(self) -> Sequence[tuple[int, str]]:
        return ((0, ""),)

    def actions(self, state: tuple[int, str]) -> Sequence[str]:
        return ("a", "b")

    def next_state(self, state: tuple[int, str], action: str) -> tuple[int, str]:
        count, last = state
        return (count + 1 if action != last else 1), action

    def observe(self, before: object, action: object, after: tuple[int, str]) -> tuple[int, int]:
        return int(after[0] >= self.length), int(after[0] >= 2)

    def done(self, state: object) -> int:
        return 0


def replays(model: Model[object, object], trace: Trace[object, object], bit: int) -> bool:
    """The trace is an execution of ``model`` whose last step violates property ``bit``."""
    state = trace.init
    violated = 0
    for step in trace.steps:
        action = model.actions(state)[step.index]
        assert action == step.action
        after = model.next_state(state, action)
        assert after == step.state
        violated, _ = model.observe(state, action, after)
        state = after
    return bool(violated >> bit & 1)


@pytest.mark.parametrize("variant", ["turn_first", "check_then_set"])
def test_broken_peterson_is_caught_with_a_shortest_replayable_trace(variant: str) -> None:
    model = Peterson(variant)
    [result] = check(model, properties=["mutual_exclusion"], search=WIDE).results
    [shortest] = explicit_check(model, properties=["mutual_exclusion"])
    assert result.status is Status.VIOLATED and result.trace is not None
    assert replays(model, result.trace, 0)
    assert shortest.trace is not None
    assert len(result.trace) == len(shortest.trace)


def test_correct_peterson_is_incomplete_never_holds_and_says_what_it_covered() -> None:
    exploration = check(Peterson(), search=FAST)
    assert [r.status for r in exploration.results] == [Status.INCOMPLETE] * 2
    assert "no violation in" in exploration.results[0].detail
    cov = exploration.coverage
    assert cov.runs >= 100 and cov.steps > cov.runs and cov.states > 1
    assert cov.witnessed == 0b11 and cov.seed == 0
    assert cov.exhausted == "100 runs"


def test_a_witness_never_reached_is_said_so() -> None:
    [_, far_apart, _] = check(Counter(), search=FAST).results
    assert far_apart.status is Status.INCOMPLETE
    assert "witness NEVER reached" in far_apart.detail


def test_an_abba_deadlock_is_found_and_ends_where_both_cpus_are_stuck() -> None:
    model = TwoLocks("abba")
    [result] = check(model, search=FAST).results
    assert result.status is Status.VIOLATED and result.trace is not None
    assert result.trace.states[-1] == (1, 1, 0, 1)      # each holds one lock, waits for the other
    assert "can never finish after step 2" in result.detail
    [ok] = check(TwoLocks("same"), search=FAST).results
    assert ok.status is Status.INCOMPLETE


def test_the_same_seed_gives_the_same_search() -> None:
    model = Combination(6)
    first, second = (check(model, search=Search(examples=60, seed=7)) for _ in range(2))
    assert first.coverage.runs == second.coverage.runs
    assert first.coverage.steps == second.coverage.steps
    assert first.results[0].trace == second.results[0].trace


def test_the_example_database_retries_a_failure_first(tmp_path: Path) -> None:
    model = Combination(14)
    one_run = Search(examples=1, seed=3, database=tmp_path / "db", database_key=b"combo")
    assert check(model, search=one_run).results[0].status is Status.INCOMPLETE
    found = check(model, search=Search(examples=2000, seed=3, database=tmp_path / "db",
                                       database_key=b"combo"))
    assert found.results[0].status is Status.VIOLATED
    again = check(model, search=one_run)
    assert again.results[0].status is Status.VIOLATED
    other_key = Search(examples=1, seed=3, database=tmp_path / "db", database_key=b"other")
    assert check(model, search=other_key).results[0].status is Status.INCOMPLETE


def test_a_seconds_budget_stops_an_endless_search() -> None:
    exploration = check(Endless(bad_at=10**9), properties=["forever"],
                        search=Search(seconds=0.5, seed=0, steps=50))
    assert exploration.results[0].status is Status.INCOMPLETE
    assert exploration.coverage.exhausted == "0.5 s"
    assert exploration.coverage.seconds < 30     # stopped by the budget, not by running out


def test_swarm_can_be_switched_off() -> None:
    exploration = check(Peterson("check_then_set"),
                        search=Search(examples=100, seed=0, swarm=False))
    assert exploration.coverage.swarm is False
    assert exploration.results[0].status is Status.VIOLATED


def test_shrunk_schedules_are_locally_minimal() -> None:
    """No single step can be deleted, and the alternation is as short as the property allows."""
    model = Combination(5)
    [result] = check(model, search=FAST).results
    assert result.trace is not None
    actions = [step.action for step in result.trace.steps]
    assert len(actions) == 5 and switches(actions, str) == 4
    walker = Walker(model)
    init = model.init_states()[0]
    for i in range(len(actions)):
        assert replay(walker, init, actions[:i] + actions[i + 1:], stop_on=1) is None


def test_shrink_prefers_fewer_switches_among_equally_short_schedules() -> None:
    def fails(actions: Sequence[str]) -> tuple[str, ...] | None:
        """Fails once a has moved twice and b twice."""
        for i in range(len(actions)):
            if actions[:i + 1].count("a") >= 2 and actions[:i + 1].count("b") >= 2:
                return tuple(actions[:i + 1])
        return None

    best = shrink(("a", "b", "a", "b", "a"), fails, str)
    assert len(best) == 4 and switches(best, str) == 1


def test_shortcut_splices_in_a_shorter_path_and_only_a_shorter_one() -> None:
    def line(s: int) -> list[tuple[str, int, bool]]:
        return [("+1", s + 1, s + 1 == 4), ("+2", s + 2, s + 2 == 4)]

    assert shortcut([0, 1, 2, 3, 4], ["+1"] * 4, line, 100) == ("+2", "+1", "+1")
    assert shortcut([0, 2, 4], ["+2", "+2"], line, 100) is None

    def wrong_way(s: int) -> list[tuple[str, int, bool]]:
        """Reaching 2 by "+2" is no failure: only the step "+1" from 1 is."""
        return [("+1", s + 1, s == 1), ("+2", s + 2, False)]

    assert shortcut([0, 1, 2], ["+1", "+1"], wrong_way, 100) is None


def test_drain_runs_everyone_round_robin_until_stuck_and_doom_is_decided_there() -> None:
    model = TwoLocks("abba")
    actions, end = drain(Walker(model), model.init_states()[0], 100)
    assert actions == [("cpu0", "spin_lock(A)"), ("cpu1", "spin_lock(B)")]
    assert end == (1, 1, 0, 1)
    assert doomed_path(model, end, 100) == ([], 0)
    assert doomed_path(model, model.init_states()[0], 1) is False     # too large to decide
    assert doomed_path(TwoLocks("same"), (0, 0, -1, -1), 100) is None
