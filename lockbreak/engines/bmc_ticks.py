"""WORST properties (worst cases in ticks) as safety over capped tick counters, with z3.

A *ticked* symbolic model (`TickedModel`) is a `SymbolicModel` that also gives, per WORST
property and agent, a counter of the ticks its obligation has been open in copy ``k``
(saturating at ``cap``), whether it is open, and whether nothing can move (``stuck``). Per
property, `check_worst` keeps ``reached``, the longest wait BMC has shown so far; every path z3
shows is replayed on the explicit model and its waits re-measured there
(`liveness.ticks_open_now`), so a wait z3 reports is a wait the explicit engine counts.

- **BMC**, depth by depth: is there a path whose last state has a counter above ``reached``, or
  an open obligation where nothing can move? Each yes raises ``reached`` to the longest counter
  z3 shows and the question is asked again at the same depth; so the first depth at which
  ``reached`` passes a bound N is the shortest violation of ``{ max = N }``, in steps. An open
  obligation where nothing can move is an unbounded wait, as the explicit engine says.
- **k-induction**: can ``k + 1`` states whose counters are at most ``reached`` (and none stuck
  with an obligation open), along a path of distinct states, be followed by one that is not?
  If not, ``reached``, which BMC attained, is the exact worst case.
- **Exhaustion**: when no path from the start has ``k + 2`` distinct states, BMC to depth ``k``
  has seen every state, and ``reached`` is exact.

A counter at the cap is a wait of at least ``cap`` ticks: with a bound N below the cap it breaks
the bound; without one it is INCOMPLETE (a long wait and an unbounded one look alike to a
capped counter). The witness (an obligation opened at all) is searched for the same way, and a
worst case is VACUOUS when it is shown never to open.
"""

from __future__ import annotations

import functools
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import z3

from lockbreak.core import (
    A,
    CheckResult,
    LockbreakError,
    PropertyKind,
    S,
    Stats,
    Status,
    Step,
    Trace,
)
from lockbreak.engines.bmc import INDUCTION_AT, EncodingError, Search, SymbolicModel
from lockbreak.engines.liveness import ObligationModel, ticks_open_now

# Seconds one proof query (k-induction, or the search for a longer path of distinct states) may
# take by default: the lockstep unrolling is harder than the interleaving one.
PROOF_SECONDS = 10.0


class TickedModel(SymbolicModel[S, A], Protocol):
    """A symbolic model with capped tick counters for its WORST properties.

    ``ticks(bit, k)`` and ``open(bit, k)`` give, per agent, the counter (a bit-vector, at most
    ``cap``) and whether the obligation of property ``bit`` is open in copy ``k``; ``stuck(k)``
    says no transition leaves copy ``k``. ``explicit`` must also be an `ObligationModel`.
    """

    @property
    def cap(self) -> int: ...

    def ticks(self, bit: int, k: int) -> Sequence[z3.BitVecRef]: ...

    def open(self, bit: int, k: int) -> Sequence[z3.BoolRef]: ...

    def stuck(self, k: int) -> z3.BoolRef: ...


@dataclass
class _Wait:
    """What is known of one WORST property."""

    bit: int
    bound: int | None                       # the { max = N } asked for, if any
    reached: int = 0                        # the longest wait (ticks) BMC has shown
    longest: Trace[Any, Any] | None = None  # a replayed path ending in that wait
    agent: int = -1                         # whose wait it is
    unbounded: Trace[Any, Any] | None = None  # a path to an open obligation nothing can end
    opened: Trace[Any, Any] | None = None   # a path to an open obligation (the witness)
    proved: int | None = None               # k of the proof that no wait exceeds `reached`
    never: int | None = None                # k of the proof that the obligation never opens
    depth: int = 0                          # BMC depth of `longest` or `unbounded`

    @property
    def exceeded(self) -> bool:
        return self.bound is not None and self.reached > self.bound

    def longer_open(self, cap: int) -> bool:
        """Still asking whether a longer wait exists."""
        return (self.proved is None and self.unbounded is None and not self.exceeded
                and self.reached < cap)

    @property
    def witness_open(self) -> bool:
        return self.opened is None and self.never is None


def check_worst(model: TickedModel[S, A], bounds: Mapping[str, int | None], *,
                depth: int = 60, timeout: float | None = None,
                proof_seconds: float = PROOF_SECONDS, induction: bool = True
                ) -> list[CheckResult]:
    """Decide ``model``'s WORST properties named in ``bounds``, each against its bound (None:
    find the exact worst case), by BMC to ``depth`` steps and k-induction.

    Returns one `CheckResult` per property, in ``bounds`` order: HOLDS with ``worst`` the exact
    worst case (attained by BMC, proved never exceeded) and the path that attains it; VIOLATED
    with a shortest path to a wait longer than the bound (``worst`` None) or to an unbounded
    one; VACUOUS when the obligation is proved never to open; INCOMPLETE otherwise. Each
    k-induction query may take ``proof_seconds``; ``induction=False`` runs BMC alone
    (violations only, nothing is proved).

    Raises
    ------
    EncodingError
        A path z3 shows does not replay on ``model.explicit``, or its counters are not the
        waits the explicit model measures on it.
    """
    names = list(model.property_names)
    bits = []
    for name, bound in bounds.items():
        if name not in names or model.property_kinds[names.index(name)] is not PropertyKind.WORST:
            raise LockbreakError(f"{name!r} is not a worst-case property of this model")
        if bound is not None and not 0 <= bound < model.cap:
            raise LockbreakError(f"{name}: max = {bound} needs tick counters capped above it, "
                                 f"not at {model.cap}")
        bits.append(names.index(name))
    if not isinstance(model.explicit, ObligationModel):
        raise LockbreakError("the explicit model reports no obligations to re-measure waits on")
    began = time.perf_counter()
    deadline = began + timeout if timeout is not None else float("inf")
    search = _WorstSearch(model, [_Wait(b, bound) for b, bound in zip(
        bits, bounds.values(), strict=True)], depth, deadline, proof_seconds, induction)
    search.run()
    stats = Stats(0, 0, search.reached, time.perf_counter() - began)
    return [search.verdict(w, stats) for w in search.waits]


class _WorstSearch(Search):
    """BMC raising each property's longest wait, and k-induction proving it is the longest."""

    def __init__(self, model: TickedModel[Any, Any], waits: list[_Wait], depth: int,
                 deadline: float, proof_seconds: float, induction: bool) -> None:
        super().__init__(model, [], depth, deadline, induction)
        self.ticked = model
        self.waits = waits
        self.proof_seconds = proof_seconds
        self.induction_solver = z3.SolverFor(model.logic)
        self.assumed = 0            # transitions in the induction solver
        self.longest_simple = 0     # transitions in `simple` (paths of distinct states)

    # ------------------------------------------------------------ the loop

    def run(self) -> None:
        began = time.perf_counter()
        init, _, _ = self.model.initial()
        self._check_domain(init)
        self.base.add(init)
        self.simple.add(init)
        if not self._settle(0):
            return
        for k in range(self.depth):
            if not self._questions():
                return
            relation, _, _ = self.unrolling.at(k)
            self.base.add(relation)
            if not self._settle(k + 1):
                return
            self.reached = k + 1
            if not self.induction or k not in INDUCTION_AT:
                continue
            if self._ended(k):
                self._settle_all(k)
                return
            # Proof attempts take at most as long as BMC has: they must not starve it.
            if 2 * self.proving > time.perf_counter() - began:
                continue
            t0 = time.perf_counter()
            self._prove(k)
            self.proving += time.perf_counter() - t0
            if self.stopped or not self._questions():
                return

    def _prove(self, k: int) -> None:
        """Try to settle every open question for good at depth ``k``: exhaustion, then
        k-induction for each."""
        if self._exhausted(k):
            self._settle_all(k)
            return
        for w in self.waits:
            if w.longer_open(self.ticked.cap) and self._induct_states(
                    functools.partial(self._bad, w), k):
                w.proved = k
            if (w.witness_open and not w.longer_open(self.ticked.cap)
                    and self._induct_states(functools.partial(self._opens, w), k)):
                w.never = k

    def _questions(self) -> list[tuple[_Wait, bool]]:
        """Open questions: (wait, True) asks for a longer wait, (wait, False) for the witness."""
        cap = self.ticked.cap
        return ([(w, True) for w in self.waits if w.longer_open(cap)]
                + [(w, False) for w in self.waits if w.witness_open])

    def _bad(self, wait: _Wait, j: int) -> z3.BoolRef:
        """Copy ``j`` shows a wait longer than ``wait.reached``, or one nothing can end."""
        m = self.ticked
        longer = [z3.UGT(t, wait.reached) for t in m.ticks(wait.bit, j)]
        return z3.Or(*longer, z3.And(z3.Or(*m.open(wait.bit, j)), m.stuck(j)))

    def _opens(self, wait: _Wait, j: int) -> z3.BoolRef:
        return z3.Or(*self.ticked.open(wait.bit, j))

    def _settle(self, j: int) -> bool:
        """Ask every open question of copy ``j`` until none has a yes; False when out of time.

        An unsat answer is kept as a fact: ``reached`` only grows, so a state with no wait
        longer than it now has none longer than any later value either.
        """
        while True:
            questions = self._questions()
            if not questions:
                return True
            formulas = [self._bad(w, j) if longer else self._opens(w, j)
                        for w, longer in questions]
            found = self._query(self.base, [z3.Or(formulas)])
            if found is None:
                return False
            if not found:
                self.base.add(z3.Not(z3.Or(formulas)))
                return True
            path = self.base.model()
            trace, _ = self._walk(path, j)
            for (w, longer), formula in zip(questions, formulas, strict=True):
                if z3.is_true(path.eval(formula, model_completion=True)):
                    if longer:
                        self._longer(w, path, j, trace)
                    else:
                        self._opened(w, trace)

    def _longer(self, wait: _Wait, path: z3.ModelRef, j: int, trace: Trace[Any, Any]) -> None:
        """Take in a path to a longer (or unending) wait, re-measured on the explicit model."""
        m, explicit = self.ticked, self.model.explicit
        assert isinstance(explicit, ObligationModel)
        counts = [path.eval(t, model_completion=True).as_long() for t in m.ticks(wait.bit, j)]
        measured = ticks_open_now(explicit, trace, wait.bit)
        name = m.property_names[wait.bit]
        if counts != [min(t, m.cap) for t in measured]:
            raise EncodingError(f"{name}: z3 counts waits of {counts} ticks where the explicit "
                                f"model measures {measured} on the same path")
        if z3.is_true(path.eval(m.stuck(j), model_completion=True)) and any(
                z3.is_true(path.eval(o, model_completion=True)) for o in m.open(wait.bit, j)):
            end = trace.states[-1]
            if explicit.moves(end):
                raise EncodingError(f"{name}: z3 finds nothing able to move where the explicit "
                                    "model can")
            n = len(explicit.agents)
            wait.agent = next(a for a in range(n)
                              if explicit.obligations(end) >> (wait.bit * n + a) & 1)
            wait.unbounded, wait.depth = trace, j
            return
        longest = max(counts)
        assert longest > wait.reached
        wait.reached, wait.longest, wait.depth = longest, trace, j
        wait.agent = counts.index(longest)

    def _opened(self, wait: _Wait, trace: Trace[Any, Any]) -> None:
        explicit = self.model.explicit
        assert isinstance(explicit, ObligationModel)
        n = len(explicit.agents)
        if not explicit.obligations(trace.states[-1]) >> (wait.bit * n) & ((1 << n) - 1):
            raise EncodingError(f"{self.model.property_names[wait.bit]}: z3 opens an "
                                "obligation the explicit model does not")
        wait.opened = trace

    # ------------------------------------------------------------ proofs

    def _induct_states(self, bad_at: Callable[[int], z3.BoolRef], k: int) -> bool:
        """The k-induction step: can ``k + 1`` good states (not ``bad_at(j)``), distinct and
        in the domain, be followed by a bad one? False proves bad states unreachable, given
        that BMC found none within ``k`` steps."""
        model, solver = self.model, self.induction_solver
        if self.assumed == 0:
            solver.add(model.domain(0))
        while self.assumed <= k:
            j = self.assumed
            relation, _, _ = self.unrolling.at(j)
            solver.add(relation, model.domain(j + 1))
            later = model.state_terms(j + 1)
            solver.add(*(z3.Or([a != b for a, b in zip(model.state_terms(i), later,
                                                       strict=True)]) for i in range(j + 1)))
            self.assumed += 1
        good = [z3.Not(bad_at(j)) for j in range(k + 1)]
        return self._query(solver, [*good, bad_at(k + 1)], cap=self._proof_cap()) is False

    def _proof_cap(self) -> float:
        """Seconds one proof query may take: ``proof_seconds``, or a third of the time left
        if that is more (a proof is worth more than BMC depth once the time is there)."""
        return max(self.proof_seconds, (self.deadline - time.perf_counter()) / 3)

    def _settle_all(self, k: int) -> None:
        """BMC to depth ``k`` has seen every reachable state: what it has not found never
        happens."""
        self.exhausted = k
        for w in self.waits:
            if w.longer_open(self.ticked.cap):
                w.proved = -1
            if w.witness_open:
                w.never = -1

    def _ended(self, k: int) -> bool:
        """No path from the start has ``k + 1`` transitions at all: every execution has
        ended, and BMC has seen it whole (the facts in `base` hold on every real path)."""
        return self._query(self.base, [], cap=self._proof_cap()) is False

    def _exhausted(self, k: int) -> bool:
        """No path from the start has ``k + 2`` distinct states: BMC to depth ``k`` has seen
        every reachable state."""
        model = self.model
        while self.longest_simple <= k:
            j = self.longest_simple
            relation, _, _ = self.unrolling.at(j)
            later = model.state_terms(j + 1)
            self.simple.add(relation, *(z3.Or([a != b for a, b in zip(model.state_terms(i),
                                                                      later, strict=True)])
                                        for i in range(j + 1)))
            self.longest_simple += 1
        return self._query(self.simple, [], cap=self._proof_cap()) is False

    # ------------------------------------------------------------ verdicts

    def verdict(self, wait: _Wait, stats: Stats) -> CheckResult:  # type: ignore[override]
        m = self.ticked
        name = m.property_names[wait.bit]
        agents = m.explicit.agents
        if wait.unbounded is not None:
            return CheckResult(name, Status.VIOLATED, wait.unbounded, stats, detail=(
                f"z3: unbounded on {agents[wait.agent]}: it waits where nothing can move "
                f"(BMC, depth {wait.depth})"))
        if wait.exceeded:
            return CheckResult(name, Status.VIOLATED, wait.longest, stats, detail=(
                f"z3: {agents[wait.agent]} waits {self._ticks(wait.reached)}, more than "
                f"max = {wait.bound} (BMC, depth {wait.depth}, shortest in steps)"))
        if wait.reached >= m.cap:
            return CheckResult(name, Status.INCOMPLETE, stats=stats, detail=(
                f"z3: {agents[wait.agent]} waits at least {wait.reached} ticks, the tick "
                "counters' cap: longer or unbounded (use --engine explicit)"))
        if wait.proved is None:
            why = self.stopped or f"not proved within {self.reached} steps (--depth)"
            return CheckResult(name, Status.INCOMPLETE, stats=stats, detail=(
                f"z3: worst case at least {self._ticks(wait.reached)} (BMC to depth "
                f"{self.reached}); {why}"))
        proof = (f"BMC is exhaustive: every path has at most {(self.exhausted or 0) + 1} "
                 "distinct states" if wait.proved == -1
                 else f"never exceeded, by k-induction, k={wait.proved}")
        if wait.opened is None:
            if wait.never is None:
                return CheckResult(name, Status.INCOMPLETE, stats=stats, detail=(
                    f"z3: {proof}, but no obligation was seen to open nor shown never to"))
            return CheckResult(name, Status.VACUOUS, stats=stats, detail=(
                f"z3: {proof}; it never has to wait: nothing ever opens"))
        trace = self._closing(wait) if wait.longest is not None else None
        who = f", on {agents[wait.agent]}" if wait.longest is not None else ""
        return CheckResult(name, Status.HOLDS, trace, stats, worst=wait.reached, detail=(
            f"z3: worst case {self._ticks(wait.reached)}{who}: attained by BMC at depth "
            f"{wait.depth}, {proof}"))

    @staticmethod
    def _ticks(n: int) -> str:
        return f"{n} tick{'s' if n != 1 else ''}"

    def _closing(self, wait: _Wait) -> Trace[Any, Any]:
        """The path to the worst wait, continued (on the explicit model, without ticks: the
        wait is proved to last no longer) to the step that ends it, as the explicit engine's
        worst-case traces end."""
        explicit = self.model.explicit
        assert isinstance(explicit, ObligationModel) and wait.longest is not None
        shift = wait.bit * len(explicit.agents) + wait.agent
        trace = wait.longest
        start = trace.states[-1]
        seen: dict[Any, tuple[Any, int] | None] = {start: None}
        queue: deque[Any] = deque([start])
        while queue:
            state = queue.popleft()
            for index, (_, after, tick) in enumerate(explicit.moves(state)):
                if after in seen:
                    continue
                if not explicit.obligations(after) >> shift & 1:     # its tick is not counted
                    seen[after] = (state, index)
                    return self._extend(trace, seen, after)
                if not tick:
                    seen[after] = (state, index)
                    queue.append(after)
        raise EncodingError(f"{self.model.property_names[wait.bit]}: a wait proved to last "
                            f"{wait.reached} ticks cannot end without another tick")

    def _extend(self, trace: Trace[Any, Any], seen: dict[Any, tuple[Any, int] | None], end: Any
                ) -> Trace[Any, Any]:
        """``trace`` followed by the breadth-first path in ``seen`` to ``end``."""
        steps = []
        while (previous := seen[end]) is not None:
            state, index = previous
            steps.append(Step(index, self.model.explicit.actions(state)[index], end))
            end = state
        return Trace(trace.init, trace.steps + tuple(reversed(steps)))
