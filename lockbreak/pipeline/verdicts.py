"""A scenario's verdicts: each property's result beside what the scenario expected of it.

Every engine's results end here, in `assemble`, the one place that turns them into a
`ScenarioRun`: in the order the properties were asked for, a vacuous pass annotated with the
witness it never reached, each judged against the scenario's ``[expect]`` (`Verdict`). What
the run returns is plain data for `lockbreak.report` and the command line to render.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property

from lockbreak.core import CheckResult, Status
from lockbreak.engines.hypothesis_engine import Coverage
from model.kernel import KernelModel
from model.lockstep import LockstepKernelModel
from model.scenario.types import Expectation, Scenario
from properties.catalogue import by_name


@dataclass
class Verdict:
    """One property's result on one scenario, and what the scenario expected of it.

    ``measured`` is what the engine found; ``result`` is that result judged against the
    scenario's ``max``, which is what every report shows.
    """

    measured: CheckResult
    expected: Expectation | None
    model: KernelModel              # the model the result (and its trace) belongs to
    scenario_has_expect: bool = False
    requested: bool = False         # named with --property

    @cached_property
    def result(self) -> CheckResult:
        """The measured result, judged against the expected ``max`` (see `beyond_max`)."""
        return beyond_max(self.measured, self.expected)

    @property
    def met(self) -> bool | None:
        """Whether the expectation was met; None when the scenario expects nothing of it.

        ``{ max = N }`` is met by a worst case of at most N ticks (an unbounded one fails).
        """
        if self.expected is None:
            return None
        if self.expected.max is not None:
            worst = self.measured.worst
            return (self.measured.status is not Status.VIOLATED and worst is not None
                    and worst <= self.expected.max)
        if self.expected.status is None:
            return None
        return self.result.status.value == self.expected.status

    @property
    def counts(self) -> bool:
        """Whether this verdict decides the exit code: an expected property, or any property
        of a scenario without ``[expect]``."""
        return self.expected is not None or not self.scenario_has_expect or self.requested

    @property
    def failed(self) -> bool:
        """A definite failure: an expectation not met, or (with none) a violation or vacuity."""
        if self.result.status is Status.INCOMPLETE or not self.counts:
            return False
        if self.expected is not None and self.met is not None:
            return self.met is False
        return self.result.status is not Status.HOLDS

    @property
    def timing(self) -> str:
        """The timing the result was checked under."""
        return self.model.world.scenario.kernel.timing if not isinstance(
            self.model, LockstepKernelModel) else "lockstep"

    @property
    def incomplete(self) -> bool:
        return self.counts and self.result.status is Status.INCOMPLETE


def beyond_max(result: CheckResult, expected: Expectation | None) -> CheckResult:
    """``result`` as a violation when it is a worst case longer than the expected ``max``.

    A worst case of 7 ticks where the scenario allows 3 breaks the property as the scenario
    states it, so it is reported as violated, and the trace that attains the worst case is
    its counterexample (the worst case itself stays in ``worst``).
    """
    if (expected is None or expected.max is None or result.status is not Status.HOLDS
            or result.worst is None or result.worst <= expected.max):
        return result
    return replace(result, status=Status.VIOLATED, detail=(
        f"{result.detail}: more than the expected max of {expected.max}"))


@dataclass
class ScenarioRun:
    """Everything one scenario produced; ``coverage`` is what a random search's runs
    covered (None from the other engines)."""

    scenario: Scenario
    model: KernelModel
    verdicts: list[Verdict] = field(default_factory=list)
    has_expect: bool = False
    coverage: Coverage | None = None

    @property
    def label(self) -> str:
        k = self.scenario.kernel
        return (f"{self.model.world.era.name}, {self.model.world.lock_algorithm}, "
                f"preempt {k.preempt}, {k.timing}")

    def witness_reached(self, name: str) -> bool:
        """Whether the random search's runs reached ``name``'s witness (False for the other
        engines, and for properties the runs did not check)."""
        names = self.model.property_names
        return (self.coverage is not None and name in names
                and bool(self.coverage.witnessed >> names.index(name) & 1))


Results = Mapping[str, tuple[CheckResult, KernelModel]]


def assemble(scenario: Scenario, model: KernelModel, wanted: Sequence[str], results: Results,
             *, requested: bool, coverage: Coverage | None = None) -> ScenarioRun:
    """The run of ``scenario``: one verdict per name in ``wanted``, from ``results`` (each
    with the model it was checked on); ``model`` is the run's model under its own timing.

    A vacuous pass names the witness it never reached. A random search (``coverage``) never
    says vacuous: its undecided verdicts name the witness when no run reached it.
    """
    run = ScenarioRun(scenario, model, has_expect=bool(scenario.expect), coverage=coverage)
    for name in wanted:
        result, checked = results[name]
        if result.status is Status.VACUOUS:
            result.detail = f"{result.detail} ({by_name(name).witness})"
        elif result.status is Status.HOLDS and not result.detail:
            result.detail = by_name(name).holds_means
        elif (coverage is not None and result.status is Status.INCOMPLETE
              and name in checked.property_names and not run.witness_reached(name)):
            result.detail += f" (witness: {by_name(name).witness})"
        run.verdicts.append(Verdict(result, scenario.expect.get(name), checked, run.has_expect,
                                    requested=requested))
    return run
