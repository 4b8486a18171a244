"""``lockbreak check --store``: the omission probability in --json, honest exit codes, and
options that do not fit refused with exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from lockbreak.cli import main
from tests.support.paths import REPO

NESTED = REPO / "scenarios" / "nested-v2.6.9.toml"
STATE = ["-p", "mutual_exclusion", "-p", "deadlock_free", "-p", "break_return_truth"]


def check(*args: str, tmp_path: Path) -> tuple[int, dict]:
    out = CliRunner().invoke(main, ["check", str(NESTED), "--json", "--trace-dir",
                                    str(tmp_path), *STATE, *args])
    return out.exit_code, json.loads(out.stdout)


def test_json_carries_the_omission_probability(tmp_path: Path) -> None:
    code, exact = check(tmp_path=tmp_path)
    assert code == 0 and {r["omission_probability"] for r in exact["results"]} == {None}
    code, compact = check("--store", "hashcompact", tmp_path=tmp_path)
    assert code == 0        # the scenario's expectations are met: violations are real
    for mine, theirs in zip(compact["results"], exact["results"], strict=True):
        assert (mine["status"], mine["states"], mine["trace"]) == (
            theirs["status"], theirs["states"], theirs["trace"])
        n = mine["states"]
        assert mine["omission_probability"] == pytest.approx(n * (n - 1) / 2**65)


def test_bitstate_leaves_deadlock_free_undecided(tmp_path: Path) -> None:
    code, out = check("--store", "bitstate", "--bitstate-memory", "1M", tmp_path=tmp_path)
    status = {r["property"]: r["status"] for r in out["results"]}
    assert status == {"mutual_exclusion": "holds", "deadlock_free": "incomplete",
                      "break_return_truth": "violated"}
    assert code == 3


def test_a_table_too_small_is_incomplete(tmp_path: Path) -> None:
    out = CliRunner().invoke(main, ["check", str(NESTED), "--json", "-p", "mutual_exclusion",
                                    "--store", "bitstate", "--bitstate-bits", "10"])
    [mutex] = json.loads(out.stdout)["results"]
    assert mutex["status"] == "incomplete" and mutex["omission_probability"] > 1e-3
    assert mutex["states"] < 1002       # states were missed indeed
    assert out.exit_code == 3


@pytest.mark.parametrize(("args", "message"), [
    (["--bitstate-bits", "20"], "apply to --store bitstate only"),
    (["--store", "bitstate", "--bitstate-bits", "20", "--bitstate-memory", "1M"],
     "give the bitstate table's size once"),
    (["--store", "bitstate", "--bitstate-memory", "lots"], "give a size such as 64M"),
    (["--engine", "hypothesis", "--store", "hashcompact"], "applies to --engine explicit"),
    (["--engine", "z3", "--estimate"], "applies to --engine explicit"),
])
def test_options_that_do_not_fit_are_bad_input(args: list[str], message: str) -> None:
    out = CliRunner().invoke(main, ["check", str(NESTED), *args])
    assert out.exit_code == 2 and message in out.output
