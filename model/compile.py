"""Compile a scenario's code, and the era primitives it calls, into flat CPU programs.

Era primitives and lock routines are kernel C (`model.eras`, `model.locks`); calls to them are
inlined with the lock bound, so one CPU's program is a straight list of atomic steps and free
control. Configuration tests (``IS_ENABLED(CONFIG_PREEMPT)``, ``preempt_model_full()``) are
folded here, at compile time, exactly as the kernel's preprocessor and static keys would
(`model.emitter` has the conditions and the code being emitted; this module the statements
and calls, and the entry points).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

from lockbreak.core import ModelDefinitionError
from model.build import PREEMPTIBLE, BuildConfig, LockInfo
from model.emitter import BELIEF_AFTER, Emitter, Frame, Label, LoopExits
from model.eras import Era, Primitive
from model.lang import ast
from model.lang.parser import parse_code
from model.lockset import BreakSite, LockStatement, find_breaks
from model.program import ACQUIRING, IN_BREAK, NOWHERE, Op, Program
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
# The might-sleep annotations of the eras' C (``__might_resched()`` and, before v5.16,
# ``__might_sleep()``), each with the preempt_count offset it allows.
MIGHT_SLEEP_CHECKS = frozenset({"__might_sleep", "__might_resched"})


@functools.cache
def _parse_body(text: str, file: str, line: int, col: int) -> tuple[ast.Stmt, ...]:
    return parse_code(text, file=file, line=line, col=col, mode="era")


class _Compiler(Emitter):
    """Compiles one CPU's statements and calls, inlining the era's primitives."""

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
            then, other, end = Label(), Label(), Label()
            self.cond(s.cond, then, other)
            self.mark(then)
            self.block(s.then)
            self.emit(Op.JUMP, target=end)
            self.mark(other)
            self.block(s.orelse)
            self.mark(end)
        elif isinstance(s, ast.While):
            loop = LoopExits(Label(), Label(), Label())
            loop.cont = loop.head
            body = Label()
            self.mark(loop.head)
            self.cond(s.cond, body, loop.exit)
            self.mark(body)
            self.loop_body(loop, s.body)
            self.emit(Op.JUMP, target=loop.head)
            self.mark(loop.exit)
        elif isinstance(s, ast.Forever):
            loop = LoopExits(Label(), Label(), Label())
            loop.cont = loop.head
            self.mark(loop.head)
            self.loop_body(loop, s.body)
            self.emit(Op.JUMP, target=loop.head)
            self.mark(loop.exit)
        elif isinstance(s, ast.Repeat):
            counter = self.reg()
            loop = LoopExits(Label(), Label(), Label(), counter, s.count)
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

    def label(self, name: str) -> Label:
        scope = self.frames[-1].labels if self.frames else self.labels
        return scope.setdefault(name, Label())

    def leave_loops(self, depth: int) -> None:
        """Clear the counters of the loops a jump leaves, as ``break`` does, so a CPU that
        left a loop early is in the same state as one that ran it out."""
        for loop in self.loops[depth:]:
            if loop.counter is not None:
                self.emit(Op.SET_REG, loop.counter, 0)

    def loop_body(self, loop: LoopExits, body: tuple[ast.Stmt, ...]) -> None:
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
        counter, head, done = self.reg(), Label(), Label()
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
        yes, no, end = Label(), Label(), Label()
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
        yes, end = Label(), Label()
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
        frame = Frame(lock.name if lock else None, where, flags, result, Label(),
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
          breaks: dict[tuple[int, int], str]) -> _Compiler:
    emitter = _Compiler(era, config, locks, data, drop_every)
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

