"""``lockbreak diff --base REV``: what a change does to the verdicts, before it is merged.

The scenarios *and* the checker (era definitions, lock algorithms, properties) are taken from
REV, unpacked with ``git archive`` into a temporary folder, and checked by that tree's own
``lockbreak check --json``; the working tree is checked the same way. Verdicts are matched by
scenario file, scenario and property (a scenario moved to another era is the same scenario,
changed). A regression is a property that held at
REV and now fails (violated or vacuous); it makes the command exit 1.

``lockbreak diff --kernel-tree DIR --patch FILE.patch`` takes a kernel patch as the change
instead: this checker runs ``check --json --kernel-tree DIR`` without the patches and with them.

REV must be trusted: checking it runs REV's own Python code, as resuming a checkpoint unpickles
it. Each tree's checker runs in Python's isolated mode (``python -I``), with only that tree put
on ``sys.path``, so files that merely sit in a tree (a ``sitecustomize.py``, ``.pth`` files) and
``PYTHON*`` variables are not picked up; REV's ``lockbreak`` package itself still runs.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from lockbreak.cli.kernel_tree import build, kernel_tree_options
from lockbreak.core import LockbreakError
from lockbreak.report.escape import error_text

EXIT_OK, EXIT_REGRESSION, EXIT_BAD_INPUT = 0, 1, 2
FAILS = ("violated", "vacuous")
# The entry point of the tree given as the first argument, put first on sys.path.
_RUN = ("import sys; sys.path.insert(0, sys.argv.pop(1)); from lockbreak.cli import main; "
        "sys.argv[0] = 'lockbreak'; main()")

Key = tuple[str, str, str]     # scenario file, scenario name, property


@dataclass(frozen=True)
class Change:
    """One verdict that differs between the base and the working tree."""

    key: Key
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None

    def describe(self) -> str:
        file, scenario, prop = self.key
        configs = dict.fromkeys(_config(r) for r in (self.before, self.after) if r)
        return (f"{scenario} {prop} [{' -> '.join(configs)}]  ({file}): "
                f"{_word(self.before)} -> {_word(self.after)}")


def _config(record: Mapping[str, Any]) -> str:
    return ", ".join(str(record[k]) for k in ("version", "lock", "preempt") if k in record)


def _word(record: Mapping[str, Any] | None) -> str:
    if record is None:
        return "absent"
    worst = record.get("worst")
    return record["status"] + (f" (worst {worst})" if worst is not None else "")


@dataclass
class Diff:
    """The verdict changes, by kind."""

    regressions: list[Change]
    new_violations: list[Change]
    fixed: list[Change]
    worst_changed: list[Change]
    other: list[Change]
    compared: int


def repo_root(start: Path) -> Path:
    ran = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=start,
                          capture_output=True, text=True, check=False)
    if ran.returncode != 0:
        raise LockbreakError(f"{start} is not inside a git checkout; lockbreak diff compares "
                             "against a git revision")
    return Path(ran.stdout.strip())


def unpack(root: Path, rev: str, into: Path) -> str:
    """Write the tree of ``rev`` into ``into``; returns the commit it names."""
    ran = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
                          cwd=root, capture_output=True, text=True, check=False)
    if ran.returncode != 0:
        raise LockbreakError(f"--base {rev}: not a revision of {root}; give a branch, tag or "
                             "commit (e.g. origin/main or HEAD)")
    commit = ran.stdout.strip()
    tar = subprocess.run(["git", "archive", "--format=tar", commit], cwd=root,
                         capture_output=True, check=True)
    with tarfile.open(fileobj=io.BytesIO(tar.stdout)) as archive:
        if hasattr(tarfile, "data_filter"):    # Python >= 3.11.4: refuse links out of `into`
            archive.extractall(into, filter="data")
        else:  # pragma: no cover - git archive of a local revision, written by git itself
            archive.extractall(into)
    return commit


def verdicts(tree: Path, paths: Sequence[str], trace_dir: Path, options: Sequence[str] = ()
             ) -> tuple[dict[Key, dict[str, Any]], list[str]]:
    """Run ``tree``'s own ``lockbreak check --json`` (with ``options``) on ``paths`` (relative
    to ``tree``, or absolute): its verdicts by key, and the scenarios it could not check (bad
    input there)."""
    present = [p for p in paths if (tree / p).exists()]
    if not present:
        return {}, []
    ran = subprocess.run([sys.executable, "-I", "-c", _RUN, str(tree), "check", "--json",
                           "--trace-dir", str(trace_dir), *options, *present], cwd=tree,
                          capture_output=True, text=True, check=False)
    try:
        data = json.loads(ran.stdout)
    except json.JSONDecodeError:
        raise LockbreakError(f"the checker of {tree} did not print JSON results (exit "
                             f"{ran.returncode}): {ran.stderr.strip()[-400:]}") from None
    out: dict[Key, dict[str, Any]] = {}
    for r in data.get("results", []):
        key = (r["file"], r["scenario"], r["property"])
        out[key] = r
    return out, [str(err["error"]) for err in data.get("errors", [])]


def compare(base: Mapping[Key, Mapping[str, Any]], head: Mapping[Key, Mapping[str, Any]]) -> Diff:
    """Sort every verdict that differs into regressions, new violations, fixes and the rest.

    >>> k = ("s.toml", "s", "mutual_exclusion")
    >>> d = compare({k: {"status": "holds", "version": "v2.6.12"}},
    ...             {k: {"status": "violated", "version": "v2.6.9"}})
    >>> [c.describe() for c in d.regressions]
    ['s mutual_exclusion [v2.6.12 -> v2.6.9]  (s.toml): holds -> violated']
    """
    diff = Diff([], [], [], [], [], 0)
    for key in sorted(set(base) | set(head)):
        before, after = base.get(key), head.get(key)
        if before is not None and after is not None:
            diff.compared += 1
        b = before["status"] if before else None
        a = after["status"] if after else None
        change = Change(key, before, after)
        if b == "holds" and a in FAILS:
            diff.regressions.append(change)
        elif a == "violated" and b != "violated":
            diff.new_violations.append(change)
        elif b == "violated" and a == "holds":
            diff.fixed.append(change)
        elif b != a:
            diff.other.append(change)
        elif before and after and before.get("worst") != after.get("worst"):
            diff.worst_changed.append(change)
    return diff


def render(diff: Diff, rev: str, commit: str, head: str = "working tree") -> str:
    base = f"{rev} ({commit[:12]})" if commit else rev
    lines = [f"lockbreak diff: {base} -> {head}, {diff.compared} verdicts in both"]
    for title, items in (("regressions (held at the base, fail now)", diff.regressions),
                         ("new violations", diff.new_violations),
                         ("fixed (violated at the base, hold now)", diff.fixed),
                         ("changed worst cases", diff.worst_changed),
                         ("other changes", diff.other)):
        if items:
            lines.append(f"{title}: {len(items)}")
            lines += [f"  {c.describe()}" for c in items]
    n = len(diff.regressions)
    lines.append(f"{n} regression{'' if n == 1 else 's'}" if n else
                 "no regressions" + ("" if any((diff.new_violations, diff.fixed,
                                                diff.worst_changed, diff.other))
                                     else ": every verdict is unchanged"))
    return "\n".join(lines)


@click.command("diff")
@click.argument("paths", nargs=-1)
@click.option("--base", "rev", metavar="REV",
              help="The git revision to compare with (a branch, tag or commit). It must be "
                   "trusted: its own checker code is run.")
@click.option("--version", "version", metavar="ERA",
              help="With --kernel-tree: the era the tree's primitives are patched into.")
@kernel_tree_options
def diff_cmd(paths: tuple[str, ...], rev: str | None, version: str | None,
             kernel_tree: Path | None, patches: tuple[Path, ...]) -> None:
    """Check PATHS (default: scenarios/) at REV and in the working tree; exit 1 on a
    regression (a property that held at REV and now fails). With --kernel-tree DIR and
    --patch FILE.patch instead of --base, the change is the patches: PATHS are checked under
    the tree's era without them and with them.

    REV must be trusted: its own checker (Python code) is run to check it, in Python's
    isolated mode.
    """
    if kernel_tree is not None or patches:
        sys.exit(patch_diff(paths, rev, version, kernel_tree, patches))
    if rev is None or version is not None:
        click.echo("error: give --base REV, or --kernel-tree DIR with --patch FILE.patch"
                   + (" (--version names the era a kernel tree builds on)" if version else ""),
                   err=True)
        sys.exit(EXIT_BAD_INPUT)
    try:
        root = repo_root(Path.cwd())
        rel = [(Path.cwd() / p).resolve().relative_to(root).as_posix()
               for p in paths] or ["scenarios"]
        with tempfile.TemporaryDirectory(prefix="lockbreak-diff-") as tmp:
            base_tree = Path(tmp) / "base"
            base_tree.mkdir()
            commit = unpack(root, rev, base_tree)
            base, base_errors = verdicts(base_tree, rel, Path(tmp) / "traces-base")
            head, head_errors = verdicts(root, rel, Path(tmp) / "traces-head")
    except ValueError:
        click.echo(f"error: {', '.join(paths)}: every path must be inside {root}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except LockbreakError as err:
        click.echo(f"error: {error_text(err)}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    for where, errors in ((f"at {rev}", base_errors), ("in the working tree", head_errors)):
        for message in errors:
            click.echo(f"not checked {where}: {message}", err=True)
    if head_errors:
        sys.exit(EXIT_BAD_INPUT)
    if not head and not base:
        click.echo(f"error: no scenario files at {', '.join(rel)} in either tree", err=True)
        sys.exit(EXIT_BAD_INPUT)
    diff = compare(base, head)
    click.echo(render(diff, rev, commit))
    sys.exit(EXIT_REGRESSION if diff.regressions else EXIT_OK)


def patch_diff(paths: Sequence[str], rev: str | None, version: str | None,
               directory: Path | None, patches: Sequence[Path]) -> int:
    """``diff --kernel-tree DIR --patch FILE.patch...``: PATHS checked by this checker under
    the tree's era, without the patches (the base) and with them; the exit code."""
    try:
        if rev is not None:
            raise LockbreakError("--base compares checker revisions, --patch compares a "
                                 "kernel tree with and without patches: give one of them")
        if directory is None or not patches:
            raise LockbreakError("diff --kernel-tree DIR needs the change: --patch FILE.patch")
        build(directory, patches, version)              # bad input is refused here, once
    except LockbreakError as err:
        click.echo(f"error: {error_text(err)}", err=True)
        return EXIT_BAD_INPUT
    checker = Path(__file__).resolve().parents[2]
    scenarios = [str(Path(p).resolve()) for p in paths] or [str(checker / "scenarios")]
    tree = ["--kernel-tree", str(directory.resolve())] + (["--version", version] if version
                                                          else [])
    patched = [*tree, *(arg for p in patches for arg in ("--patch", str(p.resolve())))]
    with tempfile.TemporaryDirectory(prefix="lockbreak-diff-") as tmp:
        base, base_errors = verdicts(checker, scenarios, Path(tmp) / "traces-base", tree)
        head, head_errors = verdicts(checker, scenarios, Path(tmp) / "traces-head", patched)
    label = ", ".join(str(p) for p in patches)
    for where, errors in (("without the patches", base_errors), ("with them", head_errors)):
        for message in errors:
            click.echo(f"not checked {where}: {message}", err=True)
    if base_errors or head_errors:
        return EXIT_BAD_INPUT
    if not head and not base:
        click.echo(f"error: no scenario files at {', '.join(scenarios)}", err=True)
        return EXIT_BAD_INPUT
    diff = compare(base, head)
    click.echo(render(diff, str(directory), "", head=f"with {label}"))
    return EXIT_REGRESSION if diff.regressions else EXIT_OK
