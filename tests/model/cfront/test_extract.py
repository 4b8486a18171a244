"""`lockbreak extract`: scenarios from the kernel-style C in tests/data/kernel/.

Each extracted scenario is a golden file in tests/golden/extract/, starting with the command
that produced it (run in tests/data/kernel/, so the kernel lines read ``fs/inodewalk.c:20``);
``LOCKBREAK_REGEN_GOLDEN=1 python -m pytest tests/model/cfront/test_extract.py`` rewrites them
(read the diff before committing). Every golden file loads, and its verdicts are pinned: what a
careful reading of the C says about each lock-break idiom.
"""

from __future__ import annotations

import difflib
import os
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from lockbreak.cli import main
from lockbreak.core import ScenarioError, Status
from lockbreak.testing import check_property
from model.cfront.extract import Extraction, extract
from model.cfront.parse import parse_file
from tests.support.paths import REPO, TESTS

KERNEL = TESTS / "data" / "kernel"
GOLDEN = TESTS / "golden" / "extract"
REGEN = os.environ.get("LOCKBREAK_REGEN_GOLDEN") == "1"

# golden file stem -> the `lockbreak extract` arguments that produce it
CASES = {
    "walk-pinned": "fs/inodewalk.c walk_pinned",
    "walk-unpinned": "fs/inodewalk.c walk_unpinned",
    "walk-restart": "fs/inodewalk.c walk_restart",
    "walk-restart-self": "fs/inodewalk.c walk_restart --self --era v5.17",
    "dispose-unused": "fs/inodewalk.c dispose_unused",
    "count-revalidated": "fs/inodewalk.c count_revalidated",
    "purge-areas": "mm/purge.c purge_areas",
    "purge-keep-next": "mm/purge.c purge_areas_keep_next",
    "free-batch": "mm/zonebatch.c free_batch",
    "scan-zone": "mm/zonebatch.c scan_zone",
    "move-pages": "mm/zonebatch.c move_pages",
    "stat-flush-locked": "kernel/flush.c stat_flush_locked",
    "stat-flush": "kernel/flush.c stat_flush",
    "copy-entries": "mm/ptecopy.c copy_entries",
    "journal-checkpoint": "fs/journal.c journal_checkpoint",
    "journal-checkpoint-stale": "fs/journal.c journal_checkpoint_stale",
    "zap-entries": "mm/ptezap.c zap_entries",
    "zap-counted": "mm/ptezap.c zap_counted",
    "drop-all-maps": "fs/extentdrop.c drop_all_maps",
    "release-modified": "fs/extentdrop.c release_modified",
    "unmap-range-locked": "mm/rangeunmap.c unmap_range_locked",
    "prune-ranges": "mm/rangeunmap.c prune_ranges",
    "populate-ranges": "mm/rangeunmap.c populate_ranges",
    "cobj-get": "fs/cobjhash.c cobj_get",
    "cache-shrink": "fs/cacheshrink.c cache_shrink",
    "evict-all": "fs/inodeevict.c evict_all",
    "reap-idle": "fs/namereap.c reap_idle",
}

# golden file stem -> {property: verdict} a careful reading of the C gives
VERDICTS: dict[str, dict[str, Status]] = {
    # __iget() pins the inode across the break: no stale use; the I_FREEING path continues
    # without breaking, so a waiter may wait for a list of any length.
    "walk-pinned": {"no_stale_use": Status.HOLDS, "mutual_exclusion": Status.HOLDS},
    # Carries on from the inode read before the break: a stale use.
    # It tests for a waiter on every inode, so a waiter is served within a bounded time.
    "walk-unpinned": {"no_stale_use": Status.VIOLATED, "deadlock_free": Status.HOLDS,
                      "bounded_wait": Status.HOLDS},
    # Restarts from the head after a break; breaks only for a reschedule, never for a
    # waiter, so a waiter may wait for a list of any length.
    "walk-restart": {"no_stale_use": Status.HOLDS, "mutual_exclusion": Status.HOLDS,
                     "no_spurious_break": Status.HOLDS,
                     "bounded_wait": Status.VIOLATED},
    "walk-restart-self": {"mutual_exclusion": Status.HOLDS, "deadlock_free": Status.HOLDS},
    "dispose-unused": {"no_stale_use": Status.HOLDS, "deadlock_free": Status.HOLDS},
    # Looks its position up again after every break.
    "count-revalidated": {"no_stale_use": Status.HOLDS, "deadlock_free": Status.HOLDS},
    # Re-reads the first node after every cond_resched_lock().
    "purge-areas": {"no_stale_use": Status.HOLDS, "mutual_exclusion": Status.HOLDS},
    # Keeps the next node across cond_resched_lock(): it may be gone.
    "purge-keep-next": {"no_stale_use": Status.VIOLATED},
    # Breaks with spin_unlock_irqrestore(): cond_resched() runs with interrupts on.
    "free-batch": {"no_sleep_in_atomic": Status.HOLDS, "deadlock_free": Status.HOLDS},
    # Pins the page with get_page() across the break, then leaves the walk.
    "scan-zone": {"no_stale_use": Status.HOLDS, "no_sleep_in_atomic": Status.HOLDS},
    # Backs off the outer lock when the trylock of the inner one fails.
    "move-pages": {"deadlock_free": Status.HOLDS, "mutual_exclusion": Status.HOLDS},
    # Entered holding the flush lock (its lockdep assertion, and the _irq unlock that says
    # how the caller took it); breaks it for a waiter between CPUs, interrupts back on.
    "stat-flush-locked": {"no_sleep_in_atomic": Status.HOLDS, "bounded_wait": Status.HOLDS},
    "stat-flush": {"no_sleep_in_atomic": Status.HOLDS, "mutual_exclusion": Status.HOLDS},
    # Both page-table locks dropped together and taken again in the same order from the
    # top (goto again, keeping the address reached): no deadlock with either contender.
    "copy-entries": {"deadlock_free": Status.HOLDS, "mutual_exclusion": Status.HOLDS},
    # Compares its transaction with the oldest again after every break before using it.
    # Its drop of the list lock to wait for a busy buffer is an open-coded break whose wait
    # is abstracted to work(): with nobody waiting it counts as spurious (docs/extract.md).
    "journal-checkpoint": {"no_stale_use": Status.HOLDS, "deadlock_free": Status.HOLDS,
                           "no_spurious_break": Status.VIOLATED},
    # Goes back to the transaction it read before the break without looking again.
    "journal-checkpoint-stale": {"no_stale_use": Status.VIOLATED},
    # Skips empty entries with continue inside its do-while (a jump to the loop's test) and
    # leaves the walk to reschedule with the page-table lock dropped.
    "zap-entries": {"deadlock_free": Status.HOLDS, "mutual_exclusion": Status.HOLDS,
                    "no_sleep_in_atomic": Status.HOLDS},
    # Calls the helper that lets a waiter in inside an expression (`if (zap_one_entry(...)
    # < 0)`, `rss[...] += zap_one_entry(...)`): each call is its own statement first. The
    # walk skips empty entries without testing for a waiter, so one may wait for a range of
    # any length.
    "zap-counted": {"mutual_exclusion": Status.HOLDS, "deadlock_free": Status.HOLDS,
                    "bounded_wait": Status.VIOLATED},
    # Takes the first node again after every break (`rb_entry(node, struct map_entry,
    # rb_node)`, a type as a macro argument): no stale use.
    "drop-all-maps": {"no_stale_use": Status.HOLDS, "mutual_exclusion": Status.HOLDS},
    # Walks with an iteration macro of its own (`map_tree_foreach`) and carries on from the
    # entry it held across cond_resched_lock(): a stale use. The braceless
    # list_for_each_entry_safe() after it is a walk too.
    "release-modified": {"no_stale_use": Status.VIOLATED, "mutual_exclusion": Status.HOLDS},
    # Returns holding the lock it dropped and took again on its way out: the caller's lock,
    # taken before the body. Whether to break is kept in a local (`need_break`), which the
    # model reads as *, so a waiter may be passed over on every pass of `goto again`.
    "unmap-range-locked": {"mutual_exclusion": Status.HOLDS, "deadlock_free": Status.HOLDS,
                           "no_sleep_in_atomic": Status.HOLDS,
                           "bounded_wait": Status.VIOLATED},
    # `__must_hold(ctl->tree_lock)`: the caller's lock around the body; it leaves its walk
    # for the caller to reschedule, so the time it holds the lock is bounded.
    "prune-ranges": {"no_sleep_in_atomic": Status.HOLDS, "bounded_latency": Status.HOLDS},
    # `__must_hold(&ctl->map_lock)`, and its own write_unlock() says it is the rwlock's
    # write side; pte_alloc_map_lock() takes the page-table lock (or fails, taking none).
    # It lets the map lock go around every page and reschedules with nothing held.
    "populate-ranges": {"mutual_exclusion": Status.HOLDS, "no_sleep_in_atomic": Status.HOLDS,
                        "bounded_wait": Status.HOLDS},
    # The lookup helper is inlined twice, each copy with its own `repeat:` (a word of the
    # scenario language, renamed); its sleep until a teardown ends drops both locks first.
    "cobj-get": {"mutual_exclusion": Status.HOLDS, "deadlock_free": Status.HOLDS,
                 "no_sleep_in_atomic": Status.HOLDS},
    # `if (ei == locked || !write_trylock(...)) continue;`: one if per test, so the trylock
    # is a whole condition; the walk only tries the inner lock, so no deadlock.
    "cache-shrink": {"mutual_exclusion": Status.HOLDS, "deadlock_free": Status.HOLDS,
                     "no_sleep_in_atomic": Status.HOLDS},
    # Starts again from the head after every break: no stale use. The batch helper's own
    # `inode` (a local of the same name, numbered `inode_N` when inlined) is another
    # variable, never the walk's cursor.
    "evict-all": {"no_stale_use": Status.HOLDS, "mutual_exclusion": Status.HOLDS,
                  "no_sleep_in_atomic": Status.HOLDS},
    # Breaks for a reschedule or a waiter, and inside the break unhashes each entry of its
    # batch under the same lock, one entry per hold: those holds are critical sections of
    # their own, not breaks, so the release ending each is no spurious break.
    "reap-idle": {"no_spurious_break": Status.HOLDS, "mutual_exclusion": Status.HOLDS,
                  "deadlock_free": Status.HOLDS, "bounded_wait": Status.HOLDS},
}


def produce(args: str) -> tuple[str, int, str]:
    """The golden text of ``lockbreak extract ARGS``, its exit code and its stderr."""
    result = CliRunner().invoke(main, ["extract", *shlex.split(args)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return f"# lockbreak extract {args}\n{result.stdout}", result.exit_code, result.stderr


@pytest.mark.parametrize("name", list(CASES))
def test_golden_extraction(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(KERNEL)
    actual, code, _ = produce(CASES[name])
    assert code == 0
    path = GOLDEN / f"{name}.toml"
    if REGEN:
        path.write_text(actual)
        return
    if not path.exists():
        pytest.fail(f"{path} is missing; LOCKBREAK_REGEN_GOLDEN=1 writes it", pytrace=False)
    expected = path.read_text()
    if expected != actual:
        diff = "\n".join(difflib.unified_diff(expected.splitlines(), actual.splitlines(),
                                              "golden", "now", lineterm="", n=1))
        pytest.fail(f"{path.name} differs from `lockbreak extract {CASES[name]}`:\n{diff}\n"
                    "(if the change is intended: LOCKBREAK_REGEN_GOLDEN=1 rewrites the file)",
                    pytrace=False)


def test_every_golden_file_has_a_case_and_verdicts() -> None:
    assert sorted(p.stem for p in GOLDEN.glob("*.toml")) == sorted(CASES) == sorted(VERDICTS)


@pytest.mark.parametrize("name", list(VERDICTS))
def test_extracted_verdicts(name: str) -> None:
    for prop, status in VERDICTS[name].items():
        run = check_property(GOLDEN / f"{name}.toml", prop, max_states=200_000)
        assert run.verdicts[0].result.status is status, (name, prop)


def test_every_statement_names_its_kernel_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(KERNEL)
    found = extract(parse_file("fs/inodewalk.c"), "walk_unpinned")
    source = Path("fs/inodewalk.c").read_text().splitlines()
    code = found.scenario.split('code = """\n')[1].split('"""')[0]
    for line in code.splitlines():
        if line.strip() == "}" or line.strip().startswith("} "):
            continue
        statement, where = line.rsplit("// fs/inodewalk.c:", 1)
        kernel = source[int(where) - 1]
        call = statement.strip().split("(")[0]
        if call in ("spin_lock", "spin_unlock", "cond_resched"):
            assert call in kernel, (statement, kernel)


def test_extraction_api() -> None:
    found = extract(parse_file(KERNEL / "mm" / "purge.c"), "purge_areas", era="v5.17")
    assert isinstance(found, Extraction)
    assert (found.function, found.line) == ("purge_areas", 38)
    assert found.path.endswith("mm/purge.c")
    assert 'version = "v5.17"' in found.scenario
    assert "__purge_areas() inlined" in found.abstracted
    assert "mutex_lock(&purge_mutex);" in found.scenario


@pytest.mark.parametrize(("function", "where", "message"), [
    ("returns_locked", "fs/bad.c:9:3", "returns_locked() returns holding &sb->s_inode_list_lock"),
    ("locks_in_expression", "fs/bad.c:15:14", "not understood: spin_trylock() inside an "
                                               "expression"),
    ("falls_through", "fs/bad.c:26:3", "not understood: a case that falls through into one "
                                       "holding a label"),
    ("not_c", "fs/bad.c:37:16", "not understood: '@;'"),
    ("missing", "fs/bad.c:1:1", "no function 'missing' is defined here"),
])
def test_refused_at_the_kernel_line(function: str, where: str, message: str,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(KERNEL)
    with pytest.raises(ScenarioError) as err:
        extract(parse_file("fs/bad.c"), function)
    assert str(err.value).startswith(f"{where}: {message}")


def test_cli_exit_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(KERNEL)
    out = tmp_path / "walk.toml"
    ok = CliRunner().invoke(main, ["extract", "fs/inodewalk.c", "walk_restart", "-o", str(out)])
    assert ok.exit_code == 0
    assert out.read_text().startswith("# walk_restart, fs/inodewalk.c:61")
    assert "guard atomic_read(&inode->i_count) at fs/inodewalk.c:69 became *" in ok.stderr
    bad = CliRunner().invoke(main, ["extract", "fs/bad.c", "not_c"])
    assert bad.exit_code == 2
    assert bad.stderr.startswith("error: fs/bad.c:37:16: not understood")
    assert "Traceback" not in bad.output
    era = CliRunner().invoke(main, ["extract", "fs/inodewalk.c", "walk_restart", "--era", "v9"])
    assert era.exit_code == 2
    assert "unknown era 'v9'" in era.stderr
    gone = CliRunner().invoke(main, ["extract", "fs/none.c", "f"])
    assert gone.exit_code == 2
    assert "cannot read C file" in gone.stderr
    side = tmp_path / "protect.toml"
    side.write_text("[data]\ninode = 3\n")
    wrong = CliRunner().invoke(main, ["extract", "fs/inodewalk.c", "walk_restart",
                                      "--protect", str(side)])
    assert wrong.exit_code == 2
    assert wrong.stderr.startswith(f"error: {side}: a protection file has one table")
    side.write_text('[data]\ninode = ""\n')
    kept = CliRunner().invoke(main, ["extract", "fs/inodewalk.c", "walk_restart",
                                     "--protect", str(side)])
    assert kept.exit_code == 0
    assert "read(inode)" not in kept.stdout


def test_protection_file_overrides_the_inference(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(KERNEL)
    side = tmp_path / "protect.toml"
    side.write_text('[data]\ninode = ""\n')
    found = extract(parse_file("fs/inodewalk.c"), "walk_unpinned", protect=side)
    assert "[data]" not in found.scenario
    assert "use(inode)" not in found.scenario
    side.write_text('[data]\ninode = "&sb->s_nope_lock"\n')
    with pytest.raises(ScenarioError, match="a lock this function never takes"):
        extract(parse_file("fs/inodewalk.c"), "walk_unpinned", protect=side)
    side.write_text('[locks]\nx = 1\n')
    with pytest.raises(ScenarioError, match="one table, \\[data\\]"):
        extract(parse_file("fs/inodewalk.c"), "walk_unpinned", protect=side)


def test_the_docs_show_the_golden_extraction_and_error(monkeypatch: pytest.MonkeyPatch) -> None:
    page = (REPO / "docs" / "extract.md").read_text()
    shown = page.split('```toml title="walk_unpinned.toml"\n')[1].split("```")[0]
    assert shown == (GOLDEN / "walk-unpinned.toml").read_text()
    error = page.split("```text\n$ lockbreak extract fs/bad.c falls_through\n")[1].split("```")[0]
    monkeypatch.chdir(KERNEL)
    _, code, stderr = produce("fs/bad.c falls_through")
    assert (code, stderr) == (2, error)
