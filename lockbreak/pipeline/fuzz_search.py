"""The fuzzing search: generated scenarios checked exhaustively, the smallest violation kept.

Hypothesis draws sketches (`model.scenario.generate`), each is rendered and loaded as a
scenario file (so the loader's static checks judge every one), then checked as any scenario
is (`lockbreak.pipeline.check.check_scenario`), by the plain breadth-first engine within a
state budget: its safety and can-finish properties all fall in the phase of the scenario's own
timing, so one model decides them. A sketch that violates a wanted property is a finding;
Hypothesis shrinks it to a minimal one. A sketch whose state space
exceeds the budget is discarded, never judged: the search says how many it discarded.

The search is `hypothesis.find`. A seeded run is reproducible: Hypothesis then neither reads
nor writes the example database. An unseeded run uses the database under a key naming the
era, the properties and the generator version, so a finding is tried first next time.
A budget in seconds runs batches of examples until the time is up; after that only sketches
already checked are answered (from a cache), so shrinking a finding ends promptly.
"""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, Phase, Verbosity, find, settings
from hypothesis.database import DirectoryBasedExampleDatabase
from hypothesis.errors import NoSuchExample

from lockbreak.atomic import write_atomically
from lockbreak.core import Budget, CheckResult, LockbreakError, PropertyKind, Status
from lockbreak.pipeline.check import check_scenario
from lockbreak.pipeline.request import CheckRequest
from model.scenario.generate import GENERATOR_VERSION, Limits, Sketch, render, sketches
from model.scenario.load import load_scenario
from model.scenario.types import Scenario
from properties.catalogue import KNOWN, of_kind

# What a generated scenario is searched for: the properties a single transition or a stuck
# state breaks. Fairness and worst cases are not fuzzed.
FUZZED = of_kind(PropertyKind.SAFETY, PropertyKind.CAN_FINISH)

BATCH_EXAMPLES = 50     # examples per seeded batch when the budget is in seconds
SHRINK_STATES = 2_000   # the least state budget of a shrink candidate


class GeneratorBug(LockbreakError):
    """The generator drew a scenario the loader rejects: a bug in `model.scenario.generate`."""


@dataclass(frozen=True)
class FuzzBudget:
    """Examples to generate, or seconds to spend (then examples is None), and the state
    budget beyond which one generated scenario is discarded instead of judged."""

    examples: int | None = 200
    seconds: float | None = None
    max_states: int = 20_000


@dataclass(frozen=True)
class Finding:
    """A minimal violating sketch and the properties it violates."""

    sketch: Sketch
    violated: tuple[str, ...]


@dataclass
class FuzzRun:
    """What a search did: distinct scenarios judged or discarded, and the finding if any.

    ``generated`` counts distinct scenarios up to the first finding; ``shrink_checks`` the
    distinct scenarios checked after it, while Hypothesis shrank the finding. ``held`` counts,
    per wanted property, the checked scenarios where it held with its witness reached (not
    vacuously): what a "none found" rests on.
    """

    version: str
    properties: tuple[str, ...]
    seed: int | None
    finding: Finding | None = None
    checked: int = 0
    held: dict[str, int] = field(default_factory=dict)
    database: bool = False      # whether an example database was read and written
    discarded: int = 0
    shrink_checks: int = 0
    seconds: float = 0.0
    seconds_to_first: float | None = None
    generated_to_first: int | None = None

    @property
    def generated(self) -> int:
        return self.checked + self.discarded


@dataclass
class _Judge:
    """The condition Hypothesis searches with: does a sketch violate a wanted property?"""

    run: FuzzRun
    budget: FuzzBudget
    folder: Path
    deadline: float | None
    started: float
    cache: dict[Sketch, tuple[str, ...] | None] = field(default_factory=dict)
    shrink_states: int = 0

    def __call__(self, sketch: Sketch) -> bool:
        if sketch in self.cache:
            return bool(self.cache[sketch])
        if self.deadline is not None and time.perf_counter() > self.deadline:
            return False        # out of time: not judged, not cached
        violated = self.judge(sketch)
        self.cache[sketch] = violated
        if violated and self.run.seconds_to_first is None:
            self.run.seconds_to_first = time.perf_counter() - self.started
            self.run.generated_to_first = self.run.generated
        return bool(violated)

    def judge(self, sketch: Sketch) -> tuple[str, ...] | None:
        """The wanted properties ``sketch`` violates; None when discarded over budget."""
        scenario = load_sketch(sketch, self.folder / "example.toml")
        shrinking = self.run.seconds_to_first is not None
        results = check_sketch(scenario, self.run.properties,
                               self.shrink_states if shrinking else self.budget.max_states)
        over = any(r.status is Status.INCOMPLETE for r in results)
        violated = tuple(r.property for r in results if r.status is Status.VIOLATED)
        if violated and not shrinking:
            # Candidates while shrinking get a budget scaled to the finding: a smaller
            # scenario that violates the property needs no more, and most candidates do not
            # violate it, so they would otherwise be explored to the full budget.
            states = max(r.stats.states for r in results)
            self.shrink_states = min(self.budget.max_states, max(SHRINK_STATES, 10 * states))
        if shrinking:
            self.run.shrink_checks += 1
        elif over and not violated:
            self.run.discarded += 1
        else:
            self.run.checked += 1
            for r in results:
                if r.status is Status.HOLDS:
                    self.run.held[r.property] = self.run.held.get(r.property, 0) + 1
        return violated or None


def load_sketch(sketch: Sketch, path: Path, *, name: str = "fuzz", description: str = "",
                expect: Mapping[str, str] | None = None) -> Scenario:
    """Render ``sketch`` into ``path`` and load it; a rejection is a `GeneratorBug`."""
    text = render(sketch, name=name, description=description, expect=expect)
    write_atomically(path, text)
    try:
        return load_scenario(path, known_properties=KNOWN)
    except LockbreakError as err:
        raise GeneratorBug(f"the scenario generator drew a scenario the loader rejects "
                           f"(a bug in model/scenario/generate.py): {err}\n{text}") from None


def check_sketch(scenario: Scenario, properties: Sequence[str],
                 max_states: int) -> list[CheckResult]:
    """The plain breadth-first engine's results for ``properties`` on a loaded generated
    scenario, within ``max_states``; a scenario the kernel model rejects is a
    `GeneratorBug`."""
    request = CheckRequest(properties=tuple(properties), budget=Budget(max_states=max_states),
                           vectorised=False)
    try:
        run = check_scenario(scenario, request)
    except LockbreakError as err:
        raise GeneratorBug(f"the scenario generator drew a scenario the kernel model rejects "
                           f"(a bug in model/scenario/generate.py): {err}\n"
                           f"{scenario.path.read_text()}") from None
    return [verdict.measured for verdict in run.verdicts]


def fuzz(version: str, properties: Sequence[str] | None = None, *, seed: int | None,
         budget: FuzzBudget = FuzzBudget(), database: Path | None = None,
         limits: Limits = Limits()) -> FuzzRun:  # noqa: B008 (frozen)
    """Search for a minimal scenario that violates one of ``properties`` under ``version``.

    Parameters
    ----------
    version
        The era every generated scenario runs under.
    properties
        Catalogue properties to look for; default all of them (any violation is a finding).
    seed
        Makes the run reproducible (with the same Hypothesis version); None draws at random
        and uses ``database``.
    budget
        Examples or seconds, and the state budget of each example.
    database
        Folder of the Hypothesis example database (unseeded runs only); None: no database.

    Returns
    -------
    FuzzRun
        With ``finding`` None when nothing was found within the budget.
    """
    wanted = tuple(properties) if properties else FUZZED
    run = FuzzRun(version, wanted, seed)
    started = time.perf_counter()
    deadline = None if budget.seconds is None else started + budget.seconds
    key = f"lockbreak-fuzz/{GENERATOR_VERSION}/{version}/{','.join(wanted)}/{limits}".encode()
    db = None if database is None or seed is not None else DirectoryBasedExampleDatabase(
        str(database))
    run.database = db is not None
    strategy = sketches(version, limits)
    seeds = None if seed is None else random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="lockbreak-fuzz-") as folder:
        judge = _Judge(run, budget, Path(folder), deadline, started)
        while True:
            examples = budget.examples if budget.examples is not None else BATCH_EXAMPLES
            config = settings(max_examples=examples, database=db, deadline=None,
                              verbosity=Verbosity.quiet, suppress_health_check=list(HealthCheck),
                              phases=(Phase.reuse, Phase.generate, Phase.shrink))
            try:
                found = find(strategy, judge, settings=config, database_key=key,
                             random=None if seeds is None else random.Random(seeds.getrandbits(64)))
            except NoSuchExample:
                if deadline is None or time.perf_counter() > deadline:
                    break
                continue
            run.finding = Finding(found, judge.cache[found] or ())
            break
    run.seconds = time.perf_counter() - started
    return run


def write_finding(finding: Finding, path: Path, *, name: str, description: str,
                  max_states: int) -> dict[str, str]:
    """Write the finding as a scenario file whose ``[expect]`` holds every verdict.

    All catalogue properties are checked on the minimal scenario; a property still
    undecided within ``max_states`` is left out of ``[expect]`` rather than guessed. The
    file is loaded back before returning, so what is on disk is a valid scenario.

    Returns
    -------
    dict
        The ``[expect]`` table written: property name to ``holds``, ``violated`` or
        ``vacuous``.
    """
    scenario = load_sketch(finding.sketch, path, name=name, description=description)
    results = check_sketch(scenario, FUZZED, max_states)
    expect = {r.property: r.status.value for r in results if r.status is not Status.INCOMPLETE}
    missing = [p for p in finding.violated if expect.get(p) != "violated"]
    if missing:
        raise LockbreakError(f"the finding no longer violates {', '.join(missing)} when "
                             f"checked with every property; this is a bug in lockbreak")
    load_sketch(finding.sketch, path, name=name, description=description, expect=expect)
    return expect
