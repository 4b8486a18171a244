"""One hash partition of a parallel breadth-first search: the states one worker owns.

A worker builds its own model from a picklable factory, stores the states whose partition
(`owner`) is its own, and per level expands its frontier into buckets, one per owner. States
travel between workers in the model's ``portable`` form (``model.portable(state)`` and
``model.from_portable(value)``; a model without them must have states that pickle and mean
the same in every process), because a state may be an index into tables that each process
fills in its own order. Every method is deterministic, so a level redone after a worker died
gives the same states in the same order.
"""

from __future__ import annotations

import functools
import time
from array import array
from collections.abc import Callable, Hashable, Iterable
from typing import Any

from lockbreak.core import Model, successors
from lockbreak.engines.store import perm_index

Factory = Callable[[], Model[Any, Any]]
# (state or portable value, source index, action index, renaming: an id of this partition's,
# or the permutation itself in a bucket for another worker, 0 without symmetry)
Entry = tuple[Any, int, int, Any]
# Hit: (source index, action index, portable successor) of the first breaking transition
Hit = tuple[int, int, Any]
# What a level's expansion tells the coordinator: hits per property bit, witnessed bits,
# transitions, and whether the whole frontier was expanded (False: out of time)
Expansion = tuple[dict[int, Hit], int, int, bool]
# What a level adds to a partition, enough to rebuild it: portable states with their parent
# (worker, index) and action, then edges (source worker, source index, target index, perm)
Delta = tuple[list[Any], list[int], list[int], list[int],
              list[tuple[int, int, int, tuple[int, ...] | None]]]

_CLOCK_EVERY = 256


def owner(value: Hashable, workers: int) -> int:
    """The partition that owns a portable value.

    Python's ``hash`` of ints and tuples is the same in every process; of strings only where
    ``PYTHONHASHSEED`` is the same, which every pool sets for its workers (`HASH_SEED`).

    >>> owner((1, (2, 3)), 4) == hash((1, (2, 3))) % 4, owner("x", 1)
    (True, 0)
    """
    return hash(value) % workers


HASH_SEED = {"PYTHONHASHSEED": "0"}


def _same(value: Any) -> Any:
    return value


class Partition:
    """The states owned by worker ``me`` of ``workers``, their BFS tree and (for CAN_FINISH
    properties) the edges into them.

    ``parent_w[k], parent_k[k]`` locate the state that first reached local state ``k`` (-1 for
    an initial state), ``action[k]`` the action index taken there; ``level_ends[d]`` is one
    past the last local index at depth ``d``.
    """

    def __init__(self, factory: Factory, me: int, workers: int, symmetry: bool,
                 graph: bool, keep_deltas: bool = False) -> None:
        model = factory()
        self.model = model
        self.me, self.workers, self.graph, self.keep_deltas = me, workers, graph, keep_deltas
        fast = getattr(model, "successors", None)
        self.successors: Callable[[Any], Iterable[tuple[int, Any, int, int]]] = (
            fast or functools.partial(successors, model))
        self.canon = getattr(model, "canonical", None) if symmetry and not graph else None
        self.canon_perm = getattr(model, "canonical_perm", None) if symmetry and graph else None
        self.export: Callable[[Any], Any] = getattr(model, "portable", None) or _same
        self.import_: Callable[[Any], Any] = getattr(model, "from_portable", None) or _same
        # Under symmetry each process picks its own representative of an orbit (they compare
        # process-local ints), so a whole orbit must have one owner: partition by a key that
        # renaming leaves unchanged, and let the owner pick the representative it stores.
        self.key: Callable[[Any], Any] = (getattr(model, "orbit_key", None) or self.export
                                          if symmetry else self.export)
        self.states: list[Any] = []
        self.seen: dict[Any, int] = {}
        self.parent_w, self.parent_k, self.action = array("i"), array("i"), array("I")
        self.level_ends: list[int] = []
        self.own: list[Entry] = []          # this level's successors that this worker owns
        self.sent: set[Any] = set()         # states known to be stored by another worker
        self.e_src_w, self.e_src_k, self.e_dst, self.e_perm = (
            array("I"), array("I"), array("I"), array("I"))
        self.perms: list[tuple[int, ...]] = [()]
        self.perm_ids: dict[tuple[int, ...], int] = {(): 0}

    def size(self) -> int:
        return len(self.states)

    def init_portable(self) -> list[Any]:
        """The model's initial states, portable: the coordinator checks that every worker
        built the same model."""
        return [self.export(s) for s in self.model.init_states()]

    def seed(self, roots: list[Any]) -> Delta | None:
        """Store the (canonical, portable) initial states that this worker owns."""
        self.own = []
        for value in roots:
            state = self.import_(value)
            if owner(self.key(state), self.workers) == self.me:
                self.own.append((self._canonical(state)[0], -1, 0, 0))
        return self._take([[]] * self.workers, root=True)

    def _canonical(self, state: Any) -> tuple[Any, tuple[int, ...] | None]:
        """This process's representative of ``state`` and the renaming to it (None: none)."""
        if self.canon_perm is not None:
            return self.canon_perm(state)
        if self.canon is not None:
            return self.canon(state), None
        return state, None

    def expand(self, pending: int, deadline: float) -> tuple[Expansion, list[list[Entry]]]:
        """Expand the frontier (the last level) into one bucket per owner.

        Successors this worker owns stay here (`own`) until `receive`; every other bucket is
        for the coordinator to route. Without edges, a successor already stored, kept or sent
        before is dropped: only its first arrival counts.
        """
        lo = self.level_ends[-2] if len(self.level_ends) > 1 else 0
        hi = self.level_ends[-1]
        me, workers, graph = self.me, self.workers, self.graph
        canon, canon_perm, export, key = self.canon, self.canon_perm, self.export, self.key
        seen, sent, states = self.seen, self.sent, self.states
        buckets: list[list[Entry]] = [[] for _ in range(workers)]
        mine: set[Any] = set()      # new states of this level that this worker owns
        own = self.own = []
        hits: dict[int, Hit] = {}
        witnessed = transitions = 0
        complete = True
        decided = False         # every pending property broke: the level need not go on
        perm_id = 0
        for i in range(lo, hi):
            if (i - lo) % _CLOCK_EVERY == _CLOCK_EVERY - 1 and time.time() > deadline:
                complete = False
                break
            for action_index, after, violated, witness in self.successors(states[i]):
                transitions += 1
                if violated and violated & pending:
                    bits = violated & pending
                    pending &= ~violated
                    while bits:
                        low = bits & -bits
                        hits[low.bit_length() - 1] = (i, action_index, export(after))
                        bits ^= low
                    if not pending and not graph:
                        decided = True
                        break
                witnessed |= witness
                if canon_perm is not None:
                    after, perm = canon_perm(after)
                    perm_id = self._perm_id(perm)
                elif canon is not None:
                    after = canon(after)
                if not graph:
                    if after in seen or after in sent or after in mine:
                        continue
                    if workers == 1:
                        mine.add(after)
                        own.append((after, i, action_index, 0))
                        continue
                    value = export(after)
                    place = owner(value if key is export else key(after), workers)
                    if place == me:
                        mine.add(after)
                        own.append((after, i, action_index, 0))
                    else:
                        sent.add(after)
                        buckets[place].append((value, i, action_index, 0))
                    continue
                target = seen.get(after)
                if target is not None:
                    self._edge(me, i, target, perm_id)
                    continue
                value = export(after)
                place = 0 if workers == 1 else owner(
                    value if key is export else key(after), workers)
                if place == me:
                    own.append((after, i, action_index, perm_id))
                else:
                    buckets[place].append((value, i, action_index, perm_id))
            if decided:
                break
        # A permutation id means something only here: send the permutation itself.
        if graph:
            buckets = [[(v, i, a, self.perms[p]) for v, i, a, p in b] for b in buckets]
        return (hits, witnessed, transitions, complete), buckets

    def receive(self, buckets: list[list[Entry]]) -> Delta | None:
        """Store the new states of the level from every worker's bucket for this one, taken
        in worker order (this worker's own successors in its place): the first arrival of a
        state is its parent, so the tree is the same on every run."""
        return self._take(buckets, root=False)

    def _take(self, buckets: list[list[Entry]], root: bool) -> Delta | None:
        seen, states, import_ = self.seen, self.states, self.import_
        first = len(states)
        edges_from = len(self.e_dst)
        for source in range(self.workers):
            local = source == self.me
            for value, k, action_index, perm in (self.own if local else buckets[source]):
                if local:
                    state = value
                else:
                    state, renaming = self._canonical(import_(value))
                    if renaming is not None:    # the sender's renaming, then this one's
                        perm = tuple(renaming[p] for p in perm)
                target = seen.get(state)
                if target is None:
                    target = seen[state] = len(states)
                    states.append(state)
                    self.parent_w.append(-1 if root else source)
                    self.parent_k.append(-1 if root else k)
                    self.action.append(action_index)
                if self.graph and not root:
                    self._edge(source, k, target, perm if local else self._perm_id(perm))
        self.own = []
        self.level_ends.append(len(states))
        if not self.keep_deltas:
            return None
        edges = [(self.e_src_w[e], self.e_src_k[e], self.e_dst[e],
                  self.perms[self.e_perm[e]] if self.canon_perm is not None else None)
                 for e in range(edges_from, len(self.e_dst))]
        return ([self.export(s) for s in states[first:]], list(self.parent_w[first:]),
                list(self.parent_k[first:]), list(self.action[first:]), edges)

    def restore(self, deltas: list[Delta]) -> None:
        """Rebuild the partition, in a fresh worker, from what each level added.

        Each state is stored as this process's representative of its orbit. Edges keep the
        renamings they were recorded with, so a partition with edges under symmetry cannot be
        restored this way (`restorable`).
        """
        for values, parent_w, parent_k, actions, edges in deltas:
            for value, pw, pk, a in zip(values, parent_w, parent_k, actions, strict=True):
                state = self._canonical(self.import_(value))[0]
                self.seen[state] = len(self.states)
                self.states.append(state)
                self.parent_w.append(pw)
                self.parent_k.append(pk)
                self.action.append(a)
            for src_w, src_k, dst, perm in edges:
                self._edge(src_w, src_k, dst, self._perm_id(perm) if perm is not None else 0)
            self.level_ends.append(len(self.states))

    def _edge(self, src_w: int, src_k: int, dst: int, perm_id: int) -> None:
        self.e_src_w.append(src_w)
        self.e_src_k.append(src_k)
        self.e_dst.append(dst)
        self.e_perm.append(perm_id)

    def _perm_id(self, perm: tuple[int, ...]) -> int:
        return perm_index(self.perms, self.perm_ids, perm)

    def lineage(self, k: int) -> tuple[int, int, int, Any]:
        """``(parent worker, parent index, action index, portable state)`` of local ``k``."""
        return self.parent_w[k], self.parent_k[k], self.action[k], self.export(self.states[k])

    def graph_part(self) -> tuple[list[int], list[int], array, array, array, array,
                                  list[tuple[int, ...]]]:
        """Everything the can-finish analysis needs from this partition: level ends, done
        masks, edges into its states and the permutations they name."""
        done = [self.model.done(s) for s in self.states]
        return (self.level_ends, done, self.e_src_w, self.e_src_k, self.e_dst, self.e_perm,
                self.perms)
