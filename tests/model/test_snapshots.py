"""Data snapshots: which ones the code may still use, and what that means for no_stale_use."""

from __future__ import annotations

from pathlib import Path

from lockbreak.core import Status
from tests.support.helpers import check_by_name, kernel_model

TEXT = '''name = "s"
[kernel]
version = "v2.6.12"
[locks]
L = "spin"
[data]
X = "L"
[[cpu]]
code = """
spin_lock(L);
read(X);
{middle}
spin_unlock(L);
"""
[[cpu]]
code = "spin_lock(L); write(X); spin_unlock(L);"
'''


def live_at_each_step(tmp_path: Path, middle: str) -> list[tuple[str, bool]]:
    model = kernel_model(tmp_path, TEXT.format(middle=middle))
    program = model.world.programs[0]
    live = program.live_snapshots()
    return [(instr.text or instr.op.name, bool(live[pc] & 1))
            for pc, instr in enumerate(program.code) if instr.is_step]


def test_a_snapshot_is_live_from_its_read_until_its_last_use(tmp_path: Path) -> None:
    steps = live_at_each_step(tmp_path, "work(); use(X); work();")
    assert [live for text, live in steps if text in ("work()", "use(X)")] == [True, True, False]
    assert not any(live for text, live in steps if text.startswith("read"))


def test_a_read_before_the_use_ends_the_earlier_snapshots_life(tmp_path: Path) -> None:
    steps = live_at_each_step(tmp_path, "work(); read(X); use(X);")
    assert [(t, live) for t, live in steps if t in ("work()", "read(X)", "use(X)")] == [
        ("read(X)", False), ("work()", False), ("read(X)", False), ("use(X)", True)]


def test_a_write_that_reaches_only_a_dead_snapshot_is_no_witness(tmp_path: Path) -> None:
    """cpu0 never breaks L and never uses X: cpu1's write after cpu0's unlock can make nothing
    stale that matters, so no_stale_use has nothing to bite on."""
    model = kernel_model(tmp_path, TEXT.format(middle="work();"))
    assert check_by_name(model, ["no_stale_use"])["no_stale_use"].status is Status.VACUOUS


def test_a_break_between_read_and_use_is_caught(tmp_path: Path) -> None:
    model = kernel_model(tmp_path, TEXT.format(middle="cond_resched_lock(L); use(X);"))
    assert check_by_name(model, ["no_stale_use"])["no_stale_use"].status is Status.VIOLATED


def test_rereading_after_a_break_holds_and_is_witnessed(tmp_path: Path) -> None:
    middle = "if (cond_resched_lock(L)) { read(X); } use(X);"
    model = kernel_model(tmp_path, TEXT.format(middle=middle))
    assert check_by_name(model, ["no_stale_use"])["no_stale_use"].status is Status.HOLDS


