"""Counterexample traces in kernel words, and their versioned JSON form.

A text trace numbers the steps, names the CPU that moved and what it executed, and below each
step shows only what changed (lock words, ``break_lock``, a CPU's ``preempt_count`` or
``need_resched``, who holds and who waits). The JSON form keeps the action of every step so
that ``lockbreak replay`` can re-execute it and check that it still reaches the violation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from lockbreak.core import Trace
from model.kernel import Action, CpuView, KernelModel, WorldView

TRACE_SCHEMA = "lockbreak-trace/1"


def _cpu_changes(before: CpuView, after: CpuView) -> list[str]:
    out = []
    if before.preempt_count != after.preempt_count:
        out.append(f"{after.name} preempt_count {before.preempt_count}->{after.preempt_count}")
    if before.need_resched != after.need_resched:
        out.append(f"{after.name} need_resched {before.need_resched}->{after.need_resched}")
    if before.holds != after.holds:
        out.append(f"{after.name} holds {_names(after.holds)}")
    if before.waits_for != after.waits_for:
        out.append(f"{after.name} waits for {_names(after.waits_for)}" if after.waits_for
                   else f"{after.name} stops waiting")
    if after.finished and not before.finished:
        out.append(f"{after.name} finished")
    return out


def _names(items: tuple[str, ...]) -> str:
    return ", ".join(items) if items else "nothing"


def changes(before: WorldView, after: WorldView) -> list[str]:
    """What differs between two views, in kernel words."""
    out = []
    for b, a in zip(before.locks, after.locks, strict=True):
        if b.word != a.word:
            out.append(f"{a.name}: {a.word}")
        if b.break_lock != a.break_lock:
            out.append(f"{a.name}->break_lock {b.break_lock}->{a.break_lock}")
    for b, a in zip(before.cpus, after.cpus, strict=True):
        out += _cpu_changes(b, a)
    for item in sorted(set(after.stale) - set(before.stale)):
        cpu, datum = item.split(":")
        out.append(f"{cpu}'s snapshot of {datum} is stale")
    return out


def initial_lines(view: WorldView) -> list[str]:
    lines = [f"{cpu.name} at {cpu.at}" for cpu in view.cpus]
    lines += [f"{lock.name}: {lock.word}" for lock in view.locks]
    return lines


def render_trace(model: KernelModel, trace: Trace, headline: str) -> str:
    """The numbered, kernel-words rendering of ``trace``."""
    lines = [headline, "   initial: " + "; ".join(initial_lines(model.view(trace.init)))]
    state = trace.init
    width = len(str(len(trace.steps)))
    for number, step in enumerate(trace.steps, 1):
        info = model.step_info(state, step.action)
        before, after = model.view(state), model.view(step.state)
        who = f"cpu{step.action.cpu}"
        text = info.text if not step.action.wakeup else "wakeup: the environment sets need_resched"
        mark = "  <-- repeats from here" if trace.loop_start == number - 1 else ""
        lines.append(f"  {number:>{width}}. {who}: {text}{mark}")
        diff = changes(before, after)
        if diff:
            lines.append(f"  {'':>{width}}  {'; '.join(diff)}")
        state = step.state
    return "\n".join(lines)


def trace_to_json(model: KernelModel, trace: Trace, *, scenario: Mapping[str, Any],
                  property_name: str, status: str) -> dict[str, Any]:
    """The replayable JSON form of ``trace`` (schema ``lockbreak-trace/1``)."""
    steps = []
    state = trace.init
    for step in trace.steps:
        info = model.step_info(state, step.action)
        steps.append({"index": step.index, "cpu": step.action.cpu,
                      "wakeup": step.action.wakeup, "text": info.text})
        state = step.state
    return {
        "schema": TRACE_SCHEMA,
        "scenario": dict(scenario),
        "property": property_name,
        "status": status,
        "loop_start": trace.loop_start,
        "steps": steps,
        "final": asdict(model.view(state)),
    }


def actions_of(data: Mapping[str, Any]) -> list[Action]:
    """The actions recorded in a JSON trace."""
    return [Action(int(s["cpu"]), bool(s["wakeup"])) for s in data["steps"]]
