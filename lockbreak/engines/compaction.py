"""Visited sets that do not keep the states: 64-bit fingerprints (hash compaction) and a Bloom
filter (bitstate hashing, SPIN's ``-DBITSTATE``), each with the probability that it made the
search skip a state.

Both answer "seen before?" for a whole batch of successors at once, with numpy, and with the
same meaning as asking one successor at a time in order: a successor counts as new when neither
the set nor an earlier successor of the batch made it look seen. So what is stored never depends
on how the search cut its work into batches, and a resumed search stores what an uninterrupted
one would.

A wrong "seen" answer loses a state (and whatever only it leads to); it never invents one, so a
violation found is real. The chance of a wrong answer is computed from the standard formulas,
as SPIN and TLC report it: when ``i`` states are stored, a new state is taken for a stored one
with probability ``f(i) = i / 2**64`` under hash compaction (a fingerprint collision) and
``f(i) = (1 - exp(-k i / m))**k`` in a Bloom filter of ``m`` bits and ``k`` hashes. Over a search
that stored ``n`` states the expected number of states skipped is ``E = sum(f(i), i < n)`` and
the probability that at least one was skipped ``1 - exp(-E)`` (never more than ``E``).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

_M64 = (1 << 64) - 1
_SEED = np.uint64(0x9E3779B97F4A7C15)
_PRIME = np.uint64(0xC2B2AE3D27D4EB4F)


def _mix(h: np.ndarray) -> np.ndarray:
    """The 64-bit finaliser of splitmix64: every input bit moves every output bit."""
    h = h ^ (h >> np.uint64(30))
    h = h * np.uint64(0xBF58476D1CE4E5B9)
    h = h ^ (h >> np.uint64(27))
    h = h * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


def fingerprints(states: Sequence[Any]) -> np.ndarray:
    """A 64-bit fingerprint per state, the same in every process and every run.

    Integer states (the kernel model's packed states) are hashed 64 bits at a time with numpy;
    a limb that is zero adds nothing, so the fingerprint does not depend on the width of the
    other states of the batch. Any other state is hashed through its ``repr`` with BLAKE2b
    (Python's own ``hash`` of a string changes between processes).

    >>> a = fingerprints([1, 2, 1 << 100])
    >>> b = fingerprints([1 << 100, 2])
    >>> bool(a[2] == b[0] and a[1] == b[1]), len(set(a.tolist()))
    (True, 3)
    >>> fingerprints([(0, 1), 7]).tolist() == [*fingerprints([(0, 1)]), *fingerprints([7])]
    True
    """
    count = len(states)
    packed = [type(s) is int and s >= 0 for s in states]
    if all(packed):
        return _packed_prints(states)
    out = np.zeros(count, dtype=np.uint64)
    ints = [k for k, p in enumerate(packed) if p]
    if ints:
        out[ints] = _packed_prints([states[k] for k in ints])
    others = [k for k, p in enumerate(packed) if not p]
    digests = b"".join(hashlib.blake2b(repr(states[k]).encode(), digest_size=8).digest()
                       for k in others)
    out[others] = np.frombuffer(digests, dtype=np.uint64)
    return out


def _packed_prints(states: Sequence[int]) -> np.ndarray:
    """Fingerprints of non-negative integers, 64 bits at a time."""
    count = len(states)
    if not count:
        return np.zeros(0, dtype=np.uint64)
    limbs = max(1, (max(states).bit_length() + 63) // 64)
    raw = b"".join([s.to_bytes(8 * limbs, "little") for s in states])
    parts = np.frombuffer(raw, dtype="<u8").reshape(count, limbs)
    with np.errstate(over="ignore"):
        h = _mix(parts[:, 0] ^ _SEED)
        for limb in range(1, limbs):
            part = parts[:, limb]
            mixed = _mix(part * _PRIME + np.uint64(limb))
            h = np.where(part != 0, _mix(h ^ mixed), h)
    return h


class VisitedSet(Protocol):
    """What the search asks of a lossy visited set."""

    stored: int

    def admit(self, prints: np.ndarray) -> np.ndarray:
        """Which of the batch are new (boolean mask, in batch order); stores them."""
        ...

    def omission(self) -> Omission:
        """The probability that the set made the search skip a state so far."""
        ...


class Omission:
    """How likely a lossy store made the search skip at least one state.

    ``expected`` is the expected number of states skipped, ``probability`` that of skipping at
    least one.
    """

    __slots__ = ("expected", "how", "probability")

    def __init__(self, how: str, expected: float) -> None:
        self.how = how
        self.expected = expected
        self.probability = -math.expm1(-expected)

    def __str__(self) -> str:
        return f"probability {self.probability:.2g} ({self.how})"


class FingerprintSet:
    """Hash compaction: the visited set is the sorted 64-bit fingerprints of the stored states.

    They live in a few sorted numpy runs whose sizes fall geometrically (merged like a
    log-structured tree), so a batch is looked up with binary searches and a run is rewritten
    O(log n) times: 8 bytes per stored state, twice that briefly while the largest runs merge.

    >>> visited = FingerprintSet()
    >>> visited.admit(np.array([5, 7, 5], dtype=np.uint64)).tolist()
    [True, True, False]
    >>> visited.admit(np.array([7, 9], dtype=np.uint64)).tolist(), visited.stored
    ([False, True], 3)
    """

    def __init__(self) -> None:
        self.runs: list[np.ndarray] = []
        self.stored = 0

    def admit(self, prints: np.ndarray) -> np.ndarray:
        unique, first = np.unique(prints, return_index=True)
        fresh = ~self._contains(unique)
        new = np.zeros(len(prints), dtype=bool)
        new[first[fresh]] = True
        added = unique[fresh]
        if len(added):
            self.runs.append(added)
            self.stored += len(added)
            while len(self.runs) > 1 and len(self.runs[-2]) <= 2 * len(self.runs[-1]):
                top = self.runs.pop()
                self.runs[-1] = np.sort(np.concatenate((self.runs[-1], top)), kind="stable")
        return new

    def _contains(self, keys: np.ndarray) -> np.ndarray:
        found = np.zeros(len(keys), dtype=bool)
        for run in self.runs:
            at = np.minimum(np.searchsorted(run, keys), len(run) - 1)
            found |= run[at] == keys
        return found

    def omission(self) -> Omission:
        n = self.stored
        return Omission(f"hash compaction, 64-bit fingerprints of {n:,} states",
                        n * (n - 1) / 2 / 2.0**64)


class IndexedFingerprints(FingerprintSet):
    """`FingerprintSet` that also numbers the states, so that edges can name their target:
    each run of fingerprints has a run of 4-byte indices beside it (12 bytes per state).

    >>> visited = IndexedFingerprints()
    >>> new, targets = visited.admit_indexed(np.array([5, 7, 5], dtype=np.uint64))
    >>> new.tolist(), targets.tolist()
    ([True, True, False], [0, 1, 0])
    >>> new, targets = visited.admit_indexed(np.array([9, 7], dtype=np.uint64))
    >>> new.tolist(), targets.tolist()
    ([True, False], [2, 1])
    """

    def __init__(self) -> None:
        super().__init__()
        self.indices: list[np.ndarray] = []

    def admit(self, prints: np.ndarray) -> np.ndarray:
        return self.admit_indexed(prints)[0]

    def admit_indexed(self, prints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Which of the batch are new, and the index of every one (new ones numbered from
        `stored` in batch order)."""
        unique, first, inverse = np.unique(prints, return_index=True, return_inverse=True)
        index = self._lookup(unique)
        fresh = index < 0
        order = np.argsort(first[fresh], kind="stable")
        numbers = np.empty(int(fresh.sum()), dtype=np.int64)
        numbers[order] = self.stored + np.arange(len(numbers))
        index[fresh] = numbers
        new = np.zeros(len(prints), dtype=bool)
        new[first[fresh]] = True
        if len(numbers):
            self.runs.append(unique[fresh])
            self.indices.append(numbers.astype(np.uint32))
            self.stored += len(numbers)
            while len(self.runs) > 1 and len(self.runs[-2]) <= 2 * len(self.runs[-1]):
                top, top_index = self.runs.pop(), self.indices.pop()
                merged = np.concatenate((self.runs[-1], top))
                order = np.argsort(merged, kind="stable")
                self.runs[-1] = merged[order]
                self.indices[-1] = np.concatenate((self.indices[-1], top_index))[order]
        return new, index[inverse.ravel()]

    def _lookup(self, keys: np.ndarray) -> np.ndarray:
        found = np.full(len(keys), -1, dtype=np.int64)
        for run, index in zip(self.runs, self.indices, strict=True):
            at = np.minimum(np.searchsorted(run, keys), len(run) - 1)
            hit = run[at] == keys
            found[hit] = index[at[hit]]
        return found


class BitState:
    """Bitstate hashing: a Bloom filter of ``2**log2_bits`` bits, ``hashes`` bits per state.

    The ``hashes`` bit positions of a state come from its fingerprint by double hashing. A
    state is taken as seen when all of its bits are set, so two states that share them all
    are one to the search; that is the price of a byte per 8 states.

    >>> visited = BitState(log2_bits=10, hashes=3)
    >>> visited.admit(np.array([5, 7, 5], dtype=np.uint64)).tolist(), visited.stored
    ([True, True, False], 2)
    >>> visited.bits.nbytes
    128
    """

    def __init__(self, log2_bits: int, hashes: int = 3) -> None:
        if not 3 <= log2_bits <= 40:
            raise ValueError("a bitstate table has 2**3 to 2**40 bits")
        self.log2_bits = log2_bits
        self.hashes = hashes
        self.bits = np.zeros(1 << (log2_bits - 3), dtype=np.uint8)
        self.stored = 0
        # E accumulates f(i) batch by batch: the filter's fill when each new state arrives.
        self._expected = 0.0

    def positions(self, prints: np.ndarray) -> np.ndarray:
        """The bit positions of each fingerprint, one row per fingerprint."""
        with np.errstate(over="ignore"):
            step = _mix(prints ^ _PRIME) | np.uint64(1)
            rounds = np.arange(self.hashes, dtype=np.uint64)
            spread = prints[:, None] + rounds[None, :] * step[:, None]
        return spread & np.uint64((1 << self.log2_bits) - 1)

    def admit(self, prints: np.ndarray) -> np.ndarray:
        unique, first = np.unique(prints, return_index=True)
        order = np.argsort(first, kind="stable")      # candidates in batch order
        unique, first = unique[order], first[order]
        count, k = len(unique), self.hashes
        new = np.zeros(len(prints), dtype=bool)
        if not count:
            return new
        places = self.positions(unique)
        flat = places.ravel()
        covered = (self.bits[flat >> np.uint64(3)] >> (flat & np.uint64(7)).astype(np.uint8)
                   ) & 1
        # A bit first used by an earlier candidate of the batch is set by the time a later one
        # is asked about (an earlier candidate that was itself taken as seen only used bits that
        # were set already, so it owns none that matters).
        order = np.argsort(flat, kind="stable")
        ordered = flat[order]
        starts = np.empty(len(flat), dtype=bool)
        starts[0] = True
        np.not_equal(ordered[1:], ordered[:-1], out=starts[1:])
        owner = np.empty(len(flat), dtype=np.intp)
        owner[order] = (order[starts] // k)[np.cumsum(starts) - 1]
        candidate = np.repeat(np.arange(count), k)
        seen = ((covered == 1) | (owner < candidate)).reshape(count, k).all(axis=1)
        fresh = ~seen
        added = int(fresh.sum())
        m = float(1 << self.log2_bits)
        stored = self.stored + np.arange(added, dtype=np.float64)
        self._expected += float(np.sum((-np.expm1(-k * stored / m)) ** k))
        self.stored += added
        new[first[fresh]] = True
        setting = np.sort(places[fresh].ravel())
        if len(setting):
            # bits of one byte are or-ed together first: a fancy-indexed |= keeps only one
            byte = (setting >> np.uint64(3)).astype(np.intp)
            mask = np.uint8(1) << (setting & np.uint64(7)).astype(np.uint8)
            first = np.flatnonzero(np.r_[True, byte[1:] != byte[:-1]])
            self.bits[byte[first]] |= np.bitwise_or.reduceat(mask, first)
        return new

    def omission(self) -> Omission:
        return Omission(f"bitstate, 2**{self.log2_bits} bits, {self.hashes} hashes, "
                        f"{self.stored:,} states", self._expected)


STORE_KINDS = ("exact", "hashcompact", "bitstate")


@dataclass(frozen=True)
class Storage:
    """How a breadth-first search remembers the states it visited.

    ``exact`` keeps every state; ``hashcompact`` a 64-bit fingerprint per state
    (`FingerprintSet`); ``bitstate`` a Bloom filter of ``2**log2_bits`` bits and ``hashes``
    bits per state (`BitState`). A search in a lossy store that finds no violation says HOLDS
    only while the probability that it skipped a state is at most ``max_omission``, and
    INCOMPLETE beyond.

    >>> Storage("bitstate", log2_bits=20).visited().bits.nbytes
    131072
    """

    kind: str = "exact"
    log2_bits: int = 30
    hashes: int = 3
    max_omission: float = 1e-3

    def __post_init__(self) -> None:
        if self.kind not in STORE_KINDS:
            raise ValueError(f"store {self.kind!r}: one of {', '.join(STORE_KINDS)}")

    @property
    def lossy(self) -> bool:
        return self.kind != "exact"

    def visited(self, indexed: bool = False) -> VisitedSet:
        """A fresh visited set of this kind (lossy kinds only); ``indexed`` numbers the states
        (hash compaction only)."""
        if self.kind == "bitstate":
            return BitState(self.log2_bits, self.hashes)
        return IndexedFingerprints() if indexed else FingerprintSet()

    @property
    def keeps_graph(self) -> bool:
        """Whether edges can be kept: they need a number per state, which a Bloom filter has
        not."""
        return self.kind != "bitstate"
