"""Read scenario files (docs/semantics.md section 7) into checked `Scenario` values.

``tomllib`` parses the file but reports no positions, so `model.scenario.toml_text.Locator`
scans the source text for the line and column of every key and value; every mistake is then a
`ScenarioError` at ``file:line:col``. Command-line overrides (``--version``, ``--lock``,
``--preempt``, ``--timing``) replace the file's values before validation, and errors they
cause name the option; overrides of ``[params]`` values (a latency sweep) replace declared
parameters only.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

from lockbreak.core import ScenarioError
from model import eras as era_registry
from model.lang.limits import MAX_COUNT, MAX_NAME, MAX_WAKEUPS
from model.lang.parser import parse_code
from model.scenario.loops import has_forever
from model.scenario.static import check_scenario
from model.scenario.toml_text import (
    Locator,
    check_nesting,
    decode,
    dotted,
    quoted,
    toml_error,
    toml_repr,
)
from model.scenario.types import (
    Cpu,
    EraPatch,
    Expectation,
    Kernel,
    PatchedPrimitive,
    Scenario,
)
from model.scenario.typos import did_you_mean, same_era

LOCK_ALGORITHMS = ("tas", "ticket", "qspinlock")
PREEMPT_MODELS = ("none", "voluntary", "full", "lazy", "rt")
TIMINGS = ("interleaving", "lockstep")
LOCK_KINDS = ("spin", "rwlock", "mutex", "rwsem")
STATUSES = ("holds", "violated", "vacuous")
BOUNDED_PROPERTIES = ("bounded_wait", "bounded_latency")
# Scenarios are short hand-written files; anything larger is the wrong path (or /dev/zero),
# refused before it is read whole.
MAX_SCENARIO_BYTES = 1 << 20

_TOP_KEYS = ("name", "description", "kernel", "patch", "locks", "data", "params", "cpu",
             "expect")
_KERNEL_TYPES: Mapping[str, type] = {
    "version": str, "lock": str, "preempt": str, "preempt_dynamic": bool, "smp": bool,
    "timing": str, "generic_lockbreak": bool, "drop_every": int,
}
_CPU_KEYS = ("code", "wakeups")
_WAKEUP_KINDS = ("lazy", "rt")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_LOCK_EXPR = re.compile(r"&?\s*[A-Za-z_]\w*(\s*(->|\.)\s*[A-Za-z_]\w*)*\Z")
# A scenario's name becomes part of trace file names: one safe path component.
_NAME = re.compile(r"[A-Za-z0-9_+-][A-Za-z0-9._+-]*\Z")
_TYPE_WORDS = {str: "a string", bool: "true or false", int: "an integer", dict: "a table"}


def find_scenarios(paths: Iterable[str | Path]) -> list[Path]:
    """The scenario files named by ``paths``: each file itself, each folder's ``*.toml``.

    Parameters
    ----------
    paths
        Files and folders, as given on the command line.

    Returns
    -------
    list of Path
        Files in the order given, each folder's files (subfolders included) sorted by path,
        without repeats.

    Raises
    ------
    ScenarioError
        For a path that does not exist, or a folder without ``*.toml`` files.
    """
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files = sorted(path.rglob("*.toml"))
            if not files:
                raise ScenarioError("no *.toml scenario files in this folder", file=str(path))
        elif path.exists():
            files = [path]
        else:
            raise ScenarioError("no such file or folder", file=str(path))
        found += [f for f in files if f not in found]
    return found


def load_scenario(path: str | Path, *, known_properties: Collection[str],
                  version: str | None = None, lock: str | None = None,
                  preempt: str | None = None, timing: str | None = None,
                  params: Mapping[str, int] | None = None) -> Scenario:
    """Read, validate and statically check one scenario file.

    Parameters
    ----------
    path
        The TOML scenario file.
    known_properties
        The property names an ``[expect]`` table may mention.
    version, lock, preempt, timing
        Command-line overrides of the ``[kernel]`` fields of the same names.
    params
        New values for parameters the file declares in ``[params]``.

    Returns
    -------
    Scenario
        With every default resolved from the era and docs/semantics.md.

    Raises
    ------
    ScenarioError
        At the offending key, value or statement, with a hint on what to do; for an override
        of a parameter the file does not declare, naming the file and the declared ones.

    Examples
    --------
    >>> s = load_scenario("scenarios/nested.toml", known_properties={"mutual_exclusion"},
    ...                   version="v2.6.12")  # doctest: +SKIP
    >>> s.kernel.lock, len(s.cpus)  # doctest: +SKIP
    ('tas', 2)
    """
    path = Path(path)
    try:
        with path.open("rb") as src:
            raw = src.read(MAX_SCENARIO_BYTES + 1)
    except OSError as err:
        raise ScenarioError(f"cannot read the scenario: {err.strerror}", file=str(path)) from None
    if len(raw) > MAX_SCENARIO_BYTES:
        raise ScenarioError(f"larger than {MAX_SCENARIO_BYTES // 2**20} MiB: not a scenario "
                            "file (a scenario is a short TOML file); check the path",
                            file=str(path))
    text = decode(raw, str(path))
    check_nesting(text, str(path))
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise toml_error(err, text, str(path)) from None
    overrides = {"version": version, "lock": lock, "preempt": preempt, "timing": timing}
    loader = _Loader(path, text, {k: v for k, v in overrides.items() if v is not None},
                     params or {})
    scenario = loader.scenario(doc, known_properties, hashlib.sha256(raw).hexdigest())
    check_scenario(scenario, era_label=loader.era_label(scenario.kernel.version))
    return scenario


class _Loader:
    """Validates one parsed file; knows where each key and value stands in the source."""

    def __init__(self, path: Path, text: str, overrides: Mapping[str, str],
                 param_overrides: Mapping[str, int]) -> None:
        self.path, self.file, self.overrides = path, str(path), overrides
        self.param_overrides = param_overrides
        self.where = Locator(text)

    def error(self, keys: Sequence[str | int], message: str, hint: str = "", *,
              at_value: bool = False) -> ScenarioError:
        line, col = self.where.find(tuple(keys), value=at_value)
        return ScenarioError(message, file=self.file, line=line, col=col, hint=hint)

    def era_label(self, version: str) -> str:
        return f"{version} (--version)" if "version" in self.overrides else version

    def scenario(self, doc: Mapping[str, Any], known_properties: Collection[str],
                 sha256: str) -> Scenario:
        self.known_keys(doc, (), _TOP_KEYS, "top-level key")
        name = self.name(self.typed(doc, ("name",), str, None) if "name" in doc else None)
        description = self.typed(doc, ("description",), str, "")
        kernel = self.kernel(self.typed(doc, ("kernel",), dict, {}))
        locks, aliases = self.locks(self.typed(doc, ("locks",), dict, {}))
        data = self.data(self.typed(doc, ("data",), dict, {}), locks)
        params = self.params(self.typed(doc, ("params",), dict, {}), locks, data)
        cpus = self.cpus(doc.get("cpu"), params, aliases)
        if not kernel.smp and len(cpus) > 1:
            raise self.kernel_error("smp", f"smp = false means one CPU, but there are "
                                    f"{len(cpus)} [[cpu]] tables",
                                    "remove smp = false or keep one [[cpu]]")
        expect = self.expect(self.typed(doc, ("expect",), dict, {}), known_properties)
        patch = self.patch(doc["patch"], kernel.version, name) if "patch" in doc else None
        return Scenario(path=self.path, name=name, description=description, kernel=kernel,
                        locks=MappingProxyType(locks), data=MappingProxyType(data),
                        cpus=cpus, expect=MappingProxyType(expect), sha256=sha256,
                        patch=patch, params=MappingProxyType(params))

    # ------------------------------------------------------------ shapes and types

    def known_keys(self, table: Mapping[str, Any], keys: tuple[str | int, ...],
                   allowed: Sequence[str], what: str) -> None:
        for key, value in table.items():
            if key not in allowed:
                is_table = isinstance(value, dict) or (
                    isinstance(value, list) and bool(value)
                    and all(isinstance(v, dict) for v in value))
                kind = "table" if is_table and not keys else what
                brackets = ("[[", "]]") if isinstance(value, list) else ("[", "]")
                shown = key.join(brackets) if kind == "table" else f"'{key}'"
                home = ("[kernel]" if key in _KERNEL_TYPES else "a [[cpu]] table"
                        if key in _CPU_KEYS else "")
                raise self.error((*keys, key), f"unknown {kind} {shown}",
                                 f"{key} belongs in {home}" if home and not keys else
                                 did_you_mean(key, allowed) or "known: " + ", ".join(allowed))

    def typed(self, table: Mapping[str, Any], keys: tuple[str | int, ...], kind: type,
              default: Any) -> Any:
        value = table.get(str(keys[-1]), default)
        if kind is dict and isinstance(value, list) and value and all(
                isinstance(v, dict) for v in value):
            raise self.error((*keys, 0), f"[{dotted(keys)}] is a table, not an array of tables",
                             f"write [{dotted(keys)}] once, with single brackets")
        # bool is an int in Python, but not in TOML
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.error(keys, f"{dotted(keys)} must be {_TYPE_WORDS[kind]}, not "
                             f"{toml_repr(value)}", at_value=True)
        return value

    def name(self, given: str | None) -> str:
        """The scenario's name: ``given``, which must be a safe file-name part, or one made
        from the file's name."""
        if given is None:
            made = re.sub(r"[^A-Za-z0-9._+-]", "_", self.path.stem).lstrip(".")[:MAX_NAME]
            return made or "scenario"
        if len(given) > MAX_NAME or not _NAME.match(given):
            shown = given if len(given) <= 40 else given[:40] + "..."
            problem = ("is empty" if not given else
                       f"is {len(given)} characters long" if len(given) > MAX_NAME else
                       "starts with '.'" if _NAME.match("_" + given[1:]) else
                       "has characters other than letters, digits and . _ + -")
            raise self.error(("name",), f"the scenario name {shown!r} {problem}",
                             f"trace files are named after it: use 1 to {MAX_NAME} letters, "
                             "digits and . _ + -, not starting with '.'", at_value=True)
        return given

    # ------------------------------------------------------------ [kernel]

    def kernel(self, table: Mapping[str, Any]) -> Kernel:
        self.known_keys(table, ("kernel",), tuple(_KERNEL_TYPES), "[kernel] field")
        fields = {key: self.typed(table, ("kernel", key), kind, None)
                  for key, kind in _KERNEL_TYPES.items() if key in table}
        fields.update(self.overrides)
        if "version" not in fields:
            raise self.error(("kernel",), "the scenario names no kernel version",
                             "add version = \"...\" under [kernel]; known: "
                             + ", ".join(era_registry.ERAS))
        version = self.choice(fields, "version", tuple(era_registry.ERAS), "era")
        era = era_registry.get_era(version)
        lock = self.choice({"lock": era.default_lock, **fields}, "lock", LOCK_ALGORITHMS,
                           "lock algorithm")
        preempt = self.choice({"preempt": "full", **fields}, "preempt", PREEMPT_MODELS,
                              "preempt model")
        timing = self.choice({"timing": "interleaving", **fields}, "timing", TIMINGS,
                             "timing")
        if preempt == "lazy" and not era.preempt_lazy:
            having = [n for n, e in era_registry.ERAS.items() if e.preempt_lazy]
            raise self.kernel_error(
                "preempt", f'{version} has no preempt = "lazy"',
                f"CONFIG_PREEMPT_LAZY arrived in {having[0] if having else 'no era'}; "
                'set version to it or later, or choose another preempt model',
                cause="version")
        generic = fields.get("generic_lockbreak", era.default_generic_lockbreak)
        if generic and lock != "tas":
            explicit = "generic_lockbreak" in table
            raise self.kernel_error(
                "generic_lockbreak" if explicit else "lock",
                f'generic_lockbreak needs lock = "tas", not "{lock}"',
                "generic_lockbreak is the break_lock flag of TAS locks; "
                + ('use lock = "tas"' if explicit
                   else f"{version} has it by default: set generic_lockbreak = false"),
                cause="lock" if explicit else "version")
        drop_every = fields.get("drop_every", 1)
        if "drop_every" in fields and not era.drop_every:
            having = [n for n, e in era_registry.ERAS.items() if e.drop_every]
            raise self.kernel_error(
                "drop_every", f"{version} has no drop_every",
                f"drop_every is the -mm kludge's knob, only in {', '.join(having) or 'no era'}"
                "; remove it or change version", cause="version")
        if drop_every < 1:
            raise self.kernel_error("drop_every", f"drop_every = {drop_every}: the lock-break "
                                    "site must drop the lock every N >= 1 calls")
        preempt_at = ((0, 0) if "preempt" in self.overrides or "preempt" not in table
                      else self.where.find(("kernel", "preempt"), value=True))
        return Kernel(version=version, lock=lock, preempt=preempt,
                      preempt_dynamic=fields.get("preempt_dynamic", False),
                      smp=fields.get("smp", True),
                      timing=timing, generic_lockbreak=generic, drop_every=drop_every,
                      preempt_at=preempt_at)

    def choice(self, fields: Mapping[str, Any], key: str, known: Sequence[str],
               what: str) -> str:
        value = fields[key]
        if value not in known:
            shown = "" if key in self.overrides else f" '{value}'"  # the option shows it
            raise self.kernel_error(key, f"unknown {what}{shown}; known: {', '.join(known)}",
                                    same_era(str(value), known) if key == "version"
                                    else did_you_mean(str(value), known))
        return str(value)

    def kernel_error(self, key: str, message: str, hint: str = "", *,
                     cause: str = "") -> ScenarioError:
        """An error about ``[kernel] key``; one caused by an override names the option.

        A bad override has no position in the file (line and column 0); a file value that
        only an override made wrong (``cause``) is shown where it stands.
        """
        if key in self.overrides:
            return ScenarioError(f"--{key} {self.overrides[key]}: {message}", file=self.file,
                                 hint=hint)
        if cause in self.overrides:
            message = f"--{cause} {self.overrides[cause]}: {message}"
        return self.error(("kernel", key), message, hint, at_value=True)

    # ------------------------------------------------------------ [locks] and [data]

    def locks(self, table: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
        """The ``[locks]`` table: each lock's kind, and the C expressions that name it.

        A lock is ``name = "spin"`` or ``name = { kind = "spin", expr = ["&inode->i_lock"] }``;
        code may then pass the lock by its name or by any of its expressions.
        """
        kinds: dict[str, str] = {}
        aliases: dict[str, str] = {}
        for name, value in table.items():
            self.identifier(("locks", name), "lock")
            keys: tuple[str, ...] = ("locks", name)
            kind = value
            if isinstance(value, dict):
                self.known_keys(value, keys, ("kind", "expr"), "lock field")
                kind = self.typed(value, (*keys, "kind"), str, "spin")
                for text in self.typed(value, (*keys, "expr"), list, []):
                    self.lock_expr(name, text, aliases)
                keys = (*keys, "kind")
            if kind not in LOCK_KINDS:
                raise self.error(keys, f"unknown lock kind {quoted(kind)} for {name}",
                                 'use "spin" (spinlock_t), "rwlock" (rwlock_t), "mutex" '
                                 '(struct mutex) or "rwsem" (struct rw_semaphore)',
                                 at_value=True)
            kinds[name] = kind
        return kinds, aliases

    def lock_expr(self, name: str, text: Any, aliases: dict[str, str]) -> None:
        """One C expression naming lock ``name``, normalised as the parser spells it."""
        keys = ("locks", name)
        if not isinstance(text, str) or not _LOCK_EXPR.match(text.strip()):
            raise self.error((*keys, "expr"), f"{toml_repr(text)} is not a lock expression",
                             'write the lock as the C code passes it, e.g. "&inode->i_lock"',
                             at_value=True)
        spelled = re.sub(r"\s+", "", text)
        if aliases.get(spelled, name) != name:
            raise self.error((*keys, "expr"), f"{spelled} names both {aliases[spelled]} and "
                             f"{name}", "map each expression to one lock", at_value=True)
        aliases[spelled] = name

    def data(self, table: Mapping[str, Any], locks: Mapping[str, str]) -> dict[str, str]:
        for name, lock in table.items():
            self.identifier(("data", name), "datum")
            if name in locks:
                raise self.error(("data", name), f"'{name}' is both a lock and a datum",
                                 "give the datum another name")
            if not isinstance(lock, str) or lock not in locks:
                raise self.error(("data", name), f"{name} is protected by {quoted(lock)}, which "
                                 "is not declared in [locks]; declared: "
                                 f"{', '.join(locks) or 'none'}",
                                 did_you_mean(str(lock), locks)
                                 or f"declare {lock} in [locks], e.g. {lock} = \"spin\"",
                                 at_value=True)
        return dict(table)

    def identifier(self, keys: tuple[str, str], what: str) -> None:
        if not _IDENTIFIER.match(keys[1]):
            raise self.error(keys, f"{what} name '{keys[1]}' is not a C identifier",
                             "code refers to it by name: use letters, digits and _")

    # ------------------------------------------------------------ [params]

    def params(self, table: Mapping[str, Any], locks: Mapping[str, str],
               data: Mapping[str, str]) -> dict[str, int]:
        """The ``[params]`` table, each value replaced by its override where one is given."""
        for name in table:
            keys = ("params", name)
            self.identifier(keys, "parameter")
            if name in locks or name in data:
                what = "lock" if name in locks else "datum"
                raise self.error(keys, f"'{name}' is both a {what} and a parameter",
                                 "give the parameter another name")
            value = self.typed(table, keys, int, 0)
            if value < 0:
                raise self.error(keys, f"{name} = {value} is negative",
                                 "a parameter is a count: 0 or more", at_value=True)
            if value > MAX_COUNT:
                raise self.error(keys, f"{name} = {value} is more than {MAX_COUNT}",
                                 f"a parameter is a count: 0 to {MAX_COUNT}", at_value=True)
        unknown = [name for name in self.param_overrides if name not in table]
        if unknown:
            raise ScenarioError(
                f"no parameter '{unknown[0]}' to set; declared in [params]: "
                f"{', '.join(table) or 'none'}", file=self.file,
                hint=did_you_mean(unknown[0], table)
                or f"declare it in the file's [params] table, e.g. {unknown[0]} = 3")
        for name, value in self.param_overrides.items():
            if (isinstance(value, bool) or not isinstance(value, int) or value < 0
                    or value > MAX_COUNT):
                raise ScenarioError(f"parameter {name} = {value!r}: a parameter is a count, "
                                    f"0 to {MAX_COUNT}", file=self.file)
        return {**table, **self.param_overrides}

    # ------------------------------------------------------------ [[cpu]]

    def cpus(self, tables: Any, params: Mapping[str, int],
             aliases: Mapping[str, str]) -> tuple[Cpu, ...]:
        if tables is None:
            raise self.error((), "the scenario has no [[cpu]]",
                             "add one [[cpu]] table with code = \"\"\" ... \"\"\" per CPU")
        if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
            raise self.error(("cpu",), "cpu must be an array of tables",
                             "write each CPU as a [[cpu]] table")
        return tuple(self.cpu(index, table, params, aliases)
                     for index, table in enumerate(tables))

    def cpu(self, index: int, table: Mapping[str, Any], params: Mapping[str, int],
            aliases: Mapping[str, str]) -> Cpu:
        keys: tuple[str | int, ...] = ("cpu", index)
        self.known_keys(table, keys, _CPU_KEYS, "[[cpu]] key")
        if "code" not in table:
            raise self.error(keys, f"cpu{index} has no code",
                             'add code = """ ... """ with the CPU\'s kernel code path')
        source = self.typed(table, (*keys, "code"), str, "")
        wakeups, lazy = self.wakeups(table, keys)
        line, col = self.where.code_start((*keys, "code"))
        code = parse_code(source, file=self.file, line=line, col=col, params=params,
                          aliases=aliases)
        if not code:
            raise self.error((*keys, "code"), f"cpu{index} has no code: its code is empty",
                             "give it a kernel code path, e.g. spin_lock(L); work(); "
                             "spin_unlock(L); or remove the [[cpu]] table", at_value=True)
        return Cpu(index=index, code=code, wakeups=wakeups, forever=has_forever(code),
                   line=self.where.find(keys)[0], lazy_wakeups=lazy)

    def wakeups(self, table: Mapping[str, Any], keys: tuple[str | int, ...]) -> tuple[int, int]:
        """A ``[[cpu]]`` table's wakeups, all of them and the lazy ones among them.

        ``wakeups = N`` is N wakeups that set need_resched at once in every preemption model;
        ``wakeups = { lazy = N, rt = M }`` says which wake a fair-class task (lazy) and which
        a real-time one (docs/semantics.md section 4).
        """
        where = (*keys, "wakeups")
        value = table.get("wakeups", 0)
        if isinstance(value, dict):
            self.known_keys(value, where, _WAKEUP_KINDS, "wakeup kind")
            counts = {kind: self.count(value, (*where, kind)) for kind in _WAKEUP_KINDS}
            total = counts["lazy"] + counts["rt"]
            if total > MAX_WAKEUPS:
                raise self.error(where, f"wakeups = {{ lazy = {counts['lazy']}, rt = "
                                 f"{counts['rt']} }} is more than {MAX_WAKEUPS} in all",
                                 f"the limit is {MAX_WAKEUPS}; each wakeup multiplies the "
                                 "states to explore", at_value=True)
            return total, counts["lazy"]
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.error(where, f"{dotted(where)} must be an integer or a table "
                             f"{{ lazy = N, rt = M }}, not {toml_repr(value)}", at_value=True)
        return self.count(table, where), 0

    def count(self, table: Mapping[str, Any], keys: tuple[str | int, ...]) -> int:
        """A wakeup count: an integer from 0 to `MAX_WAKEUPS`."""
        value = self.typed(table, keys, int, 0)
        if value < 0:
            meaning = ("wakeups is how many times need_resched may be set"
                       if keys[-1] == "wakeups" else
                       f"{keys[-1]} is how many {keys[-1]} wakeups the CPU may receive")
            raise self.error(keys, f"{keys[-1]} = {value} is negative", f"{meaning}: 0 or more",
                             at_value=True)
        if value > MAX_WAKEUPS:
            raise self.error(keys, f"{keys[-1]} = {value} is more than {MAX_WAKEUPS}",
                             f"the limit is {MAX_WAKEUPS}; each wakeup multiplies the states "
                             "to explore", at_value=True)
        return value

    # ------------------------------------------------------------ [patch]

    def patch(self, table: Any, version: str, scenario: str) -> EraPatch:
        """The ``[patch]`` table: replacement bodies, in kernel C, for the era's primitives."""
        if not isinstance(table, dict):
            raise self.error(("patch",), "patch must be a table",
                             "write [patch] with one key per primitive it replaces")
        era = era_registry.get_era(version)
        name = self.typed(table, ("patch", "name"), str, f"{version}+{scenario}")
        summary = self.typed(table, ("patch", "summary"), str, f"{version} patched by {scenario}")
        bodies = {}
        for key in table:
            if key in ("name", "summary"):
                continue
            if key not in era.primitives:
                raise self.error(("patch", key),
                                 f"{self.era_label(version)} has no primitive '{key}' to patch",
                                 did_you_mean(key, era.primitives) or
                                 "patchable: " + ", ".join(sorted(era.primitives)))
            body = self.typed(table, ("patch", key), str, "")
            line, col = self.where.code_start(("patch", key))
            parse_code(body, file=self.file, line=line, col=col, mode="era")
            bodies[key] = PatchedPrimitive(body, line, col)
        if not bodies:
            raise self.error(("patch",), "the [patch] table replaces no primitive",
                             'add e.g. cond_resched_lock = """ ... """ with the new body')
        return EraPatch(name, summary, MappingProxyType(bodies))

    # ------------------------------------------------------------ [expect]

    def expect(self, table: Mapping[str, Any],
               known: Collection[str]) -> dict[str, Expectation]:
        result = {}
        for prop, value in table.items():
            keys = ("expect", prop)
            if prop not in known:
                raise self.error(keys, f"unknown property '{prop}'",
                                 did_you_mean(prop, sorted(known))
                                 or "known: " + ", ".join(sorted(known)))
            result[prop] = self.expectation(keys, prop, value)
        return result

    def expectation(self, keys: tuple[str, str], prop: str, value: Any) -> Expectation:
        bounded = prop in BOUNDED_PROPERTIES
        usage = ('"holds", "violated", "vacuous" or { max = N }' if bounded
                 else '"holds", "violated" or "vacuous"')
        if isinstance(value, str) and value in STATUSES:
            return Expectation(status=value)
        if isinstance(value, dict) and set(value) == {"max"}:
            if not bounded:
                raise self.error(keys, f"{{ max = N }} applies only to "
                                 f"{' and '.join(BOUNDED_PROPERTIES)}", f"expect {usage}",
                                 at_value=True)
            limit = value["max"]
            if isinstance(limit, int) and not isinstance(limit, bool) and limit >= 0:
                return Expectation(max=limit)
            raise self.error((*keys, "max"),
                             f"max must be a number of ticks >= 0, not {quoted(limit)}",
                             at_value=True)
        raise self.error(keys, f"unknown expectation {toml_repr(value)} for {prop}",
                         f"expect {usage}", at_value=True)
