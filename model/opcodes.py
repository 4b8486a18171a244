"""The opcodes of compiled programs and one table of what each does.

Four interpreters read compiled instructions: the kernel model's (`model.interpreter`), the
symbolic twin (`model.symbolic_steps`), the Promela export (`model.promela_steps`) and the
proofs' transition relation (`model.proofs.transition`). Each keeps its rules in a mapping
from opcode to rule, and refuses the opcodes it does not model by name (``refused``); a test
(tests/model/test_opcodes.py) holds every opcode of `Op` to a rule or a refusal in all four, so an
opcode added here fails loudly in the interpreter that forgot it. What the kernel model
derives from an opcode without interpreting it (whether it is a step, whether a step is
CPU-local, which operand names a lock) is read from `OPCODES`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

from lockbreak.core import ModelDefinitionError
from model.locks import SLEEPING_OPS

if TYPE_CHECKING:
    from model.program import Instr


class Op(enum.IntEnum):
    """Opcodes. Steps first, then free instructions."""

    # steps
    PREEMPT_DISABLE = 0
    PREEMPT_ENABLE = 1
    PREEMPT_ENABLE_NO_RESCHED = 2
    CPU_RELAX = 3
    WORK = 4
    SCHEDULE = 5
    NEED_RESCHED = 6        # acc = this CPU's need_resched
    LOCK_OP = 7             # a = lock, b = op name; acc = its value
    FLAG_READ = 8           # a = lock; acc = lock->break_lock
    FLAG_WRITE = 9          # a = lock, b = value
    DATA_READ = 10          # a = datum
    DATA_WRITE = 11
    DATA_USE = 12
    NONDET = 13             # acc = either outcome of a `*` guard (the action says which)
    IRQ_DISABLE = 14        # reg[a] += 1: one more interrupt-disabled section
    IRQ_ENABLE = 15         # reg[a] -= 1
    DATA_GET = 16           # a = datum, b = pin register: pin this CPU's snapshot
    DATA_PUT = 17           # a = datum, b = pin register: drop the pin
    # free
    JUMP = 20               # goto target
    BRANCH_ACC = 21         # if acc: goto target
    BRANCH_REG = 22         # if reg[a]: goto target; b = clear the register after the test
    BRANCH_PCOUNT = 23      # if preempt_count <a-op> b: goto target (a in == != < <= > >=)
    SET_REG = 24            # reg[a] = b
    DEC_REG = 25            # reg[a] -= 1
    BRANCH_ZERO = 26        # if reg[a] == 0: goto target
    MM_DROP_DUE = 27        # acc = this is a drop_every-th call
    BELIEVE = 28            # a = lock, b = Belief: what the code after a statement assumes
    BREAK_END = 29          # a lock-break primitive returns; a = result register or -1
    FREE_LOCK_OP = 30       # a lock op that is no step (UP)
    MIGHT_SLEEP = 31        # a might-sleep point allowing preempt_count up to a (__might_resched)


@dataclass(frozen=True)
class Opcode:
    """What an opcode is, as far as anything but an interpreter needs to know.

    ``step``: an atomic step (docs/semantics.md section 2), or free control run in the same
    transition as the step before it. ``local``: a step that reads and writes only its CPU's
    private part, whatever the shared part (partial-order reduction takes such steps alone).
    ``lock``: the operand that names a lock (``"a"``, ``"b"``, or ``""`` for none), which
    symmetry renames with a CPU's private locks.
    """

    step: bool
    local: bool = False
    lock: str = ""


_STEP, _LOCAL, _FREE = Opcode(True), Opcode(True, local=True), Opcode(False)

OPCODES: Mapping[Op, Opcode] = MappingProxyType({
    Op.PREEMPT_DISABLE: _LOCAL,
    Op.PREEMPT_ENABLE: _LOCAL,
    Op.PREEMPT_ENABLE_NO_RESCHED: _LOCAL,
    Op.CPU_RELAX: _LOCAL,
    Op.WORK: _LOCAL,
    Op.SCHEDULE: _LOCAL,
    Op.NEED_RESCHED: _LOCAL,
    Op.LOCK_OP: Opcode(True, lock="a"),
    Op.FLAG_READ: Opcode(True, lock="a"),
    Op.FLAG_WRITE: Opcode(True, lock="a"),
    Op.DATA_READ: _STEP,
    Op.DATA_WRITE: _STEP,
    Op.DATA_USE: _STEP,
    Op.NONDET: _STEP,
    Op.IRQ_DISABLE: _STEP,
    Op.IRQ_ENABLE: _STEP,
    Op.DATA_GET: _STEP,
    Op.DATA_PUT: _STEP,
    Op.JUMP: _FREE,
    Op.BRANCH_ACC: _FREE,
    Op.BRANCH_REG: _FREE,
    Op.BRANCH_PCOUNT: _FREE,
    Op.SET_REG: _FREE,
    Op.DEC_REG: _FREE,
    Op.BRANCH_ZERO: _FREE,
    Op.MM_DROP_DUE: _FREE,
    Op.BELIEVE: Opcode(False, lock="a"),
    Op.BREAK_END: Opcode(False, lock="b"),
    Op.FREE_LOCK_OP: Opcode(False, lock="a"),
    Op.MIGHT_SLEEP: _FREE,
})

STEP_OPS = frozenset(op for op, code in OPCODES.items() if code.step)
LOCAL_OPS = frozenset(op for op, code in OPCODES.items() if code.local)
_LOCK_IN_A = frozenset(op for op, code in OPCODES.items() if code.lock == "a")
_LOCK_IN_B = frozenset(op for op, code in OPCODES.items() if code.lock == "b")


def lock_operands(instr: Instr) -> tuple[int, ...]:
    """The locks an instruction names (a lock-break's end names its lock only for traces)."""
    if instr.op in _LOCK_IN_A:
        return (int(instr.a),)
    if instr.op in _LOCK_IN_B:
        return (int(instr.b),)
    return ()


def may_block(instr: Instr) -> bool:
    """Whether ``instr`` is a lock op that sleeps when it cannot take its lock (a mutex,
    rwsem or PREEMPT_RT slow path): it schedules by itself, so no preemption comes first."""
    return instr.op == Op.LOCK_OP and instr.b in SLEEPING_OPS


def unhandled(instr: Instr, interpreter: str) -> ModelDefinitionError:
    """The error of an interpreter that meets an opcode it has no rule for."""
    op = instr.op
    name = op.name if isinstance(op, Op) else f"opcode {op}"
    return ModelDefinitionError(
        f"{interpreter} has no rule for {name} ({instr.text or 'no text'}): give it one, or "
        "refuse the opcode by name (model/opcodes.py lists the interpreters)")
