"""Benchmark: the parallel breadth-first search (``check --workers``, ``--ray``) against the
sequential explicit engine on the scaled nested scenario (`bench_nested.py`), safety properties.

For each n it prints, for the sequential engine, 1 and 2 worker processes and 2 Ray actors
(when Ray is installed), the distinct states, the seconds and the states per second, and
checks that every verdict is the sequential one.

Usage::

    python bench/bench_parallel.py          # n = 3
    python bench/bench_parallel.py 3 4      # chosen n
    python bench/bench_parallel.py --deadlock 3   # also deadlock_free (edges gathered)

This is a benchmark, not a test: the machine is shared and noisy, so compare figures taken in
one run, and say how loaded the machine was (the load average is printed).
"""

from __future__ import annotations

import functools
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_nested import scenario_text

from lockbreak.core import PropertyKind
from lockbreak.engines import parallel, plain_bfs
from lockbreak.engines.parallel import ProcessPool
from lockbreak.pipeline import Overrides, load
from lockbreak.pipeline.workers import rebuild_model
from model.lockstep import kernel_model
from model.world import build_world
from properties.catalogue import CATALOGUE, specs


def run(n: int, deadlock: bool) -> None:
    kinds = (PropertyKind.SAFETY, PropertyKind.CAN_FINISH) if deadlock else (PropertyKind.SAFETY,)
    names = tuple(p.name for p in CATALOGUE if p.kind in kinds)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"nested-scaled-{n}.toml"
        path.write_text(scenario_text(n))
        scenario = load(path, Overrides())
        factory = functools.partial(rebuild_model, str(path), Overrides(), None,
                                    scenario.sha256, names, "interleaving")
        model = kernel_model(build_world(scenario), specs(names))
        symmetry = bool(model.canonical_groups)
        t = time.perf_counter()
        want = plain_bfs.check(model, symmetry=symmetry)
        rows = [("sequential", want, time.perf_counter() - t)]
        for workers in (1, 2):
            with ProcessPool(workers) as pool:
                t = time.perf_counter()
                got = parallel.check(kernel_model(build_world(scenario), specs(names)), factory,
                                     pool, symmetry=symmetry)
                rows.append((f"{workers} worker{'s' if workers > 1 else ''}", got,
                             time.perf_counter() - t))
        try:
            import ray
        except ImportError:
            ray = None
        if ray is not None:
            from lockbreak.engines.ray_engine import RayPool
            ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR",
                     log_to_driver=False)
            pool = RayPool(2)
            t = time.perf_counter()
            got = parallel.check(kernel_model(build_world(scenario), specs(names)), factory, pool,
                                 symmetry=symmetry)
            rows.append(("ray, 2 actors", got, time.perf_counter() - t))
            pool.close()
            ray.shutdown()
    verdicts = [(r.property, r.status) for r in want]
    for label, results, seconds in rows:
        same = [(r.property, r.status) for r in results] == verdicts
        states = max(r.stats.states for r in results)
        print(f"{n:>2} {label:<14} {states:>11,} {seconds:>9.2f} {states / seconds:>10,.0f}  "
              f"{'same verdicts' if same else 'VERDICTS DIFFER'}", flush=True)


def main(argv: list[str]) -> None:
    deadlock = "--deadlock" in argv
    sizes = [int(a) for a in argv if a.isdigit()] or [3]
    print(f"scaled nested scenario, v2.6.12, tas, repeat 3; properties: safety"
          f"{' and deadlock_free' if deadlock else ''}; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    print(f"{'n':>2} {'engine':<14} {'states':>11} {'seconds':>9} {'states/s':>10}")
    for n in sizes:
        run(n, deadlock)


if __name__ == "__main__":
    main(sys.argv[1:])
