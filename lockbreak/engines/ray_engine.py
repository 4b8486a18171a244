"""The parallel breadth-first search on a Ray cluster: one restartable actor per partition.

`RayPool` is a `lockbreak.engines.parallel.Pool` whose workers are Ray actors, each holding one
`lockbreak.engines.partition.Partition`. Buckets go from actor to actor through Ray's object
store (an expansion returns one object per owner). Every level's additions to a partition come
back to the coordinator as an object the coordinator owns, so they outlive the actor: when an
actor dies mid-run, Ray restarts it, the coordinator has it rebuild its partition from those
checkpoints and redo the level, and the verdict and counterexample are those of an
uninterrupted run. A partition that keeps edges under symmetry cannot be rebuilt in another
process (each process names an orbit's representative differently), so such a search starts
again from its initial states instead, on the restarted actors.

Ray is an optional dependency (``pip install -e '.[ray]'``); this module imports it lazily.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from lockbreak.core import LockbreakError
from lockbreak.engines.parallel import RestartSearch
from lockbreak.engines.partition import HASH_SEED, Delta, Expansion, Factory, Partition
from lockbreak.engines.swarm import Member, Report, run_members

_RETRIES = 5


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise LockbreakError("--ray needs Ray: pip install -e '.[ray]'") from None
    return ray


def connect(address: str | None) -> None:
    """Join the Ray cluster at ``address``, or start a local Ray instance (None); once."""
    ray = _ray()
    if ray.is_initialized():
        return
    try:
        ray.init(address=address, include_dashboard=False, logging_level="ERROR",
                 log_to_driver=False)
    except (ConnectionError, ValueError, RuntimeError) as err:
        raise LockbreakError(f"--ray {address}: cannot join the Ray cluster: {err}") from None


class _Worker:
    """The actor: a `Partition` and the method calls of the parallel search."""

    def __init__(self) -> None:
        self.partition: Partition | None = None
        self.level = -1     # the level whose receive this actor last finished

    def pid(self) -> int:
        import os
        return os.getpid()

    def finished_level(self) -> int:
        return self.level

    def forget_sent(self) -> None:
        """Forget which states were sent: a level redone must send them again."""
        if self.partition is not None:
            self.partition.sent.clear()

    def start(self, factory: Factory, me: int, workers: int, symmetry: bool,
              graph: bool) -> list[Any]:
        self.partition = Partition(factory, me, workers, symmetry, graph, keep_deltas=True)
        self.level = -1
        return self.partition.init_portable()

    def seed(self, roots: list[Any]) -> Delta | None:
        assert self.partition is not None
        self.level = 0
        return self.partition.seed(roots)

    def restore(self, args: tuple[Any, ...], deltas: list[Any]) -> None:
        """Rebuild in a restarted actor: ``args`` as given to `start`, then every level's
        additions (object refs owned by the coordinator)."""
        self.start(*args)
        assert self.partition is not None
        self.partition.restore(_ray().get(deltas))
        self.level = len(deltas) - 1

    def expand(self, pending: int, deadline: float) -> tuple[Any, ...]:
        assert self.partition is not None
        expansion, buckets = self.partition.expand(pending, deadline)
        return (expansion, *buckets)

    def receive(self, level: int, buckets: list[Any]) -> Delta | None:
        assert self.partition is not None
        if self.level >= level:     # a redone call after a lost reply: already stored
            raise LockbreakError(f"level {level} received twice")
        delta = self.partition.receive(_ray().get(buckets))
        self.level = level
        return delta

    def size(self) -> int:
        assert self.partition is not None
        return self.partition.size()

    def lineage(self, index: int) -> tuple[int, int, int, Any]:
        assert self.partition is not None
        return self.partition.lineage(index)

    def graph_part(self) -> tuple[Any, ...]:
        assert self.partition is not None
        return self.partition.graph_part()


class RayPool:
    """``workers`` restartable Ray actors (``ray.init`` must have run: `connect`).

    ``on_call(phase, level, actors)`` is called after each round of calls is submitted, before
    its replies are awaited; tests use it to kill an actor mid-run. ``restarts`` counts the
    actors rebuilt so far.
    """

    def __init__(self, workers: int,
                 on_call: Callable[[str, int, list[Any]], None] | None = None) -> None:
        if workers < 1:
            raise LockbreakError(f"--workers {workers}: need at least one worker")
        ray = _ray()
        self._ray = ray
        remote = ray.remote(max_restarts=-1, max_task_retries=0, num_cpus=0,
                            runtime_env={"env_vars": HASH_SEED})(_Worker)
        self.actors = [remote.remote() for _ in range(workers)]
        self.on_call = on_call
        self.restarts = 0
        self._args: list[tuple[Any, ...]] = []
        self._deltas: list[list[Any]] = [[] for _ in range(workers)]
        self._level = 0
        self._restorable = True
        # What a call to a dead, or restarting, actor raises.
        errors = ray.exceptions
        self._lost = tuple(getattr(errors, name) for name in
                           ("RayActorError", "ActorUnavailableError") if hasattr(errors, name))

    @property
    def size(self) -> int:
        return len(self.actors)

    def close(self) -> None:
        for actor in self.actors:
            self._ray.kill(actor, no_restart=True)
        self.actors = []

    def _get(self, refs: Sequence[Any], phase: str) -> list[Any]:
        if self.on_call is not None:
            self.on_call(phase, self._level, self.actors)
        return self._ray.get(list(refs))

    def start(self, factory: Factory, symmetry: bool, graph: bool) -> list[list[Any]]:
        n = self.size
        self._args = [(factory, w, n, symmetry, graph) for w in range(n)]
        self._deltas = [[] for _ in range(n)]
        self._level = 0
        self._restorable = not (graph and symmetry)
        for _ in range(_RETRIES):
            try:    # an actor may still be coming back from a death that restarted the search
                return self._ray.get([a.start.remote(*args)
                                      for a, args in zip(self.actors, self._args, strict=True)])
            except self._lost:
                time.sleep(0.5)
        raise LockbreakError("a Ray actor did not come back after it died")

    def seed(self, roots: list[Any]) -> None:
        self._roots = roots
        refs = [a.seed.remote(roots) for a in self.actors]
        self._ray.get(refs)
        for w, ref in enumerate(refs):
            self._deltas[w] = [ref]

    def level(self, pending: int, deadline: float) -> list[Expansion]:
        """One level; an actor that died is restored and the level redone (or, when its
        partition cannot be rebuilt, the search restarted: `RestartSearch`)."""
        lost = False
        for _ in range(_RETRIES):
            try:
                if lost:
                    self._recover()
                return self._level_once(pending, deadline)
            except self._lost:
                lost = True
        raise LockbreakError(f"Ray actors kept dying ({_RETRIES} times in one level); "
                             "check the cluster")

    def _level_once(self, pending: int, deadline: float) -> list[Expansion]:
        n = self.size
        self._level += 1
        level = self._level
        try:
            expanded = [a.expand.options(num_returns=n + 1).remote(pending, deadline)
                        for a in self.actors]
            expansions = self._get([refs[0] for refs in expanded], "expand")
            received = [a.receive.remote(level, [expanded[s][1 + w] for s in range(n)])
                        for w, a in enumerate(self.actors)]
            self._get(received, "receive")
        except BaseException:
            self._level -= 1
            raise
        for w, ref in enumerate(received):
            self._deltas[w].append(ref)
        return list(expansions)

    def _recover(self) -> None:
        """Bring every actor back to the end of the last finished level."""
        self.restarts += 1
        if not self._restorable:
            raise RestartSearch("a Ray actor died; the search starts again")
        ray = self._ray
        for _ in range(_RETRIES):
            try:
                levels = ray.get([a.finished_level.remote() for a in self.actors])
                break
            except self._lost:
                time.sleep(0.5)
        else:
            raise LockbreakError("a Ray actor did not come back after it died")
        done = self._level
        refs = []
        for w, actor in enumerate(self.actors):
            if levels[w] != done:
                # Restarted (empty) or caught between receive and the reply: rebuild it.
                refs.append(actor.restore.remote(self._args[w], self._deltas[w][:done + 1]))
            else:
                refs.append(actor.forget_sent.remote())
        ray.get(refs)   # an actor lost again here: `level` recovers once more

    def _call(self, refs: Callable[[], Any]) -> Any:
        """``ray.get(refs())``, rebuilding actors that died since the last level (a death
        can also land after a level's calls returned) and asking again."""
        lost = False
        for _ in range(_RETRIES):
            try:
                if lost:
                    self._recover()
                return self._ray.get(refs())
            except self._lost:
                lost = True
        raise LockbreakError(f"Ray actors kept dying ({_RETRIES} times); check the cluster")

    def sizes(self) -> list[int]:
        return self._call(lambda: [a.size.remote() for a in self.actors])

    def lineage(self, worker: int, index: int) -> tuple[int, int, int, Any]:
        return self._call(lambda: self.actors[worker].lineage.remote(index))

    def graph_parts(self) -> list[tuple[Any, ...]]:
        return self._call(lambda: [a.graph_part.remote() for a in self.actors])


def run_swarm(factory: Factory, shares: list[list[Member]], safety: int, graph: bool,
              deadline: float) -> list[list[Report]]:
    """Each share of a swarm's members as one Ray task (retried if its worker dies)."""
    ray = _ray()
    task = ray.remote(max_retries=3, num_cpus=1)(run_members)
    return ray.get([task.remote(factory, share, safety, graph, deadline)
                    for share in shares if share])
