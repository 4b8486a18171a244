"""How long ``lockbreak prove --era ERA`` takes, per era and loop shape.

Run by hand: ``python bench/bench_prove.py`` (from the repository root). Each era runs in a
fresh process (``lockbreak prove --era ERA --no-invariant``), timed from outside, so the figure
is what a user waits for, start-up included; the per-loop seconds, explicit states used to
filter candidates, z3 queries and invariant sizes come from the proof itself.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from model.eras import ERAS
from model.proofs.prove import prove_era

REPO = Path(__file__).resolve().parent.parent
LOCKBREAK = Path(sys.executable).parent / "lockbreak"


def main() -> None:
    print("| era | lock | `prove --era` wall time | loop | proof | explicit states | "
          "z3 queries | conjuncts | failed |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, era in ERAS.items():
        started = time.perf_counter()
        subprocess.run([str(LOCKBREAK), "prove", "--era", name, "--no-invariant"], cwd=REPO,
                       stdout=subprocess.DEVNULL, check=False)
        wall = time.perf_counter() - started
        for i, proof in enumerate(prove_era(era)):
            failed = ", ".join(r.goal.name for r in proof.results
                               if r.verdict.value == "failed") or "-"
            head = (f"| {name} | {proof.loop.lock} | {wall:.1f} s" if i == 0 else "| | |")
            print(f"{head} | {proof.loop.shape} | {proof.seconds:.1f} s | "
                  f"{proof.explicit_states:,} | {proof.queries} | {proof.conjuncts} | {failed} |",
                  flush=True)


if __name__ == "__main__":
    main()
