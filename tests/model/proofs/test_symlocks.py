"""The lock algorithms' any-N form (`model.proofs.symlocks`) agrees with `model.locks`.

For every lock word that 2 and 3 CPUs running the loop reach, every operation and every CPU,
exactly one symbolic case applies, and it gives the concrete operation's value, acquisition,
and change to the lock word and queue. The two forms cannot drift apart unnoticed.
"""

from __future__ import annotations

import pytest
import z3

from model.eras import get_era
from model.kernel import TICKET, KernelModel
from model.locks import NOBODY
from model.proofs.loops import compile_loop, explicit_world
from model.proofs.prove import Prover
from model.proofs.structure import from_kernel
from model.proofs.symlocks import SYMBOLIC_OPS
from tests.support.proof_finite import Instance

MAX_WORDS = 40
WAITER_OPS = frozenset({"__ticket_mine", "__qspin_handoff"})
ERA_OF = {"tas": "v2.6.12", "ticket": "v2.6.25", "qspinlock": "v5.17"}


def _states(model: KernelModel) -> list[int]:
    init = model.init_states()[0]
    seen, frontier = {init}, [init]
    while frontier:
        nxt = []
        for state in frontier:
            for _, after, _, _ in model.successors(state):
                if after not in seen:
                    seen.add(after)
                    nxt.append(after)
        frontier = nxt
    return sorted(seen)


def _line(word: tuple) -> list[int]:
    _, pending, queue = word
    return ([pending] if pending != NOBODY else []) + list(queue)


@pytest.mark.slow
@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("lock", list(ERA_OF))
def test_symbolic_operations_agree_with_the_concrete_ones(lock: str, n: int) -> None:
    loop = compile_loop(get_era(ERA_OF[lock]))
    prover = Prover(loop, 60_000)
    world = explicit_world(loop, n, 0)
    model = KernelModel(world, ())
    algorithm = world.locks[0].algorithm
    words: dict[tuple, int] = {}
    for state in _states(model):
        shared, locals_ = model.parts(state)
        key = (shared[0][0], shared[0][4], tuple(loc[TICKET] for loc in locals_))
        words.setdefault(key, state)
    checked = 0
    chosen = sorted(words.items(), key=repr)
    for (word, _, tickets), state in chosen[::max(1, len(chosen) // MAX_WORDS)]:
        st = from_kernel(model, state, lock, prover.voc.regs, (0,) * n)
        inst = Instance(prover.voc, n, n + 3)
        for name, op in SYMBOLIC_OPS[lock].items():
            for cpu in range(n):
                if (name in WAITER_OPS) != st.cpus[cpu].queued:
                    continue        # a queued CPU only waits for its turn; others never do
                out = algorithm.ops[name](word, cpu, tickets[cpu])
                assert out is not None
                fresh = z3.Const("fresh", prover.voc.pos)
                solver = z3.Solver(ctx=prover.voc.ctx)
                solver.add(inst.axioms, inst.pin(prover.s, st, skip=("saved",)))
                cases = [c for c in op(prover.s, inst.cpu[cpu], fresh)
                         if _sat(solver, c.guard)]
                where = f"{lock} {name}(cpu{cpu}) on {word}"
                assert len(cases) == 1, f"{where}: {len(cases)} cases apply"
                case = cases[0]
                assert case.value == out.value, where
                assert case.acquired == out.acquired, where
                if "locked" in case.shared:
                    assert z3.is_true(case.shared["locked"]) == (out.word[-3 if lock == "qspinlock"
                                                                          else -1] != NOBODY), where
                if lock == "ticket":
                    m = n + 1
                    assert ("tail" in case.shared) == ((out.word[1] - word[1]) % m == 1), where
                    assert ("head" in case.shared) == ((out.word[0] - word[0]) % m == 1), where
                    assert case.waits == (out.ticket is not None and not out.acquired), where
                if lock == "qspinlock":
                    joined = cpu in _line(out.word) and cpu not in _line(word)
                    left = cpu in _line(word) and cpu not in _line(out.word)
                    assert case.waits == joined, where
                    assert (case.mine.get("queued") is not None and
                            z3.is_false(case.mine["queued"])) == left, where
                checked += 1
    assert checked > 10 * n


def _sat(solver: z3.Solver, guard: z3.BoolRef) -> bool:
    solver.push()
    solver.add(guard)
    answer = solver.check()
    solver.pop()
    assert answer != z3.unknown
    return answer == z3.sat
