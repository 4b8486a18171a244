"""Random exploration with Hypothesis: long schedules on configurations far past exhaustive reach.

Each Hypothesis example is one run of the model from an initial state: a schedule drawn as
bytes, two per step. The high byte below the run's *stay* threshold keeps the agent that moved
last (when it can move), otherwise the two bytes pick another action, counted from the last one
in the model's action order; so shrinking bytes towards zero shrinks towards fewer switches
between agents, and a run stops at its first violation, so shrinking the bytes it used shrinks
its length. Every step is checked against every SAFETY property; CAN_FINISH properties are
decided at the end of a run that got stuck (nothing can move, or it came back to a state it had
already been in) by a bounded exhaustive search from there (`walk.doomed_path`).

Swarm runs (Groce et al., "Swarm testing", 2012) draw up to three phases during which a random
part of the actions (by position in the model's fixed ``candidates`` order: for the kernel
model, some CPUs' steps and some wakeups) and of the property witnesses (transitions that
witness a property: lock breaks, reschedules, contention) are switched off, unless nothing else
can move; that starves some CPUs while others run deep into their loops.

Failures Hypothesis found are shrunk by Hypothesis, then by `shrink.shrink` to a local minimum in
(steps, switches). The search is spent in rounds, each a fresh Hypothesis run with its own seed
derived from ``Search.seed``, until the budget (examples or seconds) is spent or every property
is violated. No violation found is INCOMPLETE, never HOLDS: random runs cannot show absence.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.control import current_build_context
from hypothesis.database import DirectoryBasedExampleDatabase
from hypothesis.errors import HypothesisException
from hypothesis.reporting import with_reporter

from lockbreak.core import (
    A,
    CheckResult,
    LockbreakError,
    Model,
    PropertyKind,
    Reporter,
    S,
    SilentReporter,
    Stats,
    Status,
    Trace,
)
from lockbreak.engines.lasso import cannot_finish
from lockbreak.engines.schedule_plan import SchedulePlan, pick
from lockbreak.engines.shrink import shortcut, shrink, switches
from lockbreak.engines.walk import Walker, doomed_path, drain, replay

# Hypothesis holds at most 8 KiB of choices per example: longer runs draw this many steps and
# take the rest from the salt's stream.
_DRAWN_STEPS = 2048
DEFAULT_RUNS = 200                 # the budget when neither runs nor seconds are given
_ROUND = 50                        # examples per Hypothesis round with an examples budget
_SEEN_CAP = 2_000_000              # distinct states counted, at most (by hash)
_DOOM_GIVE_UP = 20                 # undecided can-finish searches in a row before giving up
_DRAIN_FACTOR = 10                 # a stuck end is drained for up to this many runs' steps


@dataclass(frozen=True)
class Search:
    """How a random search spends its budget.

    ``examples`` caps the runs (Hypothesis examples) and ``seconds`` the time; with neither,
    200 runs. ``steps`` is the length of one run. ``seed`` makes the search reproducible (None:
    a fresh seed, reported in `Coverage.seed`). ``database`` is a folder for Hypothesis's
    example database, so a failure found once is replayed first next time; ``database_key``
    must name the model (scenario, era, overrides), since replayed schedules only mean the same
    on the same model. ``doom_states`` bounds the exhaustive search from a stuck run's end;
    ``shrink_seconds`` bounds shrinking each failure, and ``shortcut_states`` each bounded
    search that shrinking runs from a state of the schedule (`shrink.shortcut`).
    """

    examples: int | None = None
    seconds: float | None = None
    steps: int = 300
    seed: int | None = None
    swarm: bool = True
    database: Path | None = None
    database_key: bytes = b""
    doom_states: int = 5_000
    shrink_seconds: float = 10.0
    shortcut_states: int = 1_000


@dataclass
class Coverage:
    """What the runs reached: the evidence behind an INCOMPLETE verdict.

    ``points`` are the model's ``coverage_point(state, action)`` values seen (for the kernel
    model, ``(cpu, pc)``: a program point a CPU reached); ``witnessed`` has bit ``i`` set when
    the witness of ``model.property_names[i]`` was reached. ``doom_checks`` counts stuck run
    ends searched for a CPU that can never finish, ``doom_undecided`` those with more than
    ``Search.doom_states`` states reachable, ``doom_skipped`` the stuck ends not searched once
    too many searches in a row were undecided.
    """

    seed: int
    runs: int = 0
    shrinking: int = 0          # of the runs, those after a failure in their round
    steps: int = 0
    longest: int = 0
    seconds: float = 0.0
    states: int = 0
    witnessed: int = 0
    points: set[Hashable] = field(default_factory=set)
    doom_checks: int = 0
    doom_undecided: int = 0
    doom_skipped: int = 0
    swarm: bool = True
    exhausted: str = ""         # which budget ended the search
    # property name -> (seconds, runs) from the start until the first run that broke it
    found_after: dict[str, tuple[float, int]] = field(default_factory=dict)


@dataclass
class Exploration(Generic[S, A]):
    """`check`'s answer: one result per property and what the runs covered."""

    results: list[CheckResult]
    coverage: Coverage


class _Violation(Exception):
    """A run broke property ``bit``: the schedule from ``init`` that did it."""

    bit = -1

    def __init__(self, init: Any, actions: tuple[Any, ...]) -> None:
        super().__init__(f"property bit {self.bit} violated in {len(actions)} steps")
        self.init, self.actions = init, actions


def check(model: Model[S, A], *, properties: Sequence[str] | None = None,
          search: Search = Search(),
          reporter: Reporter = SilentReporter(),  # noqa: B008 (stateless)
          ) -> Exploration[S, A]:
    """Search ``model`` with random schedules drawn and shrunk by Hypothesis.

    Parameters
    ----------
    model : Model
        Any object of the `lockbreak.core.Model` shape; ``candidates``, ``attempt`` and
        ``coverage_point`` are used when present (`lockbreak.engines.walk`).
    properties : Sequence[str], optional
        Names to check; default every name in ``model.property_names``.
    search : Search
        Budget, run length, seed, swarm, example database.
    reporter : Reporter
        Receives ``progress(states, steps, longest run, seconds)`` between rounds.

    Returns
    -------
    Exploration
        ``results`` in ``model.property_names`` order: VIOLATED with a shrunk trace that
        replays on ``model``, or INCOMPLETE (never HOLDS); FAIR and WORST properties are always
        INCOMPLETE. ``coverage`` says what the runs reached.

    Examples
    --------
    >>> class Flip:  # a bit that can be turned on, which breaks "stays_off"
    ...     property_names, property_kinds = ("stays_off",), (PropertyKind.SAFETY,)
    ...     agents, must_finish = ("cpu0",), 0
    ...     def init_states(self): return (0,)
    ...     def actions(self, s): return ("wait", "flip") if s == 0 else ("wait",)
    ...     def next_state(self, s, a): return 1 if a == "flip" else s
    ...     def observe(self, before, action, after): return after, 1
    ...     def done(self, s): return 0
    >>> [result] = check(Flip(), search=Search(examples=20, seed=1)).results
    >>> str(result.status), [step.action for step in result.trace.steps]
    ('violated', ['flip'])
    """
    names = list(model.property_names)
    unknown = [p for p in properties or () if p not in names]
    if unknown:
        raise LockbreakError(f"unknown property {unknown[0]!r}; this model has: "
                             f"{', '.join(names) or '(none)'}")
    bits = [b for b, name in enumerate(names) if properties is None or name in properties]
    seed = search.seed if search.seed is not None else random.SystemRandom().randrange(2**32)
    searcher = _Searcher(model, bits, search, seed, reporter)
    searcher.run()
    return Exploration(searcher.results(), searcher.coverage)


class _Searcher(Generic[S, A]):
    """One random search: its rounds, what they found, and the coverage they reached."""

    def __init__(self, model: Model[S, A], bits: list[int], search: Search, seed: int,
                 reporter: Reporter) -> None:
        self.model, self.bits, self.search, self.seed = model, bits, search, seed
        self.reporter = reporter
        self.walker: Walker[S, A] = Walker(model)
        kinds = model.property_kinds
        self.safety = sum(1 << b for b in bits if kinds[b] is PropertyKind.SAFETY)
        self.finish = sum(1 << b for b in bits if kinds[b] is PropertyKind.CAN_FINISH)
        self.pending = self.safety | self.finish
        self.errors = {b: type(f"Violated_{model.property_names[b]}", (_Violation,), {"bit": b})
                       for b in bits}
        self.found: dict[int, tuple[S, tuple[A, ...]]] = {}
        self.coverage = Coverage(seed, swarm=search.swarm)
        self.seen: set[int] = set()
        # A stuck end state's path to doom, or None (not doomed, or undecided).
        self.doom_cache: dict[S, tuple[A, ...] | None] = {}
        self.undecided_in_a_row = 0
        self.undecided = False
        self.known_doomed: dict[S, bool] = {}
        self.inits = list(model.init_states())
        self.began = time.monotonic()
        self.deadline = (self.began + search.seconds if search.seconds is not None
                         else float("inf"))
        self.examples = (search.examples if search.examples is not None
                         else None if search.seconds is not None else DEFAULT_RUNS)
        self.shrink_until = float("inf")
        # Two bytes per step, drawn as one choice: cheap to draw, and a run's draws are then
        # the same whatever it does.
        drawn = min(search.steps, _DRAWN_STEPS)
        self.schedule = st.binary(min_size=2 * drawn, max_size=2 * drawn)
        # The shortest schedule seen failing each property, in case a round is cut short.
        self.best: dict[int, tuple[S, tuple[A, ...]]] = {}

    # ------------------------------------------------------------ rounds

    def run(self) -> None:
        """Rounds of Hypothesis runs until the budget is spent or nothing is left to find."""
        left = self.examples
        number = 0
        per_example = 0.01
        while self.pending:
            now = time.monotonic()
            if left is not None and left <= 0:
                self.coverage.exhausted = f"{self.examples} runs"
                break
            if now >= self.deadline:
                self.coverage.exhausted = f"{self.search.seconds:g} s"
                break
            if left is not None:
                size = min(_ROUND, left)
            else:
                size = max(1, min(10 * _ROUND, int((self.deadline - now) / per_example / 2)))
            t0 = time.monotonic()
            runs_before = self.coverage.runs - self.coverage.shrinking
            self._round(number, size)
            # Hypothesis may stop generating early (after a failure, to shrink it): only the
            # runs it generated count against the budget.
            done = max(1, self.coverage.runs - self.coverage.shrinking - runs_before)
            per_example = max(1e-4, (time.monotonic() - t0) / done)
            if left is not None:
                left -= done
            number += 1
            self.coverage.seconds = time.monotonic() - self.began
            self.reporter.progress(len(self.seen), self.coverage.steps,
                                   self.coverage.longest, self.coverage.seconds)
        self.coverage.states = len(self.seen)
        self.coverage.seconds = time.monotonic() - self.began

    def _round(self, number: int, examples: int) -> None:
        pending = self.pending
        self.shrink_until = float("inf")

        def one_run(data: st.DataObject) -> None:
            self._one_run(data, pending)

        key = self.search.database_key + f"/{pending}".encode()
        one_run._hypothesis_internal_add_digest = key  # type: ignore[attr-defined]
        database = (DirectoryBasedExampleDatabase(str(self.search.database))
                    if self.search.database is not None else None)
        test = settings(
            max_examples=examples, deadline=None, database=database,
            suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet,
            phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink),
            report_multiple_bugs=True, print_blob=False,
        )(hypothesis_seed(self.seed * 1_000_003 + number)(given(st.data())(one_run)))
        try:
            with with_reporter(lambda _: None):
                test()
        except _Violation:
            pass        # recorded in `best` by `_fail`, like every failing run of the round
        except BaseExceptionGroup as group:
            _, rest = group.split(_Violation)
            if rest is not None:
                raise _leaves(rest)[0] from None
        except HypothesisException as err:
            raise LockbreakError(f"the random search could not run: {err}") from None
        for bit, (init, actions) in sorted(self.best.items()):
            if not pending >> bit & 1:
                continue
            # One stuck end decides every CAN_FINISH property at once.
            mask = self.finish if self.finish >> bit & 1 else 1 << bit
            for other in self.bits:
                if (mask & pending) >> other & 1 and other not in self.found:
                    self.found[other] = (init, actions)
            self.pending &= ~mask

    # ------------------------------------------------------------ one run

    def _one_run(self, data: st.DataObject, pending: int) -> None:
        """One run: draw the whole schedule first, then walk it.

        Every draw comes before the walk, so the choices a run makes never depend on how it
        went; a run may then stop early (out of time) without Hypothesis seeing its data
        generation change between runs.
        """
        walker, cov = self.walker, self.coverage
        init = self.inits[data.draw(st.integers(0, len(self.inits) - 1))] if len(
            self.inits) > 1 else self.inits[0]
        plan = SchedulePlan.draw(data, self.search.swarm, self.search.steps,
                                 len(self.model.property_names))
        schedule = plan.mix(data.draw(self.schedule), 2 * self.search.steps)
        now = time.monotonic()
        final = bool(getattr(current_build_context(), "is_final", False))
        if not final and (now > self.shrink_until or (
                now > self.deadline and self.shrink_until == float("inf"))):
            return      # out of time: Hypothesis sees a pass and winds down
        cov.runs += 1
        cov.shrinking += self.shrink_until != float("inf")
        violated, witnessed = self.model.observe(None, None, init)
        cov.witnessed |= witnessed
        actions: list[A] = []
        if violated & pending & self.safety:
            self._fail(violated & pending & self.safety, init, ())
        state = init
        visits = {state: 0}
        last = 0
        stuck = False
        seen, point = self.seen, walker.point
        for step in range(self.search.steps):
            options = walker.options(state)
            n = len(options)
            hi, lo = schedule[2 * step], schedule[2 * step + 1]
            start = last if hi < plan.stay or n < 2 else (
                last + 1 + ((hi << 8 | lo) % (n - 1))) % n
            off, off_bits = plan.off_at(step, n)
            chosen = pick(walker, state, options, start, off, off_bits)
            if chosen is None and (off or off_bits):
                chosen = pick(walker, state, options, start, frozenset(), 0)
            if chosen is None:
                stuck = True
                break
            last, action, (state, violated, witnessed) = chosen
            actions.append(action)
            cov.witnessed |= witnessed
            if point is not None:
                where = point(state, action)
                if where is not None:
                    cov.points.add(where)
            if len(seen) < _SEEN_CAP:
                seen.add(hash(state))
            if violated & pending & self.safety:
                cov.steps += len(actions)
                cov.longest = max(cov.longest, len(actions))
                self._fail(violated & pending & self.safety, init, tuple(actions))
            visits.setdefault(state, step + 1)
        # Stuck: nothing could move, or the run ended in a state it had already been in.
        stuck = stuck or visits[state] != len(actions)
        cov.steps += len(actions)
        cov.longest = max(cov.longest, len(actions))
        must = self.model.must_finish
        if pending & self.finish and stuck and self.model.done(state) & must != must:
            found = self._doom(state)
            if found is not None:
                self._fail(pending & self.finish, init, (*actions, *found))

    def _doom(self, state: S) -> tuple[A, ...] | None:
        """A path from the stuck end ``state`` to a state where some agent can never finish.

        The end is first drained (`walk.drain`), so that agents that can still move finish
        and the exhaustive search covers only the stuck ones; the path found is a real
        execution either way. After `_DOOM_GIVE_UP` undecided searches in a row (each
        reachable set past ``Search.doom_states``) the search stops trying, and says so.
        """
        cov = self.coverage
        if state in self.doom_cache:
            return self.doom_cache[state]
        if self.undecided_in_a_row >= _DOOM_GIVE_UP:
            cov.doom_skipped += 1
            return None
        cov.doom_checks += 1
        path = self._doom_path(state)
        if path is None and self.undecided:
            cov.doom_undecided += 1
            self.undecided_in_a_row += 1
        else:
            self.undecided_in_a_row = 0
        if len(self.doom_cache) < _SEEN_CAP:
            self.doom_cache[state] = path
        return path

    def _known_doomed(self, state: S) -> bool:
        """Whether some agent can never finish from ``state`` (False when undecided)."""
        known = self.known_doomed.get(state)
        if known is None:
            found = doomed_path(self.model, state, self.search.doom_states)
            known = self.known_doomed[state] = isinstance(found, tuple) and not found[0]
        return known

    def _doom_path(self, state: S) -> tuple[A, ...] | None:
        """Drain ``state``, then search exhaustively from where that ends (`_doom`);
        ``self.undecided`` says whether a None came from a search that ran out of room."""
        drained, end = drain(self.walker, state, _DRAIN_FACTOR * self.search.steps)
        found = doomed_path(self.model, end, self.search.doom_states)
        self.undecided = found is False
        return (*drained, *found[0]) if isinstance(found, tuple) else None

    def _fail(self, bits: int, init: S, actions: tuple[A, ...]) -> None:
        bit = (bits & -bits).bit_length() - 1
        self.coverage.found_after.setdefault(self.model.property_names[bit], (
            time.monotonic() - self.began, self.coverage.runs))
        if bit not in self.best or len(actions) < len(self.best[bit][1]):
            self.best[bit] = (init, actions)
        if self.shrink_until == float("inf"):
            self.shrink_until = time.monotonic() + self.search.shrink_seconds
        raise self.errors[bit](init, actions)

    # ------------------------------------------------------------ results

    def results(self) -> list[CheckResult]:
        model, cov = self.model, self.coverage
        out = []
        for bit in self.bits:
            name, kind = model.property_names[bit], model.property_kinds[bit]
            stats = Stats(cov.states, cov.steps, cov.longest, cov.seconds)
            if bit in self.found:
                init, actions = self.found[bit]
                out.append(self._violation(bit, init, actions, stats))
            elif kind in (PropertyKind.SAFETY, PropertyKind.CAN_FINISH):
                reached = "reached" if cov.witnessed >> bit & 1 else "NEVER reached"
                out.append(CheckResult(
                    name, Status.INCOMPLETE, stats=stats,
                    detail=f"no violation in {cov.runs:,} random run{'s' * (cov.runs != 1)} "
                           f"(seed {self.seed}), "
                           f"witness {reached}; random runs cannot show that it holds"))
            else:
                out.append(CheckResult(name, Status.INCOMPLETE, stats=stats,
                                       detail=f"{kind.value} properties are not decided by "
                                              "random search"))
        return out

    def _violation(self, bit: int, init: S, actions: tuple[A, ...], stats: Stats) -> CheckResult:
        """The failing schedule shrunk to a local minimum, as a replayable `CheckResult`."""
        model = self.model
        name = model.property_names[bit]
        deadline = time.monotonic() + self.search.shrink_seconds
        label: Callable[[A], Hashable] = str
        if self.safety >> bit & 1:
            def fails(candidate: Sequence[A]) -> tuple[A, ...] | None:
                run = replay(self.walker, init, candidate, stop_on=1 << bit)
                return None if run is None else run.actions

            if fails(actions) is None:
                raise LockbreakError(f"{name}: the failing schedule does not fail again when "
                                     "replayed; the model is not deterministic")
            best = self._polish(init, fails(actions) or actions, fails, bit, deadline)
            return CheckResult(name, Status.VIOLATED, self.walker.trace(init, best), stats,
                               detail=f"shrunk to {len(best)} steps, "
                                      f"{switches(best, label)} switches between CPUs; "
                                      + self._first_found(name))

        limit = self.search.doom_states

        def doomed(candidate: Sequence[A]) -> tuple[A, ...] | None:
            """``candidate`` continued to doom and cut at the first state known doomed."""
            run = replay(self.walker, init, candidate)
            if run is None:
                return None
            path = self._doom_path(run.end)
            if path is None:
                return None
            full = (*run.actions, *path)
            lo, hi = 0, len(full)      # doom persists along a path: bisect for its start
            while lo < hi:
                mid = (lo + hi) // 2
                if self._known_doomed(self.walker.states(init, full[:mid])[-1]):
                    hi = mid
                else:
                    lo = mid + 1
            return full[:lo]

        best = self._polish(init, doomed(actions) or actions, doomed, -1, deadline)
        trace: Trace[S, A] = self.walker.trace(init, best)
        found = doomed_path(model, trace.states[-1], limit)
        who = model.agents[found[1]] if isinstance(found, tuple) else "a CPU"
        result = cannot_finish(model, name, trace, who, stats)
        result.detail += "; " + self._first_found(name)
        return result

    def _first_found(self, name: str) -> str:
        seconds, runs = self.coverage.found_after.get(name, (0.0, 0))
        return f"first found by run {runs:,}, after {seconds:.2f} s"

    def _polish(self, init: S, actions: tuple[A, ...],
                fails: Callable[[Sequence[A]], tuple[A, ...] | None], bit: int,
                deadline: float) -> tuple[A, ...]:
        """`shrink`, then `shortcut` through bounded searches along the schedule, until
        neither helps. ``bit`` is the SAFETY property's bit, or -1 for CAN_FINISH, where a step
        completes the failure when it enters a state known to be doomed."""
        best = shrink(actions, fails, str, deadline)
        def neighbours(state: S) -> list[tuple[A, S, bool]]:
            moves = self.walker.neighbours(state, bit)
            if bit >= 0:
                return moves
            return [(action, after, self._known_doomed(after)) for action, after, _ in moves]

        while time.monotonic() < deadline:
            shorter = shortcut(self.walker.states(init, best), best,
                               neighbours,  # type: ignore[arg-type]
                               self.search.shortcut_states, deadline)
            checked = fails(shorter) if shorter is not None else None
            if checked is None or len(checked) >= len(best):
                break
            best = shrink(checked, fails, str, deadline)
        return best


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    out: list[BaseException] = []
    for exc in group.exceptions:
        out += _leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc]
    return out
