"""How many states a check will visit, guessed from the first levels of its breadth-first search.

The level sizes of a BFS over a few CPUs running finite programs rise and fall like a bell: the
number of ways to be ``d`` steps in grows, then the programs run out. `extrapolate` fits
``log(size of level d)`` with a downward parabola (weighted towards the larger, later levels)
and adds the fitted sizes of the levels not yet seen. `estimate` explores breadth-first for a
time budget and extrapolates from the complete levels; when the budget suffices it counts
exactly. The guess is rough until the sample has passed the steepest growth (about a tenth of
the states): bench/README.md gives its error on the scaled nested scenario.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lockbreak.core import Model, successors

_MIN_LEVELS = 6
_HORIZON = 10
# the fitted peak may lie at most this many times the levels seen so far
_PEAK_REACH = 2


@dataclass(frozen=True)
class Estimate:
    """A guess of the number of distinct states, from ``sampled`` states in ``levels`` complete
    BFS levels; ``exact`` when the sample was the whole state space (``states`` is then the
    count)."""

    states: int | None
    sampled: int
    levels: int
    seconds: float
    exact: bool

    def __str__(self) -> str:
        if self.exact:
            return f"{self.states:,} states (counted: the sample explored everything)"
        if self.states is None:
            return (f"no estimate: {self.sampled:,} states in {self.levels} levels still grow "
                    "too regularly to extrapolate; sample longer (--estimate-seconds)")
        return (f"about {self.states:,} states (extrapolated from {self.sampled:,} states in "
                f"{self.levels} levels, {self.seconds:.1f} s)")


def extrapolate(levels: Sequence[int]) -> int | None:
    """The total over all levels, from the sizes of the first ones (None: no bell in sight).

    >>> sizes = [round(1000 * np.exp(-((d - 30) / 10) ** 2)) + 1 for d in range(60)]
    >>> guess = extrapolate(sizes[:30])
    >>> 0.8 < guess / sum(sizes) < 1.25
    True
    """
    sizes = np.asarray(levels, dtype=np.float64)
    if len(sizes) < _MIN_LEVELS or sizes.min() <= 0:
        return None
    depth = np.arange(len(sizes), dtype=np.float64)
    curve, slope, base = np.polyfit(depth, np.log(sizes), 2, w=np.sqrt(sizes))
    if curve >= 0 or -slope / (2 * curve) > _PEAK_REACH * len(sizes):
        return None     # no bend yet, or one so slight that the peak is a guess too
    # the fitted sizes of the levels not yet seen; past the bell's far end they vanish
    ahead = np.arange(len(sizes), _HORIZON * len(sizes) + 1000, dtype=np.float64)
    rest = np.exp(np.minimum(base + slope * ahead + curve * ahead * ahead, 700.0)).sum()
    return int(sizes.sum() + rest)


def estimate(model: Model[Any, Any], *, seconds: float = 5.0, sample: int | None = None,
             symmetry: bool = False) -> Estimate:
    """Explore ``model`` breadth-first for about ``seconds`` (or until ``sample`` states are
    found, for a result that does not depend on the machine) and guess its number of states.

    Under ``symmetry`` states are counted up to ``model.canonical``, as `plain_bfs.check` counts
    them. Examples
    --------
    >>> class Grid:  # (x, y) with 0 <= x, y < 20: 400 states
    ...     def init_states(self): return [(0, 0)]
    ...     def actions(self, s): return [a for a in "xy" if s["xy".index(a)] < 19]
    ...     def next_state(self, s, a): return (s[0] + 1, s[1]) if a == "x" else (s[0], s[1] + 1)
    ...     def observe(self, before, action, after): return 0, 0
    >>> found = estimate(Grid())
    >>> found.exact, found.states
    (True, 400)
    """
    began = time.perf_counter()
    step = getattr(model, "successors", None) or functools.partial(successors, model)
    canon: Callable[[Any], Any] = (getattr(model, "canonical", None) if symmetry else None
                                   ) or (lambda s: s)
    level = list(dict.fromkeys(canon(s) for s in model.init_states()))
    seen = set(level)
    sizes: list[int] = []
    while level:
        sizes.append(len(level))
        following = []
        for state in level:
            for _, after, _, _ in step(state):
                key = canon(after)
                if key not in seen:
                    seen.add(key)
                    following.append(key)
            if time.perf_counter() - began > seconds or (sample is not None
                                                          and len(seen) >= sample):
                spent = time.perf_counter() - began
                return Estimate(extrapolate(sizes), sum(sizes), len(sizes), spent, False)
        level = following
    return Estimate(len(seen), len(seen), len(sizes), time.perf_counter() - began, True)
