// SPDX-License-Identifier: GPL-2.0
/*
 * Unmapping a range of a mapping with the caller's tree lock held: the unmap gives the
 * lock up itself to reschedule, and the prune leaves its walk for the caller to do it.
 */
#include <linux/mm.h>
#include <linux/spinlock.h>

struct unmap_ctl {
	spinlock_t *tree_lock;
	rwlock_t map_lock;
	struct list_head ranges;
	unsigned long done;
};

struct unmap_range {
	struct list_head list;
	unsigned long start, end;
};

/*
 * Called with ctl->tree_lock held, and returns with it held; returns -EINTR when it
 * dropped the lock on the way and the caller must look at the tree again.
 */
static int unmap_range_locked(struct unmap_ctl *ctl, unsigned long start,
			      unsigned long end)
{
	unsigned long next;
	int need_break;

again:
	next = zap_some(start, end);
	need_break = need_resched() || spin_needbreak(ctl->tree_lock);
	if (next >= end) {
		ctl->done = end;
		if (!need_break)
			return 0;
	} else {
		start = next;
		if (!need_break)
			goto again;
	}
	spin_unlock(ctl->tree_lock);
	cond_resched();
	spin_lock(ctl->tree_lock);
	return -EINTR;
}

/* Frees ranges until a reschedule is due; the caller breaks the lock and calls again. */
static int prune_ranges(struct unmap_ctl *ctl)
	__must_hold(ctl->tree_lock)
{
	struct unmap_range *r;
	int pruned = 0;

	while (!list_empty(&ctl->ranges)) {
		r = list_first_entry(&ctl->ranges, struct unmap_range, list);
		list_del(&r->list);
		kfree(r);
		pruned++;
		if (need_resched())
			break;
	}
	return pruned;
}

/* Maps the range in, one page at a time, letting the map lock go around each page. */
static int populate_ranges(struct unmap_ctl *ctl, struct mm_struct *mm, pmd_t *pmd,
			   unsigned long addr)
	__must_hold(&ctl->map_lock)
{
	spinlock_t *ptl;
	pte_t *pte;

	while (ctl->done < addr) {
		write_unlock(&ctl->map_lock);
		pte = pte_alloc_map_lock(mm, pmd, addr, &ptl);
		if (!pte) {
			write_lock(&ctl->map_lock);
			return -ENOMEM;
		}
		set_pte_at(mm, addr, pte, pte_mkold(ptep_get(pte)));
		pte_unmap_unlock(pte, ptl);
		cond_resched();
		write_lock(&ctl->map_lock);
		ctl->done += PAGE_SIZE;
	}
	return 0;
}
