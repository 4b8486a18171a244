"""What a stopped search leaves behind to be resumed: one frozen type per engine's snapshot.

A snapshot means something only to the engine that wrote it, and only to a search asked the
same question the same way. Each type names its writer (``ENGINE``) and marks the fields
that are options of the search (``option`` in the field's metadata: the words an error
calls it by);
`resumable` is the one place that compares a snapshot's writer and options with the
resuming search's and names the first difference (through
`lockbreak.engines.checkpoint.require_engine` and `require_same`).

`PlainSnapshot` is the plain breadth-first engine's (`lockbreak.engines.plain_bfs`).
`VectorisedSnapshot` (with its parts `VectorisedStates` and `HandedOver`) and
`FairGraphSnapshot` are the shapes of the vectorised engine's snapshots and of the fairness
analysis on its graph.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, TypeVar

from lockbreak.core import CheckResult
from lockbreak.engines.checkpoint import require_engine, require_same
from lockbreak.engines.compaction import Storage

_Kind = TypeVar("_Kind", bound="Snapshot")


@dataclass(frozen=True)
class Snapshot:
    """A stopped search, as its engine (``ENGINE``) left it."""

    ENGINE: ClassVar[str] = ""


def written_by(saved: object) -> str:
    """The engine that wrote ``saved``, a `Snapshot` (``"unknown"`` for anything else)."""
    return saved.ENGINE if isinstance(saved, Snapshot) else "unknown"


def resumable(saved: object, kind: type[_Kind], **options: Any) -> _Kind:
    """``saved`` as a ``kind``, once it is known that a search of ``kind``'s engine with
    these ``options`` (every option field of ``kind``, by field name) can go on from it.

    >>> saved = PlainSnapshot(properties=["mutual_exclusion"], storage=Storage(),
    ...                       symmetry=True, graph=False, store=None, pending=0, witnessed=0,
    ...                       transitions=0, hits={}, position=None, seconds=0.0,
    ...                       interned=None)
    >>> resumable(saved, PlainSnapshot, properties=["mutual_exclusion"], storage=Storage(),
    ...           symmetry=False, graph=False)
    Traceback (most recent call last):
    ...
    lockbreak.core.LockbreakError: the checkpoint was written by a search with symmetry True, \
this one has False; resume with the same properties and storage and symmetry and graph, or \
start again without --resume
    """
    require_engine(written_by(saved), kind.ENGINE)
    assert isinstance(saved, kind)
    compared = [f for f in fields(kind) if "option" in f.metadata]
    assert {f.name for f in compared} == set(options), "every option of the snapshot, once"
    require_same({f.metadata["option"]: (getattr(saved, f.name), options[f.name])
                  for f in compared})
    return saved


@dataclass(frozen=True)
class PlainSnapshot(Snapshot):
    """The plain breadth-first engine stopped: its store and BFS position (``position``:
    next index, level end, depth), the safety bits still ``pending`` and those
    ``witnessed``, the first breaking transition of each violated bit (``hits``), the
    seconds spent, and the model's interned tables (None for a model without them)."""

    ENGINE: ClassVar[str] = "plain_bfs"

    properties: list[str] = field(metadata={"option": "properties"})
    storage: Storage = field(metadata={"option": "storage"})
    symmetry: bool = field(metadata={"option": "symmetry"})
    graph: bool = field(metadata={"option": "graph"})
    store: Any
    pending: int
    witnessed: int
    transitions: int
    hits: dict[int, tuple[int, int, Any]]
    position: tuple[int, int, int] | None
    seconds: float
    interned: Any


@dataclass(frozen=True)
class VectorisedStates(Snapshot):
    """The vectorised search of the SAFETY and CAN_FINISH properties stopped: the search
    (``first``, its own `snapshot`), the unreduced one that confirms shortest
    counterexamples under partial-order reduction once the first finished (``second``),
    why it stopped, and the model's interned tables."""

    ENGINE: ClassVar[str] = "vectorised_bfs"

    symmetry: bool = field(metadata={"option": "symmetry"})
    first: Mapping[str, Any]
    second: Mapping[str, Any] | None
    why: str
    interned: Any


@dataclass(frozen=True)
class HandedOver(Snapshot):
    """The vectorised search handed its properties to the plain engine (the model's ids
    outgrew 64-bit keys), which then stopped: that engine's snapshot, and why."""

    ENGINE: ClassVar[str] = "vectorised_bfs"

    plain: PlainSnapshot
    why: str


@dataclass(frozen=True)
class VectorisedSnapshot(Snapshot):
    """The vectorised engine stopped: in the search of the SAFETY and CAN_FINISH properties
    (``states``), or after it (their results, ``finished``) in the plain engine's search of
    the others (``rest``)."""

    ENGINE: ClassVar[str] = "vectorised_bfs"

    names: list[str] = field(metadata={"option": "properties"})
    reduce: bool = field(metadata={"option": "partial-order reduction"})
    states: VectorisedStates | HandedOver | None
    finished: list[CheckResult] | None
    rest: PlainSnapshot | None


@dataclass(frozen=True)
class FairGraphSnapshot(Snapshot):
    """The vectorised engine with its fairness analysis stopped: in the first part, the
    vectorised engine's search of the SAFETY and CAN_FINISH properties (``others``), or
    after it (their results, ``finished``) in the graph search of the FAIR and WORST
    properties, which a resume starts again; with the model's interned tables."""

    ENGINE: ClassVar[str] = "fair_graph"

    others: VectorisedSnapshot | None
    finished: list[CheckResult] | None
    interned: Any
