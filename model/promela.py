"""The compiled world as a Promela model for SPIN: one proctype per CPU, one d_step per step.

Nothing here restates an era or a lock algorithm. Each CPU's proctype is generated from the
same compiled program (`model.program`) that `KernelModel` interprets, instruction by
instruction as `KernelModel._execute`, `_do_step`, `_lock_op` and `_free_run` define them:
one lockbreak step is one ``d_step`` (the step at the CPU's ``pc``, then the free control
after it, as labels and gotos inside the ``d_step``). Lock words are numbered as in
`model.word_tables.WordTable` and each lock operation is an ``inline`` that looks up the
algorithm's own answers (`LockAlgorithm.ops`), so a lock step is a table, never a second copy
of the algorithm.

The state vector holds what `KernelModel` stores, one variable per field (the accumulator is a
``hidden`` scratch variable, as it is always 0 between steps in `KernelModel` too), and every
process sits at the head of its loop between steps, so SPIN stores exactly the states
lockbreak stores (without symmetry reduction). Wakeups are the ``env`` process.

Properties: each safety property is an ``assert`` on the events of the step that SPIN just
took (`model.events.Event`, one bit each). ``deadlock_free`` has two halves: a state where no
process can move while a CPU has not finished is an invalid end state (the ``watchdog``
process, whose only non-end location is reachable just then); a CPU stuck spinning is a fair
non-progress cycle, checked with ``-DLIVENESS`` as ``ltl deadlock_free { []<> moved }``
under weak fairness, where a step makes progress when it changes shared memory,
``need_resched`` or the wakeups left, or finishes its CPU. Compiled with ``-DWITNESSES``, the
model also asserts, once each, that every witness event happened (for vacuity), and every
assertion fires at most once, so ``pan -c0`` lists each property violated and each witness
reached in one run.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from lockbreak.core import LockbreakError, PropertyKind
from model.constructs import refuse_unmodelled
from model.events import Event
from model.kernel import KernelModel, PropertySpec
from model.layout import (
    COUNT,
    DROP_DONE,
    DROP_UNJUSTIFIED,
    DROPPED,
    MM,
    NEED,
    PC,
    REGS,
    TICKET,
    WAKE,
)
from model.locks import RELEASE_OPS
from model.lockset import snapshots_taken
from model.opcodes import Op, may_block
from model.program import ACQUIRING, IN_BREAK, Belief, Instr
from model.word_tables import WordTable
from model.world import World

# The properties the Promela model expresses (fairness and ticks need lockbreak's graphs).
EXPORTED_KINDS = (PropertyKind.SAFETY, PropertyKind.CAN_FINISH)
_COMPARE = ("==", "!=", "<", "<=", ">", ">=")
# Events that name an assertion, in the order the model lists them.
_EVENTS = tuple(e for e in Event if e is not Event.NONE)
# Under -DLIVENESS, a step first notes the shared state, to tell whether it changed any.
_SAVE = ["#ifdef LIVENESS", "        save();", "#endif"]


@dataclass(frozen=True)
class Assertion:
    """One assertion of the model: the event it fires on and what its firing means."""

    event: Event
    violates: tuple[str, ...]      # properties this event violates
    witnesses: tuple[str, ...]     # properties this event witnesses


def assertions(properties: Sequence[PropertySpec]) -> tuple[Assertion, ...]:
    """The events the model asserts on for ``properties`` (violations, then witnesses)."""
    out = []
    for event in _EVENTS:
        violates = tuple(p.name for p in properties if p.violated_by & event)
        witnesses = tuple(p.name for p in properties if p.witnessed_by & event)
        if violates or witnesses:
            out.append(Assertion(event, violates, witnesses))
    return tuple(out)


def exported(properties: Sequence[PropertySpec]) -> list[PropertySpec]:
    """The properties of ``properties`` that the Promela model can decide."""
    return [p for p in properties if p.kind in EXPORTED_KINDS]


def _type_for(top: int, low: int = 0) -> str:
    """The smallest Promela integer type holding ``low..top``."""
    if low >= 0 and top <= 1:
        return "bit"
    if low >= 0 and top <= 255:
        return "byte"
    if low >= -32768 and top <= 32767:
        return "short"
    return "int"


class PromelaWriter:
    """Writes the Promela text of one world (use `promela_model`)."""

    def __init__(self, world: World, properties: Sequence[PropertySpec]) -> None:
        if world.scenario.kernel.timing != "interleaving":
            raise LockbreakError(
                f"{world.scenario.path}: the Promela export models interleaving timing only "
                f"(the scenario asks for {world.scenario.kernel.timing}); export it with "
                "--timing interleaving")
        refuse_unmodelled(world, "the Promela export")
        self.world = world
        self.n = world.n_cpus
        self.properties = exported(properties)
        self.asserted = assertions(self.properties)
        self._code = [p.code for p in world.programs]
        self._live = [p.live_snapshots() for p in world.programs]
        self._taken = [snapshots_taken(p.code) for p in world.programs]
        self._preemptible = world.config.preempt in ("full", "rt")
        self.tables = [WordTable(lock, self.n) for lock in world.locks]
        self.tickets = {0}
        while True:
            handed = set().union(*(t.close(self.tickets) for t in self.tables))
            if handed <= self.tickets:
                break
            self.tickets |= handed
        # The initial state is `KernelModel`'s: the free instructions before each first step.
        explicit = KernelModel(world, [])
        self._init_shared, self._init_locals = explicit.parts(explicit.init_states()[0])
        self._mask = _type_for((1 << self.n) - 1)
        self._inlines: dict[str, list[str]] = {}
        for cpu, code in enumerate(self._code):
            _check_free_cycles(world, cpu, code)

    # ------------------------------------------------------------ the text

    def text(self) -> str:
        lines = [*self._header(), *self._globals(), ""]
        bodies = [self._cpu(cpu) for cpu in range(self.n)]
        lines += self._check()
        for name in sorted(self._inlines):
            lines += self._inlines[name]
        for body in bodies:
            lines += ["", *body]
        lines += ["", *self._env(), "", *self._watchdog(), "", *self._liveness()]
        return "\n".join(lines) + "\n"

    def _header(self) -> list[str]:
        s = self.world.scenario
        k = s.kernel
        out = [
            f"/* {s.name}: {self.world.era.name}, {self.world.lock_algorithm}, preempt "
            f"{k.preempt}, interleaving.",
            " * Generated by `lockbreak export --promela` from the compiled programs; each "
            "d_step is",
            " * one lockbreak step. Properties: "
            + ", ".join(p.name for p in self.properties) + ".",
            " *   spin -a model.pml && gcc -DSAFETY -o pan pan.c && ./pan -m1000000"
            "          (safety, invalid end states)",
            " *   spin -DLIVENESS -a model.pml && gcc -o pan pan.c && ./pan -m1000000 -a -f"
            "  (CPUs stuck spinning)",
            " * -DWITNESSES also asserts each witness once: ./pan -c0 then lists every event "
            "reached.",
            " */",
        ]
        for event in _EVENTS:
            out.append(f"#define EV_{event.name} {int(event)}")
        out += [
            "#ifdef WITNESSES",
            "#define NEW(e) (ev & (e) & ~seen)",
            "#else",
            "#define NEW(e) (ev & (e))",
            "#endif",
            "#ifdef LIVENESS",
            "bit moved;             /* the last step changed shared state or finished a CPU */",
            "#endif",
            "hidden int ev;         /* the events of the step being taken */",
            "hidden int seen;       /* the events reported so far (WITNESSES) */",
            "hidden int acc;        /* the accumulator: 0 between steps */",
            "hidden int tmp;",
        ]
        return out

    def _globals(self) -> list[str]:
        out = ["", "/* shared memory */"]
        for lock, table in zip(self.world.locks, self.tables, strict=True):
            word, flag, holders, writers, waiters = self._init_shared[lock.index]
            words = ", ".join(f"{i}={lock.algorithm.describe(w)}"
                              for i, w in enumerate(table.words[:16]))
            more = ", ..." if len(table.words) > 16 else ""
            out.append(f"/* {lock.name}: {lock.kind}, {lock.algorithm.name}; words {words}"
                       f"{more} */")
            out.append(f"{_type_for(len(table.words) - 1)} {lock.name}_word = "
                       f"{table.index[word]};")
            out.append(f"{_type_for(max(self._flag_values(lock.index)))} {lock.name}_flag "
                       f"= {flag};")
            for what, value in (("holders", holders), ("writers", writers),
                                ("waiters", waiters)):
                out.append(f"{self._mask} {lock.name}_{what} = {value};")
        base = len(self.world.locks)
        for d, datum in enumerate(self.world.data):
            fresh, stale = self._init_shared[base + d]
            out.append(f"{self._mask} {datum}_fresh = {fresh}; {self._mask} {datum}_stale "
                       f"= {stale};")
        for cpu in range(self.n):
            out += ["", f"/* cpu{cpu} */"]
            out += [f"{t} {name} = {value};" for t, name, value in self._cpu_vars(cpu, False)]
        if self._shared_names():
            out += ["#ifdef LIVENESS", "hidden int " + ", ".join(
                f"o_{name}" for name in self._shared_names()) + ";", "#endif"]
        return out

    def _cpu_vars(self, cpu: int, private: bool) -> Iterator[tuple[str, str, int]]:
        """``(type, name, initial value)`` of a CPU's fields: those only its own steps touch
        (``private``: the proctype's locals, which ``-DCOLLAPSE`` stores once per distinct
        value), or those the environment and the watchdog read too (globals).

        A register that went below 0 or past its type would be truncated by pan, which says
        so; `lockbreak.cli.spin` refuses such a run, so the small types never hide a verdict.
        """
        local = self._init_locals[cpu]
        code = self._code[cpu]
        counts = [int(i.a) for i in code if i.op == Op.MM_DROP_DUE]
        regs = [abs(int(i.b)) for i in code if i.op == Op.SET_REG] + [1]
        fields = [
            ("pc", PC, _type_for(len(code))),
            ("count", COUNT, "byte"),
            ("need", NEED, "bit"),
            ("wake", WAKE, _type_for(self.world.wakeups[cpu])),
            ("ticket", TICKET, _type_for(max(self.tickets))),
            ("mm", MM, _type_for(max(counts, default=1))),
            ("dropped", DROPPED, "byte"),
        ]
        for name, slot, kind in fields:
            if (name in ("pc", "need", "wake")) != private:
                yield kind, f"c{cpu}_{name}", local[slot]
        if private:
            for r in range(self.world.programs[cpu].registers):
                yield _type_for(max(regs)), f"c{cpu}_r{r}", local[REGS + r]

    def _shared_names(self) -> list[str]:
        names = [f"{lock.name}_{what}" for lock in self.world.locks
                 for what in ("word", "flag", "holders", "writers", "waiters")]
        names += [f"{d}_{what}" for d in self.world.data for what in ("fresh", "stale")]
        names += [f"c{cpu}_{what}" for cpu in range(self.n) for what in ("need", "wake")]
        return names

    def _flag_values(self, lock: int) -> set[int]:
        return {0} | {int(i.b) for code in self._code for i in code
                      if i.op == Op.FLAG_WRITE and i.a == lock}

    def _check(self) -> list[str]:
        """The end of every step: the assertions, progress; and, for ``-DLIVENESS``, the
        shared state before the step (``save``)."""
        out = ["inline check() {"]
        for a in self.asserted:
            if a.violates:
                out.append(f"    assert(!NEW(EV_{a.event.name}));   /* violates "
                           f"{', '.join(a.violates)} */")
        out.append("#ifdef WITNESSES")
        for a in self.asserted:
            if a.witnesses and not a.violates:
                out.append(f"    assert(!NEW(EV_{a.event.name}));   /* witnesses "
                           f"{', '.join(a.witnesses)} */")
        out += ["    seen = seen | ev;", "#endif", "#ifdef LIVENESS"]
        out += [f"    moved = moved | ({name} != o_{name});" for name in self._shared_names()]
        out += ["#endif", "    ev = 0;", "    acc = 0", "}", "", "#ifdef LIVENESS",
                "inline save() {", "    moved = 0;"]
        out += [f"    o_{name} = {name};" for name in self._shared_names()]
        out += ["}", "#endif"]
        return out

    def _double_hold(self, locks: set[int], ind: str) -> list[str]:
        """`KernelModel._double_hold` for the locks a step touched (a second holder can only
        appear at a step that changes the lock's holders)."""
        out = []
        for lock in self.world.locks:
            if lock.index not in locks:
                continue
            h, w = f"{lock.name}_holders", f"{lock.name}_writers"
            if not lock.has_readers:
                out.append(f"{ind}if :: ({h} & ({h} - 1)) != 0 -> ev = ev | EV_DOUBLE_HOLD "
                           ":: else -> skip fi;")
            out.append(f"{ind}if :: {w} != 0 && (({w} & ({w} - 1)) != 0 || {h} != 0) -> "
                       "ev = ev | EV_DOUBLE_HOLD :: else -> skip fi;")
        return out

    # ------------------------------------------------------------ one CPU

    def _cpu(self, cpu: int) -> list[str]:
        code = self._code[cpu]
        p = f"c{cpu}_"
        out = [f"active proctype cpu{cpu}() {{"]
        out += [f"    {t} {name} = {value};" for t, name, value in self._cpu_vars(cpu, True)]
        out += ["end:", "    do"]
        preempt = f"{p}need == 1 && {p}count == 0" if self._preemptible else "false"
        for pc, instr in enumerate(code):
            if not instr.is_step:
                continue
            guard = f"{p}pc == {pc}"
            if may_block(instr):
                guard += " && " + self._enabled(cpu, instr)
            out.append(f"    :: d_step {{ /* {_words(instr)} */")
            out.append(f"        {guard} ->")
            out += _SAVE
            touched = {int(instr.a)} if instr.op == Op.LOCK_OP else set()
            if self._preemptible and instr.op != Op.SCHEDULE and not may_block(instr):
                out.append(f"        if :: {preempt} ->   /* preempted: schedule() */")
                out.append(f"            {p}need = 0; {p}dropped = {p}dropped & "
                           f"~{DROP_UNJUSTIFIED}; ev = EV_SCHEDULE")
                out.append("        :: else ->")
                body = self._step(cpu, instr, "            ")
                body += self._break_with_data(cpu, pc, instr, "            ")
                body += self._free(cpu, pc, "            ", touched)
                out += body
                out.append("        fi;")
            else:
                out += self._step(cpu, instr, "        ")
                out += self._break_with_data(cpu, pc, instr, "        ")
                out += self._free(cpu, pc, "        ", touched)
            out.append(f"        s{pc}_out:")
            out += self._double_hold(touched, "        ")
            out.append("        check()")
            out.append("    }")
        if self._preemptible:
            end = len(code)
            out.append("    :: d_step { /* finished: preempted, schedule() */")
            out.append(f"        {p}pc == {end} && {preempt} ->")
            out += _SAVE
            out.append(f"        {p}need = 0; ev = EV_SCHEDULE;")
            out.append("#ifdef LIVENESS")
            out.append("        moved = 1;")
            out.append("#endif")
            out.append("        check()")
            out.append("    }")
        out += ["    od", "}"]
        return out

    def _enabled(self, cpu: int, instr: Instr) -> str:
        """When a blocking lock op can run: the words and tickets it answers at all."""
        lock = self.world.locks[int(instr.a)]
        table = self.tables[lock.index]
        op = lock.algorithm.ops[str(instr.b)]
        ok = []
        for w, word in enumerate(table.words):
            runs = [t for t in sorted(self.tickets) if op(word, cpu, t) is not None]
            if len(runs) == len(self.tickets):
                ok.append(f"{lock.name}_word == {w}")
            else:
                ok += [f"({lock.name}_word == {w} && c{cpu}_ticket == {t})" for t in runs]
        return "(" + " || ".join(ok) + ")" if ok else "false"

    def _step(self, cpu: int, instr: Instr, ind: str) -> list[str]:
        """`KernelModel._do_step` as Promela."""
        p, me = f"c{cpu}_", 1 << cpu
        op = instr.op
        if op == Op.PREEMPT_DISABLE:
            return [f"{ind}assert({p}count < 255); {p}count++;"]
        if op in (Op.PREEMPT_ENABLE, Op.PREEMPT_ENABLE_NO_RESCHED):
            return [f"{ind}assert({p}count > 0);   /* scenario error: preempt_enable() "
                    "unpaired */", f"{ind}{p}count--;"]
        if op in (Op.CPU_RELAX, Op.WORK):
            return [f"{ind}skip;"]
        if op == Op.SCHEDULE:
            return [f"{ind}{p}need = 0; {p}dropped = {p}dropped & ~{DROP_UNJUSTIFIED}; "
                    "ev = ev | EV_SCHEDULE;",
                    f"{ind}if :: {p}count > 0 -> ev = ev | EV_SCHEDULE_IN_ATOMIC "
                    ":: else -> skip fi;"]
        if op == Op.NEED_RESCHED:
            return [f"{ind}acc = {p}need;"]
        if op == Op.LOCK_OP:
            return [f"{ind}{self._lock_inline(cpu, instr)}();"]
        if op == Op.FLAG_READ:
            return [f"{ind}acc = {self.world.locks[instr.a].name}_flag;"]
        if op == Op.FLAG_WRITE:
            return [f"{ind}{self.world.locks[instr.a].name}_flag = {int(instr.b)};"]
        d = self.world.data[instr.a]
        if op == Op.DATA_READ:
            return [f"{ind}{d}_fresh = {d}_fresh | {me}; {d}_stale = {d}_stale & ~{me};"]
        if op == Op.DATA_WRITE:
            return [f"{ind}if :: ({d}_fresh & ~{me} & ~{d}_stale) != 0 -> ev = ev | EV_STALE "
                    ":: else -> skip fi;",
                    f"{ind}{d}_stale = {d}_stale | ({d}_fresh & ~{me}); "
                    f"{d}_fresh = {d}_fresh & {me};"]
        if op == Op.DATA_USE:
            return [f"{ind}if :: ({d}_stale & {me}) != 0 -> ev = ev | EV_STALE_USE "
                    ":: else -> skip fi;"]
        raise LockbreakError(f"the Promela export has no rule for {instr}")  # pragma: no cover

    def _free(self, cpu: int, step_pc: int, ind: str, touched: set[int]) -> list[str]:
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
        """One free instruction (`KernelModel._free_run`); jumps to this region's labels."""
        p, me, op = f"c{cpu}_", 1 << cpu, instr.op
        nxt = pc + 1

        def go(target: int) -> str:
            return f"goto s{step_pc}_{target}"

        comment = f"{ind}/* {pc}: {op.name} {_words(instr)} */"
        if op == Op.JUMP:
            return [comment, f"{ind}{go(instr.target)};"], [instr.target]
        if op in (Op.BRANCH_ACC, Op.BRANCH_REG, Op.BRANCH_PCOUNT, Op.BRANCH_ZERO):
            reg = f"{p}r{int(instr.a)}"
            if op == Op.BRANCH_ACC:
                cond = "acc != 0"
            elif op == Op.BRANCH_REG:
                cond = f"{reg} != 0"
            elif op == Op.BRANCH_PCOUNT:
                cond = f"{p}count {_COMPARE[int(instr.a)]} {int(instr.b)}"
            else:
                cond = f"{reg} == 0"
            clear = f"{reg} = 0; " if op == Op.BRANCH_REG and instr.b else ""
            return [comment, f"{ind}if :: {cond} -> {clear}{go(instr.target)} "
                    f":: else -> {clear}{go(nxt)} fi;"], [instr.target, nxt]
        lines = [comment]
        if op == Op.SET_REG:
            lines.append(f"{ind}{p}r{int(instr.a)} = {int(instr.b)};")
        elif op == Op.DEC_REG:
            lines.append(f"{ind}{p}r{int(instr.a)}--;")
        elif op == Op.MM_DROP_DUE:
            lines.append(f"{ind}{p}mm = ({p}mm + 1) % {int(instr.a)}; "
                         f"acc = ({p}mm == 0 -> 1 : 0);")
        elif op == Op.BELIEVE:
            lock = self.world.locks[int(instr.a)]
            belief = Belief(int(instr.b))
            lines.append(f"{ind}{lock.name}_holders = {lock.name}_holders & ~{me}; "
                         f"{lock.name}_writers = {lock.name}_writers & ~{me};")
            if belief == Belief.HELD:
                which = "writers" if lock.has_readers else "holders"
                lines.append(f"{ind}{lock.name}_{which} = {lock.name}_{which} | {me};")
            elif belief == Belief.READ:
                lines.append(f"{ind}{lock.name}_holders = {lock.name}_holders | {me};")
        elif op == Op.BREAK_END:
            lines.append(f"{ind}if :: ({p}dropped & {DROP_UNJUSTIFIED}) != 0 -> "
                         "ev = ev | EV_SPURIOUS_BREAK :: else -> skip fi;")
            if int(instr.a) >= 0:
                reg = f"{p}r{int(instr.a)}"
                lines.append(f"{ind}tmp = (({p}dropped & {DROP_DONE}) != 0 -> 1 : 0);")
                lines.append(f"{ind}if :: tmp != 0 -> ev = ev | EV_BREAK_RETURNED "
                             ":: else -> skip fi;")
                lines.append(f"{ind}if :: {reg} != tmp -> ev = ev | EV_BREAK_LIE "
                             ":: else -> skip fi;")
            lines.append(f"{ind}{p}dropped = 0;")
        elif op == Op.MIGHT_SLEEP:
            lines.append(f"{ind}ev = ev | EV_MIGHT_SLEEP; if :: {p}count > {int(instr.a)} -> "
                         "ev = ev | EV_MIGHT_SLEEP_ATOMIC :: else -> skip fi;")
        elif op == Op.FREE_LOCK_OP:
            lines.append(f"{ind}{self._lock_inline(cpu, instr)}();")
            lines += self._break_with_data(cpu, pc, instr, ind)
        else:  # pragma: no cover
            raise LockbreakError(f"the Promela export has no rule for {instr}")
        lines.append(f"{ind}{go(nxt)};")
        return lines, [nxt]

    def _forget(self, cpu: int, pc: int, ind: str) -> list[str]:
        """`KernelModel._forget_dead_snapshots` for a CPU arriving at ``pc``."""
        me, live = 1 << cpu, self._live[cpu][pc]
        return [f"{ind}{d}_fresh = {d}_fresh & ~{me}; {d}_stale = {d}_stale & ~{me};"
                for i, d in enumerate(self.world.data) if not live >> i & 1]

    # ------------------------------------------------------------ lock operations

    def _break_with_data(self, cpu: int, pc: int, instr: Instr, ind: str) -> list[str]:
        """`KernelModel._holds_data_of` after a lock-break site's release at ``pc``: the
        event when the CPU took a snapshot of the lock's data on every path here, or still
        keeps one."""
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
        if name not in self._inlines:
            self._inlines[name] = self._lock_body(name, cpu, instr)
        return name

    def _lock_body(self, name: str, cpu: int, instr: Instr) -> list[str]:
        """`KernelModel._lock_op`: one branch per kind of answer, over the lock words (and
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

    # ------------------------------------------------------------ environment, deadlock

    def _env(self) -> list[str]:
        woken = [cpu for cpu in range(self.n) if self.world.wakeups[cpu]]
        if not woken:
            return ["/* no wakeups: no environment process */"]
        out = ["active proctype env() {   /* wakeups: need_resched set on a CPU */",
               "end:", "    do"]
        for cpu in woken:
            p = f"c{cpu}_"
            out.append(f"    :: d_step {{ {p}wake > 0 && {p}need == 0 && "
                       f"{p}pc < {len(self._code[cpu])} ->")
            out += _SAVE
            out.append(f"        {p}need = 1; {p}wake--; ev = EV_WAKEUP; check() }}")
        out += ["    od", "}"]
        return out

    def _watchdog(self) -> list[str]:
        finished = " && ".join(f"c{cpu}_pc == {len(code)}" for cpu, code in enumerate(self._code))
        return ["#ifndef LIVENESS",
                "active proctype watchdog() {   /* nobody can move, and a CPU has not "
                "finished */",
                f"end: timeout && !({finished}) -> false",
                "}",
                "#endif"]

    def _liveness(self) -> list[str]:
        return ["#ifdef LIVENESS", "ltl deadlock_free { []<> moved }", "#endif"]


def _words(instr: Instr) -> str:
    text = f"{instr.where}: {instr.text}" if instr.where else instr.text
    return text.replace("*/", "* /").replace("/*", "/ *")


def _check_free_cycles(world: World, cpu: int, code: tuple[Instr, ...]) -> None:
    """Refuse a loop of free instructions (`KernelModel` stops it with a ScenarioError; a
    d_step would never end)."""
    state = [0] * len(code)            # 0 unseen, 1 on the path, 2 done

    def visit(pc: int) -> None:
        stack = [(pc, iter(_free_targets(code, pc)))]
        state[pc] = 1
        while stack:
            at, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[at] = 2
                stack.pop()
                continue
            if nxt >= len(code) or code[nxt].is_step:
                continue
            if state[nxt] == 1:
                instr = code[nxt]
                raise LockbreakError(
                    f"{world.scenario.path}:{instr.pos.line}:{instr.pos.col}: cpu{cpu} can "
                    "loop here without taking a step; give the loop a statement that does "
                    "something, e.g. cpu_relax()")
            if state[nxt] == 0:
                state[nxt] = 1
                stack.append((nxt, iter(_free_targets(code, nxt))))

    for pc, instr in enumerate(code):
        if not instr.is_step and state[pc] == 0:
            visit(pc)


def _free_targets(code: tuple[Instr, ...], pc: int) -> list[int]:
    instr = code[pc]
    if instr.op == Op.JUMP:
        return [instr.target]
    return [pc + 1] + ([instr.target] if instr.target >= 0 else [])


def promela_model(world: World, properties: Sequence[PropertySpec]) -> str:
    """The Promela text of ``world`` checking ``properties`` (those SPIN can decide)."""
    return PromelaWriter(world, properties).text()
