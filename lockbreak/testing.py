"""Keep lockbreak checks as pytest tests: `assert_holds` and `assert_violated`.

A kernel developer who changes a lock-break primitive keeps the scenarios that matter to the
change as tests::

    from lockbreak.testing import assert_holds, assert_violated

    def test_the_relock_keeps_mutual_exclusion():
        assert_holds("scenarios/nested-v2.6.12.toml", "mutual_exclusion")

    def test_v2_6_9_lies_about_dropping():
        result = assert_violated("scenarios/nested-v2.6.9.toml", "break_return_truth",
                                 engine="hypothesis", max_steps=30)
        assert len(result.trace) <= 30

A failed assertion prints the verdict and, for a violation, the counterexample in kernel words
(the same rendering as ``lockbreak check``). With ``engine="explicit"`` (the default)
`assert_holds` needs the property to hold on every interleaving with its witness reached; with
``engine="hypothesis"`` it needs no violation in the random runs and the witness reached, which
is evidence, not proof (the random search never answers "holds").
"""

from __future__ import annotations

from pathlib import Path

from lockbreak.core import Budget, CheckResult, LockbreakError, Status
from lockbreak.pipeline import CheckRequest, Overrides, RandomOptions, ScenarioRun, load
from lockbreak.pipeline.check import check_scenario
from lockbreak.pipeline.request import DEFAULT_STEPS
from lockbreak.report.checklist import verdict_line
from lockbreak.report.coverage import coverage_lines
from lockbreak.report.traces import explain, render_trace

ENGINES = ("explicit", "hypothesis")


def check_property(scenario: str | Path, prop: str, engine: str = "explicit", *,
                   version: str | None = None, lock: str | None = None,
                   preempt: str | None = None, budget: str | None = None, seed: int = 0,
                   steps: int = DEFAULT_STEPS, max_states: int | None = None,
                   timeout: float | None = None) -> ScenarioRun:
    """Check one property of one scenario file; the run holds the model and the verdict.

    ``version``, ``lock`` and ``preempt`` override the scenario's ``[kernel]`` as on the
    command line. ``budget`` (runs, ``"200"``, or seconds, ``"5s"``), ``seed`` and ``steps``
    are the random search's (`lockbreak.pipeline.RandomOptions`; no example
    database, so a test gives the same answer every time); ``max_states`` and ``timeout``
    bound the explicit engine.
    """
    if engine not in ENGINES:
        raise LockbreakError(f"engine {engine!r}: choose one of {', '.join(ENGINES)}")
    overrides = Overrides(version, lock, preempt)
    random_search = (RandomOptions(budget=budget, seed=seed, steps=steps, database=None)
                if engine == "hypothesis" else None)
    request = CheckRequest(properties=(prop,), engine=engine, overrides=overrides,
                           budget=Budget(max_states=max_states, timeout=timeout),
                           random=random_search)
    return check_scenario(load(Path(scenario), overrides), request)


def assert_holds(scenario: str | Path, prop: str, engine: str = "explicit",
                 **options: object) -> CheckResult:
    """Fail unless ``prop`` holds on ``scenario`` (see the module docstring for what
    "holds" means per engine); ``options`` go to `check_property`."""
    run = check_property(scenario, prop, engine, **options)  # type: ignore[arg-type]
    result = run.verdicts[0].result
    names = run.model.property_names
    witnessed = run.witness_reached(prop)
    if engine == "hypothesis":
        passed = result.status is Status.INCOMPLETE and prop in names and witnessed
    else:
        passed = result.status is Status.HOLDS
    if not passed:
        raise AssertionError(_explain(run, f"expected {prop} to hold"))
    return result


def assert_violated(scenario: str | Path, prop: str, engine: str = "explicit", *,
                    max_steps: int | None = None, **options: object) -> CheckResult:
    """Fail unless ``prop`` is violated on ``scenario`` (by a counterexample of at most
    ``max_steps`` steps, if given); returns the result, whose ``trace`` is the
    counterexample."""
    run = check_property(scenario, prop, engine, **options)  # type: ignore[arg-type]
    result = run.verdicts[0].result
    if result.status is not Status.VIOLATED:
        raise AssertionError(_explain(run, f"expected {prop} to be violated"))
    assert result.trace is not None
    if max_steps is not None and len(result.trace) > max_steps:
        raise AssertionError(_explain(
            run, f"expected a counterexample of at most {max_steps} steps for {prop}"))
    return result


def _explain(run: ScenarioRun, expectation: str) -> str:
    """What was expected, the verdict line, the coverage and any counterexample."""
    verdict = run.verdicts[0]
    result = verdict.result
    lines = [f"{expectation} in {run.scenario.path} ({run.label}), got {result.status}:",
             verdict_line(result, None, None)]
    if run.coverage is not None:
        lines += coverage_lines(run.model, run.coverage)
    if result.trace is not None:
        headline = f"{result.property} violated in {len(result.trace)} steps"
        lines.append(render_trace(verdict.model, result.trace, headline,
                                  explain(verdict.model, result)))
    return "\n".join(lines)
