"""Toy models of the `lockbreak.core.Model` shape, small enough to check by hand.

They test the engines without any kernel code: a counter (pinned product state count),
Peterson's mutual exclusion and two broken variants, two CPUs taking two locks (ABBA and the
same order), N identical processes on a test-and-set lock and a token ring (for symmetry), an
endless counter (for budgets), the same processes as a factored model with obligations
(`Spinners`, for the vectorised fairness analysis), and `Precomputed`, a wrapper whose
``successors`` is a table lookup, to time the engine alone.

States are tuples of small ints; actions are readable tuples such as ``("cpu0", "spin_lock(A)")``.
``observe`` and ``done`` look only at the state after a step, which is all these toys need.
"""

from __future__ import annotations

from collections.abc import Sequence

from lockbreak.core import Model, PropertyKind, State

SAFETY, CAN_FINISH = PropertyKind.SAFETY, PropertyKind.CAN_FINISH


class Counter:
    """``agents`` counters, each counting from 0 to ``limit`` on its own.

    Every combination of counts is reachable, so there are ``(limit + 1) ** agents`` states;
    a state has one action per counter still below ``limit``, so there are
    ``agents * limit * (limit + 1) ** (agents - 1)`` transitions (each counter can step
    ``limit`` times, whatever the others hold).

    Properties: ``in_range`` (no counter passes ``limit``; witness: all counters at ``limit``)
    holds; ``far_apart`` is never violated and its witness (two counters more than ``limit``
    apart) is impossible, so it is vacuous; ``can_finish`` (every counter can reach
    ``limit``) holds.
    """

    property_names = ("in_range", "far_apart", "can_finish")
    property_kinds = (SAFETY, SAFETY, CAN_FINISH)

    def __init__(self, limit: int = 3, agents: int = 2) -> None:
        self.limit = limit
        self.agents = tuple(f"cpu{i}" for i in range(agents))
        self.must_finish = (1 << agents) - 1

    def init_states(self) -> Sequence[tuple[int, ...]]:
        return ((0,) * len(self.agents),)

    def actions(self, state: tuple[int, ...]) -> Sequence[tuple[str, str]]:
        return tuple((agent, "inc") for agent, count in zip(self.agents, state, strict=True)
                     if count < self.limit)

    def next_state(self, state: tuple[int, ...], action: tuple[str, str]) -> tuple[int, ...]:
        i = self.agents.index(action[0])
        return (*state[:i], state[i] + 1, *state[i + 1:])

    def observe(self, before: object, action: object, after: tuple[int, ...]) -> tuple[int, int]:
        violated = int(max(after) > self.limit)
        witnessed = (int(min(after) == self.limit)
                     | int(max(after) - min(after) > self.limit) << 1
                     | int(max(after) == self.limit) << 2)
        return violated, witnessed

    def done(self, state: tuple[int, ...]) -> int:
        return sum(1 << i for i, count in enumerate(state) if count == self.limit)


# Peterson program counters.
IDLE, STEP1, STEP2, WAIT_TURN, CRITICAL, FINISHED = range(6)


class Peterson:
    """Peterson's mutual exclusion for two processes, one shared read or write per step.

    Process ``i`` (other process ``j``) runs, ``rounds`` times::

        flag[i] = 1; turn = j;                     # IDLE, STEP1
        while (flag[j] && turn == j) ;             # STEP2 reads flag[j], WAIT_TURN reads turn
        /* critical section */ flag[i] = 0;        # CRITICAL

    ``variant="turn_first"`` swaps the two writes (``turn = j`` before ``flag[i] = 1``), a known
    way to break it: a process can set ``turn`` and stall, let the other enter, then enter on
    the stale ``turn``. ``variant="check_then_set"`` has no ``turn``: it waits for
    ``flag[j] == 0`` (IDLE), then sets ``flag[i]`` (STEP1) and enters; both can pass the check.

    State: ``(pc0, pc1, flag0, flag1, turn, left0, left1)``, ``left`` counting rounds to go.
    Properties: ``mutual_exclusion`` (never both CRITICAL; witness: both flags set, i.e. both
    wanted to enter at once) and ``can_finish`` (witness: a process finished).
    """

    property_names = ("mutual_exclusion", "can_finish")
    property_kinds = (SAFETY, CAN_FINISH)
    agents = ("p0", "p1")
    must_finish = 0b11
    variants = ("correct", "turn_first", "check_then_set")

    def __init__(self, variant: str = "correct", rounds: int = 1) -> None:
        if variant not in self.variants:
            raise ValueError(f"unknown variant {variant!r}; one of {self.variants}")
        self.variant = variant
        self.rounds = rounds

    def init_states(self) -> Sequence[tuple[int, ...]]:
        return ((IDLE, IDLE, 0, 0, 0, self.rounds, self.rounds),)

    def actions(self, state: tuple[int, ...]) -> Sequence[tuple[str, str]]:
        return tuple((f"p{i}", self._step_name(i, state[i])) for i in (0, 1)
                     if state[i] != FINISHED)

    def _step_name(self, i: int, pc: int) -> str:
        j = 1 - i
        if pc == CRITICAL:
            return f"flag[{i}] = 0"
        if self.variant == "check_then_set":
            return {IDLE: f"read flag[{j}]", STEP1: f"flag[{i}] = 1"}[pc]
        writes = [f"flag[{i}] = 1", f"turn = {j}"]
        if self.variant == "turn_first":
            writes.reverse()
        return {IDLE: writes[0], STEP1: writes[1], STEP2: f"read flag[{j}]",
                WAIT_TURN: "read turn"}[pc]

    def next_state(self, state: tuple[int, ...], action: tuple[str, str]) -> tuple[int, ...]:
        i = int(action[0][1])
        j = 1 - i
        pcs, flags, turn, left = list(state[0:2]), list(state[2:4]), state[4], list(state[5:7])
        pc = pcs[i]
        if pc == CRITICAL:
            flags[i] = 0
            left[i] -= 1
            pcs[i] = IDLE if left[i] else FINISHED
        elif self.variant == "check_then_set":
            if pc == IDLE:
                pcs[i] = IDLE if flags[j] else STEP1
            else:
                flags[i] = 1
                pcs[i] = CRITICAL
        elif pc in (IDLE, STEP1):
            if action[1].startswith("flag"):
                flags[i] = 1
            else:
                turn = j
            pcs[i] = pc + 1
        elif pc == STEP2:
            pcs[i] = WAIT_TURN if flags[j] else CRITICAL
        else:
            pcs[i] = STEP2 if turn == j else CRITICAL
        return (*pcs, *flags, turn, *left)

    def observe(self, before: object, action: object, after: tuple[int, ...]) -> tuple[int, int]:
        violated = int(after[0] == after[1] == CRITICAL)
        witnessed = int(after[2] == after[3] == 1) | int(FINISHED in after[0:2]) << 1
        return violated, witnessed

    def done(self, state: tuple[int, ...]) -> int:
        return int(state[0] == FINISHED) | int(state[1] == FINISHED) << 1


FREE = -1


class TwoLocks:
    """Two CPUs each take two spinlocks, then release them in reverse and finish.

    cpu0 takes A then B. With ``order="abba"`` cpu1 takes B then A, so each can end up holding
    one lock and spinning on the other forever; with ``order="same"`` cpu1 also takes A then B
    and both always finish. Spinning is modelled by ``spin_lock`` being disabled while the lock
    is held.

    State: ``(pc0, pc1, owner_A, owner_B)``, an owner being a CPU number or -1; pc 0/1 take the
    first/second lock, 2/3 release the second/first, 4 is finished. Property ``can_finish``
    (witness: a CPU waits for a lock the other holds).
    """

    property_names = ("can_finish",)
    property_kinds = (CAN_FINISH,)
    agents = ("cpu0", "cpu1")
    must_finish = 0b11

    def __init__(self, order: str = "abba") -> None:
        if order not in ("abba", "same"):
            raise ValueError(f"unknown order {order!r}; 'abba' or 'same'")
        self.order = ((0, 1), (1, 0) if order == "abba" else (0, 1))

    def init_states(self) -> Sequence[tuple[int, ...]]:
        return ((0, 0, FREE, FREE),)

    def _lock_at(self, cpu: int, pc: int) -> int:
        first, second = self.order[cpu]
        return (first, second, second, first)[pc]

    def actions(self, state: tuple[int, ...]) -> Sequence[tuple[str, str]]:
        enabled = []
        for cpu in (0, 1):
            pc = state[cpu]
            if pc == 4:
                continue
            lock = self._lock_at(cpu, pc)
            verb = "spin_lock" if pc < 2 else "spin_unlock"
            if pc >= 2 or state[2 + lock] == FREE:
                enabled.append((f"cpu{cpu}", f"{verb}({'AB'[lock]})"))
        return tuple(enabled)

    def next_state(self, state: tuple[int, ...], action: tuple[str, str]) -> tuple[int, ...]:
        cpu = int(action[0][3])
        new = list(state)
        lock = self._lock_at(cpu, state[cpu])
        new[2 + lock] = cpu if state[cpu] < 2 else FREE
        new[cpu] += 1
        return tuple(new)

    def observe(self, before: object, action: object, after: tuple[int, ...]) -> tuple[int, int]:
        waits = any(after[cpu] < 2 and after[2 + self._lock_at(cpu, after[cpu])] == 1 - cpu
                    for cpu in (0, 1))
        return 0, int(waits)

    def done(self, state: tuple[int, ...]) -> int:
        return int(state[0] == 4) | int(state[1] == 4) << 1


# Test-and-set program counters.
TRY, SET, HOLDING, DONE = range(4)


class TasLock:
    """``n`` identical processes each take a test-and-set lock ``rounds`` times, then finish.

    ``variant="atomic"``: ``test_and_set`` takes a free lock or fails and retries (a
    self-loop), then ``release``. ``variant="split"`` tests and sets in two steps, so two
    processes can both see the lock free and both enter. ``variant="leak"`` leaves its last
    round without releasing, so the processes that have not finished spin forever.

    State: ``(lock, (pc_0, left_0), ..., (pc_{n-1}, left_{n-1}))``, ``left`` counting rounds to
    go. The processes are interchangeable, so `canonical` sorts them; `canonical_perm` also
    says where each process went. Properties: ``mutual_exclusion`` (at most one process
    HOLDING; witness: one is HOLDING while another tries) and ``can_finish`` (witness: a
    process finished).
    """

    property_names = ("mutual_exclusion", "can_finish")
    property_kinds = (SAFETY, CAN_FINISH)
    variants = ("atomic", "split", "leak")

    def __init__(self, n: int = 3, variant: str = "atomic", rounds: int = 1) -> None:
        if variant not in self.variants:
            raise ValueError(f"unknown variant {variant!r}; one of {self.variants}")
        self.variant = variant
        self.rounds = rounds
        self.agents = tuple(f"p{i}" for i in range(n))
        self.must_finish = (1 << n) - 1

    def init_states(self) -> Sequence[tuple]:
        return ((0,) + ((TRY, self.rounds),) * len(self.agents),)

    def actions(self, state: tuple) -> Sequence[tuple[str, str]]:
        enabled = []
        for agent, (pc, left) in zip(self.agents, state[1:], strict=True):
            if pc == TRY:
                enabled.append((agent, "read lock" if self.variant == "split" else "test_and_set"))
            elif pc == SET:
                enabled.append((agent, "set lock"))
            elif pc == HOLDING:
                leaks = self.variant == "leak" and left == 1
                enabled.append((agent, "exit" if leaks else "release"))
        return tuple(enabled)

    def next_state(self, state: tuple, action: tuple[str, str]) -> tuple:
        i = self.agents.index(action[0])
        lock, (pc, left) = state[0], state[1 + i]
        if pc == TRY:
            if self.variant == "split":
                pc = TRY if lock else SET
            elif not lock:
                lock, pc = 1, HOLDING
        elif pc == SET:
            lock, pc = 1, HOLDING
        else:
            if action[1] == "release":
                lock = 0
            left -= 1
            pc = TRY if left else DONE
        return (lock, *state[1:1 + i], (pc, left), *state[2 + i:])

    def observe(self, before: object, action: object, after: tuple) -> tuple[int, int]:
        pcs = [pc for pc, _ in after[1:]]
        holding = pcs.count(HOLDING)
        witnessed = int(holding >= 1 and TRY in pcs) | int(DONE in pcs) << 1
        return int(holding > 1), witnessed

    def done(self, state: tuple) -> int:
        return sum(1 << i for i, (pc, _) in enumerate(state[1:]) if pc == DONE)

    def canonical(self, state: tuple) -> tuple:
        return (state[0], *sorted(state[1:]))

    def canonical_perm(self, state: tuple) -> tuple[tuple, tuple[int, ...]]:
        procs = state[1:]
        order = sorted(range(len(procs)), key=procs.__getitem__)
        perm = [0] * len(procs)
        for place, agent in enumerate(order):
            perm[agent] = place
        return (state[0], *(procs[a] for a in order)), tuple(perm)


class TokenRing:
    """``n`` processes pass a token round a ring; holding it is this toy's idea of finishing.

    The state is the holder's number (-1 once a ``lossy`` ring drops the token). Rotating the
    ring is a symmetry, so `canonical` turns every holder into 0 and the symmetric state space is
    a single state: then only `canonical_perm`, which says how agents moved, shows that every
    process gets the token (reading ``done`` off representatives alone would say that only p0
    ever does). Property ``can_finish`` (witness: the token was passed).
    """

    property_names = ("can_finish",)
    property_kinds = (CAN_FINISH,)

    def __init__(self, n: int = 3, lossy: bool = False) -> None:
        self.n = n
        self.lossy = lossy
        self.agents = tuple(f"p{i}" for i in range(n))
        self.must_finish = (1 << n) - 1

    def init_states(self) -> Sequence[int]:
        return (0,)

    def actions(self, state: int) -> Sequence[tuple[str, str]]:
        if state < 0:
            return ()
        return ((f"p{state}", "pass"), (f"p{state}", "drop")) if self.lossy else \
            ((f"p{state}", "pass"),)

    def next_state(self, state: int, action: tuple[str, str]) -> int:
        return (state + 1) % self.n if action[1] == "pass" else -1

    def observe(self, before: int | None, action: object, after: int) -> tuple[int, int]:
        return 0, int(before is not None and after >= 0)

    def done(self, state: int) -> int:
        return 1 << state if state >= 0 else 0

    def canonical(self, state: int) -> int:
        return min(state, 0)

    def canonical_perm(self, state: int) -> tuple[int, tuple[int, ...]]:
        shift = max(state, 0)
        return min(state, 0), tuple((a - shift) % self.n for a in range(self.n))


class Endless:
    """A counter that never stops, so only a budget ends its exploration.

    Properties: ``below`` (the count stays below ``bad_at``; witness: it moved) is broken
    after ``bad_at`` steps; ``forever`` is never broken, so the search never finishes on its
    own (witness: the count moved).
    """

    property_names = ("below", "forever")
    property_kinds = (SAFETY, SAFETY)
    agents = ("cpu0",)
    must_finish = 0

    def __init__(self, bad_at: int = 5) -> None:
        self.bad_at = bad_at

    def init_states(self) -> Sequence[int]:
        return (0,)

    def actions(self, state: int) -> Sequence[str]:
        return ("inc",)

    def next_state(self, state: int, action: str) -> int:
        return state + 1

    def observe(self, before: int | None, action: object, after: int) -> tuple[int, int]:
        return int(after >= self.bad_at), int(after > 0) * 0b11

    def done(self, state: int) -> int:
        return 0


class Precomputed:
    """``model`` with every transition computed up front, so ``successors`` is a table lookup.

    Checking it times the engine alone: the model costs one dict lookup per state. Its states
    are the wrapped model's, interned, so the engine never allocates a state either.
    """

    def __init__(self, model: Model) -> None:
        self.model = model
        self.property_names = model.property_names
        self.property_kinds = model.property_kinds
        self.agents = model.agents
        self.must_finish = model.must_finish
        interned: dict[State, State] = {}
        table: dict[State, tuple[tuple[int, State, int, int], ...]] = {}
        todo = [interned.setdefault(s, s) for s in model.init_states()]
        while todo:
            state = todo.pop()
            if state in table:
                continue
            out = []
            for index, action in enumerate(model.actions(state)):
                after = model.next_state(state, action)
                after = interned.setdefault(after, after)
                out.append((index, after, *model.observe(state, action, after)))
                if after not in table:
                    todo.append(after)
            table[state] = tuple(out)
        self.successors = table.__getitem__

    def init_states(self) -> Sequence[State]:
        return self.model.init_states()

    def actions(self, state: State) -> Sequence[object]:
        return self.model.actions(state)

    def next_state(self, state: State, action: object) -> State:
        return self.model.next_state(state, action)

    def observe(self, before: State | None, action: object, after: State) -> tuple[int, int]:
        return self.model.observe(before, action, after)

    def done(self, state: State) -> int:
        return self.model.done(state)


class Obligations:
    """A hand-drawn graph with obligations, for the FAIR and WORST engine.

    ``edges[s]`` lists ``(agent, target, ticks)`` from state ``s`` (agent -1: the environment)
    and ``open_for[s]`` is the mask of agents whose obligation is open in ``s``; both
    properties, ``served`` (FAIR) and ``wait`` (WORST), share that obligation.
    """

    property_names = ("served", "wait")
    property_kinds = (PropertyKind.FAIR, PropertyKind.WORST)
    agents = ("cpu0", "cpu1")
    must_finish = 0

    def __init__(self, edges: dict[int, list[tuple[int, int, int]]],
                 open_for: dict[int, int]) -> None:
        self.edges, self.open_for = edges, open_for

    def init_states(self) -> Sequence[int]:
        return (0,)

    def actions(self, state: int) -> Sequence[tuple[int, int]]:
        return tuple((agent, target) for agent, target, _ in self.edges.get(state, ()))

    def next_state(self, state: int, action: tuple[int, int]) -> int:
        return action[1]

    def observe(self, before: object, action: object, after: int) -> tuple[int, int]:
        return 0, 0

    def done(self, state: int) -> int:
        return 0

    def moves(self, state: int) -> Sequence[tuple[int, int, int]]:
        return self.edges.get(state, [])

    def obligations(self, state: int) -> int:
        mask = self.open_for.get(state, 0)
        return mask | mask << len(self.agents)


class Spinners:
    """``n`` identical processes on a test-and-set lock, as a factored model with obligations
    (the shape `lockbreak.engines.vectorised_bfs` and `lockbreak.engines.fair_graph` serve).

    A process at ``TRY`` either takes the free lock or spins (a step that changes nothing);
    at ``HOLDING`` it releases it and, with ``forever``, tries again, else finishes at ``DONE``.
    Its obligation, for the FAIR property ``served`` and the WORST one ``wait``, is open while
    it is at ``TRY``. Retaking forever, a process can lose every race in an execution fair to
    all (it does move: it spins), so ``served`` fails; finishing after one round, it holds.

    State: an int, the lock in bit 0 and process ``i``'s pc in bits ``2i + 1`` and up; the
    parts are the lock (shared) and each pc (its own). Every step takes one tick.
    """

    property_names = ("served", "wait")
    property_kinds = (PropertyKind.FAIR, PropertyKind.WORST)
    factored = True
    wake_agents = ()

    def __init__(self, n: int = 3, forever: bool = True) -> None:
        self.n, self.forever = n, forever
        self.agents = tuple(f"p{i}" for i in range(n))
        self.must_finish = 0 if forever else (1 << n) - 1
        self.canonical_groups = (tuple(range(n)),)

    def split(self, state: int) -> tuple[int, ...]:
        return (state & 1, *(state >> (2 * i + 1) & 3 for i in range(self.n)))

    def join(self, ids: Sequence[int]) -> int:
        return int(ids[0]) | sum(int(pc) << (2 * i + 1) for i, pc in enumerate(ids[1:]))

    def step_entry(self, agent: int, own: int, shared: int) -> tuple[int, int, int, int] | None:
        if own == TRY:
            return (HOLDING, 1, 0, 0) if not shared else (TRY, shared, 0, 0)
        if own == HOLDING:
            return (TRY if self.forever else DONE), 0, 0, 0
        return None

    def wake_entry(self, slot: int, own: int) -> None:
        return None

    def finished(self, agent: int, own: int) -> bool:
        return own == DONE

    def owed(self, agent: int, own: int, shared: int) -> int:
        return 0b11 if own == TRY else 0

    def init_states(self) -> Sequence[int]:
        return (self.join((0, *(TRY,) * self.n)),)

    def successors(self, state: int) -> list[tuple[int, int, int, int]]:
        ids = self.split(state)
        out = []
        for agent in range(self.n):
            entry = self.step_entry(agent, ids[agent + 1], ids[0])
            if entry is not None:
                after = list(ids)
                after[agent + 1], after[0] = entry[0], entry[1]
                out.append((len(out), self.join(after), entry[2], entry[3]))
        return out

    def actions(self, state: int) -> Sequence[tuple[str, str]]:
        ids = self.split(state)
        return tuple((self.agents[a], "release" if ids[a + 1] == HOLDING else "test_and_set")
                     for a in range(self.n) if ids[a + 1] in (TRY, HOLDING))

    def next_state(self, state: int, action: tuple[str, str]) -> int:
        index = list(self.actions(state)).index(action)
        return self.successors(state)[index][1]

    def observe(self, before: object, action: object, after: int) -> tuple[int, int]:
        return 0, 0

    def done(self, state: int) -> int:
        ids = self.split(state)
        return sum(1 << a for a in range(self.n) if ids[a + 1] == DONE)

    def moves(self, state: int) -> list[tuple[int, int, int]]:
        ids = self.split(state)
        movers = [a for a in range(self.n) if ids[a + 1] in (TRY, HOLDING)]
        return [(a, after, 1) for a, (_, after, _, _) in zip(movers, self.successors(state),
                                                            strict=True)]

    def obligations(self, state: int) -> int:
        ids = self.split(state)
        waiting = sum(1 << a for a in range(self.n) if ids[a + 1] == TRY)
        return waiting | waiting << self.n

    def canonical(self, state: int) -> int:
        return self.canonical_perm(state)[0]

    def canonical_perm(self, state: int) -> tuple[int, tuple[int, ...]]:
        ids = self.split(state)
        order = sorted(range(self.n), key=lambda a: ids[a + 1])
        perm = [0] * self.n
        for place, agent in enumerate(order):
            perm[agent] = place
        return self.join((ids[0], *(ids[a + 1] for a in order))), tuple(perm)
