"""``lockbreak prove``: golden output (verdicts, counterexamples to induction, the invariant)
and exit codes.

Each file in tests/golden/prove/ starts with the command that produced it and ends with its
exit code; the time taken becomes ``N.NN s``. ``LOCKBREAK_REGEN_GOLDEN=1 python -m pytest
tests/cli/test_prove.py`` rewrites them (read the diff before committing).
"""

from __future__ import annotations

import os
import re
import shlex

import pytest
from click.testing import CliRunner

from lockbreak.cli import main
from tests.support.paths import REPO, TESTS

GOLDEN = TESTS / "golden" / "prove"
REGEN = os.environ.get("LOCKBREAK_REGEN_GOLDEN") == "1"

CASES = {
    # after the 2005 fixes: everything proved; the invariant a review reads
    "prove-v2.6.12-flat": "prove --era v2.6.12 --loop flat",
    # the return-value bug: cond_resched_lock returns 0 after dropping L
    "prove-v2.6.9-flat": "prove --era v2.6.9 --loop flat",
    # ticket lock: FIFO service proved; a nested caller schedules while atomic
    "prove-v2.6.25-nested": "prove --era v2.6.25 --loop nested",
}


def produce(args: str) -> str:
    result = CliRunner().invoke(main, shlex.split(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    out = re.sub(r"\(\d+\.\d\d s\)", "(N.NN s)", result.stdout)
    return f"# lockbreak {args}\n{out}# exit {result.exit_code}\n"


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_golden_proof(name: str) -> None:
    path = GOLDEN / f"{name}.txt"
    actual = produce(CASES[name])
    if REGEN:
        path.write_text(actual)
        return
    assert path.exists(), f"{path} is missing; LOCKBREAK_REGEN_GOLDEN=1 writes it"
    assert path.read_text() == actual


def test_every_golden_proof_has_a_case() -> None:
    assert sorted(p.stem for p in GOLDEN.glob("*.txt")) == sorted(CASES)


def test_exit_codes() -> None:
    runner = CliRunner()
    ok = runner.invoke(main, ["prove", "--era", "v5.17", "--loop", "flat", "--no-invariant"])
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.rstrip().endswith("every goal proved for every number of CPUs")
    assert "inductive invariant" not in ok.stdout
    bad = runner.invoke(main, ["prove", "--era", "v2.6.99"])
    assert bad.exit_code == 2
    assert "unknown era; known: v2.6.8, v2.6.8-mm, v2.6.9" in bad.stderr
    lock = runner.invoke(main, ["prove", "--era", "v5.17", "--lock", "rwlock"])
    assert lock.exit_code == 2
    undecided = runner.invoke(main, ["prove", "--era", "v2.6.12", "--loop", "flat",
                                     "--timeout", "0.001"])
    assert undecided.exit_code == 3
    assert "proved" not in undecided.stdout.replace("every goal proved", "")


def test_the_readme_proof_is_what_prove_prints() -> None:
    readme = (REPO / "README.md").read_text()
    block = re.search(r"```text\n\$ lockbreak (prove [^\n]+)\n(.*?)```", readme, re.S)
    assert block, "the README lost its proof example"
    result = CliRunner().invoke(main, block.group(1).split())
    printed = re.sub(r"\(\d+\.\d\d s\)", "(N.NN s)", result.stdout).splitlines()
    shown = re.sub(r"\(\d+\.\d\d s\)", "(N.NN s)", block.group(2)).splitlines()
    assert shown == printed
