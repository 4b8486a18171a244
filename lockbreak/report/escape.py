"""Scenario-controlled text made safe for each output: the terminal, Markdown, XML.

Names, file paths, TOML keys quoted in error messages and details all come from input. Written
raw, a control character or an ANSI escape rewrites the terminal, a newline forges a verdict
line, ``<script>`` or a ``javascript:`` link runs in a rendered report, a ``|`` breaks a table,
and a character XML 1.0 forbids makes junit.xml unreadable. Every writer passes such text
through one of these helpers.
"""

from __future__ import annotations

import re

from lockbreak.core import LockbreakError, ScenarioError

# C0 controls, DEL and C1 controls (ESC, the start of every ANSI sequence, among them).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x1b": "\\e"}
# What XML 1.0 allows: tab, newline, carriage return and most of the rest of Unicode.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_MARKDOWN_SPECIAL = re.compile(r"([\[\]|])")


def visible(char: str) -> str:
    """A control character as the escape that shows it: ``\\n``, ``\\e``, ``\\x07``.

    >>> visible("\\x1b"), visible("\\x07")
    ('\\\\e', '\\\\x07')
    """
    return _NAMED.get(char) or f"\\x{ord(char):02x}"


def terminal_text(text: str) -> str:
    """``text`` on one line of a terminal: every control character (newline and ESC
    included) shown as its escape.

    >>> terminal_text("a\\nb \\x1b[31mred")
    'a\\\\nb \\\\e[31mred'
    """
    return _CONTROL.sub(lambda m: visible(m[0]), text)


def error_text(err: LockbreakError) -> str:
    """An error message for the terminal: a scenario error's message and hint each on one
    line; any other error's lines each made safe, its own line breaks kept.

    >>> print(error_text(ScenarioError("unknown property 'a\\nb'", "s.toml", 2, 1, "known: c")))
    s.toml:2:1: unknown property 'a\\nb'
      hint: known: c
    """
    if isinstance(err, ScenarioError):
        where = f"{err.file}:{err.line}:{err.col}: " if err.line else f"{err.file}: "
        text = terminal_text(where + err.message)
        return text + (f"\n  hint: {terminal_text(err.hint)}" if err.hint else "")
    return "\n".join(terminal_text(line) for line in str(err).split("\n"))


def markdown_text(text: str) -> str:
    r"""``text`` as inert Markdown on one line (a table cell, a heading, a list item): HTML
    escaped, brackets escaped so no link or image can start, ``|`` escaped so no cell can,
    line breaks as spaces and other control characters shown as escapes.

    >>> print(markdown_text('<script>x</script> [a](javascript:alert(1)) | b'))
    &lt;script&gt;x&lt;/script&gt; \[a\](javascript:alert(1)) \| b
    """
    text = terminal_text(text.replace("\r\n", " ").replace("\n", " "))
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def markdown_code(text: str) -> str:
    """``text`` as a Markdown code span on one line: a fence longer than any run of
    backticks inside, ``|`` escaped for tables, control characters shown as escapes.

    >>> markdown_code("a`b|c")
    '``a`b\\\\|c``'
    """
    text = terminal_text(text).replace("|", "\\|")
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def markdown_block(text: str) -> str:
    """``text`` for a fenced code block: its line breaks kept, every other control
    character shown as its escape (a fence inside cannot close the block: see
    `markdown_fence`)."""
    return "\n".join(terminal_text(line) for line in text.split("\n"))


def markdown_fence(text: str) -> str:
    """A backtick fence longer than any run of backticks in ``text``."""
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    return "`" * max(3, longest + 1)


def xml_text(text: str) -> str:
    """``text`` with every character XML 1.0 does not allow shown as its escape (the XML
    writer escapes ``<``, ``&`` and quotes itself).

    >>> xml_text("ok\\x00\\x1b[0m\\ttab")
    'ok\\\\x00\\\\e[0m\\ttab'
    """
    return _NOT_XML.sub(lambda m: visible(m[0]), text)
