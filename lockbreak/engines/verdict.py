"""One property's verdict from what an exhaustive search found: the ladder every breadth-first
engine (plain, vectorised, parallel) climbs, written once.

From the top: a violation found is VIOLATED, whatever else happened; a search cut short
(budget, stop) is INCOMPLETE; a CAN_FINISH property the search kept too little to decide is
INCOMPLETE; a CPU that can no longer finish is a CAN_FINISH violation; a property whose
witness was never reached is VACUOUS; and only then HOLDS (docs/semantics.md section 8).
"""

from __future__ import annotations

from typing import Any

from lockbreak.core import CheckResult, Model, PropertyKind, Stats, Status, Trace
from lockbreak.engines.lasso import cannot_finish

NEVER_WITNESSED = "never violated, but its witness was never reached"


def verdict(model: Model[Any, Any], name: str, kind: PropertyKind, stats: Stats, *,
            witnessed: bool, violation: Trace[Any, Any] | None = None,
            violation_stats: Stats | None = None, violation_detail: str = "",
            cut_short: str = "", no_graph: str = "",
            stuck: tuple[Trace[Any, Any], int] | None = None) -> CheckResult:
    """The verdict of property ``name`` (of ``kind``) on ``model`` after a search of
    ``stats``: ``violation`` is the counterexample it found (its own ``violation_stats`` and
    ``violation_detail`` when it came from another search), ``cut_short`` why it stopped
    early, ``no_graph`` why a CAN_FINISH property cannot be decided from what it kept,
    ``stuck`` the shortest trace after whose end an agent (by index) can no longer finish,
    and ``witnessed`` whether the property's witness was reached.

    >>> from lockbreak.core import Stats
    >>> verdict(None, "p", PropertyKind.SAFETY, Stats(), witnessed=False).status
    <Status.VACUOUS: 'vacuous'>
    >>> verdict(None, "p", PropertyKind.SAFETY, Stats(), witnessed=True, cut_short="timed out"
    ...         ).detail
    'timed out'
    """
    if violation is not None:
        return CheckResult(name, Status.VIOLATED, violation, violation_stats or stats,
                           detail=violation_detail)
    if cut_short:
        return CheckResult(name, Status.INCOMPLETE, stats=stats, detail=cut_short)
    if kind is PropertyKind.CAN_FINISH and no_graph:
        return CheckResult(name, Status.INCOMPLETE, stats=stats, detail=no_graph)
    if kind is PropertyKind.CAN_FINISH and stuck is not None:
        trace, agent = stuck
        return cannot_finish(model, name, trace, model.agents[agent], stats)
    if not witnessed:
        return CheckResult(name, Status.VACUOUS, stats=stats, detail=NEVER_WITNESSED)
    return CheckResult(name, Status.HOLDS, stats=stats)
