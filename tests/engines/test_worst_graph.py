"""Worst cases under lockstep timing on the vectorised engine's graph
(`lockbreak.engines.fair_graph` over `factored.Lockstep`) against the plain engine's
(`lockbreak.engines.liveness` over `LockstepKernelModel.moves`).

On one model both must store the same states and give the same verdicts, worst cases and the
very same worst-case traces, for every public scenario; each trace must replay, and a bounded
worst case must be what the trace's last step measures. Models whose tick bookkeeping is
broken in the parts (each a plausible slip) must be told apart by that same comparison.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from lockbreak.core import CheckResult, PropertyKind, Status
from lockbreak.engines import fair_graph, plain_bfs
from lockbreak.engines.liveness import ticks_open_at_end
from model.lockstep import LockstepKernelModel, kernel_model
from model.scenario import load_scenario
from model.world import build_world
from properties.catalogue import KNOWN, of_kind, specs
from tests.engines.test_fair_graph import assert_same, everything
from tests.support.paths import REPO
from tests.support.toys import DONE, HOLDING, TRY

WORST = of_kind(PropertyKind.WORST)
PUBLIC = sorted((REPO / "scenarios").glob("*.toml"))

def lockstep_model(path: Path, cls: type[LockstepKernelModel] = LockstepKernelModel
                   ) -> LockstepKernelModel:
    scenario = load_scenario(path, known_properties=KNOWN)
    return cls(build_world(scenario), specs(WORST))


def assert_measured(model: LockstepKernelModel, results: list[CheckResult]) -> None:
    """Each bounded worst case is what its trace's last step closes after."""
    for result in results:
        if result.status is Status.HOLDS and result.worst is not None:
            assert result.trace is not None
            bit = model.property_names.index(result.property)
            assert ticks_open_at_end(model, result.trace, bit) == result.worst


@pytest.mark.parametrize("path", PUBLIC, ids=lambda p: p.stem)
def test_public_scenarios_worst_cases_agree_with_the_plain_engine(path: Path) -> None:
    model = lockstep_model(path)
    # `*` choices and the lazy scheduler tick are left to the plain engine.
    assert fair_graph.serves(model) == (not any(model.world.lazy))
    assert_measured(model, assert_same(model))


def test_the_scenario_timing_picks_the_same_lockstep_model() -> None:
    """`run_scenario`'s lockstep phase builds this model, which the graph now serves."""
    path = REPO / "scenarios" / "stale-data-reread-v2.6.9-lockstep.toml"
    scenario = load_scenario(path, known_properties=KNOWN)
    model = kernel_model(build_world(scenario), specs(WORST), "lockstep")
    assert isinstance(model, LockstepKernelModel) and fair_graph.serves(model)


class EveryStepEndsATick(LockstepKernelModel):
    """Broken: the parts forget that a CPU yet to step keeps the tick going, so every step
    ends a tick (an off-by-one in each tick's length, on the vectorised side only)."""

    def tick_entry(self, cpu: int, own: int) -> tuple[int, int, int, int]:
        arrived, _, moved, fresh = super().tick_entry(cpu, own)
        return arrived, 0, moved, fresh


class ArrivesMidTick(LockstepKernelModel):
    """Broken: the parts never say a CPU has moved, so CPUs may arrive in the middle of a
    tick (the arrival phases of the vectorised side are not the plain engine's; with two
    CPUs no tick has a middle with one yet to arrive, so it takes three)."""

    def tick_entry(self, cpu: int, own: int) -> tuple[int, int, int, int]:
        arrived, waiting, _, fresh = super().tick_entry(cpu, own)
        return arrived, waiting, 0, fresh


@pytest.mark.parametrize("broken", [EveryStepEndsATick, ArrivesMidTick],
                         ids=lambda cls: cls.__name__)
def test_broken_tick_bookkeeping_is_caught_by_the_agreement(
        broken: type[LockstepKernelModel]) -> None:
    model = lockstep_model(REPO / "scenarios" / "ticket-v2.6.25.toml", broken)
    plain = [everything(r) for r in plain_bfs.check(model)]
    assert [everything(r) for r in fair_graph.check(model)] != plain


class LockstepSpinners:
    """A toy under lockstep timing, written twice: ``n`` processes on a test-and-set lock, as
    in `toys.Spinners`, each arriving when it likes and then stepping once per tick.

    The plain side (`moves`, `successors`) keeps the whole state in one int (the lock in bit
    0, process ``i``'s pc in bits ``2i + 1`` and up, then the moved and the arrived masks)
    and applies the tick rule directly; the factored side (`split`, `step_entry`,
    `tick_entry`) gives each process the part ``pc << 2 | arrived << 1 | moved`` and leaves
    the tick rule to the vectorised engine. With ``blocking``, a process that finds the lock
    taken sleeps instead of spinning (it cannot step until the lock is free), so a tick may
    end with a process unable to step, or go on when a release lets it step after all.
    """

    property_names = ("served", "wait")
    property_kinds = (PropertyKind.FAIR, PropertyKind.WORST)
    factored = False
    wake_agents = ()

    def __init__(self, n: int, forever: bool, blocking: bool) -> None:
        self.n, self.forever, self.blocking = n, forever, blocking
        self.agents = tuple(f"p{i}" for i in range(n))
        self.must_finish = 0 if forever else (1 << n) - 1
        self.moved_at, self.arrived_at = 1 + 2 * n, 1 + 3 * n

    # the plain side

    def pcs(self, state: int) -> list[int]:
        return [state >> (2 * i + 1) & 3 for i in range(self.n)]

    def _step(self, state: int, agent: int) -> int | None:
        """The agent's step on the whole state, tick bits untouched."""
        pc, lock = self.pcs(state)[agent], state & 1
        shift = 2 * agent + 1
        if pc == TRY and not lock:
            return (state | 1) + ((HOLDING - TRY) << shift)
        if pc == TRY:
            return None if self.blocking else state
        if pc == HOLDING:
            return (state & ~1) + (((TRY if self.forever else DONE) - HOLDING) << shift)
        return None

    def moves(self, state: int) -> list[tuple[int, int, int]]:
        everyone = (1 << self.n) - 1
        moved = state >> self.moved_at & everyone
        arrived = state >> self.arrived_at
        out = []
        if not moved:
            out += [(a, state | 1 << (self.arrived_at + a), 0) for a in range(self.n)
                    if not arrived >> a & 1]
        for a in range(self.n):
            if not arrived >> a & 1 or moved >> a & 1:
                continue
            after = self._step(state, a)
            if after is None:
                continue
            now = moved | 1 << a
            going = any(arrived >> b & 1 and not now >> b & 1
                        and self._step(after, b) is not None for b in range(self.n))
            after = after & ~(everyone << self.moved_at)
            out.append((a, after | (now if going else 0) << self.moved_at, int(not going)))
        return out

    def init_states(self) -> Sequence[int]:
        return (sum(TRY << (2 * i + 1) for i in range(self.n)),)

    def successors(self, state: int) -> list[tuple[int, int, int, int]]:
        return [(k, after, 0, 0) for k, (_, after, _) in enumerate(self.moves(state))]

    def actions(self, state: int) -> Sequence[tuple[str, int]]:
        return tuple((self.agents[a], k) for k, (a, _, _) in enumerate(self.moves(state)))

    def next_state(self, state: int, action: tuple[str, int]) -> int:
        return self.moves(state)[action[1]][1]

    def observe(self, before: object, action: object, after: int) -> tuple[int, int]:
        return 0, 0

    def done(self, state: int) -> int:
        return sum(1 << a for a, pc in enumerate(self.pcs(state)) if pc == DONE)

    def obligations(self, state: int) -> int:
        waiting = sum(1 << a for a, pc in enumerate(self.pcs(state)) if pc == TRY)
        return waiting | waiting << self.n

    # the factored side

    def split(self, state: int) -> tuple[int, ...]:
        moved, arrived = state >> self.moved_at, state >> self.arrived_at
        return (state & 1, *(pc << 2 | (arrived >> a & 1) << 1 | (moved >> a & 1)
                             for a, pc in enumerate(self.pcs(state))))

    def join(self, ids: Sequence[int]) -> int:
        state = int(ids[0])
        for a, own in enumerate(int(i) for i in ids[1:]):
            state |= (own >> 2) << (2 * a + 1) | (own & 1) << (self.moved_at + a)
            state |= (own >> 1 & 1) << (self.arrived_at + a)
        return state

    def step_entry(self, agent: int, own: int, shared: int) -> tuple[int, int, int, int] | None:
        if own & 3 != 2:
            return None
        pc = own >> 2
        if pc == TRY and not shared:
            return HOLDING << 2 | 3, 1, 0, 0
        if pc == TRY:
            return None if self.blocking else (own | 1, shared, 0, 0)
        if pc == HOLDING:
            return (TRY if self.forever else DONE) << 2 | 3, 0, 0, 0
        return None

    def wake_entry(self, agent: int, own: int) -> None:
        return None

    def tick_entry(self, agent: int, own: int) -> tuple[int, int, int, int]:
        return (-1 if own & 2 else own | 2), int(own & 3 == 2), own & 1, own & ~1

    def finished(self, agent: int, own: int) -> bool:
        return own >> 2 == DONE

    def owed(self, agent: int, own: int, shared: int) -> int:
        return 0b11 if own >> 2 == TRY else 0


@pytest.mark.parametrize("blocking", [False, True], ids=["spinning", "blocking"])
@pytest.mark.parametrize("forever", [False, True], ids=["once", "forever"])
@pytest.mark.parametrize("n", [2, 3])
def test_the_toy_under_lockstep_timing_agrees_with_its_plain_twin(
        n: int, forever: bool, blocking: bool) -> None:
    model = LockstepSpinners(n, forever, blocking)
    assert fair_graph.serves(model)
    results = {r.property: r for r in assert_same(model)}
    wait = results["wait"]
    if forever and not blocking:
        assert wait.status is Status.VIOLATED      # a spinner can lose every race
    elif not forever:
        assert wait.status is Status.HOLDS and wait.worst is not None and wait.worst > 0
        assert wait.trace is not None
        assert ticks_open_at_end(model, wait.trace, 1) == wait.worst
