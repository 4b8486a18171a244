"""Parallel breadth-first search: states partitioned by hash across workers, level by level.

Each worker (`lockbreak.engines.partition.Partition`, in a process of a `ProcessPool` or a Ray
actor of `lockbreak.engines.ray_engine.RayPool`) owns the states whose hash falls in its
partition. A level is two rounds: every worker expands its frontier into one bucket per
owner, then every owner stores the new states of its buckets, taken in worker order. Because
no worker starts level ``d + 1`` before every worker has finished level ``d``, the first level
in which a property breaks is the shortest counterexample's length, as in the sequential
engine (`lockbreak.engines.plain_bfs`); among the breaking transitions of that level the one
from the lowest (worker, index, action) wins, so a run with the same number of workers gives
the same counterexample every time.

Counterexamples are rebuilt on the coordinator's own model from parent pointers that cross
partitions, and replay on it from action indices. CAN_FINISH properties gather every
partition's edges on the coordinator and run the same can-finish analysis as the sequential
engine (`lockbreak.engines.graph.first_stuck`), with states numbered level by level so the
lowest stuck state is a shallowest one. FAIR and WORST properties are decided by the
sequential liveness engine (`lockbreak.engines.liveness.check_obligations`) on the
coordinator's model: they need the labelled graph in one place.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection
import os
import time
import traceback
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from lockbreak.core import (
    Budget,
    CheckResult,
    LockbreakError,
    Model,
    PropertyKind,
    Reporter,
    SilentReporter,
    Stats,
    Step,
    Trace,
    successors,
)
from lockbreak.engines.graph import first_stuck
from lockbreak.engines.liveness import check_obligations
from lockbreak.engines.partition import HASH_SEED, Expansion, Factory, Hit, owner
from lockbreak.engines.verdict import verdict

_SEARCH_RESTARTS = 3


class RestartSearch(LockbreakError):
    """A pool lost a worker whose partition it cannot rebuild: search again from the start."""


class Pool(Protocol):
    """Workers that each hold one `Partition`, and the exchange of one level between them."""

    @property
    def size(self) -> int: ...

    def start(self, factory: Factory, symmetry: bool, graph: bool) -> list[list[Any]]:
        """Build a partition in every worker; each worker's portable initial states."""

    def seed(self, roots: list[Any]) -> None: ...

    def level(self, pending: int, deadline: float) -> list[Expansion]:
        """Expand every frontier, route the buckets, store the new states."""

    def sizes(self) -> list[int]: ...

    def lineage(self, worker: int, index: int) -> tuple[int, int, int, Any]: ...

    def graph_parts(self) -> list[tuple[Any, ...]]: ...


def check(model: Model[Any, Any], factory: Factory, pool: Pool, *,
          properties: Sequence[str] | None = None,
          budget: Budget = Budget(),  # noqa: B008 (frozen, so one shared default is safe)
          reporter: Reporter = SilentReporter(),  # noqa: B008 (stateless)
          symmetry: bool = False) -> list[CheckResult]:
    """Check ``model``'s properties by a breadth-first search spread over ``pool``'s workers.

    Parameters
    ----------
    model : Model
        The coordinator's own model: initial states, and the replay of counterexamples.
    factory : Callable[[], Model]
        Picklable; builds in each worker a model equal to ``model`` (same initial states,
        same transitions). A model whose states are process-local indices must offer
        ``portable(state)`` and ``from_portable(value)``.
    pool : Pool
        The workers (`ProcessPool`, or `lockbreak.engines.ray_engine.RayPool`).
    properties, budget, reporter, symmetry
        As for `lockbreak.engines.plain_bfs.check`. ``max_states`` is checked after each level,
        so a run may store up to one level more before it stops (INCOMPLETE either way).

    Returns
    -------
    list[CheckResult]
        One per checked property, in ``model.property_names`` order, with the verdicts and
        counterexample lengths of the sequential explicit engine.
    """
    names = list(model.property_names)
    unknown = [p for p in properties or () if p not in names]
    if unknown:
        raise LockbreakError(f"unknown property {unknown[0]!r}; this model has: "
                             f"{', '.join(names) or '(none)'}")
    selected = [b for b, name in enumerate(names) if properties is None or name in properties]
    on_obligations = [b for b in selected
                      if model.property_kinds[b] in (PropertyKind.FAIR, PropertyKind.WORST)]
    bits = [b for b in selected if b not in on_obligations]
    kinds = [model.property_kinds[b] for b in bits]
    graph = PropertyKind.CAN_FINISH in kinds
    if symmetry and not callable(getattr(model, "canonical_perm" if graph else "canonical",
                                         None)):
        raise LockbreakError(f"symmetry needs {type(model).__name__}.canonical() and "
                             "canonical_perm(); check without symmetry")
    results: list[CheckResult] = []
    if bits:
        safety = sum(1 << b for b, kind in zip(bits, kinds, strict=True)
                     if kind is PropertyKind.SAFETY)
        for _ in range(_SEARCH_RESTARTS):
            search = _Coordinator(model, factory, pool, safety, graph, symmetry, budget,
                                  reporter)
            try:
                search.run()
                results = search.results(bits, kinds)
                break
            except RestartSearch:
                continue
        else:
            raise LockbreakError("workers kept dying; the parallel search gave up")
    if on_obligations:
        results += check_obligations(model, on_obligations, budget)
    order = {name: k for k, name in enumerate(names)}
    return sorted(results, key=lambda r: order[r.property])


class _Coordinator:
    """One parallel search, driven level by level, and the traces of what it found."""

    def __init__(self, model: Model[Any, Any], factory: Factory, pool: Pool, safety: int,
                 graph: bool, symmetry: bool, budget: Budget, reporter: Reporter) -> None:
        self.model, self.factory, self.pool = model, factory, pool
        self.graph, self.symmetry = graph, symmetry
        self.budget, self.reporter = budget, reporter
        self.export = getattr(model, "portable", None) or (lambda s: s)
        self.import_ = getattr(model, "from_portable", None) or (lambda s: s)
        self.canon: Any = getattr(model, "canonical", None) if symmetry else None
        self.pending = safety
        self.witnessed = 0
        self.transitions = 0
        self.states = 0
        self.depth = 0
        self.seconds = 0.0
        self.cut_short = ""
        # bit -> (worker, Hit); worker -1: an initial state broke it
        self.hits: dict[int, tuple[int, Hit]] = {}

    def run(self) -> None:
        began = time.time()
        deadline = began + self.budget.timeout if self.budget.timeout is not None else 1e18
        limit = self.budget.max_states
        inits = self.pool.start(self.factory, self.symmetry, self.graph)
        mine = [self.export(s) for s in self.model.init_states()]
        if any(theirs != mine for theirs in inits):
            raise LockbreakError("a worker's model has other initial states than the "
                                 "coordinator's: the model factory does not rebuild the model")
        roots: list[Any] = []
        for state in self.model.init_states():
            key = self.export(self.canon(state) if self.canon is not None else state)
            if key not in roots:
                roots.append(key)
            violated, witnessed = self.model.observe(None, None, state)
            self.witnessed |= witnessed
            self._record(violated & self.pending, -1, (-1, 0, self.export(state)))
        self.pool.seed(roots)
        self.states = len(roots)
        level = 0
        going = bool(self.pending) or self.graph or not self.hits
        while going:
            if limit is not None and self.states > limit:
                self.cut_short = self.budget.out_of_states()
                break
            expansions = self.pool.level(self.pending, deadline)
            level += 1
            before = self.states
            self.states = sum(self.pool.sizes())
            for worker, (hits, witnessed, transitions, complete) in enumerate(expansions):
                self.witnessed |= witnessed
                self.transitions += transitions
                if not complete:
                    self.cut_short = self.budget.out_of_time()
                for bit, hit in sorted(hits.items()):
                    self._record(1 << bit & self.pending, worker, hit)
            if self.states > before:
                self.depth = level
            self.reporter.progress(self.states, self.transitions, level, time.time() - began)
            if self.cut_short or self.states == before:
                break
            if not self.pending and not self.graph and self.hits:
                break
            if time.time() > deadline:
                self.cut_short = self.budget.out_of_time()
                break
        if limit is not None and self.states > limit and not self.cut_short:
            self.cut_short = self.budget.out_of_states()
        self.seconds = time.time() - began

    def _record(self, bits: int, worker: int, hit: Hit) -> None:
        """Keep the first hit of each bit in ``bits``: callers go in (worker, index) order."""
        while bits:
            low = bits & -bits
            self.hits[low.bit_length() - 1] = (worker, hit)
            self.pending &= ~low
            bits ^= low

    def results(self, bits: list[int], kinds: list[PropertyKind]) -> list[CheckResult]:
        model = self.model
        stuck = self._stuck() if self.graph and not self.cut_short else None
        out = []
        stats = Stats(self.states, self.transitions, self.depth, self.seconds)
        for bit, kind in zip(bits, kinds, strict=True):
            hit = kind is PropertyKind.SAFETY and bit in self.hits
            out.append(verdict(model, model.property_names[bit], kind, stats,
                               witnessed=bool(self.witnessed >> bit & 1),
                               violation=self._safety_trace(bit) if hit else None,
                               cut_short=self.cut_short, stuck=stuck))
        return out

    # ------------------------------------------------------------ counterexamples

    def _chain(self, worker: int, index: int) -> list[tuple[int, Any]]:
        """``(action index, portable state)`` from an initial state to ``(worker, index)``."""
        chain = []
        while worker >= 0:
            worker, index, action, value = self.pool.lineage(worker, index)
            chain.append((action, value))
        chain.reverse()
        return chain

    def _real_path(self, chain: list[tuple[int, Any]]) -> tuple[Any, list[Step[Any, Any]]]:
        """A real execution of the coordinator's model through the stored states of
        ``chain`` (representatives, under symmetry: then each step takes the lowest action
        that reaches the next representative)."""
        model = self.model
        stored = [self.import_(value) for _, value in chain]
        if self.canon is None:
            steps = [Step(action, model.actions(before)[action], after)
                     for before, after, (action, _) in zip(stored, stored[1:], chain[1:],
                                                           strict=False)]
            return stored[0], steps
        # Each worker picks its own representative of an orbit: compare this process's.
        stored = [self.canon(s) for s in stored]
        init = next(s for s in model.init_states() if self.canon(s) == stored[0])
        current, steps = init, []
        for representative in stored[1:]:
            found = next(((a, s) for a, s, _, _ in successors(model, current)
                          if self.canon(s) == representative), None)
            if found is None:
                raise _not_symmetric(model, current)
            action, after = found
            steps.append(Step(action, model.actions(current)[action], after))
            current = after
        return init, steps

    def _safety_trace(self, bit: int) -> Trace[Any, Any]:
        worker, (index, action, value) = self.hits[bit]
        if worker < 0:
            return Trace(init=self.import_(value))
        init, steps = self._real_path(self._chain(worker, index))
        current = steps[-1].state if steps else init
        after = self.import_(value)
        if self.canon is not None:
            breaking = next(((a, s) for a, s, violated, _ in successors(self.model, current)
                             if violated >> bit & 1), None)
            if breaking is None:
                raise _not_symmetric(self.model, current)
            action, after = breaking
        steps.append(Step(action, self.model.actions(current)[action], after))
        return Trace(init, tuple(steps))

    def _stuck(self) -> tuple[Trace[Any, Any], int] | None:
        """Gather every partition's edges, number states level by level (then by worker),
        and ask `first_stuck` for a shallowest state some agent cannot finish from."""
        parts = self.pool.graph_parts()
        workers = len(parts)
        depth = max(len(p[0]) for p in parts)
        ends = np.zeros((workers, depth), dtype=np.int64)
        for w, part in enumerate(parts):
            level_ends = list(part[0]) + [part[0][-1]] * (depth - len(part[0]))
            ends[w] = level_ends
        counts = np.diff(ends, axis=1, prepend=0)                 # states per (worker, level)
        # Global number of (worker w, level d)'s first state: all states of shallower levels,
        # then those of level d in lower workers.
        flat = counts.T.reshape(-1)                               # level-major
        starts = (np.cumsum(flat) - flat).reshape(depth, workers).T
        local_start = ends - counts
        total = int(counts.sum())
        numbering = []
        for w in range(workers):
            level_of = np.repeat(np.arange(depth), counts[w])
            local = np.arange(len(level_of))
            numbering.append(starts[w, level_of] + local - local_start[w, level_of])
        done = np.zeros(total, dtype=np.int64)
        src, dst, perm_ids = [], [], []
        perms: list[tuple[int, ...]] = []
        perm_index: dict[tuple[int, ...], int] = {}
        for w, (_, done_w, e_src_w, e_src_k, e_dst, e_perm, perms_w) in enumerate(parts):
            done[numbering[w]] = done_w
            if not len(e_dst):
                continue
            sw = np.frombuffer(e_src_w, dtype=np.uint32).astype(np.int64)
            sk = np.frombuffer(e_src_k, dtype=np.uint32).astype(np.int64)
            gsrc = np.empty(len(sw), dtype=np.int64)
            for v in range(workers):
                mask = sw == v
                gsrc[mask] = numbering[v][sk[mask]]
            src.append(gsrc)
            dst.append(numbering[w][np.frombuffer(e_dst, dtype=np.uint32)])
            remap = np.array([perm_index.setdefault(tuple(p), len(perm_index)) for p in perms_w],
                             dtype=np.int64)
            perm_ids.append(remap[np.frombuffer(e_perm, dtype=np.uint32)])
        perms = [tuple(p) for p in perm_index]
        if src:
            all_src, all_dst = np.concatenate(src), np.concatenate(dst)
            all_perm = np.concatenate(perm_ids)
        else:
            all_src = all_dst = all_perm = np.zeros(0, dtype=np.int64)
        model = self.model
        found = first_stuck(total, all_src.astype(np.uint32), all_dst.astype(np.uint32),
                            [int(x) for x in done], model.must_finish, len(model.agents),
                            [int(p) for p in all_perm] if self.symmetry else None, perms)
        if found is None:
            return None
        index, agent = found
        worker = next(w for w in range(workers) if bool(np.any(numbering[w] == index)))
        position = int(np.nonzero(numbering[worker] == index)[0][0])
        chain = self._chain(worker, position)
        init, steps = self._real_path(chain)
        if self.symmetry:
            # ``agent`` is a place in the worker's representative; both it and the real state
            # rename to this process's representative: the real agent goes where it goes.
            canon_perm = model.canonical_perm  # type: ignore[attr-defined]
            _, real = canon_perm(steps[-1].state if steps else init)
            _, stored = canon_perm(self.import_(chain[-1][1]))
            agent = list(real).index(stored[agent])
        return Trace(init, tuple(steps)), agent


def _not_symmetric(model: Model[Any, Any], state: Any) -> LockbreakError:
    return LockbreakError(
        f"{type(model).__name__}.canonical() is not a symmetry of the model: from {state!r} no "
        "action reaches what its representative reached; fix canonical(), or check without "
        "symmetry")


# ---------------------------------------------------------------- processes on this machine


def _serve(connection: multiprocessing.connection.Connection) -> None:
    """A worker process: run `Partition` methods sent by the coordinator until told to stop."""
    from lockbreak.engines.partition import Partition
    from lockbreak.engines.swarm import run_members

    partition: Partition | None = None
    while True:
        method, args = connection.recv()
        if method == "stop":
            return
        try:
            if method == "start":
                partition = Partition(*args)
                reply: Any = partition.init_portable()
            elif method == "swarm":
                reply = run_members(*args)
            else:
                assert partition is not None
                reply = getattr(partition, method)(*args)
        except Exception as err:    # sent back, and raised on the coordinator
            text = str(err) if isinstance(err, LockbreakError) else traceback.format_exc()
            connection.send(("error", text))
        else:
            connection.send(("ok", reply))


class ProcessPool:
    """``workers`` processes on this machine, reused for every check until closed.

    Processes are spawned (not forked), so a pool is safe to open from a process that runs
    threads; buckets between workers pass through the coordinator.
    """

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise LockbreakError(f"--workers {workers}: need at least one worker")
        context = multiprocessing.get_context("spawn")
        self._connections = []
        self._processes = []
        # A spawned process takes this process's environment: pin the workers' string hashes.
        saved = {name: os.environ.get(name) for name in HASH_SEED}
        os.environ.update(HASH_SEED)
        try:
            for _ in range(workers):
                mine, theirs = context.Pipe()
                process = context.Process(target=_serve, args=(theirs,), daemon=True)
                process.start()
                theirs.close()
                self._connections.append(mine)
                self._processes.append(process)
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    @property
    def size(self) -> int:
        return len(self._connections)

    def __enter__(self) -> ProcessPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for connection, process in zip(self._connections, self._processes, strict=True):
            with contextlib.suppress(OSError):
                connection.send(("stop", ()))
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
        self._connections = []

    def _all(self, method: str, args: Sequence[tuple[Any, ...]]) -> list[Any]:
        for connection, a in zip(self._connections, args, strict=True):
            connection.send((method, a))
        return [self._reply(c) for c in self._connections]

    @staticmethod
    def _reply(connection: multiprocessing.connection.Connection) -> Any:
        try:
            status, value = connection.recv()
        except EOFError:
            raise LockbreakError("a worker process died; rerun with fewer --workers, or "
                                 "without --workers") from None
        if status == "error":
            raise LockbreakError(f"in a worker: {value}")
        return value

    def start(self, factory: Factory, symmetry: bool, graph: bool) -> list[list[Any]]:
        n = self.size
        return self._all("start", [(factory, w, n, symmetry, graph) for w in range(n)])

    def seed(self, roots: list[Any]) -> None:
        self._all("seed", [(roots,)] * self.size)

    def level(self, pending: int, deadline: float) -> list[Expansion]:
        expanded = self._all("expand", [(pending, deadline)] * self.size)
        buckets = [b for _, b in expanded]
        self._all("receive", [([buckets[s][w] for s in range(self.size)],)
                              for w in range(self.size)])
        return [e for e, _ in expanded]

    def sizes(self) -> list[int]:
        return self._all("size", [()] * self.size)

    def lineage(self, worker: int, index: int) -> tuple[int, int, int, Any]:
        connection = self._connections[worker]
        connection.send(("lineage", (index,)))
        return self._reply(connection)

    def graph_parts(self) -> list[tuple[Any, ...]]:
        return self._all("graph_part", [()] * self.size)

    def run_swarm(self, factory: Factory, shares: list[list[Any]], safety: int, graph: bool,
                  deadline: float) -> list[list[Any]]:
        """Each worker runs its share of a swarm's members (`swarm.run_members`)."""
        return self._all("swarm", [(factory, share, safety, graph, deadline)
                                   for share in shares])


__all__ = ["Pool", "ProcessPool", "RestartSearch", "check", "owner"]
