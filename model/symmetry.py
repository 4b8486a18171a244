"""Symmetry of the kernel model: CPUs with the same code, up to renaming their private locks.

Renaming identical CPUs maps reachable states to reachable states with the same verdicts, so
the engines may keep one state per orbit (`Symmetry.canonical_perm`). A lock is private to a
CPU when no other CPU's code names it; renaming CPU ``c`` to ``d`` also renames ``c``'s k-th
private lock to ``d``'s, so the scaled nested scenario's CPUs, each with its own ``own{i}``,
form one group.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

from model.interning import Interning
from model.layout import LOCAL_BITS, LOCAL_MASK, SHARED_MASK, DataCell, LockCell
from model.opcodes import OPCODES, lock_operands
from model.program import Instr
from model.world import World


class Symmetry:
    """The groups of interchangeable CPUs of one world and the renamings between them."""

    def __init__(self, world: World, interning: Interning) -> None:
        self.world = world
        self.interning = interning
        self.private = private_locks(world)
        self.owned = {lock for own in self.private for lock in own}
        self.groups = self._groups()
        self._perm_cache: dict[tuple[int, tuple[int, ...]], int] = {}
        self._roles_cache: dict[tuple[int, tuple[int, ...]], dict[int, tuple]] = {}

    def _groups(self) -> tuple[tuple[int, ...], ...]:
        """CPUs whose compiled code and wakeups are identical up to renaming private locks, in
        groups of two or more.

        A CPU's private locks are numbered in the order its code first names them, and code is
        compared with each private lock replaced by its number (and the lock's kind and
        algorithm). Source text is left out: it only names things in traces.
        """
        world = self.world
        by_code: dict[tuple, list[int]] = {}
        for i, program in enumerate(world.programs):
            own = {lock: k for k, lock in enumerate(self.private[i])}

            def rename(lock: int, own: dict[int, int] = own) -> tuple[str, int]:
                return ("own", own[lock]) if lock in own else ("lock", lock)

            code = tuple(renamed(x, rename) for x in program.code)
            kinds = tuple((world.locks[k].kind, world.locks[k].algorithm.name) for k in own)
            key = (code, kinds, world.wakeups[i], world.lazy[i], world.forever[i])
            by_code.setdefault(key, []).append(i)
        return tuple(tuple(g) for g in by_code.values() if len(g) > 1)

    def canonical_perm(self, state: int) -> tuple[int, tuple[int, ...]]:
        """The least state among CPU renamings within the groups, and the renaming used:
        ``perm[cpu]`` is that CPU's index in the result.

        Identical CPUs are sorted by their private part (with its lockstep "moved" and
        "arrived" bits), and where those tie, by their part in the shared state (`roles`):
        CPUs equal in both can be swapped without changing the state, so any order of them
        gives the same result, and the form is canonical after one sort, O(n log n) in the
        CPUs.
        """
        shifts, moved_shift = self.interning.shifts, self.interning.moved_shift
        n = len(shifts)
        if not self.groups:
            return state, tuple(range(n))
        upper = state >> moved_shift
        # A CPU's part, with its lockstep "moved" and "arrived" bits, decides where renaming
        # puts it.
        locals_ = [((state >> shift) & LOCAL_MASK) | (upper >> i & 1) << LOCAL_BITS
                   | (upper >> (n + i) & 1) << (LOCAL_BITS + 1)
                   for i, shift in enumerate(shifts)]
        shared = state & SHARED_MASK
        perm = list(range(n))                           # perm[old cpu] = new cpu
        for group in self.groups:
            if len({locals_[c] for c in group}) < len(group):
                roles = self.roles(shared, group)
                ordered = sorted(group, key=lambda c: (locals_[c], roles[c]))
            else:
                ordered = sorted(group, key=locals_.__getitem__)
            for new, old in zip(group, ordered, strict=True):
                perm[old] = new
        p = tuple(perm)
        value = self.permute_shared(shared, p)
        for old, local in enumerate(locals_):
            value |= (local & LOCAL_MASK) << shifts[p[old]]
            value |= (local >> LOCAL_BITS & 1) << (moved_shift + p[old])
            value |= (local >> (LOCAL_BITS + 1)) << (moved_shift + n + p[old])
        return value, p

    def lock_perm(self, perm: tuple[int, ...]) -> list[int]:
        """Where each lock goes when CPUs are renamed by ``perm``: a CPU's private locks follow
        it; every other lock stays."""
        out = list(range(len(self.world.locks)))
        for group in self.groups:
            for cpu in group:
                for lock, twin in zip(self.private[cpu], self.private[perm[cpu]], strict=True):
                    out[lock] = twin
        return out

    def roles(self, sid: int, group: tuple[int, ...]) -> dict[int, tuple]:
        """Each CPU of ``group``'s part in the shared state ``sid``, in terms that renaming
        CPUs does not change: where it stands in each lock word (the word with that CPU
        marked 1 and every other CPU 0), whether it is among each lock's holders, writers
        and waiters and each datum's fresh and stale snapshots, and the same of its own
        private locks. Two CPUs of the group with the same role and private part can be
        swapped without changing the state."""
        key = (sid, group)
        cached = self._roles_cache.get(key)
        if cached is not None:
            return cached
        shared = self.interning.shared[sid]
        locks = self.world.locks
        n = len(self.interning.shifts)
        common = [lock for lock in locks if lock.index not in self.owned]
        roles = {}
        for cpu in group:
            mark = tuple(int(c == cpu) for c in range(n))

            def role(index: int, cpu: int = cpu, mark: tuple[int, ...] = mark) -> tuple:
                cell = shared[index]
                return (locks[index].algorithm.permute(cell.word, mark), cell.flag,
                        cell.holders >> cpu & 1, cell.writers >> cpu & 1,
                        cell.waiters >> cpu & 1)
            roles[cpu] = (tuple(role(lock.index) for lock in common),
                          tuple(role(lock) for lock in self.private[cpu]),
                          tuple((fresh >> cpu & 1, stale >> cpu & 1)
                                for fresh, stale in shared[len(locks):]))
        self._roles_cache[key] = roles
        return roles

    def permute_shared(self, sid: int, perm: tuple[int, ...]) -> int:
        """The id of the shared part ``sid`` with its CPUs renamed by ``perm`` (and their
        private locks with them)."""
        key = (sid, perm)
        cached = self._perm_cache.get(key)
        if cached is not None:
            return cached
        shared = self.interning.shared[sid]

        def masks(m: int) -> int:
            out = 0
            while m:            # one turn per CPU in the mask: masks are mostly sparse
                low = m & -m
                out |= 1 << perm[low.bit_length() - 1]
                m ^= low
            return out

        out: list[tuple[Hashable, ...]] = list(shared)
        for lock, target in zip(self.world.locks, self.lock_perm(perm), strict=True):
            word, flag, holders, writers, waiters = shared[lock.index]
            out[target] = LockCell(lock.algorithm.permute(word, perm), flag, masks(holders),
                                   masks(writers), masks(waiters))
        base = len(self.world.locks)
        for d, (fresh, stale) in enumerate(shared[base:]):
            out[base + d] = DataCell(masks(fresh), masks(stale))
        result = self._perm_cache[key] = self.interning.shared_id(tuple(out))
        return result


def private_locks(world: World) -> list[list[int]]:
    """Each CPU's private locks (named by no other CPU), in the order its code names them."""
    users: dict[int, set[int]] = {}
    for i, program in enumerate(world.programs):
        for x in program.code:
            for lock in lock_operands(x):
                users.setdefault(lock, set()).add(i)
    private: list[list[int]] = []
    for i, program in enumerate(world.programs):
        own: dict[int, None] = {}
        for x in program.code:
            own.update((lock, None) for lock in lock_operands(x) if users[lock] == {i})
        private.append(list(own))
    return private


def renamed(instr: Instr, rename: Callable[[int], tuple[str, int]]) -> tuple:
    """``instr`` as compared for symmetry: its lock operand passed through ``rename``."""
    a: Hashable = instr.a
    b: Hashable = instr.b
    operand = OPCODES[instr.op].lock if instr.op in OPCODES else ""
    if operand == "a":
        a = rename(int(instr.a))
    elif operand == "b":
        b = rename(int(instr.b))
    return (instr.op, a, b, instr.target, instr.flags)
