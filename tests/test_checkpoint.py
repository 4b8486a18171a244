"""Checkpoints: a search stopped anywhere resumes to the verdicts, counts and counterexamples of
an uninterrupted one; files are written atomically and tied to their scenario."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from helpers import NESTED_CPU0, NESTED_CPU1, scenario_toml
from helpers import kernel_model as helper_model
from toys import Peterson, TasLock

from lockbreak.core import Budget, CheckResult, LockbreakError, Model
from lockbreak.engines import check, explicit
from lockbreak.engines.checkpoint import Interruption, load_file, save_file
from lockbreak.engines.compaction import Storage

STORES = (Storage(), Storage("hashcompact"), Storage("bitstate", log2_bits=24))


def summary(results: list[CheckResult]) -> list[tuple]:
    return [(r.property, r.status, r.stats.states, r.stats.transitions, r.stats.depth, r.trace,
             r.detail, r.worst) for r in results]


class StopAfter:
    """Asks for a stop at the ``n``-th poll."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __call__(self) -> str:
        self.n -= 1
        return "test" if self.n < 0 else ""


def interrupted_then_resumed(make: type | object, stop_at: int, storage: Storage,
                             symmetry: bool = False) -> tuple[list[CheckResult], bool]:
    """Stop a check at poll ``stop_at``, pickle the snapshot, resume on a fresh model."""
    first = Interruption(StopAfter(stop_at))
    check(make(), storage=storage, symmetry=symmetry, interruption=first)
    if first.saved is None:
        return check(make(), storage=storage, symmetry=symmetry), False
    saved = pickle.loads(pickle.dumps(first.saved))
    return check(make(), storage=storage, symmetry=symmetry,
                 interruption=Interruption(resume=saved)), True


@pytest.fixture
def one_state_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Expand one state per chunk, so that a stop can fall between any two states."""
    monkeypatch.setattr(explicit, "_FIRST_CHUNK", 1)
    monkeypatch.setattr(explicit, "_MAX_CHUNK", 1)


@pytest.mark.usefixtures("one_state_chunks")
@pytest.mark.parametrize("storage", STORES, ids=lambda s: s.kind)
@pytest.mark.parametrize(("make", "symmetry"), [
    (Peterson, False),
    (lambda: Peterson("check_then_set"), False),
    (lambda: TasLock(3, "leak", rounds=2), True),
], ids=["peterson", "peterson-broken", "taslock-leak-symmetric"])
def test_resuming_from_every_point_gives_the_uninterrupted_results(
        make: type, symmetry: bool, storage: Storage) -> None:
    whole = summary(check(make(), storage=storage, symmetry=symmetry))
    stops = 0
    for stop_at in range(0, 200):
        resumed, stopped = interrupted_then_resumed(make, stop_at, storage, symmetry)
        assert summary(resumed) == whole, stop_at
        stops += stopped
    assert stops >= 5    # the stops really fell inside the search


def test_a_stopped_search_is_incomplete_and_says_why() -> None:
    stop = Interruption(StopAfter(0))
    results = check(TasLock(3, "atomic", rounds=2), interruption=stop)
    assert stop.saved is not None
    assert {r.status.value for r in results} == {"incomplete"}
    assert {r.detail for r in results} == {"interrupted (test)"}


def test_timeout_leaves_a_snapshot(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(explicit, "_FIRST_CHUNK", 1)
    monkeypatch.setattr(explicit, "_MAX_CHUNK", 1)
    clock = iter(range(10**6))
    monkeypatch.setattr(explicit.time, "perf_counter", lambda: float(next(clock)))
    stop = Interruption()
    results = check(TasLock(3, "atomic", rounds=2), budget=Budget(timeout=3.5),
                    interruption=stop)
    assert stop.saved is not None and results[0].detail.startswith("timed out")
    monkeypatch.undo()
    resumed = check(TasLock(3, "atomic", rounds=2), interruption=Interruption(resume=stop.saved))
    assert summary(resumed) == summary(check(TasLock(3, "atomic", rounds=2)))


def test_resuming_with_other_options_is_refused() -> None:
    stop = Interruption(StopAfter(0))
    check(TasLock(3, "atomic", rounds=2), interruption=stop)
    with pytest.raises(LockbreakError, match="storage"):
        check(TasLock(3, "atomic", rounds=2), storage=Storage("hashcompact"),
              interruption=Interruption(resume=stop.saved))


@pytest.mark.usefixtures("one_state_chunks")
@pytest.mark.parametrize("storage", STORES, ids=lambda s: s.kind)
def test_kernel_model_resumes_in_a_fresh_model(tmp_path: Path, storage: Storage) -> None:
    """Packed kernel states mean something only with their model's interned tables: the
    snapshot carries them into a model that has never seen the scenario's states."""
    text = scenario_toml("v2.6.9", [NESTED_CPU0, NESTED_CPU1])

    def make() -> Model:
        return helper_model(tmp_path, text)

    whole = summary(check(make(), storage=storage))
    assert any(r.trace is not None for r in check(make(), storage=storage))
    for stop_at in (0, 5, 100, 400):
        resumed, stopped = interrupted_then_resumed(make, stop_at, storage)
        assert stopped
        assert summary(resumed) == whole


# ------------------------------------------------------------------------------------- files

def test_checkpoint_files_are_replaced_atomically(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "ck"
    save_file(path, {"entries": {"a": 1}})

    def dies(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt      # killed while writing the new file

    monkeypatch.setattr(pickle, "dump", dies)
    with pytest.raises(KeyboardInterrupt):
        save_file(path, {"entries": {"b": 2}})
    monkeypatch.undo()
    assert load_file(path)["entries"] == {"a": 1}       # the old one is whole
    assert [p.name for p in tmp_path.iterdir()] == ["ck"]   # and no temporary is left


def test_a_file_that_is_not_a_checkpoint_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk"
    junk.write_bytes(b"not a pickle")
    with pytest.raises(LockbreakError, match="not a lockbreak checkpoint"):
        load_file(junk)
    other = tmp_path / "other"
    other.write_bytes(pickle.dumps({"format": "something else"}))
    with pytest.raises(LockbreakError, match="lockbreak-checkpoint/1"):
        load_file(other)
