"""Houdini: the largest subset of candidate facts that z3 proves inductive together.

A model offers candidate invariants (facts it believes of every reachable state, each a z3
formula over one step-indexed copy of its state). A candidate is dropped when the initial
state can falsify it, or when one transition from a state satisfying every surviving candidate
(and the model's domain) can falsify it; the loop repeats until no candidate falls. What
survives holds initially and is preserved by every transition, so it holds in every reachable
state: k-induction may assume it at every copy without admitting a single unreachable
counterexample. Each query drops at least one candidate, so the loop ends.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import z3

# sat -> True, unsat -> False, out of time -> None (the caller's budgeted query).
Query = Callable[[z3.Solver, list[z3.BoolRef]], bool | None]


def houdini(initial: z3.BoolRef, transition: z3.BoolRef, before: Sequence[z3.BoolRef],
            after: Sequence[z3.BoolRef], logic: str, query: Query) -> list[int] | None:
    """Indices of the candidates proved inductive together; None when out of time.

    ``initial`` constrains copy 0, ``transition`` relates copy 0 (with the model's domain) to
    copy 1; ``before[i]`` and ``after[i]`` are candidate ``i`` over copies 0 and 1. Each round
    is a fresh solver for ``logic``: without assumptions z3 bit-blasts a QF_BV query whole,
    which is several times faster here than an incremental solver that keeps its lemmas.
    """
    alive = list(range(len(before)))
    for constraint, facts in ((initial, before), (transition, after)):
        while alive:
            solver = z3.SolverFor(logic)
            premises = [before[i] for i in alive] if facts is after else []
            solver.add(constraint, *premises, z3.Not(z3.And([facts[i] for i in alive])))
            answer = query(solver, [])
            if answer is None:
                return None
            if not answer:
                break
            _drop(solver.model(), facts, alive)
    return alive


def _drop(found: z3.ModelRef, formulas: Sequence[z3.BoolRef], alive: list[int]) -> None:
    """Drop from ``alive`` the candidates ``found`` falsifies (at least one: it was asked to)."""
    falls = {i for i in alive if z3.is_false(found.eval(formulas[i], model_completion=True))}
    assert falls, "a model of 'some candidate is false' falsified none"
    alive[:] = [i for i in alive if i not in falls]


def inductive_core(transition: z3.BoolRef, before: Sequence[z3.BoolRef],
                   after: Sequence[z3.BoolRef], alive: Sequence[int], seeds: Sequence[int],
                   logic: str, query: Query) -> list[int] | None:
    """A subset of ``alive`` (candidates proved inductive together) that holds ``seeds`` and
    is inductive by itself; None when out of time.

    Houdini keeps every candidate that survives, most of which no proof needs. Starting from
    the ``seeds`` (those a proof used), z3's unsat core of "one transition falsifies a kept
    fact" names the facts that transition needs; they join, and their own needs are asked in
    turn, until nothing new is needed. Every fact kept holds initially (it survived Houdini)
    and is preserved by every transition from a state satisfying the rest: the result is an
    inductive invariant a reader can check, much shorter than what Houdini kept.
    """
    solver = z3.SolverFor(logic)
    solver.add(transition)
    marks = {i: z3.Bool(f"invariant#{i}") for i in alive}
    index = {mark.get_id(): i for i, mark in marks.items()}
    for i in alive:
        solver.add(z3.Implies(marks[i], before[i]))
    core = set(seeds)
    todo = sorted(core)
    while todo:
        answer = query(solver, [*marks.values(), z3.Not(z3.And([after[i] for i in todo]))])
        if answer is None:
            return None
        if answer:       # cannot happen for candidates Houdini kept: a broken caller
            raise ValueError("inductive_core: the kept candidates are not inductive")
        needed = {index[m.get_id()] for m in solver.unsat_core() if m.get_id() in index}
        todo = sorted(needed - core)
        core |= needed
    return sorted(core)
