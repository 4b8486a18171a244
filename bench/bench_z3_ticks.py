"""Benchmark: worst cases in ticks with z3 (`bmc_ticks` over the symbolic lockstep twin).

Usage::

    python bench/bench_z3_ticks.py agree [SECONDS] [NAME...]
        # every public scenario that expects a worst case (or the NAMEs): the explicit worst
        # case W under lockstep; z3's exact worst case (SECONDS each, default 60); and z3 BMC
        # for max = W - 1 (a violation, re-measured on the explicit model)
    python bench/bench_z3_ticks.py latency [SECONDS] [PROPERTY]
        # scenarios/latency/nested-latency.toml for repeat = 1, 2, ...: does z3 prove the
        # explicit worst case of PROPERTY (default bounded_latency) as { max = W } within
        # SECONDS (default 60)? Stops at the first repeat it does not.

Each mode prints the time per z3 query (median and 90th percentile). This is a benchmark, not
a test: the machines are shared and noisy.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

import z3

from lockbreak.core import Status
from lockbreak.engines import bmc
from lockbreak.engines.bmc_ticks import check_worst
from lockbreak.engines.liveness import ticks_open_now
from lockbreak.engines.plain_bfs import check as explicit_check
from lockbreak.pipeline import Overrides, load
from model.constructs import first_unmodelled
from model.lockstep import LockstepKernelModel
from model.scenario.load import load_scenario
from model.scenario.types import Scenario
from model.symbolic_lockstep import SymbolicLockstepKernel
from model.world import build_world
from properties.catalogue import KNOWN, specs

REPO = Path(__file__).resolve().parent.parent
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


def queries() -> str:
    if not QUERIES:
        return "no queries"
    ordered = sorted(QUERIES)
    return (f"{len(ordered)} z3 queries: median {statistics.median(ordered) * 1000:.0f} ms, "
            f"90th percentile {ordered[int(0.9 * (len(ordered) - 1))] * 1000:.0f} ms, "
            f"longest {ordered[-1]:.1f} s")


def model_of(scenario: Scenario, prop: str) -> LockstepKernelModel:
    return LockstepKernelModel(build_world(scenario), specs([prop]))


def agree(seconds: float, names: list[str]) -> None:
    paths = ([REPO / "scenarios" / f"{n}.toml" for n in names] if names else
             sorted((REPO / "scenarios").glob("*.toml")))
    print(f"{'scenario':<34} {'property':<16} {'explicit':>9} {'z3 exact':>16} {'s':>5}  "
          f"{'max = W - 1':>22} {'s':>5}")
    for path in paths:
        scenario = load(path, Overrides(timing="lockstep"))
        if first_unmodelled(build_world(scenario)) is not None:
            continue                  # a construct the z3 twin refuses by name
        for prop in ("bounded_wait", "bounded_latency"):
            if prop not in scenario.expect:
                continue
            model = model_of(scenario, prop)
            [explicit] = explicit_check(model)
            shown = (str(explicit.worst) if explicit.worst is not None else
                     "unbounded" if explicit.status is Status.VIOLATED else str(explicit.status))
            t0 = time.perf_counter()
            [exact] = check_worst(SymbolicLockstepKernel(model), {prop: None}, timeout=seconds)
            t1 = time.perf_counter()
            found = str(exact.worst) if exact.status is Status.HOLDS else str(exact.status)
            below = "-"
            if explicit.worst:
                bound = explicit.worst - 1
                [bmc_result] = check_worst(SymbolicLockstepKernel(model, bound + 1),
                                           {prop: bound}, timeout=seconds, induction=False)
                below = str(bmc_result.status)
                if bmc_result.trace is not None:
                    ticks = max(ticks_open_now(model, bmc_result.trace, 0))
                    below += f" {len(bmc_result.trace)} steps, {ticks} ticks"
            print(f"{path.stem:<34} {prop:<16} {shown:>9} {found:>16} {t1 - t0:>5.1f}  "
                  f"{below:>22} {time.perf_counter() - t1:>5.1f}", flush=True)
    print(queries())


def latency(seconds: float, prop: str) -> None:
    path = REPO / "scenarios" / "latency" / "nested-latency.toml"
    repeat = 1
    while True:
        scenario = load_scenario(path, known_properties=KNOWN, params={"repeat": repeat},
                                 timing="lockstep")
        model = model_of(scenario, prop)
        [explicit] = explicit_check(model)
        if explicit.worst is None:
            print(f"repeat {repeat}: explicit says {explicit.status}; stop")
            break
        t0 = time.perf_counter()
        [result] = check_worst(SymbolicLockstepKernel(model, explicit.worst + 1),
                               {prop: explicit.worst}, timeout=seconds)
        took = time.perf_counter() - t0
        print(f"repeat {repeat}: explicit worst {explicit.worst} ticks "
              f"({explicit.stats.states} states); z3 {result.status} in {took:.1f} s: "
              f"{result.detail}", flush=True)
        if result.status is not Status.HOLDS or result.worst != explicit.worst:
            break
        repeat += 1
    print(queries())


def main(argv: list[str]) -> None:
    mode = argv[0] if argv else "agree"
    seconds = float(argv[1]) if len(argv) > 1 else 60.0
    if mode == "agree":
        agree(seconds, argv[2:])
    elif mode == "latency":
        latency(seconds, argv[2] if len(argv) > 2 else "bounded_latency")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
