"""Loading scenario files: defaults, positions of code in the file, overrides, finding files."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest

from lockbreak.core import ScenarioError
from model.lang.ast import Call, Forever, Pos
from model.scenario import Cpu, Expectation, Kernel, find_scenarios, load_scenario

PROPERTIES = {"mutual_exclusion", "deadlock_free", "bounded_wait", "bounded_latency"}

NESTED = '''name = "nested-journal"
description = "kjournald holds journal and list; a nested waiter spins on list"
[kernel]
version = "v2.6.12"      # an era from section 5
lock = "tas"             # optional: overrides the era's default
preempt = "full"         # none | voluntary | full | rt
timing = "interleaving"  # interleaving | lockstep
[locks]
journal = "spin"
list = "spin"
other = "spin"
[data]
transaction = "list"     # protected by list
[[cpu]]
code = """
spin_lock(journal);
spin_lock(list);
repeat (3) {
    work();
    cond_resched_lock(list);
}
spin_unlock(list);
spin_unlock(journal);
"""
[[cpu]]
wakeups = 1              # the environment may set need_resched on this CPU once, at any time
code = """
spin_lock(other); spin_lock(list); work(); spin_unlock(list); spin_unlock(other);
"""
[expect]                 # what this scenario must show; the suite fails when it does not
mutual_exclusion = "holds"
bounded_latency = { max = 12 }
'''


def write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def load(tmp_path: Path, text: str, **overrides: str):
    return load_scenario(write(tmp_path, text), known_properties=PROPERTIES, **overrides)


def test_the_semantics_example_loads(tmp_path):
    s = load(tmp_path, NESTED)
    assert s.path == tmp_path / "s.toml"
    assert (s.name, s.description) == (
        "nested-journal", "kjournald holds journal and list; a nested waiter spins on list")
    assert s.kernel == Kernel(version="v2.6.12", lock="tas", preempt="full",
                              preempt_dynamic=False, smp=True, timing="interleaving",
                              generic_lockbreak=False, drop_every=1)
    assert list(s.locks.items()) == [("journal", "spin"), ("list", "spin"), ("other", "spin")]
    assert dict(s.data) == {"transaction": "list"}
    assert dict(s.expect) == {"mutual_exclusion": Expectation(status="holds"),
                              "bounded_latency": Expectation(max=12)}
    assert [(c.index, c.wakeups, c.forever, c.line, len(c.code)) for c in s.cpus] == [
        (0, 0, False, 14, 5), (1, 1, False, 25, 5)]
    assert s.sha256 == hashlib.sha256(NESTED.encode()).hexdigest()
    # code positions are positions in the TOML file
    assert s.cpus[0].code[0] == Call("spin_lock", ("journal",))
    assert (s.cpus[0].code[0].pos, s.cpus[0].code[2].body[1].pos) == (Pos(16, 1), Pos(20, 5))
    assert s.cpus[1].code[2].pos == Pos(28, 36)


def test_everything_is_frozen(tmp_path):
    s = load(tmp_path, NESTED)
    for value in (s, s.kernel, s.cpus[0], s.expect["bounded_latency"]):
        with pytest.raises(dataclasses.FrozenInstanceError):
            value.name = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        s.locks["new"] = "spin"  # type: ignore[index]


MINIMAL = '''[kernel]
version = "{version}"
{extra}
[locks]
A = "spin"
[[cpu]]
code = "spin_lock(A); work(); spin_unlock(A);"
'''


@pytest.mark.parametrize(("version", "extra", "lock", "generic"), [
    ("v2.6.8", "", "tas", False),
    ("v2.6.25", "", "ticket", False),
    ("v2.6.25", 'lock = "tas"\ngeneric_lockbreak = true', "tas", True),
    ("v4.15-rc", "", "tas", True),
    ("v5.17", "", "qspinlock", False),
])
def test_defaults_come_from_the_era(tmp_path, version, extra, lock, generic):
    s = load(tmp_path, MINIMAL.format(version=version, extra=extra))
    assert s.kernel == Kernel(version=version, lock=lock, generic_lockbreak=generic)
    assert (s.name, s.description, dict(s.data), dict(s.expect)) == ("s", "", {}, {})
    line = 6 + extra.count("\n")
    assert s.cpus == (Cpu(0, s.cpus[0].code, wakeups=0, forever=False, line=line),)


def test_all_kernel_fields(tmp_path):
    extra = ('preempt = "none"\npreempt_dynamic = true\nsmp = false\ntiming = "lockstep"\n'
             "drop_every = 3")
    s = load(tmp_path, MINIMAL.format(version="v2.6.8-mm", extra=extra))
    assert s.kernel == Kernel(version="v2.6.8-mm", lock="tas", preempt="none",
                              preempt_dynamic=True, smp=False, timing="lockstep",
                              drop_every=3)


def test_overrides_replace_the_file_values(tmp_path):
    s = load(tmp_path, NESTED, version="v2.6.25", lock="ticket", preempt="rt",
             timing="lockstep")
    assert (s.kernel.version, s.kernel.lock, s.kernel.preempt, s.kernel.timing) == (
        "v2.6.25", "ticket", "rt", "lockstep")


def test_override_supplies_a_missing_version(tmp_path):
    s = load(tmp_path, '[[cpu]]\ncode = "work();"', version="v6.11")
    assert (s.kernel.version, s.kernel.lock) == ("v6.11", "qspinlock")


def test_override_errors_name_the_option(tmp_path):
    with pytest.raises(ScenarioError) as caught:
        load(tmp_path, NESTED, version="v9.9")
    assert caught.value.message == (
        "--version v9.9: unknown era; known: v2.6.8, v2.6.8-mm, v2.6.9, v2.6.11, v2.6.12, "
        "v2.6.20, v2.6.25, v4.15-rc, v4.15, v5.17, v6.11, v6.13")
    assert (caught.value.line, caught.value.hint) == (
        0, "v9.9 is not modelled; choose the era whose code you mean (lockbreak list "
        "describes each)")
    with pytest.raises(ScenarioError, match=r"--lock mcs: unknown lock algorithm; known: tas, "
                       r"ticket, qspinlock"):
        load(tmp_path, NESTED, lock="mcs")
    with pytest.raises(ScenarioError, match=r"--preempt tickless: unknown preempt model"):
        load(tmp_path, NESTED, preempt="tickless")
    with pytest.raises(ScenarioError) as caught:
        load(tmp_path, NESTED, preempt="lazy")
    assert (caught.value.message, caught.value.line, caught.value.hint) == (
        '--preempt lazy: v2.6.12 has no preempt = "lazy"', 0,
        "CONFIG_PREEMPT_LAZY arrived in v6.13; set version to it or later, or choose another "
        "preempt model")
    with pytest.raises(ScenarioError, match=r"--timing steps: unknown timing"):
        load(tmp_path, NESTED, timing="steps")


def test_override_that_breaks_a_file_value_names_the_option(tmp_path):
    text = MINIMAL.format(version="v2.6.8-mm", extra="drop_every = 2")
    with pytest.raises(ScenarioError) as caught:
        load(tmp_path, text, version="v2.6.12")
    assert str(caught.value).endswith(
        "s.toml:3:14: --version v2.6.12: v2.6.12 has no drop_every\n  hint: drop_every is the "
        "-mm kludge's knob, only in v2.6.8-mm; remove it or change version")
    text = MINIMAL.format(version="v2.6.25", extra='lock = "tas"\ngeneric_lockbreak = true')
    with pytest.raises(ScenarioError) as caught:
        load(tmp_path, text, lock="ticket")
    assert (caught.value.line, caught.value.col, caught.value.message) == (
        4, 21, '--lock ticket: generic_lockbreak needs lock = "tas", not "ticket"')
    # the era's default generic_lockbreak, made wrong by --lock: no file position to show
    with pytest.raises(ScenarioError) as caught:
        load(tmp_path, MINIMAL.format(version="v4.15-rc", extra=""), lock="ticket")
    assert (caught.value.line, caught.value.message, caught.value.hint) == (
        0, '--lock ticket: generic_lockbreak needs lock = "tas", not "ticket"',
        "generic_lockbreak is the break_lock flag of TAS locks; v4.15-rc has it by default: "
        "set generic_lockbreak = false")


def test_static_errors_say_the_era_came_from_the_command_line(tmp_path):
    text = MINIMAL.format(version="v5.17", extra="").replace(
        "work();", "if (spin_needbreak(A)) work();")
    with pytest.raises(ScenarioError) as caught:
        load(tmp_path, text, version="v2.6.12")
    assert caught.value.message == "spin_needbreak is not in v2.6.12 (--version)"


@pytest.mark.parametrize(("value", "start"), [
    ('"""\nwork();\n  schedule();"""', [(8, 1), (9, 3)]),
    ('"""\r\nwork();\r\n  schedule();"""', [(8, 1), (9, 3)]),
    ('"""work();\n  schedule();"""', [(7, 11), (8, 3)]),
    ("'''\nwork();\n  schedule();'''", [(8, 1), (9, 3)]),
    ('"work(); schedule();"', [(7, 9), (7, 17)]),
    ("'work(); schedule();'", [(7, 9), (7, 17)]),
])
def test_code_positions_for_every_string_form(tmp_path, value, start):
    text = ('# leading comment\n[kernel]\nversion = "v5.17"\n[[cpu]]\nwakeups = 0\n\n'
            f"code = {value}\n")
    s = load(tmp_path, text)
    assert [(st.pos.line, st.pos.col) for st in s.cpus[0].code] == start


def test_tricky_strings_do_not_confuse_positions(tmp_path):
    text = '''description = """a \\""" inside, [[cpu]] and code = "x" too, and a last quote""""
name = 'its' # it"s
[kernel]
version = "v5.17"
"unknown.key" = [1, [2, "]"], { a = "}" }]
'''
    with pytest.raises(ScenarioError) as caught:
        load(tmp_path, text)
    assert (caught.value.line, caught.value.col, caught.value.message) == (
        5, 1, "unknown [kernel] field 'unknown.key'")


def test_cpu_line_inline_tables_and_forever(tmp_path):
    text = '''[kernel]
version = "v5.17"
[locks]
"A" = "spin"

[[cpu]] # first
code = """forever { spin_lock(A); work(); spin_unlock(A); }"""

[[ cpu ]]
code = 'if (need_resched()) { repeat (2) { forever { work(); } } }'
[expect]
bounded_wait = { max = 0 }
"mutual_exclusion" = "violated"
'''
    s = load(tmp_path, text)
    assert [(c.line, c.forever) for c in s.cpus] == [(6, True), (9, True)]
    assert isinstance(s.cpus[0].code[0], Forever)
    assert dict(s.expect) == {"bounded_wait": Expectation(max=0),
                              "mutual_exclusion": Expectation(status="violated")}


def test_find_scenarios(tmp_path):
    folder = tmp_path / "suite"
    folder.mkdir()
    for name in ("b.toml", "a.toml", "notes.txt"):
        (folder / name).write_text("")
    (folder / "sub").mkdir()
    (folder / "sub" / "c.toml").write_text("")
    single = write(tmp_path, "", "single.scn")
    # Subfolders are searched too (scenarios/latency/ is part of the suite).
    assert find_scenarios([single, folder, str(folder / "a.toml")]) == [
        single, folder / "a.toml", folder / "b.toml", folder / "sub" / "c.toml"]


def test_find_scenarios_errors(tmp_path):
    with pytest.raises(ScenarioError) as caught:
        find_scenarios([tmp_path / "missing.toml"])
    assert str(caught.value) == f"{tmp_path / 'missing.toml'}: no such file or folder"
    with pytest.raises(ScenarioError, match=r"no \*\.toml scenario files in this folder"):
        find_scenarios([tmp_path])


def test_unreadable_and_non_utf8_files(tmp_path):
    with pytest.raises(ScenarioError, match="cannot read the scenario: No such file"):
        load_scenario(tmp_path / "nope.toml", known_properties=PROPERTIES)
    path = tmp_path / "bad.toml"
    path.write_bytes(b'name = "x"\ndescription = "caf\xe9"\n')
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path, known_properties=PROPERTIES)
    assert (caught.value.line, caught.value.col, caught.value.message) == (
        2, 19, "the file is not UTF-8 text")


def test_a_byte_order_mark_is_skipped(tmp_path):
    text = '[kernel]\nversion = "v5.17"\n[[cpu]]\ncode = "work(); schedule();"\n'
    path = tmp_path / "s.toml"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    s = load_scenario(path, known_properties=PROPERTIES)
    assert [(st.pos.line, st.pos.col) for st in s.cpus[0].code] == [(4, 9), (4, 17)]
    assert s.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(("locks", "label"), [("", "tas"), ('[locks]\nR = "rwlock"\n', "rwlock"),
                                              ('[locks]\nL = "spin"\n', "tas")])
def test_the_lock_label_of_a_scenario_without_spinlocks(tmp_path, locks, label):
    from model.world import build_world

    text = f'[kernel]\nversion = "v2.6.12"\n{locks}[[cpu]]\ncode = "work();"\n'
    assert build_world(load(tmp_path, text)).lock_algorithm == label
