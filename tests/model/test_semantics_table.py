"""docs/semantics.md section 9 reproduced row by row: the verdicts the model must give.

The nested scenario of the 2004 mail: CPU0 holds A and B and calls ``cond_resched_lock(B)``
three times; CPU1 takes C and then B. Interleaving timing, ``preempt = "full"``. One test per
column of the table, parametrized over its rows; then the outer-lock variant (CPU0 breaks A
while holding B) and the wakeup rows (need_resched on CPU0, which holds two locks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx
import pytest

from lockbreak.core import Status
from lockbreak.engines.graph import reachable_graph
from model.events import Event
from model.kernel import CpuView, KernelModel
from tests.support.helpers import (
    NESTED_CPU0,
    NESTED_CPU1,
    check_by_name,
    kernel_model,
    scenario_toml,
)


@dataclass(frozen=True)
class Row:
    """One row of the section 9 table, with what each column means as a number.

    ``non_breaking`` is the most CPU0 calls, along one path, that return while CPU1 waits for B
    without having dropped B; ``relocks_won`` the most calls, along one path, that dropped B and
    still return while CPU1 waits for it (CPU0 won the relock); ``drops_without_waiter`` whether
    some call drops B while CPU1 does not wait for it.
    """

    era: str
    lock: str
    kernel: dict[str, int] = field(default_factory=dict)
    cpu1_gets_b_in_loop: bool = True     # "possible" / "never"
    non_breaking: int = 0
    relocks_won: int = 0
    drops_without_waiter: bool = False
    int_returning: bool = True           # cond_resched_lock returns a value in this era


ROWS = [
    # every CPU0 call while CPU1 waits breaks: "no" -- CPU1 can wait through all three calls
    Row("v2.6.8", "tas", cpu1_gets_b_in_loop=False, non_breaking=3, relocks_won=0,
        int_returning=False),
    # "no: CPU0 can win the relock every time" -- all three calls may drop B and win it back
    Row("v2.6.12", "tas", non_breaking=3, relocks_won=3),
    # "yes, but it also drops with no waiter"
    Row("v2.6.8-mm", "tas", {"drop_every": 1}, non_breaking=0, relocks_won=3,
        drops_without_waiter=True, int_returning=False),
    # "at most one call does not" -- the call that read the lock word before CPU1 queued
    Row("v2.6.25", "ticket", non_breaking=1, relocks_won=0),
]
ROW_IDS = [f"{row.era}-{row.lock}" for row in ROWS]


def nested_model(tmp_path: Path, row: Row) -> KernelModel:
    text = scenario_toml(row.era, [NESTED_CPU0, NESTED_CPU1], lock=row.lock, preempt="full",
                         timing="interleaving", **row.kernel)
    return kernel_model(tmp_path, text)


def in_cpu0_loop(cpu0: CpuView) -> bool:
    """CPU0 has started its ``repeat (3)`` loop and not finished it.

    Judged from ``at``, CPU0's next step in kernel words, not from the program counter (which
    only the model's private encoding holds): the loop body is ``work(); cond_resched_lock(B);``
    and neither appears anywhere else in CPU0's code, so ``at`` is ``work()`` or starts with
    ``cond_resched_lock(B)`` exactly from the moment the loop counter is set until the third
    call returns (``at`` then names ``spin_unlock(B)``). The first ``work()`` counts as in the
    loop; CPU0 holds B there, so it cannot change whether CPU1 holds B at the same time.
    """
    return cpu0.at == "work()" or cpu0.at.startswith("cond_resched_lock(B)")


# ------------------------------------------------------------------ mutual_exclusion, deadlock_free


@pytest.mark.parametrize("row", ROWS, ids=ROW_IDS)
def test_mutual_exclusion_and_deadlock_free_hold(tmp_path: Path, row: Row) -> None:
    """Columns 2 and 3: both hold in every row, with their witness (contention) reached."""
    model = nested_model(tmp_path, row)
    results = check_by_name(model, ["mutual_exclusion", "deadlock_free"])
    assert results["mutual_exclusion"].status is Status.HOLDS
    assert results["deadlock_free"].status is Status.HOLDS


# ------------------------------------------------------------------ CPU1 gets B inside CPU0's loop


@pytest.mark.parametrize("row", ROWS, ids=ROW_IDS)
def test_cpu1_can_get_b_while_cpu0_is_in_its_loop(tmp_path: Path, row: Row) -> None:
    """Column 4: a reachable state where cpu1 holds B while CPU0 is inside its loop (see
    `in_cpu0_loop` for how "inside" is read). "never" in v2.6.8, where only CPU0's own
    need_resched can make it drop B; "possible" in every other row."""
    model = nested_model(tmp_path, row)
    graph = reachable_graph(model)
    assert graph.complete
    views = [model.view(state) for state in graph.states]
    cpu1_holds_b = [v for v in views if "B" in v.cpus[1].holds]
    assert cpu1_holds_b, "CPU1 never holds B at all: the question would be empty"
    inside = [v for v in cpu1_holds_b if in_cpu0_loop(v.cpus[0])]
    assert bool(inside) is row.cpu1_gets_b_in_loop
    for view in inside:   # and then CPU0 really is between its calls, without B
        assert "B" not in view.cpus[0].holds
        assert view.cpus[0].at.startswith("cond_resched_lock(B)")


# ------------------------------------------------------------------ every CPU0 call breaks?


@dataclass(frozen=True)
class CallCounts:
    calls: int                 # call-return transitions in the state graph
    non_breaking: int          # see Row
    relocks_won: int
    drops_without_waiter: bool


def count_lock_break_calls(model: KernelModel, *, int_returning: bool) -> CallCounts:
    """Look at every transition in which a ``cond_resched_lock(B)`` call of CPU0 returns.

    A call returns at the CPU0 step that executes an instruction of the call (``where``
    starts with ``cond_resched_lock(B)``) and after which CPU0's next step is outside it; for
    int-returning eras that step's text must also say ``returns``. CPU1 waits "at that moment"
    when B is in its ``waits_for`` in the state the returning step starts from. Whether the
    call dropped B
    depends on the path (a step of the call with `Event.BREAK`), so the count runs on the
    product of the state graph with one bit, "this call has dropped B". Calls only advance
    (the repeat counter falls), so no call return lies on a cycle: the most calls of a kind
    along one path is a longest path in the condensation DAG of that product graph.
    """
    graph = reachable_graph(model)
    assert graph.complete
    views = [model.view(state) for state in graph.states]
    out: dict[int, list[tuple[int, object]]] = {k: [] for k in range(len(graph.states))}
    for (src, dst, _), action in zip(graph.edges, graph.actions, strict=True):
        out[src].append((dst, action))

    product = nx.DiGraph()
    weight: dict[tuple[tuple[int, int], tuple[int, int]], tuple[int, int]] = {}
    start = (graph.init[0], 0)
    product.add_node(start)
    todo, calls, drops_without_waiter = [start], 0, False
    while todo:
        node = todo.pop()
        src, dropped = node
        for dst, action in out[src]:
            new_dropped, w = dropped, (0, 0)
            if action.cpu == 0 and not action.wakeup:  # type: ignore[attr-defined]
                info = model.step_info(graph.states[src], action)  # type: ignore[arg-type]
                cpu1_waits = "B" in views[src].cpus[1].waits_for
                if info.events & Event.BREAK:
                    new_dropped = 1
                    drops_without_waiter |= not cpu1_waits
                in_call = info.instr is not None and info.instr.where.startswith(
                    "cond_resched_lock(B)")
                returns = in_call and not views[dst].cpus[0].at.startswith(
                    "cond_resched_lock(B)")
                assert ("returns" in info.text) is (returns and int_returning), info.text
                if returns:
                    calls += 1
                    w = (int(cpu1_waits and not new_dropped), int(cpu1_waits and new_dropped))
                    new_dropped = 0
            succ = (dst, new_dropped)
            if succ not in product:
                todo.append(succ)
            product.add_edge(node, succ)
            old = weight.get((node, succ), (0, 0))
            weight[node, succ] = (max(old[0], w[0]), max(old[1], w[1]))

    dag = nx.condensation(product)
    scc = dag.graph["mapping"]
    assert all(w == (0, 0) for (u, v), w in weight.items() if scc[u] == scc[v])
    longest = []
    for k in (0, 1):
        best = {scc[start]: 0}
        for c in nx.topological_sort(dag):
            for u in dag.nodes[c]["members"]:
                for v in product.successors(u):
                    if scc[v] != c:
                        best[scc[v]] = max(best.get(scc[v], 0), best[c] + weight[u, v][k])
        longest.append(max(best.values()))
    return CallCounts(calls, longest[0], longest[1], drops_without_waiter)


@pytest.mark.parametrize("row", ROWS, ids=ROW_IDS)
def test_every_cpu0_call_while_cpu1_waits_breaks(tmp_path: Path, row: Row) -> None:
    """Column 5, as numbers over the state graph (see `Row` and `count_lock_break_calls`).

    - v2.6.8 "no": CPU1 can wait through all three calls, none of which drops B.
    - v2.6.12 "no: CPU0 can win the relock every time": CPU1 can also wait through three calls
      that each drop B and take it back before CPU1 gets it (TAS is unfair); and a call that
      reads the flag before CPU1 has set it does not break at all.
    - v2.6.8-mm "yes, but it also drops with no waiter": no call returns unbroken while CPU1
      waits, and some call drops B while CPU1 does not wait for it.
    - v2.6.25 "at most one call does not": once CPU1 has a ticket every call sees
      tail - head > 1 and hands B over; only the call that read the word before CPU1 queued
      can return unbroken while it waits.
    """
    model = nested_model(tmp_path, row)
    counts = count_lock_break_calls(model, int_returning=row.int_returning)
    assert counts.calls > 0
    assert (counts.non_breaking, counts.relocks_won, counts.drops_without_waiter) == (
        row.non_breaking, row.relocks_won, row.drops_without_waiter)


def test_v2_6_8_mm_drop_with_no_waiter_is_a_spurious_break(tmp_path: Path) -> None:
    """The -mm row's "but it also drops with no waiter" is what no_spurious_break catches; the
    other rows' breaks are all for a waiter."""
    verdicts = {row.era: check_by_name(nested_model(tmp_path, row), ["no_spurious_break"])
                ["no_spurious_break"].status for row in ROWS}
    assert verdicts == {"v2.6.8": Status.VACUOUS, "v2.6.12": Status.HOLDS,
                        "v2.6.8-mm": Status.VIOLATED, "v2.6.25": Status.HOLDS}


# ------------------------------------------------------------------ breaking the outer lock

OUTER_CPU0 = NESTED_CPU0.replace("cond_resched_lock(B)", "cond_resched_lock(A)")
OUTER_CPU1 = "spin_lock(A); spin_lock(B); work(); spin_unlock(B); spin_unlock(A);"

OUTER_ROWS = [
    # era, wakeups on CPU0, deadlock_free, the deadlock is ABBA on the relock
    ("v2.6.8", 0, Status.HOLDS, False),     # cannot drop A: no wakeup, waiters never make it
    ("v2.6.8", 1, Status.VIOLATED, True),   # ... but its own need_resched can
    ("v2.6.8-mm", 0, Status.VIOLATED, True),
    ("v2.6.9", 0, Status.VIOLATED, True),
    ("v2.6.11", 0, Status.VIOLATED, True),
    ("v2.6.12", 0, Status.VIOLATED, True),
    ("v2.6.20", 0, Status.VIOLATED, True),
    ("v2.6.25", 0, Status.VIOLATED, True),
    # v4.15-rc deadlocks before any ABBA: its waiter spins on break_lock alone, so CPU1 can
    # never take A from a breaking CPU0, and a waiter whose flag nobody clears spins forever
    ("v4.15-rc", 0, Status.VIOLATED, False),
    ("v4.15", 0, Status.VIOLATED, True),
    ("v5.17", 0, Status.VIOLATED, True),
    ("v6.11", 0, Status.VIOLATED, True),
    ("v6.13", 0, Status.VIOLATED, True),
]


@pytest.mark.parametrize(("era", "wakeups", "expected", "abba"), OUTER_ROWS,
                         ids=[f"{e}-wakeups{w}" for e, w, _, _ in OUTER_ROWS])
def test_breaking_the_outer_lock_deadlocks_where_a_can_be_dropped(
        tmp_path: Path, era: str, wakeups: int, expected: Status, abba: bool) -> None:
    """CPU0 breaks A while holding B; CPU1 takes A then B. Every era that can drop A
    deadlocks, ABBA on the relock: a reachable state has CPU0 inside cond_resched_lock(A)
    holding B and waiting for A while CPU1 holds A and waits for B."""
    text = scenario_toml(era, [(OUTER_CPU0, wakeups), OUTER_CPU1], locks="AB")
    model = kernel_model(tmp_path, text)
    assert check_by_name(model, ["deadlock_free"])["deadlock_free"].status is expected
    graph = reachable_graph(model)
    views = [model.view(state) for state in graph.states]
    abba_states = [
        k for k, v in enumerate(views)
        if v.cpus[0].at.startswith("cond_resched_lock(A)") and v.cpus[0].holds == ("B",)
        and v.cpus[0].waits_for == ("A",) and v.cpus[1].holds == ("A",)
        and v.cpus[1].waits_for == ("B",)]
    assert bool(abba_states) is abba
    if abba_states:   # and from there neither CPU can ever finish
        later = nx.descendants(graph.to_networkx(), abba_states[0]) | {abba_states[0]}
        assert not any(views[k].cpus[0].finished or views[k].cpus[1].finished for k in later)


# ------------------------------------------------------------------ a wakeup on CPU0

WAKEUP_ROWS = [
    ("v2.6.8", Status.VIOLATED),
    ("v2.6.8-mm", Status.VIOLATED),
    ("v2.6.9", Status.VIOLATED),
    ("v2.6.11", Status.VIOLATED),
    ("v2.6.12", Status.HOLDS),          # __resched_legal: preempt_count == 1, else no schedule
    ("v2.6.20", Status.VIOLATED),
    ("v2.6.25", Status.VIOLATED),
    ("v4.15", Status.HOLDS),            # resched only when preempt_count == one lock
    ("v5.17", Status.HOLDS),
    ("v6.11", Status.HOLDS),
    ("v6.13", Status.HOLDS),
]
# might_sleep_clean on the same scenario: no might-sleep point before the eras that annotate
# cond_resched_lock(); from them on, the call with A also held is reported whether or not it
# schedules.
MIGHT_SLEEP_ROWS = {"v2.6.8": Status.VACUOUS, "v2.6.12": Status.VACUOUS,
                    "v2.6.25": Status.VACUOUS, "v4.15-rc": Status.VIOLATED,
                    "v4.15": Status.VIOLATED, "v5.17": Status.VIOLATED, "v6.11": Status.VIOLATED}


@pytest.mark.parametrize(("era", "expected"), MIGHT_SLEEP_ROWS.items(), ids=list(MIGHT_SLEEP_ROWS))
def test_wakeup_on_cpu0_might_sleep_where_the_era_annotates_it(tmp_path: Path, era: str,
                                                                expected: Status) -> None:
    model = kernel_model(tmp_path, scenario_toml(era, [(NESTED_CPU0, 1), NESTED_CPU1]))
    result = check_by_name(model, ["might_sleep_clean"])["might_sleep_clean"]
    assert result.status is expected
    if expected is Status.VIOLATED:
        assert result.trace is not None
        steps = result.trace.steps
        last = model.step_info(result.trace.states[-2], steps[-1].action)
        assert last.text.endswith("__might_resched(1): sleeping function called from invalid "
                                  "context, preempt_count=2" if era in ("v5.17", "v6.11") else
                                  "__might_sleep(1): sleeping function called from invalid "
                                  "context, preempt_count=2")


@pytest.mark.parametrize(("era", "expected"), WAKEUP_ROWS, ids=[e for e, _ in WAKEUP_ROWS])
def test_wakeup_on_cpu0_schedules_while_atomic(tmp_path: Path, era: str,
                                               expected: Status) -> None:
    """With ``wakeups = 1`` on CPU0 (each era's default lock), cond_resched_lock(B) called with
    A also held schedules with preempt_count 1 in every era from v2.6.8 to v2.6.25 except
    v2.6.12; from v4.15 on the preempt_count test prevents it. A violation is the lock-break
    site itself scheduling."""
    text = scenario_toml(era, [(NESTED_CPU0, 1), NESTED_CPU1])
    model = kernel_model(tmp_path, text)
    result = check_by_name(model, ["no_sleep_in_atomic"])["no_sleep_in_atomic"]
    assert result.status is expected
    if expected is Status.VIOLATED:
        assert result.trace is not None
        steps = result.trace.steps
        before = steps[-2].state if len(steps) > 1 else result.trace.init
        last = model.step_info(before, steps[-1].action)
        assert last.text == ("cond_resched_lock(B): schedule() -> scheduling while atomic: "
                             "preempt_count=1")


@pytest.mark.parametrize("wakeups", ["{ lazy = 1 }", "{ rt = 1 }"])
def test_v6_13_lazy_wakeup_on_cpu0_never_schedules_while_atomic(tmp_path: Path,
                                                                 wakeups: str) -> None:
    """Under preempt = "lazy" the wakeup row of v6.13 stays "holds" for either kind of
    wakeup: the lazy flag is not need_resched at all, and once need_resched is set (by an rt
    wakeup or the tick) the preempt_count == one lock test keeps the nested call from
    scheduling."""
    text = scenario_toml("v6.13", [(NESTED_CPU0, wakeups), NESTED_CPU1], preempt="lazy")
    model = kernel_model(tmp_path, text)
    result = check_by_name(model, ["no_sleep_in_atomic"])["no_sleep_in_atomic"]
    assert result.status is Status.HOLDS
