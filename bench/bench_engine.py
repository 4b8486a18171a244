"""Micro-benchmark of the explicit engine alone: states per second and bytes per state.

The model is `toys.Precomputed` over a many-counter `toys.Counter`: its ``successors`` is one
dict lookup returning prebuilt tuples of already-existing states, so the time measured is the
engine's and so are the bytes (tracemalloc sees only what the engine allocates).

Run from the repository root::

    python bench/bench_engine.py                  # 262,144 states, 1,376,256 transitions
    python bench/bench_engine.py --limit 9 --agents 5
    python -m pytest bench/bench_engine.py -m bench -s
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

import pytest

# bench/ and tests/ are not packages: reach the toys (and an uninstalled lockbreak) by path.
ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from toys import Counter, Precomputed  # noqa: E402

from lockbreak.engines import check  # noqa: E402

SAFETY_ONLY = ["in_range", "far_apart"]     # no edges stored: the set-based hot loop
WITH_GRAPH = None                           # adds can_finish: edges stored, graph analysis


def measure(model: Precomputed, properties: list[str] | None) -> dict[str, float]:
    """Time one check and, in a second run under tracemalloc, its peak memory."""
    began = time.perf_counter()
    result = check(model, properties=properties)[0]
    wall = time.perf_counter() - began
    stats = result.stats
    tracemalloc.start()
    check(model, properties=properties)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"states": stats.states, "transitions": stats.transitions,
            "explore_s": stats.seconds, "wall_s": wall,
            "states_per_s": stats.states / stats.seconds,
            "transitions_per_s": stats.transitions / stats.seconds,
            "bytes_per_state": peak / stats.states}


def report(name: str, m: dict[str, float]) -> str:
    return (f"{name:<12} {m['states']:>10,.0f} states {m['transitions']:>11,.0f} transitions  "
            f"explore {m['explore_s']:6.2f} s = {m['states_per_s']:>9,.0f} states/s "
            f"({m['transitions_per_s']:>10,.0f} transitions/s)  total {m['wall_s']:6.2f} s  "
            f"peak {m['bytes_per_state']:5.1f} bytes/state")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=7, help="counter limit (default 7)")
    parser.add_argument("--agents", type=int, default=6, help="number of counters (default 6)")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    model = Precomputed(Counter(limit=args.limit, agents=args.agents))
    print(f"precomputed Counter(limit={args.limit}, agents={args.agents}) "
          f"in {time.perf_counter() - began:.1f} s")
    print(report("safety only", measure(model, SAFETY_ONLY)))
    print(report("with graph", measure(model, WITH_GRAPH)))


@pytest.mark.bench
def test_engine_alone_is_fast_and_compact() -> None:
    model = Precomputed(Counter(limit=5, agents=6))     # 46,656 states
    m = measure(model, SAFETY_ONLY)
    print("\n" + report("safety only", m))
    assert m["states_per_s"] > 300_000       # leaves a 150,000 states/s model most of the time
    assert m["bytes_per_state"] < 150


if __name__ == "__main__":
    main()
