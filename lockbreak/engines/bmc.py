"""Bounded model checking and k-induction with z3, over any symbolic model.

A *symbolic model* (`SymbolicModel`) gives its transition relation as z3 formulas between
step-indexed copies of its state, and per property two formulas per transition: it violated
the property, it reached the property's witness. `check` then decides each SAFETY property:

- **BMC**: from the initial state, is there a path of ``k + 1`` transitions whose last one
  violates the property? Depths are tried in increasing order, so the first counterexample is
  a shortest one, in steps, exactly like the explicit engine's breadth-first search.
- **k-induction**: from *any* state of the model's domain that satisfies the model's candidate
  invariants z3 proved inductive (`houdini`), can ``k`` safe transitions along a path of
  distinct states be followed by a violating one? If not, and BMC found nothing to depth
  ``k``, the property holds at every depth: it is proved, with that ``k``. The invariant the
  proofs used (its inductive core) is returned with the verdict, in the model's words.
- **Exhaustion**: when no path of ``k`` transitions exists at all, every execution has ended
  and BMC to depth ``k`` has decided everything.

A pass must show it was not vacuous: the witness is searched for by BMC the same way; a
witness shown unreachable (by k-induction on the witness) makes the verdict VACUOUS, and one
neither reached nor excluded leaves it INCOMPLETE. Every counterexample is decoded into the
explicit model's actions and replayed there, state by state, before it is reported; one that
does not replay is an `EncodingError` (a bug), never a result. Properties of other kinds need
the whole state graph, fairness or timing and are reported INCOMPLETE by this engine. Every z3
query runs under the remaining ``timeout`` (and a per-query cap for proof attempts), with a
watchdog that interrupts z3 when its own timeout does not stop it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import z3

from lockbreak.core import (
    A,
    CheckResult,
    LockbreakError,
    Model,
    PropertyKind,
    S,
    Stats,
    Status,
    Step,
    Trace,
)
from lockbreak.engines.houdini import houdini, inductive_core

Bits = Sequence[z3.BoolRef]

# Depths at which the k-induction step and the search for a longer simple path are tried (each
# costs more than a BMC step), and the seconds one such try may take.
INDUCTION_AT = frozenset({0, 1, 2, 4, 8, 12, 16, 20, 25, 30, 40, 50, 60, 80, 100, 150, 200})
INDUCTION_SECONDS = 10.0
# Seconds one Houdini query (one round of dropping candidates) or one unsat-core query for the
# printed invariant may take; a Houdini round out of time leaves no invariant at all.
HOUDINI_SECONDS = 120.0
# Seconds past its time before a query z3 has not stopped is interrupted.
WATCHDOG_GRACE = 0.5

NOT_DECIDED = {
    PropertyKind.CAN_FINISH: "needs the whole state graph",
    PropertyKind.FAIR: "needs fair cycles of the whole state graph",
    PropertyKind.WORST: "needs worst cases over the whole state graph",
}


class EncodingError(LockbreakError):
    """A z3 counterexample that the explicit model does not reproduce: a bug in an encoding."""


class SymbolicModel(Protocol[S, A]):
    """A transition system as z3 formulas over step-indexed copies of its state.

    Copy ``k`` is the state after ``k`` transitions. ``initial()`` constrains copy 0 and says
    which properties the initial state violates and witnesses; ``step(k)`` relates copies ``k``
    and ``k + 1`` and gives, per property (``property_names`` order), whether that transition
    violated and witnessed it. ``domain(k)`` is what every state satisfies by construction
    (`check` proves it inductive before relying on it). ``explicit`` is the model that
    counterexamples replay on: ``decode_actions`` and ``decode_state`` read a z3 model back as
    its actions and (in ``project``'s form) its states. ``logic`` names the SMT-LIB logic of
    its formulas (``QF_BV``), which picks z3's incremental solver. ``candidate_invariants(k)``
    are facts over copy ``k`` the model believes of every reachable state, in one fixed order;
    `check` keeps those it proves inductive together (`houdini`) and assumes them in
    k-induction, so an unreachable state cannot block a proof; ``invariant_text(indices)``
    says those candidates in the model's words, for the invariant a proof prints.
    """

    @property
    def property_names(self) -> Sequence[str]: ...

    @property
    def property_kinds(self) -> Sequence[PropertyKind]: ...

    @property
    def explicit(self) -> Model[S, A]: ...

    @property
    def logic(self) -> str: ...

    def initial(self) -> tuple[z3.BoolRef, Bits, Bits]: ...

    def step(self, k: int) -> tuple[z3.BoolRef, Bits, Bits]: ...

    def domain(self, k: int) -> z3.BoolRef: ...

    def state_terms(self, k: int) -> Sequence[Any]: ...

    def candidate_invariants(self, k: int) -> Sequence[z3.BoolRef]: ...

    def invariant_text(self, indices: Sequence[int]) -> Sequence[str]: ...

    def decode_actions(self, model: z3.ModelRef, length: int) -> Sequence[A]: ...

    def decode_state(self, model: z3.ModelRef, k: int) -> Hashable: ...

    def project(self, state: S) -> Hashable: ...


@dataclass
class _Target:
    """One question: can transition ``k`` violate (or witness) property ``bit``?"""

    bit: int
    witness: bool
    found: Trace[Any, Any] | None = None   # BMC reached it (a replayed trace)
    excluded_k: int | None = None          # k-induction (or exhaustion) showed it never happens
    solver: z3.Solver | None = None        # the induction solver, built on first use
    assumed: int = 0                       # transitions added to it so far

    @property
    def open(self) -> bool:
        return self.found is None and self.excluded_k is None


@dataclass
class _Unrolling:
    """Transition formulas per depth, shared by every solver."""

    model: SymbolicModel[Any, Any]
    steps: list[tuple[z3.BoolRef, Bits, Bits]] = field(default_factory=list)

    def at(self, k: int) -> tuple[z3.BoolRef, Bits, Bits]:
        while len(self.steps) <= k:
            self.steps.append(self.model.step(len(self.steps)))
        return self.steps[k]

    def bit(self, target: _Target, k: int) -> z3.BoolRef:
        _, violated, witnessed = self.at(k)
        return (witnessed if target.witness else violated)[target.bit]


def check(model: SymbolicModel[S, A], *, properties: Sequence[str] | None = None,
          depth: int = 40, timeout: float | None = None,
          induction: bool = True) -> list[CheckResult]:
    """Decide ``model``'s SAFETY properties by BMC and k-induction up to ``depth`` steps.

    Returns one `CheckResult` per selected property, in ``property_names`` order: VIOLATED
    with a shortest counterexample replayed on ``model.explicit``; HOLDS when proved for every
    depth (k-induction, or every execution ends) and the witness was reached; VACUOUS when
    proved and the witness was shown unreachable; INCOMPLETE otherwise, with the reason.
    ``induction=False`` runs BMC alone: counterexamples only, nothing is proved.

    Raises
    ------
    EncodingError
        The model's ``domain`` is not inductive, or a counterexample does not replay on
        ``model.explicit``: the symbolic model is wrong, and no verdict can be trusted.
    """
    began = time.perf_counter()
    deadline = began + timeout if timeout is not None else float("inf")
    names = list(model.property_names)
    unknown = [p for p in properties or () if p not in names]
    if unknown:
        raise LockbreakError(f"unknown property {unknown[0]!r}; this model has: "
                             f"{', '.join(names)}")
    bits = [b for b, name in enumerate(names) if properties is None or name in properties]
    safety = [b for b in bits if model.property_kinds[b] is PropertyKind.SAFETY]
    search = Search(model, safety, depth, deadline, induction)
    if safety:
        search.run()
        search.shorten()
    seconds = time.perf_counter() - began
    results = []
    for b in bits:
        kind = model.property_kinds[b]
        stats = Stats(0, 0, search.reached, seconds)
        if kind is not PropertyKind.SAFETY:
            results.append(CheckResult(names[b], Status.INCOMPLETE, stats=stats,
                                       detail=f"not decidable by the z3 engine: {kind.value} "
                                              f"{NOT_DECIDED.get(kind, 'is not safety')}"))
            continue
        results.append(search.verdict(b, stats))
    return results


class Search:
    """BMC and k-induction for a set of properties, one depth at a time."""

    def __init__(self, model: SymbolicModel[Any, Any], bits: list[int], depth: int,
                 deadline: float, induction: bool) -> None:
        self.model, self.depth, self.deadline = model, depth, deadline
        self.induction = induction
        self.unrolling = _Unrolling(model)
        self.violation = {b: _Target(b, False) for b in bits}
        self.witness = {b: _Target(b, True) for b in bits}
        self.base = z3.SolverFor(model.logic)
        self.simple = z3.SolverFor(model.logic)   # paths of distinct states from the start
        self.reached = 0           # BMC covered every path of this many transitions
        self.exhausted: int | None = None
        self.stopped = ""          # why the search ended early (a timeout)
        self.proving = 0.0         # seconds spent on proof attempts so far
        self.invariants: list[int] | None = None   # candidates proved inductive (`houdini`)
        self.candidates = 0        # how many candidates Houdini started from
        self.core: list[int] | None = None   # the part of them the proofs need (`shorten`)

    # ------------------------------------------------------------ the loop

    def run(self) -> None:
        began = time.perf_counter()
        init, violated, witnessed = self.model.initial()
        if not self._check_domain(init):
            return
        self.base.add(init)
        for b in self.violation:
            if z3.is_true(z3.simplify(violated[b])):
                self.violation[b].found = self._replay(None, 0, self.violation[b])
            if z3.is_true(z3.simplify(witnessed[b])):
                self.witness[b].found = Trace(self.model.explicit.init_states()[0])
        self.simple.add(init)
        for k in range(self.depth):
            if not self._targets():
                return
            relation, _, _ = self.unrolling.at(k)
            self.base.add(relation)
            if not self._bmc(k):
                return
            self.reached = k + 1
            if not self.induction or k not in INDUCTION_AT:
                continue
            # Under a timeout, proof attempts take a third of it, or as long as BMC has taken
            # if that is more: running out of time must still leave BMC most of its depth.
            t0 = time.perf_counter()
            if self._covered(k):
                for target in self._targets():
                    target.excluded_k = -1
                return
            for target in self._targets(induction=True):
                share = max((self.deadline - began) / 3, t0 - began - self.proving)
                if self.proving + time.perf_counter() - t0 > share:
                    break
                if self._induct(target, k):
                    target.excluded_k = k
            self.proving += time.perf_counter() - t0
            if self.stopped:
                return

    def _bmc(self, k: int) -> bool:
        """Settle every open target at transition ``k``; False when out of time.

        One query asks for any of them; a path found settles every target it reaches, and the
        rest are asked again. An unsat answer is kept as a fact (no open target can happen at
        ``k``), which later, deeper queries reuse.
        """
        while True:
            open_ = self._targets()
            if not open_:
                return True
            bits = [self.unrolling.bit(t, k) for t in open_]
            found = self._query(self.base, [z3.Or(bits)])
            if found is None:
                return False
            if not found:
                self.base.add(z3.Not(z3.Or(bits)))
                return True
            path = self.base.model()
            for target, bit in zip(open_, bits, strict=True):
                if z3.is_true(path.eval(bit, model_completion=True)):
                    target.found = self._replay(path, k + 1, target)

    def _covered(self, k: int) -> bool:
        """True when no path from the initial state has ``k + 2`` distinct states: then every
        reachable state is reached within ``k`` transitions, and BMC, having looked at every
        transition ``0..k``, has seen every transition the model can take."""
        relation, _, _ = self.unrolling.at(k)
        later = self.model.state_terms(k + 1)
        self.simple.add(relation, *(z3.Or([a != b for a, b in zip(self.model.state_terms(i),
                                                                   later, strict=True)])
                                    for i in range(k + 1)))
        longer = self._query(self.simple, [], cap=INDUCTION_SECONDS)
        if longer is False:
            self.exhausted = k
            return True
        return False

    def _targets(self, induction: bool = False) -> list[_Target]:
        """Open questions: violations not yet settled, witnesses of properties not violated
        (by induction only once the violation itself is proved impossible)."""
        out = [t for t in self.violation.values() if t.open]
        for b, t in self.witness.items():
            if t.open and self.violation[b].found is None and (
                    not induction or self.violation[b].excluded_k is not None):
                out.append(t)
        return out

    def _query(self, solver: z3.Solver, assumptions: list[z3.BoolRef],
               cap: float | None = None) -> bool | None:
        """sat -> True, unsat -> False, out of time -> None. Running out of the whole budget
        sets `stopped`; running out of ``cap`` (seconds for this query alone) does not.

        z3's own timeout is not checked while it preprocesses a large formula, so a watchdog
        interrupts the query too, shortly after its time is up.
        """
        left = self.deadline - time.perf_counter()
        if left <= 0:
            self.stopped = "timed out (--timeout)"
            return None
        allowed = min(left, cap) if cap is not None else left
        limited = allowed != float("inf")
        solver.set("timeout", max(1, int(allowed * 1000)) if limited else 0)
        watchdog = threading.Timer(allowed + WATCHDOG_GRACE, solver.ctx.interrupt)
        if limited:
            watchdog.start()
        try:
            answer = solver.check(*assumptions)
        finally:
            watchdog.cancel()
        if answer == z3.unknown:
            if cap is None or time.perf_counter() >= self.deadline:
                reason = solver.reason_unknown()
                self.stopped = ("timed out (--timeout)" if reason in (
                    "timeout", "canceled", "interrupted from keyboard")
                                else f"z3 gave up ({reason})")
            return None
        return answer == z3.sat

    def _induct(self, target: _Target, k: int) -> bool:
        """The k-induction step: can ``k`` safe transitions be followed by a bad one?"""
        model, unrolling = self.model, self.unrolling
        if target.solver is None:
            target.solver = z3.SolverFor(model.logic)
            target.solver.add(model.domain(0), *self._invariants(0))
        solver = target.solver
        while target.assumed <= k:
            j = target.assumed
            relation, _, _ = unrolling.at(j)
            solver.add(relation, model.domain(j + 1), *self._invariants(j + 1))
            if j > 0:
                solver.add(z3.Not(unrolling.bit(target, j - 1)))
            later = model.state_terms(j + 1)
            for i in range(j + 1):
                solver.add(z3.Or([a != b for a, b in zip(model.state_terms(i), later,
                                                         strict=True)]))
            target.assumed += 1
        return self._query(solver, [unrolling.bit(target, k)], cap=INDUCTION_SECONDS) is False

    def _invariants(self, k: int) -> list[z3.BoolRef]:
        """The proved invariants over copy ``k``; Houdini runs on first use (not once the
        budget is spent: mining candidates cannot be interrupted)."""
        if self.invariants is None and time.perf_counter() >= self.deadline:
            self.invariants = []
        if self.invariants is None:
            init, _, _ = self.model.initial()
            relation, _, _ = self.unrolling.at(0)
            transition = z3.And(self.model.domain(0), relation, self.model.domain(1))
            self.candidates = len(self.model.candidate_invariants(0))
            found = houdini(init, transition, self.model.candidate_invariants(0),
                            self.model.candidate_invariants(1), self.model.logic,
                            lambda solver, assumed: self._query(solver, assumed,
                                                                cap=HOUDINI_SECONDS))
            self.invariants = found or []
        if not self.invariants:
            return []
        candidates = self.model.candidate_invariants(k)
        return [candidates[i] for i in self.invariants]

    def shorten(self) -> None:
        """Set `core`: the proved invariants the k-induction proofs need, closed under what
        their own inductiveness needs (`inductive_core`), so the printed invariant is short
        and inductive by itself. Out of time, the whole set Houdini kept is the invariant."""
        proofs = [t for t in (*self.violation.values(), *self.witness.values())
                  if t.excluded_k is not None and t.excluded_k >= 0]
        if not self.invariants or not proofs:
            return
        self.core = list(self.invariants)
        seeds: set[int] = set()
        for target in proofs:
            if time.perf_counter() >= self.deadline:
                return
            needed = self._needed(target)
            if needed is None:
                return
            seeds |= needed
        relation, _, _ = self.unrolling.at(0)
        transition = z3.And(self.model.domain(0), relation, self.model.domain(1))
        found = inductive_core(transition, self.model.candidate_invariants(0),
                               self.model.candidate_invariants(1), self.invariants,
                               sorted(seeds), self.model.logic,
                               lambda solver, assumed: self._query(solver, assumed,
                                                                   cap=HOUDINI_SECONDS))
        if found is not None:
            self.core = found

    def _needed(self, target: _Target) -> set[int] | None:
        """The proved invariants the k-induction step of ``target`` uses (an unsat core)."""
        model, unrolling, k = self.model, self.unrolling, target.excluded_k
        assert self.invariants is not None and k is not None
        solver = z3.SolverFor(model.logic)
        solver.set("core.minimize", True)
        marks = {i: z3.Bool(f"invariant#{i}") for i in self.invariants}
        for j in range(k + 2):
            candidates = model.candidate_invariants(j)
            solver.add(model.domain(j), *(z3.Implies(mark, candidates[i])
                                          for i, mark in marks.items()))
            if j <= k:
                relation, _, _ = unrolling.at(j)
                solver.add(relation)
            if j < k:
                solver.add(z3.Not(unrolling.bit(target, j)))
            solver.add(*(z3.Or([a != b for a, b in zip(model.state_terms(i),
                                                       model.state_terms(j), strict=True)])
                         for i in range(j)))
        answer = self._query(solver, [*marks.values(), unrolling.bit(target, k)],
                             cap=HOUDINI_SECONDS)
        if answer is not False:
            return None
        index = {mark.get_id(): i for i, mark in marks.items()}
        return {index[m.get_id()] for m in solver.unsat_core() if m.get_id() in index}

    def invariant(self) -> tuple[str, ...]:
        """The invariant the proofs assumed, in the model's words (empty: none)."""
        return tuple(self.model.invariant_text(self.core)) if self.core else ()

    def _check_domain(self, init: z3.BoolRef) -> bool:
        """The model's domain holds initially and after every transition from it; False when
        the budget ran out before z3 could tell (then nothing may be proved)."""
        relation, _, _ = self.unrolling.at(0)
        for query, wrong in (([init, z3.Not(self.model.domain(0))], "initial state is "
                              "outside its domain"),
                             ([self.model.domain(0), relation, z3.Not(self.model.domain(1))],
                              "domain is not inductive")):
            solver = z3.SolverFor(self.model.logic)
            solver.add(*query)
            answer = self._query(solver, [])
            if answer is None:
                return False
            if answer:
                raise EncodingError(f"the symbolic model's {wrong}")
        return True

    # ------------------------------------------------------------ traces

    def _replay(self, found: z3.ModelRef | None, length: int, target: _Target
                ) -> Trace[Any, Any]:
        """The explicit execution of a z3 path, checked state by state, ending in what
        ``target`` asks for."""
        trace, last = self._walk(found, length)
        if not last[1 if target.witness else 0] >> target.bit & 1:
            what = "witness" if target.witness else "violation"
            raise EncodingError(f"a z3 {what} of {self.model.property_names[target.bit]} is no "
                                f"{what} in the explicit model")
        return trace

    def _walk(self, found: z3.ModelRef | None, length: int
              ) -> tuple[Trace[Any, Any], tuple[int, int]]:
        """The explicit execution of the first ``length`` transitions of a z3 path (None: the
        initial state alone), checked state by state, and what its last transition (or the
        initial state) violated and witnessed."""
        model = self.model
        explicit = model.explicit
        state = explicit.init_states()[0]
        if found is not None and model.project(state) != model.decode_state(found, 0):
            raise EncodingError("the z3 path starts elsewhere than the explicit model")
        steps = []
        actions = model.decode_actions(found, length) if found is not None else []
        last = (0, 0) if found is not None else explicit.observe(None, None, state)
        for j, action in enumerate(actions):
            enabled = list(explicit.actions(state))
            if action not in enabled:
                raise EncodingError(f"step {j + 1} of a z3 path: {action} cannot move in the "
                                    "explicit model")
            after = explicit.next_state(state, action)
            assert found is not None
            if model.project(after) != model.decode_state(found, j + 1):
                raise EncodingError(f"step {j + 1} of a z3 path ({action}) reaches another "
                                    "state in the explicit model")
            last = explicit.observe(state, action, after)
            steps.append(Step(enabled.index(action), action, after))
            state = after
        return Trace(explicit.init_states()[0], tuple(steps)), last

    # ------------------------------------------------------------ verdicts

    def verdict(self, bit: int, stats: Stats) -> CheckResult:
        name = self.model.property_names[bit]
        bad, seen = self.violation[bit], self.witness[bit]
        if bad.found is not None:
            return CheckResult(name, Status.VIOLATED, bad.found, stats,
                               f"z3: BMC found it at depth {len(bad.found)}")
        if bad.excluded_k is None:
            why = self.stopped or f"no violation within {self.reached} steps (--depth)"
            tried = (f"k-induction did not close up to k={self.reached - 1}" if self.induction
                     else "k-induction not tried")
            return CheckResult(name, Status.INCOMPLETE, stats=stats,
                               detail=f"z3: {why}, BMC reached depth {self.reached}; {tried}")
        proof = self._proof(bad)
        inductive = bad.excluded_k >= 0 or (seen.excluded_k or -1) >= 0
        invariant = self.invariant() if inductive else ()
        if seen.found is not None:
            return CheckResult(name, Status.HOLDS, stats=stats, invariant=invariant,
                               detail=f"z3: {proof}; witness reached in {len(seen.found)} steps")
        if seen.excluded_k is not None:
            how = ("" if seen.excluded_k == bad.excluded_k else
                   f" (k-induction, k={seen.excluded_k})" if seen.excluded_k >= 0 else
                   f" ({self._proof(seen)})")
            return CheckResult(name, Status.VACUOUS, stats=stats, invariant=invariant,
                               detail=f"z3: {proof}, but its witness is unreachable{how}")
        return CheckResult(name, Status.INCOMPLETE, stats=stats, invariant=invariant,
                           detail=f"z3: {proof}, but its witness was neither reached within "
                                  f"{self.reached} steps nor shown unreachable")

    def _proof(self, target: _Target) -> str:
        if target.excluded_k == -1 and self.exhausted is not None:
            return (f"BMC is exhaustive: no path from the start has more than "
                    f"{self.exhausted + 1} distinct states")
        done = f"proved by k-induction, k={target.excluded_k}"
        if not self.invariants:
            return done
        kept = _count(len(self.invariants), "fact")
        if self.core is None or len(self.core) == len(self.invariants):
            return f"{done}, assuming an inductive invariant of {kept}"
        return (f"{done}, assuming an inductive invariant of {_count(len(self.core), 'fact')} "
                f"(of {kept} proved inductive, from {_count(self.candidates, 'candidate')})")


def _count(n: int, noun: str) -> str:
    """``1 fact``, ``2 facts``, ``1,094 facts``."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")
