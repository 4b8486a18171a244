"""Helpers shared by the tests: scenario files written into ``tmp_path``, kernel models, paths.

Each group of helpers below is owned by the tests named in its header; add new groups rather
than rewriting another group's functions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from lockbreak.core import CheckResult, PropertyKind
from lockbreak.engines.plain_bfs import check
from model.eras import Era
from model.kernel import Action, KernelModel, StepInfo
from model.scenario.load import load_scenario
from model.scenario.types import Scenario
from model.world import build_world
from properties.catalogue import KNOWN, of_kind, specs

# ------------------------------------------------------------------------------------------
# Scenario files, kernel models and driven paths (test_semantics_table, test_era_primitives,
# test_broken_variants)

# The nested scenario of the 2004 mail (docs/semantics.md section 9).
NESTED_CPU0 = """
spin_lock(A);
spin_lock(B);
repeat (3) {
    work();
    cond_resched_lock(B);
}
spin_unlock(B);
spin_unlock(A);
"""
NESTED_CPU1 = "spin_lock(C); spin_lock(B); work(); spin_unlock(B); spin_unlock(C);"

CpuSpec = str | tuple[str, int | str]   # code, or (code, wakeups: a count or "{ lazy = 1 }")

# The properties decided on states and transitions (not on fairness or ticks): what the
# kernel-model tests pin.
STATE_PROPERTIES = of_kind(PropertyKind.SAFETY, PropertyKind.CAN_FINISH)


def scenario_toml(version: str, cpus: Sequence[CpuSpec], *, locks: Iterable[str] = "ABC",
                  name: str = "test", **kernel: str | bool | int) -> str:
    """The text of a scenario file: ``[kernel] version`` plus ``kernel`` fields, spin locks
    named by ``locks``, and one ``[[cpu]]`` per entry of ``cpus``.

    >>> print(scenario_toml("v2.6.12", ["spin_lock(B); spin_unlock(B);"], locks="B",
    ...                     preempt="none", smp=False))  # doctest: +NORMALIZE_WHITESPACE
    name = "test"
    [kernel]
    version = "v2.6.12"
    preempt = "none"
    smp = false
    [locks]
    B = "spin"
    [[cpu]]
    wakeups = 0
    code = \"\"\"
    spin_lock(B); spin_unlock(B);
    \"\"\"
    """
    lines = [f'name = "{name}"', "[kernel]", f'version = "{version}"']
    for key, value in kernel.items():
        if isinstance(value, bool):
            lines.append(f"{key} = {'true' if value else 'false'}")
        elif isinstance(value, int):
            lines.append(f"{key} = {value}")
        else:
            lines.append(f'{key} = "{value}"')
    lines.append("[locks]")
    lines += [f'{lock} = "spin"' for lock in locks]
    for cpu in cpus:
        code, wakeups = (cpu, 0) if isinstance(cpu, str) else cpu
        lines += ["[[cpu]]", f"wakeups = {wakeups}", 'code = """', code.strip(), '"""']
    return "\n".join(lines) + "\n"


def load_scenario_text(tmp_path: Path, text: str, filename: str = "scenario.toml") -> Scenario:
    """Write ``text`` into ``tmp_path`` and load it as a checked scenario."""
    path = tmp_path / filename
    path.write_text(text)
    return load_scenario(path, known_properties=KNOWN)


def kernel_model(tmp_path: Path, text: str, era: Era | None = None) -> KernelModel:
    """The kernel model of the scenario ``text`` with the `STATE_PROPERTIES`; ``era`` replaces
    the scenario's era (a deliberately broken variant)."""
    world = build_world(load_scenario_text(tmp_path, text), era=era)
    return KernelModel(world, specs(STATE_PROPERTIES))


def check_by_name(model: KernelModel, properties: Sequence[str]) -> dict[str, CheckResult]:
    """The explicit engine's results for ``properties``, by property name."""
    return {r.property: r for r in check(model, properties=list(properties))}


def parse_action(word: str) -> Action:
    """``"0"`` is cpu0's next step, ``"w1"`` the environment waking cpu1; under the lazy
    preemption model ``"l1"`` wakes cpu1 lazily and ``"t1"`` is the scheduler tick on it."""
    env = {"w": "", "l": "lazy", "t": "tick"}
    if word[0] in env:
        return Action(int(word[1:]), wakeup=True, env=env[word[0]])
    return Action(int(word))


def drive(model: KernelModel, script: Iterable[str], state: int | None = None
          ) -> tuple[int, list[StepInfo], list[int]]:
    """Take the actions of ``script`` (see `parse_action`) from ``state`` (default: the
    initial state): the last state, what each step did, and every state along the way
    (``states[0]`` is the start)."""
    current = model.init_states()[0] if state is None else state
    infos, states = [], [current]
    for word in script:
        action = parse_action(word)
        assert action in model.actions(current), (
            f"{action} is not enabled; cpus: {model.view(current).cpus}")
        infos.append(model.step_info(current, action))
        current = model.next_state(current, action)
        states.append(current)
    return current, infos, states


def first_states(model: KernelModel, limit: int | None = None) -> list[int]:
    """The first ``limit`` reachable states of ``model`` (all of them by default), in
    breadth-first order from its first initial state."""
    states = model.init_states()[:1]
    seen = set(states)
    i = 0
    while i < len(states) and (limit is None or len(states) < limit):
        for _, after, _, _ in model.successors(states[i]):
            if after not in seen:
                seen.add(after)
                states.append(after)
        i += 1
    return states[:limit]
