"""The abstraction of a kernel function (model/cfront/abstract.py), on short kernel-style C:
each construct and what it becomes, and what is refused at its file:line:col."""

from __future__ import annotations

import pytest

from lockbreak.core import ScenarioError
from model.cfront.abstract import Abstraction, abstract
from model.cfront.parse import parse_source


def _abstract(c: str, function: str) -> Abstraction:
    return abstract(parse_source("k.c", c.encode()), function)


def _code(found: Abstraction) -> list[str]:
    return ["    " * line.depth + line.text for line in found.lines]


HELPERS = """
static noinline void lock_it(spinlock_t *lock) { spin_lock(lock); }
static void unlock_it(spinlock_t *l) { spin_unlock(l); }
static void yield_it(struct kvm *kvm)
{
	unlock_it(&kvm->mmu_lock);
	cond_resched();
	lock_it(&kvm->mmu_lock);
}
"""


def test_same_file_helpers_are_inlined_with_their_lock_arguments() -> None:
    found = _abstract(HELPERS + """
void __init zap(struct kvm *kvm)
{
	int i;

	lock_it(&kvm->mmu_lock);
	while (1) {
		if (likely(need_resched()))
			yield_it(kvm);
		for (i = 0; i < 10; i++)
			do_thing(i);
		if (rwlock_needbreak(&kvm->other))
			break;
	}
	unlock_it(&kvm->mmu_lock);
}
""", "zap")
    assert _code(found) == [
        "spin_lock(&kvm->mmu_lock);",
        "for (;;) {",
        "    if (need_resched()) {",
        "        spin_unlock(&kvm->mmu_lock);",
        "        cond_resched();",
        "        spin_lock(&kvm->mmu_lock);",
        "    }",
        "    while (*) {",
        "        work();",
        "    }",
        "    if (rwlock_needbreak(&kvm->other)) {",
        "        break;",
        "    }",
        "}",
        "spin_unlock(&kvm->mmu_lock);",
    ]
    assert found.inlined == ["lock_it", "yield_it", "unlock_it"]
    assert found.contended == ["mmu_lock", "other"]
    assert "guard i < 10 at k.c:19 became *" in found.notes
    assert "do_thing() at k.c:20 is one work() step: not defined in this file" in found.notes
    # the attribute macros of the declarators (noinline, __init) are not in the bodies
    assert found.line == 11


def test_every_line_carries_its_kernel_line() -> None:
    found = _abstract("""void f(spinlock_t *l)
{
	spin_lock_irq(l);
	cond_resched_lock(l);
	spin_unlock_irq(l);
}
""", "f")
    assert [(line.text, line.line) for line in found.lines] == [
        ("spin_lock_irq(l);", 3), ("cond_resched_lock(l);", 4), ("spin_unlock_irq(l);", 5)]


def test_a_trylock_holds_its_lock_on_its_true_branch() -> None:
    found = _abstract("""void f(struct zone *a, struct zone *b)
{
	spin_lock(&a->lock);
	if (spin_trylock_irqsave(&b->lock, *flags)) {
		b->count++;
		spin_unlock_irqrestore(&b->lock, flags);
	}
	spin_unlock(&a->lock);
}
""", "f")
    assert _code(found) == [
        "spin_lock(&a->lock);",
        "if (spin_trylock_irqsave(&b->lock, flags)) {",
        "    spin_unlock_irqrestore(&b->lock, flags);",
        "}",
        "spin_unlock(&a->lock);",
    ]
    assert list(found.locks) == ["a_lock", "b_lock"]
    assert found.contended == ["b_lock"]


def test_a_cursor_read_under_a_lock_is_a_datum() -> None:
    found = _abstract("""void f(struct rb_root *root, spinlock_t *lock)
{
	struct rb_node *node;

	spin_lock(lock);
	for (node = rb_first(root); node; node = rb_next(node)) {
		if (node->busy)
			continue;
		node->seen = 1;
	}
	spin_unlock(lock);
}
""", "f")
    assert found.data == {"node": "lock"}
    assert _code(found) == [
        "spin_lock(lock);",
        "read(node);",
        "while (*) {",
        "    use(node);",
        "    if (*) {",
        "        use(node);",
        "        read(node);",
        "        continue;",
        "    }",
        "    write(node);",
        "    use(node);",
        "    read(node);",
        "}",
        "spin_unlock(lock);",
    ]


def test_a_switch_is_a_choice_of_its_cases() -> None:
    found = _abstract("""void f(spinlock_t *lock, int mode)
{
	spin_lock(lock);
	switch (mode) {
	case 0:
	case 1:
		cond_resched_lock(lock);
		break;
	case 2:
		cpu_relax();
		break;
	default:
		break;
	}
	do {
		cpu_relax();
	} while (mode--);
	spin_unlock(lock);
}
""", "f")
    assert _code(found) == [
        "spin_lock(lock);",
        "if (*) {",
        "    cond_resched_lock(lock);",
        "} else {",
        "    if (*) {",
        "        cpu_relax();",
        "    } else {",
        "    }",
        "}",
        "do {",
        "    cpu_relax();",
        "} while (*);",
        "spin_unlock(lock);",
    ]


def test_sleeping_locks_are_emitted_as_their_kind() -> None:
    found = _abstract("""void f(struct vm *vm, struct mm_struct *mm)
{
	mutex_lock(&vm->purge_lock);
	mmap_read_lock(mm);
	spin_lock(&vm->free_lock);
	cond_resched_lock(&vm->free_lock);
	spin_unlock(&vm->free_lock);
	mmap_read_unlock(mm);
	mutex_unlock(&vm->purge_lock);
}
""", "f")
    assert _code(found) == [
        "mutex_lock(&vm->purge_lock);",
        "down_read(&mm->mmap_lock);",
        "spin_lock(&vm->free_lock);",
        "cond_resched_lock(&vm->free_lock);",
        "spin_unlock(&vm->free_lock);",
        "up_read(&mm->mmap_lock);",
        "mutex_unlock(&vm->purge_lock);",
    ]
    assert {name: lock.kind for name, lock in found.locks.items()} == {
        "purge_lock": "mutex", "mmap_lock": "rwsem", "free_lock": "spin"}


def test_an_rwsem_the_caller_took_is_taken_as_its_release_says() -> None:
    found = _abstract("""void f(struct vm *vm)
{
	while (vm->busy) {
		up_write(&vm->map_sem);
		cond_resched();
		down_write(&vm->map_sem);
	}
}
""", "f")
    assert _code(found)[0] == "down_write(&vm->map_sem);"
    assert _code(found)[-1] == "up_write(&vm->map_sem);"


def test_a_lock_only_asserted_held_is_left_out_as_of_unknown_kind() -> None:
    found = _abstract("""void f(struct kvm *kvm)
{
	lockdep_assert_held(&kvm->slots_lock);
	write_lock(&kvm->mmu_lock);
	cond_resched_rwlock_write(&kvm->mmu_lock);
	write_unlock(&kvm->mmu_lock);
}
""", "f")
    assert _code(found)[0] == "write_lock(&kvm->mmu_lock);"
    assert "slots_lock" not in found.locks
    assert any(note.startswith("entered holding &kvm->slots_lock (lockdep_assert_held() at "
                               "k.c:3): left out") for note in found.notes)


@pytest.mark.parametrize(("c", "where", "message"), [
    ("void f(spinlock_t *l)\n{\n#ifdef CONFIG_X\n\tspin_lock(l);\n#endif\n}\n", "k.c:3:1",
     "not understood: a preproc ifdef"),
    ("void f(spinlock_t *l)\n{\n\tspin_lock(l);\n}\n", "k.c:4:1", "f() returns holding l"),
    ("void f(spinlock_t *l)\n{\n\tlist_for_each_entry(p, h, m);\n}\n", "k.c:3:2",
     "list_for_each_entry(...); with no body"),
    ("void f(spinlock_t *l)\n{\n\tspin_trylock(l);\n}\n", "k.c:3:2",
     "spin_trylock() whose result is not tested"),
    ("static void g(spinlock_t *l) { spin_lock(l); g(l); }\nvoid f(spinlock_t *l) { g(l); }\n",
     "k.c:1:46", "g() calls itself and takes or releases a lock it does not give back"),
    ("int f(int x)\n{\n\treturn x + 1;\n}\n", "k.c:1:1",
     "f() has nothing lock breaking needs: no lock, lock break or call"),
    ("void f(spinlock_t *l, int x)\n{\n\tif (x || spin_trylock(l)) {\nout:\n\t\t"
     "spin_unlock(l);\n\t}\n}\n", "k.c:3:5",
     "not understood: a trylock joined to other tests, over a branch that holds a label"),
])
def test_refusals_name_the_kernel_position(c: str, where: str, message: str) -> None:
    with pytest.raises(ScenarioError) as err:
        _abstract(c, "f")
    assert str(err.value).startswith(f"{where}: {message}")


def test_do_while_0_is_its_body_and_a_final_return_needs_no_jump() -> None:
    found = _abstract("""static bool yield_it(struct kvm *kvm)
{
	if (need_resched() || spin_needbreak(&kvm->mmu_lock)) {
		cond_resched_lock(&kvm->mmu_lock);
		return true;
	} else {
		return false;
	}
}

void f(struct kvm *kvm)
{
	spin_lock(&kvm->mmu_lock);
	do {
		if (yield_it(kvm))
			cpu_relax();
	} while (0);
	do {
		if (need_resched())
			break;
	} while (0);
	spin_unlock(&kvm->mmu_lock);
}
""", "f")
    assert _code(found) == [
        "spin_lock(&kvm->mmu_lock);",
        "if (need_resched() || spin_needbreak(&kvm->mmu_lock)) {",
        "    cond_resched_lock(&kvm->mmu_lock);",
        "} else {",
        "}",
        "if (*) {",
        "    cpu_relax();",
        "}",
        "do {",
        "    if (need_resched()) {",
        "        break;",
        "    }",
        "} while (*);",
        "spin_unlock(&kvm->mmu_lock);",
    ]


def test_a_break_of_a_lock_the_caller_took_makes_the_function_enter_holding_it() -> None:
    found = _abstract("""static bool yield_it(struct kvm *kvm)
{
	if (need_resched() || rwlock_needbreak(&kvm->mmu_lock)) {
		cond_resched_rwlock_write(&kvm->mmu_lock);
		return true;
	}
	return false;
}
""", "yield_it")
    assert _code(found) == [
        "write_lock(&kvm->mmu_lock);",
        "if (need_resched() || rwlock_needbreak(&kvm->mmu_lock)) {",
        "    cond_resched_rwlock_write(&kvm->mmu_lock);",
        "    write_unlock(&kvm->mmu_lock);",
        "    return;",
        "}",
        "write_unlock(&kvm->mmu_lock);",
    ]
    assert found.notes[0] == ("entered holding &kvm->mmu_lock (cond_resched_rwlock_write() at "
                              "k.c:4 breaks it): taken before the body and released after it")


def test_a_labelled_walk_restarts_after_cond_resched_rwlock_write() -> None:
    found = _abstract("""static void zap_stale(struct vm *vm)
{
	struct vm_page *pg, *tmp;
	int batch = 0;

restart:
	list_for_each_entry_safe(pg, tmp,
			&vm->active_pages, link) {
		if (!page_is_stale(vm, pg))
			break;
		if (batch >= 10 && cond_resched_rwlock_write(&vm->map_lock)) {
			batch = 0;
			goto restart;
		}
		batch += zap_one(vm, pg);
	}
}
""", "zap_stale")
    assert _code(found) == [
        "write_lock(&vm->map_lock);",
        "restart:",
        "read(pg);",
        "while (*) {",
        "    use(pg);",
        "    if (*) {",
        "        break;",
        "    }",
        "    if (* && cond_resched_rwlock_write(&vm->map_lock)) {",
        "        goto restart;",
        "    }",
        "    use(pg);",
        "    read(pg);",
        "}",
        "write_unlock(&vm->map_lock);",
    ]
    assert found.data == {"pg": "map_lock"}


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
