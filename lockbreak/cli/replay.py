"""``lockbreak replay``: re-execute a JSON trace step by step and re-check its property."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lockbreak.core import LockbreakError, PropertyKind, Step, Trace
from lockbreak.engines.graph import reachable_graph
from lockbreak.engines.liveness import open_forever, ticks_open_at_end, ticks_open_now
from lockbreak.pipeline import Overrides, load
from lockbreak.report.traces import TRACE_SCHEMA, actions_of, render_trace, why
from model.kernel import Action, KernelModel
from model.lockstep import kernel_model
from model.world import build_world
from properties.catalogue import by_name

# A trace holds one short record per step; a file larger than this is not one.
MAX_TRACE_BYTES = 64 << 20


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
        with path.open("rb") as src:
            raw = src.read(MAX_TRACE_BYTES + 1)
        if len(raw) > MAX_TRACE_BYTES:
            raise LockbreakError(f"{path}: larger than {MAX_TRACE_BYTES // 2**20} MiB: not a "
                                 "lockbreak trace; check the path")
        data = json.loads(raw)
    except (OSError, ValueError, RecursionError) as err:    # json recurses per nesting level
        raise LockbreakError(f"{path}: not a readable JSON trace ({err})") from None
    if not isinstance(data, dict) or data.get("schema") != TRACE_SCHEMA:
        raise LockbreakError(f"{path}: not a lockbreak trace (expected schema {TRACE_SCHEMA})")
    try:
        meta = data["scenario"]
        overrides = meta.get("overrides", {})
        unknown = set(overrides) - {"version", "lock", "preempt", "timing"}
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
    lines = [render_trace(model, trace, f"{scenario.name}: {len(steps)} steps",
                          why(model, trace, prop.name)
                          if reproduced and data.get("status") == "violated"
                          and data.get("worst") is None else ""),
             f"replayed: {prop.name} {verdict}"]
    lines += [f"  mismatch: {m}" for m in mismatches]
    return "\n".join(lines), reproduced and not mismatches


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
