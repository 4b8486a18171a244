"""Lockstep timing (docs/semantics.md section 6): time advances in ticks, and in each tick every
unfinished CPU takes exactly one step, in every possible order within the tick.

The state is the interleaving model's packed int with one "moved in this tick" bit per CPU
above the CPUs' parts. A CPU may step only while its bit is clear; the step that leaves no
unmoved CPU able to move ends the tick and clears every bit. A CPU that cannot move (blocked
on an rt lock, or finished) idles through the tick, but one that becomes able to move before
the tick ends still takes its step in it. Wakeups come from the environment, between any two
steps, and take no CPU's turn.
"""

from __future__ import annotations

from collections.abc import Sequence

from lockbreak.core import LockbreakError
from model.kernel import Action, KernelModel, PropertySpec
from model.world import World


def kernel_model(world: World, properties: Sequence[PropertySpec],
                 timing: str | None = None) -> KernelModel:
    """The model of ``world`` under ``timing`` (default: the scenario's own timing)."""
    timing = timing or world.scenario.kernel.timing
    cls = LockstepKernelModel if timing == "lockstep" else KernelModel
    return cls(world, properties)


class LockstepKernelModel(KernelModel):
    """`KernelModel` under lockstep timing; `moves` reports which transitions end a tick."""

    @property
    def factored(self) -> bool:
        return False

    def successors(self, state: int) -> list[tuple[int, int, int, int]]:
        return [(index, after, violated, witnessed)
                for index, (_, after, _, violated, witnessed) in enumerate(self._lockstep(state))]

    def moves(self, state: int) -> list[tuple[int, int, int]]:
        """``(agent, next_state, ticks)``: ticks is 1 for the step that ends a tick."""
        return [(agent, after, ticks) for agent, after, ticks, _, _ in self._lockstep(state)]

    def actions(self, state: int) -> list[Action]:
        moved = self.moved(state)
        return [a for a in super().actions(state & self._core_mask)
                if a.wakeup or not moved >> a.cpu & 1]

    def next_state(self, state: int, action: Action) -> int:
        return self._entry(state, action)[1]

    def observe(self, before: int | None, action: Action | None, after: int) -> tuple[int, int]:
        if before is None or action is None:
            return super().observe(None, None, after & self._core_mask)
        _, _, _, violated, witnessed = self._entry(before, action)
        return violated, witnessed

    def attempt(self, state: int, action: Action) -> tuple[int, int, int] | None:
        """`KernelModel.attempt` under lockstep timing (a CPU that has moved must wait)."""
        if action not in self.actions(state):
            return None
        _, after, _, violated, witnessed = self._entry(state, action)
        return after, violated, witnessed

    def moved(self, state: int) -> int:
        """The CPUs (a bitmask) that have taken their step in the current tick."""
        return state >> self._moved_shift

    def _entry(self, state: int, action: Action) -> tuple[int, int, int, int, int]:
        actions = self.actions(state)
        if action not in actions:
            raise LockbreakError(f"{action} is not enabled in this state")
        return self._lockstep(state)[actions.index(action)]

    def _lockstep(self, state: int) -> list[tuple[int, int, int, int, int]]:
        """``(agent, next_state, ticks, violated, witnessed)`` for each enabled action."""
        moved = self.moved(state)
        core = state & self._core_mask
        out = []
        for agent, after, violated, witnessed in self.transitions(core):
            if agent < 0:
                out.append((agent, after | moved << self._moved_shift, 0, violated, witnessed))
                continue
            if moved >> agent & 1:
                continue
            now = moved | 1 << agent
            ticks = 0
            if not any(self._step(cpu, after) is not None
                       for cpu in range(len(self.agents)) if not now >> cpu & 1):
                now, ticks = 0, 1
            out.append((agent, after | now << self._moved_shift, ticks, violated, witnessed))
        return out
