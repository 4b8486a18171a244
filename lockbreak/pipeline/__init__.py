"""The pipeline of a check, from a scenario and a `CheckRequest` to verdicts.

`request` holds what a check is asked to do, built once (from the command line, a test, a
benchmark); `check.check_scenario` selects the properties, splits them by timing, lets
`engines.choose_engine` pick the engine of each phase, runs it (`symbolic`, `random_search`
and `workers` hold the z3, random and spread-out routes) and assembles the verdicts
(`verdicts`). Every command that checks scenarios (``check``, ``suite``, ``latency``,
``fuzz`` through `fuzz_search`, and through ``check --json`` ``diff``) and
`lockbreak.testing` go through it.
"""

from lockbreak.pipeline.check import check_scenario, internal_error, load, unfinished_run
from lockbreak.pipeline.engines import Engine, choose_engine
from lockbreak.pipeline.request import (
           CheckpointOptions,
           CheckRequest,
           Overrides,
           RandomOptions,
           ScaleOptions,
)
from lockbreak.pipeline.verdicts import ScenarioRun, Verdict
from lockbreak.pipeline.workers import Workers

__all__ = [
           "CheckRequest",
           "CheckpointOptions",
           "Engine",
           "Overrides",
           "RandomOptions",
           "ScaleOptions",
           "ScenarioRun",
           "Verdict",
           "Workers",
           "check_scenario",
           "choose_engine",
           "internal_error",
           "load",
           "unfinished_run",
]
