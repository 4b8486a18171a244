"""Kernel C that the scenario language does not take, and what to write instead.

Code pasted from a kernel function trips over C the language leaves out: ``&`` in front of a
lock, ``goto`` and its labels, ``for`` with a counter, list iteration macros. A bare
"unexpected character" says nothing about that, so a syntax error at one of them names the
construct and the scenario-language way to say the same thing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from lark import Token

ADDRESS_HINT = ("`&` lock expressions are not part of the scenario language: name the lock as "
                "declared in [locks] (spin_lock(L), not spin_lock(&L))")
FIELD_HINT = ("lock expressions are not part of the scenario language: name the lock as "
              "declared in [locks] (spin_lock(L), not spin_lock(inode->i_lock))")
GOTO_HINT = ("write restart; to start the CPU's code again (goto again, goto retry), break; "
             "to leave a loop (goto out, goto out_unlock), or continue; for its next round")
FOR_HINT = ("write repeat (N) { ... } to run the body N times, while (condition) { ... }, or "
            "forever { ... }")
ITERATION_HINT = ("write repeat (N) { ... } for N entries, or while (condition) { ... }; the "
                  "list itself is not modelled")


def at_character(text: str, at: int) -> str:
    """The hint for an unexpected character at index ``at`` of ``text`` ("" for none).

    >>> at_character("spin_lock(&L);", 10) == ADDRESS_HINT
    True
    """
    if text[at] == "&" and not text.startswith("&&", at):
        return ITERATION_HINT if "for_each" in _open_call(text[:at]) else ADDRESS_HINT
    before = text[:at].rstrip()[-1:]
    if text[at] == ":" and (before.isalnum() or before == "_"):
        return "labels are not part of the scenario language: " + GOTO_HINT
    return ""


def at_token(before: Sequence[Token], token: Token) -> tuple[str, Token, str] | None:
    """``(message, where, hint)`` when ``token``, after the tokens ``before``, is where kernel
    C the language does not take went wrong; None for any other syntax error."""
    words = [str(t) for t in before]
    if str(token) == "->" and "(" in words and before[-1].type == "NAME":
        return (f"a lock expression ({before[-1]}->...) is not part of the scenario language",
                before[-1], FIELD_HINT)
    if words[-1:] == ["goto"]:
        return "goto is not part of the scenario language", before[-1], GOTO_HINT
    if words[-2:] == ["for", "("] and str(token) != ";":
        return ("a C for loop with a counter is not part of the scenario language", before[-2],
                FOR_HINT)
    if str(token) == "{" and words[-1:] == [")"]:
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
