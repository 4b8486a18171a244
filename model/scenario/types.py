"""The checked, defaults-resolved form of a scenario file (docs/semantics.md section 7).

`model.scenario.load` builds these from TOML; everything downstream (the kernel model, the
engines' reports) reads only these frozen values, never the TOML.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from model.lang.ast import Stmt


@dataclass(frozen=True)
class Kernel:
    """The kernel configuration a scenario runs under, with every default resolved.

    ``lock`` is the lock algorithm (``tas``, ``ticket``, ``qspinlock``), ``preempt`` the
    preemption model (``none``, ``voluntary``, ``full``, ``lazy``, ``rt``), ``timing`` one of
    ``interleaving`` and ``lockstep``; ``drop_every`` is the -mm kludge's period (1 where the
    era has no such knob); ``preempt_at`` is where the file sets ``preempt`` ((0, 0) when it
    does not or an override does).
    """

    version: str
    lock: str
    preempt: str = "full"
    preempt_dynamic: bool = False
    smp: bool = True
    timing: str = "interleaving"
    generic_lockbreak: bool = False
    drop_every: int = 1
    preempt_at: tuple[int, int] = field(default=(0, 0), compare=False)


@dataclass(frozen=True)
class Cpu:
    """One CPU's program: its code, how many wakeups the environment may send it.

    ``wakeups`` counts them all; ``lazy_wakeups`` says how many of those wake a fair-class
    task (``wakeups = { lazy = N, rt = M }``), which under ``preempt = "lazy"`` sets the lazy
    flag instead of need_resched (docs/semantics.md section 4). ``forever`` is True when the
    code contains an endless loop, one with no way out (the CPU is not expected to finish);
    ``line`` is the line of its ``[[cpu]]`` header.
    """

    index: int
    code: tuple[Stmt, ...]
    wakeups: int = 0
    forever: bool = False
    line: int = 0
    lazy_wakeups: int = 0


@dataclass(frozen=True)
class Expectation:
    """What a scenario must show for one property.

    Either ``status`` (``"holds"``, ``"violated"`` or ``"vacuous"``) or, for the bounded
    properties, ``max``: the worst case in ticks must be at most ``max``.
    """

    status: str | None = None
    max: int | None = None

    def __str__(self) -> str:
        """``holds``, ``violated``, ``vacuous``, or ``max N``."""
        return self.status if self.status is not None else f"max {self.max}"


@dataclass(frozen=True)
class PatchedPrimitive:
    """One primitive's new body in kernel C, and where that body starts in the file (the
    scenario's, unless ``file`` names another: a kernel tree's source)."""

    body: str
    line: int
    col: int
    file: str | None = None


@dataclass(frozen=True)
class EraPatch:
    """A proposed change to the era's primitives, written in the scenario's ``[patch]`` table.

    ``primitives`` maps a primitive the era already has (``cond_resched_lock``,
    ``spin_needbreak``, ``__resched_legal``, ...) to its replacement body.
    """

    name: str
    summary: str
    primitives: Mapping[str, PatchedPrimitive]


@dataclass(frozen=True)
class Scenario:
    """A checked scenario: the kernel, locks and data, each CPU's code, the expectations.

    ``locks`` maps a lock name to ``"spin"`` or ``"rwlock"`` and ``data`` a datum to the lock
    that protects it, both in file order. ``sha256`` is the hex digest of the file's bytes.
    ``patch`` is the ``[patch]`` table: primitives of the era replaced by the scenario.
    ``params`` maps each ``[params]`` name to the value the code was built with (the file's,
    or an override's), in file order.
    """

    path: Path
    name: str
    description: str
    kernel: Kernel
    locks: Mapping[str, str]
    data: Mapping[str, str]
    cpus: tuple[Cpu, ...]
    expect: Mapping[str, Expectation]
    sha256: str
    patch: EraPatch | None = None
    params: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
