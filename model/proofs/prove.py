"""Prove an era's lock-break loop safe for every number of CPUs, and judge its contracts.

1. Compile the loop (`loops`) and generate its moves (`transition`).
2. Build the candidate pool (`candidates`) and drop every conjunct that a reachable state of
   the explicit model with 2 CPUs refutes (a cheap filter; it decides nothing by itself).
3. Houdini: drop conjuncts false initially, then, while the conjunction is not inductive, take
   z3's counterexample to induction and drop the conjuncts false after its step. What is left
   is inductive for every number of CPUs: z3 said unsat, over an uninterpreted CPU sort.
4. Each goal is proved when its conjuncts survived (state goals) or when no move from a state
   of the invariant breaks it (contracts, FIFO). Otherwise the counterexample to induction is
   decoded into kernel words. z3 ``unknown`` makes a goal undecided, never proved.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import z3

from lockbreak.core import LockbreakError
from model.eras import Era
from model.kernel import KernelModel
from model.program import ACQUIRING, Op
from model.proofs import goals as G
from model.proofs.candidates import Candidate, conjoin, mutual_exclusion, pool
from model.proofs.loops import Loop, compile_loop, explicit_world
from model.proofs.render import state_lines, where
from model.proofs.structure import Structure, from_z3, reachable
from model.proofs.symlocks import FIFO_LOCKS
from model.proofs.transition import Generator, Move, frame, live_registers
from model.proofs.vocabulary import COUNT_LIMIT, Frame, vocabulary

EXPLICIT_CPUS, EXPLICIT_WAKEUPS = 2, 1


class Verdict(enum.Enum):
    PROVED = "proved"
    FAILED = "failed"
    UNDECIDED = "undecided"
    NOT_APPLICABLE = "n/a"
    VACUOUS = "vacuous"         # proved, but 2 concrete CPUs never reach its witness


@dataclass(frozen=True)
class GoalResult:
    goal: G.Goal
    verdict: Verdict
    cti: tuple[str, ...] = ()       # the counterexample to induction, in kernel words
    note: str = ""


@dataclass(frozen=True)
class LoopProof:
    """The proof of one loop shape under one era and lock algorithm."""

    loop: Loop
    results: tuple[GoalResult, ...]
    invariant: tuple[str, ...]      # the inductive invariant, one line per conjunct group
    conjuncts: int
    explicit_states: int
    queries: int
    seconds: float

    def result(self, name: str) -> GoalResult:
        return next(r for r in self.results if r.goal.name == name)


class Undecided(Exception):
    """z3 answered unknown."""


@contextmanager
def scope(solver: z3.Solver) -> Iterator[z3.Solver]:
    """One query's assertions: pushed on entry, popped on exit (also on `Undecided`)."""
    solver.push()
    try:
        yield solver
    finally:
        solver.pop()


@dataclass
class Prover:
    """One loop's vocabulary, moves and transition relation, and the z3 queries over them."""

    loop: Loop
    timeout_ms: int
    queries: int = 0
    moves: list[Move] = field(init=False)

    def __post_init__(self) -> None:
        loop = self.loop
        self.code = loop.program.code
        if not self.code[0].is_step:
            raise LockbreakError("a proof loop must start with a step")
        self.pcs = loop.step_pcs()
        self.voc = vocabulary(self.pcs, live_registers(loop))
        self.s, self.t = Frame(self.voc, ""), Frame(self.voc, "'")
        self.me = z3.Const("me", self.voc.cpu)
        self.moves = list(Generator(loop, self.voc, self.s, self.me).moves())
        self.sel = z3.Int("move", self.voc.ctx)
        self.trans = z3.And(
            frame(self.s, self.t, self.me),
            z3.Or([z3.And(self.sel == i, m.guard, m.post(self.t, self.me))
                   for i, m in enumerate(self.moves)]))

    def solver(self) -> z3.Solver:
        solver = z3.Solver(ctx=self.voc.ctx)
        solver.set("timeout", self.timeout_ms)
        solver.add(self.voc.order_axioms())
        return solver

    def check(self, solver: z3.Solver) -> bool:
        """True when sat (a model exists); `Undecided` on unknown."""
        self.queries += 1
        answer = solver.check()
        if answer == z3.unknown:
            raise Undecided(solver.reason_unknown())
        return answer == z3.sat

    # ------------------------------------------------------------ Houdini

    def houdini(self, cands: list[Candidate]) -> list[Candidate]:
        """The largest subset of ``cands`` that holds initially and is inductive."""
        init = self.solver()
        init.add(self.s.initial())
        while True:
            with scope(init):
                init.add(z3.Not(conjoin(self.s, cands)))
                if not self.check(init):
                    break
                st, _ = from_z3(init.model(), self.s)
            cands = self._drop(cands, st)
        step = self.solver()
        step.add(self.trans)
        while True:
            with scope(step):
                step.add(conjoin(self.s, cands))
                step.add(z3.Not(conjoin(self.t, cands)))
                if not self.check(step):
                    return cands
                st, _ = from_z3(step.model(), self.t)
            cands = self._drop(cands, st)

    def _drop(self, cands: list[Candidate], st: Structure) -> list[Candidate]:
        kept = [c for c in cands if c.judge(st)]
        if len(kept) == len(cands):
            # the Python judges and the z3 formulas disagree: decide nothing rather than loop
            raise Undecided("no candidate's judge agrees with z3's counterexample")
        return kept

    # ------------------------------------------------------------ counterexamples

    def cti(self, inv: Sequence[Candidate], extra: z3.BoolRef, moves: Sequence[int],
            broken: str) -> tuple[str, ...] | None:
        """A state of ``inv`` and a move from it (one of ``moves``) where ``extra`` holds."""
        solver = self.solver()
        solver.add(conjoin(self.s, inv))
        solver.add(z3.Or([self.sel == i for i in moves]))
        solver.add(self.trans)
        solver.add(extra)
        if not self.check(solver):
            return None
        model = solver.model()
        before, cpus = from_z3(model, self.s)
        after, _ = from_z3(model, self.t)
        move = self.moves[model.eval(self.sel).as_long()]
        me = next(i for i, c in enumerate(cpus)
                  if z3.eq(c, model.eval(self.me, model_completion=True)))
        lock = self.loop.lock
        said = []
        if move.returned is not None:
            site, value, dropped = move.returned
            ret = int(z3.is_true(model.eval(value, model_completion=True)))
            how = ("after dropping" if z3.is_true(model.eval(dropped, model_completion=True))
                   else "without dropping")
            said = [f"        {site} returns {ret} {how} L"]
        lines = [f"counterexample to induction with {_cpus(len(cpus))}",
                 "  a state the invariant allows:",
                 *state_lines(before, self.code, lock, "    "),
                 f"  step: cpu{me}: {move.text}", *said,
                 "  after it:",
                 *state_lines(after, self.code, lock, "    "),
                 f"  => {broken}"]
        return tuple(lines)


def prove_loop(loop: Loop, timeout_ms: int = 120_000) -> LoopProof:
    """Prove the goals of ``loop`` for every number of CPUs (see the module docstring)."""
    started = time.perf_counter()
    p = Prover(loop, timeout_ms)
    world = explicit_world(loop, EXPLICIT_CPUS, EXPLICIT_WAKEUPS)
    states = list(set(reachable(KernelModel(world, ()), loop.lock, p.voc.regs)))
    seen = {cs.pc for st in states for cs in st.cpus}
    max_count = max(cs.count for st in states for cs in st.cpus)
    sched = [pc for pc in p.pcs if p.code[pc].op is Op.SCHEDULE]
    safety = mutual_exclusion()
    bound = Candidate(("preempt_count_bound",), f"preempt_count <= {COUNT_LIMIT}", 1,
                      lambda s, c: z3.ULE(s.count(c), s.voc.count(COUNT_LIMIT)),
                      lambda st: all(cs.count <= COUNT_LIMIT for cs in st.cpus))
    alone = _one_cpu_views(states)
    cands = [c for c in pool(loop.lock, p.pcs, p.code, p.voc.regs, seen, max_count)
             if all(c.judge(st) for st in (alone if c.pc >= 0 else states))]
    cands += [safety, bound]        # kept even when 2 CPUs refute them: Houdini shows how
    try:
        inv = p.houdini(cands)
    except Undecided as err:
        return _undecided(p, loop, f"z3: unknown ({err}); raise --timeout", len(states),
                          started)
    kept = {c.key for c in inv}
    results = []
    if bound.key not in kept:
        return _undecided(p, loop, "preempt_count leaves its 3-bit encoding", len(states), started)
    seen_witness = _witnesses(p, states)
    for goal in G.GOALS:
        try:
            result = _judge(p, goal, inv, kept, sched, safety)
            if result.verdict is Verdict.PROVED and goal.witness not in seen_witness:
                result = GoalResult(goal, Verdict.VACUOUS, note=f"never seen: {goal.witness}")
            results.append(result)
        except Undecided as err:
            results.append(GoalResult(goal, Verdict.UNDECIDED,
                                      note=f"z3: unknown ({err}); raise --timeout"))
    return LoopProof(loop, tuple(results), _invariant_text(p, inv), len(inv), len(states),
                     p.queries, time.perf_counter() - started)


def _witnesses(p: Prover, states: Sequence[Structure]) -> set[str]:
    """Which goal witnesses the reachable states of 2 concrete CPUs show."""
    code = p.code
    found = set()
    for st in states:
        waiting = any(code[cs.pc].flags & ACQUIRING and not cs.holds for cs in st.cpus)
        if waiting and any(cs.holds for cs in st.cpus):
            found.add(G.CONTENDED)
        if any(cs.dropped for cs in st.cpus):
            found.add(G.BROKE)
        if any(cs.queued for cs in st.cpus):
            found.add(G.QUEUED)
        if any(code[cs.pc].op is Op.SCHEDULE or (cs.need and cs.count == 0)
               for cs in st.cpus):
            found.add(G.SCHEDULED)
    return found


def _cpus(n: int) -> str:
    return f"{n} CPU" if n == 1 else f"{n} CPUs"


def _one_cpu_views(states: Sequence[Structure]) -> set[Structure]:
    """Each CPU of each state on its own with the lock: all a program-point conjunct reads."""
    return {replace(st, cpus=(cs,), owner=0 if st.owner == i else -1)
            for st in states for i, cs in enumerate(st.cpus)}


def _undecided(p: Prover, loop: Loop, why: str, n: int, started: float) -> LoopProof:
    results = tuple(GoalResult(g, Verdict.UNDECIDED, note=why) for g in G.GOALS)
    return LoopProof(loop, results, (), 0, n, p.queries, time.perf_counter() - started)


def _judge(p: Prover, goal: G.Goal, inv: list[Candidate], kept: set[tuple[object, ...]],
           sched: list[int], safety: Candidate) -> GoalResult:
    everything = list(range(len(p.moves)))
    if goal.name == "mutual_exclusion":
        if safety.key in kept:
            return GoalResult(goal, Verdict.PROVED)
        return _failed(p, goal, inv, z3.Not(safety.formula(p.t)), everything, safety.formula(p.s))
    if goal.name == "no_sleep_in_atomic":
        zero = p.voc.count(0)
        missing = [pc for pc in sched if ("at", pc, "preempt_count == 0") not in kept
                   and ("unreached", pc) not in kept]
        if not missing:
            note = (f"{len(sched)} schedule() call{'s' if len(sched) > 1 else ''} in the loop"
                    if sched else "no schedule() call in the loop; preemption only at "
                    "preempt_count 0")
            return GoalResult(goal, Verdict.PROVED, note=note)
        # a schedule() site is never preempted (its own step is the schedule)
        bad = z3.Or([z3.And(p.sel == i, p.s.count(p.me) != zero)
                     for i, m in enumerate(p.moves) if m.pc in missing])
        return _failed(p, goal, inv, bad, everything, p.voc.bool(True))
    if goal.kind == G.CONTRACT:
        carriers = [i for i, m in enumerate(p.moves) if goal.name in m.events]
        if not carriers:
            return GoalResult(goal, Verdict.NOT_APPLICABLE,
                              note="cond_resched_lock returns void in this era")
        bad = z3.Or([z3.And(p.sel == i, z3.Not(p.moves[i].events[goal.name]))
                     for i in carriers])
        return _failed(p, goal, inv, bad, carriers, p.voc.bool(True))
    if p.loop.lock not in FIFO_LOCKS:
        return GoalResult(goal, Verdict.NOT_APPLICABLE,
                          note=f"{p.loop.lock} is not FIFO: the unlocker may win again")
    w, d = z3.Consts("w d", p.voc.cpu)
    s, t = p.s, p.t
    waiting = z3.And(s.queued(w), t.queued(w))
    if goal.name == "fifo_no_overtaking":
        bad = z3.And(waiting, _ahead(t, w, d), z3.Not(_ahead(s, w, d)))
        return _failed(p, goal, inv, bad, everything, p.voc.bool(True))
    releases = [i for i, m in enumerate(p.moves) if m.release]
    bad = z3.And(waiting, z3.Not(z3.And(_ahead(s, w, p.me), z3.Not(_ahead(t, w, p.me)))))
    return _failed(p, goal, inv, bad, releases, p.voc.bool(True))


def _ahead(f: Frame, w: z3.ExprRef, d: z3.ExprRef) -> z3.BoolRef:
    """``d`` is ahead of the waiter ``w``: it owns L, or it is queued before ``w``."""
    return z3.And(d != w, z3.Or(f.owns(d), z3.And(f.queued(d), f.voc.lt(f.pos(d), f.pos(w)))))


def _failed(p: Prover, goal: G.Goal, inv: list[Candidate], bad: z3.BoolRef,
            moves: list[int], assume: z3.BoolRef) -> GoalResult:
    cti = p.cti(inv, z3.And(assume, bad), moves, f"{goal.name} broken: {goal.statement}")
    if cti is None:
        return GoalResult(goal, Verdict.PROVED)
    return GoalResult(goal, Verdict.FAILED, cti)


def _invariant_text(p: Prover, inv: list[Candidate]) -> tuple[str, ...]:
    """The invariant grouped by program point: for every CPU at that point, what holds."""
    lines = []
    by_pc: dict[int, list[str]] = {}
    for c in inv:
        by_pc.setdefault(c.pc, []).append(c.text)
    for c in inv:
        if c.pc < 0:
            lines.append(f"{'always' if c.arity == 0 else 'for all CPUs'}: {c.text}")
    for pc in p.pcs:
        texts = by_pc.get(pc, [])
        if "no CPU is ever here" in texts:
            texts = ["no CPU is ever here"]
        texts = [t for t in texts if not _implied(t, texts)]
        if texts:
            lines.append(f"at {where(p.code, pc)}  [pc {pc}]: {'; '.join(texts)}")
    return tuple(lines)


def _implied(text: str, texts: list[str]) -> bool:
    """``local rN == whether it dropped L`` says nothing more when both sides are pinned."""
    if not text.endswith(" == whether it dropped L"):
        return False
    reg = text.removesuffix(" == whether it dropped L")
    dropped = "dropped L in this cond_resched_lock"
    return (reg in texts or f"not {reg}" in texts) and (dropped in texts
                                                         or f"not {dropped}" in texts)


def prove_era(era: Era, lock: str | None = None, shapes: Sequence[str] = ("flat", "nested"),
              timeout_ms: int = 120_000) -> tuple[LoopProof, ...]:
    """Every loop shape of ``era`` proved (or not) for every number of CPUs."""
    return tuple(prove_loop(compile_loop(era, lock, shape), timeout_ms) for shape in shapes)
