"""A failure of lockbreak itself exits 4 with a one-line bug report, never a verdict code."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from lockbreak.cli import main
from lockbreak.cli.guard import GuardedGroup
from lockbreak.core import EXIT_INTERNAL, ScenarioError


@click.group(cls=GuardedGroup)
def group() -> None:
    """The same guard as ``lockbreak``'s, over commands that fail in known ways."""


@group.command("divide")
def divide() -> None:
    click.echo(str(1 // len("")))


@group.command("scenario")
def scenario() -> None:
    raise ScenarioError("unknown lock 'C'", file="a.toml", line=3, col=9)


@group.command("usage")
@click.option("--n", type=int, required=True)
def usage(n: int) -> None:
    click.echo(n)


def test_the_lockbreak_command_is_guarded() -> None:
    assert isinstance(main, GuardedGroup)


def test_an_internal_error_exits_4_with_how_to_report_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOCKBREAK_DEBUG", raising=False)
    result = CliRunner().invoke(group, ["divide"])
    assert result.exit_code == EXIT_INTERNAL == 4
    assert "Traceback" not in result.output
    first, *rest = result.output.splitlines()
    assert first == "internal error: ZeroDivisionError: integer division or modulo by zero"
    assert "bug in lockbreak" in result.output and "LOCKBREAK_DEBUG=1" in result.output
    assert "scenario files" in result.output and len(rest) == 3


def test_lockbreak_debug_lets_the_traceback_through(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCKBREAK_DEBUG", "1")
    result = CliRunner().invoke(group, ["divide"])
    assert isinstance(result.exception, ZeroDivisionError)


def test_bad_input_and_usage_keep_their_codes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOCKBREAK_DEBUG", raising=False)
    stray = CliRunner().invoke(group, ["scenario"])
    assert stray.exit_code == 2
    assert stray.output == "error: a.toml:3:9: unknown lock 'C'\n"
    assert CliRunner().invoke(group, ["usage"]).exit_code == 2      # click's own usage error
    assert CliRunner().invoke(group, ["usage", "--n", "7"]).output == "7\n"
