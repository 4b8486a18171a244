"""How one random run schedules its steps: the plan it draws, and the action it then picks.

A run of `lockbreak.engines.hypothesis_engine` draws a `SchedulePlan`: its *stay* threshold
(the share of steps that keep the agent that moved last), a salt its schedule bytes are
mixed with, and up to three swarm phases during which a seeded part of the actions and of the
property witnesses is switched off. At each step `pick` takes the first action, counted from
a drawn position in the model's fixed order, that can move and is not switched off.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st

from lockbreak.core import A, S
from lockbreak.engines.walk import Walker

_STAY = (128, 32, 224, 8)          # stay thresholds a run may draw; shrinks towards the first
_SWARM_OFF = (0.25, 0.5, 0.75)     # the share of actions and witnesses a phase switches off


def pick(walker: Walker[S, A], state: S, options: Sequence[A], start: int,
          off: frozenset[int], off_bits: int) -> tuple[int, A, Any] | None:
    """The first action from position ``start`` on (cyclically) that can move, is not
    switched off, and witnesses nothing in ``off_bits``."""
    n = len(options)
    for k in range(n):
        p = (start + k) % n
        if p in off:
            continue
        outcome = walker.attempt(state, options[p])
        if outcome is None or outcome[2] & off_bits:
            continue
        return p, options[p], outcome
    return None


class SchedulePlan:
    """A run's stay threshold, the salt its schedule bytes are mixed with, and its swarm
    phases ``(until step, phase seed, share switched off)``.

    Hypothesis's own byte generation repeats itself (runs of equal bytes, mutations of earlier
    examples), which leaves most interleavings unvisited; each run therefore XORs its bytes
    with a stream seeded by a drawn salt. Salt 0 mixes nothing, so the shrinker can still
    reach plain bytes, where zeros mean "stay".
    """

    def __init__(self, stay: int, salt: int, phases: tuple[tuple[int, int, float], ...],
                 n_bits: int) -> None:
        self.stay, self.phases, self.n_bits = stay, phases, n_bits
        self.salt = random.Random(salt) if salt else None

    @staticmethod
    def draw(data: st.DataObject, swarm: bool, steps: int, n_bits: int) -> SchedulePlan:
        """A plan drawn from ``data``: swarm phases only under ``swarm``, each ending
        within ``steps`` of the last."""
        salt = data.draw(st.integers(0, 2**32 - 1))
        stay = data.draw(st.sampled_from(_STAY))
        phases: list[tuple[int, int, float]] = []
        if swarm and data.draw(st.booleans()):
            until = 0
            for _ in range(data.draw(st.integers(1, 3))):
                until += data.draw(st.integers(1, steps))
                phases.append((until, data.draw(st.integers(0, 2**32 - 1)),
                               data.draw(st.sampled_from(_SWARM_OFF))))
        return SchedulePlan(stay, salt, tuple(phases), n_bits)

    def mix(self, drawn: bytes, size: int) -> bytes:
        """``size`` schedule bytes: ``drawn`` mixed with the salt's stream, then (runs longer
        than Hypothesis's data can hold) the stream alone, or zeros without a salt."""
        if self.salt is None:
            return drawn.ljust(size, b"\0")
        mixed = int.from_bytes(drawn.ljust(size, b"\0")) ^ self.salt.getrandbits(8 * size)
        return mixed.to_bytes(size)

    def off_at(self, step: int, n: int) -> tuple[frozenset[int], int]:
        """The positions and witness bits switched off at ``step`` of a run with ``n``
        options."""
        for until, phase_seed, share in self.phases:
            if step < until:
                return _switched_off(phase_seed, share, n, self.n_bits)
        return frozenset(), 0


_OFF_CACHE: dict[tuple[int, float, int, int], tuple[frozenset[int], int]] = {}


def _switched_off(phase_seed: int, share: float, n: int, n_bits: int
                  ) -> tuple[frozenset[int], int]:
    key = (phase_seed, share, n, n_bits)
    cached = _OFF_CACHE.get(key)
    if cached is None:
        rng = random.Random(phase_seed)
        off = frozenset(p for p in range(n) if rng.random() < share)
        bits = sum(1 << b for b in range(n_bits) if rng.random() < share / 2)
        if len(_OFF_CACHE) > 4096:
            _OFF_CACHE.clear()
        cached = _OFF_CACHE[key] = (off, bits)
    return cached
