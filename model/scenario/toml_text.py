"""A scenario file's TOML as text: decoded, its nesting bounded, and every key's position.

``tomllib`` parses a document but reports no positions, and recurses once per level of
nesting. This module holds what the loader needs from the text itself: UTF-8 decoding
(`decode`), the nesting limit checked before parsing (`check_nesting`), tomllib's errors at
their line and column (`toml_error`), `Locator` (where each key and value stands), and values
written back as TOML writes them (`toml_repr`, `quoted`, `dotted`) for messages.
"""

from __future__ import annotations

import bisect
import re
import tomllib
from collections.abc import Sequence
from typing import Any

from lockbreak.core import ScenarioError
from model.lang.limits import MAX_TOML_NESTING


def decode(raw: bytes, file: str) -> str:
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")    # a byte-order mark says nothing
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        col = err.start - (raw.rfind(b"\n", 0, err.start) + 1) + 1
        raise ScenarioError("the file is not UTF-8 text", file=file, line=line, col=col,
                            hint="save it as UTF-8") from None


def check_nesting(text: str, file: str) -> None:
    """Refuse arrays and inline tables nested deeper than `MAX_TOML_NESTING`.

    tomllib (and `Locator`) recurse once per level, so the depth is measured first, by a scan
    that skips strings and comments and needs no valid TOML.
    """
    depth, i, n = 0, 0, len(text)
    while i < n:
        c = text[i]
        if c == "#":
            i = line_end(text, i)
        elif c in "\"'":
            quote = c * 3 if text.startswith(c * 3, i) else c
            i += len(quote)
            while i < n and not text.startswith(quote, i):
                if quote == c and text[i] == "\n":
                    break       # an unclosed one-line string: tomllib says where
                i += 2 if text[i] == "\\" and c == '"' else 1
            i += len(quote)
        else:
            if c in "[{":
                depth += 1
                if depth > MAX_TOML_NESTING:
                    line = text.count("\n", 0, i) + 1
                    col = i - (text.rfind("\n", 0, i) + 1) + 1
                    raise ScenarioError(
                        f"arrays or inline tables nested more than {MAX_TOML_NESTING} deep",
                        file=file, line=line, col=col,
                        hint=f"the limit is {MAX_TOML_NESTING} levels; a scenario needs two")
            elif c in "]}":
                depth = max(depth - 1, 0)
            i += 1


def toml_error(err: tomllib.TOMLDecodeError, text: str, file: str) -> ScenarioError:
    """tomllib's message ends in ``(at line L, column C)`` or ``(at end of document)``."""
    message = str(err)
    found = re.search(r" \(at line (\d+), column (\d+)\)$", message)
    if found:
        line, col = int(found[1]), int(found[2])
        message = message[:found.start()]
    else:
        message = message.removesuffix(" (at end of document)")
        line = text.count("\n") + 1
        col = len(text) - (text.rfind("\n") + 1) + 1
    return ScenarioError(f"invalid TOML: {message[:1].lower()}{message[1:]}", file=file,
                         line=line, col=col)


def dotted(keys: Sequence[str | int]) -> str:
    return ".".join(str(k) for k in keys if not isinstance(k, int))


def toml_repr(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_repr(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(toml_repr(v) for v in value) + "]"
    return str(value)


def quoted(value: Any) -> str:
    """A value in a message: a string in single quotes, anything else as TOML writes it."""
    return f"'{value}'" if isinstance(value, str) else toml_repr(value)


class Locator:
    """Where each key and value of a valid TOML document stands in its source text.

    Keys are paths as tomllib nests them: ``("kernel", "version")``, ``("cpu", 1, "code")``
    (array-of-tables entries are counted), ``("expect", "bounded_wait", "max")`` (inline
    tables are entered). A table header is the position of the table itself; an array of
    tables (``("cpu",)``) stands at its first header.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.keys: dict[tuple[str | int, ...], int] = {}
        self.values: dict[tuple[str | int, ...], int] = {}
        self.scan()

    def find(self, keys: tuple[str | int, ...], *, value: bool = False) -> tuple[int, int]:
        """Line and column of a key (or its value), else of its nearest known parent."""
        table = self.values if value else self.keys
        if keys in table:
            return self.position(table[keys])
        return self.find(keys[:-1]) if keys else (1, 1)

    def code_start(self, keys: tuple[str | int, ...]) -> tuple[int, int]:
        """Where a string value's text begins (TOML drops a newline right after ``\"\"\"``)."""
        at = self.values.get(keys)
        if at is None:
            return self.find(keys)
        quote = 3 if self.text.startswith(('"""', "'''"), at) else 1
        start = at + quote
        if quote == 3 and self.text.startswith(("\n", "\r\n"), start):
            start = self.text.index("\n", start) + 1
        return self.position(start)

    def position(self, index: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.line_starts, index)
        return line, index - self.line_starts[line - 1] + 1

    def scan(self) -> None:
        text, i = self.text, 0
        table: tuple[str | int, ...] = ()
        counts: dict[tuple[str | int, ...], int] = {}
        while i < len(text):
            i = self.blank(i)
            if i >= len(text):
                break
            if text[i] == "[":
                array = text.startswith("[[", i)
                names, j = self.key(i + (2 if array else 1))
                table = tuple(names)
                if array:
                    self.keys.setdefault(table, i)      # the array: its first header
                    counts[table] = counts.get(table, -1) + 1
                    table = (*table, counts[table])
                self.keys[table] = i
                i = line_end(text, j)
            else:
                i = self.pair(i, table)

    def pair(self, i: int, table: tuple[str | int, ...]) -> int:
        """Record ``key = value`` at ``i``; return the index after the value."""
        names, j = self.key(i)
        keys = (*table, *names)
        self.keys[keys] = i
        j = self.spaces(j + 1)  # past '='
        self.values[keys] = j
        return self.value(j, keys)

    def key(self, i: int) -> tuple[list[str], int]:
        """A dotted key at ``i``: its parts and the index after it (and its spaces)."""
        text, names = self.text, []
        while True:
            i = self.spaces(i)
            if text[i] in "\"'":
                end = self.string_end(i)
                names.append(tomllib.loads(f"k = {text[i:end]}")["k"])
            else:
                end = i
                while text[end].isalnum() or text[end] in "_-":
                    end += 1
                names.append(text[i:end])
            i = self.spaces(end)
            if text[i] != ".":
                return names, i
            i += 1

    def value(self, i: int, keys: tuple[str | int, ...]) -> int:
        text = self.text
        if text[i] in "\"'":
            return self.string_end(i)
        if text[i] == "{":
            i = self.spaces(i + 1)
            while text[i] != "}":
                i = self.spaces(self.pair(i, keys))
                if text[i] == ",":
                    i = self.spaces(i + 1)
            return i + 1
        if text[i] == "[":
            i, index = self.blank(i + 1), 0
            while text[i] != "]":
                self.values[(*keys, index)] = i
                i = self.blank(self.value(i, (*keys, index)))
                if text[i] == ",":
                    i, index = self.blank(i + 1), index + 1
            return i + 1
        while i < len(text) and text[i] not in ",]}#\n":
            i += 1
        return i

    def string_end(self, i: int) -> int:
        text = self.text
        quote = text[i] * 3 if text.startswith(text[i] * 3, i) else text[i]
        j = i + len(quote)
        while not text.startswith(quote, j):
            j += 2 if text[j] == "\\" and quote[0] == '"' else 1
        j += len(quote)
        extra = 0
        while len(quote) == 3 and extra < 2 and text.startswith(quote[0], j):
            j, extra = j + 1, extra + 1  # up to two quotes may precede the closing delimiter
        return j

    def spaces(self, i: int) -> int:
        while i < len(self.text) and self.text[i] in " \t":
            i += 1
        return i

    def blank(self, i: int) -> int:
        """Skip spaces, newlines and comments."""
        text = self.text
        while i < len(text):
            if text[i] in " \t\r\n":
                i += 1
            elif text[i] == "#":
                i = line_end(text, i)
            else:
                break
        return i


def line_end(text: str, i: int) -> int:
    end = text.find("\n", i)
    return end if end >= 0 else len(text)
