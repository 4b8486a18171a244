"""A kernel tree's files, parsed once each, and the definitions of a function (or
function-like macro) found in them, each with the configuration it is compiled under: what
`model.cfront.primitive_bodies` translates.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tree_sitter import Node

from lockbreak.core import ScenarioError
from model.cfront.config_guard import Guard, guard_of
from model.cfront.parse import CSource, definitions, parse_source
from model.cfront.primitive_table import Definition


@dataclass(frozen=True)
class Origin:
    """Where a tree defines one era primitive (or a helper expanded into one)."""

    primitive: str
    function: str
    places: tuple[tuple[str, int, int], ...]    # (file, line, col) of each definition used

    @property
    def where(self) -> str:
        """``file:line`` of the definition (each one, when ``#if`` alternatives were joined)."""
        return ", ".join(f"{file}:{line}" for file, line, _ in self.places)


@dataclass(frozen=True)
class Def:
    """One definition of a function (or function-like macro) and the configuration it is
    compiled under."""

    source: CSource
    node: Node            # function_definition (a macro is read as one)
    body: Node            # compound_statement
    params: tuple[str, ...]
    guard: Guard

    @property
    def place(self) -> tuple[str, int, int]:
        return (self.source.path, self.source.line(self.node), self.source.col(self.node))


class KernelFiles:
    """A kernel tree's files, parsed once each, cited as ``shown/relative/path``."""

    def __init__(self, root: Path, shown: str) -> None:
        self.root, self.shown = root, shown.rstrip("/")
        self._sources: dict[str, CSource | None] = {}

    def source(self, rel: str) -> CSource | None:
        if rel not in self._sources:
            path = self.root / rel
            try:
                data = path.read_bytes() if path.is_file() else None
            except OSError as err:
                raise ScenarioError(f"cannot read the kernel tree's file: {err.strerror}",
                                    file=f"{self.shown}/{rel}") from None
            self._sources[rel] = (None if data is None
                                  else parse_source(f"{self.shown}/{rel}", data))
        return self._sources[rel]

    def find(self, what: str, definition: Definition) -> tuple[str, list[Def]]:
        """The kernel name ``definition`` is found under, with every definition of it in the
        first file that has one (in every file, for a definition split across files)."""
        sources = [s for s in map(self.source, definition.files) if s is not None]
        for name in definition.names if definition.split else ():
            found = [d for source in sources for d in find_definitions(source, name)]
            if found:
                return name, found
        for source in sources:
            for name in definition.names:
                found = find_definitions(source, name)
                if found:
                    return name, found
        looked = ", ".join(f"{self.shown}/{rel}" for rel in definition.files)
        raise ScenarioError(
            f"{what}: no definition of {' or '.join(definition.names)} in the kernel tree",
            file=self.shown,
            hint=f"looked in {looked}; give the tree's top folder, or --version ERA to build "
                 "on an era whose primitives this tree has")


def find_definitions(source: CSource, name: str) -> list[Def]:
    found = [_function(source, node) for n, node in definitions(source) if n == name]
    for node in _macros(source.tree.root_node):
        macro_name = node.child_by_field_name("name")
        if macro_name is not None and source.text(macro_name) == name:
            found.append(_macro(source, node))
    return found


def _macros(node: Node) -> list[Node]:
    found = []
    for child in node.named_children:
        if child.type == "preproc_function_def":
            found.append(child)
        elif child.type.startswith("preproc_"):
            found += _macros(child)
    return found


def _function(source: CSource, node: Node) -> Def:
    body = node.child_by_field_name("body")
    declarator = node.child_by_field_name("declarator")
    while declarator is not None and declarator.type != "function_declarator":
        declarator = declarator.child_by_field_name("declarator")
    if body is None or declarator is None:
        raise source.error(node, "function definition not understood")
    params = declarator.child_by_field_name("parameters")
    names = []
    for param in params.named_children if params is not None else ():
        inner = param.child_by_field_name("declarator")
        while inner is not None and inner.type != "identifier":
            inner = inner.child_by_field_name("declarator")
        if inner is not None:
            names.append(source.text(inner))
    return Def(source, node, body, tuple(names), guard_of(source, node))


def _macro(source: CSource, node: Node) -> Def:
    """A function-like macro read as a function: ``#define cond_resched() ({ ...; })`` is
    parsed as the body ``{ ({ ...; }); }`` at the macro's own lines."""
    value = node.child_by_field_name("value")
    params = node.child_by_field_name("parameters")
    names = tuple(source.text(p) for p in params.named_children) if params is not None else ()
    text = source.text(value) if value is not None else ""
    start = value if value is not None else node
    line, col = start.start_point
    prefix = "void __macro(void) {"
    wrapped = ("\n" * line + " " * max(col - len(prefix), 0) + prefix
               + text.replace("\\\n", " \n") + ";}\n")
    read = parse_source(source.path, wrapped.encode())
    function = next(n for _, n in definitions(read))
    body = function.child_by_field_name("body")
    assert body is not None
    return Def(read, node, body, names, guard_of(source, node))
