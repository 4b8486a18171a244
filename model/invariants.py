"""Candidate invariants of the symbolic twin, mined from the explicit model's reachable states.

k-induction starts from any state of the twin's domain, and most of those no execution reaches:
``preempt_enable()`` meeting ``preempt_count`` 0, a holder mask that disagrees with the lock
word, a CPU spinning on a lock it already holds. Such states give counterexamples to induction
that no depth removes. This module offers the facts that rule them out, read off the states the
explicit model reaches (breadth-first, up to a budget): for each *key* (a CPU's pc, a lock's
word) and each value it takes, the few values every other state variable takes with it
(``cpu0.pc == 5 -> cpu0.preempt_count == 1``, ``word[B] == 0 -> holders[B] bit 1 == 0``),
and the key values never seen (``cpu1.pc != 7``).

They are only candidates: the engine keeps those z3 proves inductive together (Houdini), so a
budget cut short, or a fact true of the states seen but not of all, costs a proof, never
soundness.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import TYPE_CHECKING, Any

import z3

from lockbreak.core import LockbreakError
from model.kernel import ACC, PC

if TYPE_CHECKING:
    from model.symbolic import SymbolicKernel, WordTable

# Reachable states read for candidates; past it the candidates are what the first states say.
MINE_STATES = 20_000
# A variable taking more values than this beside a key value gives no candidate.
MAX_VALUES = 6
# Two varying variables whose value pairs beside a key value are correlated and at most this
# many give a candidate (``pc == 9 -> (dropped, r0) in {(0, 0), (1, 1)}``).
MAX_PAIRS = 4
# A projection of the reachable states onto a group of variables (one CPU's private state, with
# the shared state, ...) with at most this many tuples is a candidate too.
MAX_TUPLES = 20_000


@dataclass(frozen=True)
class Fact:
    """``column[key] == value -> (columns[vars]) in values``; no ``vars``: ``key != value``."""

    key: int
    value: int
    vars: tuple[int, ...] = ()
    values: tuple[tuple[int, ...], ...] = ()


@dataclass(frozen=True)
class _Column:
    """One state variable (or one CPU's bit of a mask): slot ``slot`` of CPU ``part``'s private
    state (``local``) or of shared part ``part``; lock words read as their table index."""

    local: bool
    part: int
    slot: int
    span: int                           # how many values its type has (0: too many to matter)
    bit: int | None = None
    table: WordTable | None = None

    def term(self, copy: Any) -> Any:
        """Its z3 term in a copy of the twin's state."""
        term = (copy.locals if self.local else copy.shared)[self.part][self.slot]
        return term if self.bit is None else z3.Extract(self.bit, self.bit, term)

    def value(self, parts: tuple) -> int:
        """Its value in an explicit state's ``KernelModel.parts``."""
        value = parts[1 if self.local else 0][self.part][self.slot]
        if self.table is not None:
            return self.table.index[value]
        return value if self.bit is None else value >> self.bit & 1


def _columns(twin: SymbolicKernel) -> tuple[list[_Column], list[int], list[list[int]],
                                            list[list[int]]]:
    """Every column, the indices of the keys, per key the values its domain allows, and the
    columns of each CPU's private state then of each lock's and datum's shared state."""
    cols: list[_Column] = []
    keys: list[int] = []
    domains: list[list[int]] = []
    parts: list[list[int]] = []
    n = twin.n
    for cpu, local in enumerate(twin.copy(0).locals):
        parts.append([len(cols) + j for j in range(len(local) - 1)])
        for i in range(len(local)):
            if i == ACC:
                continue
            cols.append(_Column(True, cpu, i, 4 if local[i].size() == 2 else 0))
            if i == PC:
                code = twin.world.programs[cpu].code
                keys.append(len(cols) - 1)
                domains.append([pc for pc, instr in enumerate(code) if instr.is_step]
                               + [len(code)])
    for lock in twin.world.locks:
        table = twin.tables[lock.index]
        parts.append([len(cols) + j for j in range(2 + 3 * n)])
        cols.append(_Column(False, lock.index, 0, 0, table=table))
        keys.append(len(cols) - 1)
        domains.append(list(range(len(table.words))))
        cols.append(_Column(False, lock.index, 1, 0))
        for m in range(3):
            for b in range(n):
                cols.append(_Column(False, lock.index, 2 + m, 2, bit=b))
    base = len(twin.world.locks)
    for d in range(len(twin.world.data)):
        parts.append([len(cols) + j for j in range(2 * n)])
        for m in range(2):
            for b in range(n):
                cols.append(_Column(False, base + d, m, 2, bit=b))
    # Every other variable is a key too, of facts about single variables (``break_lock[B]
    # == 1 -> cpu1.pc in {...}``); its domain is not enumerated.
    for col in range(len(cols)):
        if col not in keys:
            keys.append(col)
            domains.append([])
    return cols, keys, domains, parts


class Candidates:
    """The mined facts of one twin, as z3 formulas over any step-indexed copy."""

    def __init__(self, twin: SymbolicKernel, budget: int = MINE_STATES) -> None:
        self.twin = twin
        self.columns, keys, domains, parts = _columns(twin)
        rows = [[c.value(twin.explicit.parts(s)) for c in self.columns]
                for s in _reachable(twin, budget)]
        self.facts: list[Fact] = []
        if len(rows) < budget:
            # Every reachable state was seen: their set is the strongest candidate, and every
            # other fact mined from it would follow from it.
            self._project(rows, list(range(len(self.columns))))
            return
        shared = [c for part in parts[twin.n:] for c in part]
        for cpu in range(twin.n):
            mine = parts[cpu]
            self._project(rows, mine)
            self._project(rows, mine + shared)
            for other in range(twin.n):
                if other != cpu:
                    self._project(rows, mine + parts[other][:1])
        self._project(rows, shared)
        for key, domain in zip(keys, domains, strict=True):
            seen: dict[int, list[list[int]]] = {}
            for row in rows:
                seen.setdefault(row[key], []).append(row)
            self.facts += [Fact(key, value) for value in domain if value not in seen]
            for value, group in sorted(seen.items()):
                self.facts += self._mine(key, value, group, pairs=bool(domain))

    def _project(self, rows: list[list[int]], columns: list[int]) -> None:
        """The candidate that ``columns`` together take one of the value tuples seen."""
        seen = {tuple(row[c] for c in columns) for row in rows}
        if seen and len(seen) <= MAX_TUPLES:
            self.facts.append(Fact(-1, 0, tuple(columns), tuple(sorted(seen))))

    def _mine(self, key: int, value: int, rows: list[list[int]], pairs: bool) -> list[Fact]:
        """The facts of the rows where ``key`` has ``value``: each column's few values, and
        each pair of varying columns' value pairs when they are correlated (fewer pairs than
        the two value sets make) if ``pairs``."""
        out = []
        varying = []
        for var in range(len(self.columns)):
            values = {row[var] for row in rows}
            if var == key or len(values) == self.columns[var].span:
                continue
            if len(values) > 1:
                varying.append((var, values))
            if len(values) <= MAX_VALUES:
                out.append(Fact(key, value, (var,), tuple((v,) for v in sorted(values))))
        for i, (a, xs) in enumerate(varying if pairs else []):
            for b, ys in varying[i + 1:]:
                seen = {(row[a], row[b]) for row in rows}
                if len(seen) < len(xs) * len(ys) and len(seen) <= MAX_PAIRS:
                    out.append(Fact(key, value, (a, b), tuple(sorted(seen))))
        return out

    def at(self, k: int) -> list[z3.BoolRef]:
        """Every candidate over copy ``k``, in one fixed order."""
        copy = self.twin.copy(k)
        terms = [c.term(copy) for c in self.columns]
        out = []
        for f in self.facts:
            if f.key < 0:
                out.append(_one_of([terms[c] for c in f.vars], f.values))
            elif not f.vars:
                out.append(terms[f.key] != f.value)
            else:
                out.append(z3.Implies(terms[f.key] == f.value, z3.Or([
                    z3.And([terms[var] == x for var, x in zip(f.vars, xs, strict=True)])
                    for xs in f.values])))
        return out


def _one_of(terms: list[Any], rows: Sequence[tuple[int, ...]]) -> z3.BoolRef:
    """``terms`` equal one of ``rows``, as a decision tree on the first term (rows sorted)."""
    if not terms:
        return z3.BoolVal(True)
    branches = []
    for value, group in groupby(rows, key=lambda row: row[0]):
        rest = _one_of(terms[1:], [row[1:] for row in group])
        branches.append(z3.And(terms[0] == value, rest) if not z3.is_true(rest)
                        else terms[0] == value)
    return z3.Or(branches)


def _reachable(twin: SymbolicKernel, budget: int) -> list[int]:
    """The first ``budget`` reachable states of the explicit model, breadth-first; a state
    whose step the explicit model refuses (a scenario error) is kept but not expanded."""
    model = twin.explicit
    states = list(model.init_states())
    seen = set(states)
    i = 0
    while i < len(states) and len(states) < budget:
        try:
            nexts = [after for _, after, _, _ in model.successors(states[i])]
        except LockbreakError:
            nexts = []
        for after in nexts:
            if after not in seen:
                seen.add(after)
                states.append(after)
        i += 1
    return states[:budget]
