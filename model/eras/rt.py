"""PREEMPT_RT: spinlocks become sleeping rt_mutex locks, whatever the era.

Laid over an era's primitives when ``preempt = "rt"`` (docs/semantics.md section 4): a waiter
blocks instead of spinning, holding the lock does not raise ``preempt_count``, and the lock
word of the ``rtmutex`` algorithm never reports contention.
"""

from __future__ import annotations

from model.eras.era import Era, Primitive

RT_SPIN_LOCK = Primitive("""
    arch_spin_lock(lock);           /* rt_spin_lock(): rt_mutex_lock(), sleeps when contended */
""")

RT_SPIN_UNLOCK = Primitive("""
    arch_spin_unlock(lock);         /* rt_spin_unlock() */
""")

RT_SPIN_TRYLOCK = Primitive("""
    return arch_spin_trylock(lock);
""", returns=True)


def with_preempt_rt(base: Era) -> Era:
    """``base`` with the PREEMPT_RT sleeping-spinlock overlay applied."""
    return base.patch(
        f"{base.name}+rt", summary=f"{base.summary} (PREEMPT_RT sleeping spinlocks)",
        source=base.source + "; PREEMPT_RT kernel/locking/spinlock_rt.c",
        spin_lock=RT_SPIN_LOCK, spin_unlock=RT_SPIN_UNLOCK, spin_trylock=RT_SPIN_TRYLOCK,
    )
