"""Benchmark: fair liveness with strong fairness on `*` guards (lockbreak.engines.streett).

A scenario of n CPUs (v5.17, qspinlock, preempt full): cpu0 walks a list under a lock with an
open-coded break (`while (*)`, `spin_needbreak() || need_resched()`), the others walk a list
under the same lock (`while (*)`) or take it in a `do { } while (*)` loop. For each n it prints
the graph's size and the seconds of each part of the fairness analysis on the plain engine's
graph: building the graph, labelling its edges with their guards, and each FAIR property under
weak fairness only (`Analysis.fair`) and under strong fairness on the guards as well
(`liveness.strongly_fair`, what ``lockbreak check`` decides). Usage::

    python bench/bench_streett.py          # n = 2, 3
    python bench/bench_streett.py 2 3 4

This is a benchmark, not a test: the machine is shared and noisy, so compare figures taken in
one run.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from lockbreak.engines.choice_guards import guarded_graph
from lockbreak.engines.liveness import Analysis, labelled_graph, strongly_fair
from model.kernel import KernelModel
from model.scenario.load import load_scenario
from model.world import build_world
from properties.catalogue import KNOWN, specs

BREAKER = """
spin_lock(A);
while (*) {
  work();
  if (spin_needbreak(A) || need_resched()) {
    spin_unlock(A);
    cond_resched();
    spin_lock(A);
  }
}
spin_unlock(A);
"""
WALKER = "spin_lock(A);\nwhile (*)\n  work();\nspin_unlock(A);"
RETAKER = "do {\n  spin_lock(A);\n  work();\n  spin_unlock(A);\n} while (*);"


def scenario(n: int) -> str:
    """The n-CPU scenario: the breaker, then walkers and retakers in turn."""
    lines = ['name = "streett"', "[kernel]", 'version = "v5.17"', 'preempt = "full"',
             "[locks]", 'A = "spin"', "[[cpu]]", "wakeups = 1", f'code = """{BREAKER}"""']
    for i in range(1, n):
        lines += ["[[cpu]]", f'code = """\n{WALKER if i % 2 else RETAKER}\n"""']
    return "\n".join(lines) + "\n"


def measure(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "streett.toml"
        path.write_text(scenario(n))
        world = build_world(load_scenario(path, known_properties=KNOWN))
    model = KernelModel(world, specs(["starvation_free", "livelock_free"]))
    start = time.perf_counter()
    graph = labelled_graph(model)
    built = time.perf_counter() - start
    analysis = Analysis(model, graph)
    start = time.perf_counter()
    guards = guarded_graph(analysis)
    labelled = time.perf_counter() - start
    assert guards is not None
    print(f"n={n}: {len(graph.states):,} states, {len(graph.src):,} edges "
          f"({int((guards.guard >= 0).sum()):,} take a guard); graph {built:.2f} s, "
          f"guard labels {labelled:.2f} s")
    for bit, name in enumerate(model.property_names):
        start = time.perf_counter()
        weak = analysis.fair(bit)
        weak_s = time.perf_counter() - start
        start = time.perf_counter()
        strong = strongly_fair(analysis, bit, guards)
        strong_s = time.perf_counter() - start
        print(f"  {name}: weak fairness only {weak.status.value} {weak_s:.2f} s; "
              f"strong on guards {strong.status.value} {strong_s:.2f} s")


if __name__ == "__main__":
    for n in [int(a) for a in sys.argv[1:]] or [2, 3]:
        measure(n)
