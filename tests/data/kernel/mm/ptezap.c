// SPDX-License-Identifier: GPL-2.0
/*
 * Clearing a range of page-table entries under the page-table lock: empty entries are
 * skipped with continue inside the do-while walk, and the lock is broken every few
 * entries by leaving the walk and starting again from where it got to.
 */
#include <linux/mm.h>
#include <linux/spinlock.h>

static int zap_entries(struct mm_struct *mm, pmd_t *pmd, unsigned long addr,
		       unsigned long end)
{
	spinlock_t *ptl;
	pte_t *pte;
	int progress;

again:
	progress = 0;
	pte = pte_offset_map_lock(mm, pmd, addr, &ptl);
	if (!pte)
		return -EAGAIN;
	do {
		pte_t ptent = ptep_get(pte);

		if (pte_none(ptent))
			continue;
		if (progress >= 32) {
			if (need_resched() || spin_needbreak(ptl))
				break;
			progress = 0;
		}
		pte_clear(mm, addr, pte);
		progress += 8;
	} while (pte++, addr += PAGE_SIZE, addr != end);
	pte_unmap_unlock(pte - 1, ptl);
	cond_resched();
	if (addr != end)
		goto again;
	return 0;
}
