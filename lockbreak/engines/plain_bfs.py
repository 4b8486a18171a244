"""The plain breadth-first engine: explicit-state checking with shortest counterexamples.

`check` explores every reachable state of a model once, in BFS order, deciding SAFETY
properties transition by transition from the model's ``observe`` bits (the first violation
found is a shortest one) and CAN_FINISH properties on the stored graph once exploration is
complete (`lockbreak.engines.graph.first_stuck`).

Under ``symmetry=True`` the model must offer ``canonical(state) -> state``, a representative of
the state's orbit under the symmetries of the model (say, renaming identical CPUs); only
representatives are stored. CAN_FINISH properties then also need
``canonical_perm(state) -> (canonical(state), perm)``, where the tuple ``perm[a]`` is the index
that agent ``a`` of ``state`` has in the representative: whether an agent can finish is a
question about that agent, so the engine must follow agents across renamings. Counterexamples
are always real executions of the model, rebuilt from the stored representatives.

With a lossy `Storage` (``hashcompact``, ``bitstate``) only fingerprints or Bloom-filter bits
of the visited states are kept, plus the two BFS levels in hand and the parent and action
columns; a counterexample is rebuilt by replaying its actions from an initial state. Such a
search may skip states, with the probability `lockbreak.engines.compaction` computes: a
violation it finds is real (it replays), but no violation found is HOLDS only while that
probability is at most ``Storage.max_omission``. CAN_FINISH, FAIR and WORST properties need the
exact state graph and are INCOMPLETE in a lossy store.

An `Interruption` lets the caller stop the search between chunks and resume it later from the
`PlainSnapshot` it leaves (`lockbreak.engines.snapshots`); the search itself is
`lockbreak.engines.plain_search.PlainSearch`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lockbreak.core import (
    A,
    Budget,
    CheckResult,
    LockbreakError,
    Model,
    PropertyKind,
    Reporter,
    S,
    SilentReporter,
    Stats,
    Status,
)
from lockbreak.engines.checkpoint import Interruption
from lockbreak.engines.compaction import Omission, Storage
from lockbreak.engines.liveness import check_obligations
from lockbreak.engines.plain_search import PlainSearch
from lockbreak.engines.snapshots import PlainSnapshot
from lockbreak.engines.verdict import verdict

# The tag of this engine's snapshots (`lockbreak.engines.snapshots.PlainSnapshot`).
ENGINE = PlainSnapshot.ENGINE


def check(model: Model[S, A], *, properties: Sequence[str] | None = None,
          budget: Budget = Budget(),  # noqa: B008 (frozen, so one shared default is safe)
          reporter: Reporter = SilentReporter(),  # noqa: B008 (stateless)
          symmetry: bool = False,
          storage: Storage = Storage(),  # noqa: B008 (frozen)
          interruption: Interruption | None = None) -> list[CheckResult]:
    """Check ``model``'s properties by exploring its reachable states breadth-first.

    Parameters
    ----------
    model : Model
        Any object of the `lockbreak.core.Model` shape; a ``successors`` method, if present, is
        used instead of ``actions``/``next_state``/``observe``.
    properties : Sequence[str], optional
        Names to check, in any order; default every name in ``model.property_names``.
    budget : Budget
        ``max_states`` caps the distinct stored states, ``timeout`` the seconds. A property
        still undecided when either runs out is INCOMPLETE, never HOLDS.
    reporter : Reporter
        Receives ``progress(states, transitions, depth, seconds)`` about every 0.5 s.
    symmetry : bool
        Store one canonical state per orbit (see the module docstring).
    storage : Storage
        Every state (exact, the default), or fingerprints or Bloom-filter bits of them.
    interruption : Interruption, optional
        Polled between chunks: a requested stop, or the timeout, leaves a snapshot in
        ``interruption.saved`` (the results are then INCOMPLETE); ``interruption.resume``
        continues from such a snapshot.

    Returns
    -------
    list[CheckResult]
        One per checked property, in ``model.property_names`` order. A VIOLATED result carries
        a shortest counterexample that replays on ``model`` from its action indices.

    Raises
    ------
    LockbreakError
        An unknown property name, or ``symmetry`` on a model without ``canonical`` (or, for a
        CAN_FINISH property, ``canonical_perm``).

    Examples
    --------
    >>> class Flip:  # a bit that can be turned on, which breaks "stays_off"
    ...     property_names, property_kinds = ("stays_off",), (PropertyKind.SAFETY,)
    ...     agents, must_finish = ("cpu0",), 0
    ...     def init_states(self): return (0,)
    ...     def actions(self, s): return ("flip",) if s == 0 else ()
    ...     def next_state(self, s, a): return 1
    ...     def observe(self, before, action, after): return after, 1
    ...     def done(self, s): return s
    >>> [result] = check(Flip())
    >>> str(result.status), [step.action for step in result.trace.steps]
    ('violated', ['flip'])
    """
    selected = _select(model, properties)
    on_obligations = [b for b in selected
                      if model.property_kinds[b] in (PropertyKind.FAIR, PropertyKind.WORST)]
    bits = [b for b in selected if b not in on_obligations]
    kinds = [model.property_kinds[b] for b in bits]
    graph = PropertyKind.CAN_FINISH in kinds
    _require_symmetry(model, symmetry, graph)
    safety = sum(1 << b for b, kind in zip(bits, kinds, strict=True) if kind is PropertyKind.SAFETY)
    search = PlainSearch(model, safety, graph and storage.keeps_graph, symmetry, budget,
                         reporter, storage, interruption or Interruption())
    names = [model.property_names[b] for b in selected]
    if interruption is not None and interruption.resume is not None:
        search.restore(interruption.resume, names)
    if bits:
        search.run()
    if (on_obligations and interruption is not None and not search.stopped
            and interruption.requested()):
        # Stopped before the liveness analysis: save the finished search, resume from there.
        search.stopped, search.cut_short = True, f"interrupted ({interruption.requested()})"
    if interruption is not None and search.stopped:
        interruption.saved = search.snapshot(names)
    results = _on_states(model, bits, kinds, search, storage)
    results += _on_obligations(model, on_obligations, search, storage, budget,
                               stopped=search.stopped and interruption is not None)
    return _ordered(model, results)


def _on_states(model: Model[Any, Any], bits: Sequence[int], kinds: Sequence[PropertyKind],
               search: PlainSearch[Any, Any], storage: Storage) -> list[CheckResult]:
    """The SAFETY and CAN_FINISH properties ``bits`` (of ``kinds``), from the search's
    states, qualified by what a lossy store may have missed."""
    stuck = search.stuck() if search.graph and not search.cut_short else None
    omission = search.omission()
    results = []
    for bit, kind in zip(bits, kinds, strict=True):
        hit = kind is PropertyKind.SAFETY and bit in search.hits
        result = verdict(
            model, model.property_names[bit], kind,
            Stats(len(search.store), search.transitions, search.depth, search.seconds),
            witnessed=bool(search.witnessed >> bit & 1),
            violation=search.safety_trace(bit) if hit else None,
            cut_short=search.cut_short,
            no_graph="" if storage.keeps_graph else _needs_edges(storage), stuck=stuck)
        if omission is not None:
            _qualify(result, kind, omission, storage)
        results.append(result)
    return results


def _require_symmetry(model: Model[Any, Any], symmetry: bool, graph: bool) -> None:
    """Refuse ``symmetry`` on a model without ``canonical`` (and, for CAN_FINISH properties,
    ``canonical_perm``)."""
    if not symmetry:
        return
    needed = ["canonical", "canonical_perm"] if graph else ["canonical"]
    missing = [name for name in needed if not callable(getattr(model, name, None))]
    if missing:
        raise LockbreakError(
            f"symmetry needs model.{' and model.'.join(missing)}(), which "
            f"{type(model).__name__} does not have; check without symmetry, or add them"
            + (" (or leave out the CAN_FINISH properties)" if graph else ""))


def _on_obligations(model: Model[Any, Any], bits: Sequence[int], search: PlainSearch[Any, Any],
                    storage: Storage, budget: Budget, stopped: bool) -> list[CheckResult]:
    """The FAIR and WORST properties ``bits``, analysed on the whole graph once the search is
    done: undecided while a stopped search waits to be resumed, or in a lossy store."""
    if not bits:
        return []
    if stopped:
        return [CheckResult(model.property_names[b], Status.INCOMPLETE,
                            detail=search.cut_short) for b in bits]
    if storage.lossy:
        return [CheckResult(model.property_names[b], Status.INCOMPLETE,
                            detail=_needs_graph(storage)) for b in bits]
    return check_obligations(model, bits, budget)


def _ordered(model: Model[Any, Any], results: list[CheckResult]) -> list[CheckResult]:
    order = {name: k for k, name in enumerate(model.property_names)}
    return sorted(results, key=lambda r: order[r.property])


def _needs_edges(storage: Storage) -> str:
    return (f"needs the state graph's edges, which --store {storage.kind} does not keep; check "
            "it with --store hashcompact or exact")


def _needs_graph(storage: Storage) -> str:
    return (f"needs the exact state graph, which --store {storage.kind} does not keep; check "
            "it with --store exact")


def _qualify(result: CheckResult, kind: PropertyKind, omission: Omission,
             storage: Storage) -> None:
    """Qualify ``result`` by the probability that a lossy store skipped a state.

    A violation found is real (a safety counterexample is then shortest only unless a state
    was missed); no violation found is HOLDS (or VACUOUS) only while that probability is at
    most ``storage.max_omission``.
    """
    result.omission = omission.probability
    if result.status is Status.VIOLATED and kind is PropertyKind.SAFETY:
        result.detail = f"shortest unless a state was missed: {omission}"
    elif result.status is Status.VIOLATED and kind is PropertyKind.CAN_FINISH:
        result.detail += f"; unless a state was missed: {omission}"
    elif result.status is Status.HOLDS:
        if omission.probability <= storage.max_omission:
            result.detail = f"holds unless a state was missed: {omission}"
        else:
            result.status = Status.INCOMPLETE
            result.detail = (f"no violation found, but a state may have been missed: {omission}, "
                             f"more than --max-omission {storage.max_omission:g}; give the table "
                             "more bits (--bitstate-bits) or use --store hashcompact")
    elif result.status is Status.VACUOUS:
        result.detail = f"{result.detail}, unless a state was missed: {omission}"


def _select(model: Model[Any, Any], properties: Sequence[str] | None) -> list[int]:
    """Bit positions of the requested properties, in ``model.property_names`` order."""
    names = list(model.property_names)
    if properties is None:
        return list(range(len(names)))
    unknown = [p for p in properties if p not in names]
    if unknown:
        raise LockbreakError(f"unknown propert{'y' if len(unknown) == 1 else 'ies'} "
                             f"{', '.join(map(repr, unknown))}; "
                             f"this model has: {', '.join(names) or '(none)'}")
    return [b for b, name in enumerate(names) if name in properties]


