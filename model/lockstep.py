"""Lockstep timing (docs/semantics.md section 6): time advances in ticks, and in each tick every
arrived, unfinished CPU takes exactly one step, in every possible order within the tick.

A CPU may wait any number of ticks before its first step: it has not arrived yet. Its arrival
is an action of its own, between two ticks, that takes no time and no turn (`ARRIVES`); from
then on it steps in every tick. So the worst cases of `bounded_wait` and `bounded_latency`
are over every arrival of every CPU, not over one phase that a scenario would have to pad
with `work(N)` to vary.

The state is the interleaving model's packed int with, above the CPUs' parts, one "moved in
this tick" bit per CPU and above those one "arrived" bit per CPU. A CPU may step only once it
has arrived and while its moved bit is clear; the step that leaves no unmoved, arrived CPU
able to move ends the tick and clears every moved bit. A CPU that cannot move (blocked on an
rt lock, or finished) idles through the tick, but one that becomes able to move before the
tick ends still takes its step in it. Wakeups come from the environment, between
any two steps, to CPUs that have arrived, and take no CPU's turn.

Under ``preempt = "lazy"`` the scheduler tick that promotes a CPU's lazy flag to need_resched
(`model.kernel.Action`, ``env = "tick"``) comes between two ticks of the lockstep clock, at
any of them: the kernel's tick (HZ) is far longer than the code paths modelled, so its phase
against the wakeup is free, and the worst cases are over every time it may come. One in the
middle of a lockstep tick is the same as one at the tick's start (if the CPU has not moved
yet) or end (if it has): nothing else reads the CPU's flags.

The vectorised engine (`lockbreak.engines.vectorised_bfs`, through the `Lockstep` protocol of
`lockbreak.engines.factored`) searches the same states from parts: a CPU's part is its
interleaving part with its own "arrived" and "moved" bits beside it (``local << 2 | arrived
<< 1 | moved``), so its step, its wakeup and its bookkeeping stay lookups in its own part and
the shared part, and what involves every CPU (arrivals only between ticks, the step that
ends a tick clearing every moved bit) is done by the engine on whole chunks of states.
`split` and `join` are exact inverses on every state, the order of actions is `actions`'
order, and whether a step ends the tick is decided as `_lockstep` decides it (no arrived CPU
that has not moved can step in the state after it); so that engine stores these very states,
in this order, with these edges and ticks.
"""

from __future__ import annotations

from collections.abc import Sequence

from lockbreak.core import LockbreakError
from model.events import Event
from model.kernel import (
    LOCAL_MASK,
    SHARED_MASK,
    Action,
    KernelModel,
    PropertySpec,
    StepInfo,
)
from model.layout import LOCAL_BITS
from model.world import World

ARRIVES = "arrives: it steps in every tick from this one on"
# A CPU's part in the factored view: its interleaving part shifted past these two bits.
_MOVED, _ARRIVED, _TICK_BITS = 1, 2, 2


def kernel_model(world: World, properties: Sequence[PropertySpec],
                 timing: str | None = None) -> KernelModel:
    """The model of ``world`` under ``timing`` (default: the scenario's own timing)."""
    timing = timing or world.scenario.kernel.timing
    cls = LockstepKernelModel if timing == "lockstep" else KernelModel
    return cls(world, properties)


class LockstepKernelModel(KernelModel):
    """`KernelModel` under lockstep timing; `moves` reports which transitions end a tick."""

    def __init__(self, world: World, properties: Sequence[PropertySpec]) -> None:
        super().__init__(world, properties)
        n = world.n_cpus
        # Per successor slot of `KernelModel`, in its order: the action, its CPU, whether it
        # is a wakeup, and the slot (mask, cache, fill).
        actions = [Action(i) for i in range(n)] + [action for action, _ in self.env_actions] + [
            Action(i, choice=1) for i in self.choice_agents]
        self._slot_table = [(action, action.cpu, action.wakeup, slot)
                            for action, slot in zip(actions, self.successor_slots, strict=True)]

    @property
    def factored(self) -> bool:
        """False: the vectorised safety search, whose symmetry and partial-order reduction are
        argued for interleaving timing, leaves this model to the plain engine; the graph of
        its FAIR and WORST properties is searched from its parts through `tick_entry`."""
        return False

    @property
    def searched_from_parts(self) -> bool:
        """Whether the vectorised engine may search this model's graph from its parts: not
        under ``preempt = "lazy"``, whose scheduler tick (an environment action between
        lockstep ticks) the parts do not carry; the plain engine decides those."""
        return not any(self.world.lazy)

    # ------------------------------------------------------------ factored view

    def split(self, state: int) -> tuple[int, ...]:
        """``(shared id, cpu0's part, ...)``, each CPU's part its interleaving part with its
        "arrived" and "moved" bits beside it."""
        n = len(self.agents)
        upper = state >> self.moved_shift
        return (state & SHARED_MASK, *(
            ((state >> shift) & LOCAL_MASK) << _TICK_BITS
            | (upper >> (n + cpu) & 1) * _ARRIVED | (upper >> cpu & 1) * _MOVED
            for cpu, shift in enumerate(self.shifts)))

    def join(self, ids: Sequence[int]) -> int:
        """The state of `split`'s parts."""
        n = len(self.agents)
        state = int(ids[0])
        for cpu, (shift, own) in enumerate(zip(self.shifts, ids[1:], strict=True)):
            own = int(own)
            state |= (own >> _TICK_BITS) << shift
            state |= (own & _MOVED) << (self.moved_shift + cpu)
            state |= (own >> 1 & 1) << (self.moved_shift + n + cpu)
        return state

    def canonical_rank(self, own: int) -> int:
        """Where a CPU's part ``own`` sorts among identical CPUs' parts in `canonical`: by
        arrived, then moved, then its interleaving part (`KernelModel.canonical_perm`'s key),
        which is not the order of the parts' ids, whose tick bits are the low ones."""
        return (own >> _TICK_BITS | (own & _MOVED) << LOCAL_BITS
                | (own >> 1 & 1) << (LOCAL_BITS + 1))

    def step_entry(self, cpu: int, own: int, shared: int) -> tuple[int, int, int, int] | None:
        """``cpu``'s step from its part ``own``: only once it has arrived and not yet moved in
        this tick, after which it has moved (whether the tick ends the engine decides)."""
        if own & (_ARRIVED | _MOVED) != _ARRIVED:
            return None
        entry = super().step_entry(cpu, own >> _TICK_BITS, shared)
        return None if entry is None else (
            entry[0] << _TICK_BITS | _ARRIVED | _MOVED, entry[1], entry[2], entry[3])

    def choice_entry(self, cpu: int, own: int, shared: int
                     ) -> tuple[int, int, int, int] | None:
        """`step_entry` for the true outcome of ``cpu``'s `*` guard."""
        if own & (_ARRIVED | _MOVED) != _ARRIVED:
            return None
        entry = super().choice_entry(cpu, own >> _TICK_BITS, shared)
        return None if entry is None else (
            entry[0] << _TICK_BITS | _ARRIVED | _MOVED, entry[1], entry[2], entry[3])

    def wake_entry(self, cpu: int, own: int) -> tuple[int, int, int] | None:
        """The wakeup of ``cpu``, which has arrived; its tick bits stay."""
        if not own & _ARRIVED:
            return None
        entry = super().wake_entry(cpu, own >> _TICK_BITS)
        return None if entry is None else (
            entry[0] << _TICK_BITS | own & (_ARRIVED | _MOVED), entry[1], entry[2])

    def tick_entry(self, cpu: int, own: int) -> tuple[int, int, int, int]:
        """``(arrived, waiting, moved, fresh)`` of ``cpu``'s part ``own``, as
        `lockbreak.engines.factored.Lockstep` reads them."""
        arrived = own & _ARRIVED
        return (-1 if arrived else own | _ARRIVED, int(bool(arrived) and not own & _MOVED),
                own & _MOVED, own & ~_MOVED)

    def owed(self, cpu: int, own: int, shared: int) -> int:
        """`KernelModel.owed`: a CPU's obligations do not depend on its tick bits."""
        return super().owed(cpu, own >> _TICK_BITS, shared)

    def finished(self, cpu: int, own: int) -> bool:
        return super().finished(cpu, own >> _TICK_BITS)

    def successors(self, state: int) -> list[tuple[int, int, int, int]]:
        return [(index, after, violated, witnessed)
                for index, (_, _, after, _, violated, witnessed)
                in enumerate(self._lockstep(state))]

    def moves(self, state: int) -> list[tuple[int, int, int]]:
        """``(agent, next_state, ticks)``: ticks is 1 for the step that ends a tick."""
        return [(agent, after, ticks) for _, agent, after, ticks, _, _ in self._lockstep(state)]

    def actions(self, state: int) -> list[Action]:
        return [entry[0] for entry in self._lockstep(state)]

    def next_state(self, state: int, action: Action) -> int:
        return self._entry(state, action)[2]

    def observe(self, before: int | None, action: Action | None, after: int) -> tuple[int, int]:
        if before is None or action is None:
            return super().observe(None, None, after & self.core_mask)
        _, _, _, _, violated, witnessed = self._entry(before, action)
        return violated, witnessed

    def attempt(self, state: int, action: Action) -> tuple[int, int, int] | None:
        """`KernelModel.attempt` under lockstep timing (a CPU that has moved must wait)."""
        if action not in self.actions(state):
            return None
        _, _, after, _, violated, witnessed = self._entry(state, action)
        return after, violated, witnessed

    def step_info(self, state: int, action: Action) -> StepInfo:
        """`KernelModel.step_info`, and the arrival of a CPU that has not arrived yet."""
        if not action.wakeup and not self.arrived(state) >> action.cpu & 1:
            return StepInfo(action, ARRIVES, Event.NONE, None)
        return super().step_info(state & self.core_mask, action)

    def moved(self, state: int) -> int:
        """The CPUs (a bitmask) that have taken their step in the current tick."""
        return (state >> self.moved_shift) & ((1 << len(self.agents)) - 1)

    def arrived(self, state: int) -> int:
        """The CPUs (a bitmask) that have arrived: they step in every tick from now on."""
        return state >> (self.moved_shift + len(self.agents))

    def _entry(self, state: int, action: Action) -> tuple[Action, int, int, int, int, int]:
        for entry in self._lockstep(state):
            if entry[0] == action:
                return entry
        raise LockbreakError(f"{action} is not enabled in this state")

    def _lockstep(self, state: int) -> list[tuple[Action, int, int, int, int, int]]:
        """``(action, agent, next_state, ticks, violated, witnessed)`` for each enabled action:
        the arrivals of the CPUs that have not arrived, then the steps and wakeups of those
        that have, in `KernelModel.actions` order.

        The hot path of lockstep exploration: each step is one cached lookup, as in
        `KernelModel.successors`, and the end of a tick one more per arrived, unmoved CPU.
        """
        n = len(self.agents)
        everyone = (1 << n) - 1
        upper = state >> self.moved_shift
        moved, arrived = upper & everyone, upper >> n
        core = state & self.core_mask
        out: list[tuple[Action, int, int, int, int, int]] = []
        if not moved and arrived != everyone:
            # Arrivals come only between ticks: one in the middle of a tick is the same as
            # one at its start followed by the CPU's step at that point of the tick.
            arrived_shift = self.moved_shift + n
            out += [(Action(cpu), cpu, state | 1 << (arrived_shift + cpu), 0, 0, 0)
                    for cpu in range(n) if not arrived >> cpu & 1]
        kept = state - core
        slots = self.successor_slots
        for action, cpu, wakeup, (mask, cache, fill) in self._slot_table:
            if not arrived >> cpu & 1 or (not wakeup and moved >> cpu & 1):
                continue
            if wakeup and moved and action.env == "tick":
                continue        # the scheduler tick comes between two lockstep ticks
            key = core & mask
            entry = cache.get(key)
            if entry is None:
                entry = fill(key)
            if not entry:
                continue
            after = core + entry[0]
            if wakeup:
                out.append((action, -1, after + kept, 0, entry[1], entry[2]))
                continue
            now = moved | 1 << cpu
            left = arrived & ~now
            while left:
                low = left & -left
                other_mask, other_cache, other_fill = slots[low.bit_length() - 1]
                other = after & other_mask
                can = other_cache.get(other)
                if can is None:
                    can = other_fill(other)
                if can:
                    break
                left ^= low
            ticks = 0 if left else 1
            out.append((action, cpu, after | (now if left else 0) << self.moved_shift
                        | arrived << (self.moved_shift + n), ticks, entry[1], entry[2]))
        return out
