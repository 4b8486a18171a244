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

