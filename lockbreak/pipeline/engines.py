"""Which engine decides a phase of a check: `choose_engine`, the one place that chooses.

The user names an engine family (``--engine explicit``, ``hypothesis`` or ``z3``); within
the exhaustive family the choice also follows the store, ``--plain-bfs``, the spreading
options and the model itself:

* a swarm (``--swarm``) or the parallel search (``--workers``, ``--ray``) when asked for;
* the vectorised engine (`lockbreak.engines.fair_graph.check`: the level-synchronous numpy
  search of `lockbreak.engines.vectorised_bfs`, and the fairness and worst-case analyses on the
  graph it keeps) for a model made of parts (`vectorised_bfs.serves`), or one whose fairness and
  worst-case graph is searched from its parts (`fair_graph.serves`: lockstep timing), in an
  exact store;
* the plain breadth-first engine (`lockbreak.engines.plain_bfs.check`) otherwise: a lossy
  store, ``--plain-bfs``, or a model whose steps are not its parts' alone.
"""

from __future__ import annotations

import enum

from lockbreak.engines import fair_graph, vectorised_bfs
from lockbreak.pipeline.request import CheckRequest


class Engine(enum.Enum):
    """An engine that decides properties; its value is how reports and errors name it."""

    PLAIN = "plain breadth-first"
    VECTORISED = "vectorised breadth-first"
    PARALLEL = "parallel breadth-first"
    SWARM = "swarm"
    RANDOM = "random search"
    Z3 = "z3"


def choose_engine(request: CheckRequest, model: object) -> Engine:
    """The engine that decides ``model``'s properties for ``request`` (see the module
    docstring); ``model`` is the kernel model of one phase of the check.

    >>> from lockbreak.pipeline.request import CheckRequest
    >>> choose_engine(CheckRequest(engine="z3"), None)
    <Engine.Z3: 'z3'>
    >>> choose_engine(CheckRequest(vectorised=False), None)
    <Engine.PLAIN: 'plain breadth-first'>
    """
    if request.engine == "z3":
        return Engine.Z3
    if request.engine == "hypothesis":
        return Engine.RANDOM
    if request.scale.swarm_size:
        return Engine.SWARM
    if request.scale.active:
        return Engine.PARALLEL
    if request.vectorised and not request.storage.lossy and (
            vectorised_bfs.serves(model) or fair_graph.serves(model)):
        return Engine.VECTORISED
    return Engine.PLAIN
