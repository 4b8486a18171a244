// SPDX-License-Identifier: GPL-2.0
/*
 * Evicting every unused inode of a superblock at unmount: the inodes are
 * marked and moved to a private list under the superblock's list lock, and
 * evicted in batches with no lock held. A batch is disposed of whenever a
 * reschedule is due, and the walk starts again from the head.
 */

static void evict_one(struct inode *inode)
{
	spin_lock(&inode->i_sb->s_inode_list_lock);
	list_del_init(&inode->i_sb_list);
	spin_unlock(&inode->i_sb->s_inode_list_lock);
	destroy_inode(inode);
}

static void dispose_batch(struct list_head *head)
{
	while (!list_empty(head)) {
		struct inode *inode;

		inode = list_first_entry(head, struct inode, i_lru);
		list_del_init(&inode->i_lru);
		evict_one(inode);
		cond_resched();
	}
}

void evict_all(struct super_block *sb)
{
	struct inode *inode, *next;
	LIST_HEAD(dispose);

again:
	spin_lock(&sb->s_inode_list_lock);
	list_for_each_entry_safe(inode, next, &sb->s_inodes, i_sb_list) {
		spin_lock(&inode->i_lock);
		if (inode->i_state & I_FREEING) {
			spin_unlock(&inode->i_lock);
			continue;
		}
		inode->i_state |= I_FREEING;
		spin_unlock(&inode->i_lock);
		list_add(&inode->i_lru, &dispose);

		if (need_resched()) {
			spin_unlock(&sb->s_inode_list_lock);
			cond_resched();
			dispose_batch(&dispose);
			goto again;
		}
	}
	spin_unlock(&sb->s_inode_list_lock);
	dispose_batch(&dispose);
}
