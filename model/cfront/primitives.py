"""An era from a kernel tree: the tree's own lock-break primitives (``__cond_resched_lock``,
``spin_needbreak``, ``_cond_resched``, ...) translated into the era language
(`model.cfront.primitive_bodies`) and patched into the closest bundled era, each with the
``file:line`` it came from.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType

from lockbreak.core import ScenarioError
from model.cfront.primitive_bodies import translate
from model.cfront.primitive_files import KernelFiles, Origin
from model.cfront.primitive_table import PRIMITIVES
from model.eras import ERAS, Era, Primitive
from model.scenario.types import EraPatch, PatchedPrimitive, Scenario


@dataclass(frozen=True)
class TreeEra:
    """The era a tree's primitives make: ``base`` with their bodies patched in."""

    era: Era
    base: Era
    origins: tuple[Origin, ...]          # the era's primitives taken from the tree
    helpers: tuple[Origin, ...]          # functions expanded into them
    bodies: dict[str, str] = field(compare=False)

    @property
    def kept(self) -> tuple[str, ...]:
        """The base era's primitives the tree did not replace (lock operations and helpers the
        table does not look for)."""
        taken = {o.primitive for o in self.origins}
        return tuple(name for name in self.base.primitives if name not in taken)

    def under(self, scenario: Scenario) -> Scenario:
        """``scenario`` checked under this era: the tree's primitives as an era patch, with
        the scenario's own ``[patch]`` (a change proposed on top of the tree) over them.

        Carried by the scenario, the era reaches every engine that compiles it; the scenario's
        digest covers the bodies, so a checkpoint or trace of the bundled era is never taken
        for one of the tree's.
        """
        if scenario.kernel.version != self.base.name:
            raise ScenarioError(f"the kernel tree builds on {self.base.name}, the scenario "
                                f"runs {scenario.kernel.version}", file=str(scenario.path),
                                hint=f"check it with --version {self.base.name}")
        bodies = {name: PatchedPrimitive(prim.body, *prim.origin[1:], file=prim.origin[0])
                  for name, prim in self.era.primitives.items()
                  if name in self.bodies and prim.origin is not None}
        own = scenario.patch
        if own is not None:
            bodies.update(own.primitives)
        name = own.name if own is not None else self.era.name
        summary = own.summary if own is not None else self.era.summary
        digest = hashlib.sha256(scenario.sha256.encode())
        for primitive in sorted(bodies):
            digest.update(f"\0{primitive}\0{bodies[primitive].body}".encode())
        return replace(scenario, patch=EraPatch(name, summary, MappingProxyType(bodies)),
                       sha256=digest.hexdigest())

    def describe(self) -> list[str]:
        """One line per primitive: which kernel function it came from, and where."""
        lines = [f"{o.primitive}: {o.function}() at {o.where}" for o in self.origins]
        lines += [f"  expanded {o.function}() from {o.where}" for o in self.helpers]
        lines.append(f"kept from {self.base.name}: {', '.join(self.kept)}")
        return lines


# ---------------------------------------------------------------- the era

def kernel_version(tree: Path) -> tuple[int, int, int] | None:
    """VERSION, PATCHLEVEL and SUBLEVEL of the tree's top Makefile, or None without one."""
    try:
        text = (tree / "Makefile").read_text(errors="replace")
    except OSError:
        return None
    numbers = []
    for key in ("VERSION", "PATCHLEVEL", "SUBLEVEL"):
        m = re.search(rf"^{key}\s*=\s*(\d+)", text, re.MULTILINE)
        if m is None:
            return None
        numbers.append(int(m.group(1)))
    return numbers[0], numbers[1], numbers[2]


def _era_version(name: str) -> tuple[int, ...] | None:
    m = re.fullmatch(r"v(\d+)\.(\d+)(?:\.(\d+))?", name)
    return None if m is None else tuple(int(g or 0) for g in m.groups())


def closest_era(tree: Path, shown: str) -> Era:
    """The newest bundled release era no newer than the tree's Makefile version."""
    version = kernel_version(tree)
    if version is None:
        raise ScenarioError("the kernel tree has no Makefile with VERSION, PATCHLEVEL and "
                            "SUBLEVEL", file=f"{shown.rstrip('/')}/Makefile",
                            hint="give the tree's top folder, or name the era to build on "
                                 "with --version ERA")
    older = [(v, e) for e in ERAS.values() if (v := _era_version(e.name)) and v <= version]
    if not older:
        raise ScenarioError(f"the kernel tree is {'.'.join(map(str, version))}, older than "
                            "every bundled era", file=f"{shown.rstrip('/')}/Makefile",
                            hint="name the era to build on with --version ERA")
    return max(older, key=lambda pair: pair[0])[1]


def era_from_tree(tree: Path, base: Era, shown: str | None = None,
                  name: str | None = None) -> TreeEra:
    """``base`` with every primitive the table knows replaced by the tree's definition.

    ``shown`` is how files are cited (the tree as the user named it, when ``tree`` is a
    patched copy); ``name`` names the era (``BASE+tree`` by default). A primitive of ``base``
    the tree does not define is a `ScenarioError`.
    """
    files = KernelFiles(tree, shown or str(tree))
    origins: list[Origin] = []
    helpers: list[Origin] = []
    bodies: dict[str, str] = {}
    changes: dict[str, Primitive] = {}
    for primitive, definition in PRIMITIVES.items():
        if primitive not in base.primitives:
            continue
        done = translate(files, primitive, definition)
        old = base.primitives[primitive]
        changes[primitive] = Primitive(done.body, returns=old.returns,
                                       takes_lock=old.takes_lock, origin=done.place)
        bodies[primitive] = done.body
        origins.append(done.origin)
        helpers += done.helpers
    label = files.shown
    era = base.patch(name or f"{base.name}+tree",
                     summary=f"{base.name} with the primitives of {label}",
                     source=f"the kernel tree {label}", **changes)
    return TreeEra(era, base, tuple(origins), tuple(_unique(helpers)), bodies)


def _unique(origins: list[Origin]) -> list[Origin]:
    seen: dict[tuple[str, tuple[tuple[str, int, int], ...]], Origin] = {}
    for o in origins:
        seen.setdefault((o.function, o.places), o)
    return list(seen.values())
