"""A kernel tree read as an x86 build reads it: the architecture's preempt.h before the generic
one, x86's preempt word (need_resched kept inverted in it), and the might-sleep offset of
cond_resched_lock() spelled as trees from v5.19 on spell it.

The headers are written here in the kernel's style, on a copy of the v6.11-like fixture tree,
and the era must still give exactly what the bundled v6.11 era gives.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lockbreak.core import ScenarioError
from lockbreak.pipeline import CheckRequest, Overrides, check_scenario, load
from model.cfront.primitives import era_from_tree
from model.eras import get_era
from tests.support.paths import REPO, TESTS

TREE = TESTS / "data" / "trees" / "v6.11-like"
SCENARIOS = REPO / "scenarios"

X86_PREEMPT_H = """\
/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __ASM_X86_PREEMPT_H
#define __ASM_X86_PREEMPT_H

DECLARE_PER_CPU(int, __preempt_count);

/*
 * The resched bit is kept inverted in the preempt word, so that a single
 * compare against zero says "preemptible and a reschedule is due".
 */
#define PREEMPT_NEED_RESCHED	0x80000000

static __always_inline bool should_resched(int preempt_offset)
{
	return unlikely(raw_cpu_read_4(__preempt_count) == preempt_offset);
}

#endif /* __ASM_X86_PREEMPT_H */
"""

RESCHED_OFFSETS = """\
#ifndef CONFIG_PREEMPT_RT
# define PREEMPT_LOCK_RESCHED_OFFSETS	PREEMPT_LOCK_OFFSET
#else
# define PREEMPT_LOCK_RESCHED_OFFSETS	\\
	(PREEMPT_LOCK_OFFSET + (1U << MIGHT_RESCHED_RCU_SHIFT))
#endif

"""


def x86_tree(tmp_path: Path, should_resched: str = X86_PREEMPT_H) -> Path:
    copy = tmp_path / "tree"
    shutil.copytree(TREE, copy)
    arch = copy / "arch" / "x86" / "include" / "asm"
    arch.mkdir(parents=True)
    (arch / "preempt.h").write_text(should_resched)
    sched_h = copy / "include" / "linux" / "sched.h"
    text = sched_h.read_text()
    macro = "#define cond_resched_lock(lock)"
    assert macro in text and text.count("PREEMPT_LOCK_OFFSET);") == 3
    text = text.replace(macro, RESCHED_OFFSETS + macro)
    sched_h.write_text(text.replace("PREEMPT_LOCK_OFFSET);", "PREEMPT_LOCK_RESCHED_OFFSETS);"))
    return copy


def outcome(path: Path, tree: Path | None, preempt: str | None
            ) -> list[tuple[str, str, int | None, int]]:
    scenario = load(path, Overrides(version="v6.11", preempt=preempt))
    if tree is not None:
        scenario = era_from_tree(tree, get_era("v6.11")).under(scenario)
    checked = check_scenario(scenario, CheckRequest())
    return [(v.result.property, v.result.status.value, v.result.worst, v.result.stats.states)
            for v in checked.verdicts]


def test_should_resched_comes_from_the_x86_header(tmp_path: Path) -> None:
    tree = era_from_tree(x86_tree(tmp_path), get_era("v6.11"), "t")
    body = tree.bodies["_cond_resched"]
    assert "(preempt_count() == 0 && need_resched())" in body, body
    assert "raw_cpu_read_4" not in body
    expanded = {h.function: h.where for h in tree.helpers}
    assert expanded["should_resched"] == "t/arch/x86/include/asm/preempt.h:13"


def test_the_resched_offsets_are_the_lock_offset(tmp_path: Path) -> None:
    tree = era_from_tree(x86_tree(tmp_path), get_era("v6.11"), "t")
    assert tree.bodies["cond_resched_lock"].startswith("__might_resched(PREEMPT_LOCK_OFFSET);")


@pytest.mark.parametrize("preempt", [None, "none", "full", "rt"])
@pytest.mark.parametrize("name", ["preempt-dynamic-none-v6.11", "rwlock-write-break-v5.17"])
def test_the_x86_tree_agrees_with_the_bundled_era(tmp_path: Path, name: str,
                                                  preempt: str | None) -> None:
    path = SCENARIOS / f"{name}.toml"
    assert outcome(path, x86_tree(tmp_path), preempt) == outcome(path, None, preempt)


def test_the_preempt_word_is_understood_only_compared(tmp_path: Path) -> None:
    ordered = X86_PREEMPT_H.replace("== preempt_offset", "< preempt_offset")
    with pytest.raises(ScenarioError) as err:
        era_from_tree(x86_tree(tmp_path, ordered), get_era("v6.11"), "t")
    assert (err.value.file, err.value.line, err.value.col) == (
        "t/arch/x86/include/asm/preempt.h", 15, 18)
    assert "x86 preempt word is understood only compared with == or !=" in str(err.value)
