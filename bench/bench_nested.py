"""Benchmark: the scaled nested scenario of the 2004 mail, n CPUs, v2.6.12, tas, interleaving.

CPU i runs ``spin_lock(own_i); spin_lock(B); repeat (3) { work(); cond_resched_lock(B); }
spin_unlock(B); spin_unlock(own_i);``. For each n, a fresh process loads the scenario through
the real scenario loader, checks every property with the explicit engine, and prints distinct
states, states per second and the growth of peak resident memory per stored state (all of
lockbreak's memory: engine store, edges for deadlock_free, the model's caches).

Usage::

    python bench/bench_nested.py            # n = 2, 3, 4
    python bench/bench_nested.py 2 3        # chosen n
    python bench/bench_nested.py --safety 4 # only the safety properties (no state graph kept)

This is a benchmark, not a test: the machines are shared and noisy, so compare figures taken
in one run.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCENARIO = """\
name = "nested-scaled-{n}"
description = "{n} CPUs, each nesting its own lock and the shared B, breaking B in a loop"
[kernel]
version = "v2.6.12"
lock = "tas"
timing = "interleaving"
[locks]
{locks}
B = "spin"
{cpus}
"""

CPU = '''[[cpu]]
code = """
spin_lock(own{i});
spin_lock(B);
repeat (3) {{
    work();
    cond_resched_lock(B);
}}
spin_unlock(B);
spin_unlock(own{i});
"""
'''


def scenario_text(n: int) -> str:
    """The TOML of the scaled nested scenario with ``n`` CPUs."""
    locks = "\n".join(f'own{i} = "spin"' for i in range(n))
    cpus = "\n".join(CPU.format(i=i) for i in range(n))
    return SCENARIO.format(n=n, locks=locks, cpus=cpus)


def measure(n: int, safety_only: bool) -> dict[str, float]:
    """Check the n-CPU scenario in this process and return its figures."""
    from lockbreak.cli.checking import Overrides, load, run_scenario
    from lockbreak.core import Budget, PropertyKind, SilentReporter
    from properties.catalogue import CATALOGUE

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"nested-scaled-{n}.toml"
        path.write_text(scenario_text(n))
        scenario = load(path, Overrides())
    names = [p.name for p in CATALOGUE if not safety_only or p.kind is PropertyKind.SAFETY]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    run = run_scenario(scenario, properties=names, budget=Budget(), reporter=SilentReporter())
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    states = run.verdicts[0].result.stats.states
    return {"n": n, "states": states, "seconds": seconds, "states_per_s": states / seconds,
            "bytes_per_state": (peak - before) * 1024 / states,
            "verdicts": {v.result.property: v.result.status.value for v in run.verdicts}}


def main(argv: list[str]) -> None:
    if argv and argv[0] == "--child":
        print(json.dumps(measure(int(argv[1]), argv[2] == "safety")))
        return
    safety_only = "--safety" in argv
    sizes = [int(a) for a in argv if a.isdigit()] or [2, 3, 4]
    kind = "safety" if safety_only else "all"
    print(f"scaled nested scenario, v2.6.12, tas, interleaving, {kind} properties")
    print(f"{'n':>2} {'states':>12} {'seconds':>9} {'states/s':>10} {'bytes/state':>12}")
    for n in sizes:
        out = subprocess.run([sys.executable, __file__, "--child", str(n), kind],
                             capture_output=True, text=True, check=True)
        r = json.loads(out.stdout)
        print(f"{r['n']:>2} {r['states']:>12,} {r['seconds']:>9.2f} {r['states_per_s']:>10,.0f} "
              f"{r['bytes_per_state']:>12.0f}")


if __name__ == "__main__":
    main(sys.argv[1:])
