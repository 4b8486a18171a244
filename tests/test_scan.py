"""``lockbreak scan``: lock-break sites found in a kernel-style tree, and the scan's report."""

from __future__ import annotations

from pathlib import Path

from model.cfront.parse import parse_file, parse_source
from model.cfront.sites import find_sites

TREE = Path(__file__).parent / "data" / "scan"


def _sites(relative: str) -> list[tuple[int, str, str, str]]:
    found = find_sites(parse_file(TREE / relative))
    return [(s.line, s.function, s.idiom, s.lock) for s in found]


def test_primitive_calls_and_open_coded_breaks_in_a_list_walk() -> None:
    assert _sites("fs/icache.c") == [
        (31, "icache_prune", "cond_resched_lock", "&ic->lock"),
        (48, "icache_count_dirty", "open-coded need_resched || spin_needbreak", "&ic->lock"),
    ]


def test_rwlock_primitives_and_rwlock_needbreak() -> None:
    assert _sites("mm/vma_walk.c") == [
        (21, "range_sum", "cond_resched_rwlock_read", "&rt->lock"),
        (34, "range_clear", "cond_resched_rwlock_write", "&rt->lock"),
        (49, "range_fill", "open-coded rwlock_needbreak", "&rt->lock"),
    ]


def test_irqsave_do_while_and_a_goto_loop_but_not_an_early_unlock() -> None:
    # queue_kick unlocks under need_resched() outside any loop: not a site.
    assert _sites("drivers/queue.c") == [
        (16, "", "cond_resched_lock", ""),
        (27, "queue_drain", "open-coded spin_needbreak", "&q->lock"),
        (55, "queue_drain_bh", "open-coded need_resched", "&q->lock"),
    ]


def test_a_header_with_raw_spinlocks() -> None:
    assert _sites("include/batch.h") == [
        (19, "batch_run", "open-coded spin_needbreak || need_resched", "&b->lock"),
    ]


def test_sites_without_a_function_say_why() -> None:
    macro = find_sites(parse_file(TREE / "drivers/queue.c"))[0]
    assert macro.function == "" and "macro QUEUE_DRAIN_STEP" in macro.why
    (walker,) = find_sites(parse_file(TREE / "drivers/walker.c"))
    assert walker.function == "" and walker.line == 16
    assert "DEFINE_WALKER(slow)" in walker.why and "walker.c:12:1" in walker.why


def test_a_need_resched_test_that_unlocks_nothing_is_no_site() -> None:
    src = parse_source("t.c", b"""
void f(spinlock_t *l, int n)
{
	spin_lock(l);
	while (n--) {
		if (need_resched())
			break;
	}
	spin_unlock(l);
}
""")
    assert find_sites(src) == []


def test_the_primitive_itself_is_no_site() -> None:
    # The body of __cond_resched_lock drops and retakes the lock once, outside any loop.
    src = parse_source("core.c", b"""
int __cond_resched_lock(spinlock_t *lock)
{
	int resched = should_resched(PREEMPT_LOCK_OFFSET);
	int ret = 0;

	if (spin_needbreak(lock) || resched) {
		spin_unlock(lock);
		if (!_cond_resched())
			cpu_relax();
		ret = 1;
		spin_lock(lock);
	}
	return ret;
}
""")
    assert find_sites(src) == []


def test_a_loop_inside_the_guarded_branch_makes_a_site() -> None:
    src = parse_source("t.c", b"""
void f(spinlock_t *l)
{
	if (need_resched()) {
		while (try_more(l))
			spin_unlock(l);
	}
}
""")
    assert [(s.line, s.idiom) for s in find_sites(src)] == [(6, "open-coded need_resched")]
