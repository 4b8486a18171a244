"""The any-N transition relation agrees with the explicit model it is generated beside.

For 2 CPUs running the same compiled loop, every sampled edge of the explicit model's state
graph, read in the proof's words, is a move of the symbolic system (so a proof over the
symbolic system covers what the explicit model does); and a few edges the explicit model
cannot take are refused, so the check can fail.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
import z3

from model.eras import get_era
from model.kernel import KernelModel
from model.proofs.loops import compile_loop, explicit_world
from model.proofs.prove import Prover
from model.proofs.structure import Structure, from_kernel
from tests.support.proof_finite import Instance

SAMPLE = 60


def _edges(model: KernelModel) -> list[tuple[int, int]]:
    init = model.init_states()[0]
    seen, frontier, edges = {init}, [init], []
    while frontier:
        nxt = []
        for state in frontier:
            for _, after, _, _ in model.successors(state):
                edges.append((state, after))
                if after not in seen:
                    seen.add(after)
                    nxt.append(after)
        frontier = nxt
    return edges


def _aligned(model: KernelModel, lock: str, live: tuple[int, ...], pre: int, post: int
             ) -> tuple[Structure, Structure]:
    """Both ends with positions counted alike (the symbolic positions never move)."""
    n = model.world.n_cpus
    zero = (0,) * n
    base = model.parts(pre)[0][0][0][0] if lock == "ticket" else None
    a = from_kernel(model, pre, lock, live, zero, base)
    b = from_kernel(model, post, lock, live, zero, base)
    if lock == "qspinlock":
        joined = [i for i, cs in enumerate(b.cpus) if cs.queued and not a.cpus[i].queued]
        cpus = tuple(replace(cs, pos=a.cpus[i].pos if a.cpus[i].queued else a.tail)
                     for i, cs in enumerate(b.cpus))
        b = replace(b, cpus=cpus, tail=a.tail + len(joined))
    return a, b


@pytest.mark.slow
@pytest.mark.parametrize("era", ["v2.6.9", "v2.6.12", "v2.6.25", "v5.17"])
def test_every_explicit_step_is_a_symbolic_move(era: str) -> None:
    loop = compile_loop(get_era(era), shape="nested")
    prover = Prover(loop, 60_000)
    model = KernelModel(explicit_world(loop, 2, 1), ())
    edges = _edges(model)
    step = max(1, len(edges) // SAMPLE)
    sample = edges[::step]
    for pre, post in sample:
        a, b = _aligned(model, loop.lock, prover.voc.regs, pre, post)
        inst = Instance(prover.voc, 2, max(a.tail, b.tail) + 2)
        solver = z3.Solver(ctx=prover.voc.ctx)
        solver.add(inst.axioms, inst.pin(prover.s, a, skip=("saved",)),
                   inst.pin(prover.t, b, skip=("saved",)), prover.trans)
        assert solver.check() == z3.sat, (
            f"{era}: explicit step not a symbolic move:\n{a}\n->\n{b}")


def test_a_step_the_explicit_model_cannot_take_is_refused() -> None:
    loop = compile_loop(get_era("v2.6.12"), shape="flat")
    prover = Prover(loop, 60_000)
    model = KernelModel(explicit_world(loop, 2, 1), ())
    refused = 0
    for pre, post in _edges(model)[:40]:
        a, b = _aligned(model, loop.lock, prover.voc.regs, pre, post)
        # the same step, but the CPU lands one instruction further on, or the lock flips
        moved = next(i for i in range(2) if a.cpus[i] != b.cpus[i]) if a.cpus != b.cpus else 0
        wrong = replace(b, locked=not b.locked, owner=moved)
        inst = Instance(prover.voc, 2, 3)
        solver = z3.Solver(ctx=prover.voc.ctx)
        solver.add(inst.axioms, inst.pin(prover.s, a, skip=("saved",)),
                   inst.pin(prover.t, wrong, skip=("saved",)), prover.trans)
        refused += solver.check() == z3.unsat
    assert refused == 40
