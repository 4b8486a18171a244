"""A scenario extracted from a kernel function, ready to load and check.

CPU0 runs the function as `model.cfront.abstract` abstracts it, with one wakeup; one
contender CPU per lock the function breaks takes that lock and writes every datum it protects
(so a snapshot kept across the break can go stale), and with ``self_contend`` the function
itself runs on one more CPU. Every statement carries a ``// FILE:LINE`` comment naming the
kernel line it came from (`model.cfront.sourcemap` reads them back for counterexamples), and
a header lists what was abstracted. The scenario is loaded before it is returned, so what
`extract` gives always loads; when the model refuses the abstraction, the error is reported
at the kernel line the refused statement came from.
"""

from __future__ import annotations

import re
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

from lockbreak.core import ScenarioError
from model.cfront import vocabulary as vocab
from model.cfront.abstract import Abstraction, CodeLine, abstract
from model.cfront.parse import CSource
from model.cfront.sourcemap import kernel_lines
from model.eras import ERAS
from model.scenario.load import load_scenario

DEFAULT_ERA = "v6.11"
_INDENT = "    "


@dataclass(frozen=True)
class Extraction:
    """An extracted scenario: the function, where it is defined, the scenario's TOML text
    and what the abstraction changed (guards that became ``*``, calls dropped or inlined)."""

    function: str
    path: str
    line: int
    scenario: str
    abstracted: tuple[str, ...]


def extract(source: CSource, function: str, *, era: str | None = None,
            self_contend: bool = False, protect: Path | None = None) -> Extraction:
    """The scenario that checks ``function`` of ``source`` under ``era`` (default
    `DEFAULT_ERA`).

    Raises
    ------
    ScenarioError
        At the kernel ``file:line:col`` of what could not be abstracted, or naming the era,
        the protection file or the function when one of them is wrong.
    """
    version = era or DEFAULT_ERA
    if version not in ERAS:
        raise ScenarioError(f"unknown era {version!r}", file=source.path,
                            hint=f"eras: {', '.join(ERAS)}")
    found = abstract(source, function, protect=read_protection(protect) if protect else None)
    text = render(found, source.path, version, self_contend)
    _validate(text, source, found)
    return Extraction(function, source.path, found.line, text, tuple(_summary(found)))


def read_protection(path: Path) -> dict[str, str]:
    """The protection file: ``[data]`` maps a variable of the function to the lock expression
    that protects what it points to, or to ``""`` when it is not data the model keeps."""
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ScenarioError(f"cannot read the protection file: {err.strerror}",
                            file=str(path)) from None
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(f"not TOML: {err}", file=str(path),
                            hint="write [data] with variable = \"&lock->expression\"") from None
    unknown = sorted(set(doc) - {"data"})
    data = doc.get("data", {})
    if unknown or not isinstance(data, dict) or not all(isinstance(v, str)
                                                         for v in data.values()):
        raise ScenarioError("a protection file has one table, [data], of variable = \"lock "
                            "expression\" (or \"\" for not a datum)", file=str(path),
                            hint=f"unexpected: {', '.join(unknown)}" if unknown else "")
    return {str(k): "".join(v.split()) for k, v in data.items()}


def _summary(found: Abstraction) -> list[str]:
    inlined = [f"{name}() inlined" for name in found.inlined]
    return [*found.notes, *inlined]


def _name(function: str, version: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]", "-", f"{function}-{version}")[:100]


def _code(lines: list[CodeLine], path: str, depth: int = 0) -> str:
    """Code lines with their kernel ``// FILE:LINE`` comments, aligned."""
    texts = [_INDENT * (line.depth + depth) + line.text for line in lines]
    width = max((len(t) for t in texts), default=0) + 2
    out = []
    for text, line in zip(texts, lines, strict=True):
        out.append(f"{text:<{width}}// {path}:{line.line}" if line.line else text)
    return "\n".join(out)


def _contender(found: Abstraction, lock: str, path: str) -> str:
    kind = found.locks[lock].kind
    spelled = found.locks[lock].exprs[0] if found.locks[lock].exprs else lock
    take, drop = vocab.CONTENDER_OPS[kind]
    body = [f"{take}({spelled});"]
    body += [f"write({datum});" for datum, held in found.data.items() if held == lock]
    if len(body) == 1:
        body.append("work();")
    body.append(f"{drop}({spelled});")
    return "\n".join(body)


def render(found: Abstraction, path: str, version: str, self_contend: bool) -> str:
    """The scenario TOML of an abstraction (loaded by `extract` before it is returned)."""
    header = [f"# {found.function}, {path}:{found.line}, abstracted for lock breaking "
              "(docs/extract.md):"]
    header += [f"#   {note}" for note in _summary(found)] or ["#   nothing"]
    if not found.contended:
        header.append("#   no lock is broken, tested for waiters or tried, so no contender "
                      "CPU: every lock is taken and released by cpu0 alone")
    parts = ["\n".join(header),
             f"name = {_toml(_name(found.function, version))}",
             "description = " + _toml(f"{found.function}() of {path}:{found.line}, as "
                                      "lockbreak extract abstracts it"),
             f"[kernel]\nversion = {_toml(version)}"]
    if found.locks:
        rows = []
        for name, declared in found.locks.items():
            exprs = ", ".join(_toml(e) for e in declared.exprs)
            rows.append(f"{name} = {{ kind = {_toml(declared.kind)}, expr = [{exprs}] }}"
                        if declared.exprs else f"{name} = {_toml(declared.kind)}")
        parts.append("[locks]\n" + "\n".join(rows))
    if found.data:
        parts.append("[data]\n" + "\n".join(f"{d} = {_toml(lock)}"
                                            for d, lock in found.data.items()))
    code = _code(found.lines, path)
    parts.append(f'[[cpu]]\nwakeups = 1\ncode = """\n{code}\n"""')
    if self_contend:
        parts.append(f'[[cpu]]\ncode = """\n{code}\n"""')
    for lock in found.contended:
        parts.append(f'[[cpu]]\ncode = """\n{_contender(found, lock, path)}\n"""')
    return "\n".join(parts) + "\n"


def _toml(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _validate(text: str, source: CSource, found: Abstraction) -> None:
    """Load the scenario; a refusal is reported at the kernel line it came from."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "extracted.toml"
        path.write_text(text, encoding="utf-8")
        try:
            load_scenario(path, known_properties=())
        except ScenarioError as err:
            where = kernel_lines(text).get(err.line)
            kernel_line = where[1] if where else found.line
            raise ScenarioError(f"the abstraction of {found.function}() is refused by the "
                                f"model: {err.message}", file=source.path, line=kernel_line,
                                col=1, hint=err.hint) from None
