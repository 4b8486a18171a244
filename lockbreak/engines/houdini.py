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
    copy 1; ``before[i]`` and ``after[i]`` are candidate ``i`` over copies 0 and 1.
    """
    alive = list(range(len(before)))
    start = z3.SolverFor(logic)
    start.add(initial)
    if _filter(start, [], after=before, alive=alive, query=query) is None:
        return None
    step = z3.SolverFor(logic)
    step.add(transition)
    while alive:
        kept = _filter(step, [before[i] for i in alive], after=after, alive=alive,
                       query=query)
        if kept is None:
            return None
        if kept:
            break
    return alive


def _filter(solver: z3.Solver, assumed: list[z3.BoolRef], *, after: Sequence[z3.BoolRef],
            alive: list[int], query: Query) -> bool | None:
    """Drop from ``alive`` the candidates one model of ``solver`` (under ``assumed``) falsifies.

    True when none can be falsified, False when some were dropped, None when out of time.
    """
    while alive:
        solver.push()
        solver.add(*assumed)
        answer = query(solver, [z3.Not(z3.And([after[i] for i in alive]))])
        if answer is None:
            solver.pop()
            return None
        if not answer:
            solver.pop()
            return True
        found = solver.model()
        falls = {i for i in alive if z3.is_false(found.eval(after[i], model_completion=True))}
        solver.pop()
        alive[:] = [i for i in alive if i not in falls]
        if assumed:
            return False
    return True
