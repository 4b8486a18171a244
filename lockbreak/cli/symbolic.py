"""``check --engine z3``'s own output: the inductive invariant its proofs assumed."""

from __future__ import annotations

from lockbreak.pipeline.verdicts import ScenarioRun


def invariant_lines(run: ScenarioRun) -> list[str]:
    """The inductive invariant the z3 proofs of ``run`` assumed, one line per program point or
    lock word it talks about (empty when no proof needed one)."""
    invariant = next((v.result.invariant for v in run.verdicts if v.result.invariant), ())
    if not invariant:
        return []
    return ["  inductive invariant the proofs assume (z3 proved it holds initially and after "
            "every step):", *(f"    {line}" for line in invariant)]
