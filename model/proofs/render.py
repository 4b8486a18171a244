"""Invariants and counterexamples to induction in kernel words."""

from __future__ import annotations

from model.program import Instr
from model.proofs.structure import CpuState, Structure


def where(code: tuple[Instr, ...], pc: int) -> str:
    instr = code[pc]
    return f"{instr.where}: {instr.text}" if instr.where else instr.text


def cpu_words(cs: CpuState, i: int, st: Structure, code: tuple[Instr, ...], lock: str) -> str:
    parts = [f"cpu{i} at {where(code, cs.pc)}", f"preempt_count {cs.count}"]
    if cs.need:
        parts.append("need_resched")
    if cs.holds:
        parts.append("holds L")
    if cs.queued:
        parts.append(f"queued at place {cs.pos}" if lock == "qspinlock"
                     else f"waits with ticket {cs.pos}")
    if cs.dropped:
        parts.append("has dropped L in this call")
    return ", ".join(parts)


def lock_words(st: Structure, lock: str) -> str:
    word = f"held by cpu{st.owner}" if st.locked else "free"
    if lock == "ticket":
        word += f", now serving {st.head}, next ticket {st.tail}"
    flag = f", break_lock {int(st.break_lock)}" if lock == "tas" else ""
    return f"L: {word}{flag}"


def state_lines(st: Structure, code: tuple[Instr, ...], lock: str, indent: str) -> list[str]:
    lines = [indent + cpu_words(cs, i, st, code, lock) for i, cs in enumerate(st.cpus)]
    return [*lines, indent + lock_words(st, lock)]
