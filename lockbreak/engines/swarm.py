"""Swarm search: many small diversified searches instead of one exhaustive one.

As in SPIN's swarm verification, each member of the swarm searches differently: a
depth-first search or a series of random walks, each with its own seed, its own order of
actions and its own depth bound. Members run on a pool's workers (processes or Ray actors,
`run_members` is what each worker runs) and report, per property, the action indices of the
first violation they saw. The coordinator replays every report on its own model, so a
violation is real; among the replayed ones the shortest wins (then the lowest member). A
deadlock is reported only when a bounded exhaustive search from the end of a member's run
(`lockbreak.engines.walk.doomed_path`) shows some CPU can no longer finish. A swarm never
shows that a property holds: without a violation the verdict is INCOMPLETE. FAIR and WORST
properties are not searched by a swarm (INCOMPLETE, saying so).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from lockbreak.core import (
    Budget,
    CheckResult,
    LockbreakError,
    Model,
    PropertyKind,
    Stats,
    Status,
    Step,
    Trace,
    successors,
)
from lockbreak.engines.lasso import extend_to_stuck
from lockbreak.engines.partition import Factory
from lockbreak.engines.walk import doomed_path

STRATEGIES = ("dfs", "walk")
DEFAULT_DEPTH = 400
DEFAULT_MEMBER_STATES = 20_000
_DOOMED_STATES = 2_000      # the exhaustive search from a run's end, for deadlocks
_ENDS = 10                  # run ends a member tries that search from
_STALE_WALKS = 20           # walks in a row that found nothing new end a member's walking


@dataclass(frozen=True)
class Member:
    """One search of the swarm: its strategy, seed, depth bound and state budget."""

    index: int
    strategy: str
    seed: int
    depth: int
    states: int


# A member's report: member index, then per property bit the action indices that break it
# (for a CAN_FINISH bit: the actions to a state some agent cannot finish from), then the
# distinct states and transitions it saw.
Report = tuple[int, dict[int, list[int]], int, int]


def plan(size: int, depth: int = DEFAULT_DEPTH,
         states: int = DEFAULT_MEMBER_STATES) -> list[Member]:
    """``size`` members alternating depth-first and random walks; member ``i`` has seed ``i``
    and a depth bound that varies between a quarter of ``depth`` and ``depth``.

    >>> [(m.strategy, m.seed, m.depth) for m in plan(3, depth=100)]
    [('dfs', 0, 100), ('walk', 1, 25), ('dfs', 2, 50)]
    """
    bounds = (depth, depth // 4, depth // 2, 3 * depth // 4)
    return [Member(i, STRATEGIES[i % 2], i, max(1, bounds[i % 4]), states) for i in range(size)]


def run_members(factory: Factory, members: Sequence[Member], safety: int, graph: bool,
                deadline: float) -> list[Report]:
    """Run ``members`` one after another on a model built here by ``factory``."""
    model = factory()
    return [_run(model, m, safety, graph, deadline) for m in members]


def _run(model: Model[Any, Any], member: Member, safety: int, graph: bool,
         deadline: float) -> Report:
    rng = random.Random(member.seed)
    found: dict[int, list[int]] = {}
    pending = safety
    seen: set[Any] = set()
    transitions = 0
    ends: list[tuple[list[int], Any]] = []     # where runs stopped, for the deadlock search

    def moves(state: Any) -> list[tuple[int, Any, int, int]]:
        out = list(successors(model, state))
        rng.shuffle(out)
        return out

    for init in model.init_states():
        violated, _ = model.observe(None, None, init)
        for bit in _bits(violated & pending):
            found[bit] = []
        pending &= ~violated
        if member.strategy == "dfs":
            # Depth-first with a random order at every state; the stack is the path. A state
            # none of whose successors was new (a leaf) is where a run could be stuck.
            stack: list[tuple[Any, list[tuple[int, Any, int, int]], list[bool]]] = [
                (init, moves(init), [False])]
            path: list[int] = []
            seen.add(init)
            while stack and len(seen) < member.states and time.time() < deadline:
                state, options, grew = stack[-1]
                if not options or len(path) >= member.depth:
                    if graph and not grew[0] and len(ends) < _ENDS:
                        ends.append((list(path), state))
                    stack.pop()
                    if path:
                        path.pop()
                    continue
                action, after, violated, _ = options.pop()
                transitions += 1
                for bit in _bits(violated & pending):
                    found[bit] = [*path, action]
                pending &= ~violated
                if not pending and not graph and safety:
                    break
                if after in seen:
                    continue
                seen.add(after)
                grew[0] = True
                path.append(action)
                stack.append((after, moves(after), [False]))
        else:
            # Random walks from the initial state until the state budget is spent, or until
            # walks stop finding new states (the reachable space is smaller than the budget).
            stale = 0
            while (len(seen) < member.states and stale < _STALE_WALKS
                   and time.time() < deadline):
                state, path = init, []
                known = len(seen)
                for _ in range(member.depth):
                    options = list(successors(model, state))
                    if not options:
                        break
                    action, after, violated, _ = options[rng.randrange(len(options))]
                    transitions += 1
                    for bit in _bits(violated & pending):
                        found[bit] = [*path, action]
                    pending &= ~violated
                    path.append(action)
                    seen.add(after)
                    state = after
                if graph and len(ends) < _ENDS:
                    ends.append((path, state))
                if not pending and not graph and safety:
                    break
                stale = stale + 1 if len(seen) == known else 0
    stuck = _stuck(model, ends) if graph else None
    if stuck is not None:
        found[-1] = stuck
    return member.index, found, len(seen), transitions


def _stuck(model: Model[Any, Any], ends: list[tuple[list[int], Any]]) -> list[int] | None:
    """The action indices of a run to a state where a CPU can no longer finish: the first of
    the runs' ``ends`` (path, state) from which a bounded search finds one, extended to it."""
    for path, state in ends:
        doomed = doomed_path(model, state, _DOOMED_STATES)
        if isinstance(doomed, tuple):
            indices = []
            for action in list(doomed[0]):
                indices.append(list(model.actions(state)).index(action))
                state = model.next_state(state, action)
            return [*path, *indices]
    return None


def _bits(mask: int) -> list[int]:
    return [b for b in range(mask.bit_length()) if mask >> b & 1]


Runner = Callable[[Factory, list[list[Member]], int, bool, float], list[list[Report]]]


def check(model: Model[Any, Any], factory: Factory, run: Runner, workers: int, size: int, *,
          properties: Sequence[str] | None = None,
          budget: Budget = Budget(),  # noqa: B008 (frozen, so one shared default is safe)
          depth: int = DEFAULT_DEPTH) -> list[CheckResult]:
    """Check ``model``'s properties with a swarm of ``size`` searches over ``workers``.

    ``run(factory, shares, safety, graph, deadline)`` runs each share of members on its own
    worker (`run_members`) and returns their reports. The result for each property is
    VIOLATED with the shortest replayed counterexample any member found, or INCOMPLETE.
    """
    names = list(model.property_names)
    selected = [b for b, name in enumerate(names) if properties is None or name in properties]
    kinds = model.property_kinds
    safety = sum(1 << b for b in selected if kinds[b] is PropertyKind.SAFETY)
    graph = any(kinds[b] is PropertyKind.CAN_FINISH for b in selected)
    began = time.time()
    deadline = began + budget.timeout if budget.timeout is not None else 1e18
    per_member = budget.max_states // size if budget.max_states else DEFAULT_MEMBER_STATES
    members = plan(size, depth, max(1, per_member))
    shares = [members[w::workers] for w in range(workers)]
    reports = sorted((r for share in run(factory, shares, safety, graph, deadline) for r in share),
                     key=lambda r: r[0])
    seen = sum(r[2] for r in reports)
    stats = Stats(seen, sum(r[3] for r in reports), 0, time.time() - began)
    best: dict[int, tuple[Trace[Any, Any], str]] = {}
    for _, found, _, _ in reports:
        for bit, actions in found.items():
            replayed = _replay(model, bit, actions)
            target = bit if bit >= 0 else next(b for b in selected
                                               if kinds[b] is PropertyKind.CAN_FINISH)
            if target not in best or len(replayed[0]) < len(best[target][0]):
                best[target] = replayed
    out = []
    for bit in selected:
        name = names[bit]
        if bit in best:
            trace, detail = best[bit]
            if kinds[bit] is PropertyKind.CAN_FINISH:
                trace = extend_to_stuck(model, trace)
            out.append(CheckResult(name, Status.VIOLATED, trace,
                                   Stats(seen, stats.transitions, len(trace), stats.seconds),
                                   detail))
        elif kinds[bit] in (PropertyKind.FAIR, PropertyKind.WORST):
            out.append(CheckResult(name, Status.INCOMPLETE, stats=stats,
                                   detail="a swarm searches for safety violations and deadlocks "
                                          "only; check this property without --swarm"))
        else:
            out.append(CheckResult(name, Status.INCOMPLETE, stats=stats,
                                   detail=f"a swarm of {size} searches found no violation; "
                                          "only an exhaustive check can show it holds"))
    return out


def _replay(model: Model[Any, Any], bit: int, actions: list[int]) -> tuple[Trace[Any, Any], str]:
    """Re-execute a member's action indices on ``model``; the trace, and a detail line.

    Raises `LockbreakError` when the run does not end in the violation it was reported for
    (a model that does not rebuild the same in every process).
    """
    init = model.init_states()[0]
    state, steps = init, []
    last = 0
    for index in actions:
        options = list(successors(model, state))
        if index >= len(options):
            raise LockbreakError("a swarm member's run does not replay on this model")
        _, after, last, _ = options[index]
        steps.append(Step(index, model.actions(state)[index], after))
        state = after
    trace: Trace[Any, Any] = Trace(init, tuple(steps))
    if bit >= 0:
        if not (last >> bit & 1 if steps else model.observe(None, None, init)[0] >> bit & 1):
            raise LockbreakError("a swarm member's violation does not replay on this model")
        return trace, ""
    doomed = doomed_path(model, state, _DOOMED_STATES)
    if not isinstance(doomed, tuple) or doomed[0]:
        raise LockbreakError("a swarm member's deadlock does not replay on this model")
    return trace, f"{model.agents[doomed[1]]} can never finish after step {len(steps)}"
