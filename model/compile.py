"""Compile a scenario's code, and the era primitives it calls, into flat CPU programs.

Era primitives and lock routines are kernel C (`model.eras`, `model.locks`); calls to them are
inlined with the lock bound, so one CPU's program is a straight list of atomic steps and free
control. Configuration tests (``IS_ENABLED(CONFIG_PREEMPT)``, ``preempt_model_full()``) are
folded here, at compile time, exactly as the kernel's preprocessor and static keys would.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field

from lockbreak.core import LockbreakError, ModelDefinitionError, ScenarioError
from model.eras import Era, Primitive
from model.lang import ast
from model.lang.parser import parse_code
from model.locks import SHARED_KINDS, LockAlgorithm
from model.lockset import BreakSite, Cycle, LockStatement, find_breaks
from model.program import ACQUIRING, IN_BREAK, NOWHERE, Belief, Instr, Op, Program
from model.spellings import CONTEXT_STATEMENTS, SPELLINGS, Spelling, base_name, disables_irqs

# Builtin statements that are one CPU-local step each.
LOCAL_STEPS: Mapping[str, Op] = {
    "preempt_disable": Op.PREEMPT_DISABLE,
    "preempt_enable": Op.PREEMPT_ENABLE,
    "preempt_enable_no_resched": Op.PREEMPT_ENABLE_NO_RESCHED,
    "cpu_relax": Op.CPU_RELAX,
    "schedule": Op.SCHEDULE,
}
DATA_STEPS: Mapping[str, Op] = {"read": Op.DATA_READ, "write": Op.DATA_WRITE, "use": Op.DATA_USE,
                                 "get": Op.DATA_GET, "put": Op.DATA_PUT}
# The locks an open-coded lock break may drop and retake (docs/semantics.md section 10).
SPIN_ACQUIRES = frozenset({"spin_lock", "read_lock", "write_lock"})
RELEASE_PRIMITIVES = frozenset({"spin_unlock", "read_unlock", "write_unlock"})
ACQUIRE_PRIMITIVES = SPIN_ACQUIRES | {"mutex_lock", "down_read", "down_write"}
BREAK_PRIMITIVES = frozenset({"cond_resched_lock", "cond_resched_rwlock_read",
                              "cond_resched_rwlock_write"})
BELIEF_AFTER: Mapping[str, Belief] = {
    "spin_lock": Belief.HELD, "spin_unlock": Belief.NONE, "write_lock": Belief.HELD,
    "write_unlock": Belief.NONE, "read_lock": Belief.READ, "read_unlock": Belief.NONE,
    "cond_resched_lock": Belief.HELD, "cond_resched_rwlock_write": Belief.HELD,
    "cond_resched_rwlock_read": Belief.READ,
    "mutex_lock": Belief.HELD, "mutex_unlock": Belief.NONE, "down_write": Belief.HELD,
    "up_write": Belief.NONE, "down_read": Belief.READ, "up_read": Belief.NONE,
}
TRYLOCKS: Mapping[str, Belief] = {"spin_trylock": Belief.HELD, "write_trylock": Belief.HELD,
                                  "read_trylock": Belief.READ, "mutex_trylock": Belief.HELD,
                                  "down_write_trylock": Belief.HELD,
                                  "down_read_trylock": Belief.READ}
# The preemption models that preempt at preempt_enable() and have preemptible RCU readers
# (v6.13 include/linux/preempt.h preempt_model_preemptible(): full, lazy or rt).
PREEMPTIBLE = frozenset({"full", "lazy", "rt"})
# The might-sleep annotations of the eras' C (``__might_resched()`` and, before v5.16,
# ``__might_sleep()``), each with the preempt_count offset it allows.
MIGHT_SLEEP_CHECKS = frozenset({"__might_sleep", "__might_resched"})
COMPARE = {"==": 0, "!=": 1, "<": 2, "<=": 3, ">": 4, ">=": 5}


@dataclass(frozen=True)
class BuildConfig:
    """What the preprocessor and the booted kernel know (docs/semantics.md sections 4 and 5)."""

    preempt: str                 # none | voluntary | full | lazy | rt
    preempt_dynamic: bool
    smp: bool
    generic_lockbreak: bool

    @property
    def built_preemptible(self) -> bool:
        return self.preempt in PREEMPTIBLE or self.preempt_dynamic

    def constant(self, name: str) -> int | None:
        """The value of a configuration symbol or run-time model test, or None."""
        table = {
            "CONFIG_PREEMPT": self.built_preemptible,
            "CONFIG_PREEMPTION": self.built_preemptible,
            "CONFIG_PREEMPT_DYNAMIC": self.preempt_dynamic,
            "CONFIG_PREEMPT_RT": self.preempt == "rt",
            "CONFIG_PREEMPT_LAZY": self.preempt == "lazy",
            "CONFIG_SMP": self.smp,
            "CONFIG_GENERIC_LOCKBREAK": self.generic_lockbreak,
            "preempt_model_none": self.preempt == "none",
            "preempt_model_voluntary": self.preempt == "voluntary",
            "preempt_model_full": self.preempt == "full",
            "preempt_model_lazy": self.preempt == "lazy",
            "preempt_model_rt": self.preempt == "rt",
            "preempt_model_preemptible": self.preempt in PREEMPTIBLE,
            "PREEMPT_LOCK_OFFSET": 0 if self.preempt == "rt" else 1,
        }
        value = table.get(name)
        return None if value is None else int(value)


@dataclass(frozen=True)
class LockInfo:
    index: int
    name: str
    kind: str                    # spin | rwlock | mutex | rwsem
    algorithm: LockAlgorithm

    @property
    def has_readers(self) -> bool:
        """Whether the lock is held by readers or one writer (rwlock, rwsem), not by one
        holder (spinlock, mutex)."""
        return self.kind in SHARED_KINDS


@dataclass
class _Label:
    at: int = -1


@dataclass
class _Frame:
    """One inlined function: its lock binding, locals, result register and exit label."""

    lock: str | None
    where: str
    flags: int
    result: int | None
    exit: _Label
    file: str | None                    # the scenario file, for a body from its [patch]
    env: dict[str, int] = field(default_factory=dict)
    labels: dict[str, _Label] = field(default_factory=dict)
    depths: dict[str, int] = field(default_factory=dict)


@dataclass
class _Loop:
    head: _Label
    cont: _Label
    exit: _Label
    counter: int | None = None
    count: int = 0


@functools.cache
def _parse_body(text: str, file: str, line: int, col: int) -> tuple[ast.Stmt, ...]:
    return parse_code(text, file=file, line=line, col=col, mode="era")


class _Emitter:
    """Emits one CPU's program."""

    def __init__(self, era: Era, config: BuildConfig, locks: Mapping[str, LockInfo],
                 data: Mapping[str, int], drop_every: int) -> None:
        self.era, self.config, self.locks, self.data = era, config, locks, data
        self.drop_every = drop_every
        self.code: list[tuple[Op, int, int | str, _Label | None, int, str, str, ast.Pos]] = []
        self.registers = 0
        self.pos = ast.Pos()
        self.frames: list[_Frame] = []
        self.loops: list[_Loop] = []
        self.labels: dict[str, _Label] = {}         # the scenario code's own labels
        self.depths: dict[str, int] = {}            # how many loops enclose each label
        self.end = _Label()
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

    def emit(self, op: Op, a: int = 0, b: int | str = 0, target: _Label | None = None,
             text: str = "") -> None:
        frame = self.frames[-1] if self.frames else None
        flags = frame.flags if frame else 0
        where = frame.where if frame else ""
        if target is not None and target.at >= 0 and not self.frames:
            self.cycles.append(Cycle(target.at, len(self.code), self.jumping_back))
        self.code.append((op, a, b, target, flags, text, where, self.pos))

    def mark(self, label: _Label) -> None:
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

    # ------------------------------------------------------------ statements

    def block(self, stmts: tuple[ast.Stmt, ...]) -> None:
        for stmt in stmts:
            self.stmt(stmt)

    def stmt(self, s: ast.Stmt) -> None:
        if not self.frames:
            self.pos = s.pos
        if isinstance(s, ast.Call) and not self.frames:
            self.lock_stmt(s)
        elif isinstance(s, ast.Call):
            self.call_stmt(s)
        elif isinstance(s, ast.Assign):
            self.assign(s)
        elif isinstance(s, ast.Return):
            self.return_(s)
        elif isinstance(s, ast.If):
            then, other, end = _Label(), _Label(), _Label()
            self.cond(s.cond, then, other)
            self.mark(then)
            self.block(s.then)
            self.emit(Op.JUMP, target=end)
            self.mark(other)
            self.block(s.orelse)
            self.mark(end)
        elif isinstance(s, ast.While):
            loop = _Loop(_Label(), _Label(), _Label())
            loop.cont = loop.head
            body = _Label()
            self.mark(loop.head)
            self.cond(s.cond, body, loop.exit)
            self.mark(body)
            self.loop_body(loop, s.body)
            self.emit(Op.JUMP, target=loop.head)
            self.mark(loop.exit)
        elif isinstance(s, ast.Forever):
            loop = _Loop(_Label(), _Label(), _Label())
            loop.cont = loop.head
            self.mark(loop.head)
            self.loop_body(loop, s.body)
            self.emit(Op.JUMP, target=loop.head)
            self.mark(loop.exit)
        elif isinstance(s, ast.Repeat):
            counter = self.reg()
            loop = _Loop(_Label(), _Label(), _Label(), counter, s.count)
            self.emit(Op.SET_REG, counter, s.count)
            self.mark(loop.head)
            self.emit(Op.BRANCH_ZERO, counter, target=loop.exit)
            self.loop_body(loop, s.body)
            self.mark(loop.cont)
            self.emit(Op.DEC_REG, counter)
            self.emit(Op.JUMP, target=loop.head)
            self.mark(loop.exit)
        elif isinstance(s, ast.Break):
            loop = self.loops[-1]
            if loop.counter is not None:
                self.emit(Op.SET_REG, loop.counter, 0)
            self.emit(Op.JUMP, target=loop.exit)
        elif isinstance(s, ast.Continue):
            self.emit(Op.JUMP, target=self.loops[-1].cont)
        elif isinstance(s, ast.Restart):
            loop = self.loops[-1]
            if loop.counter is not None:
                self.emit(Op.SET_REG, loop.counter, loop.count)
            self.emit(Op.JUMP, target=loop.head)
        elif isinstance(s, ast.Label):
            self.mark(self.label(s.name))
        elif isinstance(s, ast.Goto):
            depths = self.frames[-1].depths if self.frames else self.depths
            self.leave_loops(depths[s.label])
            self.jumping_back = True
            self.emit(Op.JUMP, target=self.label(s.label))
            self.jumping_back = False
        else:  # pragma: no cover - the parser produces nothing else
            raise ModelDefinitionError(f"cannot compile {type(s).__name__}")

    def lock_stmt(self, s: ast.Call) -> None:
        """A statement of the scenario's own code: recorded when it takes or releases a
        lock, and compiled as part of an open-coded lock break when it is one."""
        base = base_name(s.name)
        if base not in SPIN_ACQUIRES | RELEASE_PRIMITIVES:
            self.call_stmt(s)
            return
        start = len(self.code)
        self.site = self.breaks.get((s.pos.line, s.pos.col))
        self.call_stmt(s)
        if self.site is not None and base in SPIN_ACQUIRES:
            self.emit(Op.BREAK_END, -1, self.bound_lock(s.args[0]).index)
        self.site = None
        lock = self.bound_lock(s.args[0], s.pos)
        self.statements.append(LockStatement(start, len(self.code), lock.index,
                                             base in SPIN_ACQUIRES, s.pos))

    def label(self, name: str) -> _Label:
        scope = self.frames[-1].labels if self.frames else self.labels
        return scope.setdefault(name, _Label())

    def leave_loops(self, depth: int) -> None:
        """Clear the counters of the loops a jump leaves, as ``break`` does, so a CPU that
        left a loop early is in the same state as one that ran it out."""
        for loop in self.loops[depth:]:
            if loop.counter is not None:
                self.emit(Op.SET_REG, loop.counter, 0)

    def loop_body(self, loop: _Loop, body: tuple[ast.Stmt, ...]) -> None:
        self.loops.append(loop)
        self.block(body)
        self.loops.pop()

    def call_stmt(self, s: ast.Call) -> None:
        name, args = s.name, s.args
        if name in SPELLINGS:
            self.spelled(s, SPELLINGS[name])
        elif name in CONTEXT_STATEMENTS:
            self.context_step(CONTEXT_STATEMENTS[name][0], f"{name}()")
        elif name in LOCAL_STEPS:
            self.emit(LOCAL_STEPS[name], text=f"{name}()")
        elif name in MIGHT_SLEEP_CHECKS:
            self.might_sleep_check(s)
        elif name == "work":
            self.work(int(args[0]) if args else 1)
        elif name in DATA_STEPS:
            datum = self.data[str(args[0])]
            pin = self.pins.setdefault(datum, self.reg()) if name in ("get", "put") else 0
            self.emit(DATA_STEPS[name], datum, pin, text=f"{name}({args[0]})")
        else:
            self.invoke(name, args, result=None, pos=s.pos)
            if not self.frames and name in BELIEF_AFTER:
                lock = self.bound_lock(args[0])
                self.emit(Op.BELIEVE, lock.index, int(BELIEF_AFTER[name]))

    def might_sleep_check(self, s: ast.Call) -> None:
        """``__might_resched(offset)``: the debug check of a might-sleep point, free control
        that notes whether preempt_count exceeds ``offset`` or interrupts are off."""
        arg = s.args[0] if s.args else 0
        offset = arg if isinstance(arg, int) else self.config.constant(arg)
        if offset is None:
            raise self.fail(f"{self.context()}: {s.name}() takes a constant offset, not "
                            f"{arg!r}", s.pos)
        self.emit(Op.MIGHT_SLEEP, offset, text=f"{s.name}({offset})")

    def spelled(self, s: ast.Call, spelling: Spelling) -> None:
        """A kernel spelling of a lock operation: its base, with interrupts or softirqs
        disabled before an acquire and enabled again after a release."""
        lock_arg = s.args[:1]
        acquire = not spelling.base.endswith("_unlock")
        if acquire and spelling.context:
            self.context_step(f"{spelling.context}_off", f"{s.name}({lock_arg[0]})")
        self.call_stmt(ast.Call(spelling.base, lock_arg, s.pos, s.arg_pos[:1]))
        if not acquire and spelling.context:
            self.context_step(f"{spelling.context}_on", f"{s.name}({lock_arg[0]})")

    def context_step(self, change: str, text: str) -> None:
        """One CPU-local step that changes the CPU's context: interrupts (a count of
        disabled sections), softirqs (``preempt_count``, as the kernel counts them) or an
        RCU reader (``preempt_count`` where RCU is not preemptible)."""
        if change == "irq_off":
            self.emit(Op.IRQ_DISABLE, self.irqs, text=text)
        elif change == "irq_on":
            self.emit(Op.IRQ_ENABLE, self.irqs, text=text)
        elif change in ("bh_off", "rcu_in") and (change == "bh_off" or not self.rcu_preemptible):
            self.emit(Op.PREEMPT_DISABLE, text=text)
        elif change in ("bh_on", "rcu_out") and (change == "bh_on" or not self.rcu_preemptible):
            self.emit(Op.PREEMPT_ENABLE, text=text)
        else:
            self.emit(Op.WORK, text=text)      # a preemptible RCU reader: a local count only

    @property
    def rcu_preemptible(self) -> bool:
        return self.config.preempt in PREEMPTIBLE

    def work(self, steps: int) -> None:
        """``work(N)``: N work steps. Beyond one, a counted loop around a single step (a
        register counting down, tested by free instructions in the step's own transition),
        so the program is as long for work(1000000) as for work(2), with the same states:
        the step's place and the count left are what N distinct places used to say."""
        if steps == 1:
            self.emit(Op.WORK, text="work()")
            return
        counter, head, done = self.reg(), _Label(), _Label()
        self.emit(Op.SET_REG, counter, steps)
        self.mark(head)
        self.emit(Op.WORK, text="work()")
        self.emit(Op.DEC_REG, counter)
        self.emit(Op.BRANCH_ZERO, counter, target=done)
        self.emit(Op.JUMP, target=head)
        self.mark(done)

    def assign(self, s: ast.Assign) -> None:
        if isinstance(s.target, ast.Field):
            lock = self.bound_lock(s.target.obj, s.pos)
            value = self.fold(s.value)
            if value is None:
                raise self.fail(f"{self.context()}: only constants can be stored in "
                                f"{s.target.name}", s.pos)
            self.emit(Op.FLAG_WRITE, lock.index, value,
                      text=f"{lock.name}->{s.target.name} = {value}")
            return
        frame = self.frames[-1]
        slot = frame.env.get(s.target.name)
        if slot is None:
            slot = frame.env[s.target.name] = self.reg()
        self.value_into(s.value, slot)

    def return_(self, s: ast.Return) -> None:
        if not self.frames:               # the scenario's code path ends here
            self.leave_loops(0)
            self.emit(Op.JUMP, target=self.end)
            return
        frame = self.frames[-1]
        if s.value is not None and frame.result is not None:
            self.value_into(s.value, frame.result)
        self.emit(Op.JUMP, target=frame.exit)

    def value_into(self, expr: ast.Expr, slot: int) -> None:
        """Evaluate a 0/1 expression into a register."""
        value = self.fold(expr)
        if value is not None:
            self.emit(Op.SET_REG, slot, int(bool(value)))
            return
        yes, no, end = _Label(), _Label(), _Label()
        self.cond(expr, yes, no)
        self.mark(yes)
        self.emit(Op.SET_REG, slot, 1)
        self.emit(Op.JUMP, target=end)
        self.mark(no)
        self.emit(Op.SET_REG, slot, 0)
        self.mark(end)

    # ------------------------------------------------------------ calls

    def invoke(self, name: str, args: tuple[str | int, ...], result: int | None,
               pos: ast.Pos = NOWHERE) -> None:
        """A call to an era primitive, a lock routine or an atomic lock operation."""
        lock = self.bound_lock(args[0], pos) if args else None
        if lock is not None and name in lock.algorithm.ops:
            op = Op.FREE_LOCK_OP if name in lock.algorithm.free_ops else Op.LOCK_OP
            self.emit(op, lock.index, name, text=f"{name}({lock.name})")
            if result is not None:
                self.value_from_acc(result)
            return
        if lock is not None and name in lock.algorithm.routines:
            self.inline(name, Primitive(lock.algorithm.routines[name]), lock, result,
                        origin=f"<{lock.algorithm.name} {name}>", pos=pos)
            return
        if name in self.era.primitives:
            self.inline(name, self.era.primitives[name], lock, result,
                        origin=f"<{self.era.name} {name}>", pos=pos)
            return
        raise self.fail(
            f"{self.context()}: {name}() is neither a {self.era.name} primitive nor a lock "
            "operation; call one of the era's primitives or the arch_spin_* operations", pos)

    def value_from_acc(self, slot: int) -> None:
        yes, end = _Label(), _Label()
        self.emit(Op.BRANCH_ACC, target=yes)
        self.emit(Op.SET_REG, slot, 0)
        self.emit(Op.JUMP, target=end)
        self.mark(yes)
        self.emit(Op.SET_REG, slot, 1)
        self.mark(end)

    def inline(self, name: str, prim: Primitive, lock: LockInfo | None, result: int | None,
               origin: str, pos: ast.Pos) -> None:
        if len(self.frames) > 8:
            raise self.fail(f"{origin}: calls nest too deep; does {name}() call itself?", pos)
        label = f"{name}({lock.name})" if lock is not None else f"{name}()"
        outer = self.frames[-1] if self.frames else None
        flags = outer.flags if outer else 0
        if name in BREAK_PRIMITIVES:
            flags |= IN_BREAK
        if name in ACQUIRE_PRIMITIVES:
            flags |= ACQUIRING
        is_break = name in BREAK_PRIMITIVES
        scratch = is_break and result is None and prim.returns
        if scratch:
            result = self.reg()        # checked by BREAK_END even when the caller ignores it
        where = f"{outer.where} > {label}" if outer else label
        if outer is None and self.site is not None:
            flags |= IN_BREAK
            where = f"{label} [{self.site}]"
        file, line, col = prim.origin or (origin, 1, 1)
        frame = _Frame(lock.name if lock else None, where, flags, result, _Label(),
                       file if prim.origin else None)
        self.frames.append(frame)
        body = _parse_body(prim.body, file, line, col)
        frame.depths = _label_depths(body, len(self.loops))
        self.block(body)
        self.mark(frame.exit)
        for slot in frame.env.values():
            self.emit(Op.SET_REG, slot, 0)
        if is_break:
            self.emit(Op.BREAK_END, -1 if result is None or not prim.returns else result,
                      lock.index if lock is not None else 0)
            if scratch and result is not None:     # scratch: result is the register made above
                self.emit(Op.SET_REG, result, 0)
        self.frames.pop()

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

    def cond(self, expr: ast.Expr, yes: _Label, no: _Label) -> None:
        """Jump to ``yes`` or ``no``; atoms that read shared memory are steps."""
        value = self.fold(expr)
        if value is not None:
            self.emit(Op.JUMP, target=yes if value else no)
            return
        if isinstance(expr, ast.Not):
            self.cond(expr.operand, no, yes)
        elif isinstance(expr, ast.And):
            mid = _Label()
            self.cond(expr.left, mid, no)
            self.mark(mid)
            self.cond(expr.right, yes, no)
        elif isinstance(expr, ast.Or):
            mid = _Label()
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

    def compare(self, expr: ast.Compare, yes: _Label, no: _Label) -> None:
        left, right = expr.left, expr.right
        if not (isinstance(left, ast.CallExpr) and left.name == "preempt_count"):
            raise self.fail(f"{self.context()}: only preempt_count() can be compared", expr.pos)
        k = self.fold(right)
        if k is None:
            raise self.fail(f"{self.context()}: compare preempt_count() to a constant", expr.pos)
        self.emit(Op.BRANCH_PCOUNT, COMPARE[expr.op], k, target=yes)
        self.emit(Op.JUMP, target=no)

    def call_cond(self, expr: ast.CallExpr, yes: _Label, no: _Label) -> None:
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
            got = _Label()
            self.emit(Op.BRANCH_REG, slot, 1, target=got)
            self.emit(Op.JUMP, target=no)
            self.mark(got)
            self.emit(Op.BELIEVE, self.bound_lock(expr.args[0]).index, int(TRYLOCKS[name]))
            self.emit(Op.JUMP, target=yes)
            return
        self.emit(Op.BRANCH_REG, slot, 1, target=yes)
        self.emit(Op.JUMP, target=no)


    def spelled_trylock(self, expr: ast.CallExpr, spelling: Spelling, yes: _Label,
                        no: _Label) -> None:
        """``spin_trylock_irqsave(L, flags)`` and friends: interrupts (softirqs) off, then
        the trylock; on failure they are enabled again."""
        base = ast.CallExpr(spelling.base, expr.args[:1], expr.pos, expr.arg_pos[:1])
        text = f"{expr.name}({expr.args[0]})"
        if spelling.context:
            self.context_step(f"{spelling.context}_off", text)
        if not spelling.context:
            self.call_cond(base, yes, no)
            return
        failed = _Label()
        self.call_cond(base, yes, failed)
        self.mark(failed)
        self.context_step(f"{spelling.context}_on", text)
        self.emit(Op.JUMP, target=no)


def compile_cpu(code: tuple[ast.Stmt, ...], *, era: Era, config: BuildConfig,
                locks: Mapping[str, LockInfo], data: Mapping[str, int],
                drop_every: int = 1) -> Program:
    """Compile one CPU's scenario code, inlining the era's primitives.

    ``goto`` jumps to its label (the counters of the loops it leaves cleared, as ``break``
    clears them); ``return;`` jumps to the end. A CPU whose code disables interrupts gets a
    register counting the disabled sections (`Program.irqs`); one that never does folds
    ``irqs_disabled()`` in the era's primitives to 0, so its program is what it was before
    interrupts were modelled.

    An open-coded lock break (`model.lockset`) is compiled as a lock-break primitive's
    inside is: its unlock and relocks flagged ``IN_BREAK``, a ``BREAK_END`` after each relock,
    and trace words naming the site's line and lock. Finding the sites needs the flat program,
    so code that has one is compiled twice.
    """
    plain = _emit(code, era, config, locks, data, drop_every, {})
    program = plain.finish()
    sites = find_breaks(program.code, plain.statements, plain.cycles)
    if not sites:
        return program
    return _emit(code, era, config, locks, data, drop_every,
                 _site_words(sites, tuple(locks.values()))).finish()


def open_coded_breaks(code: tuple[ast.Stmt, ...], *, era: Era, config: BuildConfig,
                      locks: Mapping[str, LockInfo], data: Mapping[str, int]
                      ) -> tuple[BreakSite, ...]:
    """The open-coded lock-break sites of one CPU's scenario code (see `compile_cpu`)."""
    plain = _emit(code, era, config, locks, data, 1, {})
    return find_breaks(plain.finish().code, plain.statements, plain.cycles)


def _emit(code: tuple[ast.Stmt, ...], era: Era, config: BuildConfig,
          locks: Mapping[str, LockInfo], data: Mapping[str, int], drop_every: int,
          breaks: dict[tuple[int, int], str]) -> _Emitter:
    emitter = _Emitter(era, config, locks, data, drop_every)
    emitter.breaks = breaks
    emitter.depths = _label_depths(code, 0)
    if disables_irqs(_called(code)):
        emitter.irqs = emitter.reg()
    emitter.block(code)
    return emitter


def _site_words(sites: tuple[BreakSite, ...], locks: tuple[LockInfo, ...]
                ) -> dict[tuple[int, int], str]:
    """Per statement position, how traces name the open-coded break it belongs to: the
    unlock by its line and lock, each relock by the lines of the breaks it ends."""
    names = {lock.index: lock.name for lock in locks}
    words: dict[tuple[int, int], str] = {}
    ends: dict[tuple[int, int], list[int]] = {}
    for site in sites:
        pos = site.unlock.pos
        words[(pos.line, pos.col)] = (f"open-coded lock break of {names[site.lock]} "
                                      f"at line {pos.line}")
        for relock in site.relocks:
            ends.setdefault((relock.pos.line, relock.pos.col), []).append(pos.line)
    for (line, col), lines in ends.items():
        listed = ", ".join(str(n) for n in sorted(set(lines)))
        words[(line, col)] = f"relock of the open-coded lock break at line {listed}"
    return words


def _label_depths(code: tuple[ast.Stmt, ...], depth: int) -> dict[str, int]:
    """How many loops enclose each label of ``code``."""
    out: dict[str, int] = {}
    for s in code:
        if isinstance(s, ast.Label):
            out[s.name] = depth
        elif isinstance(s, ast.If):
            out |= _label_depths(s.then, depth) | _label_depths(s.orelse, depth)
        elif isinstance(s, ast.While | ast.Repeat | ast.Forever):
            out |= _label_depths(s.body, depth + 1)
    return out


def _called(code: tuple[ast.Stmt, ...]) -> set[str]:
    """The names of every function ``code`` calls, as statements or in conditions."""
    names: set[str] = set()

    def expr(e: ast.Expr) -> None:
        if isinstance(e, ast.CallExpr):
            names.add(e.name)
        elif isinstance(e, ast.Not):
            expr(e.operand)
        elif isinstance(e, ast.And | ast.Or | ast.Compare):
            expr(e.left)
            expr(e.right)

    for s in code:
        if isinstance(s, ast.Call):
            names.add(s.name)
        elif isinstance(s, ast.If):
            expr(s.cond)
            names |= _called(s.then) | _called(s.orelse)
        elif isinstance(s, ast.While):
            expr(s.cond)
            names |= _called(s.body)
        elif isinstance(s, ast.Repeat | ast.Forever):
            names |= _called(s.body)
    return names

