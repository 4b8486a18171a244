"""Output files that are either whole or absent: atomic writes, folder swaps and file locks.

Every file lockbreak writes (traces, reports, checkpoints, exported models) goes through
`write_atomically`: a temporary file beside the target, flushed to disk, then renamed over it,
so a kill, a full disk or a concurrent writer never leaves a half-written or interleaved file.
A folder of files that belong together (a suite's report) is built beside its target and
swapped in by `replace_folder` only when complete. `locked` serialises read-modify-write
cycles of one file (the checkpoint) between processes.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def write_atomically(path: Path, data: bytes | str) -> None:
    """Write ``data`` (text as UTF-8) to ``path``: the previous file stays whole until the new
    one is complete on disk, and no temporary file is left behind on failure.

    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> write_atomically(target, "hello\\n"); target.read_text()
    'hello\\n'
    """
    payload = data.encode() if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(payload)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, 0o666 & ~_umask())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def replace_folder(out: Path, build: Callable[[Path], T]) -> T:
    """Call ``build`` on a new temporary folder beside ``out`` and, once it returns, put that
    folder in place of ``out``; when ``build`` fails, ``out`` is left as it was.

    The old folder is renamed aside, the new one renamed in, then the old one removed, so a
    reader sees the old set of files or the new one, never a mixture.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    fresh = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".new", dir=out.parent))
    try:
        made = build(fresh)
        os.chmod(fresh, 0o777 & ~_umask())
    except BaseException:
        shutil.rmtree(fresh, ignore_errors=True)
        raise
    if not out.exists():
        os.replace(fresh, out)
        return made
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
    os.replace(out, old / out.name)
    try:
        os.replace(fresh, out)
    except BaseException:
        os.replace(old / out.name, out)
        shutil.rmtree(fresh, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)
    return made


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (through ``path.lock`` beside it) between
    processes, so that a read, merge and write of ``path`` is not lost to another one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _umask() -> int:
    """The process's umask, so replaced files get the permissions a plain write gives."""
    mask = os.umask(0)
    os.umask(mask)
    return mask
