"""``lockbreak replay``: re-execute a JSON trace step by step and re-check its property."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from lockbreak.cli.checking import Overrides, load
from lockbreak.core import LockbreakError, PropertyKind, Status, Step, Trace
from lockbreak.engines.explicit import check
from lockbreak.report.traces import TRACE_SCHEMA, actions_of, render_trace
from model.kernel import KernelModel
from model.world import build_world
from properties.catalogue import by_name


class _StartingAt:
    """``model`` with its initial state replaced: is the end of a trace really stuck?"""

    def __init__(self, model: KernelModel, state: int) -> None:
        self._model, self._state = model, state

    def init_states(self) -> Sequence[int]:
        return [self._state]

    def __getattr__(self, name: str) -> object:
        return getattr(self._model, name)


def replay_file(path: Path) -> tuple[str, bool]:
    """Replay the trace in ``path``; returns the report and whether the violation recurred."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise LockbreakError(f"{path}: not a readable JSON trace ({err})") from None
    if not isinstance(data, dict) or data.get("schema") != TRACE_SCHEMA:
        raise LockbreakError(f"{path}: not a lockbreak trace (expected schema {TRACE_SCHEMA})")
    meta = data["scenario"]
    scenario = load(Path(meta["file"]), Overrides(**meta.get("overrides", {})))
    if scenario.sha256 != meta["sha256"]:
        raise LockbreakError(
            f"{path}: {meta['file']} changed since this trace was written; "
            "rerun `lockbreak check` to get a trace of the current scenario")
    prop = by_name(data["property"])
    model = KernelModel(build_world(scenario), [prop.spec()])
    state = model.init_states()[0]
    steps, mismatches, last_violated = [], [], 0
    for number, (action, recorded) in enumerate(
            zip(actions_of(data), data["steps"], strict=True), 1):
        if action not in model.actions(state):
            raise LockbreakError(f"{path}: step {number}: {action} cannot move here; the trace "
                                 "does not replay on this model")
        text = model.step_info(state, action).text
        if text != recorded["text"]:
            mismatches.append(f"step {number}: now '{text}', recorded '{recorded['text']}'")
        after = model.next_state(state, action)
        last_violated, _ = model.observe(state, action, after)
        steps.append(Step(model.actions(state).index(action), action, after))
        state = after
    trace = Trace(model.init_states()[0], tuple(steps), data.get("loop_start"))
    if prop.kind is PropertyKind.CAN_FINISH:
        [result] = check(_StartingAt(model, state))  # type: ignore[arg-type]
        reproduced = result.status is Status.VIOLATED and result.trace is not None and not len(
            result.trace)
    else:
        reproduced = bool(last_violated)
    verdict = (f"replayed: {prop.name} violated again at step {len(steps)}" if reproduced
               else f"replayed: {prop.name} is NOT violated by this trace any more")
    lines = [render_trace(model, trace, f"{scenario.name}: {len(steps)} steps"), verdict]
    lines += [f"  mismatch: {m}" for m in mismatches]
    return "\n".join(lines), reproduced and not mismatches

