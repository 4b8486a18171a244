// SPDX-License-Identifier: GPL-2.0
/*
 * Ageing every page of an address space under the mmap lock, read side.
 */
#include <linux/mm.h>
#include <linux/mmap_lock.h>
#include <linux/sched.h>

static void mm_age_range(struct mm_struct *mm, unsigned long start, unsigned long end)
{
	unsigned long addr;

	mmap_read_lock(mm);
	for (addr = start; addr < end; addr += PAGE_SIZE) {
		mm_age_one(mm, addr);
		if (need_resched()) {
			mmap_read_unlock(mm);
			cond_resched();
			mmap_read_lock(mm);
		}
	}
	mmap_read_unlock(mm);
}
