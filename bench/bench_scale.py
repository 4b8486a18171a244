"""Benchmark: the scaled nested scenario (bench_nested.py) for n = 2..6 CPUs, with and without
the vectorised engine's reductions.

Each run checks the safety properties (mutual_exclusion, no_sleep_in_atomic,
break_return_truth, no_stale_use, no_spurious_break) of the n-CPU scenario in a fresh process
and prints distinct states stored, wall and CPU seconds, states per CPU second (the machine
is shared, so CPU time is the steadier figure) and the growth of peak resident memory per
stored state. Modes:

    plain      the plain BFS engine (lockbreak.engines.plain_bfs), no reduction
    frontier   the vectorised engine (lockbreak.engines.vectorised_bfs), no reduction
    sym        frontier + symmetry up to renaming the private locks own{i}
    por        frontier + partial-order reduction
    sym+por    frontier + both (what ``lockbreak check --property ...`` does by default)

A run that does not finish within ``--limit`` seconds (default 600) is reported as such; a
mode is skipped for larger n once it has timed out. Usage::

    python bench/bench_scale.py                       # n = 2..6, every mode
    python bench/bench_scale.py --modes sym+por 6     # one mode, one size
    python bench/bench_scale.py --limit 120 2 3 4
    python bench/bench_scale.py --deadlock 4          # deadlock_free too
                                                      # (por modes then run unreduced)

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

MODES = ("plain", "frontier", "sym", "por", "sym+por")


def measure(n: int, mode: str, deadlock: bool = False) -> dict[str, Any]:
    """Check the n-CPU scenario's safety properties (and deadlock_free) under ``mode``."""
    from lockbreak.core import PropertyKind
    from lockbreak.engines import plain_bfs, vectorised_bfs
    from lockbreak.pipeline import Overrides, load
    from model.kernel import KernelModel
    from model.world import build_world
    from properties.catalogue import of_kind, specs

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"nested-scaled-{n}.toml"
        path.write_text(scenario_text(n))
        scenario = load(path, Overrides())
    kinds = (PropertyKind.SAFETY, PropertyKind.CAN_FINISH) if deadlock else (PropertyKind.SAFETY,)
    model = KernelModel(build_world(scenario), specs(of_kind(*kinds)))
    symmetry, por = "sym" in mode, "por" in mode
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start, cpu = time.perf_counter(), time.process_time()
    if mode == "plain":
        results = plain_bfs.check(model)
    else:
        results = vectorised_bfs.check(model, symmetry=symmetry, por=por)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    states = max(r.stats.states for r in results)
    return {"n": n, "mode": mode, "states": states, "seconds": seconds, "cpu": cpu,
            "states_per_s": states / cpu, "bytes_per_state": (peak - before) * 1024 / states,
            "verdicts": {r.property: r.status.value for r in results}}


def main(argv: list[str]) -> None:
    if argv and argv[0] == "--child":
        print(json.dumps(measure(int(argv[1]), argv[2], argv[3:] == ["--deadlock"])))
        return
    options = {"--limit": "600", "--modes": ",".join(MODES)}
    deadlock = "--deadlock" in argv
    sizes = []
    words = iter(a for a in argv if a != "--deadlock")
    for word in words:
        if word in options:
            options[word] = next(words)
        else:
            sizes.append(int(word))
    limit = float(options["--limit"])
    modes = options["--modes"].split(",")
    sizes = sizes or [2, 3, 4, 5, 6]
    print("scaled nested scenario, v2.6.12, tas, interleaving, repeat 3, safety properties"
          f"{' and deadlock_free' if deadlock else ''}; {limit:g} s per run")
    print(f"{'n':>2} {'mode':>8} {'states':>12} {'wall s':>8} {'cpu s':>8} {'states/s':>10} "
          f"{'bytes/state':>12}  verdicts")
    timed_out: set[str] = set()
    for n in sizes:
        for mode in modes:
            if mode in timed_out:
                print(f"{n:>2} {mode:>8} {'(skipped: timed out at a smaller n)':>45}")
                continue
            try:
                child = [sys.executable, __file__, "--child", str(n), mode]
                out = subprocess.run(child + ["--deadlock"] * deadlock,
                                     capture_output=True, text=True, check=True, timeout=limit)
            except subprocess.TimeoutExpired:
                timed_out.add(mode)
                print(f"{n:>2} {mode:>8} {'(not finished in ' + format(limit, 'g') + ' s)':>45}")
                continue
            r = json.loads(out.stdout)
            verdicts = ",".join(sorted({v for v in r["verdicts"].values()}))
            print(f"{n:>2} {mode:>8} {r['states']:>12,} {r['seconds']:>8.2f} {r['cpu']:>8.2f} "
                  f"{r['states_per_s']:>10,.0f} {r['bytes_per_state']:>12.0f}  {verdicts}",
                  flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
