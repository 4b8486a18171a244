"""The v6.13 era and ``preempt = "lazy"`` (docs/semantics.md sections 4 and 5).

The public lazy scenarios' verdicts and worst cases are pinned, with the worst case under
``full`` beside them; one state count is pinned for both exhaustive engines; a broken variant
whose need_resched() sees the lazy flag is caught; the scheduler tick is shown taken on the
way to a reschedule (so the lazy paths are not vacuous); and the engines that do not model
the lazy flag refuse it by name with exit 2.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from lockbreak.cli import main
from lockbreak.core import PropertyKind, Status
from lockbreak.engines import plain_bfs, vectorised_bfs
from lockbreak.pipeline import CheckRequest, Overrides, check_scenario, load
from lockbreak.testing import check_property
from model.events import Event
from model.interpreter import Interpreter
from model.kernel import ACC, NEED, NEED_RESCHED, Action, KernelModel
from model.lockstep import LockstepKernelModel
from model.lockstep import kernel_model as timed_model
from model.program import Instr, Op
from model.scenario import load_scenario
from model.world import World, build_world
from properties.catalogue import KNOWN, of_kind, specs
from tests.support.helpers import check_by_name, first_states, kernel_model, scenario_toml
from tests.support.paths import REPO

NESTED_LAZY = REPO / "scenarios" / "nested-wakeup-lazy-v6.13.toml"
NESTED_RT = REPO / "scenarios" / "nested-wakeup-rt-v6.13.toml"
PURGE = REPO / "scenarios" / "purge-lazy-wakeup-v6.13.toml"
STATE_PROPERTIES = of_kind(PropertyKind.SAFETY, PropertyKind.CAN_FINISH)
HOLDS_BUT_STALE_VACUOUS = {
    "mutual_exclusion": "holds", "deadlock_free": "holds", "no_sleep_in_atomic": "holds",
    "break_return_truth": "holds", "no_stale_use": "vacuous", "no_spurious_break": "holds",
    "starvation_free": "holds", "livelock_free": "holds", "bounded_wait": "holds",
    "bounded_latency": "holds"}


def verdicts(path: Path, preempt: str | None = None) -> dict[str, tuple[str, int | None]]:
    """Every property's status and, for the bounded ones, the exact worst case in ticks."""
    run = check_scenario(load(path, Overrides(None, None, preempt)), CheckRequest())
    return {v.result.property: (v.result.status.value, v.result.worst) for v in run.verdicts}


# (scenario, preempt override, worst bounded_wait, worst bounded_latency, might_sleep_clean)
WORST = [
    # the lazy flag waits past spin_unlock(A), to the path's end; cond_resched_lock(B) under
    # A is a might-sleep point one lock above its offset
    (NESTED_LAZY, None, 5, 22, "violated"),
    (NESTED_RT, None, 5, 20, "violated"),   # an rt wakeup preempts at spin_unlock(A)
    (PURGE, None, 5, 22, "holds"),          # cond_resched_lock() never sees the lazy flag
    (PURGE, "full", 5, 10, "holds"),        # full: the next cond_resched_lock() schedules
]


@pytest.mark.parametrize(("path", "preempt", "wait", "latency", "might_sleep"), WORST,
                         ids=[f"{p.stem}-{o or 'file'}" for p, o, _, _, _ in WORST])
def test_verdicts_and_worst_cases_are_pinned(path: Path, preempt: str | None, wait: int,
                                             latency: int, might_sleep: str) -> None:
    found = verdicts(path, preempt)
    assert {name: status for name, (status, _) in found.items()} == {
        **HOLDS_BUT_STALE_VACUOUS, "might_sleep_clean": might_sleep}
    assert (found["bounded_wait"][1], found["bounded_latency"][1]) == (wait, latency)


def purge_model(properties: tuple[str, ...] = STATE_PROPERTIES,
                timing: str | None = None) -> KernelModel:
    world = build_world(load_scenario(PURGE, known_properties=KNOWN))
    return timed_model(world, specs(properties), timing)


def test_state_count_is_pinned_for_both_exhaustive_engines() -> None:
    """The plain BFS and the vectorised engine, whose factored view expands the lazy wakeup
    and the tick as environment actions, store the same states."""
    model = purge_model()
    assert vectorised_bfs.serves(model)
    plain = plain_bfs.check(model)
    fast = vectorised_bfs.check(model)
    assert {r.stats.states for r in plain} == {r.stats.states for r in fast} == {1_512}
    assert [r.status for r in fast] == [r.status for r in plain]
    full = build_world(load_scenario(PURGE, known_properties=KNOWN))
    assert len(full.programs) == 2 and full.lazy == (1, 0) and full.wakeups == (0, 0)


class LazyFlagVisible(Interpreter):
    """Broken: need_resched() sees the lazy flag (TIF_NEED_RESCHED_LAZY) too."""

    def __init__(self, world: World) -> None:
        super().__init__(world)
        self.steps = {**self.steps, Op.NEED_RESCHED: self.sees_lazy_flag}

    def sees_lazy_flag(self, cpu: int, instr: Instr, regs: list[int], mem: list, choice: int
                       ) -> tuple[Event, str] | None:
        regs[ACC] = int(regs[NEED] != 0)
        return Event.NONE, str(regs[ACC])


def test_a_lazy_flag_that_need_resched_sees_is_a_spurious_break() -> None:
    """If need_resched() saw the lazy flag, __cond_resched_lock() would drop the lock for
    it; _cond_resched() is a no-op under lazy, so nothing schedules and the drop is for
    nobody: no_spurious_break catches it with a short trace, where v6.13 holds."""
    world = build_world(load_scenario(PURGE, known_properties=KNOWN))
    real = check_by_name(KernelModel(world, specs(STATE_PROPERTIES)), ["no_spurious_break"])
    assert real["no_spurious_break"].status is Status.HOLDS
    broken = check_by_name(KernelModel(world, specs(STATE_PROPERTIES), LazyFlagVisible(world)),
                           ["no_spurious_break"])["no_spurious_break"]
    assert broken.status is Status.VIOLATED
    assert broken.trace is not None and len(broken.trace) == 11
    assert Action(0, True, env="lazy") in [step.action for step in broken.trace.steps]


def test_the_tick_is_taken_on_the_way_to_a_reschedule_in_the_loop() -> None:
    """Some run promotes the lazy flag with the tick, and CPU0 then schedules inside
    cond_resched_lock() (preempted at its spin_unlock(), since _cond_resched() is a no-op
    under lazy): the lazy paths reach the kernel's reschedule, not only the path's end."""
    model = purge_model()
    ticks, in_loop = 0, set()
    for state in first_states(model):
        for action in model.actions(state):
            if action.env != "tick":
                continue
            ticks += 1
            at = model.next_state(state, action)
            assert model.view(at).cpus[0].need_resched == 1
            for _ in range(20):       # CPU0 alone: a spin on a lock CPU1 holds never ends
                if Action(0) not in model.actions(at):
                    break
                where = model.view(at).cpus[0].at
                info = model.step_info(at, Action(0))
                at = model.next_state(at, Action(0))
                if info.events & Event.SCHEDULE:
                    in_loop.add(where)
                    break
    assert ticks
    assert "cond_resched_lock(purge_lock): cpu_relax()" in in_loop     # right after the unlock


def test_under_lockstep_the_tick_comes_only_between_ticks_of_the_clock() -> None:
    model = purge_model(timing="lockstep")
    assert isinstance(model, LockstepKernelModel)
    ticks = 0
    for state in first_states(model, 20_000):
        for action in model.actions(state):
            if action.env == "tick":
                ticks += 1
                assert not model.moved(state)
    assert ticks


def test_lazy_wakeups_count_toward_the_latency_from_the_wakeup() -> None:
    """The obligation of bounded_latency opens at the lazy wakeup, not at the tick."""
    model = purge_model(("bounded_latency",))
    state = model.init_states()[0]
    woken = model.next_state(state, Action(0, True, env="lazy"))
    assert model.view(woken).cpus[0].need_resched == 0
    assert model.obligations(woken) == 1


def test_an_rt_wakeup_over_a_pending_lazy_flag_sets_need_resched(tmp_path: Path) -> None:
    model = kernel_model(tmp_path, scenario_toml(
        "v6.13", [("spin_lock(B); work(); spin_unlock(B);", "{ lazy = 1, rt = 1 }")],
        locks="B", preempt="lazy"))
    state = model.next_state(model.init_states()[0], Action(0, True, env="lazy"))
    assert Action(0, True) in model.actions(state)
    after = model.next_state(state, Action(0, True))
    cpu = model.parts(after)[1][0]
    assert cpu[NEED] == NEED_RESCHED and model.wakeups_left(0, cpu) == (0, 0)


@pytest.mark.parametrize("args", [["check", "--engine", "z3"], ["export", "--promela"]],
                         ids=["z3", "promela"])
def test_engines_without_the_lazy_flag_refuse_it_by_name(args: list[str]) -> None:
    result = CliRunner().invoke(main, [*args, str(NESTED_LAZY)])
    assert result.exit_code == 2, result.output
    assert f'{NESTED_LAZY}:6:11: ' in result.output
    assert 'does not model preempt = "lazy"' in result.output
    assert "Traceback" not in result.output


def test_lazy_before_v6_13_is_refused_naming_v6_13(tmp_path: Path) -> None:
    path = tmp_path / "old.toml"
    path.write_text(NESTED_LAZY.read_text().replace('version = "v6.13"', 'version = "v6.11"'))
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exit_code == 2
    assert f'{path}:6:11: v6.11 has no preempt = "lazy"' in result.output
    assert "CONFIG_PREEMPT_LAZY arrived in v6.13" in result.output


@pytest.mark.parametrize(("table", "where", "message"), [
    ("{ lazi = 1 }", "13:13", "unknown wakeup kind 'lazi'"),
    ("{ lazy = -1 }", "13:20", "lazy = -1 is negative"),
    ("{ lazy = 9, rt = 9 }", "13:11", "is more than 16 in all"),
    ('"1"', "13:11", "must be an integer or a table { lazy = N, rt = M }"),
])
def test_bad_wakeup_tables_name_file_line_col(tmp_path: Path, table: str, where: str,
                                              message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(NESTED_LAZY.read_text().replace("wakeups = { lazy = 1 }",
                                                    f"wakeups = {table}"))
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exit_code == 2, result.output
    assert f"{path}:{where}: " in result.output and message in result.output


@pytest.mark.slow
def test_random_search_runs_lazy_scenarios() -> None:
    run = check_property(PURGE, "no_spurious_break", engine="hypothesis", budget="40",
                         seed=1)
    [verdict] = run.verdicts
    assert verdict.result.status is not Status.VIOLATED
    assert Action(0, True, env="tick") in run.model.candidates(run.model.init_states()[0])
    assert verdict.result.stats.states > 0


def test_a_lazy_worst_case_trace_replays(tmp_path: Path) -> None:
    """The JSON trace records which environment action each step was (``env``), so the
    lazy wakeup and the tick replay as themselves."""
    runner = CliRunner()
    traces = tmp_path / "traces"
    checked = runner.invoke(main, ["check", "-p", "bounded_latency", "--trace-dir", str(traces),
                                   str(PURGE)])
    assert checked.exit_code == 0, checked.output
    [trace] = traces.glob("*.json")
    replayed = runner.invoke(main, ["replay", str(trace)])
    assert replayed.exit_code == 0, replayed.output
    assert "env: wakes cpu0 lazily: TIF_NEED_RESCHED_LAZY = 1" in replayed.output


@pytest.mark.parametrize(("preempt", "count"), [("lazy", 0), ("full", 0), ("voluntary", 1)])
def test_rcu_readers_are_preemptible_under_lazy(tmp_path: Path, preempt: str,
                                                count: int) -> None:
    """v6.13's PREEMPT_RCU defaults to y with PREEMPTION, which PREEMPT_LAZY selects: an RCU
    reader raises no preempt_count under lazy, as under full (docs/semantics.md section 10)."""
    model = kernel_model(tmp_path, scenario_toml(
        "v6.13", ["rcu_read_lock(); work(); rcu_read_unlock();"], locks="B", preempt=preempt))
    inside = model.next_state(model.init_states()[0], Action(0))
    assert model.view(inside).cpus[0].preempt_count == count


def test_interrupts_off_hold_off_the_promoted_flag_under_lazy(tmp_path: Path) -> None:
    """After the tick, need_resched is set, but with interrupts disabled the CPU is atomic:
    no preemption until local_irq_enable()."""
    model = kernel_model(tmp_path, scenario_toml(
        "v6.13", [("local_irq_disable(); work(); work(); local_irq_enable(); work();",
                   "{ lazy = 1 }")], locks="B", preempt="lazy"))
    state = model.next_state(model.init_states()[0], Action(0))
    state = model.next_state(state, Action(0, True, env="lazy"))
    state = model.next_state(state, Action(0, True, env="tick"))
    texts = []
    while Action(0) in model.actions(state):
        texts.append(model.step_info(state, Action(0)).text)
        state = model.next_state(state, Action(0))
    assert texts[:3] == ["work()", "work()", "local_irq_enable()"]
    assert texts[3] == "preempted: schedule()"
