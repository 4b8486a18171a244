"""``lockbreak extract FILE.c FUNCTION``: a scenario from a kernel function (docs/extract.md).

Parses the C file as written (no preprocessor), abstracts the function to what lock breaking
needs and writes the scenario, which loads and checks as it is; what was abstracted goes to
standard error. Exit 0 when the scenario was written, 2 when the file, the function, the era
or the protection file is wrong or a construct was not understood (reported at its kernel
``file:line:col``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from lockbreak.atomic import write_atomically
from lockbreak.core import LockbreakError
from lockbreak.report.escape import error_text, terminal_text
from model.cfront.extract import DEFAULT_ERA, extract
from model.cfront.parse import parse_file

EXIT_BAD_INPUT = 2


@click.command("extract")
@click.argument("source", metavar="FILE.c", type=click.Path(path_type=Path))
@click.argument("function")
@click.option("--era", metavar="ERA", help=f"The kernel era of the scenario (default "
              f"{DEFAULT_ERA}).")
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the scenario to this file instead of standard output.")
@click.option("--self", "self_contend", is_flag=True,
              help="Run the function on a second CPU too, contending with itself.")
@click.option("--protect", type=click.Path(path_type=Path, dir_okay=False), metavar="SIDE.toml",
              help="Which lock protects which variable, where the inference is wrong.")
def extract_cmd(source: Path, function: str, era: str | None, output: Path | None,
                self_contend: bool, protect: Path | None) -> None:
    """Write a scenario that checks FUNCTION of the kernel C file FILE.c: CPU0 runs the
    function abstracted to its locks, lock breaks and data; one CPU per lock it breaks
    contends for that lock and writes what it protects."""
    try:
        found = extract(parse_file(source), function, era=era, self_contend=self_contend,
                        protect=protect)
        if output is None:
            click.echo(found.scenario, nl=False)
        else:
            write_atomically(output, found.scenario)
            click.echo(f"wrote {terminal_text(str(output))}: {function}() of "
                       f"{terminal_text(found.path)}:{found.line}", err=True)
        for note in found.abstracted:
            click.echo(f"  {terminal_text(note)}", err=True)
    except OSError as err:
        click.echo(f"error: cannot write {output}: {err.strerror}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except LockbreakError as err:
        click.echo(f"error: {error_text(err)}", err=True)
        sys.exit(EXIT_BAD_INPUT)
