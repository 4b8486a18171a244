"""The checklist: one verdict line per property, as a kernel developer scans it."""

from __future__ import annotations

from lockbreak.core import CheckResult, Status
from model.scenario.types import Expectation

_WIDTH = 22


def verdict_line(result: CheckResult, expected: Expectation | None, met: bool | None,
                 timing: str = "interleaving") -> str:
    """``mutual_exclusion ...... holds (943 states, depth 40, 0.01 s)  expected holds: ok``.

    >>> from lockbreak.core import Stats
    >>> result = CheckResult("mutual_exclusion", Status.HOLDS, None, Stats(943, 2000, 40, 0.01))
    >>> verdict_line(result, Expectation("holds"), True)
    '  mutual_exclusion ...... holds      (943 states, depth 40, 0.01 s)  expected holds: ok'
    """
    s = result.stats
    dots = "." * max(3, _WIDTH - len(result.property))
    figures = f"({s.states:,} states, depth {s.depth}, {s.seconds:.2f} s)"
    if not s.states and not s.transitions:      # a symbolic engine: no states, a BMC depth
        figures = f"(BMC depth {s.depth}, {s.seconds:.2f} s)"
    if result.worst is not None:
        figures = f"worst {result.worst} tick{'s' if result.worst != 1 else ''} {figures}"
    if timing == "lockstep":
        figures += " lockstep"
    line = f"  {result.property} {dots} {result.status.value:<10} {figures}"
    if result.status is Status.VIOLATED and result.trace is not None:
        line += f", trace of {len(result.trace)} steps"
    if expected is not None and (expected.status is not None or expected.max is not None):
        outcome = ("undecided" if result.status is Status.INCOMPLETE
                   else "ok" if met else "NOT MET")
        line += f"  expected {expected}: {outcome}"
    if result.detail and result.status is not Status.VIOLATED:
        line += f"\n      {result.detail}"
    return line
