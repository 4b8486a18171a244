"""The transition relation of N CPUs running a compiled loop, generated instruction by instruction.

One `Move` is one atomic step of some CPU ``me`` from one program point along one path of the
free control after it (docs/semantics.md section 2, the same split as `model.kernel`): a guard over
the pre-state, the post-state it makes, and the events it shows (a lock-break site's return
value, its exit, a lock release). Plus the environment's wakeups and the ``full`` preemption
whenever ``preempt_count`` is 0 and ``need_resched`` is set.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import z3

from lockbreak.core import ModelDefinitionError
from model.locks import RELEASE_OPS
from model.program import IN_BREAK, Belief, Instr, Op
from model.proofs.loops import Loop
from model.proofs.symlocks import SYMBOLIC_OPS
from model.proofs.vocabulary import Frame, Vocabulary

MAX_FREE = 400
_COMPARE = (lambda x, k: x == k, lambda x, k: x != k, z3.ULT, z3.ULE, z3.UGT, z3.UGE)
PER_CPU = ("count", "need", "holds", "queued", "pos", "dropped", "saved")


@dataclass(frozen=True)
class Env:
    """The moving CPU's fields and the shared fields, as z3 terms, along one path."""

    mine: dict[str, z3.ExprRef]
    shared: dict[str, z3.ExprRef]
    regs: dict[int, z3.ExprRef]
    returned: tuple[str, z3.ExprRef, z3.ExprRef] | None = None   # a lock-break site returned

    def set(self, **changes: z3.ExprRef) -> Env:
        mine, shared = dict(self.mine), dict(self.shared)
        for key, value in changes.items():
            (mine if key in mine else shared)[key] = value
        return replace(self, mine=mine, shared=shared)

    def set_reg(self, reg: int, value: z3.ExprRef) -> Env:
        return replace(self, regs={**self.regs, reg: value})

    def owns(self, me: z3.ExprRef) -> z3.BoolRef:
        return z3.And(self.shared["locked"], self.shared["owner"] == me)


@dataclass(frozen=True)
class Move:
    """One step of ``me`` along one path: guard, effect, and what it shows."""

    pc: int                     # where ``me`` is before the step (-1: a wakeup)
    text: str                   # kernel words: "cond_resched_lock(L) > spin_lock(L): ..."
    guard: z3.BoolRef           # over the pre-state, ``me`` and this move's fresh positions
    env: Env                    # ``me``'s and the shared fields after the step
    next_pc: int
    release: bool = False       # the step released L (a lock-break interval ended)
    events: dict[str, z3.BoolRef] = field(default_factory=dict)  # contract name -> holds
    returned: tuple[str, z3.ExprRef, z3.ExprRef] | None = None   # site, value, dropped

    def post(self, t: Frame, me: z3.ExprRef) -> z3.BoolRef:
        """``me``'s fields and the shared fields in ``t`` are what this move made them
        (`frame` keeps every other CPU's)."""
        s_pc = self.env.mine["pc_before"]
        parts = [getattr(t, k)(me) == self.env.mine[k] for k in PER_CPU]
        parts += [f(me) == self.env.regs[r] for r, f in t.regs.items()]
        parts.append(t.pc(me) == (s_pc if self.next_pc < 0 else t.voc.pc_of[self.next_pc]))
        parts += [now == self.env.shared[name] for name, now in t.shared().items()]
        return z3.And(parts)


def frame(s: Frame, t: Frame, me: z3.ExprRef) -> z3.BoolRef:
    """Every CPU but ``me`` keeps its fields: one step moves one CPU (shared by all moves)."""
    c = z3.Const("c_frame", s.voc.cpu)
    same = [t.pc(c) == s.pc(c)]
    same += [getattr(t, k)(c) == getattr(s, k)(c) for k in PER_CPU]
    same += [t.regs[r](c) == f(c) for r, f in s.regs.items()]
    return z3.ForAll([c], z3.Implies(c != me, z3.And(same)))


class Generator:
    """Builds the moves of one compiled loop."""

    def __init__(self, loop: Loop, voc: Vocabulary, s: Frame, me: z3.ExprRef) -> None:
        self.loop, self.voc, self.s, self.me = loop, voc, s, me
        self.code = loop.program.code
        self.ops = SYMBOLIC_OPS[loop.lock]
        entries = [pc for pc, i in enumerate(self.code) if i.flags & IN_BREAK]
        self.break_entry = min(entries) if entries else -1
        self.fresh = 0

    def start(self) -> Env:
        s, me = self.s, self.me
        mine = {k: getattr(s, k)(me) for k in PER_CPU}
        mine["pc_before"] = s.pc(me)
        regs: dict[int, z3.ExprRef] = {r: self.voc.bool(False)
                                       for r in range(self.loop.program.registers)}
        regs.update({r: f(me) for r, f in s.regs.items()})
        return Env(mine, s.shared(), regs)

    def moves(self) -> Iterator[Move]:
        """Every step of ``me`` from every program point, then preemption and wakeup."""
        s, me = self.s, self.me
        for pc in self.voc.pc_of:
            instr = self.code[pc]
            at = s.at(me, pc)
            preempt = z3.And(s.need(me), s.count(me) == 0)
            if instr.op is not Op.SCHEDULE:
                env = self.start()
                yield Move(pc, "preempted: schedule()", z3.And(at, preempt),
                           env.set(need=self.voc.bool(False)), pc)
                at = z3.And(at, z3.Not(preempt))
            for guard, env, events, release in self.step(pc, instr, self.start()):
                for cond, leaf, nxt, more in self.run(pc + 1, env):
                    yield Move(pc, _words(instr), z3.And(at, guard, cond), leaf, nxt,
                               release, {**events, **more}, leaf.returned)
        env = self.start()
        yield Move(-1, "wakeup: need_resched = 1", z3.Not(s.need(me)),
                   env.set(need=self.voc.bool(True)), -1)

    # ------------------------------------------------------------ the step

    def step(self, pc: int, instr: Instr, env: Env
             ) -> Iterator[tuple[z3.BoolRef, Env, dict[str, z3.BoolRef], bool]]:
        """``(guard, env with acc in it, events, released)`` per outcome of the step."""
        true = self.voc.bool(True)
        one = self.voc.count(1)
        entry: dict[str, z3.BoolRef] = {}
        if pc == self.break_entry:
            entry = {"holds_before": env.owns(self.me)}
            env = self.enter_break(env)
        count = env.mine["count"]
        op = instr.op
        acc = self.voc.bool(False)
        if op is Op.PREEMPT_DISABLE:
            env = env.set(count=count + one)
        elif op in (Op.PREEMPT_ENABLE, Op.PREEMPT_ENABLE_NO_RESCHED):
            env = env.set(count=count - one)
        elif op is Op.SCHEDULE:
            env = env.set(need=self.voc.bool(False))
        elif op is Op.NEED_RESCHED:
            acc = env.mine["need"]
        elif op is Op.FLAG_READ:
            acc = env.shared["break_lock"]
        elif op is Op.FLAG_WRITE:
            env = env.set(break_lock=self.voc.bool(bool(instr.b)))
        elif op is Op.LOCK_OP:
            for guard, out, events, released in self.lock_op(instr, env):
                yield guard, out, {**entry, **events}, released
            return
        elif op not in (Op.CPU_RELAX, Op.WORK):
            raise ModelDefinitionError(f"proofs do not model {op.name} ({_words(instr)})")
        if z3.is_true(acc) or z3.is_false(acc):
            yield true, env.set_reg(-1, acc), entry, False
        else:
            yield acc, env.set_reg(-1, self.voc.bool(True)), entry, False
            yield z3.Not(acc), env.set_reg(-1, self.voc.bool(False)), entry, False

    def enter_break(self, env: Env) -> Env:
        return env.set(saved=env.mine["count"])

    def lock_op(self, instr: Instr, env: Env
                ) -> Iterator[tuple[z3.BoolRef, Env, dict[str, z3.BoolRef], bool]]:
        name = str(instr.b)
        if name not in self.ops:
            raise ModelDefinitionError(f"no any-N form of {name} for {self.loop.lock}")
        self.fresh += 1
        fresh = z3.Const(f"next_pos_{self.fresh}", self.voc.pos)
        released = name in RELEASE_OPS
        for case in self.ops[name](self.s, self.me, fresh):
            out = env.set(**case.shared, **case.mine)
            if case.acquired:
                out = out.set(holds=self.voc.bool(True))
            if released:
                out = out.set(holds=self.voc.bool(False))
                if instr.flags & IN_BREAK:
                    out = out.set(dropped=self.voc.bool(True))
            yield case.guard, out.set_reg(-1, self.voc.bool(bool(case.value))), {}, released

    # ------------------------------------------------------------ free control

    def run(self, pc: int, env: Env
            ) -> Iterator[tuple[z3.BoolRef, Env, int, dict[str, z3.BoolRef]]]:
        """Every path of free instructions from ``pc`` to the next step."""
        todo: list[tuple[int, z3.BoolRef, Env, dict[str, z3.BoolRef], int]] = [
            (pc, self.voc.bool(True), env, {}, 0)]
        while todo:
            pc, cond, env, events, n = todo.pop()
            if n > MAX_FREE:
                raise ModelDefinitionError(f"free loop at {_words(self.code[pc])}")
            if pc >= len(self.code):
                raise ModelDefinitionError("a proof loop must run forever")
            instr = self.code[pc]
            if instr.is_step:
                yield cond, replace(env, regs={r: v for r, v in env.regs.items() if r >= 0}), \
                    pc, events
                continue
            if pc == self.break_entry:
                events = {**events, "holds_before": env.owns(self.me)}
                env = self.enter_break(env)
            for nxt, c2, env2, ev2 in self.free(pc, instr, env, events):
                todo.append((nxt, z3.simplify(z3.And(cond, c2)), env2, ev2, n + 1))

    def free(self, pc: int, instr: Instr, env: Env, events: dict[str, z3.BoolRef]
             ) -> Iterator[tuple[int, z3.BoolRef, Env, dict[str, z3.BoolRef]]]:
        true = self.voc.bool(True)
        op = instr.op
        if op is Op.JUMP:
            yield instr.target, true, env, events
        elif op in (Op.BRANCH_ACC, Op.BRANCH_REG):
            reg = -1 if op is Op.BRANCH_ACC else int(instr.a)
            value = env.regs[reg]
            if op is Op.BRANCH_REG and instr.b:
                env = env.set_reg(reg, self.voc.bool(False))
            yield from _split(value, instr.target, pc + 1, env, events)
        elif op is Op.BRANCH_PCOUNT:
            k = self.voc.count(int(instr.b))
            taken = _COMPARE[int(instr.a)](env.mine["count"], k)
            yield from _split(taken, instr.target, pc + 1, env, events)
        elif op is Op.SET_REG:
            yield pc + 1, true, env.set_reg(int(instr.a), self.voc.bool(bool(instr.b))), events
        elif op is Op.MM_DROP_DUE:
            # drop_every = 1: every call is a drop_every-th call
            yield pc + 1, true, env.set_reg(-1, self.voc.bool(True)), events
        elif op is Op.BELIEVE:
            yield pc + 1, true, env.set(holds=self.voc.bool(Belief(int(instr.b)) == Belief.HELD)), \
                events
        elif op is Op.BREAK_END:
            yield pc + 1, true, *self.break_end(instr, env, events)
        elif op is Op.MIGHT_SLEEP:
            # A debug check that changes nothing; might_sleep_clean is not among the goals.
            yield pc + 1, true, env, events
        else:
            raise ModelDefinitionError(f"proofs do not model {op.name}")

    def break_end(self, instr: Instr, env: Env, events: dict[str, z3.BoolRef]
                  ) -> tuple[Env, dict[str, z3.BoolRef]]:
        """The lock-break site returns: its contract is judged here."""
        me = self.me
        found = {**events,
                 "holds_after": env.owns(me),
                 "preempt_count_restored": env.mine["count"] == env.mine["saved"]}
        if int(instr.a) >= 0:
            value = env.regs[int(instr.a)]
            found["break_return_truth"] = value == env.mine["dropped"]
            env = replace(env, returned=(instr.where, value, env.mine["dropped"]))
        zero = self.voc.count(0)
        return env.set(dropped=self.voc.bool(False), saved=zero), found


def _split(value: z3.ExprRef, target: int, fall: int, env: Env,
           events: dict[str, z3.BoolRef]
           ) -> Iterator[tuple[int, z3.BoolRef, Env, dict[str, z3.BoolRef]]]:
    value = z3.simplify(value)
    if z3.is_true(value):
        yield target, z3.BoolVal(True, value.ctx), env, events
    elif z3.is_false(value):
        yield fall, z3.BoolVal(True, value.ctx), env, events
    else:
        yield target, value, env, events
        yield fall, z3.Not(value), env, events


def _words(instr: Instr) -> str:
    return f"{instr.where}: {instr.text}" if instr.where else instr.text


def live_registers(loop: Loop) -> tuple[int, ...]:
    """Registers whose value at some step is read later: these are part of the state."""
    code = loop.program.code
    n = len(code)
    live: list[set[int]] = [set() for _ in range(n + 1)]
    changed = True
    while changed:
        changed = False
        for pc in range(n - 1, -1, -1):
            instr = code[pc]
            out: set[int] = set()
            if instr.op is not Op.JUMP:
                out |= live[pc + 1]
            if instr.target >= 0:
                out |= live[instr.target]
            if instr.op is Op.SET_REG:
                out.discard(int(instr.a))
            if instr.op is Op.BRANCH_REG or (instr.op is Op.BREAK_END and int(instr.a) >= 0):
                out.add(int(instr.a))
            if out != live[pc]:
                live[pc] = out
                changed = True
    steps = loop.step_pcs()
    return tuple(sorted(set().union(*(live[pc] for pc in steps))))
