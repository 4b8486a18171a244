"""Candidate invariants of the symbolic twin: per program point facts mined from sample states.

k-induction starts from any state of the twin's domain, and most of those no execution reaches:
``preempt_enable()`` meeting ``preempt_count`` 0, a holder mask that disagrees with the lock
word, two CPUs inside the same critical section. Such states give counterexamples to induction
that no depth removes. This module offers facts that rule them out, in the shape of the facts
`lockbreak prove` uses (`model.proofs.candidates`), read off sample states of the explicit
model (`Mining`: the first states breadth-first, seeded random runs, which reach the deep
program points a budget-cut breadth-first search never sees, and one step beyond them all):

- per CPU and program point: the values of its ``preempt_count``, ``need_resched``, registers
  and lock-break bookkeeping there, which locks it holds or waits for, which lock words and
  ``break_lock`` flags go with it (``cpu0 at spin_unlock(B): holds B``, ``... word[B] is held``);
  pairs of these that move together (``r10 == whether it dropped B``, ``B is free and nobody
  holds B, or B is held by cpu1 and cpu1 holds it``); program points no sample reached
  (``cpu1 is never at ...``);
- per lock word and ``break_lock`` value: the holder and waiter masks that go with it
  (``word[B] free: nobody holds B``);
- per lock, unconditionally: at most one holder, nobody both holds and waits.

Each fact talks about a few variables, so it stays true of states the samples never showed:
with every CPU's facts at every program point, the conjunction describes far more states than
were sampled, which is what lets k-induction prove scenarios whose reachable states are too
many to enumerate. They are only candidates: the engine keeps those z3 proves inductive
together (Houdini), so a fact true of the samples but not of every reachable state costs a
proof, never soundness.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import z3

from lockbreak.core import LockbreakError
from model.kernel import KernelModel
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
from model.program import Op
from model.symbolic_steps import Copy
from model.word_tables import WordTable
from model.world import World

# A variable taking more values than this beside a key value gives no candidate.
MAX_VALUES = 4
# Two varying atoms whose value pairs at a CPU's program point are correlated and at most this
# many give a candidate (``pc == 9 -> (dropped, r10) in {(0, 0), (1, 1)}``).
MAX_PAIRS = 4
# A lock with more words than this gives no "the word is never ..." facts.
MAX_NEVER = 256

_SLOTS = {COUNT: "preempt_count", NEED: "need_resched", WAKE: "wakeups left",
          TICKET: "ticket", MM: "mm_count"}


class Twin(Protocol):
    """What candidates are read from: the symbolic twin (`model.symbolic.SymbolicKernel`),
    its explicit model, its world and lock word tables, and its step-indexed copies."""

    explicit: KernelModel
    world: World
    n: int
    tables: list[WordTable]

    def copy(self, k: int) -> Copy: ...


@dataclass(frozen=True)
class Mining:
    """Which sample states candidates are read from: the first ``first`` states breadth-first,
    then ``walks`` random runs of at most ``steps`` steps each from ``seed`` (fixed: the same
    scenario always gives the same candidates), then one step further from all of them."""

    first: int = 4_000
    walks: int = 100
    steps: int = 300
    seed: int = 0


@dataclass(frozen=True)
class Atom:
    """One value a candidate can talk about: its z3 term over a copy of the twin's state, its
    value in an explicit state's ``KernelModel.parts``, and how a value of it reads: ``noun``
    and ``says(v)`` the value (``preempt_count`` = ``2``), or with no noun ``says(v)`` a whole
    phrase (``holds B``, ``B is free``)."""

    name: str
    term: Callable[[Any], Any]
    value: Callable[[tuple], int]
    says: Callable[[int], str]
    noun: str = ""
    cpu: int = -1           # the CPU it belongs to (-1: shared)
    lock: int = -1          # the lock it is about (-1: none)


@dataclass(frozen=True)
class Fact:
    """``atoms[key] == value -> atoms[vars] in values``; ``key`` -1: unconditional; no ``vars``:
    ``atoms[key] != value``."""

    key: int
    value: int
    vars: tuple[int, ...] = ()
    values: tuple[tuple[int, ...], ...] = ()


def _set(cpus: int) -> str:
    names = [f"cpu{i}" for i in range(cpus.bit_length()) if cpus >> i & 1]
    return "nobody" if not names else names[0] if len(names) == 1 else \
        "{" + ", ".join(names) + "}"


def _cpu_atoms(twin: Twin, cpu: int) -> list[Atom]:
    """CPU ``cpu``'s atoms: its program point first, then its private variables, then its bit
    of each lock's holder and waiter masks and of each datum's snapshot masks."""
    world = twin.world
    program = world.programs[cpu]
    code = program.code

    def where(pc: int) -> str:
        return "finished" if pc >= len(code) else f"at `{code[pc].words}` [pc {pc}]"

    def own(slot: int, noun: str) -> Atom:
        return Atom(f"cpu{cpu}.{noun}", lambda c: c.locals[cpu][slot],
                    lambda p: p[1][cpu][slot], str, noun, cpu)

    out = [Atom(f"cpu{cpu}", lambda c: c.locals[cpu][PC], lambda p: p[1][cpu][PC], where,
                cpu=cpu)]
    out += [own(slot, noun) for slot, noun in _SLOTS.items()]
    out.append(Atom(f"cpu{cpu}.dropped", lambda c: c.locals[cpu][DROPPED],
                    lambda p: p[1][cpu][DROPPED], _dropped, cpu=cpu))
    out += [own(REGS + r, f"local r{r}") for r in range(program.registers)]
    for lock in world.locks:
        masks = [(0, "holds", "does not hold"), (2, "waits for", "does not wait for")]
        if lock.has_readers:
            masks.append((1, "write-holds", "does not write-hold"))
        for m, verb, no in masks:
            out.append(_bit(cpu, lock.index, 2 + m, f"{verb} {lock.name}",
                            f"{no} {lock.name}", lock.index))
    base = len(world.locks)
    for d, datum in enumerate(world.data):
        for m, what in enumerate(("fresh", "stale")):
            out.append(_bit(cpu, base + d, m, f"has a {what} copy of {datum}",
                            f"has no {what} copy of {datum}"))
    return out


def _bit(cpu: int, part: int, slot: int, yes: str, no: str, lock: int = -1) -> Atom:
    """CPU ``cpu``'s bit of the mask in ``slot`` of shared part ``part``."""
    return Atom(f"cpu{cpu} {yes}", lambda c: z3.Extract(cpu, cpu, c.shared[part][slot]),
                lambda p: p[0][part][slot] >> cpu & 1, lambda v: yes if v else no,
                cpu=cpu, lock=lock)


def _lock_atoms(twin: Twin, index: int) -> list[Atom]:
    """Lock ``index``'s atoms: its word, its ``break_lock`` flag, its holder and waiter masks,
    and whether it has two holders or a CPU that both holds and waits for it."""
    lock = twin.world.locks[index]
    table, name, n = twin.tables[index], lock.name, twin.n
    describe = lock.algorithm.describe
    bit = (z3.BitVecVal(0, n), z3.BitVecVal(1, n))

    def held(c: Any) -> Any:
        return c.shared[index][2] | c.shared[index][3]

    def held_value(p: tuple) -> int:
        return p[0][index][2] | p[0][index][3]

    out = [Atom(f"word[{name}]", lambda c: c.shared[index][0],
                lambda p: table.index[p[0][index][0]],
                lambda v: f"{name} is {describe(table.words[v])}", lock=index),
           Atom(f"break_lock[{name}]", lambda c: c.shared[index][1],
                lambda p: p[0][index][1], str, f"{name}->break_lock", lock=index)]
    out += [_mask(index, m, f"{what}({name})") for m, what in
            ((0, "holders"), (1, "write-holders"), (2, "waiters"))]
    out.append(Atom(f"many[{name}]",
                    lambda c: z3.If(held(c) & (held(c) - 1) != 0, bit[1], bit[0]),
                    lambda p: int(held_value(p) & (held_value(p) - 1) != 0),
                    lambda v: f"{name} has {'two or more holders' if v else 'at most one holder'}",
                    lock=index))
    out.append(Atom(f"both[{name}]",
                    lambda c: z3.If(held(c) & c.shared[index][4] != 0, bit[1], bit[0]),
                    lambda p: int(held_value(p) & p[0][index][4] != 0),
                    lambda v: f"{'some' if v else 'no'} CPU both holds and waits for {name}",
                    lock=index))
    return out


def _mask(index: int, m: int, noun: str) -> Atom:
    """Lock ``index``'s mask ``m`` (holders, write-holders, waiters) as a set of CPUs."""
    return Atom(noun, lambda c: c.shared[index][2 + m], lambda p: p[0][index][2 + m], _set,
                noun, lock=index)


def _atoms(twin: Twin) -> tuple[list[Atom], list[int], list[list[int]]]:
    """Every atom, the indices of the keys (program points, lock words, flags) and per key the
    values that are worth a "never" fact (program points and words no sample showed)."""
    atoms: list[Atom] = []
    keys: list[int] = []
    nevers: list[list[int]] = []
    for cpu, program in enumerate(twin.world.programs):
        keys.append(len(atoms))
        code = program.code
        nevers.append([pc for pc, instr in enumerate(code) if instr.is_step] + [len(code)])
        atoms += _cpu_atoms(twin, cpu)
    for lock in twin.world.locks:
        words = len(twin.tables[lock.index].words)
        keys += [len(atoms), len(atoms) + 1]
        nevers += [list(range(words)) if words <= MAX_NEVER else [], []]
        atoms += _lock_atoms(twin, lock.index)
    return atoms, keys, nevers


def _touched(twin: Twin, cpu: int) -> set[int]:
    """The locks CPU ``cpu``'s program operates on or reads the flag of."""
    ops = (Op.LOCK_OP, Op.FLAG_READ, Op.FLAG_WRITE, Op.BELIEVE, Op.FREE_LOCK_OP)
    return {int(i.a) for i in twin.world.programs[cpu].code if i.op in ops}


def _dropped(v: int) -> str:
    """The lock-break bookkeeping of `KernelModel` (``DROPPED``) as a phrase."""
    if not v:
        return "has not dropped its lock in this lock break"
    out = ("dropped its lock in this lock break" if v & DROP_DONE
           else "has not dropped its lock in this lock break")
    return out + (", with no waiter to justify it yet" if v & DROP_UNJUSTIFIED else "")


class Candidates:
    """The mined facts of one twin, as z3 formulas over any step-indexed copy and as text."""

    def __init__(self, twin: Twin, mining: Mining) -> None:
        self.twin = twin
        self._at: dict[int, list[z3.BoolRef]] = {}
        self.atoms, keys, nevers = _atoms(twin)
        samples = _samples(twin, mining)
        rows = _rows(self.atoms, map(twin.explicit.parts, samples))
        self.samples = len(rows)
        self.facts: list[Fact] = []
        # What each atom takes over all samples: one unconditional fact each, and a fact at
        # a key value only when it says more than that.
        self.everywhere = [{row[var] for row in rows} for var in range(len(self.atoms))]
        for var, values in enumerate(self.everywhere):
            if var not in keys and len(values) <= MAX_VALUES:
                self.facts.append(Fact(-1, 0, (var,), tuple((v,) for v in sorted(values))))
        for key, never in zip(keys, nevers, strict=True):
            groups: dict[int, list[list[int]]] = {}
            for row in rows:
                groups.setdefault(row[key], []).append(row)
            self.facts += [Fact(key, value) for value in never if value not in groups]
            cpu = self.atoms[key].cpu
            touched = _touched(twin, cpu) if cpu >= 0 else None
            about = [v for v, a in enumerate(self.atoms) if v != key and len(self.everywhere[v]) > 1
                     and (a.cpu == cpu or (a.cpu < 0 and (touched is None or a.lock in touched)))
                     and (v not in keys or a.cpu < 0 <= cpu)]
            for value, group in sorted(groups.items()):
                self.facts += self._mine(key, value, group, about, pairs=cpu >= 0)

    def _mine(self, key: int, value: int, rows: list[list[int]], about: list[int],
              pairs: bool) -> list[Fact]:
        """The facts of the rows where ``key`` has ``value``: each atom of ``about``'s few values
        (when fewer than over all samples), and if ``pairs`` each pair of its varying atoms
        whose value pairs are correlated."""
        out = []
        varying = []
        for var in about:
            values = {row[var] for row in rows}
            if len(values) <= MAX_VALUES and values != self.everywhere[var]:
                out.append(Fact(key, value, (var,), tuple((v,) for v in sorted(values))))
            if len(values) > 1:
                varying.append((var, values))
        for i, (a, xs) in enumerate(varying if pairs else []):
            for b, ys in varying[i + 1:]:
                seen = {(row[a], row[b]) for row in rows}
                if len(seen) < len(xs) * len(ys) and len(seen) <= MAX_PAIRS:
                    out.append(Fact(key, value, (a, b), tuple(sorted(seen))))
        return out

    def at(self, k: int) -> list[z3.BoolRef]:
        """Every candidate over copy ``k``, in one fixed order."""
        if k not in self._at:
            self._at[k] = self._build(k)
        return self._at[k]

    def _build(self, k: int) -> list[z3.BoolRef]:
        copy = self.twin.copy(k)
        terms = [a.term(copy) for a in self.atoms]
        out = []
        for f in self.facts:
            then = z3.Or([z3.And([terms[v] == x for v, x in zip(f.vars, xs, strict=True)])
                          for xs in f.values]) if f.vars else None
            if f.key < 0:
                out.append(then)
            elif then is None:
                out.append(terms[f.key] != f.value)
            else:
                out.append(z3.Implies(terms[f.key] == f.value, then))
        return out

    def false_in(self, parts: tuple) -> set[int]:
        """The candidates an explicit state (its ``KernelModel.parts``) falsifies: tests compare
        what z3 proved with the states the explicit model reaches."""
        values = [a.value(parts) for a in self.atoms]
        out = set()
        for i, f in enumerate(self.facts):
            if f.key >= 0 and not f.vars:
                holds = values[f.key] != f.value
            else:
                holds = ((f.key >= 0 and values[f.key] != f.value)
                         or tuple(values[v] for v in f.vars) in f.values)
            if not holds:
                out.add(i)
        return out

    def describe(self, indices: Sequence[int]) -> list[str]:
        """Candidates ``indices`` in kernel words, one line per program point, lock word or
        flag value they talk about (``cpu0 at `spin_unlock(B)`: holds B; preempt_count = 2``)."""
        lines: dict[tuple[int, int], list[str]] = {}
        nevers: dict[int, list[str]] = {}
        for i in indices:
            f = self.facts[i]
            if f.key >= 0 and not f.vars:
                nevers.setdefault(f.key, []).append(self.atoms[f.key].says(f.value))
                continue
            lines.setdefault((f.key, f.value), []).append(self._body(f))
        out = []
        for (key, value), bodies in sorted(lines.items()):
            atom = self.atoms[key] if key >= 0 else None
            head = ("always" if atom is None else f"cpu{atom.cpu} {atom.says(value)}"
                    if atom.cpu >= 0 else f"when {self._phrase(key, [value], -1)}")
            out.append(f"{head}: {'; '.join(bodies)}")
        for key, places in sorted(nevers.items()):
            atom = self.atoms[key]
            out.append(f"{atom.name} is never {' or '.join(places)}" if atom.cpu >= 0
                       else f"never: {' or '.join(places)}")
        return out

    def _body(self, f: Fact) -> str:
        """What fact ``f`` says once its key holds."""
        cpu = self.atoms[f.key].cpu if f.key >= 0 else -1
        if len(f.vars) == 1:
            return self._phrase(f.vars[0], [xs[0] for xs in f.values], cpu)
        return " or ".join("(" + " and ".join(self._phrase(v, [x], cpu) for v, x in
                                              zip(f.vars, xs, strict=True)) + ")"
                           for xs in f.values)

    def _phrase(self, var: int, values: list[int], cpu: int) -> str:
        """Atom ``var`` takes one of ``values``, said from CPU ``cpu``'s point of view."""
        a = self.atoms[var]
        if a.noun:
            who = "" if a.cpu < 0 or a.cpu == cpu else f"cpu{a.cpu}'s "
            return f"{who}{a.noun} = {' or '.join(a.says(v) for v in values)}"
        who = "" if a.cpu < 0 or a.cpu == cpu else f"cpu{a.cpu} "
        return " or ".join(f"{who}{a.says(v)}" for v in values)


def _rows(atoms: list[Atom], samples: Iterable[tuple]) -> list[list[int]]:
    """Every atom's value in each sample (``KernelModel.parts``); a CPU's atoms are read once
    per (its private part, shared part) pair, the shared atoms once per shared part."""
    groups = [(cpu, [a for a in atoms if a.cpu == cpu]) for cpu in sorted({a.cpu for a in atoms})
              if cpu >= 0] + [(-1, [a for a in atoms if a.cpu < 0])]
    assert [a for _, group in groups for a in group] == atoms
    cache: dict[tuple, list[int]] = {}
    rows = []
    for parts in samples:
        row: list[int] = []
        for cpu, group in groups:
            key = (cpu, parts[1][cpu] if cpu >= 0 else (), parts[0])
            values = cache.get(key)
            if values is None:
                values = cache[key] = [a.value(parts) for a in group]
            row += values
        rows.append(row)
    return rows


def _samples(twin: Twin, mining: Mining) -> list[int]:
    """Sample reachable states of the explicit model, as ``mining`` says; a state whose step
    the explicit model refuses (a scenario error) is kept but not expanded."""
    model = twin.explicit

    def nexts(state: int) -> list[int]:
        try:
            return [after for _, after, _, _ in model.successors(state)]
        except LockbreakError:
            return []

    states = list(model.init_states())
    seen = set(states)
    i = 0
    while i < len(states) and len(states) < mining.first:
        for after in nexts(states[i]):
            if after not in seen:
                seen.add(after)
                states.append(after)
        i += 1
    rng = random.Random(mining.seed)
    for _ in range(mining.walks):
        state = model.init_states()[0]
        for _ in range(mining.steps):
            options = nexts(state)
            if not options:
                break
            state = rng.choice(options)
            if state not in seen:
                seen.add(state)
                states.append(state)
    # One step further from every sample: a fact that only held because the samples stop
    # there falls here, in Python, not in a z3 query.
    for state in list(states[i:]):
        for after in nexts(state):
            if after not in seen:
                seen.add(after)
                states.append(after)
    return states
