"""``check --kernel-tree DIR [--patch FILE.patch]...``: scenarios checked under the era a kernel
tree's own primitives make, and ``diff --kernel-tree DIR --patch ...``: what the patches change.

The era is built by `model.cfront.primitives` on the closest bundled era (the tree's Makefile
version, or ``--version``). With ``--patch``, the files the era is read from and the files the
patches touch are copied to a temporary folder and the patches applied there, in order
(`lockbreak.cli.unified_diff`); the tree itself is never changed. Which primitive came from
which ``file:line`` is printed on stderr before any verdict.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from lockbreak.cli.unified_diff import apply_patches, read_patch
from lockbreak.core import LockbreakError, ScenarioError
from model.cfront.primitive_table import HELPERS, PRIMITIVES
from model.cfront.primitives import TreeEra, closest_era, era_from_tree
from model.eras import ERAS, get_era
from model.scenario.types import Scenario

F = TypeVar("F", bound=Callable[..., Any])


def kernel_tree_options(command: F) -> F:
    """Add ``--kernel-tree`` and ``--patch`` to a click command."""
    command = click.option(
        "--patch", "patches", multiple=True, metavar="FILE.patch",
        type=click.Path(path_type=Path, dir_okay=False),
        help="With --kernel-tree: apply this unified diff to a copy of the tree first "
             "(repeatable, applied in order).")(command)
    return click.option(
        "--kernel-tree", type=click.Path(path_type=Path), metavar="DIR",
        help="Check under the era built from this kernel tree's own primitives "
             "(__cond_resched_lock, spin_needbreak, ...), on the closest bundled era "
             "(or --version).")(command)


@dataclass(frozen=True)
class KernelTree:
    """The era of one kernel tree (patched or not), as the scenarios are checked under it."""

    directory: Path
    patches: tuple[Path, ...]
    tree: TreeEra

    @property
    def version(self) -> str:
        """The bundled era the tree's primitives are patched into."""
        return self.tree.base.name

    def under(self, scenario: Scenario) -> Scenario:
        return self.tree.under(scenario)

    def describe(self) -> list[str]:
        applied = (f", with {', '.join(str(p) for p in self.patches)} applied"
                   if self.patches else "")
        return ([f"kernel tree {self.directory}{applied}: era {self.tree.era.name}"]
                + [f"  {line}" for line in self.tree.describe()])


def kernel_tree_choice(given: dict[str, Any], version: str | None) -> KernelTree | None:
    """Take ``--kernel-tree`` and ``--patch`` out of ``given`` (the command's keyword
    arguments) and build the tree's era, printing where each primitive came from; None
    without ``--kernel-tree``. Bad input is a `LockbreakError`."""
    directory, patches = given.pop("kernel_tree"), tuple(given.pop("patches"))
    if directory is None:
        if patches:
            raise LockbreakError("--patch needs --kernel-tree DIR: the tree it applies to")
        return None
    spread = [name for name, key in (("--workers", "workers"), ("--ray", "ray_address"),
                                     ("--swarm", "swarm_size")) if given.get(key)]
    if spread:
        raise LockbreakError(f"{spread[0]} rebuilds each scenario from its file, without the "
                             "kernel tree's era: leave it out with --kernel-tree")
    if given.get("resume") is not None:
        raise LockbreakError("--resume matches scenarios as their files load, without the kernel "
                             "tree's era: rerun the check with --kernel-tree instead")
    tree = build(directory, patches, version)
    for line in tree.describe():
        click.echo(line, err=True)
    return tree


def with_tree(tree: KernelTree | None, scenario: Scenario) -> Scenario:
    """``scenario`` under the tree's era, or as it is without a tree."""
    return scenario if tree is None else tree.under(scenario)


def build(directory: Path, patches: Sequence[Path], version: str | None) -> KernelTree:
    """The era of the tree at ``directory`` with ``patches`` applied (to a copy)."""
    if not directory.is_dir():
        raise ScenarioError("not a folder: --kernel-tree takes the top folder of a kernel tree",
                            file=str(directory))
    for patch in patches:
        if not patch.is_file():
            raise ScenarioError("no such patch file", file=str(patch))
    if version is not None and version not in ERAS:
        raise LockbreakError(f"--version {version}: unknown era; known: {', '.join(ERAS)}")
    base = get_era(version) if version else closest_era(directory, str(directory))
    if not patches:
        return KernelTree(directory, (), era_from_tree(directory, base, str(directory)))
    with tempfile.TemporaryDirectory(prefix="lockbreak-tree-") as tmp:
        copy = Path(tmp) / "tree"
        _copy_read_files(directory, copy, patches)
        apply_patches(copy, patches)
        return KernelTree(directory, tuple(patches),
                          era_from_tree(copy, base, str(directory), f"{base.name}+tree+patch"))


def _copy_read_files(directory: Path, copy: Path, patches: Sequence[Path]) -> None:
    """Copy what the era is read from (the table's files, the Makefile) and what the
    patches change: a whole kernel tree is never copied."""
    wanted = {"Makefile"}
    for definition in (*PRIMITIVES.values(), *HELPERS.values()):
        wanted.update(definition.files)
    for patch in patches:
        wanted.update(f.path for f in read_patch(patch))
    for rel in sorted(wanted):
        source = directory / rel
        if source.is_file() and source.resolve().is_relative_to(directory.resolve()):
            (copy / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / rel)
    copy.mkdir(parents=True, exist_ok=True)
