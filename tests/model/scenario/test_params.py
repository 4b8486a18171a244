"""Scenario parameters: the ``[params]`` table, names in code, overrides, and their errors.

Files are written whole into ``tmp_path``; errors are pinned as ``line:col: message`` and hint.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lockbreak.core import ScenarioError
from model.lang.ast import Call, Repeat
from model.lang.parser import parse_code
from model.scenario import load_scenario
from model.world import build_world

PROPERTIES = {"mutual_exclusion"}

# With one line of [params], line 12 is the first line of cpu0's code.
FILE = '''name = "p"
[kernel]
version = "v2.6.12"
[locks]
B = "spin"
[data]
x = "B"
[params]
{params}
[[cpu]]
code = """
{code}
"""
'''
LOOP = "spin_lock(B);\nrepeat (repeat) { work(n); cond_resched_lock(B); }\nspin_unlock(B);"


def write(tmp_path: Path, params: str = "repeat = 3\nn = 2", code: str = LOOP) -> Path:
    path = tmp_path / "p.toml"
    path.write_text(FILE.format(params=params, code=code))
    return path


def error_of(path: Path, **params: int) -> tuple[str, str]:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path, known_properties=PROPERTIES, params=params or None)
    err = caught.value
    assert err.file == str(path)
    return f"{err.line}:{err.col}: {err.message}", err.hint


def loop_of(path: Path, **params: int) -> Repeat:
    scenario = load_scenario(path, known_properties=PROPERTIES, params=params or None)
    loop = scenario.cpus[0].code[1]
    assert isinstance(loop, Repeat)
    return loop


# ---------------------------------------------------------------- names in code


def test_a_parameter_is_a_repeat_count_and_a_call_argument(tmp_path: Path) -> None:
    loop = loop_of(write(tmp_path))
    assert loop.count == 3
    assert loop.body[0] == Call("work", (2,))


def test_the_keyword_repeat_may_name_a_parameter_in_both_places() -> None:
    [loop] = parse_code("repeat (repeat) { work(repeat); }", file="a", params={"repeat": 4})
    assert isinstance(loop, Repeat)
    assert (loop.count, loop.body) == (4, (Call("work", (4,)),))


def test_a_name_that_is_no_parameter_stays_a_name_in_calls() -> None:
    """Lock names are call arguments too: only declared parameters become numbers."""
    [call] = parse_code("spin_lock(B);", file="a", params={"n": 1})
    assert call == Call("spin_lock", ("B",))


def test_scenario_keeps_the_values_in_file_order(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path), known_properties=PROPERTIES)
    assert list(scenario.params.items()) == [("repeat", 3), ("n", 2)]


def test_the_count_reaches_the_compiled_program(tmp_path: Path) -> None:
    """Only the loop counter's initial value differs between two values of ``repeat``: the
    parameter is not only parsed but runs."""
    path = write(tmp_path)
    [few], [many] = (build_world(load_scenario(path, known_properties=PROPERTIES,
                                               params={"repeat": r})).programs for r in (1, 5))
    changed = [(a, b) for a, b in zip(few.code, many.code, strict=True) if a != b]
    assert [(a.op.name, a.b, b.b) for a, b in changed] == [("SET_REG", 1, 5)]


def test_a_file_without_params_has_none(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(FILE.format(params="", code="work();").replace("[params]\n", ""))
    assert dict(load_scenario(path, known_properties=PROPERTIES).params) == {}


# ---------------------------------------------------------------- overrides


def test_an_override_replaces_the_files_value(tmp_path: Path) -> None:
    path = write(tmp_path)
    assert loop_of(path, repeat=7).count == 7
    scenario = load_scenario(path, known_properties=PROPERTIES, params={"repeat": 7})
    assert dict(scenario.params) == {"repeat": 7, "n": 2}


def test_an_override_of_an_undeclared_parameter_names_the_file_and_the_declared_ones(
        tmp_path: Path) -> None:
    assert error_of(write(tmp_path), repet=5) == (
        "0:0: no parameter 'repet' to set; declared in [params]: repeat, n",
        "did you mean repeat?")


def test_an_override_on_a_file_without_params_says_none_are_declared(tmp_path: Path) -> None:
    path = write(tmp_path, params="", code="work();")
    where, hint = error_of(path, repeat=2)
    assert where == "0:0: no parameter 'repeat' to set; declared in [params]: none"
    assert hint == "declare it in the file's [params] table, e.g. repeat = 3"
    with pytest.raises(ScenarioError, match=r"^.*p\.toml: no parameter 'repeat'"):
        load_scenario(path, known_properties=PROPERTIES, params={"repeat": 2})


@pytest.mark.parametrize("value", [-1, True, 1001])
def test_an_override_must_be_a_count(tmp_path: Path, value: int) -> None:
    where, _ = error_of(write(tmp_path), repeat=value)
    assert where == f"0:0: parameter repeat = {value!r}: a parameter is a count, 0 to 1000"


# ---------------------------------------------------------------- errors at file:line:col


@pytest.mark.parametrize(("params", "code", "where", "hint"), [
    ("n = 2", "repeat (m) { work(); }",
     "12:9: repeat (m): 'm' is not a parameter; declared: n",
     "declare it in the scenario's [params] table, e.g. m = 3, or write a number"),
    ("", "work();\n  repeat (repeat) { work(); }",
     "13:11: repeat (repeat): 'repeat' is not a parameter; declared: none",
     "declare it in the scenario's [params] table, e.g. repeat = 3, or write a number"),
    ('n = "3"', "work();",
     '9:5: params.n must be an integer, not "3"', ""),
    ("n = true", "work();",
     "9:5: params.n must be an integer, not true", ""),
    ("n = -2", "work();",
     "9:5: n = -2 is negative", "a parameter is a count: 0 or more"),
    ("B = 2", "work();",
     "9:1: 'B' is both a lock and a parameter", "give the parameter another name"),
    ("x = 2", "work();",
     "9:1: 'x' is both a datum and a parameter", "give the parameter another name"),
    ('"2n" = 2', "work();",
     "9:1: parameter name '2n' is not a C identifier",
     "code refers to it by name: use letters, digits and _"),
])
def test_params_errors_point_at_the_file(tmp_path: Path, params: str, code: str, where: str,
                                         hint: str) -> None:
    assert error_of(write(tmp_path, params=params, code=code)) == (where, hint)


def test_params_must_be_a_table(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('params = 3\n[kernel]\nversion = "v2.6.12"\n[[cpu]]\ncode = "work();"\n')
    assert error_of(path) == ("1:10: params must be a table, not 3", "")


def test_a_zero_count_is_caught_at_the_loop_that_uses_it(tmp_path: Path) -> None:
    """0 is a valid parameter, but not every use of it is: the static check points at the
    loop, as it does for a literal ``repeat (0)``."""
    where, _ = error_of(write(tmp_path), repeat=0)
    assert where == "14:1: repeat (0) never runs its body"


def test_era_bodies_take_no_parameters() -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_code("repeat (n) { cpu_relax(); }", file="era", mode="era")
    assert caught.value.hint == "era bodies take no parameters: write a number"


def test_a_missing_count_is_still_a_syntax_error() -> None:
    with pytest.raises(ScenarioError, match=r"a:1:9: expected a name or a number before '\)'"):
        parse_code("repeat () { work(); }", file="a")
