"""Benchmark: fair liveness (starvation_free, livelock_free) and worst cases (bounded_wait,
bounded_latency) on the scaled nested scenario (bench_nested.py) for n CPUs, the plain engine
against the vectorised ones, and every property as ``lockbreak check`` decides them, with and
without ``--plain-bfs``.

Each run checks the n-CPU scenario (v2.6.12, tas, interleaving) in a fresh process and prints
the states of the largest graph analysed, wall and CPU seconds, the peak resident memory of
the process and its growth during the check per state analysed. Modes:

    plain        both FAIR properties on the plain engine: a Python state graph
                 (lockbreak.engines.liveness)
    columns      both on the frontier engine's graph as numpy columns
                 (lockbreak.engines.fair_graph)
    quotient     both on the symmetry quotient, renamings on the edges
                 (lockbreak.engines.fair_symmetry; what ``lockbreak check`` does by default)
    worst-plain  both WORST properties, under lockstep timing, on the plain engine
    worst        both on the frontier engine's lockstep graph as numpy columns
    worst-quotient  both on the symmetry quotient of that graph, renamings on the edges
                 (lockbreak.engines.worst_symmetry; what ``lockbreak check`` does by default)
    all-plain    every property (safety, deadlock_free, the FAIR and the WORST ones) as
                 ``lockbreak check --plain-bfs`` decides them
    all          every property as ``lockbreak check`` decides them
    bytes        where the bytes of the lockstep quotient's graph go: each column the analysis
                 reads and each array the search keeps for it, in bytes per quotient state
    phases       the worst-quotient check split into its phases (the search, its columns, the
                 analysis): after each, resident and peak resident MB and CPU seconds, to
                 tell which phase sets the peak

With ``--before REV`` each mode is also run on the code of git revision REV (exported to a
temporary directory), in the same run, so the figures compare. A run that does not finish
within ``--limit`` seconds (default 600) or outgrows ``--memory`` GB of address space
(default 12) is reported as such; a mode is skipped for larger n once it has. Usage::

    python bench/bench_fairness.py                          # n = 3, 4, every mode
    python bench/bench_fairness.py --limit 120 3 4 5
    python bench/bench_fairness.py --modes worst-plain,worst,all-plain,all 3 4

This is a benchmark, not a test: the machine is shared and noisy, so compare figures taken in
one run.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_nested import scenario_text

MODES = ("plain", "columns", "quotient", "worst-plain", "worst", "worst-quotient",
         "all-plain", "all", "bytes", "phases")
REPO = Path(__file__).resolve().parent.parent


def measure(n: int, mode: str) -> dict[str, Any]:
    """Decide the n-CPU scenario's FAIR properties (the WORST ones for ``worst*``, every
    property for ``all*``) under ``mode``."""
    from lockbreak.core import PropertyKind
    from lockbreak.engines import fair_graph, plain_bfs
    from lockbreak.pipeline import CheckRequest, Overrides, check_scenario, load
    from model.lockstep import kernel_model
    from model.world import build_world
    from properties.catalogue import of_kind, specs

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"nested-scaled-{n}.toml"
        path.write_text(scenario_text(n))
        scenario = load(path, Overrides())
    timed = mode.startswith("worst") or mode in ("bytes", "phases")
    model = kernel_model(build_world(scenario), specs(of_kind(
        PropertyKind.WORST if timed else PropertyKind.FAIR)), "lockstep" if timed else None)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start, cpu = time.perf_counter(), time.process_time()
    if mode == "bytes":
        return {"n": n, "mode": mode, "bytes": graph_bytes(model)}
    if mode == "phases":
        return {"n": n, "mode": mode, "phases": phase_memory(model)}
    if mode.startswith("all"):
        results = [v.result for v in check_scenario(
            scenario, CheckRequest(vectorised=mode == "all")).verdicts]
    elif mode in ("plain", "worst-plain"):
        results = plain_bfs.check(model)
    else:
        results = fair_graph.check(model, symmetry=mode.endswith("quotient"))
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"n": n, "mode": mode, "states": max(r.stats.states for r in results),
            "seconds": seconds, "cpu": cpu, "peak_bytes": peak * 1024,
            "grown_bytes": (peak - before) * 1024,
            "verdicts": {r.property: r.status.value for r in results}}


def graph_bytes(model: Any) -> dict[str, float]:
    """Bytes per stored state of each array the lockstep quotient's graph keeps: the
    analysis's columns (per state and per edge) and what the search keeps for paths."""
    import numpy as np

    from lockbreak.engines import fair_graph

    graph = fair_graph.labelled(model, symmetry=True)
    states = len(graph.states)
    out = {name: value.nbytes / states for name, value in vars(graph).items()
           if isinstance(value, np.ndarray)}
    out["keys"] = graph.states.keys.nbytes / states
    search = graph.states.search
    for name in ("runs", "run_index", "levels", "parents"):       # views of others: 0
        out[f"search {name}"] = sum(part.nbytes for part in getattr(search, name)
                                    if part.base is None) / states
    tables = [*search.steps, *(t for _, t in search.wakes), *(t for _, t in search.choices),
              search.shared_of, *(search.ticking or ())]
    out["transition tables"] = sum(
        t.values.nbytes + t.keys.nbytes + t.rows.nbytes
        + (t.dense.nbytes if t.dense is not None else 0) for t in tables) / states
    out["states"] = states
    out["edges per state"] = len(graph.dst) / states
    return out


def phase_memory(model: Any) -> dict[str, Any]:
    """The worst-quotient check a phase at a time (the symmetric search keeping every edge,
    its columns, the analysis on the product), with after each: resident and peak resident
    MB, CPU seconds since the start, and the quotient's states and edges."""
    from lockbreak.core import Budget, PropertyKind, SilentReporter, Stats
    from lockbreak.engines import fair_graph
    from lockbreak.engines.level_search import Search
    from lockbreak.engines.worst_symmetry import SymmetricWorst

    page = os.sysconf("SC_PAGE_SIZE")
    cpu = time.process_time()
    out: dict[str, Any] = {}

    def record(phase: str) -> None:
        with open("/proc/self/statm") as statm:
            resident = int(statm.read().split()[1]) * page
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        out[phase] = {"resident MB": round(resident / 2**20), "peak MB": round(peak / 2**20),
                      "cpu s": round(time.process_time() - cpu, 2)}
        # As it goes, so that a run which runs out still says how far it got.
        print(f"phase {phase} {json.dumps(out[phase])}", file=sys.stderr, flush=True)

    record("start")
    search = Search(model, 0, model.canonical, Budget(), SilentReporter(), graph=True)
    search.run()
    record("search")
    graph = fair_graph.labelled(model, symmetry=True, searched=search)
    del search
    record("columns")
    bits = [b for b, kind in enumerate(model.property_kinds) if kind is PropertyKind.WORST]
    stats = Stats(len(graph.states), len(graph.dst), 0, 0.0)
    results = SymmetricWorst(model, graph).decide(bits, stats)
    record("analysis")
    out["states"], out["edges"] = len(graph.states), len(graph.dst)
    out["verdicts"] = {r.property: f"{r.status.value} {r.worst}" for r in results}
    return out


def run(n: int, mode: str, limit: float, memory: float, code: Path) -> dict[str, Any] | str:
    """One measurement in a fresh process importing lockbreak from ``code``: its figures,
    or why there are none."""
    def cap() -> None:
        size = int(memory * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (size, size))

    env = {**os.environ, "PYTHONPATH": str(code)}
    try:
        out = subprocess.run([sys.executable, __file__, "--child", str(n), mode],
                             capture_output=True, text=True, timeout=limit, env=env,
                             preexec_fn=cap)
    except subprocess.TimeoutExpired:
        return f"(not finished in {limit:g} s)"
    if out.returncode:
        if "MemoryError" in out.stderr or "Unable to allocate" in out.stderr:
            phases = [line for line in out.stderr.splitlines() if line.startswith("phase ")]
            return f"(out of memory at {memory:g} GB{'; after ' if phases else ''}" + (
                "; ".join(phases) + ")")
        raise RuntimeError(out.stderr)
    figures: dict[str, Any] = json.loads(out.stdout)
    return figures


def main(argv: list[str]) -> None:
    if argv and argv[0] == "--child":
        print(json.dumps(measure(int(argv[1]), argv[2])))
        return
    options = {"--limit": "600", "--modes": ",".join(MODES), "--memory": "12", "--before": ""}
    sizes = []
    words = iter(argv)
    for word in words:
        if word in options:
            options[word] = next(words)
        else:
            sizes.append(int(word))
    limit, memory = float(options["--limit"]), float(options["--memory"])
    modes = options["--modes"].split(",")
    sizes = sizes or [3, 4]
    print("scaled nested scenario, v2.6.12, tas, interleaving, repeat 3; FAIR properties "
          "(WORST ones under lockstep timing in modes worst*, every property in modes all*); "
          f"{limit:g} s and {memory:g} GB per run")
    with tempfile.TemporaryDirectory() as tmp:
        codes = [("", REPO)]
        if options["--before"]:
            rev = options["--before"]
            archive = subprocess.run(["git", "-C", str(REPO), "archive", rev],
                                     capture_output=True, check=True).stdout
            subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
            codes.insert(0, (rev, Path(tmp)))
        report(sizes, modes, codes, limit, memory)


def report(sizes: list[int], modes: list[str], codes: list[tuple[str, Path]], limit: float,
           memory: float) -> None:
    """Measure and print each size, mode and code."""
    width = max(len(f"{mode} {rev}".strip()) for mode in modes for rev, _ in codes)
    print(f"{'n':>2} {'mode':>{width}} {'states':>12} {'wall s':>8} {'cpu s':>8} "
          f"{'peak MB':>8} {'B/state':>8}  verdicts")
    failed: set[str] = set()
    for n in sizes:
        for mode in modes:
            for rev, code in codes:
                label = f"{mode} {rev}".strip()
                if label in failed:
                    print(f"{n:>2} {label:>{width}} (skipped: failed at a smaller n)")
                    continue
                r = run(n, mode, limit, memory, code)
                if isinstance(r, str):
                    failed.add(label)
                    print(f"{n:>2} {label:>{width}} {r}", flush=True)
                    continue
                if "bytes" in r or "phases" in r:
                    print(f"{n:>2} {label:>{width}}  " + ", ".join(
                        f"{k} {v:,.1f}" if isinstance(v, float) else f"{k} {v}"
                        for k, v in r.get("bytes", r.get("phases", {})).items()), flush=True)
                    continue
                verdicts = ",".join(f"{k}={v}" for k, v in r["verdicts"].items())
                print(f"{n:>2} {label:>{width}} {r['states']:>12,} {r['seconds']:>8.2f} "
                      f"{r['cpu']:>8.2f} {r['peak_bytes'] / 2**20:>8.0f} "
                      f"{r['grown_bytes'] / r['states']:>8.0f}  {verdicts}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
