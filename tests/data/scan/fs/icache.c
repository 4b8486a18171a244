// SPDX-License-Identifier: GPL-2.0
/*
 * A small inode cache: lock-break loops over a list under one spinlock.
 */
#include <linux/list.h>
#include <linux/spinlock.h>
#include <linux/sched.h>

struct icache {
	spinlock_t lock;
	struct list_head inodes;
	unsigned long nr;
};

struct cinode {
	struct list_head i_list;
	unsigned long i_state;
};

/* Drop every clean inode; give the CPU away when someone needs it. */
static void icache_prune(struct icache *ic)
{
	struct cinode *ci, *next;

	spin_lock(&ic->lock);
	list_for_each_entry_safe(ci, next, &ic->inodes, i_list) {
		if (ci->i_state)
			continue;
		list_del_init(&ci->i_list);
		ic->nr--;
		cond_resched_lock(&ic->lock);
	}
	spin_unlock(&ic->lock);
}

/* Count dirty inodes, breaking the lock open-coded as the old writeback did. */
static unsigned long icache_count_dirty(struct icache *ic)
{
	struct cinode *ci;
	unsigned long dirty = 0;

	spin_lock(&ic->lock);
restart:
	list_for_each_entry(ci, &ic->inodes, i_list) {
		if (ci->i_state)
			dirty++;
		if (need_resched() || spin_needbreak(&ic->lock)) {
			spin_unlock(&ic->lock);
			cond_resched();
			spin_lock(&ic->lock);
			dirty = 0;
			goto restart;
		}
	}
	spin_unlock(&ic->lock);
	return dirty;
}

/* Not a site: the loop stops when asked and unlocks after it. */
static int icache_scan_some(struct icache *ic)
{
	struct cinode *ci;
	int seen = 0;

	spin_lock(&ic->lock);
	list_for_each_entry(ci, &ic->inodes, i_list) {
		seen++;
		if (need_resched())
			break;
	}
	spin_unlock(&ic->lock);
	return seen;
}
