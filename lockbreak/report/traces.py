"""Counterexample traces in kernel words, and their versioned JSON form.

A text trace numbers the steps, names the CPU that moved and what it executed, and below each
step shows only what changed (lock words, ``break_lock``, a CPU's ``preempt_count`` or
``need_resched``, who holds and who waits). The JSON form keeps the action of every step so
that ``lockbreak replay`` can re-execute it and check that it still reaches the violation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from lockbreak.core import CheckResult, PropertyKind, Trace
from model.cfront.sourcemap import kernel_at, kernel_lines_of
from model.events import Event
from model.kernel import Action, CpuView, KernelModel, WorldView
from model.lockstep import LockstepKernelModel
from properties.catalogue import by_name

TRACE_SCHEMA = "lockbreak-trace/1"
# The JSON Schema of that format, shipped with the package for other tools to validate against.
TRACE_SCHEMA_FILE = Path(__file__).with_name("schemas") / "trace-1.schema.json"


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


def _plain(lock: str) -> str:
    return lock.removesuffix("(r)")


def changes(before: WorldView, after: WorldView, step_text: str = "") -> list[str]:
    """What differs between two views, in kernel words.

    A lock word that only repeats a change of who holds the lock (``A: held by cpu0`` beside
    ``cpu0 holds A``), and a flag change that the step's own text states (``B->break_lock =
    1``), are left out.
    """
    regrabbed = {_plain(lock) for b, a in zip(before.cpus, after.cpus, strict=True)
                 for lock in set(b.holds) ^ set(a.holds)}
    holders = {_plain(lock): cpu.name for cpu in after.cpus for lock in cpu.holds}
    out = []
    for b, a in zip(before.locks, after.locks, strict=True):
        plain_word = a.word in ("free", f"held by {holders.get(a.name)}")
        if b.word != a.word and not (a.name in regrabbed and plain_word):
            out.append(f"{a.name}: {a.word}")
        if b.break_lock != a.break_lock and f"{a.name}->break_lock = " not in step_text:
            out.append(f"{a.name}->break_lock {b.break_lock}->{a.break_lock}")
    for cpu_b, cpu_a in zip(before.cpus, after.cpus, strict=True):
        out += _cpu_changes(cpu_b, cpu_a)
    for item in sorted(set(after.stale) - set(before.stale)):
        cpu, datum = item.split(":")
        out.append(f"{cpu}'s snapshot of {datum} is stale")
    return out


def initial_lines(view: WorldView) -> list[str]:
    lines = [f"{cpu.name} at {cpu.at}" for cpu in view.cpus]
    lines += [f"{lock.name}: {lock.word}" for lock in view.locks]
    return lines


def kernel_lines(model: KernelModel) -> dict[int, tuple[str, int]]:
    """The kernel lines of the model's scenario statements: those of a scenario written by
    `lockbreak extract` (its ``// FILE:LINE`` comments), {} for any other."""
    return kernel_lines_of(model.world.scenario.path)


def step_kernel_line(model: KernelModel, state: int, action: Action,
                     lines: dict[int, tuple[str, int]]) -> str:
    """``FILE:LINE`` of the kernel statement the step executes ("" for none)."""
    if action.wakeup or not lines:
        return ""
    instr = model.step_info(state, action).instr
    return kernel_at(lines, instr.pos.line) if instr is not None else ""


def render_trace(model: KernelModel, trace: Trace[int, Action], headline: str,
                 footer: str = "") -> str:
    """The numbered, kernel-words rendering of ``trace``, then ``footer`` (why it fails);
    a step of an extracted scenario names its kernel line, ``[fs/inode.c:812]``."""
    lines = [headline, "   initial: " + "; ".join(initial_lines(model.view(trace.init)))]
    kernel = kernel_lines(model)
    state = trace.init
    width = len(str(len(trace.steps)))
    lockstep = isinstance(model, LockstepKernelModel)
    tick = 0
    for number, step in enumerate(trace.steps, 1):
        info = model.step_info(state, step.action)
        before, after = model.view(state), model.view(step.state)
        if step.action.wakeup:
            who, text = "env", step.action.env_text
        else:
            who, text = f"cpu{step.action.cpu}", info.text
        mark = "  <-- repeats from here" if trace.loop_start == number - 1 else ""
        when = f"[tick {tick}] " if lockstep else ""
        at = step_kernel_line(model, state, step.action, kernel)
        source = f"  [{at}]" if at else ""
        lines.append(f"  {number:>{width}}. {when}{who}: {text}{source}{mark}")
        if lockstep:
            tick += model.moves(state)[step.index][2]
        diff = changes(before, after, info.text)
        if diff:
            lines.append(f"  {'':>{width}}  {'; '.join(diff)}")
        state = step.state
    if footer:
        lines.append(f"  {footer}")
    return "\n".join(lines)


def why(model: KernelModel, trace: Trace[int, Action], property_name: str) -> str:
    """One sentence on why the end of ``trace`` breaks ``property_name``."""
    end = model.view(trace.states[-1])
    if property_name == "mutual_exclusion":
        for lock in end.locks:
            holding = [cpu.name for cpu in end.cpus
                       if any(_plain(h) == lock.name for h in cpu.holds)]
            if len(holding) > 1:
                return f"=> {lock.name} has {len(holding)} holders: {', '.join(holding)}"
    if property_name == "deadlock_free":
        stuck = []
        for cpu in end.cpus:
            if cpu.finished:
                continue
            held = _names(cpu.holds)
            if cpu.waits_for:
                owners = {lock.name: lock.word for lock in end.locks}
                waits = ", ".join(f"{w} ({owners[w]})" for w in cpu.waits_for)
                stuck.append(f"{cpu.name} holds {held} and waits for {waits}")
            else:
                stuck.append(f"{cpu.name} holds {held}, at {cpu.at}")
        return "=> stuck: " + "; ".join(stuck)
    if trace.loop_start is not None:
        return _why_forever(model, trace)
    site = _last_break(model, trace) if property_name in _AT_A_BREAK else None
    if site is not None:
        return f"=> {by_name(property_name).broken} (lock break: {site})"
    return f"=> {by_name(property_name).broken}"


# The properties a lock break breaks: their counterexamples name the break.
_AT_A_BREAK = frozenset({"no_spurious_break", "no_stale_use"})


def _last_break(model: KernelModel, trace: Trace[int, Action]) -> str | None:
    """The lock-break site (a primitive, or an open-coded break with its line and lock) at
    which the CPU of ``trace``'s last step last dropped a lock, or None."""
    if not trace.steps or trace.steps[-1].action.wakeup:
        return None
    cpu = trace.steps[-1].action.cpu
    site, state = None, trace.init
    for step in trace.steps:
        if step.action.cpu == cpu and not step.action.wakeup:
            info = model.step_info(state, step.action)
            if info.events & Event.BREAK and info.instr is not None:
                site = info.instr.where.split(" > ")[0]
        state = step.state
    return site


def explain(model: KernelModel, result: CheckResult) -> str:
    """One sentence on why ``result``'s trace breaks its property.

    A wait longer than the scenario's ``max`` (the worst case, or a z3 trace that ends while
    the wait is still open and the CPUs can still move) breaks nothing at its last step by
    itself: its detail (how long, on which CPU, against which max) says why.
    """
    trace = result.trace
    assert trace is not None
    longer = (by_name(result.property).kind is PropertyKind.WORST and trace.loop_start is None
              and bool(model.moves(trace.states[-1])))
    if result.worst is not None or longer:
        return f"=> {result.detail}"
    return why(model, trace, result.property)


def _why_forever(model: KernelModel, trace: Trace[int, Action]) -> str:
    """What the repeating part of a lasso does, read off the cycle itself: who waits for which
    lock without ever getting it, who takes that lock meanwhile, and who keeps dropping a lock
    and taking it back without ever finishing, however the code spells the drop.

    Someone dropping and retaking forever, or running without any lock in play, while obliged
    to finish is a livelock; a waiter passed over by CPUs that do get the lock, or kept out by
    a holder that keeps running, is starvation; CPUs that wait and never take a lock at all,
    spinning on each other, are a deadlock.
    """
    assert trace.loop_start is not None
    loop = list(zip(trace.states[trace.loop_start:], trace.steps[trace.loop_start:],
                    strict=False))
    views = [model.view(state) for state in trace.states[trace.loop_start:]]
    names = [cpu.name for cpu in views[0].cpus]
    taken: list[set[str]] = [set() for _ in names]
    dropped: list[set[str]] = [set() for _ in names]
    movers: set[int] = set()
    for state, step in loop:
        if step.action.wakeup:
            continue
        cpu = step.action.cpu
        movers.add(cpu)
        before = set(map(_plain, model.view(state).cpus[cpu].holds))
        after = set(map(_plain, model.view(step.state).cpus[cpu].holds))
        taken[cpu] |= after - before
        dropped[cpu] |= before - after
    # A CPU that moves in the cycle without waiting for a lock somewhere in it is running,
    # not spinning: a lock it holds throughout is kept from its waiters by work, not by a
    # cycle of waits.
    runners = {j for j in movers if any(not v.cpus[j].waits_for for v in views)}
    parts, livelock, kept = [], False, False
    for i, name in enumerate(names):
        waited = set().union(*(map(_plain, v.cpus[i].waits_for) for v in views))
        for lock in sorted(waited - taken[i]):
            takers = [names[j] for j in range(len(names)) if j != i and lock in taken[j]]
            holders = [names[j] for j in sorted(runners) if j != i and all(
                lock in map(_plain, v.cpus[j].holds) for v in views)]
            kept = kept or bool(holders)
            parts.append(f"{name} waits for {lock} forever"
                         + (f" while {', '.join(takers)} take{'s' if len(takers) == 1 else ''}"
                            " it again and again" if takers else "")
                         + (f" while {', '.join(holders)} hold{'s' if len(holders) == 1 else ''}"
                            " it and keep" + ("s" if len(holders) == 1 else "") + " running"
                            if holders and not takers else ""))
        breaks = sorted(taken[i] & dropped[i])
        if breaks and model.must_finish >> i & 1:
            livelock = True
            parts.append(f"{name} keeps breaking {', '.join(breaks)} and taking it back")
    if not parts:
        running = [names[i] for i in sorted(movers) if model.must_finish >> i & 1]
        livelock = bool(running)
        parts = [f"{name} keeps running without finishing" for name in running]
    if not parts:
        return "=> the marked steps repeat forever"
    kind = "livelock" if livelock else "starvation" if any(taken) or kept else "deadlock"
    return f"=> {kind}: " + "; ".join(parts)


def trace_to_json(model: KernelModel, trace: Trace[int, Action], *, scenario: Mapping[str, Any],
                  property_name: str, status: str, worst: int | None = None) -> dict[str, Any]:
    """The replayable JSON form of ``trace`` (schema ``lockbreak-trace/1``).

    A worst case (status ``holds``) carries ``worst``, the ticks it attains; a step of an
    extracted scenario carries ``kernel``, the kernel ``FILE:LINE`` it executes.
    """
    steps = []
    state = trace.init
    kernel = kernel_lines(model)
    for step in trace.steps:
        info = model.step_info(state, step.action)
        entry = {"index": step.index, "cpu": step.action.cpu,
                 "wakeup": step.action.wakeup, "text": info.text}
        if step.action.choice:
            entry["choice"] = step.action.choice
        at = step_kernel_line(model, state, step.action, kernel)
        if at:
            entry["kernel"] = at
        if step.action.env:
            entry["env"] = step.action.env
        steps.append(entry)
        state = step.state
    data = {
        "schema": TRACE_SCHEMA,
        "scenario": dict(scenario),
        "property": property_name,
        "status": status,
        "loop_start": trace.loop_start,
        "steps": steps,
        "final": asdict(model.view(state)),
    }
    if worst is not None:
        data["worst"] = worst
    return data


def actions_of(data: Mapping[str, Any]) -> list[Action]:
    """The actions recorded in a JSON trace (`ValueError` or `KeyError` when malformed)."""
    actions: list[Action] = []
    for step in data["steps"]:
        cpu, wakeup, choice = step["cpu"], step["wakeup"], step.get("choice", 0)
        env = step.get("env", "")
        if not isinstance(cpu, int) or isinstance(cpu, bool) or not isinstance(wakeup, bool):
            raise ValueError(f"step {len(actions) + 1}: cpu must be an int, wakeup a bool")
        if choice not in (0, 1) or isinstance(choice, bool):
            raise ValueError(f"step {len(actions) + 1}: choice must be 0 or 1")
        if env not in ("", "lazy", "tick") or (env and not wakeup):
            raise ValueError(f"step {len(actions) + 1}: env must be lazy or tick, on a wakeup")
        actions.append(Action(cpu, wakeup, choice, env))
    return actions
