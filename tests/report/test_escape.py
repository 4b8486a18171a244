"""Scenario-controlled text is inert in every output: terminal, Markdown, JUnit XML."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from click.testing import CliRunner

from lockbreak.cli import main
from lockbreak.core import ScenarioError
from lockbreak.report.escape import (
    error_text,
    markdown_code,
    markdown_text,
    terminal_text,
    xml_text,
)
from tests.support.paths import REPO

HOSTILE = "a|<script>alert(1)</script>[x](javascript:alert(1))\x1b[31m\x07\x00`|"
RAW_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def test_terminal_text_shows_every_control_character() -> None:
    shown = terminal_text("ok\nforged\x1b[2J\x07\x9b\x7f")
    assert shown == "ok\\nforged\\e[2J\\x07\\x9b\\x7f"
    assert not RAW_CONTROL.search(shown) and "\n" not in shown


def test_a_scenario_error_keeps_its_hint_line_and_nothing_else() -> None:
    err = ScenarioError("unknown property 'x\n  mutual_exclusion ... holds\x1b[0m'", "s.toml",
                        7, 1, "known: a\nb")
    assert error_text(err).split("\n") == [
        "s.toml:7:1: unknown property 'x\\n  mutual_exclusion ... holds\\e[0m'",
        "  hint: known: a\\nb"]


def test_markdown_text_neutralises_html_links_and_cells() -> None:
    cell = markdown_text(HOSTILE)
    assert "<" not in cell and ">" not in cell and "\x1b" not in cell
    assert "](" not in cell.replace("\\](", "") and "[" not in cell.replace("\\[", "")
    assert "|" not in cell.replace("\\|", "")
    assert markdown_text("nested-v2.6.12 (a deadlock)") == "nested-v2.6.12 (a deadlock)"


def test_markdown_code_cannot_be_closed_from_inside() -> None:
    assert markdown_code("scenarios/a.toml") == "`scenarios/a.toml`"
    span = markdown_code("a``b")
    assert span.startswith("```") and span.endswith("```") and span.count("```") == 2


def test_xml_text_is_always_well_formed() -> None:
    element = ET.Element("case", {"name": xml_text(HOSTILE)})
    element.text = xml_text(HOSTILE)
    parsed = ET.fromstring(ET.tostring(element, encoding="unicode"))
    assert parsed.get("name") == parsed.text == xml_text(HOSTILE)


def _hostile_copy(tmp_path: Path) -> Path:
    """The nested scenario (one violation expected) in a file whose name is hostile."""
    folder = tmp_path / "s"
    folder.mkdir()
    path = folder / f"{HOSTILE.replace(chr(0), '').replace('/', '')}.toml"
    path.write_text((REPO / "scenarios" / "nested-v2.6.9.toml").read_text())
    return path


def test_every_report_format_is_inert(tmp_path: Path) -> None:
    path = _hostile_copy(tmp_path)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["suite", str(path.parent), "--out", str(out), "-p",
                                       "break_return_truth"], catch_exceptions=False)
    assert result.exit_code in (0, 1), result.output
    md = (out / "report.md").read_text()
    assert not RAW_CONTROL.search(md)
    # Code is shown, not run: outside code blocks and spans nothing is live.
    prose = re.sub(r"(`+)[^\n]*?\1", "", re.sub(r"(?ms)^(`{3,})text$.*?^\1$", "", md))
    assert "<script>" not in prose and "(javascript:" not in prose.replace("\\](", "")
    assert "<script>" in md          # shown as code
    assert "break_return_truth" in md
    junit = (out / "junit.xml").read_text()
    assert not RAW_CONTROL.search(junit)
    files = {case.get("file") for case in ET.fromstring(junit.split("\n", 1)[1]).iter("testcase")}
    assert files == {xml_text(str(path))}


def test_text_output_shows_escapes_not_control_bytes(tmp_path: Path) -> None:
    path = _hostile_copy(tmp_path)
    result = CliRunner().invoke(main, ["check", "--trace-dir", str(tmp_path / "t"), "-p",
                                       "break_return_truth", str(path)],
                                catch_exceptions=False)
    assert result.exit_code in (0, 1), result.output
    assert not RAW_CONTROL.search(result.output)
    assert "\\e[31m\\x07" in result.output


def test_a_key_cannot_forge_a_verdict_line(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('[kernel]\nversion = "v2.6.12"\n[[cpu]]\ncode = "work();"\n[expect]\n'
                    '"x\\n  mutual_exclusion ...... holds\\u001b[2J" = "holds"\n')
    result = CliRunner().invoke(main, ["check", str(path)], catch_exceptions=False)
    assert result.exit_code == 2
    assert not RAW_CONTROL.search(result.output)
    assert not any(line.startswith("  mutual_exclusion") for line in result.output.splitlines())
    assert f"{path}:6:1: unknown property 'x\\n  mutual_exclusion ...... holds\\e[2J'" in (
        result.output)
