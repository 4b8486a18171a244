"""Worst cases in ticks on the symmetry quotient, with the renaming carried on each edge.

`bounded_wait` and `bounded_latency` are the longest time, in ticks, that one CPU's
obligation stays open, taken over every CPU (`lockbreak.engines.liveness`): the property as a
whole is symmetric, so it may be measured on the product of the annotated quotient with the
tracked CPU's place (`lockbreak.engines.quotient`, whose docstring sets out the product and
how its paths and real paths correspond). Why the worst case found there is the full graph's:

1. *Intervals.* An open interval of CPU ``i`` on a real path (from the step that opens its
   obligation to the one before the step that closes it) maps, step by step, to a product
   path from ``(u, g[i])`` whose nodes are open at the same steps and whose edges carry the
   same ticks (a renamed move ends a tick exactly when the move does: whether another CPU
   can still step is symmetric). Conversely a product path lifts, from any real state over its
   first node, to a real path with the same open steps and ticks, and every product node
   lies over a reachable real state (every stored state is reachable, and any CPU may be the
   tracked one). So the open intervals of the product, with their ticks, are exactly those
   of the real graph, over every CPU: the longest is the same number.
2. *Unbounded.* A cycle of open product nodes with a tick on it lifts, repeated as many times
   as the order of the renaming it composes to, to a real cycle that keeps the tracked CPU's
   obligation open and lets time pass (the argument of `lockbreak.engines.fair_symmetry`'s
   point 2); a real such cycle maps to a closed product walk with a tick. A product node
   where the obligation is open and nothing can move is over real states where the same
   holds. So the worst case is unbounded on the quotient exactly when it is on the full
   graph.

The longest interval is taken as `lockbreak.engines.longest_interval` takes it, on the
product's open nodes: the component DAG settled a layer at a time (`dag_longest`), then the
path that attains it rebuilt from each component's exit. When no open node is stuck and the
open nodes hold no cycle (Kahn's order settles them all and no open node has an edge to
itself), each node is its own component and no strongly connected components are built:
the nodes are then settled from the sinks back through the quotient's edges sorted by target
(one order serves every place, each edge's source place read from its renaming), and each
node's exit is found from its own edges as the path reaches it, so nothing is laid out per
product edge. Else the components are built, a place at a time. The path is lifted to real
CPUs (each product edge followed by the real move its frame names, `quotient.Lift.follow`),
and the trace is measured again on the real model before it is reported: a bounded worst
case must be what its last step closes after (`liveness.ticks_open_at_end`), an unbounded
one a lasso that keeps the obligation open and lets time pass (`liveness.open_forever`). A
bounded worst case's path is lifted from the initial state with the lowest CPU of its group
tracked, as the plain engine names it, where the initial state is the same under the group's
renamings (the lift checks that each step lands on the stored state its edge names); an
unbounded one names the CPU its lift tracks. Their steps may differ from the full graph's,
found from another state of the same orbit.

Partial-order reduction is not used: no argument is made that it keeps the longest interval.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from lockbreak.core import CheckResult, LockbreakError, PropertyKind, Status, Step, Trace
from lockbreak.engines.liveness import open_forever, ticks_open_at_end
from lockbreak.engines.longest_interval import dag_longest
from lockbreak.engines.quotient import Lift, Product, UnfaithfulLift, distinct


class SymmetricWorst(Product):
    """The WORST properties on the quotient `ColumnGraph` (built with symmetry) of
    ``model``, on its product with the tracked agent's place."""

    KIND = PropertyKind.WORST

    def decide_one(self, bit: int) -> CheckResult:
        inside = self.open_nodes(bit)
        if not inside.any():
            return CheckResult("", Status.VACUOUS, detail=(
                "never violated, but it never had to wait: nothing ever opened"))
        stuck = np.flatnonzero(inside & np.tile(~self.has_out, self.n))
        # Where no open node is stuck and the open nodes hold no cycle (the common case: a
        # cycle that keeps a wait open without ticks has no reason to exist), each node is
        # a component of its own and no strongly connected components are needed.
        found = None if len(stuck) else self._longest_nodes(inside)
        if found is None:
            labels, count = self.components(inside)
            size = np.bincount(labels, minlength=count)
            looping = size > 1
            ticking = np.zeros(count, dtype=bool)
            for place in range(self.n):
                edge, src, dst = self.internal(inside, labels, place)
                looping[labels[src[src == dst]]] = True
                ticking[labels[src[self.graph.ticks[edge] > 0]]] = True
            endless = np.flatnonzero(inside & (looping & ticking)[labels])
            if len(endless) or len(stuck):
                return self._unbounded(bit, inside, labels, endless, stuck)
            found = self._longest(inside, labels, count)
            assert found is not None
        ticks, edges, start = found
        return self._measured(bit, ticks, edges, start)

    def _measured(self, bit: int, ticks: int, edges: list[int], start: int) -> CheckResult:
        """The bounded worst case ``ticks`` with the product path that attains it (``edges``
        from node ``start``), lifted to real CPUs and measured again on the real model."""
        init, steps, tracked = self._lifted(self._stem(start) + edges)
        trace = Trace(init, tuple(steps))
        if ticks_open_at_end(self.model, trace, bit) != ticks:
            raise UnfaithfulLift(f"the worst case of {ticks} ticks found on the quotient does "
                                 "not measure the same on its lifted trace")
        return CheckResult("", Status.HOLDS, trace, worst=ticks, detail=(
            f"worst case {ticks} tick{'s' if ticks != 1 else ''}, on "
            f"{self.model.agents[tracked]}"))

    def _stem(self, node: int) -> list[int]:
        """The product edges of a shortest path from a root to ``node``: the BFS tree's
        edges to its stored state, each in the place the tracked agent has there."""
        g, total = self.graph, len(self.graph.dst)
        edges, state, place = [], node % self.states, node // self.states
        while g.parent[state] >= 0:
            e = int(g.parent[state])
            place = int(self.places[self.group.inverse[self.renaming[e]], place])
            edges.append(place * total + e)
            state = int(g.src[e])
        return edges[::-1]

    def _lifted(self, edges: list[int]) -> tuple[Any, list[Step[Any, Any]], int]:
        """The real execution over the product path ``edges`` (from a root): its initial
        state, steps and tracked agent. The agent tracked is the lowest of its group of
        interchangeable agents (the one the plain engine names) when the initial state
        allows it (renaming the agents of the group leaves it as it is), which the lift
        checks step by step; else the one the initial state's frame gives."""
        g, total = self.graph, len(self.graph.dst)
        root, place = int(g.src[edges[0] % total]), edges[0] // total
        init = next(s for s in self.model.init_states()
                    if self.model.canonical(s) == g.states[root])
        frame = tuple(self.model.canonical_perm(init)[1])
        tracked = frame.index(place)
        lowest = min(next(group for group in self.model.canonical_groups if tracked in group))
        frames = [frame]
        if lowest != tracked:
            swap = {lowest: tracked, tracked: lowest}
            frames.insert(0, tuple(frame[swap.get(b, b)] for b in range(self.n)))
        for chosen in frames:
            agent = chosen.index(place)
            lift = Lift(self, agent)
            here, steps = (init, chosen), []
            for product_edge in edges:
                at, edge = divmod(product_edge, total)
                step, here = lift.follow(here, edge)
                if (here[1][agent] != self.places[self.renaming[edge], at]
                        or lift.stored(self.model.canonical(step.state)) != int(g.dst[edge])):
                    break
                steps.append(step)
            else:
                return init, steps, agent
        raise UnfaithfulLift("the path found on the quotient does not lift to the real model")

    def _unbounded(self, bit: int, inside: np.ndarray, labels: np.ndarray,
                   endless: np.ndarray, stuck: np.ndarray) -> CheckResult:
        """The counterexample of an unbounded worst case: a path to a product node where
        the obligation is open and nothing moves, or a lasso whose loop, inside one
        component, lets time pass (whichever starts shallower; the first on a tie)."""
        depth = self.graph.depth
        if len(stuck) and (not len(endless) or depth[stuck % self.states].min()
                           <= depth[endless % self.states].min()):
            init, stem, tracked, _ = self.framed_path(self.first_of(stuck))
            return CheckResult("", Status.VIOLATED, Trace(init, tuple(stem)), detail=(
                f"unbounded on {self.model.agents[tracked]}: it is never served, nothing can "
                "move at the end"))
        node = self.first_of(endless)
        init, stem, tracked, frame = self.framed_path(node)
        entry = stem[-1].state if stem else init
        lift = Lift(self, tracked, inside & (labels == labels[node]))
        to_tick, _, end = lift.path((entry, frame), lambda state, mover, ticks: ticks > 0)
        home = [] if end[0] == entry else lift.path(
            end, lambda state, mover, ticks: state == entry)[0]
        trace = Trace(init, tuple(stem + to_tick + home), len(stem))
        if open_forever(self.model, trace, bit, fair=False) is None:
            raise UnfaithfulLift("the lasso lifted from the quotient does not keep the "
                                 "obligation open while time passes")
        return CheckResult("", Status.VIOLATED, trace, detail=(
            f"unbounded on {self.model.agents[tracked]}: it is never served while the steps "
            "marked repeat forever"))

    def _longest(self, inside: np.ndarray, labels: np.ndarray, count: int
                 ) -> tuple[int, list[int], int]:
        """The longest open interval (ticks), the product edges of a path that attains it
        (numbered ``place * E + quotient edge``) and the node it starts from, over the
        strongly connected components ``labels`` of the open nodes.

        As `lockbreak.engines.longest_interval` takes it: longest paths over the component
        DAG, each component left by its first closing edge if that attains its value, else
        by its first following edge that does; the first opening that attains the worst
        case."""
        parts = _Leaving(self, inside, labels)
        value, _ = dag_longest(count, parts.follow_src, parts.follow_dst,
                               parts.follow_ticks, parts.close_comp)
        del parts.follow_src, parts.follow_dst, parts.follow_ticks
        _timeless(value[labels[inside]])
        exit_edge = self._exits(inside, labels, value)
        best, first = -1, -1
        if len(parts.open_id):
            reached = parts.open_ticks + value[parts.open_comp]
            k = int(np.argmax(reached))
            best, first = int(reached[k]), int(parts.open_id[k])
        return self._walk(inside, labels, value, (best, first),
                          lambda at: int(exit_edge[labels[at]]))

    def _longest_nodes(self, inside: np.ndarray) -> tuple[int, list[int], int] | None:
        """`_longest` with each open node its own component, None when the open nodes hold
        a cycle. Nothing is gathered per product edge: the nodes are settled from the sinks
        back through the quotient's reversed edges (`_settled`), the openings read a place
        at a time, and each node's exit found from its own edges as the path reaches it."""
        value = self._settled(inside)
        if value is None:
            return None
        _timeless(value[inside])
        total = len(self.graph.dst)
        src = self.graph.src.astype(self.index, copy=False)
        best, first = -1, -1
        for place in range(self.n):
            dst = self.targets(place)
            opening = np.flatnonzero(~inside[place * self.states + src] & inside[dst])
            if len(opening):
                reached = self.graph.ticks[opening].astype(np.int64) + value[dst[opening]]
                k = int(np.argmax(reached))
                if int(reached[k]) > best:
                    best, first = int(reached[k]), int(opening[k]) + place * total
        return self._walk(inside, None, value, (best, first),
                          lambda at: self._exit(at, inside, value))

    def _walk(self, inside: np.ndarray, labels: np.ndarray | None, value: np.ndarray,
              opened: tuple[int, int], exit_of: Callable[[int], int]
              ) -> tuple[int, list[int], int]:
        """The worst case and the product path that attains it: from the opening edge
        ``opened`` (ticks reached, product edge; -1 for none) or from an open root if one
        reaches more, each node or component left by ``exit_of`` until a node is closed."""
        best, first = opened
        roots = np.flatnonzero(inside & np.tile(self.graph.parent < 0, self.n))
        root_comp = roots if labels is None else labels[roots]
        start = -1
        if len(roots) and int(value[root_comp].max()) > best:
            k = int(np.argmax(value[root_comp]))
            start, best = int(roots[k]), int(value[root_comp[k]])
        edges = [first] if start < 0 else []
        at = self._ends(first)[1] if start < 0 else start
        while True:
            e = exit_of(at)
            source, target = self._ends(e)
            if source != at:
                assert labels is not None
                edges += self._within(at, source, labels)
            edges.append(e)
            at = target
            if not inside[at]:
                return best, edges, self._ends(first)[0] if start < 0 else start

    def _settled(self, inside: np.ndarray) -> np.ndarray | None:
        """Per product node: the most ticks from it to a closing edge through open nodes
        (-1 where none is), as `dag_longest` settles it with each node its own component,
        without laying out the product's edges; None when an open node is on a cycle.

        An edge into ``(v, k)`` is a quotient edge ``e`` into ``v`` out of
        ``(src[e], j)``, ``j`` the place whose image under ``e``'s renaming is ``k``: so
        the quotient's edges sorted by target serve every place."""
        g, states = self.graph, self.states
        src = g.src.astype(self.index, copy=False)
        degree = int(np.diff(self.start).max(initial=0))
        value = np.full(self.size, -1, dtype=np.int32)
        pending = np.zeros(self.size, dtype=np.int16 if degree < 1 << 15 else np.int32)
        for place in range(self.n):
            base = place * states
            dst = self.targets(place)
            in_src, in_dst = inside[base + src], inside[dst]
            if (in_src & (base + src == dst)).any():
                return None
            pending[base:base + states] = np.bincount(src[in_src & in_dst], minlength=states)
            value[base + src[in_src & ~in_dst]] = 0
            del dst, in_src, in_dst
        order = np.argsort(g.dst).astype(self.index)     # any order within a target
        into = np.zeros(states + 1, dtype=np.int64)
        np.cumsum(np.bincount(g.dst, minlength=states), out=into[1:])
        back = self.places[self.group.inverse]       # back[r, k]: the place r takes to k
        ready = np.flatnonzero(inside & (pending == 0))
        while len(ready):
            lo = into[ready % states]
            counts = into[ready % states + 1] - lo
            edges = order[np.repeat(lo - np.cumsum(counts) + counts, counts)
                          + np.arange(int(counts.sum()))]
            target = np.repeat(ready, counts)
            source = (back[self.renaming[edges], np.repeat(ready // states, counts)]
                      .astype(np.int64) * states + g.src[edges])
            keep = inside[source]
            edges, target, source = edges[keep], target[keep], source[keep]
            reached = value[target] >= 0
            np.maximum.at(value, source[reached],
                          g.ticks[edges[reached]] + value[target[reached]])
            np.subtract.at(pending, source, 1)
            ready = distinct(source[pending[source] == 0])
        return value if not pending[inside].any() else None

    def _exit(self, node: int, inside: np.ndarray, value: np.ndarray) -> int:
        """The product edge open ``node`` is left by on a longest interval when each node
        is its own component (as `_exits`): its first closing edge if its value is 0, else
        its first edge to an open node that attains its value."""
        g, place, state = self.graph, node // self.states, node % self.states
        edges = np.arange(self.start[state], self.start[state + 1])
        dst = self.places[self.renaming[edges], place].astype(np.int64) * self.states + g.dst[
            edges]
        closing = edges[~inside[dst]]
        if value[node] == 0 and len(closing):
            return place * len(g.dst) + int(closing[0])
        follow = inside[dst] & (g.ticks[edges] + value[dst] == value[node])
        return place * len(g.dst) + int(edges[follow][0])

    def _exits(self, inside: np.ndarray, labels: np.ndarray, value: np.ndarray
               ) -> np.ndarray:
        """Per component: the product edge it is left by on a longest interval (its first
        closing edge if that attains its value, else its first following edge that does),
        a place at a time."""
        total = len(self.graph.dst)
        closing = np.full(len(value), self.n * total, dtype=np.int64)
        following = closing.copy()
        for place in range(self.n):
            dst = self.targets(place)
            src = self.graph.src.astype(self.index) + place * self.states
            comp_src, comp_dst = labels[src], labels[dst]
            leaving = inside[src] & (comp_src != comp_dst)
            close = np.flatnonzero(leaving & ~inside[dst] & (value[comp_src] == 0))
            np.minimum.at(closing, comp_src[close], close + place * total)
            gained = self.graph.ticks.astype(np.int64) + value[comp_dst]
            follow = np.flatnonzero(leaving & inside[dst] & (gained == value[comp_src]))
            np.minimum.at(following, comp_src[follow], follow + place * total)
        return np.where(closing < self.n * total, closing, following)

    def _ends(self, product_edge: int) -> tuple[int, int]:
        """The source and target product nodes of ``product_edge``."""
        place, edge = divmod(product_edge, len(self.graph.dst))
        moved = int(self.places[self.renaming[edge], place])
        return (place * self.states + int(self.graph.src[edge]),
                moved * self.states + int(self.graph.dst[edge]))

    def _within(self, start: int, goal: int, labels: np.ndarray) -> list[int]:
        """The product edges of a shortest path from ``start`` to ``goal`` inside their
        strongly connected component."""
        total = len(self.graph.dst)
        seen = {start: -1}
        frontier = [start]
        while goal not in seen:
            src, edge, dst = self.successors(np.array(frontier, dtype=np.int64))
            frontier = []
            for s, e, d in zip(src.tolist(), edge.tolist(), dst.tolist(), strict=True):
                if d not in seen and labels[d] == labels[start]:
                    seen[d] = (s // self.states) * total + e
                    frontier.append(d)
        path = []
        at = goal
        while at != start:
            path.append(seen[at])
            at = self._ends(seen[at])[0]
        return path[::-1]


class _Leaving:
    """The product edges the longest interval reads, gathered a place at a time: those that
    leave a component of open nodes for another (``follow_*``: source and target
    components, ticks), the components left for a closed node (``close_comp``) and the
    edges that enter an open node from a closed one (``open_*``: target component, ticks,
    product edge)."""

    def __init__(self, product: Product, inside: np.ndarray, labels: np.ndarray) -> None:
        graph = product.graph
        total = len(graph.dst)
        columns: dict[str, list[np.ndarray]] = {name: [] for name in (
            "follow_src", "follow_dst", "follow_ticks", "close_comp", "open_comp",
            "open_ticks", "open_id")}
        for place in range(product.n):
            dst = product.targets(place)
            src = graph.src.astype(product.index) + place * product.states
            in_src, in_dst = inside[src], inside[dst]
            comp_src, comp_dst = labels[src], labels[dst]
            leaving = in_src & (comp_src != comp_dst)
            follow = np.flatnonzero(leaving & in_dst)
            columns["follow_src"].append(comp_src[follow])
            columns["follow_dst"].append(comp_dst[follow])
            columns["follow_ticks"].append(graph.ticks[follow])
            columns["close_comp"].append(comp_src[leaving & ~in_dst])
            opening = np.flatnonzero(~in_src & in_dst)
            columns["open_comp"].append(comp_dst[opening])
            columns["open_ticks"].append(graph.ticks[opening].astype(np.int64))
            columns["open_id"].append(opening + place * total)
        joined = {name: np.concatenate(parts) for name, parts in columns.items()}
        self.follow_src, self.follow_dst = joined["follow_src"], joined["follow_dst"]
        self.follow_ticks, self.close_comp = joined["follow_ticks"], joined["close_comp"]
        self.open_comp, self.open_ticks = joined["open_comp"], joined["open_ticks"]
        self.open_id = joined["open_id"]


def _timeless(values: np.ndarray) -> None:
    """Refuse open nodes from which no closing edge is reached (``values`` below 0)."""
    if (values < 0).any():
        raise LockbreakError(
            "an obligation stays open on a cycle without ticks: the model's time "
            "does not advance there")
