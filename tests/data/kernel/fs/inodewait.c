// SPDX-License-Identifier: GPL-2.0
/*
 * Waiting for an inode to leave a state under its lock: a sleep until woken, which gives
 * the lock up for as long as the wait lasts, against a walk that gives it up to reschedule.
 */
#include <linux/fs.h>
#include <linux/sched.h>
#include <linux/spinlock.h>
#include <linux/wait.h>

static void wait_for_new_inode(struct inode *inode, struct wait_queue_head *wq,
			       struct wait_queue_entry *wait)
{
	spin_lock(&inode->i_lock);
	for (;;) {
		prepare_to_wait(wq, wait, TASK_UNINTERRUPTIBLE);
		if (!(inode->i_state & I_NEW))
			break;
		spin_unlock(&inode->i_lock);
		schedule();
		spin_lock(&inode->i_lock);
	}
	finish_wait(wq, wait);
	spin_unlock(&inode->i_lock);
}

static void settle_inodes(struct super_block *sb)
{
	struct inode *inode;

	spin_lock(&sb->s_inode_list_lock);
	list_for_each_entry(inode, &sb->s_inodes, i_sb_list) {
		inode->i_state &= ~I_DIRTY_TIME;
		if (need_resched()) {
			spin_unlock(&sb->s_inode_list_lock);
			schedule();
			spin_lock(&sb->s_inode_list_lock);
		}
	}
	spin_unlock(&sb->s_inode_list_lock);
}
