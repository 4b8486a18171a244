"""Lockstep timing, worst cases in ticks and fair liveness on the kernel model
(docs/semantics.md sections 6 and 8).

The worst cases below are worked out by hand in each test's docstring, from the era's steps
(the same step texts that tests/model/eras/test_era_primitives.py pins), and the model must agree.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from lockbreak.cli import main
from lockbreak.core import CheckResult, Status
from lockbreak.engines.liveness import labelled_graph
from lockbreak.engines.plain_bfs import check
from model.kernel import Action
from model.lockstep import ARRIVES, LockstepKernelModel, kernel_model
from model.world import build_world
from properties.catalogue import specs
from tests.support.helpers import NESTED_CPU0, NESTED_CPU1, load_scenario_text, scenario_toml
from tests.support.paths import REPO, TESTS

SCENARIOS = REPO / "scenarios"


def lockstep(tmp_path: Path, text: str, *properties: str) -> LockstepKernelModel:
    model = kernel_model(build_world(load_scenario_text(tmp_path, text)), specs(properties),
                         "lockstep")
    assert isinstance(model, LockstepKernelModel)
    return model


def worst(tmp_path: Path, text: str, prop: str) -> CheckResult:
    [result] = check(lockstep(tmp_path, text, prop))
    return result


# ------------------------------------------------------------------ lockstep semantics


def test_in_every_tick_every_cpu_that_can_move_moves_exactly_once(tmp_path: Path) -> None:
    """Over the whole lockstep graph of the nested scenario: an arrival takes no time and
    changes only its CPU's arrived bit; an arrived CPU steps only while it has not moved in
    the tick; the step that ends a tick leaves no unmoved, arrived CPU able to move (its
    successor starts a fresh tick); every other step leaves one."""
    model = lockstep(tmp_path, scenario_toml("v2.6.12", [NESTED_CPU0, NESTED_CPU1]),
                     "bounded_wait")
    graph = labelled_graph(model)
    assert not graph.cut_short
    ticks = arrivals = 0
    for state in graph.states:
        moved, arrived = model.moved(state), model.arrived(state)
        for cpu, after, tick in model.moves(state):
            assert cpu >= 0 and not moved >> cpu & 1
            if not arrived >> cpu & 1:
                arrivals += 1
                assert (tick, model.parts(after), model.moved(after), model.arrived(after)) == (
                    0, model.parts(state), moved, arrived | 1 << cpu)
                continue
            assert model.arrived(after) == arrived
            if tick:
                ticks += 1
                assert model.moved(after) == 0
            else:
                now = model.moved(after)
                assert now == moved | 1 << cpu
                assert any(arrived >> a.cpu & 1 and not now >> a.cpu & 1
                           for a in model.actions(after) if not a.wakeup)
    assert ticks > 0 and arrivals > 0
    # pinned: 259 states with both CPUs arriving in tick 0; the interleaving graph has 943
    assert len(graph.states) == 1001


def test_each_order_within_a_tick_is_explored(tmp_path: Path) -> None:
    """At the start either CPU may arrive; once both have, both can move in either order:
    two actions, then one."""
    model = lockstep(tmp_path, scenario_toml("v2.6.12", [NESTED_CPU0, NESTED_CPU1]),
                     "bounded_wait")
    init = model.init_states()[0]
    assert [str(a) for a in model.actions(init)] == ["cpu0", "cpu1"]
    assert [model.step_info(init, a).text for a in model.actions(init)] == [ARRIVES] * 2
    both = model.next_state(model.next_state(init, Action(0)), Action(1))
    assert [str(a) for a in model.actions(both)] == ["cpu0", "cpu1"]
    after_cpu1 = model.next_state(both, model.actions(both)[1])
    assert [str(a) for a in model.actions(after_cpu1)] == ["cpu0"]


def test_a_cpu_that_has_not_arrived_does_not_hold_up_the_tick(tmp_path: Path) -> None:
    """cpu0 arrives alone and steps: its step ends the tick, since cpu1 has not arrived, and
    cpu1 cannot be woken before it arrives."""
    text = scenario_toml("v2.6.12", [NESTED_CPU0, (NESTED_CPU1, 1)])
    model = lockstep(tmp_path, text, "bounded_latency")
    alone = model.next_state(model.init_states()[0], Action(0))
    assert Action(1, True) not in model.actions(alone)
    assert [(cpu, tick) for cpu, _, tick in model.moves(alone)] == [(1, 0), (0, 1)]


def test_the_worst_case_is_over_every_arrival(tmp_path: Path) -> None:
    """trylock-reverse-v2.6.12: with both CPUs starting in tick 0, cpu1 takes B before cpu0
    reaches it and cpu0 waits 6 ticks. When cpu1 arrives 3 ticks after cpu0, cpu0 takes B
    first and, its test-and-set lock being unfair, wins both relocks in its loop: cpu1 waits
    24 ticks. Padding cpu1 with work() no longer changes the worst case: it is one arrival."""
    scenario = (SCENARIOS / "trylock-reverse-v2.6.12.toml").read_text()
    result = worst(tmp_path, scenario, "bounded_wait")
    assert (result.status, result.worst) == (Status.HOLDS, 24)
    assert result.trace is not None
    firsts = [i for i, step in enumerate(result.trace.steps) if step.action == Action(1)][:1]
    assert firsts and firsts[0] > 1, "the worst case needs cpu1 to arrive after cpu0"
    padded = scenario.replace("spin_lock(B);\nif", "work(2);\nspin_lock(B);\nif")
    assert padded != scenario
    assert worst(tmp_path, padded, "bounded_wait").worst == 24


@pytest.mark.parametrize(("cpu", "ticks"), [(0, 1), (0, 2), (0, 3), (1, 1), (1, 2), (1, 3)])
def test_padding_a_cpu_with_work_does_not_change_the_worst_cases(tmp_path: Path, cpu: int,
                                                                  ticks: int) -> None:
    """vmap-purge-arrival-v5.17: with every CPU starting in tick 0, `work(N)` in front of
    either CPU moved its worst cases (bounded_wait 5, 3 or vacuous; bounded_latency 4, 7 or
    9). Over every arrival a padded CPU is one arrival among the others: 5 and 9 ticks, as
    without padding."""
    scenario = (SCENARIOS / "vmap-purge-arrival-v5.17.toml").read_text()
    first = ["[[cpu]]\ncode = \"\"\"\n", "wakeups = 1\ncode = \"\"\"\n"][cpu]
    padded = scenario.replace(first, f"{first}work({ticks});\n", 1)
    assert padded != scenario
    found = {prop: worst(tmp_path, padded, prop).worst
             for prop in ("bounded_wait", "bounded_latency")}
    assert found == {"bounded_wait": 5, "bounded_latency": 9}


# ------------------------------------------------------------------ worst cases by hand

TINY_V268 = """
spin_lock(L); work(); spin_unlock(L);
""", """
spin_lock(L); spin_unlock(L);
"""


def test_bounded_wait_on_a_tas_lock_by_hand(tmp_path: Path) -> None:
    """v2.6.8, tas, preempt none. spin_lock is preempt_disable(), then arch_spin_trylock; on
    failure the waiter loops arch_spin_is_locked, cpu_relax() until it reads unlocked, then
    tries again. cpu0 runs 5 steps (preempt_disable, trylock, work, unlock, preempt_enable).

    Worst case for cpu0 (cpu1 wins the first trylock): tick 0 both preempt_disable; tick 1
    cpu1 takes L, cpu0's trylock fails (the wait opens in tick 1); tick 2 cpu0 reads "locked"
    just before cpu1 unlocks; tick 3 cpu_relax; tick 4 it reads "unlocked"; tick 5 its
    trylock takes L. Open from tick 1 to tick 5: 4 ticks. The symmetric case (cpu1 waits
    while cpu0 does its one work()) also comes to 4: cpu0 unlocks in tick 3, cpu1 reads
    locked in 2, relaxes in 3, reads unlocked in 4 and takes L in 5.
    """
    result = worst(tmp_path, scenario_toml("v2.6.8", TINY_V268, locks="L", lock="tas",
                                           preempt="none"), "bounded_wait")
    assert (result.status, result.worst) == (Status.HOLDS, 4)
    assert result.trace is not None and len(result.trace) == 12   # 10 steps, 2 arrivals


def test_bounded_wait_grows_with_the_holders_critical_section(tmp_path: Path) -> None:
    """One more work() in cpu0's critical section moves its unlock one tick later; the
    waiter's two-step spin (read, relax) then reads "locked" once more: 4 -> 6 ticks."""
    longer = ("spin_lock(L); work(); work(); spin_unlock(L);", TINY_V268[1])
    result = worst(tmp_path, scenario_toml("v2.6.8", longer, locks="L", lock="tas",
                                           preempt="none"), "bounded_wait")
    assert result.worst == 6


def test_bounded_latency_by_hand(tmp_path: Path) -> None:
    """One CPU, preempt none, `work(); work(); cond_resched();` and one wakeup. The worst
    wakeup comes as soon as cpu0 arrives, before tick 0's step (a wakeup takes no tick): then
    work (tick 0), work (tick 1), need_resched() -> 1 (tick 2), schedule() (tick 3) closes it:
    3 ticks."""
    text = scenario_toml("v2.6.12", [("work(); work(); cond_resched();", 1)], locks="L",
                         preempt="none")
    result = worst(tmp_path, text, "bounded_latency")
    assert (result.status, result.worst) == (Status.HOLDS, 3)
    assert result.trace is not None
    assert [str(s.action) for s in result.trace.steps] == [
        "cpu0", "wakeup(cpu0)", "cpu0", "cpu0", "cpu0", "cpu0"]


def test_the_end_of_a_code_path_serves_a_wakeup(tmp_path: Path) -> None:
    """Under preempt none, `work(); work();` has no scheduling point, but returning to user
    space at its end schedules: woken first, the wait is tick 0's work; the second work ends
    the code path and closes it. 1 tick."""
    text = scenario_toml("v2.6.12", [("work(); work();", 1)], locks="L", preempt="none")
    assert worst(tmp_path, text, "bounded_latency").worst == 1


def test_a_wakeup_that_is_never_served_is_unbounded(tmp_path: Path) -> None:
    """Under preempt none, a CPU spinning for a lock held by a CPU that loops for ever never
    reaches a point where it schedules."""
    text = scenario_toml("v2.6.12", ["spin_lock(L); forever { work(); }",
                                     ("spin_lock(L); spin_unlock(L);", 1)],
                         locks="L", preempt="none")
    result = worst(tmp_path, text, "bounded_latency")
    assert result.status is Status.VIOLATED and result.worst is None
    assert result.trace is not None and result.trace.loop_start is not None


def test_ticket_fifo_bounds_the_nested_wait_where_tas_does_not(tmp_path: Path) -> None:
    """The nested scenario: with a ticket lock the waiter is served at CPU0's first break
    (5 ticks); with test-and-set, v2.6.12's CPU0 can win every relock and the waiter waits
    for the whole loop and its breaks (33 ticks, more than v2.6.8's 9, which never breaks)."""
    by_era = {}
    for era, lock in (("v2.6.8", "tas"), ("v2.6.12", "tas"), ("v2.6.25", "ticket")):
        text = scenario_toml(era, [NESTED_CPU0, NESTED_CPU1], lock=lock)
        by_era[era] = worst(tmp_path, text, "bounded_wait").worst
    assert by_era == {"v2.6.8": 9, "v2.6.12": 33, "v2.6.25": 5}


# ------------------------------------------------------------------ interleaving vs lockstep


def test_lockstep_timing_closes_the_stale_data_race_that_interleaving_finds(
        tmp_path: Path) -> None:
    """stale-data-reread-v2.6.9: CPU1 must get L inside CPU0's break window. Interleaving
    lets CPU0 be arbitrarily slow there; in lockstep, CPU1's spin (read, relax, trylock)
    cannot fit in the window, so the snapshot never goes stale: the break happens with X read
    (the witness), and no_stale_use holds."""
    verdicts = {}
    for name in ("stale-data-reread-v2.6.9", "stale-data-reread-v2.6.9-lockstep"):
        result = CliRunner().invoke(main, ["check", "--json", "-p", "no_stale_use",
                                           "--trace-dir", str(tmp_path),
                                           str(SCENARIOS / f"{name}.toml")])
        verdicts[name] = json.loads(result.stdout)["results"][0]["status"]
    assert verdicts == {"stale-data-reread-v2.6.9": "violated",
                        "stale-data-reread-v2.6.9-lockstep": "holds"}


# ------------------------------------------------------------------ fairness, lassos


@pytest.mark.parametrize(("scenario", "prop", "kind"), [
    ("starvation-tas-v2.6.12", "starvation_free", "starvation"),
    ("starvation-tas-v2.6.12", "livelock_free", "starvation"),
    ("restart-v2.6.12", "livelock_free", "livelock"),
    ("nested-outer-v2.6.12", "starvation_free", "deadlock"),
    ("nested-outer-v2.6.12", "bounded_wait", "deadlock"),
])
def test_lassos_replay_and_say_which_kind_of_forever(tmp_path: Path, scenario: str, prop: str,
                                                     kind: str) -> None:
    result = CliRunner().invoke(main, ["check", "-p", prop, "--trace-dir", str(tmp_path),
                                       str(SCENARIOS / f"{scenario}.toml")])
    assert result.exit_code == 0, result.output
    assert "<-- repeats from here" in result.stdout
    assert f"  => {kind}: " in result.stdout
    [trace] = tmp_path.glob(f"*--{prop}.json")
    replayed = CliRunner().invoke(main, ["replay", str(trace)])
    assert replayed.exit_code == 0, replayed.output
    assert f"replayed: {prop} violated again for cpu" in replayed.stdout


def test_the_starved_cpu_and_its_taker_are_named(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["check", "-p", "starvation_free", "--trace-dir",
                                       str(tmp_path),
                                       str(SCENARIOS / "starvation-tas-v2.6.12.toml")])
    assert "=> starvation: cpu1 waits for L forever while cpu0 takes it again and again" in (
        result.stdout)


def test_a_lasso_whose_loop_is_cut_does_not_replay(tmp_path: Path) -> None:
    scenario = tmp_path / "s.toml"
    shutil.copy(SCENARIOS / "starvation-tas-v2.6.12.toml", scenario)
    CliRunner().invoke(main, ["check", "-p", "starvation_free", "--trace-dir", str(tmp_path),
                              str(scenario)])
    [trace] = tmp_path.glob("*--starvation_free.json")
    data = json.loads(trace.read_text())
    data["steps"] = data["steps"][:-1]
    trace.write_text(json.dumps(data))
    replayed = CliRunner().invoke(main, ["replay", str(trace)])
    assert replayed.exit_code == 1
    assert "starvation_free is NOT violated by this trace any more" in replayed.stdout


def test_a_worst_case_trace_replays_to_the_same_ticks(tmp_path: Path) -> None:
    text = scenario_toml("v2.6.8", TINY_V268, locks="L", lock="tas", preempt="none")
    path = tmp_path / "tiny.toml"
    path.write_text(text)
    CliRunner().invoke(main, ["check", "-p", "bounded_wait", "--trace-dir", str(tmp_path),
                              str(path)])
    [trace] = tmp_path.glob("*--bounded_wait.json")
    assert json.loads(trace.read_text())["worst"] == 4
    replayed = CliRunner().invoke(main, ["replay", str(trace)])
    assert replayed.exit_code == 0, replayed.output
    assert "replayed: bounded_wait worst case of 4 ticks attained again" in replayed.stdout


def test_an_expected_max_is_met_or_not_met(tmp_path: Path) -> None:
    text = scenario_toml("v2.6.8", TINY_V268, locks="L", lock="tas", preempt="none")
    for bound, code, outcome in ((4, 0, "ok"), (3, 1, "NOT MET")):
        path = tmp_path / f"max{bound}.toml"
        path.write_text(text + f"[expect]\nbounded_wait = {{ max = {bound} }}\n")
        result = CliRunner().invoke(main, ["check", "--trace-dir", str(tmp_path), str(path)])
        assert result.exit_code == code, result.output
        assert "worst 4 ticks" in result.stdout
        assert f"expected max {bound}: {outcome}" in result.stdout


LIVELOCK = ("  => livelock: cpu0 keeps breaking L and taking it back; cpu1 waits for L forever "
            "while cpu0 takes it again and again")


@pytest.mark.parametrize("prop", ["starvation_free", "livelock_free"])
@pytest.mark.parametrize(("scenario", "version"), [
    (SCENARIOS / "restart-v2.6.12.toml", "v2.6.12"),                       # cond_resched_lock
    (TESTS / "data" / "restart-open-coded.toml", "v2.6.12"),  # unlock, lock
    (TESTS / "data" / "restart-open-coded.toml", "v2.6.9"),
], ids=["cond_resched_lock", "open-coded", "open-coded-v2.6.9"])
def test_a_livelock_reads_the_same_however_the_break_is_written(
        tmp_path: Path, scenario: Path, version: str, prop: str) -> None:
    """The explanation comes from the cycle (cpu0 drops and retakes L, cpu1 waits for it), so
    an open-coded break and cond_resched_lock() are the same livelock, never a deadlock, and
    the waiter cpu1 is named as not served."""
    result = CliRunner().invoke(main, ["check", "-p", prop, "--version", version,
                                       "--trace-dir", str(tmp_path), str(scenario)])
    assert LIVELOCK in result.stdout.splitlines(), result.stdout
    [headline] = [line for line in result.stdout.splitlines()
                  if line.startswith(f"{prop} violated in ")]
    assert "deadlock" not in headline and "cpu1" in headline


def test_a_cpu_running_forever_without_locks_is_a_livelock_not_a_deadlock(
        tmp_path: Path) -> None:
    """cpu0 polls need_resched(), which nothing ever sets: it moves in every round of the
    cycle and never finishes, with no lock in play."""
    path = tmp_path / "poll.toml"
    path.write_text('name = "poll"\n[kernel]\nversion = "v2.6.12"\n[locks]\nL = "spin"\n'
                    '[[cpu]]\ncode = """\nwhile (!need_resched()) {\n    work();\n}\n"""\n'
                    '[[cpu]]\ncode = """\nspin_lock(L); work(); spin_unlock(L);\n"""\n')
    result = CliRunner().invoke(main, ["check", "-p", "livelock_free", "--trace-dir",
                                       str(tmp_path), str(path)])
    assert "  => livelock: cpu0 keeps running without finishing" in result.stdout.splitlines()


def test_a_waiter_kept_out_by_a_running_holder_is_starvation_not_deadlock(
        tmp_path: Path) -> None:
    """zone-batch-unbroken's cpu0 keeps zone_lock through its `while (*)` batch loop while
    cpu1 spins on it: cpu0 runs, so the endless wait is starvation by a running holder, and
    the explanation names it; an ABBA cycle, where each holder spins too, stays a deadlock."""
    scenario = REPO / "scenarios" / \
        "zone-batch-unbroken-v5.17.toml"
    run = CliRunner().invoke(main, ["check", "-p", "bounded_wait", "--trace-dir",
                                    str(tmp_path), str(scenario)])
    assert ("=> starvation: cpu1 waits for zone_lock forever while cpu0 holds it and keeps "
            "running") in run.output
    abba = TESTS / "golden" / "abba-outer-v2.6.12.txt"
    assert "=> deadlock:" in abba.read_text()
