"""The symbolic lockstep twin (`model.symbolic_lockstep`) against `LockstepKernelModel`, state by
state.

For each scenario below (under lockstep timing), the first reachable states in breadth-first
order are encoded into copy 0 with each WORST property's tick counters set; every successor z3
allows (enumerated with blocking clauses over the action, the next state with its moved bits,
whether the tick ended, the counters and the property bits) must be one the explicit model
gives, with the counters advanced as `lockbreak.engines.liveness` counts, and the reverse.
A twin that ends ticks one step late must be told apart, so the comparison can fail.
"""

from __future__ import annotations

import pytest
import z3

from lockbreak.pipeline import Overrides, load
from model.lockstep import LockstepKernelModel
from model.symbolic_lockstep import SymbolicLockstepKernel
from model.world import build_world
from properties.catalogue import specs
from tests.support.helpers import first_states
from tests.support.paths import REPO

# (scenario, overrides): tas, ticket and qspinlock under lockstep, wakeups and preemption, rt
# locks (a CPU that cannot move idles through the tick), data snapshots.
SCENARIOS = [("stale-data-reread-v2.6.9-lockstep", {}),
             ("latency/nested-latency", {}),
             ("nested-v2.6.12", {}),
             ("qspinlock-v5.17", {}),
             ("nested-wakeup-v2.6.20", {}),
             ("nested-v2.6.12", {"preempt": "rt"})]
STATES = 50
CAP = 3

Successor = tuple[object, object, bool, tuple[int, ...], int, int]


def lockstep_model(name: str, **overrides: str) -> LockstepKernelModel:
    scenario = load(REPO / "scenarios" / f"{name}.toml", Overrides(timing="lockstep", **overrides))
    return LockstepKernelModel(build_world(scenario), specs())


def spread_states(model: LockstepKernelModel, count: int) -> list[int]:
    """``count`` reachable states spread evenly over the breadth-first order, the initial
    state first: arrivals widen the first levels, so a prefix would hold only states before
    any CPU waits."""
    states = first_states(model)
    return states[::max(1, len(states) // count)][:count]


def counters_in(twin: SymbolicLockstepKernel, state: int) -> tuple[int, ...]:
    """Counters for ``state``: ``CAP - 1`` on every open obligation (so one more tick reaches the
    cap), 0 on closed ones."""
    model = twin.explicit
    n = len(model.agents)
    return tuple(CAP - 1 if model.obligations(state) >> (b * n + cpu) & 1 else 0
                 for b in twin.worst_bits for cpu in range(n))


def explicit_successors(twin: SymbolicLockstepKernel, state: int) -> set[Successor]:
    model = twin.explicit
    n = len(model.agents)
    actions = model.actions(state)
    moves = model.moves(state)
    before = counters_in(twin, state)
    out = set()
    for (i, after, violated, witnessed), (_, _, tick) in zip(model.successors(state), moves,
                                                             strict=True):
        opened = model.obligations(after)
        counts, k = [], 0
        for b in twin.worst_bits:
            for cpu in range(n):
                if opened >> (b * n + cpu) & 1:
                    counts.append(min(CAP, before[k] + tick))
                else:
                    counts.append(0)
                if opened >> (b * n + cpu) & 1:
                    witnessed |= 1 << b
                k += 1
        out.add((actions[i], twin.project(after), bool(tick), tuple(counts), violated,
                 witnessed))
    return out


def symbolic_successors(twin: SymbolicLockstepKernel, solver: z3.Solver,
                        state: int) -> set[Successor]:
    _, violated, witnessed = twin.step(0)
    counters = [t for b in twin.worst_bits for t in twin.ticks(b, 1)]
    watched = [twin.inner.action_var(0), *twin.state_terms(1), twin.tick(0)]
    fixed = [t == v for t, v in zip((t for b in twin.worst_bits for t in twin.ticks(b, 0)),
                                    counters_in(twin, state), strict=True)]
    out: set[Successor] = set()
    solver.push()
    solver.add(twin.encode(state, 0), *fixed)
    while solver.check() == z3.sat:
        found = solver.model()

        def value(term: z3.ExprRef, m: z3.ModelRef = found) -> bool:
            return z3.is_true(m.eval(term, model_completion=True))

        n = len(violated)
        out.add((twin.decode_actions(found, 1)[0], twin.decode_state(found, 1),
                 value(twin.tick(0)),
                 tuple(found.eval(t, model_completion=True).as_long() for t in counters),
                 sum(1 << i for i in range(n) if value(violated[i])),
                 sum(1 << i for i in range(n) if value(witnessed[i]))))
        solver.add(z3.Or([t != found.eval(t, model_completion=True) for t in watched]))
        assert len(out) < 100, "the relation allows more successors than any state has"
    solver.pop()
    return out


def relation_solver(twin: SymbolicLockstepKernel) -> z3.Solver:
    solver = z3.SolverFor(twin.logic)
    solver.add(twin.step(0)[0])
    return solver


@pytest.mark.slow
@pytest.mark.parametrize(("name", "overrides"), SCENARIOS)
def test_symbolic_lockstep_successors_equal_the_explicit_ones(name: str,
                                                               overrides: dict[str, str]) -> None:
    twin = SymbolicLockstepKernel(lockstep_model(name, **overrides), cap=CAP)
    solver = relation_solver(twin)
    states = spread_states(twin.explicit, STATES)
    assert len(states) > 20
    ticks = opened = 0
    for state in states:
        symbolic = symbolic_successors(twin, solver, state)
        assert symbolic == explicit_successors(twin, state), twin.explicit.view(state)
        ticks += sum(s[2] for s in symbolic)
        opened += sum(any(s[3]) for s in symbolic)
    assert ticks and opened        # ticks ended and obligations were open: nothing vacuous


@pytest.mark.parametrize("name", ["stale-data-reread-v2.6.9-lockstep", "latency/nested-latency"])
def test_the_symbolic_initial_state_is_the_explicit_one(name: str) -> None:
    twin = SymbolicLockstepKernel(lockstep_model(name))
    init, _, _ = twin.initial()
    solver = z3.Solver()
    solver.add(init)
    assert solver.check() == z3.sat
    start = twin.explicit.init_states()[0]
    assert twin.decode_state(solver.model(), 0) == twin.project(start)
    solver.add(z3.Not(twin.encode(start, 0)))
    assert solver.check() == z3.unsat


@pytest.mark.parametrize("name", ["stale-data-reread-v2.6.9-lockstep", "latency/nested-latency"])
def test_open_obligations_and_stuck_states_are_the_explicit_ones(name: str) -> None:
    """`open` is `obligations`, `stuck` is "no moves", in every state reached."""
    twin = SymbolicLockstepKernel(lockstep_model(name))
    model = twin.explicit
    n = len(model.agents)
    solver = z3.Solver()
    seen_open = 0
    for state in first_states(model, 400):
        solver.push()
        solver.add(twin.encode(state, 0))
        assert solver.check() == z3.sat
        found = solver.model()
        bits = 0
        for b in twin.worst_bits:
            for cpu, term in enumerate(twin.open(b, 0)):
                bits |= int(z3.is_true(found.eval(term, model_completion=True))) << (b * n + cpu)
        worst = sum(((1 << n) - 1) << (b * n) for b in twin.worst_bits)
        assert bits == model.obligations(state) & worst
        seen_open |= bits
        assert z3.is_true(found.eval(twin.stuck(0), model_completion=True)) == (
            not model.moves(state))
        solver.pop()
    assert seen_open


def test_a_twin_that_ends_ticks_late_is_told_apart() -> None:
    """A twin whose tick ends only once every CPU has moved (forgetting that a finished or
    blocked CPU idles through the tick) must differ from the explicit model somewhere, so the
    comparison above can fail."""

    class Late(SymbolicLockstepKernel):
        def _ends(self, cpu: int, k: int) -> z3.BoolRef:
            now = self.moved(k) | (1 << cpu)
            return now == (1 << self.n) - 1

    model = lockstep_model("nested-v2.6.12", preempt="rt")
    late = Late(model, cap=CAP)
    solver = relation_solver(late)
    differ = [s for s in first_states(model, 200)
              if symbolic_successors(late, solver, s) != explicit_successors(late, s)]
    assert differ
