"""Benchmark: the scaled nested scenario of the 2004 mail, n CPUs, v2.6.12, tas.

CPU i runs ``spin_lock(own_i); spin_lock(B); repeat (R) { work(); cond_resched_lock(B); }
spin_unlock(B); spin_unlock(own_i);`` (R = 3 unless ``--repeat``). For each n, a fresh process
loads the scenario through the real scenario loader, checks the chosen properties with the
explicit engine, and prints distinct states, states per second and the growth of peak
resident memory per stored state (all of lockbreak's memory: engine store, edges for
deadlock_free, the model's caches).

Usage::

    python bench/bench_nested.py            # n = 2, 3, 4: safety and deadlock_free
    python bench/bench_nested.py 2 3        # chosen n
    python bench/bench_nested.py --safety 4 # only the safety properties (no state graph kept)
    python bench/bench_nested.py --all 3    # every property, fairness and ticks included
    python bench/bench_nested.py --timing lockstep --repeat 16 --all 2

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
from typing import Any

SCENARIO = """\
name = "nested-scaled-{n}"
description = "{n} CPUs, each nesting its own lock and the shared B, breaking B in a loop"
[kernel]
version = "v2.6.12"
lock = "tas"
timing = "{timing}"
[locks]
{locks}
B = "spin"
{cpus}
"""

CPU = '''[[cpu]]
code = """
spin_lock(own{i});
spin_lock(B);
repeat ({repeat}) {{
    work();
    cond_resched_lock(B);
}}
spin_unlock(B);
spin_unlock(own{i});
"""
'''


def scenario_text(n: int, repeat: int = 3, timing: str = "interleaving") -> str:
    """The TOML of the scaled nested scenario with ``n`` CPUs."""
    locks = "\n".join(f'own{i} = "spin"' for i in range(n))
    cpus = "\n".join(CPU.format(i=i, repeat=repeat) for i in range(n))
    return SCENARIO.format(n=n, locks=locks, cpus=cpus, timing=timing)


KINDS = {
    "safety": ("safety",),
    "state": ("safety", "can_finish"),
    "all": ("safety", "can_finish", "fair", "worst"),
}


def measure(n: int, kind: str, repeat: int, timing: str) -> dict[str, Any]:
    """Check the n-CPU scenario in this process and return its figures."""
    from lockbreak.pipeline import CheckRequest, Overrides, check_scenario, load
    from properties.catalogue import CATALOGUE

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"nested-scaled-{n}.toml"
        path.write_text(scenario_text(n, repeat, timing))
        scenario = load(path, Overrides())
    names = [p.name for p in CATALOGUE if p.kind.value in KINDS[kind]]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    run = check_scenario(scenario, CheckRequest(properties=tuple(names)))
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # The largest graph explored (bounded_* are measured on a separate lockstep graph).
    states = max(v.result.stats.states for v in run.verdicts)
    return {"n": n, "states": states, "seconds": seconds, "states_per_s": states / seconds,
            "bytes_per_state": (peak - before) * 1024 / states,
            "verdicts": {v.result.property: v.result.status.value for v in run.verdicts},
            "worst": {v.result.property: v.result.worst for v in run.verdicts
                      if v.result.worst is not None}}


def main(argv: list[str]) -> None:
    if argv and argv[0] == "--child":
        n, kind, repeat, timing = argv[1:]
        print(json.dumps(measure(int(n), kind, int(repeat), timing)))
        return
    kind = "safety" if "--safety" in argv else "all" if "--all" in argv else "state"
    repeat = int(argv[argv.index("--repeat") + 1]) if "--repeat" in argv else 3
    timing = argv[argv.index("--timing") + 1] if "--timing" in argv else "interleaving"
    options = {str(repeat)} if "--repeat" in argv else set()
    sizes = [int(a) for a in argv if a.isdigit() and a not in options] or [2, 3, 4]
    print(f"scaled nested scenario, v2.6.12, tas, {timing}, repeat {repeat}, "
          f"properties: {', '.join(KINDS[kind])}")
    print(f"{'n':>2} {'states':>12} {'seconds':>9} {'states/s':>10} {'bytes/state':>12}  worst")
    for n in sizes:
        out = subprocess.run([sys.executable, __file__, "--child", str(n), kind, str(repeat),
                              timing], capture_output=True, text=True, check=True)
        r = json.loads(out.stdout)
        print(f"{r['n']:>2} {r['states']:>12,} {r['seconds']:>9.2f} {r['states_per_s']:>10,.0f} "
              f"{r['bytes_per_state']:>12.0f}  {r['worst'] or ''}")


if __name__ == "__main__":
    main(sys.argv[1:])
