// SPDX-License-Identifier: GPL-2.0
/*
 * Copying a range of page-table entries under both page-table locks, breaking them every
 * few entries and starting again from where the copy got to.
 */
#include <linux/mm.h>
#include <linux/spinlock.h>

int copy_entries(struct mm_struct *dst, struct mm_struct *src, pmd_t *dst_pmd,
		 pmd_t *src_pmd, unsigned long addr, unsigned long end)
{
	spinlock_t *dst_ptl, *src_ptl;
	pte_t *dst_pte, *src_pte;
	int progress;

again:
	progress = 0;
	dst_pte = pte_offset_map_lock(dst, dst_pmd, addr, &dst_ptl);
	if (!dst_pte)
		return -ENOMEM;
	src_pte = pte_offset_map_nolock(src, src_pmd, addr, &src_ptl);
	spin_lock_nested(src_ptl, SINGLE_DEPTH_NESTING);
	do {
		if (progress >= 32) {
			progress = 0;
			if (need_resched() || spin_needbreak(src_ptl) ||
			    spin_needbreak(dst_ptl))
				break;
		}
		set_pte_at(dst, addr, dst_pte, ptep_get(src_pte));
		progress += 8;
	} while (dst_pte++, src_pte++, addr += PAGE_SIZE, addr != end);
	spin_unlock(src_ptl);
	pte_unmap_unlock(dst_pte - 1, dst_ptl);
	cond_resched();
	if (addr != end)
		goto again;
	return 0;
}
