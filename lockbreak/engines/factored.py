"""What a model made of parts offers the vectorised search (`lockbreak.engines.vectorised_bfs`):
its shape (`Factored`), which steps partial-order reduction may take alone (`Local`), and its
tick bookkeeping under lockstep timing (`Lockstep`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable


@runtime_checkable
class Factored(Protocol):
    """A model whose int states split into a shared part and one part per agent.

    ``split(state)`` is ``(shared id, agent 0's id, ...)`` and ``join`` its inverse.
    ``step_entry(agent, own, shared)`` is the agent's step from those parts, as
    ``(new own id, new shared id, violated, witnessed)``, or None when it cannot move;
    ``wake_entry(k, own)`` the same for the environment's action number ``k``, which acts
    on the agent ``wake_agents[k]`` (an agent may be named more than once) and changes only
    that agent's part ``own``. ``finished(agent, own)`` is
    whether the agent has finished in that part (bit ``agent`` of ``done``). Actions are
    ordered as agent 0's step, ..., then the wakeups in ``wake_agents`` order, skipping those
    that cannot move: the order `successors` uses. A model whose agents' steps may have a
    second outcome (a nondeterministic choice) also has ``choice_agents`` and
    ``choice_entry(agent, own, shared)``, shaped like ``step_entry``; those actions come
    last, in ``choice_agents`` order. ``factored`` is False when a model of this shape cannot
    be expanded from the parts alone. Ids are below 2**32.
    """

    @property
    def factored(self) -> bool: ...

    @property
    def wake_agents(self) -> Sequence[int]: ...

    def split(self, state: int) -> tuple[int, ...]: ...

    def join(self, ids: Sequence[int]) -> int: ...

    def step_entry(self, agent: int, own: int, shared: int
                   ) -> tuple[int, int, int, int] | None: ...

    def wake_entry(self, slot: int, own: int) -> tuple[int, int, int] | None: ...

    def finished(self, agent: int, own: int) -> bool: ...


@runtime_checkable
class Local(Protocol):
    """A factored model that says which steps partial-order reduction may take alone.

    ``local_step(agent, own)`` is True only when the agent's step from its part ``own``, in
    every shared part where it is enabled, (1) reads and writes nothing but that part, and no
    other action ever touches that part (so it commutes with every other agent's step and
    wakeup and neither enables nor disables them: the ample-set conditions C0 and C1);
    (2) strictly advances some measure that no step lowers, such as its pc (so no cycle of the
    reduced graph is made of reduced states alone: the cycle proviso C3). Visibility (C2) is
    decided here, per transition: a step that breaks or witnesses a checked property is never
    taken alone. Together these preserve which safety violations and witnesses are reachable,
    but not how deep: `check` finds shortest counterexamples again without reduction.
    """

    def local_step(self, agent: int, own: int) -> bool: ...


@runtime_checkable
class Lockstep(Protocol):
    """A model of `Factored`'s shape under lockstep timing: time passes in ticks, and in each
    tick every agent that has arrived takes one step, in any order.

    ``tick_entry(agent, own)`` is ``(arrived, waiting, moved, fresh)`` for the agent with part
    ``own``: its part once it arrives (-1 when it has arrived already), 1 when it has arrived
    and not yet stepped in this tick (else 0), 1 when it has stepped in this tick (else 0),
    and its part with this tick's step forgotten. The model's own entries keep to the parts:
    an agent's steps and choices (``step_entry``, ``choice_entry``) are disabled until it has
    arrived and once it has stepped in this tick, and mark it as having stepped; its wakeups
    are disabled until it has arrived and keep its tick bookkeeping.

    What is not local the search adds, each as one operation on a whole chunk of states:
    an agent's arrival is an action of its own, enabled only between ticks (no agent has
    stepped in this one), changing only its part; arrivals come first in the order of
    transitions, in agent order. A step (or choice) after which no agent that is yet to step
    in this tick can step ends the tick: every agent's part becomes fresh, and that transition
    is the one that takes a tick (`Search.ticks`); no other transition takes time. Such a
    search is only ever run whole (by `lockbreak.engines.fair_graph`), never snapshotted.
    """

    def tick_entry(self, agent: int, own: int) -> tuple[int, int, int, int]: ...
