"""The symbolic twin of `LockstepKernelModel`: `SymbolicKernel`'s steps under lockstep timing,
with the WORST properties' waits as capped tick counters.

The CPU steps and wakeups are `SymbolicKernel`'s own relation; this module adds only what
lockstep timing adds to the state (`model.lockstep`): one "moved in this tick" bit per CPU
(``moved@k``, a bit-vector) and one "arrived" bit per CPU (``arrived@k``). A CPU that has not
arrived may only arrive, between ticks: action ``i`` sets its bit and changes nothing else,
taking no time. An arrived CPU may step only while its moved bit is clear; the step after
which no arrived CPU whose moved bit is clear can step (`SymbolicKernel.can_step` on the next
copy) ends the tick (``tick@k``) and clears every moved bit; a wakeup, only of an arrived CPU,
leaves the bits alone and ends no tick.

Per WORST property and CPU, ``ticks[p].cpuC@k`` counts the ticks its obligation
(`KernelModel.obligations`: acquire, a failed first attempt until the lock is taken; wakeup,
need_resched set until the CPU schedules or its code path ends) has been open in copy ``k``,
counted as `lockbreak.engines.liveness` counts: the transition that opens it adds its tick, every
transition that keeps it open adds its tick, the one that closes it resets the counter to 0. The
counter saturates at ``cap``, so it is a finite state variable and "a wait of more than N ticks"
is a safety question for any N below the cap (`lockbreak.engines.bmc_ticks`).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import z3

from lockbreak.core import LockbreakError, PropertyKind
from model.kernel import NEED, PC, Action, Obligation
from model.lockstep import LockstepKernelModel
from model.symbolic import SymbolicKernel

# The counters' saturation point when no bound is asked for: a wait of DEFAULT_CAP ticks or more
# is reported as at least that long.
DEFAULT_CAP = 64


class SymbolicLockstepKernel:
    """`LockstepKernelModel`'s transition relation and tick counters over step-indexed z3
    variables, in the shape `lockbreak.engines.bmc` and `lockbreak.engines.bmc_ticks` check.

    ``explicit`` is the `LockstepKernelModel` of the same world and properties: counterexamples
    replay on it, and its ``obligations`` and ``moves`` re-measure every wait z3 reports.
    """

    def __init__(self, explicit: LockstepKernelModel, cap: int = DEFAULT_CAP) -> None:
        if cap < 1:
            raise LockbreakError(f"the tick counters' cap must be at least 1, not {cap}")
        self.explicit = explicit
        self.inner = SymbolicKernel(explicit)
        self.property_names = explicit.property_names
        self.property_kinds: tuple[PropertyKind, ...] = explicit.property_kinds
        self.logic = self.inner.logic
        self.n = self.inner.n
        self.cap = cap
        self.worst_bits = tuple(b for b, kind in enumerate(self.property_kinds)
                                if kind is PropertyKind.WORST)
        self._width = cap.bit_length()
        self._code_ends = [len(p.code) for p in explicit.world.programs]

    # ------------------------------------------------------------ the engine's protocol

    def initial(self) -> tuple[z3.BoolRef, list[z3.BoolRef], list[z3.BoolRef]]:
        init, violated, witnessed = self.inner.initial()
        zero = z3.BitVecVal(0, self._width)
        out = [init, self.moved(0) == 0, self.arrived(0) == 0]
        out += [t == zero for b in self.worst_bits for t in self.ticks(b, 0)]
        return z3.And(out), *self._worst_bits(0, list(violated), list(witnessed))

    def step(self, k: int) -> tuple[z3.BoolRef, list[z3.BoolRef], list[z3.BoolRef]]:
        """The lockstep transition from copy ``k`` to ``k + 1``; per property its violation
        and witness. A WORST property is violated by no transition (its bound is a question
        about the counters, `bmc_ticks`) and witnessed by one after which its obligation is
        open on some CPU."""
        relation, violated, witnessed = self.inner.step(k)
        act, moved, after = self.inner.action_var(k), self.moved(k), self.moved(k + 1)
        arrived, arrives = self.arrived(k), self.arrived(k + 1)
        tick = self.tick(k)
        moves, arrivals = [], []
        for cpu in range(self.n):
            bit = z3.BitVecVal(1 << cpu, self.n)
            now = moved | bit
            ends = self._ends(cpu, k)
            moves.append(z3.And(act == cpu, arrived & bit != 0, moved & bit == 0, tick == ends,
                                after == z3.If(ends, z3.BitVecVal(0, self.n), now)))
            moves.append(z3.And(act == self.n + cpu, arrived & bit != 0, z3.Not(tick),
                                after == moved))
            # as in `LockstepKernelModel`, only between ticks (no CPU has moved in this one)
            arrivals.append(z3.And(act == cpu, arrived & bit == 0, moved == 0,
                                   arrives == arrived | bit))
        unchanged = [a == b for a, b in zip(self.inner.state_terms(k),
                                            self.inner.state_terms(k + 1), strict=True)]
        arrival = z3.And(z3.Or(arrivals), z3.Not(tick), after == moved, *unchanged,
                         *(z3.Not(v) for v in violated + witnessed))
        counting = [self._count(b, cpu, k) for b in self.worst_bits for cpu in range(self.n)]
        return (z3.And(z3.Or(z3.And(relation, z3.Or(moves), arrives == arrived), arrival),
                       *counting),
                *self._worst_bits(k + 1, list(violated), list(witnessed)))

    def candidate_invariants(self, k: int) -> list[z3.BoolRef]:
        """The inner twin's candidates (about the CPUs' and locks' parts, mined from this
        lockstep model's states); the engine keeps only those z3 proves inductive for the
        lockstep relation, so they need not hold of the counters or moved bits."""
        return self.inner.candidate_invariants(k)

    def invariant_text(self, indices: Sequence[int]) -> list[str]:
        """`SymbolicKernel.invariant_text`."""
        return self.inner.invariant_text(indices)

    def domain(self, k: int) -> z3.BoolRef:
        """`SymbolicKernel.domain`; only arrived CPUs have moved; a tick is never left with
        every CPU moved, nor with no arrived CPU left to move; a counter is at most the cap, and
        0 while its obligation is closed."""
        moved, arrived = self.moved(k), self.arrived(k)
        out = [self.inner.domain(k), moved != (1 << self.n) - 1, moved & ~arrived == 0,
               z3.Or(moved == 0, *(z3.And(moved & (1 << cpu) == 0, arrived & (1 << cpu) != 0,
                                          self.inner.can_step(cpu, k))
                                   for cpu in range(self.n)))]
        for b in self.worst_bits:
            for count, is_open in zip(self.ticks(b, k), self.open(b, k), strict=True):
                out += [z3.ULE(count, self.cap), z3.Or(is_open, count == 0)]
        return z3.And(out)

    def state_terms(self, k: int) -> list[Any]:
        out = [*self.inner.state_terms(k), self.moved(k), self.arrived(k)]
        return out + [t for b in self.worst_bits for t in self.ticks(b, k)]

    def decode_actions(self, model: z3.ModelRef, length: int) -> list[Action]:
        return self.inner.decode_actions(model, length)

    def decode_state(self, model: z3.ModelRef, k: int) -> Hashable:
        """Copy ``k`` as `project` gives an explicit state (the counters are not part of it:
        the engine re-measures them on the explicit trace)."""
        moved = model.eval(self.moved(k), model_completion=True).as_long()
        arrived = model.eval(self.arrived(k), model_completion=True).as_long()
        return self.inner.decode_state(model, k), moved, arrived

    def project(self, state: int) -> Hashable:
        return (self.inner.project(state), self.explicit.moved(state),
                self.explicit.arrived(state))

    def encode(self, state: int, k: int) -> z3.BoolRef:
        """Constraints that make copy ``k`` equal an explicit lockstep state (counters free)."""
        return z3.And(self.inner.encode(self.explicit.parts(state), k),
                      self.moved(k) == self.explicit.moved(state),
                      self.arrived(k) == self.explicit.arrived(state))

    # ------------------------------------------------------------ ticks and obligations

    def moved(self, k: int) -> z3.BitVecRef:
        """The CPUs (bit ``i``: CPU ``i``) that have taken their step in copy ``k``'s tick."""
        return z3.BitVec(f"moved@{k}", self.n)

    def arrived(self, k: int) -> z3.BitVecRef:
        """The CPUs (bit ``i``: CPU ``i``) that have arrived in copy ``k``."""
        return z3.BitVec(f"arrived@{k}", self.n)

    def tick(self, k: int) -> z3.BoolRef:
        """The transition from copy ``k`` ends a tick."""
        return z3.Bool(f"tick@{k}")

    def ticks(self, bit: int, k: int) -> list[z3.BitVecRef]:
        """Per CPU, the ticks (capped) that WORST property ``bit``'s obligation has been open
        in copy ``k``."""
        name = self.property_names[bit]
        return [z3.BitVec(f"ticks[{name}].cpu{cpu}@{k}", self._width) for cpu in range(self.n)]

    def open(self, bit: int, k: int) -> list[z3.BoolRef]:
        """Per CPU, whether property ``bit``'s obligation is open in copy ``k``
        (`KernelModel.obligations`)."""
        obligation = self.explicit.properties[bit].obligation
        c = self.inner.copy(k)
        if obligation is Obligation.ACQUIRE:
            waiters = [c.shared[lock.index][4] for lock in self.explicit.world.locks]
            return [z3.Or([z3.Extract(cpu, cpu, w) == 1 for w in waiters]) if waiters
                    else z3.BoolVal(False) for cpu in range(self.n)]
        if obligation is Obligation.WAKEUP:
            return [z3.And(c.locals[cpu][NEED] != 0, c.locals[cpu][PC] < self._code_ends[cpu])
                    for cpu in range(self.n)]
        raise LockbreakError(f"{self.property_names[bit]}: the z3 encoding counts only "
                             "acquire and wakeup obligations")

    def stuck(self, k: int) -> z3.BoolRef:
        """Nothing can move in copy ``k``: every CPU has arrived, no CPU that has not moved can
        step, and no wakeup is possible (a wait open there never ends)."""
        moved, arrived = self.moved(k), self.arrived(k)
        return z3.And(arrived == (1 << self.n) - 1, z3.Not(z3.Or(
            *(z3.And(moved & (1 << cpu) == 0, self.inner.can_step(cpu, k))
              for cpu in range(self.n)),
            *(self.inner.can_wake(cpu, k) for cpu in range(self.n)))))

    def _ends(self, cpu: int, k: int) -> z3.BoolRef:
        """``cpu``'s step from copy ``k`` ends the tick: after it, no arrived CPU that has
        not moved can step."""
        now, arrived = self.moved(k) | (1 << cpu), self.arrived(k)
        return z3.And([z3.Or(now & (1 << j) != 0, arrived & (1 << j) == 0,
                             z3.Not(self.inner.can_step(j, k + 1)))
                       for j in range(self.n) if j != cpu])

    def _count(self, bit: int, cpu: int, k: int) -> z3.BoolRef:
        """Counter ``cpu`` of property ``bit`` from copy ``k`` to ``k + 1``."""
        before, after = self.ticks(bit, k)[cpu], self.ticks(bit, k + 1)[cpu]
        was, now = self.open(bit, k)[cpu], self.open(bit, k + 1)[cpu]
        zero = z3.BitVecVal(0, self._width)
        start = z3.If(was, before, zero)
        grown = z3.If(z3.And(self.tick(k), z3.ULT(start, self.cap)), start + 1, start)
        return after == z3.If(now, grown, zero)

    def _worst_bits(self, k: int, violated: list[z3.BoolRef], witnessed: list[z3.BoolRef]
                    ) -> tuple[list[z3.BoolRef], list[z3.BoolRef]]:
        """The inner model's bits, with each WORST property's replaced: never violated by one
        transition, witnessed when its obligation is open on some CPU in copy ``k``."""
        for b in self.worst_bits:
            violated[b] = z3.BoolVal(False)
            witnessed[b] = z3.Or(self.open(b, k))
        return violated, witnessed
