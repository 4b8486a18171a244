// SPDX-License-Identifier: GPL-2.0
/*
 * Shrinking the cache of mapped extents: the inode list is walked under its
 * lock, and each inode's own tree lock comes after it in the lock order, so
 * the walk only tries it and passes over an inode whose tree is busy. The
 * inode the caller is working on is passed over too: the caller holds its
 * tree lock already.
 */

static int cache_shrink(struct ext_cache *cache, int nr_to_scan,
			struct ext_inode *locked)
{
	struct ext_inode *ei;
	int nr_shrunk = 0, nr_skipped = 0;

	spin_lock(&cache->list_lock);
	while (nr_to_scan-- > 0) {
		if (list_empty(&cache->inodes))
			break;
		ei = list_first_entry(&cache->inodes, struct ext_inode, list);
		list_move_tail(&ei->list, &cache->inodes);

		if (ei == locked || !write_trylock(&ei->tree_lock)) {
			nr_skipped++;
			continue;
		}
		spin_unlock(&cache->list_lock);
		nr_shrunk += reclaim_extents(ei);
		write_unlock(&ei->tree_lock);
		cond_resched();
		spin_lock(&cache->list_lock);
	}
	spin_unlock(&cache->list_lock);
	return nr_shrunk;
}
