"""No private name crosses a module: what another module uses is public.

A leading underscore says "only this module relies on it", so it can change without a look
elsewhere; a name imported by another module (``from model.kernel import _may_block``) or
read off an imported module (``kernel._may_block``) breaks that promise. The packages'
source is read with `ast`, so the check sees every such use, executed or not.
"""

from __future__ import annotations

import ast
import importlib.util

import pytest

from tests.support.paths import REPO

PACKAGES = ("lockbreak", "model", "properties")


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def crossings(source: str, where: str, package: str) -> list[str]:
    """Each private name the module ``source`` (file ``where``, in ``package``) imports from,
    or reads off, another module, as ``file:line: what``."""
    tree = ast.parse(source, where)
    found = []
    modules: set[str] = set()          # local names bound to imported modules
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                modules.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                if _private(alias.name):
                    found.append(f"{where}:{node.lineno}: from {base} import {alias.name}")
                elif _is_module(f"{base}.{alias.name}"):
                    modules.add(alias.asname or alias.name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in modules:
                found.append(f"{where}:{node.lineno}: {ast.unparse(node)}")
    return found


def _sources() -> list[tuple[str, str, str]]:
    """``(source, file, package)`` of every module of the packages."""
    out = []
    for path in sorted(p for package in PACKAGES for p in (REPO / package).rglob("*.py")):
        where = path.relative_to(REPO)
        out.append((path.read_text(), str(where), ".".join(where.parent.parts)))
    return out


def test_no_private_name_is_imported_or_read_across_modules() -> None:
    found = [line for source in _sources() for line in crossings(*source)]
    assert not found, "private names used across modules (make them public):\n" + "\n".join(
        found)


@pytest.mark.parametrize("source, expected", [
    ("from model.kernel import _may_block\n", "from model.kernel import _may_block"),
    ("from .bmc import _Search as Search\n", "from lockbreak.engines.bmc import _Search"),
    ("import model.kernel\nmodel.kernel._step_cache\n", "model.kernel._step_cache"),
    ("from model import kernel\nkernel._may_block(x)\n", "kernel._may_block"),
])
def test_the_scan_sees_each_kind_of_crossing(source: str, expected: str) -> None:
    """A planted crossing of each kind is reported; a private attribute of an object (not
    a module) and a module's own private names are not."""
    planted = source + "self._own = 1\nvalue._field\n_local = 2\n"
    found = crossings(planted, "lockbreak/engines/planted.py", "lockbreak.engines")
    assert len(found) == 1 and found[0].endswith(expected), found
