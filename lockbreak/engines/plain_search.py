"""The plain breadth-first search itself: one exploration of a model's reachable states.

`PlainSearch` expands the stored states level by level, in chunks timed so that the clock
and a requested stop are read often enough and cheaply (`run`); keeps the first transition
that breaks each safety property; stores states exactly or lossily (`StateStore`,
`CompactStore`), with or without the graph's edges; leaves and takes back a `PlainSnapshot`;
and rebuilds real executions from what it stored, up to symmetry (`safety_trace`,
`stuck`). `lockbreak.engines.plain_bfs.check` turns what it found into verdicts.
"""

from __future__ import annotations

import functools
import gc
import sys
import time
from collections.abc import Callable, Iterable
from typing import Generic

import numpy as np

from lockbreak.core import (
    A,
    Budget,
    LockbreakError,
    Model,
    Reporter,
    S,
    Step,
    Trace,
    successors,
)
from lockbreak.engines.checkpoint import Interruption
from lockbreak.engines.compaction import IndexedFingerprints, Omission, Storage, fingerprints
from lockbreak.engines.graph import first_stuck
from lockbreak.engines.snapshots import PlainSnapshot, resumable
from lockbreak.engines.store import CompactStore, StateStore

Successors = Callable[[S], Iterable[tuple[int, S, int, int]]]

_PROGRESS_SECONDS = 0.5
# The clock is read between chunks of states; chunks grow or shrink so that a chunk takes about
# this long, which keeps timeouts prompt for slow models and the clock off the hot path for fast.
_CHUNK_SECONDS = 0.05
_FIRST_CHUNK = 256
_MAX_CHUNK = 1 << 16


class PlainSearch(Generic[S, A]):
    """One breadth-first exploration and what it found.

    ``hits[bit]`` is ``(source index, action index, successor)`` of the first transition that
    broke safety property ``bit`` (source -1 and the initial state itself for an initial
    state). ``cut_short`` says why exploration stopped before the end, if a budget did it;
    ``stopped`` is set when the stop can be resumed (a timeout or a requested stop).
    ``position`` is ``(lo, hi, level)``: the next index to expand, the end of the level being
    expanded, and its depth.
    """

    def __init__(self, model: Model[S, A], safety: int, graph: bool, symmetry: bool,
                 budget: Budget, reporter: Reporter, storage: Storage,
                 interruption: Interruption) -> None:
        self.model = model
        fast = getattr(model, "successors", None)
        self.successors: Successors[S] = fast or functools.partial(successors, model)
        self.canon: Callable[[S], S] | None = (
            getattr(model, "canonical", None) if symmetry else None)
        self.canon_perm: Callable[[S], tuple[S, tuple[int, ...]]] | None = (
            getattr(model, "canonical_perm", None) if symmetry and graph else None)
        self.graph = graph
        self.storage = storage
        self.store: StateStore[S] | CompactStore[S] = (
            CompactStore(storage.visited(indexed=graph)) if storage.lossy
            else StateStore(indexed=graph))
        self.pending = safety           # safety bits not yet violated
        self.witnessed = 0
        self.transitions = 0
        self.room = budget.max_states if budget.max_states is not None else sys.maxsize
        self.budget = budget
        self.reporter = reporter
        self.frontier = getattr(reporter, "frontier", None)
        self.interruption = interruption
        self.hits: dict[int, tuple[int, int, S]] = {}
        self.cut_short = ""
        self.stopped = False
        self.position: tuple[int, int, int] | None = None
        self.depth = 0
        self.seconds = 0.0
        self.earlier = 0.0              # seconds spent before a resume

    def run(self) -> None:
        """Explore level by level until done, decided, or out of budget.

        The cyclic garbage collector is paused meanwhile: exploration allocates millions of
        short-lived tuples but no cycles, and the collector's passes over the growing store
        would cost a fifth of the time.
        """
        collecting = gc.isenabled()
        gc.disable()
        try:
            self._run()
        finally:
            if collecting:
                gc.enable()

    def _run(self) -> None:
        began = time.perf_counter()
        deadline = began + self.budget.timeout if self.budget.timeout is not None else float("inf")
        next_report = began + _PROGRESS_SECONDS
        store = self.store
        if isinstance(store, CompactStore):
            expand = self._expand_compact_indexed if self.graph else self._expand_compact
        else:
            expand = self._expand_indexed if self.graph else self._expand
        requested = self.interruption.requested
        if self.position is None:
            going = self._roots()
            store.end_level()
            lo, hi, level = 0, len(store), 0
        else:
            going = True
            lo, hi, level = self.position
        chunk = _FIRST_CHUNK
        while going:
            if lo == hi:
                if len(store) == hi:
                    break
                store.end_level()
                hi = len(store)
                level += 1
                continue
            t0 = time.perf_counter()
            end = min(lo + chunk, hi)
            going = expand(lo, end)
            lo = end
            now = time.perf_counter()
            if going and now > deadline:
                going = False
                self.stopped = True
                self.cut_short = self.budget.out_of_time()
            elif going and (why := requested()):
                going = False
                self.stopped = True
                self.cut_short = f"interrupted ({why})"
            if now >= next_report:
                if self.frontier is not None:
                    self.frontier(len(store) - lo)
                self.reporter.progress(len(store), self.transitions, level,
                                       self.earlier + now - began)
                next_report = now + _PROGRESS_SECONDS
            if now - t0 < _CHUNK_SECONDS / 2:
                chunk = min(2 * chunk, _MAX_CHUNK)
            elif now - t0 > 2 * _CHUNK_SECONDS and chunk > 1:
                chunk //= 2
        self.position = (lo, hi, level)
        self.depth = store.depth(len(store) - 1) if len(store) else 0
        self.seconds = self.earlier + time.perf_counter() - began

    def snapshot(self, properties: list[str]) -> PlainSnapshot:
        """Everything needed to go on from where the search of ``properties`` stopped (see
        `restore`)."""
        interned = getattr(self.model, "interned", None)
        return PlainSnapshot(
            properties=properties, storage=self.storage, symmetry=self.canon is not None,
            graph=self.graph, store=self.store, pending=self.pending, witnessed=self.witnessed,
            transitions=self.transitions, hits=self.hits, position=self.position,
            seconds=self.seconds, interned=interned() if interned is not None else None)

    def restore(self, saved: object, properties: list[str]) -> None:
        """Continue from a `snapshot` of a search of the same model, ``properties`` and
        options; a snapshot of another engine, or of other options, is refused."""
        snapshot = resumable(saved, PlainSnapshot, properties=properties, storage=self.storage,
                             symmetry=self.canon is not None, graph=self.graph)
        if snapshot.interned is not None:
            self.model.restore_interned(snapshot.interned)  # type: ignore[attr-defined]
        self.store = snapshot.store
        self.pending, self.witnessed = snapshot.pending, snapshot.witnessed
        self.transitions, self.hits = snapshot.transitions, snapshot.hits
        self.position, self.earlier = snapshot.position, snapshot.seconds
        if self.budget.max_states is not None:
            self.room = max(self.budget.max_states - len(self.store), 0)

    def omission(self) -> Omission | None:
        """How likely a lossy store skipped a state (None for the exact store)."""
        store = self.store
        return store.visited.omission() if isinstance(store, CompactStore) else None

    def _roots(self) -> bool:
        """Store and observe the initial states; False if that already ends the search."""
        model, store = self.model, self.store
        for state in model.init_states():
            key = self.canon(state) if self.canon is not None else state
            if isinstance(store, CompactStore):
                if store.add_root(key):
                    if not self.room:
                        return self._out_of_room()
                    self.room -= 1
                    if self.graph:
                        store.done.append(model.done(key))
            elif key not in store.seen:
                if not self.room:
                    return self._out_of_room()
                self.room -= 1
                store.add_root(key)
            violated, witnessed = model.observe(None, None, state)
            self.witnessed |= witnessed
            if violated & self.pending:
                self._hit(violated & self.pending, -1, 0, state)
                self.pending &= ~violated
                if not self.pending and not self.graph:
                    return False
        return True

    def _out_of_room(self) -> bool:
        self.cut_short = self.budget.out_of_states()
        return False

    def _hit(self, bits: int, source: int, action_index: int, after: S) -> None:
        """Remember the first transition that broke each property in ``bits``."""
        while bits:
            low = bits & -bits
            self.hits[low.bit_length() - 1] = (source, action_index, after)
            bits ^= low

    def _expand(self, lo: int, hi: int) -> bool:
        """Expand ``states[lo:hi]``, the hot loop when no edges are kept; False to stop.

        Everything the loop touches is a local, and states are stored inline rather than
        through `StateStore.add`, because this runs once per transition.
        """
        successors, canon, store = self.successors, self.canon, self.store
        assert isinstance(store, StateStore)
        states = store.states
        seen = store.seen
        assert isinstance(seen, set)
        seen_add, states_append = seen.add, states.append
        parent_append, action_append = store.parent.append, store.action.append
        pending, witnessed, transitions, room = (self.pending, self.witnessed,
                                                 self.transitions, self.room)
        going = True
        for i in range(lo, hi):
            for action_index, after, violated, witness in successors(states[i]):
                transitions += 1
                if violated and violated & pending:
                    self._hit(violated & pending, i, action_index, after)
                    pending &= ~violated
                    if not pending:
                        going = False
                        break
                if witness:
                    witnessed |= witness
                if canon is not None:
                    after = canon(after)
                if after not in seen:
                    if not room:
                        going = self._out_of_room()
                        break
                    room -= 1
                    seen_add(after)
                    states_append(after)
                    parent_append(i)
                    action_append(action_index)
            if not going:
                break
        self.pending, self.witnessed, self.transitions, self.room = (pending, witnessed,
                                                                     transitions, room)
        return going

    def _expand_indexed(self, lo: int, hi: int) -> bool:
        """`_expand` that also stores every edge, for CAN_FINISH; never stops when decided,
        since the graph questions need the whole graph."""
        successors, canon_perm, store = self.successors, self.canon_perm, self.store
        assert isinstance(store, StateStore)
        states = store.states
        index = store.seen
        assert isinstance(index, dict)
        setdefault, states_append = index.setdefault, states.append
        parent_append, action_append = store.parent.append, store.action.append
        dst = store.dst
        dst_append, ends_append = dst.append, store.edge_ends.append
        perm_append, perm_id = store.edge_perm.append, store.perm_id
        pending, witnessed, room = self.pending, self.witnessed, self.room
        n = len(states)
        going = True
        for i in range(lo, hi):
            for action_index, after, violated, witness in successors(states[i]):
                if violated and violated & pending:
                    self._hit(violated & pending, i, action_index, after)
                    pending &= ~violated
                if witness:
                    witnessed |= witness
                if canon_perm is not None:
                    after, perm = canon_perm(after)
                target = setdefault(after, n)
                if target == n:
                    if not room:
                        del index[after]
                        going = self._out_of_room()
                        break
                    room -= 1
                    n += 1
                    states_append(after)
                    parent_append(i)
                    action_append(action_index)
                dst_append(target)
                if canon_perm is not None:
                    perm_append(perm_id(perm))
            ends_append(len(dst))
            if not going:
                break
        self.pending, self.witnessed, self.room = pending, witnessed, room
        self.transitions = len(dst)
        return going

    def _expand_compact(self, lo: int, hi: int) -> bool:
        """`_expand` into a lossy store: the chunk's successors are collected in order, then
        asked about as one batch (`VisitedSet.admit`), which stores the new ones."""
        successors, canon, store = self.successors, self.canon, self.store
        assert isinstance(store, CompactStore)
        current, base = store.current, store.base
        afters: list[S] = []
        sources: list[int] = []
        actions: list[int] = []
        after_append, source_append, action_append = (afters.append, sources.append,
                                                       actions.append)
        pending, witnessed, transitions = self.pending, self.witnessed, self.transitions
        going = True
        for i in range(lo, hi):
            for action_index, after, violated, witness in successors(current[i - base]):
                transitions += 1
                if violated and violated & pending:
                    self._hit(violated & pending, i, action_index, after)
                    pending &= ~violated
                    if not pending:
                        going = False
                        break
                if witness:
                    witnessed |= witness
                after_append(canon(after) if canon is not None else after)
                source_append(i)
                action_append(action_index)
            if not going:
                break
        self.pending, self.witnessed, self.transitions = pending, witnessed, transitions
        if not afters:
            return going
        new = np.flatnonzero(store.visited.admit(fingerprints(afters)))
        if len(new) > self.room:
            new = new[:self.room]
            going = self._out_of_room()
        self.room -= len(new)
        store.following.extend([afters[j] for j in new.tolist()])
        store.parent.frombytes(np.asarray(sources, dtype=np.int32)[new].tobytes())
        store.action.frombytes(np.asarray(actions, dtype=np.uint32)[new].tobytes())
        return going

    def _expand_compact_indexed(self, lo: int, hi: int) -> bool:
        """`_expand_indexed` into numbered fingerprints (`IndexedFingerprints`): the chunk's
        edges are collected in order and their targets numbered as one batch."""
        successors, canon_perm, store = self.successors, self.canon_perm, self.store
        assert isinstance(store, CompactStore)
        visited = store.visited
        assert isinstance(visited, IndexedFingerprints)
        current, base, done = store.current, store.base, self.model.done
        afters: list[S] = []
        sources: list[int] = []
        actions: list[int] = []
        perms: list[int] = []
        ends = store.edge_ends
        edges = len(store.dst)
        pending, witnessed = self.pending, self.witnessed
        for i in range(lo, hi):
            for action_index, after, violated, witness in successors(current[i - base]):
                if violated and violated & pending:
                    self._hit(violated & pending, i, action_index, after)
                    pending &= ~violated
                if witness:
                    witnessed |= witness
                if canon_perm is not None:
                    after, perm = canon_perm(after)
                    perms.append(store.perm_id(perm))
                afters.append(after)
                sources.append(i)
                actions.append(action_index)
            ends.append(edges + len(afters))
        self.pending, self.witnessed = pending, witnessed
        self.transitions += len(afters)
        if not afters:
            return True
        new_mask, targets = visited.admit_indexed(fingerprints(afters))
        new = np.flatnonzero(new_mask)
        going = True
        if len(new) > self.room:
            new = new[:self.room]
            going = self._out_of_room()
        self.room -= len(new)
        fresh = [afters[j] for j in new.tolist()]
        store.following.extend(fresh)
        store.done.extend([done(s) for s in fresh])
        store.parent.frombytes(np.asarray(sources, dtype=np.int32)[new].tobytes())
        store.action.frombytes(np.asarray(actions, dtype=np.uint32)[new].tobytes())
        store.dst.frombytes(targets.astype(np.uint32).tobytes())
        store.edge_perm.extend(perms)
        return going

    def safety_trace(self, bit: int) -> Trace[S, A]:
        """A shortest real execution whose last transition breaks property ``bit``."""
        source, action_index, after = self.hits[bit]
        if source < 0:
            return Trace(init=after)
        init, steps = self._real_path(self.store.chain(source))
        current = steps[-1].state if steps else init
        if self.canon is not None:
            # The stored transition left the representative; from the real state, take the
            # first action that breaks the property (one exists: the model is symmetric).
            breaking = next(((a, s) for a, s, violated, _ in self.successors(current)
                             if violated >> bit & 1), None)
            if breaking is None:
                raise _not_symmetric(self.model, current)
            action_index, after = breaking
        steps.append(Step(action_index, self.model.actions(current)[action_index], after))
        return Trace(init, tuple(steps))

    def stuck(self) -> tuple[Trace[S, A], int] | None:
        """A shortest path to a state some must-finish agent cannot finish from, and the agent."""
        store, model = self.store, self.model
        found = first_stuck(len(store), store.edge_sources(), store.dst,
                            store.done if isinstance(store, CompactStore)
                            else [model.done(s) for s in store.states],
                            model.must_finish, len(model.agents),
                            store.edge_perm if self.canon_perm is not None else None, store.perms)
        if found is None:
            return None
        index, agent = found
        init, steps = self._real_path(store.chain(index))
        if self.canon_perm is not None:
            # ``agent`` is a place in the representative; name the real agent in that place.
            _, perm = self.canon_perm(steps[-1].state if steps else init)
            agent = list(perm).index(agent)
        return Trace(init, tuple(steps)), agent

    def _real_path(self, chain: list[int]) -> tuple[S, list[Step[S, A]]]:
        """A real execution through the stored states of ``chain``, up to symmetry.

        Without symmetry the stored states are the execution. With it, each step takes, from
        the real state reached so far, the lowest action whose successor has the next stored
        representative, so the trace replays on the model though the stored states do not.
        """
        model, store = self.model, self.store
        states = self._stored_path(chain)
        canon = self.canon
        if canon is None:
            steps = [Step(store.action[k], model.actions(before)[store.action[k]], after)
                     for k, before, after in zip(chain[1:], states[:-1], states[1:], strict=True)]
            return states[0], steps
        root = states[0]
        init = next(s for s in model.init_states() if canon(s) == root)
        current, steps = init, []
        for position in range(1, len(chain)):
            found = next(((a, s) for a, s, _, _ in self.successors(current)
                          if canon(s) == states[position]), None)
            if found is None:
                raise _not_symmetric(model, current)
            action_index, after = found
            steps.append(Step(action_index, model.actions(current)[action_index], after))
            current = after
        return init, steps

    def _stored_path(self, chain: list[int]) -> list[S]:
        """The stored states (representatives, under symmetry) at the indices of ``chain``.

        A lossy store keeps only the initial states: the rest are rebuilt by replaying the
        stored action indices, each successor reduced to its representative as it was stored.
        """
        store = self.store
        if isinstance(store, StateStore):
            return [store.states[k] for k in chain]
        states = [store.roots[chain[0]]]
        for k in chain[1:]:
            taken = store.action[k]
            after = next((s for a, s, _, _ in self.successors(states[-1]) if a == taken), None)
            if after is None:
                raise LockbreakError(f"{type(self.model).__name__} is not deterministic: action "
                                     f"{taken} of {states[-1]!r} is gone on replay")
            states.append(self.canon(after) if self.canon is not None else after)
        return states


def _not_symmetric(model: Model[S, A], state: S) -> LockbreakError:
    return LockbreakError(
        f"{type(model).__name__}.canonical() is not a symmetry of the model: from {state!r} no "
        "action reaches what its representative reached; fix canonical(), or check without "
        "symmetry")
