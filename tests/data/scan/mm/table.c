// SPDX-License-Identifier: GPL-2.0
/*
 * Copying a table in rounds: each round takes the lock, copies until asked to stop, and
 * gives the lock up before starting the next round where the last one ended.
 */
#include <linux/spinlock.h>
#include <linux/sched.h>

struct table {
	spinlock_t lock;
	unsigned long *slot;
};

int table_copy(struct table *dst, const struct table *src, unsigned long start,
	       unsigned long end)
{
	unsigned long i = start;
	int done;

again:
	done = 0;
	spin_lock(&dst->lock);
	while (i < end) {
		dst->slot[i] = src->slot[i];
		i++;
		if (++done >= 16 && (need_resched() || spin_needbreak(&dst->lock)))
			break;
	}
	spin_unlock(&dst->lock);
	cond_resched();
	if (i < end)
		goto again;
	return 0;
}

/* Not a site: every round takes and releases the lock, and nothing ends a round early. */
void table_clear(struct table *t, unsigned long end)
{
	unsigned long i = 0;

	while (i < end) {
		spin_lock(&t->lock);
		t->slot[i++] = 0;
		spin_unlock(&t->lock);
		cond_resched();
	}
}
