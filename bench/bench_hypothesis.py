"""Benchmark: the Hypothesis engine's random steps per second, and its time to find each
violation of the public scenarios and of the large ones in ``bench/scenarios/``.

Usage::

    python bench/bench_hypothesis.py steps [SECONDS]   # steps/s on the 64-CPU scenarios
    python bench/bench_hypothesis.py find [SEED]       # time to find each public violation
    python bench/bench_hypothesis.py large [SECONDS]   # the same on bench/scenarios/

``steps`` runs the random search for SECONDS (default 20) on each 64-CPU scenario of
``bench/scenarios/`` with the safety properties only (no can-finish searches at stuck ends),
then with every property, and prints runs, steps and steps per second. ``find`` checks, for
every property the explicit engine finds violated in ``scenarios/``, one Hypothesis search of
that property alone (seed SEED, default 0, a budget of 2,000 runs, no example database) and
prints the seconds and runs until the first failing run, the seconds until the shrunk trace
was ready, and its length beside the explicit engine's shortest. ``large`` does the same on
``bench/scenarios/`` against each file's ``[expect]`` (no explicit figure: out of its reach).

This is a benchmark, not a test: the machines are shared and noisy, so compare figures taken
in one run.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from lockbreak.core import PropertyKind, Status
from lockbreak.engines.hypothesis_engine import Search
from lockbreak.engines.hypothesis_engine import check as random_check
from lockbreak.engines.plain_bfs import check as explicit_check
from model.kernel import KernelModel
from model.scenario.load import load_scenario
from model.world import build_world
from properties.catalogue import KNOWN, specs

REPO = Path(__file__).resolve().parent.parent
LARGE = REPO / "bench" / "scenarios"


def model_of(path: Path, properties: list[str] | None = None) -> KernelModel:
    scenario = load_scenario(path, known_properties=KNOWN)
    return KernelModel(build_world(scenario), specs(properties))


def steps(seconds: float) -> None:
    safety = [name for name, kind in zip(model_of(REPO / "scenarios" / "nested-v2.6.9.toml")
                                         .property_names,
                                         model_of(REPO / "scenarios" / "nested-v2.6.9.toml")
                                         .property_kinds, strict=True)
              if kind is PropertyKind.SAFETY]
    print(f"{'scenario':<36} {'properties':<10} {'runs':>7} {'steps':>10} {'steps/s':>9}")
    for path in sorted(LARGE.glob("*64cpu*.toml")):
        for label, props in (("safety", safety), ("all", None)):
            model = model_of(path, props)
            found = random_check(model, search=Search(seconds=seconds, seed=0))
            cov = found.coverage
            print(f"{path.stem:<36} {label:<10} {cov.runs:>7,} {cov.steps:>10,} "
                  f"{cov.steps / cov.seconds:>9,.0f}")


def find(seed: int) -> None:
    print(f"{'scenario':<28} {'property':<20} {'found s':>8} {'runs':>6} {'total s':>8} "
          f"{'steps':>6} {'shortest':>8}")
    for path in sorted((REPO / "scenarios").glob("*.toml")):
        model = model_of(path)
        for shortest in explicit_check(model):
            if shortest.status is not Status.VIOLATED:
                continue
            _one(path, shortest.property, seed,
                 len(shortest.trace) if shortest.trace is not None else None)


def large(seconds: float) -> None:
    print(f"{'scenario':<28} {'property':<20} {'found s':>8} {'runs':>6} {'total s':>8} "
          f"{'steps':>6} {'shortest':>8}")
    for path in sorted(LARGE.glob("*.toml")):
        scenario = load_scenario(path, known_properties=KNOWN)
        for name, expectation in scenario.expect.items():
            if expectation.status == "violated":
                _one(path, name, 0, None, Search(seconds=seconds, seed=0))


def _one(path: Path, name: str, seed: int, shortest: int | None,
         search: Search | None = None) -> None:
    model = model_of(path, [name])
    began = time.monotonic()
    found = random_check(model, search=search or Search(examples=2000, seed=seed))
    total = time.monotonic() - began
    [result] = found.results
    after = found.coverage.found_after.get(name)
    length = len(result.trace) if result.trace is not None else "-"
    print(f"{path.stem[:28]:<28} {name:<20} "
          f"{f'{after[0]:.2f}' if after else 'never':>8} {after[1] if after else '-':>6} "
          f"{total:>8.2f} {length:>6} {shortest if shortest is not None else '-':>8}"
          + ("" if result.status is Status.VIOLATED else f"  {result.status}"))


def main() -> None:
    what = sys.argv[1] if len(sys.argv) > 1 else "find"
    arg = sys.argv[2] if len(sys.argv) > 2 else None
    if what == "steps":
        steps(float(arg or 20))
    elif what == "large":
        large(float(arg or 60))
    else:
        find(int(arg or 0))


if __name__ == "__main__":
    main()
