"""``lockbreak replay``: re-execute a JSON trace step by step and re-check its property."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lockbreak.cli.checking import Overrides, load
from lockbreak.core import LockbreakError, PropertyKind, Step, Trace
from lockbreak.engines.graph import reachable_graph
from lockbreak.report.traces import TRACE_SCHEMA, actions_of, render_trace, why
from model.kernel import Action, KernelModel
from model.world import build_world
from properties.catalogue import by_name


class _StartingAt:
    """``model`` with its initial state replaced: is the end of a trace really stuck?"""

    def __init__(self, model: KernelModel, state: int) -> None:
        self._model, self._state = model, state

    def init_states(self) -> Sequence[int]:
        return [self._state]

    def __getattr__(self, name: str) -> Any:   # everything else is the kernel model's
        return getattr(self._model, name)


def _read(path: Path) -> tuple[dict[str, Any], list[Action]]:
    """The trace's JSON and its actions, or a `LockbreakError` saying what is wrong."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise LockbreakError(f"{path}: not a readable JSON trace ({err})") from None
    if not isinstance(data, dict) or data.get("schema") != TRACE_SCHEMA:
        raise LockbreakError(f"{path}: not a lockbreak trace (expected schema {TRACE_SCHEMA})")
    try:
        meta = data["scenario"]
        overrides = meta.get("overrides", {})
        unknown = set(overrides) - {"version", "lock", "preempt"}
        if unknown:
            raise ValueError(f"unknown override {sorted(unknown)[0]!r}")
        str(meta["file"]), str(meta["sha256"]), str(data["property"])
        actions = actions_of(data)
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise LockbreakError(f"{path}: a malformed lockbreak trace ({err}); rerun `lockbreak "
                             "check` to write it again") from None
    return data, actions


def replay_file(path: Path) -> tuple[str, bool]:
    """Replay the trace in ``path``; returns the report and whether the violation recurred."""
    data, actions = _read(path)
    meta = data["scenario"]
    scenario = load(Path(meta["file"]), Overrides(**meta.get("overrides", {})))
    if scenario.sha256 != meta["sha256"]:
        raise LockbreakError(
            f"{path}: {meta['file']} changed since this trace was written; "
            "rerun `lockbreak check` to get a trace of the current scenario")
    prop = by_name(data["property"])
    model = KernelModel(build_world(scenario), [prop.spec()])
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
    if prop.kind is PropertyKind.CAN_FINISH:
        stuck = reachable_graph(_StartingAt(model, state)).first_stuck(model)
        reproduced = stuck is not None and stuck[0] == 0
    else:
        reproduced = bool(last_violated)
    verdict = (f"replayed: {prop.name} violated again at step {len(steps)}" if reproduced
               else f"replayed: {prop.name} is NOT violated by this trace any more")
    lines = [render_trace(model, trace, f"{scenario.name}: {len(steps)} steps",
                          why(model, trace, prop.name) if reproduced else ""), verdict]
    lines += [f"  mismatch: {m}" for m in mismatches]
    return "\n".join(lines), reproduced and not mismatches
