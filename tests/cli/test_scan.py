"""``lockbreak scan``: lock-break sites found in a kernel-style tree, and the scan's report."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner
from rich.console import Console
from rich.progress import Progress

from lockbreak.cli import main
from lockbreak.cli.scanning import Checked, ScanOptions, SiteBudget, _row, scan
from lockbreak.report.results import Finding
from lockbreak.report.scan import SCAN_SCHEMA_FILE
from model.cfront.parse import parse_file, parse_source
from model.cfront.sites import Site, find_sites
from tests.support.paths import TESTS

TREE = TESTS / "data" / "scan"


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


def test_a_guard_asked_through_a_helper_of_the_same_file() -> None:
    # split_refill's helper asks about its cache only, no guard; its unlock is retaken
    # before the loop goes on, which makes it a break all the same.
    assert _sites("mm/split.c") == [
        (31, "split_range", "open-coded need_resched || rwlock_needbreak", "&sm->lock"),
        (48, "split_refill", "open-coded relock", "&sm->lock"),
    ]


def test_wrapped_unlocks_a_cpu_walk_and_an_unguarded_relock() -> None:
    # The entry locks of stats_sync are taken and released within one iteration: no site.
    assert _sites("kernel/stats.c") == [
        (48, "stats_fold", "open-coded need_resched", "st"),
        (73, "stats_sync", "open-coded relock", "&st->list_lock"),
    ]


def test_every_site_of_the_extractor_fixtures() -> None:
    kernel = TREE.parent / "kernel"
    found = [(p.relative_to(kernel).as_posix(), s.line, s.function, s.idiom)
             for p in sorted(kernel.rglob("*.[ch]")) for s in find_sites(parse_file(p))]
    assert found == [
        ("fs/bad.c", 28, "falls_through", "cond_resched_lock"),
        ("fs/cacheshrink.c", 27, "cache_shrink", "open-coded relock"),
        ("fs/extentdrop.c", 37, "drop_all_maps", "cond_resched_rwlock_write"),
        ("fs/extentdrop.c", 49, "release_modified", "cond_resched_lock"),
        ("fs/inodeevict.c", 47, "evict_all", "open-coded need_resched"),
        ("fs/inodewait.c", 35, "settle_inodes", "open-coded need_resched"),
        ("fs/inodewalk.c", 28, "walk_pinned", "open-coded relock"),
        ("fs/inodewalk.c", 49, "walk_unpinned", "open-coded need_resched || spin_needbreak"),
        ("fs/inodewalk.c", 74, "walk_restart", "open-coded need_resched"),
        ("fs/inodewalk.c", 96, "dispose_unused", "open-coded need_resched || spin_needbreak"),
        ("fs/inodewalk.c", 115, "count_revalidated",
         "open-coded need_resched || spin_needbreak"),
        ("fs/journal.c", 40, "journal_checkpoint", "open-coded relock"),
        ("fs/journal.c", 66, "journal_checkpoint_stale",
         "open-coded need_resched || spin_needbreak"),
        ("fs/namereap.c", 43, "reap_idle", "open-coded need_resched || spin_needbreak"),
        ("kernel/flush.c", 35, "stat_flush_locked",
         "open-coded need_resched || spin_needbreak"),
        ("mm/ptecopy.c", 33, "copy_entries", "open-coded need_resched || spin_needbreak"),
        # pte_unmap_unlock(pte, ptl) names its lock second, as pte_offset_map_lock() names
        # it fourth: the round that took dst_ptl, ended early by the guards, drops it here.
        ("mm/ptecopy.c", 34, "copy_entries", "open-coded need_resched || spin_needbreak"),
        ("mm/ptezap.c", 35, "zap_entries", "open-coded need_resched || spin_needbreak"),
        ("mm/ptezap.c", 52, "zap_one_entry", "open-coded spin_needbreak"),
        ("mm/purge.c", 32, "__purge_areas", "cond_resched_lock"),
        ("mm/purge.c", 56, "purge_areas_keep_next", "cond_resched_lock"),
        ("mm/rangeunmap.c", 76, "populate_ranges", "open-coded relock"),
        ("mm/zonebatch.c", 36, "free_batch", "open-coded need_resched || spin_needbreak"),
        ("mm/zonebatch.c", 59, "scan_zone", "open-coded relock"),
        ("mm/zonebatch.c", 79, "move_pages", "open-coded relock"),
    ]


def test_a_sleep_until_woken_is_a_wait_not_a_break() -> None:
    # wait_for_new_inode drops the lock around schedule() until the state it waits for
    # changes: no site. settle_inodes does the same when a reschedule is due: a break.
    found = find_sites(parse_file(TREE.parent / "kernel" / "fs" / "inodewait.c"))
    assert [(s.line, s.function, s.idiom) for s in found] == [
        (35, "settle_inodes", "open-coded need_resched"),
    ]


def test_a_break_after_an_early_exit_and_in_a_helper_called_from_a_loop() -> None:
    # lru_drop_once has lru_yield's shape but runs once, outside any loop: no site.
    assert _sites("fs/lru.c") == [
        (25, "lru_yield", "open-coded need_resched || spin_needbreak", "&l->lock"),
        (50, "lru_shrink", "open-coded spin_needbreak", "&l->lock"),
    ]


def test_the_xarray_lock_and_a_direct_contention_test() -> None:
    assert _sites("mm/pagecache.c") == [
        (26, "pcache_tag_all", "open-coded need_resched", "&xas"),
        (40, "pcache_count", "open-coded spin_is_contended", "&pc->stats_lock"),
    ]


def test_a_round_that_a_guard_ends_and_a_goto_starts_again() -> None:
    # table_clear takes and releases the lock every round, and nothing ends a round early.
    assert _sites("mm/table.c") == [
        (29, "table_copy", "open-coded need_resched || spin_needbreak", "&dst->lock"),
    ]
    assert _sites("mm/mmap.c") == [(17, "mm_age_range", "open-coded need_resched", "mm")]


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


WALK_CALLBACK = b"""
static enum walk_ret collect_unused(void *data, struct dentry *dentry)
{
	struct collect_data *cd = data;
	enum walk_ret ret = WALK_CONTINUE;

	if (dentry->d_lockref.count == 0) {
		list_add(&dentry->d_lru, &cd->dispose);
		cd->found++;
	}
	if (cd->found)
		ret = need_resched() ? WALK_QUIT : WALK_NORETRY;
	return ret;
}

static void dispose_all(struct collect_data *cd)
{
	spin_lock(&cd->lock);
	while (!list_empty(&cd->dispose))
		dispose_one(cd);
	spin_unlock(&cd->lock);
}
"""


def test_a_guard_whose_answer_leaves_the_function_is_listed_with_why() -> None:
    # A walk's callback answers need_resched() in its return value: the walk, which this
    # file does not call it from, is where the lock is dropped.
    (site,) = find_sites(parse_source("t.c", WALK_CALLBACK))
    assert (site.line, site.function, site.idiom) == (12, "collect_unused",
                                                      "open-coded need_resched")
    assert site.why.startswith("need_resched() here drops no lock: its answer leaves "
                               "collect_unused() (returned or stored)")


def test_a_guard_whose_answer_a_breaking_caller_takes_is_that_callers_site() -> None:
    calling = WALK_CALLBACK.replace(b"\t\tdispose_one(cd);\n", b"""\t{
\t\tdispose_one(cd);
\t\tif (collect_unused(cd, NULL) == WALK_QUIT) {
\t\t\tspin_unlock(&cd->lock);
\t\t\tcond_resched();
\t\t\tspin_lock(&cd->lock);
\t\t}
\t}
""")
    assert [(s.function, s.why) for s in find_sites(parse_source("t.c", calling))] == [
        ("dispose_all", "")]


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


def _scan(*args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(main, ["scan", *args, "--json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, json.loads(result.stdout)


def _rows(report: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(Path(r["file"]).relative_to(TREE).as_posix(), r["line"], r["function"], r["idiom"],
             r["status"], r["engine"]) for r in report["sites"]]


def test_a_path_that_does_not_exist_is_bad_input(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["scan", str(tmp_path / "nowhere")])
    assert result.exit_code == 2
    assert f"{tmp_path / 'nowhere'}: no such file or folder" in result.stderr
    assert "Traceback" not in result.output


def test_a_folder_without_c_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("spin_lock\n")
    result = CliRunner().invoke(main, ["scan", str(tmp_path)])
    assert result.exit_code == 2 and f"no .c or .h file in {tmp_path}" in result.stderr


def test_a_bad_budget_is_bad_input() -> None:
    result = CliRunner().invoke(main, ["scan", str(TREE), "--budget-per-site", "lots"])
    assert result.exit_code == 2 and "--budget-per-site" in result.stderr


def test_an_unextractable_site_is_listed_with_why() -> None:
    code, report = _scan(str(TREE / "drivers/held.c"), "--workers", "1")
    assert code == 3
    (row,) = report["sites"]
    assert (row["line"], row["function"], row["status"], row["verdicts"]) == (
        20, "held_table_trim", "not checked", {})
    assert row["why"].startswith(f"{TREE / 'drivers/held.c'}:22:1: held_table_trim() returns "
                                 "holding &ht->lock")


def test_sites_in_macros_are_listed_not_dropped() -> None:
    code, report = _scan(str(TREE / "drivers/walker.c"), "--workers", "1")
    assert code == 3
    assert _rows(report) == [("drivers/walker.c", 16, "", "cond_resched_lock", "not checked", "")]
    assert "DEFINE_WALKER(slow)" in report["sites"][0]["why"]


def test_a_helper_handed_a_held_lock_is_checked_in_its_caller() -> None:
    code, report = _scan(str(TREE / "fs/lru.c"), "--workers", "1")
    assert code == 1
    helper = report["sites"][0]
    assert (helper["function"], helper["via"], helper["scenario"].split("--")[-1]) == (
        "lru_yield", "lru_age", "lru_age.toml")
    # lru_age keeps its list cursor across the helper's break: another CPU may free it, and
    # the walk's next step (list_for_each_entry, line 36) follows it.
    assert helper["verdicts"]["no_stale_use"] == "violated"
    steps = helper["counterexample"]["steps"]
    assert 25 in [s["line"] for s in steps] and steps[-1]["line"] == 36


def test_the_mmap_lock_is_an_rwsem_broken_only_for_a_reschedule() -> None:
    # mmap_read_lock(mm) is down_read(&mm->mmap_lock): the walk lets it go only when a
    # reschedule is due, never for a writer, so a writer may wait for the whole range.
    code, report = _scan(str(TREE / "mm/mmap.c"), "--workers", "1")
    assert code == 1
    (row,) = report["sites"]
    assert (row["line"], row["status"]) == (17, "violated")
    assert row["verdicts"]["bounded_wait"] == "violated"
    assert row["verdicts"]["mutual_exclusion"] == "holds"


def test_a_site_whose_break_the_extraction_dropped_is_not_checked() -> None:
    # A scenario whose statements from the site's lines hold no break says nothing about it.
    site = Site("mm/mmap.c", 17, 4, "mm_age_range", "open-coded need_resched", "mm")
    text = 'code = """\nwork();  // mm/mmap.c:17\n"""\n'
    finding = Finding.__new__(Finding)
    row = _row(site, Checked("explicit", "scenarios/x.toml", text, (finding,)))
    assert row.why.startswith("the scenario extracted from mm_age_range has no lock break "
                              "from line 17: it was abstracted away")
    kept = _row(site, Checked("explicit", "scenarios/x.toml",
                              text.replace("work()", "mmap_read_unlock(mm)"), (finding,)))
    assert kept.why == ""


@pytest.fixture(scope="module")
def vma_walk(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("scan") / "report"
    code, report = _scan(str(TREE / "mm/vma_walk.c"), "--workers", "1", "--out", str(out))
    return code, report, out


def test_scan_json_rows_and_verdicts(vma_walk: tuple[int, dict[str, Any], Path]) -> None:
    code, report, _ = vma_walk
    # range_fill breaks its lock only when contended: uncontended, with a wakeup pending, it
    # may keep the CPU for as long as the range is long.
    assert code == 1
    assert _rows(report) == [
        ("mm/vma_walk.c", 21, "range_sum", "cond_resched_rwlock_read", "holds", "explicit"),
        ("mm/vma_walk.c", 34, "range_clear", "cond_resched_rwlock_write", "holds", "explicit"),
        ("mm/vma_walk.c", 49, "range_fill", "open-coded rwlock_needbreak", "violated",
         "explicit"),
    ]
    not_holding = [{p: s for p, s in r["verdicts"].items() if s != "holds"}
                   for r in report["sites"]]
    assert not_holding == [
        {"no_stale_use": "vacuous"},
        {"no_stale_use": "vacuous"},
        {"break_return_truth": "vacuous", "no_stale_use": "vacuous",
         "bounded_latency": "violated"},
    ]
    cex = report["sites"][2]["counterexample"]
    assert cex["property"] == "bounded_latency"
    assert cex["rerun"].endswith("range_fill.toml --property bounded_latency")


def test_the_json_follows_its_schema(vma_walk: tuple[int, dict[str, Any], Path]) -> None:
    _, report, out = vma_walk
    schema = json.loads(SCAN_SCHEMA_FILE.read_text())
    jsonschema.validate(report, schema)
    assert json.loads((out / "results.json").read_text()) == report
    _, unchecked = _scan(str(TREE / "drivers/walker.c"), "--workers", "1")
    jsonschema.validate(unchecked, schema)


def test_markdown_and_html_show_every_site(vma_walk: tuple[int, dict[str, Any], Path]) -> None:
    _, report, out = vma_walk
    markdown = (out / "report.md").read_text()
    page = (out / "index.html").read_text()
    for row in report["sites"]:
        assert f"vma_walk.c:{row['line']}` | {row['function']} |" in markdown
        assert f"vma_walk.c:{row['line']}</code></td><td>{row['function']}</td>" in page
    anchor = report["sites"][2]["file"].strip("/").replace("/", "-") + "-49"
    assert f'<a id="{anchor}"></a>' in markdown and f'id="{anchor}"' in page
    assert f"(timelines/{anchor}.svg)" in markdown
    assert (out / "timelines" / f"{anchor}.svg").is_file()
    assert "default-src 'none'" in page


def test_sarif_locations_are_kernel_lines(vma_walk: tuple[int, dict[str, Any], Path]) -> None:
    _, _, out = vma_walk
    sarif = json.loads((out / "results.sarif").read_text())
    (result,) = sarif["runs"][0]["results"]
    where = result["locations"][0]["physicalLocation"]
    assert where["artifactLocation"]["uri"] == (TREE / "mm/vma_walk.c").as_posix()
    assert where["region"] == {"startLine": 49, "startColumn": 4}
    flow = result["codeFlows"][0]["threadFlows"][0]["locations"]
    lines = {step["location"]["physicalLocation"]["region"]["startLine"] for step in flow}
    # Every step is at a line of range_fill (lines 39 to 56), never a scenario line.
    assert lines and lines <= set(range(39, 57))
    assert [p.name.split("--")[-1] for p in sorted((out / "scenarios").iterdir())] == [
        "range_clear.toml", "range_fill.toml", "range_sum.toml"]


@pytest.mark.slow
def test_a_budget_too_small_for_the_exhaustive_search_says_random() -> None:
    code, report = _scan(str(TREE / "include/batch.h"), "--workers", "1",
                         "--budget-per-site", "50")
    assert code == 3
    (row,) = report["sites"]
    assert (row["status"], row["engine"]) == ("incomplete", "explicit + random")


@pytest.mark.slow
def test_two_workers_give_the_rows_of_one() -> None:
    one = _scan(str(TREE), "--workers", "1")
    two = _scan(str(TREE), "--workers", "2")
    for _, report in (one, two):
        for row in report["sites"]:
            row.pop("seconds")
        report.pop("seconds")
    assert one == two
    assert _rows(one[1]) == [
        ("drivers/held.c", 20, "held_table_trim", "cond_resched_lock", "not checked", ""),
        ("drivers/queue.c", 16, "", "cond_resched_lock", "not checked", ""),
        ("drivers/queue.c", 27, "queue_drain", "open-coded spin_needbreak", "violated",
         "explicit"),
        # breaks only when rescheduling is due: a contender may wait as long as it loops
        ("drivers/queue.c", 55, "queue_drain_bh", "open-coded need_resched", "violated",
         "explicit"),
        ("drivers/walker.c", 16, "", "cond_resched_lock", "not checked", ""),
        ("fs/icache.c", 31, "icache_prune", "cond_resched_lock", "violated", "explicit"),
        ("fs/icache.c", 48, "icache_count_dirty", "open-coded need_resched || spin_needbreak",
         "holds", "explicit"),
        ("fs/lru.c", 25, "lru_yield", "open-coded need_resched || spin_needbreak", "violated",
         "explicit"),
        ("fs/lru.c", 50, "lru_shrink", "open-coded spin_needbreak", "violated", "explicit"),
        ("include/batch.h", 19, "batch_run", "open-coded spin_needbreak || need_resched",
         "holds", "explicit"),
        ("kernel/stats.c", 48, "stats_fold", "open-coded need_resched", "violated",
         "explicit"),
        ("kernel/stats.c", 73, "stats_sync", "open-coded relock", "violated", "explicit"),
        # the mmap lock is an rwsem broken only for a reschedule: a writer waits the range
        ("mm/mmap.c", 17, "mm_age_range", "open-coded need_resched", "violated", "explicit"),
        # breaks only when rescheduling is due: a contender may wait as long as it walks
        ("mm/pagecache.c", 26, "pcache_tag_all", "open-coded need_resched", "violated",
         "explicit"),
        # the extraction keeps spin_is_contended(), split_should_yield() and the batch count
        # of table_copy as * guards, so a contender's wait is unbounded in the model although
        # the kernel loops yield to it
        ("mm/pagecache.c", 40, "pcache_count", "open-coded spin_is_contended", "violated",
         "explicit"),
        ("mm/split.c", 31, "split_range", "open-coded need_resched || rwlock_needbreak",
         "violated", "explicit"),
        ("mm/split.c", 48, "split_refill", "open-coded relock", "violated", "explicit"),
        ("mm/table.c", 29, "table_copy", "open-coded need_resched || spin_needbreak",
         "violated", "explicit"),
        ("mm/vma_walk.c", 21, "range_sum", "cond_resched_rwlock_read", "holds", "explicit"),
        ("mm/vma_walk.c", 34, "range_clear", "cond_resched_rwlock_write", "holds", "explicit"),
        ("mm/vma_walk.c", 49, "range_fill", "open-coded rwlock_needbreak", "violated",
         "explicit"),
        ("virt/spt_walk.c", 14, "spt_yield", "cond_resched_rwlock_read", "holds", "explicit"),
        ("virt/spt_walk.c", 16, "spt_yield", "cond_resched_rwlock_write", "holds",
         "explicit"),
    ]


def test_the_live_bar_counts_files_sites_and_violations() -> None:
    shown = io.StringIO()
    console = Console(file=shown, force_terminal=True, width=100)
    files = [TREE / "drivers/held.c", TREE / "drivers/walker.c"]
    options = ScanOptions(tuple(p.as_posix() for p in files), None, SiteBudget(1000, None), 1)
    with Progress(console=console, auto_refresh=False) as progress:
        report, _ = scan(options, files, progress)
    (task,) = progress.tasks
    assert (task.completed, task.total, task.description) == (2, 2, "2 sites, 0 violated")
    assert "2 sites, 0 violated" in shown.getvalue()
    assert report.exit_code == 3 and [r.status for r in report.rows] == ["not checked"] * 2


def test_each_mode_of_a_yield_helper_is_checked_in_a_caller_that_takes_it() -> None:
    # spt_yield() breaks the MMU lock for read or for write as its caller says: each row is
    # checked in the first caller whose constant keeps its branch.
    code, report = _scan(str(TREE / "virt/spt_walk.c"), "--workers", "1")
    assert code == 0
    assert [(r["line"], r["idiom"], r["via"], r["status"]) for r in report["sites"]] == [
        (14, "cond_resched_rwlock_read", "spt_wrprot_range", "holds"),
        (16, "cond_resched_rwlock_write", "spt_zap_range", "holds"),
    ]


def test_cond_resched_rcu_is_a_site() -> None:
    src = parse_source("t.c", b"""
unsigned long swap_usage(struct address_space *mapping)
{
	XA_STATE(xas, &mapping->i_pages, 0);
	struct page *page;
	unsigned long swapped = 0;

	rcu_read_lock();
	xas_for_each(&xas, page, ULONG_MAX) {
		if (xa_is_value(page))
			swapped++;
		if (need_resched()) {
			xas_pause(&xas);
			cond_resched_rcu();
		}
	}
	rcu_read_unlock();
	return swapped;
}
""")
    assert [(s.line, s.function, s.idiom, s.why) for s in find_sites(src)] == [
        (14, "swap_usage", "cond_resched_rcu", "")]
