"""The kernel lines an extracted scenario's statements came from.

`lockbreak extract` ends every statement with a ``// FILE:LINE`` comment; reports read them
back here so that a counterexample step names the kernel line beside the scenario line. A
scenario written by hand has no such comments, and its reports stay as they were.

>>> kernel_lines("[[cpu]]\\nspin_lock(L);   // fs/inode.c:12")
{2: ('fs/inode.c', 12)}
"""

from __future__ import annotations

import re
from pathlib import Path

_COMMENT = re.compile(r"//\s*(?P<file>[\w./+-]+\.[ch]):(?P<line>\d+)\s*$")


def kernel_lines(text: str) -> dict[int, tuple[str, int]]:
    """For each 1-based line of scenario ``text`` ending in ``// FILE:LINE``, that kernel
    file and line."""
    found = {}
    for number, line in enumerate(text.splitlines(), 1):
        match = _COMMENT.search(line)
        if match is not None:
            found[number] = (match["file"], int(match["line"]))
    return found


def kernel_lines_of(path: str | Path) -> dict[int, tuple[str, int]]:
    """`kernel_lines` of the scenario file at ``path`` ({} when it cannot be read)."""
    try:
        return kernel_lines(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return {}


def kernel_at(lines: dict[int, tuple[str, int]], line: int) -> str:
    """``FILE:LINE`` of scenario line ``line`` in ``lines`` ("" when it has none).

    >>> kernel_at({2: ("fs/inode.c", 12)}, 2), kernel_at({}, 2)
    ('fs/inode.c:12', '')
    """
    where = lines.get(line)
    return f"{where[0]}:{where[1]}" if where else ""
