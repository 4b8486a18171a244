"""The kernel calls the abstraction of a function knows, and what each one becomes.

One table per meaning, so that teaching the front end a new helper is one line: a lock
operation in any of the kernel's spellings stays itself (the scenario language takes every
spelling, `model.spellings`); a lock-break primitive stays itself; a guard the model can
evaluate stays itself, every other guard becomes ``*``; a reference helper becomes ``get`` or
``put``; a sleeping lock (mutex, rwsem, the mm's ``mmap_lock``) stays itself too; a list
iteration macro becomes ``while (*)`` with its cursor a datum; a helper
that takes a lock inside its argument (``xa_lock``, ``pte_offset_map_lock``) is the lock
operation it wraps.

>>> REFERENCES["__iget"], REFERENCES["put_page"]
('get', 'put')
>>> lock_operation("spin_lock_irqsave")
('lock', 'spin')
>>> is_iterator("list_for_each_entry_safe")
True
>>> WRAPPERS["xa_lock_irq"].lock_expr("&mapping->i_pages")
'&mapping->i_pages.xa_lock'

"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from model.spellings import CONTEXT_STATEMENTS, SPELLINGS, base_name

# Base lock operations: what each does and the kind of lock it takes.
_BASE_LOCK_OPS: Mapping[str, tuple[str, str]] = MappingProxyType({
    "spin_lock": ("lock", "spin"), "spin_unlock": ("unlock", "spin"),
    "spin_trylock": ("trylock", "spin"),
    "read_lock": ("lock", "rwlock"), "read_unlock": ("unlock", "rwlock"),
    "read_trylock": ("trylock", "rwlock"),
    "write_lock": ("lock", "rwlock"), "write_unlock": ("unlock", "rwlock"),
    "write_trylock": ("trylock", "rwlock"),
    "mutex_lock": ("lock", "mutex"), "mutex_unlock": ("unlock", "mutex"),
    "mutex_trylock": ("trylock", "mutex"),
    "down_read": ("lock", "rwsem"), "up_read": ("unlock", "rwsem"),
    "down_read_trylock": ("trylock", "rwsem"),
    "down_write": ("lock", "rwsem"), "up_write": ("unlock", "rwsem"),
    "down_write_trylock": ("trylock", "rwsem"),
})

# Each release and the acquisition it undoes, where the names are not lock/unlock.
TAKEN_BY: Mapping[str, str] = MappingProxyType({"up_read": "down_read",
                                                "up_write": "down_write"})

# How a contender takes and releases a lock of each kind (for write: it excludes everyone).
CONTENDER_OPS: Mapping[str, tuple[str, str]] = MappingProxyType({
    "spin": ("spin_lock", "spin_unlock"), "rwlock": ("write_lock", "write_unlock"),
    "mutex": ("mutex_lock", "mutex_unlock"), "rwsem": ("down_write", "up_write"),
})

# Lock-break primitives, as statements or tested for their value: the kind of their lock.
BREAKS: Mapping[str, str] = MappingProxyType({
    "cond_resched_lock": "spin", "cond_resched_rwlock_read": "rwlock",
    "cond_resched_rwlock_write": "rwlock",
})

# Guards the model evaluates itself: the kind of their lock argument ("" for none).
# Sparse annotations on a function's declaration that say it is entered holding a lock
# (`__must_hold(&q->lock)`: and returns holding it; `__releases`: and returns without it).
HELD_ON_ENTRY: frozenset[str] = frozenset({"__must_hold", "__releases"})

GUARDS: Mapping[str, str] = MappingProxyType({
    "need_resched": "", "spin_needbreak": "spin", "rwlock_needbreak": "rwlock",
})

# Calls without a lock argument that stay as they are.
STATEMENTS: frozenset[str] = frozenset({
    "cond_resched", "might_sleep", "schedule", "cpu_relax", "preempt_disable",
    "preempt_enable", *CONTEXT_STATEMENTS,
})

# Calls that are a few statements of the scenario language: `cond_resched_rcu()` leaves the
# RCU read-side section to reschedule (in every build the model makes but PREEMPT_RCU without
# debugging, where it does nothing: leaving and re-entering there is harmless to the model).
EXPANDED: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "cond_resched_rcu": ("rcu_read_unlock();", "cond_resched();", "rcu_read_lock();"),
})

# Reference helpers: taking a reference pins the object (get), dropping it unpins (put).
REFERENCES: Mapping[str, str] = MappingProxyType({
    "__iget": "get", "ihold": "get", "iput": "put",
    "get_page": "get", "put_page": "put", "folio_get": "get", "folio_put": "put",
    "kref_get": "get", "kref_put": "put",
    "refcount_inc": "get", "refcount_dec": "put", "refcount_dec_and_test": "put",
    "refcount_dec_and_lock": "put",
    "xprt_pin_rqst": "get", "xprt_unpin_rqst": "put",
    "dget": "get", "dput": "put", "get_task_struct": "get", "put_task_struct": "put",
    "get_bh": "get", "put_bh": "put", "brelse": "put", "__brelse": "put",
})

# Sleeping-lock calls that are another call with the same arguments, as far as the model
# sees: I/O accounting and lockdep subclasses change nothing it keeps, and a signal never
# arrives in it, so an interruptible or killable form always takes the lock.
SPELLED_AS: Mapping[str, str] = MappingProxyType({
    "mutex_lock_io": "mutex_lock", "mutex_lock_io_nested": "mutex_lock",
    "mutex_lock_interruptible_nested": "mutex_lock", "mutex_lock_killable_nested": "mutex_lock",
    "down_read_interruptible": "down_read", "down_write_trylock_nested": "down_write_trylock",
})

# Debug and annotation calls that change nothing the model keeps.
IGNORED: frozenset[str] = frozenset({
    "lockdep_assert_held", "lockdep_assert_held_write", "lockdep_assert_held_read",
    "assert_spin_locked", "BUG_ON", "WARN_ON", "WARN_ON_ONCE", "VM_BUG_ON", "might_lock",
    "__acquire", "__release", "prefetch", "barrier", "smp_mb", "smp_wmb", "smp_rmb",
    "rcu_read_lock_held", "likely", "unlikely",
})

# Loops with a cursor written as `for (pos = first(...); pos; pos = next(pos))`.
_CURSOR_FIRST = frozenset({"rb_first", "rb_last", "rb_first_postorder", "rb_first_cached",
                           "list_first_entry", "list_first_entry_or_null", "idr_get_next"})


@dataclass(frozen=True)
class Wrapper:
    """A helper that is a lock operation on a lock inside its argument: `xa_lock(xa)` is
    `spin_lock(&xa->xa_lock)`, `pte_offset_map_lock(mm, pmd, addr, &ptl)` is
    `spin_lock(ptl)`. ``arg`` is the argument that names the object, ``field`` the lock in it
    ("": the argument is the lock), ``extra`` the arguments the spelling also takes."""

    spelling: str
    arg: int = 0
    field: str = ""
    extra: tuple[int, ...] = ()

    def lock_expr(self, arg: str) -> str:
        """The lock expression for the argument text ``arg`` (no whitespace)."""
        if not self.field:
            return arg[1:] if arg.startswith("&") else arg
        if arg.startswith("&"):
            return f"&{arg[1:]}.{self.field}"
        return f"&{arg}->{self.field}"


def _wrappers() -> dict[str, Wrapper]:
    table = {}
    for prefix, field in (("xa", "xa_lock"), ("xas", "xa->xa_lock")):
        for suffix in ("", "_irq", "_bh"):
            table[f"{prefix}_lock{suffix}"] = Wrapper(f"spin_lock{suffix}", 0, field)
            table[f"{prefix}_unlock{suffix}"] = Wrapper(f"spin_unlock{suffix}", 0, field)
        table[f"{prefix}_lock_irqsave"] = Wrapper("spin_lock_irqsave", 0, field, (1,))
        table[f"{prefix}_unlock_irqrestore"] = Wrapper("spin_unlock_irqrestore", 0, field, (1,))
    table["pte_offset_map_lock"] = Wrapper("spin_lock", 3)
    table["pte_alloc_map_lock"] = Wrapper("spin_lock", 3)
    table["pte_unmap_unlock"] = Wrapper("spin_unlock", 1)
    # ext4's group locks are a hashed array per superblock (`ext4_group_lock_ptr(sb, g)`),
    # named here by the superblock: the group number is spelled differently from one
    # function to the next (`group`, `e4b->bd_group`), and one lock stands for them all.
    table["ext4_lock_group"] = Wrapper("spin_lock", 0, "group_lock")
    table["ext4_unlock_group"] = Wrapper("spin_unlock", 0, "group_lock")
    for mode in ("read", "write"):
        table[f"mmap_{mode}_lock"] = Wrapper(f"down_{mode}", 0, "mmap_lock")
        table[f"mmap_{mode}_lock_killable"] = Wrapper(f"down_{mode}", 0, "mmap_lock")
        table[f"mmap_{mode}_unlock"] = Wrapper(f"up_{mode}", 0, "mmap_lock")
        table[f"mmap_{mode}_trylock"] = Wrapper(f"down_{mode}_trylock", 0, "mmap_lock")
    return table


WRAPPERS: Mapping[str, Wrapper] = MappingProxyType(_wrappers())

# Wrappers that may fail and then take nothing, returning NULL (the page table is gone).
MAY_FAIL: frozenset[str] = frozenset({"pte_offset_map_lock", "pte_alloc_map_lock"})


def lock_operation(name: str) -> tuple[str, str] | None:
    """``(what, kind)`` of a lock operation in any spelling or wrapper: what is "lock",
    "unlock" or "trylock", kind "spin", "rwlock", "mutex" or "rwsem"; None for any other
    call."""
    if name in WRAPPERS:
        name = WRAPPERS[name].spelling
    name = SPELLED_AS.get(name, name)
    return _BASE_LOCK_OPS.get(base_name(name)) if (name in SPELLINGS
                                                   or name in _BASE_LOCK_OPS) else None


def is_iterator(name: str) -> bool:
    """Whether a call-like macro followed by a body is an iteration over a collection
    (`list_for_each_entry`, `hlist_for_each_entry_safe`, `xa_for_each`, `for_each_*`,
    `rbtree_postorder_for_each_entry_safe`, `*_foreach`): any macro so named, known or
    not, is read as a loop over something the model does not see."""
    return "for_each" in name or "foreach" in name


def walks_objects(name: str) -> bool:
    """Whether the iteration macro ``name`` hands its body pointers to objects (list, tree
    and array entries), not indices (`for_each_possible_cpu`, `for_each_node`)."""
    return "entry" in name or name.startswith(("list_", "hlist_", "llist_", "xa_", "idr_",
                                               "radix_tree_", "rbtree_"))


def is_declaring_macro(name: str) -> bool:
    """Whether the call ``name`` is an upper-case macro (``LIST_HEAD(dispose)``,
    ``BUFFER_TRACE(bh, "queue")``, ``J_ASSERT(...)``): declarations, assertions and trace
    points, which take no step the model keeps.

    >>> is_declaring_macro("LIST_HEAD"), is_declaring_macro("list_del")
    (True, False)
    """
    return name.isupper() and any(c.isalpha() for c in name)


def is_cursor_start(name: str) -> bool:
    """Whether ``name`` returns the first element of a collection walked by a C `for`."""
    return name in _CURSOR_FIRST


def is_known(name: str) -> bool:
    """Whether ``name`` is a call the abstraction translates or leaves out by name."""
    return (lock_operation(name) is not None or name in BREAKS or name in GUARDS
            or name in STATEMENTS or name in REFERENCES or name in IGNORED
            or name in EXPANDED)
