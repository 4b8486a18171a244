// SPDX-License-Identifier: GPL-2.0
/*
 * Splitting large mappings under a write lock, yielding when asked through a helper.
 */
#include <linux/spinlock.h>
#include <linux/sched.h>

struct split_map {
	rwlock_t lock;
	unsigned long next, end;
	int cache_free;
};

static bool split_cache_low(struct split_map *sm)
{
	return sm->cache_free < 4;
}

static bool split_should_yield(struct split_map *sm)
{
	if (need_resched() || rwlock_needbreak(&sm->lock))
		return true;
	return split_cache_low(sm);
}

static void split_range(struct split_map *sm)
{
	write_lock(&sm->lock);
	while (sm->next < sm->end) {
		if (split_should_yield(sm)) {
			write_unlock(&sm->lock);
			cond_resched();
			sm->cache_free = 64;
			write_lock(&sm->lock);
		}
		sm->cache_free--;
		sm->next++;
	}
	write_unlock(&sm->lock);
}

/* Not a site: the helper asks only about the cache, not whether to yield. */
static void split_refill(struct split_map *sm)
{
	write_lock(&sm->lock);
	while (sm->next < sm->end) {
		if (split_cache_low(sm)) {
			write_unlock(&sm->lock);
			sm->cache_free = 64;
			write_lock(&sm->lock);
		}
		sm->next++;
	}
	write_unlock(&sm->lock);
}
