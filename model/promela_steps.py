"""The Promela text of each compiled instruction, for `model.promela`'s d_steps.

Each rule writes what the concrete interpreter (`model.interpreter.Interpreter`) does for
one opcode, as Promela statements over the model's variables (``c0_count``, ``B_word``,
``B_holders``, ...). Free control becomes labels and gotos inside the step's ``d_step``
(``s{step pc}_{pc}``). A lock op is an ``inline`` per lock, op, CPU and flags, written once,
that looks up the algorithm's answers in its word table (`model.word_tables`). The rules are
two mappings from opcode to method (`model.opcodes`); the constructs only the explicit
engines model are refused by name (`model.constructs.EXPLICIT_ONLY`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from lockbreak.core import LockbreakError
from model.constructs import EXPLICIT_ONLY
from model.layout import DROP_DONE, DROP_UNJUSTIFIED
from model.locks import RELEASE_OPS
from model.lockset import snapshots_taken
from model.opcodes import Op, unhandled
from model.program import ACQUIRING, IN_BREAK, Belief, Instr
from model.word_tables import WordTable
from model.world import World

NAME = "the Promela export"
COMPARE = ("==", "!=", "<", "<=", ">", ">=")

StepRule = Callable[[int, Instr, str], list[str]]
FreeRule = Callable[[int, Instr, int, int, str], tuple[list[str], list[int]]]


def words(instr: Instr) -> str:
    """The instruction in kernel words, safe inside a Promela comment."""
    return instr.words.replace("*/", "* /").replace("/*", "/ *")


class PromelaSteps:
    """The Promela rules of every opcode for the CPUs of one world, with lock word
    ``tables`` closed under ``tickets``; the lock op inlines written so far in ``inlines``."""

    def __init__(self, world: World, tables: list[WordTable], tickets: set[int]) -> None:
        self.world = world
        self.tables = tables
        self.tickets = tickets
        self.inlines: dict[str, list[str]] = {}
        self._code = [p.code for p in world.programs]
        self._live = [p.live_snapshots() for p in world.programs]
        self._taken = [snapshots_taken(p.code) for p in world.programs]
        self.steps: Mapping[Op, StepRule] = {
            Op.PREEMPT_DISABLE: self._preempt_disable,
            Op.PREEMPT_ENABLE: self._preempt_enable,
            Op.PREEMPT_ENABLE_NO_RESCHED: self._preempt_enable,
            Op.CPU_RELAX: self._nothing,
            Op.WORK: self._nothing,
            Op.SCHEDULE: self._schedule,
            Op.NEED_RESCHED: self._need_resched,
            Op.LOCK_OP: self._lock_step,
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
            Op.BELIEVE: self._believe,
            Op.BREAK_END: self._break_end,
            Op.MIGHT_SLEEP: self._might_sleep,
            Op.FREE_LOCK_OP: self._free_lock_op,
        }
        # What only the explicit engines model: `PromelaWriter` refuses the scenario first.
        self.refused: Mapping[Op, str] = EXPLICIT_ONLY

    def _refusal(self, instr: Instr) -> LockbreakError:
        """The error for an opcode without a rule: refused by name, or unknown."""
        if instr.op in self.refused:
            return LockbreakError(f"{NAME} does not model {self.refused[instr.op]}")
        return unhandled(instr, NAME)

    # ------------------------------------------------------------ steps

    def step(self, cpu: int, instr: Instr, ind: str) -> list[str]:
        """The step ``instr`` of ``cpu`` as Promela statements indented by ``ind``."""
        rule = self.steps.get(instr.op)
        if rule is None:
            raise self._refusal(instr)
        return rule(cpu, instr, ind)

    def _preempt_disable(self, cpu: int, instr: Instr, ind: str) -> list[str]:
        return [f"{ind}assert(c{cpu}_count < 255); c{cpu}_count++;"]

    def _preempt_enable(self, cpu: int, instr: Instr, ind: str) -> list[str]:
        return [f"{ind}assert(c{cpu}_count > 0);   /* scenario error: preempt_enable() "
                "unpaired */", f"{ind}c{cpu}_count--;"]

    def _nothing(self, cpu: int, instr: Instr, ind: str) -> list[str]:
        return [f"{ind}skip;"]

    def _schedule(self, cpu: int, instr: Instr, ind: str) -> list[str]:
        p = f"c{cpu}_"
        return [f"{ind}{p}need = 0; {p}dropped = {p}dropped & ~{DROP_UNJUSTIFIED}; "
                "ev = ev | EV_SCHEDULE;",
                f"{ind}if :: {p}count > 0 -> ev = ev | EV_SCHEDULE_IN_ATOMIC "
                ":: else -> skip fi;"]

    def _need_resched(self, cpu: int, instr: Instr, ind: str) -> list[str]:
        return [f"{ind}acc = c{cpu}_need;"]

    def _lock_step(self, cpu: int, instr: Instr, ind: str) -> list[str]:
        return [f"{ind}{self._lock_inline(cpu, instr)}();"]

    def _flag_read(self, cpu: int, instr: Instr, ind: str) -> list[str]:
        return [f"{ind}acc = {self.world.locks[instr.a].name}_flag;"]

    def _flag_write(self, cpu: int, instr: Instr, ind: str) -> list[str]:
        return [f"{ind}{self.world.locks[instr.a].name}_flag = {int(instr.b)};"]

    def _data_read(self, cpu: int, instr: Instr, ind: str) -> list[str]:
        d, me = self.world.data[instr.a], 1 << cpu
        return [f"{ind}{d}_fresh = {d}_fresh | {me}; {d}_stale = {d}_stale & ~{me};"]

    def _data_write(self, cpu: int, instr: Instr, ind: str) -> list[str]:
        d, me = self.world.data[instr.a], 1 << cpu
        return [f"{ind}if :: ({d}_fresh & ~{me} & ~{d}_stale) != 0 -> ev = ev | EV_STALE "
                ":: else -> skip fi;",
                f"{ind}{d}_stale = {d}_stale | ({d}_fresh & ~{me}); "
                f"{d}_fresh = {d}_fresh & {me};"]

    def _data_use(self, cpu: int, instr: Instr, ind: str) -> list[str]:
        d, me = self.world.data[instr.a], 1 << cpu
        return [f"{ind}if :: ({d}_stale & {me}) != 0 -> ev = ev | EV_STALE_USE "
                ":: else -> skip fi;"]

    # ------------------------------------------------------------ free control

    def free_after(self, cpu: int, step_pc: int, ind: str, touched: set[int]) -> list[str]:
        """The free control after the step at ``step_pc``, as labels inside the d_step;
        adds the locks it touches to ``touched``."""
        code, p = self._code[cpu], f"c{cpu}_"
        out: list[str] = []
        todo, done = [step_pc + 1], set()
        while todo:
            pc = todo.pop()
            if pc in done:
                continue
            done.add(pc)
            out.append(f"{ind[:-4]}s{step_pc}_{pc}:")
            if pc >= len(code) or code[pc].is_step:
                out.append(f"{ind}{p}pc = {pc};")
                out += self._forget(cpu, pc, ind)
                if pc >= len(code):
                    out += ["#ifdef LIVENESS", f"{ind}moved = 1;", "#endif"]
                out.append(f"{ind}goto s{step_pc}_out;")
                continue
            instr = code[pc]
            if instr.op in (Op.BELIEVE, Op.FREE_LOCK_OP):
                touched.add(int(instr.a))
            lines, targets = self._free_instr(cpu, instr, pc, step_pc, ind)
            out += lines
            todo += [t for t in targets if t not in done]
        return out

    def _free_instr(self, cpu: int, instr: Instr, pc: int, step_pc: int, ind: str
                    ) -> tuple[list[str], list[int]]:
        """One free instruction (`Interpreter.free_run`); jumps to this region's labels."""
        rule = self.free.get(instr.op)
        if rule is None:
            raise self._refusal(instr)
        lines, targets = rule(cpu, instr, pc, step_pc, ind)
        return [f"{ind}/* {pc}: {instr.op.name} {words(instr)} */", *lines], targets

    def _jump(self, cpu: int, instr: Instr, pc: int, step_pc: int, ind: str
              ) -> tuple[list[str], list[int]]:
        return [f"{ind}goto s{step_pc}_{instr.target};"], [instr.target]

    def _branch(self, cpu: int, instr: Instr, pc: int, step_pc: int, ind: str
                ) -> tuple[list[str], list[int]]:
        p, op, nxt = f"c{cpu}_", instr.op, pc + 1
        reg = f"{p}r{int(instr.a)}"
        if op == Op.BRANCH_ACC:
            cond = "acc != 0"
        elif op == Op.BRANCH_REG:
            cond = f"{reg} != 0"
        elif op == Op.BRANCH_PCOUNT:
            cond = f"{p}count {COMPARE[int(instr.a)]} {int(instr.b)}"
        else:
            cond = f"{reg} == 0"
        clear = f"{reg} = 0; " if op == Op.BRANCH_REG and instr.b else ""
        return [f"{ind}if :: {cond} -> {clear}goto s{step_pc}_{instr.target} "
                f":: else -> {clear}goto s{step_pc}_{nxt} fi;"], [instr.target, nxt]

    def _set_reg(self, cpu: int, instr: Instr, pc: int, step_pc: int, ind: str
                 ) -> tuple[list[str], list[int]]:
        return _then([f"{ind}c{cpu}_r{int(instr.a)} = {int(instr.b)};"], pc, step_pc, ind)

    def _dec_reg(self, cpu: int, instr: Instr, pc: int, step_pc: int, ind: str
                 ) -> tuple[list[str], list[int]]:
        return _then([f"{ind}c{cpu}_r{int(instr.a)}--;"], pc, step_pc, ind)

    def _mm_drop_due(self, cpu: int, instr: Instr, pc: int, step_pc: int, ind: str
                     ) -> tuple[list[str], list[int]]:
        p = f"c{cpu}_"
        return _then([f"{ind}{p}mm = ({p}mm + 1) % {int(instr.a)}; "
                      f"acc = ({p}mm == 0 -> 1 : 0);"], pc, step_pc, ind)

    def _believe(self, cpu: int, instr: Instr, pc: int, step_pc: int, ind: str
                 ) -> tuple[list[str], list[int]]:
        me = 1 << cpu
        lock = self.world.locks[int(instr.a)]
        belief = Belief(int(instr.b))
        lines = [f"{ind}{lock.name}_holders = {lock.name}_holders & ~{me}; "
                 f"{lock.name}_writers = {lock.name}_writers & ~{me};"]
        if belief == Belief.HELD:
            which = "writers" if lock.has_readers else "holders"
            lines.append(f"{ind}{lock.name}_{which} = {lock.name}_{which} | {me};")
        elif belief == Belief.READ:
            lines.append(f"{ind}{lock.name}_holders = {lock.name}_holders | {me};")
        return _then(lines, pc, step_pc, ind)

    def _break_end(self, cpu: int, instr: Instr, pc: int, step_pc: int, ind: str
                   ) -> tuple[list[str], list[int]]:
        p = f"c{cpu}_"
        lines = [f"{ind}if :: ({p}dropped & {DROP_UNJUSTIFIED}) != 0 -> "
                 "ev = ev | EV_SPURIOUS_BREAK :: else -> skip fi;"]
        if int(instr.a) >= 0:
            reg = f"{p}r{int(instr.a)}"
            lines.append(f"{ind}tmp = (({p}dropped & {DROP_DONE}) != 0 -> 1 : 0);")
            lines.append(f"{ind}if :: tmp != 0 -> ev = ev | EV_BREAK_RETURNED "
                         ":: else -> skip fi;")
            lines.append(f"{ind}if :: {reg} != tmp -> ev = ev | EV_BREAK_LIE "
                         ":: else -> skip fi;")
        lines.append(f"{ind}{p}dropped = 0;")
        return _then(lines, pc, step_pc, ind)

    def _might_sleep(self, cpu: int, instr: Instr, pc: int, step_pc: int, ind: str
                     ) -> tuple[list[str], list[int]]:
        return _then([f"{ind}ev = ev | EV_MIGHT_SLEEP; if :: c{cpu}_count > {int(instr.a)} -> "
                      "ev = ev | EV_MIGHT_SLEEP_ATOMIC :: else -> skip fi;"], pc, step_pc, ind)

    def _free_lock_op(self, cpu: int, instr: Instr, pc: int, step_pc: int, ind: str
                      ) -> tuple[list[str], list[int]]:
        lines = [f"{ind}{self._lock_inline(cpu, instr)}();"]
        lines += self.break_with_data(cpu, pc, instr, ind)
        return _then(lines, pc, step_pc, ind)

    def _forget(self, cpu: int, pc: int, ind: str) -> list[str]:
        """`Interpreter`'s forgetting of dead snapshots for a CPU arriving at ``pc``."""
        me, live = 1 << cpu, self._live[cpu][pc]
        return [f"{ind}{d}_fresh = {d}_fresh & ~{me}; {d}_stale = {d}_stale & ~{me};"
                for i, d in enumerate(self.world.data) if not live >> i & 1]

    # ------------------------------------------------------------ lock operations

    def break_with_data(self, cpu: int, pc: int, instr: Instr, ind: str) -> list[str]:
        """The held-data check of `Interpreter.lock_op` after a lock-break site's release at
        ``pc``: the event when the CPU took a snapshot of the lock's data on every path here,
        or still keeps one."""
        if not (instr.flags & IN_BREAK and str(instr.b) in RELEASE_OPS):
            return []
        lock = self.world.locks[int(instr.a)]
        mine = [d for d, name in enumerate(self.world.data)
                if self.world.scenario.data[name] == lock.name]
        if not mine:
            return []
        if any(self._taken[cpu][pc] >> d & 1 for d in mine):
            return [f"{ind}ev = ev | EV_BREAK_WITH_DATA;"]
        me = 1 << cpu
        kept = " || ".join(f"(({self.world.data[d]}_fresh | {self.world.data[d]}_stale) & {me}) "
                           "!= 0" for d in mine)
        return [f"{ind}if :: {kept} -> ev = ev | EV_BREAK_WITH_DATA :: else -> skip fi;"]

    def _lock_inline(self, cpu: int, instr: Instr) -> str:
        """The name of the inline doing ``instr``'s lock op for ``cpu`` (written once)."""
        lock = self.world.locks[int(instr.a)]
        name = f"{lock.name}_{instr.b}_c{cpu}_f{instr.flags}"
        if name not in self.inlines:
            self.inlines[name] = self._lock_body(name, cpu, instr)
        return name

    def _lock_body(self, name: str, cpu: int, instr: Instr) -> list[str]:
        """`Interpreter.lock_op`: one branch per kind of answer, over the lock words (and
        tickets, where they matter) that give it; the most common answer is the ``else``."""
        lock = self.world.locks[int(instr.a)]
        table = self.tables[lock.index]
        op = lock.algorithm.ops[str(instr.b)]
        p, L = f"c{cpu}_", lock.name
        groups: dict[tuple, list[str]] = {}
        notes: dict[tuple, str] = {}
        for w, word in enumerate(table.words):
            answers = {t: op(word, cpu, t) for t in sorted(self.tickets)}
            same = len({repr(a) for a in answers.values()}) == 1
            for t, result in answers.items():
                if result is not None:       # None: the d_step's guard keeps the CPU out
                    cond = f"{L}_word == {w}" if same else f"({L}_word == {w} && {p}ticket == {t})"
                    if result.word not in table.index:
                        key: tuple = ("outside",)
                    else:
                        new = table.index[result.word]
                        key = (None if new == w else new, result.value, result.ticket,
                               result.acquired, result.waits, result.sleeps, result.exclusive)
                    groups.setdefault(key, []).append(cond)
                    notes.setdefault(key, f"{lock.algorithm.describe(word)}: {result.note}")
                if same:
                    break
        out = [f"inline {name}() {{   /* {instr.b}({L}) on cpu{cpu} */", "    if"]
        common = max(groups, key=lambda k: len(groups[k]))
        for key, conds in sorted(groups.items(), key=lambda kv: kv[0] == common):
            guard = "else" if key == common else " || ".join(conds)
            if key == ("outside",):
                out.append(f"    :: {guard} -> assert(false)   /* a word beyond the table */")
                continue
            new, value, ticket, acquired, waits, sleeps, exclusive = key
            body = [] if new is None else [f"{L}_word = {new}"]
            body.append(f"acc = {value}")
            if ticket is not None:
                body.append(f"{p}ticket = {ticket}")
            body += self._outcome(cpu, instr, acquired, waits, sleeps, exclusive)
            out.append(f"    :: {guard} ->   /* e.g. {notes[key]} */")
            out.append("        " + "; ".join(body))
        out += ["    fi", "}"]
        return out

    def _outcome(self, cpu: int, instr: Instr, acquired: bool, waits: bool, sleeps: bool,
                 exclusive: bool) -> list[str]:
        lock = self.world.locks[int(instr.a)]
        p, me, L = f"c{cpu}_", 1 << cpu, lock.name
        body = []
        if acquired:
            body.append(f"{L}_waiters = {L}_waiters & ~{me}")
            if instr.flags & IN_BREAK:
                body.append(f"if :: ({p}dropped & {DROP_UNJUSTIFIED}) != 0 -> "
                            f"ev = ev | EV_SPURIOUS_BREAK; {p}dropped = {p}dropped & "
                            f"~{DROP_UNJUSTIFIED} :: else -> skip fi")
            which = "writers" if lock.has_readers and exclusive else "holders"
            body.append(f"{L}_{which} = {L}_{which} | {me}")
        if waits:
            body.append("ev = ev | EV_CONTENDED")
            if instr.flags & ACQUIRING:
                body.append(f"{L}_waiters = {L}_waiters | {me}")
        if sleeps:
            body.append(f"ev = ev | EV_SCHEDULE; {p}dropped = {p}dropped & ~{DROP_UNJUSTIFIED}")
            body.append(f"if :: {p}count > 0 -> ev = ev | EV_SCHEDULE_IN_ATOMIC "
                        ":: else -> skip fi")
        if str(instr.b) in RELEASE_OPS:
            body.append(f"{L}_holders = {L}_holders & ~{me}; {L}_writers = {L}_writers & ~{me}")
            if instr.flags & IN_BREAK:
                body.append(f"{p}dropped = {p}dropped | {DROP_DONE}; ev = ev | EV_BREAK")
                body.append(f"if :: ({L}_waiters & ~{me}) == 0 -> {p}dropped = {p}dropped | "
                            f"{DROP_UNJUSTIFIED} :: else -> skip fi")
        return body


def _then(lines: list[str], pc: int, step_pc: int, ind: str) -> tuple[list[str], list[int]]:
    """``lines``, then on to the next instruction."""
    return [*lines, f"{ind}goto s{step_pc}_{pc + 1};"], [pc + 1]
