"""The `Era` definition: one kernel version's lock primitives, written as kernel C.

An era is a small table of C bodies (``spin_lock``, ``cond_resched_lock``, ``spin_needbreak``,
...) compiled by `model.compile` into atomic steps. A new era (a proposed patch) is written by
deriving from an existing one with `Era.patch`, replacing only the bodies the patch changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, TypedDict, Unpack


@dataclass(frozen=True)
class Primitive:
    """A C function body with one lock parameter named ``lock`` (or none)."""

    body: str
    returns: bool = False       # int-returning (usable as a condition) or void
    takes_lock: bool = True
    origin: tuple[str, int, int] | None = None   # (file, line, col) of a body from a file


@dataclass(frozen=True)
class Era:
    """One kernel version's spin_lock / cond_resched_lock family."""

    name: str
    summary: str
    source: str                                  # where the modelled code comes from
    default_lock: str                            # tas | ticket | qspinlock
    primitives: Mapping[str, Primitive]
    default_generic_lockbreak: bool = False
    drop_every: bool = False                     # the -mm kludge's knob exists in this era
    preempt_lazy: bool = False                   # CONFIG_PREEMPT_LAZY exists in this era

    def provides(self, name: str) -> bool:
        """True when scenario code under this era may call ``name``.

        >>> from model.eras import get_era
        >>> [get_era(v).provides("spin_needbreak") for v in ("v2.6.12", "v2.6.25")]
        [False, True]
        """
        return name in self.primitives and not name.startswith("_")

    def returns_value(self, name: str) -> bool:
        """True when ``name`` returns an int that a condition may test."""
        return name in self.primitives and self.primitives[name].returns

    def patch(self, name: str, summary: str, source: str, **changes: object) -> Era:
        """A new era that differs from this one only where ``changes`` say.

        ``changes`` may hold Era fields (``default_lock=...``) and primitive bodies by name
        (``cond_resched_lock=Primitive(...)``); a primitive set to ``None`` is removed.
        """
        prims = dict(self.primitives)
        fields: dict[str, Any] = {}    # Era fields by name, values as the caller gave them
        for key, value in changes.items():
            if key in Era.__dataclass_fields__:
                fields[key] = value
            elif value is None:
                prims.pop(key, None)
            elif isinstance(value, Primitive):
                prims[key] = value
            else:
                raise TypeError(f"{key}: expected a Primitive or an Era field, got {value!r}")
        return replace(self, name=name, summary=summary, source=source,
                       primitives=MappingProxyType(prims), **fields)


class EraOptions(TypedDict, total=False):
    """The optional `Era` fields that `era` accepts by keyword."""

    default_generic_lockbreak: bool
    drop_every: bool
    preempt_lazy: bool


def era(name: str, summary: str, source: str, default_lock: str,
        primitives: Mapping[str, Primitive], **fields: Unpack[EraOptions]) -> Era:
    """Build an era from scratch (the first one; later eras use `Era.patch`)."""
    return Era(name=name, summary=summary, source=source, default_lock=default_lock,
               primitives=MappingProxyType(dict(primitives)), **fields)

