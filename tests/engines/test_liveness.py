"""The FAIR and WORST engine (`lockbreak.engines.liveness`) on hand-drawn graphs.

Each graph is small enough to read every answer off the drawing in the test's docstring:
which cycles are weakly fair, and how many ticks the longest open interval has.
"""

from __future__ import annotations

import pytest

from lockbreak.core import Budget, CheckResult, LockbreakError, Status
from lockbreak.engines.liveness import open_forever, ticks_open_at_end
from lockbreak.engines.plain_bfs import check
from model.lockstep import kernel_model
from model.scenario.load import load_scenario
from model.world import build_world
from properties.catalogue import KNOWN, specs
from tests.support.paths import REPO
from tests.support.toys import Obligations

CPU0, CPU1, ENV = 0, 1, -1


def results(model: Obligations, **kwargs: object) -> dict[str, CheckResult]:
    return {r.property: r for r in check(model, **kwargs)}  # type: ignore[arg-type]


def path_of(result: CheckResult) -> list[int]:
    assert result.trace is not None
    return result.trace.states


def test_a_spinner_that_keeps_losing_an_unfair_lock_is_starved_under_weak_fairness() -> None:
    """0: lock free, cpu1 waiting; 1: cpu0 holds it, cpu1 waiting; 2: cpu1 got it.

    cpu0 takes (0->1) and releases (1->0) forever; cpu1 may try at 0 (and win, 0->2) or spin
    at 1 (1->1). The cycle 0->1->1->0 moves both CPUs, so weak fairness allows it: cpu1 is
    starved. Every step is a tick, so the wait is also unbounded.
    """
    model = Obligations({0: [(CPU0, 1, 1), (CPU1, 2, 1)], 1: [(CPU1, 1, 1), (CPU0, 0, 1)]},
                        {0: 0b10, 1: 0b10})
    got = results(model)
    served, wait = got["served"], got["wait"]
    assert served.status is Status.VIOLATED
    assert path_of(served) == [0, 1, 1, 0]
    assert served.trace is not None and served.trace.loop_start == 0
    assert served.detail.startswith("cpu1 is never served in an execution fair to every agent")
    assert open_forever(model, served.trace, 0, fair=True) == "cpu1"
    assert wait.status is Status.VIOLATED and wait.worst is None
    assert wait.trace is not None and open_forever(model, wait.trace, 1, fair=False) == "cpu1"


def test_a_cycle_that_never_lets_an_enabled_cpu_move_is_not_fair() -> None:
    """As above, but cpu1 cannot spin: at 1 its only move wins the lock too (1->2).

    The only cycle, 0->1->0, moves cpu0 alone while cpu1 is enabled throughout: weak
    fairness rules it out, so ``served`` holds, and not vacuously (the unfair cycle exists).
    """
    model = Obligations({0: [(CPU0, 1, 1), (CPU1, 2, 1)], 1: [(CPU1, 2, 1), (CPU0, 0, 1)]},
                        {0: 0b10, 1: 0b10})
    served = results(model)["served"]
    assert served.status is Status.HOLDS, served.detail


def test_a_cpu_that_cannot_move_somewhere_on_the_cycle_is_treated_fairly() -> None:
    """cpu1 can move only at 0 (to 2); at 1 it is blocked. On 0->1->0 it is disabled at 1,
    so weak fairness does not force it to move: ``served`` is violated."""
    model = Obligations({0: [(CPU0, 1, 1), (CPU1, 2, 1)], 1: [(CPU0, 0, 1)]},
                        {0: 0b10, 1: 0b10})
    served = results(model)["served"]
    assert served.status is Status.VIOLATED
    assert path_of(served) == [0, 1, 0]


def test_without_any_cycle_fairness_is_vacuous() -> None:
    model = Obligations({0: [(CPU0, 1, 1)], 1: [(CPU0, 2, 1)]}, {0: 0b10, 1: 0b10})
    assert results(model)["served"].status is Status.VACUOUS


def test_the_worst_case_is_the_longest_open_interval_in_ticks() -> None:
    """0 -t1-> 1 opens it; then 1 -t1-> 2 -t1-> 3 -t1-> 4 closes it, or shortcuts close early
    (1 -t0-> 4, 2 -t0-> 4). Ticks count from the opening transition up to, not including, the
    closing one: 1 (0->1) + 1 (1->2) + 1 (2->3) = 3, along 0, 1, 2, 3, 4."""
    model = Obligations({0: [(CPU0, 1, 1)], 1: [(CPU0, 2, 1), (CPU1, 4, 0)],
                         2: [(CPU1, 3, 1), (CPU0, 4, 0)], 3: [(CPU0, 4, 1)]},
                        {1: 0b01, 2: 0b01, 3: 0b01})
    wait = results(model)["wait"]
    assert (wait.status, wait.worst) == (Status.HOLDS, 3)
    assert path_of(wait) == [0, 1, 2, 3, 4]
    assert wait.trace is not None and ticks_open_at_end(model, wait.trace, 1) == 3


def test_an_obligation_open_from_the_start_counts_from_the_start() -> None:
    """Open at 0 and 1: the tick of 0->1 counts, that of the closing 1->2 does not."""
    model = Obligations({0: [(CPU0, 1, 1)], 1: [(CPU0, 2, 1)]}, {0: 0b01, 1: 0b01})
    wait = results(model)["wait"]
    assert wait.worst == 1
    assert wait.trace is not None and ticks_open_at_end(model, wait.trace, 1) == 1


def test_environment_steps_take_no_tick_and_no_fairness() -> None:
    """A wakeup (the environment) opens the obligation without a tick; cpu0 then needs two
    ticks. The environment's self-loop at 1 is a cycle without ticks, but it is also not
    an agent's move: fairness ignores it, so it cannot be a fair cycle on its own."""
    model = Obligations({0: [(ENV, 1, 0)], 1: [(CPU0, 2, 1)], 2: [(CPU0, 3, 1)]},
                        {1: 0b01, 2: 0b01})
    got = results(model)
    assert got["wait"].worst == 1
    assert got["served"].status is Status.VACUOUS


def test_open_where_nothing_can_move_is_a_violation_of_both() -> None:
    model = Obligations({0: [(CPU0, 1, 1)]}, {1: 0b01})
    got = results(model)
    assert got["served"].status is Status.VIOLATED
    assert "nothing can move" in got["served"].detail
    assert got["wait"].status is Status.VIOLATED and got["wait"].worst is None
    assert got["wait"].trace is not None
    assert open_forever(model, got["wait"].trace, 1, fair=False) == "cpu0"


def test_time_that_does_not_pass_on_an_open_cycle_is_a_model_error() -> None:
    model = Obligations({0: [(CPU0, 1, 1)], 1: [(CPU1, 2, 0)], 2: [(CPU1, 1, 0)]},
                        {1: 0b01, 2: 0b01})
    with pytest.raises(LockbreakError, match="cycle without ticks"):
        check(model, properties=["wait"])  # type: ignore[arg-type]


def test_nothing_ever_opened_is_vacuous() -> None:
    model = Obligations({0: [(CPU0, 1, 1)]}, {})
    got = results(model)
    assert got["wait"].status is Status.VACUOUS and got["wait"].worst is None
    assert got["served"].status is Status.VACUOUS


def test_a_budget_that_runs_out_is_incomplete_never_holds() -> None:
    model = Obligations({0: [(CPU0, 1, 1)], 1: [(CPU0, 2, 1)]}, {0: 0b01, 1: 0b01})
    got = results(model, budget=Budget(max_states=2))
    assert {r.status for r in got.values()} == {Status.INCOMPLETE}
    assert got["wait"].detail == "stopped at 2 states (--max-states)"


def test_a_trace_that_does_not_close_its_loop_does_not_replay_as_a_lasso() -> None:
    model = Obligations({0: [(CPU0, 1, 1), (CPU1, 2, 1)], 1: [(CPU1, 1, 1), (CPU0, 0, 1)]},
                        {0: 0b10, 1: 0b10})
    served = results(model)["served"]
    assert served.trace is not None
    cut = type(served.trace)(served.trace.init, served.trace.steps[:-1], 0)
    assert open_forever(model, cut, 0, fair=True) is None


class ManyCpus(Obligations):
    """`Obligations` with ``n`` agents, of which only cpu0 and the last one ever move."""

    def __init__(self, n: int, edges: dict[int, list[tuple[int, int, int]]],
                 open_for: dict[int, int]) -> None:
        super().__init__(edges, open_for)
        self.agents = tuple(f"cpu{a}" for a in range(n))


@pytest.mark.parametrize("n", [2, 63, 64, 65, 130])
def test_fairness_is_decided_for_any_number_of_cpus(n: int) -> None:
    """The two graphs above with cpu1 renamed to the last CPU: weak fairness still rules out
    the cycle on which it stays enabled, and still allows the one on which it spins."""
    last = n - 1
    waiting = {0: 1 << last, 1: 1 << last}
    fair = ManyCpus(n, {0: [(CPU0, 1, 1), (last, 2, 1)], 1: [(last, 2, 1), (CPU0, 0, 1)]},
                    waiting)
    assert results(fair)["served"].status is Status.HOLDS
    spinning = ManyCpus(n, {0: [(CPU0, 1, 1), (last, 2, 1)],
                            1: [(last, 1, 1), (CPU0, 0, 1)]}, waiting)
    served = results(spinning)["served"]
    assert served.status is Status.VIOLATED
    assert served.detail.startswith(f"cpu{last} is never served")


def test_a_cycle_that_takes_one_outcome_of_a_star_guard_is_no_counterexample() -> None:
    """cpu0's `while (*)` batch loop can repeat forever only by taking the guard true every
    time, which strong fairness on the choice rules out: under weak fairness alone that cycle
    is a livelock; with it, every fair execution leaves the loop, so livelock_free holds."""
    path = REPO / "scenarios" / "zone-batch-needbreak-v5.17.toml"
    model = kernel_model(build_world(load_scenario(path, known_properties=KNOWN)),
                         specs(["starvation_free", "livelock_free"]))
    assert model.choice_agents
    results = {r.property: r for r in check(model)}
    assert results["starvation_free"].status is Status.HOLDS
    assert results["livelock_free"].status is Status.HOLDS, results["livelock_free"].detail
