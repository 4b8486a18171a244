// SPDX-License-Identifier: GPL-2.0
/*
 * Walks of a superblock's inode list, one per lock-break idiom.
 */
#include <linux/fs.h>
#include <linux/sched.h>
#include <linux/spinlock.h>

static void drop_inode_pages(struct inode *inode)
{
	invalidate_mapping_pages(inode->i_mapping, 0, -1);
}

/* Pins each inode with __iget() before dropping the list lock. */
void __sched walk_pinned(struct super_block *sb)
{
	struct inode *inode, *toput = NULL;

	spin_lock(&sb->s_inode_list_lock);
	list_for_each_entry(inode, &sb->s_inodes, i_sb_list) {
		spin_lock(&inode->i_lock);
		if (inode->i_state & I_FREEING) {
			spin_unlock(&inode->i_lock);
			continue;
		}
		__iget(inode);
		spin_unlock(&inode->i_lock);
		spin_unlock(&sb->s_inode_list_lock);

		drop_inode_pages(inode);
		iput(toput);
		toput = inode;

		cond_resched();
		spin_lock(&sb->s_inode_list_lock);
	}
	spin_unlock(&sb->s_inode_list_lock);
	iput(toput);
}

/* Breaks the list lock and carries on from the inode it held: no reference. */
static void walk_unpinned(struct super_block *sb)
{
	struct inode *inode;

	spin_lock(&sb->s_inode_list_lock);
	list_for_each_entry(inode, &sb->s_inodes, i_sb_list) {
		if (need_resched() || spin_needbreak(&sb->s_inode_list_lock)) {
			spin_unlock(&sb->s_inode_list_lock);
			cond_resched();
			spin_lock(&sb->s_inode_list_lock);
		}
		if (inode->i_state & I_NEW)
			continue;
		inode->i_state |= I_REFERENCED;
	}
	spin_unlock(&sb->s_inode_list_lock);
}

/* Breaks the list lock and starts again from the head. */
static int walk_restart(struct super_block *sb)
{
	struct inode *inode;
	int busy = 0;

again:
	spin_lock(&sb->s_inode_list_lock);
	list_for_each_entry(inode, &sb->s_inodes, i_sb_list) {
		if (atomic_read(&inode->i_count)) {
			busy = 1;
			continue;
		}
		if (need_resched()) {
			spin_unlock(&sb->s_inode_list_lock);
			cond_resched();
			goto again;
		}
	}
	spin_unlock(&sb->s_inode_list_lock);
	return busy;
}

/* Moves unused inodes to a dispose list; a break restarts from the head, which the moved
 * inodes have left, so every restart keeps the progress made before it. */
static void dispose_unused(struct super_block *sb, struct list_head *dispose)
{
	struct inode *inode, *next;

again:
	spin_lock(&sb->s_inode_list_lock);
	list_for_each_entry_safe(inode, next, &sb->s_inodes, i_sb_list) {
		if (atomic_read(&inode->i_count))
			continue;
		list_move(&inode->i_lru, dispose);
		if (need_resched() || spin_needbreak(&sb->s_inode_list_lock)) {
			spin_unlock(&sb->s_inode_list_lock);
			cond_resched();
			goto again;
		}
	}
	spin_unlock(&sb->s_inode_list_lock);
}

/* Counts inodes; after a break it looks its position up again before going on. */
static unsigned long count_revalidated(struct super_block *sb)
{
	struct inode *pos;
	unsigned long n = 0;

	spin_lock(&sb->s_inode_list_lock);
	pos = list_first_entry_or_null(&sb->s_inodes, struct inode, i_sb_list);
	while (pos) {
		n++;
		if (need_resched() || spin_needbreak(&sb->s_inode_list_lock)) {
			spin_unlock(&sb->s_inode_list_lock);
			cond_resched();
			spin_lock(&sb->s_inode_list_lock);
			pos = inode_at(sb, n);
			continue;
		}
		pos = list_next_entry(pos, i_sb_list);
	}
	spin_unlock(&sb->s_inode_list_lock);
	return n;
}
