"""Lossy stores (hash compaction, bitstate): the same verdicts, counts and shortest traces as the
exact store, omission probabilities from the standard formulas, and honest verdicts when a state
may have been missed."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from lockbreak.core import CheckResult, Model, PropertyKind, Status
from lockbreak.engines import check
from lockbreak.engines.compaction import (
    BitState,
    FingerprintSet,
    Storage,
    fingerprints,
)
from model.lockstep import kernel_model
from model.scenario.load import find_scenarios, load_scenario
from model.world import build_world
from properties.catalogue import KNOWN, of_kind, specs
from tests.support.paths import REPO
from tests.support.toys import Counter, Peterson, TasLock, TokenRing, TwoLocks

LOSSY = (Storage("hashcompact"), Storage("bitstate", log2_bits=24))
SCENARIOS = sorted(find_scenarios([REPO / "scenarios"]))


def summary(results: list[CheckResult]) -> list[tuple]:
    """What must not depend on the store: verdict, counts, depth and the trace itself (and,
    last, the trace's length: a counterexample's is checked against the exact store's)."""
    return [(r.property, r.status, r.stats.states, r.stats.transitions, r.stats.depth, r.trace,
             len(r.trace) if r.trace else None) for r in results]


def safety_names(model: Model) -> list[str]:
    return [name for name, kind in zip(model.property_names, model.property_kinds, strict=True)
            if kind is PropertyKind.SAFETY]


# ---------------------------------------------------------------------------------- fingerprints

def test_fingerprints_are_stable_and_independent_of_the_batch() -> None:
    states = [0, 1, 2**64, 2**64 + 1, 2**200 - 1, (1, 2), "x", -3]
    together = fingerprints(states).tolist()
    assert together == [fingerprints([s]).tolist()[0] for s in states]
    assert len(set(together)) == len(states)
    # pinned: a checkpoint written by one process is read by another
    assert fingerprints([0, 12345]).tolist() == fingerprints([0, 12345]).tolist()
    assert fingerprints([7]).tolist() == [int(fingerprints([7])[0])]


def test_fingerprint_set_asks_like_one_at_a_time() -> None:
    rng = np.random.default_rng(1)
    visited, reference = FingerprintSet(), set()
    for _ in range(40):
        batch = rng.integers(0, 500, size=int(rng.integers(1, 60))).astype(np.uint64)
        expected = []
        for value in batch.tolist():
            expected.append(value not in reference)
            reference.add(value)
        assert visited.admit(batch).tolist() == expected
    assert visited.stored == len(reference)
    assert len(visited.runs) <= 2 * math.ceil(math.log2(len(reference))) + 1


def test_bitstate_asks_like_one_at_a_time() -> None:
    """Batches give the answers a Bloom filter gives one state at a time, false positives
    included (a tiny table makes them common)."""
    rng = np.random.default_rng(2)
    batched, single = BitState(8, 3), BitState(8, 3)
    for _ in range(30):
        batch = rng.integers(0, 2**63, size=int(rng.integers(1, 20))).astype(np.uint64)
        one_by_one = [bool(single.admit(batch[k:k + 1])[0]) for k in range(len(batch))]
        assert batched.admit(batch).tolist() == one_by_one
    assert batched.stored == single.stored
    assert np.array_equal(batched.bits, single.bits)
    assert batched.stored < 30 * 10    # the table filled up and answered "seen" wrongly


# ---------------------------------------------------------------------------- the probabilities

def test_hash_compaction_probability_is_the_birthday_bound() -> None:
    visited = FingerprintSet()
    visited.admit(np.arange(10_000, dtype=np.uint64))
    omission = visited.omission()
    n = 10_000
    assert omission.expected == pytest.approx(n * (n - 1) / 2 / 2**64)
    assert omission.probability == pytest.approx(1 - math.exp(-n * (n - 1) / 2**65))


def test_bitstate_probability_sums_the_fill_state_by_state() -> None:
    visited = BitState(12, 2)
    rng = np.random.default_rng(3)
    for _ in range(10):
        visited.admit(rng.integers(0, 2**63, size=50).astype(np.uint64))
    n, m, k = visited.stored, 2**12, 2
    by_hand = sum((1 - math.exp(-k * i / m)) ** k for i in range(n))
    omission = visited.omission()
    assert omission.expected == pytest.approx(by_hand)
    assert omission.probability == pytest.approx(1 - math.exp(-by_hand))


# ----------------------------------------------------------------------- agreement on the toys

@pytest.mark.parametrize("storage", LOSSY, ids=lambda s: s.kind)
@pytest.mark.parametrize(("model", "symmetry"), [
    (Counter(limit=3), False), (Peterson(), False), (Peterson("check_then_set"), False),
    (TasLock(3, "split"), False), (TasLock(3, "split"), True),
    (TasLock(3, "leak", rounds=2), True),
], ids=lambda v: type(v).__name__ if not isinstance(v, bool) else str(v))
def test_lossy_stores_agree_with_exact_on_safety(model: Model, symmetry: bool,
                                                 storage: Storage) -> None:
    names = safety_names(model)
    exact = check(model, properties=names, symmetry=symmetry)
    lossy = check(model, properties=names, symmetry=symmetry, storage=storage)
    assert summary(lossy) == summary(exact)
    assert all(r.omission is not None and r.omission < 1e-9 for r in lossy)
    assert any(r.status is Status.HOLDS for r in exact) or any(
        r.status is Status.VIOLATED for r in exact)


def test_pinned_counts_in_every_store() -> None:
    for storage in (Storage(), *LOSSY):
        [mutex] = check(TasLock(3, "atomic", rounds=2), properties=["mutual_exclusion"],
                        storage=storage)
        assert (mutex.status, mutex.stats.states, mutex.stats.transitions) == (
            Status.HOLDS, 81, 180)


@pytest.mark.parametrize(("model", "symmetry"), [
    (Counter(limit=3), False), (Peterson(), False), (TasLock(3, "leak", rounds=2), False),
    (TasLock(3, "leak", rounds=2), True), (TokenRing(4, lossy=True), False),
    (TokenRing(4, lossy=True), True), (TwoLocks("abba"), False), (TwoLocks("same"), False),
], ids=lambda v: type(v).__name__ if not isinstance(v, bool) else str(v))
def test_hash_compaction_keeps_the_graph_for_can_finish(model: Model, symmetry: bool) -> None:
    """Numbered fingerprints carry the edges: the same can-finish verdicts and traces, and the
    agent that cannot finish named the same way."""
    exact = check(model, symmetry=symmetry)
    compact = check(model, symmetry=symmetry, storage=Storage("hashcompact"))
    assert [t[:-1] for t in summary(compact)] == [t[:-1] for t in summary(exact)]
    for mine, theirs in zip(compact, exact, strict=True):
        assert mine.detail.startswith(theirs.detail)
    assert any(r.status is Status.VIOLATED for r in exact if r.property == "can_finish") or (
        any(r.status is Status.HOLDS for r in exact))


def test_can_finish_is_incomplete_in_a_bloom_filter() -> None:
    [result] = check(TokenRing(4, lossy=True), storage=Storage("bitstate"))
    assert result.status is Status.INCOMPLETE
    assert "--store bitstate does not keep" in result.detail


def test_a_likely_miss_is_incomplete_never_holds() -> None:
    """A table of 64 bits for 81 states: no violation found is not a pass."""
    tiny = Storage("bitstate", log2_bits=6, hashes=2)
    [result] = check(TasLock(3, "atomic", rounds=2), properties=["mutual_exclusion"],
                     storage=tiny)
    assert result.status is Status.INCOMPLETE
    assert result.omission is not None and result.omission > tiny.max_omission
    assert result.stats.states < 81        # states really were missed
    assert "--max-omission" in result.detail


def test_holds_in_a_lossy_store_states_its_omission() -> None:
    [result] = check(Peterson(), properties=["mutual_exclusion"],
                     storage=Storage("hashcompact"))
    assert result.status is Status.HOLDS
    assert result.detail.startswith("holds unless a state was missed: probability ")


# ----------------------------------------------------------- agreement on the public scenarios

@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_public_scenarios_agree_in_every_store(path: Path) -> None:
    world = build_world(load_scenario(path, known_properties=KNOWN))
    results = {}
    for storage, names in ((Storage(), of_kind(PropertyKind.SAFETY, PropertyKind.CAN_FINISH)),
                           (LOSSY[0], of_kind(PropertyKind.SAFETY, PropertyKind.CAN_FINISH)),
                           (Storage(), of_kind(PropertyKind.SAFETY)),
                           (LOSSY[1], of_kind(PropertyKind.SAFETY))):
        model = kernel_model(world, specs(names))
        results[storage.kind, len(names)] = summary(check(
            model, symmetry=bool(model.canonical_groups), storage=storage))
    graph, safety = len(of_kind(PropertyKind.SAFETY, PropertyKind.CAN_FINISH)), len(
        of_kind(PropertyKind.SAFETY))
    assert results["hashcompact", graph] == results["exact", graph]
    assert results["bitstate", safety] == results["exact", safety]
