"""``lockbreak latency``: worst-case latency of a woken CPU against a scenario parameter.

For each era and lock algorithm, and for each value of one swept ``[params]`` entry, the
scenario is loaded with those overrides and ``bounded_latency`` is decided exactly, under
lockstep timing, as ``lockbreak check`` does. Beside them runs the uniprocessor case of each
era: the scenario reduced to one CPU (``--up-cpu``, by default cpu0: the holder's loop in the
nested scenario) with ``smp = false`` and the woken CPU's wakeups moved to it.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

import click

from lockbreak.core import LockbreakError, ScenarioError, Status
from lockbreak.pipeline import CheckRequest, check_scenario
from lockbreak.report.escape import error_text
from lockbreak.report.latency import LatencySweep, Series, as_json, render_table, write_reports
from model.eras import ERAS
from model.locks import SPIN_ALGORITHMS
from model.scenario import static
from model.scenario.load import load_scenario
from model.scenario.types import Scenario
from properties.catalogue import KNOWN

EXIT_OK, EXIT_BAD_INPUT = 0, 2
MAX_SWEEP = 64          # values of one --sweep
DEFAULT_OUT = Path("reports/latency")
_SWEEP = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)=(?:(?P<lo>\d+)\.\.(?P<hi>\d+)"
                    r"|(?P<list>\d+(?:,\d+)*))\Z")


def parse_sweep(text: str) -> tuple[str, tuple[int, ...]]:
    """``repeat=1..24`` (inclusive) or ``repeat=1,2,8`` into the name and its values.

    >>> parse_sweep("repeat=1..3")
    ('repeat', (1, 2, 3))
    >>> parse_sweep("n=8,2,8")
    ('n', (2, 8))

    Raises
    ------
    LockbreakError
        When ``text`` has neither shape, the range is empty, or it has more than
        `MAX_SWEEP` values.
    """
    found = _SWEEP.match(text.replace(" ", ""))
    if not found:
        raise LockbreakError(f"--sweep {text}: expected NAME=LO..HI or NAME=V1,V2,..., "
                             "e.g. repeat=1..24")
    if found["list"]:
        values = tuple(sorted({int(v) for v in found["list"].split(",")}))
    else:
        lo, hi = int(found["lo"]), int(found["hi"])
        if lo > hi:
            raise LockbreakError(f"--sweep {text}: the range {lo}..{hi} is empty; write "
                                 "LO..HI with LO <= HI")
        if hi - lo >= MAX_SWEEP:
            raise LockbreakError(f"--sweep {text}: {hi - lo + 1} values; the limit is "
                                 f"{MAX_SWEEP}, each one a full check per era and lock")
        values = tuple(range(lo, hi + 1))
    if len(values) > MAX_SWEEP:
        raise LockbreakError(f"--sweep {text}: {len(values)} values; the limit is {MAX_SWEEP}, "
                             "each one a full check per era and lock")
    return found["name"], values


def _names(option: str, text: str, known: tuple[str, ...], what: str) -> tuple[str, ...]:
    """A comma-separated option value, each item checked against ``known``."""
    items = tuple(dict.fromkeys(item.strip() for item in text.split(",") if item.strip()))
    if not items:
        raise LockbreakError(f"{option}: name at least one {what}")
    for item in items:
        if item not in known:
            raise LockbreakError(f"{option} {item}: unknown {what}; known: {', '.join(known)}")
    return items


def _woken(scenario: Scenario) -> int:
    """The one CPU that receives wakeups: the latency the figure measures is its."""
    woken = [cpu.index for cpu in scenario.cpus if cpu.wakeups > 0]
    if len(woken) != 1:
        which = ", ".join(f"cpu{i}" for i in woken) or "no CPU"
        raise ScenarioError(
            f"lockbreak latency measures one woken CPU, but {which} has wakeups",
            file=str(scenario.path), hint="give wakeups = 1 to exactly one [[cpu]], the "
            "waiter whose scheduling latency you want")
    return woken[0]


def uniprocessor(scenario: Scenario, cpu: int, wakeups: int) -> Scenario:
    """``scenario`` reduced to CPU ``cpu`` alone, ``smp = false``, with ``wakeups``.

    Raises
    ------
    ScenarioError
        When the reduced code does not pass the static checks (it names the file).
    """
    alone = replace(scenario.cpus[cpu], index=0, wakeups=wakeups)
    reduced = replace(scenario, kernel=replace(scenario.kernel, smp=False), cpus=(alone,),
                      expect=MappingProxyType({}))
    static.check_scenario(reduced)
    return reduced


def _worst(scenario: Scenario) -> int | None:
    """The exact worst case of ``bounded_latency`` in ticks; None when unbounded."""
    [verdict] = check_scenario(scenario, CheckRequest(properties=("bounded_latency",))).verdicts
    result = verdict.measured
    if result.status is Status.HOLDS:
        return result.worst
    if result.status is Status.VIOLATED:
        return None
    raise ScenarioError(f"bounded_latency is {result.status.value} here ({result.detail}); "
                        "there is no latency to plot", file=str(scenario.path))


def measure(path: Path, parameter: str, values: tuple[int, ...], versions: tuple[str, ...],
            locks: tuple[str, ...], up_cpu: int, command: str) -> LatencySweep:
    """Every series of the figure (see the module docstring).

    Raises
    ------
    LockbreakError
        On bad input: the file, an undeclared parameter or a value the code rejects, a
        scenario without exactly one woken CPU, ``up_cpu`` out of range.
    """
    def loaded(value: int, **kernel: str) -> Scenario:
        return load_scenario(path, known_properties=KNOWN, params={parameter: value}, **kernel)

    base = [loaded(value) for value in values]  # the file as written: bad input stops here
    woken = _woken(base[0])
    if not 0 <= up_cpu < len(base[0].cpus):
        raise ScenarioError(f"--up-cpu {up_cpu}: the scenario has cpu0..cpu"
                            f"{len(base[0].cpus) - 1}", file=str(path))
    wakeups = base[0].cpus[woken].wakeups
    series, notes = [], []
    for version in versions:
        # Without SMP there is no lock word, so the UP case may start from any valid pair.
        era_runs: list[Scenario] | None = None
        for lock in locks:
            try:
                runs = [loaded(value, version=version, lock=lock) for value in values]
            except ScenarioError as err:
                notes.append(f"{version} {lock} skipped: {err.message}")
                continue
            era_runs = era_runs or runs
            series.append(Series(version, lock, tuple(_worst(s) for s in runs)))
        if era_runs is None:
            try:
                era_runs = [loaded(value, version=version) for value in values]
            except ScenarioError as err:
                notes.append(f"{version} UP skipped: {err.message}")
                continue
        up = [uniprocessor(s, up_cpu, wakeups) for s in era_runs]
        series.append(Series(version, "up", tuple(_worst(s) for s in up)))
    return LatencySweep(base[0].name, parameter, values, tuple(series), f"cpu{woken}",
                        f"cpu{up_cpu}", command, tuple(notes))


@click.command("latency")
@click.argument("scenario", type=click.Path(path_type=Path))
@click.option("--sweep", required=True, metavar="NAME=LO..HI",
              help="The [params] entry to sweep and its values (LO..HI inclusive, or V1,V2).")
@click.option("--versions", metavar="ERA,...",
              help="Kernel eras, comma-separated (default: the scenario's).")
@click.option("--lock", "locks", metavar="ALG,...",
              help="Lock algorithms, comma-separated (default: the scenario's).")
@click.option("--up-cpu", type=click.IntRange(min=0), default=0, show_default=True,
              help="The CPU that runs alone, with the wakeup, in the uniprocessor series.")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=DEFAULT_OUT,
              show_default=True, help="Where the PNG, SVG, CSV and Markdown are written.")
@click.option("--json", "as_json_flag", is_flag=True, help="Print machine-readable results.")
def latency_cmd(scenario: Path, sweep: str, versions: str | None, locks: str | None,
                up_cpu: int, out: Path, as_json_flag: bool) -> None:
    """Worst-case latency of SCENARIO's woken CPU against a swept [params] value.

    For each era and lock algorithm and each value of the parameter: the exact worst case of
    bounded_latency, in lockstep ticks, of the one CPU with wakeups; beside them, per era, the
    uniprocessor case (--up-cpu alone, smp = false, the wakeup moved to it). Prints the table
    and writes a plot (PNG, SVG) and the table (CSV, Markdown) into --out. Era and lock pairs
    the scenario cannot run under are skipped with a note.
    """
    try:
        parameter, values = parse_sweep(sweep)
        eras = _names("--versions", versions, tuple(ERAS), "era") if versions else None
        algorithms = _names("--lock", locks, SPIN_ALGORITHMS, "lock algorithm") \
            if locks else None
        if eras is None or algorithms is None:
            own = load_scenario(scenario, known_properties=KNOWN)
            eras = eras or (own.kernel.version,)
            algorithms = algorithms or (own.kernel.lock,)
        command = _command(scenario, sweep, eras, algorithms, versions, locks, up_cpu, out)
        result = measure(scenario, parameter, values, eras, algorithms, up_cpu, command)
        files = write_reports(result, out)
    except LockbreakError as err:
        click.echo(f"error: {error_text(err)}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except OSError as err:
        click.echo(f"error: cannot write into {out}: {err.strerror}; choose another folder "
                   "with --out", err=True)
        sys.exit(EXIT_BAD_INPUT)
    if as_json_flag:
        click.echo(json.dumps(as_json(result, files), indent=2))
    else:
        click.echo(render_table(result))
        click.echo("wrote " + ", ".join(str(f) for f in files))
    sys.exit(EXIT_OK)


def _command(scenario: Path, sweep: str, eras: tuple[str, ...], algorithms: tuple[str, ...],
             versions: str | None, locks: str | None, up_cpu: int, out: Path) -> str:
    """The command line that reproduces this run, as the figure and the tables cite it."""
    words = ["lockbreak latency", str(scenario), f"--sweep {sweep.replace(' ', '')}"]
    if versions:
        words.append(f"--versions {','.join(eras)}")
    if locks:
        words.append(f"--lock {','.join(algorithms)}")
    if up_cpu:
        words.append(f"--up-cpu {up_cpu}")
    if out != DEFAULT_OUT:
        words.append(f"--out {out}")
    return " ".join(words)
