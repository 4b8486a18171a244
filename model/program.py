"""Compiled CPU programs: flat instruction lists that the kernel model interprets.

An instruction is either an atomic *step* (one shared-memory access or one CPU-local statement,
docs/semantics.md section 2) or *free* control (jumps, tests of the CPU's own registers and
``preempt_count``, ghost bookkeeping) that runs in the same transition as the step before it.
The opcodes, and which are steps, are `model.opcodes`'s.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from model.lang.ast import Pos
from model.opcodes import STEP_OPS, Op

NOWHERE = Pos()


class Belief(enum.IntEnum):
    """What the scenario code holds after a statement, by the lock's contract."""

    NONE = 0
    HELD = 1        # spinlock, or rwlock write-held
    READ = 2        # rwlock read-held


# Instruction flags.
IN_BREAK = 1        # inlined from a lock-break site (cond_resched_lock and friends)
ACQUIRING = 2       # inlined from spin_lock/read_lock/write_lock: a failed attempt means waiting


@dataclass(frozen=True)
class Instr:
    """One instruction; ``text`` and ``where`` are kernel words for traces."""

    op: Op
    a: int = 0               # a lock, datum, register or comparison index, or a count
    b: int | str = 0         # a value, register flag, lock index or Belief; a lock op's name
    target: int = -1
    flags: int = 0
    text: str = ""           # "arch_spin_trylock(B)"
    where: str = ""          # "cond_resched_lock(B) > spin_lock(B)"
    pos: Pos = NOWHERE       # the scenario statement this came from

    @property
    def is_step(self) -> bool:
        """Whether this is an atomic step (`model.opcodes.OPCODES`), not free control."""
        return self.op in STEP_OPS

    @property
    def words(self) -> str:
        """The instruction in kernel words: ``where: text`` when it was inlined."""
        return f"{self.where}: {self.text}" if self.where else self.text


@dataclass(frozen=True)
class Program:
    """One CPU's compiled code and the size of its register file."""

    code: tuple[Instr, ...]
    registers: int          # local slots: repeat counters, era locals, call results
    irqs: int = -1          # the slot counting interrupt-disabled sections, or -1: none

    def live_snapshots(self) -> tuple[int, ...]:
        """Per pc (and the end), the bitmask of data whose snapshot the code may still use.

        Datum ``d`` is live at ``pc`` when some path from ``pc`` reaches ``use(d)`` before any
        ``read(d)``. A snapshot that is not live can never be relied on again, so the model
        forgets it: another CPU's later write then makes nothing stale.
        """
        n = len(self.code)
        live = [0] * (n + 1)
        changed = True
        while changed:
            changed = False
            for pc in range(n - 1, -1, -1):
                instr = self.code[pc]
                after = 0
                if instr.op is not Op.JUMP:
                    after |= live[pc + 1]
                if instr.target >= 0:
                    after |= live[instr.target]
                if instr.op is Op.DATA_USE:
                    after |= 1 << instr.a
                elif instr.op is Op.DATA_READ:
                    after &= ~(1 << instr.a)
                if after != live[pc]:
                    live[pc] = after
                    changed = True
        return tuple(live)
