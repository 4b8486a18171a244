"""Checkpoints of ``lockbreak check``: Ctrl-C, SIGTERM and ``--timeout`` save the search, and
``--resume FILE`` continues it.

One file holds an entry per interrupted scenario, keyed by a hash of the scenario file and
every option that changes what is explored (overrides, properties, store, symmetry,
``--max-states``), the lockbreak version and the era definitions, so that a checkpoint never
resumes another question or another checker's answer to it. An entry (`ScenarioEntry`)
holds, per phase of `lockbreak.pipeline.check.check_scenario` (the scenario's own timing,
then lockstep), either the finished results (`FinishedPhase`) or the snapshot of the stopped
search (`StoppedPhase`), each with the kernel model's interned tables that give its states
their meaning. Each save merges this run's entries
into those already in the file, under a lock, so that runs of other scenarios sharing the file
keep theirs; the file is rewritten atomically with a checksum
(`lockbreak.engines.checkpoint.save_file`), and is a pickle: resume only checkpoints you wrote.
"""

from __future__ import annotations

import hashlib
import json
import signal
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache
from importlib.metadata import version as package_version
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from lockbreak.atomic import locked
from lockbreak.cli.progress import resident_bytes
from lockbreak.core import Budget, CheckResult, LockbreakError
from lockbreak.engines.checkpoint import Interruption, load_file, save_file
from lockbreak.engines.compaction import Storage
from lockbreak.report.results import era_definition
from model.eras import ERAS
from model.kernel import KernelModel
from model.scenario.types import Scenario

_SIGNALS: dict[int, str] = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM"}


@dataclass(frozen=True)
class FinishedPhase:
    """A phase that finished before the checkpoint was written: its results, and the kernel
    model's interned tables that their traces' states need."""

    results: list[CheckResult]
    interned: Any


@dataclass(frozen=True)
class StoppedPhase:
    """A phase whose search stopped: the engine's snapshot (`lockbreak.engines.snapshots`)."""

    search: Any


@dataclass(frozen=True)
class ScenarioEntry:
    """One scenario's entry in the file: how messages name it, and its phases by name."""

    label: str
    phases: dict[str, FinishedPhase | StoppedPhase]


def scenario_key(scenario: Scenario, overrides: dict[str, str], properties: Sequence[str],
                 storage: Storage, symmetry: bool, budget: Budget) -> str:
    """What a checkpoint of this check is tied to: the scenario's bytes, the options that
    change what is explored (not the timeout: a resumed run may have a new one), the lockbreak
    version and the era definitions (whose packed states and code a snapshot holds)."""
    what = {"scenario": scenario.sha256, "name": scenario.name, "overrides": overrides,
            "properties": sorted(properties), "storage": repr(storage), "symmetry": symmetry,
            "max_states": budget.max_states, "lockbreak": package_version("lockbreak"),
            "eras": eras_digest()}
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()


@cache
def eras_digest() -> str:
    """A digest of every era's primitive bodies: a checkpoint resumes only under the same
    kernel code."""
    digest = hashlib.sha256()
    for name in sorted(ERAS):
        digest.update(f"{name}\0{era_definition(ERAS[name]).sha256}\0".encode())
    return digest.hexdigest()


class Checkpoints:
    """The checkpoint file of one ``lockbreak check`` run, and its signal handlers.

    Used as a context manager: while inside, the first SIGINT or SIGTERM asks the search to
    stop at its next chunk (`requested`), and a second one interrupts at once. A search is
    also asked to stop once the process's resident memory exceeds ``max_memory`` bytes.
    """

    def __init__(self, path: Path, resume: Path | None = None,
                 max_memory: int | None = None) -> None:
        self.path = path
        self.max_memory = max_memory
        self.stop = ""
        self.entries: dict[str, ScenarioEntry] = {}
        self.resumed: dict[str, ScenarioEntry] = (
            load_file(resume)["entries"] if resume is not None else {})
        self.resume_path = resume
        self._previous: dict[int, Any] = {}

    def requested(self) -> str:
        """Why a stop was asked for, or is needed ("" while none is)."""
        if self.stop or self.max_memory is None:
            return self.stop
        resident = resident_bytes()
        if resident > self.max_memory:
            return (f"{resident / 2**20:,.0f} MiB resident, over --max-memory "
                    f"{self.max_memory / 2**20:,.0f} MiB")
        return ""

    def require_match(self, keys: set[str]) -> None:
        """Refuse a ``--resume`` file none of whose entries is one of the scenarios given."""
        if self.resume_path is not None and not keys & set(self.resumed):
            labels = ", ".join(sorted(e.label for e in self.resumed.values())) or "nothing"
            raise LockbreakError(
                f"{self.resume_path}: this checkpoint is of {labels}, not of the scenarios and "
                "options given (or was written by another lockbreak version or under other "
                "era definitions); resume with the same scenario and options (--store, "
                "--property, --max-states, overrides), or start again without --resume")

    def scenario(self, key: str, label: str) -> ScenarioCheckpoint:
        """The checkpoint of one scenario: resumed from the file when it has the key."""
        saved = self.resumed.get(key)
        return ScenarioCheckpoint(self, key, label, dict(saved.phases) if saved else {})

    def save(self, entry: ScenarioCheckpoint) -> None:
        """Write the file with this scenario's entry, the others of this run, and the entries
        other runs left in it (a damaged or foreign file is replaced)."""
        self.entries[entry.key] = ScenarioEntry(entry.label, entry.phases)
        with locked(self.path):
            try:
                kept = load_file(self.path)["entries"] if self.path.exists() else {}
            except LockbreakError:
                kept = {}
            save_file(self.path, {"entries": {**kept, **self.entries}})

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.stop:
            raise KeyboardInterrupt
        self.stop = _SIGNALS.get(signum, str(signum))

    def __enter__(self) -> Checkpoints:
        for signum in _SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None,
                 tb: TracebackType | None) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


class ScenarioCheckpoint:
    """One scenario's phases: finished ones (results) and a stopped one (a search snapshot)."""

    def __init__(self, owner: Checkpoints, key: str, label: str,
                 phases: dict[str, FinishedPhase | StoppedPhase]) -> None:
        self.owner, self.key, self.label, self.phases = owner, key, label, phases
        self.stopped = False

    def finished(self, phase: str, model: KernelModel) -> list[CheckResult] | None:
        """The results of a phase finished before the checkpoint, with ``model`` given the
        tables their states need; None when the phase still has to run."""
        saved = self.phases.get(phase)
        if not isinstance(saved, FinishedPhase):
            return None
        model.restore_interned(saved.interned)
        return list(saved.results)

    def interruption(self, phase: str) -> Interruption:
        """How the search of ``phase`` is stopped, and the snapshot it resumes from."""
        saved = self.phases.get(phase)
        return Interruption(self.owner.requested,
                            resume=saved.search if isinstance(saved, StoppedPhase) else None)

    def record(self, phase: str, model: KernelModel, results: list[CheckResult],
               interruption: Interruption) -> None:
        """Keep what ``phase`` did; a stopped search is written to the file at once."""
        if interruption.saved is not None:
            self.phases[phase] = StoppedPhase(interruption.saved)
            self.stopped = True
            self.owner.save(self)
        else:
            # copies: the caller goes on to annotate its results
            self.phases[phase] = FinishedPhase([replace(r) for r in results], model.interned())
