// SPDX-License-Identifier: GPL-2.0
/*
 * Reaping the idle entries of a name cache: entries are taken off the
 * cache's LRU under its lock and collected on a private batch. When a
 * reschedule is due or another CPU wants the lock, the walk lets the lock
 * go, reschedules, and releases the batch: each entry is unhashed under
 * the cache lock again, one entry per hold, before the walk goes on.
 */

static void unhash_entry(struct name_cache *nc, struct name_entry *ne)
{
	spin_lock(&nc->lock);
	hlist_del_init(&ne->hash);
	nc->nr_hashed--;
	spin_unlock(&nc->lock);
}

static void release_batch(struct name_cache *nc, struct list_head *batch)
{
	while (!list_empty(batch)) {
		struct name_entry *victim;

		victim = list_first_entry(batch, struct name_entry, reap);
		list_del_init(&victim->reap);
		unhash_entry(nc, victim);
		free_name_entry(victim);
	}
}

void reap_idle(struct name_cache *nc)
{
	LIST_HEAD(batch);

	spin_lock(&nc->lock);
	while (!list_empty(&nc->lru)) {
		struct name_entry *ne;

		ne = list_first_entry(&nc->lru, struct name_entry, lru);
		list_move(&ne->lru, &batch);
		nc->nr_idle--;

		if (need_resched() || spin_needbreak(&nc->lock)) {
			spin_unlock(&nc->lock);
			cond_resched();
			release_batch(nc, &batch);
			spin_lock(&nc->lock);
		}
	}
	spin_unlock(&nc->lock);
	release_batch(nc, &batch);
}
