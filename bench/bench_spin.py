"""Benchmark: lockbreak and SPIN side by side, on the same scenarios.

For each scenario, lockbreak checks it with ``lockbreak check --json`` (a fresh process, so
its time to verdict includes starting Python) and SPIN checks the model that ``lockbreak
export --promela`` writes (its time includes ``spin -a`` and the gcc compile of pan, for each
of its runs: the safety run with every witness, and, for deadlock_free, the weakly fair
non-progress run). Printed per scenario: whether the verdicts agree (and lockbreak's), both
state counts, both times to verdict, pan's search time alone, and the ratio of the times to
verdict (lockbreak / SPIN: below 1, lockbreak was faster).

The properties are those the export decides: the safety properties and deadlock_free (with
``--safety``: the safety properties only). lockbreak runs with its defaults (symmetry
reduction on, so its state count is lower where CPUs are identical; SPIN's equals lockbreak's
with ``--lockbreak-args=--no-symmetry``); ``--lockbreak-args`` passes any flags through, for
the engines still to come.

pan is compiled with -O2 and -DSAFETY for the safety run, run with -m (raised tenfold when the
search is deeper), a hash table sized to the state count (-w), -DMEMLIM; ``--collapse``
compresses state vectors (-DCOLLAPSE), ``--por`` turns SPIN's partial-order reduction on
(it finds nothing to reduce in a model whose steps all touch global variables, but costs
time).

Usage::

    python bench/bench_spin.py                   # the public scenarios, then n = 2, 3, 4
    python bench/bench_spin.py --public          # only the public scenarios
    python bench/bench_spin.py --nested 2 3      # only the scaled nested scenario, n = 2, 3
    python bench/bench_spin.py --safety --nested 4
    python bench/bench_spin.py --lockbreak-args="--no-symmetry" --public

This is a benchmark, not a test: the machines are shared and noisy, so compare figures taken
in one run.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench_nested import scenario_text

from lockbreak.cli.spin import PanOptions, check_with_spin
from lockbreak.core import LockbreakError, PropertyKind
from lockbreak.pipeline import Overrides, load
from model.constructs import first_unmodelled
from model.promela import promela_model
from model.world import build_world
from properties.catalogue import of_kind, specs

REPO = Path(__file__).resolve().parent.parent
LOCKBREAK = Path(sys.executable).parent / "lockbreak"
SHORT = {"holds": "H", "violated": "V", "vacuous": "-", "incomplete": "?"}


@dataclass
class Side:
    verdicts: dict[str, str]
    states: int
    seconds: float
    search: float = 0.0       # SPIN: pan alone, without spin -a and gcc


def run_lockbreak(path: Path, names: list[str], extra: list[str]) -> Side:
    """``lockbreak check --json`` on one scenario, timed from the outside."""
    cmd = [str(LOCKBREAK), "check", "--json", "--trace-dir", tempfile.gettempdir(),
           *(a for n in names for a in ("-p", n)), *extra, str(path)]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise LockbreakError(f"{' '.join(cmd)}: exit {done.returncode}\n{done.stderr}")
    results = json.loads(done.stdout)["results"]
    return Side({r["property"]: r["status"] for r in results},
                max(r["states"] for r in results), seconds)


def run_spin(path: Path, names: list[str], options: PanOptions) -> Side:
    start = time.perf_counter()
    properties = specs(names)
    text = promela_model(build_world(load(path, Overrides())), properties)
    run = check_with_spin(text, properties, options)
    return Side({k: v.value for k, v in run.verdicts.items()}, run.states,
                time.perf_counter() - start, run.pan_seconds)


def row(label: str, lb: Side, spin: Side, names: list[str]) -> str:
    same = "yes" if lb.verdicts == spin.verdicts else "NO: " + ", ".join(
        f"{n} {lb.verdicts.get(n)}/{spin.verdicts.get(n)}" for n in names
        if lb.verdicts.get(n) != spin.verdicts.get(n))
    verdicts = "".join(SHORT[lb.verdicts[n]] for n in names)
    return (f"{label:<34} {verdicts:<7} {same:<4} {lb.states:>12,} {spin.states:>12,} "
            f"{lb.seconds:>9.2f} {spin.seconds:>9.2f} {spin.search:>9.2f} "
            f"{lb.seconds / spin.seconds:>7.2f}")


def options_for(states_hint: int, args: argparse.Namespace) -> PanOptions:
    bits = max(18, min(30, (2 * max(states_hint, 1)).bit_length()))
    return PanOptions(depth=1_000_000, hash_bits=bits, memory_mb=args.memory,
                      collapse=args.collapse, reduce=args.por, optimise="-O2",
                      timeout=args.spin_timeout)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--public", action="store_true", help="only the public scenarios")
    parser.add_argument("--nested", type=int, nargs="*", help="only the scaled nested "
                        "scenario, with these n (default 2 3 4)")
    parser.add_argument("--safety", action="store_true", help="safety properties only")
    parser.add_argument("--lockbreak-args", default="", help="flags for `lockbreak check`")
    parser.add_argument("--collapse", action="store_true", help="pan -DCOLLAPSE")
    parser.add_argument("--por", action="store_true", help="SPIN's partial-order reduction")
    parser.add_argument("--memory", type=int, default=8192, help="pan -DMEMLIM, in MB")
    parser.add_argument("--spin-timeout", type=float, help="seconds per pan run")
    args = parser.parse_args(argv)
    kinds = (PropertyKind.SAFETY,) if args.safety else (PropertyKind.SAFETY,
                                                         PropertyKind.CAN_FINISH)
    names = list(of_kind(*kinds))
    extra = shlex.split(args.lockbreak_args)
    jobs: list[tuple[str, Path]] = []
    tmp = Path(tempfile.mkdtemp(prefix="bench-spin-"))
    if args.nested is None:
        for path in sorted((REPO / "scenarios").rglob("*.toml")):
            scenario = load(path, Overrides())
            if (scenario.kernel.timing == "interleaving"
                    and first_unmodelled(build_world(scenario)) is None):
                jobs.append((path.stem, path))
    if not args.public:
        for n in args.nested or [2, 3, 4]:
            path = tmp / f"nested-scaled-{n}.toml"
            path.write_text(scenario_text(n))
            jobs.append((f"nested-scaled n={n}", path))
    print(f"properties: {', '.join(names)} (verdict letters in this order: H holds, "
          "V violated, - vacuous)")
    print(f"lockbreak check {' '.join(extra)}; pan -O2{' COLLAPSE' if args.collapse else ''}"
          f"{' with POR' if args.por else ' NOREDUCE'}, MEMLIM {args.memory} MB")
    print(f"{'scenario':<34} {'lockbr.':<7} {'same':<4} {'lb states':>12} {'spin states':>12} "
          f"{'lb s':>9} {'spin s':>9} {'pan s':>9} {'lb/spin':>7}")
    for label, path in jobs:
        lb = run_lockbreak(path, names, extra)
        try:
            spin = run_spin(path, names, options_for(lb.states, args))
        except LockbreakError as err:
            verdicts = "".join(SHORT[lb.verdicts[n]] for n in names)
            print(f"{label:<34} {verdicts:<7} {'?':<4} {lb.states:>12,} {'-':>12} "
                  f"{lb.seconds:>9.2f}  SPIN: {str(err).splitlines()[0]}", flush=True)
            continue
        print(row(label, lb, spin, names), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
