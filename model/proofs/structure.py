"""Finite states of the parameterized system, in plain Python: from the explicit model and
from z3 models (counterexamples to induction), so candidates can be judged and CTIs printed.

Positions are ranks in the queue order (0 is the least), so a ticket lock's word is read
relative to ``head`` and a qspinlock's pending + MCS queue as one FIFO.
"""

from __future__ import annotations

from dataclasses import dataclass

import z3

from model.kernel import KernelModel
from model.layout import COUNT, DROP_DONE, DROPPED, NEED, PC, REGS, TICKET
from model.locks import NOBODY
from model.program import IN_BREAK
from model.proofs.vocabulary import Frame


@dataclass(frozen=True)
class CpuState:
    pc: int
    count: int
    need: bool
    holds: bool
    queued: bool
    pos: int
    dropped: bool
    saved: int
    regs: frozenset[int]          # live registers that are 1


@dataclass(frozen=True)
class Structure:
    """One state of N CPUs (N = len(cpus)); ``owner`` is a CPU index."""

    cpus: tuple[CpuState, ...]
    locked: bool
    owner: int
    head: int
    tail: int
    break_lock: bool

    def owns(self, c: int) -> bool:
        return self.locked and self.owner == c


def from_kernel(model: KernelModel, state: int, lock: str, live: tuple[int, ...],
                saved: tuple[int, ...], base: int | None = None) -> Structure:
    """The explicit model's state in the proof's vocabulary; a ticket lock's tickets are
    counted from ``base`` (default: now-serving)."""
    shared, locals_ = model.parts(state)
    code = model.world.programs[0].code
    word, flag, holders, _, waiters = shared[0]
    n = model.world.n_cpus
    head = tail = 0
    pos = [0] * n
    queued = [False] * n
    if lock == "tas":
        locked, owner = word[0] != NOBODY, word[0]
    elif lock == "ticket":
        m = n + 1
        h, t, owner = word
        b = h if base is None else base
        locked = owner != NOBODY
        head, tail = (h - b) % m, (t - b) % m
        for c in range(n):
            # a CPU holds a ticket while it waits inside arch_spin_lock (not after a trylock)
            spinning = "arch_spin_lock(" in code[locals_[c][PC]].where
            if waiters >> c & 1 and spinning:
                queued[c], pos[c] = True, (locals_[c][TICKET] - b) % m
    else:
        owner_q, pending, queue = word
        locked, owner = owner_q != NOBODY, owner_q
        line = ([pending] if pending != NOBODY else []) + list(queue)
        for i, c in enumerate(line):
            queued[c], pos[c] = True, i
        tail = len(line)
    cpus = tuple(
        CpuState(pc=loc[PC], count=loc[COUNT], need=bool(loc[NEED]), holds=bool(holders >> c & 1),
                 queued=queued[c], pos=pos[c], dropped=bool(loc[DROPPED] & DROP_DONE),
                 saved=saved[c], regs=frozenset(r for r in live if loc[REGS + r]))
        for c, loc in enumerate(locals_))
    return Structure(cpus, locked, owner if locked else -1, head, tail, bool(flag))


def reachable(model: KernelModel, lock: str, live: tuple[int, ...],
              limit: int = 200_000) -> list[Structure]:
    """Every reachable state of the explicit model (breadth-first, up to ``limit``)."""
    code = model.world.programs[0].code
    n = model.world.n_cpus
    init = model.init_states()[0]
    saved_of: dict[int, tuple[int, ...]] = {init: (0,) * n}
    frontier = [init]
    while frontier and len(saved_of) < limit:
        nxt = []
        for state in frontier:
            actions = model.actions(state)
            for index, after, _, _ in model.successors(state):
                if after in saved_of:
                    continue
                cpu = actions[index].cpu
                saved = list(saved_of[state])
                before = model.parts(state)[1][cpu]
                inside = bool(code[model.parts(after)[1][cpu][PC]].flags & IN_BREAK)
                if not inside:
                    saved[cpu] = 0
                elif not code[before[PC]].flags & IN_BREAK:
                    saved[cpu] = before[COUNT]      # preempt_count on entering the site
                saved_of[after] = tuple(saved)
                nxt.append(after)
        frontier = nxt
    return [from_kernel(model, s, lock, live, saved) for s, saved in saved_of.items()]


def from_z3(model: z3.ModelRef, s: Frame) -> tuple[Structure, list[z3.ExprRef]]:
    """The state ``s`` in a z3 model, and the CPU elements in the order of its indices."""
    voc = s.voc
    cpus = list(model.get_universe(voc.cpu) or [])
    positions = list(model.get_universe(voc.pos) or [])

    def rank(p: z3.ExprRef) -> int:
        value = model.eval(p, model_completion=True)
        return sum(1 for q in positions if z3.is_true(model.eval(voc.lt(q, value),
                                                                 model_completion=True)))

    pc_names = {str(v): k for k, v in voc.pc_of.items()}

    def boolean(e: z3.ExprRef) -> bool:
        return z3.is_true(model.eval(e, model_completion=True))

    def number(e: z3.ExprRef) -> int:
        return model.eval(e, model_completion=True).as_long()

    states = tuple(
        CpuState(pc=pc_names[str(model.eval(s.pc(c), model_completion=True))],
                 count=number(s.count(c)), need=boolean(s.need(c)), holds=boolean(s.holds(c)),
                 queued=boolean(s.queued(c)), pos=rank(s.pos(c)),
                 dropped=boolean(s.dropped(c)), saved=number(s.saved(c)),
                 regs=frozenset(r for r, f in s.regs.items() if boolean(f(c))))
        for c in cpus)
    owner_value = model.eval(s.owner, model_completion=True)
    owner = next((i for i, c in enumerate(cpus) if z3.eq(c, owner_value)), -1)
    locked = boolean(s.locked)
    return Structure(states, locked, owner if locked else -1, rank(s.head), rank(s.tail),
                     boolean(s.break_lock)), cpus
