"""Size limits of the code: no module over 600 lines, no function over 80.

Small modules with one job and functions that fit on a screen are what a reader can hold
(STYLE.md); the test reads every module of the packages and the benchmarks with `ast` and
names each offender with its size, so a split is a visible decision rather than drift.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support.paths import REPO

SCANNED = ("lockbreak", "model", "properties", "bench")
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80

def _modules() -> list[Path]:
    return sorted(path for folder in SCANNED for path in (REPO / folder).rglob("*.py"))


def offences(path: Path) -> list[str]:
    """What in ``path`` is over a limit: the module's lines, then each function's from its
    ``def`` to its last line (nested ones and methods too), by qualified name and line."""
    text = path.read_text()
    found = []
    lines = len(text.splitlines())
    if lines > MAX_MODULE_LINES:
        found.append(f"{lines} lines (at most {MAX_MODULE_LINES})")
    for name, node in _functions(ast.parse(text)):
        assert node.end_lineno is not None
        length = node.end_lineno - node.lineno + 1
        if length > MAX_FUNCTION_LINES:
            found.append(f"{name} (line {node.lineno}) is {length} lines "
                         f"(at most {MAX_FUNCTION_LINES})")
    return found


def _functions(tree: ast.AST, prefix: str = "") -> list[tuple[str, ast.AST]]:
    """Every function and method under ``tree`` with its dotted name."""
    found: list[tuple[str, ast.AST]] = []
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            name = f"{prefix}{node.name}"
            if not isinstance(node, ast.ClassDef):
                found.append((name, node))
            found += _functions(node, f"{name}.")
        else:
            found += _functions(node, prefix)
    return found


def test_no_module_or_function_is_over_its_limit() -> None:
    over = {path.relative_to(REPO).as_posix(): offences(path) for path in _modules()}
    report = [f"{name}: {offence}" for name, found in sorted(over.items())
              for offence in found]
    assert not report, ("over the size limits; split these by concern:\n  "
                        + "\n  ".join(report))


def test_the_limits_are_measured_as_stated(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES - 1))
    fits = tmp_path / "fits.py"
    fits.write_text(f"def fits():\n{body}\n")
    assert offences(fits) == []
    long = tmp_path / "long.py"
    method = body.replace("\n", "\n    ")
    long.write_text(f"class Search:\n    @staticmethod\n    def run():\n    {method}\n"
                    "        y = 0\n" + "\n" * MAX_MODULE_LINES)
    assert offences(long) == [
        f"{MAX_MODULE_LINES + MAX_FUNCTION_LINES + 3} lines (at most {MAX_MODULE_LINES})",
        f"Search.run (line 3) is {MAX_FUNCTION_LINES + 1} lines (at most {MAX_FUNCTION_LINES})"]
