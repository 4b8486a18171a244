"""Random well-formed scenarios: Hypothesis strategies over a structured sketch, and its TOML.

`sketches` draws a `Sketch`: spinlocks, at most one protected datum, and per CPU a syntax tree
of kernel code (`model.lang.ast` nodes) built from the lock-break idioms: nested critical
sections, ``cond_resched_lock`` with and without a test of its value, open-coded breaks on
``need_lockbreak``/``spin_needbreak``/``need_resched``, ``spin_trylock``, loops that
``restart``, reads, writes and uses of the datum. `render` writes it as a scenario file
(docs/semantics.md section 7) that `model.scenario.load.load_scenario` accepts.

Valid by construction: every path takes and releases the same locks, data is touched only
under its lock and used only after a read, and ``break``/``continue``/``restart`` appear only
where the locks held equal those at the top of their loop; ``restart`` only after a lock
break that dropped the lock, so no loop spins without taking a step. Blocking acquisitions
follow one lock order (the declaration order), so a deadlock the checker finds in a sketch
comes from a lock-break site dropping and retaking a lock, never from plain ABBA ordering.
``spin_trylock`` may take any lock that is not held, since it never waits. Sleeping calls
(``cond_resched()``, ``schedule()``) appear only where no lock is held, so scheduling while
atomic can come only from an era's lock-break primitive.

Hypothesis shrinks the choices behind a sketch, so a failing sketch shrinks towards fewer
CPUs, locks and statements, and each statement towards ``work()``, the first alternative.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from hypothesis import strategies as st

from model import eras as era_registry
from model.eras.era import Era
from model.lang.ast import (
    And,
    Break,
    Call,
    CallExpr,
    Continue,
    Expr,
    If,
    Not,
    Or,
    Repeat,
    Restart,
    Stmt,
    While,
)

T = TypeVar("T")
LOCK_NAMES = ("A", "B", "C")
DATUM = "X"
# How often each kind of statement is offered where it may appear (default 1): lock-break
# bugs need critical sections and lock-break sites, so those come up more often.
WEIGHTS: Mapping[str, int] = {"critical section": 3, "cond_resched_lock": 2,
                              "tested cond_resched_lock": 2}
# Break conditions that ask only whether another CPU waits (no need_resched in them).
CONTENTION_TESTS = ("need_lockbreak", "spin_needbreak")
# Bumped whenever the meaning of the choices behind a sketch changes, so that an example
# database never replays old choices as different scenarios.
GENERATOR_VERSION = 1


@dataclass(frozen=True)
class CpuSketch:
    """One CPU's code (statements, no positions) and how many wakeups it may receive."""

    code: tuple[Stmt, ...]
    wakeups: int = 0


@dataclass(frozen=True)
class Sketch:
    """A whole scenario before rendering: era, spinlocks in lock order, data, CPUs."""

    version: str
    locks: tuple[str, ...]
    data: tuple[tuple[str, str], ...]          # (datum, the lock protecting it)
    cpus: tuple[CpuSketch, ...]

    def trimmed(self) -> Sketch:
        """The same scenario without locks that neither the code nor the data mention.

        A lock nobody takes stays free in every state, so dropping it changes no verdict;
        shrinking cannot always drop it, since the lock count is drawn before the code.
        """
        used = {d[1] for d in self.data} | {arg for cpu in self.cpus
                                            for arg in _arguments(cpu.code)}
        return replace(self, locks=tuple(lock for lock in self.locks if lock in used))

    @property
    def size(self) -> int:
        """Statements over all CPUs, nested ones included (what shrinking reduces)."""
        return sum(_count(cpu.code) for cpu in self.cpus)


@dataclass(frozen=True)
class Limits:
    """How large a sketch may grow: CPUs, locks, statements per block, nesting depth."""

    max_cpus: int = 3
    max_locks: int = 3
    max_block: int = 3
    max_depth: int = 3
    max_repeat: int = 3
    max_wakeups: int = 1


def sketches(version: str, limits: Limits = Limits()) -> st.SearchStrategy[Sketch]:
    """A strategy for well-formed scenarios under the era ``version``.

    >>> from hypothesis import find, settings
    >>> s = find(sketches("v2.6.12"), lambda s: len(s.cpus) == 2,
    ...          settings=settings(database=None))
    >>> [len(cpu.code) for cpu in s.cpus], s.locks
    ([3, 3], ('A',))
    """
    era = era_registry.get_era(version)

    @st.composite
    def draw_cpu(draw: st.DrawFn, locks: tuple[str, ...], data: tuple[tuple[str, str], ...],
                 earlier: tuple[CpuSketch, ...]) -> CpuSketch:
        # Kernel code paths race with themselves: a CPU may run the first CPU's code (which
        # also lets symmetry reduction merge their states). Always the first, and the coin
        # is drawn for every CPU, so that every CPU's choices have the same shape and the
        # shrinker can delete any of them.
        copy: bool = draw(st.booleans())
        if copy and earlier:
            code = earlier[0].code
        else:
            code = _Code(draw, era, locks, dict(data), limits).program()
        return CpuSketch(code, wakeups=draw(st.integers(0, limits.max_wakeups)))

    @st.composite
    def draw_sketch(draw: st.DrawFn) -> Sketch:
        locks = LOCK_NAMES[:draw(st.integers(1, min(limits.max_locks, len(LOCK_NAMES))))]
        data = ((DATUM, draw(st.sampled_from(locks))),) if draw(st.booleans()) else ()
        cpus: tuple[CpuSketch, ...] = ()
        for n in range(limits.max_cpus):
            cpu, more = draw(_element(n < limits.max_cpus - 1, functools.partial(
                draw, draw_cpu(locks, data, cpus)), odds=5))
            cpus += (cpu,)
            if not more:
                break
        return Sketch(version, locks, data, cpus)

    return draw_sketch()


class _Code:
    """Draws one CPU's statements, tracking the locks held and the data read on each path."""

    def __init__(self, draw: st.DrawFn, era: Era, locks: tuple[str, ...],
                 data: Mapping[str, str], limits: Limits) -> None:
        self.draw, self.era, self.locks, self.data, self.limits = draw, era, locks, data, limits
        self.tests_value = era.returns_value("cond_resched_lock")
        self.conditions = [name for name in ("need_lockbreak", "lock_need_resched",
                                             "spin_needbreak") if era.provides(name)]
        self.contention = [name for name in self.conditions if name in CONTENTION_TESTS]

    def program(self) -> tuple[Stmt, ...]:
        """A CPU's code: a critical section, then optionally a block of anything.

        Code that takes no lock cannot take part in a lock-break bug, so every CPU takes one.
        """
        lead = self.section(self.locks, (), frozenset(), None, 0)
        return (*lead, *self.block((), frozenset(), None, 0)) if self.draw(st.booleans()) \
            else tuple(lead)

    def block(self, held: tuple[str, ...], reads: frozenset[str],
              loop_held: tuple[str, ...] | None, depth: int) -> tuple[Stmt, ...]:
        """A block of one to ``max_block`` statements that leaves ``held`` as it found it.

        ``loop_held`` is what the innermost enclosing loop held at its top (None outside
        loops); ``break``, ``continue`` and ``restart`` may appear only where it equals
        ``held``. Data read here are usable later in the same block only.
        """
        out: list[Stmt] = []
        for n in range(self.limits.max_block):
            last = n == self.limits.max_block - 1
            stmts, more = self.draw(_element(not last, functools.partial(
                self.statement, held, reads, loop_held, depth)))
            out += stmts
            reads = reads | {str(s.args[0]) for s in stmts
                             if isinstance(s, Call) and s.name == "read"}
            if not more:
                break
        return tuple(out)

    def statement(self, held: tuple[str, ...], reads: frozenset[str],
                  loop_held: tuple[str, ...] | None, depth: int) -> list[Stmt]:
        """The next statement (a few for a critical section)."""
        choices = self.choices(held, reads, loop_held, depth)
        # Weighted by repetition; shrinking still moves towards the first entry, work().
        kinds = [kind for kind in choices for _ in range(WEIGHTS.get(kind, 1))]
        return choices[self.draw(st.sampled_from(kinds))]()

    def choices(self, held: tuple[str, ...], reads: frozenset[str],
                loop_held: tuple[str, ...] | None,
                depth: int) -> dict[str, Callable[[], list[Stmt]]]:
        """What may come next here, simplest first (shrinking moves towards the first)."""
        c: dict[str, Callable[[], list[Stmt]]] = {"work": _just(Call("work"))}
        deeper = depth < self.limits.max_depth
        under = [d for d, lock in self.data.items() if lock in held]
        for datum in under:
            c[f"read {datum}"] = _just(Call("read", (datum,)))
            c[f"write {datum}"] = _just(Call("write", (datum,)))
            if datum in reads:
                c[f"use {datum}"] = _just(Call("use", (datum,)))
        if held:
            c["cond_resched_lock"] = lambda: [Call("cond_resched_lock", (self.pick(held),))]
            if len(held) == 1 or self.contention:
                c["open-coded break"] = lambda: [self.open_break(held, loop_held)]
            if self.tests_value:
                c["tested cond_resched_lock"] = lambda: [self.tested_break(held, loop_held)]
        else:
            c["cond_resched"] = _just(Call("cond_resched"))
            c["schedule"] = _just(Call("schedule"))
        above = [lock for lock in self.locks if not held
                 or self.locks.index(lock) > max(self.locks.index(h) for h in held)]
        if above and deeper:
            c["critical section"] = lambda: self.section(above, held, reads, loop_held, depth)
        free = [lock for lock in self.locks if lock not in held]
        if free and deeper:
            c["spin_trylock"] = lambda: [self.trylock(free, held, reads, loop_held, depth)]
        if deeper:
            c["repeat"] = lambda: [Repeat(self.draw(st.integers(1, self.limits.max_repeat)),
                                          self.block(held, reads, held, depth + 1))]
        if loop_held is not None and loop_held == held:
            # restart only as a reaction to a break (which took steps): a bare restart
            # would loop without ever taking a step
            c["break"] = lambda: [Break()]
        return c

    def pick(self, names: Sequence[str]) -> str:
        return self.draw(st.sampled_from(list(names)))

    def section(self, above: Sequence[str], held: tuple[str, ...], reads: frozenset[str],
                loop_held: tuple[str, ...] | None, depth: int) -> list[Stmt]:
        """Take a lock above every lock held, run a block under it, release it."""
        lock = self.pick(above)
        take: Stmt = Call("spin_lock", (lock,))
        if self.draw(st.booleans()):
            take = While(Not(CallExpr("spin_trylock", (lock,))), (Call("cpu_relax"),))
        body = self.block((*held, lock), reads, loop_held, depth + 1)
        return [take, *body, Call("spin_unlock", (lock,))]

    def trylock(self, free: Sequence[str], held: tuple[str, ...], reads: frozenset[str],
                loop_held: tuple[str, ...] | None, depth: int) -> Stmt:
        """``if (spin_trylock(L)) { ...; spin_unlock(L); } else { cpu_relax(); }``."""
        lock = self.pick(free)
        body = self.block((*held, lock), reads, loop_held, depth + 1)
        orelse: tuple[Stmt, ...] = (Call("cpu_relax"),) if self.draw(st.booleans()) else ()
        return If(CallExpr("spin_trylock", (lock,)), (*body, Call("spin_unlock", (lock,))),
                  orelse)

    def reaction(self, held: tuple[str, ...],
                 loop_held: tuple[str, ...] | None) -> tuple[Stmt, ...]:
        """What code does after learning that its lock was dropped."""
        options: list[tuple[Stmt, ...]] = [(Call("work"),)]
        options += [(Call("read", (d,)),) for d, lock in self.data.items() if lock in held]
        if loop_held is not None and loop_held == held:
            options += [(Restart(),), (Break(),), (Continue(),)]
        return self.draw(st.sampled_from(options))

    def tested_break(self, held: tuple[str, ...], loop_held: tuple[str, ...] | None) -> Stmt:
        """``if (cond_resched_lock(L)) { reaction }``."""
        cond = CallExpr("cond_resched_lock", (self.pick(held),))
        return If(cond, self.reaction(held, loop_held))

    def open_break(self, held: tuple[str, ...], loop_held: tuple[str, ...] | None) -> Stmt:
        """``if (spin_needbreak(L) || need_resched()) { unlock; relax; lock; reaction }``.

        The CPU relaxes with ``cond_resched()`` only when ``L`` was its one lock, so that
        the open-coded break never sleeps while atomic itself. With other locks still held
        it relaxes with ``cpu_relax()`` and tests contention only: a test of need_resched
        would then stay true forever (only scheduling clears it), a bug in the code and
        not in the era.
        """
        lock = self.pick(held)
        alone = held == (lock,)
        tests: list[Expr] = [CallExpr("need_resched")] if alone else []
        for name in self.conditions:
            if alone:
                tests += [CallExpr(name, (lock,)), Or(CallExpr(name, (lock,)),
                                                      CallExpr("need_resched"))]
            elif name in CONTENTION_TESTS:
                tests.append(CallExpr(name, (lock,)))
        cond = self.draw(st.sampled_from(tests))
        relax = "cond_resched" if alone else "cpu_relax"
        then = (Call("spin_unlock", (lock,)), Call(relax), Call("spin_lock", (lock,)),
                *self.reaction(held, loop_held))
        return If(cond, then)


def _just(stmt: Stmt) -> Callable[[], list[Stmt]]:
    return lambda: [stmt]


@st.composite
def _element(draw: st.DrawFn, may_continue: bool, make: Callable[[], T],
             odds: int = 1) -> tuple[T, bool]:
    """``make()`` and a "more after this?" draw (more at odds ``odds`` to 1), as one span.

    As lists draw their elements: the shrinker deletes a statement or a CPU by deleting its
    span, at any position (``make`` draws through the same data as ``draw``).
    """
    value = make()
    return value, may_continue and draw(st.integers(0, odds)) > 0


def _arguments(code: Sequence[Stmt]) -> set[str]:
    """Every name passed to a call or tested in a condition of ``code``."""
    names: set[str] = set()
    for stmt in code:
        match stmt:
            case Call():
                names.update(str(a) for a in stmt.args)
            case Repeat():
                names |= _arguments(stmt.body)
            case While():
                names |= _expr_arguments(stmt.cond) | _arguments(stmt.body)
            case If():
                names |= (_expr_arguments(stmt.cond) | _arguments(stmt.then)
                          | _arguments(stmt.orelse))
    return names


def _expr_arguments(expr: Expr) -> set[str]:
    match expr:
        case CallExpr():
            return {str(a) for a in expr.args}
        case Not():
            return _expr_arguments(expr.operand)
        case And() | Or():
            return _expr_arguments(expr.left) | _expr_arguments(expr.right)
    return set()


def _count(code: Sequence[Stmt]) -> int:
    total = 0
    for stmt in code:
        total += 1
        if isinstance(stmt, Repeat | While):
            total += _count(stmt.body)
        elif isinstance(stmt, If):
            total += _count(stmt.then) + _count(stmt.orelse)
    return total


# ---------------------------------------------------------------- rendering


def render(sketch: Sketch, *, name: str, description: str = "",
           expect: Mapping[str, str] | None = None) -> str:
    """The scenario file of ``sketch``, with an ``[expect]`` table when ``expect`` is given.

    >>> s = Sketch("v2.6.12", ("A",), (), (CpuSketch((Call("spin_lock", ("A",)),
    ...     Call("spin_unlock", ("A",)))),))
    >>> print(render(s, name="tiny", expect={"mutual_exclusion": "vacuous"}))
    name = "tiny"
    [kernel]
    version = "v2.6.12"
    preempt = "full"
    [locks]
    A = "spin"
    [[cpu]]
    wakeups = 0
    code = \"\"\"
    spin_lock(A);
    spin_unlock(A);
    \"\"\"
    [expect]
    mutual_exclusion = "vacuous"
    <BLANKLINE>
    """
    lines = [f"name = {_string(name)}"]
    if description:
        lines.append(f"description = {_string(description)}")
    lines += ["[kernel]", f"version = {_string(sketch.version)}", 'preempt = "full"', "[locks]"]
    lines += [f'{lock} = "spin"' for lock in sketch.locks]
    if sketch.data:
        lines += ["[data]", *(f"{datum} = {_string(lock)}" for datum, lock in sketch.data)]
    for cpu in sketch.cpus:
        lines += ["[[cpu]]", f"wakeups = {cpu.wakeups}", 'code = """', *render_code(cpu.code),
                  '"""']
    if expect:
        lines += ["[expect]", *(f"{prop} = {_string(status)}" for prop, status in expect.items())]
    return "\n".join(lines) + "\n"


def render_code(code: Sequence[Stmt], indent: int = 0) -> list[str]:
    """Statements as lines of scenario code, four spaces per level.

    >>> render_code((Repeat(2, (If(CallExpr("cond_resched_lock", ("A",)), (Restart(),)),)),))
    ['repeat (2) {', '    if (cond_resched_lock(A)) {', '        restart;', '    }', '}']
    """
    pad = "    " * indent
    out: list[str] = []
    for stmt in code:
        match stmt:
            case Call():
                out.append(f"{pad}{_call(stmt.name, stmt.args)};")
            case Repeat():
                out += [f"{pad}repeat ({stmt.count}) {{", *render_code(stmt.body, indent + 1),
                        f"{pad}}}"]
            case While():
                out += [f"{pad}while ({render_expr(stmt.cond)}) {{",
                        *render_code(stmt.body, indent + 1), f"{pad}}}"]
            case If():
                out += [f"{pad}if ({render_expr(stmt.cond)}) {{",
                        *render_code(stmt.then, indent + 1)]
                if stmt.orelse:
                    out += [f"{pad}}} else {{", *render_code(stmt.orelse, indent + 1)]
                out.append(f"{pad}}}")
            case Break() | Continue() | Restart():
                out.append(f"{pad}{type(stmt).__name__.lower()};")
            case _:
                raise TypeError(f"render_code: no scenario syntax for {stmt!r}")
    return out


def render_expr(expr: Expr) -> str:
    """A condition in scenario syntax, parenthesised where C precedence needs it.

    >>> render_expr(Or(CallExpr("spin_needbreak", ("A",)), CallExpr("need_resched")))
    'spin_needbreak(A) || need_resched()'
    """
    match expr:
        case CallExpr():
            return _call(expr.name, expr.args)
        case Not():
            inner = render_expr(expr.operand)
            return f"!{inner}" if isinstance(expr.operand, CallExpr | Not) else f"!({inner})"
        case And():
            return f"{_operand(expr.left, Or)} && {_operand(expr.right, Or)}"
        case Or():
            return f"{render_expr(expr.left)} || {render_expr(expr.right)}"
    raise TypeError(f"render_expr: no scenario syntax for {expr!r}")


def _operand(expr: Expr, looser: type) -> str:
    text = render_expr(expr)
    return f"({text})" if isinstance(expr, looser) else text


def _call(name: str, args: tuple[Any, ...]) -> str:
    return f"{name}({', '.join(map(str, args))})"


def _string(text: str) -> str:
    """A TOML basic string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


__all__ = ["GENERATOR_VERSION", "CpuSketch", "Limits", "Sketch", "render", "render_code",
           "render_expr", "sketches"]
