"""A scenario's [patch] table: a proposed change to an era's primitives, checked as written.

Kernel developers check a patch to cond_resched_lock() before merging it by writing the new
body in the scenario; mistakes in that body are bad input at file:line:col like any other.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from lockbreak.cli import main
from lockbreak.core import Status
from lockbreak.pipeline import CheckRequest, Overrides, check_scenario, load
from tests.support.paths import REPO

SCENARIOS = REPO / "scenarios"

HEADER = 'name = "p"\n[kernel]\nversion = "v2.6.12"\n[patch]\ncond_resched_lock = """\n'
FOOTER = ('"""\n[locks]\nB = "spin"\n[[cpu]]\n'
          'code = "spin_lock(B); cond_resched_lock(B); spin_unlock(B);"\n')


def verdicts(path: Path) -> dict[str, Status]:
    run = check_scenario(load(path, Overrides()), CheckRequest())
    return {v.result.property: v.result.status for v in run.verdicts}


def test_the_return_value_patch_fixes_only_the_return_value() -> None:
    """v2.6.9 patched to return 1 after a flag-driven drop: break_return_truth now holds, but
    the flag is still never cleared on acquire, so the spurious break stays."""
    patched = verdicts(SCENARIOS / "patch-v2.6.9-return-fix.toml")
    unpatched = verdicts(SCENARIOS / "nested-v2.6.9.toml")
    assert unpatched["break_return_truth"] is Status.VIOLATED
    assert patched["break_return_truth"] is Status.HOLDS
    assert patched["no_spurious_break"] is unpatched["no_spurious_break"] is Status.VIOLATED


def test_the_patched_era_is_named_in_the_checklist(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["check", "--trace-dir", str(tmp_path),
                                       str(SCENARIOS / "patch-v2.6.9-return-fix.toml")])
    assert result.exit_code == 0, result.output
    assert "patch-v2.6.9-return-fix.toml: v2.6.9+return-fix, tas, preempt full" in result.stdout


@pytest.mark.parametrize(("body", "message"), [
    ("    int ret = 0;\n    frob(lock);\n    return ret;\n",
     "p.toml:7:5: cond_resched_lock(B): frob() is neither a v2.6.12+p primitive nor a lock "
     "operation"),
    ("    if (need_resched() {\n", "p.toml:6:24: "),
    ("    return preempt_count() == needed;\n",
     "p.toml:6:31: cond_resched_lock(B): unknown name 'needed'"),
], ids=["unknown-call", "syntax-error", "unknown-name"])
def test_mistakes_in_a_patch_are_bad_input_at_file_line_col(tmp_path: Path, body: str,
                                                           message: str) -> None:
    path = tmp_path / "p.toml"
    path.write_text(HEADER + body + FOOTER)
    result = CliRunner().invoke(main, ["check", "--trace-dir", str(tmp_path), str(path)])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: {tmp_path / message}"), result.stderr
    assert "Traceback" not in result.output + result.stderr


def test_a_patch_can_only_replace_a_primitive_the_era_has(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(HEADER.replace("cond_resched_lock", "spin_needbreak")
                    + "    return 0;\n" + FOOTER)
    result = CliRunner().invoke(main, ["check", "--trace-dir", str(tmp_path), str(path)])
    assert result.exit_code == 2
    assert "p.toml:5:1: v2.6.12 has no primitive 'spin_needbreak' to patch" in result.stderr
