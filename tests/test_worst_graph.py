"""Worst cases under lockstep timing on the vectorised engine's graph
(`lockbreak.engines.fair_graph` over `frontier.Lockstep`) against the plain engine's
(`lockbreak.engines.liveness` over `LockstepKernelModel.moves`).

On one model both must store the same states and give the same verdicts, worst cases and the
very same worst-case traces, for every public scenario; each trace must replay, and a bounded
worst case must be what the trace's last step measures. Models whose tick bookkeeping is
broken in the parts (each a plausible slip) must be told apart by that same comparison.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_fair_graph import REPO, assert_same, everything

from lockbreak.core import CheckResult, PropertyKind, Status
from lockbreak.engines import explicit, fair_graph
from lockbreak.engines.liveness import ticks_open_at_end
from model.lockstep import LockstepKernelModel, kernel_model
from model.scenario import load_scenario
from model.world import build_world
from properties.catalogue import KNOWN, of_kind, specs

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
    assert fair_graph.serves(model) == (not model.choice_agents)
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
    plain = [everything(r) for r in explicit.check(model)]
    assert [everything(r) for r in fair_graph.check(model)] != plain
