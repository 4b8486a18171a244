"""Constructs of the scenario language that an engine other than the explicit interpreter
does not model yet, refused at the scenario line that uses them (or, for the lazy
preemption model, at the ``[kernel]`` line that chooses it).

The z3 twin (`model.symbolic`) and the Promela export (`model.promela`) translate compiled
instructions one by one; an instruction they have no rule for must stop them with an error
that names the construct and where the scenario uses it, not with a wrong model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from lockbreak.core import ScenarioError
from model.program import Op
from model.world import World

# The instructions only the explicit engines interpret, each with the construct it comes from.
EXPLICIT_ONLY: Mapping[Op, str] = MappingProxyType({
    Op.NONDET: "the nondeterministic guard * (nondet())",
    Op.IRQ_DISABLE: "disabling interrupts (local_irq_disable/save, the _irq and _irqsave "
                    "lock forms)",
    Op.IRQ_ENABLE: "enabling interrupts (local_irq_enable/restore, the _irq and "
                   "_irqrestore unlock forms)",
    Op.DATA_GET: "pins (get(X))",
    Op.DATA_PUT: "pins (put(X))",
})


# The preemption models only the explicit engines model: the lazy flag and the scheduler
# tick that promotes it are environment actions the z3 twin and the Promela export lack.
EXPLICIT_ONLY_PREEMPT: Mapping[str, str] = MappingProxyType({
    "lazy": 'preempt = "lazy" (the lazy flag, TIF_NEED_RESCHED_LAZY, and the tick that '
            "promotes it)",
})


@dataclass(frozen=True)
class Unmodelled:
    """A construct only the explicit engines model, and where the scenario uses it."""

    construct: str
    user: str           # "cpu0's code uses here", "the scenario chooses"
    line: int
    col: int


def first_unmodelled(world: World) -> Unmodelled | None:
    """The first construct of ``world`` that only the explicit engines model (its preemption
    model, then the CPUs' instructions in order), or None (benchmarks and sweeps over the
    public scenarios skip those that have one)."""
    kernel = world.scenario.kernel
    if kernel.preempt in EXPLICIT_ONLY_PREEMPT:
        line, col = kernel.preempt_at
        return Unmodelled(EXPLICIT_ONLY_PREEMPT[kernel.preempt],
                          "the scenario chooses" if line else "--preempt chooses", line, col)
    for cpu, program in enumerate(world.programs):
        for instr in program.code:
            if instr.op in EXPLICIT_ONLY:
                return Unmodelled(EXPLICIT_ONLY[instr.op], f"cpu{cpu}'s code uses here",
                                  instr.pos.line, instr.pos.col)
    return None


def refuse_unmodelled(world: World, engine: str) -> None:
    """Raise a `ScenarioError` at the first use of a construct ``engine`` cannot model.

    >>> EXPLICIT_ONLY[Op.NONDET]
    'the nondeterministic guard * (nondet())'
    """
    found = first_unmodelled(world)
    if found is not None:
        raise ScenarioError(
            f"{engine} does not model {found.construct}, which {found.user}",
            file=str(world.scenario.path), line=found.line, col=found.col,
            hint="check this scenario with the explicit engines (lockbreak check without "
                 "--engine z3), which model it")
