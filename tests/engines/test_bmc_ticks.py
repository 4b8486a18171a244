"""Worst cases in ticks with z3 (`lockbreak.engines.bmc_ticks` over `model.symbolic_lockstep`)
against the explicit engine's (`lockbreak.engines.liveness`).

On scenarios whose explicit worst case W is small, z3 must prove exactly W (attained by BMC,
never exceeded by k-induction or exhaustion), and with ``max = W - 1`` find a violation that the
explicit model re-measures as longer than W - 1, as short in steps as a breadth-first search
over the explicit model's states and waits finds one. An unbounded wait must never hold. A
twin that counts its waits wrongly must be caught by the replay, so these checks can fail.
Every run has a timeout.
"""

from __future__ import annotations

import shutil
from collections import deque
from pathlib import Path

import pytest
import z3
from click.testing import CliRunner

from lockbreak.cli import main
from lockbreak.core import CheckResult, Status
from lockbreak.engines.bmc import EncodingError
from lockbreak.engines.bmc_ticks import check_worst
from lockbreak.engines.liveness import ticks_open_at_end, ticks_open_now
from lockbreak.engines.plain_bfs import check
from lockbreak.pipeline import Overrides, load
from model.lockstep import LockstepKernelModel
from model.symbolic_lockstep import SymbolicLockstepKernel
from model.world import build_world
from properties.catalogue import specs
from tests.support.helpers import load_scenario_text, scenario_toml
from tests.support.paths import REPO

SECONDS = 120.0
# (scenario, property): small explicit worst cases under lockstep timing.
SMALL = [("stale-data-reread-v2.6.9-lockstep", "bounded_wait"),
         ("starvation-ticket-v2.6.25", "bounded_wait")]


def lockstep_model(name: str, prop: str) -> LockstepKernelModel:
    scenario = load(REPO / "scenarios" / f"{name}.toml", Overrides(timing="lockstep"))
    return LockstepKernelModel(build_world(scenario), specs([prop]))


def explicit_worst(model: LockstepKernelModel) -> CheckResult:
    [result] = check(model)
    return result


def z3_worst(model: LockstepKernelModel, bound: int | None, cap: int | None = None,
             induction: bool = True, depth: int = 60, timeout: float = SECONDS) -> CheckResult:
    twin = SymbolicLockstepKernel(model, cap or (bound + 1 if bound is not None else 64))
    [result] = check_worst(twin, {model.property_names[0]: bound}, depth=depth,
                           timeout=timeout, induction=induction)
    return result


def shortest_wait_longer_than(model: LockstepKernelModel, bound: int) -> int:
    """Breadth-first over (state, every CPU's wait so far): the fewest steps to a wait of
    more than ``bound`` ticks."""
    n = len(model.agents)
    start = (model.init_states()[0], (0,) * n)
    depth = {start: 0}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        state, waits = node
        for _, after, tick in model.moves(state):
            opened = model.obligations(after)
            now = tuple(waits[a] + tick if opened >> a & 1 else 0 for a in range(n))
            nxt = (after, now)
            if nxt in depth:
                continue
            depth[nxt] = depth[node] + 1
            if max(now) > bound:
                return depth[nxt]
            queue.append(nxt)
    raise AssertionError(f"no wait longer than {bound} ticks")


@pytest.mark.slow
def test_z3_proves_the_explicit_worst_case_exactly() -> None:
    """Every path of the stale-data scenario ends within 25 steps: BMC is exhaustive."""
    model = lockstep_model("stale-data-reread-v2.6.9-lockstep", "bounded_wait")
    expected = explicit_worst(model)
    assert expected.status is Status.HOLDS and expected.worst == 6
    found = z3_worst(model, None)
    assert found.status is Status.HOLDS, found.detail
    assert found.worst == expected.worst
    # its trace attains the worst case again on the explicit model, ending where it closes
    assert found.trace is not None
    assert ticks_open_at_end(model, found.trace, 0) == expected.worst


@pytest.mark.slow
def test_a_worst_case_z3_cannot_prove_in_time_is_reached_and_undecided() -> None:
    """A forever loop: BMC is never exhaustive and only k-induction can prove the bound, which
    20 seconds on a loaded machine may not allow. z3 proves the explicit worst case, or reaches
    it and says it could not prove it; never another worst case."""
    model = lockstep_model("starvation-ticket-v2.6.25", "bounded_wait")
    expected = explicit_worst(model)
    assert expected.status is Status.HOLDS and expected.worst == 3
    found = z3_worst(model, None, depth=20, timeout=20.0)
    if found.status is Status.HOLDS:
        assert found.worst == expected.worst
    else:
        assert found.status is Status.INCOMPLETE
        assert f"worst case at least {expected.worst} ticks" in found.detail


@pytest.mark.parametrize(("name", "prop"), SMALL)
def test_one_tick_below_the_worst_case_is_violated_by_a_shortest_trace(name: str,
                                                                       prop: str) -> None:
    model = lockstep_model(name, prop)
    worst = explicit_worst(model).worst
    assert worst
    found = z3_worst(model, worst - 1, induction=False)
    assert found.status is Status.VIOLATED, found.detail
    assert found.trace is not None and found.worst is None
    assert max(ticks_open_now(model, found.trace, 0)) > worst - 1
    assert len(found.trace) == shortest_wait_longer_than(model, worst - 1)


@pytest.mark.slow
def test_an_unbounded_wait_never_holds() -> None:
    """Explicit: a tas waiter can lose every race (a cycle with ticks). z3 breaks every bound
    it is given and, without one, reaches its counters' cap and says so."""
    model = lockstep_model("starvation-tas-v2.6.12", "bounded_wait")
    expected = explicit_worst(model)
    assert expected.status is Status.VIOLATED and expected.worst is None
    for bound in (2, 4):
        found = z3_worst(model, bound, induction=False)
        assert found.status is Status.VIOLATED
        assert found.trace is not None
        assert max(ticks_open_now(model, found.trace, 0)) > bound
    capped = z3_worst(model, None, cap=4)
    assert capped.status is Status.INCOMPLETE
    assert "at least 4 ticks" in capped.detail


def test_a_wait_nothing_can_end_is_unbounded(tmp_path: Path) -> None:
    """ABBA under PREEMPT_RT: both CPUs sleep on each other's rt mutex and nothing can move
    (explicit: unbounded). z3 finds that state and reports the wait unbounded."""
    text = scenario_toml("v5.17", ["spin_lock(A); spin_lock(B); spin_unlock(B); spin_unlock(A);",
                                   "spin_lock(B); spin_lock(A); spin_unlock(A); spin_unlock(B);"],
                         locks="AB", preempt="rt", timing="lockstep")
    model = LockstepKernelModel(build_world(load_scenario_text(tmp_path, text)),
                                specs(["bounded_wait"]))
    expected = explicit_worst(model)
    assert expected.status is Status.VIOLATED and expected.worst is None
    found = z3_worst(model, None, induction=False)
    assert found.status is Status.VIOLATED, found.detail
    assert found.trace is not None and "unbounded" in found.detail and found.worst is None
    end = found.trace.states[-1]
    assert not model.moves(end) and model.obligations(end)
    assert len(found.trace) == len(expected.trace or ())


def test_a_wait_that_never_opens_is_vacuous() -> None:
    model = lockstep_model("stale-data-reread-v2.6.9-lockstep", "bounded_latency")
    assert explicit_worst(model).status is Status.VACUOUS
    assert z3_worst(model, None).status is Status.VACUOUS


def test_a_twin_that_counts_steps_not_ticks_is_caught_on_replay() -> None:
    class Steps(SymbolicLockstepKernel):
        def _count(self, bit: int, cpu: int, k: int) -> z3.BoolRef:
            before, after = self.ticks(bit, k)[cpu], self.ticks(bit, k + 1)[cpu]
            start = z3.If(self.open(bit, k)[cpu], before, 0)
            grown = z3.If(z3.ULT(start, self.cap), start + 1, start)
            return after == z3.If(self.open(bit, k + 1)[cpu], grown, 0)

    model = lockstep_model("stale-data-reread-v2.6.9-lockstep", "bounded_wait")
    with pytest.raises(EncodingError, match="the explicit model measures"):
        check_worst(Steps(model, 7), {"bounded_wait": 6}, timeout=SECONDS, induction=False)


@pytest.mark.slow
def test_check_engine_z3_decides_the_worst_cases(tmp_path: Path) -> None:
    scenario = tmp_path / "stale.toml"
    shutil.copy(REPO / "scenarios" / "stale-data-reread-v2.6.9-lockstep.toml", scenario)
    args = ["check", "--engine", "z3", "-p", "bounded_wait", "-p", "bounded_latency",
            "--timeout", "240", "--trace-dir"]
    out = CliRunner().invoke(main, [*args, str(tmp_path / "holds"), str(scenario)])
    assert out.exit_code == 0, out.output
    assert "worst 6 ticks" in out.output and "expected max 6: ok" in out.output
    [trace] = (tmp_path / "holds").glob("*bounded_wait.json")
    replay = CliRunner().invoke(main, ["replay", str(trace)])
    assert replay.exit_code == 0, replay.output
    assert "worst case of 6 ticks attained again" in replay.output
    scenario.write_text(scenario.read_text().replace("bounded_wait = { max = 6 }",
                                                     "bounded_wait = { max = 5 }"))
    out = CliRunner().invoke(main, [*args, str(tmp_path / "violated"), str(scenario)])
    assert out.exit_code == 1, out.output
    assert "more than max = 5" in out.output
    [trace] = (tmp_path / "violated").glob("*bounded_wait.json")
    replay = CliRunner().invoke(main, ["replay", str(trace)])
    assert replay.exit_code == 0, replay.output
    assert "a wait of 6 ticks, more than max = 5" in replay.output
