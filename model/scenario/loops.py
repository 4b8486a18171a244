"""Whether a CPU's code must finish: a ``forever`` loop with no way out excuses it.

The can-finish properties ask only CPUs whose code has no endless loop to finish
(docs/semantics.md section 8); `has_forever` is how the loader tells, statement by statement.
"""

from __future__ import annotations

from collections.abc import Sequence

from model.lang.ast import Break, Forever, Goto, If, Label, Repeat, Return, Stmt, While


def has_forever(code: Sequence[Stmt]) -> bool:
    """Whether the code has an endless loop: a ``forever`` (or ``for (;;)``) with no way out
    (no ``break`` of its own, no ``return``, no ``goto`` to a label outside it), so that its
    CPU is not required to finish."""
    for stmt in code:
        if isinstance(stmt, Forever) and not leaves_loop(stmt.body, label_names(stmt.body), 0):
            return True
        if isinstance(stmt, Forever | Repeat | While) and has_forever(stmt.body):
            return True
        if isinstance(stmt, If) and (has_forever(stmt.then) or has_forever(stmt.orelse)):
            return True
    return False


def leaves_loop(code: Sequence[Stmt], inside: set[str], depth: int) -> bool:
    """Whether ``code``, the body of a loop ``depth`` loops in, has a way out of that loop
    (labels in ``inside`` belong to it)."""
    for stmt in code:
        if (isinstance(stmt, Return) or (isinstance(stmt, Break) and depth == 0)
                or (isinstance(stmt, Goto) and stmt.label not in inside)):
            return True
        if isinstance(stmt, If) and (leaves_loop(stmt.then, inside, depth)
                                     or leaves_loop(stmt.orelse, inside, depth)):
            return True
        if isinstance(stmt, Forever | Repeat | While) and leaves_loop(stmt.body, inside, depth + 1):
            return True
    return False


def label_names(code: Sequence[Stmt]) -> set[str]:
    names: set[str] = set()
    for stmt in code:
        if isinstance(stmt, Label):
            names.add(stmt.name)
        elif isinstance(stmt, If):
            names |= label_names(stmt.then) | label_names(stmt.orelse)
        elif isinstance(stmt, Forever | Repeat | While):
            names |= label_names(stmt.body)
    return names
