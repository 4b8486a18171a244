"""The ``lockbreak`` command group, guarded: a failure of lockbreak itself is never a verdict.

A `LockbreakError` that no command caught is still bad input (exit 2, its message). Any other
exception is a bug in lockbreak: it exits with `lockbreak.core.EXIT_INTERNAL` (4) and a message
saying so, the exception in one line and how to report it, so that CI cannot mistake a crash
for a violation (1) or an undecided run (3). ``LOCKBREAK_DEBUG=1`` lets the exception and its
traceback through, for whoever fixes it.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from lockbreak.core import EXIT_INTERNAL, LockbreakError
from lockbreak.report.escape import error_text, terminal_text

EXIT_BAD_INPUT = 2


class GuardedGroup(click.Group):
    """A `click.Group` whose commands exit 4 on an internal error, 2 on a stray
    `LockbreakError`."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except LockbreakError as err:
            click.echo(f"error: {error_text(err)}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except Exception as err:
            if os.environ.get("LOCKBREAK_DEBUG", "") not in ("", "0"):
                raise
            click.echo(internal_error(err), err=True)
            sys.exit(EXIT_INTERNAL)


def internal_error(err: BaseException) -> str:
    """What to print for an exception that is a bug in lockbreak.

    >>> print(internal_error(ValueError("bad\\nsize")))  # doctest: +NORMALIZE_WHITESPACE
    internal error: ValueError: bad size
      this is a bug in lockbreak, not in your input; re-run with LOCKBREAK_DEBUG=1 for the
      traceback and report it with that traceback, the command line and the scenario files
      attached
    """
    text = terminal_text(" ".join(str(err).split()))
    one_line = f"{type(err).__name__}: {text}" if text else type(err).__name__
    return (f"internal error: {one_line}\n"
            "  this is a bug in lockbreak, not in your input; re-run with LOCKBREAK_DEBUG=1 "
            "for the\n  traceback and report it with that traceback, the command line and the "
            "scenario files\n  attached")
