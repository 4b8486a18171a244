"""The second static pass over scenario code: the locks held along every path.

`Flow` follows one CPU's code, ``goto`` included, to a fixpoint: no unlock of a lock not held,
no recursive locking, the same locks held wherever paths join (at a label, every ``goto`` to
it, the end of a loop), nothing held at the end or at a ``return``, data touched only under
its lock and ``use(X)`` only after ``read(X)``, or with the lock dropped only while ``get(X)``
pins it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from lockbreak.core import ScenarioError
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
from model.scenario.calls import LOCKS, NEEDS, TRYLOCKS, UNLOCKS, Context, lock_call
from model.spellings import base_name


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


class Flow:
    """Follows held locks and read data along every path of one CPU's code."""

    def __init__(self, context: Context, cpu: str) -> None:
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
        if isinstance(cond, CallExpr) and base_name(cond.name) in TRYLOCKS:
            lock, name = str(cond.args[0]), base_name(cond.name)
            if lock in state.held:
                raise self.cx.error(cond.pos, f"{name}({lock}): {self.cpu} already "
                                    f"holds {lock} here", "unlock it first, or drop the trylock")
            return _take(state, lock, TRYLOCKS[name], cond.pos), state
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
            case CallExpr(name=name) if name in NEEDS:
                self.held_as(name, str(expr.args[0]), NEEDS[name], state, expr.arg_pos[0])

    def call(self, call: Call, state: _State) -> _State:
        name = base_name(call.name)
        if not call.args or isinstance(call.args[0], int):
            return state
        arg, at = call.args[0], call.arg_pos[0]
        if name in LOCKS:
            if arg in state.held:
                raise self.cx.error(call.pos, f"recursive locking of {arg} deadlocks",
                                    f"{self.cpu} already holds {arg} here (taken on line "
                                    f"{state.held[arg][1].line})")
            return _take(state, arg, LOCKS[name], call.pos)
        if name in UNLOCKS or name in NEEDS:
            self.held_as(name, arg, UNLOCKS.get(name) or NEEDS[name], state, at)
            if name in UNLOCKS:
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
            why = (f"take it first with {lock_call(self.cx.locks[lock], 'lock', mode)}({lock})"
                   if name in UNLOCKS
                   else f"{name} drops and retakes {lock}: call it with {lock} held")
            raise self.cx.error(at, f"{name}({lock}): {self.cpu} does not hold {lock} here", why)
        if held[0] != mode:
            role = "unlock" if name in UNLOCKS else "break"
            fix = lock_call(self.cx.locks[lock], role, held[0])
            raise self.cx.error(at, f"{name}({lock}): {self.cpu} holds {lock} for {held[0]} "
                                "here", f"use {fix}({lock})")

    def access(self, name: str, datum: str, state: _State, at: Pos) -> _State:
        lock = self.cx.data[datum]
        held = state.held.get(lock)
        if held is None and name == "use" and datum in state.pins and datum in state.reads:
            return state            # a pinned snapshot may be used with its lock dropped
        if held is None:
            call = lock_call(self.cx.locks[lock], "lock", "write" if name == "write" else "read")
            raise self.cx.error(at, f"{name}({datum}): {self.cpu} does not hold {lock}, which "
                                f"protects {datum}", f"take {call}({lock}) around it")
        if name == "write" and held[0] == "read":
            take = lock_call(self.cx.locks[lock], "lock", "write")
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
