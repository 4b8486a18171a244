"""The state graph and the CAN_FINISH analysis, checked against networkx as an oracle."""

from __future__ import annotations

import networkx
import pytest

from lockbreak.core import Budget, Model
from lockbreak.engines import StateGraph, check, first_stuck, reachable_graph
from tests.support.toys import Counter, Endless, Peterson, TasLock, TokenRing, TwoLocks

TOYS = [Counter(), Counter(limit=2, agents=3), Peterson(), Peterson("turn_first"),
        Peterson("check_then_set"), TwoLocks("abba"), TwoLocks("same"), TasLock(3, "split"),
        TasLock(3, "leak", rounds=2), TokenRing(3, lossy=True)]


def oracle_first_stuck(model: Model, graph: StateGraph) -> tuple[int, int] | None:
    """`first_stuck` the slow, obvious way: descendants of every node, with networkx."""
    nx_graph = graph.to_networkx()
    for v in range(len(graph.states)):
        future = networkx.descendants(nx_graph, v) | {v}
        for agent in range(len(model.agents)):
            if model.must_finish >> agent & 1 and not any(
                    model.done(graph.states[u]) >> agent & 1 for u in future):
                return v, agent
    return None


@pytest.mark.parametrize("model", TOYS, ids=lambda m: type(m).__name__)
def test_graph_counts_match_the_engine(model: Model) -> None:
    graph = reachable_graph(model)
    result = check(model)[0]
    assert graph.complete
    assert (len(graph.states), len(graph.edges)) == (result.stats.states,
                                                     result.stats.transitions)
    assert graph.init == (0,)


@pytest.mark.parametrize("model", TOYS, ids=lambda m: type(m).__name__)
def test_first_stuck_matches_networkx(model: Model) -> None:
    graph = reachable_graph(model)
    assert graph.first_stuck(model) == oracle_first_stuck(model, graph)


def test_to_networkx_labels_nodes_and_edges() -> None:
    model = TwoLocks("abba")
    graph = reachable_graph(model)
    nx_graph = graph.to_networkx()
    assert (nx_graph.number_of_nodes(), nx_graph.number_of_edges()) == (19, 22)
    for src, dst, data in nx_graph.edges(data=True):
        before = nx_graph.nodes[src]["state"]
        assert model.actions(before)[data["index"]] == data["action"]
        assert model.next_state(before, data["action"]) == nx_graph.nodes[dst]["state"]


def test_a_question_asked_of_the_graph() -> None:
    # Can cpu1 hold B while cpu0 holds A? Yes: in the deadlock, which nothing leaves, and in
    # two states where one CPU has already released its other lock and goes on.
    nx_graph = reachable_graph(TwoLocks("abba")).to_networkx()
    both = {nx_graph.nodes[v]["state"]: nx_graph.out_degree(v)
            for v, state in nx_graph.nodes(data="state") if state[2:] == (0, 1)}
    assert both == {(1, 1, 0, 1): 0, (3, 1, 0, 1): 1, (1, 3, 0, 1): 1}


def test_budgets_give_an_incomplete_graph() -> None:
    graph = reachable_graph(Counter(limit=10), Budget(max_states=20))
    assert not graph.complete and len(graph.states) == 20
    assert all(dst < 20 for _, dst, _ in graph.edges)
    assert not reachable_graph(Endless(), Budget(timeout=0.05)).complete


def test_first_stuck_follows_agents_across_renamings() -> None:
    # A ring of 3 up to rotation: one state, whose pass moves agent a to place a - 1.
    ring = dict(n_states=1, src=[0], dst=[0], done=[0b001], must_finish=0b111, n_agents=3)
    assert first_stuck(**ring, edge_perm=[0], perms=[(2, 0, 1)]) is None
    # Reading done off the representative alone would wrongly say p1 never gets the token.
    assert first_stuck(**ring) == (0, 1)


def test_first_stuck_prefers_the_lowest_state_then_agent() -> None:
    # 0 -> 1 -> 2 with agent 1 done in 2 only, agent 0 done nowhere: 0 is stuck for agent 0.
    edges = dict(src=[0, 1], dst=[1, 2], n_agents=2)
    assert first_stuck(3, done=[0, 0, 0b10], must_finish=0b11, **edges) == (0, 0)
    # Agent 0 need not finish, and agent 1 can finish from everywhere.
    assert first_stuck(3, done=[0, 0, 0b10], must_finish=0b10, **edges) is None
    assert first_stuck(3, done=[0, 0, 0], must_finish=0, **edges) is None
