"""The symbolic twin (`model.symbolic`) against the explicit kernel model, state by state.

For each scenario below, the first reachable states in breadth-first order are encoded into
copy 0 of the z3 relation; every successor z3 allows (enumerated with blocking clauses over
the action, the next state and the property bits) must be one `KernelModel.successors` gives,
and the reverse. A deliberately mismatched pair (the twin of one era against the model of
another) must be told apart, so the comparison can fail.
"""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

import pytest
import z3

from lockbreak.pipeline import Overrides, load
from model.kernel import KernelModel
from model.locks import Outcome
from model.symbolic import SymbolicKernel
from model.world import build_world
from properties.catalogue import specs
from tests.support.helpers import first_states
from tests.support.paths import REPO

# Together: tas, ticket, qspinlock and rwlock words, the -mm counter, wakeups and
# preemption, data snapshots, break_lock reads and writes, int-returning break sites.
SCENARIOS = ["nested-v2.6.9", "nested-mm", "ticket-v2.6.25", "qspinlock-v5.17",
             "rwlock-write-break-v5.17", "rwlock-reader-fastpath-v5.17", "nested-wakeup-v2.6.20",
             "stale-data-reread-v2.6.9", "restart-v2.6.12"]
STATES = 60

Successor = tuple[object, tuple, int, int]   # (action, next state's parts, violated, witnessed)


def kernel_model(name: str, **overrides: str) -> KernelModel:
    scenario = load(REPO / "scenarios" / f"{name}.toml", Overrides(**overrides))
    return KernelModel(build_world(scenario), specs())


def explicit_successors(model: KernelModel, state: int) -> set[Successor]:
    actions = model.actions(state)
    return {(actions[i], model.parts(after), v, w) for i, after, v, w in model.successors(state)}


def symbolic_successors(twin: SymbolicKernel, solver: z3.Solver, model: KernelModel,
                        state: int) -> set[Successor]:
    """Every successor of ``model``'s ``state`` the relation in ``solver`` allows."""
    _, violated, witnessed = twin.step(0)
    watched = [twin.action_var(0), *twin.state_terms(1), *violated, *witnessed]
    out: set[Successor] = set()
    solver.push()
    solver.add(twin.encode(model.parts(state), 0))
    while solver.check() == z3.sat:
        found = solver.model()
        bits = [z3.is_true(found.eval(b, model_completion=True)) for b in violated + witnessed]
        n = len(violated)
        out.add((twin.decode_actions(found, 1)[0], twin.decode_state(found, 1),
                 sum(1 << i for i in range(n) if bits[i]),
                 sum(1 << i for i in range(n) if bits[n + i])))
        solver.add(z3.Or([t != found.eval(t, model_completion=True) for t in watched]))
        assert len(out) < 100, "the relation allows more successors than any state has"
    solver.pop()
    return out


def relation_solver(twin: SymbolicKernel) -> z3.Solver:
    solver = z3.SolverFor(twin.logic)
    solver.add(twin.step(0)[0])
    return solver


@pytest.mark.slow
@pytest.mark.parametrize("name", SCENARIOS)
def test_symbolic_successors_equal_the_explicit_ones_state_by_state(name: str) -> None:
    model = kernel_model(name)
    twin = SymbolicKernel(model)
    solver = relation_solver(twin)
    states = first_states(model, STATES)
    assert len(states) > 20
    for state in states:
        symbolic = symbolic_successors(twin, solver, model, state)
        assert symbolic == explicit_successors(model, state), model.view(state)


@pytest.mark.parametrize("name", ["nested-v2.6.9", "ticket-v2.6.25", "qspinlock-v5.17"])
def test_the_symbolic_initial_state_is_the_explicit_one(name: str) -> None:
    model = kernel_model(name)
    twin = SymbolicKernel(model)
    init, violated, _ = twin.initial()
    solver = z3.Solver()
    solver.add(init)
    assert solver.check() == z3.sat
    assert twin.decode_state(solver.model(), 0) == model.parts(model.init_states()[0])
    # one initial state only
    solver.add(z3.Not(twin.encode(model.parts(model.init_states()[0]), 0)))
    assert solver.check() == z3.unsat
    assert not any(z3.is_true(z3.simplify(v)) for v in violated)


@pytest.mark.slow
def test_a_twin_of_a_broken_lock_is_told_apart() -> None:
    """A twin built over a test-and-set whose trylock always succeeds must differ from the
    real model somewhere, so the comparison above can fail."""
    model = kernel_model("nested-v2.6.12")
    tas = model.world.locks[0].algorithm

    def always(word: tuple[int], cpu: int, ticket: int) -> Outcome[tuple[int]]:
        return Outcome((cpu,), value=1, acquired=True)

    broken = replace(tas, ops=MappingProxyType({**tas.ops, "arch_spin_trylock": always}))
    world = replace(model.world, locks=tuple(replace(lock, algorithm=broken)
                                             for lock in model.world.locks))
    wrong = SymbolicKernel(KernelModel(world, specs()))
    solver = relation_solver(wrong)
    differ = [s for s in first_states(model, 200)
              if symbolic_successors(wrong, solver, model, s) != explicit_successors(model, s)]
    assert differ


def test_lock_words_are_the_algorithms_own() -> None:
    """The table holds every word the ops produce, each op's answer taken from the op."""
    model = kernel_model("ticket-v2.6.25")
    twin = SymbolicKernel(model)
    for lock, table in zip(model.world.locks, twin.tables, strict=True):
        assert table.words[0] == lock.algorithm.initial(model.world.n_cpus)
        for word in table.words:
            for op in lock.algorithm.ops.values():
                for cpu in range(model.world.n_cpus):
                    for ticket in twin.tickets:
                        out = op(word, cpu, ticket)
                        assert out is None or out.word in table.index
