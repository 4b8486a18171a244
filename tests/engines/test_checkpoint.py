"""Checkpoints: a search stopped anywhere resumes to the verdicts, counts and counterexamples of
an uninterrupted one; files are written atomically and tied to their scenario."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import pickle
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from lockbreak.cli.checkpointing import Checkpoints, StoppedPhase
from lockbreak.core import Budget, CheckResult, LockbreakError, Model, PropertyKind, Status
from lockbreak.engines import check, level_search, plain_bfs, plain_search, vectorised_bfs
from lockbreak.engines.checkpoint import FORMAT, Interruption, load_file, save_file
from lockbreak.engines.compaction import Storage
from lockbreak.engines.snapshots import (
    FairGraphSnapshot,
    PlainSnapshot,
    VectorisedSnapshot,
    resumable,
)
from model.eras import Era
from model.kernel import KernelModel
from model.world import build_world
from properties.catalogue import of_kind, specs
from tests.model.test_broken_variants import VARIANTS, nested
from tests.support.helpers import (
    NESTED_CPU0,
    NESTED_CPU1,
    STATE_PROPERTIES,
    load_scenario_text,
    scenario_toml,
)
from tests.support.helpers import kernel_model as helper_model
from tests.support.paths import REPO
from tests.support.toys import Peterson, TasLock

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
    monkeypatch.setattr(plain_search, "_FIRST_CHUNK", 1)
    monkeypatch.setattr(plain_search, "_MAX_CHUNK", 1)


@pytest.mark.slow
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
    monkeypatch.setattr(plain_search, "_FIRST_CHUNK", 1)
    monkeypatch.setattr(plain_search, "_MAX_CHUNK", 1)
    clock = iter(range(10**6))
    monkeypatch.setattr(plain_search.time, "perf_counter", lambda: float(next(clock)))
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

    monkeypatch.setattr(os, "fsync", dies)
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
    with pytest.raises(LockbreakError, match="not a lockbreak checkpoint"):
        load_file(other)
    payload = pickle.dumps({"format": "something else"})
    forged = tmp_path / "forged"
    forged.write_bytes(f"{FORMAT} sha256={hashlib.sha256(payload).hexdigest()}\n".encode()
                       + payload)
    with pytest.raises(LockbreakError, match=f"not a {FORMAT} file"):
        load_file(forged)


def test_a_checkpoint_of_the_untyped_format_is_refused_saying_why(tmp_path: Path) -> None:
    # format 2 held each engine's snapshot as a dict; its pickles are not read as format 3
    payload = pickle.dumps({"format": "lockbreak-checkpoint/2", "entries": {
        "k": {"label": "scenario 'old'", "phases": {"own timing": {"search": {
            "engine": "explicit", "properties": [], "store": None}}}}}})
    old = tmp_path / "old"
    old.write_bytes(f"lockbreak-checkpoint/2 sha256={hashlib.sha256(payload).hexdigest()}\n"
                    .encode() + payload)
    with pytest.raises(LockbreakError) as refused:
        load_file(old)
    assert str(refused.value) == (
        f"{old}: a lockbreak-checkpoint/2 file, not {FORMAT} (written by another lockbreak "
        "version); delete it, or start the check again without --resume")


def test_the_plain_engine_leaves_a_frozen_typed_snapshot() -> None:
    stop = Interruption(StopAfter(0))
    check(TasLock(3, "atomic", rounds=2), interruption=stop)
    saved = stop.saved
    assert isinstance(saved, PlainSnapshot) and saved.ENGINE == plain_bfs.ENGINE == "plain_bfs"
    assert (saved.properties, saved.storage, saved.symmetry, saved.graph) == (
        list(TasLock(3, "atomic", rounds=2).property_names), Storage(), False, True)
    with pytest.raises(AttributeError):
        saved.pending = 0       # type: ignore[misc]
    again = pickle.loads(pickle.dumps(saved))
    assert isinstance(again, PlainSnapshot) and again.position == saved.position


def test_one_place_names_the_option_a_snapshot_differs_in() -> None:
    stop = Interruption(StopAfter(0))
    check(TasLock(3, "atomic", rounds=2), interruption=stop)
    mine = {"properties": stop.saved.properties, "storage": Storage(), "symmetry": False,
            "graph": True}
    assert resumable(stop.saved, PlainSnapshot, **mine) is stop.saved
    with pytest.raises(LockbreakError) as refused:
        resumable(stop.saved, PlainSnapshot, **{**mine, "graph": False})
    assert str(refused.value) == (
        "the checkpoint was written by a search with graph True, this one has False; resume "
        "with the same properties and storage and symmetry and graph, or start again without "
        "--resume")
    with pytest.raises(LockbreakError, match="written by the plain breadth-first engine, which "
                                             "the vectorised engine's fairness analysis cannot "
                                             "resume"):
        resumable(stop.saved, FairGraphSnapshot)
    vectorised = VectorisedSnapshot(names=["mutual_exclusion"], reduce=True, states=None,
                                    finished=[], rest=None)
    with pytest.raises(LockbreakError, match="partial-order reduction True, this one has False"):
        resumable(vectorised, VectorisedSnapshot, names=["mutual_exclusion"], reduce=False)
    with pytest.raises(LockbreakError, match="written by the vectorised engine, which the plain "
                                             "breadth-first engine cannot resume; resume "
                                             "without --plain-bfs"):
        resumable(vectorised, PlainSnapshot)


def test_a_damaged_checkpoint_is_refused_by_its_checksum(tmp_path: Path) -> None:
    path = tmp_path / "ck"
    save_file(path, {"entries": {"a": list(range(100))}})
    data = bytearray(path.read_bytes())
    data[-10] ^= 0x01       # a bit of the pickled list: still a valid pickle of other numbers
    path.write_bytes(bytes(data))
    with pytest.raises(LockbreakError, match=r"damaged checkpoint.*delete it"):
        load_file(path)


def _save_many(path: Path, prefix: str, n: int) -> None:
    checkpoints = Checkpoints(path)
    for i in range(n):
        entry = checkpoints.scenario(f"{prefix}{i}", f"scenario '{prefix}{i}'")
        entry.phases["own timing"] = StoppedPhase(search=i)
        checkpoints.save(entry)


def test_saves_keep_the_entries_of_other_runs(tmp_path: Path) -> None:
    path = tmp_path / "ck"
    _save_many(path, "long-", 1)
    _save_many(path, "quick-", 1)       # another scenario's check, stopped into the same file
    assert set(load_file(path)["entries"]) == {"long-0", "quick-0"}
    # two processes saving at once lose none of each other's entries
    context = multiprocessing.get_context("fork")
    writers = [context.Process(target=_save_many, args=(path, prefix, 15))
               for prefix in ("a-", "b-")]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(60)
    assert [w.exitcode for w in writers] == [0, 0]
    assert set(load_file(path)["entries"]) == ({"long-0", "quick-0"}
                                                | {f"{p}-{i}" for p in "ab" for i in range(15)})


# ----------------------------------------------------------------------- the vectorised engine

def scaled(cpus: int, version: str = "v2.6.12") -> str:
    """The scaled nested scenario of the benchmark (break_return_truth breaks on v2.6.9)."""
    sys.path.insert(0, str(REPO / "bench"))
    from bench_nested import scenario_text
    return scenario_text(cpus).replace('"v2.6.12"', f'"{version}"')


def late_violation() -> tuple[str, Era]:
    """A broken variant whose reduced search meets its violation a step late, so that
    partial-order reduction searches again, unreduced (`test_por`)."""
    [variant] = [v for v in VARIANTS if v.name == "resched-without-count-test"]
    return nested(variant), variant.era()


# name: (scenario text and era, properties checked, symmetry, por)
FRONTIER_CASES: dict[str, tuple[Callable[[], tuple[str, Era | None]], tuple[str, ...], bool,
                                bool]] = {
    # the nested scenario: safety, deadlock_free on the stored edges, and the fair
    # properties by the plain engine after the frontier search
    "nested-with-fair": (lambda: (scenario_toml("v2.6.9", [NESTED_CPU0, NESTED_CPU1]), None),
                         of_kind(PropertyKind.SAFETY, PropertyKind.CAN_FINISH,
                                 PropertyKind.FAIR), False, False),
    "scaled-2-symmetric": (lambda: (scaled(2), None), STATE_PROPERTIES, True, False),
    "scaled-2-por": (lambda: (scaled(2), None), of_kind(PropertyKind.SAFETY), False, True),
    "scaled-2-v2.6.9-symmetric-por": (lambda: (scaled(2, "v2.6.9"), None),
                                      of_kind(PropertyKind.SAFETY), True, True),
    "late-violation-por": (late_violation, of_kind(PropertyKind.SAFETY), False, True),
}


class Polls:
    """Counts the polls of a search that is never stopped."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> str:
        self.n += 1
        return ""


@pytest.fixture
def small_frontier_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Expand a few states per chunk, so that stops fall inside levels and between them."""
    monkeypatch.setattr(level_search, "_CHUNK", 8)
    monkeypatch.setattr(plain_search, "_FIRST_CHUNK", 16)
    monkeypatch.setattr(plain_search, "_MAX_CHUNK", 16)


@pytest.mark.slow
@pytest.mark.usefixtures("small_frontier_chunks")
@pytest.mark.parametrize("case", list(FRONTIER_CASES))
def test_frontier_engine_resumes_to_the_uninterrupted_results(tmp_path: Path, case: str) -> None:
    scenario, properties, symmetry, por = FRONTIER_CASES[case]
    text, era = scenario()
    world = build_world(load_scenario_text(tmp_path, text), era=era)

    def run(interruption: Interruption | None = None) -> list[CheckResult]:
        # a fresh model each time: the snapshot carries the tables its states need
        model = KernelModel(world, specs(properties))
        assert vectorised_bfs.serves(model)
        return vectorised_bfs.check(model, symmetry=symmetry, por=por, interruption=interruption)

    whole = summary(run())
    assert any(r.status is Status.VIOLATED for r in run()) == ("v2.6.12" not in text)
    polls = Polls()
    assert summary(run(Interruption(polls))) == whole
    assert polls.n > 20
    phases = set()
    for stop_at in sorted({0, 1, polls.n // 3, polls.n // 2, 2 * polls.n // 3, polls.n - 2,
                           polls.n - 1}):
        first = Interruption(StopAfter(stop_at))
        stopped = run(first)
        assert isinstance(first.saved, VectorisedSnapshot), stop_at
        assert any(r.status is Status.INCOMPLETE or "interrupted (test)" in r.detail
                   for r in stopped)
        saved = pickle.loads(pickle.dumps(first.saved))
        phases.add("rest" if saved.rest is not None
                   else "unreduced" if saved.states.second is not None else "states")
        assert summary(run(Interruption(resume=saved))) == whole, stop_at
    # stopped, resumed, stopped again ... every few chunks until it ends
    saved, stops = None, 0
    while True:
        again = Interruption(StopAfter(polls.n // 7), resume=saved)
        results = run(again)
        if again.saved is None:
            break
        saved, stops = pickle.loads(pickle.dumps(again.saved)), stops + 1
    assert stops >= 5 and summary(results) == whole
    expected = {"nested-with-fair": {"states", "rest"}, "late-violation-por":
                {"states", "unreduced"}}.get(case, {"states"})
    assert expected <= phases


def test_frontier_timeout_leaves_a_snapshot(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(level_search, "_CHUNK", 8)
    clock, real = iter(range(10**6)), vectorised_bfs.time.perf_counter
    monkeypatch.setattr(vectorised_bfs.time, "perf_counter", lambda: float(next(clock)))
    text = scenario_toml("v2.6.9", [NESTED_CPU0, NESTED_CPU1])
    stop = Interruption()
    results = vectorised_bfs.check(helper_model(tmp_path, text), budget=Budget(timeout=20.5),
                             interruption=stop)
    assert stop.saved is not None
    assert {r.status for r in results} == {Status.INCOMPLETE}
    assert results[0].detail.startswith("timed out")
    monkeypatch.setattr(vectorised_bfs.time, "perf_counter", real)
    resumed = vectorised_bfs.check(helper_model(tmp_path, text),
                             interruption=Interruption(resume=stop.saved))
    assert summary(resumed) == summary(vectorised_bfs.check(helper_model(tmp_path, text)))


def test_a_snapshot_resumes_only_in_the_engine_that_wrote_it(tmp_path: Path) -> None:
    text = scenario_toml("v2.6.9", [NESTED_CPU0, NESTED_CPU1])
    fast, plain = Interruption(StopAfter(0)), Interruption(StopAfter(0))
    vectorised_bfs.check(helper_model(tmp_path, text), interruption=fast)
    plain_bfs.check(helper_model(tmp_path, text), interruption=plain)
    assert fast.saved is not None and plain.saved is not None
    with pytest.raises(LockbreakError, match="written by the vectorised engine"):
        plain_bfs.check(helper_model(tmp_path, text), interruption=Interruption(resume=fast.saved))
    with pytest.raises(LockbreakError, match="written by the plain breadth-first engine"):
        vectorised_bfs.check(helper_model(tmp_path, text),
                             interruption=Interruption(resume=plain.saved))
    with pytest.raises(LockbreakError, match="partial-order reduction"):
        vectorised_bfs.check(helper_model(tmp_path, text), properties=["mutual_exclusion"],
                       interruption=Interruption(resume=fast.saved))
