"""Stopping a search so that it can go on later: the engine's side of checkpoints.

A search polls `Interruption.requested` between chunks of states (as it reads the clock for its
timeout); when a stop is requested or the time budget runs out, it leaves a snapshot of itself in
`Interruption.saved`: the store, the BFS position, what was found so far and, when the model has
them, the tables that give its states their meaning (``model.interned()``). Handing that
snapshot back as `Interruption.resume` continues the search where it stopped, to the same
verdicts, counts and counterexamples. Files are the caller's business (`save_file`, `load_file`
write and read them atomically).
"""

from __future__ import annotations

import os
import pickle
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lockbreak.core import LockbreakError

FORMAT = "lockbreak-checkpoint/1"


def _never() -> str:
    return ""


@dataclass
class Interruption:
    """A search's line to whoever may stop it.

    ``requested()`` returns why a stop is wanted ("" while none is); ``resume`` is a snapshot
    to continue from; ``saved`` receives the snapshot of a search that stopped before its end.
    """

    requested: Callable[[], str] = _never
    resume: dict[str, Any] | None = None
    saved: dict[str, Any] | None = field(default=None, repr=False)


def save_file(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` to ``path`` atomically: a temporary file beside it, flushed to disk,
    then renamed over it, so a kill while writing leaves the previous file whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            pickle.dump({"format": FORMAT, **data}, out, protocol=pickle.HIGHEST_PROTOCOL)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def load_file(path: Path) -> dict[str, Any]:
    """Read a checkpoint written by `save_file` (`LockbreakError` when it is not one)."""
    try:
        with path.open("rb") as src:
            data = pickle.load(src)
    except OSError as err:
        raise LockbreakError(f"{path}: cannot read the checkpoint: {err.strerror}") from None
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError):
        raise LockbreakError(f"{path}: not a lockbreak checkpoint (or a damaged one); "
                             "start the check again without --resume") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise LockbreakError(f"{path}: not a {FORMAT} file; start the check again without "
                             "--resume")
    return data
