"""The memory budget of ``lockbreak check``: over ``--max-memory`` a search stops incomplete
with a checkpoint that resumes; a MemoryError ends in incomplete verdicts, not a traceback;
oversized inputs and bitstate tables larger than the budget are bad input (exit 2)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from lockbreak.cli import main
from lockbreak.cli.store_options import machine_memory, memory_budget, parse_bytes
from lockbreak.core import LockbreakError
from tests.cli.test_checkpointing import NESTED3, OPTIONS, nested_scaled
from tests.support.paths import REPO

NESTED = REPO / "scenarios" / "nested-v2.6.9.toml"


def check(tmp_path: Path, *args: object) -> Result:
    return CliRunner().invoke(main, ["check", "--trace-dir", str(tmp_path / "traces"),
                                     *map(str, args)])


def results(result: Result) -> list[dict[str, Any]]:
    out = json.loads(result.stdout)["results"]
    for record in out:
        record.pop("seconds")
    return out


def test_over_the_budget_the_search_stops_with_a_checkpoint_that_resumes(
        tmp_path: Path) -> None:
    whole = check(tmp_path, NESTED, "--json")
    checkpoint = tmp_path / "ck"
    # this process already holds more than a megabyte: the search stops at its first poll
    stopped = check(tmp_path, NESTED, "--json", "--max-memory", "1M", "--checkpoint",
                    checkpoint)
    assert stopped.exit_code == 3, stopped.output
    assert all(r["status"] == "incomplete" and "over --max-memory 1 MiB" in r["detail"]
               for r in results(stopped))
    assert f"checkpoint written to {checkpoint}" in stopped.stderr
    resumed = check(tmp_path, NESTED, "--json", "--resume", checkpoint,
                    "--checkpoint", tmp_path / "again")
    assert resumed.exit_code == whole.exit_code
    assert results(resumed) == results(whole)


def test_a_bitstate_table_over_the_budget_is_refused(tmp_path: Path) -> None:
    refused = check(tmp_path, NESTED, "--store", "bitstate", "--bitstate-bits", "34",
                    "--max-memory", "1G")
    assert refused.exit_code == 2, refused.output
    assert "2**34 bits takes 2.0 GiB, more than the memory budget of 1.0 GiB" in refused.stderr
    refused = check(tmp_path, NESTED, "--store", "bitstate", "--bitstate-memory", "2G",
                    "--max-memory", "1G")
    assert refused.exit_code == 2 and "--max-memory" in refused.stderr
    refused = check(tmp_path, NESTED, "--engine", "z3", "--max-memory", "1G")
    assert refused.exit_code == 2
    assert "--max-memory applies to --engine explicit only" in refused.stderr


def test_the_default_budget_is_a_share_of_the_machine() -> None:
    machine = machine_memory()
    assert machine is not None and machine > 0
    assert memory_budget(None) == int(machine * 0.75)
    assert memory_budget("4G") == parse_bytes("4096M", "--max-memory") == 4 << 30
    with pytest.raises(LockbreakError, match="--max-memory lots: give a size such as 64M"):
        memory_budget("lots")


def test_oversized_inputs_fail_fast_as_bad_input(tmp_path: Path) -> None:
    for command in (["check", "/dev/zero"], ["replay", "/dev/zero"]):
        refused = CliRunner().invoke(main, command)
        assert refused.exit_code == 2, refused.output
        assert "/dev/zero: larger than" in refused.stderr and "check the path" in refused.stderr
    big = tmp_path / "big.toml"
    big.write_text('name = "big"\n' + "# padding\n" * 110_000)
    refused = check(tmp_path, big)
    assert refused.exit_code == 2 and f"{big}: larger than 1 MiB" in refused.stderr


# Runs a check with the address space capped a little above what the imports took, so that
# the search itself runs out of memory (MemoryError) part way.
CAPPED = textwrap.dedent("""
    import resource, sys
    from pathlib import Path
    import numpy, z3
    from lockbreak.cli import main
    status = Path("/proc/self/status").read_text().splitlines()
    size = int(next(l.split()[1] for l in status if l.startswith("VmSize:"))) * 1024
    cap = size + (60 << 20)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    main(sys.argv[1:])
""")


@pytest.mark.slow
def test_a_memory_error_ends_in_incomplete_verdicts(tmp_path: Path) -> None:
    scenario = tmp_path / "nested-scaled-3.toml"
    scenario.write_text(NESTED3)
    run = subprocess.run([sys.executable, "-c", CAPPED, "check", str(scenario), "--json",
                          *OPTIONS, "--plain-bfs", "--max-memory", "100G"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert "Traceback" not in run.stderr, run.stderr
    assert run.returncode == 3, run.stderr
    out = json.loads(run.stdout)
    assert [r["status"] for r in out["results"]] == ["incomplete"] * 3
    assert all(r["detail"].startswith("out of memory (MemoryError)") for r in out["results"])


@pytest.mark.slow
def test_a_memory_error_in_a_suite_is_undecided_and_the_report_is_written(
        tmp_path: Path) -> None:
    folder = tmp_path / "s"
    folder.mkdir()
    # four CPUs: the suite's engines fit three unreduced in the cap
    (folder / "nested-scaled-4.toml").write_text(nested_scaled(4))
    run = subprocess.run([sys.executable, "-c", CAPPED, "suite", str(folder), "--out",
                          str(tmp_path / "out"), "--no-symmetry"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert "Traceback" not in run.stderr, run.stderr
    assert run.returncode == 3, run.stderr + run.stdout
    [problem] = json.loads((tmp_path / "out" / "results.json").read_text())["problems"]
    assert problem["message"].startswith("out of memory (MemoryError)")
