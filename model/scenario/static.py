"""Static checks of scenario code, before any state is explored.

Two passes over each CPU's code. The first resolves names: every statement and condition is
a builtin or a primitive of the scenario's era (under any of the kernel's spellings,
`model.spellings`), with the right number and kind of arguments (declared locks of the right
kind, declared data), and every ``goto`` names a label of its own or an enclosing block. The
second follows the held locks along every path of the code, ``goto`` included: no unlock of
a lock not held, no recursive locking, the same locks held wherever paths join (at a label,
every ``goto`` to it), nothing held at the end or at a ``return``, data touched only under
its lock and ``use(X)`` only after ``read(X)``, or with the lock dropped only while
``get(X)`` pins it. A mistake here would otherwise show up as a
confusing counterexample, or as a deadlock the scenario's author did not mean to model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

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
    Return,
    Stmt,
    While,
)
from model.scenario.types import Scenario
from model.scenario.typos import did_you_mean
from model.spellings import CONTEXT_STATEMENTS, SPELLINGS, base_name

# Argument kinds: "spin", "rwlock", "mutex" and "rwsem" are declared locks of that kind,
# "datum" declared data, "flags" and "subclass" any name or number (the model keeps no
# interrupt flags or lockdep subclasses).
_BUILTIN_STATEMENTS: Mapping[str, tuple[str, ...]] = {
    "work": (), "cpu_relax": (), "preempt_disable": (), "preempt_enable": (), "schedule": (),
    "read": ("datum",), "write": ("datum",), "use": ("datum",), "get": ("datum",),
    "put": ("datum",),
    **{name: (extra,) if extra else () for name, (_, extra) in CONTEXT_STATEMENTS.items()},
}
_ERA_STATEMENTS: Mapping[str, tuple[str, ...]] = {
    "spin_lock": ("spin",), "spin_unlock": ("spin",),
    "read_lock": ("rwlock",), "read_unlock": ("rwlock",),
    "write_lock": ("rwlock",), "write_unlock": ("rwlock",),
    "cond_resched_lock": ("spin",), "cond_resched_rwlock_read": ("rwlock",),
    "cond_resched_rwlock_write": ("rwlock",), "cond_resched": (), "might_sleep": (),
    "mutex_lock": ("mutex",), "mutex_unlock": ("mutex",), "down_read": ("rwsem",),
    "up_read": ("rwsem",), "down_write": ("rwsem",), "up_write": ("rwsem",),
}
_BUILTIN_CONDITIONS: Mapping[str, tuple[str, ...]] = {"need_resched": ()}
_ERA_CONDITIONS: Mapping[str, tuple[str, ...]] = {
    "need_lockbreak": ("spin",), "lock_need_resched": ("spin",), "spin_needbreak": ("spin",),
    "rwlock_needbreak": ("rwlock",), "spin_trylock": ("spin",), "read_trylock": ("rwlock",),
    "write_trylock": ("rwlock",), "mutex_trylock": ("mutex",),
    "down_read_trylock": ("rwsem",), "down_write_trylock": ("rwsem",),
    # the lock-break calls' return values, where the era's version returns one
    "cond_resched_lock": ("spin",), "cond_resched_rwlock_read": ("rwlock",),
    "cond_resched_rwlock_write": ("rwlock",),
}
_STATEMENTS = {**_BUILTIN_STATEMENTS, **_ERA_STATEMENTS}
_CONDITIONS = {**_BUILTIN_CONDITIONS, **_ERA_CONDITIONS}

# Each lock kind's calls by role, with the mode each takes ("" for the only one): what to
# write instead when a call meets a lock of another kind.
_CALLS: Mapping[str, Mapping[str, tuple[tuple[str, str], ...]]] = {
    "spin": {"lock": (("spin", "spin_lock"),), "unlock": (("spin", "spin_unlock"),),
             "trylock": (("spin", "spin_trylock"),), "break": (("spin", "cond_resched_lock"),),
             "needbreak": (("", "spin_needbreak"),)},
    "rwlock": {"lock": (("read", "read_lock"), ("write", "write_lock")),
               "unlock": (("read", "read_unlock"), ("write", "write_unlock")),
               "trylock": (("read", "read_trylock"), ("write", "write_trylock")),
               "break": (("read", "cond_resched_rwlock_read"),
                         ("write", "cond_resched_rwlock_write")),
               "needbreak": (("", "rwlock_needbreak"),)},
    "mutex": {"lock": (("mutex", "mutex_lock"),), "unlock": (("mutex", "mutex_unlock"),),
              "trylock": (("mutex", "mutex_trylock"),)},
    "rwsem": {"lock": (("read", "down_read"), ("write", "down_write")),
              "unlock": (("read", "up_read"), ("write", "up_write")),
              "trylock": (("read", "down_read_trylock"), ("write", "down_write_trylock"))},
}
# Each call's role and mode, from the table above.
_ROLES: Mapping[str, tuple[str, str]] = {
    **{name: (role, mode) for calls in _CALLS.values() for role, pairs in calls.items()
       for mode, name in pairs},
    "need_lockbreak": ("needbreak", ""), "lock_need_resched": ("needbreak", ""),
}
_KIND_NOUNS = {"spin": "a spinlock", "rwlock": "an rwlock", "mutex": "a mutex",
               "rwsem": "an rwsem"}
# The trylocks, which take their lock when they succeed (a whole condition, in this mode).
_TRYLOCKS = {name: mode for calls in _CALLS.values() for mode, name in calls["trylock"]}

# How each call changes or needs the held locks: (mode taken, mode released, mode needed).
_LOCKS = {name: mode for calls in _CALLS.values() for mode, name in calls["lock"]}
_UNLOCKS = {name: mode for calls in _CALLS.values() for mode, name in calls["unlock"]}
_NEEDS = {name: mode for calls in _CALLS.values() for mode, name in calls.get("break", ())}


def _call(kind: str, role: str, mode: str) -> str:
    """The call of ``role`` on a lock of ``kind`` in ``mode`` (its only one when it has one).

    >>> _call("rwsem", "unlock", "read"), _call("mutex", "lock", "write")
    ('up_read', 'mutex_lock')
    """
    pairs = _CALLS[kind][role]
    return next(name for m, name in pairs if m == mode or len(pairs) == 1)


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
    context = _Context(str(scenario.path), era, era_label or scenario.kernel.version,
                       scenario.locks, scenario.data)
    for cpu in scenario.cpus:
        _Resolver(context).program(cpu.code)
        _Flow(context, f"cpu{cpu.index}").program(cpu.code)


@dataclass(frozen=True)
class _Context:
    file: str
    era: Era
    era_label: str
    locks: Mapping[str, str]
    data: Mapping[str, str]

    def error(self, pos: Pos, message: str, hint: str = "") -> ScenarioError:
        return ScenarioError(message, file=self.file, line=pos.line, col=pos.col, hint=hint)


# ---------------------------------------------------------------- pass 1: names


class _Resolver:
    """Checks names, arguments, loop context and where ``spin_trylock`` may appear."""

    def __init__(self, context: _Context) -> None:
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
        if isinstance(cond, CallExpr) and base_name(cond.name) in _TRYLOCKS:
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
            case CallExpr() if base_name(expr.name) in _TRYLOCKS:
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
        table, other = (_STATEMENTS, _CONDITIONS) if statement else (_CONDITIONS, _STATEMENTS)
        if name not in table:
            if name in other:
                raise self.misplaced(name, args, pos, statement)
            raise self.cx.error(pos, f"unknown {'statement' if statement else 'condition'} "
                                f"'{name}'", did_you_mean(name, table)
                                or self.available(statement, name))
        era = self.cx.era
        if name in (_ERA_STATEMENTS if statement else _ERA_CONDITIONS):
            if not era.provides(name):
                raise self.cx.error(pos, f"{name} is not in {self.cx.era_label}",
                                    _eras_with(name, f"eras with {name}: ", Era.provides))
            if not statement and name in _NEEDS and not era.returns_value(name):
                raise self.cx.error(pos, f"{name} returns void in {self.cx.era_label}",
                                    _eras_with(name, f"call it as a statement; {name} returns "
                                               "a value in ", Era.returns_value))
        self.arguments(name, table[name], args, pos, arg_pos)

    def available(self, statement: bool, name: str) -> str:
        """What is usable here in this era instead of ``name``, which is no slip of a known
        name: the lock operations when ``name`` looks like one (``mutex_lock``,
        ``rcu_read_lock``), else every statement or condition."""
        builtin, extra = ((_BUILTIN_STATEMENTS, _ERA_STATEMENTS) if statement
                          else (_BUILTIN_CONDITIONS, _ERA_CONDITIONS))
        era = self.cx.era
        names = [*builtin, *(n for n in extra if era.provides(n) and (
            statement or n not in _NEEDS or era.returns_value(n)))]
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
            elif kind in _CALLS:
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
            raise self.cx.error(at, f"{name}({arg}): {arg} is {_KIND_NOUNS[locks[arg]]}",
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
    role, mode = _ROLES[name]
    pairs = _CALLS[kind].get(role, ())
    same = [call for m, call in pairs if m == mode]
    calls = same if mode and same else [call for _, call in pairs]
    if calls:
        return "use " + " or ".join(f"{call}({lock})" for call in calls)
    if role == "break":
        return (f"{_KIND_NOUNS[kind]} holder may sleep: call cond_resched() with {lock} held "
                "instead of breaking it")
    return f"nobody spins on {_KIND_NOUNS[kind]}: test need_resched() instead"


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


# ---------------------------------------------------------------- pass 2: held locks


@dataclass(frozen=True)
class _State:
    """What one path knows: locks held (mode, where taken), data read and data pinned."""

    held: Mapping[str, tuple[str, Pos]]
    reads: frozenset[str] = frozenset()
    pins: frozenset[str] = frozenset()

    def modes(self) -> dict[str, str]:
        return {lock: mode for lock, (mode, _) in self.held.items()}


@dataclass
class _Loop:
    """The states with which paths leave the body of the innermost loop early."""

    breaks: list[tuple[_State, Pos]] = field(default_factory=list)
    continues: list[tuple[_State, Pos]] = field(default_factory=list)
    restarts: list[tuple[_State, Pos]] = field(default_factory=list)


_Path = tuple["_State | None", str]   # a path's state where it joins, and how to name it


class _Flow:
    """Follows held locks and read data along every path of one CPU's code."""

    def __init__(self, context: _Context, cpu: str) -> None:
        self.cx, self.cpu = context, cpu
        self.at_label: dict[str, _State] = {}
        self.pending: dict[str, list[tuple[_State, Pos]]] = {}
        self.back: dict[str, _State] = {}       # what a backward goto brings to its label
        self.again = False

    def program(self, code: Sequence[Stmt]) -> None:
        self.again = True
        while self.again:     # a backward goto may shrink what its label knows: to a fixpoint
            self.again = False
            self.at_label, self.pending = {}, {}
            end = self.block(code, _State({}), [])
        if end is not None and code:
            self.ends(end, code[-1].pos, "ends")

    def ends(self, state: _State, pos: Pos, how: str) -> None:
        if state.held:
            locks = list(state.held)
            taken = ", ".join(f"{lock} taken on line {state.held[lock][1].line}"
                              for lock in locks)
            raise self.cx.error(pos, f"{self.cpu} {how} holding {_and(locks)}",
                                f"release {_and(locks)} before the code ends ({taken})")

    def block(self, stmts: Sequence[Stmt], state: _State | None,
              loops: list[_Loop]) -> _State | None:
        for stmt in stmts:
            if state is None:
                break  # unreachable after break, continue, restart or an endless loop
            state = self.stmt(stmt, state, loops)
        return state

    def stmt(self, stmt: Stmt, state: _State, loops: list[_Loop]) -> _State | None:
        match stmt:
            case Call():
                return self.call(stmt, state)
            case If():
                then, orelse = self.condition(stmt.cond, state)
                paths = [(self.block(stmt.then, then, loops), "the then-branch"),
                         (self.block(stmt.orelse, orelse, loops),
                          "the else-branch" if stmt.orelse else "the path that skips the if")]
                return self.join(paths, "after this if", stmt.pos)
            case While() | Repeat() | Forever():
                return self.loop(stmt, state, loops)
            case Break():
                loops[-1].breaks.append((state, stmt.pos))
            case Continue():
                loops[-1].continues.append((state, stmt.pos))
            case Restart():
                loops[-1].restarts.append((state, stmt.pos))
            case Return():
                self.ends(state, stmt.pos, "returns")
            case Label():
                return self.label(stmt, state)
            case Goto():
                self.goto(stmt, state)
        return None

    def label(self, label: Label, state: _State | None) -> _State | None:
        """The state at a label: the path falling into it joined with each goto to it."""
        paths: list[_Path] = [(state, "the path falling into it")]
        paths += _named(self.pending.pop(label.name, []), f"goto {label.name}")
        if label.name in self.back:
            paths.append((self.back[label.name], f"a later goto {label.name}"))
        joined = self.join(paths, f"at label {label.name}", label.pos)
        if joined is not None:
            self.at_label[label.name] = joined
        return joined

    def goto(self, goto: Goto, state: _State) -> None:
        target = self.at_label.get(goto.label)
        if target is None:
            self.pending.setdefault(goto.label, []).append((state, goto.pos))
            return
        self.join([(target, f"the path through label {goto.label}"),
                   (state, f"the goto {goto.label} at {goto.pos.line}:{goto.pos.col}")],
                  f"at label {goto.label}", goto.pos)
        known = self.back.get(goto.label)
        merged = state if known is None else _State(
            known.held, known.reads & state.reads, known.pins & state.pins)
        if not target.reads <= merged.reads or not target.pins <= merged.pins:
            self.again = True
        if known != merged:
            self.back[goto.label] = merged

    def loop(self, stmt: While | Repeat | Forever, entry: _State,
             loops: list[_Loop]) -> _State | None:
        head = entry
        while True:  # the held locks are fixed by the joins; the data read shrink to a fixpoint
            ctx = _Loop()
            body_in, done = self.condition(stmt.cond, head) if isinstance(stmt, While) else (
                head, None)
            end = self.block(stmt.body, body_in, [*loops, ctx])
            back = [(end, "the end of the body"),
                    *_named(ctx.continues, "continue"), *_named(ctx.restarts, "restart")]
            self.join([(entry, "the path into the loop"), *back], "at the top of this loop",
                      stmt.pos)
            reads = head.reads.intersection(*(s.reads for s, _ in back if s is not None))
            pins = head.pins.intersection(*(s.pins for s, _ in back if s is not None))
            if reads == head.reads and pins == head.pins:
                break
            head = replace(head, reads=reads, pins=pins)
        exits: list[_Path] = _named(ctx.breaks, "break")
        if isinstance(stmt, While):
            exits.insert(0, (done, "the loop test"))
        elif isinstance(stmt, Repeat):
            exits[:0] = [(end, "the last iteration"), *_named(ctx.continues, "continue")]
        return self.join(exits, "after this loop", stmt.pos)

    def join(self, paths: Sequence[_Path], where: str, pos: Pos) -> _State | None:
        live = [(s, name) for s, name in paths if s is not None]
        if not live:
            return None
        first, first_name = live[0]
        for state, name in live[1:]:
            if state.modes() != first.modes():
                raise self.differ(first, first_name, state, name, where, pos)
        return _State(first.held, first.reads.intersection(*(s.reads for s, _ in live)),
                      first.pins.intersection(*(s.pins for s, _ in live)))

    def differ(self, a: _State, a_name: str, b: _State, b_name: str, where: str,
               pos: Pos) -> ScenarioError:
        modes_a, modes_b = a.modes(), b.modes()
        lock = next(k for k in self.cx.locks if modes_a.get(k) != modes_b.get(k))
        if lock in modes_a and lock in modes_b:
            return self.cx.error(
                pos, f"{self.cpu} may hold {lock} for read or for write {where}",
                f"{a_name} holds it for {modes_a[lock]}, {b_name} for {modes_b[lock]}")
        holder, other = (a_name, b_name) if lock in modes_a else (b_name, a_name)
        return self.cx.error(pos, f"{self.cpu} may or may not hold {lock} {where}",
                             f"{holder} holds {lock}, {other} does not; take and release "
                             f"{lock} on the same paths")

    def condition(self, cond: Expr, state: _State) -> tuple[_State, _State]:
        """The states where ``cond`` is true and where it is false."""
        if isinstance(cond, Not):
            true, false = self.condition(cond.operand, state)
            return false, true
        if isinstance(cond, CallExpr) and base_name(cond.name) in _TRYLOCKS:
            lock, name = str(cond.args[0]), base_name(cond.name)
            if lock in state.held:
                raise self.cx.error(cond.pos, f"{name}({lock}): {self.cpu} already "
                                    f"holds {lock} here", "unlock it first, or drop the trylock")
            return _take(state, lock, _TRYLOCKS[name], cond.pos), state
        self.needs(cond, state)
        return state, state

    def needs(self, expr: Expr, state: _State) -> None:
        """Lock-break calls tested for their value need their lock held, as statements do."""
        match expr:
            case Not():
                self.needs(expr.operand, state)
            case And() | Or():
                self.needs(expr.left, state)
                self.needs(expr.right, state)
            case CallExpr(name=name) if name in _NEEDS:
                self.held_as(name, str(expr.args[0]), _NEEDS[name], state, expr.arg_pos[0])

    def call(self, call: Call, state: _State) -> _State:
        name = base_name(call.name)
        if not call.args or isinstance(call.args[0], int):
            return state
        arg, at = call.args[0], call.arg_pos[0]
        if name in _LOCKS:
            if arg in state.held:
                raise self.cx.error(call.pos, f"recursive locking of {arg} deadlocks",
                                    f"{self.cpu} already holds {arg} here (taken on line "
                                    f"{state.held[arg][1].line})")
            return _take(state, arg, _LOCKS[name], call.pos)
        if name in _UNLOCKS or name in _NEEDS:
            self.held_as(name, arg, _UNLOCKS.get(name) or _NEEDS[name], state, at)
            if name in _UNLOCKS:
                return replace(state, held={k: v for k, v in state.held.items() if k != arg})
            return state
        if name in ("read", "write", "use", "get"):
            return self.access(name, arg, state, at)
        if name == "put":
            if arg not in state.pins:
                raise self.cx.error(at, f"put({arg}) without get({arg}) before it on every "
                                    "path", f"put drops the reference get({arg}) takes")
            return replace(state, pins=state.pins - {arg})
        return state

    def held_as(self, name: str, lock: str, mode: str, state: _State, at: Pos) -> None:
        held = state.held.get(lock)
        if held is None:
            why = (f"take it first with {_call(self.cx.locks[lock], 'lock', mode)}({lock})"
                   if name in _UNLOCKS
                   else f"{name} drops and retakes {lock}: call it with {lock} held")
            raise self.cx.error(at, f"{name}({lock}): {self.cpu} does not hold {lock} here", why)
        if held[0] != mode:
            role = "unlock" if name in _UNLOCKS else "break"
            fix = _call(self.cx.locks[lock], role, held[0])
            raise self.cx.error(at, f"{name}({lock}): {self.cpu} holds {lock} for {held[0]} "
                                "here", f"use {fix}({lock})")

    def access(self, name: str, datum: str, state: _State, at: Pos) -> _State:
        lock = self.cx.data[datum]
        held = state.held.get(lock)
        if held is None and name == "use" and datum in state.pins and datum in state.reads:
            return state            # a pinned snapshot may be used with its lock dropped
        if held is None:
            call = _call(self.cx.locks[lock], "lock", "write" if name == "write" else "read")
            raise self.cx.error(at, f"{name}({datum}): {self.cpu} does not hold {lock}, which "
                                f"protects {datum}", f"take {call}({lock}) around it")
        if name == "write" and held[0] == "read":
            take = _call(self.cx.locks[lock], "lock", "write")
            raise self.cx.error(at, f"write({datum}): {self.cpu} holds {lock} only for read",
                                f"writing {datum} needs {take}({lock})")
        if name == "use" and datum not in state.reads:
            raise self.cx.error(at, f"use({datum}) without read({datum}) before it on every "
                                "path", f"use({datum}) relies on the snapshot read({datum}) "
                                "takes: read it first")
        if name == "get" and datum not in state.reads:
            raise self.cx.error(at, f"get({datum}) without read({datum}) before it on every "
                                "path", f"get({datum}) pins the snapshot read({datum}) takes: "
                                "read it first")
        if name == "read":
            return replace(state, reads=state.reads | {datum})
        if name == "get":
            return replace(state, pins=state.pins | {datum})
        return state


def _take(state: _State, lock: str, mode: str, pos: Pos) -> _State:
    return replace(state, held={**state.held, lock: (mode, pos)})


def _named(exits: list[tuple[_State, Pos]], word: str) -> list[_Path]:
    return [(state, f"the {word} at {pos.line}:{pos.col}") for state, pos in exits]


def _and(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
