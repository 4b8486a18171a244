"""One action at a time through any model: the stepping, replay and doom checks of random search.

A random walk needs, in each state, the actions it may pick from and the result of the one it
picks. A model that offers ``candidates(state)`` (every action that can ever be enabled, in a
fixed order) and ``attempt(state, action) -> (next_state, violated, witnessed) | None`` pays for
one transition per step; any other `lockbreak.core.Model` is walked through ``actions``,
``next_state`` and ``observe``. `replay` re-runs a sequence of actions (a schedule being shrunk),
and `doomed_path` decides, by a bounded exhaustive search from one state, whether some agent
can never finish from there (the CAN_FINISH properties, which no single walk can show).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic

from lockbreak.core import A, Budget, Model, S, Step, Trace
from lockbreak.engines.graph import reachable_graph

Outcome = tuple[Any, int, int]      # (next state, violated bits, witnessed bits)


class Walker(Generic[S, A]):
    """The stepping interface of a model, fast when the model offers ``attempt``.

    ``fixed`` says whether `options` is the same list in every state (so a position in it names
    the same action everywhere, which swarm runs rely on to switch actions off by position).
    """

    def __init__(self, model: Model[S, A]) -> None:
        self.model = model
        candidates = getattr(model, "candidates", None)
        attempt = getattr(model, "attempt", None)
        self.options: Callable[[S], Sequence[A]] = model.actions
        self.attempt: Callable[[S, A], Outcome | None] = self._attempt_slow
        self.fixed = callable(candidates) and callable(attempt)
        if callable(candidates) and callable(attempt):
            self.options, self.attempt = candidates, attempt
        point = getattr(model, "coverage_point", None)
        self.point: Callable[[S, A], Any] | None = point if callable(point) else None

    def _attempt_slow(self, state: S, action: A) -> Outcome | None:
        after = self.model.next_state(state, action)
        violated, witnessed = self.model.observe(state, action, after)
        return after, violated, witnessed

    def states(self, init: S, actions: Sequence[A]) -> list[S]:
        """``init`` and the state after each of ``actions`` (which must all be able to move)."""
        states = [init]
        for action in actions:
            outcome = self.attempt(states[-1], action)
            assert outcome is not None, f"{action} cannot move here"
            states.append(outcome[0])
        return states

    def neighbours(self, state: S, bit: int) -> list[tuple[A, S, bool]]:
        """Every move from ``state``: ``(action, next state, violates property bit)``."""
        out = []
        for action in self.options(state):
            outcome = self.attempt(state, action)
            if outcome is not None:
                out.append((action, outcome[0], bool(outcome[1] >> bit & 1) if bit >= 0
                            else False))
        return out

    def trace(self, init: S, actions: Sequence[A]) -> Trace[S, A]:
        """The `Trace` of ``actions`` from ``init``, with each action's index in
        ``model.actions`` (what replay and the JSON form record)."""
        steps = []
        state = init
        for action in actions:
            index = list(self.model.actions(state)).index(action)
            state = self.model.next_state(state, action)
            steps.append(Step(index, action, state))
        return Trace(init, tuple(steps))


@dataclass(frozen=True)
class Replayed(Generic[S, A]):
    """A schedule re-run: the actions actually taken and the state they end in."""

    actions: tuple[A, ...]
    end: S


def replay(walker: Walker[S, A], init: S, actions: Sequence[A], stop_on: int = 0
           ) -> Replayed[S, A] | None:
    """Re-run ``actions`` from ``init``; None if one of them cannot move where it comes.

    With ``stop_on`` (a mask of property bits) the run stops at the first step that violates
    one of them, and None is returned if none does.
    """
    state = init
    for i, action in enumerate(actions):
        outcome = walker.attempt(state, action)
        if outcome is None:
            return None
        state, violated, _ = outcome
        if violated & stop_on:
            return Replayed(tuple(actions[:i + 1]), state)
    if stop_on:
        return None
    return Replayed(tuple(actions), state)


class _From:
    """``model`` with its initial states replaced by one state."""

    def __init__(self, model: Model[Any, Any], state: Any) -> None:
        self._model, self._state = model, state

    def init_states(self) -> Sequence[Any]:
        return [self._state]

    def __getattr__(self, name: str) -> Any:    # everything else is the model's own
        return getattr(self._model, name)


def doomed_path(model: Model[S, A], state: S, max_states: int
                ) -> tuple[list[A], int] | bool | None:
    """From ``state``, the shortest path to a state where some agent can no longer finish.

    Returns ``(actions, agent)`` when one is reachable, None when every state reachable from
    ``state`` lets every agent of ``model.must_finish`` finish, and False when more than
    ``max_states`` states are reachable (undecided).
    """
    if model.done(state) & model.must_finish == model.must_finish:
        return None     # every agent that must finish already has
    graph = reachable_graph(_From(model, state), Budget(max_states=max_states))
    if not graph.complete:
        return False
    stuck = graph.first_stuck(model)
    if stuck is None:
        return None
    target, agent = stuck
    parent: dict[int, int] = {}
    for e, (_src, dst, _) in enumerate(graph.edges):
        if dst not in parent and dst != 0:
            parent[dst] = e
    path: list[A] = []
    node = target
    while node != 0:
        e = parent[node]
        path.append(graph.actions[e])
        node = graph.edges[e][0]
    path.reverse()
    return path, agent


def drain(walker: Walker[S, A], state: S, limit: int) -> tuple[list[A], S]:
    """Continue from ``state`` round-robin (every action that can move takes one step in
    turn) until a state repeats, nothing can move, or ``limit`` steps were taken.

    Agents that can still make progress use it up, so what remains at the end is the agents
    that are stuck: the end state's reachable set is then small enough for `doomed_path`
    even when the configuration is large.
    """
    actions: list[A] = []
    seen = {state}
    while len(actions) < limit:
        moved = False
        for action in walker.options(state):
            outcome = walker.attempt(state, action)
            if outcome is None:
                continue
            state = outcome[0]
            actions.append(action)
            moved = True
            if state in seen or len(actions) >= limit:
                return actions, state
            seen.add(state)
        if not moved:
            break
    return actions, state
