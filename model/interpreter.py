"""The kernel model's interpreter: one CPU's step on its registers and the shared memory.

A transition of a CPU is the step instruction at its pc, then the free control after it up
to the next step (docs/semantics.md section 2). The interpreter runs it on a list of the
CPU's registers (`model.layout`) and a list of the shared part's cells (`LockCell`,
`DataCell`), and says what happened: the events and, in kernel words, the trace line.
Its rules are two mappings from opcode to method, one for steps and one for free control
(`model.opcodes`). It keeps nothing between calls: `model.kernel.KernelModel` interns and
caches what it returns.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence

from lockbreak.core import ScenarioError
from model.events import Event
from model.layout import (
    ACC,
    COUNT,
    DROP_DONE,
    DROP_UNJUSTIFIED,
    DROPPED,
    MM,
    NEED,
    NEED_LAZY,
    NEED_RESCHED,
    PC,
    REGS,
    TICKET,
    WAKE,
    DataCell,
    LockCell,
)
from model.locks import RELEASE_OPS
from model.lockset import snapshots_taken
from model.opcodes import LOCAL_OPS, Op, may_block, unhandled
from model.program import ACQUIRING, IN_BREAK, Belief, Instr
from model.world import World

MAX_FREE_RUN = 100_000
NAME = "the kernel model's interpreter"
COMPARE = (operator.eq, operator.ne, operator.lt, operator.le, operator.gt, operator.ge)

StepResult = tuple[Event, str] | None
StepRule = Callable[[int, Instr, list[int], list, int], StepResult]
FreeRule = Callable[[int, Instr, list[int], list, list[str]], Event | None]
Executed = tuple[tuple[int, ...], tuple, Event, str, Instr | None]


class SharedTouched(Exception):
    """A free instruction reached for the shared part (see `Interpreter.local_step`)."""


class NoShared(list):
    """A shared part that refuses to be read or written."""

    def __getitem__(self, index: object) -> object:  # type: ignore[override]
        raise SharedTouched

    def __setitem__(self, index: object, value: object) -> None:
        raise SharedTouched


class Interpreter:
    """The rules of every opcode for the CPUs of one compiled world."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.code = [p.code for p in world.programs]
        self.live = [p.live_snapshots() for p in world.programs]
        self.taken = [snapshots_taken(p.code) for p in world.programs]
        self.protects = protected_data(world)
        self.preemptible = world.config.preempt in ("full", "lazy", "rt")
        self.irqs = [REGS + p.irqs if p.irqs >= 0 else -1 for p in world.programs]
        self.locks = len(world.locks)
        self.steps: Mapping[Op, StepRule] = {
            Op.PREEMPT_DISABLE: self._preempt_disable,
            Op.PREEMPT_ENABLE: self._preempt_enable,
            Op.PREEMPT_ENABLE_NO_RESCHED: self._preempt_enable,
            Op.CPU_RELAX: self._nothing,
            Op.WORK: self._nothing,
            Op.SCHEDULE: self._schedule,
            Op.NONDET: self._nondet,
            Op.IRQ_DISABLE: self._irq,
            Op.IRQ_ENABLE: self._irq,
            Op.NEED_RESCHED: self._need_resched,
            Op.LOCK_OP: self._lock_step,
            Op.FLAG_READ: self._flag_read,
            Op.FLAG_WRITE: self._flag_write,
            Op.DATA_READ: self._data_read,
            Op.DATA_WRITE: self._data_write,
            Op.DATA_USE: self._data_use,
            Op.DATA_GET: self._data_get,
            Op.DATA_PUT: self._data_put,
        }
        self.free: Mapping[Op, FreeRule] = {
            Op.JUMP: self._jump,
            Op.BRANCH_ACC: self._branch_acc,
            Op.BRANCH_REG: self._branch_reg,
            Op.BRANCH_PCOUNT: self._branch_pcount,
            Op.SET_REG: self._set_reg,
            Op.DEC_REG: self._dec_reg,
            Op.BRANCH_ZERO: self._branch_zero,
            Op.MM_DROP_DUE: self._mm_drop_due,
            Op.BELIEVE: self._believe_rule,
            Op.BREAK_END: self._break_end,
            Op.FREE_LOCK_OP: self._free_lock_op,
            Op.MIGHT_SLEEP: self._might_sleep,
        }

    # ------------------------------------------------------------ one transition

    def execute(self, cpu: int, local: tuple[int, ...], shared: tuple, choice: int = 0
                ) -> Executed | None:
        """One step of ``cpu``: the step instruction at its pc, then free control after it.

        ``(private part, shared part, events, trace text, the step executed or None for a
        preemption)``, or None when the CPU cannot move. ``choice`` is the outcome of a `*`
        guard, when that is the step. With interrupts disabled the CPU is atomic: a pending
        reschedule waits, as in the kernel, where the preemption point finds
        ``irqs_disabled()``.
        """
        code = self.code[cpu]
        pc = local[PC]
        irqs = self.irqs[cpu]
        preempt = (self.preemptible and local[NEED] == NEED_RESCHED and local[COUNT] == 0
                   and (irqs < 0 or local[irqs] == 0))
        if pc >= len(code):
            # A finished CPU still owes the reschedule its last preempt_enable() made due.
            if not preempt:
                return None
            regs = list(local)
            regs[NEED] = 0
            return tuple(regs), shared, Event.SCHEDULE, "preempted: schedule()", None
        instr = code[pc]
        regs, mem = list(local), list(shared)
        if preempt and instr.op != Op.SCHEDULE and not may_block(instr):
            regs[NEED] = 0
            regs[DROPPED] &= ~DROP_UNJUSTIFIED
            events, text, executed = Event.SCHEDULE, "preempted: schedule()", None
        else:
            outcome = self.step(cpu, instr, regs, mem, choice)
            if outcome is None:
                return None
            events, note = outcome
            regs[PC] = pc + 1
            notes: list[str] = []
            events |= self.free_run(cpu, regs, mem, notes)
            text = "; ".join([instr.words + (f" -> {note}" if note else ""), *notes])
            executed = instr
        regs[ACC] = 0
        self._forget_dead_snapshots(cpu, regs[PC], mem)
        events |= self.double_hold(mem)
        return tuple(regs), tuple(mem), events, text, executed

    def step(self, cpu: int, instr: Instr, regs: list[int], mem: list, choice: int = 0
             ) -> StepResult:
        """The step instruction ``instr`` on ``regs`` and ``mem``: its events and note, or
        None when it cannot run (a lock op the lock word refuses)."""
        rule = self.steps.get(instr.op)
        if rule is None:
            raise unhandled(instr, NAME)
        return rule(cpu, instr, regs, mem, choice)

    def free_run(self, cpu: int, regs: list[int], mem: list, notes: list[str] | None = None
                 ) -> Event:
        """Run free instructions until the next step or the end of the program.

        ``notes`` collects what a trace should say about them (a lock-break site's return).
        Each rule leaves the next pc in ``regs[PC]``.
        """
        code = self.code[cpu]
        rules = self.free
        if notes is None:
            notes = []
        events = Event.NONE
        for _ in range(MAX_FREE_RUN):
            pc = regs[PC]
            if pc >= len(code) or code[pc].is_step:
                return events
            instr = code[pc]
            rule = rules.get(instr.op)
            if rule is None:
                raise unhandled(instr, NAME)
            found = rule(cpu, instr, regs, mem, notes)
            if found is not None:
                events |= found
        raise self.scenario_error(
            code[regs[PC]], f"cpu{cpu} loops here without ever taking a step",
            "give the loop a statement that does something, e.g. cpu_relax()")

    def local_step(self, cpu: int, local: tuple[int, ...]) -> bool:
        """Whether ``cpu``'s step from its part ``local`` is CPU-local and forward (see
        `model.kernel.KernelModel.local_step`)."""
        regs = list(local)
        code = self.code[cpu]
        pc = regs[PC]
        if regs[WAKE] or regs[NEED] == NEED_LAZY or pc >= len(code) \
                or code[pc].op not in LOCAL_OPS:
            return False
        if self.preemptible and regs[NEED] == NEED_RESCHED and regs[COUNT] == 0:
            return False                        # a preemption: the pc stays
        if code[pc].op in (Op.PREEMPT_ENABLE, Op.PREEMPT_ENABLE_NO_RESCHED) and not regs[COUNT]:
            return False                        # an error the full step reports
        self.step(cpu, code[pc], regs, [])
        regs[PC] = pc + 1
        try:
            self.free_run(cpu, regs, NoShared())
        except SharedTouched:
            return False
        live = self.live[cpu]
        return regs[PC] > pc and not live[pc] & ~live[regs[PC]]

    def double_hold(self, mem: Sequence) -> Event:
        """`Event.DOUBLE_HOLD` when a lock has two holders, or a writer and anyone else."""
        for lock in self.world.locks:
            cell = mem[lock.index]
            holders, writers = cell.holders, cell.writers
            if holders & (holders - 1) and not lock.has_readers:
                return Event.DOUBLE_HOLD
            if writers and (writers & (writers - 1) or holders):
                return Event.DOUBLE_HOLD
        return Event.NONE

    def scenario_error(self, instr: Instr, message: str, hint: str) -> ScenarioError:
        """A mistake in the scenario found while running it, located at its statement."""
        return ScenarioError(message, file=str(self.world.scenario.path), line=instr.pos.line,
                             col=instr.pos.col, hint=hint)

    def _forget_dead_snapshots(self, cpu: int, pc: int, mem: list) -> None:
        """Drop this CPU's snapshots that its code can no longer use (see `live_snapshots`)."""
        base, me, live = self.locks, 1 << cpu, self.live[cpu][pc]
        for d in range(len(self.world.data)):
            fresh, stale = mem[base + d]
            if (fresh | stale) & me and not live >> d & 1:
                mem[base + d] = DataCell(fresh & ~me, stale & ~me)

    # ------------------------------------------------------------ steps

    def _preempt_disable(self, cpu: int, instr: Instr, regs: list[int], mem: list,
                         choice: int) -> StepResult:
        regs[COUNT] += 1
        return Event.NONE, ""

    def _preempt_enable(self, cpu: int, instr: Instr, regs: list[int], mem: list,
                        choice: int) -> StepResult:
        if regs[COUNT] == 0:
            raise self.scenario_error(
                instr, f"cpu{cpu} reaches {instr.words} with preempt_count 0",
                "pair every preempt_enable() with an earlier preempt_disable()")
        regs[COUNT] -= 1
        return Event.NONE, ""

    def _nothing(self, cpu: int, instr: Instr, regs: list[int], mem: list,
                 choice: int) -> StepResult:
        return Event.NONE, ""

    def _schedule(self, cpu: int, instr: Instr, regs: list[int], mem: list,
                  choice: int) -> StepResult:
        regs[NEED] = 0
        regs[DROPPED] &= ~DROP_UNJUSTIFIED
        if regs[COUNT] > 0:
            return (Event.SCHEDULE | Event.SCHEDULE_IN_ATOMIC,
                    f"scheduling while atomic: preempt_count={regs[COUNT]}")
        irqs = self.irqs[cpu]
        if irqs >= 0 and regs[irqs] > 0:
            return (Event.SCHEDULE | Event.SCHEDULE_IN_ATOMIC,
                    "scheduling while atomic: interrupts disabled")
        return Event.SCHEDULE, ""

    def _nondet(self, cpu: int, instr: Instr, regs: list[int], mem: list,
                choice: int) -> StepResult:
        regs[ACC] = choice
        return Event.NONE, str(choice)

    def _irq(self, cpu: int, instr: Instr, regs: list[int], mem: list,
             choice: int) -> StepResult:
        slot = REGS + instr.a
        if instr.op == Op.IRQ_ENABLE and regs[slot] == 0:
            raise self.scenario_error(
                instr, f"cpu{cpu} reaches {instr.words} with interrupts enabled",
                "pair every local_irq_enable()/restore() or _irq unlock with an earlier "
                "disable")
        regs[slot] += 1 if instr.op == Op.IRQ_DISABLE else -1
        return Event.NONE, ""

    def _need_resched(self, cpu: int, instr: Instr, regs: list[int], mem: list,
                      choice: int) -> StepResult:
        regs[ACC] = int(regs[NEED] == NEED_RESCHED)     # the lazy flag is not seen
        return Event.NONE, str(regs[ACC])

    def _lock_step(self, cpu: int, instr: Instr, regs: list[int], mem: list,
                   choice: int) -> StepResult:
        return self.lock_op(cpu, instr, regs, mem)

    def _flag_read(self, cpu: int, instr: Instr, regs: list[int], mem: list,
                   choice: int) -> StepResult:
        regs[ACC] = mem[instr.a].flag
        return Event.NONE, str(regs[ACC])

    def _flag_write(self, cpu: int, instr: Instr, regs: list[int], mem: list,
                    choice: int) -> StepResult:
        word, _, holders, writers, waiters = mem[instr.a]
        mem[instr.a] = LockCell(word, int(instr.b), holders, writers, waiters)
        return Event.NONE, ""

    def _data_read(self, cpu: int, instr: Instr, regs: list[int], mem: list,
                   choice: int) -> StepResult:
        me, slot = 1 << cpu, self.locks + instr.a
        fresh, stale = mem[slot]
        mem[slot] = DataCell(fresh | me, stale & ~me)
        return Event.NONE, "snapshot taken"

    def _data_write(self, cpu: int, instr: Instr, regs: list[int], mem: list,
                    choice: int) -> StepResult:
        me, slot = 1 << cpu, self.locks + instr.a
        fresh, stale = mem[slot]
        made_stale = fresh & ~me & ~stale
        mem[slot] = DataCell(fresh & me, stale | (fresh & ~me))
        if made_stale:
            whose = ", ".join(f"cpu{i}" for i in range(len(self.code)) if made_stale >> i & 1)
            return Event.STALE, f"{whose}'s snapshot is now stale"
        return Event.NONE, ""

    def _data_use(self, cpu: int, instr: Instr, regs: list[int], mem: list,
                  choice: int) -> StepResult:
        if mem[self.locks + instr.a].stale & 1 << cpu:
            return Event.STALE_USE, "relies on a stale snapshot"
        return Event.NONE, "snapshot still valid"

    def _data_get(self, cpu: int, instr: Instr, regs: list[int], mem: list,
                  choice: int) -> StepResult:
        # A pinned snapshot leaves the fresh set, so no later write makes it stale.
        me, slot = 1 << cpu, self.locks + instr.a
        fresh, stale = mem[slot]
        if fresh & me:
            mem[slot] = DataCell(fresh & ~me, stale)
            regs[REGS + int(instr.b)] = 1
            return Event.NONE, "snapshot pinned"
        return Event.NONE, "nothing fresh to pin"

    def _data_put(self, cpu: int, instr: Instr, regs: list[int], mem: list,
                  choice: int) -> StepResult:
        pinned, regs[REGS + int(instr.b)] = regs[REGS + int(instr.b)], 0
        if pinned:
            slot = self.locks + instr.a
            fresh, stale = mem[slot]
            mem[slot] = DataCell(fresh | 1 << cpu, stale)
            return Event.NONE, "unpinned: a write may make the snapshot stale again"
        return Event.NONE, ""

    # ------------------------------------------------------------ lock operations

    def lock_op(self, cpu: int, instr: Instr, regs: list[int], mem: list) -> StepResult:
        """One atomic lock op of the lock's algorithm, with the ghost bookkeeping around it:
        holders, writers and waiters, and a lock-break site's drop and relock."""
        lock = self.world.locks[int(instr.a)]
        name = str(instr.b)
        word, flag, holders, writers, waiters = mem[lock.index]
        out = lock.algorithm.ops[name](word, cpu, regs[TICKET])
        if out is None:
            return None
        me = 1 << cpu
        events = Event.NONE
        regs[ACC] = out.value
        if out.ticket is not None:
            regs[TICKET] = out.ticket
        if out.acquired:
            waiters &= ~me
            if instr.flags & IN_BREAK and regs[DROPPED] & DROP_UNJUSTIFIED:
                events |= Event.SPURIOUS_BREAK     # relocked without anyone waiting or a schedule
                regs[DROPPED] &= ~DROP_UNJUSTIFIED
            if lock.has_readers and out.exclusive:
                writers |= me
            else:
                holders |= me
        if out.waits:
            events |= Event.CONTENDED
            if instr.flags & ACQUIRING:
                waiters |= me
        if out.sleeps:
            events |= Event.SCHEDULE
            regs[DROPPED] &= ~DROP_UNJUSTIFIED
            if regs[COUNT] > 0:
                events |= Event.SCHEDULE_IN_ATOMIC
        if name in RELEASE_OPS:
            holders &= ~me
            writers &= ~me
            if instr.flags & IN_BREAK:
                regs[DROPPED] |= DROP_DONE
                events |= Event.BREAK
                if not waiters & ~me:
                    regs[DROPPED] |= DROP_UNJUSTIFIED
                if self._holds_data_of(cpu, lock.index, regs[PC], mem):
                    events |= Event.BREAK_WITH_DATA
        mem[lock.index] = LockCell(out.word, flag, holders, writers, waiters)
        return events, out.note

    def _holds_data_of(self, cpu: int, lock: int, pc: int, mem: Sequence) -> bool:
        """Whether ``cpu``, at ``pc``, holds a snapshot of data ``lock`` protects: one its
        code took on every path here (`model.lockset.snapshots_taken`), or one still kept."""
        mine = self.protects[lock]
        if self.taken[cpu][pc] & mine:
            return True
        base, me = self.locks, 1 << cpu
        return any((mem[base + d].fresh | mem[base + d].stale) & me
                   for d in range(len(self.world.data)) if mine >> d & 1)

    def believe(self, cpu: int, index: int, belief: Belief, mem: list) -> None:
        """After a statement, the code assumes what the lock's contract promises."""
        word, flag, holders, writers, waiters = mem[index]
        me = 1 << cpu
        holders &= ~me
        writers &= ~me
        if belief == Belief.HELD:
            if not self.world.locks[index].has_readers:
                holders |= me
            else:
                writers |= me
        elif belief == Belief.READ:
            holders |= me
        mem[index] = LockCell(word, flag, holders, writers, waiters)

    # ------------------------------------------------------------ free control

    def _jump(self, cpu: int, instr: Instr, regs: list[int], mem: list,
              notes: list[str]) -> Event | None:
        regs[PC] = instr.target
        return None

    def _branch_acc(self, cpu: int, instr: Instr, regs: list[int], mem: list,
                    notes: list[str]) -> Event | None:
        regs[PC] = instr.target if regs[ACC] else regs[PC] + 1
        return None

    def _branch_reg(self, cpu: int, instr: Instr, regs: list[int], mem: list,
                    notes: list[str]) -> Event | None:
        slot = REGS + int(instr.a)
        taken = regs[slot]
        if instr.b:
            regs[slot] = 0
        regs[PC] = instr.target if taken else regs[PC] + 1
        return None

    def _branch_pcount(self, cpu: int, instr: Instr, regs: list[int], mem: list,
                       notes: list[str]) -> Event | None:
        taken = COMPARE[int(instr.a)](regs[COUNT], int(instr.b))
        regs[PC] = instr.target if taken else regs[PC] + 1
        return None

    def _set_reg(self, cpu: int, instr: Instr, regs: list[int], mem: list,
                 notes: list[str]) -> Event | None:
        regs[REGS + int(instr.a)] = int(instr.b)
        regs[PC] += 1
        return None

    def _dec_reg(self, cpu: int, instr: Instr, regs: list[int], mem: list,
                 notes: list[str]) -> Event | None:
        regs[REGS + int(instr.a)] -= 1
        regs[PC] += 1
        return None

    def _branch_zero(self, cpu: int, instr: Instr, regs: list[int], mem: list,
                     notes: list[str]) -> Event | None:
        regs[PC] = instr.target if regs[REGS + int(instr.a)] == 0 else regs[PC] + 1
        return None

    def _mm_drop_due(self, cpu: int, instr: Instr, regs: list[int], mem: list,
                     notes: list[str]) -> Event | None:
        regs[MM] = (regs[MM] + 1) % int(instr.a)
        regs[ACC] = int(regs[MM] == 0)
        regs[PC] += 1
        return None

    def _believe_rule(self, cpu: int, instr: Instr, regs: list[int], mem: list,
                      notes: list[str]) -> Event | None:
        self.believe(cpu, int(instr.a), Belief(int(instr.b)), mem)
        regs[PC] += 1
        return None

    def _break_end(self, cpu: int, instr: Instr, regs: list[int], mem: list,
                   notes: list[str]) -> Event | None:
        """A lock-break site returns: whether it dropped its lock, and what it said."""
        events = Event.NONE
        dropped = regs[DROPPED] & DROP_DONE
        if regs[DROPPED] & DROP_UNJUSTIFIED:
            events |= Event.SPURIOUS_BREAK
        if int(instr.a) >= 0:
            value = regs[REGS + int(instr.a)]
            if dropped:
                events |= Event.BREAK_RETURNED
            if value != dropped:
                events |= Event.BREAK_LIE
            lock = self.world.locks[int(instr.b)].name
            notes.append(f"{instr.where} returns {value} "
                         f"{'after dropping' if dropped else 'without dropping'} {lock}")
        regs[DROPPED] = 0
        regs[PC] += 1
        return events

    def _free_lock_op(self, cpu: int, instr: Instr, regs: list[int], mem: list,
                      notes: list[str]) -> Event | None:
        outcome = self.lock_op(cpu, instr, regs, mem)
        regs[PC] += 1
        return None if outcome is None else outcome[0]

    def _might_sleep(self, cpu: int, instr: Instr, regs: list[int], mem: list,
                     notes: list[str]) -> Event | None:
        """A might-sleep point, checked as ``__might_resched()`` checks it in a kernel built
        with CONFIG_DEBUG_ATOMIC_SLEEP: preempt_count at most the point's offset, interrupts
        enabled (docs/semantics.md section 10)."""
        irqs = self.irqs[cpu]
        regs[PC] += 1
        if regs[COUNT] > int(instr.a):
            notes.append(f"{instr.words}: sleeping function called from invalid "
                         f"context, preempt_count={regs[COUNT]}")
            return Event.MIGHT_SLEEP | Event.MIGHT_SLEEP_ATOMIC
        if irqs >= 0 and regs[irqs] > 0:
            notes.append(f"{instr.words}: sleeping function called from invalid "
                         "context, interrupts disabled")
            return Event.MIGHT_SLEEP | Event.MIGHT_SLEEP_ATOMIC
        return Event.MIGHT_SLEEP


def protected_data(world: World) -> list[int]:
    """Per lock, the bitmask of the data it protects (the scenario's ``[data]`` table)."""
    index = {lock.name: lock.index for lock in world.locks}
    out = [0] * len(world.locks)
    for d, name in enumerate(world.data):
        out[index[world.scenario.data[name]]] |= 1 << d
    return out
