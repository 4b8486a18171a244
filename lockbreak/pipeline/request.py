"""What one check is asked to do: a frozen `CheckRequest`, built once from the command line.

Everything a check of a scenario depends on travels in one value, as a typed builder would
hand it to a checker: which properties, the budget, the engine the user named, the
reductions (symmetry, partial-order), the store, the overrides of the scenario's
``[kernel]`` (timing among them), the random search's options, how the search is spread over
workers, and where its checkpoint goes. `lockbreak.pipeline.check.check_scenario` reads it;
nothing changes it on the way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from lockbreak.core import Budget, LockbreakError
from lockbreak.engines.compaction import Storage
from lockbreak.engines.hypothesis_engine import DEFAULT_RUNS, Search

ENGINES = ("explicit", "hypothesis", "z3")
DEFAULT_CHECKPOINT = Path(".lockbreak") / "checkpoint"
DEFAULT_DATABASE = Path(".lockbreak") / "hypothesis"
DEFAULT_STEPS = 300
DEFAULT_DEPTH = 60
_BUDGET = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|seconds|runs|examples)?\s*$")


@dataclass(frozen=True)
class Overrides:
    """Command-line replacements of a scenario's ``[kernel]`` fields."""

    version: str | None = None
    lock: str | None = None
    preempt: str | None = None
    timing: str | None = None

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in vars(self).items() if v is not None}


def parse_budget(text: str) -> tuple[int | None, float | None]:
    """``"500"`` is 500 runs, ``"30s"`` 30 seconds.

    >>> parse_budget("500"), parse_budget("2.5s")
    ((500, None), (None, 2.5))
    """
    match = _BUDGET.match(text)
    if not match or float(match.group(1)) <= 0:
        raise LockbreakError(f"--budget {text}: give a number of runs (500) or of seconds (30s)")
    value, unit = match.group(1), match.group(2)
    if unit and unit.startswith("s"):
        return None, float(value)
    if "." in value:
        raise LockbreakError(f"--budget {text}: a number of runs is a whole number")
    return int(value), None


@dataclass(frozen=True)
class RandomOptions:
    """The random search's choices: its budget in runs or seconds, seed, run length, swarm
    phases and example database."""

    budget: str | None = None
    seed: int | None = None
    steps: int = DEFAULT_STEPS
    swarm: bool = True
    database: Path | None = DEFAULT_DATABASE

    def search(self, budget: Budget, key: bytes) -> Search:
        """The engine's `Search`; ``--timeout`` is a seconds budget when ``--budget`` is not
        given."""
        examples, seconds = parse_budget(self.budget) if self.budget else (None, budget.timeout)
        if examples is None and seconds is None:
            examples = DEFAULT_RUNS
        return Search(examples=examples, seconds=seconds, steps=self.steps, seed=self.seed,
                      swarm=self.swarm, database=self.database, database_key=key)


@dataclass(frozen=True)
class ScaleOptions:
    """How an exhaustive search is spread out: ``workers`` processes (or Ray actors at
    ``ray_address``) sharing one breadth-first search, or a swarm of ``swarm_size``
    diversified searches."""

    workers: int | None = None
    ray_address: str | None = None
    swarm_size: int | None = None

    @property
    def active(self) -> bool:
        return bool(self.workers or self.ray_address or self.swarm_size)


@dataclass(frozen=True)
class CheckpointOptions:
    """Where a stopped search is saved (``path``), the file it resumes from (``resume``), and
    the resident memory, in bytes, past which it stops as on Ctrl-C (None: no budget)."""

    path: Path = DEFAULT_CHECKPOINT
    resume: Path | None = None
    max_memory: int | None = None


@dataclass(frozen=True)
class CheckRequest:
    """One check's every option; the defaults are ``lockbreak check``'s.

    ``properties`` empty means every property of the catalogue. ``engine`` is the one the
    user named (`ENGINES`); `lockbreak.pipeline.engines.choose_engine` turns it, the store,
    ``vectorised`` and ``scale`` into the engine that runs. ``depth`` bounds the z3 engine,
    ``random`` configures the random search (required with ``engine="hypothesis"``), and
    ``estimate_seconds``, when set, asks for an estimate of the state space instead of a
    check.
    """

    properties: tuple[str, ...] = ()
    budget: Budget = field(default_factory=Budget)
    engine: str = "explicit"
    overrides: Overrides = field(default_factory=Overrides)
    symmetry: bool = True
    por: bool = True
    vectorised: bool = True
    storage: Storage = field(default_factory=Storage)
    depth: int = DEFAULT_DEPTH
    random: RandomOptions | None = None
    scale: ScaleOptions = field(default_factory=ScaleOptions)
    checkpoint: CheckpointOptions = field(default_factory=CheckpointOptions)
    estimate_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise LockbreakError(f"engine {self.engine!r}: choose one of {', '.join(ENGINES)}")
        if self.engine == "hypothesis" and self.random is None:
            raise LockbreakError("the random search needs its RandomOptions")
