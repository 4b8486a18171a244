"""Engines: ways of deciding a model's properties, each returning `lockbreak.core.CheckResult`s.

``plain_bfs`` enumerates states breadth-first (shortest counterexamples); ``graph`` holds the
analyses that need the whole state graph.
"""

from lockbreak.engines.graph import StateGraph, first_stuck, reachable_graph
from lockbreak.engines.plain_bfs import check
from lockbreak.engines.store import StateStore

__all__ = ["StateGraph", "StateStore", "check", "first_stuck", "reachable_graph"]
