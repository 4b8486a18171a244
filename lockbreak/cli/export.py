"""``lockbreak export --promela``: a scenario as an equivalent Promela model for SPIN."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from lockbreak.atomic import write_atomically
from lockbreak.core import LockbreakError
from lockbreak.pipeline import Overrides, load
from lockbreak.report.escape import error_text
from model.locks import SPIN_ALGORITHMS
from model.promela import promela_model
from model.world import build_world
from properties.catalogue import specs

EXIT_BAD_INPUT = 2


@click.command("export")
@click.argument("scenario", type=click.Path(path_type=Path))
@click.option("--promela", is_flag=True, required=True,
              help="Write Promela (the one format there is; required so that the output "
                   "format is always named).")
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False),
              help="Write to this file instead of standard output.")
@click.option("--version", "version", metavar="ERA", help="Export under another kernel era.")
@click.option("--lock", type=click.Choice(SPIN_ALGORITHMS),
              help="Export with another lock algorithm.")
@click.option("--preempt", type=click.Choice(("none", "voluntary", "full", "rt")),
              help="Export under another preemption model.")
@click.option("--timing", type=click.Choice(("interleaving",)),
              help="Only interleaving timing has a Promela form.")
def export_cmd(scenario: Path, promela: bool, output: Path | None, version: str | None,
               lock: str | None, preempt: str | None, timing: str | None) -> None:
    """Write SCENARIO as a Promela model: one proctype per CPU, one d_step per step, the
    safety properties as assertions and deadlock_free as invalid end states and fair
    non-progress cycles (see the model's header for the spin and pan commands)."""
    try:
        loaded = load(scenario, Overrides(version, lock, preempt, timing))
        text = promela_model(build_world(loaded), specs())
        if output is None:
            click.echo(text, nl=False)
        else:
            write_atomically(output, text)
    except OSError as err:
        click.echo(f"error: cannot write {output}: {err.strerror}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except LockbreakError as err:
        click.echo(f"error: {error_text(err)}", err=True)
        sys.exit(EXIT_BAD_INPUT)
