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

/*
 * Clears one entry; with a waiter on the page-table lock, lets it in first. Returns the
 * pages freed, or a negative error when the entry changed while the lock was dropped.
 */
static int zap_one_entry(struct mm_struct *mm, spinlock_t *ptl, pte_t *pte,
			 unsigned long addr)
{
	pte_t ptent = ptep_get(pte);

	if (spin_needbreak(ptl)) {
		spin_unlock(ptl);
		cpu_relax();
		spin_lock(ptl);
		if (!pte_same(ptent, ptep_get(pte)))
			return -EAGAIN;
	}
	pte_clear(mm, addr, pte);
	return 1;
}

static void zap_counted(struct mm_struct *mm, pmd_t *pmd, unsigned long addr,
			unsigned long end, int *rss)
{
	spinlock_t *ptl;
	pte_t *pte;

	pte = pte_offset_map_lock(mm, pmd, addr, &ptl);
	if (!pte)
		return;
	do {
		if (pte_none(ptep_get(pte)))
			continue;
		if (zap_one_entry(mm, ptl, pte, addr) < 0)
			break;
		rss[MM_ANONPAGES] += zap_one_entry(mm, ptl, pte + 1, addr + PAGE_SIZE);
	} while (pte += 2, addr += 2 * PAGE_SIZE, addr != end);
	pte_unmap_unlock(pte - 1, ptl);
}
