"""The compiler's emitter: flat code with labels, the inlining frames, and conditions.

`Emitter` holds one CPU's program as it is emitted (instructions whose jumps name `Label`s
until `finish` resolves them), the stack of inlined functions (`Frame`) and of loops
(`LoopExits`), and compiles conditions: folded at compile time where the configuration
decides them (``IS_ENABLED(CONFIG_PREEMPT)``, ``preempt_model_full()``), else as short-circuit
jumps whose atoms that read shared memory are steps. Statements and calls are
`model.compile`'s, which builds on it.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field

from lockbreak.core import LockbreakError, ModelDefinitionError, ScenarioError
from model.build import BuildConfig, LockInfo
from model.eras import Era
from model.lang import ast
from model.lockset import Cycle, LockStatement
from model.program import NOWHERE, Belief, Instr, Op, Program
from model.spellings import SPELLINGS, Spelling

# What the scenario code holds after a lock statement or a lock-break primitive.
BELIEF_AFTER: Mapping[str, Belief] = {
    "spin_lock": Belief.HELD, "spin_unlock": Belief.NONE, "write_lock": Belief.HELD,
    "write_unlock": Belief.NONE, "read_lock": Belief.READ, "read_unlock": Belief.NONE,
    "cond_resched_lock": Belief.HELD, "cond_resched_rwlock_write": Belief.HELD,
    "cond_resched_rwlock_read": Belief.READ,
    "mutex_lock": Belief.HELD, "mutex_unlock": Belief.NONE, "down_write": Belief.HELD,
    "up_write": Belief.NONE, "down_read": Belief.READ, "up_read": Belief.NONE,
}
# What it holds after a trylock that succeeded.
TRYLOCKS: Mapping[str, Belief] = {"spin_trylock": Belief.HELD, "write_trylock": Belief.HELD,
                                  "read_trylock": Belief.READ, "mutex_trylock": Belief.HELD,
                                  "down_write_trylock": Belief.HELD,
                                  "down_read_trylock": Belief.READ}
COMPARE = {"==": 0, "!=": 1, "<": 2, "<=": 3, ">": 4, ">=": 5}


@dataclass
class Label:
    """A place in the code; ``at`` is its pc once marked."""

    at: int = -1


@dataclass
class Frame:
    """One inlined function: its lock binding, locals, result register and exit label."""

    lock: str | None
    where: str
    flags: int
    result: int | None
    exit: Label
    file: str | None                    # the scenario file, for a body from its [patch]
    env: dict[str, int] = field(default_factory=dict)
    labels: dict[str, Label] = field(default_factory=dict)
    depths: dict[str, int] = field(default_factory=dict)


@dataclass
class LoopExits:
    """One loop being compiled: where ``continue`` and ``break`` go, and its repeat counter."""

    head: Label
    cont: Label
    exit: Label
    counter: int | None = None
    count: int = 0


class Emitter(abc.ABC):
    """Emits one CPU's program: the plumbing and the conditions."""

    def __init__(self, era: Era, config: BuildConfig, locks: Mapping[str, LockInfo],
                 data: Mapping[str, int], drop_every: int) -> None:
        self.era, self.config, self.locks, self.data = era, config, locks, data
        self.drop_every = drop_every
        self.code: list[tuple[Op, int, int | str, Label | None, int, str, str, ast.Pos]] = []
        self.registers = 0
        self.pos = ast.Pos()
        self.frames: list[Frame] = []
        self.loops: list[LoopExits] = []
        self.labels: dict[str, Label] = {}         # the scenario code's own labels
        self.depths: dict[str, int] = {}            # how many loops enclose each label
        self.end = Label()
        self.pins: dict[int, int] = {}              # datum -> its pin register
        self.irqs = -1
        # The scenario's own lock statements and backward jumps, for `model.lockset`; and,
        # once it has found them, the open-coded breaks: each site's unlock and relocks by
        # statement position, with the words traces name them by.
        self.statements: list[LockStatement] = []
        self.cycles: list[Cycle] = []
        self.breaks: dict[tuple[int, int], str] = {}
        self.site: str | None = None                # the words of the break being compiled
        self.jumping_back = False                   # the jump being emitted is a goto's

    # ------------------------------------------------------------ plumbing

    def reg(self) -> int:
        self.registers += 1
        return self.registers - 1

    def emit(self, op: Op, a: int = 0, b: int | str = 0, target: Label | None = None,
             text: str = "") -> None:
        frame = self.frames[-1] if self.frames else None
        flags = frame.flags if frame else 0
        where = frame.where if frame else ""
        if target is not None and target.at >= 0 and not self.frames:
            self.cycles.append(Cycle(target.at, len(self.code), self.jumping_back))
        self.code.append((op, a, b, target, flags, text, where, self.pos))

    def mark(self, label: Label) -> None:
        label.at = len(self.code)

    def finish(self) -> Program:
        self.mark(self.end)
        code = []
        for op, a, b, target, flags, text, where, pos in self.code:
            if target is not None and target.at < 0:
                raise ModelDefinitionError(f"unresolved jump in {where or 'scenario code'}")
            code.append(Instr(op, a, b, -1 if target is None else target.at, flags, text,
                              where, pos))
        return Program(tuple(code), self.registers, self.irqs)

    def bound_lock(self, arg: str | int, pos: ast.Pos = NOWHERE) -> LockInfo:
        name = str(arg)
        if name == "lock" and self.frames and self.frames[-1].lock is not None:
            name = self.frames[-1].lock
        try:
            return self.locks[name]
        except KeyError:
            raise self.fail(f"{self.context()}: unknown lock {name!r}; a primitive's lock "
                            "parameter is called lock", pos) from None

    def context(self) -> str:
        return self.frames[-1].where if self.frames else "scenario code"

    def fail(self, message: str, pos: ast.Pos) -> LockbreakError:
        """An error in a primitive body: at its file position when it came from a scenario's
        [patch] table (the user's mistake), else a definition error of the built-in era."""
        file = next((f.file for f in reversed(self.frames) if f.file), None)
        if file is not None:
            return ScenarioError(message, file=file, line=pos.line, col=pos.col)
        return ModelDefinitionError(message)

    @abc.abstractmethod
    def invoke(self, name: str, args: tuple[str | int, ...], result: int | None,
               pos: ast.Pos = NOWHERE) -> None:
        """A call to an era primitive, a lock routine or an atomic lock operation."""

    @abc.abstractmethod
    def context_step(self, change: str, text: str) -> None:
        """One CPU-local step that changes the CPU's context (interrupts, softirqs, RCU)."""

    # ------------------------------------------------------------ conditions

    def fold(self, expr: ast.Expr) -> int | None:
        """The compile-time value of ``expr``, or None when it needs the running CPU."""
        if isinstance(expr, ast.Const):
            return expr.value
        if isinstance(expr, ast.Var):
            if self.frames and expr.name in self.frames[-1].env:
                return None
            value = self.config.constant(expr.name)
            if value is None:
                raise self.fail(f"{self.context()}: unknown name {expr.name!r}; declare locals "
                                "with int", expr.pos)
            return value
        if isinstance(expr, ast.CallExpr):
            if expr.name == "IS_ENABLED":
                value = self.config.constant(str(expr.args[0]))
                if value is None:
                    raise self.fail(f"unknown config symbol {expr.args[0]}", expr.pos)
                return value
            if not expr.args and expr.name.startswith("preempt_model_"):
                return self.config.constant(expr.name)
            if expr.name == "irqs_disabled" and self.irqs < 0:
                return 0                 # this CPU's code never disables interrupts
            return None
        if isinstance(expr, ast.Not):
            inner = self.fold(expr.operand)
            return None if inner is None else int(not inner)
        if isinstance(expr, ast.And | ast.Or):
            left, right = self.fold(expr.left), self.fold(expr.right)
            if isinstance(expr, ast.And):
                if left == 0 or right == 0:
                    return 0 if left == 0 else None  # a step on the left still runs
                return None if left is None or right is None else 1
            if left is not None and left != 0:
                return 1
            if left == 0 and right is not None:
                return int(bool(right))
            return None
        return None

    def cond(self, expr: ast.Expr, yes: Label, no: Label) -> None:
        """Jump to ``yes`` or ``no``; atoms that read shared memory are steps."""
        value = self.fold(expr)
        if value is not None:
            self.emit(Op.JUMP, target=yes if value else no)
            return
        if isinstance(expr, ast.Not):
            self.cond(expr.operand, no, yes)
        elif isinstance(expr, ast.And):
            mid = Label()
            self.cond(expr.left, mid, no)
            self.mark(mid)
            self.cond(expr.right, yes, no)
        elif isinstance(expr, ast.Or):
            mid = Label()
            self.cond(expr.left, yes, mid)
            self.mark(mid)
            self.cond(expr.right, yes, no)
        elif isinstance(expr, ast.Var):
            self.emit(Op.BRANCH_REG, self.frames[-1].env[expr.name], 0, target=yes)
            self.emit(Op.JUMP, target=no)
        elif isinstance(expr, ast.Field):
            lock = self.bound_lock(expr.obj, expr.pos)
            self.emit(Op.FLAG_READ, lock.index, text=f"{lock.name}->{expr.name}")
            self.emit(Op.BRANCH_ACC, target=yes)
            self.emit(Op.JUMP, target=no)
        elif isinstance(expr, ast.Compare):
            self.compare(expr, yes, no)
        elif isinstance(expr, ast.Nondet):
            self.emit(Op.NONDET, text="*")
            self.emit(Op.BRANCH_ACC, target=yes)
            self.emit(Op.JUMP, target=no)
        elif isinstance(expr, ast.CallExpr):
            self.call_cond(expr, yes, no)
        else:  # pragma: no cover
            raise ModelDefinitionError(f"cannot test {type(expr).__name__}")

    def compare(self, expr: ast.Compare, yes: Label, no: Label) -> None:
        left, right = expr.left, expr.right
        if not (isinstance(left, ast.CallExpr) and left.name == "preempt_count"):
            raise self.fail(f"{self.context()}: only preempt_count() can be compared", expr.pos)
        k = self.fold(right)
        if k is None:
            raise self.fail(f"{self.context()}: compare preempt_count() to a constant", expr.pos)
        self.emit(Op.BRANCH_PCOUNT, COMPARE[expr.op], k, target=yes)
        self.emit(Op.JUMP, target=no)

    def call_cond(self, expr: ast.CallExpr, yes: Label, no: Label) -> None:
        name = expr.name
        spelling = SPELLINGS.get(name)
        if spelling is not None:
            self.spelled_trylock(expr, spelling, yes, no)
            return
        if name == "irqs_disabled" and not expr.args:
            self.emit(Op.BRANCH_REG, self.irqs, 0, target=yes)
            self.emit(Op.JUMP, target=no)
            return
        if name == "need_resched" and not expr.args:
            self.emit(Op.NEED_RESCHED, text="need_resched()")
            self.emit(Op.BRANCH_ACC, target=yes)
            self.emit(Op.JUMP, target=no)
            return
        if name == "__mm_drop_due":
            self.emit(Op.MM_DROP_DUE, self.drop_every)
            self.emit(Op.BRANCH_ACC, target=yes)
            self.emit(Op.JUMP, target=no)
            return
        slot = self.reg()
        self.invoke(name, expr.args, result=slot, pos=expr.pos)
        at_top = not self.frames
        if at_top and name in BELIEF_AFTER:     # cond_resched_lock's value: held either way
            self.emit(Op.BELIEVE, self.bound_lock(expr.args[0]).index, int(BELIEF_AFTER[name]))
        if at_top and name in TRYLOCKS:
            got = Label()
            self.emit(Op.BRANCH_REG, slot, 1, target=got)
            self.emit(Op.JUMP, target=no)
            self.mark(got)
            self.emit(Op.BELIEVE, self.bound_lock(expr.args[0]).index, int(TRYLOCKS[name]))
            self.emit(Op.JUMP, target=yes)
            return
        self.emit(Op.BRANCH_REG, slot, 1, target=yes)
        self.emit(Op.JUMP, target=no)


    def spelled_trylock(self, expr: ast.CallExpr, spelling: Spelling, yes: Label,
                        no: Label) -> None:
        """``spin_trylock_irqsave(L, flags)`` and friends: interrupts (softirqs) off, then
        the trylock; on failure they are enabled again."""
        base = ast.CallExpr(spelling.base, expr.args[:1], expr.pos, expr.arg_pos[:1])
        text = f"{expr.name}({expr.args[0]})"
        if spelling.context:
            self.context_step(f"{spelling.context}_off", text)
        if not spelling.context:
            self.call_cond(base, yes, no)
            return
        failed = Label()
        self.call_cond(base, yes, failed)
        self.mark(failed)
        self.context_step(f"{spelling.context}_on", text)
        self.emit(Op.JUMP, target=no)
