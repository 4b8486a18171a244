// SPDX-License-Identifier: GPL-2.0
/*
 * Walks of a range under a reader-writer lock, breaking it for writers and the scheduler.
 */
#include <linux/spinlock.h>
#include <linux/sched.h>

struct range_tree {
	rwlock_t lock;
	unsigned long start, end;
	unsigned long *slots;
};

static unsigned long range_sum(struct range_tree *rt)
{
	unsigned long addr, sum = 0;

	read_lock(&rt->lock);
	for (addr = rt->start; addr < rt->end; addr++) {
		sum += rt->slots[addr];
		cond_resched_rwlock_read(&rt->lock);
	}
	read_unlock(&rt->lock);
	return sum;
}

static void range_clear(struct range_tree *rt)
{
	unsigned long addr = rt->start;

	write_lock(&rt->lock);
	while (addr < rt->end) {
		rt->slots[addr++] = 0;
		cond_resched_rwlock_write(&rt->lock);
	}
	write_unlock(&rt->lock);
}

static void range_fill(struct range_tree *rt, unsigned long val)
{
	unsigned long addr = rt->start;

	write_lock(&rt->lock);
	for (;;) {
		if (addr >= rt->end)
			break;
		rt->slots[addr++] = val;
		if (rwlock_needbreak(&rt->lock)) {
			write_unlock(&rt->lock);
			cond_resched();
			write_lock(&rt->lock);
		}
	}
	write_unlock(&rt->lock);
}
