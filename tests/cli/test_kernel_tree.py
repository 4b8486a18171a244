"""Eras from a kernel tree: ``check --kernel-tree DIR [--patch FILE.patch]``.

The fixture trees under tests/data/trees are kernel C written here in the kernel's style,
holding only the primitives lockbreak reads; the v6.11-like tree must give exactly what the
bundled v6.11 era gives, and a patch that brings back the 2005 return-value bug must be caught.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from lockbreak.cli import main
from lockbreak.cli.kernel_tree import build
from lockbreak.cli.unified_diff import apply_hunks, apply_patches, read_patch
from lockbreak.core import ScenarioError
from lockbreak.pipeline import CheckRequest, Overrides, check_scenario, load
from model.cfront.primitives import closest_era, era_from_tree
from model.eras import get_era
from tests.support.paths import REPO, TESTS

TREE = TESTS / "data" / "trees" / "v6.11-like"
OLD_TREE = TESTS / "data" / "trees" / "v4.15-like"
PATCHES = TESTS / "data" / "patches"
RETURN_BUG = PATCHES / "return-value-bug.patch"
CONTENDED = PATCHES / "contended-break-v6.11.toml"
V6_11_SCENARIOS = sorted((REPO / "scenarios").glob("*-v6.11.toml"))


def copy_tree(tmp_path: Path) -> Path:
    copy = tmp_path / "tree"
    shutil.copytree(TREE, copy)
    return copy


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def run(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def outcome(path: Path, tree: Path | None, preempt: str | None = None, version: str = "v6.11"
            ) -> list[tuple[str, str, int | None, int]]:
    scenario = load(path, Overrides(version=version, preempt=preempt))
    if tree is not None:
        scenario = era_from_tree(tree, get_era(version)).under(scenario)
    checked = check_scenario(scenario, CheckRequest())
    return [(v.result.property, v.result.status.value, v.result.worst, v.result.stats.states)
            for v in checked.verdicts]


# ---------------------------------------------------------------- the era

def test_the_tree_names_where_each_primitive_came_from() -> None:
    tree = era_from_tree(TREE, closest_era(TREE, "tree"), "tree")
    where = {o.primitive: (o.function, o.where) for o in tree.origins}
    assert where == {
        "cond_resched_lock": ("__cond_resched_lock", "tree/kernel/sched/core.c:40"),
        "cond_resched_rwlock_read": ("__cond_resched_rwlock_read",
                                     "tree/kernel/sched/core.c:58"),
        "cond_resched_rwlock_write": ("__cond_resched_rwlock_write",
                                      "tree/kernel/sched/core.c:76"),
        "spin_needbreak": ("spin_needbreak", "tree/include/linux/spinlock.h:16"),
        "rwlock_needbreak": ("rwlock_needbreak", "tree/include/linux/spinlock.h:28"),
        "_cond_resched": ("_cond_resched", "tree/include/linux/sched.h:35, "
                                           "tree/include/linux/sched.h:45"),
        "cond_resched": ("cond_resched", "tree/include/linux/sched.h:53"),
    }
    assert {o.function for o in tree.helpers} == {
        "should_resched", "preempt_model_preemptible", "__cond_resched"}
    assert tree.era.primitives["cond_resched_lock"].origin == (
        "tree/kernel/sched/core.c", 40, 1)


def test_the_closest_era_comes_from_the_makefile(tmp_path: Path) -> None:
    copy = copy_tree(tmp_path)
    assert closest_era(copy, "t").name == "v6.11"
    edit(copy / "Makefile", "PATCHLEVEL = 11", "PATCHLEVEL = 10")
    assert closest_era(copy, "t").name == "v5.17"
    (copy / "Makefile").unlink()
    with pytest.raises(ScenarioError, match="no Makefile"):
        closest_era(copy, "t")


def test_if_alternatives_become_configuration_tests() -> None:
    """_cond_resched is defined twice under #if; the static-call spellings of a dynamic
    build are fixed off, so one test of the configuration is left, folded per scenario."""
    body = era_from_tree(TREE, get_era("v6.11")).bodies["_cond_resched"]
    assert body.splitlines()[0] == (
        "if (!IS_ENABLED(CONFIG_PREEMPTION) || IS_ENABLED(CONFIG_PREEMPT_DYNAMIC)) {")
    assert "static_call" not in body and "dynamic_cond_resched" not in body
    assert "(preempt_count() == 0) && need_resched()" in body     # should_resched(0)


def test_one_v6_11_scenario_agrees_with_the_bundled_era() -> None:
    path = REPO / "scenarios" / "preempt-dynamic-none-v6.11.toml"
    assert outcome(path, TREE) == outcome(path, None)


@pytest.mark.slow
@pytest.mark.parametrize("preempt", [None, "none", "voluntary", "full", "rt"])
@pytest.mark.parametrize("path", V6_11_SCENARIOS, ids=lambda p: p.stem)
def test_every_v6_11_scenario_agrees_with_the_bundled_era(path: Path,
                                                          preempt: str | None) -> None:
    """Same verdicts, worst cases and state counts as --version v6.11, in every preemption
    model."""
    assert outcome(path, TREE, preempt) == outcome(path, None, preempt)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["rwlock-write-break-v5.17", "rwlock-reader-fastpath-v5.17",
                                  "zone-batch-needbreak-v5.17"])
def test_rwlock_and_needbreak_scenarios_agree_under_v6_11(name: str) -> None:
    """The rwlock forms and spin_needbreak, exercised by scenarios written for v5.17."""
    path = REPO / "scenarios" / f"{name}.toml"
    assert outcome(path, TREE) == outcome(path, None)


def test_a_v4_15_tree_reads_its_primitives_from_header_and_scheduler() -> None:
    """The shapes before the rwlock forms: _cond_resched() out of line without
    CONFIG_PREEMPT, spin_needbreak() in <linux/sched.h>, a reschedule called directly."""
    tree = era_from_tree(OLD_TREE, closest_era(OLD_TREE, "t"), "t")
    assert tree.base.name == "v4.15"
    assert [(o.primitive, o.where) for o in tree.origins] == [
        ("cond_resched_lock", "t/kernel/sched/core.c:30"),
        ("spin_needbreak", "t/include/linux/sched.h:32"),
        ("_cond_resched", "t/include/linux/sched.h:13, t/kernel/sched/core.c:11"),
        ("cond_resched", "t/include/linux/sched.h:16")]
    path = REPO / "scenarios" / "nested-wakeup-v5.17.toml"
    assert outcome(path, OLD_TREE, version="v4.15") == outcome(path, None, version="v4.15")


@pytest.mark.slow
@pytest.mark.parametrize("preempt", ["none", "voluntary", "full"])
@pytest.mark.parametrize("name", ["nested-outer-v5.17", "zone-batch-needbreak-v5.17",
                                  "irqsave-break-v6.11", "qspinlock-v5.17"])
def test_the_v4_15_tree_agrees_with_the_bundled_era(name: str, preempt: str) -> None:
    path = REPO / "scenarios" / f"{name}.toml"
    assert (outcome(path, OLD_TREE, preempt, "v4.15")
            == outcome(path, None, preempt, "v4.15"))


# ---------------------------------------------------------------- check --kernel-tree

def test_check_prints_where_each_primitive_came_from(tmp_path: Path) -> None:
    code, out, err = run("check", "--kernel-tree", TREE, "-p", "break_return_truth",
                         "--trace-dir", tmp_path, CONTENDED)
    assert code == 0, out + err
    assert f"kernel tree {TREE}: era v6.11+tree" in err
    assert f"cond_resched_lock: __cond_resched_lock() at {TREE}/kernel/sched/core.c:40" in err
    assert "break_return_truth .... holds" in out


def test_the_return_value_bug_patch_is_caught(tmp_path: Path) -> None:
    """The 2005 bug brought back on a v6.11 tree: a drop for a waiter returns 0."""
    code, out, err = run("check", "--kernel-tree", TREE, "--patch", RETURN_BUG,
                         "-p", "break_return_truth", "--trace-dir", tmp_path, CONTENDED)
    assert code == 1, out + err
    assert f"with {RETURN_BUG} applied: era v6.11+tree+patch" in err
    assert "break_return_truth .... violated" in out
    assert "cond_resched_lock(L) returns 0 after dropping L" in out
    assert (TREE / "kernel" / "sched" / "core.c").read_text().count("ret = 1;") == 3


def test_the_patch_changes_only_a_copy(tmp_path: Path) -> None:
    before = (TREE / "kernel" / "sched" / "core.c").read_bytes()
    patched = build(TREE, [RETURN_BUG], None)
    assert "if (_cond_resched()) {" in patched.tree.bodies["cond_resched_lock"]
    assert (TREE / "kernel" / "sched" / "core.c").read_bytes() == before


# ---------------------------------------------------------------- errors

def test_a_missing_primitive_names_what_and_where_it_looked(tmp_path: Path) -> None:
    copy = copy_tree(tmp_path)
    edit(copy / "include" / "linux" / "spinlock.h", "int spin_needbreak(", "int spin_needs_break(")
    code, _, err = run("check", "--kernel-tree", copy, CONTENDED)
    assert code == 2
    assert "spin_needbreak: no definition of spin_needbreak in the kernel tree" in err
    assert f"{copy}/include/linux/spinlock.h, {copy}/include/linux/sched.h" in err
    assert "Traceback" not in err


def test_a_construct_not_understood_is_named_at_file_line_col(tmp_path: Path) -> None:
    copy = copy_tree(tmp_path)
    edit(copy / "kernel" / "sched" / "core.c", "\tlockdep_assert_held(lock);\n",
         "\tlockdep_assert_held(lock);\n\tsched_annotate_sleep();\n")
    code, _, err = run("check", "--kernel-tree", copy, CONTENDED)
    assert code == 2
    assert (f"{copy}/kernel/sched/core.c:46:2: cond_resched_lock: sched_annotate_sleep() is "
            "not in the primitive vocabulary") in err


def test_a_goto_is_not_understood(tmp_path: Path) -> None:
    copy = copy_tree(tmp_path)
    edit(copy / "kernel" / "sched" / "core.c", "\t\tret = 1;\n\t\tspin_lock(lock);\n\t}\n"
         "\treturn ret;\n}\nEXPORT_SYMBOL(__cond_resched_lock);",
         "\t\tgoto out;\n\t}\nout:\n\treturn ret;\n}\nEXPORT_SYMBOL(__cond_resched_lock);")
    with pytest.raises(ScenarioError) as err:
        era_from_tree(copy, get_era("v6.11"), "t")
    assert (err.value.line, err.value.col) == (51, 3)
    assert "a goto statement is not understood" in str(err.value)


def test_an_unknown_configuration_symbol_is_refused(tmp_path: Path) -> None:
    copy = copy_tree(tmp_path)
    edit(copy / "include" / "linux" / "spinlock.h",
         "static inline int spin_needbreak", "#ifdef CONFIG_SPIN_NEEDBREAK_QUIRK\n"
         "static inline int spin_needbreak")
    edit(copy / "include" / "linux" / "spinlock.h", "return spin_is_contended(lock);\n}",
         "return spin_is_contended(lock);\n}\n#endif")
    with pytest.raises(ScenarioError, match="CONFIG_SPIN_NEEDBREAK_QUIRK is neither modelled"):
        era_from_tree(copy, get_era("v6.11"), "t")


def test_a_hunk_that_does_not_apply_names_the_file_and_hunk(tmp_path: Path) -> None:
    stale = tmp_path / "stale.patch"
    stale.write_text(RETURN_BUG.read_text().replace(" \t\tspin_unlock(lock);",
                                                    " \t\tspin_unlock_irq(lock);"))
    code, _, err = run("check", "--kernel-tree", TREE, "--patch", stale, CONTENDED)
    assert code == 2
    assert (f"{stale}:13:1: hunk #1 for kernel/sched/core.c does not apply: its context "
            "(from line 46) is not in the tree") in err


def test_patch_needs_a_tree_and_a_tree_needs_a_version(tmp_path: Path) -> None:
    code, _, err = run("check", "--patch", RETURN_BUG, CONTENDED)
    assert code == 2 and "--patch needs --kernel-tree DIR" in err
    copy = copy_tree(tmp_path)
    (copy / "Makefile").unlink()
    code, _, err = run("check", "--kernel-tree", copy, CONTENDED)
    assert code == 2 and "--version ERA" in err
    code, _, err = run("check", "--kernel-tree", copy, "--workers", "2", CONTENDED)
    assert code == 2 and "--workers rebuilds each scenario" in err
    (tmp_path / "checkpoint").write_text("")
    code, _, err = run("check", "--kernel-tree", TREE, "--resume", tmp_path / "checkpoint",
                       CONTENDED)
    assert code == 2 and "rerun the check with --kernel-tree instead" in err


# ---------------------------------------------------------------- the patch applier

def test_the_python_applier_agrees_with_the_patch_program(tmp_path: Path) -> None:
    (file_patch,) = read_patch(RETURN_BUG)
    original = (TREE / file_patch.path).read_text().splitlines()
    ours = apply_hunks(original, file_patch.hunks)
    copy = copy_tree(tmp_path)
    apply_patches(copy, [RETURN_BUG])                 # the patch program is installed here
    assert ours == (copy / file_patch.path).read_text().splitlines()
    assert ours[47:53] == ["\t\tspin_unlock(lock);", "\t\tif (_cond_resched())",
                           "\t\t\tret = 1;", "\t\telse", "\t\t\tcpu_relax();",
                           "\t\tspin_lock(lock);"]


def test_the_python_applier_finds_a_shifted_hunk_and_refuses_a_stale_one() -> None:
    (file_patch,) = read_patch(RETURN_BUG)
    original = (TREE / file_patch.path).read_text().splitlines()
    shifted = ["/* a new first line */", *original]
    assert apply_hunks(shifted, file_patch.hunks)[1:] == apply_hunks(original,
                                                                     file_patch.hunks)
    stale = [line.replace("spin_unlock(lock);", "spin_unlock_irq(lock);") for line in original]
    with pytest.raises(ScenarioError, match="hunk #1 does not apply"):
        apply_hunks(stale, file_patch.hunks)


def test_without_the_patch_program_python_applies_the_patch(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    with_program, without = copy_tree(tmp_path / "a"), copy_tree(tmp_path / "b")
    apply_patches(with_program, [RETURN_BUG])
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert shutil.which("patch") is None
    apply_patches(without, [RETURN_BUG])
    core = Path("kernel") / "sched" / "core.c"
    assert (without / core).read_text() == (with_program / core).read_text()
    stale = tmp_path / "stale.patch"
    stale.write_text(RETURN_BUG.read_text().replace(" \t\tspin_unlock(lock);",
                                                    " \t\tspin_unlock_irq(lock);"))
    with pytest.raises(ScenarioError, match=r"hunk #1 for kernel/sched/core\.c does not apply"):
        apply_patches(copy_tree(tmp_path / "c"), [stale])


# ---------------------------------------------------------------- diff --patch

@pytest.mark.slow
def test_diff_takes_the_patch_as_its_change() -> None:
    """Base: the tree as it is; change: the tree with the patch. The broken return value is
    a regression (it held without the patch)."""
    code, out, err = run("diff", "--kernel-tree", TREE, "--patch", RETURN_BUG, CONTENDED)
    assert code == 1, out + err
    assert f"lockbreak diff: {TREE} -> with {RETURN_BUG}" in out
    assert ("contended-break-v6.11 break_return_truth [v6.11, qspinlock, full]  "
            f"({CONTENDED}): holds -> violated") in out
    assert "1 regression" in out


def test_diff_wants_one_change() -> None:
    code, _, err = run("diff", "--kernel-tree", TREE, CONTENDED)
    assert code == 2 and "needs the change: --patch FILE.patch" in err
    code, _, err = run("diff", "--base", "HEAD", "--kernel-tree", TREE, "--patch", RETURN_BUG)
    assert code == 2 and "give one of them" in err
    code, _, err = run("diff")
    assert code == 2 and "give --base REV, or --kernel-tree DIR with --patch" in err
    code, _, err = run("diff", "--base", "HEAD", "--version", "v6.11")
    assert code == 2 and "--version names the era a kernel tree builds on" in err


# ---------------------------------------------------------------- the documentation

def doc_blocks() -> list[str]:
    text = (REPO / "docs" / "kernel-tree.md").read_text()
    return re.findall(r"^```text[^\n]*\n(.*?)^```", text, re.M | re.S)


def test_the_provenance_shown_in_the_docs_is_what_check_prints(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    monkeypatch.chdir(REPO)
    _, _, err = run("check", "--kernel-tree", TREE.relative_to(REPO), "--patch",
                    RETURN_BUG.relative_to(REPO), "-p", "break_return_truth", "--trace-dir",
                    tmp_path, CONTENDED.relative_to(REPO))
    assert doc_blocks()[0] == err


def test_the_bodies_shown_in_the_docs_are_the_translation() -> None:
    bodies = era_from_tree(TREE, get_era("v6.11")).bodies
    assert doc_blocks()[1:3] == [bodies["cond_resched_lock"], bodies["_cond_resched"]]


V5_17_NEEDBREAK = """static inline int spin_needbreak(spinlock_t *lock)
{
#ifdef CONFIG_PREEMPTION
	return spin_is_contended(lock);
#else
	return 0;
#endif
}"""


@pytest.mark.parametrize("preempt", ["none", "full"])
def test_an_ifdef_inside_a_body_follows_the_scenario(tmp_path: Path, preempt: str) -> None:
    """A v5.17-shaped spin_needbreak (the build, not the booted model, decides) on a v5.17
    base gives the bundled v5.17 verdicts in a preemptible and a non-preemptible kernel."""
    copy = copy_tree(tmp_path)
    header = copy / "include" / "linux" / "spinlock.h"
    text = header.read_text()
    start = text.index("static inline int spin_needbreak")
    end = text.index("}", start) + 1
    header.write_text(text[:start] + V5_17_NEEDBREAK + text[end:])
    tree = era_from_tree(copy, get_era("v5.17"))
    assert tree.bodies["spin_needbreak"] == (
        "if (IS_ENABLED(CONFIG_PREEMPTION)) {\n    return spin_is_contended(lock);\n}\n"
        "if (!IS_ENABLED(CONFIG_PREEMPTION)) {\n    return 0;\n}\n")
    path = REPO / "scenarios" / "zone-batch-needbreak-v5.17.toml"
    scenario = load(path, Overrides(preempt=preempt))
    ours = check_scenario(tree.under(scenario), CheckRequest())
    bundled = check_scenario(scenario, CheckRequest())
    assert ([(v.result.status, v.result.worst, v.result.stats.states) for v in ours.verdicts]
            == [(v.result.status, v.result.worst, v.result.stats.states)
                for v in bundled.verdicts])


def test_a_trace_of_the_trees_era_is_not_replayed_under_the_bundled_one(tmp_path: Path) -> None:
    """The scenario's digest covers the tree's bodies: replaying the counterexample of the
    patched tree under the bundled v6.11 is refused, never shown as not reproduced."""
    code, out, err = run("check", "--kernel-tree", TREE, "--patch", RETURN_BUG,
                         "-p", "break_return_truth", "--trace-dir", tmp_path, CONTENDED)
    assert code == 1, out + err
    (trace,) = tmp_path.glob("*.json")
    code, out, err = run("replay", trace)
    assert code == 2
    assert "changed since this trace was written" in err
    scenario = load(CONTENDED, Overrides())
    plain = era_from_tree(TREE, get_era("v6.11")).under(scenario)
    patched = build(TREE, [RETURN_BUG], None).under(scenario)
    assert len({scenario.sha256, plain.sha256, patched.sha256}) == 3


OUT_OF_LINE = """
#if !defined(CONFIG_PREEMPTION) || defined(CONFIG_PREEMPT_DYNAMIC)
int __sched _cond_resched(void)
{
	if (should_resched(0)) {
		preempt_schedule_common();
		return 1;
	}
	return 0;
}
EXPORT_SYMBOL(_cond_resched);
#endif
"""


@pytest.mark.parametrize("preempt", ["voluntary", "full"])
def test_a_primitive_split_between_header_and_scheduler(tmp_path: Path, preempt: str) -> None:
    """As before v5.15, _cond_resched() defined out of line in the scheduler for one
    configuration and inline in <linux/sched.h> for the other: both are read."""
    copy = copy_tree(tmp_path)
    sched_h = copy / "include" / "linux" / "sched.h"
    text = sched_h.read_text()
    start = text.index("#if !defined(CONFIG_PREEMPTION) || defined(CONFIG_PREEMPT_DYNAMIC)")
    end = text.index("#else /* CONFIG_PREEMPTION && !CONFIG_PREEMPT_DYNAMIC */")
    sched_h.write_text(text[:start] + "#if !defined(CONFIG_PREEMPTION) || "
                       "defined(CONFIG_PREEMPT_DYNAMIC)\nextern int _cond_resched(void);\n"
                       + text[end:])
    with (copy / "kernel" / "sched" / "core.c").open("a") as core:
        core.write(OUT_OF_LINE)
    tree = era_from_tree(copy, get_era("v6.11"), "t")
    (origin,) = [o for o in tree.origins if o.primitive == "_cond_resched"]
    assert origin.where == "t/include/linux/sched.h:16, t/kernel/sched/core.c:95"
    path = REPO / "scenarios" / "irqsave-break-v6.11.toml"
    scenario = load(path, Overrides(preempt=preempt))
    ours = check_scenario(tree.under(scenario), CheckRequest())
    bundled = check_scenario(scenario, CheckRequest())
    assert ([(v.result.status, v.result.worst, v.result.stats.states) for v in ours.verdicts]
            == [(v.result.status, v.result.worst, v.result.stats.states)
                for v in bundled.verdicts])


def test_what_tree_sitter_cannot_read_is_named_where_it_stands(tmp_path: Path) -> None:
    copy = copy_tree(tmp_path)
    edit(copy / "include" / "linux" / "spinlock.h", "\treturn spin_is_contended(lock);",
         "\treturn spin_is_contended(lock) +;")
    with pytest.raises(ScenarioError) as err:
        era_from_tree(copy, get_era("v6.11"), "t")
    assert err.value.file == "t/include/linux/spinlock.h"
    assert err.value.line == 21
    assert "not understood in spin_needbreak" in str(err.value)


def test_an_undecided_ifdef_matters_only_when_its_branch_does(tmp_path: Path) -> None:
    copy = copy_tree(tmp_path)
    core = copy / "kernel" / "sched" / "core.c"
    edit(core, "\tlockdep_assert_held(lock);\n",
         "#ifdef CONFIG_SCHED_QUIRK\n\tlockdep_assert_held(lock);\n#endif\n")
    plain = era_from_tree(TREE, get_era("v6.11")).bodies
    assert era_from_tree(copy, get_era("v6.11")).bodies == plain
    edit(core, "#ifdef CONFIG_SCHED_QUIRK\n\tlockdep_assert_held(lock);\n",
         "#ifdef CONFIG_SCHED_QUIRK\n\tcpu_relax();\n")
    with pytest.raises(ScenarioError, match="CONFIG_SCHED_QUIRK is neither modelled nor fixed"):
        era_from_tree(copy, get_era("v6.11"))
