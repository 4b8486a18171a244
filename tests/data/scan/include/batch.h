/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _BATCH_H
#define _BATCH_H

#include <linux/spinlock.h>
#include <linux/sched.h>

struct batch {
	raw_spinlock_t lock;
	int left;
};

static inline void batch_run(struct batch *b)
{
	raw_spin_lock(&b->lock);
	while (b->left) {
		b->left--;
		if (spin_needbreak(&b->lock) || need_resched()) {
			raw_spin_unlock(&b->lock);
			cond_resched();
			raw_spin_lock(&b->lock);
		}
	}
	raw_spin_unlock(&b->lock);
}

#endif /* _BATCH_H */
