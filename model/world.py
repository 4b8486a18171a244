"""A scenario compiled for one era, lock algorithm and preemption model: what the model runs."""

from __future__ import annotations

from dataclasses import dataclass, replace

from model.build import BuildConfig, LockInfo
from model.compile import compile_cpu
from model.eras import Era, get_era, with_preempt_rt
from model.locks import kind_algorithm, spin_algorithm
from model.program import Program
from model.scenario.types import Scenario


@dataclass(frozen=True)
class World:
    """Everything the interpreter needs, fixed before exploration starts."""

    scenario: Scenario
    era: Era
    config: BuildConfig
    locks: tuple[LockInfo, ...]
    data: tuple[str, ...]
    programs: tuple[Program, ...]
    wakeups: tuple[int, ...]
    forever: tuple[bool, ...]
    lazy_wakeups: tuple[int, ...] = ()

    @property
    def lazy(self) -> tuple[int, ...]:
        """Per CPU, the wakeups that set the lazy flag (none but under ``preempt = "lazy"``);
        ``wakeups`` are those that set need_resched at once."""
        return self.lazy_wakeups or (0,) * len(self.programs)

    @property
    def n_cpus(self) -> int:
        return len(self.programs)

    @property
    def lock_algorithm(self) -> str:
        """The spinlock algorithm in force (``up`` without SMP, ``rtmutex`` under rt); with
        no spinlock, the first lock's (``rwlock``, ``mutex``, ``rwsem``); with no lock at all,
        the one a spinlock would have."""
        spins = [lock.algorithm.name for lock in self.locks if lock.kind == "spin"]
        if spins:
            return spins[0]
        return self.locks[0].algorithm.name if self.locks else spin_algorithm_name(self.scenario)


def spin_algorithm_name(scenario: Scenario) -> str:
    k = scenario.kernel
    if not k.smp:
        return "up"
    if k.preempt == "rt":
        return "rtmutex"
    return k.lock


def _patched(era: Era, scenario: Scenario) -> Era:
    """``era`` with the primitives that the scenario's ``[patch]`` table replaces."""
    patch = scenario.patch
    assert patch is not None
    replaced = {name: replace(era.primitives[name], body=p.body,
                              origin=(p.file or str(scenario.path), p.line, p.col))
                for name, p in patch.primitives.items()}
    return era.patch(patch.name, patch.summary, f"{era.source}; patched by {scenario.path}",
                     **replaced)


def build_world(scenario: Scenario, era: Era | None = None) -> World:
    """Compile every CPU of ``scenario``; ``era`` replaces the scenario's (broken variants)."""
    k = scenario.kernel
    era = era or get_era(k.version)
    if scenario.patch is not None:
        era = _patched(era, scenario)
    if k.preempt == "rt":
        era = with_preempt_rt(era)
    config = BuildConfig(preempt=k.preempt, preempt_dynamic=k.preempt_dynamic, smp=k.smp,
                         generic_lockbreak=k.generic_lockbreak)
    n = len(scenario.cpus)
    spin = spin_algorithm(spin_algorithm_name(scenario), n)
    locks = tuple(LockInfo(i, name, kind, kind_algorithm(kind, spin))
                  for i, (name, kind) in enumerate(scenario.locks.items()))
    by_name = {lock.name: lock for lock in locks}
    data = tuple(scenario.data)
    data_index = {name: i for i, name in enumerate(data)}
    programs = tuple(
        compile_cpu(cpu.code, era=era, config=config, locks=by_name, data=data_index,
                    drop_every=k.drop_every)
        for cpu in scenario.cpus)
    # A fair-class wakeup sets the lazy flag only where the lazy model is booted
    # (get_lazy_tif_bit(), v6.13 kernel/sched/core.c); elsewhere it sets need_resched.
    lazy = tuple(cpu.lazy_wakeups if k.preempt == "lazy" else 0 for cpu in scenario.cpus)
    return World(scenario, era, config, locks, data, programs,
                 tuple(cpu.wakeups - n for cpu, n in zip(scenario.cpus, lazy, strict=True)),
                 tuple(cpu.forever for cpu in scenario.cpus), lazy)
