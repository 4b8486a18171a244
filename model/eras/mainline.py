"""The mainline eras of docs/semantics.md section 5, oldest first, each a patch on the one before.

Bodies are kernel C in the shape of kernel/spinlock.c and kernel/sched.c of the version named,
reduced to what matters for lock breaking. Configuration tests read as in the kernel:
``IS_ENABLED(CONFIG_PREEMPT)`` is "built preemptible" (``preempt = full`` or ``rt``, or
``preempt_dynamic``), ``preempt_model_full()`` the preemption model booted. The lock algorithm
below ``arch_spin_*`` comes from `model.locks`; one atomic step is one shared-memory access or
one CPU-local statement (docs/semantics.md section 2).
"""

from __future__ import annotations

from model.eras.era import Era, Primitive, era

# ---------------------------------------------------------------- shared pieces

SPIN_UNLOCK = Primitive("""
    arch_spin_unlock(lock);
    preempt_enable();
""")

SPIN_TRYLOCK = Primitive("""
    preempt_disable();
    if (arch_spin_trylock(lock))
        return 1;
    preempt_enable();
    return 0;
""", returns=True)

READ_TRYLOCK = Primitive("""
    preempt_disable();
    if (arch_read_trylock(lock))
        return 1;
    preempt_enable();
    return 0;
""", returns=True)
WRITE_TRYLOCK = Primitive("""
    preempt_disable();
    if (arch_write_trylock(lock))
        return 1;
    preempt_enable();
    return 0;
""", returns=True)
READ_LOCK = Primitive("""
    preempt_disable();
    arch_read_lock(lock);
""")
READ_UNLOCK = Primitive("""
    arch_read_unlock(lock);
    preempt_enable();
""")
WRITE_LOCK = Primitive("""
    preempt_disable();
    arch_write_lock(lock);
""")
WRITE_UNLOCK = Primitive("""
    arch_write_unlock(lock);
    preempt_enable();
""")

# cond_resched() and might_sleep() before should_resched(): no preempt_count test at all.
OLD_COND_RESCHED = Primitive("""
    if (need_resched())
        schedule();                     /* __cond_resched() */
""", takes_lock=False)

# might_sleep(): the CONFIG_DEBUG_ATOMIC_SLEEP check (docs/semantics.md section 10), then
# might_resched().
MIGHT_SLEEP = Primitive("""
    __might_sleep(0);
    if (preempt_model_voluntary())
        cond_resched();                 /* might_resched() under CONFIG_PREEMPT_VOLUNTARY */
""", takes_lock=False)

# Sleeping locks (kernel/locking/mutex.c, kernel/locking/rwsem.c): taking one is a might-sleep
# point, holding one leaves preempt_count alone, and a waiter sleeps until the lock is granted.
MUTEX_LOCK = Primitive("""
    might_sleep();
    if (!__mutex_trylock(lock))
        __mutex_lock_slowpath(lock);    /* sleeps until the owner releases */
""")
MUTEX_UNLOCK = Primitive("""
    __mutex_unlock(lock);
""")
MUTEX_TRYLOCK = Primitive("""
    return __mutex_trylock(lock);
""", returns=True)
DOWN_READ = Primitive("""
    might_sleep();
    if (!__down_read(lock))
        rwsem_down_slowpath(lock);      /* rwsem_down_read_slowpath(): sleeps */
""")
DOWN_WRITE = Primitive("""
    might_sleep();
    if (!__down_write(lock))
        rwsem_down_slowpath(lock);      /* rwsem_down_write_slowpath(): sleeps */
""")
UP_READ = Primitive("""
    __up_read(lock);
""")
UP_WRITE = Primitive("""
    __up_write(lock);
""")
DOWN_READ_TRYLOCK = Primitive("""
    return __down_read_trylock(lock);
""", returns=True)
DOWN_WRITE_TRYLOCK = Primitive("""
    return __down_write_trylock(lock);
""", returns=True)
RWSEM_PRIMITIVES = {
    "down_read": DOWN_READ, "down_write": DOWN_WRITE, "up_read": UP_READ, "up_write": UP_WRITE,
    "down_read_trylock": DOWN_READ_TRYLOCK, "down_write_trylock": DOWN_WRITE_TRYLOCK,
}

# kernel/spinlock.c, 2.6.9-2.6.24 BUILD_LOCK_OPS with the flag (only CONFIG_PREEMPT && SMP).
POLITE_LOCK_V2_6_9 = Primitive("""
    preempt_disable();
    if (!IS_ENABLED(CONFIG_PREEMPT) || !IS_ENABLED(CONFIG_SMP)) {
        arch_spin_lock(lock);
        return;
    }
    for (;;) {
        if (arch_spin_trylock(lock))
            break;
        preempt_enable();
        if (!lock->break_lock)
            lock->break_lock = 1;
        cpu_relax();
        preempt_disable();
    }
""")

NEED_LOCKBREAK = Primitive("""
    if (IS_ENABLED(CONFIG_PREEMPT) && IS_ENABLED(CONFIG_SMP))
        return lock->break_lock;
    return 0;
""", returns=True)

LOCK_NEED_RESCHED = Primitive("""
    return need_lockbreak(lock) || need_resched();
""", returns=True)

# ---------------------------------------------------------------- v2.6.8

V2_6_8 = era(
    "v2.6.8",
    summary="before break_lock: only the holder's own need_resched breaks the lock",
    source="linux-2.6.8 kernel/spinlock.c __preempt_spin_lock, kernel/sched.c cond_resched_lock",
    default_lock="tas",
    primitives={
        "spin_lock": Primitive("""
            preempt_disable();
            if (!IS_ENABLED(CONFIG_PREEMPT) || !IS_ENABLED(CONFIG_SMP)) {
                arch_spin_lock(lock);
                return;
            }
            if (arch_spin_trylock(lock))
                return;
            /* __preempt_spin_lock() */
            if (preempt_count() > 1) {
                arch_spin_lock(lock);           /* _raw_spin_lock: nested, preemption off */
                return;
            }
            for (;;) {
                preempt_enable();
                while (arch_spin_is_locked(lock))
                    cpu_relax();
                preempt_disable();
                if (arch_spin_trylock(lock))
                    break;
            }
        """),
        "spin_unlock": SPIN_UNLOCK,
        "spin_trylock": SPIN_TRYLOCK,
        "read_lock": READ_LOCK,
        "read_unlock": READ_UNLOCK,
        "write_lock": WRITE_LOCK,
        "write_unlock": WRITE_UNLOCK,
        "read_trylock": READ_TRYLOCK,
        "write_trylock": WRITE_TRYLOCK,
        "cond_resched_lock": Primitive("""
            if (need_resched()) {
                arch_spin_unlock(lock);         /* _raw_spin_unlock */
                preempt_enable_no_resched();
                schedule();                     /* __cond_resched() */
                spin_lock(lock);
            }
        """),
        "cond_resched": OLD_COND_RESCHED,
        "might_sleep": MIGHT_SLEEP,
        **RWSEM_PRIMITIVES,
    },
)

V2_6_8_MM = V2_6_8.patch(
    "v2.6.8-mm",
    summary="the -mm kludge: lock-break sites drop the lock every drop_every calls, waiter or not",
    source="2.6.8-mm lock-break patches, as described in the Sept 2004 -Q7 announcement",
    drop_every=True,
    cond_resched_lock=Primitive("""
        if (__mm_drop_due()) {                  /* every drop_every calls */
            spin_unlock(lock);
            cpu_relax();
            spin_lock(lock);
        }
        if (need_resched()) {
            arch_spin_unlock(lock);
            preempt_enable_no_resched();
            schedule();
            spin_lock(lock);
        }
    """),
)

# ---------------------------------------------------------------- v2.6.9 .. v2.6.20

V2_6_9 = V2_6_8.patch(
    "v2.6.9",
    summary="break_lock arrives: waiters set it at any depth, nobody clears it on acquire",
    source="linux-2.6.9 kernel/spinlock.c BUILD_LOCK_OPS, kernel/sched.c cond_resched_lock",
    spin_lock=POLITE_LOCK_V2_6_9,
    need_lockbreak=NEED_LOCKBREAK,
    lock_need_resched=LOCK_NEED_RESCHED,
    cond_resched_lock=Primitive("""
        if (need_lockbreak(lock)) {
            lock->break_lock = 0;
            spin_unlock(lock);
            cpu_relax();
            spin_lock(lock);
        }
        if (need_resched()) {
            arch_spin_unlock(lock);
            preempt_enable_no_resched();
            schedule();
            spin_lock(lock);
            return 1;
        }
        return 0;
    """, returns=True),
)

V2_6_11 = V2_6_9.patch(
    "v2.6.11",
    summary="the waiter spins while the lock is held and the flag is still set",
    source="linux-2.6.11 kernel/spinlock.c BUILD_LOCK_OPS",
    spin_lock=Primitive("""
        preempt_disable();
        if (!IS_ENABLED(CONFIG_PREEMPT) || !IS_ENABLED(CONFIG_SMP)) {
            arch_spin_lock(lock);
            return;
        }
        for (;;) {
            if (arch_spin_trylock(lock))
                break;
            preempt_enable();
            if (!lock->break_lock)
                lock->break_lock = 1;
            while (arch_spin_is_locked(lock) && lock->break_lock)
                cpu_relax();
            preempt_disable();
        }
    """),
)

POLITE_LOCK_V2_6_12 = Primitive("""
    preempt_disable();
    if (!IS_ENABLED(CONFIG_PREEMPT) || !IS_ENABLED(CONFIG_SMP)) {
        arch_spin_lock(lock);
        return;
    }
    for (;;) {
        if (arch_spin_trylock(lock))
            break;
        preempt_enable();
        if (!lock->break_lock)
            lock->break_lock = 1;
        while (arch_spin_is_locked(lock) && lock->break_lock)
            cpu_relax();
        preempt_disable();
    }
    lock->break_lock = 0;
""")

V2_6_12 = V2_6_11.patch(
    "v2.6.12",
    summary="the 2005 fixes: acquire clears the flag, the return value tells the truth",
    source="linux-2.6.12 kernel/spinlock.c, kernel/sched.c cond_resched_lock, __resched_legal",
    spin_lock=POLITE_LOCK_V2_6_12,
    __resched_legal=Primitive("""
        return preempt_count() == 1;
    """, returns=True, takes_lock=False),
    cond_resched_lock=Primitive("""
        int ret = 0;
        if (need_lockbreak(lock)) {
            spin_unlock(lock);
            cpu_relax();
            ret = 1;
            spin_lock(lock);
        }
        if (need_resched() && __resched_legal()) {
            arch_spin_unlock(lock);
            preempt_enable_no_resched();
            schedule();
            ret = 1;
            spin_lock(lock);
        }
        return ret;
    """, returns=True),
)

V2_6_20 = V2_6_12.patch(
    "v2.6.20",
    summary="__resched_legal is gone: a nested caller with need_resched schedules while atomic",
    source="linux-2.6.20 kernel/sched.c cond_resched_lock, kernel/mutex.c (mutexes since v2.6.16)",
    __resched_legal=None,
    mutex_lock=MUTEX_LOCK,
    mutex_unlock=MUTEX_UNLOCK,
    mutex_trylock=MUTEX_TRYLOCK,
    cond_resched_lock=Primitive("""
        int ret = 0;
        if (need_lockbreak(lock)) {
            spin_unlock(lock);
            cpu_relax();
            ret = 1;
            spin_lock(lock);
        }
        if (need_resched()) {
            arch_spin_unlock(lock);
            preempt_enable_no_resched();
            schedule();
            ret = 1;
            spin_lock(lock);
        }
        return ret;
    """, returns=True),
)

# ---------------------------------------------------------------- v2.6.25 .. v4.15

SPIN_IS_CONTENDED_GENERIC = Primitive("""
    if (IS_ENABLED(CONFIG_GENERIC_LOCKBREAK))
        return lock->break_lock;
    return arch_spin_is_contended(lock);
""", returns=True)

SPIN_NEEDBREAK_BUILT_PREEMPTIBLE = Primitive("""
    if (IS_ENABLED(CONFIG_PREEMPT))
        return spin_is_contended(lock);
    return 0;
""", returns=True)

V2_6_25 = V2_6_20.patch(
    "v2.6.25",
    summary="ticket locks; spin_needbreak() asks the lock word (or break_lock, generic_lockbreak)",
    source="linux-2.6.25 kernel/spinlock.c, include/linux/sched.h spin_needbreak, "
           "kernel/sched.c cond_resched_lock",
    default_lock="ticket",
    need_lockbreak=None,
    lock_need_resched=None,
    spin_lock=Primitive("""
        preempt_disable();
        if (!IS_ENABLED(CONFIG_GENERIC_LOCKBREAK) || !IS_ENABLED(CONFIG_PREEMPT)
                || !IS_ENABLED(CONFIG_SMP)) {
            arch_spin_lock(lock);
            return;
        }
        for (;;) {
            if (arch_spin_trylock(lock))
                break;
            preempt_enable();
            if (!lock->break_lock)
                lock->break_lock = 1;
            while (arch_spin_is_locked(lock) && lock->break_lock)
                cpu_relax();
            preempt_disable();
        }
        lock->break_lock = 0;
    """),
    spin_is_contended=SPIN_IS_CONTENDED_GENERIC,
    spin_needbreak=SPIN_NEEDBREAK_BUILT_PREEMPTIBLE,
    cond_resched_lock=Primitive("""
        int ret = 0;
        if (spin_needbreak(lock) || need_resched()) {
            spin_unlock(lock);
            if (need_resched())
                schedule();                     /* __cond_resched() */
            else
                cpu_relax();
            ret = 1;
            spin_lock(lock);
        }
        return ret;
    """, returns=True),
)

# From v2.6.32, include/linux/sched.h wraps cond_resched() in __might_sleep(..., 0) and
# cond_resched_lock() in __might_sleep(..., PREEMPT_LOCK_OFFSET): a debug kernel checks
# preempt_count at the call even when nothing reschedules. The first era here after it is
# v4.15-rc.
V4_15_RC = V2_6_25.patch(
    "v4.15-rc",
    summary="the broken intermediate: *_can_lock() removed, the waiter spins on break_lock alone",
    source="v4.15-rc kernel/locking/spinlock.c BUILD_LOCK_OPS after the can_lock removal; "
           "include/linux/sched.h cond_resched(), cond_resched_lock() with __might_sleep()",
    default_lock="tas",
    default_generic_lockbreak=True,
    cond_resched=Primitive("""
        __might_sleep(0);
        if (need_resched())
            schedule();                         /* _cond_resched() */
    """, takes_lock=False),
    cond_resched_lock=Primitive("""
        int ret = 0;
        __might_sleep(PREEMPT_LOCK_OFFSET);
        if (spin_needbreak(lock) || need_resched()) {
            spin_unlock(lock);
            if (need_resched())
                schedule();                     /* __cond_resched() */
            else
                cpu_relax();
            ret = 1;
            spin_lock(lock);
        }
        return ret;
    """, returns=True),
    spin_lock=Primitive("""
        preempt_disable();
        if (!IS_ENABLED(CONFIG_GENERIC_LOCKBREAK) || !IS_ENABLED(CONFIG_PREEMPT)
                || !IS_ENABLED(CONFIG_SMP)) {
            arch_spin_lock(lock);
            return;
        }
        for (;;) {
            if (arch_spin_trylock(lock))
                break;
            preempt_enable();
            if (!lock->break_lock)
                lock->break_lock = 1;
            while (lock->break_lock)
                cpu_relax();
            preempt_disable();
        }
        lock->break_lock = 0;
    """),
)

RAW_SPIN_LOCK = Primitive("""
    preempt_disable();
    arch_spin_lock(lock);
""")

# _cond_resched() from should_resched(0); a no-op under full preemption, where the
# preempt_enable() inside spin_unlock() was already the preemption point.
COND_RESCHED_SHOULD_RESCHED = Primitive("""
    if (IS_ENABLED(CONFIG_PREEMPTION) && !IS_ENABLED(CONFIG_PREEMPT_DYNAMIC))
        return 0;
    if (preempt_count() == 0 && need_resched()) {
        schedule();                             /* preempt_schedule_common() */
        return 1;
    }
    return 0;
""", returns=True, takes_lock=False)

V4_15 = V4_15_RC.patch(
    "v4.15",
    summary="break_lock is gone: contention comes from the lock word (tas reports none)",
    source="v4.15 kernel/locking/spinlock.c, kernel/sched/core.c __cond_resched_lock",
    default_lock="qspinlock",
    default_generic_lockbreak=False,
    spin_lock=RAW_SPIN_LOCK,
    spin_is_contended=Primitive("""
        return arch_spin_is_contended(lock);
    """, returns=True),
    _cond_resched=COND_RESCHED_SHOULD_RESCHED,
    cond_resched=Primitive("""
        __might_sleep(0);
        _cond_resched();
    """, takes_lock=False),
    cond_resched_lock=Primitive("""
        __might_sleep(PREEMPT_LOCK_OFFSET);
        int resched = preempt_count() == PREEMPT_LOCK_OFFSET && need_resched();
        int ret = 0;
        if (spin_needbreak(lock) || resched) {
            spin_unlock(lock);
            if (resched)
                schedule();                     /* preempt_schedule_common() */
            else
                cpu_relax();
            ret = 1;
            spin_lock(lock);
        }
        return ret;
    """, returns=True),
)

# ---------------------------------------------------------------- v5.17, v6.11

V5_17 = V4_15.patch(
    "v5.17",
    summary="modern __cond_resched_lock: break for contention or for a legal reschedule",
    source="v5.17 kernel/sched/core.c __cond_resched_lock/_rwlock_*, include/linux/spinlock.h, "
           "include/linux/sched.h cond_resched*() with __might_resched() (v5.16)",
    cond_resched=Primitive("""
        __might_resched(0);
        _cond_resched();
    """, takes_lock=False),
    cond_resched_lock=Primitive("""
        __might_resched(PREEMPT_LOCK_OFFSET);
        int resched = preempt_count() == PREEMPT_LOCK_OFFSET && need_resched();
        int ret = 0;
        if (spin_needbreak(lock) || resched) {
            spin_unlock(lock);
            if (!_cond_resched())
                cpu_relax();
            ret = 1;
            spin_lock(lock);
        }
        return ret;
    """, returns=True),
    rwlock_needbreak=Primitive("""
        if (IS_ENABLED(CONFIG_PREEMPTION))
            return arch_rwlock_is_contended(lock);
        return 0;
    """, returns=True),
    cond_resched_rwlock_read=Primitive("""
        __might_resched(PREEMPT_LOCK_OFFSET);
        int resched = preempt_count() == PREEMPT_LOCK_OFFSET && need_resched();
        int ret = 0;
        if (rwlock_needbreak(lock) || resched) {
            read_unlock(lock);
            if (!_cond_resched())
                cpu_relax();
            ret = 1;
            read_lock(lock);
        }
        return ret;
    """, returns=True),
    cond_resched_rwlock_write=Primitive("""
        __might_resched(PREEMPT_LOCK_OFFSET);
        int resched = preempt_count() == PREEMPT_LOCK_OFFSET && need_resched();
        int ret = 0;
        if (rwlock_needbreak(lock) || resched) {
            write_unlock(lock);
            if (!_cond_resched())
                cpu_relax();
            ret = 1;
            write_lock(lock);
        }
        return ret;
    """, returns=True),
)

V6_11 = V5_17.patch(
    "v6.11",
    summary="spin_needbreak() asks the booted preemption model: none/voluntary never yield",
    source="v6.11 include/linux/spinlock.h spin_needbreak/rwlock_needbreak",
    spin_needbreak=Primitive("""
        if (!preempt_model_preemptible())
            return 0;
        return spin_is_contended(lock);
    """, returns=True),
    rwlock_needbreak=Primitive("""
        if (!preempt_model_preemptible())
            return 0;
        return arch_rwlock_is_contended(lock);
    """, returns=True),
)

# v6.13 changes no lock-break body: CONFIG_PREEMPT_LAZY changes what the bodies above see.
# kernel/sched/core.c resched_curr_lazy() sets TIF_NEED_RESCHED_LAZY for a fair-class
# wakeup (get_lazy_tif_bit()), resched_curr() sets TIF_NEED_RESCHED for the rt classes, and
# sched_tick() promotes a pending TIF_NEED_RESCHED_LAZY with resched_curr(): the model's
# lazy wakeup and tick (model.kernel). need_resched() (include/linux/sched.h, through
# tif_need_resched()) and should_resched() in __cond_resched_lock() test TIF_NEED_RESCHED
# alone, so a lazy flag breaks no lock and preempts at no preempt_enable() before the tick.
# preempt_model_preemptible() is full || lazy || rt (include/linux/preempt.h), so
# spin_needbreak() and rwlock_needbreak() still yield to contention under lazy; the kernel
# is built with CONFIG_PREEMPTION (PREEMPT_LAZY selects PREEMPT_BUILD), so _cond_resched()
# is a no-op, and RCU readers are preemptible (PREEMPT_RCU defaults to y with PREEMPTION).
V6_13 = V6_11.patch(
    "v6.13",
    summary="CONFIG_PREEMPT_LAZY: a fair wakeup waits for the tick; need_resched() ignores it",
    source="v6.13 kernel/sched/core.c resched_curr_lazy, sched_tick, __cond_resched_lock; "
           "include/linux/preempt.h preempt_model_preemptible; include/linux/sched.h "
           "need_resched, spin_needbreak",
    preempt_lazy=True,
)

MAINLINE: tuple[Era, ...] = (
    V2_6_8, V2_6_8_MM, V2_6_9, V2_6_11, V2_6_12, V2_6_20, V2_6_25, V4_15_RC, V4_15, V5_17, V6_11,
    V6_13,
)
