"""Level-synchronous breadth-first search with numpy, for models made of parts.

A *factored* model's state is a shared part and one private part per agent, each a small int
id, and an agent's step depends only on its own part and the shared part (`Factored`). The
search then expands a whole BFS level at once: per agent, a table from (own id, shared id) to
the step's new ids and observed bits, filled lazily by asking the model only for pairs not seen
before, and looked up for every state of the level in one gather. States are packed into one
uint64 key (shared id in the low bits, then the agents' ids); the visited set is a few sorted
runs of keys merged as they grow, so a stored state keeps 20 bytes (key, sorted copy, parent)
instead of a Python int in a set.

Transitions are ordered as the plain engine (`lockbreak.engines.explicit`) meets them (by
source state, then action) and new states are numbered in first-seen order, so the states
stored, their order, the first violating transition and so the counterexample are the plain
engine's, and a budget of ``max_states`` stops at the same place. SAFETY and CAN_FINISH
properties are decided here (the latter on the stored edges, as the plain engine does);
`check` leaves FAIR and WORST properties, models that are not factored, and states that no
longer pack into 64 bits to the plain engine.

A model under lockstep timing (`Lockstep`) is searched here too, for the graph of its FAIR and
WORST properties (`lockbreak.engines.fair_graph`): its parts carry each agent's tick
bookkeeping, and what involves every agent (arrivals only between ticks, the step that ends a
tick) is one operation per chunk of states.
"""

from __future__ import annotations

import bisect
import functools
import gc
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, Protocol, runtime_checkable

import numpy as np

from lockbreak.core import (
    Budget,
    CheckResult,
    PropertyKind,
    Reporter,
    SilentReporter,
    Stats,
    Status,
    Step,
    Trace,
)
from lockbreak.engines import explicit
from lockbreak.engines.checkpoint import Interruption, require_engine, require_same
from lockbreak.engines.graph import first_stuck
from lockbreak.engines.store import perm_index
from lockbreak.engines.verdict import verdict

# At most this many states of a level are expanded together (bounds the arrays of one chunk).
_CHUNK = 1 << 17
_DISABLED = -1
# A table's dense index may have this many cells (8 bytes each) before it turns to sorted keys.
_DENSE_LIMIT = 1 << 21
# The tag of this engine's snapshots (`lockbreak.engines.checkpoint`).
ENGINE = "frontier"


@runtime_checkable
class Factored(Protocol):
    """A model whose int states split into a shared part and one part per agent.

    ``split(state)`` is ``(shared id, agent 0's id, ...)`` and ``join`` its inverse.
    ``step_entry(agent, own, shared)`` is the agent's step from those parts, as
    ``(new own id, new shared id, violated, witnessed)``, or None when it cannot move;
    ``wake_entry(k, own)`` the same for the environment's action number ``k``, which acts
    on the agent ``wake_agents[k]`` (an agent may be named more than once) and changes only
    that agent's part ``own``. ``finished(agent, own)`` is
    whether the agent has finished in that part (bit ``agent`` of ``done``). Actions are
    ordered as agent 0's step, ..., then the wakeups in ``wake_agents`` order, skipping those
    that cannot move: the order `successors` uses. A model whose agents' steps may have a
    second outcome (a nondeterministic choice) also has ``choice_agents`` and
    ``choice_entry(agent, own, shared)``, shaped like ``step_entry``; those actions come
    last, in ``choice_agents`` order. ``factored`` is False when a model of this shape cannot
    be expanded from the parts alone. Ids are below 2**32.
    """

    @property
    def factored(self) -> bool: ...

    @property
    def wake_agents(self) -> Sequence[int]: ...

    def split(self, state: int) -> tuple[int, ...]: ...

    def join(self, ids: Sequence[int]) -> int: ...

    def step_entry(self, agent: int, own: int, shared: int
                   ) -> tuple[int, int, int, int] | None: ...

    def wake_entry(self, slot: int, own: int) -> tuple[int, int, int] | None: ...

    def finished(self, agent: int, own: int) -> bool: ...


@runtime_checkable
class Local(Protocol):
    """A factored model that says which steps partial-order reduction may take alone.

    ``local_step(agent, own)`` is True only when the agent's step from its part ``own``, in
    every shared part where it is enabled, (1) reads and writes nothing but that part, and no
    other action ever touches that part (so it commutes with every other agent's step and
    wakeup and neither enables nor disables them: the ample-set conditions C0 and C1);
    (2) strictly advances some measure that no step lowers, such as its pc (so no cycle of the
    reduced graph is made of reduced states alone: the cycle proviso C3). Visibility (C2) is
    decided here, per transition: a step that breaks or witnesses a checked property is never
    taken alone. Together these preserve which safety violations and witnesses are reachable,
    but not how deep: `check` finds shortest counterexamples again without reduction.
    """

    def local_step(self, agent: int, own: int) -> bool: ...


@runtime_checkable
class Lockstep(Protocol):
    """A model of `Factored`'s shape under lockstep timing: time passes in ticks, and in each
    tick every agent that has arrived takes one step, in any order.

    ``tick_entry(agent, own)`` is ``(arrived, waiting, moved, fresh)`` for the agent with part
    ``own``: its part once it arrives (-1 when it has arrived already), 1 when it has arrived
    and not yet stepped in this tick (else 0), 1 when it has stepped in this tick (else 0),
    and its part with this tick's step forgotten. The model's own entries keep to the parts:
    an agent's steps and choices (``step_entry``, ``choice_entry``) are disabled until it has
    arrived and once it has stepped in this tick, and mark it as having stepped; its wakeups
    are disabled until it has arrived and keep its tick bookkeeping.

    What is not local the search adds, each as one operation on a whole chunk of states:
    an agent's arrival is an action of its own, enabled only between ticks (no agent has
    stepped in this one), changing only its part; arrivals come first in the order of
    transitions, in agent order. A step (or choice) after which no agent that is yet to step
    in this tick can step ends the tick: every agent's part becomes fresh, and that transition
    is the one that takes a tick (`_Search.ticks`); no other transition takes time. Such a
    search is only ever run whole (by `lockbreak.engines.fair_graph`), never snapshotted.
    """

    def tick_entry(self, agent: int, own: int) -> tuple[int, int, int, int]: ...


def serves(model: object) -> bool:
    """Whether `check` explores ``model`` here rather than in the plain engine: a factored
    model (`Factored`)."""
    return isinstance(model, Factored) and model.factored


def check(model: Any, *, properties: Sequence[str] | None = None,
          budget: Budget = Budget(),  # noqa: B008 (frozen, so one shared default is safe)
          reporter: Reporter = SilentReporter(),  # noqa: B008 (stateless)
          symmetry: bool = False, por: bool = False,
          interruption: Interruption | None = None) -> list[CheckResult]:
    """`lockbreak.engines.explicit.check`, with the SAFETY and CAN_FINISH properties decided by
    this module's search when `serves` says so (FAIR and WORST ones, and models it does not
    serve, by the plain engine).

    Same verdicts, same states counted, same shortest counterexamples; the traces replay on
    ``model``. ``por`` turns on partial-order reduction (see `Local`) when only SAFETY
    properties are asked for (it does not preserve whether an agent can still finish): fewer
    states, the same verdicts, and each counterexample still a shortest one, found again by
    an unreduced search that stops once it has them all.

    ``interruption`` is polled between chunks, as the timeout is: a requested stop, or the
    timeout, leaves a snapshot (tagged `ENGINE`) in ``interruption.saved``, and
    ``interruption.resume`` continues from one to the results of an uninterrupted run. A
    snapshot of the other engine is refused with `LockbreakError`.
    """
    if not serves(model):
        return explicit.check(model, properties=properties, budget=budget, reporter=reporter,
                              symmetry=symmetry, interruption=interruption)
    resume = interruption.resume if interruption is not None else None
    if resume is not None:
        require_engine(resume.get("engine", explicit.ENGINE), ENGINE)
    names = [n for n in model.property_names if properties is None or n in properties]
    kinds = {n: model.property_kinds[model.property_names.index(n)] for n in names}
    on_states = [n for n in names if kinds[n] in (PropertyKind.SAFETY, PropertyKind.CAN_FINISH)]
    rest = [n for n in names if n not in on_states]
    graph = PropertyKind.CAN_FINISH in kinds.values()
    reduce = por and not graph and isinstance(model, Local)
    if resume is not None:
        require_same({"properties": (resume["names"], names),
                      "partial-order reduction": (resume["reduce"], reduce)})
    results: list[CheckResult] = []
    if resume is not None and resume["done"] is not None:
        results = list(resume["done"])
    elif on_states:
        part = _part(interruption, resume and resume["states"])
        results = _check_states(model, on_states, budget, reporter, symmetry, reduce, part)
        if interruption is not None and part is not None and part.saved is not None:
            interruption.saved = _snapshot(names, reduce, states=part.saved)
            why = part.saved["why"]
            return _ordered(model, results + [CheckResult(n, Status.INCOMPLETE, detail=why)
                                              for n in rest])
    if rest:
        part = _part(interruption, resume and resume["rest"])
        results += explicit.check(model, properties=rest, budget=budget, reporter=reporter,
                                  symmetry=symmetry, interruption=part)
        if interruption is not None and part is not None and part.saved is not None:
            # the plain engine's snapshot carries the model's tables for these results too
            done = [replace(r) for r in results if r.property in on_states]
            interruption.saved = _snapshot(names, reduce, done=done, rest=part.saved)
    return _ordered(model, results)


def _part(interruption: Interruption | None, resume: dict[str, Any] | None
          ) -> Interruption | None:
    """The interruption of one part of `check`'s work, resumed from ``resume``."""
    if interruption is None:
        return None
    return Interruption(interruption.requested, resume=resume or None)


def _snapshot(names: Sequence[str], reduce: bool, *, states: dict[str, Any] | None = None,
              done: list[CheckResult] | None = None, rest: dict[str, Any] | None = None
              ) -> dict[str, Any]:
    """`check`'s snapshot: the search of the SAFETY and CAN_FINISH properties stopped
    (``states``), or finished (``done``) and the plain engine's of the others stopped."""
    return {"engine": ENGINE, "names": list(names), "reduce": reduce, "states": states,
            "done": done, "rest": rest}


def _ordered(model: Any, results: list[CheckResult]) -> list[CheckResult]:
    order = {name: k for k, name in enumerate(model.property_names)}
    return sorted(results, key=lambda r: order[r.property])


def _check_states(model: Any, names: Sequence[str], budget: Budget, reporter: Reporter,
                  symmetry: bool, por: bool, interruption: Interruption | None = None
                  ) -> list[CheckResult]:
    """The SAFETY and CAN_FINISH properties ``names``, from one search (two under ``por``).

    With ``interruption``, a stop leaves in ``interruption.saved`` the searches so far (the
    reduced one and, once it is finished, the unreduced one that confirms shortest
    counterexamples), the model's tables and why it stopped; or, when the ids outgrew 64
    bits and the plain engine took over, that engine's snapshot (``plain``).
    """
    bits = [model.property_names.index(n) for n in names]
    kinds = [model.property_kinds[b] for b in bits]
    safety = sum(1 << b for b, kind in zip(bits, kinds, strict=True)
                 if kind is PropertyKind.SAFETY)
    graph = PropertyKind.CAN_FINISH in kinds
    canon = model.canonical if symmetry else None
    resume = interruption.resume if interruption is not None else None
    requested = interruption.requested if interruption is not None else None
    if resume is not None and resume.get("plain") is not None:
        return _on_plain_engine(model, names, budget, reporter, symmetry, interruption)
    began = time.perf_counter()
    collecting = gc.isenabled()
    gc.disable()
    try:
        if resume is not None:
            require_same({"symmetry": (resume["symmetry"], symmetry)})
        if resume is not None and resume["interned"] is not None:
            model.restore_interned(resume["interned"])
        search = _Search(model, safety, canon, budget, reporter, por, graph, requested)
        if resume is not None:
            search.restore(resume["first"])
        if resume is None or resume["second"] is None:
            search.run()
        stuck = search.stuck() if graph and not search.cut_short else None
        # A reduced search may reach a violation later than the shortest path to it.
        shortest = search
        left = (None if budget.timeout is None
                else budget.timeout - (time.perf_counter() - began))
        if por and search.hits and not search.stopped and (left is None or left > 0):
            shortest = _Search(model, sum(1 << b for b in search.hits), canon,
                               Budget(budget.max_states, left), reporter, requested=requested)
            if resume is not None and resume["second"] is not None:
                shortest.restore(resume["second"])
            shortest.run()
    except _TooWide:     # the ids outgrew 64-bit keys part way
        return _on_plain_engine(model, names, budget, reporter, symmetry, interruption)
    finally:
        if collecting:
            gc.enable()
    if interruption is not None and (search.stopped or shortest.stopped):
        interned = getattr(model, "interned", None)
        interruption.saved = {
            "symmetry": symmetry, "plain": None,
            "first": search.snapshot(),
            "second": shortest.snapshot() if shortest is not search else None,
            "why": search.cut_short or shortest.cut_short,
            "interned": interned() if interned is not None else None}
    results = []
    stats = Stats(search.stored, search.transitions, search.depth, search.seconds)
    for bit, name, kind in zip(bits, names, kinds, strict=True):
        violation, violation_stats, detail = None, None, ""
        if bit in shortest.hits and (shortest is not search or not por):
            violation = shortest.trace(bit)
            violation_stats = Stats(shortest.stored, shortest.transitions, shortest.depth,
                                    shortest.seconds)
        elif bit in search.hits:
            why = shortest.cut_short if shortest.stopped else "the budget ran out"
            violation = search.trace(bit)
            detail = (f"from the reduced search: {why} before a shortest counterexample was "
                      "confirmed")
        results.append(verdict(model, name, kind, stats,
                               witnessed=bool(search.witnessed >> bit & 1),
                               violation=violation, violation_stats=violation_stats,
                               violation_detail=detail, cut_short=search.cut_short,
                               stuck=stuck if kind is PropertyKind.CAN_FINISH else None))
    return results


def _on_plain_engine(model: Any, names: Sequence[str], budget: Budget, reporter: Reporter,
                     symmetry: bool, interruption: Interruption | None) -> list[CheckResult]:
    """``names`` decided by the plain engine, for a model whose ids no longer pack into 64-bit
    keys; a stop leaves that engine's snapshot (``plain``), which a resume hands back to it."""
    resume = interruption.resume if interruption is not None else None
    plain = _part(interruption, resume and resume.get("plain"))
    results = explicit.check(model, properties=names, budget=budget, reporter=reporter,
                             symmetry=symmetry, interruption=plain)
    if interruption is not None and plain is not None and plain.saved is not None:
        interruption.saved = {"plain": plain.saved, "why": next(
            (r.detail for r in results if r.status is Status.INCOMPLETE), "interrupted")}
    return results


class _Table:
    """One action's lazily filled transition table.

    Keys are ``high << 32 | low`` (an agent's own id and the shared id, say). Rows are kept in
    the order they were filled; the index from key to row is a dense ``high x low`` array
    while that stays small (ids are dense from 0), which makes a lookup one gather, and a
    sorted key array for `numpy.searchsorted` once it would not.
    """

    def __init__(self, fill: Callable[[int, int], tuple[int, ...] | None], width: int = 4
                 ) -> None:
        self.fill = fill
        self.width = width
        self.values = np.zeros((0, width), dtype=np.int64)
        self.dense: np.ndarray | None = np.full((1, 1), -1, dtype=np.int64)
        self.keys = np.zeros(0, dtype=np.int64)     # sorted, once not dense
        self.rows = np.zeros(0, dtype=np.int64)

    def state(self) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray]:
        """What the table has filled so far (for a snapshot; `load` puts it back)."""
        return self.values, self.dense, self.keys, self.rows

    def load(self, state: tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray]
             ) -> None:
        self.values, self.dense, self.keys, self.rows = state

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """The rows of ``keys``; ``fill(key, position of its first occurrence in keys)``
        makes the missing ones, and None from it is a row of -1 (a disabled action)."""
        where = self._find(keys)
        missing = where < 0
        if missing.any():
            new, at = np.unique(keys[missing], return_index=True)
            first = np.flatnonzero(missing)[at]
            none = (_DISABLED,) * self.width
            rows = np.array([entry if (entry := self.fill(int(k), int(i))) is not None
                             else none for k, i in zip(new, first, strict=True)],
                            dtype=np.int64).reshape(-1, self.width)
            start = len(self.values)
            self.values = np.concatenate([self.values, rows])
            self._index(new, np.arange(start, len(self.values)))
            where = self._find(keys)
        return self.values[where]

    def _find(self, keys: np.ndarray) -> np.ndarray:
        """The row of each key, -1 where there is none yet."""
        if self.dense is not None:
            high, low = keys >> 32, keys & 0xFFFFFFFF
            inside = (high < self.dense.shape[0]) & (low < self.dense.shape[1])
            out = np.full(len(keys), -1, dtype=np.int64)
            out[inside] = self.dense[high[inside], low[inside]]
            return out
        pos = np.searchsorted(self.keys, keys)
        pos[pos == len(self.keys)] = 0
        return np.where(self.keys[pos] == keys, self.rows[pos], -1)

    def _index(self, keys: np.ndarray, rows: np.ndarray) -> None:
        if self.dense is not None:
            high, low = keys >> 32, keys & 0xFFFFFFFF
            shape = [_cover(self.dense.shape[0], int(high.max()) + 1),
                     _cover(self.dense.shape[1], int(low.max()) + 1)]
            if shape[0] * shape[1] <= _DENSE_LIMIT:
                if shape != list(self.dense.shape):
                    grown = np.full(shape, -1, dtype=np.int64)
                    grown[:self.dense.shape[0], :self.dense.shape[1]] = self.dense
                    self.dense = grown
                self.dense[high, low] = rows
                return
            known_high, known_low = np.nonzero(self.dense >= 0)
            self.keys = known_high.astype(np.int64) << 32 | known_low
            self.rows = self.dense[known_high, known_low]
            self.dense = None
        all_keys = np.concatenate([self.keys, keys])
        order = np.argsort(all_keys, kind="stable")
        self.keys = all_keys[order]
        self.rows = np.concatenate([self.rows, rows])[order]


def _cover(size: int, needed: int) -> int:
    """``size`` doubled until it is at least ``needed``."""
    while size < needed:
        size *= 2
    return size


class _Search:
    """One level-synchronous exploration; mirrors `explicit._Search` for SAFETY properties."""

    def __init__(self, model: Any, safety: int, canon: Callable[[int], int] | None,
                 budget: Budget, reporter: Reporter, por: bool = False,
                 graph: bool = False, requested: Callable[[], str] | None = None) -> None:
        self.model = model
        # Polled between chunks when the search may be stopped and resumed (see `snapshot`).
        self.requested = requested
        # CAN_FINISH: every edge as the index of its target (and, under symmetry, the id of
        # its renaming in `perms`); states are indexed in BFS order as in the plain engine.
        self.graph = graph
        self.dst: list[np.ndarray] = []
        self.edge_counts: list[np.ndarray] = []
        self.edge_perm: list[np.ndarray] = []
        self.edge_slot: list[np.ndarray] = []      # each edge's action slot (`_successors`)
        self.perms: list[tuple[int, ...]] = []
        self.perm_ids: dict[tuple[int, ...], int] = {}
        self.run_index: list[np.ndarray] = []      # graph: each run key's global index
        self.observed = safety           # what makes a transition visible to reduction
        self.local = ([_Table(functools.partial(_local, model, a), width=1)
                       for a in range(len(model.agents))] if por else None)
        self.n = len(model.agents)
        self.canon = canon
        self.canon_of: Callable[[int], int] = canon or (lambda state: state)
        self.budget = budget
        self.reporter = reporter
        self.pending = safety
        self.witnessed = 0
        self.transitions = 0
        self.room = budget.max_states if budget.max_states is not None else 1 << 62
        self.hits: dict[int, tuple[int, int]] = {}   # bit: (source index, state reached)
        self.cut_short = ""
        self.stopped = False             # by `requested` or the timeout: resumable
        self.saved: dict[str, Any] | None = None    # the snapshot taken as it stopped
        self.position: int | None = None   # next frontier index, while a level is half done
        self.depth = 0
        self.seconds = 0.0
        self.earlier = 0.0               # seconds spent before a resume
        self.stored = 0
        # Packing: shared id in the low `shared_bits`, then `own_bits` per agent.
        self.shared_bits, self.own_bits = 8, 4
        if self.shared_bits + self.own_bits * self.n > 64:
            raise _TooWide
        self.runs: list[np.ndarray] = []           # sorted keys of every stored state
        self.levels: list[np.ndarray] = []         # keys in BFS order, one array per level
        self.parents: list[np.ndarray] = []        # global index of each state's parent
        self.starts: list[int] = []                # global index of each level's first state
        self.steps = [_Table(functools.partial(_step, model, a)) for a in range(self.n)]
        self.wakes = [(a, _Table(functools.partial(_wake, model, k)))
                      for k, a in enumerate(model.wake_agents)]
        self.choices = [(a, _Table(functools.partial(_choice, model, a)))
                        for a in getattr(model, "choice_agents", ())]
        # A model that says which agents it sorts (`canonical_groups`) is canonicalised here
        # in bulk; any other symmetric model one state at a time.
        self.groups: tuple[tuple[int, ...], ...] | None = (
            tuple(model.canonical_groups) if hasattr(model, "canonical_groups")
            else None) if canon is not None else ()
        self.rows: np.ndarray = np.zeros((0, self.n + 1), dtype=np.int64)
        self.renamings: np.ndarray = np.zeros(0, dtype=np.int64)   # of the last canonical
        self.slots: np.ndarray = np.zeros(0, dtype=np.int64)       # of the last expansion
        self.shared_of = _Table(self._fill_shared, width=2)   # shared id, renaming id
        # A model whose ``canonical`` sorts parts otherwise than by their ids says how.
        self.ranks = (_Table(functools.partial(_rank, model), width=1)
                      if hasattr(model, "canonical_rank") else None)
        self.orders: dict[int | bytes, int] = {}   # sorting orders and ties -> a small id
        # Each column of a description (`_canonical`): a place in a group's sorting order,
        # below the group's size, or whether two sorted parts tie, 0 or 1.
        self.radices = [r for group in self.groups or () for r in
                        [len(group)] * len(group) + [2] * (len(group) - 1)]
        self.finished = [_Table(functools.partial(_finished, model, a), width=1)
                         for a in range(self.n)] if graph else []
        # Lockstep timing: per agent, its part's arrival and tick bookkeeping (`Lockstep`).
        self.ticking = ([_Table(functools.partial(_tick, model, a)) for a in range(self.n)]
                        if isinstance(model, Lockstep) else None)
        self.ticks: np.ndarray = np.zeros(0, dtype=bool)   # of the last expansion
        self.edge_ticks: list[np.ndarray] = []     # lockstep: whether each edge ends a tick

    # ------------------------------------------------------------ packing

    def _fits(self, shared: int, own: int) -> None:
        """Widen the packing (repacking everything stored) so that these ids fit."""
        sb, ob = self.shared_bits, self.own_bits
        while shared >> sb:
            sb += 4
        while own >> ob:
            ob += 2
        if (sb, ob) == (self.shared_bits, self.own_bits):
            return
        if sb + ob * self.n > 64:
            raise _TooWide
        old = self.shared_bits, self.own_bits
        self.shared_bits, self.own_bits = sb, ob
        for k, run in enumerate(self.runs):
            packed = self._pack(self._unpack(run, *old))
            order = np.argsort(packed, kind="stable")
            self.runs[k] = packed[order]
            if self.graph:
                self.run_index[k] = self.run_index[k][order]
        self.levels = [self._pack(self._unpack(r, *old)) for r in self.levels]

    def _pack(self, ids: np.ndarray) -> np.ndarray:
        key = ids[:, 0].astype(np.uint64)
        for a in range(self.n):
            key |= ids[:, a + 1].astype(np.uint64) << np.uint64(
                self.shared_bits + a * self.own_bits)
        return key

    def _unpack(self, keys: np.ndarray, shared_bits: int | None = None,
                own_bits: int | None = None) -> np.ndarray:
        sb = self.shared_bits if shared_bits is None else shared_bits
        ob = self.own_bits if own_bits is None else own_bits
        ids = np.empty((len(keys), self.n + 1), dtype=np.int64)
        ids[:, 0] = (keys & np.uint64((1 << sb) - 1)).astype(np.int64)
        for a in range(self.n):
            ids[:, a + 1] = ((keys >> np.uint64(sb + a * ob))
                             & np.uint64((1 << ob) - 1)).astype(np.int64)
        return ids

    def _key(self, state: int) -> int:
        ids = self.model.split(state)
        self._fits(ids[0], max(ids[1:]))
        return int(self._pack(np.array([ids], dtype=np.int64))[0])

    def _state(self, key: int) -> int:
        return int(self.model.join(self._unpack(np.array([key], dtype=np.uint64))[0]))

    # ------------------------------------------------------------ the visited set

    def _unseen(self, keys: np.ndarray) -> np.ndarray:
        """A mask of ``keys`` not stored yet."""
        new = np.ones(len(keys), dtype=bool)
        for run in self.runs:
            pos = np.searchsorted(run, keys)
            pos[pos == len(run)] = 0
            new &= run[pos] != keys
        return new

    def _remember(self, keys: np.ndarray) -> None:
        """Add ``keys`` (new, distinct, numbered from `stored` on) as a run, merging runs so
        that there stay few."""
        if not len(keys):
            return
        if not self.graph:
            self.runs.append(np.sort(keys))
            while len(self.runs) > 1 and len(self.runs[-2]) <= 2 * len(self.runs[-1]):
                last = self.runs.pop()
                self.runs[-1] = np.sort(np.concatenate([self.runs[-1], last]), kind="stable")
            return
        order = np.argsort(keys, kind="stable")
        self.runs.append(keys[order])
        index_type = np.int32 if self.stored + len(keys) < 1 << 31 else np.int64
        self.run_index.append(np.arange(self.stored, self.stored + len(keys),
                                        dtype=index_type)[order])
        while len(self.runs) > 1 and len(self.runs[-2]) <= 2 * len(self.runs[-1]):
            keys = np.concatenate([self.runs[-2], self.runs.pop()])
            index = np.concatenate([self.run_index[-2], self.run_index.pop()])
            order = np.argsort(keys, kind="stable")
            self.runs[-1], self.run_index[-1] = keys[order], index[order]

    def _index_of(self, keys: np.ndarray) -> np.ndarray:
        """The global index of each of ``keys`` (graph mode), -1 for one not stored."""
        out = np.full(len(keys), -1, dtype=np.int64)
        for run, index in zip(self.runs, self.run_index, strict=True):
            pos = np.searchsorted(run, keys)
            pos[pos == len(run)] = 0
            found = run[pos] == keys
            out[found] = index[pos[found]]
        return out

    # ------------------------------------------------------------ the search

    def run(self) -> None:
        began = time.perf_counter()
        deadline = (began + self.budget.timeout if self.budget.timeout is not None
                    else float("inf"))
        going = self._roots() if not self.levels else True
        while going and (self.position is not None or len(self.levels[-1])):
            if self.position is None:         # a new level
                self.starts.append(self.stored)
                self.levels.append(np.zeros(0, dtype=np.uint64))
                self.parents.append(np.zeros(0, dtype=np.int32))
                self.position = 0
            frontier, base = self.levels[-2], self.starts[-2]
            while self.position < len(frontier):
                lo = self.position
                keys = self.levels[-2][lo:lo + _CHUNK]   # re-read: packing may have widened
                going, new, parent = self._expand(keys, base + lo)
                self.position = min(lo + _CHUNK, len(frontier))
                self.parents[-1] = np.concatenate([self.parents[-1], parent])
                self.levels[-1] = np.concatenate([self.levels[-1], new])
                now = time.perf_counter()
                self.reporter.progress(self.stored, self.transitions, len(self.levels) - 1,
                                       self.earlier + now - began)
                if going and now > deadline:
                    going = False
                    self.cut_short = self.budget.out_of_time()
                    self.stopped = self.requested is not None
                elif going and self.requested is not None and (why := self.requested()):
                    going = False
                    self.cut_short = f"interrupted ({why})"
                    self.stopped = True
                if not going:
                    break
            if going:
                self.position = None
        self.seconds = self.earlier + time.perf_counter() - began
        if self.stopped:
            self.saved = self.snapshot()
        while self.levels and not len(self.levels[-1]) and len(self.levels) > 1:
            self.levels.pop()
            self.parents.pop()
            self.starts.pop()
        self.depth = len(self.levels) - 1

    # What `snapshot` keeps besides the tables (everything the search changes as it goes).
    _KEPT = ("pending", "witnessed", "transitions", "hits", "stored", "shared_bits",
             "own_bits", "runs", "levels", "parents", "starts", "position", "seconds", "dst",
             "edge_counts", "edge_perm", "edge_slot", "perms", "perm_ids", "run_index", "orders")

    def snapshot(self) -> dict[str, Any]:
        """Everything needed to go on from where the search stands (see `restore`): taken
        by `run` as it stops (before it trims a level left empty), or of a finished search."""
        if self.saved is not None:
            return self.saved
        kept = {name: getattr(self, name) for name in self._KEPT}
        for name, value in kept.items():
            if isinstance(value, (list, dict)):
                kept[name] = type(value)(value)
        tables = [*self.steps, *(table for _, table in self.wakes), self.shared_of,
                  *self.finished, *(self.local or ()), *(table for _, table in self.choices)]
        return {**kept, "tables": [table.state() for table in tables], "stopped": self.stopped,
                "cut_short": self.cut_short}

    def restore(self, saved: dict[str, Any]) -> None:
        """Go on from a `snapshot` of a search of the same model (its tables restored) and
        options."""
        for name in self._KEPT:
            setattr(self, name, saved[name])
        self.earlier = saved["seconds"]
        tables = [*self.steps, *(table for _, table in self.wakes), self.shared_of,
                  *self.finished, *(self.local or ()), *(table for _, table in self.choices)]
        for table, state in zip(tables, saved["tables"], strict=True):
            table.load(state)
        if self.budget.max_states is not None:
            self.room = max(self.budget.max_states - self.stored, 0)
        if not saved["stopped"]:     # a finished search: as `run` leaves one
            self.cut_short = saved["cut_short"]
            while self.levels and not len(self.levels[-1]) and len(self.levels) > 1:
                self.levels.pop()
                self.parents.pop()
                self.starts.pop()
            self.depth = len(self.levels) - 1

    def _roots(self) -> bool:
        model = self.model
        keys: list[int] = []
        going = True
        for state in model.init_states():
            key = self._key(self.canon(state) if self.canon is not None else state)
            if key not in keys:
                if not self.room:
                    self.cut_short = self.budget.out_of_states()
                    going = False
                    break
                self.room -= 1
                keys.append(key)
            violated, witnessed = model.observe(None, None, state)
            self.witnessed |= witnessed
            if violated & self.pending:
                for bit in _bits(violated & self.pending):
                    self.hits[bit] = (-1, state)
                self.pending &= ~violated
                if not self.pending and not self.graph:
                    going = False
                    break
        array = np.array(keys, dtype=np.uint64)
        self.levels.append(array)
        self.parents.append(np.full(len(keys), -1, dtype=np.int64))
        self.starts.append(0)
        self._remember(array)             # numbered from `stored`, 0 here
        self.stored = len(keys)
        return going

    def _successors(self, keys: np.ndarray) -> tuple[np.ndarray, ...]:
        """Every transition out of ``keys``, in the plain engine's order: ``(source position,
        successor's ids, violated, witnessed)``.

        Slots are numbered: the agents' steps, the wakeups, the choices, and under lockstep
        timing the arrivals (`Lockstep`), which come first in the order of transitions."""
        ids = self._unpack(keys)
        per_slot = []
        for a, table in enumerate(self.steps):
            per_slot.append((a, table.lookup(ids[:, a + 1] << 32 | ids[:, 0])))
        for k, (a, table) in enumerate(self.wakes):
            per_slot.append((self.n + k, table.lookup(ids[:, a + 1] << 32)))
        first_choice = self.n + len(self.wakes)
        for k, (a, table) in enumerate(self.choices):
            per_slot.append((first_choice + k, table.lookup(ids[:, a + 1] << 32 | ids[:, 0])))
        first_arrival = first_choice + len(self.choices)
        ticking = self._ticking(ids) if self.ticking is not None else None
        if ticking is not None:
            between = ~np.logical_or.reduce([t[:, 2] == 1 for t in ticking])
            for a, rows in enumerate(ticking):
                arrival = np.full((len(ids), 4), _DISABLED, dtype=np.int64)
                arrival[between, 0] = rows[between, 0]
                arrival[between, 1:] = 0
                per_slot.append((first_arrival + a, arrival))
        self._fits(max(int(v[:, 1].max(initial=0)) for _, v in per_slot),
                   max(int(v[:, 0].max(initial=0)) for _, v in per_slot))
        alone = self._ample(ids, per_slot) if self.local is not None else None
        # One cell per (source, column): flattened, they are in the plain engine's order.
        columns = ([*range(first_arrival, len(per_slot)), *range(first_arrival)]
                   if ticking is not None else list(range(len(per_slot))))
        width = len(columns)
        after = np.repeat(ids[:, None, :], width, axis=1)
        on = np.empty((len(ids), width), dtype=bool)
        violated = np.empty((len(ids), width), dtype=np.int64)
        witnessed = np.empty((len(ids), width), dtype=np.int64)
        for column, slot in enumerate(columns):
            values = per_slot[slot][1]
            on[:, column] = values[:, 0] != _DISABLED
            if alone is not None:
                on[:, column] &= (alone < 0) | (alone == slot)
            a = self._slot_agent(slot)
            after[:, column, a + 1] = values[:, 0]
            if slot < self.n or first_choice <= slot < first_arrival:
                after[:, column, 0] = values[:, 1]
            violated[:, column] = values[:, 2]
            witnessed[:, column] = values[:, 3]
        taken = np.flatnonzero(on)
        if ticking is not None:
            movers = [(column, self._slot_agent(slot)) for column, slot in enumerate(columns)
                      if slot < self.n or first_choice <= slot < first_arrival]
            ends = self._tick_ends(after, on, movers, ticking)
            self.ticks = ends.reshape(-1)[taken]
        self.slots = np.array(columns, dtype=np.int64)[taken % width]
        return (taken // width, after.reshape(-1, self.n + 1)[taken],
                violated.reshape(-1)[taken], witnessed.reshape(-1)[taken])

    def _slot_agent(self, slot: int) -> int:
        """The agent whose part action slot ``slot`` changes (`_successors` numbers them)."""
        if slot < self.n:
            return slot
        slot -= self.n
        if slot < len(self.wakes):
            return self.wakes[slot][0]
        slot -= len(self.wakes)
        if slot < len(self.choices):
            return self.choices[slot][0]
        return slot - len(self.choices)

    def _ticking(self, ids: np.ndarray) -> list[np.ndarray]:
        """Per agent, `Lockstep.tick_entry` of its part in each state of ``ids``."""
        assert self.ticking is not None
        return [table.lookup(ids[:, a + 1] << 32) for a, table in enumerate(self.ticking)]

    def _tick_ends(self, after: np.ndarray, on: np.ndarray, movers: list[tuple[int, int]],
                   ticking: list[np.ndarray]) -> np.ndarray:
        """Which cells of ``after`` (source, column) end a tick, with every agent's part in
        those made fresh in place: a step (``movers``: its column and agent) after which no
        agent that is yet to step in this tick can step (`Lockstep`). ``ticking`` is each
        agent's `Lockstep.tick_entry` in the sources: the other agents' parts are as there."""
        assert self.ticking is not None
        ends = np.zeros(on.shape, dtype=bool)
        for column, mover in movers:
            cells = np.flatnonzero(on[:, column])
            if not len(cells):
                continue
            rows = after[cells, column]
            undecided = np.arange(len(cells))       # no agent found yet that keeps it going
            for b in range(self.n):
                if b == mover or not len(undecided):
                    continue
                waiting = undecided[ticking[b][cells[undecided], 1] == 1]
                if len(waiting):
                    can = self.steps[b].lookup(rows[waiting, b + 1] << 32
                                               | rows[waiting, 0])[:, 0] != _DISABLED
                    undecided = np.setdiff1d(undecided, waiting[can], assume_unique=True)
            if len(undecided):
                over = cells[undecided]
                fresh = rows[undecided]
                for b in range(self.n):
                    fresh[:, b + 1] = (ticking[b][over, 3] if b != mover else
                                       self.ticking[b].lookup(fresh[:, b + 1] << 32)[:, 3])
                self._fits(0, int(fresh[:, 1:].max()))
                after[over, column] = fresh
                ends[over, column] = True
        return ends

    def _ample(self, ids: np.ndarray, per_slot: list[tuple[int, np.ndarray]]) -> np.ndarray:
        """Per state, the one agent whose step is taken alone (partial-order reduction), or
        -1 to take every action: the first agent whose step is enabled, local and forward
        (`Local`) and invisible (it neither breaks nor witnesses a checked property)."""
        assert self.local is not None
        alone = np.full(len(ids), -1, dtype=np.int64)
        for a, table in enumerate(self.local):
            values = per_slot[a][1]
            ok = (values[:, 0] != _DISABLED) & ((values[:, 2] | values[:, 3]) & self.observed == 0)
            ok &= alone < 0
            if ok.any():
                ok[ok] = table.lookup(ids[ok, a + 1] << 32)[:, 0] == 1
                alone[ok] = a
        return alone

    def _canonical(self, rows: np.ndarray) -> np.ndarray:
        """The keys of the representatives of the states ``rows``.

        A symmetric model's ``canonical`` sorts the parts of each group in
        ``canonical_groups`` ascending (by ``canonical_rank(part)`` when the model has one,
        a one-to-one key) and picks the shared part from the shared part, the
        sorting order and which sorted parts tie (`Symmetric`); so the parts are sorted here,
        and the shared part is looked up in a table from those three, filled by asking
        ``canonical`` about one state per new entry.
        """
        if not self.groups:         # None: sorted one state at a time; (): nothing to sort
            return self._canonical_each(rows)
        out = rows.copy()
        described = []          # per row: each group's sorting order, then which parts tie
        for group in self.groups:
            columns = [a + 1 for a in group]
            parts = rows[:, columns]
            ranks = parts if self.ranks is None else self.ranks.lookup(
                (parts << 32).reshape(-1))[:, 0].reshape(parts.shape)
            order = np.argsort(ranks, axis=1, kind="stable")
            ordered = np.take_along_axis(parts, order, axis=1)
            out[:, columns] = ordered
            described += [order, (ordered[:, :-1] == ordered[:, 1:]).astype(np.int64)]
        self.rows = rows
        codes, inverse = _described(np.concatenate(described, axis=1), self.radices)
        compact = np.array([self.orders.setdefault(code, len(self.orders))
                            for code in codes], dtype=np.int64)[inverse.reshape(-1)]
        found = self.shared_of.lookup(rows[:, 0] << 32 | compact)
        out[:, 0] = found[:, 0]
        self.renamings = found[:, 1]
        self._fits(int(out[:, 0].max(initial=0)), 0)
        return self._pack(out)

    def _fill_shared(self, key: int, at: int) -> tuple[int, int]:
        """The representative's shared id and renaming, for the state ``rows[at]``."""
        state = self.model.join(self.rows[at])
        if not self.graph:
            return self.model.split(self.canon_of(state))[0], 0
        value, perm = self.model.canonical_perm(state)
        return self.model.split(value)[0], self._perm_id(perm)

    def _perm_id(self, perm: tuple[int, ...]) -> int:
        return perm_index(self.perms, self.perm_ids, perm)

    def _canonical_each(self, rows: np.ndarray) -> np.ndarray:
        """`_canonical` by one ``canonical`` call per distinct state (any symmetry)."""
        canon = self.canon_of
        raw, inverse = np.unique(self._pack(rows), return_inverse=True)
        states = [canon(self._state(int(k))) for k in raw]
        if self.graph:
            perms = [self._perm_id(self.model.canonical_perm(self._state(int(k)))[1])
                     for k in raw]
            self.renamings = np.array(perms, dtype=np.int64)[inverse.reshape(-1)]
        for state in states:
            ids = self.model.split(state)
            self._fits(ids[0], max(ids[1:]))
        out = self._pack(np.array([self.model.split(s) for s in states], dtype=np.int64)
                         .reshape(-1, self.n + 1))
        return out[inverse.reshape(-1)]

    def _expand(self, keys: np.ndarray, base: int) -> tuple[bool, np.ndarray, np.ndarray]:
        """Expand one chunk of a level whose first state has global index ``base``.

        Returns whether to go on, and the new states' keys and parents.
        """
        source, rows, violated, witnessed = self._successors(keys)
        canon = self._canonical(rows) if self.canon is not None else self._pack(rows)
        # New states in first-seen order.
        distinct, first = np.unique(canon, return_index=True)
        unseen = self._unseen(distinct)
        first = np.sort(first[unseen])
        stop = len(canon)                     # transitions [0, stop) are taken
        going = True
        if len(first) > self.room:            # the plain engine stops at the state past room
            stop = int(first[self.room]) + 1
            first = first[:self.room]
            going = False
        breaking = np.flatnonzero(violated[:stop] & self.pending)
        for t in breaking:
            bits = int(violated[t]) & self.pending
            if not bits:
                continue
            for bit in _bits(bits):
                self.hits[bit] = (base + int(source[t]), self.model.join(rows[t]))
            self.pending &= ~bits
            if not self.pending and not self.graph:
                stop, going = int(t), False    # the breaking transition stores nothing
                self.transitions += 1
                break
        if not going and not self.cut_short and (self.pending or self.graph):
            self.cut_short = self.budget.out_of_states()
        self.transitions += stop
        self.witnessed |= int(np.bitwise_or.reduce(witnessed[:stop], initial=0))
        first = first[first < stop]
        new = canon[first]
        self.room -= len(new)
        self._remember(new)
        self.stored += len(new)
        if self.graph:
            self.dst.append(self._index_of(canon[:stop]).astype(np.uint32))
            self.edge_counts.append(np.bincount(source[:stop], minlength=len(keys))
                                    .astype(np.uint8))     # fewer than 256 action slots
            self.edge_slot.append(self.slots[:stop].astype(np.uint8))
            if self.ticking is not None:
                self.edge_ticks.append(self.ticks[:stop])
            if self.canon is not None:
                self.edge_perm.append(self.renamings[:stop].astype(np.uint32))
        parents = base + source[first]
        return going, new, parents.astype(np.int32 if self.stored < 1 << 31 else np.int64)

    # ------------------------------------------------------------ counterexamples

    def _chain(self, index: int) -> list[int]:
        """Keys from a root to the state of global ``index``."""
        keys = []
        while index >= 0:
            level = bisect.bisect_right(self.starts, index) - 1
            at = index - self.starts[level]
            keys.append(int(self.levels[level][at]))
            index = int(self.parents[level][at])
        return keys[::-1]

    def trace(self, bit: int) -> Trace[Any, Any]:
        """A shortest real execution whose last transition breaks property ``bit``."""
        source, reached = self.hits[bit]
        model = self.model
        if source < 0:
            return Trace(init=reached)
        init, steps = self._real_path(source)
        current = steps[-1].state if steps else init
        target = reached if self.canon is None else None
        index, after = next((i, s) for i, s, violated, _ in model.successors(current)
                            if violated >> bit & 1 and target in (None, s))
        steps.append(Step(index, model.actions(current)[index], after))
        return Trace(init, tuple(steps))


    def _real_path(self, index: int) -> tuple[int, list[Step[Any, Any]]]:
        """A real execution to the stored state ``index`` (to one it represents, under
        symmetry): each step the lowest action that reaches the next stored state."""
        model = self.model
        chain = [self._state(k) for k in self._chain(index)]
        canon = self.canon_of
        init = next(s for s in model.init_states() if canon(s) == chain[0])
        current, steps = init, []
        for stored in chain[1:]:
            action, after = next((i, s) for i, s, _, _ in model.successors(current)
                                 if canon(s) == stored)
            steps.append(Step(action, model.actions(current)[action], after))
            current = after
        return init, steps

    def stuck(self) -> tuple[Trace[Any, Any], int] | None:
        """A shortest path to a state some must-finish agent cannot finish from, and the
        agent (`lockbreak.engines.graph.first_stuck` on the stored edges)."""
        model = self.model
        dst = np.concatenate(self.dst) if self.dst else np.zeros(0, dtype=np.uint32)
        counts = np.concatenate(self.edge_counts) if self.edge_counts else np.zeros(0, int)
        src = np.repeat(np.arange(len(counts), dtype=np.uint32), counts)
        done = np.concatenate([self._done(level) for level in self.levels])
        renamed = self.canon is not None
        found = first_stuck(self.stored, src, dst, done, model.must_finish, self.n,
                            np.concatenate(self.edge_perm) if renamed else None, self.perms)
        if found is None:
            return None
        index, agent = found
        init, steps = self._real_path(index)
        if renamed:
            # ``agent`` is a place in the representative; name the real agent in that place.
            _, perm = model.canonical_perm(steps[-1].state if steps else init)
            agent = list(perm).index(agent)
        return Trace(init, tuple(steps)), agent

    def _done(self, keys: np.ndarray) -> np.ndarray:
        """The mask of finished agents of each state ``keys``."""
        ids = self._unpack(keys)
        done = np.zeros(len(keys), dtype=np.int64)
        for a, table in enumerate(self.finished):
            done |= table.lookup(ids[:, a + 1] << 32)[:, 0] << a
        return done


def _described(rows: np.ndarray, radices: Sequence[int]) -> tuple[list[int | bytes], np.ndarray]:
    """The distinct ``rows`` of small numbers (column ``c`` below ``radices[c]``), each as
    one int (its digits in those radices) while they fit in 63 bits, else as its bytes; and
    the index of each row's among them. An int per row makes this one sort of a column, where
    numpy's ``unique`` over rows sorts records, most of the search's time under symmetry."""
    if math.prod(radices) < 1 << 63:
        code = np.zeros(len(rows), dtype=np.int64)
        for column, radix in enumerate(radices):
            code = code * radix + rows[:, column]
        distinct, inverse = np.unique(code, return_inverse=True)
        return distinct.tolist(), inverse
    distinct, inverse = np.unique(rows, axis=0, return_inverse=True)
    return [row.tobytes() for row in distinct], inverse


class _TooWide(Exception):
    """The ids no longer pack into 64 bits; the plain engine takes over."""


def _step(model: Any, agent: int, key: int, _: int) -> tuple[int, int, int, int] | None:
    """A step table's entry: ``key`` is the agent's own id << 32 | the shared id."""
    entry: tuple[int, int, int, int] | None = model.step_entry(agent, key >> 32,
                                                               key & 0xFFFFFFFF)
    return entry


def _choice(model: Any, agent: int, key: int, _: int) -> tuple[int, int, int, int] | None:
    """A choice table's entry: the second outcome of the agent's step, keyed as `_step`."""
    entry: tuple[int, int, int, int] | None = model.choice_entry(agent, key >> 32,
                                                                 key & 0xFFFFFFFF)
    return entry


def _tick(model: Any, agent: int, key: int, _: int) -> tuple[int, int, int, int]:
    """A tick table's entry: `Lockstep.tick_entry` of the agent's part ``key >> 32``."""
    entry: tuple[int, int, int, int] = model.tick_entry(agent, key >> 32)
    return entry


def _rank(model: Any, key: int, _: int) -> tuple[int]:
    """A rank table's entry: ``canonical_rank`` of the part ``key >> 32``."""
    return (int(model.canonical_rank(key >> 32)),)


def _finished(model: Any, agent: int, key: int, _: int) -> tuple[int]:
    """A finished table's entry: 1 when the agent's part ``key >> 32`` has finished."""
    return (int(model.finished(agent, key >> 32)),)


def _local(model: Any, agent: int, key: int, _: int) -> tuple[int]:
    """A local-step table's entry: 1 when the agent's step from its part is `Local`."""
    return (int(model.local_step(agent, key >> 32)),)


def _wake(model: Any, slot: int, key: int, _: int) -> tuple[int, int, int, int] | None:
    """A wakeup table's entry: ``key`` is the own id << 32 of the agent the environment's
    action number ``slot`` acts on."""
    entry = model.wake_entry(slot, key >> 32)
    return None if entry is None else (entry[0], 0, entry[1], entry[2])


def _bits(mask: int) -> list[int]:
    return [b for b in range(mask.bit_length()) if mask >> b & 1]
