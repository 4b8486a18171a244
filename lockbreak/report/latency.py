"""The latency figure: worst-case scheduling latency against a scenario parameter.

`lockbreak latency` measures, for each kernel era and lock algorithm (one *series* each, plus
the uniprocessor case of each era), the exact worst case of ``bounded_latency`` in lockstep
ticks at every value of a swept ``[params]`` entry. This module renders those measurements:
a plain-text table for the terminal, CSV and Markdown for reports, and a matplotlib plot
(PNG and SVG) whose SVG is byte-for-byte reproducible, so a committed figure only changes
when the measurements do.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure

from lockbreak.atomic import write_atomically

UNBOUNDED = "unbounded"

# Series of one era share a colour; the lock algorithm (or UP) picks the line and marker.
_STYLES = {"tas": ("-", "o"), "ticket": ("--", "s"), "qspinlock": ("-.", "D"), "up": (":", "^")}
_SVG_SALT = "lockbreak-latency"     # fixes the ids matplotlib writes into SVG files


@dataclass(frozen=True)
class Series:
    """One curve: an era and lock algorithm (``"up"`` for the uniprocessor case).

    ``worst[i]`` is the worst case in ticks at the sweep's ``i``-th value, None when a
    reachable cycle keeps the woken CPU waiting forever (unbounded).
    """

    version: str
    lock: str
    worst: tuple[int | None, ...]

    @property
    def label(self) -> str:
        """``v2.6.8 tas``, or ``v2.6.8 UP`` for the uniprocessor case."""
        return f"{self.version} {'UP' if self.lock == 'up' else self.lock}"


@dataclass(frozen=True)
class LatencySweep:
    """Everything one ``lockbreak latency`` run measured, and the command that made it.

    ``woken`` names the CPU whose wakeup is measured on SMP (``cpu1``) and ``up_cpu`` the
    CPU that runs alone, with that wakeup, in the uniprocessor series. ``notes`` say which
    pairs were skipped and why.
    """

    scenario: str
    parameter: str
    values: tuple[int, ...]
    series: tuple[Series, ...]
    woken: str
    up_cpu: str
    command: str
    notes: tuple[str, ...] = ()


def cell(worst: int | None) -> str:
    """One table cell: the ticks, or ``unbounded``.

    >>> cell(14), cell(None)
    ('14', 'unbounded')
    """
    return UNBOUNDED if worst is None else str(worst)


def rows(sweep: LatencySweep) -> list[list[str]]:
    """The table as text cells: a header row, then one row per parameter value."""
    header = [sweep.parameter, *(s.label for s in sweep.series)]
    return [header] + [[str(value), *(cell(s.worst[i]) for s in sweep.series)]
                       for i, value in enumerate(sweep.values)]


def caption(sweep: LatencySweep) -> str:
    """What the numbers are, in one line."""
    return (f"{sweep.scenario}: worst-case latency of the woken {sweep.woken} "
            f"(bounded_latency, lockstep ticks) against {sweep.parameter}; "
            f"UP = {sweep.up_cpu} alone with the wakeup, smp = false")


def render_table(sweep: LatencySweep) -> str:
    r"""The table for the terminal, right-aligned columns under a caption.

    >>> sweep = LatencySweep("s", "repeat", (1, 2), (Series("v2.6.8", "tas", (14, None)),),
    ...                      "cpu1", "cpu0", "lockbreak latency s.toml --sweep repeat=1..2")
    >>> print(render_table(sweep).split("\n", 1)[1])
    repeat  v2.6.8 tas
         1          14
         2   unbounded
    """
    table = rows(sweep)
    widths = [max(len(row[c]) for row in table) for c in range(len(table[0]))]
    lines = [caption(sweep)]
    lines += ["  ".join(text.rjust(width) for text, width in zip(row, widths, strict=True))
              for row in table]
    lines += [f"note: {note}" for note in sweep.notes]
    return "\n".join(lines)


def render_csv(sweep: LatencySweep) -> str:
    """The table as CSV: a header row of series labels, ``unbounded`` for unbounded cells."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows(sweep))
    return out.getvalue()


def render_markdown(sweep: LatencySweep) -> str:
    """The table as Markdown, under the command that produced it."""
    table = rows(sweep)
    lines = [f"Made by `{sweep.command}`.", "", caption(sweep) + ".", "",
             "| " + " | ".join(table[0]) + " |",
             "| " + " | ".join("---:" for _ in table[0]) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in table[1:]]
    if sweep.notes:
        lines += ["", *(f"- {note}" for note in sweep.notes)]
    return "\n".join(lines) + "\n"


def plot(sweep: LatencySweep) -> Figure:
    """The figure: one line per series, ticks against the parameter.

    Unbounded points are drawn as upward arrows on a dotted ``unbounded`` line above the
    highest finite value, so they are never mistaken for a number.
    """
    fig = Figure(figsize=(8, 5.5), dpi=100)
    ax = fig.add_subplot()
    finite = [w for s in sweep.series for w in s.worst if w is not None]
    top = max(finite, default=1) * 1.12 + 1
    eras = list(dict.fromkeys(s.version for s in sweep.series))
    colours = matplotlib.colormaps["tab10"]
    any_unbounded = False
    for s in sweep.series:
        colour = colours(eras.index(s.version) % 10)
        line, marker = _STYLES.get(s.lock, ("-", "o"))
        xs = [v for v, w in zip(sweep.values, s.worst, strict=True) if w is not None]
        ys = [w for w in s.worst if w is not None]
        ax.plot(xs, ys, linestyle=line, marker=marker, markersize=4, color=colour,
                label=s.label)
        never = [v for v, w in zip(sweep.values, s.worst, strict=True) if w is None]
        if never:
            any_unbounded = True
            ax.plot(never, [top] * len(never), linestyle="none", marker="^", color=colour)
    if any_unbounded:
        ax.axhline(top, linestyle=":", color="grey", linewidth=0.8)
        ax.annotate(UNBOUNDED, (sweep.values[0], top), textcoords="offset points",
                    xytext=(0, 6), fontsize=8, color="grey")
    ax.set_xlabel(f"{sweep.parameter} (scenario parameter)")
    ax.set_ylabel("worst-case latency (lockstep ticks)")
    ax.set_title(f"{sweep.scenario}: wakeup on {sweep.woken} until it schedules",
                 fontsize=11)
    ax.set_ylim(bottom=0, top=top * (1.08 if any_unbounded else 1))
    ax.grid(True, linewidth=0.3)
    ax.legend(fontsize=8, ncols=max(1, len(eras)), loc="upper left")
    fig.text(0.01, 0.01, sweep.command, fontsize=6, color="grey")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return fig


def write_reports(sweep: LatencySweep, out: Path) -> list[Path]:
    """Write ``<scenario>.png``, ``.svg``, ``.csv`` and ``.md`` into ``out``; return them.

    Raises
    ------
    OSError
        When ``out`` cannot be created or written.
    """
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{sweep.scenario}{ext}" for ext in (".png", ".svg", ".csv", ".md")]
    fig = plot(sweep)
    png, svg = io.BytesIO(), io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": _SVG_SALT}):
        fig.savefig(png, format="png", metadata={"Software": None})
        fig.savefig(svg, format="svg", metadata={"Date": None, "Creator": "lockbreak latency"})
    contents: tuple[bytes | str, ...] = (png.getvalue(), svg.getvalue(), render_csv(sweep),
                                         render_markdown(sweep))
    for path, data in zip(paths, contents, strict=True):
        write_atomically(path, data)
    return paths


def as_json(sweep: LatencySweep, files: Sequence[Path]) -> dict[str, object]:
    """The measurements for ``--json``: ``worst`` lists hold null where unbounded."""
    return {"scenario": sweep.scenario, "parameter": sweep.parameter,
            "values": list(sweep.values), "woken": sweep.woken, "up_cpu": sweep.up_cpu,
            "series": [{"label": s.label, "version": s.version, "lock": s.lock,
                        "smp": s.lock != "up", "worst": list(s.worst)} for s in sweep.series],
            "notes": list(sweep.notes), "files": [str(p) for p in files],
            "command": sweep.command}
