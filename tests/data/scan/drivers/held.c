// SPDX-License-Identifier: GPL-2.0
/*
 * A walk that hands its lock back to the caller still held.
 */
#include <linux/spinlock.h>
#include <linux/sched.h>

struct held_table {
	spinlock_t lock;
	int nr;
};

/* Returns with ht->lock held; the caller unlocks. */
static void held_table_trim(struct held_table *ht)
	__acquires(&ht->lock)
{
	spin_lock(&ht->lock);
	while (ht->nr > 16) {
		ht->nr--;
		cond_resched_lock(&ht->lock);
	}
}
