"""Deliberately broken variants of real eras, each caught by a named property.

Each variant is a real era with one line of its kernel C taken out or changed (`Era.patch`),
run on the nested scenario of docs/semantics.md section 9 through ``build_world(..., era=...)``.
For each: the named property is violated by a short, pinned counterexample that ends at the
broken line, and the unbroken era passes the same property on the same scenario (with its
witness reached), so the property bites on the bug and on nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from lockbreak.core import Status
from model.eras import Era, Primitive, get_era
from model.kernel import describe_run
from tests.support.helpers import (
    NESTED_CPU0,
    NESTED_CPU1,
    check_by_name,
    kernel_model,
    scenario_toml,
)


def patched(base: str, primitive: str, old: str, new: str, name: str) -> Era:
    """``base`` with ``old`` replaced by ``new`` in the C body of ``primitive``."""
    era = get_era(base)
    prim = era.primitives[primitive]
    assert prim.body.count(old) == 1, f"{base} {primitive} no longer contains {old!r}"
    body = prim.body.replace(old, new)
    return era.patch(f"{base}-{name}", summary=name, source=f"tests: {base} {primitive}",
                     **{primitive: Primitive(body, prim.returns, prim.takes_lock)})


@dataclass(frozen=True)
class Variant:
    name: str
    base: str
    primitive: str
    old: str
    new: str
    property: str
    trace_length: int       # the shortest counterexample, in steps
    ending: tuple[str, ...]  # what the last steps of that counterexample did
    wakeups: int = 0        # on CPU0

    def era(self) -> Era:
        return patched(self.base, self.primitive, self.old, self.new, self.name)


RELOCK = "            spin_lock(lock);\n        }\n        if (need_resched() && __resched_legal())"

VARIANTS = [
    # (a) v2.6.12's acquire forgets to clear the flag: a flag set by a waiter that has since
    # got the lock makes the next lock-break site drop B with nobody waiting
    Variant("break-lock-never-cleared", "v2.6.12", "spin_lock",
            "    lock->break_lock = 0;\n", "",
            "no_spurious_break", 23,
            ("cond_resched_lock(B) > spin_lock(B): arch_spin_trylock(B) -> acquired",)),
    # (b) the relock is one trylock, with no retry when it fails
    Variant("relock-single-trylock", "v2.6.12", "cond_resched_lock", RELOCK,
            "            preempt_disable();\n            arch_spin_trylock(lock);\n        }\n"
            "        if (need_resched() && __resched_legal())",
            "mutual_exclusion", 25,
            ("cond_resched_lock(B): arch_spin_trylock(B) -> fails: held by cpu1",
             "cond_resched_lock(B): need_resched() -> 0; "
             "cond_resched_lock(B) returns 1 after dropping B")),
    # (c) no relock at all (preempt_disable kept, so preempt_count stays balanced and the
    # bug shows as a second holder rather than as an unpaired preempt_enable)
    Variant("no-relock", "v2.6.12", "cond_resched_lock", RELOCK,
            "            preempt_disable();\n        }\n"
            "        if (need_resched() && __resched_legal())",
            "mutual_exclusion", 24,
            ("cond_resched_lock(B): need_resched() -> 0; "
             "cond_resched_lock(B) returns 1 after dropping B",
             "spin_lock(B): arch_spin_is_locked(B) -> unlocked",
             "spin_lock(B): preempt_disable()",
             "spin_lock(B): arch_spin_trylock(B) -> acquired")),
    # (d) it drops for the flag but returns 0
    Variant("returns-0-after-dropping", "v2.6.12", "cond_resched_lock",
            "            cpu_relax();\n            ret = 1;\n", "            cpu_relax();\n",
            "break_return_truth", 23,
            ("cond_resched_lock(B): need_resched() -> 0; "
             "cond_resched_lock(B) returns 0 after dropping B",)),
    # (e) it schedules for need_resched without testing preempt_count first
    Variant("resched-without-count-test", "v4.15", "cond_resched_lock",
            "preempt_count() == PREEMPT_LOCK_OFFSET && need_resched()", "need_resched()",
            "no_sleep_in_atomic", 11,
            ("cond_resched_lock(B): schedule() -> scheduling while atomic: preempt_count=1",),
            wakeups=1),
    Variant("resched-without-resched-legal", "v2.6.12", "cond_resched_lock",
            "need_resched() && __resched_legal()", "need_resched()",
            "no_sleep_in_atomic", 13,
            ("cond_resched_lock(B): schedule() -> scheduling while atomic: preempt_count=1",),
            wakeups=1),
]


def nested(variant: Variant) -> str:
    return scenario_toml(variant.base, [(NESTED_CPU0, variant.wakeups), NESTED_CPU1])


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.name for v in VARIANTS])
def test_broken_variant_is_caught_by_a_short_trace(tmp_path: Path, variant: Variant) -> None:
    model = kernel_model(tmp_path, nested(variant), era=variant.era())
    result = check_by_name(model, [variant.property])[variant.property]
    assert result.status is Status.VIOLATED
    assert result.trace is not None
    assert len(result.trace) == variant.trace_length
    steps = describe_run(model, result.trace.init, [step.action for step in result.trace.steps])
    assert tuple(step.text for step in steps[-len(variant.ending):]) == variant.ending


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.name for v in VARIANTS])
def test_unbroken_era_passes_the_same_property(tmp_path: Path, variant: Variant) -> None:
    model = kernel_model(tmp_path, nested(variant))
    assert model.world.era is get_era(variant.base)
    result = check_by_name(model, [variant.property])[variant.property]
    assert result.status is Status.HOLDS


def test_every_variant_changes_its_era() -> None:
    """A patch whose text no longer matches would silently test the real era."""
    for variant in VARIANTS:
        broken, real = variant.era(), get_era(variant.base)
        assert (broken.primitives[variant.primitive].body
                != real.primitives[variant.primitive].body)
        others = set(real.primitives) - {variant.primitive}
        assert all(broken.primitives[p] == real.primitives[p] for p in others)
