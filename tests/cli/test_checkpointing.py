"""A real ``lockbreak check`` killed part way (SIGTERM, SIGINT) and resumed prints what an
uninterrupted run prints; a checkpoint of another scenario is refused with exit 2."""

from __future__ import annotations

import hashlib
import json
import pickle
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from lockbreak.cli import main
from tests.support.paths import REPO

LOCKBREAK = [str(Path(sys.executable).parent / "lockbreak")]
# The scaled nested scenario of bench/bench_nested.py at three CPUs, under v2.6.9 and with two
# lock breaks, without symmetry (292,794 states, break_return_truth violated): long enough for
# the vectorised engine to be stopped part way, short enough for a test.
CPU = '''[[cpu]]
code = """
spin_lock(own{i});
spin_lock(B);
repeat (2) {{
    work();
    cond_resched_lock(B);
}}
spin_unlock(B);
spin_unlock(own{i});
"""
'''


def nested_scaled(cpus: int) -> str:
    """The scaled nested scenario on ``cpus`` CPUs, each breaking B twice (v2.6.9, tas)."""
    return (f'name = "nested-scaled-{cpus}"\n[kernel]\nversion = "v2.6.9"\nlock = "tas"\n'
            '[locks]\n' + "".join(f'own{i} = "spin"\n' for i in range(cpus)) + 'B = "spin"\n'
            + "".join(CPU.format(i=i) for i in range(cpus)))


NESTED3 = nested_scaled(3)
OPTIONS = ["-p", "mutual_exclusion", "-p", "deadlock_free", "-p", "break_return_truth",
           "--no-symmetry"]


def lockbreak(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LOCKBREAK, *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=600)


def results(stdout: str) -> dict[str, Any]:
    """The JSON output without what differs between runs (seconds)."""
    out = json.loads(stdout)
    for record in out["results"]:
        record.pop("seconds")
    return out


def catches(pid: int, signum: int) -> bool:
    """Whether the process has installed a handler for ``signum`` (its checkpoint handler)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = int(next(line.split()[1] for line in status.splitlines()
                      if line.startswith("SigCgt:")), 16)
    return bool(caught >> (signum - 1) & 1)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("nested") / "nested-scaled-3.toml"
    path.write_text(NESTED3)
    return path


@pytest.fixture(scope="module")
def uninterrupted(scenario: Path) -> dict[str, Any]:
    run = lockbreak("check", scenario, "--json", *OPTIONS, cwd=scenario.parent)
    assert run.returncode == 1, run.stderr       # break_return_truth is violated on v2.6.9
    out = results(run.stdout)
    assert [r["status"] for r in out["results"]] == ["holds", "holds", "violated"]
    assert out["results"][0]["states"] == 292_794
    return out


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_killed_and_resumed_run_prints_the_uninterrupted_results(
        scenario: Path, uninterrupted: dict[str, Any], signum: int, tmp_path: Path) -> None:
    checkpoint = tmp_path / "ck"
    command = [*LOCKBREAK, "check", str(scenario), "--json", *OPTIONS,
               "--checkpoint", str(checkpoint)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          cwd=scenario.parent) as killed:
        # SIGTERM is caught only once the search is about to start (Python leaves it alone);
        # signalled then, the search stops at its first poll, after expanding the first level
        while not catches(killed.pid, signal.SIGTERM) and killed.poll() is None:
            time.sleep(0.01)
        killed.send_signal(signum)
        stdout, stderr = killed.communicate(timeout=600)
    assert killed.returncode == 3, stderr
    stopped = results(stdout)["results"]
    assert [r["status"] for r in stopped] == ["incomplete"] * 3
    assert 0 < stopped[0]["states"] < 292_794
    name = {signal.SIGTERM: "SIGTERM", signal.SIGINT: "SIGINT"}[signal.Signals(signum)]
    assert [r["detail"] for r in stopped] == [f"interrupted ({name})"] * 3
    assert f"checkpoint written to {checkpoint}" in stderr

    resumed = lockbreak("check", scenario, "--json", *OPTIONS, "--resume", checkpoint,
                        cwd=scenario.parent)
    assert resumed.returncode == 1, resumed.stderr
    assert results(resumed.stdout) == uninterrupted


@pytest.mark.slow
def test_timeout_writes_a_checkpoint_that_resumes(scenario: Path, uninterrupted: dict[str, Any],
                                                  tmp_path: Path) -> None:
    checkpoint = tmp_path / "ck"
    # The plain engine takes several seconds here, so half a second always cuts it; where
    # the cut falls depends on the machine, so the checks below hold wherever it falls.
    stopped = lockbreak("check", scenario, "--json", *OPTIONS, "--plain-bfs", "--timeout", "0.5",
                        "--checkpoint", checkpoint, cwd=scenario.parent)
    cut = results(stopped.stdout)["results"]
    statuses = [r["status"] for r in cut]
    assert statuses[:2] == ["incomplete", "incomplete"]
    assert "timed out after 0.5 s" in cut[0]["detail"]
    # a violation found before the cut is definite (exit 1) and is the uninterrupted trace
    assert statuses[2] in ("incomplete", "violated")
    assert stopped.returncode == (1 if statuses[2] == "violated" else 3)
    if statuses[2] == "violated":
        assert cut[2]["trace"] == uninterrupted["results"][2]["trace"]
    resumed = lockbreak("check", scenario, "--json", *OPTIONS, "--plain-bfs", "--resume",
                        checkpoint, cwd=scenario.parent)
    assert results(resumed.stdout) == uninterrupted


@pytest.mark.slow
def test_a_checkpoint_of_another_scenario_is_refused(tmp_path: Path) -> None:
    repo = REPO / "scenarios"
    checkpoint = tmp_path / "ck"
    stopped = lockbreak("check", repo / "nested-v2.6.9.toml", "--timeout", "1e-9",
                        "--checkpoint", checkpoint, "--json", cwd=tmp_path)
    assert stopped.returncode == 3 and checkpoint.exists()
    for other in (["nested-v2.6.12.toml"], ["nested-v2.6.9.toml", "--store", "hashcompact"]):
        refused = lockbreak("check", repo / other[0], *other[1:], "--resume", checkpoint,
                            cwd=tmp_path)
        assert refused.returncode == 2
        assert f"{checkpoint}: this checkpoint is of scenario 'nested-v2.6.9'" in refused.stderr
        assert "Traceback" not in refused.stderr
    # the vectorised engine (its fairness columns, `fair_graph`) wrote it: the plain one
    # refuses it
    refused = lockbreak("check", repo / "nested-v2.6.9.toml", "--plain-bfs", "--resume",
                        checkpoint, cwd=tmp_path)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "written by the vectorised engine's fairness analysis" in refused.stderr
    junk = tmp_path / "junk"
    junk.write_text("no")
    refused = lockbreak("check", repo / "nested-v2.6.9.toml", "--resume", junk, cwd=tmp_path)
    assert refused.returncode == 2 and "not a lockbreak checkpoint" in refused.stderr


def test_a_quick_check_of_another_scenario_keeps_the_long_searchs_checkpoint(
        tmp_path: Path) -> None:
    repo = REPO / "scenarios"
    checkpoint, runner = tmp_path / "ck", CliRunner()
    for name in ("nested-v2.6.9.toml", "nested-v2.6.12.toml"):
        stopped = runner.invoke(main, ["check", str(repo / name), "--timeout", "1e-9",
                                       "--checkpoint", str(checkpoint), "--json"])
        assert stopped.exit_code == 3, stopped.stderr
    for name in ("nested-v2.6.9.toml", "nested-v2.6.12.toml"):
        resumed = runner.invoke(main, ["check", str(repo / name), "--resume", str(checkpoint),
                                       "--json", "--checkpoint", str(tmp_path / "after"),
                                       "--trace-dir", str(tmp_path / "traces")])
        assert resumed.exit_code in (0, 1), resumed.stderr
        assert all(r["status"] != "incomplete" for r in json.loads(resumed.stdout)["results"])


def test_byte_flipped_checkpoints_are_refused_or_resume_correctly(tmp_path: Path) -> None:
    scenario = REPO / "scenarios" / "nested-v2.6.9.toml"
    checkpoint = tmp_path / "ck"
    runner = CliRunner()
    args = ["check", str(scenario), "--json", "--trace-dir", str(tmp_path / "traces")]
    whole = runner.invoke(main, args)
    stopped = runner.invoke(main, [*args, "--timeout", "1e-9", "--checkpoint", str(checkpoint)])
    assert stopped.exit_code == 3 and checkpoint.exists()
    expected = results(whole.stdout)
    good = checkpoint.read_bytes()
    rng = random.Random(20261207)
    header = good.index(b"\n") + 1
    positions = rng.sample(range(header), 20) + rng.sample(range(header, len(good)), 80)
    damaged = tmp_path / "damaged"
    for position in positions:
        flipped = bytearray(good)
        flipped[position] ^= 1 << rng.randrange(8)
        damaged.write_bytes(bytes(flipped))
        run = runner.invoke(main, [*args, "--resume", str(damaged),
                                   "--checkpoint", str(tmp_path / "again")])
        assert run.exception is None or isinstance(run.exception, SystemExit), (
            position, run.exception)
        if run.exit_code == 2:
            assert "delete it, or start the check again without --resume" in run.stderr
        else:
            assert results(run.stdout) == expected, position


@pytest.mark.parametrize("changed", ["eras_digest", "package_version"])
def test_a_checkpoint_of_another_version_or_other_eras_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, changed: str) -> None:
    import lockbreak.cli.checkpointing as checkpointing

    scenario = REPO / "scenarios" / "nested-v2.6.9.toml"
    checkpoint, runner = tmp_path / "ck", CliRunner()
    stopped = runner.invoke(main, ["check", str(scenario), "--timeout", "1e-9", "--json",
                                   "--checkpoint", str(checkpoint)])
    assert stopped.exit_code == 3
    # as a later lockbreak, or one whose era bodies were edited, computes its keys
    monkeypatch.setattr(checkpointing, changed, lambda *args: "something else")
    refused = runner.invoke(main, ["check", str(scenario), "--resume", str(checkpoint)])
    assert refused.exit_code == 2
    assert "another lockbreak version or under other era definitions" in refused.stderr


def test_a_plain_engine_checkpoint_or_an_untyped_one_is_refused_by_the_default_engine(
        tmp_path: Path) -> None:
    scenario = REPO / "scenarios" / "nested-v2.6.9.toml"
    checkpoint, runner = tmp_path / "ck", CliRunner()
    stopped = runner.invoke(main, ["check", str(scenario), "--plain-bfs", "--timeout", "1e-9",
                                   "--json", "--checkpoint", str(checkpoint)])
    assert stopped.exit_code == 3
    refused = runner.invoke(main, ["check", str(scenario), "--resume", str(checkpoint)])
    assert refused.exit_code == 2 and "Traceback" not in refused.stderr
    assert ("the checkpoint was written by the plain breadth-first engine, which the "
            "vectorised engine cannot resume; resume with --plain-bfs") in refused.stderr
    # a file of the format whose snapshots were dicts, as an older lockbreak wrote it
    payload = pickle.dumps({"format": "lockbreak-checkpoint/2", "entries": {}})
    old = tmp_path / "old"
    old.write_bytes(f"lockbreak-checkpoint/2 sha256={hashlib.sha256(payload).hexdigest()}\n"
                    .encode() + payload)
    refused = runner.invoke(main, ["check", str(scenario), "--resume", str(old)])
    assert refused.exit_code == 2 and "Traceback" not in refused.stderr
    assert f"{old}: a lockbreak-checkpoint/2 file, not lockbreak-checkpoint/3" in refused.stderr
