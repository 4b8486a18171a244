"""``work(N)`` compiles to a counted loop around one step: a program as long for N = 10**6
as for N = 2, and the states, verdicts, worst cases and counterexample lengths of N
``work()`` statements."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from lockbreak.cli import main
from lockbreak.pipeline import CheckRequest, check_scenario
from model.world import build_world
from tests.support.helpers import load_scenario_text

NESTED = '''name = "nested-work"
[kernel]
version = "{era}"
[locks]
A = "spin"
B = "spin"
C = "spin"
[[cpu]]
code = """
spin_lock(A);
spin_lock(B);
repeat (2) {{
    {work}
    cond_resched_lock(B);
}}
spin_unlock(B);
spin_unlock(A);
"""
[[cpu]]
code = """
spin_lock(C); spin_lock(B); {work} spin_unlock(B); spin_unlock(C);
"""
'''


def verdicts(tmp_path: Path, era: str, work: str) -> list[tuple]:
    scenario = load_scenario_text(tmp_path, NESTED.format(era=era, work=work),
                                  filename=f"{era}-{len(work)}.toml")
    run = check_scenario(scenario, CheckRequest())
    return [(v.result.property, v.result.status, v.result.stats.states, v.result.worst,
             len(v.result.trace) if v.result.trace else None) for v in run.verdicts]


@pytest.mark.parametrize("era", ["v2.6.9", "v2.6.12"])
def test_work_n_has_the_states_of_n_work_statements(tmp_path: Path, era: str) -> None:
    assert verdicts(tmp_path, era, "work(3);") == verdicts(tmp_path, era,
                                                           "work(); work(); work();")


def test_the_program_does_not_grow_with_n(tmp_path: Path) -> None:
    lengths = []
    for n in (2, 1_000_000):
        text = f'name = "w"\n[kernel]\nversion = "v2.6.12"\n[[cpu]]\ncode = "work({n});"\n'
        world = build_world(load_scenario_text(tmp_path, text, filename=f"w{n}.toml"))
        lengths.append(len(world.programs[0].code))
    assert lengths[0] == lengths[1] < 10


def test_a_million_work_steps_stop_at_the_timeout(tmp_path: Path) -> None:
    path = tmp_path / "million.toml"
    path.write_text('name = "million"\n[kernel]\nversion = "v2.6.12"\n[locks]\nL = "spin"\n'
                    + '[[cpu]]\ncode = "spin_lock(L); work(1000000); spin_unlock(L);"\n' * 2)
    began = time.perf_counter()
    run = CliRunner().invoke(main, ["check", str(path), "-p", "mutual_exclusion",
                                    "--timeout", "2", "--checkpoint", str(tmp_path / "ck")])
    assert run.exit_code == 3, run.output
    assert "timed out after 2 s" in run.stdout
    assert time.perf_counter() - began < 30
