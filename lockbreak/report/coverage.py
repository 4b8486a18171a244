"""What a random search covered, in kernel words: the evidence behind "no violation found".

The engine reports opaque coverage points; for the kernel model a point is ``(cpu, pc)``, a
program point a CPU stood at (about to take that step). This module turns them into program
points reached per CPU, lock-break paths reached (the steps of a lock-break site that drop its
lock or schedule), and, per property, whether its witness was reached.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lockbreak.engines.hypothesis_engine import Coverage
from model.kernel import Action, KernelModel
from model.locks import RELEASE_OPS
from model.program import IN_BREAK, Op

_MANY_CPUS = 8      # above this, program points are summarised instead of listed per CPU


@dataclass(frozen=True)
class BreakPath:
    """One way out of a lock-break site on one CPU: dropping the lock, or scheduling."""

    cpu: int
    pc: int
    words: str          # "line 6: cond_resched_lock(B) > spin_unlock(B): arch_spin_unlock(B)"


def program_points(model: KernelModel) -> list[list[int]]:
    """Per CPU, the program points a CPU can stand at: its steps, and the end of its code."""
    out = []
    for program in model.world.programs:
        code = program.code
        out.append([pc for pc, instr in enumerate(code) if instr.is_step] + [len(code)])
    return out


def break_paths(model: KernelModel) -> list[BreakPath]:
    """The steps inside lock-break sites that drop the lock or schedule, per CPU."""
    out = []
    for cpu, program in enumerate(model.world.programs):
        for pc, instr in enumerate(program.code):
            drops = instr.op == Op.LOCK_OP and instr.b in RELEASE_OPS
            if instr.flags & IN_BREAK and (drops or instr.op == Op.SCHEDULE):
                where = f"{instr.where}: " if instr.where else ""
                out.append(BreakPath(cpu, pc, f"line {instr.pos.line}: {where}{instr.text}"))
    return out


def reached(model: KernelModel, coverage: Coverage) -> set[tuple[int, int]]:
    """The ``(cpu, pc)`` points reached, including where each CPU starts."""
    init = model.init_states()[0]
    starts = {model.coverage_point(init, Action(cpu)) for cpu in range(len(model.agents))}
    points = {p for p in coverage.points if isinstance(p, tuple)}
    return points | {p for p in starts if p is not None}


def coverage_record(model: KernelModel, coverage: Coverage) -> dict[str, Any]:
    """The coverage of one scenario's random search as JSON-ready data."""
    seen = reached(model, coverage)
    points = {model.agents[cpu]: [sum((cpu, pc) in seen for pc in pcs), len(pcs)]
              for cpu, pcs in enumerate(program_points(model))}
    paths = [{"cpu": model.agents[p.cpu], "at": p.words, "reached": (p.cpu, p.pc) in seen}
             for p in break_paths(model)]
    witnesses = {name: bool(coverage.witnessed >> bit & 1)
                 for bit, name in enumerate(model.property_names)}
    return {
        "engine": "hypothesis", "seed": coverage.seed, "runs": coverage.runs,
        "shrinking_runs": coverage.shrinking,
        "steps": coverage.steps, "longest_run": coverage.longest,
        "distinct_states": coverage.states, "seconds": round(coverage.seconds, 3),
        "swarm": coverage.swarm, "budget_spent": coverage.exhausted,
        "program_points": points, "break_paths": paths, "witnesses": witnesses,
        "can_finish_checks": coverage.doom_checks,
        "can_finish_undecided": coverage.doom_undecided,
    }


def coverage_lines(model: KernelModel, coverage: Coverage) -> list[str]:
    """The coverage as indented text lines under a scenario's verdicts."""
    record = coverage_record(model, coverage)
    shrinking = f" ({coverage.shrinking:,} shrinking)" if coverage.shrinking else ""
    lines = [f"  coverage: seed {coverage.seed}, {coverage.runs:,} runs{shrinking}, "
             f"{coverage.steps:,} "
             f"steps (longest {coverage.longest}), {coverage.states:,} distinct states, "
             f"{coverage.seconds:.2f} s, swarm {'on' if coverage.swarm else 'off'}"
             + (f"; budget spent: {coverage.exhausted}" if coverage.exhausted else "")]
    points = record["program_points"]
    if len(points) <= _MANY_CPUS:
        lines.append("    program points reached: "
                     + ", ".join(f"{cpu} {r}/{t}" for cpu, (r, t) in points.items()))
    else:
        total = sum(r for r, _ in points.values()), sum(t for _, t in points.values())
        worst = min(points.items(), key=lambda item: item[1][0] / item[1][1])
        full = sum(r == t for r, t in points.values())
        lines.append(f"    program points reached: {total[0]:,}/{total[1]:,} over "
                     f"{len(points)} CPUs; {full} CPUs reached all of theirs; least: "
                     f"{worst[0]} {worst[1][0]}/{worst[1][1]}")
    paths = record["break_paths"]
    taken = [p for p in paths if p["reached"]]
    lines.append(f"    lock-break paths reached: {len(taken)} of {len(paths)}")
    missed = [p for p in paths if not p["reached"]]
    for p in missed[:_MANY_CPUS]:
        lines.append(f"      never reached: {p['cpu']} {p['at']}")
    if len(missed) > _MANY_CPUS:
        lines.append(f"      ... and {len(missed) - _MANY_CPUS} more")
    lines.append("    witnesses: " + ", ".join(
        f"{name} {'reached' if hit else 'NEVER reached'}"
        for name, hit in record["witnesses"].items()))
    if coverage.doom_checks:
        lines.append(f"    can-finish: {coverage.doom_checks:,} stuck run ends searched "
                     f"exhaustively, {coverage.doom_undecided:,} of them too large to decide")
    return lines
