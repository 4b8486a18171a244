"""The vocabulary of a kernel tree's lock-break primitives: where each era primitive is defined
and under which kernel names, what the calls in their bodies become in the era language, and
the configuration symbols every modelled kernel fixes.

`model.cfront.primitives` translates with this table and nothing else, so a kernel spelling it
does not know is reported where it stands instead of being guessed; extending the table is how
a new tree's spelling is taught.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

SCHED_CORE = ("kernel/sched/core.c", "kernel/sched.c")
SCHED_H = ("include/linux/sched.h",)
SPINLOCK_H = ("include/linux/spinlock.h", "include/linux/sched.h")
# The architecture's preempt.h comes before the generic one, as the build includes it: the
# model's machine is x86, so arch/x86 is the architecture read.
PREEMPT_H = ("include/linux/preempt.h", "arch/x86/include/asm/preempt.h",
             "include/asm-generic/preempt.h", "include/linux/sched.h")


@dataclass(frozen=True)
class Definition:
    """Where a tree defines one function: its kernel names, tried in order, and the files
    (relative to the tree's top) searched for them, in order. A ``split`` definition is read
    from every file that has one: a header's inline version under one configuration and the
    scheduler's out-of-line one under the other."""

    names: tuple[str, ...]
    files: tuple[str, ...]
    split: bool = False
    checked_by: str | None = None    # the macro of include/linux/sched.h that wraps the
                                     # function in its might-sleep check, if the tree has one


# Era primitive -> its definition in a tree. Only those the base era has are looked for.
PRIMITIVES: Mapping[str, Definition] = MappingProxyType({
    "cond_resched_lock": Definition(("__cond_resched_lock", "cond_resched_lock"), SCHED_CORE,
                                    checked_by="cond_resched_lock"),
    "cond_resched_rwlock_read": Definition(("__cond_resched_rwlock_read",), SCHED_CORE,
                                           checked_by="cond_resched_rwlock_read"),
    "cond_resched_rwlock_write": Definition(("__cond_resched_rwlock_write",), SCHED_CORE,
                                            checked_by="cond_resched_rwlock_write"),
    "spin_needbreak": Definition(("spin_needbreak",), SPINLOCK_H),
    "rwlock_needbreak": Definition(("rwlock_needbreak",), SPINLOCK_H),
    "_cond_resched": Definition(("_cond_resched",), SCHED_H + SCHED_CORE, split=True),
    "cond_resched": Definition(("cond_resched",), SCHED_H + SCHED_CORE, split=True),
})

# Functions whose definition is inlined where a primitive calls them: a single ``return EXPR;``
# (``should_resched(offset)``) is expanded inside the expression that calls it, any other body
# only where it is the value returned (``return __cond_resched();``).
HELPERS: Mapping[str, Definition] = MappingProxyType({
    "should_resched": Definition(("should_resched",), PREEMPT_H),
    "preempt_model_preemptible": Definition(("preempt_model_preemptible",), PREEMPT_H),
    "__cond_resched": Definition(("__cond_resched",), SCHED_CORE),
})

# Calls the era language has under the same name (model/compile.py, model/locks.py).
KEPT = frozenset({
    "spin_lock", "spin_unlock", "spin_trylock", "read_lock", "read_unlock", "write_lock",
    "write_unlock", "read_trylock", "write_trylock",
    "arch_spin_lock", "arch_spin_unlock", "arch_spin_trylock", "arch_spin_is_locked",
    "arch_spin_is_contended", "arch_rwlock_is_contended",
    "preempt_disable", "preempt_enable", "preempt_enable_no_resched", "preempt_count",
    "need_resched", "schedule", "cpu_relax", "irqs_disabled",
    "preempt_model_none", "preempt_model_voluntary", "preempt_model_full", "preempt_model_rt",
    "spin_is_contended", "spin_needbreak", "rwlock_needbreak", "need_lockbreak",
    "_cond_resched", "cond_resched",
})

# Kernel spellings the era language writes another way.
RENAMED: Mapping[str, str] = MappingProxyType({
    "tif_need_resched": "need_resched",
    "preempt_schedule_common": "schedule",
    "rwlock_is_contended": "arch_rwlock_is_contended",
    "raw_spin_is_contended": "arch_spin_is_contended",
    "_raw_spin_unlock": "arch_spin_unlock",
    "_raw_spin_lock": "arch_spin_lock",
    "__cond_resched_lock": "cond_resched_lock",
    "__cond_resched_rwlock_read": "cond_resched_rwlock_read",
    "__cond_resched_rwlock_write": "cond_resched_rwlock_write",
})

# Calls that stand for the value of their first argument (branch hints).
TRANSPARENT = frozenset({"likely", "unlikely"})

# Calls with no effect on lock breaking: debugging checks, live patching, RCU's quiescent
# states (the model has no RCU grace periods), symbol exports.
DROPPED = frozenset({
    "lockdep_assert_held", "lockdep_assert_held_read", "lockdep_assert_held_write",
    "klp_sched_try_switch",
    "rcu_all_qs", "EXPORT_SYMBOL", "EXPORT_SYMBOL_GPL",
})

# The debug checks of a might-sleep point (`__might_resched(__FILE__, __LINE__, offset)`) as
# the era language writes them: the check with its preempt_count offset alone.
MIGHT_SLEEP_CHECKS: Mapping[str, str] = MappingProxyType({
    "__might_resched": "__might_resched",
    "__might_sleep": "__might_sleep",
    "___might_sleep": "__might_sleep",
})

# x86 keeps need_resched in the per-CPU preempt word itself, inverted (PREEMPT_NEED_RESCHED
# is clear when a reschedule is due), so ``raw_cpu_read_4(__preempt_count) == OFFSET`` holds
# exactly when the count is OFFSET and a reschedule is due. These read that word; it is
# understood only compared with an offset.
PREEMPT_WORD = "__preempt_count"
PREEMPT_WORD_READS = frozenset({
    "raw_cpu_read_4", "this_cpu_read_4", "__this_cpu_read_4", "raw_cpu_read", "this_cpu_read",
    "__this_cpu_read",
})

# Names a body may use as a value, as the era language knows them.
CONSTANTS = frozenset({"PREEMPT_LOCK_OFFSET"})

# Kernel constants that are one of CONSTANTS in the model. The might-sleep offset of
# cond_resched_lock() (v5.19 on) adds, under PREEMPT_RT, the RCU read-side depth a held
# spinlock implies; the model has no RCU depth, so both alternatives are the lock's offset.
CONSTANT_ALIASES: Mapping[str, str] = MappingProxyType({
    "PREEMPT_LOCK_RESCHED_OFFSETS": "PREEMPT_LOCK_OFFSET",
})

# Configuration symbols the model decides per scenario (`model.compile.BuildConfig`); tests of
# them stay ``IS_ENABLED(...)`` and are folded when a scenario is compiled.
MODELLED_CONFIG = frozenset({
    "CONFIG_PREEMPT", "CONFIG_PREEMPTION", "CONFIG_PREEMPT_DYNAMIC", "CONFIG_PREEMPT_RT",
    "CONFIG_SMP", "CONFIG_GENERIC_LOCKBREAK",
})

# Symbols that follow a modelled one in every configuration the model builds.
CONFIG_ALIASES: Mapping[str, str] = MappingProxyType({
    "CONFIG_PREEMPT_RCU": "CONFIG_PREEMPTION",
})

# Symbols fixed for every modelled kernel. A PREEMPT_DYNAMIC build's cond_resched() static
# call is modelled at its default target, __cond_resched(), so the static-call and static-key
# spellings are off; debugging options are off; the code is C compiled for the kernel.
FIXED_CONFIG: Mapping[str, bool] = MappingProxyType({
    "__KERNEL__": True,
    "__ASSEMBLY__": False,
    "__CHECKER__": False,
    "__GENKSYMS__": False,
    "CONFIG_HAVE_PREEMPT_DYNAMIC_CALL": False,
    "CONFIG_HAVE_PREEMPT_DYNAMIC_KEY": False,
    "CONFIG_DEBUG_ATOMIC_SLEEP": False,
    "CONFIG_DEBUG_LOCK_ALLOC": False,
    "CONFIG_LOCKDEP": False,
})
