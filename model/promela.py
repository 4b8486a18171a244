"""The compiled world as a Promela model for SPIN: one proctype per CPU, one d_step per step.

Nothing here restates an era or a lock algorithm. Each CPU's proctype is generated from the
same compiled program (`model.program`) that `KernelModel` interprets, instruction by
instruction as `model.interpreter` defines them (`model.promela_steps` has the rules):
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
    DROP_UNJUSTIFIED,
    DROPPED,
    MM,
    NEED,
    PC,
    REGS,
    TICKET,
    WAKE,
)
from model.opcodes import Op, may_block
from model.program import Instr
from model.promela_steps import PromelaSteps, words
from model.word_tables import WordTable
from model.world import World

# The properties the Promela model expresses (fairness and ticks need lockbreak's graphs).
EXPORTED_KINDS = (PropertyKind.SAFETY, PropertyKind.CAN_FINISH)
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
        self.steps = PromelaSteps(world, self.tables, self.tickets)
        for cpu, code in enumerate(self._code):
            _check_free_cycles(world, cpu, code)

    # ------------------------------------------------------------ the text

    def text(self) -> str:
        lines = [*self._header(), *self._globals(), ""]
        bodies = [self._cpu(cpu) for cpu in range(self.n)]
        lines += self._check()
        for name in sorted(self.steps.inlines):
            lines += self.steps.inlines[name]
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
        """`Interpreter.double_hold` for the locks a step touched (a second holder can only
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
            out.append(f"    :: d_step {{ /* {words(instr)} */")
            out.append(f"        {guard} ->")
            out += _SAVE
            touched = {int(instr.a)} if instr.op == Op.LOCK_OP else set()
            if self._preemptible and instr.op != Op.SCHEDULE and not may_block(instr):
                out.append(f"        if :: {preempt} ->   /* preempted: schedule() */")
                out.append(f"            {p}need = 0; {p}dropped = {p}dropped & "
                           f"~{DROP_UNJUSTIFIED}; ev = EV_SCHEDULE")
                out.append("        :: else ->")
                body = self.steps.step(cpu, instr, "            ")
                body += self.steps.break_with_data(cpu, pc, instr, "            ")
                body += self.steps.free_after(cpu, pc, "            ", touched)
                out += body
                out.append("        fi;")
            else:
                out += self.steps.step(cpu, instr, "        ")
                out += self.steps.break_with_data(cpu, pc, instr, "        ")
                out += self.steps.free_after(cpu, pc, "        ", touched)
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
