"""``check --workers N``, ``--ray [ADDRESS]`` and ``--swarm N``: the explicit search spread out.

`scale_options` adds the options to ``check``; `scale_choice` turns them into the request's
`ScaleOptions` (the workers themselves are `lockbreak.pipeline.workers.Workers`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from lockbreak.core import LockbreakError
from lockbreak.pipeline.request import ScaleOptions
from lockbreak.pipeline.workers import LOCAL_RAY

F = TypeVar("F", bound=Callable[..., Any])


def scale_options(command: F) -> F:
    """Add ``--workers``, ``--ray`` and ``--swarm`` to a click command."""
    for decorator in reversed((
        click.option("--workers", type=click.IntRange(min=1), metavar="N",
                     help="[explicit] Parallel breadth-first search on N worker processes "
                          "(same verdicts and counterexample lengths)."),
        click.option("--ray", "ray_address", is_flag=False, flag_value=LOCAL_RAY,
                     metavar="[ADDRESS]",
                     help="[explicit] The parallel search on a Ray cluster (ADDRESS, or a "
                          "local Ray instance); needs pip install -e '.[ray]'."),
        click.option("--swarm", "swarm_size", type=click.IntRange(min=1), metavar="N",
                     help="[explicit] N diversified depth-first and random searches instead "
                          "of an exhaustive one: violations or incomplete, never holds."),
    )):
        command = decorator(command)
    return command


def scale_choice(engine: str, workers: int | None, ray_address: str | None,
                  swarm_size: int | None) -> ScaleOptions:
    """``--workers``, ``--ray`` and ``--swarm`` as the request's `ScaleOptions`; they are bad input
    with another engine."""
    chosen = ScaleOptions(workers, ray_address, swarm_size)
    address = chosen.ray_address
    if address and address != LOCAL_RAY and (address.endswith(".toml") or Path(address).exists()):
        raise LockbreakError(f"--ray took {address!r} as the cluster's address; write "
                             "--ray=ADDRESS, or put a bare --ray after the scenario paths")
    if chosen.active and engine != "explicit":
        raise LockbreakError("--workers, --ray and --swarm apply to the explicit engine only")
    return chosen
