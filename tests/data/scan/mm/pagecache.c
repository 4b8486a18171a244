// SPDX-License-Identifier: GPL-2.0
/*
 * Page cache walks that yield the xarray lock, and a walk asking about contention directly.
 */
#include <linux/xarray.h>
#include <linux/spinlock.h>
#include <linux/sched.h>

struct pcache {
	struct xarray pages;
	spinlock_t stats_lock;
	unsigned long nr_tagged, nr_seen;
};

static void pcache_tag_all(struct pcache *pc, unsigned long end)
{
	XA_STATE(xas, &pc->pages, 0);
	void *entry;

	xas_lock_irq(&xas);
	xas_for_each(&xas, entry, end) {
		xas_set_mark(&xas, XA_MARK_0);
		pc->nr_tagged++;
		if (need_resched()) {
			xas_pause(&xas);
			xas_unlock_irq(&xas);
			cond_resched();
			xas_lock_irq(&xas);
		}
	}
	xas_unlock_irq(&xas);
}

static void pcache_count(struct pcache *pc, unsigned long n)
{
	spin_lock(&pc->stats_lock);
	while (n--) {
		pc->nr_seen++;
		if (spin_is_contended(&pc->stats_lock)) {
			spin_unlock(&pc->stats_lock);
			spin_lock(&pc->stats_lock);
		}
	}
	spin_unlock(&pc->stats_lock);
}
