"""``lockbreak replay``: a JSON trace read and checked for form, replayed by the pipeline
(`lockbreak.pipeline.replay`), and rendered."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lockbreak.core import LockbreakError
from lockbreak.pipeline.replay import replay
from lockbreak.report.traces import TRACE_SCHEMA, actions_of, render_trace, why
from model.kernel import Action

# A trace holds one short record per step; a file larger than this is not one.
MAX_TRACE_BYTES = 64 << 20


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
    done = replay(path, data, actions)
    model, trace = done.model, done.trace
    lines = [render_trace(model, trace, f"{done.scenario.name}: {len(trace.steps)} steps",
                          why(model, trace, done.property)
                          if done.reproduced and data.get("status") == "violated"
                          and data.get("worst") is None else ""),
             f"replayed: {done.property} {done.verdict}"]
    lines += [f"  mismatch: {m}" for m in done.mismatches]
    return "\n".join(lines), done.reproduced and not done.mismatches
