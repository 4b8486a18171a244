"""Fair liveness with strong fairness on `*` guards (`lockbreak.engines.streett`).

Hand-drawn graphs whose answers can be read off the drawing in each docstring, run through
the plain engine, and random small graphs where the refinement must agree with a brute-force
reference: every strongly connected set of edges that stays open is a candidate for "the edges
an execution takes infinitely often", and it is fair when every guard it takes shows both
outcomes and every CPU moves in it or is unable to move at one of its states.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

from lockbreak.core import CheckResult, Status
from lockbreak.engines import fair_graph, plain_bfs
from lockbreak.engines.choice_guards import guard_moves
from lockbreak.engines.liveness import choices_fair, open_forever
from lockbreak.engines.plain_bfs import check
from lockbreak.engines.streett import FairComponents, GuardedGraph, fair_components, fair_cycle
from model.kernel import Action, KernelModel
from model.lockstep import kernel_model
from model.world import build_world
from properties.catalogue import specs
from tests.engines.test_fair_graph import everything
from tests.support.helpers import load_scenario_text
from tests.support.toys import Obligations

CPU0, CPU1 = 0, 1
TRUE, FALSE = 1, 0
Edge = tuple[int, int, int, tuple[int, int] | None]   # agent, target, ticks, (pc, outcome)
Refinement = Callable[[GuardedGraph, np.ndarray], FairComponents]


class Guarded(Obligations):
    """`Obligations` whose moves may test a `*` guard: ``edges[s]`` lists ``(agent, target,
    ticks, guard)`` with ``guard`` None or ``(pc, outcome)`` of the moving CPU's guard."""

    choice_agents = (CPU0, CPU1)

    def __init__(self, edges: dict[int, list[Edge]], open_for: dict[int, int]) -> None:
        super().__init__({s: [(a, t, k) for a, t, k, _ in out] for s, out in edges.items()},
                         open_for)
        self.guarded = edges

    def guard_outcomes(self, state: int) -> list[tuple[int, int, int, int]]:
        outcomes: dict[tuple[int, int], dict[int, int]] = {}
        for agent, target, _, guard in self.guarded.get(state, ()):
            if guard is not None:
                outcomes.setdefault((agent, guard[0]), {})[guard[1]] = target
        return [(agent, pc, taken[FALSE], taken[TRUE])
                for (agent, pc), taken in outcomes.items()]


def served(model: Guarded) -> CheckResult:
    return next(r for r in check(model) if r.property == "served")


def loop_edges(model: Guarded, result: CheckResult) -> set[tuple[int, int]]:
    """``(state, move index)`` of each step of the result's repeating part."""
    trace = result.trace
    assert trace is not None and trace.loop_start is not None
    return {(state, step.index) for state, step in zip(
        trace.states[trace.loop_start:], trace.steps[trace.loop_start:], strict=False)}


def test_a_loop_that_repeats_only_by_taking_its_guard_true_holds() -> None:
    """cpu0 at 0 tests `while (*)`: true to 1, its body, back to 0; false to 2, where it
    drops the lock and cpu1, which cannot move while it waits, is served.

    Weak fairness alone allows 0->1->0 forever (cpu1 is disabled there); strong fairness on
    the guard does not: the cycle takes it true every time. Not vacuous: the cycle exists.
    """
    model = Guarded({0: [(CPU0, 1, 1, (7, TRUE)), (CPU0, 2, 1, (7, FALSE))],
                     1: [(CPU0, 0, 1, None)]},
                    {0: 0b10, 1: 0b10})
    result = served(model)
    assert result.status is Status.HOLDS, result.detail


def test_a_loop_whose_both_outcomes_keep_the_wait_open_is_violated() -> None:
    """As above, but the false outcome (2) comes back to the guard with cpu1 still waiting:
    0->1->0->2->0 takes both outcomes and cpu1 is disabled throughout, so cpu1 starves."""
    model = Guarded({0: [(CPU0, 1, 1, (7, TRUE)), (CPU0, 2, 1, (7, FALSE))],
                     1: [(CPU0, 0, 1, None)], 2: [(CPU0, 0, 1, None)]},
                    {0: 0b10, 1: 0b10, 2: 0b10})
    result = served(model)
    assert result.status is Status.VIOLATED
    assert result.detail.startswith("cpu1 can never be served")
    assert result.trace is not None
    assert open_forever(model, result.trace, 0, fair=True) == "cpu1"
    assert choices_fair(model, result.trace)
    assert {(0, 0), (0, 1)} <= loop_edges(model, result)


def test_nested_guards_that_can_only_repeat_unfairly_hold() -> None:
    """An outer `while (*)` at 0 (pc 3) around an inner one at 1 (pc 5).

    Outer true enters the inner loop (1); outer false leaves (3, cpu1 served). Inner true runs
    the body (2) and comes back to 1; inner false returns to the outer guard. Every cycle that
    keeps cpu1 waiting takes the outer guard true only; without it, the inner loop can only
    repeat true. Both refinements are needed: holds.
    """
    model = Guarded({0: [(CPU0, 1, 1, (3, TRUE)), (CPU0, 3, 1, (3, FALSE))],
                     1: [(CPU0, 2, 1, (5, TRUE)), (CPU0, 0, 1, (5, FALSE))],
                     2: [(CPU0, 1, 1, None)]},
                    {0: 0b10, 1: 0b10, 2: 0b10})
    assert served(model).status is Status.HOLDS


def test_nested_guards_both_taken_both_ways_are_violated_with_every_outcome_in_the_loop() -> None:
    """As above, but the outer false outcome (4) also comes back to the outer guard: a cycle
    through 0, 1, 2 and 4 takes both outcomes of both guards while cpu1 waits."""
    model = Guarded({0: [(CPU0, 1, 1, (3, TRUE)), (CPU0, 4, 1, (3, FALSE))],
                     1: [(CPU0, 2, 1, (5, TRUE)), (CPU0, 0, 1, (5, FALSE))],
                     2: [(CPU0, 1, 1, None)], 4: [(CPU0, 0, 1, None)]},
                    {0: 0b10, 1: 0b10, 2: 0b10, 4: 0b10})
    result = served(model)
    assert result.status is Status.VIOLATED
    assert result.trace is not None and choices_fair(model, result.trace)
    assert {(0, 0), (0, 1), (1, 0), (1, 1)} <= loop_edges(model, result)


def test_a_choice_fair_cycle_that_never_lets_an_enabled_cpu_move_holds() -> None:
    """cpu0 loops through both outcomes of its guard (0->1->0, 0->2->0), but cpu1 can move
    everywhere (to 3, where it is served) and never does: not weakly fair, so it holds."""
    model = Guarded({0: [(CPU0, 1, 1, (7, TRUE)), (CPU0, 2, 1, (7, FALSE)), (CPU1, 3, 1, None)],
                     1: [(CPU0, 0, 1, None), (CPU1, 3, 1, None)],
                     2: [(CPU0, 0, 1, None), (CPU1, 3, 1, None)]},
                    {0: 0b10, 1: 0b10, 2: 0b10})
    assert served(model).status is Status.HOLDS


def test_both_outcomes_to_the_same_state_are_told_apart_by_their_move() -> None:
    """`if (*) ;`: both outcomes of the guard at 0 lead to 1, as two moves. The cycle 0->1->0
    may take both, so cpu1 (disabled) starves."""
    model = Guarded({0: [(CPU0, 1, 1, (7, FALSE)), (CPU0, 1, 1, (7, TRUE))],
                     1: [(CPU0, 0, 1, None)]},
                    {0: 0b10, 1: 0b10})
    result = served(model)
    assert result.status is Status.VIOLATED
    assert {(0, 0), (0, 1)} <= loop_edges(model, result)


# ---------------------------------------------------------------- scenarios

def scenario(code: str, *others: str, lock: str = "qspinlock") -> str:
    """A scenario on v5.17 with one spinlock A, cpu0 running ``code``, one CPU per ``others``."""
    lines = ['name = "t"', "[kernel]", 'version = "v5.17"', 'preempt = "full"',
             f'lock = "{lock}"', "[locks]",
             'A = "spin"', "[[cpu]]", f'code = """\n{code}\n"""']
    for other in others:
        lines += ["[[cpu]]", f'code = """\n{other}\n"""']
    return "\n".join(lines) + "\n"


def fairness(tmp_path: Path, text: str) -> tuple[KernelModel, dict[str, CheckResult]]:
    world = build_world(load_scenario_text(tmp_path, text))
    model = KernelModel(world, specs(["starvation_free", "livelock_free"]))
    return model, {r.property: r for r in check(model)}


def test_a_batch_loop_under_a_lock_ends_so_its_contender_is_served(tmp_path: Path) -> None:
    """cpu0 walks a list of any length under A (`while (*)`), cpu1 waits for A. Only a walk
    that never ends keeps cpu1 waiting, and strong fairness on the guard ends it."""
    model, got = fairness(tmp_path, scenario(
        "spin_lock(A);\nwhile (*)\n  work();\nspin_unlock(A);",
        "spin_lock(A);\nwork();\nspin_unlock(A);"))
    assert model.choice_agents
    assert got["starvation_free"].status is Status.HOLDS, got["starvation_free"].detail
    assert got["livelock_free"].status is Status.HOLDS, got["livelock_free"].detail


def test_a_holder_that_walks_and_retakes_starves_a_tas_waiter(tmp_path: Path) -> None:
    """cpu0 takes A, walks a list under it (`while (*)`) and starts over, forever; cpu1 waits
    for A on a test-and-set lock. Each walk ends, yet cpu1 may lose A every time: starvation,
    with a loop that takes both outcomes of the guard."""
    model, got = fairness(tmp_path, scenario(
        "for (;;) {\n  spin_lock(A);\n  while (*)\n    work();\n  spin_unlock(A);\n}",
        "spin_lock(A);\nspin_unlock(A);", lock="tas"))
    starved = got["starvation_free"]
    assert starved.status is Status.VIOLATED, starved.detail
    trace = starved.trace
    assert trace is not None and trace.loop_start is not None
    bit = model.property_names.index("starvation_free")
    assert open_forever(model, trace, bit, fair=True) == "cpu1"
    assert choices_fair(model, trace)
    taken = {outcome for k, step in enumerate(trace.steps[trace.loop_start:], trace.loop_start)
             for index, _, _, outcome in guard_moves(
                 model.guard_outcomes(trace.states[k]),
                 [(a, t) for a, t, _ in model.moves(trace.states[k])])
             if index == step.index}
    assert taken == {0, 1}


def test_under_lockstep_timing_a_cpu_not_yet_arrived_takes_no_guard(tmp_path: Path) -> None:
    """Lockstep timing orders its moves otherwise and starts with arrivals (a CPU at a guard
    that has not arrived steps by arriving): the guards are found by their outcomes, so the
    fairness verdicts are decided there too, and the worst case alongside them."""
    text = scenario("while (*)\n  work();\nfor (;;) {\n  spin_lock(A);\n  while (*)\n"
                    "    work();\n  spin_unlock(A);\n}",
                    "spin_lock(A);\nspin_unlock(A);", lock="tas").replace(
        'preempt = "full"', 'preempt = "full"\ntiming = "lockstep"')
    world = build_world(load_scenario_text(tmp_path, text))
    model = kernel_model(world, specs(["starvation_free", "livelock_free", "bounded_wait"]))
    init = model.init_states()[0]
    assert model.actions(init) == [Action(0), Action(1)]          # arrivals: cpu0 is at *
    assert model.guard_outcomes(init) == []
    arrived = model.next_state(init, Action(0))
    assert [cpu for cpu, _, _, _ in model.guard_outcomes(arrived)] == [0]
    got = {r.property: r for r in check(model)}
    assert got["starvation_free"].status is Status.HOLDS, got["starvation_free"].detail
    assert got["livelock_free"].status is Status.HOLDS, got["livelock_free"].detail
    assert got["bounded_wait"].status is Status.VIOLATED         # a walk of any length


STRONGLY_FAIR = {
    "batch-holds": (scenario("spin_lock(A);\nwhile (*)\n  work();\nspin_unlock(A);",
                             "spin_lock(A);\nwork();\nspin_unlock(A);"), ""),
    "walk-and-retake-starves": (scenario(
        "for (;;) {\n  spin_lock(A);\n  while (*)\n    work();\n  spin_unlock(A);\n}",
        "spin_lock(A);\nspin_unlock(A);", lock="tas"), ""),
    "lockstep": (scenario("while (*)\n  work();\nfor (;;) {\n  spin_lock(A);\n  while (*)\n"
                          "    work();\n  spin_unlock(A);\n}",
                          "spin_lock(A);\nspin_unlock(A);", lock="tas"), "lockstep"),
}


@pytest.mark.parametrize("name", STRONGLY_FAIR)
def test_the_column_graph_refines_as_the_plain_engine_does(tmp_path: Path, name: str) -> None:
    """`*` guards on the vectorised engine's graph: the Streett refinement reads the same
    guards off its columns, so verdicts, lassos and worst cases are the plain engine's."""
    text, timing = STRONGLY_FAIR[name]
    world = build_world(load_scenario_text(tmp_path, text))
    model = kernel_model(world, specs(["starvation_free", "livelock_free", "bounded_wait"]),
                         timing or None)
    assert model.choice_agents and fair_graph.serves(model)
    plain = plain_bfs.check(model)
    columns = fair_graph.check(model, symmetry=True)
    assert [everything(r) for r in columns] == [everything(r) for r in plain]
    assert any(r.status is Status.VIOLATED and r.trace is not None
               and r.trace.loop_start is not None for r in columns)


# ---------------------------------------------------------------- against a brute force

@st.composite
def graphs(draw: st.DrawFn) -> tuple[GuardedGraph, np.ndarray]:
    """A graph of up to 4 states and 8 edges, two agents and two guards, with some states
    open; each agent is enabled where it has an edge, and maybe elsewhere too."""
    n = draw(st.integers(1, 4))
    state = st.integers(0, n - 1)
    edges = draw(st.lists(st.tuples(state, state, st.integers(0, 1), st.integers(-1, 1),
                                    st.integers(0, 1)), max_size=8))
    columns = [np.array([e[i] for e in edges], dtype=np.int64) for i in range(5)]
    src, dst, agent, guard, outcome = columns
    enabled = np.array(draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)),
                       dtype=np.int64)
    np.bitwise_or.at(enabled, src, np.left_shift(1, agent))
    inside = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    return GuardedGraph(n, 2, src, dst, agent, enabled, guard, outcome), inside


def strongly_connected(g: GuardedGraph, edges: Sequence[int]) -> bool:
    nodes = {int(g.src[e]) for e in edges} | {int(g.dst[e]) for e in edges}
    for source in nodes:
        seen, todo = {source}, [source]
        while todo:
            k = todo.pop()
            for e in edges:
                if int(g.src[e]) == k and int(g.dst[e]) not in seen:
                    seen.add(int(g.dst[e]))
                    todo.append(int(g.dst[e]))
        if seen != nodes:
            return False
    return True


def fair_edge_set(g: GuardedGraph, edges: Sequence[int]) -> bool:
    """Whether an execution that takes exactly ``edges`` infinitely often is fair."""
    outcomes: dict[int, set[int]] = {}
    for e in edges:
        if g.guard[e] >= 0:
            outcomes.setdefault(int(g.guard[e]), set()).add(int(g.outcome[e]))
    if any(len(taken) < 2 for taken in outcomes.values()):
        return False
    states = {int(g.src[e]) for e in edges}
    for a in range(g.n_agents):
        moves = any(int(g.agent[e]) == a for e in edges)
        unable = any(not int(g.enabled[k]) >> a & 1 for k in states)
        if not (moves or unable):
            return False
    return strongly_connected(g, edges)


def brute_force(g: GuardedGraph, inside: np.ndarray) -> bool:
    """Whether some fair execution stays in ``inside`` forever, by every set of edges."""
    candidates = [e for e in range(len(g.src)) if inside[g.src[e]] and inside[g.dst[e]]]
    return any(fair_edge_set(g, subset) for size in range(1, len(candidates) + 1)
               for subset in itertools.combinations(candidates, size))


def cycle_is_fair(g: GuardedGraph, inside: np.ndarray, entry: int, cycle: list[int]) -> bool:
    """The cycle starts and ends at ``entry``, is a walk inside, and is fair."""
    walk = all(int(g.dst[a]) == int(g.src[b]) for a, b in itertools.pairwise(cycle))
    closed = bool(cycle) and int(g.src[cycle[0]]) == entry == int(g.dst[cycle[-1]])
    return (walk and closed and all(inside[g.src[e]] and inside[g.dst[e]] for e in cycle)
            and fair_edge_set(g, cycle))


def disagrees(refine: Refinement, drawn: tuple[GuardedGraph, np.ndarray]) -> bool:
    """Whether ``refine`` and the brute force differ on ``drawn``, or a cycle it builds from
    one of its fair components is not fair."""
    g, inside = drawn
    found = refine(g, inside)
    entries = [k for k in np.flatnonzero(inside).tolist() if found.fair[found.labels[k]]]
    if bool(entries) != brute_force(g, inside):
        return True
    return not all(cycle_is_fair(g, inside, k, fair_cycle(g, found, k)) for k in entries)


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(graphs())
def test_the_refinement_agrees_with_every_set_of_edges(drawn: tuple[GuardedGraph, np.ndarray]
                                                       ) -> None:
    assert not disagrees(fair_components, drawn)


def weak_fairness_only(g: GuardedGraph, inside: np.ndarray) -> FairComponents:
    """A broken refinement: it forgets that a guard must show both outcomes."""
    return fair_components(replace(g, guard=np.full(len(g.src), -1)), inside)


def test_a_refinement_that_forgets_an_outcome_is_caught() -> None:
    """The agreement test fails on the broken refinement: Hypothesis finds a graph where it
    calls a one-sided loop fair."""
    g, inside = find(graphs(), lambda drawn: disagrees(weak_fairness_only, drawn),
                     settings=settings(max_examples=2000, database=None))
    assert weak_fairness_only(g, inside).fair.any() and not brute_force(g, inside)
