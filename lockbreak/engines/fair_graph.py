"""Fair liveness and worst cases on the vectorised engine's state graph, kept as numpy columns.

`lockbreak.engines.liveness` decides the FAIR and WORST properties on a labelled state graph
that the plain engine builds one Python state at a time. Here the same graph comes from the
level-synchronous search of `lockbreak.engines.vectorised_bfs` (its edge-keeping mode, as for
CAN_FINISH), as columns:

* per state, in the plain engine's BFS order: its packed key, its BFS parent and depth, the
  agents that can move there, and its open obligations (``p * n + agent`` as in
  ``obligations``), looked up per agent in a table from (own part, shared part), filled by
  asking the model once per pair (`Owing`);
* per edge, in CSR order (by source, then action): its target, its action slot (the agent
  that moves, or the environment for a wakeup), its ticks and its action index.

The model's states and transitions are then those `liveness.labelled_graph` would store, in
the same order, so `liveness.Analysis` answers every question on them with the very code the
plain engine uses: strongly connected components with `scipy.sparse.csgraph`, the weak
fairness rule per component, the worst case over the component DAG, and lassos and paths
rebuilt from the columns, whose traces replay on the model. Only the states a trace visits
are ever turned back into model states.

A factored model's CPU step takes one tick and a wakeup none (interleaving timing, as the
kernel model's ``moves`` says). A model under lockstep timing (`factored.Lockstep`, the
timing the WORST properties are always measured in) is searched from its parts as well: its
arrivals are actions of their agents, and each edge's ticks are the search's (1 for the step
that ends a tick), so its graph is again the plain engine's, edge for edge
(`model.lockstep` argues why). `labelled` checks the edges out of the initial states against
``moves`` (agent, next state, ticks) and refuses a model whose parts say otherwise. With
symmetry the FAIR properties of an interleaving model are decided on the quotient instead
(`lockbreak.engines.fair_symmetry`), and so are the WORST ones, under lockstep timing
(`lockbreak.engines.worst_symmetry`); each argues why that is exact. The FAIR properties of a
model under lockstep timing stay on the full graph: no argument is made here that a quotient
keeps a lockstep lasso's fairness. Partial-order reduction is never applied.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol, runtime_checkable

import numpy as np

from lockbreak.core import (
    Budget,
    CheckResult,
    LockbreakError,
    PropertyKind,
    Reporter,
    SilentReporter,
    Stats,
    Status,
)
from lockbreak.engines import liveness, vectorised_bfs
from lockbreak.engines.checkpoint import Interruption
from lockbreak.engines.factored import Factored, Lockstep
from lockbreak.engines.fair_symmetry import SymmetricFair
from lockbreak.engines.level_search import Search, TooWide
from lockbreak.engines.liveness import Analysis, ObligationModel, decide
from lockbreak.engines.quotient import MAX_GROUP, Renamings
from lockbreak.engines.snapshots import FairGraphSnapshot
from lockbreak.engines.transition_tables import Table
from lockbreak.engines.worst_symmetry import SymmetricWorst

# States whose obligations are looked up together, and edges numbered together: bounds the
# working arrays of one chunk (some 130 bytes a state for the obligations).
_CHUNK = 1 << 18


@runtime_checkable
class Owing(Protocol):
    """A factored model that says each agent's open obligations from its parts alone.

    ``owed(agent, own, shared)`` has bit ``p`` set when property ``p``'s obligation is open
    for ``agent`` with its part ``own`` in the shared part ``shared``; so bit
    ``p * len(agents) + agent`` of ``obligations(state)`` for every state with those parts.
    """

    def owed(self, agent: int, own: int, shared: int) -> int: ...


def serves(model: object) -> bool:
    """Whether this module decides ``model``'s FAIR and WORST properties: a model the
    vectorised engine serves (or a lockstep one searched from its parts) that reports
    obligations per agent from its parts. The second outcomes of `*` choices have action
    slots of their own in the columns, so the strong-fairness refinement
    (`liveness.decide`, through `choice_guards.guarded_graph`) reads them as it does on the
    plain engine's graph."""
    return ((vectorised_bfs.serves(model) or _lockstep(model))
            and isinstance(model, ObligationModel) and isinstance(model, Owing))


def _lockstep(model: object) -> bool:
    """Whether ``model`` is of the vectorised engine's shape under lockstep timing: its graph
    is searched from its parts (`factored.Lockstep`), its ticks counted by that search."""
    return (isinstance(model, Factored) and isinstance(model, Lockstep)
            and bool(getattr(model, "searched_from_parts", True)))


ENGINE = FairGraphSnapshot.ENGINE       # the tag of this module's checkpoint snapshots


class _Stopped(Exception):
    """The graph search was asked to stop (``Interruption.requested``, or the timeout of a
    run that can be resumed) before the graph was whole."""

    def __init__(self, why: str, stats: Stats) -> None:
        super().__init__(why)
        self.why, self.stats = why, stats


def check(model: Any, *, properties: Sequence[str] | None = None,
          budget: Budget = Budget(),  # noqa: B008 (frozen, so one shared default is safe)
          reporter: Reporter = SilentReporter(),  # noqa: B008 (stateless)
          symmetry: bool = False, por: bool = False,
          interruption: Interruption | None = None) -> list[CheckResult]:
    """`lockbreak.engines.vectorised_bfs.check`, with the FAIR and WORST properties decided on this
    module's graph when `serves` says so.

    The SAFETY and CAN_FINISH properties go to the vectorised engine as they would alone, and
    stop and resume as there. A stop during the graph search of the others (a requested stop
    or the timeout, with an ``interruption``) leaves a snapshot that keeps the first part's
    results and the model's tables, so a resume decides only the rest, on a graph searched
    again from the start. A snapshot of another engine is resumed by `vectorised_bfs.check`.
    """
    resume = interruption.resume if interruption is not None else None
    if not serves(model) or (resume is not None and not isinstance(resume, FairGraphSnapshot)):
        return vectorised_bfs.check(model, properties=properties, budget=budget,
                                    reporter=reporter, symmetry=symmetry, por=por,
                                    interruption=interruption)
    if resume is not None:
        model.restore_interned(resume.interned)
    names = [n for n in model.property_names if properties is None or n in properties]
    bits = [model.property_names.index(n) for n in names]
    owing = [b for b in bits
             if model.property_kinds[b] in (PropertyKind.FAIR, PropertyKind.WORST)]
    others = [model.property_names[b] for b in bits if b not in owing]
    results: list[CheckResult] = []
    kept: list[Search] = []      # the search of the others, when its graph is this one's
    if others and resume is not None and resume.finished is not None:
        results = list(resume.finished)
    elif others:
        part = None if interruption is None else Interruption(
            interruption.requested, resume=resume and resume.others)
        results = vectorised_bfs.check(model, properties=others, budget=budget,
                                       reporter=reporter, symmetry=symmetry, por=por,
                                       interruption=part, kept=kept)
        if interruption is not None and part is not None and part.saved is not None:
            interruption.saved = FairGraphSnapshot(others=part.saved, finished=None,
                                                   interned=model.interned())
            why = next(r.detail for r in results if r.status is Status.INCOMPLETE)
            return _ordered(model, results + _undecided(model, owing, why))
    if owing:
        try:
            results += check_obligations(model, owing, budget, reporter, symmetry,
                                         interruption.requested if interruption else None,
                                         kept[0] if kept else None)
        except _Stopped as stop:
            assert interruption is not None
            interruption.saved = FairGraphSnapshot(
                others=None, finished=[replace(r) for r in results], interned=model.interned())
            results += _undecided(model, owing, stop.why, stop.stats)
    return _ordered(model, results)


def _undecided(model: Any, bits: Sequence[int], why: str,
               stats: Stats | None = None) -> list[CheckResult]:
    return [CheckResult(model.property_names[b], Status.INCOMPLETE, detail=why,
                        stats=stats or Stats()) for b in bits]


def _ordered(model: Any, results: list[CheckResult]) -> list[CheckResult]:
    order = {name: k for k, name in enumerate(model.property_names)}
    return sorted(results, key=lambda r: order[r.property])


def check_obligations(model: Any, bits: Sequence[int],
                      budget: Budget = Budget(),  # noqa: B008 (frozen)
                      reporter: Reporter = SilentReporter(),  # noqa: B008 (stateless)
                      symmetry: bool = False,
                      requested: Callable[[], str] | None = None,
                      searched: Search | None = None) -> list[CheckResult]:
    """`lockbreak.engines.liveness.check_obligations` on this module's graph: the same
    verdicts, counterexamples and worst cases. With ``symmetry`` (and a `symmetric` model),
    the FAIR properties are decided on the quotient instead (`fair_symmetry`), and the WORST
    ones (`worst_symmetry`): the same verdicts and worst cases, fewer states, traces that
    replay on ``model`` and name one of the interchangeable CPUs.
    States whose parts do not pack into 64-bit keys go to the plain engine's analysis.
    ``searched`` is a finished search of this graph (`labelled`'s), with or without
    symmetry, already run for the CAN_FINISH properties."""
    reduced = [b for b in bits if symmetry and symmetric(model, model.property_kinds[b])]
    results = []
    for chosen, quotient in (([b for b in bits if b not in reduced], False), (reduced, True)):
        if not chosen:
            continue
        try:
            again = (searched if searched is not None
                     and (searched.canon is not None) == quotient else None)
            graph = labelled(model, budget, reporter, symmetry=quotient, requested=requested,
                             searched=again)
        except TooWide:     # the parts no longer pack into 64-bit keys
            results += liveness.check_obligations(model, chosen, budget)
            continue
        stats = Stats(len(graph.states), len(graph.dst), int(graph.depth.max(initial=0)),
                      graph.seconds)
        if graph.cut_short:
            results += [CheckResult(model.property_names[b], Status.INCOMPLETE, stats=stats,
                                    detail=graph.cut_short) for b in chosen]
        elif quotient:
            fair = [b for b in chosen if model.property_kinds[b] is PropertyKind.FAIR]
            worst = [b for b in chosen if b not in fair]
            if fair:
                results += SymmetricFair(model, graph).decide(fair, stats)
            if worst:
                results += SymmetricWorst(model, graph).decide(worst, stats)
        else:
            results += decide(ColumnAnalysis(model, graph), chosen, stats)
    order = {bit: k for k, bit in enumerate(bits)}
    return sorted(results, key=lambda r: order[model.property_names.index(r.property)])


def symmetric(model: Any, kind: PropertyKind = PropertyKind.FAIR) -> bool:
    """Whether the properties of ``kind`` of ``model`` may be decided on its symmetry
    quotient: it has groups of interchangeable agents, a ``canonical_perm``, and few enough
    renamings to tabulate, and no `*` choices (the quotient's analyses know weak fairness
    only, and its lifts no choice slots); and for FAIR ones
    (`lockbreak.engines.fair_symmetry`) it is not under lockstep timing, the WORST ones
    (`lockbreak.engines.worst_symmetry`) being measured in that timing."""
    groups = getattr(model, "canonical_groups", ())
    return (bool(groups) and (kind is PropertyKind.WORST or not _lockstep(model))
            and not getattr(model, "choice_agents", ())
            and callable(getattr(model, "canonical_perm", None))
            and Renamings.size(len(model.agents), groups) <= MAX_GROUP)


class KeyedStates:
    """The states of the graph, in BFS order, turned back into model states on demand, and
    found by their keys (`index_of`, through an order of the keys sorted when first asked)."""

    def __init__(self, search: Any, keys: np.ndarray) -> None:
        self.search, self.keys = search, keys
        self.sorted: np.ndarray | None = None

    def index_of(self, key: int) -> int:
        """The index of the state whose packed key is ``key`` (-1 when none is)."""
        if self.sorted is None:
            self.sorted = np.argsort(self.keys, kind="stable")
        at = int(np.searchsorted(self.keys, key, sorter=self.sorted))
        found = int(self.sorted[at]) if at < len(self.keys) else -1
        return found if found >= 0 and int(self.keys[found]) == key else -1

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, k: int) -> Any:
        return self.search._state(int(self.keys[k]))


@dataclass
class ColumnGraph:
    """`liveness.LabelledGraph`'s fields as columns (see the module docstring), with
    ``owing`` (per state, its open obligations as one unsigned int) in place of
    ``obligations``."""

    states: KeyedStates
    src: np.ndarray
    dst: np.ndarray
    agent: np.ndarray
    ticks: np.ndarray
    index: np.ndarray
    parent: np.ndarray          # per state: the edge BFS first reached it by (-1 at a root)
    depth: np.ndarray
    owing: np.ndarray
    enabled: np.ndarray
    seconds: float
    cut_short: str
    # Under symmetry: each edge's renaming (an index into ``renamings``), which takes the
    # real successor to the stored representative: ``renamings[k][agent]`` is that agent's
    # place in the representative.
    renaming: np.ndarray | None = None
    renamings: Sequence[tuple[int, ...]] = ()
    # Each edge's action slot: agent ``k``'s step for ``k < n``, else the wakeup of
    # ``wake_agents[k - n]``.
    slot: np.ndarray | None = None


class ColumnAnalysis(Analysis[Any, Any]):
    """`liveness.Analysis` with the obligations read from the ``owing`` column."""

    graph: ColumnGraph  # type: ignore[assignment]

    def __init__(self, model: Any, graph: ColumnGraph) -> None:
        # ColumnGraph has every LabelledGraph field `Analysis` reads but `obligations`, which
        # `open_states` replaces.
        super().__init__(model, graph)  # type: ignore[arg-type]

    def owing(self, state: int) -> int:
        return int(self.graph.owing[state])

    def open_states(self, bit: int, agent: int) -> np.ndarray:
        shift = bit * self.n_agents + agent
        return (self.graph.owing >> shift & 1).astype(bool)


def labelled(model: Any, budget: Budget = Budget(),  # noqa: B008 (frozen)
             reporter: Reporter = SilentReporter(),  # noqa: B008 (stateless)
             symmetry: bool = False,
             requested: Callable[[], str] | None = None,
             searched: Search | None = None) -> ColumnGraph:
    """The labelled state graph of ``model`` (a model `serves` accepts), from the vectorised
    engine's search with every edge kept; with ``symmetry``, its quotient: one state per
    orbit, each edge carrying the renaming that takes its real target to the stored one.

    With ``requested`` (a run that can be resumed), a requested stop or the timeout raises
    `_Stopped` instead of returning a partial graph. ``searched``, a finished search of the
    same graph (the CAN_FINISH properties'), is taken as it is instead of a new one."""
    n = len(model.agents)
    if searched is None:
        canon = model.canonical if symmetry else None
        search = Search(model, 0, canon, budget, reporter, graph=True, requested=requested)
        search.run()
    else:
        search = searched
    if search.stopped:
        raise _Stopped(search.cut_short, Stats(search.stored, search.transitions,
                                               search.depth, search.seconds))
    keys = _joined(search.levels, np.uint64)
    sizes = [len(level) for level in search.levels]
    depth = np.repeat(np.arange(len(sizes), dtype=np.int16 if len(sizes) < 1 << 15
                                else np.int32), sizes)
    # The levels (which real paths are rebuilt from) as views of the keys, not a copy; and
    # states are found by their keys, not by the search's sorted runs.
    search.levels = np.split(keys, np.cumsum(sizes)[:-1])
    search.runs, search.run_index = [], []
    if search.cut_short:           # no analysis on a partial graph: its states only
        none = np.zeros(0, dtype=np.int64)
        return ColumnGraph(KeyedStates(search, keys), none, none, none, none, none, none,
                           depth, none, none, search.seconds, search.cut_short)
    counts = _joined(search.edge_counts, np.int32)
    stored = search.stored
    counts = np.concatenate([counts, np.zeros(stored - len(counts), dtype=np.int32)])
    indptr = np.zeros(stored + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    # The search's per-chunk edge lists become columns, each list dropped once joined: only
    # its states stay with it.
    search.edge_counts = []
    dst = _joined(search.dst, np.uint32)
    search.dst = []
    dst = dst.view(np.int32) if stored < 1 << 31 else dst.astype(np.int64)
    src = np.repeat(np.arange(stored, dtype=dst.dtype), counts)
    del counts
    slot = _joined(search.edge_slot, np.uint8)
    search.edge_slot = []
    renaming = _joined(search.edge_perm, _fitting(len(search.perms))) if symmetry else None
    search.edge_perm = []
    agent = np.array([search._slot_agent(k) if k < n or k >= n + len(search.wakes) else -1
                      for k in range(int(slot.max(initial=0)) + 1)], dtype=np.int8)[slot]
    ticks = (_joined(search.edge_ticks, np.int8) if search.ticking is not None
             else (agent >= 0).astype(np.int8))
    search.edge_ticks = []
    _check_moves(model, KeyedStates(search, keys), len(search.levels[0]), search.canon_of,
                 (dst, agent, ticks, indptr))
    # Each edge's place among its source's edges, in the narrowest type that holds it, a
    # chunk at a time (no whole column of edge numbers).
    index = np.empty(len(dst), dtype=_fitting(int(np.diff(indptr).max(initial=0))))
    for lo in range(0, len(dst), _CHUNK):
        hi = min(lo + _CHUNK, len(dst))
        index[lo:hi] = np.arange(lo, hi) - indptr[src[lo:hi]]
    parent_state = _joined(search.parents, dst.dtype)
    enabled = _enabled(indptr, agent, n)
    del indptr
    if not symmetry:        # the quotient rebuilds real paths from them; here ``keys`` do
        search.levels, search.parents = [], []
    return ColumnGraph(KeyedStates(search, keys), src, dst, agent, ticks, index,
                       _parent_edges(parent_state, src, dst), depth,
                       _owing(model, search, keys), enabled, search.seconds, search.cut_short,
                       renaming, list(search.perms), slot)


def _fitting(largest: int) -> type[np.integer[Any]]:
    """The narrowest signed integer type that holds ``largest`` (and -1), for columns of
    small numbers (action indices, renamings), never for state or edge indices, which are
    added and multiplied."""
    for width in (np.int8, np.int16, np.int32):
        if largest < np.iinfo(width).max:
            return width
    return np.int64


def _check_moves(model: Any, states: KeyedStates, roots: int, canon: Callable[[Any], Any],
                 columns: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]) -> None:
    """Refuse a graph whose edges out of the initial states (``columns``: target, agent,
    ticks and the CSR starts) are not the model's ``moves`` there (agent, next state up to
    ``canon``, ticks, in order): they would not be the graph the plain engine analyses, so
    no verdict could be read off them."""
    dst, agent, ticks, indptr = columns
    for k in range(roots):
        edges = range(int(indptr[k]), int(indptr[k + 1]))
        found = [(int(agent[e]), states[int(dst[e])], int(ticks[e])) for e in edges]
        if found != [(a, canon(after), t) for a, after, t in model.moves(states[k])]:
            raise LockbreakError(
                f"{type(model).__name__}'s parts do not give the moves it reports (agent, "
                "next state, ticks), which the vectorised fairness analysis assumes; check "
                "with --plain-bfs")


def _joined(parts: Sequence[np.ndarray], dtype: Any) -> np.ndarray:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)


def _enabled(indptr: np.ndarray, agent: np.ndarray, n: int) -> np.ndarray:
    """Per state: the bitmask of agents with an edge out of it, in the narrowest unsigned
    type of ``n`` bits."""
    width = next(t for t in (np.uint8, np.uint16, np.uint32, np.uint64)
                 if n <= 8 * np.dtype(t).itemsize)
    bits = np.left_shift(width(1), np.maximum(agent, 0).astype(width))
    bits[agent < 0] = 0
    out = np.zeros(len(indptr) - 1, dtype=width)
    nonempty = np.flatnonzero(np.diff(indptr) > 0)
    if len(nonempty):
        out[nonempty] = np.bitwise_or.reduceat(bits, indptr[nonempty])
    return out


def _parent_edges(parent_state: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Per state: the first edge from its BFS parent to it (the one BFS reached it by)."""
    edge_type = np.int32 if len(dst) < 1 << 31 else np.int64
    none = np.iinfo(edge_type).max
    out = np.full(len(parent_state), none, dtype=edge_type)
    # The edges from a state's parent to it, a chunk at a time.
    parts = []
    for lo in range(0, len(dst), _CHUNK):
        parent = parent_state[dst[lo:lo + _CHUNK]]
        parts.append(np.flatnonzero((parent == src[lo:lo + _CHUNK]) & (parent >= 0))
                     .astype(out.dtype) + lo)
    tree = np.concatenate(parts) if parts else np.zeros(0, dtype=out.dtype)
    del parts
    # The least such edge per state, without sorting them.
    np.minimum.at(out, dst[tree], tree)
    out[out == none] = -1
    return out


def _owing(model: Any, search: Any, keys: np.ndarray) -> np.ndarray:
    """Per state: ``obligations`` as one unsigned int of the narrowest type that holds its
    bits, from a table per agent of ``owed``."""
    n = len(model.agents)
    if len(model.property_names) * n > 63:
        raise LockbreakError(
            f"{len(model.property_names)} properties on {n} agents need more than 63 "
            "obligation bits; check fewer properties at once, or with --plain-bfs")
    tables = [Table(functools.partial(_owed, model, a), width=1) for a in range(n)]
    bits = len(model.property_names) * n
    out = np.zeros(len(keys), dtype=next(t for t in (np.uint8, np.uint16, np.uint32, np.uint64)
                                         if bits <= 8 * np.dtype(t).itemsize))
    spread = [sum(1 << (p * n) for p in range(len(model.property_names)) if m >> p & 1)
              for m in range(1 << len(model.property_names))]
    spread_of = np.array(spread, dtype=np.int64)
    for lo in range(0, len(keys), _CHUNK):
        ids = search._unpack(keys[lo:lo + _CHUNK])
        chunk = np.zeros(len(ids), dtype=np.int64)
        for a, table in enumerate(tables):
            owed = table.lookup(ids[:, a + 1] << 32 | ids[:, 0])[:, 0]
            chunk |= spread_of[owed] << a
        out[lo:lo + len(ids)] = chunk
    return out


def _owed(model: Any, agent: int, key: int, _: int) -> tuple[int]:
    """An obligations table's entry: ``key`` is the agent's own id << 32 | the shared id."""
    return (int(model.owed(agent, key >> 32, key & 0xFFFFFFFF)),)
