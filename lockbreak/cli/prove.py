"""``lockbreak prove --era ERA``: the era's lock-break loop proved safe for every number of CPUs.

Prints, per loop shape, one verdict line per goal (docs/semantics.md section 8 properties and the
primitives' contracts), the counterexample to induction of each failed goal in kernel words,
and the inductive invariant the proof used. Exit 0 when every applicable goal is proved, 1 when
one failed, 2 on bad input, 3 when z3 could not decide one (never reported as proved).
"""

from __future__ import annotations

import sys

import click

from lockbreak.core import LockbreakError
from lockbreak.report.escape import error_text
from model.eras import ERAS
from model.proofs.loops import LOOPS, PROVABLE_LOCKS, compile_loop
from model.proofs.prove import EXPLICIT_CPUS, LoopProof, Verdict, prove_loop

EXIT_OK, EXIT_FAIL, EXIT_BAD_INPUT, EXIT_UNDECIDED = 0, 1, 2, 3


@click.command("prove")
@click.option("--era", "era_name", required=True, metavar="ERA", help="The kernel era to prove.")
@click.option("--lock", type=click.Choice(PROVABLE_LOCKS),
              help="Lock algorithm (default: the era's).")
@click.option("--loop", "shapes", type=click.Choice(tuple(LOOPS)), multiple=True,
              help="Loop shape (repeatable; default: all).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=120.0,
              show_default=True, metavar="SECONDS", help="Per z3 query; past it, undecided.")
@click.option("--no-invariant", is_flag=True, help="Do not print the inductive invariant.")
def prove_cmd(era_name: str, lock: str | None, shapes: tuple[str, ...], timeout: float,
              no_invariant: bool) -> None:
    """Prove mutual exclusion, no sleep in atomic, and cond_resched_lock's contracts for every
    number of CPUs running the era's spin_lock / cond_resched_lock loop."""
    era = ERAS.get(era_name)
    if era is None:
        click.echo(f"error: --era {era_name}: unknown era; known: {', '.join(ERAS)}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    proofs = []
    for shape in shapes or tuple(LOOPS):
        try:
            loop = compile_loop(era, lock, shape)
            proof = prove_loop(loop, timeout_ms=int(timeout * 1000))
        except LockbreakError as err:
            click.echo(f"error: {error_text(err)}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        _print(proof, not no_invariant)
        proofs.append(proof)
    verdicts = {r.verdict for p in proofs for r in p.results}
    code = (EXIT_FAIL if verdicts & {Verdict.FAILED, Verdict.VACUOUS} else
            EXIT_UNDECIDED if Verdict.UNDECIDED in verdicts else EXIT_OK)
    click.echo({EXIT_OK: "every goal proved for every number of CPUs",
                EXIT_FAIL: "some goal failed or was vacuous",
                EXIT_UNDECIDED: "some goal undecided"}[code])
    sys.exit(code)


def _print(proof: LoopProof, with_invariant: bool) -> None:
    loop = proof.loop
    click.echo(f"prove {loop.era.name} ({loop.lock}, preempt full), any number of CPUs, "
               f"{loop.shape} loop on every CPU:")
    click.echo(f"  {loop.code}")
    width = max(len(r.goal.name) for r in proof.results) + 4
    for r in proof.results:
        note = f"   ({r.note})" if r.note else ""
        click.echo(f"  {r.goal.name} {'.' * (width - len(r.goal.name))} {r.verdict.value}{note}")
    for r in proof.results:
        if r.verdict is Verdict.FAILED:
            click.echo(f"\n{r.goal.name} failed: {r.goal.statement}")
            for line in r.cti:
                click.echo(f"  {line}")
    if with_invariant and proof.invariant:
        click.echo(f"\n  inductive invariant ({proof.conjuncts} conjuncts; candidates filtered "
                   f"by {proof.explicit_states:,} states of {EXPLICIT_CPUS} CPUs, then "
                   f"{proof.queries} z3 queries):")
        for line in proof.invariant:
            click.echo(f"    {line}")
    click.echo(f"  ({proof.seconds:.2f} s)\n")
