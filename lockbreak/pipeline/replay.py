"""A recorded trace re-executed on the scenario's model as it is now, and its property
re-checked: the library half of ``lockbreak replay`` (the command reads the file and renders).

The trace's own scenario is loaded with the overrides it was written under and must be the
file it was written from (same SHA-256); every recorded action must be enabled where it is
taken. What the trace showed is then asked again of the engine that decides that kind of
property on one trace: a state that violates a safety property, a stuck end, a fair lasso,
a wait as long as the recorded worst case.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lockbreak.core import LockbreakError, PropertyKind, Step, Trace
from lockbreak.engines.graph import reachable_graph
from lockbreak.engines.liveness import open_forever, ticks_open_at_end, ticks_open_now
from lockbreak.pipeline.check import load
from lockbreak.pipeline.request import Overrides
from model.kernel import Action, KernelModel
from model.lockstep import kernel_model
from model.scenario.types import Scenario
from model.world import build_world
from properties.catalogue import by_name


@dataclass(frozen=True)
class Replayed:
    """A trace replayed: the model it ran on, the trace rebuilt on it, whether it still shows
    what it was written for (``reproduced``, with the verdict line's words) and the steps whose
    text changed since (``mismatches``)."""

    scenario: Scenario
    model: KernelModel
    trace: Trace[int, Action]
    property: str
    reproduced: bool
    verdict: str
    mismatches: tuple[str, ...]


class _StartingAt:
    """``model`` with its initial state replaced: is the end of a trace really stuck?"""

    def __init__(self, model: KernelModel, state: int) -> None:
        self._model, self._state = model, state

    def init_states(self) -> Sequence[int]:
        return [self._state]

    def __getattr__(self, name: str) -> Any:   # everything else is the kernel model's
        return getattr(self._model, name)


def replay(path: Path, data: dict[str, Any], actions: Sequence[Action]) -> Replayed:
    """Replay the trace read from ``path`` (its JSON ``data`` and its ``actions``)."""
    meta = data["scenario"]
    scenario = load(Path(meta["file"]), Overrides(**meta.get("overrides", {})))
    if scenario.sha256 != meta["sha256"]:
        raise LockbreakError(
            f"{path}: {meta['file']} changed since this trace was written; "
            "rerun `lockbreak check` to get a trace of the current scenario")
    prop = by_name(data["property"])
    model = kernel_model(build_world(scenario), [prop.spec()])
    if len(actions) != len(data["steps"]):
        raise LockbreakError(f"{path}: a malformed lockbreak trace (steps and actions differ)")
    state = model.init_states()[0]
    steps, mismatches, last_violated = [], [], 0
    for number, (action, recorded) in enumerate(zip(actions, data["steps"], strict=True), 1):
        enabled = model.actions(state)
        if action not in enabled:
            raise LockbreakError(f"{path}: step {number}: {action} cannot move here; the trace "
                                 "does not replay on this model")
        text = model.step_info(state, action).text
        if text != recorded.get("text"):
            mismatches.append(f"step {number}: now '{text}', recorded '{recorded.get('text')}'")
        after = model.next_state(state, action)
        last_violated, _ = model.observe(state, action, after)
        steps.append(Step(enabled.index(action), action, after))
        state = after
    trace = Trace(model.init_states()[0], tuple(steps), data.get("loop_start"))
    expected = scenario.expect.get(prop.name)
    reproduced, verdict = _recheck(model, trace, data, prop.kind, bool(last_violated),
                                   expected.max if expected is not None else None)
    return Replayed(scenario, model, trace, prop.name, reproduced, verdict, tuple(mismatches))


def _recheck(model: KernelModel, trace: Trace[int, Action], data: dict[str, Any],
             kind: PropertyKind, last_violated: bool, bound: int | None = None
             ) -> tuple[bool, str]:
    """Whether the replayed ``trace`` still shows what it was written for, and what it shows
    (``bound``: the scenario's ``max`` for a worst case, which a wait may be shown to pass)."""
    end = f"at step {len(trace)}"
    if kind is PropertyKind.CAN_FINISH:
        stuck = reachable_graph(_StartingAt(model, trace.states[-1])).first_stuck(model)
        reproduced = stuck is not None and stuck[0] == 0
    elif kind is PropertyKind.SAFETY:
        reproduced = last_violated
    elif data.get("worst") is not None:         # a WORST property's worst case
        ticks = ticks_open_at_end(model, trace, 0)
        beyond = bound is not None and ticks is not None and ticks > bound
        if ticks is not None and ticks == data.get("worst") and data.get("status") == "holds":
            return True, f"worst case of {ticks} ticks attained again, ending {end}"
        if ticks is not None and ticks == data.get("worst") and beyond:
            return True, (f"violated again: the worst case of {ticks} ticks, more than "
                          f"max = {bound}, is attained again, ending {end}")
        return False, (f"does NOT attain its recorded worst case of {data.get('worst')} ticks "
                       f"any more (this trace: {ticks})")
    elif (kind is PropertyKind.WORST and bound is not None and trace.loop_start is None
          and model.moves(trace.states[-1])):          # a wait longer than max (z3's BMC)
        ticks = max(ticks_open_now(model, trace, 0), default=0)
        if ticks > bound:
            return True, f"violated again {end}: a wait of {ticks} ticks, more than max = {bound}"
        return False, f"is NOT violated by this trace any more (a wait of {ticks} ticks)"
    else:
        who = open_forever(model, trace, 0, fair=kind is PropertyKind.FAIR)
        reproduced = who is not None
        end = f"for {who}, forever from step {trace.loop_start}" if trace.loop_start is not None \
            else f"for {who}: nothing can move {end}"
    if reproduced:
        return True, f"violated again {end}"
    return False, "is NOT violated by this trace any more"
