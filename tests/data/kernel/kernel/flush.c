// SPDX-License-Identifier: GPL-2.0
/*
 * Flushing per-CPU counters into a global total under the flush lock, which the caller
 * takes: the flush breaks it between CPUs.
 */
#include <linux/cpumask.h>
#include <linux/spinlock.h>

static DEFINE_SPINLOCK(stat_flush_lock);

static void stat_unlock(spinlock_t *lock, int cpu)
{
	trace_stat_unlock(cpu);
	spin_unlock_irq(lock);
}

static void stat_lock(spinlock_t *lock, int cpu)
{
	spin_lock_irq(lock);
	trace_stat_locked(cpu);
}

/* Called with stat_flush_lock held; breaks it between CPUs when someone waits. */
static void stat_flush_locked(struct stat_root *root)
{
	int cpu;

	lockdep_assert_held(&stat_flush_lock);
	for_each_possible_cpu(cpu) {
		struct stat_cpu *sc = per_cpu_ptr(root->percpu, cpu);

		root->total += sc->count;
		sc->count = 0;
		if (need_resched() || spin_needbreak(&stat_flush_lock)) {
			stat_unlock(&stat_flush_lock, cpu);
			if (!cond_resched())
				cpu_relax();
			stat_lock(&stat_flush_lock, cpu);
		}
	}
}

void stat_flush(struct stat_root *root)
{
	might_sleep();
	stat_lock(&stat_flush_lock, -1);
	stat_flush_locked(root);
	stat_unlock(&stat_flush_lock, -1);
}
