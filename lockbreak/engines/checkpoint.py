"""Stopping a search so that it can go on later: the engine's side of checkpoints.

A search polls `Interruption.requested` between chunks of states (as it reads the clock for its
timeout); when a stop is requested or the time budget runs out, it leaves a snapshot of itself in
`Interruption.saved`: the store, the BFS position, what was found so far and, when the model has
them, the tables that give its states their meaning (``model.interned()``). Handing that
snapshot back as `Interruption.resume` continues the search where it stopped, to the same
verdicts, counts and counterexamples. Files are the caller's business (`save_file`, `load_file`
write and read them atomically, with a checksum).
"""

from __future__ import annotations

import hashlib
import pickle
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lockbreak.atomic import write_atomically
from lockbreak.core import LockbreakError

FORMAT = "lockbreak-checkpoint/3"
_AGAIN = "delete it, or start the check again without --resume"
_AGAIN_BARE = "start again without --resume"
_PLAIN = "plain_bfs"     # the plain breadth-first engine's tag (`snapshots.PlainSnapshot`)


def _never() -> str:
    return ""


@dataclass
class Interruption:
    """A search's line to whoever may stop it.

    ``requested()`` returns why a stop is wanted ("" while none is); ``resume`` is a snapshot
    to continue from; ``saved`` receives the snapshot of a search that stopped before its end
    (each engine's own type, `lockbreak.engines.snapshots`).
    """

    requested: Callable[[], str] = _never
    resume: Any = None
    saved: Any = field(default=None, repr=False)


def require_engine(written: str, engine: str) -> None:
    """Refuse to resume a snapshot that the engine ``written`` left in the engine ``engine``
    (each engine's snapshot means something only to it), saying which flag picks the right
    one."""
    if written == engine:
        return
    plain = written == _PLAIN
    raise LockbreakError(
        f"the checkpoint was written by the {_engine_name(written)}, which the "
        f"{_engine_name(engine)} cannot resume; resume {'with' if plain else 'without'} "
        f"--plain-bfs, or {_AGAIN_BARE}")


def require_same(options: Mapping[str, tuple[Any, Any]]) -> None:
    """Refuse to resume a snapshot taken with other options than this search's: ``options``
    maps each option's name to (the snapshot's value, this search's). The one place a
    resumed search compares its options and says what differs.

    >>> require_same({"symmetry": (True, False)})
    Traceback (most recent call last):
    ...
    lockbreak.core.LockbreakError: the checkpoint was written by a search with symmetry True, \
this one has False; resume with the same symmetry, or start again without --resume
    """
    for name, (saved, mine) in options.items():
        if saved != mine:
            raise LockbreakError(
                f"the checkpoint was written by a search with {name} {saved!r}, this one has "
                f"{mine!r}; resume with the same {' and '.join(options)}, or {_AGAIN_BARE}")


# What users call each engine that leaves snapshots, by its snapshots' tag.
_ENGINE_NAMES = {_PLAIN: "plain breadth-first engine", "vectorised_bfs": "vectorised engine",
                 "fair_graph": "vectorised engine's fairness analysis"}


def _engine_name(engine: str) -> str:
    return _ENGINE_NAMES.get(engine, f"{engine} engine")


def save_file(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` to ``path`` atomically (`lockbreak.atomic.write_atomically`), after a
    header line with the format and the SHA-256 of the pickle that follows it, so that
    `load_file` refuses a damaged file instead of unpickling it."""
    payload = pickle.dumps({"format": FORMAT, **data}, protocol=pickle.HIGHEST_PROTOCOL)
    header = f"{FORMAT} sha256={hashlib.sha256(payload).hexdigest()}\n".encode()
    write_atomically(path, header + payload)


def load_file(path: Path) -> dict[str, Any]:
    """Read a checkpoint written by `save_file`; a file that is not one, or whose payload does
    not match its checksum, is refused (`LockbreakError` saying what to do)."""
    try:
        with path.open("rb") as src:
            header = src.readline(len(FORMAT) + 80)
            payload = src.read()
    except OSError as err:
        raise LockbreakError(f"{path}: cannot read the checkpoint: {err.strerror}") from None
    except MemoryError:
        raise LockbreakError(f"{path}: too large to read as a checkpoint; {_AGAIN}") from None
    found = re.fullmatch(rb"(lockbreak-checkpoint/\d+) sha256=([0-9a-f]{64})\n", header)
    if found is None:
        raise LockbreakError(f"{path}: not a lockbreak checkpoint (or a damaged one); {_AGAIN}")
    if found[1].decode() != FORMAT:
        raise LockbreakError(f"{path}: a {found[1].decode()} file, not {FORMAT} (written by "
                             f"another lockbreak version); {_AGAIN}")
    if hashlib.sha256(payload).hexdigest() != found[2].decode():
        raise LockbreakError(f"{path}: a damaged checkpoint (its checksum does not match); "
                             f"{_AGAIN}")
    try:
        data = pickle.loads(payload)
    except Exception:   # the checksum matched: a file forged to look like a checkpoint
        raise LockbreakError(f"{path}: not a lockbreak checkpoint; {_AGAIN}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise LockbreakError(f"{path}: not a {FORMAT} file; {_AGAIN}")
    return data
