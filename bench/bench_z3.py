"""Benchmark: the z3 engine (BMC and k-induction over the symbolic twin of the kernel model).

Usage::

    python bench/bench_z3.py depth [N] [SECONDS]   # BMC depth reached in SECONDS (default 60)
                                                   # on the scaled nested scenario with N CPUs
                                                   # (default 8, see bench_nested.py)
    python bench/bench_z3.py public [SECONDS]      # every public scenario: z3 verdicts (BMC and
                                                   # k-induction, --depth 60, SECONDS each,
                                                   # default 30) beside the explicit engine's
    python bench/bench_z3.py agree                 # BMC lengths = BFS lengths on every public
                                                   # scenario (the slow one CI skips included)
    python bench/bench_z3.py prove [N] [SECONDS]   # the scaled nested scenario with N CPUs
                                                   # (default 3): mutual_exclusion and
                                                   # no_sleep_in_atomic proved by k-induction
                                                   # with the mined invariant, beside the
                                                   # explicit engine cut at as many states as
                                                   # the candidates were mined from

Each mode prints the time per z3 query (median and 90th percentile). This is a benchmark, not
a test: the machines are shared and noisy.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import z3

from lockbreak.core import Budget, PropertyKind, Status
from lockbreak.engines import bmc
from lockbreak.engines.plain_bfs import check as explicit_check
from lockbreak.pipeline import Overrides, load
from model.constructs import first_unmodelled
from model.kernel import KernelModel
from model.symbolic import SymbolicKernel
from model.world import build_world
from properties.catalogue import CATALOGUE, specs

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_nested import scenario_text

REPO = Path(__file__).resolve().parent.parent
SAFETY = [p.name for p in CATALOGUE if p.kind is PropertyKind.SAFETY]
QUERIES: list[float] = []
_query = bmc.Search._query


def _timed(self: Any, solver: z3.Solver, assumptions: list[z3.BoolRef],
           cap: float | None = None) -> bool | None:
    t0 = time.perf_counter()
    try:
        return _query(self, solver, assumptions, cap)
    finally:
        QUERIES.append(time.perf_counter() - t0)


bmc.Search._query = _timed  # type: ignore[method-assign]


def model_of(path: Path) -> KernelModel:
    return KernelModel(build_world(load(path, Overrides())), specs(SAFETY))


def queries() -> str:
    if not QUERIES:
        return "no queries"
    ordered = sorted(QUERIES)
    return (f"{len(ordered)} z3 queries: median {statistics.median(ordered) * 1000:.0f} ms, "
            f"90th percentile {ordered[int(0.9 * (len(ordered) - 1))] * 1000:.0f} ms")


def depth(n: int, seconds: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"nested-scaled-{n}.toml"
        path.write_text(scenario_text(n))
        model = model_of(path)
    t0 = time.perf_counter()
    twin = SymbolicKernel(model)
    built = time.perf_counter() - t0
    results = bmc.check(twin, depth=10_000, timeout=seconds, induction=False)
    reached = max(r.stats.depth for r in results)
    print(f"nested scenario, {n} CPUs, v2.6.12 tas: relation built in {built:.1f} s; "
          f"BMC reached depth {reached} in {seconds:g} s (all five safety properties)")
    for r in results:
        print(f"  {r.property:<20} {r.status.value:<10} {r.detail}")
    print(queries())


def public(seconds: float) -> None:
    print(f"{'scenario':<32} {'property':<20} {'explicit':<9} {'z3':<10} {'s':>5}  how")
    for path in sorted((REPO / "scenarios").glob("*.toml")):
        model = model_of(path)
        if first_unmodelled(model.world) is not None:
            continue                  # a construct the z3 twin refuses by name
        explicit = {r.property: r for r in explicit_check(model)}
        t0 = time.perf_counter()
        results = bmc.check(SymbolicKernel(model), depth=60, timeout=seconds)
        took = time.perf_counter() - t0
        for r in results:
            print(f"{path.stem:<32} {r.property:<20} {explicit[r.property].status.value:<9} "
                  f"{r.status.value:<10} {took:>5.0f}  {r.detail}", flush=True)
    print(queries())


def agree() -> None:
    for path in sorted((REPO / "scenarios").glob("*.toml")):
        model = model_of(path)
        if first_unmodelled(model.world) is not None:
            continue                  # a construct the z3 twin refuses by name
        lengths = {r.property: len(r.trace) for r in explicit_check(model)
                   if r.status is Status.VIOLATED and r.trace is not None}
        t0 = time.perf_counter()
        found = {r.property: len(r.trace) for r in bmc.check(
            SymbolicKernel(model), depth=max(lengths.values(), default=8), induction=False)
            if r.status is Status.VIOLATED and r.trace is not None}
        verdict = "agree" if found == lengths else f"DISAGREE: z3 {found}"
        print(f"{path.stem:<32} {time.perf_counter() - t0:6.1f} s  BFS {lengths}  {verdict}",
              flush=True)
    print(queries())


def prove(n: int, seconds: float) -> None:
    names = ["mutual_exclusion", "no_sleep_in_atomic"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"nested-scaled-{n}.toml"
        path.write_text(scenario_text(n))
        model = KernelModel(build_world(load(path, Overrides())), specs(names))
    t0 = time.perf_counter()
    twin = SymbolicKernel(model)
    candidates = len(twin.candidate_invariants(0))
    mined = twin._candidates
    assert mined is not None
    print(f"nested scenario, {n} CPUs, v2.6.12 tas: relation and {candidates} candidates from "
          f"{mined.samples:,} sample states in {time.perf_counter() - t0:.1f} s", flush=True)
    t0 = time.perf_counter()
    cut = explicit_check(model, properties=names, budget=Budget(max_states=mined.samples))
    print(f"explicit engine cut at {mined.samples:,} states ({time.perf_counter() - t0:.1f} s): "
          + ", ".join(f"{r.property} {r.status.value}" for r in cut), flush=True)
    t0 = time.perf_counter()
    results = bmc.check(twin, depth=11, timeout=seconds)
    print(f"z3 in {time.perf_counter() - t0:.1f} s:")
    for r in results:
        print(f"  {r.property:<20} {r.status.value:<10} {r.detail}")
    print(queries())


def main(argv: list[str]) -> None:
    mode = argv[0] if argv else "depth"
    if mode == "depth":
        depth(int(argv[1]) if len(argv) > 1 else 8, float(argv[2]) if len(argv) > 2 else 60)
    elif mode == "public":
        public(float(argv[1]) if len(argv) > 1 else 30)
    elif mode == "agree":
        agree()
    elif mode == "prove":
        prove(int(argv[1]) if len(argv) > 1 else 3, float(argv[2]) if len(argv) > 2 else 1800)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
