"""Each lock algorithm's words for a fixed number of CPUs, and every op's answer on each.

The symbolic twin (`model.symbolic`) and the Promela export (`model.promela`) never restate a
lock algorithm: they tabulate its atomic operations (`LockAlgorithm.ops`) over the finite set
of lock words the CPUs can produce, so a lock step is a lookup in the algorithm's own answers.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from lockbreak.core import LockbreakError
from model.build import LockInfo
from model.locks import NOBODY

# Lock words per lock, times tickets, beyond which tabulating the ops is not worth it.
MAX_WORDS = 4096


def _repeats_a_cpu(name: str, word: Any) -> bool:
    """True for a queue word in which some CPU waits twice (no execution makes one).

    Queued locks append a CPU to their queue on every entry; the table is closed over words a
    real execution can show, where a CPU waits at most once for a lock.
    """
    if name == "qspinlock":
        _, pending, queue = word
        waiting = [c for c in (pending, *queue) if c != NOBODY]
        return len(set(waiting)) < len(waiting)
    if name in ("rwlock", "rwsem"):
        readers, writer, queue = word
        inside = [*readers, *(() if writer == NOBODY else (writer,)), *(c for c, _ in queue)]
        return len(set(inside)) < len(inside)
    return False


@dataclass
class WordTable:
    """Every word of one lock algorithm for ``n`` CPUs, and each op's answer on each of them."""

    lock: LockInfo
    n: int
    words: list[Hashable] = field(default_factory=list)
    index: dict[Hashable, int] = field(default_factory=dict)

    def close(self, tickets: set[int]) -> set[int]:
        """Close the words under every op of every CPU with every ticket in ``tickets``; return
        the tickets the ops hand out (the caller iterates until tickets stop growing)."""
        algo = self.lock.algorithm
        if not self.words:
            self._add(algo.initial(self.n))
        out: set[int] = set()
        i = 0
        while i < len(self.words):
            word = self.words[i]
            for op in algo.ops.values():
                for cpu in range(self.n):
                    for ticket in tickets:
                        result = op(word, cpu, ticket)
                        if result is None:
                            continue
                        if result.ticket is not None:
                            out.add(result.ticket)
                        if not _repeats_a_cpu(algo.name, result.word):
                            self._add(result.word)
            i += 1
        return out

    def _add(self, word: Hashable) -> None:
        if word not in self.index:
            if len(self.words) >= MAX_WORDS:
                raise LockbreakError(
                    f"lock {self.lock.name}: more than {MAX_WORDS} {self.lock.algorithm.name} "
                    f"words with {self.n} CPUs; too many for the z3 encoding")
            self.index[word] = len(self.words)
            self.words.append(word)
