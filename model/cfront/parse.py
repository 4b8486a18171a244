"""Kernel C as tree-sitter reads it: source files, functions, positions, and what was not
understood.

Kernel source is read as written, unpreprocessed, as tools that read the kernel without
building it do: macros stay calls (`list_for_each_entry(pos, head, member) { ... }` reads
as a call followed by a block), and a construct the grammar cannot take becomes an error
node instead of stopping the parse. Every consumer reports such a node at its
``file:line:col`` with the text it could not read, never guesses past it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import tree_sitter_c
from tree_sitter import Language, Node, Parser, Tree

from lockbreak.core import ScenarioError


@cache
def _parser() -> Parser:
    return Parser(Language(tree_sitter_c.language()))


@dataclass(frozen=True)
class CSource:
    """One C file as parsed: its path as the user named it, its bytes and its syntax tree."""

    path: str
    data: bytes
    tree: Tree

    def text(self, node: Node) -> str:
        """The source text of ``node``."""
        return self.data[node.start_byte:node.end_byte].decode("utf-8", "replace")

    def line(self, node: Node) -> int:
        """The 1-based line where ``node`` starts."""
        return node.start_point[0] + 1

    def col(self, node: Node) -> int:
        """The 1-based column (in bytes, as compilers count) where ``node`` starts."""
        return node.start_point[1] + 1

    def where(self, node: Node) -> str:
        """``file:line:col`` of ``node``, as errors and comments cite it."""
        return f"{self.path}:{self.line(node)}:{self.col(node)}"

    def error(self, node: Node, message: str, hint: str = "") -> ScenarioError:
        """A `ScenarioError` at ``node`` (the exit-2 error of bad input)."""
        return ScenarioError(message, file=self.path, line=self.line(node), col=self.col(node),
                             hint=hint)


def parse_source(path: str, data: bytes) -> CSource:
    """``data`` parsed as C; ``path`` is only the name errors cite."""
    return CSource(path, data, _parser().parse(data))


def parse_file(path: Path | str) -> CSource:
    """The C file at ``path``, parsed; a missing or unreadable file is a `ScenarioError`."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise ScenarioError(f"cannot read C file: {err.strerror}", file=str(path)) from None
    return parse_source(str(path), data)


def walk(node: Node) -> Iterator[Node]:
    """``node`` and every node below it, in source order."""
    cursor = node.walk()
    while True:
        yield cursor.node  # type: ignore[misc]  # never None while the walk is inside the tree
        if cursor.goto_first_child():
            continue
        while not cursor.goto_next_sibling():
            if not cursor.goto_parent() or cursor.node == node:
                return


def not_understood(node: Node) -> list[Node]:
    """The error and missing nodes below ``node``: what the grammar could not read there."""
    return [n for n in walk(node) if n.is_error or n.is_missing]


def function_name(definition: Node) -> str | None:
    """The name a `function_definition` node defines (through pointer declarators and
    attributes), or None when tree-sitter did not find one."""
    declarator = definition.child_by_field_name("declarator")
    while declarator is not None and declarator.type != "function_declarator":
        declarator = declarator.child_by_field_name("declarator")
    if declarator is None:
        return None
    name = declarator.child_by_field_name("declarator")
    while name is not None and name.type not in ("identifier", "field_identifier"):
        name = name.child_by_field_name("declarator")
    return None if name is None else name.text.decode() if name.text else None


def functions(source: CSource) -> dict[str, Node]:
    """Every function defined in ``source``, by name. Under `#ifdef` alternatives only one
    definition of a name is built; the longest is taken, since the other is as a rule the
    stub of a configuration without the feature (``#else static int f(...) { return 0; }``);
    `definitions` keeps them all."""
    found: dict[str, Node] = {}
    for name, node in definitions(source):
        if name not in found or _size(node) > _size(found[name]):
            found[name] = node
    return found


def _size(node: Node) -> int:
    return node.end_byte - node.start_byte


def definitions(source: CSource) -> list[tuple[str, Node]]:
    """Every function definition in ``source`` with its name, in source order."""
    found = []
    for node in walk(source.tree.root_node):
        if node.type == "function_definition":
            name = function_name(node)
            if name is not None:
                found.append((name, node))
    return found


def function(source: CSource, name: str) -> Node:
    """The definition of function ``name`` in ``source``; a `ScenarioError` naming the
    functions the file does define when there is none."""
    found = functions(source)
    if name in found:
        return found[name]
    near = ", ".join(sorted(found)[:12]) or "none"
    raise ScenarioError(f"no function {name!r} is defined here", file=source.path, line=1,
                        col=1, hint=f"functions defined in this file: {near}")
