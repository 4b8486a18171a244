"""Benchmark: fair liveness (starvation_free, livelock_free) on the scaled nested scenario
(bench_nested.py) for n CPUs, the plain engine against the vectorised ones.

Each run decides both FAIR properties of the n-CPU scenario (v2.6.12, tas, interleaving) in a
fresh process and prints the states of the graph analysed, wall and CPU seconds, the peak
resident memory of the process and its growth during the check per state analysed. Modes:

    plain      the plain engine: a Python state graph (lockbreak.engines.liveness)
    columns    the frontier engine's graph as numpy columns (lockbreak.engines.fair_graph)
    quotient   the same on the symmetry quotient, renamings on the edges
               (lockbreak.engines.fair_symmetry; what ``lockbreak check`` does by default)

A run that does not finish within ``--limit`` seconds (default 600) is reported as such; a
mode is skipped for larger n once it has timed out. Usage::

    python bench/bench_fairness.py                          # n = 3, 4, every mode
    python bench/bench_fairness.py --limit 120 3 4 5
    python bench/bench_fairness.py --modes quotient 5

This is a benchmark, not a test: the machine is shared and noisy, so compare figures taken in
one run.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_nested import scenario_text

MODES = ("plain", "columns", "quotient")


def measure(n: int, mode: str) -> dict[str, Any]:
    """Decide the n-CPU scenario's FAIR properties under ``mode``."""
    from lockbreak.cli.checking import Overrides, load
    from lockbreak.core import PropertyKind
    from lockbreak.engines import explicit, fair_graph
    from model.kernel import KernelModel
    from model.world import build_world
    from properties.catalogue import of_kind, specs

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"nested-scaled-{n}.toml"
        path.write_text(scenario_text(n))
        scenario = load(path, Overrides())
    model = KernelModel(build_world(scenario), specs(of_kind(PropertyKind.FAIR)))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start, cpu = time.perf_counter(), time.process_time()
    if mode == "plain":
        results = explicit.check(model)
    else:
        results = fair_graph.check(model, symmetry=mode == "quotient")
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"n": n, "mode": mode, "states": max(r.stats.states for r in results),
            "seconds": seconds, "cpu": cpu, "peak_bytes": peak * 1024,
            "grown_bytes": (peak - before) * 1024,
            "verdicts": {r.property: r.status.value for r in results}}


def main(argv: list[str]) -> None:
    if argv and argv[0] == "--child":
        print(json.dumps(measure(int(argv[1]), argv[2])))
        return
    options = {"--limit": "600", "--modes": ",".join(MODES)}
    sizes = []
    words = iter(argv)
    for word in words:
        if word in options:
            options[word] = next(words)
        else:
            sizes.append(int(word))
    limit = float(options["--limit"])
    modes = options["--modes"].split(",")
    sizes = sizes or [3, 4]
    print("scaled nested scenario, v2.6.12, tas, interleaving, repeat 3, starvation_free and "
          f"livelock_free; {limit:g} s per run")
    print(f"{'n':>2} {'mode':>9} {'states':>12} {'wall s':>8} {'cpu s':>8} {'peak MB':>8} "
          f"{'B/state':>8}  verdicts")
    timed_out: set[str] = set()
    for n in sizes:
        for mode in modes:
            if mode in timed_out:
                print(f"{n:>2} {mode:>9} {'(skipped: timed out at a smaller n)':>45}")
                continue
            try:
                out = subprocess.run([sys.executable, __file__, "--child", str(n), mode],
                                     capture_output=True, text=True, check=True, timeout=limit)
            except subprocess.TimeoutExpired:
                timed_out.add(mode)
                print(f"{n:>2} {mode:>9} {'(not finished in ' + format(limit, 'g') + ' s)':>45}")
                continue
            r = json.loads(out.stdout)
            verdicts = ",".join(f"{k}={v}" for k, v in r["verdicts"].items())
            print(f"{n:>2} {mode:>9} {r['states']:>12,} {r['seconds']:>8.2f} {r['cpu']:>8.2f} "
                  f"{r['peak_bytes'] / 2**20:>8.0f} {r['grown_bytes'] / r['states']:>8.0f}  "
                  f"{verdicts}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
