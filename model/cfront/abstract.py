"""A kernel function's body abstracted to the scenario language (docs/extract.md).

What lock breaking needs of a function is its lock operations, its lock-break primitives,
the control flow around them and the data it reads under a lock and relies on after. The
abstraction keeps exactly that, statement by statement, each with the kernel line it came
from:

- lock operations, lock-break primitives, `cond_resched()` and the context statements stay
  as the kernel spells them (`model.cfront.vocabulary`);
- a guard the model cannot evaluate becomes ``*``; `need_resched()`, `spin_needbreak(L)`,
  `rwlock_needbreak(L)` and trylocks stay themselves;
- a list iteration macro becomes ``while (*)`` whose cursor, read under a lock, is a datum:
  ``read(pos)`` before the walk and after each advance, ``use(pos)`` where the advance
  follows the cursor;
- a local assigned from a dereference under a lock is a datum protected by the innermost
  lock held there (or the lock the protection file names); a later dereference is
  ``use(X)``, a store through it ``write(X)``;
- a reference helper on a datum is ``get(X)``/``put(X)``;
- a call into a function of the same file that takes, releases or breaks a lock is inlined,
  to `MAX_INLINE` levels; any other call is one ``work()`` step (or ``use(X)`` when it is
  passed a datum).

What cannot be read this way (an error node, a preprocessor conditional inside the body, a
`switch` case falling through, a lock operation inside an expression) is a `ScenarioError`
at its ``file:line:col``: the abstraction never guesses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from model.cfront.abstraction_calls import MAX_INLINE
from model.cfront.abstraction_control import ControlWalker
from model.cfront.abstraction_core import CodeLine, Lock
from model.cfront.flow import Entry
from model.cfront.parse import CSource, function

__all__ = ["MAX_INLINE", "Abstraction", "CodeLine", "Lock", "abstract"]


def _entry_locks(walker: ControlWalker) -> tuple[list[Entry], list[Entry]]:
    """The locks a function is entered holding, split into those the model takes before
    its body and those known only from a lockdep assertion on a lock the body never
    operates on: nothing says whether that one is a spinlock or a sleeping lock, and
    guessing would make every sleep under it a finding, or none."""
    kept, unknown = [], []
    for entry in walker.unheld.values():
        lock = walker.by_expr.get(entry.expr, entry.expr)
        if entry.why.startswith("lockdep_assert_held") and lock not in walker.operated_on:
            unknown.append(entry)
        else:
            kept.append(entry)
    return kept, unknown


@dataclass
class Abstraction:
    """A function abstracted: its code lines, the locks and data it uses, the locks it
    breaks, and what was abstracted, in the order met."""

    function: str
    line: int
    lines: list[CodeLine]
    locks: dict[str, Lock]
    data: dict[str, str]
    contended: list[str]
    notes: list[str]
    inlined: list[str]


def abstract(source: CSource, name: str, *,
             protect: Mapping[str, str] | None = None) -> Abstraction:
    """The function ``name`` of ``source`` abstracted to scenario code.

    ``protect`` maps a local variable to the lock expression that protects what it points
    to (``""``: not a datum), overriding the inference from where it is read.
    """
    definition = function(source, name)
    body = definition.child_by_field_name("body")
    if body is None:
        raise source.error(definition, f"{name} has no body here")
    walker = ControlWalker(source, dict(protect or {}), [])
    walker.body(body, definition)
    if walker.unheld:
        # Entered with locks its caller took: take them before the body, release after.
        entries, unknown = _entry_locks(walker)
        walker = ControlWalker(source, dict(protect or {}), entries)
        walker.body(body, definition)
        for entry in unknown:
            lock = walker.by_expr.get(entry.expr, entry.expr)
            if lock not in walker.operated_on:
                walker.locks.pop(lock, None)
            walker.note(f"entered holding {entry.expr} ({entry.why}): left out, the body "
                        "neither takes, releases nor breaks it, so its kind (spinlock, "
                        "mutex, ...) is unknown")
    if walker.holding is not None:
        raise walker.holding
    if not any(line.text not in ("{ }", "}") for line in walker.out):
        raise source.error(definition, f"{name}() has nothing lock breaking needs: no lock, "
                           "lock break or call", "extract a function that takes a lock")
    return Abstraction(name, source.line(definition), walker.out, walker.locks, walker.data,
                       walker.contended, walker.notes, walker.inlined)
