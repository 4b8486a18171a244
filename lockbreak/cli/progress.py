"""Live progress on stderr for runs longer than a second: a plain line (`ProgressLine`, the
random search) and a rich bar with frontier, memory and ETA (`ProgressBar`, the explicit
engine)."""

from __future__ import annotations

import itertools
import os
import resource
import sys
from pathlib import Path
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.progress_bar import ProgressBar as RichBar
from rich.table import Table
from rich.text import Text

from lockbreak.engines.estimate import extrapolate

_DELAY = 1.0


class ProgressLine:
    """A `lockbreak.core.Reporter` that redraws one line on an interactive stderr."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.shown = False

    def progress(self, states: int, transitions: int, depth: int, seconds: float) -> None:
        if not self.enabled or seconds < _DELAY:
            return
        rate = states / seconds if seconds else 0.0
        sys.stderr.write(f"\r  {states:,} states, depth {depth}, {rate:,.0f} states/s, "
                         f"{seconds:.0f} s ")
        sys.stderr.flush()
        self.shown = True

    def __enter__(self) -> ProgressLine:
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def resident_bytes() -> int:
    """This process's resident memory now (Linux), or its peak where that is not readable."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _duration(seconds: float) -> str:
    """``95`` -> ``"1m35s"``.

    >>> _duration(95), _duration(7322), _duration(4)
    ('1m35s', '2h02m', '4s')
    """
    s = int(seconds)
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


class ProgressBar:
    """A `lockbreak.core.Reporter` that draws a live line with rich on an interactive stderr:
    states, states/s, the frontier (found, not yet expanded), depth, resident memory and an
    ETA, for runs longer than a second.

    The ETA needs the number of states to expect: ``expected`` when given, otherwise the
    level sizes seen so far extrapolated as `lockbreak.engines.estimate.extrapolate` does.
    """

    def __init__(self, enabled: bool = True, expected: int | None = None,
                 console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.enabled = enabled and self.console.is_terminal
        self.expected = expected
        self.front = 0
        self.reached: dict[int, int] = {}     # depth -> states expanded when first seen there
        self.live: Live | None = None

    def frontier(self, size: int) -> None:
        """The states found but not yet expanded (called just before `progress`)."""
        self.front = size

    def progress(self, states: int, transitions: int, depth: int, seconds: float) -> None:
        self.reached.setdefault(depth, max(states - self.front, 0))
        if not self.enabled or seconds < _DELAY:
            return
        rate = states / seconds if seconds else 0.0
        total = self.expected or self._extrapolated()
        eta = (_duration((total - states) / rate) if total is not None and total > states
               and rate else "?")
        line = Text(f"{states:,} states  {rate:,.0f}/s  frontier {self.front:,}  depth {depth}  "
                    f"RSS {resident_bytes() / 2**20:,.0f} MiB  ETA {eta}")
        shown: Any = line
        if total is not None and total > states:
            shown = Table.grid(padding=(0, 1))
            shown.add_row(RichBar(total=total, completed=states, width=24), line)
        if self.live is None:
            self.live = Live(shown, console=self.console, transient=True, auto_refresh=False,
                             redirect_stdout=False, redirect_stderr=False)
            self.live.start(refresh=True)
        else:
            self.live.update(shown, refresh=True)

    def _extrapolated(self) -> int | None:
        """The total the level sizes seen so far point at (None while they do not)."""
        depths = sorted(self.reached)
        sizes: list[float] = []
        for lower, upper in itertools.pairwise(depths):
            share = (self.reached[upper] - self.reached[lower]) / (upper - lower)
            sizes += [share] * (upper - lower)
        if len(sizes) < 8 or min(sizes) <= 0:
            return None
        return extrapolate([round(s) for s in sizes])

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None
