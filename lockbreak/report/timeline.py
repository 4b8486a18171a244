"""Per-CPU timelines of a counterexample, and their SVG picture.

One row per CPU, one column per trace step. A cell says what the CPU is doing after that step:
holding a lock, spinning for one, scheduled out (it ran ``schedule()`` in that step), running
without a lock, or finished. The CPU that moved in a step is drawn solid, the others faded;
marks show ``work()``, each lock break (a lock-break site dropping its lock) and wakeups. The
step after which the property is broken is framed in red, a lasso's repeating part underlined.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from lockbreak.core import Trace
from model.events import Event
from model.kernel import Action, KernelModel
from model.program import Op

# What a cell can show, in legend order, with its colour.
STATES = {
    "holds": ("holds a lock", "#2e7d32"),
    "spins": ("spins (waits for a lock)", "#ef6c00"),
    "out": ("scheduled out (schedule())", "#1565c0"),
    "runs": ("runs, holds nothing", "#b0bec5"),
    "done": ("finished", "#ffffff"),
}
MARKS = {
    "work": "work()",
    "break": "lock break",
    "wakeup": "wakeup (need_resched = 1)",
}


@dataclass(frozen=True)
class Cell:
    """One CPU after one step."""

    state: str          # a key of STATES
    moved: bool         # this CPU took the step
    marks: tuple[str, ...]
    label: str          # the step in words, shown on hover


@dataclass(frozen=True)
class Timeline:
    """The cells of every CPU, step by step, and where the property broke."""

    cpus: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]     # per CPU, per step
    violating_step: int                    # 1-based
    loop_start: int | None                 # 0-based index of the first repeating step

    @property
    def steps(self) -> int:
        return len(self.rows[0]) if self.rows else 0


def timeline_of(model: KernelModel, trace: Trace[int, Action], violating_step: int) -> Timeline:
    """Classify every CPU after every step of ``trace``."""
    n = model.world.n_cpus
    rows: list[list[Cell]] = [[] for _ in range(n)]
    state = trace.init
    for number, step in enumerate(trace.steps, 1):
        action = step.action
        info = model.step_info(state, action)
        after = model.view(step.state)
        label = (f"step {number}: cpu{action.cpu}: {info.text}" if not action.wakeup
                 else f"step {number}: env wakes cpu{action.cpu}" if not action.env
                 else f"step {number}: env: {action.env_text}")
        for cpu in range(n):
            view = after.cpus[cpu]
            moved = cpu == action.cpu and not action.wakeup
            marks: list[str] = []
            if moved and info.instr is not None and info.instr.op == Op.WORK:
                marks.append("work")
            if moved and info.events & Event.BREAK:
                marks.append("break")
            if action.wakeup and action.env != "tick" and cpu == action.cpu:
                marks.append("wakeup")
            if view.finished:
                kind = "done"
            elif moved and info.events & Event.SCHEDULE:
                kind = "out"
            elif view.waits_for:
                kind = "spins"
            elif view.holds:
                kind = "holds"
            else:
                kind = "runs"
            rows[cpu].append(Cell(kind, moved, tuple(marks), label))
        state = step.state
    return Timeline(tuple(model.agents), tuple(tuple(r) for r in rows), violating_step,
                    trace.loop_start)


# Geometry, in px.
_LABEL, _ROW, _GAP, _TOP, _RIGHT = 52, 18, 6, 26, 12


def _cell_width(steps: int) -> int:
    return max(8, min(18, 640 // max(steps, 1)))


def render_svg(timeline: Timeline, title: str) -> str:
    """A self-contained SVG (no scripts, no external references) of ``timeline``."""
    w = _cell_width(timeline.steps)
    grid_w = w * timeline.steps
    rows_h = len(timeline.cpus) * (_ROW + _GAP)
    legend_y = _TOP + rows_h + 18
    width = _LABEL + max(grid_w, 640) + _RIGHT
    height = legend_y + 44
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="{width}" '
           f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="{escape(title)}" font-family="sans-serif" font-size="10">',
           f"<title>{escape(title)}</title>"]
    for s in range(1, timeline.steps + 1):
        if s == 1 or s % 5 == 0 or s == timeline.violating_step:
            x = _LABEL + (s - 0.5) * w
            out.append(f'<text x="{x:g}" y="{_TOP - 8}" text-anchor="middle" '
                       f'fill="#555">{s}</text>')
    for r, (cpu, cells) in enumerate(zip(timeline.cpus, timeline.rows, strict=True)):
        y = _TOP + r * (_ROW + _GAP)
        out.append(f'<text x="4" y="{y + _ROW - 5}" font-size="11" '
                   f'font-weight="bold">{escape(cpu)}</text>')
        for s, cell in enumerate(cells):
            out.append(_cell_svg(cell, _LABEL + s * w, y, w))
    if timeline.loop_start is not None and timeline.loop_start < timeline.steps:
        x0 = _LABEL + timeline.loop_start * w
        y_loop = _TOP + rows_h - _GAP // 2 + 2
        out.append(f'<line x1="{x0}" y1="{y_loop}" x2="{_LABEL + grid_w}" y2="{y_loop}" '
                   'stroke="#6a1b9a" stroke-width="2" stroke-dasharray="4 2"/>')
        out.append(f'<text x="{x0}" y="{y_loop + 10}" fill="#6a1b9a">repeats forever</text>')
    if timeline.violating_step >= 1:
        x = _LABEL + (timeline.violating_step - 1) * w
        out.append(f'<rect class="violation" x="{x - 1}" y="{_TOP - 3}" width="{w + 2}" '
                   f'height="{rows_h - _GAP + 6}" fill="none" stroke="#c62828" '
                   'stroke-width="2"><title>the property is broken after this step</title>'
                   '</rect>')
    out += _legend(legend_y)
    out.append("</svg>")
    return "\n".join(out)


def _cell_svg(cell: Cell, x: int, y: int, w: int) -> str:
    colour = STATES[cell.state][1]
    opacity = "1" if cell.moved else "0.45"
    stroke = ' stroke="#263238" stroke-width="1"' if cell.moved or cell.state == "done" else ""
    parts = [f'<g><title>{escape(cell.label)}</title>'
             f'<rect class="cell {cell.state}" x="{x}" y="{y}" width="{w - 1}" height="{_ROW}" '
             f'fill="{colour}" fill-opacity="{opacity}"{stroke}/>']
    cx = x + (w - 1) / 2
    if "work" in cell.marks:
        parts.append(f'<circle cx="{cx:g}" cy="{y + _ROW / 2:g}" r="2.5" fill="#fff"/>')
    if "break" in cell.marks:
        parts.append(f'<path d="M{cx - 4:g} {y - 3} L{cx + 4:g} {y - 3} L{cx:g} {y + 4} Z" '
                     'fill="#000"/>')
    if "wakeup" in cell.marks:
        parts.append(f'<path d="M{cx:g} {y + _ROW - 9} L{cx + 4:g} {y + _ROW - 4} '
                     f'L{cx:g} {y + _ROW + 1} L{cx - 4:g} {y + _ROW - 4} Z" fill="#fdd835" '
                     'stroke="#000" stroke-width="0.5"/>')
    parts.append("</g>")
    return "".join(parts)


def _legend(y: int) -> list[str]:
    out = []
    x = _LABEL
    for text, colour in STATES.values():
        out.append(f'<rect x="{x}" y="{y}" width="10" height="10" fill="{colour}" '
                   'stroke="#263238" stroke-width="0.5"/>'
                   f'<text x="{x + 13}" y="{y + 9}">{escape(text)}</text>')
        x += 20 + 6 * len(text)
    y += 18
    x = _LABEL
    out.append(f'<circle cx="{x + 5}" cy="{y + 5}" r="2.5" fill="#fff" stroke="#000" '
               f'stroke-width="0.5"/><text x="{x + 13}" y="{y + 9}">{MARKS["work"]}</text>')
    x += 70
    out.append(f'<path d="M{x + 1} {y + 1} L{x + 9} {y + 1} L{x + 5} {y + 8} Z" fill="#000"/>'
               f'<text x="{x + 13}" y="{y + 9}">{MARKS["break"]}</text>')
    x += 80
    out.append(f'<path d="M{x + 5} {y} L{x + 9} {y + 5} L{x + 5} {y + 10} L{x + 1} {y + 5} Z" '
               f'fill="#fdd835" stroke="#000" stroke-width="0.5"/>'
               f'<text x="{x + 13}" y="{y + 9}">{MARKS["wakeup"]}</text>')
    x += 170
    out.append(f'<rect x="{x}" y="{y}" width="10" height="10" fill="none" stroke="#c62828" '
               f'stroke-width="2"/><text x="{x + 14}" y="{y + 9}">property broken</text>')
    return out
