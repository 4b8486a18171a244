"""Sleeping locks (mutex, rwsem) and might_sleep_clean (docs/semantics.md section 10).

A waiter on a sleeping lock gives its CPU away: it takes no step until the lock can be granted,
and its wait is counted like a spinner's. Holding one leaves preempt_count alone. Every
might-sleep point (might_sleep(), mutex_lock, down_*, and cond_resched*() in the eras that
annotate them) is checked as CONFIG_DEBUG_ATOMIC_SLEEP checks it, whether or not anything sleeps.
"""

from __future__ import annotations

import json
import shutil
from collections import deque
from pathlib import Path

import pytest
from click.testing import CliRunner

from lockbreak.cli import main
from lockbreak.core import ScenarioError, Status
from lockbreak.engines import plain_bfs, vectorised_bfs
from lockbreak.testing import assert_violated, check_property
from model.eras import Primitive, get_era
from model.events import Event
from model.kernel import KernelModel
from model.scenario.load import load_scenario
from properties.catalogue import KNOWN
from tests.support.helpers import (
    NESTED_CPU0,
    NESTED_CPU1,
    check_by_name,
    kernel_model,
    scenario_toml,
)
from tests.support.paths import REPO

SCENARIOS = REPO / "scenarios"
PURGE = SCENARIOS / "vmap-purge-mutex-v5.17.toml"
PURGE_INSIDE = SCENARIOS / "vmap-purge-mutex-inside-v5.17.toml"
CHECKPOINT = SCENARIOS / "jbd2-checkpoint-rwsem-v5.17.toml"

# Every verdict of the public scenarios, and the worst cases in ticks (lockstep timing).
VERDICTS = {
    PURGE: {"mutual_exclusion": "holds", "deadlock_free": "holds",
            "no_sleep_in_atomic": "holds", "might_sleep_clean": "holds",
            "break_return_truth": "holds", "no_stale_use": "vacuous",
            "no_spurious_break": "holds", "starvation_free": "holds",
            "livelock_free": "holds", "bounded_wait": 23, "bounded_latency": 10},
    PURGE_INSIDE: {"mutual_exclusion": "holds", "deadlock_free": "holds",
                   "no_sleep_in_atomic": "holds", "might_sleep_clean": "violated",
                   "break_return_truth": "holds", "no_stale_use": "vacuous",
                   "no_spurious_break": "holds", "starvation_free": "holds",
                   "livelock_free": "holds", "bounded_wait": 7, "bounded_latency": 12},
    CHECKPOINT: {"mutual_exclusion": "holds", "deadlock_free": "holds",
                 "no_sleep_in_atomic": "holds", "might_sleep_clean": "holds",
                 "break_return_truth": "vacuous", "no_stale_use": "holds",
                 "no_spurious_break": "holds", "starvation_free": "holds",
                 "livelock_free": "holds", "bounded_wait": 20, "bounded_latency": 15},
}


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def model_of(path: Path, properties: tuple[str, ...] = ("mutual_exclusion",
                                                         "might_sleep_clean")) -> KernelModel:
    from model.world import build_world
    from properties.catalogue import specs
    return KernelModel(build_world(load_scenario(path, known_properties=KNOWN)),
                       specs(list(properties)))


def reachable(model: KernelModel) -> list[int]:
    """Every reachable state, breadth first."""
    init = model.init_states()[0]
    seen, todo = {init}, deque([init])
    while todo:
        state = todo.popleft()
        for _, after, _, _ in model.successors(state):
            if after not in seen:
                seen.add(after)
                todo.append(after)
    return list(seen)


# ------------------------------------------------------------------ the public scenarios


@pytest.mark.parametrize("path", list(VERDICTS), ids=lambda p: p.stem)
def test_every_verdict_of_the_public_scenarios(path: Path) -> None:
    code, out = run_cli("check", str(path), "--json")
    assert code == 0, out                     # every [expect] met
    got = {r["property"]: (r["worst"] if r["worst"] is not None else r["status"])
           for r in json.loads(out)["results"]}
    assert got == VERDICTS[path]


def test_the_purge_under_its_mutex_has_the_pinned_state_counts() -> None:
    """2,588 states, as `lockbreak check` counts them with every property; partial-order
    reduction leaves 2,174 for the two safety properties alone."""
    model = model_of(PURGE)
    assert len(reachable(model)) == 2588
    assert {(r.status, r.stats.states) for r in plain_bfs.check(model)} == {
        (Status.HOLDS, 2588)}
    assert {(r.status, r.stats.states) for r in vectorised_bfs.check(model, symmetry=True,
                                                               por=True)} == {
        (Status.HOLDS, 2174)}


def test_the_counterexample_names_the_mutex_lock_under_the_spinlock() -> None:
    assert_violated(PURGE_INSIDE, "might_sleep_clean", max_steps=2)
    code, out = run_cli("check", str(PURGE_INSIDE), "--property", "might_sleep_clean")
    assert code == 0 and "expected violated: ok" in out, out
    assert ("mutex_lock(vmap_purge_lock) > might_sleep(): __might_sleep(0): sleeping function "
            "called from invalid context, preempt_count=1") in out, out


# ------------------------------------------------------------------ sleeping waiters


def test_a_mutex_waiter_takes_no_step_and_its_holder_keeps_preempt_count_zero() -> None:
    model = model_of(PURGE)
    asleep = holding = 0
    for state in reachable(model):
        view = model.view(state)
        moving = {a.cpu for a in model.actions(state) if not a.wakeup}
        held = any("vmap_purge_lock" in cpu.holds for cpu in view.cpus)
        for i, cpu in enumerate(view.cpus):
            if "vmap_purge_lock" in cpu.waits_for and held:
                assert i not in moving, f"{cpu.name} steps while asleep on the mutex"
                asleep += 1
            if cpu.holds == ("vmap_purge_lock",) and cpu.at.startswith(
                    ("spin_lock(free_vmap_area_lock): preempt_disable()", "mutex_unlock(")):
                assert cpu.preempt_count == 0
                holding += 1
    assert asleep and holding      # the waiter did sleep, a holder was looked at


def test_a_mutex_holder_may_be_preempted(tmp_path: Path) -> None:
    text = scenario_toml("v5.17", [("mutex_lock(M); work(2); mutex_unlock(M);", 1),
                                   "mutex_lock(M); work(); mutex_unlock(M);"], locks="")
    text = text.replace("[locks]\n", '[locks]\nM = "mutex"\n')
    model = kernel_model(tmp_path, text)
    preempted_holding = False
    for state in reachable(model):
        view = model.view(state)
        for action in model.actions(state):
            info = model.step_info(state, action)
            if (info.text == "preempted: schedule()" and action.cpu == 0
                    and "M" in view.cpus[0].holds):
                preempted_holding = True
    assert preempted_holding
    results = check_by_name(model, ["no_sleep_in_atomic", "might_sleep_clean",
                                    "mutual_exclusion", "deadlock_free"])
    assert {k: r.status for k, r in results.items()} == {
        "no_sleep_in_atomic": Status.HOLDS, "might_sleep_clean": Status.HOLDS,
        "mutual_exclusion": Status.HOLDS, "deadlock_free": Status.HOLDS}


def test_rwsem_readers_share_and_a_writer_sleeps_behind_them(tmp_path: Path) -> None:
    text = scenario_toml("v5.17", ["down_read(S); work(); up_read(S);",
                                   "down_read(S); work(); up_read(S);",
                                   "down_write(S); work(); up_write(S);"], locks="")
    model = kernel_model(tmp_path, text.replace("[locks]\n", '[locks]\nS = "rwsem"\n'))
    shared = writer_asleep = False
    for state in reachable(model):
        cpus = model.view(state).cpus
        readers = [c for c in cpus if "S(r)" in c.holds]
        shared |= len(readers) == 2
        if "S" in cpus[2].waits_for and readers:
            writer_asleep = True
            assert 2 not in {a.cpu for a in model.actions(state)}
    assert shared and writer_asleep


# ------------------------------------------------------------------ might_sleep_clean


def nested(version: str, tmp_path: Path) -> KernelModel:
    return kernel_model(tmp_path, scenario_toml(version, [NESTED_CPU0, NESTED_CPU1]))


def test_eras_that_annotate_cond_resched_lock_flag_it_under_a_second_lock(
        tmp_path: Path) -> None:
    """Breaking B while holding A: from v2.6.32 (v4.15-rc here) a debug kernel reports
    cond_resched_lock(B) at preempt_count 2; earlier eras have no annotation to report."""
    got = {}
    for version in ("v2.6.25", "v4.15-rc", "v5.17"):
        results = check_by_name(nested(version, tmp_path), ["might_sleep_clean"])
        result = results["might_sleep_clean"]
        got[version] = (result.status, len(result.trace or ()))
    assert got == {"v2.6.25": (Status.VACUOUS, 0), "v4.15-rc": (Status.VIOLATED, 7),
                   "v5.17": (Status.VIOLATED, 5)}


def test_the_witness_is_reached_and_is_not_vacuous(tmp_path: Path) -> None:
    """might_sleep_clean holds on the purge with its witness reached; with no might-sleep
    point (v2.6.25, no annotated call) it is vacuous instead of holding."""
    code, out = run_cli("check", str(PURGE), "--property", "might_sleep_clean")
    assert code == 0 and "might_sleep_clean ..... holds" in out, out
    path = tmp_path / "nested.toml"
    path.write_text(scenario_toml("v2.6.25", [NESTED_CPU0, NESTED_CPU1]))
    code, out = run_cli("check", str(path), "--property", "might_sleep_clean")
    assert code == 1 and "might_sleep_clean ..... vacuous" in out, out
    assert "(a might-sleep point reached)" in out


def test_a_might_sleep_point_before_the_first_step_is_witnessed(tmp_path: Path) -> None:
    text = scenario_toml("v5.17", ["might_sleep(); spin_lock(A); spin_unlock(A);"], locks="A")
    model = kernel_model(tmp_path, text)
    bit = model.property_names.index("might_sleep_clean")
    violated, witnessed = model.observe(None, None, model.init_states()[0])
    assert (violated >> bit & 1, witnessed >> bit & 1) == (0, 1)


def test_interrupts_disabled_are_invalid_context(tmp_path: Path) -> None:
    text = scenario_toml("v6.11", ["local_irq_disable(); mutex_lock(M); mutex_unlock(M); "
                                   "local_irq_enable();"], locks="")
    model = kernel_model(tmp_path, text.replace("[locks]\n", '[locks]\nM = "mutex"\n'))
    result = check_by_name(model, ["might_sleep_clean"])["might_sleep_clean"]
    assert result.status is Status.VIOLATED
    assert result.trace is not None and len(result.trace) == 1


def test_a_broken_mutex_that_raises_preempt_count_is_caught() -> None:
    """A mutex_lock that disables preemption like a spinlock: the lock break under it then
    runs at preempt_count 2, which its might-sleep check (one lock's worth) reports."""
    base = get_era("v5.17")
    broken = base.patch(
        "v5.17-spinning-mutex", summary="mutex_lock disables preemption", source="tests",
        mutex_lock=Primitive(base.primitives["mutex_lock"].body + "\npreempt_disable();\n"),
        mutex_unlock=Primitive(base.primitives["mutex_unlock"].body + "\npreempt_enable();\n"))
    from model.world import build_world
    from properties.catalogue import specs
    scenario = load_scenario(PURGE, known_properties=KNOWN)
    good = KernelModel(build_world(scenario), specs(["might_sleep_clean"]))
    bad = KernelModel(build_world(scenario, era=broken), specs(["might_sleep_clean"]))
    assert check_by_name(good, ["might_sleep_clean"])["might_sleep_clean"].status is Status.HOLDS
    result = check_by_name(bad, ["might_sleep_clean"])["might_sleep_clean"]
    assert result.status is Status.VIOLATED and result.trace is not None
    before = result.trace.states[-2]
    info = bad.step_info(before, result.trace.steps[-1].action)
    assert info.events & Event.MIGHT_SLEEP_ATOMIC
    assert ("cond_resched_lock(free_vmap_area_lock): __might_resched(1): sleeping function"
            in info.text)


# ------------------------------------------------------------------ static checks


@pytest.mark.parametrize(("code", "where", "hint"), [
    ("spin_lock(M); spin_unlock(M);", "1:11: spin_lock(M): M is a mutex", "use mutex_lock(M)"),
    ("mutex_lock(L); mutex_unlock(L);", "1:12: mutex_lock(L): L is a spinlock",
     "use spin_lock(L)"),
    ("read_lock(S); read_unlock(S);", "1:11: read_lock(S): S is an rwsem", "use down_read(S)"),
    ("down_write(M); up_write(M);", "1:12: down_write(M): M is a mutex", "use mutex_lock(M)"),
    ("mutex_lock(M); cond_resched_lock(M); mutex_unlock(M);",
     "1:34: cond_resched_lock(M): M is a mutex",
     "a mutex holder may sleep: call cond_resched() with M held instead of breaking it"),
    ("up_read(S);", "1:9: up_read(S): cpu0 does not hold S here",
     "take it first with down_read(S)"),
    ("down_read(S); up_write(S);", "1:24: up_write(S): cpu0 holds S for read here",
     "use up_read(S)"),
    ("mutex_lock(M); work();", "1:16: cpu0 ends holding M",
     "release M before the code ends (M taken on line 10)"),
    ("mutex_lock(M); mutex_lock(M); mutex_unlock(M);", "1:16: recursive locking of M deadlocks",
     "cpu0 already holds M here (taken on line 10)"),
])
def test_sleeping_lock_mistakes_are_refused_where_they_are(tmp_path: Path, code: str,
                                                           where: str, hint: str) -> None:
    text = (f'name = "t"\n[kernel]\nversion = "v5.17"\n[locks]\nL = "spin"\nM = "mutex"\n'
            f'S = "rwsem"\n[[cpu]]\ncode = """\n{code}\n"""\n')
    path = tmp_path / "t.toml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path, known_properties=KNOWN)
    err = caught.value
    line = err.line - 9
    assert (f"{line}:{err.col}: {err.message}", err.hint) == (where, hint)


def test_the_command_line_exits_2_on_a_spin_lock_of_a_mutex(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text('[kernel]\nversion = "v5.17"\n[locks]\nM = "mutex"\n[[cpu]]\n'
                    'code = "spin_lock(M); spin_unlock(M);"\n')
    code, out = run_cli("check", str(path))
    assert code == 2
    assert f"{path}:6:19: spin_lock(M): M is a mutex" in out and "use mutex_lock(M)" in out


def test_mutexes_arrive_in_v2_6_20_and_rwsems_are_everywhere(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text('[kernel]\nversion = "v2.6.12"\n[locks]\nM = "mutex"\nS = "rwsem"\n'
                    '[[cpu]]\ncode = "down_read(S); up_read(S); mutex_lock(M); '
                    'mutex_unlock(M);"\n')
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path, known_properties=KNOWN)
    assert caught.value.message == "mutex_lock is not in v2.6.12"
    assert caught.value.hint.startswith("eras with mutex_lock: v2.6.20, ")


def test_killable_and_nested_spellings_are_the_plain_calls(tmp_path: Path) -> None:
    text = scenario_toml("v5.17", ["mutex_lock_killable(M); mutex_unlock(M); "
                                   "down_write_nested(S, 1); up_write(S);"], locks="")
    model = kernel_model(tmp_path, text.replace(
        "[locks]\n", '[locks]\nM = "mutex"\nS = "rwsem"\n'))
    assert check_by_name(model, ["might_sleep_clean"])["might_sleep_clean"].status \
        is Status.HOLDS


# ------------------------------------------------------------------ other engines


def test_the_random_search_finds_the_mutex_under_the_spinlock() -> None:
    run = check_property(PURGE_INSIDE, "might_sleep_clean", "hypothesis", budget="50", seed=1)
    assert run.verdicts[0].result.status is Status.VIOLATED


def test_z3_sees_a_might_sleep_point_before_the_first_step(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text(scenario_toml("v5.17", ["mutex_lock(M); work(); mutex_unlock(M);"] * 2,
                                  locks="").replace("[locks]\n", '[locks]\nM = "mutex"\n'))
    for engine in ("explicit", "z3"):
        code, out = run_cli("check", str(path), "--engine", engine, "--property",
                            "might_sleep_clean", "--json")
        [result] = json.loads(out)["results"]
        assert (code, result["status"]) == (0, "holds"), (engine, out)


@pytest.mark.slow
def test_z3_agrees_on_both_purges() -> None:
    for path, expected in ((PURGE_INSIDE, "violated"), (PURGE, "holds")):
        code, out = run_cli("check", str(path), "--engine", "z3", "--property",
                            "might_sleep_clean", "--json")
        [result] = json.loads(out)["results"]
        assert (code, result["status"]) == (0, expected), out


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("spin") is None or shutil.which("gcc") is None,
                    reason="needs spin and gcc")
def test_spin_agrees_on_the_mutex_under_the_spinlock(tmp_path: Path) -> None:
    out = tmp_path / "m.pml"
    code, text = run_cli("export", "--promela", str(PURGE_INSIDE), "-o", str(out))
    assert code == 0, text
    assert "EV_MIGHT_SLEEP_ATOMIC" in out.read_text()
