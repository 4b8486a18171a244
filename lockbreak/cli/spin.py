"""Running SPIN on an exported Promela model and reading its verdicts in lockbreak's words.

One safety run (``spin -DWITNESSES -a``, ``gcc -DSAFETY``, ``pan -c0``) explores every state,
reporting each violated property's assertion, each reached witness once, and any invalid end
state; when ``deadlock_free`` is asked for and no end state was invalid, a second run
(``-DLIVENESS``, ``pan -a -f``) looks for a weakly fair cycle in which no step makes progress.
Verdicts combine as lockbreak's do: violated, else vacuous when the witness was never
reached, else holds. Anything pan says that is not one of these (a scenario fault's
assertion, a value truncated, the depth or memory limit) is an error or an incomplete
result, never a verdict.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lockbreak.atomic import write_atomically
from lockbreak.core import LockbreakError, Status
from model.events import Event
from model.kernel import PropertySpec
from model.promela import exported

_ASSERTION = re.compile(r"assertion violated\s+(.*?) \(at depth")
_EVENT = re.compile(r"ev\s*&\s*\(?(\d+)")
_INVALID_END = re.compile(r"^pan:\d+: invalid end state", re.MULTILINE)
_CYCLE = re.compile(r"^pan:\d+: acceptance cycle", re.MULTILINE)
_STORED = re.compile(r"([\d.e+]+) states, stored")


@dataclass(frozen=True)
class PanOptions:
    """How pan is compiled and run: what a fair benchmark and a test tune."""

    depth: int = 1_000_000          # -m: the DFS stack; raised tenfold when too small
    hash_bits: int = 24             # -w
    memory_mb: int | None = None    # -DMEMLIM
    collapse: bool = False          # -DCOLLAPSE: compressed state vectors
    reduce: bool = False            # partial-order reduction (off: states match lockbreak's)
    optimise: str = "-O2"
    timeout: float | None = None    # seconds per pan run; beyond it, no verdict


@dataclass
class SpinRun:
    """What SPIN said about one model."""

    verdicts: dict[str, Status] = field(default_factory=dict)
    states: int = 0                 # stored by the safety run
    seconds: float = 0.0            # spin -a, gcc and pan, every run
    pan_seconds: float = 0.0        # pan alone
    output: str = ""


def _run(cmd: list[str], cwd: Path, timeout: float | None = None) -> str:
    try:
        done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False,
                              timeout=timeout)
    except FileNotFoundError as err:
        raise LockbreakError(f"{cmd[0]} is not installed: apt-get install -y spin gcc") from err
    except subprocess.TimeoutExpired as err:
        raise LockbreakError(f"{cmd[0]} gave no verdict within {timeout:g} s") from err
    if done.returncode != 0:
        raise LockbreakError(f"{' '.join(cmd)} failed (exit {done.returncode}):\n"
                             f"{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return done.stdout + done.stderr


def _pan(model: Path, macros: list[str], cflags: list[str], args: list[str],
         options: PanOptions) -> tuple[str, float]:
    """Build and run pan for ``model`` in its folder; (output, pan's own seconds)."""
    cwd = model.parent
    _run(["spin", *macros, "-a", model.name], cwd)
    flags = [options.optimise, *cflags]
    if not options.reduce:
        flags.append("-DNOREDUCE")
    if options.collapse:
        flags.append("-DCOLLAPSE")
    if options.memory_mb:
        flags.append(f"-DMEMLIM={options.memory_mb}")
    _run(["gcc", *flags, "-o", "pan", "pan.c"], cwd)
    depth = options.depth
    while True:
        start = time.perf_counter()
        out = _run(["./pan", f"-m{depth}", f"-w{options.hash_bits}", *args], cwd,
                   options.timeout)
        seconds = time.perf_counter() - start
        if "max search depth too small" not in out:
            return out, seconds
        if depth >= 100 * options.depth:
            raise LockbreakError(f"pan: the search is deeper than -m{depth}")
        depth *= 10


def check_with_spin(text: str, properties: Sequence[PropertySpec],
                    options: PanOptions | None = None, workdir: Path | None = None) -> SpinRun:
    """SPIN's verdict on each of ``properties`` (those the export decides) for a model."""
    options = options or PanOptions()
    chosen = exported(properties)
    names = {p.name for p in chosen}
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        model = Path(tmp) / "model.pml"
        write_atomically(model, text)
        start = time.perf_counter()
        out, pan_seconds = _pan(model, ["-DWITNESSES"], ["-DSAFETY"], ["-c0"], options)
        run = SpinRun(output=out, pan_seconds=pan_seconds)
        happened, stuck = _read_safety(out)
        found = _STORED.search(out)
        if found is None:
            raise LockbreakError(f"pan printed no state count:\n{out[-2000:]}")
        run.states = int(float(found.group(1)))
        if "deadlock_free" in names and not stuck:
            live, live_seconds = _pan(model, ["-DLIVENESS"], ["-DNFAIR=3"], ["-a", "-f", "-A"],
                                      options)
            run.output += live
            run.pan_seconds += live_seconds
            _refuse_limits(live)
            stuck = _CYCLE.search(live) is not None
        run.seconds = time.perf_counter() - start
    for prop in chosen:
        if prop.violated_by & happened or (prop.name == "deadlock_free" and stuck):
            run.verdicts[prop.name] = Status.VIOLATED
        elif prop.witnessed_by & happened:
            run.verdicts[prop.name] = Status.HOLDS
        else:
            run.verdicts[prop.name] = Status.VACUOUS
    return run


def _read_safety(out: str) -> tuple[Event, bool]:
    """The events whose assertions fired, and whether an end state was invalid."""
    _refuse_limits(out)
    happened = Event.NONE
    for text in _ASSERTION.findall(out):
        bits = _EVENT.search(text)
        if bits is None:
            raise LockbreakError(f"SPIN found a fault in the scenario: assertion violated "
                                 f"{text}; run lockbreak check on it for the location")
        happened |= Event(int(bits.group(1)))
    return happened, _INVALID_END.search(out) is not None


def _refuse_limits(out: str) -> None:
    """A search that was cut short, or a value that did not fit, is no verdict."""
    for sign, meaning in (("truncated", "a value did not fit its Promela type"),
                          ("out of memory", "pan ran out of memory"),
                          ("MEMLIM", "pan reached its memory limit (-DMEMLIM)")):
        if sign in out:
            raise LockbreakError(f"SPIN gave no verdict: {meaning}:\n{out[-2000:]}")

