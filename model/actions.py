"""What moves the kernel model, and what a property asks of its moves.

An `Action` is a CPU's next step (or the other outcome of its `*` guard) or the environment
acting on a CPU: a wakeup, and under ``preempt = "lazy"`` a lazy wakeup or the scheduler
tick. A `PropertySpec` is a property as the model observes it: the events that violate and
witness it, and for the FAIR and WORST kinds the `Obligation` whose staying open breaks it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from lockbreak.core import PropertyKind
from model.events import Event


@dataclass(frozen=True)
class Action:
    """A CPU's next step, or the environment acting on a CPU (``wakeup``).

    The environment's ``env`` is ``""`` for a wakeup that sets need_resched, and under
    ``preempt = "lazy"`` (docs/semantics.md section 4) ``"lazy"`` for a wakeup that sets the
    lazy flag, ``"tick"`` for the scheduler tick that promotes it to need_resched. At a ``*``
    guard a CPU's step has two outcomes: ``choice = 0`` takes it false (the plain step),
    ``choice = 1`` true.
    """

    cpu: int
    wakeup: bool = False
    choice: int = 0
    env: str = ""

    def __str__(self) -> str:
        if self.wakeup:
            return f"{ENV_NAMES[self.env]}(cpu{self.cpu})"
        return f"cpu{self.cpu}" + (" (* true)" if self.choice else "")

    @property
    def env_text(self) -> str:
        """What the environment did, for a trace line (``wakeup`` actions only)."""
        return ENV_TEXTS[self.env].format(cpu=self.cpu)


ENV_GROUPS = {"": 0, "lazy": 1, "tick": 2}
ENV_NAMES = {"": "wakeup", "lazy": "lazy_wakeup", "tick": "sched_tick"}
ENV_TEXTS = {"": "wakes cpu{cpu}: need_resched = 1",
             "lazy": "wakes cpu{cpu} lazily: TIF_NEED_RESCHED_LAZY = 1, need_resched() still 0",
             "tick": "sched_tick() on cpu{cpu}: the lazy flag becomes need_resched = 1"}


class Obligation(enum.Enum):
    """What a FAIR or WORST property waits for, per CPU (see `KernelModel.obligations`)."""

    NONE = "none"
    ACQUIRE = "acquire"     # open from a failed first attempt until the lock is taken
    WAKEUP = "wakeup"       # open from a wakeup (need_resched set) until the CPU schedules
    FINISH = "finish"       # open until a CPU that must finish has finished


@dataclass(frozen=True)
class PropertySpec:
    """A property as the kernel model observes it: events that violate and that witness it,
    and, for the FAIR and WORST kinds, the obligation whose staying open breaks it."""

    name: str
    kind: PropertyKind
    violated_by: Event
    witnessed_by: Event
    obligation: Obligation = Obligation.NONE
