"""Output files are whole or absent: concurrent writers of one file never interleave, and a
folder is swapped in only once it is complete."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from lockbreak.atomic import replace_folder, write_atomically

PAYLOADS = [bytes([65 + k]) * (1 << 20) for k in range(2)]     # 1 MiB of A, 1 MiB of B


def _write_many(path: Path, payload: bytes) -> None:
    for _ in range(20):
        write_atomically(path, payload)


def test_concurrent_writers_never_interleave(tmp_path: Path) -> None:
    path = tmp_path / "trace.json"
    context = multiprocessing.get_context("fork")
    writers = [context.Process(target=_write_many, args=(path, p)) for p in PAYLOADS]
    for writer in writers:
        writer.start()
    seen = set()
    while any(w.is_alive() for w in writers):
        if path.exists():
            seen.add(path.read_bytes())
    for writer in writers:
        writer.join(60)
    seen.add(path.read_bytes())
    assert seen <= set(PAYLOADS)
    assert [p.name for p in tmp_path.iterdir()] == ["trace.json"]


def test_a_folder_is_replaced_only_when_complete(tmp_path: Path) -> None:
    out = tmp_path / "report"
    replace_folder(out, lambda folder: write_atomically(folder / "a.txt", "old\n"))

    def fails(folder: Path) -> None:
        write_atomically(folder / "a.txt", "new\n")
        raise OSError(28, "No space left on device")
    with pytest.raises(OSError):
        replace_folder(out, fails)
    assert (out / "a.txt").read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["report"]
    replace_folder(out, lambda folder: write_atomically(folder / "b.txt", "new\n"))
    assert [p.name for p in out.iterdir()] == ["b.txt"]
