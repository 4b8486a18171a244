"""The transition relation of N CPUs running a compiled loop, generated instruction by instruction.

One `Move` is one atomic step of some CPU ``me`` from one program point along one path of the
free control after it (docs/semantics.md section 2, the same split as `model.kernel`): a guard over
the pre-state, the post-state it makes, and the events it shows (a lock-break site's return
value, its exit, a lock release). Plus the environment's wakeups and the ``full`` preemption
whenever ``preempt_count`` is 0 and ``need_resched`` is set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

import z3

from lockbreak.core import ModelDefinitionError
from model.locks import RELEASE_OPS
from model.opcodes import Op, unhandled
from model.program import IN_BREAK, Belief, Instr
from model.proofs.loops import Loop
from model.proofs.symlocks import SYMBOLIC_OPS
from model.proofs.vocabulary import Frame, Vocabulary

MAX_FREE = 400
_COMPARE = (lambda x, k: x == k, lambda x, k: x != k, z3.ULT, z3.ULE, z3.UGT, z3.UGE)
PER_CPU = ("count", "need", "holds", "queued", "pos", "dropped", "saved")
# The opcodes a proof loop never compiles to (`model.proofs.loops`: one lock, no data, no
# `*` guard, no interrupts, a lock-break with drop_every = 1), refused by name.
REFUSED: Mapping[Op, str] = MappingProxyType({
    Op.DATA_READ: "a proof loop has no data",
    Op.DATA_WRITE: "a proof loop has no data",
    Op.DATA_USE: "a proof loop has no data",
    Op.DATA_GET: "a proof loop has no data",
    Op.DATA_PUT: "a proof loop has no data",
    Op.NONDET: "a proof loop has no * guard",
    Op.IRQ_DISABLE: "a proof loop keeps interrupts enabled",
    Op.IRQ_ENABLE: "a proof loop keeps interrupts enabled",
    Op.DEC_REG: "a proof loop has no repeat counter",
    Op.BRANCH_ZERO: "a proof loop has no repeat counter",
    Op.FREE_LOCK_OP: "a proof loop runs on SMP, where every lock op is a step",
})


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


# One outcome of a step: (guard, env with acc in it, events, released the lock).
Outcome = tuple[z3.BoolRef, Env, dict[str, z3.BoolRef], bool]
# One way out of a free instruction: (next pc, guard, env, events).
Branch = tuple[int, z3.BoolRef, Env, dict[str, z3.BoolRef]]


class Generator:
    """Builds the moves of one compiled loop."""

    def __init__(self, loop: Loop, voc: Vocabulary, s: Frame, me: z3.ExprRef) -> None:
        self.loop, self.voc, self.s, self.me = loop, voc, s, me
        self.code = loop.program.code
        self.ops = SYMBOLIC_OPS[loop.lock]
        entries = [pc for pc, i in enumerate(self.code) if i.flags & IN_BREAK]
        self.break_entry = min(entries) if entries else -1
        self.fresh = 0
        self.steps: Mapping[Op, Callable[[Instr, Env], Iterable[Outcome]]] = {
            Op.PREEMPT_DISABLE: self._preempt_disable,
            Op.PREEMPT_ENABLE: self._preempt_enable,
            Op.PREEMPT_ENABLE_NO_RESCHED: self._preempt_enable,
            Op.CPU_RELAX: self._nothing,
            Op.WORK: self._nothing,
            Op.SCHEDULE: self._schedule,
            Op.NEED_RESCHED: self._need_resched,
            Op.FLAG_READ: self._flag_read,
            Op.FLAG_WRITE: self._flag_write,
            Op.LOCK_OP: self.lock_op,
        }
        self.free_rules: Mapping[Op, Callable[[int, Instr, Env, dict[str, z3.BoolRef]],
                                              Iterator[Branch]]] = {
            Op.JUMP: self._jump,
            Op.BRANCH_ACC: self._branch,
            Op.BRANCH_REG: self._branch,
            Op.BRANCH_PCOUNT: self._branch_pcount,
            Op.SET_REG: self._set_reg,
            Op.MM_DROP_DUE: self._mm_drop_due,
            Op.BELIEVE: self._believe,
            Op.BREAK_END: self._break_end,
            Op.MIGHT_SLEEP: self._might_sleep,
        }

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
                    yield Move(pc, instr.words, z3.And(at, guard, cond), leaf, nxt,
                               release, {**events, **more}, leaf.returned)
        env = self.start()
        yield Move(-1, "wakeup: need_resched = 1", z3.Not(s.need(me)),
                   env.set(need=self.voc.bool(True)), -1)

    # ------------------------------------------------------------ the step

    def step(self, pc: int, instr: Instr, env: Env
             ) -> Iterator[tuple[z3.BoolRef, Env, dict[str, z3.BoolRef], bool]]:
        """``(guard, env with acc in it, events, released)`` per outcome of the step."""
        rule = self.steps.get(instr.op)
        if rule is None:
            raise self._refusal(instr)
        entry: dict[str, z3.BoolRef] = {}
        if pc == self.break_entry:
            entry = {"holds_before": env.owns(self.me)}
            env = self.enter_break(env)
        for guard, out, events, released in rule(instr, env):
            yield guard, out, {**entry, **events}, released

    def _refusal(self, instr: Instr) -> ModelDefinitionError:
        """The error for an opcode without a rule: refused by name, or unknown."""
        if instr.op in REFUSED:
            return ModelDefinitionError(f"proofs do not model {instr.op.name} "
                                        f"({REFUSED[instr.op]}): {instr.words}")
        return unhandled(instr, "the proofs' transition relation")

    def _acc(self, env: Env, acc: z3.BoolRef) -> list[Outcome]:
        """The outcomes of a step that sets acc to ``acc``: one, or one per value."""
        if z3.is_true(acc) or z3.is_false(acc):
            return [(self.voc.bool(True), env.set_reg(-1, acc), {}, False)]
        return [(acc, env.set_reg(-1, self.voc.bool(True)), {}, False),
                (z3.Not(acc), env.set_reg(-1, self.voc.bool(False)), {}, False)]

    def _preempt_disable(self, instr: Instr, env: Env) -> list[Outcome]:
        return self._acc(env.set(count=env.mine["count"] + self.voc.count(1)),
                         self.voc.bool(False))

    def _preempt_enable(self, instr: Instr, env: Env) -> list[Outcome]:
        return self._acc(env.set(count=env.mine["count"] - self.voc.count(1)),
                         self.voc.bool(False))

    def _nothing(self, instr: Instr, env: Env) -> list[Outcome]:
        return self._acc(env, self.voc.bool(False))

    def _schedule(self, instr: Instr, env: Env) -> list[Outcome]:
        return self._acc(env.set(need=self.voc.bool(False)), self.voc.bool(False))

    def _need_resched(self, instr: Instr, env: Env) -> list[Outcome]:
        return self._acc(env, env.mine["need"])

    def _flag_read(self, instr: Instr, env: Env) -> list[Outcome]:
        return self._acc(env, env.shared["break_lock"])

    def _flag_write(self, instr: Instr, env: Env) -> list[Outcome]:
        return self._acc(env.set(break_lock=self.voc.bool(bool(instr.b))), self.voc.bool(False))

    def enter_break(self, env: Env) -> Env:
        return env.set(saved=env.mine["count"])

    def lock_op(self, instr: Instr, env: Env) -> Iterator[Outcome]:
        """One lock op in its any-N form: one outcome per guarded case."""
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
                raise ModelDefinitionError(f"free loop at {self.code[pc].words}")
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
             ) -> Iterator[Branch]:
        """``(next pc, guard, env, events)`` per way out of the free instruction at ``pc``."""
        rule = self.free_rules.get(instr.op)
        if rule is None:
            raise self._refusal(instr)
        return rule(pc, instr, env, events)

    def _jump(self, pc: int, instr: Instr, env: Env, events: dict[str, z3.BoolRef]
              ) -> Iterator[Branch]:
        yield instr.target, self.voc.bool(True), env, events

    def _branch(self, pc: int, instr: Instr, env: Env, events: dict[str, z3.BoolRef]
                ) -> Iterator[Branch]:
        op = instr.op
        reg = -1 if op is Op.BRANCH_ACC else int(instr.a)
        value = env.regs[reg]
        if op is Op.BRANCH_REG and instr.b:
            env = env.set_reg(reg, self.voc.bool(False))
        yield from _split(value, instr.target, pc + 1, env, events)

    def _branch_pcount(self, pc: int, instr: Instr, env: Env, events: dict[str, z3.BoolRef]
                       ) -> Iterator[Branch]:
        k = self.voc.count(int(instr.b))
        taken = _COMPARE[int(instr.a)](env.mine["count"], k)
        yield from _split(taken, instr.target, pc + 1, env, events)

    def _set_reg(self, pc: int, instr: Instr, env: Env, events: dict[str, z3.BoolRef]
                 ) -> Iterator[Branch]:
        yield pc + 1, self.voc.bool(True), env.set_reg(int(instr.a),
                                                       self.voc.bool(bool(instr.b))), events

    def _mm_drop_due(self, pc: int, instr: Instr, env: Env, events: dict[str, z3.BoolRef]
                     ) -> Iterator[Branch]:
        # drop_every = 1: every call is a drop_every-th call
        yield pc + 1, self.voc.bool(True), env.set_reg(-1, self.voc.bool(True)), events

    def _believe(self, pc: int, instr: Instr, env: Env, events: dict[str, z3.BoolRef]
                 ) -> Iterator[Branch]:
        held = self.voc.bool(Belief(int(instr.b)) == Belief.HELD)
        yield pc + 1, self.voc.bool(True), env.set(holds=held), events

    def _break_end(self, pc: int, instr: Instr, env: Env, events: dict[str, z3.BoolRef]
                   ) -> Iterator[Branch]:
        yield pc + 1, self.voc.bool(True), *self.break_end(instr, env, events)

    def _might_sleep(self, pc: int, instr: Instr, env: Env, events: dict[str, z3.BoolRef]
                     ) -> Iterator[Branch]:
        # A debug check that changes nothing; might_sleep_clean is not among the goals.
        yield pc + 1, self.voc.bool(True), env, events

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
