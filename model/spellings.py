"""The kernel's many spellings of one lock operation, each mapped to the operation it is.

``spin_lock_irqsave(L, flags)`` is ``spin_lock(L)`` with interrupts disabled first;
``spin_unlock_bh(L)`` is ``spin_unlock(L)`` followed by ``local_bh_enable()``;
``raw_spin_lock_nested(L, n)`` is ``spin_lock(L)`` (lockdep's subclass changes nothing the
model sees); ``mutex_lock_killable(M)`` is ``mutex_lock(M)``. The scenario checks and the
compiler see the base operation and, apart from it, what the spelling does to the CPU's
context: interrupts off (``irq``) or softirqs off (``bh``, which the kernel counts in
``preempt_count``).

>>> SPELLINGS["spin_lock_irqsave"]
Spelling(base='spin_lock', context='irq', extra='flags')
>>> SPELLINGS["raw_spin_unlock_bh"].base
'spin_unlock'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class Spelling:
    """One kernel spelling: the base operation, the context it also changes, and the kinds
    of its arguments after the lock (``flags`` for the irqsave forms, ``subclass`` for
    _nested, ``flags, subclass`` for spin_lock_irqsave_nested)."""

    base: str
    context: str = ""           # "", "irq" or "bh"
    extra: str = ""             # "", "flags", "subclass" or "flags, subclass"


def _table() -> dict[str, Spelling]:
    table: dict[str, Spelling] = {}
    suffixes = {"_irq": ("irq", ""), "_irqsave": ("irq", "flags"), "_bh": ("bh", "")}
    unlock_suffixes = {"_irq": ("irq", ""), "_irqrestore": ("irq", "flags"),
                       "_bh": ("bh", "")}
    for kind in ("spin", "read", "write"):
        lock, unlock = f"{kind}_lock", f"{kind}_unlock"
        for suffix, (context, extra) in suffixes.items():
            table[lock + suffix] = Spelling(lock, context, extra)
        for suffix, (context, extra) in unlock_suffixes.items():
            table[unlock + suffix] = Spelling(unlock, context, extra)
    for suffix, (context, extra) in {"_irq": ("irq", ""), "_irqsave": ("irq", "flags"),
                                     "_bh": ("bh", "")}.items():
        table["spin_trylock" + suffix] = Spelling("spin_trylock", context, extra)
    for kind in ("read", "write"):
        table[f"{kind}_trylock_irqsave"] = Spelling(f"{kind}_trylock", "irq", "flags")
    table["spin_lock_nested"] = Spelling("spin_lock", "", "subclass")
    table["spin_lock_irqsave_nested"] = Spelling("spin_lock", "irq", "flags, subclass")
    for name, spelling in list(table.items()):
        if name.startswith("spin_"):
            table["raw_" + name] = spelling
    for name in ("spin_lock", "spin_unlock", "spin_trylock"):
        table["raw_" + name] = Spelling(name)
    # Sleeping locks: a signal never arrives in the model, so the interruptible and killable
    # forms always take the lock, as the plain call does.
    for name in ("mutex_lock_interruptible", "mutex_lock_killable"):
        table[name] = Spelling("mutex_lock")
    table["mutex_lock_nested"] = Spelling("mutex_lock", "", "subclass")
    for kind in ("read", "write"):
        table[f"down_{kind}_killable"] = Spelling(f"down_{kind}")
        table[f"down_{kind}_nested"] = Spelling(f"down_{kind}", "", "subclass")
    return table


SPELLINGS: Mapping[str, Spelling] = MappingProxyType(_table())

# Statements that change only the CPU's context: (what they do, the argument they take).
CONTEXT_STATEMENTS: Mapping[str, tuple[str, str]] = MappingProxyType({
    "local_irq_disable": ("irq_off", ""), "local_irq_enable": ("irq_on", ""),
    "local_irq_save": ("irq_off", "flags"), "local_irq_restore": ("irq_on", "flags"),
    "local_bh_disable": ("bh_off", ""), "local_bh_enable": ("bh_on", ""),
    "rcu_read_lock": ("rcu_in", ""), "rcu_read_unlock": ("rcu_out", ""),
})


def base_name(name: str) -> str:
    """The operation a call is: its base for a kernel spelling, else the name itself."""
    spelling = SPELLINGS.get(name)
    return spelling.base if spelling is not None else name


def disables_irqs(names: set[str]) -> bool:
    """Whether code calling ``names`` ever disables interrupts (so its CPU needs a count of
    interrupt-disabled sections)."""
    return any((SPELLINGS[n].context == "irq" if n in SPELLINGS
                else CONTEXT_STATEMENTS.get(n, ("", ""))[0] == "irq_off") for n in names)
