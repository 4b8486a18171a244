"""Level-synchronous breadth-first search with numpy, for models made of parts.

A *factored* model's state is a shared part and one private part per agent, each a small int
id, and an agent's step depends only on its own part and the shared part (`Factored`). The
search then expands a whole BFS level at once: per agent, a table from (own id, shared id) to
the step's new ids and observed bits, filled lazily by asking the model only for pairs not seen
before, and looked up for every state of the level in one gather. States are packed into one
uint64 key (shared id in the low bits, then the agents' ids); the visited set is a few sorted
runs of keys merged as they grow, so a stored state keeps 20 bytes (key, sorted copy, parent)
instead of a Python int in a set.

Transitions are ordered as the plain engine (`lockbreak.engines.plain_bfs`) meets them (by
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

This module is the engine's entry, `check`; the protocols a model of parts offers are in
`lockbreak.engines.factored`, the search itself in `lockbreak.engines.level_search` (its
representatives under symmetry in `search_symmetry`, its counterexamples in `search_paths`)
and its per-agent tables in `lockbreak.engines.transition_tables`.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from lockbreak.core import (
    Budget,
    CheckResult,
    PropertyKind,
    Reporter,
    SilentReporter,
    Stats,
    Status,
)
from lockbreak.engines import plain_bfs
from lockbreak.engines.checkpoint import Interruption
from lockbreak.engines.factored import Factored, Local
from lockbreak.engines.level_search import Search, TooWide
from lockbreak.engines.snapshots import (
    HandedOver,
    Snapshot,
    VectorisedSnapshot,
    VectorisedStates,
    resumable,
)
from lockbreak.engines.verdict import verdict

# The tag of this engine's snapshots (`lockbreak.engines.checkpoint`).
ENGINE = VectorisedSnapshot.ENGINE


def serves(model: object) -> bool:
    """Whether `check` explores ``model`` here rather than in the plain engine: a factored
    model (`Factored`)."""
    return isinstance(model, Factored) and model.factored


def check(model: Any, *, properties: Sequence[str] | None = None,
          budget: Budget = Budget(),  # noqa: B008 (frozen, so one shared default is safe)
          reporter: Reporter = SilentReporter(),  # noqa: B008 (stateless)
          symmetry: bool = False, por: bool = False,
          interruption: Interruption | None = None,
          kept: list[Search] | None = None) -> list[CheckResult]:
    """`lockbreak.engines.plain_bfs.check`, with the SAFETY and CAN_FINISH properties decided by
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

    ``kept``, when given, receives the finished search of a CAN_FINISH check (every edge
    kept, no reduction), whose graph `lockbreak.engines.fair_graph` then analyses rather than
    searching it again.
    """
    if not serves(model):
        return plain_bfs.check(model, properties=properties, budget=budget, reporter=reporter,
                              symmetry=symmetry, interruption=interruption)
    resume = interruption.resume if interruption is not None else None
    names = [n for n in model.property_names if properties is None or n in properties]
    kinds = {n: model.property_kinds[model.property_names.index(n)] for n in names}
    on_states = [n for n in names if kinds[n] in (PropertyKind.SAFETY, PropertyKind.CAN_FINISH)]
    rest = [n for n in names if n not in on_states]
    graph = PropertyKind.CAN_FINISH in kinds.values()
    reduce = por and not graph and isinstance(model, Local)
    saved = (resumable(resume, VectorisedSnapshot, names=names, reduce=reduce)
             if resume is not None else None)
    results: list[CheckResult] = []
    if saved is not None and saved.finished is not None:
        results = list(saved.finished)
    elif on_states:
        part = _part(interruption, saved and saved.states)
        results = _check_states(model, on_states, budget, reporter, symmetry, reduce, part,
                                kept)
        if interruption is not None and part is not None and part.saved is not None:
            interruption.saved = VectorisedSnapshot(names=list(names), reduce=reduce,
                                                    states=part.saved, finished=None, rest=None)
            why = part.saved.why
            return _ordered(model, results + [CheckResult(n, Status.INCOMPLETE, detail=why)
                                              for n in rest])
    if rest:
        part = _part(interruption, saved and saved.rest)
        results += plain_bfs.check(model, properties=rest, budget=budget, reporter=reporter,
                                  symmetry=symmetry, interruption=part)
        if interruption is not None and part is not None and part.saved is not None:
            # the plain engine's snapshot carries the model's tables for these results too
            finished = [replace(r) for r in results if r.property in on_states]
            interruption.saved = VectorisedSnapshot(names=list(names), reduce=reduce,
                                                    states=None, finished=finished,
                                                    rest=part.saved)
    return _ordered(model, results)


def _part(interruption: Interruption | None, resume: Snapshot | None
          ) -> Interruption | None:
    """The interruption of one part of `check`'s work, resumed from ``resume``."""
    if interruption is None:
        return None
    return Interruption(interruption.requested, resume=resume or None)


def _ordered(model: Any, results: list[CheckResult]) -> list[CheckResult]:
    order = {name: k for k, name in enumerate(model.property_names)}
    return sorted(results, key=lambda r: order[r.property])


def _check_states(model: Any, names: Sequence[str], budget: Budget, reporter: Reporter,
                  symmetry: bool, por: bool, interruption: Interruption | None = None,
                  kept: list[Search] | None = None) -> list[CheckResult]:
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
    if isinstance(resume, HandedOver):
        return _on_plain_engine(model, names, budget, reporter, symmetry, interruption)
    saved = (resumable(resume, VectorisedStates, symmetry=symmetry)
             if resume is not None else None)
    began = time.perf_counter()
    collecting = gc.isenabled()
    gc.disable()
    try:
        if saved is not None and saved.interned is not None:
            model.restore_interned(saved.interned)
        search = Search(model, safety, canon, budget, reporter, por, graph, requested)
        if saved is not None:
            search.restore(saved.first)
        if saved is None or saved.second is None:
            search.run()
        stuck = search.stuck() if graph and not search.cut_short else None
        # A reduced search may reach a violation later than the shortest path to it.
        shortest = search
        left = (None if budget.timeout is None
                else budget.timeout - (time.perf_counter() - began))
        if por and search.hits and not search.stopped and (left is None or left > 0):
            shortest = Search(model, sum(1 << b for b in search.hits), canon,
                               Budget(budget.max_states, left), reporter, requested=requested)
            if saved is not None and saved.second is not None:
                shortest.restore(saved.second)
            shortest.run()
    except TooWide:     # the ids outgrew 64-bit keys part way
        return _on_plain_engine(model, names, budget, reporter, symmetry, interruption)
    finally:
        if collecting:
            gc.enable()
    if interruption is not None and (search.stopped or shortest.stopped):
        interned = getattr(model, "interned", None)
        interruption.saved = VectorisedStates(
            symmetry=symmetry, first=search.snapshot(),
            second=shortest.snapshot() if shortest is not search else None,
            why=search.cut_short or shortest.cut_short,
            interned=interned() if interned is not None else None)
    if kept is not None and graph and not search.cut_short:
        kept.append(search)
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
    plain = _part(interruption, resume.plain if isinstance(resume, HandedOver) else None)
    results = plain_bfs.check(model, properties=names, budget=budget, reporter=reporter,
                             symmetry=symmetry, interruption=plain)
    if interruption is not None and plain is not None and plain.saved is not None:
        interruption.saved = HandedOver(plain=plain.saved, why=next(
            (r.detail for r in results if r.status is Status.INCOMPLETE), "interrupted"))
    return results
