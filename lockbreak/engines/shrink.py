"""Shrinking a failing schedule: fewest steps first, then fewest switches between agents.

Hypothesis shrinks the bytes a schedule was drawn from, which removes most of a random run;
these passes then work on the actions themselves until no single change helps (a local
minimum: no chunk of steps can be deleted, and no step or block of steps of one agent can move
next to another block of the same agent, with the schedule still failing). They are generic:
``fails(actions)`` re-runs a candidate and returns the failing schedule it gives (possibly cut
shorter, at its first violation) or None, and ``label(action)`` names who moves.

Examples
--------
A schedule fails once ``b`` has moved twice; ``a``'s steps are noise:

>>> def fails(actions):
...     count = 0
...     for i, a in enumerate(actions):
...         count += a == "b"
...         if count == 2:
...             return tuple(actions[:i + 1])
...     return None
>>> shrink(("a", "b", "a", "a", "b", "a"), fails, str)
('b', 'b')
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")

Fails = Callable[[Sequence[T]], "tuple[T, ...] | None"]


def switches(actions: Sequence[T], label: Callable[[T], Hashable]) -> int:
    """How often consecutive steps are taken by different agents.

    >>> switches("aabba", str)
    2
    """
    names = [label(a) for a in actions]
    return sum(x != y for x, y in itertools.pairwise(names))


def shrink(actions: Sequence[T], fails: Fails[T], label: Callable[[T], Hashable],
           deadline: float = float("inf")) -> tuple[T, ...]:
    """The failing schedule ``actions`` made locally minimal in (steps, switches).

    ``deadline`` (a `time.monotonic` value) stops the passes early, keeping the best so far.
    """
    best = tuple(actions)
    while time.monotonic() < deadline:
        shorter = _delete_chunks(best, fails, deadline)
        fewer = _merge_blocks(shorter, fails, label, deadline)
        if fewer == best:
            break
        best = fewer
    return best


def _better(candidate: tuple[T, ...] | None, best: tuple[T, ...],
            label: Callable[[T], Hashable] | None = None) -> bool:
    if candidate is None:
        return False
    if len(candidate) != len(best) or label is None:
        return len(candidate) < len(best)
    return switches(candidate, label) < switches(best, label)


def _delete_chunks(best: tuple[T, ...], fails: Fails[T], deadline: float) -> tuple[T, ...]:
    """Delete chunks of steps, halving the chunk size down to single steps (ddmin-style)."""
    chunk = max(1, len(best) // 2)
    while chunk >= 1:
        i = 0
        while i < len(best) and time.monotonic() < deadline:
            candidate = fails(best[:i] + best[i + chunk:])
            if candidate is not None and _better(candidate, best):
                best = candidate
            else:
                i += chunk
        chunk //= 2
    return best


def _merge_blocks(best: tuple[T, ...], fails: Fails[T], label: Callable[[T], Hashable],
                  deadline: float) -> tuple[T, ...]:
    """Move a block of one agent's consecutive steps, or one step at a block's edge, next to
    the nearest block of the same agent, as long as that lowers (steps, switches)."""
    improved = True
    while improved and time.monotonic() < deadline:
        improved = False
        for candidate in _moves(best, label):
            result = fails(candidate)
            if _better(result, best, label):
                assert result is not None
                best, improved = result, True
                break
            if time.monotonic() >= deadline:
                break
    return best


def _moves(actions: tuple[T, ...], label: Callable[[T], Hashable]) -> Iterator[tuple[T, ...]]:
    """Candidate schedules, each one block (or edge step) moved next to its agent's nearest
    other block."""
    blocks: list[tuple[int, int]] = []     # [start, end) of maximal runs of one agent
    names = [label(a) for a in actions]
    start = 0
    for i in range(1, len(actions) + 1):
        if i == len(actions) or names[i] != names[start]:
            blocks.append((start, i))
            start = i
    for k, (lo, hi) in enumerate(blocks):
        who = names[lo]
        pieces = [(lo, hi)] + ([(lo, lo + 1), (hi - 1, hi)] if hi - lo > 1 else [])
        earlier = next((b for b in reversed(blocks[:k]) if names[b[0]] == who), None)
        later = next((b for b in blocks[k + 1:] if names[b[0]] == who), None)
        for p_lo, p_hi in pieces:
            piece = actions[p_lo:p_hi]
            rest = actions[:p_lo] + actions[p_hi:]
            if earlier is not None:     # join the end of the earlier block
                at = earlier[1]
                yield rest[:at] + piece + rest[at:]
            if later is not None:       # join the start of the later block
                at = later[0] - (p_hi - p_lo)
                yield rest[:at] + piece + rest[at:]


def shortcut(states: Sequence[Hashable], actions: Sequence[T],
             neighbours: Callable[[Hashable], Iterable[tuple[T, Hashable, bool]]],
             max_states: int, deadline: float = float("inf")) -> tuple[T, ...] | None:
    """A shorter failing schedule through a bounded breadth-first search, or None.

    ``states[k]`` is the state before ``actions[k]`` (and ``states[-1]`` the end);
    ``neighbours(state)`` yields ``(action, next state, fails)``, ``fails`` when that step
    completes a failure (the schedule's own last step is such a step). From each state of the
    schedule in turn, at most ``max_states`` states are explored: a path to a later state of
    the schedule (not the end) shorter than the schedule's own, or to a failing step sooner
    than the schedule's end, is spliced in. The first
    improvement is returned; call again until None.

    >>> line = lambda s: [("+1", s + 1, s + 1 == 5), ("+2", s + 2, s + 2 == 5)]
    >>> shortcut([0, 1, 2, 3, 4, 5], ["+1"] * 5, line, 100)
    ('+2', '+1', '+1', '+1')
    """
    n = len(actions)
    # Where each state last occurs before the end: the end itself is no target, since the
    # failure is the last step into it, not the state.
    last = {state: k for k, state in enumerate(states[:n])}
    for i in range(n):
        if time.monotonic() >= deadline:
            return None
        start = states[i]
        parent: dict[Hashable, tuple[Hashable, T] | None] = {start: None}
        frontier = [start]
        depth = 0
        while frontier and len(parent) < max_states and depth + 1 < n - i:
            depth += 1
            following = []
            for state in frontier:
                for action, after, fails in neighbours(state):
                    if fails and depth < n - i:
                        return (*actions[:i], *_path(parent, state), action)
                    if after in parent:
                        continue
                    parent[after] = (state, action)
                    j = last.get(after, -1)
                    if j - i > depth:
                        return (*actions[:i], *_path(parent, after), *actions[j:])
                    following.append(after)
            frontier = following
    return None


def _path(parent: dict[Hashable, tuple[Hashable, T] | None], state: Hashable) -> list[T]:
    path: list[T] = []
    link = parent[state]
    while link is not None:
        state, action = link
        path.append(action)
        link = parent[state]
    path.reverse()
    return path
