"""The abstraction of shapes met in real kernel source (tried on Linux 6.1, docs/scan.md),
each written here in the kernel's style: a break in a multi-line condition, recursion and
deep calls, constant arguments, braceless iterators over an assignment, private lists,
sleeping trylocks and their spellings, two locks of one field, switch fall-through, RCU
breaks, `#if` alternatives and forever loops."""

from __future__ import annotations

from model.cfront.abstract import Abstraction, abstract
from model.cfront.parse import parse_source


def _abstract(c: str, function: str) -> Abstraction:
    return abstract(parse_source("k.c", c.encode()), function)


def _code(found: Abstraction) -> list[str]:
    return ["    " * line.depth + line.text for line in found.lines]


def test_a_break_in_a_condition_carries_its_own_line() -> None:
    found = _abstract("""void zap(struct vm *vm)
{
	write_lock(&vm->map_lock);
	while (vm->nr) {
		if (vm->batch >= 10 &&
			cond_resched_rwlock_write(&vm->map_lock))
			vm->batch = 0;
		vm->nr--;
	}
	write_unlock(&vm->map_lock);
}
""", "zap")
    (line,) = [c for c in found.lines if "cond_resched_rwlock_write" in c.text]
    assert (line.text, line.line) == ("if (* && cond_resched_rwlock_write(&vm->map_lock)) {", 6)
    assert [c.line for c in found.lines if c.text.startswith("while")] == [4]


def test_a_recursive_call_that_gives_its_locks_back_is_one_step() -> None:
    found = _abstract("""static void free_tree(struct vm *vm, struct node *n)
{
	spin_lock(&vm->pages_lock);
	list_del(&n->link);
	spin_unlock(&vm->pages_lock);
	if (n->child)
		free_tree(vm, n->child);
}

void zap(struct vm *vm)
{
	write_lock(&vm->map_lock);
	free_tree(vm, vm->root);
	cond_resched_rwlock_write(&vm->map_lock);
	write_unlock(&vm->map_lock);
}
""", "zap")
    assert _code(found) == [
        "write_lock(&vm->map_lock);",
        "spin_lock(&vm->pages_lock);",
        "work();",
        "spin_unlock(&vm->pages_lock);",
        "if (*) {",
        "    work();",
        "}",
        "cond_resched_rwlock_write(&vm->map_lock);",
        "write_unlock(&vm->map_lock);",
    ]
    assert any(note.startswith("free_tree() at k.c:7 calls itself: one work() step")
               for note in found.notes)


def test_a_guard_on_a_constant_argument_keeps_one_branch() -> None:
    found = _abstract("""static bool iter_yield(struct kvm *kvm, bool shared)
{
	if (!need_resched())
		return false;
	if (shared)
		cond_resched_rwlock_read(&kvm->mmu_lock);
	else
		cond_resched_rwlock_write(&kvm->mmu_lock);
	return true;
}

void zap_leafs(struct kvm *kvm)
{
	write_lock(&kvm->mmu_lock);
	while (kvm->nr--)
		iter_yield(kvm, false);
	write_unlock(&kvm->mmu_lock);
}
""", "zap_leafs")
    code = _code(found)
    assert "    cond_resched_rwlock_write(&kvm->mmu_lock);" in code
    assert not any("cond_resched_rwlock_read" in line for line in code)
    assert "guard shared at k.c:5 is false: the inlined call's argument" in found.notes


def test_a_braceless_iterator_over_an_assignment() -> None:
    found = _abstract("""void sync_children(struct kvm *kvm, struct page_vec *pages)
{
	struct shadow_page *sp;
	int i;

	write_lock(&kvm->mmu_lock);
	while (next_unsync(pages)) {
		bool protected = false;

		for_each_sp(pages, sp, i)
			protected |= write_protect_gfn(kvm, sp->gfn);
		if (protected)
			flush_remote(kvm);
		cond_resched_rwlock_write(&kvm->mmu_lock);
	}
	write_unlock(&kvm->mmu_lock);
}
""", "sync_children")
    assert _code(found)[:4] == ["write_lock(&kvm->mmu_lock);", "while (*) {",
                                "    while (*) {", "    }"]
    assert any(note.startswith("for_each_sp at k.c:10 became while (*)")
               for note in found.notes)


def test_a_walk_of_a_list_on_the_functions_stack_has_no_datum() -> None:
    # The lazily freed areas are moved to a list head of our own first: nobody else can
    # unlink them, so carrying the next entry across cond_resched_lock() is safe.
    found = _abstract("""void purge_lazy(void)
{
	struct area *va, *n_va;
	LIST_HEAD(local_list);

	spin_lock(&purge_lock);
	list_replace_init(&purge_list, &local_list);
	spin_unlock(&purge_lock);

	spin_lock(&free_lock);
	list_for_each_entry_safe(va, n_va, &local_list, list) {
		merge_area(va);
		cond_resched_lock(&free_lock);
	}
	spin_unlock(&free_lock);
}
""", "purge_lazy")
    assert found.data == {}
    assert ("list_for_each_entry_safe at k.c:11 became while (*): a walk of local_list, a "
            "list on this function's stack") in found.notes


def test_a_sleeping_trylock_holds_its_lock_in_its_branch() -> None:
    found = _abstract("""void f(struct vm *vm, struct mm_struct *mm)
{
	while (vm->nr--) {
		if (mutex_trylock(&vm->lock)) {
			vm->done++;
			mutex_unlock(&vm->lock);
		}
		if (vm->done && mmap_write_trylock(mm)) {
			vm->done = 0;
			mmap_write_unlock(mm);
		}
	}
}
""", "f")
    assert _code(found)[:3] == ["while (*) {", "    if (mutex_trylock(&vm->lock)) {",
                                "        mutex_unlock(&vm->lock);"]
    assert "        if (down_write_trylock(&mm->mmap_lock)) {" in _code(found)
    assert not any(note.startswith("entered holding") for note in found.notes)


def test_an_io_accounted_mutex_lock_is_mutex_lock() -> None:
    # The checkpoint mutex is let go while a commit is waited for, then taken again with
    # I/O accounting: the same lock, taken the same way as far as the model sees.
    found = _abstract("""int do_checkpoint(journal_t *journal)
{
	spin_lock(&journal->j_list_lock);
	while (journal->j_busy) {
		spin_unlock(&journal->j_list_lock);
		mutex_unlock(&journal->j_checkpoint_mutex);
		wait_commit(journal);
		mutex_lock_io(&journal->j_checkpoint_mutex);
		spin_lock(&journal->j_list_lock);
	}
	spin_unlock(&journal->j_list_lock);
	return 0;
}
""", "do_checkpoint")
    code = _code(found)
    assert code[0] == "mutex_lock(&journal->j_checkpoint_mutex);"
    assert "    mutex_lock(&journal->j_checkpoint_mutex);" in code
    assert found.locks["j_checkpoint_mutex"].kind == "mutex"


def test_two_objects_locks_of_one_field_taken_together_are_two_locks() -> None:
    found = _abstract("""static void double_down(struct inode *first, struct inode *second)
{
	if (first < second) {
		down_write(&EXT_I(first)->i_data_sem);
		down_write_nested(&EXT_I(second)->i_data_sem, SINGLE_DEPTH_NESTING);
	} else {
		down_write(&EXT_I(second)->i_data_sem);
		down_write_nested(&EXT_I(first)->i_data_sem, SINGLE_DEPTH_NESTING);
	}
}

static void double_up(struct inode *orig, struct inode *donor)
{
	up_write(&EXT_I(orig)->i_data_sem);
	up_write(&EXT_I(donor)->i_data_sem);
}

int move_one(struct inode *orig, struct inode *donor)
{
	double_down(orig, donor);
	swap_extents(orig, donor);
	double_up(orig, donor);
	return 0;
}
""", "move_one")
    assert sorted(found.locks) == ["i_data_sem", "i_data_sem_2"]
    assert _code(found)[:3] == ["if (*) {", "    down_write(i_data_sem);",
                                "    down_write_nested(i_data_sem_2, SINGLE_DEPTH_NESTING);"]


def test_a_private_list_of_an_inlined_helper_has_no_datum() -> None:
    found = _abstract("""static void __purge(void)
{
	struct area *va, *n_va;
	LIST_HEAD(local_list);

	spin_lock(&purge_lock);
	list_replace_init(&purge_list, &local_list);
	spin_unlock(&purge_lock);

	spin_lock(&free_lock);
	list_for_each_entry_safe(va, n_va, &local_list, list) {
		merge_area(va);
		cond_resched_lock(&free_lock);
	}
	spin_unlock(&free_lock);
}

void unmap_aliases(struct area *va)
{
	mutex_lock(&purge_mutex);
	va->flushed = 1;
	__purge();
	mutex_unlock(&purge_mutex);
}
""", "unmap_aliases")
    assert found.data == {}


def test_a_case_that_falls_through_and_a_break_inside_a_case() -> None:
    found = _abstract("""void scan_slot(struct mm_struct *mm, int *result)
{
	spin_lock(&mm->scan_lock);
	switch (*result) {
	case SCAN_MAPPED: {
		if (find_pmd(mm) != SCAN_OK)
			break;
	} fallthrough;
	case SCAN_OK:
		cond_resched_lock(&mm->scan_lock);
		break;
	default:
		break;
	}
	spin_unlock(&mm->scan_lock);
}
""", "scan_slot")
    assert _code(found) == [
        "spin_lock(&mm->scan_lock);",
        "if (*) {",
        "    if (*) {",
        "        goto switch_1_done;",
        "    }",
        "    cond_resched_lock(&mm->scan_lock);",
        "} else {",
        "    if (*) {",
        "        cond_resched_lock(&mm->scan_lock);",
        "    } else {",
        "    }",
        "}",
        "switch_1_done:",
        "{ }",
        "spin_unlock(&mm->scan_lock);",
    ]


def test_rcu_breaks_the_ext4_group_lock_and_the_longest_alternative() -> None:
    found = _abstract("""#ifdef CONFIG_SHMEM
static int scan_file(struct address_space *mapping, struct super_block *sb, int group)
{
	XA_STATE(xas, &mapping->i_pages, 0);
	struct page *page;

	rcu_read_lock();
	xas_for_each(&xas, page, ULONG_MAX) {
		if (need_resched()) {
			xas_pause(&xas);
			cond_resched_rcu();
		}
	}
	rcu_read_unlock();
	ext4_lock_group(sb, group);
	trim_some(sb, group);
	ext4_unlock_group(sb, group);
	return 0;
}
#else
static int scan_file(struct address_space *mapping, struct super_block *sb, int group)
{
	return 0;
}
#endif
""", "scan_file")
    assert _code(found) == [
        "rcu_read_lock();",
        "while (*) {",
        "    if (need_resched()) {",
        "        work();",
        "        rcu_read_unlock();",
        "        cond_resched();",
        "        rcu_read_lock();",
        "    }",
        "}",
        "rcu_read_unlock();",
        "spin_lock(&sb->group_lock);",
        "work();",
        "spin_unlock(&sb->group_lock);",
    ]


def test_a_forever_loop_is_left_holding_what_its_break_holds() -> None:
    # do { lock; if (ok) break; unlock; ... } while (1): only the break leaves, holding it.
    found = _abstract("""int fill(struct xarray *xa)
{
	XA_STATE(xas, xa, 0);

	do {
		xas_lock_irq(&xas);
		xas_create_range(&xas);
		if (!xas_error(&xas))
			break;
		xas_unlock_irq(&xas);
		if (!xas_nomem(&xas, GFP_KERNEL))
			return -ENOMEM;
	} while (1);
	fill_range(&xas);
	xas_unlock_irq(&xas);
	return 0;
}
""", "fill")
    assert _code(found)[:2] == ["for (;;) {", "    spin_lock_irq(&xas.xa->xa_lock);"]
    assert not any(note.startswith("entered holding") for note in found.notes)
