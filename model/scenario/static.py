"""Static checks of scenario code, before any state is explored.

Two passes over each CPU's code. The first, here, resolves names: every statement and
condition is a builtin or a primitive of the scenario's era (under any of the kernel's
spellings, `model.spellings`), with the right number and kind of arguments (declared locks of
the right kind, declared data), and every ``goto`` names a label of its own or an enclosing
block. The second (`model.scenario.held_locks`) follows the held locks along every path of
the code, ``goto`` included. A mistake here would otherwise show up as a confusing
counterexample, or as a deadlock the scenario's author did not mean to model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from lockbreak.core import ScenarioError
from model import eras as era_registry
from model.eras.era import Era
from model.lang.ast import (
    And,
    Break,
    Call,
    CallExpr,
    Continue,
    Expr,
    Forever,
    Goto,
    If,
    Label,
    Not,
    Or,
    Pos,
    Repeat,
    Restart,
    Stmt,
    While,
)
from model.scenario.calls import (
    BUILTIN_CONDITIONS,
    BUILTIN_STATEMENTS,
    CALLS,
    CONDITIONS,
    ERA_CONDITIONS,
    ERA_STATEMENTS,
    KIND_NOUNS,
    NEEDS,
    ROLES,
    STATEMENTS,
    TRYLOCKS,
    Context,
)
from model.scenario.held_locks import Flow
from model.scenario.types import Scenario
from model.scenario.typos import did_you_mean
from model.spellings import SPELLINGS, base_name


def check_scenario(scenario: Scenario, *, era_label: str | None = None) -> None:
    """Check every CPU's code against the scenario's era, locks and data.

    Parameters
    ----------
    scenario
        A scenario whose structure `model.scenario.load` has already validated.
    era_label
        How messages name the era, e.g. ``"v2.6.8 (--version)"`` when it came from the
        command line; the era's name by default.

    Raises
    ------
    ScenarioError
        At the first offending statement or argument, with a hint on what to do.
    """
    era = era_registry.get_era(scenario.kernel.version)
    context = Context(str(scenario.path), era, era_label or scenario.kernel.version,
                       scenario.locks, scenario.data)
    for cpu in scenario.cpus:
        _Resolver(context).program(cpu.code)
        Flow(context, f"cpu{cpu.index}").program(cpu.code)


# ---------------------------------------------------------------- pass 1: names


class _Resolver:
    """Checks names, arguments, loop context and where ``spin_trylock`` may appear."""

    def __init__(self, context: Context) -> None:
        self.cx = context
        self.labels: dict[str, Pos] = {}

    def program(self, code: Sequence[Stmt]) -> None:
        for label in _labels(code):
            if label.name in self.labels:
                first = self.labels[label.name]
                raise self.cx.error(label.pos, f"label '{label.name}' defined twice",
                                    f"the first is at line {first.line}; rename one")
            self.labels[label.name] = label.pos
        self.block(code, 0, frozenset())

    def block(self, stmts: Sequence[Stmt], loops: int, visible: frozenset[str]) -> None:
        visible = visible | {s.name for s in stmts if isinstance(s, Label)}
        for stmt in stmts:
            self.stmt(stmt, loops, visible)

    def stmt(self, stmt: Stmt, loops: int, visible: frozenset[str]) -> None:
        match stmt:
            case Call():
                self.call(stmt.name, stmt.args, stmt.pos, stmt.arg_pos, statement=True)
            case If():
                self.condition(stmt.cond)
                self.block(stmt.then, loops, visible)
                self.block(stmt.orelse, loops, visible)
            case While():
                self.condition(stmt.cond)
                self.block(stmt.body, loops + 1, visible)
            case Repeat():
                if stmt.count < 1:
                    raise self.cx.error(stmt.pos, f"repeat ({stmt.count}) never runs its body",
                                        "repeat (N) needs N >= 1")
                self.block(stmt.body, loops + 1, visible)
            case Forever():
                self.block(stmt.body, loops + 1, visible)
            case Goto() if stmt.label not in self.labels:
                raise self.cx.error(stmt.pos, f"goto {stmt.label}: no label {stmt.label} in "
                                    "this CPU's code", did_you_mean(stmt.label, self.labels)
                                    or f"put {stmt.label}: before the statement to jump to")
            case Goto() if stmt.label not in visible:
                raise self.cx.error(stmt.pos, f"goto {stmt.label} jumps into a block",
                                    f"the label is at line {self.labels[stmt.label].line}; "
                                    "jump only to a label of this or an enclosing block")
            case Break() | Continue() | Restart() if loops == 0:
                word = type(stmt).__name__.lower()
                raise self.cx.error(stmt.pos, f"{word} outside a loop",
                                    f"{word} belongs inside repeat, while or forever")

    def condition(self, cond: Expr) -> None:
        """A whole condition: ``spin_trylock(L)`` may stand here, optionally negated."""
        while isinstance(cond, Not):
            cond = cond.operand
        if isinstance(cond, CallExpr) and base_name(cond.name) in TRYLOCKS:
            self.call(cond.name, cond.args, cond.pos, cond.arg_pos, statement=False)
        else:
            self.expr(cond)

    def expr(self, expr: Expr) -> None:
        match expr:
            case Not():
                self.expr(expr.operand)
            case And() | Or():
                self.expr(expr.left)
                self.expr(expr.right)
            case CallExpr() if base_name(expr.name) in TRYLOCKS:
                call = f"{expr.name}({', '.join(map(str, expr.args))})"
                raise self.cx.error(
                    expr.pos, f"{call} must be the whole condition of an if or while",
                    f"write if ({call}) {{ ... }} or while (!{call}) {{ ... }} and test other "
                    "conditions inside")
            case CallExpr():
                self.call(expr.name, expr.args, expr.pos, expr.arg_pos, statement=False)

    def call(self, name: str, args: tuple[str | int, ...], pos: Pos,
             arg_pos: tuple[Pos, ...], *, statement: bool) -> None:
        spelling = SPELLINGS.get(name)
        if spelling is not None:
            if spelling.extra:
                extras = spelling.extra.split(", ")
                if len(args) != 1 + len(extras):
                    raise self.cx.error(pos, f"{name} takes a lock and {' and '.join(extras)}, "
                                        f"not {len(args)} arguments",
                                        f"write {name}(L, {spelling.extra})")
                args, arg_pos = args[:1], arg_pos[:1]
            name = spelling.base
        table, other = (STATEMENTS, CONDITIONS) if statement else (CONDITIONS, STATEMENTS)
        if name not in table:
            if name in other:
                raise self.misplaced(name, args, pos, statement)
            raise self.cx.error(pos, f"unknown {'statement' if statement else 'condition'} "
                                f"'{name}'", did_you_mean(name, table)
                                or self.available(statement, name))
        era = self.cx.era
        if name in (ERA_STATEMENTS if statement else ERA_CONDITIONS):
            if not era.provides(name):
                raise self.cx.error(pos, f"{name} is not in {self.cx.era_label}",
                                    _eras_with(name, f"eras with {name}: ", Era.provides))
            if not statement and name in NEEDS and not era.returns_value(name):
                raise self.cx.error(pos, f"{name} returns void in {self.cx.era_label}",
                                    _eras_with(name, f"call it as a statement; {name} returns "
                                               "a value in ", Era.returns_value))
        self.arguments(name, table[name], args, pos, arg_pos)

    def available(self, statement: bool, name: str) -> str:
        """What is usable here in this era instead of ``name``, which is no slip of a known
        name: the lock operations when ``name`` looks like one (``mutex_lock``,
        ``rcu_read_lock``), else every statement or condition."""
        builtin, extra = ((BUILTIN_STATEMENTS, ERA_STATEMENTS) if statement
                          else (BUILTIN_CONDITIONS, ERA_CONDITIONS))
        era = self.cx.era
        names = [*builtin, *(n for n in extra if era.provides(n) and (
            statement or n not in NEEDS or era.returns_value(n)))]
        if "lock" in name:
            locking = [n for n in names if "lock" in n]
            return (f"{name} is not modelled; the lock operations "
                    f"{'' if statement else 'usable as conditions '}in {self.cx.era_label} "
                    f"are {', '.join(locking)}")
        return (f"{'statements' if statement else 'conditions'} in {self.cx.era_label}: "
                + ", ".join(names))

    def misplaced(self, name: str, args: tuple[str | int, ...], pos: Pos,
                  statement: bool) -> ScenarioError:
        call = f"{name}({', '.join(map(str, args))})"
        if statement:
            return self.cx.error(pos, f"{name}() is a condition, not a statement",
                                 f"test it: if ({call}) {{ ... }}")
        return self.cx.error(pos, f"{name}() returns no value to test",
                             f"call it as a statement: {call};")

    def arguments(self, name: str, kinds: tuple[str, ...], args: tuple[str | int, ...],
                  pos: Pos, arg_pos: tuple[Pos, ...]) -> None:
        if name == "work":
            self.work(args, arg_pos)
            return
        if len(args) != len(kinds):
            at = arg_pos[len(kinds)] if len(args) > len(kinds) else pos
            wanted = f"one {_KIND_WORDS[kinds[0]]}" if kinds else "no arguments"
            raise self.cx.error(at, f"{name} takes {wanted}, not {len(args)}",
                                f"write {name}({_ARG_EXAMPLE.get(kinds, '')})")
        for kind, arg, at in zip(kinds, args, arg_pos, strict=True):
            if kind == "datum":
                self.datum(name, arg, at)
            elif kind in CALLS:
                self.lock(name, kind, arg, at)

    def work(self, args: tuple[str | int, ...], arg_pos: tuple[Pos, ...]) -> None:
        if len(args) > 1:
            raise self.cx.error(arg_pos[1], f"work takes at most one number, not {len(args)}",
                                "write work() for one step or work(N) for N steps")
        if args and not isinstance(args[0], int):
            raise self.cx.error(arg_pos[0], f"work takes a number of steps, not '{args[0]}'",
                                "write work() for one step or work(N) for N steps")
        if args and isinstance(args[0], int) and args[0] < 1:
            raise self.cx.error(arg_pos[0], f"work({args[0]}): N must be at least 1",
                                "write work() for one step or work(N) for N steps")

    def lock(self, name: str, kind: str, arg: str | int, at: Pos) -> None:
        locks = self.cx.locks
        if isinstance(arg, int):
            raise self.cx.error(at, f"{name} takes a lock, not the number {arg}",
                                f"declared locks: {_listing(locks)}")
        if arg not in locks:
            if arg in self.cx.data:
                protector = self.cx.data[arg]
                raise self.cx.error(at, f"'{arg}' is a datum, not a lock",
                                    f"{arg} is protected by {protector}; pass {protector}")
            raise self.cx.error(at, f"undeclared lock '{arg}'; declared: {_listing(locks)}",
                                did_you_mean(arg, locks)
                                or f'declare it in [locks]: {arg} = "{kind}"')
        if locks[arg] != kind:
            raise self.cx.error(at, f"{name}({arg}): {arg} is {KIND_NOUNS[locks[arg]]}",
                                _instead(name, locks[arg], arg))

    def datum(self, name: str, arg: str | int, at: Pos) -> None:
        data = self.cx.data
        if isinstance(arg, int):
            raise self.cx.error(at, f"{name} takes a datum, not the number {arg}",
                                f"declared data: {_listing(data)}")
        if arg not in data:
            if arg in self.cx.locks:
                raise self.cx.error(at, f"'{arg}' is a lock, not a datum",
                                    f"{name} takes data declared in [data]")
            example = next(iter(self.cx.locks), "L")
            raise self.cx.error(at, f"undeclared datum '{arg}'; declared: {_listing(data)}",
                                did_you_mean(arg, data) or "declare it in [data] with the lock "
                                f'that protects it: {arg} = "{example}"')


_KIND_WORDS = {"spin": "spinlock", "rwlock": "rwlock", "mutex": "mutex", "rwsem": "rwsem",
               "datum": "datum", "flags": "flags"}
_ARG_EXAMPLE: Mapping[tuple[str, ...], str] = {("spin",): "L", ("rwlock",): "L",
                                                ("mutex",): "M", ("rwsem",): "S",
                                                ("datum",): "X", ("flags",): "flags"}


def _instead(name: str, kind: str, lock: str) -> str:
    """What to write instead of ``name`` on ``lock``, a lock of ``kind``."""
    role, mode = ROLES[name]
    pairs = CALLS[kind].get(role, ())
    same = [call for m, call in pairs if m == mode]
    calls = same if mode and same else [call for _, call in pairs]
    if calls:
        return "use " + " or ".join(f"{call}({lock})" for call in calls)
    if role == "break":
        return (f"{KIND_NOUNS[kind]} holder may sleep: call cond_resched() with {lock} held "
                "instead of breaking it")
    return f"nobody spins on {KIND_NOUNS[kind]}: test need_resched() instead"


def _labels(code: Sequence[Stmt]) -> list[Label]:
    """Every label in ``code``, at any depth, in source order."""
    out: list[Label] = []
    for stmt in code:
        match stmt:
            case Label():
                out.append(stmt)
            case If():
                out += _labels(stmt.then) + _labels(stmt.orelse)
            case While() | Repeat() | Forever():
                out += _labels(stmt.body)
    return out


def _listing(names: Iterable[str]) -> str:
    names = list(names)
    return ", ".join(names) if names else "none"


def _eras_with(name: str, prefix: str, test: Callable[[Era, str], bool]) -> str:
    eras = [n for n, e in era_registry.ERAS.items() if test(e, name)]
    return prefix + ", ".join(eras) if eras else f"no era has {name}"
