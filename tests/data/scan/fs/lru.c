// SPDX-License-Identifier: GPL-2.0
/*
 * An LRU list walked under its lock, yielding through a helper or after an early continue.
 */
#include <linux/list.h>
#include <linux/spinlock.h>
#include <linux/sched.h>

struct lru {
	spinlock_t lock;
	struct list_head items;
	unsigned long nr;
};

struct lru_item {
	struct list_head node;
	int age;
};

/* Called with l->lock held, once per item; returns true when it dropped the lock. */
static bool lru_yield(struct lru *l)
{
	if (!need_resched() && !spin_needbreak(&l->lock))
		return false;
	spin_unlock(&l->lock);
	cond_resched();
	spin_lock(&l->lock);
	return true;
}

static void lru_age(struct lru *l)
{
	struct lru_item *item;

	spin_lock(&l->lock);
	list_for_each_entry(item, &l->items, node) {
		item->age++;
		lru_yield(l);
	}
	spin_unlock(&l->lock);
}

static void lru_shrink(struct lru *l, unsigned long target)
{
	spin_lock(&l->lock);
	while (l->nr > target) {
		l->nr--;
		if (!spin_needbreak(&l->lock))
			continue;
		spin_unlock(&l->lock);
		cpu_relax();
		spin_lock(&l->lock);
	}
	spin_unlock(&l->lock);
}

/* Not a site: the same shape as lru_yield, called once, outside any loop. */
static bool lru_drop_once(struct lru *l)
{
	if (!need_resched())
		return false;
	spin_unlock(&l->lock);
	cond_resched();
	spin_lock(&l->lock);
	return true;
}

static void lru_flush(struct lru *l)
{
	spin_lock(&l->lock);
	lru_drop_once(l);
	l->nr = 0;
	spin_unlock(&l->lock);
}
