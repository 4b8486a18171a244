"""``lockbreak diff --base REV`` on a real git repository holding a copy of the checker."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from contextlib import chdir
from pathlib import Path

import pytest
from click.testing import CliRunner

from lockbreak.cli import main
from lockbreak.cli.diff import compare
from tests.support.paths import REPO

IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc")


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=lockbreak-test", "-c",
                    "user.email=test@lockbreak.invalid", *args], cwd=repo, check=True,
                   capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository with the checker's packages and two scenarios, one commit."""
    for package in ("lockbreak", "model", "properties"):
        shutil.copytree(REPO / package, tmp_path / package, ignore=IGNORE)
    (tmp_path / "scenarios").mkdir()
    for name in ("nested-v2.6.12", "stale-data-reread-v2.6.12"):
        shutil.copy(REPO / "scenarios" / f"{name}.toml", tmp_path / "scenarios")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "base")
    return tmp_path


def _diff(repo: Path, *args: str) -> tuple[int, str]:
    with chdir(repo):
        result = CliRunner().invoke(main, ["diff", *args])
    return result.exit_code, result.output


@pytest.mark.slow
def test_an_unchanged_tree_has_no_regressions(repo: Path) -> None:
    code, output = _diff(repo, "--base", "HEAD")
    assert code == 0, output
    assert "22 verdicts in both" in output
    assert "every verdict is unchanged" in output


@pytest.mark.slow
def test_a_scenario_moved_to_a_broken_era_is_a_regression(repo: Path) -> None:
    path = repo / "scenarios/stale-data-reread-v2.6.12.toml"
    path.write_text(path.read_text().replace('version = "v2.6.12"', 'version = "v2.6.9"'))
    code, output = _diff(repo, "--base", "HEAD", "scenarios")
    assert code == 1, output
    # v2.6.9's cond_resched_lock lies about dropping: the re-read is skipped.
    assert "regressions (held at the base, fail now): 3" in output
    assert ("stale-data-reread-v2.6.12 break_return_truth [v2.6.12, tas, full -> v2.6.9, tas, "
            "full]  (scenarios/stale-data-reread-v2.6.12.toml): holds -> violated") in output
    assert "3 regressions" in output.splitlines()[-1]


@pytest.mark.slow
def test_a_changed_era_definition_is_a_regression(repo: Path) -> None:
    """The checker's own definitions are taken from REV: breaking v2.6.12's
    cond_resched_lock in the working tree shows up as a regression against HEAD."""
    eras = repo / "model/eras/mainline.py"
    text = eras.read_text()
    fix = "            ret = 1;\n            spin_lock(lock);"
    assert fix in text[text.index('V2_6_12 = '):]
    start = text.index('V2_6_12 = ')
    eras.write_text(text[:start] + text[start:].replace(fix, "            spin_lock(lock);", 1))
    code, output = _diff(repo, "--base", "HEAD")
    assert code == 1, output
    assert "break_return_truth" in output and "holds -> violated" in output
    # The base tree (git archive of HEAD) still has the fix: the fix is what changed.
    _git(repo, "commit", "-qam", "drop the fix")
    code, output = _diff(repo, "--base", "HEAD~1")
    assert code == 1 and "holds -> violated" in output
    code, output = _diff(repo, "--base", "HEAD")
    assert code == 0 and "every verdict is unchanged" in output


def test_a_fix_is_reported_and_exits_0(repo: Path) -> None:
    path = repo / "scenarios/stale-data-reread-v2.6.12.toml"
    path.write_text(path.read_text().replace('version = "v2.6.12"', 'version = "v2.6.9"'))
    _git(repo, "commit", "-qam", "broken")
    _git(repo, "checkout", "-q", "HEAD~1", "--", "scenarios/stale-data-reread-v2.6.12.toml")
    code, output = _diff(repo, "--base", "HEAD")
    assert code == 0, output
    assert "fixed (violated at the base, hold now): 3" in output
    assert output.splitlines()[-1] == "no regressions"


def test_bad_revision_and_outside_git_exit_2(repo: Path, tmp_path_factory) -> None:
    code, output = _diff(repo, "--base", "no-such-branch")
    assert code == 2 and "--base no-such-branch: not a revision" in output
    elsewhere = tmp_path_factory.mktemp("nogit")
    code, output = _diff(elsewhere, "--base", "HEAD")
    assert code == 2 and "not inside a git checkout" in output


def test_compare_sorts_changes() -> None:
    def key(prop: str) -> tuple[str, str, str]:
        return ("s.toml", "s", prop)
    base = {key("a"): {"status": "holds"}, key("b"): {"status": "violated"},
            key("c"): {"status": "holds", "worst": 4}, key("d"): {"status": "holds"}}
    head = {key("a"): {"status": "vacuous"}, key("b"): {"status": "holds"},
            key("c"): {"status": "holds", "worst": 6}, key("e"): {"status": "violated"},
            key("d"): {"status": "incomplete"}}
    diff = compare(base, head)
    assert [c.key[-1] for c in diff.regressions] == ["a"]
    assert [c.key[-1] for c in diff.fixed] == ["b"]
    assert [c.key[-1] for c in diff.worst_changed] == ["c"]
    assert [c.key[-1] for c in diff.new_violations] == ["e"]
    assert [c.key[-1] for c in diff.other] == ["d"]
    assert diff.worst_changed[0].describe().endswith("holds (worst 4) -> holds (worst 6)")


def _commands(text: str) -> list[list[str]]:
    """Every ``lockbreak ...`` command written in a workflow or hook file."""
    found = re.findall(r"(?:run|entry): (lockbreak [^\n]+)", text)
    return [shlex.split(c.replace('"origin/${{ github.base_ref }}"', "origin/main"))
            for c in found]


@pytest.mark.parametrize("name", [".github/workflows/lockbreak.yml", ".pre-commit-hooks.yaml",
                                  ".pre-commit-config.yaml"])
def test_ci_and_hook_files_run_commands_the_cli_accepts(name: str) -> None:
    commands = _commands((REPO / name).read_text())
    assert any(c[1] == "diff" and "--base" in c for c in commands), commands
    for words in commands:
        command = main.commands[words[1]]
        known = {opt for p in command.params for opt in getattr(p, "opts", [])}
        flags = [w for w in words[2:] if w.startswith("-")]
        assert set(flags) <= known, (name, words)


@pytest.mark.slow
def test_a_sitecustomize_committed_in_the_base_does_not_run(repo: Path,
                                                            tmp_path_factory) -> None:
    marker = tmp_path_factory.mktemp("marker") / "ran"
    (repo / "sitecustomize.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "a sitecustomize")
    code, output = _diff(repo, "--base", "HEAD", "scenarios/nested-v2.6.12.toml")
    assert code == 0, output
    assert "every verdict is unchanged" in output
    assert not marker.exists()


def test_the_help_says_the_base_must_be_trusted() -> None:
    result = CliRunner().invoke(main, ["diff", "--help"])
    assert "REV must be trusted" in " ".join(result.output.split())
