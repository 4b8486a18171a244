"""``lockbreak check``'s store options, for large state spaces: the store, the estimate, the
memory budget, checkpoints.

`with_store_options` adds ``--store``, ``--bitstate-bits``, ``--bitstate-memory``,
``--bitstate-hashes``, ``--max-omission``, ``--max-memory``, ``--estimate``,
``--estimate-seconds``, ``--checkpoint`` and ``--resume`` to ``check``; `store_choice` turns
them into one `StoreOptions` for the `CheckRequest`, refusing them with another engine and
refusing a bitstate table larger than the memory budget.

The memory budget (``--max-memory``, by default three quarters of the machine's memory or of
the cgroup's limit) is checked where the search already polls for a stop: over it, the search
stops as on Ctrl-C, incomplete and with a checkpoint, instead of being killed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from lockbreak.core import LockbreakError
from lockbreak.engines.compaction import STORE_KINDS, Storage
from lockbreak.engines.estimate import Estimate
from lockbreak.pipeline.request import DEFAULT_CHECKPOINT, CheckpointOptions
from model.scenario.types import Scenario

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_LOG2_BITS = 30
_SIZE = re.compile(r"^\s*(\d+)\s*([KMGT]i?B?|B)?\s*$", re.IGNORECASE)
_UNITS = {"": 0, "b": 0, "k": 10, "m": 20, "g": 30, "t": 40}
# The share of the machine's memory a check may take by default: the rest is left to the
# system and to the other programs running, so that the check stops before the kernel's
# OOM killer would end it without a checkpoint.
DEFAULT_MEMORY_SHARE = 0.75


@dataclass(frozen=True)
class StoreOptions:
    """The command line's choices of store, estimate (its sample's seconds; None: no
    estimate) and checkpoint file, for the `CheckRequest`."""

    storage: Storage
    estimate_seconds: float | None
    checkpoint: CheckpointOptions


def with_store_options(command: F) -> F:
    """Add the store, estimate and checkpoint options to a click command."""
    for decorator in reversed((
        click.option("--store", type=click.Choice(STORE_KINDS), default="exact",
                     show_default=True,
                     help="[explicit] Keep every state (exact), a 64-bit fingerprint of each "
                          "(hashcompact), or Bloom-filter bits (bitstate); the last two may "
                          "miss states, with the probability they report."),
        click.option("--bitstate-bits", type=click.IntRange(3, 40), metavar="N",
                     help=f"[bitstate] A table of 2**N bits, as SPIN's -wN (default "
                          f"{DEFAULT_LOG2_BITS})."),
        click.option("--bitstate-memory", metavar="SIZE",
                     help="[bitstate] The table's size in memory (512M, 2G), rounded down to "
                          "a power of two; instead of --bitstate-bits."),
        click.option("--bitstate-hashes", type=click.IntRange(1, 16), default=3,
                     show_default=True, help="[bitstate] Bits set per state, as SPIN's -k."),
        click.option("--max-omission", type=click.FloatRange(0, 1), default=1e-3,
                     show_default=True,
                     help="[hashcompact, bitstate] Say holds only while the probability that "
                          "a state was missed is at most this; incomplete beyond."),
        click.option("--max-memory", metavar="SIZE",
                     help="[explicit] Stop the search, incomplete and with a checkpoint, "
                          "once this process holds this much memory (4G, 512M; default: "
                          "three quarters of the machine's or the cgroup's memory)."),
        click.option("--estimate", is_flag=True,
                     help="[explicit] Only estimate each scenario's number of states from a "
                          "short breadth-first sample, and stop."),
        click.option("--estimate-seconds", type=click.FloatRange(0, min_open=True),
                     default=5.0, show_default=True, help="[explicit] The estimate's sample."),
        click.option("--checkpoint", type=click.Path(path_type=Path, dir_okay=False),
                     default=DEFAULT_CHECKPOINT, show_default=True,
                     help="[explicit] Where Ctrl-C, SIGTERM or --timeout save the search."),
        click.option("--resume", type=click.Path(path_type=Path, exists=True, dir_okay=False),
                     help="[explicit] Continue the search saved in this checkpoint."),
    )):
        command = decorator(command)
    return command


def parse_bytes(text: str, flag: str) -> int:
    """``"512M"`` -> 536870912: a size in bytes, with binary K, M, G or T units.

    >>> parse_bytes("512M", "--max-memory"), parse_bytes("2 GiB", "--max-memory")
    (536870912, 2147483648)
    """
    match = _SIZE.match(text)
    if not match or int(match.group(1)) < 1:
        raise LockbreakError(f"{flag} {text}: give a size such as 64M or 2G")
    return int(match.group(1)) << _UNITS[(match.group(2) or "").lower()[:1]]


def parse_size(text: str) -> int:
    """``"512M"`` -> log2 of the number of bits in 512 MiB (32).

    >>> parse_size("512M"), parse_size("1G"), parse_size("1000K")
    (32, 33, 22)
    """
    log2_bits = (parse_bytes(text, "--bitstate-memory") << 3).bit_length() - 1
    if not 3 <= log2_bits <= 40:
        raise LockbreakError(f"--bitstate-memory {text}: between 1 byte and 128 GiB")
    return log2_bits


def machine_memory() -> int | None:
    """The memory this process may use at most: the machine's, or its cgroup's limit when
    lower (None where neither is readable)."""
    try:
        limits = [os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")]
    except (OSError, ValueError):
        limits = []
    for cgroup in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            limits.append(int(Path(cgroup).read_text().split()[0]))
        except (OSError, ValueError, IndexError):   # "max", or no such controller
            continue
    return min(limits) if limits else None


def memory_budget(text: str | None) -> int | None:
    """``--max-memory`` in bytes; by default `DEFAULT_MEMORY_SHARE` of `machine_memory`."""
    if text is not None:
        return parse_bytes(text, "--max-memory")
    machine = machine_memory()
    return int(machine * DEFAULT_MEMORY_SHARE) if machine is not None else None


def _gib(size: int) -> str:
    return f"{size / 2**30:,.1f} GiB" if size >= 2**30 else f"{size / 2**20:,.0f} MiB"


def store_choice(engine: str, *, store: str, bitstate_bits: int | None,
                  bitstate_memory: str | None, bitstate_hashes: int, max_omission: float,
                  estimate: bool, estimate_seconds: float, checkpoint: Path,
                  resume: Path | None, max_memory: str | None) -> StoreOptions:
    """This module's options as one `StoreOptions`; options that do not apply are bad input
    (`LockbreakError`)."""
    if engine != "explicit":
        named = [name for name, value in (("--store", store != "exact"), ("--estimate",
                                          estimate), ("--resume", resume),
                                          ("--max-memory", max_memory)) if value]
        if named:
            raise LockbreakError(f"{named[0]} applies to --engine explicit only")
    if store != "bitstate" and (bitstate_bits is not None or bitstate_memory is not None
                                or bitstate_hashes != 3):
        raise LockbreakError("--bitstate-bits, --bitstate-memory and --bitstate-hashes apply "
                             "to --store bitstate only")
    if bitstate_bits is not None and bitstate_memory is not None:
        raise LockbreakError("give the bitstate table's size once: --bitstate-bits or "
                             "--bitstate-memory")
    budget = memory_budget(max_memory)
    log2_bits = (parse_size(bitstate_memory) if bitstate_memory is not None
                 else bitstate_bits or DEFAULT_LOG2_BITS)
    table = 1 << log2_bits >> 3
    if store == "bitstate" and budget is not None and table > budget:
        raise LockbreakError(f"a bitstate table of 2**{log2_bits} bits takes {_gib(table)}, "
                             f"more than the memory budget of {_gib(budget)} "
                             "(--max-memory); give a smaller --bitstate-bits or "
                             "--bitstate-memory, or a larger --max-memory if the machine has it")
    return StoreOptions(Storage(store, log2_bits, bitstate_hashes, max_omission),
                         estimate_seconds if estimate else None,
                         CheckpointOptions(checkpoint, resume, budget))


def estimate_record(scenario: Scenario, found: Estimate) -> dict[str, Any]:
    """The JSON of one scenario's estimate."""
    return {"scenario": scenario.name, "file": str(scenario.path), "states": found.states,
            "exact": found.exact, "sampled": found.sampled, "levels": found.levels,
            "seconds": round(found.seconds, 3)}
