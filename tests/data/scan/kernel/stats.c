// SPDX-License-Identifier: GPL-2.0
/*
 * Statistics folded from every CPU and written back entry by entry, under locks the file
 * takes through its own wrappers.
 */
#include <linux/cpumask.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/percpu.h>
#include <linux/spinlock.h>
#include <linux/sched.h>

struct stats {
	spinlock_t lock;
	spinlock_t list_lock;
	struct list_head entries;
	unsigned long total;
};

struct stat_ent {
	spinlock_t lock;
	struct kref ref;
	struct list_head node;
	bool dead;
};

static DEFINE_PER_CPU(unsigned long, stat_count);

static void stats_lock(struct stats *st)
{
	spin_lock_irq(&st->lock);
}

static void stats_unlock(struct stats *st)
{
	spin_unlock_irq(&st->lock);
}

/* Folds every CPU's counter in, breaking the lock between CPUs when asked to. */
static void stats_fold(struct stats *st)
{
	int cpu;

	stats_lock(st);
	for_each_online_cpu(cpu) {
		st->total += per_cpu(stat_count, cpu);
		if (need_resched()) {
			stats_unlock(st);
			cond_resched();
			stats_lock(st);
		}
	}
	stats_unlock(st);
}

/*
 * Drops the list lock around the slow write-back of every entry, pinned first. The entry
 * locks are taken and released within one iteration: those unlocks break nothing.
 */
static void stats_sync(struct stats *st)
{
	struct stat_ent *ent;

	spin_lock(&st->list_lock);
	list_for_each_entry(ent, &st->entries, node) {
		spin_lock(&ent->lock);
		if (ent->dead) {
			spin_unlock(&ent->lock);
			continue;
		}
		kref_get(&ent->ref);
		spin_unlock(&ent->lock);
		spin_unlock(&st->list_lock);
		stat_ent_write_back(ent);
		kref_put(&ent->ref, stat_ent_free);
		spin_lock(&st->list_lock);
	}
	spin_unlock(&st->list_lock);
}
