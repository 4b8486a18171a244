"""Scenario names become trace file names: only safe ones load, and no trace leaves
--trace-dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockbreak.cli import _trace_path
from lockbreak.core import LockbreakError
from model.scenario import load_scenario
from properties.catalogue import KNOWN
from tests.cli.test_cli import assert_exit, check, nested_text


@pytest.mark.parametrize("name", ["../escaped", "/tmp/escaped", "a/../../b"])
def test_a_name_that_would_leave_the_trace_folder_is_refused_at_load(tmp_path: Path,
                                                                     name: str) -> None:
    path = tmp_path / "s.toml"
    text = nested_text()
    path.write_text(f'name = "{name}"\n' + text[text.index("\n") + 1:])
    result = check(tmp_path, path)
    assert_exit(result, 2)
    assert f"{path}:1:8: the scenario name '{name}' has characters other than" in result.output
    assert not (tmp_path / "escaped.json").exists() and not list(tmp_path.rglob("*.json"))


@pytest.mark.parametrize("stem", ["../escaped", "/tmp/escaped", "a/b", "nul\0byte"])
def test_the_trace_writer_refuses_paths_outside_its_folder(tmp_path: Path, stem: str) -> None:
    with pytest.raises(LockbreakError, match=r"refusing to write the trace .* outside"):
        _trace_path(tmp_path / "traces", stem, set())


def test_the_trace_writer_numbers_same_named_traces(tmp_path: Path) -> None:
    written: set[Path] = set()
    first = _trace_path(tmp_path, "s--v2.6.12--mutual_exclusion", written)
    second = _trace_path(tmp_path, "s--v2.6.12--mutual_exclusion", written)
    assert (first.name, second.name) == ("s--v2.6.12--mutual_exclusion.json",
                                         "s--v2.6.12--mutual_exclusion--2.json")


def test_without_a_name_the_file_name_is_made_safe(tmp_path: Path) -> None:
    path = tmp_path / ".my lock break.toml"
    path.write_text('[kernel]\nversion = "v2.6.12"\n[[cpu]]\ncode = "work();"\n')
    assert load_scenario(path, known_properties=KNOWN).name == "my_lock_break"
