"""The kernel model's states and transitions in kernel words, for traces, properties and tests.

The engines see packed ints; what a person reads is a `WorldView` (each CPU's next step,
preempt_count, need_resched, the locks it holds and waits for; each lock's word and
``break_lock``; the stale snapshots) and, per transition, a `StepInfo`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from model.actions import Action
from model.events import Event
from model.layout import COUNT, NEED, NEED_LAZY, NEED_RESCHED, PC
from model.program import Instr
from model.world import World


@dataclass(frozen=True)
class StepInfo:
    """What one transition did, in kernel words (for traces and tests)."""

    action: Action
    text: str                 # "spin_lock(B) > arch_spin_trylock(B) -> fails: held by cpu0"
    events: Event
    instr: Instr | None       # the step instruction executed (None: preemption or wakeup)


@dataclass(frozen=True)
class CpuView:
    name: str
    at: str                   # the next step, in kernel words, or "finished"
    preempt_count: int
    need_resched: int
    wakeups_left: int
    holds: tuple[str, ...]
    waits_for: tuple[str, ...]
    finished: bool
    need_resched_lazy: int = 0


@dataclass(frozen=True)
class LockView:
    name: str
    word: str
    break_lock: int


@dataclass(frozen=True)
class WorldView:
    cpus: tuple[CpuView, ...]
    locks: tuple[LockView, ...]
    stale: tuple[str, ...]    # "cpu1:transaction" for each stale snapshot


def world_view(world: World, shared: tuple, locals_: Sequence[tuple[int, ...]],
               wakeups_left: Callable[[int, tuple[int, ...]], tuple[int, int]]) -> WorldView:
    """The state of ``world`` with shared part ``shared`` and CPU parts ``locals_``;
    ``wakeups_left(cpu, local)`` says how many wakeups of each kind a CPU may still get."""
    cpus = []
    for i, local in enumerate(locals_):
        holds, waits = [], []
        for lock in world.locks:
            cell = shared[lock.index]
            if (cell.holders | cell.writers) >> i & 1:
                suffix = "(r)" if lock.has_readers and not cell.writers >> i & 1 else ""
                holds.append(lock.name + suffix)
            if cell.waiters >> i & 1:
                waits.append(lock.name)
        pc = local[PC]
        code = world.programs[i].code
        finished = pc >= len(code)
        at = "finished" if finished else code[pc].words
        cpus.append(CpuView(f"cpu{i}", at, local[COUNT],
                            int(local[NEED] == NEED_RESCHED), sum(wakeups_left(i, local)),
                            tuple(holds), tuple(waits), finished,
                            int(local[NEED] == NEED_LAZY)))
    locks = tuple(LockView(lock.name, lock.algorithm.describe(shared[lock.index].word),
                           shared[lock.index].flag) for lock in world.locks)
    stale = []
    base = len(world.locks)
    for d, name in enumerate(world.data):
        stale_mask = shared[base + d].stale
        stale += [f"cpu{i}:{name}" for i in range(len(locals_)) if stale_mask >> i & 1]
    return WorldView(tuple(cpus), locks, tuple(stale))


class Stepper(Protocol):
    """A model that says what a transition did (`model.kernel.KernelModel`)."""

    def step_info(self, state: int, action: Action) -> StepInfo: ...

    def next_state(self, state: int, action: Action) -> int: ...


def describe_run(model: Stepper, init: int, actions: Iterable[Action]) -> list[StepInfo]:
    """Step infos along a run from ``init`` (used by trace rendering and tests)."""
    infos = []
    state = init
    for action in actions:
        infos.append(model.step_info(state, action))
        state = model.next_state(state, action)
    return infos
