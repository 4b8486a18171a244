"""Every scenario error pinned: file:line:col, message and hint.

Static checks run on code placed at line 13 of a fixed header that declares spinlocks A and B,
an rwlock R, and data x (under A) and y (under R); file-structure errors use whole small files.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lockbreak.core import ScenarioError
from model.scenario import load_scenario

PROPERTIES = {"mutual_exclusion", "bounded_wait"}

HEADER = '''name = "t"
[kernel]
version = "{version}"
[locks]
A = "spin"
B = "spin"
R = "rwlock"
[data]
x = "A"
y = "R"
[[cpu]]
code = """
'''
K = '[kernel]\nversion = "v2.6.12"\n'
LOCK_KINDS_HINT = ('use "spin" (spinlock_t), "rwlock" (rwlock_t), "mutex" (struct mutex) or '
                   '"rwsem" (struct rw_semaphore)')
NAME_HINT = ("trace files are named after it: use 1 to 100 letters, digits and . _ + -, not "
             "starting with '.'")


def error_of(tmp_path: Path, text: str) -> tuple[str, str]:
    path = tmp_path / "s.toml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path, known_properties=PROPERTIES)
    err = caught.value
    assert err.file == str(path)
    return f"{err.line}:{err.col}: {err.message}", err.hint


@pytest.mark.parametrize(("version", "code", "where", "hint"), [
    ("v5.17", "spin_lck(A);",
     "13:1: unknown statement 'spin_lck'",
     "did you mean spin_lock?"),
    ("v5.17", "frobnicate();",
     "13:1: unknown statement 'frobnicate'",
     "statements in v5.17: work, cpu_relax, preempt_disable, preempt_enable, schedule, read, "
     "write, use, get, put, local_irq_disable, local_irq_enable, local_irq_save, "
     "local_irq_restore, local_bh_disable, local_bh_enable, rcu_read_lock, rcu_read_unlock, "
     "spin_lock, spin_unlock, read_lock, read_unlock, write_lock, write_unlock, "
     "cond_resched_lock, cond_resched_rwlock_read, cond_resched_rwlock_write, cond_resched, "
     "might_sleep, mutex_lock, mutex_unlock, down_read, up_read, down_write, up_write"),
    # Names that only look alike mean other things: no "did you mean", but what there is.
    ("v5.17", "percpu_rwsem_lock(A);",
     "13:1: unknown statement 'percpu_rwsem_lock'",
     "percpu_rwsem_lock is not modelled; the lock operations in v5.17 are "
     "rcu_read_lock, rcu_read_unlock, spin_lock, spin_unlock, read_lock, read_unlock, "
     "write_lock, write_unlock, "
     "cond_resched_lock, cond_resched_rwlock_read, cond_resched_rwlock_write, mutex_lock, "
     "mutex_unlock"),
    ("v5.17", "Spin_Lock(A);",
     "13:1: unknown statement 'Spin_Lock'",
     "did you mean spin_lock?"),
    ("v2.6.12", "if (mutex_trylock(A)) work();",
     "13:5: mutex_trylock is not in v2.6.12",
     "eras with mutex_trylock: v2.6.20, v2.6.25, v4.15-rc, v4.15, v5.17, v6.11, v6.13"),
    ("v2.6.12", "if (percpu_rwsem_trylock(A)) work();",
     "13:5: unknown condition 'percpu_rwsem_trylock'",
     "percpu_rwsem_trylock is not modelled; the lock operations usable as conditions in "
     "v2.6.12 are need_lockbreak, lock_need_resched, spin_trylock, read_trylock, "
     "write_trylock, down_read_trylock, down_write_trylock, cond_resched_lock"),
    ("v5.17", "if (need_resced()) work();",
     "13:5: unknown condition 'need_resced'",
     "did you mean need_resched?"),
    ("v2.6.12", "if (zzz()) work();",
     "13:5: unknown condition 'zzz'",
     "conditions in v2.6.12: need_resched, need_lockbreak, lock_need_resched, spin_trylock, "
     "read_trylock, write_trylock, down_read_trylock, down_write_trylock, cond_resched_lock"),
    ("v5.17", "need_resched();",
     "13:1: need_resched() is a condition, not a statement",
     "test it: if (need_resched()) { ... }"),
    ("v5.17", "if (spin_lock(A)) work();",
     "13:5: spin_lock() returns no value to test",
     "call it as a statement: spin_lock(A);"),
    ("v2.6.12", "spin_lock(A); if (spin_needbreak(A)) work(); spin_unlock(A);",
     "13:19: spin_needbreak is not in v2.6.12",
     "eras with spin_needbreak: v2.6.25, v4.15-rc, v4.15, v5.17, v6.11, v6.13"),
    ("v5.17", "spin_lock(A); if (need_lockbreak(A)) work(); spin_unlock(A);",
     "13:19: need_lockbreak is not in v5.17",
     "eras with need_lockbreak: v2.6.9, v2.6.11, v2.6.12, v2.6.20"),
    ("v2.6.8", "spin_lock(A); if (cond_resched_lock(A)) work(); spin_unlock(A);",
     "13:19: cond_resched_lock returns void in v2.6.8",
     "call it as a statement; cond_resched_lock returns a value in v2.6.9, v2.6.11, v2.6.12, "
     "v2.6.20, v2.6.25, v4.15-rc, v4.15, v5.17, v6.11, v6.13"),
    ("v2.6.12", "read_lock(R); cond_resched_rwlock_read(R); read_unlock(R);",
     "13:15: cond_resched_rwlock_read is not in v2.6.12",
     "eras with cond_resched_rwlock_read: v5.17, v6.11, v6.13"),
    ("v5.17", "spin_lock(A, B);",
     "13:14: spin_lock takes one spinlock, not 2",
     "write spin_lock(L)"),
    ("v5.17", "spin_lock();",
     "13:1: spin_lock takes one spinlock, not 0",
     "write spin_lock(L)"),
    ("v5.17", "cpu_relax(1);",
     "13:11: cpu_relax takes no arguments, not 1",
     "write cpu_relax()"),
    ("v5.17", "spin_lock(3);",
     "13:11: spin_lock takes a lock, not the number 3",
     "declared locks: A, B, R"),
    ("v5.17", "work(x);",
     "13:6: work takes a number of steps, not 'x'",
     "write work() for one step or work(N) for N steps"),
    ("v5.17", "work(0);",
     "13:6: work(0): N must be at least 1",
     "write work() for one step or work(N) for N steps"),
    ("v5.17", "work(-2);",
     "13:6: work(-2): N must be at least 1",
     "write work() for one step or work(N) for N steps"),
    ("v5.17", "work(1, 2);",
     "13:9: work takes at most one number, not 2",
     "write work() for one step or work(N) for N steps"),
    ("v5.17", "spin_lock(C);",
     "13:11: undeclared lock 'C'; declared: A, B, R",
     'declare it in [locks]: C = "spin"'),
    ("v5.17", "spin_lock(Bb);",
     "13:11: undeclared lock 'Bb'; declared: A, B, R",
     "did you mean B?"),
    ("v5.17", "spin_lock(x);",
     "13:11: 'x' is a datum, not a lock",
     "x is protected by A; pass A"),
    ("v5.17", "read(z);",
     "13:6: undeclared datum 'z'; declared: x, y",
     'declare it in [data] with the lock that protects it: z = "A"'),
    ("v5.17", "read(A);",
     "13:6: 'A' is a lock, not a datum",
     "read takes data declared in [data]"),
    ("v5.17", "read(3);",
     "13:6: read takes a datum, not the number 3",
     "declared data: x, y"),
    ("v5.17", "spin_lock(R);",
     "13:11: spin_lock(R): R is an rwlock",
     "use read_lock(R) or write_lock(R)"),
    ("v5.17", "read_lock(A);",
     "13:11: read_lock(A): A is a spinlock",
     "use spin_lock(A)"),
    ("v5.17", "if (spin_trylock(R)) work();",
     "13:18: spin_trylock(R): R is an rwlock",
     "use read_trylock(R) or write_trylock(R)"),
    ("v5.17", "if (spin_needbreak(R)) work();",
     "13:20: spin_needbreak(R): R is an rwlock",
     "use rwlock_needbreak(R)"),
    ("v5.17", "if (rwlock_needbreak(A)) work();",
     "13:22: rwlock_needbreak(A): A is a spinlock",
     "use spin_needbreak(A)"),
    ("v5.17", "cond_resched_lock(R);",
     "13:19: cond_resched_lock(R): R is an rwlock",
     "use cond_resched_rwlock_read(R) or cond_resched_rwlock_write(R)"),
    ("v5.17", "spin_lock(A); cond_resched_rwlock_write(A); spin_unlock(A);",
     "13:41: cond_resched_rwlock_write(A): A is a spinlock",
     "use cond_resched_lock(A)"),
    ("v5.17", "spin_unlock(B);",
     "13:13: spin_unlock(B): cpu0 does not hold B here",
     "take it first with spin_lock(B)"),
    ("v5.17", "write_lock(R); read_unlock(R);",
     "13:28: read_unlock(R): cpu0 holds R for write here",
     "use write_unlock(R)"),
    ("v5.17", "read_lock(R); write_unlock(R);",
     "13:28: write_unlock(R): cpu0 holds R for read here",
     "use read_unlock(R)"),
    ("v5.17", "spin_lock(B);\nspin_lock(B);",
     "14:1: recursive locking of B deadlocks",
     "cpu0 already holds B here (taken on line 13)"),
    ("v5.17", "read_lock(R); write_lock(R);",
     "13:15: recursive locking of R deadlocks",
     "cpu0 already holds R here (taken on line 13)"),
    ("v5.17", "cond_resched_lock(A);",
     "13:19: cond_resched_lock(A): cpu0 does not hold A here",
     "cond_resched_lock drops and retakes A: call it with A held"),
    ("v5.17", "read_lock(R); cond_resched_rwlock_write(R); read_unlock(R);",
     "13:41: cond_resched_rwlock_write(R): cpu0 holds R for read here",
     "use cond_resched_rwlock_read(R)"),
    ("v5.17", "write_lock(R); cond_resched_rwlock_read(R); write_unlock(R);",
     "13:41: cond_resched_rwlock_read(R): cpu0 holds R for write here",
     "use cond_resched_rwlock_write(R)"),
    ("v5.17", "cond_resched_rwlock_read(R);",
     "13:26: cond_resched_rwlock_read(R): cpu0 does not hold R here",
     "cond_resched_rwlock_read drops and retakes R: call it with R held"),
    ("v5.17", "if (cond_resched_lock(A)) work();",
     "13:23: cond_resched_lock(A): cpu0 does not hold A here",
     "cond_resched_lock drops and retakes A: call it with A held"),
    ("v5.17", "spin_lock(A);\nspin_lock(B);\nspin_unlock(A);\nwork();",
     "16:1: cpu0 ends holding B",
     "release B before the code ends (B taken on line 14)"),
    ("v5.17", "spin_lock(A); spin_lock(B); work();",
     "13:29: cpu0 ends holding A and B",
     "release A and B before the code ends (A taken on line 13, B taken on line 13)"),
    ("v5.17", "if (need_resched()) {\n  spin_lock(B);\n}\nwork();",
     "13:1: cpu0 may or may not hold B after this if",
     "the then-branch holds B, the path that skips the if does not; take and release B on the "
     "same paths"),
    ("v5.17", "if (need_resched()) spin_lock(B); else { spin_lock(A); }",
     "13:1: cpu0 may or may not hold A after this if",
     "the else-branch holds A, the then-branch does not; take and release A on the same paths"),
    ("v5.17",
     "write_lock(R);\nif (need_resched()) { write_unlock(R); read_lock(R); }\nread_unlock(R);",
     "14:1: cpu0 may hold R for read or for write after this if",
     "the then-branch holds it for read, the path that skips the if for write"),
    ("v5.17", "repeat (2) { spin_lock(B); }",
     "13:1: cpu0 may or may not hold B at the top of this loop",
     "the end of the body holds B, the path into the loop does not; take and release B on the "
     "same paths"),
    ("v5.17", "spin_lock(B); while (need_resched()) { spin_unlock(B); }",
     "13:15: cpu0 may or may not hold B at the top of this loop",
     "the path into the loop holds B, the end of the body does not; take and release B on the "
     "same paths"),
    ("v5.17", "spin_lock(B); forever {\n  if (need_resched()) { spin_unlock(B); break; }\n"
     "  if (need_resched()) break;\n}",
     "13:15: cpu0 may or may not hold B after this loop",
     "the break at 15:23 holds B, the break at 14:41 does not; take and release B on the same "
     "paths"),
    ("v5.17",
     "while (need_resched()) { spin_lock(B); if (need_resched()) break; spin_unlock(B); }",
     "13:1: cpu0 may or may not hold B after this loop",
     "the break at 13:60 holds B, the loop test does not; take and release B on the same paths"),
    ("v5.17", "repeat (3) { spin_lock(B); if (need_resched()) continue; spin_unlock(B); }",
     "13:1: cpu0 may or may not hold B at the top of this loop",
     "the continue at 13:48 holds B, the path into the loop does not; take and release B on the "
     "same paths"),
    ("v5.17", "forever { spin_lock(B); if (need_resched()) restart; spin_unlock(B); }",
     "13:1: cpu0 may or may not hold B at the top of this loop",
     "the restart at 13:45 holds B, the path into the loop does not; take and release B on the "
     "same paths"),
    ("v5.17", "if (spin_trylock(A)) { work(); }",
     "13:1: cpu0 may or may not hold A after this if",
     "the then-branch holds A, the path that skips the if does not; take and release A on the "
     "same paths"),
    ("v5.17",
     "while (!spin_trylock(A)) { if (need_resched()) break; cpu_relax(); }\nspin_unlock(A);",
     "13:1: cpu0 may or may not hold A after this loop",
     "the loop test holds A, the break at 13:48 does not; take and release A on the same paths"),
    ("v5.17", "if (need_resched() && spin_trylock(A)) { spin_unlock(A); }",
     "13:23: spin_trylock(A) must be the whole condition of an if or while",
     "write if (spin_trylock(A)) { ... } or while (!spin_trylock(A)) { ... } and test other "
     "conditions inside"),
    ("v5.17", "spin_lock(A); if (spin_trylock(A)) work(); spin_unlock(A);",
     "13:19: spin_trylock(A): cpu0 already holds A here",
     "unlock it first, or drop the trylock"),
    ("v5.17", "spin_lock(A); if (need_resched()) read(x); use(x); spin_unlock(A);",
     "13:48: use(x) without read(x) before it on every path",
     "use(x) relies on the snapshot read(x) takes: read it first"),
    ("v5.17", "spin_lock(A); repeat (2) { use(x); read(x); } spin_unlock(A);",
     "13:32: use(x) without read(x) before it on every path",
     "use(x) relies on the snapshot read(x) takes: read it first"),
    ("v5.17", "spin_lock(A); while (need_resched()) { read(x); } use(x); spin_unlock(A);",
     "13:55: use(x) without read(x) before it on every path",
     "use(x) relies on the snapshot read(x) takes: read it first"),
    ("v5.17", "read(x);",
     "13:6: read(x): cpu0 does not hold A, which protects x",
     "take spin_lock(A) around it"),
    ("v5.17", "spin_lock(B); write(x); spin_unlock(B);",
     "13:21: write(x): cpu0 does not hold A, which protects x",
     "take spin_lock(A) around it"),
    ("v5.17", "read_lock(R); write(y); read_unlock(R);",
     "13:21: write(y): cpu0 holds R only for read",
     "writing y needs write_lock(R)"),
    ("v5.17", "use(y);",
     "13:5: use(y): cpu0 does not hold R, which protects y",
     "take read_lock(R) around it"),
    ("v5.17", "break;",
     "13:1: break outside a loop",
     "break belongs inside repeat, while or forever"),
    ("v5.17", "if (need_resched()) continue;",
     "13:21: continue outside a loop",
     "continue belongs inside repeat, while or forever"),
    ("v5.17", "restart;",
     "13:1: restart outside a loop",
     "restart belongs inside repeat, while or forever"),
    ("v5.17", "repeat (0) { work(); }",
     "13:1: repeat (0) never runs its body",
     "repeat (N) needs N >= 1"),
    ("v5.17", "read_lock(Q);",
     "13:11: undeclared lock 'Q'; declared: A, B, R",
     'declare it in [locks]: Q = "rwlock"'),
    ("v5.17", "if (need_resched() || !spin_trylock(A)) work();",
     "13:24: spin_trylock(A) must be the whole condition of an if or while",
     "write if (spin_trylock(A)) { ... } or while (!spin_trylock(A)) { ... } and test other "
     "conditions inside"),

])
def test_static_errors(tmp_path, version, code, where, hint):
    text = HEADER.format(version=version) + code + '\n"""\n'
    assert error_of(tmp_path, text) == (where, hint)


@pytest.mark.parametrize("code", [
    "spin_lock(B); while (need_resched()) {\n  if (need_resched()) break;\n  spin_unlock(B);\n"
    "  spin_lock(B);\n}\nspin_unlock(B);",
    "forever { spin_lock(B); if (need_resched()) break; spin_unlock(B); }\nspin_unlock(B);",
    "while (!(spin_trylock(A))) cpu_relax(); spin_unlock(A);",
    "if (!spin_trylock(A)) work(); else spin_unlock(A);",
    "spin_lock(A); read(x); repeat (2) { use(x); if (need_resched()) continue; } use(x);\n"
    "spin_unlock(A);",
    "spin_lock(A); repeat (2) { read(x); } use(x); spin_unlock(A);",
    "spin_lock(A); read(x); spin_unlock(A); spin_lock(A); use(x); spin_unlock(A);",
    "read_lock(R); read(y); use(y); read_unlock(R); write_lock(R); write(y); use(y);\n"
    "cond_resched_rwlock_write(R); write_unlock(R);",
    "spin_lock(A); while (cond_resched_lock(A) || need_resched()) work(); spin_unlock(A);",
    "forever { work(); } spin_unlock(A);  // unreachable after an endless loop",
    "repeat (2) { if (need_resched()) restart; work(2); } schedule(); might_sleep();",
])
def test_clean_code_passes(tmp_path, code):
    path = tmp_path / "s.toml"
    path.write_text(HEADER.format(version="v5.17") + code + '\n"""\n')
    assert load_scenario(path, known_properties=PROPERTIES).cpus[0].code


@pytest.mark.parametrize(("text", "where", "hint"), [
    ('name = "x"\nversion = "v2.6.12"\n[[cpu]]\ncode = "work();"\n',
     "2:1: unknown top-level key 'version'",
     "version belongs in [kernel]"),
    ("steps = [1, 2]\n" + K + '[[cpu]]\ncode = "work();"\n',
     "1:1: unknown top-level key 'steps'",
     "known: name, description, kernel, patch, locks, data, params, cpu, expect"),
    ('[kernal]\nversion = "v2.6.12"\n[[cpu]]\ncode = "work();"\n',
     "1:1: unknown table [kernal]",
     "did you mean kernel?"),
    (K + '[[cpus]]\ncode = "work();"\n',
     "3:1: unknown table [[cpus]]",
     "did you mean cpu?"),
    (K + '[[cpu]]\ncode = "work();"\n\n[[cpus]]\ncode = "work();"\n',
     "6:1: unknown table [[cpus]]",
     "did you mean cpu?"),
    (K + 'premept = "full"\n[[cpu]]\ncode = "work();"\n',
     "3:1: unknown [kernel] field 'premept'",
     "did you mean preempt?"),
    (K + 'smp = "yes"\n[[cpu]]\ncode = "work();"\n',
     '3:7: kernel.smp must be true or false, not "yes"',
     ""),
    ('[kernel]\nversion = 2.6\n[[cpu]]\ncode = "work();"\n',
     "2:11: kernel.version must be a string, not 2.6",
     ""),
    (K + 'drop_every = true\n[[cpu]]\ncode = "work();"\n',
     "3:14: kernel.drop_every must be an integer, not true",
     ""),
    ('name = 3\n[kernel]\nversion = "v2.6.12"\n[[cpu]]\ncode = "work();"\n',
     "1:8: name must be a string, not 3",
     ""),
    ('name = "../escaped"\n' + K + '[[cpu]]\ncode = "work();"\n',
     "1:8: the scenario name '../escaped' has characters other than letters, digits and . _ + -",
     NAME_HINT),
    ('name = "/tmp/x"\n' + K + '[[cpu]]\ncode = "work();"\n',
     "1:8: the scenario name '/tmp/x' has characters other than letters, digits and . _ + -",
     NAME_HINT),
    ('name = "a\\u0000b"\n' + K + '[[cpu]]\ncode = "work();"\n',
     "1:8: the scenario name 'a\\x00b' has characters other than letters, digits and . _ + -",
     NAME_HINT),
    ('name = "a\\nok holds"\n' + K + '[[cpu]]\ncode = "work();"\n',
     "1:8: the scenario name 'a\\nok holds' has characters other than letters, digits and "
     ". _ + -",
     NAME_HINT),
    ('name = ""\n' + K + '[[cpu]]\ncode = "work();"\n',
     "1:8: the scenario name '' is empty",
     NAME_HINT),
    ('name = ".hidden"\n' + K + '[[cpu]]\ncode = "work();"\n',
     "1:8: the scenario name '.hidden' starts with '.'",
     NAME_HINT),
    ('name = "' + "n" * 101 + '"\n' + K + '[[cpu]]\ncode = "work();"\n',
     "1:8: the scenario name '" + "n" * 40 + "...' is 101 characters long",
     NAME_HINT),
    ('kernel = "v2.6.12"\n[[cpu]]\ncode = "work();"\n',
     '1:10: kernel must be a table, not "v2.6.12"',
     ""),
    ('[kernel]\nversion = "v2.6.13"\n[[cpu]]\ncode = "work();"\n',
     "2:11: unknown era 'v2.6.13'; known: v2.6.8, v2.6.8-mm, v2.6.9, v2.6.11, v2.6.12, v2.6.20, "
     "v2.6.25, v4.15-rc, v4.15, v5.17, v6.11, v6.13",
     "v2.6.13 is not modelled; choose the era whose code you mean (lockbreak list describes each)"),
    ('[kernel]\nversion = "v6.12"\n[[cpu]]\ncode = "work();"\n',
     "2:11: unknown era 'v6.12'; known: v2.6.8, v2.6.8-mm, v2.6.9, v2.6.11, v2.6.12, v2.6.20, "
     "v2.6.25, v4.15-rc, v4.15, v5.17, v6.11, v6.13",
     "v6.12 is not modelled; choose the era whose code you mean (lockbreak list describes "
     "each)"),
    ('[kernel]\nversion = "2.6.12"\n[[cpu]]\ncode = "work();"\n',
     "2:11: unknown era '2.6.12'; known: v2.6.8, v2.6.8-mm, v2.6.9, v2.6.11, v2.6.12, v2.6.20, "
     "v2.6.25, v4.15-rc, v4.15, v5.17, v6.11, v6.13",
     "did you mean v2.6.12?"),
    ('[kernel]\nlock = "tas"\n[[cpu]]\ncode = "work();"\n',
     "1:1: the scenario names no kernel version",
     'add version = "..." under [kernel]; known: v2.6.8, v2.6.8-mm, v2.6.9, v2.6.11, v2.6.12, '
     "v2.6.20, v2.6.25, v4.15-rc, v4.15, v5.17, v6.11, v6.13"),
    (K + 'lock = "tiket"\n[[cpu]]\ncode = "work();"\n',
     "3:8: unknown lock algorithm 'tiket'; known: tas, ticket, qspinlock",
     "did you mean ticket?"),
    (K + 'preempt = "voluntry"\n[[cpu]]\ncode = "work();"\n',
     "3:11: unknown preempt model 'voluntry'; known: none, voluntary, full, lazy, rt",
     "did you mean voluntary?"),
    (K + 'timing = "lock-step"\n[[cpu]]\ncode = "work();"\n',
     "3:10: unknown timing 'lock-step'; known: interleaving, lockstep",
     "did you mean lockstep?"),
    (K + 'drop_every = 2\n[[cpu]]\ncode = "work();"\n',
     "3:14: v2.6.12 has no drop_every",
     "drop_every is the -mm kludge's knob, only in v2.6.8-mm; remove it or change version"),
    ('[kernel]\nversion = "v2.6.8-mm"\ndrop_every = 0\n[[cpu]]\ncode = "work();"\n',
     "3:14: drop_every = 0: the lock-break site must drop the lock every N >= 1 calls",
     ""),
    ('[kernel]\nversion = "v2.6.25"\ngeneric_lockbreak = true\n[[cpu]]\ncode = "work();"\n',
     '3:21: generic_lockbreak needs lock = "tas", not "ticket"',
     'generic_lockbreak is the break_lock flag of TAS locks; use lock = "tas"'),
    ('[kernel]\nversion = "v4.15-rc"\nlock = "qspinlock"\n[[cpu]]\ncode = "work();"\n',
     '3:8: generic_lockbreak needs lock = "tas", not "qspinlock"',
     "generic_lockbreak is the break_lock flag of TAS locks; v4.15-rc has it by default: set "
     "generic_lockbreak = false"),
    (K + 'smp = false\n[[cpu]]\ncode = "work();"\n[[cpu]]\ncode = "work();"\n',
     "3:7: smp = false means one CPU, but there are 2 [[cpu]] tables",
     "remove smp = false or keep one [[cpu]]"),
    (K + '[locks]\nA = "semaphore"\n[[cpu]]\ncode = "work();"\n',
     "4:5: unknown lock kind 'semaphore' for A",
     LOCK_KINDS_HINT),
    (K + '[locks]\n"my-lock" = "spin"\n[[cpu]]\ncode = "work();"\n',
     "4:1: lock name 'my-lock' is not a C identifier",
     "code refers to it by name: use letters, digits and _"),
    (K + '[locks]\nlist = "spin"\n[data]\nt = "lst"\n[[cpu]]\ncode = "work();"\n',
     "6:5: t is protected by 'lst', which is not declared in [locks]; declared: list",
     "did you mean list?"),
    (K + '[locks]\nlist = "spin"\n[data]\nlist = "list"\n[[cpu]]\ncode = "work();"\n',
     "6:1: 'list' is both a lock and a datum",
     "give the datum another name"),
    (K + '[data]\nt = "list"\n[[cpu]]\ncode = "work();"\n',
     "4:5: t is protected by 'list', which is not declared in [locks]; declared: none",
     'declare list in [locks], e.g. list = "spin"'),
    (K + "",
     "1:1: the scenario has no [[cpu]]",
     'add one [[cpu]] table with code = """ ... """ per CPU'),
    (K + '[cpu]\ncode = "work();"\n',
     "3:1: cpu must be an array of tables",
     "write each CPU as a [[cpu]] table"),
    (K + "[[cpu]]\nwakeups = 1\n",
     "3:1: cpu0 has no code",
     "add code = \"\"\" ... \"\"\" with the CPU's kernel code path"),
    (K + "[[cpu]]\ncode = 1\n",
     "4:8: cpu.code must be a string, not 1",
     ""),
    (K + '[[cpu]]\ncode = "work();"\nwakeups = -1\n',
     "5:11: wakeups = -1 is negative",
     "wakeups is how many times need_resched may be set: 0 or more"),
    (K + '[[cpu]]\ncode = "work();"\nwakeups = 17\n',
     "5:11: wakeups = 17 is more than 16",
     "the limit is 16; each wakeup multiplies the states to explore"),
    (K + '[[cpu]]\ncode = "repeat (1001) work();"\n',
     "4:17: repeat (1001): 1001 is more than 1000",
     "the limit is 1000 rounds; each one adds states to explore"),
    (K + '[params]\nn = 1000\n[[cpu]]\ncode = "repeat (n) work(n);"\n',
     "", ""),
    (K + '[params]\nn = 1001\n[[cpu]]\ncode = "repeat (n) work();"\n',
     "4:5: n = 1001 is more than 1000",
     "a parameter is a count: 0 to 1000"),
    (K + '[[cpu]]\ncode = "work(100000000);"\n',    # a counted loop: no limit needed
     "", ""),
    (K + '[[cpu]]\ncode = ""\n',
     "4:8: cpu0 has no code: its code is empty",
     "give it a kernel code path, e.g. spin_lock(L); work(); spin_unlock(L); or remove the "
     "[[cpu]] table"),
    (K + '[[cpu]]\ncode = "work();"\n[[cpu]]\ncode = """\n// nothing yet\n"""\n',
     "6:8: cpu1 has no code: its code is empty",
     "give it a kernel code path, e.g. spin_lock(L); work(); spin_unlock(L); or remove the "
     "[[cpu]] table"),
    (K + '[[cpu]]\ncode = "work();"\n[[expect]]\nmutual_exclusion = "holds"\n',
     "5:1: [expect] is a table, not an array of tables",
     "write [expect] once, with single brackets"),
    ('[[kernel]]\nversion = "v2.6.12"\n[[cpu]]\ncode = "work();"\n',
     "1:1: [kernel] is a table, not an array of tables",
     "write [kernel] once, with single brackets"),
    (K + '[locks]\nA = ["spin"]\n[[cpu]]\ncode = "work();"\n',
     '4:5: unknown lock kind ["spin"] for A',
     LOCK_KINDS_HINT),
    (K + '[[cpu]]\ncode = "work();"\nwakeup = 1\n',
     "5:1: unknown [[cpu]] key 'wakeup'",
     "did you mean wakeups?"),
    (K + '[[cpu]]\ncode = "work();"\n[expect]\nmutal_exclusion = "holds"\n',
     "6:1: unknown property 'mutal_exclusion'",
     "did you mean mutual_exclusion?"),
    (K + '[[cpu]]\ncode = "work();"\n[expect]\nfoo = "holds"\n',
     "6:1: unknown property 'foo'",
     "known: bounded_wait, mutual_exclusion"),
    (K + '[[cpu]]\ncode = "work();"\n[expect]\nmutual_exclusion = "passes"\n',
     '6:20: unknown expectation "passes" for mutual_exclusion',
     'expect "holds", "violated" or "vacuous"'),
    (K + '[[cpu]]\ncode = "work();"\n[expect]\nmutual_exclusion = { max = 3 }\n',
     "6:20: { max = N } applies only to bounded_wait and bounded_latency",
     'expect "holds", "violated" or "vacuous"'),
    (K + '[[cpu]]\ncode = "work();"\n[expect]\nbounded_wait = { max = -3 }\n',
     "6:24: max must be a number of ticks >= 0, not -3",
     ""),
    (K + '[[cpu]]\ncode = "work();"\n[expect]\nbounded_wait = { min = 3 }\n',
     "6:16: unknown expectation { min = 3 } for bounded_wait",
     'expect "holds", "violated", "vacuous" or { max = N }'),
    (K + '[[cpu]]\ncode = "work();"\n[expect]\nbounded_wait = 3\n',
     "6:16: unknown expectation 3 for bounded_wait",
     'expect "holds", "violated", "vacuous" or { max = N }'),
    (K + '[[cpu]]\ncode = """\nwork()\n"""\n',
     "5:7: expected ';' before the end of the code",
     ""),
    (K + '[locks]\nA = "spin"\n[[cpu]]\ncode = """\nwork();\n"""\n'
     '[[cpu]]\ncode = "spin_unlock(A);"\n',
     "10:21: spin_unlock(A): cpu1 does not hold A here",
     "take it first with spin_lock(A)"),
    ('[kernel\nversion = "v2.6.12"\n',
     "1:8: invalid TOML: expected ']' at the end of a table declaration",
     ""),
    ("[kernel]\nversion = v2.6.12\n",
     "2:11: invalid TOML: invalid value",
     ""),
    ('[kernel]\nversion = "v2.6.12\n',
     "2:19: invalid TOML: illegal character '\\n'",
     ""),
    ('name = "x"\nname',
     "2:5: invalid TOML: expected '=' after a key in a key/value pair",
     ""),
    ('name = "x"\nname = "y"\n',
     "2:11: invalid TOML: cannot overwrite a value",
     ""),

])
def test_file_errors(tmp_path, text, where, hint):
    if not where:       # at a limit: loads
        path = tmp_path / "s.toml"
        path.write_text(text)
        assert load_scenario(path, known_properties=PROPERTIES).cpus
        return
    assert error_of(tmp_path, text) == (where, hint)
