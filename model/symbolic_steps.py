"""The symbolic interpreter: one CPU's step on z3 terms, as every path it can take.

`model.symbolic.SymbolicKernel` builds the kernel model's transition relation from these
paths. Each rule mirrors the concrete interpreter's (`model.interpreter.Interpreter`)
instruction by instruction: the program counter stays concrete on every path, and a test of
a symbolic value (a register, ``preempt_count``, a lock word's answer) forks the path under a
guard. Lock ops are looked up in each algorithm's tabulated answers (`model.word_tables`).
The rules are two mappings from opcode to method (`model.opcodes`); the constructs only the
explicit engines model are refused by name (`model.constructs.EXPLICIT_ONLY`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import z3

from lockbreak.core import LockbreakError
from model.constructs import EXPLICIT_ONLY
from model.events import Event
from model.layout import (
    ACC,
    COUNT,
    DROP_DONE,
    DROP_UNJUSTIFIED,
    DROPPED,
    MM,
    NEED,
    PC,
    REGS,
    TICKET,
)
from model.locks import RELEASE_OPS
from model.lockset import snapshots_taken
from model.opcodes import Op, may_block, unhandled
from model.program import ACQUIRING, IN_BREAK, Belief, Instr
from model.word_tables import WordTable
from model.world import World

# Free instructions one path may run before it counts as a loop without a step (the explicit
# model's MAX_FREE_RUN, scaled to programs that are straight lines of a few hundred).
FREE_RUN_LIMIT = 10_000
NAME = "the z3 encoding"

COMPARE: tuple[Callable[[Any, int], z3.BoolRef], ...] = (
    lambda x, k: x == k, lambda x, k: x != k, lambda x, k: x < k,
    lambda x, k: x <= k, lambda x, k: x > k, lambda x, k: x >= k,
)


@dataclass
class Path:
    """One path through a CPU's step: its guard, the CPU's registers and the shared memory."""

    pc: int
    guard: list[z3.BoolRef]
    regs: list[Any]                  # z3 terms, indexed like the explicit private tuple
    mem: list[list[Any]]             # per lock [word, flag, holders, writers, waiters]; per datum
    events: dict[Event, z3.BoolRef]
    fault: bool = False              # the explicit model raises a ScenarioError here
    start: int = -1                  # the pc the step started from

    def fork(self, cond: z3.BoolRef) -> tuple[Path | None, Path | None]:
        """(the path where ``cond`` holds, the path where it does not); None when impossible."""
        cond = z3.simplify(cond)
        if z3.is_true(cond):
            return self, None
        if z3.is_false(cond):
            return None, self
        other = Path(self.pc, [*self.guard, z3.Not(cond)], list(self.regs),
                     [list(m) for m in self.mem], dict(self.events), self.fault, self.start)
        self.guard.append(cond)
        return self, other

    def event(self, event: Event, cond: Any = True) -> None:
        """Record that ``event`` happens on this path when ``cond`` holds."""
        before = self.events.get(event)
        self.events[event] = z3.BoolVal(True) if cond is True else (
            cond if before is None else z3.Or(before, cond))


def nonzero(term: Any) -> z3.BoolRef:
    """The test of a register or acc for true."""
    return term != 0


@dataclass(frozen=True)
class Copy:
    """The z3 variables of one step-indexed copy of the state."""

    locals: tuple[tuple[Any, ...], ...]   # per CPU, like the private tuple (ACC slot: 0)
    shared: tuple[tuple[Any, ...], ...]

    def terms(self) -> list[Any]:
        """Every variable of the copy but the accumulators, in a fixed order."""
        out = [t for local in self.locals for i, t in enumerate(local) if i != ACC]
        return out + [t for part in self.shared for t in part]


StepRule = Callable[[int, Instr, Path], list[Path]]
FreeRule = Callable[[int, Instr, Path], Path | None]


class SymbolicSteps:
    """The symbolic rules of every opcode for the CPUs of one world, over bit-vectors of
    ``width`` bits and the lock word ``tables`` closed under ``tickets``."""

    def __init__(self, world: World, tables: list[WordTable], tickets: set[int],
                 width: int) -> None:
        self.world = world
        self.n = world.n_cpus
        self.tables = tables
        self.tickets = tickets
        self.width = width
        self._code = [p.code for p in world.programs]
        self._live = [p.live_snapshots() for p in world.programs]
        self._taken = [snapshots_taken(p.code) for p in world.programs]
        self._preemptible = world.config.preempt in ("full", "rt")
        self.steps: Mapping[Op, StepRule] = {
            Op.PREEMPT_DISABLE: self._preempt_disable,
            Op.PREEMPT_ENABLE: self._preempt_enable,
            Op.PREEMPT_ENABLE_NO_RESCHED: self._preempt_enable,
            Op.CPU_RELAX: self._nothing,
            Op.WORK: self._nothing,
            Op.SCHEDULE: self._schedule,
            Op.NEED_RESCHED: self._need_resched,
            Op.LOCK_OP: self.lock_op,
            Op.FLAG_READ: self._flag_read,
            Op.FLAG_WRITE: self._flag_write,
            Op.DATA_READ: self._data_read,
            Op.DATA_WRITE: self._data_write,
            Op.DATA_USE: self._data_use,
        }
        self.free: Mapping[Op, FreeRule] = {
            Op.JUMP: self._jump,
            Op.BRANCH_ACC: self._branch,
            Op.BRANCH_REG: self._branch,
            Op.BRANCH_PCOUNT: self._branch,
            Op.BRANCH_ZERO: self._branch,
            Op.SET_REG: self._set_reg,
            Op.DEC_REG: self._dec_reg,
            Op.MM_DROP_DUE: self._mm_drop_due,
            Op.BELIEVE: self._believe_rule,
            Op.BREAK_END: self._break_end,
            Op.MIGHT_SLEEP: self._might_sleep,
            Op.FREE_LOCK_OP: self._free_lock_op,
        }
        # What only the explicit engines model: `SymbolicKernel` refuses the scenario first.
        self.refused: Mapping[Op, str] = EXPLICIT_ONLY

    def val(self, value: int) -> z3.BitVecNumRef:
        """A number constant of the bit-vectors' width."""
        return z3.BitVecVal(value, self.width)

    def top(self) -> int:
        """The largest number a bit-vector holds."""
        return (1 << (self.width - 1)) - 1

    # ------------------------------------------------------------ one transition

    def paths(self, cpu: int, before: Copy) -> list[Path]:
        """Every path of one step of ``cpu`` from the copy ``before``
        (`model.interpreter.Interpreter.execute`)."""
        code = self._code[cpu]
        out = []
        mine = before.locals[cpu]
        for pc in [pc for pc, instr in enumerate(code) if instr.is_step] + [len(code)]:
            path = Path(pc, [mine[PC] == pc], list(mine), [list(m) for m in before.shared], {},
                        start=pc)
            preempt = z3.And(mine[NEED] != 0, mine[COUNT] == 0)
            if pc >= len(code):
                if self._preemptible:
                    path.guard.append(preempt)
                    path.regs[NEED] = self.val(0)
                    path.event(Event.SCHEDULE)
                    out.append(path)
                continue
            instr = code[pc]
            stepping: Path | None = path
            if self._preemptible and instr.op != Op.SCHEDULE and not may_block(instr):
                preempted, stepping = path.fork(preempt)
                if preempted is not None:
                    preempted.regs[NEED] = self.val(0)
                    preempted.regs[DROPPED] &= ~z3.BitVecVal(DROP_UNJUSTIFIED, 2)
                    preempted.event(Event.SCHEDULE)
                    out.append(self.finish(cpu, preempted))
            if stepping is None:
                continue
            for stepped in self.step(cpu, instr, stepping):
                stepped.pc = pc + 1
                out += [self.finish(cpu, end) for end in self.free_run(cpu, stepped)]
        return out

    def finish(self, cpu: int, path: Path) -> Path:
        """ACC cleared, dead snapshots forgotten, double holds noticed (the tail of
        `Interpreter.execute`)."""
        path.regs[PC] = self.val(path.pc)
        path.regs[ACC] = self.val(0)
        base, me = len(self.world.locks), z3.BitVecVal(1 << cpu, self.n)
        live = self._live[cpu][path.pc]
        for d in range(len(self.world.data)):
            if not live >> d & 1:
                fresh, stale = path.mem[base + d]
                path.mem[base + d] = [fresh & ~me, stale & ~me]
        path.event(Event.DOUBLE_HOLD, self.double_hold(path.mem))
        return path

    def double_hold(self, mem: list[list[Any]]) -> z3.BoolRef:
        """When a lock has two holders, or a writer and anyone else."""
        out = []
        for lock in self.world.locks:
            _, _, holders, writers, _ = mem[lock.index]
            if not lock.has_readers:
                out.append(holders & (holders - 1) != 0)
            out.append(z3.And(writers != 0, z3.Or(writers & (writers - 1) != 0, holders != 0)))
        return z3.simplify(z3.Or(out)) if out else z3.BoolVal(False)

    # ------------------------------------------------------------ steps

    def step(self, cpu: int, instr: Instr, path: Path) -> list[Path]:
        """The step ``instr`` on ``path``: the paths it continues on."""
        rule = self.steps.get(instr.op)
        if rule is None:
            raise self._refusal(instr)
        return rule(cpu, instr, path)

    def _refusal(self, instr: Instr) -> LockbreakError:
        """The error for an opcode without a rule: refused by name, or unknown."""
        if instr.op in self.refused:
            return LockbreakError(f"{NAME} does not model {self.refused[instr.op]}")
        return unhandled(instr, NAME)

    def _preempt_disable(self, cpu: int, instr: Instr, path: Path) -> list[Path]:
        fine, over = path.fork(path.regs[COUNT] != self.top())
        if over is not None:
            over.fault = True        # past the bit-vector's range: never a silent wrap
        for p in (fine, over):
            if p is not None:
                p.regs[COUNT] = p.regs[COUNT] + 1
        return [p for p in (fine, over) if p is not None]

    def _preempt_enable(self, cpu: int, instr: Instr, path: Path) -> list[Path]:
        broken, fine = path.fork(path.regs[COUNT] == 0)
        if broken is not None:
            broken.fault = True      # the explicit model stops with a ScenarioError
        if fine is None:
            return [p for p in (broken,) if p is not None]
        fine.regs[COUNT] = fine.regs[COUNT] - 1
        return [p for p in (broken, fine) if p is not None]

    def _nothing(self, cpu: int, instr: Instr, path: Path) -> list[Path]:
        return [path]

    def _schedule(self, cpu: int, instr: Instr, path: Path) -> list[Path]:
        regs = path.regs
        atomic = regs[COUNT] > 0
        regs[NEED] = self.val(0)
        regs[DROPPED] &= ~z3.BitVecVal(DROP_UNJUSTIFIED, 2)
        path.event(Event.SCHEDULE)
        path.event(Event.SCHEDULE_IN_ATOMIC, atomic)
        return [path]

    def _need_resched(self, cpu: int, instr: Instr, path: Path) -> list[Path]:
        path.regs[ACC] = path.regs[NEED]
        return [path]

    def _flag_read(self, cpu: int, instr: Instr, path: Path) -> list[Path]:
        path.regs[ACC] = path.mem[instr.a][1]
        return [path]

    def _flag_write(self, cpu: int, instr: Instr, path: Path) -> list[Path]:
        path.mem[instr.a][1] = self.val(int(instr.b))
        return [path]

    def _data_read(self, cpu: int, instr: Instr, path: Path) -> list[Path]:
        me, slot = z3.BitVecVal(1 << cpu, self.n), len(self.world.locks) + instr.a
        fresh, stale = path.mem[slot]
        path.mem[slot] = [fresh | me, stale & ~me]
        return [path]

    def _data_write(self, cpu: int, instr: Instr, path: Path) -> list[Path]:
        me, slot = z3.BitVecVal(1 << cpu, self.n), len(self.world.locks) + instr.a
        fresh, stale = path.mem[slot]
        path.event(Event.STALE, fresh & ~me & ~stale != 0)
        path.mem[slot] = [fresh & me, stale | (fresh & ~me)]
        return [path]

    def _data_use(self, cpu: int, instr: Instr, path: Path) -> list[Path]:
        me = z3.BitVecVal(1 << cpu, self.n)
        _, stale = path.mem[len(self.world.locks) + instr.a]
        path.event(Event.STALE_USE, stale & me != 0)
        return [path]

    def lock_op(self, cpu: int, instr: Instr, path: Path) -> list[Path]:
        """One atomic lock op: one path per kind of answer in the algorithm's table."""
        lock = self.world.locks[int(instr.a)]
        table = self.tables[lock.index]
        op = lock.algorithm.ops[str(instr.b)]
        word, ticket = path.mem[lock.index][0], path.regs[TICKET]
        groups: dict[tuple, list[tuple[z3.BoolRef, int]]] = {}
        for w, value in enumerate(table.words):
            answers = {t: op(value, cpu, t) for t in sorted(self.tickets)}
            same = len({repr(a) for a in answers.values()}) == 1
            for t, out in answers.items():
                cond = word == w if same else z3.And(word == w, ticket == t)
                target = w
                if out is None:
                    key: tuple = ("disabled",)
                elif out.word not in table.index:
                    key = ("outside",)
                else:
                    key = (out.value, out.acquired, out.waits, out.ticket, out.sleeps,
                           out.exclusive)
                    target = table.index[out.word]
                groups.setdefault(key, []).append((cond, target))
                if same:
                    break
        out_paths = []
        rest: Path | None = path
        for key, entries in groups.items():
            if rest is None:
                break
            here, rest = rest.fork(z3.Or([c for c, _ in entries]))
            if here is None or key == ("disabled",):
                continue
            if key == ("outside",):
                here.fault = True        # a word the table left out: never a silent answer
                out_paths.append(here)
                continue
            new_word: Any = self.val(entries[-1][1])
            for cond, target in reversed(entries[:-1]):
                new_word = z3.If(cond, self.val(target), new_word)
            out_paths.append(self._apply_outcome(cpu, instr, here, z3.simplify(new_word), key))
        return out_paths

    def _apply_outcome(self, cpu: int, instr: Instr, path: Path, new_word: Any,
                       key: tuple) -> Path:
        """`Interpreter.lock_op` after the algorithm answered (answer fields in ``key``)."""
        value, acquired, waits, ticket, sleeps, exclusive = key
        lock = self.world.locks[int(instr.a)]
        regs = path.regs
        _, flag, holders, writers, waiters = path.mem[lock.index]
        me = z3.BitVecVal(1 << cpu, self.n)
        unjustified = z3.BitVecVal(DROP_UNJUSTIFIED, 2)
        regs[ACC] = self.val(value)
        if ticket is not None:
            regs[TICKET] = self.val(ticket)
        if acquired:
            waiters = waiters & ~me
            if instr.flags & IN_BREAK:
                spurious = regs[DROPPED] & unjustified != 0
                path.event(Event.SPURIOUS_BREAK, spurious)
                regs[DROPPED] = regs[DROPPED] & ~unjustified
            if lock.has_readers and exclusive:
                writers = writers | me
            else:
                holders = holders | me
        if waits:
            path.event(Event.CONTENDED)
            if instr.flags & ACQUIRING:
                waiters = waiters | me
        if sleeps:
            path.event(Event.SCHEDULE)
            regs[DROPPED] = regs[DROPPED] & ~unjustified
            path.event(Event.SCHEDULE_IN_ATOMIC, regs[COUNT] > 0)
        if str(instr.b) in RELEASE_OPS:
            holders = holders & ~me
            writers = writers & ~me
            if instr.flags & IN_BREAK:
                alone = waiters & ~me == 0
                regs[DROPPED] = (regs[DROPPED] | z3.BitVecVal(DROP_DONE, 2)
                                 | z3.If(alone, unjustified, z3.BitVecVal(0, 2)))
                path.event(Event.BREAK)
                path.event(Event.BREAK_WITH_DATA, self._holds_data_of(cpu, lock.index, path))
        path.mem[lock.index] = [new_word, flag, holders, writers, waiters]
        return path

    def _holds_data_of(self, cpu: int, lock: int, path: Path) -> Any:
        """The held-data check of `Interpreter.lock_op`: a snapshot of data ``lock``
        protects, taken on every path to here or still kept."""
        names = [d for d, name in enumerate(self.world.data)
                 if self.world.scenario.data[name] == self.world.locks[lock].name]
        if any(self._taken[cpu][path.pc] >> d & 1 for d in names):
            return True
        me = z3.BitVecVal(1 << cpu, self.n)
        base = len(self.world.locks)
        return z3.Or(False, *((path.mem[base + d][0] | path.mem[base + d][1]) & me != 0
                              for d in names))

    # ------------------------------------------------------------ free control

    def free_run(self, cpu: int, start: Path) -> list[Path]:
        """`Interpreter.free_run`: every path to the next step or the end of the program."""
        code = self._code[cpu]
        done: list[Path] = []
        work = [(start, 0)]
        while work:
            path, ran = work.pop()
            while path.pc < len(code) and not code[path.pc].is_step:
                if ran > FREE_RUN_LIMIT:
                    path.fault = True    # a loop without a step: the explicit model raises
                    break
                ran += 1
                forked = self._free_instr(cpu, code[path.pc], path)
                if forked is not None:
                    work.append((forked, ran))
            done.append(path)
        return done

    def _free_instr(self, cpu: int, instr: Instr, path: Path) -> Path | None:
        """Run one free instruction; returns the other side of a fork, if it forked."""
        rule = self.free.get(instr.op)
        if rule is None:
            raise self._refusal(instr)
        return rule(cpu, instr, path)

    def _jump(self, cpu: int, instr: Instr, path: Path) -> Path | None:
        path.pc = instr.target
        return None

    def _branch(self, cpu: int, instr: Instr, path: Path) -> Path | None:
        op, regs = instr.op, path.regs
        slot = REGS + int(instr.a)
        if op == Op.BRANCH_ACC:
            cond = nonzero(regs[ACC])
        elif op == Op.BRANCH_REG:
            cond = nonzero(regs[slot])
        elif op == Op.BRANCH_PCOUNT:
            cond = COMPARE[int(instr.a)](regs[COUNT], int(instr.b))
        else:
            cond = regs[slot] == 0
        taken, other = path.fork(cond)
        if op == Op.BRANCH_REG and instr.b:
            for p in (taken, other):
                if p is not None:
                    p.regs[slot] = self.val(0)
        if taken is None:
            assert other is not None
            other.pc += 1
            return None
        if other is not None:
            other.pc += 1
        taken.pc = instr.target
        return other

    def _set_reg(self, cpu: int, instr: Instr, path: Path) -> Path | None:
        path.regs[REGS + int(instr.a)] = self.val(int(instr.b))
        path.pc += 1
        return None

    def _dec_reg(self, cpu: int, instr: Instr, path: Path) -> Path | None:
        slot, nxt = REGS + int(instr.a), path.pc + 1
        fine, over = path.fork(path.regs[slot] != -self.top() - 1)
        for p in (fine, over):
            if p is not None:
                p.regs[slot] = p.regs[slot] - 1
                p.pc = nxt
        if over is not None:
            over.fault = True        # below the bit-vector's range
        return over if fine is not None else None

    def _mm_drop_due(self, cpu: int, instr: Instr, path: Path) -> Path | None:
        regs = path.regs
        regs[MM] = z3.simplify((regs[MM] + 1) % int(instr.a))
        regs[ACC] = z3.If(regs[MM] == 0, self.val(1), self.val(0))
        path.pc += 1
        return None

    def _believe_rule(self, cpu: int, instr: Instr, path: Path) -> Path | None:
        self._believe(cpu, int(instr.a), Belief(int(instr.b)), path)
        path.pc += 1
        return None

    def _break_end(self, cpu: int, instr: Instr, path: Path) -> Path | None:
        regs = path.regs
        dropped = z3.If(regs[DROPPED] & DROP_DONE != 0, self.val(1), self.val(0))
        path.event(Event.SPURIOUS_BREAK, regs[DROPPED] & DROP_UNJUSTIFIED != 0)
        if int(instr.a) >= 0:
            value = regs[REGS + int(instr.a)]
            path.event(Event.BREAK_RETURNED, dropped != 0)
            path.event(Event.BREAK_LIE, value != dropped)
        regs[DROPPED] = z3.BitVecVal(0, 2)
        path.pc += 1
        return None

    def _might_sleep(self, cpu: int, instr: Instr, path: Path) -> Path | None:
        path.event(Event.MIGHT_SLEEP)
        path.event(Event.MIGHT_SLEEP_ATOMIC, path.regs[COUNT] > int(instr.a))
        path.pc += 1
        return None

    def _free_lock_op(self, cpu: int, instr: Instr, path: Path) -> Path | None:
        paths = self.lock_op(cpu, instr, path)
        if len(paths) != 1 or paths[0] is not path:
            raise LockbreakError(f"{instr.text}: a free lock op whose answer depends on "
                                 "the lock word; the z3 encoding cannot inline it")
        path.pc += 1
        return None

    def _believe(self, cpu: int, index: int, belief: Belief, path: Path) -> None:
        word, flag, holders, writers, waiters = path.mem[index]
        me = z3.BitVecVal(1 << cpu, self.n)
        holders, writers = holders & ~me, writers & ~me
        if belief == Belief.HELD:
            if not self.world.locks[index].has_readers:
                holders = holders | me
            else:
                writers = writers | me
        elif belief == Belief.READ:
            holders = holders | me
        path.mem[index] = [word, flag, holders, writers, waiters]
