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

The longest interval is taken as `lockbreak.engines.liveness` takes it, on the product's
open nodes: strongly connected components (built a place at a time), the component DAG
settled a layer at a time (`longest_interval.dag_longest`), then the path that attains it rebuilt
from each component's exit. That path is lifted to real CPUs from a real shortest path to
its first node (each product edge followed by the real move its frame names,
`quotient.Lift.follow`), and the trace is measured again on the real model before it is
reported: a bounded worst case must be what its last step closes after
(`liveness.ticks_open_at_end`), an unbounded one a lasso that keeps the obligation open and
lets time pass (`liveness.open_forever`). Traces name the CPU the lift tracks, one of the
interchangeable CPUs that attain the worst case; their length may differ from the full
graph's, found from another state of the same orbit.

Partial-order reduction is not used: no argument is made that it keeps the longest interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from lockbreak.core import CheckResult, LockbreakError, PropertyKind, Stats, Status, Step, Trace
from lockbreak.engines.liveness import open_forever, ticks_open_at_end
from lockbreak.engines.longest_interval import dag_longest
from lockbreak.engines.quotient import Lift, Product, UnfaithfulLift


class SymmetricWorst(Product):
    """The WORST properties on the quotient `ColumnGraph` (built with symmetry) of
    ``model``, on its product with the tracked agent's place."""

    def decide(self, bits: Sequence[int], stats: Stats) -> list[CheckResult]:
        results = []
        for bit in bits:
            assert self.model.property_kinds[bit] is PropertyKind.WORST
            result = self.worst(bit)
            result.property = self.model.property_names[bit]
            result.stats = stats
            results.append(result)
        return results

    def worst(self, bit: int) -> CheckResult:
        inside = self.open_nodes(bit)
        members = np.flatnonzero(inside)
        if not len(members):
            return CheckResult("", Status.VACUOUS, detail=(
                "never violated, but it never had to wait: nothing ever opened"))
        labels, count = self.components(inside)
        size = np.bincount(labels, minlength=count)
        looping = size > 1
        ticking = np.zeros(count, dtype=bool)
        for place in range(self.n):
            edge, src, dst = self.internal(inside, labels, place)
            looping[labels[src[src == dst]]] = True
            ticking[labels[src[self.graph.ticks[edge] > 0]]] = True
        endless = members[(looping & ticking)[labels[members]]]
        stuck = members[~self.has_out[members % self.states]]
        if len(endless) or len(stuck):
            return self._unbounded(bit, inside, labels, endless, stuck)
        ticks, edges, start = self._longest(inside, labels, count)
        init, stem, tracked, frame = self.framed_path(start)
        at = stem[-1].state if stem else init
        lift = Lift(self, tracked)
        steps: list[Step[Any, Any]] = []
        here = (at, frame)
        total = len(self.graph.dst)
        for product_edge in edges:
            place, quotient_edge = divmod(int(product_edge), total)
            if here[1][tracked] != place:
                raise UnfaithfulLift("the lifted path lost the tracked CPU's place")
            step, here = lift.follow(here, quotient_edge)
            steps.append(step)
        trace = Trace(init, tuple(stem + steps))
        if ticks_open_at_end(self.model, trace, bit) != ticks:
            raise UnfaithfulLift(f"the worst case of {ticks} ticks found on the quotient does "
                                 "not measure the same on its lifted trace")
        return CheckResult("", Status.HOLDS, trace, worst=ticks, detail=(
            f"worst case {ticks} tick{'s' if ticks != 1 else ''}, on "
            f"{self.model.agents[tracked]}"))

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
        (numbered ``place * E + quotient edge``) and the node it starts from.

        As `lockbreak.engines.longest_interval` takes it: longest paths over the component DAG, each
        component left by its first closing edge if that attains its value, else by its
        first following edge that does; the first opening that attains the worst case."""
        total = len(self.graph.dst)
        sentinel = self.n * total
        parts = _Leaving(self, inside, labels)
        value = dag_longest(count, parts.follow_src, parts.follow_dst, parts.follow_ticks,
                            parts.close_comp)
        if (value[labels[inside]] < 0).any():
            raise LockbreakError(
                "an obligation stays open on a cycle without ticks: the model's time "
                "does not advance there")
        exit_edge = np.full(count, sentinel, dtype=np.int64)
        gained = parts.follow_ticks + value[parts.follow_dst]
        attaining = gained == value[parts.follow_src]
        np.minimum.at(exit_edge, parts.follow_src[attaining], parts.follow_id[attaining])
        attaining = value[parts.close_comp] == 0
        exit_edge[parts.close_comp[attaining]] = sentinel
        np.minimum.at(exit_edge, parts.close_comp[attaining], parts.close_id[attaining])
        best, first = -1, -1
        if len(parts.open_id):
            reached = parts.open_ticks + value[parts.open_comp]
            k = int(np.argmax(reached))
            best, first = int(reached[k]), int(parts.open_id[k])
        members = np.flatnonzero(inside)
        roots = members[self.graph.parent[members % self.states] < 0]
        start = -1
        if len(roots) and int(value[labels[roots]].max()) > best:
            start = int(roots[int(np.argmax(value[labels[roots]]))])
            best = int(value[labels[start]])
        edges = [first] if start < 0 else []
        at = self._ends(first)[1] if start < 0 else start
        while True:
            e = int(exit_edge[labels[at]])
            source, target = self._ends(e)
            if source != at:
                edges += self._within(at, source, labels)
            edges.append(e)
            at = target
            if not inside[at]:
                return best, edges, self._ends(first)[0] if start < 0 else start

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
    components, ticks, product edge), those that leave one for a closed node (``close_*``:
    component, product edge) and those that enter an open node from a closed one
    (``open_*``: target component, ticks, product edge)."""

    def __init__(self, product: Product, inside: np.ndarray, labels: np.ndarray) -> None:
        graph = product.graph
        total = len(graph.dst)
        columns: dict[str, list[np.ndarray]] = {name: [] for name in (
            "follow_src", "follow_dst", "follow_ticks", "follow_id", "close_comp",
            "close_id", "open_comp", "open_ticks", "open_id")}
        for place in range(product.n):
            dst = product.targets(place)
            src = graph.src.astype(product.index) + place * product.states
            in_src, in_dst = inside[src], inside[dst]
            comp_src, comp_dst = labels[src], labels[dst]
            leaving = in_src & (comp_src != comp_dst)
            for name, mask in (("follow", leaving & in_dst), ("close", leaving & ~in_dst),
                               ("open", ~in_src & in_dst)):
                edges = np.flatnonzero(mask)
                columns[f"{name}_id"].append(edges + place * total)
                if name == "follow":
                    columns["follow_src"].append(comp_src[edges])
                    columns["follow_dst"].append(comp_dst[edges])
                if name == "close":
                    columns["close_comp"].append(comp_src[edges])
                if name == "open":
                    columns["open_comp"].append(comp_dst[edges])
                if name != "close":
                    columns[f"{name}_ticks"].append(graph.ticks[edges].astype(np.int64))
        joined = {name: np.concatenate(parts) for name, parts in columns.items()}
        self.follow_src, self.follow_dst = joined["follow_src"], joined["follow_dst"]
        self.follow_ticks, self.follow_id = joined["follow_ticks"], joined["follow_id"]
        self.close_comp, self.close_id = joined["close_comp"], joined["close_id"]
        self.open_comp, self.open_ticks = joined["open_comp"], joined["open_ticks"]
        self.open_id = joined["open_id"]
