"""Open-coded lock breaks (docs/semantics.md section 10): the sites `model.lockset` finds (a
critical section inside a break is none), the verdicts of the public scenarios that use them,
the counterexample naming the site, the ``no_stale_use`` witness, and the z3 twin and SPIN
agreeing with the explicit model.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from lockbreak.cli import main
from lockbreak.core import PropertyKind, Status
from lockbreak.engines.bmc import check
from lockbreak.pipeline import Overrides, load
from model import lockset
from model.compile import BuildConfig, LockInfo, open_coded_breaks
from model.eras import get_era
from model.events import Event
from model.kernel import KernelModel
from model.lang.parser import parse_code
from model.locks import RWLOCK, spin_algorithm
from model.symbolic import SymbolicKernel
from model.world import build_world
from properties.catalogue import CATALOGUE, specs
from tests.model.test_promela import lockbreak_run, needs_spin, spin_run
from tests.model.test_symbolic import explicit_successors, relation_solver, symbolic_successors
from tests.support.helpers import check_by_name, first_states, kernel_model
from tests.support.paths import REPO

SCENARIOS = REPO / "scenarios"
CONFIG = BuildConfig(preempt="full", preempt_dynamic=False, smp=True, generic_lockbreak=False)
LOCKS = {"L": LockInfo(0, "L", "spin", spin_algorithm("qspinlock", 2)),
         "M": LockInfo(1, "M", "spin", spin_algorithm("qspinlock", 2)),
         "R": LockInfo(2, "R", "rwlock", RWLOCK)}


def sites(code: str) -> list[tuple[str, int, tuple[int, ...]]]:
    """Each open-coded break of ``code`` as (lock, unlock line, relock lines)."""
    found = open_coded_breaks(parse_code(code, file="test.c"), era=get_era("v5.17"),
                              config=CONFIG, locks=LOCKS, data={"X": 0})
    names = {lock.index: lock.name for lock in LOCKS.values()}
    return [(names[s.lock], s.unlock.pos.line, tuple(r.pos.line for r in s.relocks))
            for s in found]


# ------------------------------------------------------------------ the analysis


@pytest.mark.parametrize(("code", "expected"), [
    pytest.param("""
spin_lock(L);
while (*) {
    if (need_resched() || spin_needbreak(L)) {
        spin_unlock(L);
        cond_resched();
        spin_lock(L);
    }
}
spin_unlock(L);
""", [("L", 5, (7,))], id="the-usual-shape"),
    pytest.param("""
spin_lock(L);
for (;;) {
    if (*)
        break;
    spin_unlock(L);
    spin_lock(L);
}
spin_unlock(L);
""", [("L", 6, (7,))], id="for-ever-with-a-way-out"),
    pytest.param("""
spin_lock(L);
do {
    work();
    spin_unlock(L);
    cpu_relax();
    spin_lock(L);
} while (*);
spin_unlock(L);
""", [("L", 5, (7,))], id="do-while"),
    pytest.param("""
spin_lock(L);
repeat (3) {
    work();
    if (*) {
        spin_unlock(L);
        spin_lock(L);
    } else {
        spin_unlock(L);
        cond_resched();
        spin_lock(L);
    }
}
spin_unlock(L);
""", [("L", 6, (7,)), ("L", 9, (11,))], id="a-relock-on-each-path"),
    pytest.param("""
again:
spin_lock(L);
work();
if (need_resched()) {
    spin_unlock(L);
    cond_resched();
    goto again;
}
spin_unlock(L);
""", [("L", 6, (3,))], id="a-goto-back-to-where-the-lock-is-taken"),
    pytest.param("""
restart:
spin_lock(L);
repeat (2) {
    if (spin_needbreak(L)) {
        spin_unlock(L);
        goto restart;
    }
    work();
}
spin_unlock(L);
""", [("L", 6, (3,))], id="goto-restart-from-inside-a-loop"),
    pytest.param("""
spin_lock_irqsave(L, flags);
while (*) {
    spin_unlock_irqrestore(L, flags);
    spin_lock_irqsave(L, flags);
}
spin_unlock_irqrestore(L, flags);
""", [("L", 4, (5,))], id="irqsave"),
    pytest.param("""
spin_lock_bh(L);
while (*) {
    spin_unlock_bh(L);
    spin_lock_bh(L);
}
spin_unlock_bh(L);
""", [("L", 4, (5,))], id="bh"),
    pytest.param("""
write_lock(R);
while (*) {
    if (need_resched() || rwlock_needbreak(R)) {
        write_unlock(R);
        cond_resched();
        write_lock(R);
    }
}
write_unlock(R);
read_lock(R);
while (*) {
    read_unlock(R);
    read_lock(R);
}
read_unlock(R);
""", [("R", 5, (7,)), ("R", 13, (14,))], id="rwlock-write-and-read"),
    pytest.param("""
raw_spin_lock(L);
while (*) {
    raw_spin_unlock(L);
    raw_spin_lock(L);
}
raw_spin_unlock(L);
""", [("L", 4, (5,))], id="raw"),
    pytest.param("""
spin_lock(M);
spin_lock(L);
while (*) {
    spin_unlock(L);
    spin_lock(L);
}
spin_unlock(L);
spin_unlock(M);
""", [("L", 5, (6,))], id="the-inner-lock-under-an-outer-one"),
    pytest.param("""
spin_lock(L);
while (*) {
    if (need_resched()) {
        spin_unlock(L);
        cond_resched();
        repeat (2) {
            spin_lock(L);
            work();
            spin_unlock(L);
        }
        spin_lock(L);
    }
}
spin_unlock(L);
""", [("L", 5, (8, 12))], id="a-critical-section-inside-the-break-is-no-site"),
    pytest.param("""
again:
spin_lock(L);
while (*) {
    work();
    if (need_resched()) {
        spin_unlock(L);
        cond_resched();
        while (*) {
            spin_lock(L);
            work();
            spin_unlock(L);
            cond_resched();
        }
        goto again;
    }
}
spin_unlock(L);
""", [("L", 7, (3, 10))], id="a-dispose-loop-inside-a-goto-break"),
    pytest.param("""
spin_lock(L);
for (;;) {
    if (*)
        break;
    spin_unlock(L);
    if (*) {
        spin_lock(L);
        work();
        spin_unlock(L);
    }
    spin_lock(L);
    cond_resched_lock(L);
}
spin_unlock(L);
""", [("L", 6, (8, 12))], id="a-drop-whose-window-takes-the-lock-for-a-helper"),
    pytest.param("""
spin_lock(L);
while (*) {
    spin_unlock(L);
    spin_lock(L);
    work();
    spin_unlock(L);
    cond_resched();
    spin_lock(L);
}
spin_unlock(L);
""", [("L", 4, (5,))], id="a-second-drop-releases-the-first-ones-relock"),
])
def test_the_analysis_finds_each_open_coded_break(code: str,
                                                  expected: list[tuple[str, int, tuple]]) -> None:
    assert sites(code) == expected


@pytest.mark.parametrize("code", [
    pytest.param("""
spin_lock(L);
work();
spin_unlock(L);
cond_resched();
spin_lock(L);
spin_unlock(L);
""", id="an-unlock-not-in-a-loop"),
    pytest.param("""
while (*) {
    spin_lock(L);
    work();
    spin_unlock(L);
}
""", id="no-relock-before-the-loop-continues"),
    pytest.param("""
forever {
    spin_lock(L);
    work();
    spin_unlock(L);
    cond_resched();
}
""", id="a-critical-section-per-iteration"),
    pytest.param("""
spin_lock(L);
while (*) {
    if (*) {
        spin_unlock(L);
        if (*)
            goto out;
        spin_lock(L);
    }
}
spin_unlock(L);
out:
work();
""", id="a-relock-on-only-one-path"),
    pytest.param("""
spin_lock(L);
while (*) {
    spin_unlock(L);
    if (*)
        spin_lock(L);
}
""", id="a-relock-on-only-one-branch"),
    pytest.param("""
spin_lock(L);
while (*) {
    if (*) {
        spin_unlock(L);
        return;
    }
    work();
}
spin_unlock(L);
""", id="an-unlock-that-leaves-the-loop"),
    pytest.param("""
spin_lock(L);
while (*) {
    spin_lock(M);
    work();
    spin_unlock(M);
}
spin_unlock(L);
""", id="another-lock-taken-and-released-per-iteration"),
])
def test_the_analysis_rejects_what_is_no_lock_break(code: str) -> None:
    assert sites(code) == []


def test_the_hold_released_must_be_the_iterations(monkeypatch: pytest.MonkeyPatch) -> None:
    # Without the rule, the release closing a critical section inside the break is a site.
    code = "spin_lock(L);\nwhile (*) {\n    spin_unlock(L);\n    spin_lock(L);\n" \
           "    spin_unlock(L);\n    spin_lock(L);\n}\nspin_unlock(L);"
    assert sites(code) == [("L", 3, (4,))]
    monkeypatch.setattr(lockset, "_held_since_head", lambda *_: True)
    assert sites(code) == [("L", 3, (4,)), ("L", 5, (6,))]


def test_the_primitives_are_not_looked_into() -> None:
    # cond_resched_lock() breaks its lock inside the era's C: a primitive, not open code.
    assert sites("spin_lock(L);\nwhile (*) {\n    cond_resched_lock(L);\n}\nspin_unlock(L);") == []


# ------------------------------------------------------------------ the public scenarios

VERDICTS = {
    "kvm-zap-revalidate-v5.17": {"no_stale_use": "holds", "no_spurious_break": "holds",
                                 "break_return_truth": "vacuous", "livelock_free": "holds"},
    "kvm-zap-stale-v5.17": {"no_stale_use": "violated", "no_spurious_break": "holds"},
    "zone-batch-spurious-v5.17": {"no_spurious_break": "violated", "mutual_exclusion": "holds",
                                  "bounded_wait": "violated"},
    "evict-inodes-again-v5.17": {"livelock_free": "holds", "no_spurious_break": "holds"},
    "evict-inodes-restart-livelock-v5.17": {"livelock_free": "violated",
                                            "no_spurious_break": "holds"},
    # Open-coded breaks written before the analysis: checked now by no_spurious_break.
    "zone-batch-needbreak-v5.17": {"no_spurious_break": "holds"},
    "inode-walk-restart-v5.17": {"no_spurious_break": "holds", "no_stale_use": "holds"},
    "inode-walk-stale-v5.17": {"no_spurious_break": "holds", "no_stale_use": "violated"},
}


def check_json(tmp_path: Path, path: Path, *args: str) -> tuple[int, list[dict]]:
    result = CliRunner().invoke(main, ["check", "--json", "--trace-dir", str(tmp_path),
                                       *args, str(path)])
    return result.exit_code, json.loads(result.stdout)["results"]


@pytest.mark.parametrize("name", list(VERDICTS))
def test_each_verdict_of_the_scenarios(name: str, tmp_path: Path) -> None:
    wanted = VERDICTS[name]
    args = [a for p in wanted for a in ("-p", p)]
    code, results = check_json(tmp_path, SCENARIOS / f"{name}.toml", *args)
    assert {r["property"]: r["status"] for r in results} == wanted
    assert all(r["met"] is not False for r in results)
    assert code == 0          # every expectation of the scenario met


def test_the_counterexample_names_the_site(tmp_path: Path) -> None:
    _, results = check_json(tmp_path, SCENARIOS / "zone-batch-spurious-v5.17.toml",
                            "-p", "no_spurious_break")
    trace = json.loads(Path(results[0]["trace_file"]).read_text())
    words = json.dumps(trace)
    assert "open-coded lock break of zone_lock at line 16" in words
    assert "relock of the open-coded lock break at line 16" in words


def test_the_last_line_names_the_break(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["check", "-p", "no_stale_use", "--trace-dir",
                                       str(tmp_path), str(SCENARIOS / "kvm-zap-stale-v5.17.toml")])
    assert ("=> use() relied on a snapshot another CPU's write made stale (lock break: "
            "write_unlock(mmu_lock) [open-coded lock break of mmu_lock at line 21])"
            in result.output)


def test_a_break_with_the_lock_data_held_witnesses_no_stale_use(tmp_path: Path) -> None:
    # kvm-zap-revalidate re-reads the root after every break, so at the unlock the snapshot
    # is dead and the model has forgotten it; the CPU still held it, which is the witness.
    world = build_world(load(SCENARIOS / "kvm-zap-revalidate-v5.17.toml", Overrides()))
    model = KernelModel(world, specs(["no_stale_use"]))
    seen = Event.NONE
    for state in first_states(model):
        for action in model.actions(state):
            seen |= model.step_info(state, action).events
    assert seen & Event.BREAK_WITH_DATA and not seen & Event.STALE_USE
    _, results = check_json(tmp_path, SCENARIOS / "kvm-zap-revalidate-v5.17.toml",
                            "-p", "no_stale_use")
    assert results[0]["status"] == "holds"
    assert "every snapshot live across a lock break was re-read" in results[0]["detail"]


def test_z3_refuses_a_star_guard_by_name(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["check", "--engine", "z3", "-p", "no_spurious_break",
                                       "--trace-dir", str(tmp_path),
                                       str(SCENARIOS / "zone-batch-spurious-v5.17.toml")])
    assert result.exit_code == 2
    assert "zone-batch-spurious-v5.17.toml:13:1" in result.output
    assert "the nondeterministic guard *" in result.output


# A walk that breaks its lock and, inside the break, disposes of an item under the same lock
# (evict_inodes() and dispose_list()); a second CPU takes the lock once.
DISPOSE_IN_BREAK = """
name = "dispose-in-break"
[kernel]
version = "v5.17"
[locks]
L = "spin"
[[cpu]]
wakeups = 1
code = \"\"\"
spin_lock(L);
repeat (2) {
    work();
    if (%s) {
        spin_unlock(L);
        %s
        spin_lock(L);
        work();
        spin_unlock(L);
        spin_lock(L);
    }
}
spin_unlock(L);
\"\"\"
[[cpu]]
code = \"\"\"
spin_lock(L);
work();
spin_unlock(L);
\"\"\"
"""


@pytest.mark.parametrize(("guard", "window", "verdict"), [
    pytest.param("need_resched()", "cond_resched();", Status.HOLDS, id="breaks-to-schedule"),
    pytest.param("*", "work();", Status.VIOLATED, id="breaks-for-nobody"),
])
def test_a_critical_section_inside_a_break_is_not_checked_as_one(
        tmp_path: Path, guard: str, window: str, verdict: Status) -> None:
    model = kernel_model(tmp_path, DISPOSE_IN_BREAK % (guard, window))
    result = check_by_name(model, ["no_spurious_break"])["no_spurious_break"]
    assert result.status is verdict
    assert result.stats.states == {Status.HOLDS: 442, Status.VIOLATED: 198}[verdict]
    # Spurious: the break itself, from spin_lock(L) to the first spin_lock(L) inside it.
    steps = len(result.trace.steps) if result.trace else 0
    assert steps == {Status.HOLDS: 0, Status.VIOLATED: 9}[verdict]


def test_counting_the_critical_section_as_a_break_reports_a_false_spurious_break(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lockset, "_held_since_head", lambda *_: True)
    model = kernel_model(tmp_path, DISPOSE_IN_BREAK % ("need_resched()", "cond_resched();"))
    result = check_by_name(model, ["no_spurious_break"])["no_spurious_break"]
    assert result.status is Status.VIOLATED


# ------------------------------------------------------------------ engines agree

@pytest.mark.parametrize("name", ["kvm-zap-stale-v5.17", "zone-batch-spurious-v5.17"])
def test_the_vectorised_engine_agrees_with_the_plain_one(name: str, tmp_path: Path) -> None:
    path = SCENARIOS / f"{name}.toml"
    runs = [check_json(tmp_path, path, *args)[1] for args in ((), ("--plain-bfs",))]
    fields = [[(r["property"], r["status"], r["states"], r["depth"]) for r in run]
              for run in runs]
    assert fields[0] == fields[1]


SAFETY = [p.name for p in CATALOGUE if p.kind is PropertyKind.SAFETY]
# One CPU on a uniprocessor: z3 decides every safety verdict completely. It breaks its lock
# in open code, for its own reschedule (justified) or only when none is due (spurious).
UP_BREAK = """
name = "up-break"
[kernel]
version = "v5.17"
smp = false
[locks]
B = "spin"
[data]
X = "B"
[[cpu]]
wakeups = 1
code = \"\"\"
spin_lock(B);
read(X);
repeat (2) {
    use(X);
    if (%s) {
        spin_unlock(B);
        cond_resched();
        spin_lock(B);
        read(X);
    }
}
spin_unlock(B);
\"\"\"
"""


@pytest.mark.slow
@pytest.mark.parametrize(("guard", "spurious"), [("need_resched()", Status.HOLDS),
                                                 ("!need_resched()", Status.VIOLATED)])
def test_z3_verdicts_agree_with_the_explicit_engine_at_an_open_coded_break(
        tmp_path: Path, guard: str, spurious: Status) -> None:
    model = kernel_model(tmp_path, UP_BREAK % guard)
    explicit = check_by_name(model, SAFETY)
    symbolic = {r.property: r.status
                for r in check(SymbolicKernel(model), properties=SAFETY, depth=40)}
    assert symbolic == {name: explicit[name].status for name in SAFETY}
    assert symbolic["no_spurious_break"] is spurious
    assert symbolic["no_stale_use"] is Status.HOLDS          # witnessed by the break


@pytest.mark.slow
@pytest.mark.parametrize("name", ["kvm-zap-revalidate-v5.17", "kvm-zap-stale-v5.17"])
def test_the_z3_twin_steps_like_the_explicit_model_at_open_coded_breaks(name: str) -> None:
    model = KernelModel(build_world(load(SCENARIOS / f"{name}.toml", Overrides())), specs())
    twin = SymbolicKernel(model)
    solver = relation_solver(twin)
    states = first_states(model, 150)
    breaking = 0
    for state in states:
        explicit = explicit_successors(model, state)
        assert symbolic_successors(twin, solver, model, state) == explicit, model.view(state)
        breaking += any(w & (1 << model.property_names.index("no_stale_use"))
                        for _, _, _, w in explicit)
    assert breaking            # the sample reaches a break with the root held


@needs_spin
@pytest.mark.slow
@pytest.mark.parametrize("name", ["kvm-zap-revalidate-v5.17", "kvm-zap-stale-v5.17",
                                  "evict-inodes-again-v5.17", "inode-walk-restart-v5.17"])
def test_spin_agrees_at_open_coded_breaks(name: str) -> None:
    scenario = load(SCENARIOS / f"{name}.toml", Overrides())
    verdicts, states = lockbreak_run(scenario)
    spin = spin_run(scenario)
    assert spin.verdicts == verdicts
    assert spin.states == states
    assert verdicts["no_spurious_break"].value == "holds"     # witnessed: a break happened


@pytest.mark.slow
@pytest.mark.parametrize(("name", "prop"), [("zone-batch-spurious-v5.17", "no_spurious_break"),
                                            ("kvm-zap-stale-v5.17", "no_stale_use")])
def test_random_search_finds_the_open_coded_violations(name: str, prop: str,
                                                       tmp_path: Path) -> None:
    _, results = check_json(tmp_path, SCENARIOS / f"{name}.toml", "--engine", "hypothesis",
                            "--seed", "1", "--budget", "100", "-p", prop)
    assert results[0]["status"] == "violated"
