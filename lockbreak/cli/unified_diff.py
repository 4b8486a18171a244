"""Unified diffs applied to a copy of a kernel tree, so a proposed change is checked exactly as
it would be merged.

The ``patch`` program applies them when it is installed; otherwise `apply_hunks` does, in pure
Python, with the same rule: a hunk applies where its context and removed lines match, at the
line it names or the nearest place they match. A hunk that applies nowhere is a
`ScenarioError` at its ``@@`` line in the patch file, naming the file it was for.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lockbreak.core import ScenarioError

HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
DEV_NULL = "/dev/null"


@dataclass
class Hunk:
    """One ``@@`` hunk: where it starts in the patch file and in the old file, its lines."""

    at: int                          # line of the @@ header in the patch file
    old_start: int
    lines: list[tuple[str, str]] = field(default_factory=list)   # (" ", "-" or "+", text)

    @property
    def old(self) -> list[str]:
        return [text for kind, text in self.lines if kind in " -"]

    @property
    def new(self) -> list[str]:
        return [text for kind, text in self.lines if kind in " +"]


@dataclass
class FilePatch:
    """The hunks for one file; ``path`` is relative to the tree's top (``a/``/``b/`` gone)."""

    path: str
    at: int                          # line of the --- header
    hunks: list[Hunk] = field(default_factory=list)
    created: bool = False
    deleted: bool = False


def read_patch(patch: Path) -> list[FilePatch]:
    """The files and hunks of a unified diff (git's ``a/``, ``b/`` prefixes stripped)."""
    try:
        text = patch.read_text(errors="replace")
    except OSError as err:
        raise ScenarioError(f"cannot read the patch: {err.strerror}", file=str(patch)) from None
    files: list[FilePatch] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
            old, new = _path(line[4:]), _path(lines[i + 1][4:])
            files.append(FilePatch(new if new != DEV_NULL else old, i + 1,
                                   created=old == DEV_NULL, deleted=new == DEV_NULL))
            i += 2
            continue
        m = HUNK.match(line)
        if m is not None:
            if not files:
                raise ScenarioError("a hunk before any --- / +++ file header", file=str(patch),
                                    line=i + 1, col=1)
            hunk = Hunk(i + 1, int(m.group(1)))
            old_left = int(m.group(2) or 1)
            new_left = int(m.group(4) or 1)
            i += 1
            while i < len(lines) and (old_left > 0 or new_left > 0):
                body = lines[i]
                kind, rest = (body[:1] or " "), body[1:]
                if kind == "\\":          # "\ No newline at end of file"
                    i += 1
                    continue
                if kind not in " -+":
                    raise ScenarioError(f"hunk of {files[-1].path} ends early: expected "
                                        f"{old_left} more old and {new_left} more new lines",
                                        file=str(patch), line=i + 1, col=1,
                                        hint="regenerate the patch with diff -u or git diff")
                hunk.lines.append((kind, rest))
                old_left -= kind in " -"
                new_left -= kind in " +"
                i += 1
            files[-1].hunks.append(hunk)
            continue
        i += 1
    if not files:
        raise ScenarioError("no unified diff in this file (no --- / +++ headers)",
                            file=str(patch), hint="give a patch made by diff -u or git diff")
    return files


def _path(header: str) -> str:
    name = header.split("\t")[0].strip()
    if name == DEV_NULL:
        return name
    return name[2:] if name.startswith(("a/", "b/")) else name


def apply_patches(tree: Path, patches: Sequence[Path]) -> None:
    """Apply each patch, in order, to the tree at ``tree`` (a copy: it is changed in place)."""
    program = shutil.which("patch")
    for patch in patches:
        files = read_patch(patch)
        if program is not None:
            _apply_with_program(program, tree, patch, files)
        else:
            for file_patch in files:
                _apply_in_python(tree, patch, file_patch)


def _apply_with_program(program: str, tree: Path, patch: Path, files: list[FilePatch]) -> None:
    strip = "-p1" if _git_style(patch) else "-p0"
    done = subprocess.run([program, strip, "--batch", "--forward", "--no-backup-if-mismatch",
                           "--reject-file=-", "-d", str(tree), "-i", str(patch.resolve())],
                          capture_output=True, text=True, check=False)
    if done.returncode == 0:
        return
    current = None
    for line in done.stdout.splitlines():
        if line.startswith("patching file "):
            current = line[len("patching file "):].strip().strip("'")
        m = re.match(r"Hunk #(\d+) FAILED at (\d+)", line)
        if m is not None and current is not None:
            raise _failed(patch, files, current, int(m.group(1)))
    output = (done.stdout + done.stderr).strip().replace("\n", "; ")
    raise ScenarioError(f"the patch does not apply: {output[:300]}", file=str(patch),
                        hint="make it against the tree given with --kernel-tree")


def _git_style(patch: Path) -> bool:
    text = patch.read_text(errors="replace")
    return bool(re.search(r"^\+\+\+ b/", text, re.MULTILINE))


def _failed(patch: Path, files: list[FilePatch], path: str, number: int) -> ScenarioError:
    """The error for hunk ``number`` (1-based) of ``path`` not applying."""
    for file_patch in files:
        if file_patch.path == path and 0 < number <= len(file_patch.hunks):
            hunk = file_patch.hunks[number - 1]
            return ScenarioError(f"hunk #{number} for {path} does not apply: its context "
                                 f"(from line {hunk.old_start}) is not in the tree",
                                 file=str(patch), line=hunk.at, col=1,
                                 hint="make the patch against the tree given with "
                                      "--kernel-tree, or apply the patches it depends on "
                                      "first (--patch is repeatable)")
    return ScenarioError(f"hunk #{number} for {path} does not apply", file=str(patch))


def _apply_in_python(tree: Path, patch: Path, file_patch: FilePatch) -> None:
    target = tree / file_patch.path
    if not target.resolve().is_relative_to(tree.resolve()):
        raise ScenarioError(f"the patch names {file_patch.path}, outside the tree",
                            file=str(patch), line=file_patch.at, col=1)
    if file_patch.created:
        old: list[str] = []
    elif target.is_file():
        old = target.read_text(errors="surrogateescape").splitlines()
    else:
        raise ScenarioError(f"the patch changes {file_patch.path}, which the tree does not "
                            "have", file=str(patch), line=file_patch.at, col=1,
                            hint="make the patch against the tree given with --kernel-tree")
    new = apply_hunks(old, file_patch.hunks, lambda n: _failed(patch, [file_patch],
                                                               file_patch.path, n))
    if file_patch.deleted:
        target.unlink()
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("".join(f"{line}\n" for line in new), errors="surrogateescape")


def apply_hunks(lines: list[str], hunks: Sequence[Hunk],
                failed: Callable[[int], ScenarioError] | None = None) -> list[str]:
    """``lines`` with every hunk applied: each where its old lines match, at the line it
    names (shifted by the hunks before it) or the nearest place they match.

    >>> h = Hunk(3, 2, [(" ", "b"), ("-", "c"), ("+", "C")])
    >>> apply_hunks(["a", "b", "c", "d"], [h])
    ['a', 'b', 'C', 'd']
    """
    out = list(lines)
    shift = 0
    for number, hunk in enumerate(hunks, 1):
        old, new = hunk.old, hunk.new
        want = max(hunk.old_start - 1, 0) + shift
        places = [p for p in range(len(out) - len(old) + 1) if out[p:p + len(old)] == old]
        if not places:
            raise (failed(number) if failed is not None
                   else ScenarioError(f"hunk #{number} does not apply"))
        at = min(places, key=lambda p: abs(p - want))
        out[at:at + len(old)] = new
        shift = at - max(hunk.old_start - 1, 0) + len(new) - len(old)
    return out
