"""`lockbreak prove`: each era's loop proved (or not) for every number of CPUs.

Pinned: which goals each era proves and which fail, for the flat loop (only L held at the
lock-break site) and the nested one (another lock held too). The failures are the kernel's
own history: the 2005 return-value bug in v2.6.9 and v2.6.11, and the schedule while atomic
of a nested caller in every era from v2.6.8 to v4.15-rc except v2.6.12 (docs/semantics.md
section 9). A deliberately broken relock is caught with a counterexample to induction, and the
explicit engine with 2 CPUs agrees with every verdict.
"""

from __future__ import annotations

import pytest

from lockbreak.core import Status
from lockbreak.engines.plain_bfs import check
from model.eras import ERAS, Primitive, get_era
from model.kernel import KernelModel
from model.proofs.loops import compile_loop, explicit_world
from model.proofs.prove import LoopProof, Verdict, prove_era, prove_loop
from properties.catalogue import specs

NESTED_SLEEPS = {"v2.6.8", "v2.6.8-mm", "v2.6.9", "v2.6.11", "v2.6.20", "v2.6.25", "v4.15-rc"}
RETURN_LIES = {"v2.6.9", "v2.6.11"}
VOID_RETURN = {"v2.6.8", "v2.6.8-mm"}
FIFO = {"v2.6.25", "v4.15", "v5.17", "v6.11", "v6.13"}


def expected(era: str, shape: str) -> dict[str, Verdict]:
    """The pinned verdict of every goal."""
    out = dict.fromkeys(("mutual_exclusion", "no_sleep_in_atomic", "holds_before",
                         "holds_after", "preempt_count_restored", "break_return_truth",
                         "fifo_no_overtaking", "fifo_one_per_interval"), Verdict.PROVED)
    if shape == "nested" and era in NESTED_SLEEPS:
        out["no_sleep_in_atomic"] = Verdict.FAILED
    if era in RETURN_LIES:
        out["break_return_truth"] = Verdict.FAILED
    if era in VOID_RETURN:
        out["break_return_truth"] = Verdict.NOT_APPLICABLE
    if era not in FIFO:
        out["fifo_no_overtaking"] = out["fifo_one_per_interval"] = Verdict.NOT_APPLICABLE
    return out


@pytest.fixture(scope="module")
def proofs() -> dict[tuple[str, str], LoopProof]:
    return {(era, p.loop.shape): p for era in ERAS for p in prove_era(ERAS[era])}


@pytest.mark.slow
@pytest.mark.parametrize("era", list(ERAS))
@pytest.mark.parametrize("shape", ["flat", "nested"])
def test_pinned_verdicts(proofs: dict[tuple[str, str], LoopProof], era: str, shape: str) -> None:
    proof = proofs[(era, shape)]
    got = {r.goal.name: r.verdict for r in proof.results}
    assert got == expected(era, shape)
    assert proof.invariant and proof.conjuncts > 50


@pytest.mark.slow
def test_every_failure_shows_a_counterexample_to_induction(
        proofs: dict[tuple[str, str], LoopProof]) -> None:
    failures = [(key, r) for key, p in proofs.items() for r in p.results
                if r.verdict is Verdict.FAILED]
    assert len(failures) == 7 + 2 * 2
    for _, r in failures:
        text = "\n".join(r.cti)
        assert text.startswith("counterexample to induction with ")
        assert "a state the invariant allows:" in text and "  step: cpu" in text
        assert text.endswith(f"{r.goal.name} broken: {r.goal.statement}")


def test_the_return_value_bug_in_kernel_words() -> None:
    proof = prove_loop(compile_loop(get_era("v2.6.9"), shape="flat"))
    text = "\n".join(proof.result("break_return_truth").cti)
    assert "cond_resched_lock(L) returns 0 after dropping L" in text


@pytest.mark.slow
def test_a_nested_schedule_while_atomic_in_kernel_words() -> None:
    proof = prove_loop(compile_loop(get_era("v2.6.20"), shape="nested"))
    text = "\n".join(proof.result("no_sleep_in_atomic").cti)
    assert "step: cpu0: cond_resched_lock(L): schedule()" in text
    assert "preempt_count 1" in text.split("step:")[0]


# A relock that skips the retry: one trylock after the break, and the code carries on as if
# it had the lock again.
NO_RETRY = get_era("v2.6.12").patch(
    "v2.6.12-no-retry", "relock without retry (broken on purpose)", "tests",
    cond_resched_lock=Primitive("""
        int ret = 0;
        if (need_lockbreak(lock)) {
            spin_unlock(lock);
            cpu_relax();
            ret = 1;
            preempt_disable();
            arch_spin_trylock(lock);
        }
        return ret;
    """, returns=True))


def test_a_relock_without_retry_fails_with_a_counterexample_to_induction() -> None:
    proof = prove_loop(compile_loop(NO_RETRY, shape="flat"))
    assert proof.result("mutual_exclusion").verdict is Verdict.FAILED
    assert proof.result("holds_after").verdict is Verdict.FAILED
    assert proof.result("no_sleep_in_atomic").verdict is Verdict.PROVED
    after = "\n".join(proof.result("mutual_exclusion").cti).split("after it:")[1]
    assert after.count("holds L") == 2
    # and it is a real bug: 2 concrete CPUs reach a double hold
    model = KernelModel(explicit_world(compile_loop(NO_RETRY), 2, 0), specs())
    result = {r.property: r for r in check(model, properties=["mutual_exclusion"])}
    assert result["mutual_exclusion"].status is Status.VIOLATED


AGREEMENT = [("v2.6.9", "flat"), ("v2.6.11", "nested"), ("v2.6.12", "nested"),
             ("v2.6.20", "nested"), ("v2.6.25", "nested"), ("v5.17", "nested")]
CHECKED = ("mutual_exclusion", "no_sleep_in_atomic", "break_return_truth")


@pytest.mark.slow
@pytest.mark.parametrize(("era", "shape"), AGREEMENT)
def test_explicit_engine_with_2_cpus_agrees(era: str, shape: str) -> None:
    loop = compile_loop(get_era(era), shape=shape)
    proof = prove_loop(loop)
    model = KernelModel(explicit_world(loop, 2, 1), specs())
    explicit = {r.property: r.status for r in check(model, properties=list(CHECKED))}
    for name in CHECKED:
        verdict = proof.result(name).verdict
        if verdict is Verdict.PROVED:
            assert explicit[name] in (Status.HOLDS, Status.VACUOUS), name
        if verdict is Verdict.FAILED:
            assert explicit[name] is Status.VIOLATED, name
    assert explicit["mutual_exclusion"] is Status.HOLDS       # witnessed: CPUs did contend


@pytest.mark.slow
def test_explicit_engine_with_3_cpus_agrees() -> None:
    for era, shape in [("v2.6.25", "nested"), ("v5.17", "nested")]:
        loop = compile_loop(get_era(era), shape=shape)
        proof = prove_loop(loop)
        model = KernelModel(explicit_world(loop, 3, 1), specs())
        explicit = {r.property: r.status for r in check(model, properties=list(CHECKED))}
        for name in CHECKED:
            want = {Verdict.PROVED: Status.HOLDS, Verdict.FAILED: Status.VIOLATED}
            assert explicit[name] is want[proof.result(name).verdict], (era, name)


def test_undecided_is_never_proved() -> None:
    proof = prove_loop(compile_loop(get_era("v2.6.12"), shape="flat"), timeout_ms=1)
    assert {r.verdict for r in proof.results} == {Verdict.UNDECIDED}


@pytest.mark.slow
def test_a_proof_whose_witness_two_cpus_never_reach_is_vacuous() -> None:
    # v5.17 with a test-and-set lock: contention is invisible (contended = 0) and, holding
    # another lock, the reschedule test preempt_count == 1 never passes: no call ever drops L
    proof = prove_loop(compile_loop(get_era("v5.17"), "tas", "nested"))
    contracts = ("holds_before", "holds_after", "preempt_count_restored", "break_return_truth")
    for name in contracts:
        assert proof.result(name).verdict is Verdict.VACUOUS, name
        assert proof.result(name).note == "never seen: cond_resched_lock(L) drops L"
    assert proof.result("mutual_exclusion").verdict is Verdict.PROVED
    # a ticket lock under v2.6.12's spin_lock only ever trylocks: nobody queues
    ticket = prove_loop(compile_loop(get_era("v2.6.12"), "ticket", "flat"))
    assert ticket.result("fifo_no_overtaking").verdict is Verdict.VACUOUS
