"""The annotated symmetry quotient times the tracked CPU's place, and real executions lifted
from it.

When CPUs are interchangeable (the model's ``canonical_groups``: identical code up to
renaming their private locks) the search of `lockbreak.engines.fair_graph` can keep one state
per orbit. An edge of that quotient from the stored state ``u`` is a real move of agent ``a``
from ``u`` to a real successor ``s'``, stored as its representative ``v = pi(s')``; ``pi``
(the edge's renaming, ``pi[cpu]`` = that CPU's place in ``v``) is kept with it. This is the
annotated quotient of Emerson and Sistla.

A property about one CPU's obligation ("CPU i's wait stays open", "CPU i waits N ticks") is
not symmetric, but the family over all i is. So the analyses run on the *product* of the
quotient with the place ``j`` of the tracked CPU: node ``(u, j)``, edge
``(u, j) -> (v, pi[j])`` with the quotient edge's agent and ticks, open when bit
``p * n + j`` of ``obligations(u)`` is. A real state ``x`` with a tracked CPU ``i`` lies over
``(u, g[i])`` for a renaming ``g`` (its *frame*) that takes ``x`` to its representative ``u``
(several when ``u`` is its own image under some renaming; each will do). Every product edge
lifts to a real move from every real state over its source, by the agent the frame names
there, the new frame being ``pi`` after ``g``; and every real move from ``x`` is such a lift
(renamings keep enabledness, obligations and ticks, since the model is symmetric). So real
paths tracking a CPU and product paths correspond step by step, with the tracked CPU's
obligation open at the same steps and the same ticks on each. `Lift` follows that
correspondence on the real model; `lockbreak.engines.fair_symmetry` and
`lockbreak.engines.worst_symmetry` argue what it keeps for their properties.

The product is never laid out whole: node ``j * S + u`` is stored state ``u`` with the tracked
agent in place ``j`` (``S`` stored states), and the edges out of place ``j`` are the quotient's
edges, their targets computed one place at a time (`Product.targets`). Only the subgraph a
question needs is built, as a CSR matrix for the strongly connected components.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from lockbreak.core import CheckResult, PropertyKind, Stats, Step

if TYPE_CHECKING:
    from lockbreak.engines.fair_graph import ColumnGraph

# The largest group of renamings whose composition table is built (6! agents' orders).
MAX_GROUP = 720

# A real state with its frame: the renaming that takes it to its stored representative.
Framed = tuple[Any, tuple[int, ...]]


class UnfaithfulLift(Exception):
    """What was found on the quotient does not lift to the real model as the argument says
    it must (no real path over a component, a worst case measured otherwise): a bug here,
    never a verdict."""


class Renamings:
    """The renamings the model's symmetry allows (each group of identical agents permuted
    among itself), numbered, with composition, inverses and images of agent bitmasks."""

    def __init__(self, n: int, groups: Sequence[Sequence[int]]) -> None:
        self.n = n
        perms = []
        for orders in itertools.product(*(itertools.permutations(g) for g in groups)):
            perm = list(range(n))
            for group, order in zip(groups, orders, strict=True):
                for old, new in zip(group, order, strict=True):
                    perm[old] = new
            perms.append(tuple(perm))
        self.perms = sorted(perms)
        self.ids = {p: k for k, p in enumerate(self.perms)}
        self.identity = self.ids[tuple(range(n))]
        table = np.array(self.perms, dtype=np.int64).reshape(len(self.perms), n)
        self.apply = table                         # apply[k, agent]: its new place
        # compose[a, b]: a after b.
        self.compose = np.array([[self.ids[tuple(int(a[b[x]]) for x in range(n))]
                                  for b in table] for a in table], dtype=np.int64)
        self.inverse = np.array([self.ids[tuple(int(x) for x in np.argsort(p))]
                                 for p in table], dtype=np.int64)
        masks = np.arange(1 << n, dtype=np.int64)
        self.image = np.zeros((len(self.perms), 1 << n), dtype=np.int64)
        for k, renaming in enumerate(self.perms):
            for agent in range(n):
                self.image[k] |= (masks >> agent & 1) << renaming[agent]

    @staticmethod
    def size(n: int, groups: Sequence[Sequence[int]]) -> int:
        out = 1
        for group in groups:
            for k in range(2, len(group) + 1):
                out *= k
        return out


class Product:
    """The product of the quotient `ColumnGraph` (built with symmetry) of ``model`` with the
    tracked agent's place (the module docstring), computed a place at a time. A subclass
    decides the properties of one kind (``KIND``) on it, one at a time (`decide_one`)."""

    KIND: ClassVar[PropertyKind]

    def __init__(self, model: Any, graph: ColumnGraph) -> None:
        assert graph.renaming is not None
        self.model, self.graph = model, graph
        n = self.n = len(model.agents)
        self.all_agents = (1 << n) - 1
        self.group = Renamings(n, model.canonical_groups)
        # Each quotient edge's renaming, numbered as in `group`.
        self.renaming = np.array([self.group.ids[tuple(p)] for p in graph.renamings] or [0],
                                 dtype=np.int16)[graph.renaming]
        self.places = self.group.apply.astype(np.uint8)
        self.states = len(graph.states)
        self.size = self.states * n
        self.index = np.int32 if self.size < 1 << 31 else np.int64
        self.start = np.searchsorted(graph.src, np.arange(self.states + 1))
        self.has_out = np.diff(self.start) > 0
        # The narrowest unsigned type that holds a bitmask of the agents.
        self.mask = next(t for t in (np.uint8, np.uint16, np.uint32, np.uint64)
                         if n <= 8 * np.dtype(t).itemsize)

    def targets(self, place: int) -> np.ndarray:
        """Per quotient edge, the product node it leads to from its source in ``place``."""
        moved = self.places[self.renaming, place].astype(self.index)
        moved *= self.states
        moved += self.graph.dst
        return moved

    def successors(self, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every product edge out of ``nodes``: its source, quotient edge and target."""
        states, places = nodes % self.states, nodes // self.states
        lo = self.start[states]
        counts = self.start[states + 1] - lo
        src = np.repeat(nodes, counts)
        edge = np.repeat(lo - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
        moved = self.places[self.renaming[edge], np.repeat(places, counts)].astype(np.int64)
        return src, edge, moved * self.states + self.graph.dst[edge]

    def first_of(self, nodes: np.ndarray) -> int:
        """The node of ``nodes`` to build a counterexample from: least depth, then least
        stored state, then least place (an order that does not depend on the numbering)."""
        states, places = nodes % self.states, nodes // self.states
        depth = self.graph.depth[states].astype(np.int64)
        return int(nodes[np.argmin((depth * self.states + states) * self.n + places)])

    def decide(self, bits: Sequence[int], stats: Stats) -> list[CheckResult]:
        """The results of the properties at positions ``bits`` (all of ``KIND``), each named
        and carrying the ``stats`` of the graph they were decided on."""
        results = []
        for bit in bits:
            assert self.model.property_kinds[bit] is self.KIND
            result = self.decide_one(bit)
            result.property = self.model.property_names[bit]
            result.stats = stats
            results.append(result)
        return results

    def decide_one(self, bit: int) -> CheckResult:
        """The result of the property at position ``bit``, before it is named."""
        raise NotImplementedError

    def open_nodes(self, bit: int) -> np.ndarray:
        """Per product node: whether the tracked agent's obligation ``bit`` is open."""
        inside = np.empty(self.size, dtype=bool)
        for place in range(self.n):
            inside[place * self.states:(place + 1) * self.states] = (
                self.graph.owing >> (bit * self.n + place) & 1).astype(bool)
        return inside

    def components(self, inside: np.ndarray) -> tuple[np.ndarray, int]:
        """SCC labels of the product restricted to ``inside`` nodes, and their number."""
        src = self.graph.src
        indptr = np.zeros(self.size + 1, dtype=np.int64)
        parts = []
        for place in range(self.n):
            base = place * self.states
            dst = self.targets(place)
            keep = inside[base:base + self.states][src] & inside[dst]
            # Parallel edges once each: scipy's strong components do not terminate on a
            # row that repeats a column.
            pairs = distinct(src[keep].astype(np.int64) * self.size + dst[keep])
            indptr[base + 1:base + self.states + 1] = np.bincount(pairs // self.size,
                                                                  minlength=self.states)
            parts.append((pairs % self.size).astype(self.index))
        np.cumsum(indptr, out=indptr)
        indices = np.concatenate(parts)
        del parts
        # scipy reads only the structure; a broadcast one stands in for the weights.
        ones = np.broadcast_to(np.float64(1), indices.shape)
        matrix = csr_matrix((ones, indices, indptr.astype(self.index)),
                            shape=(self.size, self.size), copy=False)
        count, labels = connected_components(matrix, directed=True, connection="strong")
        return labels, count

    def internal(self, inside: np.ndarray, labels: np.ndarray, place: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The product edges out of ``place`` inside one component of ``inside``: their
        quotient edges, sources and targets."""
        base = place * self.states
        dst = self.targets(place)
        src = self.graph.src.astype(self.index) + base
        keep = inside[src] & inside[dst] & (labels[src] == labels[dst])
        return np.flatnonzero(keep), src[keep], dst[keep]

    def cyclic(self, inside: np.ndarray, labels: np.ndarray, count: int) -> np.ndarray:
        """Per component: whether it holds a cycle (two or more nodes, or a self-loop)."""
        size = np.bincount(labels, minlength=count)
        loops = np.zeros(count, dtype=bool)
        for place in range(self.n):
            _, src, dst = self.internal(inside, labels, place)
            loops[labels[src[src == dst]]] = True
        return (size > 1) | loops

    def can_close(self, node: int, inside: np.ndarray) -> bool:
        """Whether some path from product ``node`` reaches one where it is closed."""
        seen = np.zeros(self.size, dtype=bool)
        seen[node] = True
        frontier = np.array([node], dtype=np.int64)
        while len(frontier):
            _, _, dst = self.successors(frontier)
            if not inside[dst].all():
                return True
            frontier = distinct(dst[~seen[dst]])
            seen[frontier] = True
        return False

    def framed_path(self, node: int) -> tuple[Any, list[Step[Any, Any]], int, tuple[int, ...]]:
        """A shortest real path to a state over product ``node``: its initial state, steps,
        the real agent tracked there and that state's frame."""
        init, stem = self.graph.states.search._real_path(node % self.states)
        at = stem[-1].state if stem else init
        frame = tuple(self.model.canonical_perm(at)[1])
        return init, stem, frame.index(node // self.states), frame


def distinct(values: np.ndarray) -> np.ndarray:
    """The distinct ``values``, sorted (by sorting: numpy's hashing unique is far slower on
    the millions of edge keys here)."""
    values = np.sort(values)
    return values[np.concatenate([[True], values[1:] != values[:-1]])] if len(values) else values


class Lift:
    """Real executions over product nodes (the module docstring): real states paired with
    their frame, each move's frame composed from the edge's renaming.

    ``component`` (a mask of product nodes) bounds the moves `moves` and `path` take, for
    the agent ``tracked`` (real name)."""

    def __init__(self, product: Product, tracked: int, component: np.ndarray | None = None
                 ) -> None:
        self.model, self.graph, self.n = product.model, product.graph, product.n
        self.tracked, self.component = tracked, component
        self.start, self.states = product.start, product.states
        self.wake_agents = tuple(self.model.wake_agents)
        # The environment's actions come in groups (of a kind), each group in agent order.
        self.wake_groups = tuple(getattr(self.model, "wake_groups",
                                         (0,) * len(self.wake_agents)))
        # Action slots past the steps, wakeups and choices are arrivals (lockstep timing),
        # which come first among a state's actions.
        self.first_arrival = (self.n + len(self.wake_agents)
                              + len(getattr(self.model, "choice_agents", ())))
        self.index: dict[int, int] = {}      # representative -> its stored index

    def stored(self, state: Any) -> int:
        """The index of the stored representative ``state``."""
        found = self.index.get(state)
        if found is None:
            states = self.graph.states
            found = self.index[state] = states.index_of(states.search._key(state))
        return found

    def _key(self, slot: int, back: list[int]) -> tuple[int, ...]:
        """Where the action of quotient slot ``slot`` sorts among a real state's actions,
        ``back[place]`` being the real agent in that place."""
        if slot < self.n:
            return (0, back[slot])
        if slot >= self.first_arrival:
            return (-1, back[slot - self.first_arrival])
        k = slot - self.n
        return (1, self.wake_groups[k], back[self.wake_agents[k]])

    def moves(self, state: Any, frame: tuple[int, ...]
              ) -> list[tuple[int, int, Any, tuple[int, ...], int]]:
        """``(action index, real agent or -1, next state, its frame, ticks)`` for each move
        from ``state`` whose lift stays over the component (every move without one)."""
        g = self.graph
        assert g.slot is not None and g.renaming is not None
        u = self.stored(self.model.canonical(state))
        back = [frame.index(place) for place in range(self.n)]
        edges = range(int(self.start[u]), int(self.start[u + 1]))
        keys = [self._key(int(g.slot[e]), back) for e in edges]
        order = sorted(keys)
        out = []
        actions = self.model.actions(state)
        for e, key in zip(edges, keys, strict=True):
            renaming = g.renamings[int(g.renaming[e])]
            after_frame = tuple(renaming[frame[b]] for b in range(self.n))
            node = after_frame[self.tracked] * self.states + int(g.dst[e])
            if self.component is not None and not self.component[node]:
                continue
            index = order.index(key)
            after = self.model.next_state(state, actions[index])
            out.append((index, key[1] if key[0] != 1 else -1, after, after_frame,
                        int(g.ticks[e])))
        return out

    def follow(self, at: Framed, edge: int) -> tuple[Step[Any, Any], Framed]:
        """The real move that lifts quotient ``edge`` (out of ``at``'s representative) from
        the framed state ``at``, and where it leads."""
        g = self.graph
        assert g.slot is not None and g.renaming is not None
        state, frame = at
        u = int(g.src[edge])
        back = [frame.index(place) for place in range(self.n)]
        edges = range(int(self.start[u]), int(self.start[u + 1]))
        order = sorted(self._key(int(g.slot[e]), back) for e in edges)
        index = order.index(self._key(int(g.slot[edge]), back))
        action = self.model.actions(state)[index]
        after = self.model.next_state(state, action)
        renaming = g.renamings[int(g.renaming[edge])]
        return Step(index, action, after), (after, tuple(renaming[frame[b]]
                                                         for b in range(self.n)))

    def path(self, start: Framed, goal: Callable[[Any, int | None, int], bool]
             ) -> tuple[list[Step[Any, Any]], list[int], Framed]:
        """A shortest real path over the component from ``start`` to a state that
        ``goal(state, real agent that moved there, ticks of that move)`` accepts: its steps,
        movers and end."""
        model = self.model
        seen: dict[Framed, tuple[Framed, int, int] | None] = {start: None}
        queue = deque([start])
        while queue:
            here = queue.popleft()
            for index, mover, after, frame, ticks in self.moves(*here):
                there = (after, frame)
                if goal(after, mover, ticks):
                    steps, movers = [Step(index, model.actions(here[0])[index], after)], [mover]
                    at = here
                    while (link := seen[at]) is not None:
                        before, k, m = link
                        steps.append(Step(k, model.actions(before[0])[k], at[0]))
                        movers.append(m)
                        at = before
                    return steps[::-1], movers[::-1], there
                if there not in seen:
                    seen[there] = (here, index, mover)
                    queue.append(there)
        raise UnfaithfulLift("no real path over a strongly connected component of the "
                             "product reaches the goal")
