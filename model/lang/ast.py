"""Syntax trees of the C-like kernel code: scenario programs and era primitive bodies.

One tree type serves both. Scenario code uses calls, structured control, ``goto`` and labels,
``return;`` and nondeterministic guards (``*``); era bodies may also use a local ``ret``
register, assignments to lock fields (``lock->break_lock = 1``), ``return`` with a value and
comparisons on ``preempt_count()``. Every node carries its source position so
errors and SARIF results can point at the statement.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Pos:
    """1-based line and column in the source text the node came from."""

    line: int = 0
    col: int = 0


# ---------------------------------------------------------------- expressions


@dataclass(frozen=True)
class Const:
    value: int
    pos: Pos = field(default=Pos(), compare=False)


@dataclass(frozen=True)
class Var:
    """A local register of an era body (``ret``) or the bound lock parameter (``lock``)."""

    name: str
    pos: Pos = field(default=Pos(), compare=False)


@dataclass(frozen=True)
class Field:
    """``lock->break_lock``: a field of the lock named by ``obj`` (usually the parameter)."""

    obj: str
    name: str
    pos: Pos = field(default=Pos(), compare=False)


@dataclass(frozen=True)
class CallExpr:
    """A call used for its value: ``need_resched()``, ``spin_trylock(L)``, ``cond_resched_lock(L)``.
    """

    name: str
    args: tuple[str | int, ...] = ()
    pos: Pos = field(default=Pos(), compare=False)
    arg_pos: tuple[Pos, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class Not:
    operand: Expr
    pos: Pos = field(default=Pos(), compare=False)


@dataclass(frozen=True)
class And:
    left: Expr
    right: Expr
    pos: Pos = field(default=Pos(), compare=False)


@dataclass(frozen=True)
class Or:
    left: Expr
    right: Expr
    pos: Pos = field(default=Pos(), compare=False)


@dataclass(frozen=True)
class Compare:
    """``left OP right`` with OP in ``== != < <= > >=`` (era bodies only)."""

    op: str
    left: Expr
    right: Expr
    pos: Pos = field(default=Pos(), compare=False)


@dataclass(frozen=True)
class Nondet:
    """``*`` or ``nondet()``: a guard the model cannot see (``batch >= 32``,
    ``list_empty(&head)``); testing it is one CPU-local step that may go either way."""

    pos: Pos = field(default=Pos(), compare=False)


Expr = Const | Var | Field | CallExpr | Not | And | Or | Compare | Nondet


# ----------------------------------------------------------------- statements


@dataclass(frozen=True)
class Call:
    """A call statement: ``spin_lock(B);``, ``work(3);``, ``cond_resched_lock(B);``."""

    name: str
    args: tuple[str | int, ...] = ()
    pos: Pos = field(default=Pos(), compare=False)
    arg_pos: tuple[Pos, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class Assign:
    """``ret = 1;``, ``int ret = 0;`` or ``lock->break_lock = 0;`` (era bodies only)."""

    target: Var | Field
    value: Expr
    pos: Pos = field(default=Pos(), compare=False)


@dataclass(frozen=True)
class Return:
    value: Expr | None = None
    pos: Pos = field(default=Pos(), compare=False)


@dataclass(frozen=True)
class Repeat:
    count: int
    body: tuple[Stmt, ...]
    pos: Pos = field(default=Pos(), compare=False)


@dataclass(frozen=True)
class While:
    cond: Expr
    body: tuple[Stmt, ...]
    pos: Pos = field(default=Pos(), compare=False)


@dataclass(frozen=True)
class Forever:
    """``forever { }`` in scenarios, ``for (;;) { }`` in era bodies."""

    body: tuple[Stmt, ...]
    pos: Pos = field(default=Pos(), compare=False)


@dataclass(frozen=True)
class If:
    cond: Expr
    then: tuple[Stmt, ...]
    orelse: tuple[Stmt, ...] = ()
    pos: Pos = field(default=Pos(), compare=False)


@dataclass(frozen=True)
class Break:
    pos: Pos = field(default=Pos(), compare=False)


@dataclass(frozen=True)
class Continue:
    pos: Pos = field(default=Pos(), compare=False)


@dataclass(frozen=True)
class Restart:
    """Start the innermost loop over from its first iteration (a fresh ``repeat`` count)."""

    pos: Pos = field(default=Pos(), compare=False)


@dataclass(frozen=True)
class Label:
    """``out_unlock:``: a place that ``goto`` may jump to (the statement after it)."""

    name: str
    pos: Pos = field(default=Pos(), compare=False)


@dataclass(frozen=True)
class Goto:
    """``goto out_unlock;``: jump to a label of the same or an enclosing block."""

    label: str
    pos: Pos = field(default=Pos(), compare=False)


Stmt = (Call | Assign | Return | Repeat | While | Forever | If | Break | Continue | Restart
        | Label | Goto)
