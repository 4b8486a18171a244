"""Each era's primitives, step by step, against docs/semantics.md sections 3 to 5.

Every test drives one chosen path through a small scenario (the script names who moves:
``"0"`` is a step of cpu0, ``"w0"`` the environment waking cpu0) and pins the exact step texts
and the view fields that the era's description in section 5 is about.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lockbreak.core import Status
from model.eras import ERAS, get_era
from model.events import Event
from model.kernel import KernelModel
from tests.support.helpers import check_by_name, drive, kernel_model, parse_action, scenario_toml

HOLDER = "spin_lock(B); work(); cond_resched_lock(B); spin_unlock(B);"
WAITER = "spin_lock(B); work(); spin_unlock(B);"
NESTED_WAITER = "spin_lock(A); spin_lock(B); work(); spin_unlock(B); spin_unlock(A);"
SOLO_BREAK = "spin_lock(B); cond_resched_lock(B); spin_unlock(B);"
NESTED_BREAK = "spin_lock(A); spin_lock(B); cond_resched_lock(B); spin_unlock(B); spin_unlock(A);"


def texts(model: KernelModel, script: str, state: int | None = None) -> list[str]:
    return [info.text for info in drive(model, script.split(), state)[1]]


def counts(model: KernelModel, script: str, cpu: int) -> list[int]:
    """``cpu``'s preempt_count after each step of ``script``."""
    return [model.view(s).cpus[cpu].preempt_count for s in drive(model, script.split())[2][1:]]


def end(model: KernelModel, script: str) -> int:
    return drive(model, script.split())[0]


# ------------------------------------------------------------------ v2.6.8


def test_v2_6_8_nested_spin_lock_spins_with_preemption_off(tmp_path: Path) -> None:
    """preempt_count > 1 after the failed trylock: _raw_spin_lock, no preempt_enable between
    attempts, and a wakeup does not preempt the spinner."""
    model = kernel_model(tmp_path, scenario_toml("v2.6.8", [(NESTED_WAITER, 1), WAITER],
                                                 locks="AB"))
    script = "1 1 0 0 0 0 0 0 0 w0 0 0 1 1 0 0"
    assert texts(model, script) == [
        "spin_lock(B): preempt_disable()",
        "spin_lock(B): arch_spin_trylock(B) -> acquired",
        "spin_lock(A): preempt_disable()",
        "spin_lock(A): arch_spin_trylock(A) -> acquired",
        "spin_lock(B): preempt_disable()",
        "spin_lock(B): arch_spin_trylock(B) -> fails: held by cpu1",
        "spin_lock(B) > arch_spin_lock(B): arch_spin_trylock(B) -> fails: held by cpu1",
        "spin_lock(B) > arch_spin_lock(B): arch_spin_is_locked(B) -> locked by cpu1",
        "spin_lock(B) > arch_spin_lock(B): cpu_relax()",
        "wakeup: need_resched = 1",
        "spin_lock(B) > arch_spin_lock(B): arch_spin_is_locked(B) -> locked by cpu1",
        "spin_lock(B) > arch_spin_lock(B): cpu_relax()",
        "work()",
        "spin_unlock(B): arch_spin_unlock(B) -> released",
        "spin_lock(B) > arch_spin_lock(B): arch_spin_is_locked(B) -> unlocked",
        "spin_lock(B) > arch_spin_lock(B): arch_spin_trylock(B) -> acquired",
    ]
    assert counts(model, script, cpu=0)[4:] == [2] * 12
    last = model.view(end(model, script)).cpus[0]
    assert (last.holds, last.need_resched) == (("A", "B"), 1)   # woken, never preempted


def test_v2_6_8_outermost_spin_lock_spins_preemptibly(tmp_path: Path) -> None:
    """preempt_count == 1: preempt_enable before spinning, so the spinner is preempted."""
    model = kernel_model(tmp_path, scenario_toml("v2.6.8", [(WAITER, 1), WAITER], locks="B"))
    script = "1 1 0 0 0 0 0 w0 0 0 1 1 0 0 0 0"
    assert texts(model, script) == [
        "spin_lock(B): preempt_disable()",
        "spin_lock(B): arch_spin_trylock(B) -> acquired",
        "spin_lock(B): preempt_disable()",
        "spin_lock(B): arch_spin_trylock(B) -> fails: held by cpu1",
        "spin_lock(B): preempt_enable()",
        "spin_lock(B): arch_spin_is_locked(B) -> locked by cpu1",
        "spin_lock(B): cpu_relax()",
        "wakeup: need_resched = 1",
        "preempted: schedule()",
        "spin_lock(B): arch_spin_is_locked(B) -> locked by cpu1",
        "work()",
        "spin_unlock(B): arch_spin_unlock(B) -> released",
        "spin_lock(B): cpu_relax()",
        "spin_lock(B): arch_spin_is_locked(B) -> unlocked",
        "spin_lock(B): preempt_disable()",
        "spin_lock(B): arch_spin_trylock(B) -> acquired",
    ]
    assert counts(model, script, cpu=0)[4:14] == [0] * 10   # preemptible while it spins


def test_v2_6_8_cond_resched_lock_breaks_only_for_its_own_need_resched(tmp_path: Path) -> None:
    """void cond_resched_lock: with a waiter and no need_resched it is one need_resched() test;
    with need_resched it raw-unlocks, schedules and retakes the lock, returning nothing."""
    waited = kernel_model(tmp_path, scenario_toml("v2.6.8", [HOLDER, WAITER], locks="B"))
    script = "0 0 1 1 1 1 1 0 0"
    assert texts(waited, script)[-2:] == [
        "work()", "cond_resched_lock(B): need_resched() -> 0"]
    after = waited.view(end(waited, script))
    assert after.cpus[0].holds == ("B",) and after.cpus[1].waits_for == ("B",)

    woken = kernel_model(tmp_path, scenario_toml("v2.6.8", [(SOLO_BREAK, 1)], locks="B"))
    assert texts(woken, "0 0 w0 0 0 0 0 0 0 0 0") == [
        "spin_lock(B): preempt_disable()",
        "spin_lock(B): arch_spin_trylock(B) -> acquired",
        "wakeup: need_resched = 1",
        "cond_resched_lock(B): need_resched() -> 1",
        "cond_resched_lock(B): arch_spin_unlock(B) -> released",
        "cond_resched_lock(B): preempt_enable_no_resched()",
        "cond_resched_lock(B): schedule()",
        "cond_resched_lock(B) > spin_lock(B): preempt_disable()",
        "cond_resched_lock(B) > spin_lock(B): arch_spin_trylock(B) -> acquired",
        "spin_unlock(B): arch_spin_unlock(B) -> released",
        "spin_unlock(B): preempt_enable()",
    ]
    assert not get_era("v2.6.8").returns_value("cond_resched_lock")


def test_v2_6_8_without_full_preemption_spin_lock_is_the_raw_lock(tmp_path: Path) -> None:
    """Section 5: before v2.6.25 the polite spin exists only with preempt = "full" and smp."""
    model = kernel_model(tmp_path, scenario_toml("v2.6.8", [WAITER, WAITER], locks="B",
                                                 preempt="voluntary"))
    script = "0 0 1 1 1 1 1"
    assert texts(model, script) == [
        "spin_lock(B): preempt_disable()",
        "spin_lock(B) > arch_spin_lock(B): arch_spin_trylock(B) -> acquired",
        "spin_lock(B): preempt_disable()",
        "spin_lock(B) > arch_spin_lock(B): arch_spin_trylock(B) -> fails: held by cpu0",
        "spin_lock(B) > arch_spin_lock(B): arch_spin_is_locked(B) -> locked by cpu0",
        "spin_lock(B) > arch_spin_lock(B): cpu_relax()",
        "spin_lock(B) > arch_spin_lock(B): arch_spin_is_locked(B) -> locked by cpu0",
    ]
    assert counts(model, script, cpu=1)[2:] == [1] * 5


# ------------------------------------------------------------------ v2.6.8-mm


def test_v2_6_8_mm_drops_every_drop_every_calls_with_no_waiter(tmp_path: Path) -> None:
    """drop_every = 2: calls 2 and 4 unlock, cpu_relax and relock; calls 1 and 3 only test
    need_resched. Nobody else exists, so those drops are spurious."""
    model = kernel_model(tmp_path, scenario_toml(
        "v2.6.8-mm", ["spin_lock(B); repeat (4) { cond_resched_lock(B); } spin_unlock(B);"],
        locks="B", drop_every=2))
    drop = [
        "cond_resched_lock(B) > spin_unlock(B): arch_spin_unlock(B) -> released",
        "cond_resched_lock(B) > spin_unlock(B): preempt_enable()",
        "cond_resched_lock(B): cpu_relax()",
        "cond_resched_lock(B) > spin_lock(B): preempt_disable()",
        "cond_resched_lock(B) > spin_lock(B): arch_spin_trylock(B) -> acquired",
    ]
    test = "cond_resched_lock(B): need_resched() -> 0"
    assert texts(model, " ".join(["0"] * 18)) == [
        "spin_lock(B): preempt_disable()",
        "spin_lock(B): arch_spin_trylock(B) -> acquired",
        test, *drop, test, test, *drop, test,
        "spin_unlock(B): arch_spin_unlock(B) -> released",
        "spin_unlock(B): preempt_enable()",
    ]
    result = check_by_name(model, ["no_spurious_break"])["no_spurious_break"]
    assert result.status is Status.VIOLATED
    assert result.trace is not None and len(result.trace) == 8   # judged at call 2's relock


# ------------------------------------------------------------------ v2.6.9


V2_6_9_SCRIPT = "0 0 1 1 1 1 1 1 1 1 1 1 0 0 0 0 0 0 1 1 1 1 1 1 0 0 0 0 0 0 1 1 1 0 0 0"


def test_v2_6_9_nested_waiter_sets_break_lock_and_no_acquire_clears_it(tmp_path: Path) -> None:
    """A waiter holding A (depth 2) still sets the flag; the flag survives every acquire,
    and the flag-driven drop clears it, drops, and returns 0 although it dropped B."""
    model = kernel_model(tmp_path, scenario_toml("v2.6.9", [HOLDER, NESTED_WAITER], locks="AB"))
    assert texts(model, V2_6_9_SCRIPT) == [
        "spin_lock(B): preempt_disable()",
        "spin_lock(B): arch_spin_trylock(B) -> acquired",
        "spin_lock(A): preempt_disable()",
        "spin_lock(A): arch_spin_trylock(A) -> acquired",
        "spin_lock(B): preempt_disable()",
        "spin_lock(B): arch_spin_trylock(B) -> fails: held by cpu0",
        "spin_lock(B): preempt_enable()",
        "spin_lock(B): B->break_lock -> 0",
        "spin_lock(B): B->break_lock = 1",
        "spin_lock(B): cpu_relax()",
        "spin_lock(B): preempt_disable()",
        "spin_lock(B): arch_spin_trylock(B) -> fails: held by cpu0",
        "work()",
        "cond_resched_lock(B) > need_lockbreak(B): B->break_lock -> 1",
        "cond_resched_lock(B): B->break_lock = 0",
        "cond_resched_lock(B) > spin_unlock(B): arch_spin_unlock(B) -> released",
        "cond_resched_lock(B) > spin_unlock(B): preempt_enable()",
        "cond_resched_lock(B): cpu_relax()",
        "spin_lock(B): preempt_enable()",
        "spin_lock(B): B->break_lock -> 0",
        "spin_lock(B): B->break_lock = 1",
        "spin_lock(B): cpu_relax()",
        "spin_lock(B): preempt_disable()",
        "spin_lock(B): arch_spin_trylock(B) -> acquired",
        "cond_resched_lock(B) > spin_lock(B): preempt_disable()",
        "cond_resched_lock(B) > spin_lock(B): arch_spin_trylock(B) -> fails: held by cpu1",
        "cond_resched_lock(B) > spin_lock(B): preempt_enable()",
        "cond_resched_lock(B) > spin_lock(B): B->break_lock -> 1",
        "cond_resched_lock(B) > spin_lock(B): cpu_relax()",
        "cond_resched_lock(B) > spin_lock(B): preempt_disable()",
        "work()",
        "spin_unlock(B): arch_spin_unlock(B) -> released",
        "spin_unlock(B): preempt_enable()",
        "cond_resched_lock(B) > spin_lock(B): arch_spin_trylock(B) -> acquired",
        "cond_resched_lock(B): need_resched() -> 0; "
        "cond_resched_lock(B) returns 0 after dropping B",
        "spin_unlock(B): arch_spin_unlock(B) -> released",
    ]
    states = drive(model, V2_6_9_SCRIPT.split())[2]
    flag = [model.view(s).locks[1].break_lock for s in states[1:]]
    # set by the nested waiter, cleared only by the break, set again, never cleared on acquire
    assert flag[8:14] == [1] * 6 and flag[14:20] == [0] * 6 and flag[20:] == [1] * 16
    assert model.view(states[24]).cpus[1].holds == ("A", "B")


# ------------------------------------------------------------------ v2.6.11


def test_v2_6_11_waiter_leaves_its_spin_when_the_flag_is_cleared(tmp_path: Path) -> None:
    """The waiter spins while (is_locked && break_lock): when the holder's break clears the
    flag it leaves the spin and retries the trylock though B is still held."""
    model = kernel_model(tmp_path, scenario_toml("v2.6.11", [HOLDER, WAITER], locks="B"))
    assert texts(model, "0 0 1 1 1 1 1 1 1 1 0 0 0 1 1 1 1") == [
        "spin_lock(B): preempt_disable()",
        "spin_lock(B): arch_spin_trylock(B) -> acquired",
        "spin_lock(B): preempt_disable()",
        "spin_lock(B): arch_spin_trylock(B) -> fails: held by cpu0",
        "spin_lock(B): preempt_enable()",
        "spin_lock(B): B->break_lock -> 0",
        "spin_lock(B): B->break_lock = 1",
        "spin_lock(B): arch_spin_is_locked(B) -> locked by cpu0",
        "spin_lock(B): B->break_lock -> 1",
        "spin_lock(B): cpu_relax()",
        "work()",
        "cond_resched_lock(B) > need_lockbreak(B): B->break_lock -> 1",
        "cond_resched_lock(B): B->break_lock = 0",
        "spin_lock(B): arch_spin_is_locked(B) -> locked by cpu0",
        "spin_lock(B): B->break_lock -> 0",
        "spin_lock(B): preempt_disable()",
        "spin_lock(B): arch_spin_trylock(B) -> fails: held by cpu0",
    ]


# ------------------------------------------------------------------ v2.6.12


def test_v2_6_12_acquire_clears_the_flag_and_a_flag_driven_drop_returns_1(
        tmp_path: Path) -> None:
    """Every successful acquire ends with break_lock = 0; cond_resched_lock no longer clears
    the flag itself, and returns 1 after dropping for it (here CPU0 wins the relock)."""
    model = kernel_model(tmp_path, scenario_toml("v2.6.12", [HOLDER, WAITER], locks="B"))
    script = "0 0 0 1 1 1 1 1 1 1 0 0 0 0 0 0 0 0 0 1 1"
    assert texts(model, script) == [
        "spin_lock(B): preempt_disable()",
        "spin_lock(B): arch_spin_trylock(B) -> acquired",
        "spin_lock(B): B->break_lock = 0",
        "spin_lock(B): preempt_disable()",
        "spin_lock(B): arch_spin_trylock(B) -> fails: held by cpu0",
        "spin_lock(B): preempt_enable()",
        "spin_lock(B): B->break_lock -> 0",
        "spin_lock(B): B->break_lock = 1",
        "spin_lock(B): arch_spin_is_locked(B) -> locked by cpu0",
        "spin_lock(B): B->break_lock -> 1",
        "work()",
        "cond_resched_lock(B) > need_lockbreak(B): B->break_lock -> 1",
        "cond_resched_lock(B) > spin_unlock(B): arch_spin_unlock(B) -> released",
        "cond_resched_lock(B) > spin_unlock(B): preempt_enable()",
        "cond_resched_lock(B): cpu_relax()",
        "cond_resched_lock(B) > spin_lock(B): preempt_disable()",
        "cond_resched_lock(B) > spin_lock(B): arch_spin_trylock(B) -> acquired",
        "cond_resched_lock(B) > spin_lock(B): B->break_lock = 0",
        "cond_resched_lock(B): need_resched() -> 0; "
        "cond_resched_lock(B) returns 1 after dropping B",
        "spin_lock(B): cpu_relax()",
        "spin_lock(B): arch_spin_is_locked(B) -> locked by cpu0",
    ]
    after = model.view(end(model, script))
    assert after.locks[0].break_lock == 0 and after.cpus[1].waits_for == ("B",)


def test_v2_6_12_resched_legal_skips_the_nested_reschedule(tmp_path: Path) -> None:
    """need_resched with preempt_count 2: __resched_legal() is false, so the call neither
    drops nor schedules, and says so."""
    model = kernel_model(tmp_path, scenario_toml("v2.6.12", [(NESTED_BREAK, 1)], locks="AB"))
    script = "0 0 0 0 0 0 w0 0 0 0 0 0 0"
    assert texts(model, script)[6:] == [
        "wakeup: need_resched = 1",
        "cond_resched_lock(B) > need_lockbreak(B): B->break_lock -> 0",
        "cond_resched_lock(B): need_resched() -> 1; "
        "cond_resched_lock(B) returns 0 without dropping B",
        "spin_unlock(B): arch_spin_unlock(B) -> released",
        "spin_unlock(B): preempt_enable()",
        "spin_unlock(A): arch_spin_unlock(A) -> released",
        "spin_unlock(A): preempt_enable()",
    ]
    assert check_by_name(model, ["no_sleep_in_atomic"])["no_sleep_in_atomic"].status is (
        Status.HOLDS)   # on every path; it schedules only where preempt_count is 0
    assert "__resched_legal" in get_era("v2.6.12").primitives


def test_v2_6_12_without_full_preemption_need_lockbreak_is_0(tmp_path: Path) -> None:
    """Under voluntary the lock is raw: the waiter spins without touching the flag, and the
    holder's cond_resched_lock is a single need_resched() test that keeps B."""
    model = kernel_model(tmp_path, scenario_toml("v2.6.12", [HOLDER, WAITER], locks="B",
                                                 preempt="voluntary"))
    script = "0 0 1 1 1 0 0"
    assert texts(model, script) == [
        "spin_lock(B): preempt_disable()",
        "spin_lock(B) > arch_spin_lock(B): arch_spin_trylock(B) -> acquired",
        "spin_lock(B): preempt_disable()",
        "spin_lock(B) > arch_spin_lock(B): arch_spin_trylock(B) -> fails: held by cpu0",
        "spin_lock(B) > arch_spin_lock(B): arch_spin_is_locked(B) -> locked by cpu0",
        "work()",
        "cond_resched_lock(B): need_resched() -> 0; "
        "cond_resched_lock(B) returns 0 without dropping B",
    ]
    assert model.view(end(model, script)).locks[0].break_lock == 0


# ------------------------------------------------------------------ v2.6.20


def test_v2_6_20_has_no_resched_legal_so_a_nested_caller_schedules_while_atomic(
        tmp_path: Path) -> None:
    model = kernel_model(tmp_path, scenario_toml("v2.6.20", [(NESTED_BREAK, 1)], locks="AB"))
    script = "0 0 0 0 0 0 w0 0 0 0 0 0 0 0 0"
    infos = drive(model, script.split())[1]
    assert [i.text for i in infos][6:] == [
        "wakeup: need_resched = 1",
        "cond_resched_lock(B) > need_lockbreak(B): B->break_lock -> 0",
        "cond_resched_lock(B): need_resched() -> 1",
        "cond_resched_lock(B): arch_spin_unlock(B) -> released",
        "cond_resched_lock(B): preempt_enable_no_resched()",
        "cond_resched_lock(B): schedule() -> scheduling while atomic: preempt_count=1",
        "cond_resched_lock(B) > spin_lock(B): preempt_disable()",
        "cond_resched_lock(B) > spin_lock(B): arch_spin_trylock(B) -> acquired",
        "cond_resched_lock(B) > spin_lock(B): B->break_lock = 0; "
        "cond_resched_lock(B) returns 1 after dropping B",
    ]
    assert infos[11].events & Event.SCHEDULE_IN_ATOMIC
    assert "__resched_legal" not in get_era("v2.6.20").primitives


# ------------------------------------------------------------------ v2.6.25

NEEDBREAK_TWICE = ("spin_lock(B); work(); if (spin_needbreak(B)) { cpu_relax(); } work(); "
                   "if (spin_needbreak(B)) { cpu_relax(); } spin_unlock(B);")


def test_v2_6_25_ticket_spin_needbreak_is_tail_minus_head_above_1(tmp_path: Path) -> None:
    """Alone, tail - head = 1 and spin_needbreak is 0 (no cpu_relax); with CPU1's ticket
    taken it is 2, and spin_needbreak is 1. The waiter spins with preemption off."""
    model = kernel_model(tmp_path, scenario_toml("v2.6.25", [NEEDBREAK_TWICE, WAITER],
                                                 locks="B"))
    script = "0 0 0 0 1 1 0 0 0 0 1"
    assert texts(model, script) == [
        "spin_lock(B): preempt_disable()",
        "spin_lock(B) > arch_spin_lock(B): __ticket_take(B) -> ticket 0: acquired",
        "work()",
        "spin_needbreak(B) > spin_is_contended(B): arch_spin_is_contended(B) -> "
        "tail - head = 1",
        "spin_lock(B): preempt_disable()",
        "spin_lock(B) > arch_spin_lock(B): __ticket_take(B) -> ticket 1, now serving 0: waits",
        "work()",
        "spin_needbreak(B) > spin_is_contended(B): arch_spin_is_contended(B) -> "
        "tail - head = 2",
        "cpu_relax()",
        "spin_unlock(B): arch_spin_unlock(B) -> now serving 1",
        "spin_lock(B) > arch_spin_lock(B): __ticket_mine(B) -> now serving 1: acquired",
    ]
    assert counts(model, script, cpu=1)[4:9] == [1] * 5


def test_v2_6_25_cond_resched_lock_queues_behind_the_waiter(tmp_path: Path) -> None:
    """FIFO: after breaking for a ticket holder, the relock takes the next ticket and gets B
    only after the waiter has had it; the call returns 1."""
    model = kernel_model(tmp_path, scenario_toml("v2.6.25", [HOLDER, WAITER], locks="B"))
    assert texts(model, "0 0 1 1 0 0 0 0 0 0 0 0 1 1 1 0") == [
        "spin_lock(B): preempt_disable()",
        "spin_lock(B) > arch_spin_lock(B): __ticket_take(B) -> ticket 0: acquired",
        "spin_lock(B): preempt_disable()",
        "spin_lock(B) > arch_spin_lock(B): __ticket_take(B) -> ticket 1, now serving 0: waits",
        "work()",
        "cond_resched_lock(B) > spin_needbreak(B) > spin_is_contended(B): "
        "arch_spin_is_contended(B) -> tail - head = 2",
        "cond_resched_lock(B) > spin_unlock(B): arch_spin_unlock(B) -> now serving 1",
        "cond_resched_lock(B) > spin_unlock(B): preempt_enable()",
        "cond_resched_lock(B): need_resched() -> 0",
        "cond_resched_lock(B): cpu_relax()",
        "cond_resched_lock(B) > spin_lock(B): preempt_disable()",
        "cond_resched_lock(B) > spin_lock(B) > arch_spin_lock(B): __ticket_take(B) -> "
        "ticket 2, now serving 1: waits",
        "spin_lock(B) > arch_spin_lock(B): __ticket_mine(B) -> now serving 1: acquired",
        "work()",
        "spin_unlock(B): arch_spin_unlock(B) -> now serving 2",
        "cond_resched_lock(B) > spin_lock(B) > arch_spin_lock(B): __ticket_mine(B) -> "
        "now serving 2: acquired; cond_resched_lock(B) returns 1 after dropping B",
    ]


# ------------------------------------------------------------------ v4.15-rc


def test_v4_15_rc_waiter_spins_on_break_lock_only(tmp_path: Path) -> None:
    """The waiter's spin reads break_lock and nothing else: after the holder unlocks (which
    does not clear the flag) it spins on, never looking at the free lock word, forever."""
    model = kernel_model(tmp_path, scenario_toml("v4.15-rc", [WAITER, WAITER], locks="B"))
    script = "0 0 0 1 1 1 1 1 1 1 0 0 0 1 1 1 1"
    assert texts(model, script) == [
        "spin_lock(B): preempt_disable()",
        "spin_lock(B): arch_spin_trylock(B) -> acquired",
        "spin_lock(B): B->break_lock = 0",
        "spin_lock(B): preempt_disable()",
        "spin_lock(B): arch_spin_trylock(B) -> fails: held by cpu0",
        "spin_lock(B): preempt_enable()",
        "spin_lock(B): B->break_lock -> 0",
        "spin_lock(B): B->break_lock = 1",
        "spin_lock(B): B->break_lock -> 1",
        "spin_lock(B): cpu_relax()",
        "work()",
        "spin_unlock(B): arch_spin_unlock(B) -> released",
        "spin_unlock(B): preempt_enable()",
        "spin_lock(B): B->break_lock -> 1",
        "spin_lock(B): cpu_relax()",
        "spin_lock(B): B->break_lock -> 1",
        "spin_lock(B): cpu_relax()",
    ]
    after = end(model, script)
    assert model.view(after).locks[0].word == "free"
    states = drive(model, script.split())[2]
    assert states[-1] == states[-3]   # the spin is a cycle: nothing changes while it spins
    assert check_by_name(model, ["deadlock_free"])["deadlock_free"].status is Status.VIOLATED
    sound = kernel_model(tmp_path, scenario_toml("v2.6.25", [WAITER, WAITER], locks="B",
                                                 lock="tas", generic_lockbreak=True))
    assert check_by_name(sound, ["deadlock_free"])["deadlock_free"].status is Status.HOLDS


# ------------------------------------------------------------------ v4.15


def test_v4_15_tas_reports_contended_0(tmp_path: Path) -> None:
    """break_lock is gone: a TAS lock (even with generic_lockbreak) cannot tell a waiter, so
    spin_needbreak is 0 and cond_resched_lock keeps B while CPU1 waits. A qspinlock can."""
    code = "spin_lock(B); work(); if (spin_needbreak(B)) { cpu_relax(); } " \
           "cond_resched_lock(B); spin_unlock(B);"
    tas = kernel_model(tmp_path, scenario_toml("v4.15", [code, WAITER], locks="B", lock="tas",
                                               generic_lockbreak=True))
    assert texts(tas, "0 0 1 1 1 1 0 0 0 0") == [
        "spin_lock(B): preempt_disable()",
        "spin_lock(B) > arch_spin_lock(B): arch_spin_trylock(B) -> acquired",
        "spin_lock(B): preempt_disable()",
        "spin_lock(B) > arch_spin_lock(B): arch_spin_trylock(B) -> fails: held by cpu0",
        "spin_lock(B) > arch_spin_lock(B): arch_spin_is_locked(B) -> locked by cpu0",
        "spin_lock(B) > arch_spin_lock(B): cpu_relax()",
        "work()",
        "spin_needbreak(B) > spin_is_contended(B): arch_spin_is_contended(B) -> "
        "0 (a test-and-set word cannot tell)",
        "cond_resched_lock(B): need_resched() -> 0",
        "cond_resched_lock(B) > spin_needbreak(B) > spin_is_contended(B): "
        "arch_spin_is_contended(B) -> 0 (a test-and-set word cannot tell); "
        "cond_resched_lock(B) returns 0 without dropping B",
    ]
    queued = kernel_model(tmp_path, scenario_toml("v4.15", [code, WAITER], locks="B"))
    assert texts(queued, "0 0 1 1 0 0 0")[3:] == [
        "spin_lock(B) > arch_spin_lock(B): __qspin_enter(B) -> sets pending, spins on locked",
        "work()",
        "spin_needbreak(B) > spin_is_contended(B): arch_spin_is_contended(B) -> "
        "waiters queued",
        "cpu_relax()",
    ]


def test_v4_15_cond_resched_lock_schedules_after_the_unlock(tmp_path: Path) -> None:
    """resched (preempt_count == 1 && need_resched) is computed first; after spin_unlock the
    call itself runs schedule(), then relocks."""
    model = kernel_model(tmp_path, scenario_toml("v4.15", [(SOLO_BREAK, 1)], locks="B"))
    assert texts(model, "0 0 w0 0 0 0 0 0 0 0")[3:] == [
        "cond_resched_lock(B): need_resched() -> 1",
        "cond_resched_lock(B) > spin_needbreak(B) > spin_is_contended(B): "
        "arch_spin_is_contended(B) -> no waiters",
        "cond_resched_lock(B) > spin_unlock(B): arch_spin_unlock(B) -> released",
        "cond_resched_lock(B) > spin_unlock(B): preempt_enable()",
        "cond_resched_lock(B): schedule()",
        "cond_resched_lock(B) > spin_lock(B): preempt_disable()",
        "cond_resched_lock(B) > spin_lock(B) > arch_spin_lock(B): __qspin_enter(B) -> "
        "fast path: acquired; cond_resched_lock(B) returns 1 after dropping B",
    ]


# ------------------------------------------------------------------ v5.17


def test_v5_17_cond_resched_is_a_noop_under_full_the_unlock_is_the_preemption_point(
        tmp_path: Path) -> None:
    """Under full, the preempt_enable() in spin_unlock schedules; _cond_resched() is a no-op
    returning 0, so the call goes on to cpu_relax(). Booted none, the unlock is no preemption
    point and _cond_resched() schedules instead (and no cpu_relax)."""
    full = kernel_model(tmp_path, scenario_toml("v5.17", [(SOLO_BREAK, 1)], locks="B"))
    assert texts(full, "0 0 w0 0 0 0 0 0 0 0 0")[5:] == [
        "cond_resched_lock(B) > spin_unlock(B): arch_spin_unlock(B) -> released",
        "cond_resched_lock(B) > spin_unlock(B): preempt_enable()",
        "preempted: schedule()",
        "cond_resched_lock(B): cpu_relax()",
        "cond_resched_lock(B) > spin_lock(B): preempt_disable()",
        "cond_resched_lock(B) > spin_lock(B) > arch_spin_lock(B): __qspin_enter(B) -> "
        "fast path: acquired; cond_resched_lock(B) returns 1 after dropping B",
    ]
    none = kernel_model(tmp_path, scenario_toml("v5.17", [(SOLO_BREAK, 1)], locks="B",
                                                preempt="none"))
    assert texts(none, "0 0 w0 0 0 0 0 0 0 0")[4:] == [
        "cond_resched_lock(B) > spin_unlock(B): arch_spin_unlock(B) -> released",
        "cond_resched_lock(B) > spin_unlock(B): preempt_enable()",
        "cond_resched_lock(B) > _cond_resched(): need_resched() -> 1",
        "cond_resched_lock(B) > _cond_resched(): schedule()",
        "cond_resched_lock(B) > spin_lock(B): preempt_disable()",
        "cond_resched_lock(B) > spin_lock(B) > arch_spin_lock(B): __qspin_enter(B) -> "
        "fast path: acquired; cond_resched_lock(B) returns 1 after dropping B",
    ]


PREEMPT_NONE_DYNAMIC_SCRIPT = "0 0 1 1 1 0 0"


def test_v5_17_preempt_dynamic_booted_none_still_yields_to_contention(tmp_path: Path) -> None:
    model = kernel_model(tmp_path, scenario_toml("v5.17", [HOLDER, WAITER], locks="B",
                                                 preempt="none", preempt_dynamic=True))
    assert texts(model, PREEMPT_NONE_DYNAMIC_SCRIPT + " 0 0")[5:] == [
        "work()",
        "cond_resched_lock(B): need_resched() -> 0",
        "cond_resched_lock(B) > spin_needbreak(B) > spin_is_contended(B): "
        "arch_spin_is_contended(B) -> waiters queued",
        "cond_resched_lock(B) > spin_unlock(B): arch_spin_unlock(B) -> released",
    ]


# ------------------------------------------------------------------ v6.11


def test_v6_11_spin_needbreak_is_0_under_none_even_with_preempt_dynamic(tmp_path: Path) -> None:
    """The booted model decides: no lock word is even read, and CPU0 keeps B although CPU1
    queued for it."""
    model = kernel_model(tmp_path, scenario_toml("v6.11", [HOLDER, WAITER], locks="B",
                                                 preempt="none", preempt_dynamic=True))
    script = PREEMPT_NONE_DYNAMIC_SCRIPT + " 0"
    assert texts(model, script)[5:] == [
        "work()",
        "cond_resched_lock(B): need_resched() -> 0; "
        "cond_resched_lock(B) returns 0 without dropping B",
        "spin_unlock(B): arch_spin_unlock(B) -> released",
    ]
    assert check_by_name(model, ["no_spurious_break"])["no_spurious_break"].status is (
        Status.VACUOUS)   # it never breaks at all
    full = kernel_model(tmp_path, scenario_toml("v6.11", [HOLDER, WAITER], locks="B"))
    assert texts(full, script)[7] == (
        "cond_resched_lock(B) > spin_needbreak(B) > spin_is_contended(B): "
        "arch_spin_is_contended(B) -> waiters queued")


# ------------------------------------------------------------------ v6.13, preempt = "lazy"


def test_v6_13_lazy_wakeup_is_not_seen_by_cond_resched_lock_until_the_tick(
        tmp_path: Path) -> None:
    """A fair wakeup sets TIF_NEED_RESCHED_LAZY: need_resched() (and so should_resched() in
    __cond_resched_lock) reads 0 and B is kept; after sched_tick() promotes the flag the same
    call sees need_resched and breaks to schedule."""
    model = kernel_model(tmp_path, scenario_toml("v6.13", [(SOLO_BREAK, "{ lazy = 1 }")],
                                                 locks="B", preempt="lazy"))
    assert texts(model, "0 0 l0 0 0")[2:] == [
        "lazy wakeup: TIF_NEED_RESCHED_LAZY = 1",
        "cond_resched_lock(B): need_resched() -> 0",
        "cond_resched_lock(B) > spin_needbreak(B) > spin_is_contended(B): "
        "arch_spin_is_contended(B) -> no waiters; "
        "cond_resched_lock(B) returns 0 without dropping B",
    ]
    lazy = model.view(end(model, "0 0 l0")).cpus[0]
    assert (lazy.need_resched, lazy.need_resched_lazy) == (0, 1)
    script = "0 0 l0 t0 0"
    assert texts(model, script)[3:] == [
        "sched_tick(): TIF_NEED_RESCHED_LAZY promoted, need_resched = 1",
        "cond_resched_lock(B): need_resched() -> 1",
    ]
    promoted = model.view(end(model, script)).cpus[0]
    assert (promoted.need_resched, promoted.need_resched_lazy) == (1, 0)


def test_v6_13_rt_wakeup_sets_need_resched_at_once(tmp_path: Path) -> None:
    """resched_curr() for an rt task: need_resched() sees it without a tick, as under full."""
    model = kernel_model(tmp_path, scenario_toml("v6.13", [(SOLO_BREAK, "{ rt = 1 }")],
                                                 locks="B", preempt="lazy"))
    assert texts(model, "0 0 w0 0")[2:] == [
        "wakeup: need_resched = 1", "cond_resched_lock(B): need_resched() -> 1"]


def test_v6_13_lazy_flag_does_not_preempt_at_preempt_enable(tmp_path: Path) -> None:
    """The unlock's preempt_enable() reaching 0 is no preemption point for the lazy flag:
    the CPU runs to the end of its code path. Promoted by the tick, it preempts there."""
    model = kernel_model(tmp_path, scenario_toml("v6.13", [(WAITER, "{ lazy = 1 }")],
                                                 locks="B", preempt="lazy"))
    state, infos, _ = drive(model, ["0", "0", "l0", "0", "0", "0"])
    assert not any(info.events & Event.SCHEDULE for info in infos)
    assert model.view(state).cpus[0].finished
    assert texts(model, "0 0 l0 0 0 t0 0 0")[-2:] == [
        "spin_unlock(B): preempt_enable()", "preempted: schedule()"]


def test_v6_13_lazy_is_preemptible_for_spin_needbreak(tmp_path: Path) -> None:
    """preempt_model_preemptible() is full || lazy || rt in v6.13: a lazy kernel still
    breaks B for the queued waiter, where v6.11's none does not."""
    model = kernel_model(tmp_path, scenario_toml("v6.13", [HOLDER, WAITER], locks="B",
                                                 preempt="lazy"))
    assert texts(model, PREEMPT_NONE_DYNAMIC_SCRIPT + " 0")[7] == (
        "cond_resched_lock(B) > spin_needbreak(B) > spin_is_contended(B): "
        "arch_spin_is_contended(B) -> waiters queued")


def test_lazy_wakeups_set_need_resched_at_once_outside_the_lazy_model(tmp_path: Path) -> None:
    """get_lazy_tif_bit() gives TIF_NEED_RESCHED unless the lazy model is booted: under
    full a lazy wakeup is a plain wakeup and there is no tick."""
    model = kernel_model(tmp_path, scenario_toml("v6.13", [(SOLO_BREAK, "{ lazy = 1 }")],
                                                 locks="B", preempt="full"))
    assert [str(a) for a in model.actions(model.init_states()[0])] == ["cpu0", "wakeup(cpu0)"]
    assert texts(model, "0 0 w0 0")[2:] == [
        "wakeup: need_resched = 1", "cond_resched_lock(B): need_resched() -> 1"]


# ------------------------------------------------------------------ preempt = "rt", smp = false


@pytest.mark.parametrize("era", ["v2.6.12", "v5.17", "v6.11"])
def test_preempt_rt_waiters_sleep_instead_of_spinning(tmp_path: Path, era: str) -> None:
    """Under rt a waiter blocks: after its failed trylock it has no step at all until the
    owner releases, then wakes holding the lock; holding raises no preempt_count."""
    model = kernel_model(tmp_path, scenario_toml(era, [WAITER, WAITER], locks="B",
                                                 preempt="rt"))
    script = "0 1 0 0 1 1 1"
    infos = drive(model, script.split())[1]
    assert [i.text for i in infos] == [
        "spin_lock(B) > arch_spin_lock(B): arch_spin_trylock(B) -> acquired",
        "spin_lock(B) > arch_spin_lock(B): arch_spin_trylock(B) -> fails: held by cpu0",
        "work()",
        "spin_unlock(B): arch_spin_unlock(B) -> released",
        "spin_lock(B) > arch_spin_lock(B): __rt_mutex_slowlock(B) -> woken: acquired",
        "work()",
        "spin_unlock(B): arch_spin_unlock(B) -> released",
    ]
    assert infos[4].events & Event.SCHEDULE   # it slept
    blocked = drive(model, ["0", "1"])[0]
    assert model.actions(blocked) == [parse_action("0")]
    assert model.view(blocked).cpus[0].preempt_count == 0
    assert model.view(blocked).cpus[1].waits_for == ("B",)


def test_preempt_rt_lock_holders_see_no_contention(tmp_path: Path) -> None:
    """An rt sleeping lock's spin_is_contended is 0: CPU0 keeps B although CPU1 sleeps on it,
    and holding B leaves preempt_count at 0."""
    model = kernel_model(tmp_path, scenario_toml("v5.17", [HOLDER, WAITER], locks="B",
                                                 preempt="rt"))
    script = "0 1 0 0 0"
    assert texts(model, script)[2:] == [
        "work()",
        "cond_resched_lock(B): need_resched() -> 0",
        "cond_resched_lock(B) > spin_needbreak(B) > spin_is_contended(B): "
        "arch_spin_is_contended(B) -> 0 (PREEMPT_RT: spin_is_contended is 0); "
        "cond_resched_lock(B) returns 0 without dropping B",
    ]
    after = model.view(end(model, script))
    assert after.cpus[0].holds == ("B",) and after.cpus[0].preempt_count == 0
    assert after.cpus[1].waits_for == ("B",)


def test_smp_false_spin_lock_is_only_preempt_disable(tmp_path: Path) -> None:
    model = kernel_model(tmp_path, scenario_toml("v2.6.12", [WAITER], locks="B", smp=False))
    script = "0 0 0"
    assert texts(model, script) == [
        "spin_lock(B): preempt_disable()",
        "work()",
        "spin_unlock(B): preempt_enable()",
    ]
    first = drive(model, script.split())[2][1]
    assert model.view(first).cpus[0].holds == ("B",)
    assert model.view(end(model, script)).cpus[0].finished


# ------------------------------------------------------------------ section 4, full preemption


@pytest.mark.parametrize("era", ["v2.6.12", "v5.17"])
def test_full_preemption_schedules_when_the_last_preempt_enable_reaches_0(
        tmp_path: Path, era: str) -> None:
    model = kernel_model(tmp_path, scenario_toml(era, [(WAITER, 1)], locks="B"))
    state, infos, _ = drive(model, ["0", "0", "w0"])
    while model.actions(state):
        [action] = model.actions(state)
        infos.append(model.step_info(state, action))
        state = model.next_state(state, action)
    assert any(info.events & Event.SCHEDULE for info in infos)
    assert model.view(state).cpus[0].need_resched == 0


def test_every_era_is_covered_here() -> None:
    """A new era needs its own primitive test in this file."""
    assert set(ERAS) == {"v2.6.8", "v2.6.8-mm", "v2.6.9", "v2.6.11", "v2.6.12", "v2.6.20",
                         "v2.6.25", "v4.15-rc", "v4.15", "v5.17", "v6.11", "v6.13"}
