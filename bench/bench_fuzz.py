"""Benchmark: scenario fuzzing rediscovers the known era bugs; how fast, how small.

For each known bug (era, property), runs ``lockbreak fuzz`` (the `fuzz` function, seeded, no
example database) with seeds 1..S and an examples budget, and prints per seed the examples and
seconds until the first violation, the seconds including shrinking, and the size of the
written scenario. Then the correct eras, where nothing may be found, with examples per second.

Usage::

    python bench/bench_fuzz.py              # seeds 1..5, budget 2000 examples
    python bench/bench_fuzz.py 10 3000      # seeds 1..10, budget 3000

This is a benchmark, not a test: the machines are shared and noisy, so compare figures taken
in one run.
"""

from __future__ import annotations

import statistics
import sys

from lockbreak.pipeline.fuzz_search import FuzzBudget, fuzz

KNOWN_BUGS = (
    ("v2.6.11", "break_return_truth"),   # returns 0 after the flag made it drop the lock
    ("v2.6.20", "no_sleep_in_atomic"),   # __resched_legal gone: nested caller schedules
    ("v2.6.12", "deadlock_free"),        # breaking an outer lock: ABBA on the relock
)
CORRECT = (
    ("v2.6.12", "break_return_truth"),
    ("v2.6.12", "no_sleep_in_atomic"),
)


def main(argv: list[str]) -> None:
    seeds = int(argv[0]) if argv else 5
    examples = int(argv[1]) if len(argv) > 1 else 2000
    print(f"budget {examples} examples per run, state budget 20,000, seeds 1..{seeds}")
    print("\nknown bugs: examples and seconds to the first violation, seconds with shrinking, "
          "size of the written scenario (CPUs/locks/statements)")
    for version, prop in KNOWN_BUGS:
        firsts, seconds = [], []
        for seed in range(1, seeds + 1):
            run = fuzz(version, [prop], seed=seed, budget=FuzzBudget(examples=examples))
            if run.finding is None:
                print(f"  {version} {prop} seed {seed}: none found in {run.generated} examples "
                      f"({run.seconds:.1f} s)")
                continue
            s = run.finding.sketch.trimmed()   # as written to the file
            firsts.append(run.seconds_to_first or 0.0)
            seconds.append(run.seconds)
            print(f"  {version} {prop} seed {seed}: after {run.generated_to_first} examples, "
                  f"{run.seconds_to_first:.2f} s; {run.seconds:.2f} s with "
                  f"{run.shrink_checks} shrink checks; {len(s.cpus)}/{len(s.locks)}/{s.size}")
        if firsts:
            print(f"  {version} {prop}: found by {len(firsts)}/{seeds} seeds; median "
                  f"{statistics.median(firsts):.2f} s to the first violation (max "
                  f"{max(firsts):.2f} s), median {statistics.median(seconds):.2f} s with "
                  "shrinking")
    print("\ncorrect eras: nothing may be found")
    for version, prop in CORRECT:
        run = fuzz(version, [prop], seed=1, budget=FuzzBudget(examples=examples))
        verdict = "FOUND (a bug)" if run.finding else "none found"
        print(f"  {version} {prop}: {verdict} in {run.generated} examples, {run.seconds:.1f} s, "
              f"{run.generated / run.seconds:.0f} examples/s; {run.checked} checked, "
              f"{run.held.get(prop, 0)} held with the witness reached, {run.discarded} "
              "discarded")


if __name__ == "__main__":
    main(sys.argv[1:])
