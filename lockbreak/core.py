"""Core types shared by every part of lockbreak: models, results, traces, budgets, errors.

Nothing here knows about kernels. A *model* is any object of the three-method shape
(`init_states`, `actions`, `next_state`) that also reports, for every transition, which
named properties it breaks and which property witnesses it reaches, as two bitmasks over
`property_names`. Engines only ever see this module's protocols.
"""

from __future__ import annotations

import enum
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

State = Hashable
Action = Hashable

# A model's own state and action types; `Model`, `Step`, `Trace` and the engines are generic
# over them, so a model whose states are ints gets ints back in its traces.
S = TypeVar("S", bound=Hashable)
A = TypeVar("A", bound=Hashable)


# The exit code of a run in which lockbreak itself failed (a bug), whatever else it found.
EXIT_INTERNAL = 4


class LockbreakError(Exception):
    """A mistake in what lockbreak was asked to do; the message says the cause and the fix."""


# The exit code of a failure of lockbreak itself (an exception that is not a `LockbreakError`),
# kept apart from 1 (a violation), 2 (bad input) and 3 (incomplete) so that CI never reads a
# bug as a verdict.
EXIT_INTERNAL = 4


class ScenarioError(LockbreakError):
    """Bad scenario input, located at ``file:line:col``.

    >>> str(ScenarioError("unknown lock 'C'", file="a.toml", line=3, col=9))
    "a.toml:3:9: unknown lock 'C'"
    """

    def __init__(self, message: str, file: str = "<scenario>", line: int = 0, col: int = 0,
                 hint: str = "") -> None:
        self.message, self.file, self.line, self.col, self.hint = message, file, line, col, hint
        # Errors about the command line (an override) have no position in the file.
        text = f"{file}:{line}:{col}: {message}" if line else f"{file}: {message}"
        super().__init__(text + (f"\n  hint: {hint}" if hint else ""))


class ModelDefinitionError(LockbreakError):
    """An era or primitive definition that cannot be compiled (a bug in a definition, not input)."""


class Status(enum.Enum):
    """The verdict of one property on one scenario."""

    HOLDS = "holds"            # explored everything, never violated, witness reached
    VIOLATED = "violated"      # a counterexample exists (shortest, for the explicit engine)
    VACUOUS = "vacuous"        # never violated, but the witness was never reached either
    INCOMPLETE = "incomplete"  # a budget ran out before the question was settled

    def __str__(self) -> str:
        return self.value


class PropertyKind(enum.Enum):
    SAFETY = "safety"           # decided transition by transition from `observe` bits
    # graph: from every reachable state, each must_finish agent can still finish
    CAN_FINISH = "can_finish"
    # fair liveness: no cycle that is weakly fair to every agent keeps an obligation open
    FAIR = "fair"
    # worst case: the longest time, in ticks, that an obligation stays open (None: unbounded)
    WORST = "worst"


@runtime_checkable
class Model(Protocol[S, A]):
    """What an engine can check: a transition system with observed properties.

    ``observe(before, action, after)`` returns ``(violated, witnessed)``: bit ``i`` of each
    refers to ``property_names[i]`` (whose kind is ``property_kinds[i]``; a CAN_FINISH property
    only ever sets its witness bit, its violations are found on the graph). ``before`` and
    ``action`` are ``None`` for an initial state.
    ``done(state)`` is the bitmask of agents (CPUs) whose program has finished and
    ``must_finish`` the agents that are expected to finish (graph properties use them).
    """

    # Read-only, so that a model may hold them in narrower types (a tuple, a class attribute).
    @property
    def property_names(self) -> Sequence[str]: ...

    @property
    def property_kinds(self) -> Sequence[PropertyKind]: ...

    @property
    def agents(self) -> Sequence[str]: ...

    @property
    def must_finish(self) -> int: ...

    def init_states(self) -> Sequence[S]: ...

    def actions(self, state: S) -> Sequence[A]: ...

    def next_state(self, state: S, action: A) -> S: ...

    def observe(self, before: S | None, action: A | None, after: S) -> tuple[int, int]: ...

    def done(self, state: S) -> int: ...


def successors(model: Model[S, A], state: S) -> Iterable[tuple[int, S, int, int]]:
    """Yield ``(action_index, next_state, violated, witnessed)`` for every enabled action.

    Models may provide a faster ``successors`` method of their own with the same meaning.
    """
    fast = getattr(model, "successors", None)
    if fast is not None:
        yield from fast(state)
        return
    for index, action in enumerate(model.actions(state)):
        after = model.next_state(state, action)
        violated, witnessed = model.observe(state, action, after)
        yield index, after, violated, witnessed


@dataclass(frozen=True)
class Budget:
    """Limits of one check; exhausting any of them makes the verdict INCOMPLETE, never HOLDS."""

    max_states: int | None = None
    timeout: float | None = None

    def out_of_states(self) -> str:
        """Why a check that hit ``max_states`` is incomplete."""
        return f"stopped at {self.max_states:,} states (--max-states)"

    def out_of_time(self) -> str:
        """Why a check that hit ``timeout`` is incomplete."""
        return f"timed out after {self.timeout:g} s (--timeout)"


@dataclass(frozen=True)
class Step(Generic[S, A]):
    """One step of a trace: the action taken (by index, for replay) and what it did."""

    index: int          # position in model.actions(previous state)
    action: A           # the action itself (a kernel model action prints in kernel words)
    state: S            # the state after the step


@dataclass(frozen=True)
class Trace(Generic[S, A]):
    """A path from an initial state. ``loop_start`` marks a lasso's repeating part, if any."""

    init: S
    steps: tuple[Step[S, A], ...] = ()
    loop_start: int | None = None

    @property
    def states(self) -> list[S]:
        return [self.init, *(s.state for s in self.steps)]

    def __len__(self) -> int:
        return len(self.steps)


@dataclass
class Stats:
    """What an engine did: distinct states, transitions, BFS depth, seconds."""

    states: int = 0
    transitions: int = 0
    depth: int = 0
    seconds: float = 0.0


@dataclass
class CheckResult:
    """The same result type from every engine."""

    property: str
    status: Status
    trace: Trace[Any, Any] | None = None   # of whichever model was checked
    stats: Stats = field(default_factory=Stats)
    detail: str = ""    # one line of explanation: why incomplete, which CPU cannot finish, ...
    # WORST properties only: the exact worst case in ticks, None when a cycle keeps it unbounded
    worst: int | None = None
    # lossy stores only (hash compaction, bitstate): the probability that the search skipped
    # a state, so that a HOLDS (or a shortest trace) is true only with 1 - omission
    omission: float | None = None
    # A proof that assumed an inductive invariant: its facts, in the model's words
    invariant: tuple[str, ...] = ()


class Reporter(Protocol):
    """Receives progress from engines; only the CLI and lockbreak.report print.

    A reporter may also have ``frontier(size: int)``: the explicit engine then calls it just
    before each ``progress`` with the number of states found but not yet expanded.
    """

    def progress(self, states: int, transitions: int, depth: int, seconds: float) -> None: ...


class SilentReporter:
    """A reporter that ignores progress (tests, library use)."""

    def progress(self, states: int, transitions: int, depth: int, seconds: float) -> None:
        return None
