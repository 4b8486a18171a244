"""Input limits: nesting, condition length, counts and wakeups are refused at file:line:col
with the limit (exit 2), and input at the limits goes through every recursive walk (parse,
static checks, compilation, the model, export) without running out of stack."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from lockbreak.cli import main
from model.kernel import KernelModel
from model.lang.limits import MAX_CONDITION, MAX_NESTING
from model.promela import promela_model
from model.scenario import load_scenario
from model.world import build_world
from properties.catalogue import KNOWN, specs
from tests.cli.test_cli import assert_exit

HEAD = 'name = "limits"\n[kernel]\nversion = "v5.17"\n[locks]\nL = "spin"\n'


def scenario(code: str, cpu: str = "", head: str = HEAD) -> str:
    return f'{head}[[cpu]]\n{cpu}code = """\n{code}\n"""\n'


def chain(operands: int) -> str:
    return " && ".join(["need_resched()"] * (operands // 2)
                       + ["!spin_needbreak(L)"] * (operands - operands // 2))


BODY = "spin_lock(L); if ({cond}) cond_resched_lock(L); spin_unlock(L);"


def at_the_limits() -> dict[str, str]:
    """Code exactly at each limit, an era primitive's own nesting inlined at the deepest
    point."""
    body = BODY.format(cond=chain(MAX_CONDITION))
    deep = MAX_NESTING - 1
    return {
        "ifs": "if (need_resched()) " * deep + "{ " + body + " }",
        "repeats": "repeat (2) { work(); " * deep + body + " }" * deep,
        "braces": "{" * deep + body + "}" * deep,
        "mixed": ("while (need_resched()) { " * (deep // 2) + "if (!need_resched()) { "
                  * (deep - deep // 2) + body + " }" * deep),
        "nots": BODY.format(cond="!" * (MAX_CONDITION - 1) + "spin_needbreak(L)"),
    }


def past_the_limits() -> list[tuple[str, str]]:
    """Code one past each limit, and far past it (what used to overflow the stack), with the
    start of the error message."""
    too_deep = f"statements nested more than {MAX_NESTING} deep"
    too_long = f"a condition of more than {MAX_CONDITION} operands"
    return [
        ("if (need_resched()) " * (MAX_NESTING + 1) + "work();", too_deep),
        ("if (need_resched()) " * 245 + "work();", too_deep),
        ("{" * (MAX_NESTING + 1) + "work();" + "}" * (MAX_NESTING + 1), too_deep),
        ("{" * 326 + "work();" + "}" * 326, too_deep),
        ("repeat (2) { " * (MAX_NESTING + 1) + "work();" + " }" * (MAX_NESTING + 1), too_deep),
        (BODY.format(cond=chain(MAX_CONDITION + 1)), too_long),
        (BODY.format(cond=chain(978)), too_long),
        (BODY.format(cond="!" * 2000 + "need_resched()"), too_long),
    ]


@pytest.mark.parametrize("name", list(at_the_limits()))
def test_code_at_the_limits_is_compiled_and_exported(tmp_path: Path, name: str) -> None:
    path = tmp_path / "s.toml"
    path.write_text(scenario(at_the_limits()[name]))
    world = build_world(load_scenario(path, known_properties=KNOWN))
    model = KernelModel(world, specs(KNOWN))
    assert model.actions(model.init_states()[0])
    assert "proctype" in promela_model(world, specs())


@pytest.mark.parametrize("name", list(at_the_limits()))
@pytest.mark.parametrize("engine", [[], ["--plain-bfs"]])
def test_code_at_the_limits_is_checked(tmp_path: Path, name: str, engine: list[str]) -> None:
    path = tmp_path / "s.toml"
    path.write_text(scenario(at_the_limits()[name]))
    result = CliRunner().invoke(main, ["check", "--max-states", "200", "--trace-dir",
                                       str(tmp_path), *engine, str(path)],
                                catch_exceptions=False)
    assert result.exit_code in (0, 1, 3), result.output


@pytest.mark.parametrize(("code", "message"), past_the_limits())
def test_code_past_the_limits_is_bad_input_at_its_place(tmp_path: Path, code: str,
                                                        message: str) -> None:
    path = tmp_path / "s.toml"
    path.write_text(scenario(code))
    result = CliRunner().invoke(main, ["check", str(path)], catch_exceptions=False)
    assert_exit(result, 2)
    assert f"error: {path}:8:" in result.output and message in result.output
    assert "hint: the limit is" in result.output


def test_deeply_nested_toml_is_bad_input_at_its_place(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text("x = " + "[" * 2000 + "]" * 2000 + "\n" + scenario("work();"))
    result = CliRunner().invoke(main, ["check", str(path)], catch_exceptions=False)
    assert_exit(result, 2)
    assert f"error: {path}:1:69: arrays or inline tables nested more than 64 deep" in (
        result.output)


def test_brackets_in_strings_and_comments_are_not_nesting(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('description = "' + "[" * 100 + '"\n# ' + "{" * 100 + "\n"
                    + scenario("work();"))
    assert load_scenario(path, known_properties=KNOWN).description == "[" * 100
