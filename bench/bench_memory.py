"""Benchmark: memory per state of each store (exact, hashcompact, bitstate) on the scaled nested
scenario (bench/bench_nested.py: n CPUs, v2.6.12, tas, repeat 3).

Each measurement runs in a fresh process: it loads the scenario, warms the kernel model's
successor caches with a first exploration into a 1 MiB Bloom filter (so that the model's own
memory, the same for every store, is not counted), then checks the properties in the chosen
store and prints the growth of peak resident memory per stored state, the seconds, the
verdicts and the probability that a state was missed. ``--no-warm`` skips the warm-up (for
n = 4, where it would double the time): the figure then includes the model's caches.

Usage::

    python bench/bench_memory.py                 # n = 3, every store (bitstate 2**26, 2**30)
    python bench/bench_memory.py --graph --store exact,hashcompact 3   # and deadlock_free
    python bench/bench_memory.py --no-warm --store hashcompact,bitstate --bits 32 4

This is a benchmark, not a test: the machines are shared and noisy.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from bench_nested import scenario_text

STORES = ("exact", "hashcompact", "bitstate")


def resident_kib() -> int:
    """Resident memory now, in KiB (the peak is ``ru_maxrss``; after the warm-up the two
    differ, and what the measured run adds is counted from now)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() // 1024


def measure(n: int, store: str, log2_bits: int, graph: bool, warm: bool) -> dict[str, Any]:
    """Check the n-CPU scenario in this process with ``store`` and return its figures."""
    from lockbreak.core import PropertyKind
    from lockbreak.engines.compaction import Storage
    from lockbreak.engines.plain_bfs import check
    from model.lockstep import kernel_model
    from model.scenario.load import load_scenario
    from model.world import build_world
    from properties.catalogue import KNOWN, of_kind, specs

    kinds = (PropertyKind.SAFETY, PropertyKind.CAN_FINISH) if graph else (PropertyKind.SAFETY,)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"nested-scaled-{n}.toml"
        path.write_text(scenario_text(n))
        world = build_world(load_scenario(path, known_properties=KNOWN))
    model = kernel_model(world, specs(of_kind(*kinds)))
    if warm:
        check(model, storage=Storage("bitstate", log2_bits=23),
              properties=list(of_kind(PropertyKind.SAFETY)))
    before = resident_kib()
    start = time.perf_counter()
    results = check(model, storage=Storage(store, log2_bits=log2_bits))
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    states = max(r.stats.states for r in results)
    return {"n": n, "store": store, "states": states, "seconds": seconds,
            "bytes_per_state": (peak - before) * 1024 / states,
            "omission": max((r.omission or 0.0) for r in results),
            "verdicts": {r.property: r.status.value for r in results}}


def main(argv: list[str]) -> None:
    if argv and argv[0] == "--child":
        n, store, bits, graph, warm = argv[1:]
        print(json.dumps(measure(int(n), store, int(bits), graph == "1", warm == "1")))
        return
    graph = "--graph" in argv
    warm = "--no-warm" not in argv
    bits = argv[argv.index("--bits") + 1] if "--bits" in argv else "26,30"
    stores = argv[argv.index("--store") + 1].split(",") if "--store" in argv else list(STORES)
    sizes = [int(a) for a in argv if a.isdigit()] or [3]
    print(f"scaled nested scenario, v2.6.12, tas, repeat 3; properties: safety"
          f"{' and deadlock_free' if graph else ''}; "
          f"{'warm model caches' if warm else 'model caches counted'}")
    print(f"{'n':>2} {'store':<18} {'states':>11} {'seconds':>8} {'bytes/state':>12} "
          f"{'P(missed)':>10}  verdicts")
    for n in sizes:
        for store in stores:
            for log2_bits in bits.split(",") if store == "bitstate" else ["30"]:
                out = subprocess.run([sys.executable, __file__, "--child", str(n), store,
                                      log2_bits, "1" if graph else "0", "1" if warm else "0"],
                                     capture_output=True, text=True, check=True)
                r = json.loads(out.stdout)
                verdicts = ", ".join(f"{k} {v}" for k, v in r["verdicts"].items()
                                     if v not in ("vacuous",))
                name = store + (f" 2**{log2_bits}" if store == "bitstate" else "")
                print(f"{r['n']:>2} {name:<18} {r['states']:>11,} {r['seconds']:>8.1f} "
                      f"{r['bytes_per_state']:>12.1f} {r['omission']:>10.2g}  {verdicts}",
                      flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
