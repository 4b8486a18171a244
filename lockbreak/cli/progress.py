"""A live progress line (states, states/s) on stderr for runs longer than a second."""

from __future__ import annotations

import sys
from types import TracebackType

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
