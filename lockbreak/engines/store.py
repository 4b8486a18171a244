"""Compact storage of what a breadth-first search visited: states, BFS tree, and edges.

`StateStore` keeps every state (``--store exact``); `CompactStore` keeps only fingerprints or
Bloom-filter bits and the two BFS levels in hand (``--store hashcompact`` and ``bitstate``).

Engines keep millions of states, so everything per state besides the state object itself lives
in flat `array.array` columns indexed by the state's BFS position (its *index*), never in
per-state Python objects.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from typing import Generic

import numpy as np

from lockbreak.core import S
from lockbreak.engines.compaction import VisitedSet, fingerprints


def perm_index(perms: list[tuple[int, ...]], perm_ids: dict[tuple[int, ...], int],
               perm: tuple[int, ...]) -> int:
    """The index of agent permutation ``perm`` in ``perms`` (appended when new, with
    ``perm_ids`` its index), so that an edge stores 4 bytes, not a tuple."""
    found = perm_ids.get(perm)
    if found is None:
        found = perm_ids[perm] = len(perms)
        perms.append(perm)
    return found


class _Tree:
    """The readers both stores share: of the BFS tree (``parent``, ``level_ends``) and of the
    edge columns (``edge_ends``, ``perms``, ``perm_ids``)."""

    __slots__ = ()
    parent: array
    level_ends: list[int]
    edge_ends: array
    perms: list[tuple[int, ...]]
    perm_ids: dict[tuple[int, ...], int]

    def depth(self, index: int) -> int:
        """BFS depth of the state at ``index`` (0 for initial states)."""
        return bisect_right(self.level_ends, index)

    def chain(self, index: int) -> list[int]:
        """Indices from an initial state to ``index`` along the BFS tree: a shortest path."""
        path = [index]
        while self.parent[path[-1]] >= 0:
            path.append(self.parent[path[-1]])
        path.reverse()
        return path

    def edge_sources(self) -> np.ndarray:
        """The source index of every stored edge (expanded from ``edge_ends``)."""
        ends = np.frombuffer(self.edge_ends, dtype=np.uint32) if len(self.edge_ends) else (
            np.zeros(0, dtype=np.uint32))
        counts = np.diff(ends, prepend=np.uint32(0))
        return np.repeat(np.arange(len(ends), dtype=np.uint32), counts)

    def perm_id(self, perm: tuple[int, ...]) -> int:
        """A small id for an agent permutation, so that an edge stores 4 bytes, not a tuple."""
        return perm_index(self.perms, self.perm_ids, perm)


class StateStore(_Tree, Generic[S]):
    """The states a search found, in BFS order, with the tree that first reached each.

    ``states[k]`` is the k-th distinct state; ``parent[k]`` is the index it was first reached
    from (-1 for an initial state) and ``action[k]`` the action index taken there, so a path
    back to an initial state costs 8 bytes per state. ``seen`` dedupes: a set, or, when
    ``indexed``, a dict from state to index so that edges can name the state they reach
    (about 50 bytes more per state: the index is an int object). ``dst`` (and ``edge_perm``,
    an index into ``perms``, under symmetry) hold edges only when the search records them:
    the edges out of state ``k`` are ``dst[edge_ends[k - 1]:edge_ends[k]]``, in BFS order, so
    an edge costs 4 bytes and its source is implied.

    Examples
    --------
    >>> store = StateStore(indexed=False)
    >>> store.add_root("a"), store.add_root("a"), store.add_root("b")
    (True, False, True)
    >>> store.end_level(); store.add(0, 3, "c")
    True
    >>> store.end_level(); store.chain(2)
    [0, 2]
    >>> store.depth(2), store.depth(1)
    (1, 0)
    """

    __slots__ = ("action", "dst", "edge_ends", "edge_perm", "level_ends", "parent", "perm_ids",
                 "perms", "seen", "states")

    def __init__(self, indexed: bool) -> None:
        self.states: list[S] = []
        self.seen: set[S] | dict[S, int] = {} if indexed else set()
        self.parent = array("i")
        self.action = array("I")
        self.level_ends: list[int] = []     # level_ends[d]: one past the last index at depth d
        self.dst = array("I")
        self.edge_ends = array("I")
        self.edge_perm = array("I")
        self.perms: list[tuple[int, ...]] = []
        self.perm_ids: dict[tuple[int, ...], int] = {}

    def __len__(self) -> int:
        return len(self.states)

    def add_root(self, state: S) -> bool:
        """Store an initial state unless already stored; True when it was new."""
        return self.add(-1, 0, state)

    def add(self, parent: int, action: int, state: S) -> bool:
        """Store ``state`` as reached from ``parent`` by ``action``; True when it was new.

        The search's hot loop inlines this; it is here for roots and for readers.
        """
        if state in self.seen:
            return False
        if isinstance(self.seen, dict):
            self.seen[state] = len(self.states)
        else:
            self.seen.add(state)
        self.states.append(state)
        self.parent.append(parent)
        self.action.append(action)
        return True

    def end_level(self) -> None:
        """Mark every state stored so far as no deeper than the current level."""
        self.level_ends.append(len(self.states))


class CompactStore(_Tree, Generic[S]):
    """What a search keeps when the visited set is lossy (`lockbreak.engines.compaction`).

    The states themselves are kept only for the level being expanded (``current``, whose first
    index is ``base``) and the level being filled (``following``), plus the initial states;
    the ``parent`` and ``action`` columns are kept for every state, so a path to any index is
    rebuilt by replaying its actions from an initial state. With the 64-bit fingerprints of
    `FingerprintSet` that is 16 bytes per state plus the two levels' states.

    Examples
    --------
    >>> from lockbreak.engines.compaction import FingerprintSet
    >>> store = CompactStore(FingerprintSet())
    >>> store.add_root(3), store.add_root(3)
    (True, False)
    >>> store.end_level(); store.current, len(store)
    ([3], 1)
    """

    __slots__ = ("action", "base", "current", "done", "dst", "edge_ends", "edge_perm",
                 "following", "level_ends", "parent", "perm_ids", "perms", "roots", "visited")

    def __init__(self, visited: VisitedSet) -> None:
        self.visited = visited
        # When the search keeps the graph (hash compaction with CAN_FINISH properties): edges
        # as in `StateStore`, and each state's `done` mask, read while the state was at hand.
        self.done = array("Q")
        self.dst = array("I")
        self.edge_ends = array("I")
        self.edge_perm = array("I")
        self.perms: list[tuple[int, ...]] = []
        self.perm_ids: dict[tuple[int, ...], int] = {}
        self.roots: list[S] = []
        self.current: list[S] = []
        self.following: list[S] = []
        self.base = 0
        self.parent = array("i")
        self.action = array("I")
        self.level_ends: list[int] = []

    def __len__(self) -> int:
        return len(self.parent)

    def add_root(self, state: S) -> bool:
        """Store an initial state unless its fingerprint is stored; True when it was new."""
        if not self.visited.admit(fingerprints([state]))[0]:
            return False
        self.roots.append(state)
        self.following.append(state)
        self.parent.append(-1)
        self.action.append(0)
        return True

    def end_level(self) -> None:
        """The level just filled becomes the one to expand; the one expanded is dropped."""
        self.level_ends.append(len(self.parent))
        self.base += len(self.current)
        self.current, self.following = self.following, []
