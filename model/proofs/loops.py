"""The lock-break loops that `lockbreak prove` runs on every CPU, compiled from an era.

Every CPU runs the same code forever; ``flat`` holds only ``L`` at the lock-break site,
``nested`` also holds a CPU-private lock (its only effect on ``L`` is one more
``preempt_count``, so it is written ``preempt_disable()``), which is what makes a reschedule
inside ``cond_resched_lock`` a schedule while atomic (docs/semantics.md section 9).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from lockbreak.core import LockbreakError
from model.build import BuildConfig, LockInfo
from model.compile import compile_cpu
from model.eras import Era
from model.lang.parser import parse_code
from model.locks import spin_algorithm
from model.program import Op, Program
from model.scenario.types import Cpu, Kernel, Scenario
from model.world import World

LOOPS: Mapping[str, str] = MappingProxyType({
    "flat": "forever { spin_lock(L); work(); cond_resched_lock(L); spin_unlock(L); }",
    "nested": "forever { preempt_disable(); spin_lock(L); work(); cond_resched_lock(L); "
              "spin_unlock(L); preempt_enable(); }",
})
PROVABLE_LOCKS = ("tas", "ticket", "qspinlock")


@dataclass(frozen=True)
class Loop:
    """One loop shape compiled for one era and lock algorithm (preempt ``full``, SMP)."""

    era: Era
    lock: str
    shape: str
    program: Program
    config: BuildConfig

    @property
    def code(self) -> str:
        return LOOPS[self.shape]

    def step_pcs(self) -> tuple[int, ...]:
        """The step instructions reachable from the start: the program points a CPU rests at."""
        code = self.program.code
        seen: set[int] = set()
        todo = [0]
        steps = set()
        while todo:
            pc = todo.pop()
            if pc in seen or pc >= len(code):
                continue
            seen.add(pc)
            instr = code[pc]
            if instr.is_step:
                steps.add(pc)
            if instr.op is not Op.JUMP:
                todo.append(pc + 1)
            if instr.target >= 0:
                todo.append(instr.target)
        return tuple(sorted(steps))


def compile_loop(era: Era, lock: str | None = None, shape: str = "flat") -> Loop:
    """The loop ``shape`` under ``era`` with lock algorithm ``lock`` (default: the era's).

    >>> from model.eras import get_era
    >>> loop = compile_loop(get_era("v2.6.25"), shape="nested")
    >>> loop.lock, loop.program.code[0].text, len(loop.step_pcs())
    ('ticket', 'preempt_disable()', 20)
    """
    lock = lock or era.default_lock
    if lock not in PROVABLE_LOCKS:
        raise LockbreakError(f"lock {lock!r}: proofs cover {', '.join(PROVABLE_LOCKS)}")
    config = BuildConfig(preempt="full", preempt_dynamic=False, smp=True,
                         generic_lockbreak=era.default_generic_lockbreak and lock == "tas")
    algorithm = spin_algorithm(lock, 2)
    code = parse_code(LOOPS[shape], file=f"<{shape} loop>", mode="scenario")
    program = compile_cpu(code, era=era, config=config,
                          locks={"L": LockInfo(0, "L", "spin", algorithm)}, data={})
    return Loop(era, lock, shape, program, config)


def explicit_world(loop: Loop, n_cpus: int, wakeups: int) -> World:
    """The same loop on ``n_cpus`` concrete CPUs, for the explicit model (agreement, filtering)."""
    kernel = Kernel(version=loop.era.name, lock=loop.lock, preempt="full",
                    generic_lockbreak=loop.config.generic_lockbreak)
    code = parse_code(loop.code, file=f"<{loop.shape} loop>", mode="scenario")
    cpus = tuple(Cpu(i, code, wakeups=wakeups, forever=True) for i in range(n_cpus))
    scenario = Scenario(Path(f"<{loop.shape} loop>"), f"{loop.shape}-loop", "", kernel,
                        {"L": "spin"}, {}, cpus, {}, "")
    algorithm = spin_algorithm(loop.lock, n_cpus)
    locks = (LockInfo(0, "L", "spin", algorithm),)
    programs = tuple(
        compile_cpu(code, era=loop.era, config=loop.config, locks={"L": locks[0]}, data={})
        for _ in cpus)
    return World(scenario, loop.era, loop.config, locks, (), programs,
                 tuple(wakeups for _ in cpus), tuple(True for _ in cpus))
