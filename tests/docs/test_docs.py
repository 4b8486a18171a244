"""The documentation's examples are real: scenarios load, commands print what the pages show.

Conventions of the pages under ``docs/`` that these tests read:

- every ```` ```toml ```` block is a whole scenario file. One titled ``title="NAME.toml"`` is
  written under that name, in page order, for the commands after it; one titled
  ``broken-*.toml`` must be refused by the loader, at a line and column of its own text.
- in a ```` ```console ```` block, ``$ lockbreak ...`` lines are commands and the lines under
  one are its output. A command with output shown is run, in-process, in a folder holding the
  page's files and the repository's ``scenarios/``; each shown line must be printed, in order,
  a ``...`` line standing for any number of lines. Times (``0.09 s``) and report IDs are
  masked, as in ``tests/docs/test_readme.py``.
- a ```` ```python ```` block defines ``test_*`` functions; each passes, run from the
  repository's root.
- a ```` ```c ```` block titled ``"ERA PRIMITIVE"`` (``"v2.6.9 cond_resched_lock"``, or
  ``"PREEMPT_RT spin_lock"``) is that primitive's body in the model, up to indentation.
- ``docs/semantics.md section N`` citations anywhere in the code name a section that exists.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from lockbreak.cli import main
from lockbreak.core import ScenarioError
from model.eras import ERAS, with_preempt_rt
from model.scenario.load import load_scenario
from properties.catalogue import KNOWN
from tests.support.paths import REPO

DOCS = REPO / "docs"
FENCE = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```[ \t]*$", re.M | re.S)
TITLE = re.compile(r'title="([^"]+)"')
ELIDED = "..."
CITING = ("lockbreak", "model", "properties", "tests", "bench", "ARCHITECTURE.md")
# Pages whose commands take longer than a default test run should wait for.
SLOW_PAGES = {
    "engines.md": "lockbreak prove runs z3 for several seconds",
    "reports.md": "lockbreak suite checks two scenarios in four configurations",
}


@dataclass(frozen=True)
class Block:
    """One fenced block of a page: its language, title and text, and where it starts."""

    page: str
    line: int
    lang: str
    title: str
    text: str

    def __str__(self) -> str:
        return f"{self.page}:{self.line}"


def page_blocks(page: Path) -> list[Block]:
    """The fenced blocks of ``page``, in order."""
    text = page.read_text()
    found = []
    for match in FENCE.finditer(text):
        title = TITLE.search(match.group(2))
        found.append(Block(page.name, text.count("\n", 0, match.start()) + 1, match.group(1),
                           title.group(1) if title else "", match.group(3)))
    return found


PAGES = sorted(DOCS.glob("*.md"))
TOML_BLOCKS = [b for page in PAGES for b in page_blocks(page) if b.lang == "toml"]
PYTHON_BLOCKS = [b for page in PAGES for b in page_blocks(page) if b.lang == "python"]
C_BLOCKS = [b for page in PAGES for b in page_blocks(page) if b.lang == "c" and b.title]


def commands(block: Block) -> list[tuple[str, list[str]]]:
    """The ``$ ...`` commands of a console block, each with the output lines under it."""
    runs: list[tuple[str, list[str]]] = []
    for line in block.text.splitlines():
        if line.startswith("$ "):
            runs.append((line[2:], []))
        elif runs:
            runs[-1][1].append(line)
    return runs


def masked(line: str, random: bool = False) -> str:
    """``line`` without what changes from run to run: seconds and report IDs; for a random
    search (``random``), also the counts of states and steps, which depend on how far the
    shrinker got within its time limit (as `test_readme_hypothesis` masks them)."""
    line = re.sub(r"\d+\.\d\d s\b", "N s", line)
    if random:
        line = re.sub(r"[\d,]+ (distinct states|states|steps)", r"N \1", line)
    return re.sub(r"\blbr-[0-9a-f]{16}\b", "lbr-ID", line)


def missing(shown: list[str], printed: list[str], random: bool = False) -> str | None:
    """The first shown line not printed where the page shows it, or None.

    The shown lines, split at ``...`` lines, must be runs of consecutive printed lines, in
    order; the first run starts the output and the last ends it unless a ``...`` says not.
    """
    runs: list[list[str]] = [[]]
    for line in shown:
        if line.strip() == ELIDED:
            runs.append([])
        else:
            runs[-1].append(masked(line, random))
    out = [masked(line, random) for line in printed]
    while out and not out[-1].strip():
        out.pop()
    at = 0
    for i, run in enumerate(runs):
        if not run:
            continue
        starts = [at] if i == 0 else range(at, len(out) - len(run) + 1)
        matched = [(_common(run, out[s:]), s) for s in starts]
        best, start = max(matched, key=lambda m: (m[0], -m[1]), default=(0, at))
        if best < len(run):
            return run[best]
        at = start + len(run)
    if runs[-1] and at != len(out):
        return f"(more output after the last line shown: {out[at]!r})"
    return None


def runnable(command: str, shown: list[str]) -> bool:
    """A ``lockbreak`` command whose output the page shows."""
    return bool(shown) and shlex.split(command)[0] == "lockbreak"


def _common(run: list[str], out: list[str]) -> int:
    """How many lines of ``run`` ``out`` starts with."""
    n = 0
    while n < len(run) and n < len(out) and run[n] == out[n]:
        n += 1
    return n


def run_page(page: Path, where: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    """Write the page's titled scenarios and run its commands in order; how many ran."""
    (where / "scenarios").symlink_to(REPO / "scenarios")
    monkeypatch.chdir(where)
    ran = 0
    for block in page_blocks(page):
        if block.lang == "toml" and block.title:
            (where / block.title).write_text(block.text)
        if block.lang != "console":
            continue
        for command, shown in commands(block):
            if not runnable(command, shown):
                continue
            result = CliRunner().invoke(main, shlex.split(command)[1:])
            if result.exception and not isinstance(result.exception, SystemExit):
                raise result.exception
            wrong = missing(shown, result.output.splitlines(),
                            random="--engine hypothesis" in command or "--swarm" in command)
            assert wrong is None, f"{block}: `{command}` does not print {wrong!r}:\n{result.output}"
            ran += 1
    return ran


@pytest.mark.parametrize("block", [b for b in TOML_BLOCKS if not b.title.startswith("broken-")],
                         ids=str)
def test_every_scenario_in_the_docs_loads(block: Block, tmp_path: Path) -> None:
    path = tmp_path / (block.title or "example.toml")
    path.write_text(block.text)
    scenario = load_scenario(path, known_properties=KNOWN)
    assert scenario.cpus, f"{block}: a scenario without CPUs"


@pytest.mark.parametrize("block", [b for b in TOML_BLOCKS if b.title.startswith("broken-")],
                         ids=str)
def test_every_broken_scenario_in_the_docs_is_refused_at_its_mistake(block: Block,
                                                                     tmp_path: Path) -> None:
    path = tmp_path / block.title
    path.write_text(block.text)
    with pytest.raises(ScenarioError) as refused:
        load_scenario(path, known_properties=KNOWN)
    assert refused.value.file == str(path)
    assert 1 <= (refused.value.line or 0) <= block.text.count("\n") + 1


@pytest.mark.parametrize("block", [b for b in TOML_BLOCKS if "[expect]" in b.text], ids=str)
def test_every_expectation_in_the_docs_is_met(block: Block, tmp_path: Path) -> None:
    path = tmp_path / (block.title or "example.toml")
    path.write_text(block.text)
    result = CliRunner().invoke(main, ["check", str(path), "--max-states", "50000",
                                       "--trace-dir", str(tmp_path / "traces")])
    assert result.exit_code == 0, f"{block}:\n{result.output}"


def shown_commands(page: Path) -> int:
    """How many commands with output ``page`` shows."""
    return sum(runnable(command, shown) for block in page_blocks(page) if block.lang == "console"
               for command, shown in commands(block))


@pytest.mark.parametrize("page", [
    pytest.param(p, marks=[pytest.mark.slow] if p.name in SLOW_PAGES else [], id=p.name)
    for p in PAGES if shown_commands(p)])
def test_every_command_shown_prints_what_the_page_shows(page: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    assert run_page(page, tmp_path, monkeypatch) == shown_commands(page)


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=str)
def test_every_python_example_passes(block: Block, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    namespace: dict[str, object] = {}
    exec(compile(block.text, str(block), "exec"), namespace)
    tests = [f for name, f in namespace.items() if name.startswith("test_") and callable(f)]
    assert tests, f"{block}: no test_ function"
    for test in tests:
        test()


@pytest.mark.parametrize("block", C_BLOCKS, ids=str)
def test_every_era_body_shown_is_the_models(block: Block) -> None:
    era_name, primitive = block.title.split()
    era = with_preempt_rt(ERAS["v2.6.12"]) if era_name == "PREEMPT_RT" else ERAS[era_name]
    assert primitive in era.primitives, f"{block}: {era_name} has no {primitive}"
    assert block.text.split() == era.primitives[primitive].body.split(), f"{block}"


def test_the_masks_and_the_elisions_compare_what_they_should() -> None:
    printed = ["a (3 states, 0.09 s)", "b", "c", "report lbr-0123456789abcdef: ok"]
    assert missing(["a (3 states, 1.25 s)", ELIDED, "report lbr-fedcba9876543210: ok"],
                   printed) is None
    assert missing(["a (3 states, 0.09 s)", "c", ELIDED], printed) == "c"
    assert missing(["b", ELIDED], printed) == "b"
    assert missing([ELIDED, "b", "c"], printed) is not None


def test_every_citation_of_the_semantics_names_a_section_it_has() -> None:
    sections = set(re.findall(r"^## (\d+)\. ", (DOCS / "semantics.md").read_text(), re.M))
    old_name = "SEMANTICS" + ".md"
    for top in CITING:
        paths = [REPO / top] if (REPO / top).is_file() else sorted((REPO / top).rglob("*"))
        for path in paths:
            if path.suffix not in (".py", ".md", ".toml") or not path.is_file():
                continue
            text = path.read_text()
            assert old_name not in text, f"{path}: cite docs/semantics.md"
            for cited in re.findall(r"docs/semantics\.md\s+sections?\s+([\d, and]+)", text):
                for number in re.findall(r"\d+", cited):
                    assert number in sections, f"{path}: no section {number} in docs/semantics.md"


def test_the_site_builds_in_strict_mode(tmp_path: Path) -> None:
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("material") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("mkdocs or mkdocs-material is missing: pip install -e '.[docs]'")
        pytest.skip("pip install -e '.[docs]'")
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet",
         "--config-file", str(REPO / "mkdocs.yml"), "--site-dir", str(tmp_path / "site")],
        capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    assert (tmp_path / "site" / "semantics" / "index.html").is_file()
