"""Kernel C that the scenario language does not take, and what to write instead.

Code pasted from a kernel function trips over C the language leaves out: ``&`` in front of
something that is not a lock expression, ``for`` with a counter, list iteration macros. A bare
"unexpected character" says nothing about that, so a syntax error at one of them names the
construct and the scenario-language way to say the same thing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from lark import Token

ADDRESS_HINT = ("a lock argument is a lock declared in [locks] (spin_lock(L)) or a lock "
                "expression of names joined by -> or . (spin_lock(&inode->i_lock)) that [locks] "
                "maps to one: i_lock = { kind = \"spin\", expr = [\"&inode->i_lock\"] }")
FOR_HINT = ("write repeat (N) { ... } to run the body N times, while (*) { ... } for a bound "
            "the model cannot see, or for (;;) { ... }")
ITERATION_HINT = ("write while (*) { ... } for a list of any length, or repeat (N) { ... } for N "
                  "entries; the list itself is not modelled")


def at_character(text: str, at: int) -> str:
    """The hint for an unexpected character at index ``at`` of ``text`` ("" for none).

    >>> at_character("spin_lock(&L);", 10) == ADDRESS_HINT
    True
    """
    if text[at] == "&" and not text.startswith("&&", at):
        return ITERATION_HINT if "for_each" in _open_call(text[:at]) else ADDRESS_HINT
    return ""


def at_token(before: Sequence[Token], token: Token) -> tuple[str, Token, str] | None:
    """``(message, where, hint)`` when ``token``, after the tokens ``before``, is where kernel
    C the language does not take went wrong; None for any other syntax error."""
    words = [str(t) for t in before]
    if words[-2:] == ["for", "("] and str(token) != ";":
        return ("a C for loop with a counter is not part of the scenario language", before[-2],
                FOR_HINT)
    if words[-1:] == [")"] and str(token) != ";":
        name = _called(before)
        if name is not None and "for_each" in str(name):
            return (f"{name} is a list iteration macro, not part of the scenario language",
                    name, ITERATION_HINT)
    return None


def _open_call(text: str) -> str:
    """The name of the call whose parentheses are still open at the end of ``text``."""
    depth = 0
    for k in range(len(text) - 1, -1, -1):
        depth += text[k] == ")"
        depth -= text[k] == "("
        if depth < 0:
            found = re.search(r"(\w+)\s*$", text[:k])
            return found[1] if found else ""
    return ""


def _called(before: Sequence[Token]) -> Token | None:
    """The name of the call whose ``)`` ends ``before``."""
    depth = 0
    for k in range(len(before) - 1, -1, -1):
        text = str(before[k])
        depth += text == ")"
        depth -= text == "("
        if depth == 0:
            return before[k - 1] if k > 0 and before[k - 1].type == "NAME" else None
    return None
