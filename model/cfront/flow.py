"""What one path through a kernel function knows while it is abstracted: the locks held,
the data read and pinned, the loops around it, and the locks the function was entered
holding (`model.cfront.abstract`)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from model.cfront import vocabulary as vocab


@dataclass(frozen=True)
class Flow:
    """What one path knows at a point: locks held (innermost last), data read, data pinned."""

    held: tuple[str, ...] = ()
    reads: frozenset[str] = frozenset()
    pins: frozenset[str] = frozenset()


def join(flows: list[Flow | None]) -> Flow | None:
    """What paths that meet know together (None: no path gets there)."""
    live = [f for f in flows if f is not None]
    if not live:
        return None
    return Flow(live[0].held, frozenset.intersection(*(f.reads for f in live)),
                 frozenset.intersection(*(f.pins for f in live)))


@dataclass
class Loop:
    """An enclosing loop: the locks held at its head, what a `continue` runs first,
    for a ``do { } while`` the label before the test a `continue` jumps to (``""`` until
    the first `continue` names it) and the paths that jumped there, and the paths that left
    it with `break`. A ``switch`` is one too, for its `break`, with the label after it."""

    held: tuple[str, ...]
    advance: Callable[[Flow, int], Flow] | None = None
    test: str | None = None
    continued: list[Flow] = field(default_factory=list)
    broken: list[Flow] = field(default_factory=list)
    exit: str | None = None     # a switch: the label after it, where its `break` jumps


@dataclass(frozen=True)
class Entry:
    """A lock the function is entered holding: how to take and release it, and why."""

    take: str
    release: str
    expr: str
    kind: str
    why: str

    @property
    def asserted(self) -> bool:
        """Known from a lockdep assertion or a lock-break call only, which do not say how
        it was taken."""
        return self.take.endswith("_lock") and self.why.startswith(
            ("lockdep_assert_held", *vocab.BREAKS, *vocab.HELD_ON_ENTRY))


def entry_lock(name: str, expr: str, why: str) -> Entry:
    """The entry lock for an unlock spelled ``name`` of ``expr``, or for a lockdep
    assertion, a sparse annotation or a lock-break call, which need it held (and say its
    mode, not how it was taken)."""
    if (name.startswith("lockdep_assert_held") or name in vocab.BREAKS
            or name in vocab.HELD_ON_ENTRY):
        mode = {"lockdep_assert_held_read": "read", "lockdep_assert_held_write": "write",
                "cond_resched_rwlock_read": "read",
                "cond_resched_rwlock_write": "write"}.get(name, "spin")
        return Entry(f"{mode}_lock", f"{mode}_unlock", expr,
                      "spin" if mode == "spin" else "rwlock", why)
    if name in vocab.WRAPPERS:
        name = vocab.WRAPPERS[name].spelling
    take = vocab.TAKEN_BY.get(name) or name.replace("unlock", "lock").replace("irqrestore",
                                                                              "irqsave")
    op = vocab.lock_operation(name)
    return Entry(take, name, expr, op[1] if op else "spin", why)


def bare(cond: str) -> str:
    """A condition without the parentheses around all of it (``if ((a || b))`` reads
    badly); ``(a || b) && (c || d)`` keeps its own.

    >>> bare("(a || b)"), bare("(a || b) && (c || d)")
    ('a || b', '(a || b) && (c || d)')
    """
    if not (cond.startswith("(") and cond.endswith(")")):
        return cond
    depth = 0
    for k, char in enumerate(cond):
        depth += (char == "(") - (char == ")")
        if depth == 0 and k < len(cond) - 1:
            return cond
    return cond[1:-1]


def branches(cond: str, flow: Flow, locks: Mapping[str, str]) -> tuple[Flow, Flow]:
    """The flows of the true and false branches: a trylock holds its lock on one of them."""
    found = re.fullmatch(r"(!?)((?:raw_)?(?:spin|read|write)_trylock\w*|mutex_trylock|"
                         r"down_(?:read|write)_trylock)\(([^,)]+)[^)]*\)", cond)
    if found is None:
        return flow, flow
    taken = replace(flow, held=(*flow.held, locks[found[3]]))
    return (flow, taken) if found[1] else (taken, flow)
