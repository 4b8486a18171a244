// SPDX-License-Identifier: GPL-2.0
/* Functions lockbreak extract refuses, each for one reason. */
#include <linux/spinlock.h>

void returns_locked(struct super_block *sb)
{
	spin_lock(&sb->s_inode_list_lock);
	if (sb->s_count)
		return;
	spin_unlock(&sb->s_inode_list_lock);
}

void locks_in_expression(struct super_block *sb)
{
	int taken = spin_trylock(&sb->s_inode_list_lock) + 1;

	if (taken)
		spin_unlock(&sb->s_inode_list_lock);
}

void falls_through(struct super_block *sb, int mode)
{
	spin_lock(&sb->s_inode_list_lock);
	switch (mode) {
	case 0:
		sb->s_count++;
	case 1: again:
		cond_resched_lock(&sb->s_inode_list_lock);
		break;
	}
	spin_unlock(&sb->s_inode_list_lock);
}

void not_c(struct super_block *sb)
{
	spin_lock(&sb->s_inode_list_lock);
	sb->s_count = @;
	spin_unlock(&sb->s_inode_list_lock);
}
