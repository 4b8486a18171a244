// SPDX-License-Identifier: GPL-2.0
/*
 * Walks of a shadow page table under the MMU lock, some for read (write
 * protection, which may run in parallel), some for write (zapping). Both
 * yield through one helper, told how the lock is held.
 */

static bool spt_yield(struct vm *vm, struct spt_iter *iter, bool shared)
{
	if (!need_resched() && !rwlock_needbreak(&vm->mmu_lock))
		return false;

	if (shared)
		cond_resched_rwlock_read(&vm->mmu_lock);
	else
		cond_resched_rwlock_write(&vm->mmu_lock);
	iter->yielded = true;
	return true;
}

static void spt_wrprot_range(struct vm *vm, unsigned long start, unsigned long end)
{
	struct spt_iter iter;

	read_lock(&vm->mmu_lock);
	for (iter.gfn = start; iter.gfn < end; iter.gfn++) {
		if (spt_yield(vm, &iter, true))
			continue;
		spt_wrprot_one(vm, iter.gfn);
	}
	read_unlock(&vm->mmu_lock);
}

static void spt_zap_range(struct vm *vm, unsigned long start, unsigned long end)
{
	struct spt_iter iter;

	write_lock(&vm->mmu_lock);
	for (iter.gfn = start; iter.gfn < end; iter.gfn++) {
		if (spt_yield(vm, &iter, false))
			continue;
		spt_zap_one(vm, iter.gfn);
	}
	write_unlock(&vm->mmu_lock);
}
