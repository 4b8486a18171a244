"""Kernel C in scenarios: goto and labels, return, lock expressions, the kernel's lock
spellings with interrupts and softirqs, `*` guards and pins, each through the parser, the
static checks, the compiler and the interpreter; and the engines that refuse them by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockbreak.core import ScenarioError, Status
from lockbreak.engines import vectorised_bfs
from lockbreak.report.traces import actions_of
from model.kernel import PC, REGS, Action, KernelModel
from model.lockstep import LockstepKernelModel
from model.promela import promela_model
from model.symbolic import SymbolicKernel
from model.world import build_world
from properties.catalogue import specs
from tests.support.helpers import (
    check_by_name,
    drive,
    first_states,
    kernel_model,
    load_scenario_text,
)

SAFETY = ["mutual_exclusion", "no_sleep_in_atomic", "no_stale_use"]


def toml(code: str, *others: str, version: str = "v5.17", preempt: str = "full",
         wakeups: int = 0, locks: str = 'A = "spin"', data: str = "") -> str:
    """A scenario with cpu0 running ``code`` (with ``wakeups``) and one CPU per ``others``."""
    lines = ['name = "t"', "[kernel]", f'version = "{version}"', f'preempt = "{preempt}"',
             "[locks]", locks]
    if data:
        lines += ["[data]", data]
    lines += ["[[cpu]]", f"wakeups = {wakeups}", f'code = """\n{code}\n"""']
    for other in others:
        lines += ["[[cpu]]", f'code = """\n{other}\n"""']
    return "\n".join(lines) + "\n"


def irqs_off(model: KernelModel, state: int, cpu: int = 0) -> int:
    """How many interrupt-disabled sections ``cpu`` is in."""
    return model.parts(state)[1][cpu][REGS + model.world.programs[cpu].irqs]


def load_error(tmp_path: Path, text: str) -> str:
    with pytest.raises(ScenarioError) as caught:
        load_scenario_text(tmp_path, text)
    err = caught.value
    return f"{err.line}:{err.col}: {err.message} | {err.hint}"


# ---------------------------------------------------------------- goto, labels, return


def test_goto_out_of_a_repeat_leaves_one_finished_state(tmp_path):
    model = kernel_model(tmp_path, toml("repeat (3) {\n  if (*) goto out;\n  work();\n}\n"
                                        "out:\n  work();"))
    states = first_states(model)
    finished = {s for s in states if model.done(s)}
    # left after 0, 1 or 2 rounds, or run out: the counter is cleared either way
    assert len(finished) == 1
    assert len(states) == 8


def test_backward_goto_restarts_and_return_ends(tmp_path):
    code = """again:
    spin_lock(A);
    if (*) {
        spin_unlock(A);
        goto again;
    }
    if (*) {
        spin_unlock(A);
        return;
    }
    work();
    spin_unlock(A);"""
    model = kernel_model(tmp_path, toml(code, "spin_lock(A); work(); spin_unlock(A);"))
    results = check_by_name(model, ["mutual_exclusion", "deadlock_free"])
    assert results["mutual_exclusion"].status is Status.HOLDS
    assert results["deadlock_free"].status is Status.HOLDS
    assert not model.world.scenario.cpus[0].forever


@pytest.mark.parametrize(("code", "expected"), [
    ("goto out;", "10:1: goto out: no label out in this CPU's code | put out: before the "
     "statement to jump to"),
    ("goto inner;\nif (*) {\ninner: work();\n}", "10:1: goto inner jumps into a block | "
     "the label is at line 12; jump only to a label of this or an enclosing block"),
    ("out: work();\nout: work();", "11:1: label 'out' defined twice | the first is at line 10; "
     "rename one"),
    ("spin_lock(A);\nif (*) goto out;\nspin_unlock(A);\nout: work();",
     "13:1: cpu0 may or may not hold A at label out | the goto out at 11:8 holds A, the "
     "path falling into it does not; take and release A on the same paths"),
    ("spin_lock(A);\nif (*) return;\nspin_unlock(A);",
     "11:8: cpu0 returns holding A | release A before the code ends (A taken on line 10)"),
])
def test_goto_and_return_static_errors(tmp_path, code, expected):
    assert load_error(tmp_path, toml(code)) == expected


def test_for_ever_with_a_way_out_must_finish(tmp_path):
    scenario = load_scenario_text(tmp_path, toml("for (;;) {\n  if (*) break;\n  work();\n}",
                                                 "forever { work(); }"))
    assert [cpu.forever for cpu in scenario.cpus] == [False, True]


# ---------------------------------------------------------------- lock expressions


def test_lock_expressions_name_declared_locks(tmp_path):
    locks = 'mmu_lock = { kind = "rwlock", expr = ["&kvm->mmu_lock", "&vcpu->kvm->mmu_lock"] }'
    text = toml("write_lock(&kvm->mmu_lock);\ncond_resched_rwlock_write(&vcpu->kvm->mmu_lock);"
                "\nwrite_unlock(mmu_lock);", locks=locks)
    scenario = load_scenario_text(tmp_path, text)
    assert scenario.locks == {"mmu_lock": "rwlock"}
    assert {c.args for c in scenario.cpus[0].code} == {("mmu_lock",)}


@pytest.mark.parametrize(("locks", "expected"), [
    ('L = { kind = "spin", expr = ["inode->"] }',
     '6:29: "inode->" is not a lock expression | write the lock as the C code passes it, '
     'e.g. "&inode->i_lock"'),
    ('L = { kind = "spin", expr = ["&a->l"] }\nM = { kind = "spin", expr = ["& a -> l"] }',
     "7:29: &a->l names both L and M | map each expression to one lock"),
    ('L = { kind = "semaphore" }', "6:14: unknown lock kind 'semaphore' for L | use \"spin\" "
     '(spinlock_t), "rwlock" (rwlock_t), "mutex" (struct mutex) or "rwsem" '
     '(struct rw_semaphore)'),
    ('L = { kind = "spin", exprs = [] }', "6:22: unknown lock field 'exprs' | did you mean "
     "expr?"),
])
def test_lock_table_errors(tmp_path, locks, expected):
    assert load_error(tmp_path, toml("work();", locks=locks)) == expected


# ---------------------------------------------------------------- the kernel's spellings


def test_interrupts_off_hold_back_a_preemption(tmp_path):
    code = "local_irq_disable();\npreempt_disable();\npreempt_enable();\nwork();\n" \
           "local_irq_enable();\nwork();"
    model = kernel_model(tmp_path, toml(code, wakeups=1))
    _, infos, _ = drive(model, ["0", "w0", "0", "0", "0", "0", "0"])
    texts = [i.text for i in infos]
    assert texts[3:] == ["preempt_enable()", "work()", "local_irq_enable()",
                         "preempted: schedule()"]


def test_schedule_with_interrupts_off_is_atomic(tmp_path):
    model = kernel_model(tmp_path, toml("local_irq_save(flags);\nschedule();\n"
                                        "local_irq_restore(flags);", preempt="none"))
    result = check_by_name(model, ["no_sleep_in_atomic"])["no_sleep_in_atomic"]
    assert result.status is Status.VIOLATED
    assert "interrupts disabled" in model.step_info(result.trace.steps[-2].state,
                                                    result.trace.steps[-1].action).text


def test_bh_and_irq_forms_are_their_base_operations(tmp_path):
    model = kernel_model(tmp_path, toml("spin_lock_bh(A);\nspin_unlock_bh(A);\n"
                                        "raw_spin_lock_irqsave(A, flags);\n"
                                        "raw_spin_unlock_irqrestore(A, flags);"))
    seen = set()
    for state in first_states(model):
        cpu0 = model.view(state).cpus[0]
        seen.add((cpu0.holds, cpu0.preempt_count, irqs_off(model, state)))
    assert (("A",), 2, 0) in seen                  # spin_lock_bh: softirqs count in it
    assert (("A",), 1, 1) in seen                  # raw_spin_lock_irqsave
    assert all(count <= 2 and irqs <= 1 for _, count, irqs in seen)
    results = check_by_name(model, ["mutual_exclusion", "deadlock_free"])
    assert Status.VIOLATED not in {r.status for r in results.values()}


def test_trylock_irqsave_enables_interrupts_again_when_it_fails(tmp_path):
    code = "if (spin_trylock_irqsave(A, flags)) {\n  work();\n  " \
           "spin_unlock_irqrestore(A, flags);\n}"
    model = kernel_model(tmp_path, toml(code, "spin_lock(A); work(); spin_unlock(A);"))
    irqs = {irqs_off(model, s) for s in first_states(model) if model.done(s) & 1}
    assert irqs == {0}
    assert check_by_name(model, ["deadlock_free"])["deadlock_free"].status is Status.HOLDS


def test_rwlock_trylocks(tmp_path):
    code = "if (write_trylock(R)) {\n  work();\n  write_unlock(R);\n}\n" \
           "if (read_trylock_irqsave(R, flags)) {\n  read_unlock_irqrestore(R, flags);\n}"
    other = "read_lock(R); work(); read_unlock(R);"
    model = kernel_model(tmp_path, toml(code, other, locks='R = "rwlock"'))
    results = check_by_name(model, ["mutual_exclusion", "deadlock_free"])
    assert {r.status for r in results.values()} == {Status.HOLDS}
    holds = {model.view(s).cpus[0].holds for s in first_states(model)}
    assert holds == {(), ("R",), ("R(r)",)}
    assert load_error(tmp_path, toml("if (read_trylock(R)) work();", locks='R = "rwlock"')) \
        .startswith("10:1: cpu0 may or may not hold R after this if")


def test_unpaired_irq_enable_is_an_error(tmp_path):
    model = kernel_model(tmp_path, toml("work();\nlocal_irq_enable();"))
    with pytest.raises(ScenarioError, match=r"local_irq_enable\(\) with interrupts enabled") as err:
        first_states(model)
    assert (err.value.line, err.value.col) == (11, 1)


def test_irqs_disabled_test_in_a_patched_cond_resched(tmp_path):
    """v6.14's __cond_resched() does not schedule with interrupts disabled."""
    code = "local_irq_save(flags);\ncond_resched();\nlocal_irq_restore(flags);"
    text = toml(code, version="v6.11", preempt="none", wakeups=1)
    plain = kernel_model(tmp_path, text)
    assert check_by_name(plain, ["no_sleep_in_atomic"])["no_sleep_in_atomic"].status \
        is Status.VIOLATED
    patch = '[patch]\n_cond_resched = """\n' \
            "if (preempt_count() == 0 && need_resched() && !irqs_disabled()) {\n" \
            "    schedule();\n    return 1;\n}\nreturn 0;\n\"\"\"\n"
    fixed = kernel_model(tmp_path, text + patch)
    assert check_by_name(fixed, ["no_sleep_in_atomic"])["no_sleep_in_atomic"].status \
        is not Status.VIOLATED


def test_rcu_reader_is_atomic_only_where_rcu_is_not_preemptible(tmp_path):
    code = "rcu_read_lock();\nschedule();\nrcu_read_unlock();"
    for preempt, status in (("voluntary", Status.VIOLATED), ("full", Status.HOLDS)):
        model = kernel_model(tmp_path, toml(code, preempt=preempt))
        result = check_by_name(model, ["no_sleep_in_atomic"])["no_sleep_in_atomic"]
        assert (preempt, result.status) == (preempt, status)


def test_spelling_arity_errors(tmp_path):
    assert load_error(tmp_path, toml("spin_lock_irqsave(A);\nspin_unlock(A);")) == (
        "10:1: spin_lock_irqsave takes a lock and flags, not 1 arguments | write "
        "spin_lock_irqsave(L, flags)")


# ---------------------------------------------------------------- `*` guards


def test_a_guard_step_has_both_outcomes(tmp_path):
    model = kernel_model(tmp_path, toml("if (*) work(); else cpu_relax();\nwork();"))
    init = model.init_states()[0]
    assert model.actions(init) == [Action(0), Action(0, choice=1)]
    texts = {model.step_info(init, a).text for a in model.actions(init)}
    assert texts == {"* -> 0", "* -> 1"}
    assert str(Action(0, choice=1)) == "cpu0 (* true)"
    assert len(first_states(model)) == 5


def test_guard_outcomes_name_both_successors_and_the_guard(tmp_path):
    model = kernel_model(tmp_path, toml("while (*)\n  work();", "if (*) work();"))
    init = model.init_states()[0]
    outcomes = model.guard_outcomes(init)
    assert [cpu for cpu, _, _, _ in outcomes] == [0, 1]
    for cpu, pc, false, true in outcomes:
        assert pc == model.parts(init)[1][cpu][PC]
        assert false == model.next_state(init, Action(cpu))
        assert true == model.next_state(init, Action(cpu, choice=1))
    after = model.next_state(init, Action(0, choice=1))      # cpu0 now at work()
    assert [cpu for cpu, _, _, _ in model.guard_outcomes(after)] == [1]


def test_frontier_expands_choices_as_the_plain_engine_does(tmp_path):
    model = kernel_model(tmp_path, toml(
        "spin_lock(A);\nwhile (*) {\n  work();\n  if (spin_needbreak(A)) {\n"
        "    spin_unlock(A);\n    spin_lock(A);\n  }\n}\nspin_unlock(A);",
        "spin_lock(A); work(); spin_unlock(A);"))
    assert vectorised_bfs.serves(model)
    fast = {r.property: (r.status, r.stats.states) for r in vectorised_bfs.check(
        model, properties=["mutual_exclusion", "deadlock_free"])}
    plain = {name: (r.status, r.stats.states) for name, r in check_by_name(
        model, ["mutual_exclusion", "deadlock_free"]).items()}
    assert fast == plain


def test_choices_replay_from_json():
    steps = [{"cpu": 0, "wakeup": False, "choice": 1}, {"cpu": 1, "wakeup": True}]
    assert actions_of({"steps": steps}) == [Action(0, choice=1), Action(1, True)]
    with pytest.raises(ValueError, match="choice must be 0 or 1"):
        actions_of({"steps": [{"cpu": 0, "wakeup": False, "choice": 2}]})


# ---------------------------------------------------------------- pins


WRITER = "spin_lock(A); write(X); spin_unlock(A);"


def test_a_pinned_snapshot_may_be_used_with_the_lock_dropped(tmp_path):
    code = "spin_lock(A);\nread(X);\nget(X);\nspin_unlock(A);\nuse(X);\nput(X);"
    model = kernel_model(tmp_path, toml(code, WRITER, data='X = "A"'))
    assert check_by_name(model, ["no_stale_use"])["no_stale_use"].status is not Status.VIOLATED


def test_put_makes_the_snapshot_vulnerable_again(tmp_path):
    code = "spin_lock(A);\nread(X);\nget(X);\nspin_unlock(A);\nput(X);\nspin_lock(A);\n" \
           "use(X);\nspin_unlock(A);"
    model = kernel_model(tmp_path, toml(code, WRITER, data='X = "A"'))
    assert check_by_name(model, ["no_stale_use"])["no_stale_use"].status is Status.VIOLATED


@pytest.mark.parametrize(("code", "expected"), [
    ("spin_lock(A);\nread(X);\nspin_unlock(A);\nuse(X);",
     "15:5: use(X): cpu0 does not hold A, which protects X"),
    ("spin_lock(A);\nget(X);\nspin_unlock(A);",
     "13:5: get(X) without read(X) before it on every path"),
    ("put(X);", "12:5: put(X) without get(X) before it on every path"),
])
def test_pin_static_errors(tmp_path, code, expected):
    assert load_error(tmp_path, toml(code, data='X = "A"')).split(" | ")[0] == expected


# ---------------------------------------------------------------- refusals


def test_z3_and_promela_refuse_what_they_do_not_model(tmp_path):
    model = kernel_model(tmp_path, toml("if (*)\n  work();"))
    with pytest.raises(ScenarioError, match=r"the z3 engine does not model the "
                       r"nondeterministic guard \*") as err:
        SymbolicKernel(model)
    assert (err.value.line, err.value.col) == (10, 1)
    irq = kernel_model(tmp_path, toml("spin_lock_irq(A);\nspin_unlock_irq(A);"))
    with pytest.raises(ScenarioError, match="the Promela export does not model disabling "
                       "interrupts"):
        promela_model(irq.world, specs(SAFETY))


def test_spin_lock_irqsave_nested_takes_flags_and_a_subclass(tmp_path: Path) -> None:
    """As the kernel spells it: the lock, the flags, the lockdep subclass."""
    text = ('name = "n"\n[kernel]\nversion = "v5.17"\n[locks]\nL = "spin"\n[[cpu]]\n'
            'code = "spin_lock_irqsave_nested(L, flags, 1); work(); '
            'spin_unlock_irqrestore(L, flags);"\n')
    load_scenario_text(tmp_path, text)
    with pytest.raises(ScenarioError, match="takes a lock and flags and subclass, not 2"):
        load_scenario_text(tmp_path, text.replace("(L, flags, 1)", "(L, flags)"))


def test_a_star_guard_is_a_step_of_its_cpu_under_lockstep_timing(tmp_path: Path) -> None:
    """The guard's true outcome is one more action of the CPU under lockstep timing too: it
    takes the CPU's turn in the tick, and both outcomes are explored."""
    text = ('name = "s"\n[kernel]\nversion = "v5.17"\ntiming = "lockstep"\n[locks]\n'
            'L = "spin"\n[[cpu]]\ncode = "spin_lock(L); while (*) work(); spin_unlock(L);"\n')
    model = LockstepKernelModel(build_world(load_scenario_text(tmp_path, text)),
                                specs(["bounded_wait"]))
    assert Action(0, choice=1) in {a for s in first_states(model, 50) for a in model.actions(s)}
    wait = check_by_name(model, ["bounded_wait"])["bounded_wait"]
    assert wait.status is Status.VACUOUS
