"""The kernel lock world as a checkable model: CPUs running compiled programs over lock words.

A state is one int: the id of the shared part (lock words, ``break_lock`` flags, ghost holder
and waiter masks, data snapshots) in the low bits, then one id per CPU for its private part
(program counter, ``preempt_count``, ``need_resched`` or the lazy flag, wakeups left,
registers). Ids index interned tuples, so the engine hashes small ints while traces and
properties decode readable views. A CPU's step depends only on its own part and the shared
part, so each (private, shared) pair is interpreted once and its successor kept as an int
delta: the hot path is a dict lookup and an addition.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass

from lockbreak.core import LockbreakError, ModelDefinitionError, PropertyKind, ScenarioError
from model.events import Event
from model.locks import RELEASE_OPS, SLEEPING_OPS
from model.lockset import snapshots_taken
from model.program import ACQUIRING, IN_BREAK, Belief, Instr, Op
from model.world import World

# Private-part layout.
PC, COUNT, NEED, WAKE, ACC, TICKET, MM, DROPPED = range(8)
REGS = 8
# NEED values: need_resched (TIF_NEED_RESCHED) set, or only the lazy flag
# (TIF_NEED_RESCHED_LAZY), which need_resched() does not see; schedule() clears both.
NEED_RESCHED, NEED_LAZY = 1, 2
# WAKE holds the immediate wakeups left times (the CPU's lazy wakeups + 1) plus the lazy
# wakeups left (`KernelModel.wakeups_left`): without lazy wakeups, just the wakeups left.
# DROPPED bits: the lock-break site in progress dropped its lock; and that drop is not yet
# justified (nobody waited, and the CPU has not scheduled since).
DROP_DONE, DROP_UNJUSTIFIED = 1, 2

SHARED_BITS = 28
LOCAL_BITS = 20
SHARED_MASK = (1 << SHARED_BITS) - 1
LOCAL_MASK = (1 << LOCAL_BITS) - 1
Entry = tuple[int, int, int]    # (state delta, violated bits, witnessed bits)
MAX_FREE_RUN = 100_000

_COMPARE = (
    lambda x, k: x == k, lambda x, k: x != k, lambda x, k: x < k,
    lambda x, k: x <= k, lambda x, k: x > k, lambda x, k: x >= k,
)


@dataclass(frozen=True)
class Action:
    """A CPU's next step, or the environment acting on a CPU (``wakeup``).

    The environment's ``env`` is ``""`` for a wakeup that sets need_resched, and under
    ``preempt = "lazy"`` (docs/semantics.md section 4) ``"lazy"`` for a wakeup that sets the
    lazy flag, ``"tick"`` for the scheduler tick that promotes it to need_resched. At a ``*``
    guard a CPU's step has two outcomes: ``choice = 0`` takes it false (the plain step),
    ``choice = 1`` true.
    """

    cpu: int
    wakeup: bool = False
    choice: int = 0
    env: str = ""

    def __str__(self) -> str:
        if self.wakeup:
            return f"{ENV_NAMES[self.env]}(cpu{self.cpu})"
        return f"cpu{self.cpu}" + (" (* true)" if self.choice else "")

    @property
    def env_text(self) -> str:
        """What the environment did, for a trace line (``wakeup`` actions only)."""
        return ENV_TEXTS[self.env].format(cpu=self.cpu)


ENV_GROUPS = {"": 0, "lazy": 1, "tick": 2}
ENV_NAMES = {"": "wakeup", "lazy": "lazy_wakeup", "tick": "sched_tick"}
ENV_TEXTS = {"": "wakes cpu{cpu}: need_resched = 1",
             "lazy": "wakes cpu{cpu} lazily: TIF_NEED_RESCHED_LAZY = 1, need_resched() still 0",
             "tick": "sched_tick() on cpu{cpu}: the lazy flag becomes need_resched = 1"}


class Obligation(enum.Enum):
    """What a FAIR or WORST property waits for, per CPU (see `KernelModel.obligations`)."""

    NONE = "none"
    ACQUIRE = "acquire"     # open from a failed first attempt until the lock is taken
    WAKEUP = "wakeup"       # open from a wakeup (need_resched set) until the CPU schedules
    FINISH = "finish"       # open until a CPU that must finish has finished


@dataclass(frozen=True)
class PropertySpec:
    """A property as the kernel model observes it: events that violate and that witness it,
    and, for the FAIR and WORST kinds, the obligation whose staying open breaks it."""

    name: str
    kind: PropertyKind
    violated_by: Event
    witnessed_by: Event
    obligation: Obligation = Obligation.NONE


@dataclass(frozen=True)
class StepInfo:
    """What one transition did, in kernel words (for traces and tests)."""

    action: Action
    text: str                 # "spin_lock(B) > arch_spin_trylock(B) -> fails: held by cpu0"
    events: Event
    instr: Instr | None       # the step instruction executed (None: preemption or wakeup)


@dataclass(frozen=True)
class CpuView:
    name: str
    at: str                   # the next step, in kernel words, or "finished"
    preempt_count: int
    need_resched: int
    wakeups_left: int
    holds: tuple[str, ...]
    waits_for: tuple[str, ...]
    finished: bool
    need_resched_lazy: int = 0


@dataclass(frozen=True)
class LockView:
    name: str
    word: str
    break_lock: int


@dataclass(frozen=True)
class WorldView:
    cpus: tuple[CpuView, ...]
    locks: tuple[LockView, ...]
    stale: tuple[str, ...]    # "cpu1:transaction" for each stale snapshot


class KernelModel:
    """The compiled world as a `lockbreak.core.Model` with a fast `successors`."""

    def __init__(self, world: World, properties: Sequence[PropertySpec]) -> None:
        self.world = world
        self.properties = tuple(properties)
        self.property_names = tuple(p.name for p in self.properties)
        self.property_kinds = tuple(p.kind for p in self.properties)
        n = world.n_cpus
        self.agents = tuple(f"cpu{i}" for i in range(n))
        self.must_finish = sum(1 << i for i in range(n) if not world.forever[i])
        self._code = [p.code for p in world.programs]
        self._live = [p.live_snapshots() for p in world.programs]
        self._taken = [snapshots_taken(p.code) for p in world.programs]
        self._protects = _protected_data(world)
        self._preemptible = world.config.preempt in ("full", "lazy", "rt")
        self._lazy = world.lazy
        self._wake_radix = tuple(lazy + 1 for lazy in self._lazy)
        self._irqs = [REGS + p.irqs if p.irqs >= 0 else -1 for p in world.programs]
        self._choosers = tuple(i for i, p in enumerate(world.programs)
                               if any(x.op == Op.NONDET for x in p.code))
        self._shifts = tuple(SHARED_BITS + LOCAL_BITS * i for i in range(n))
        self._locals: list[tuple[int, ...]] = []
        self._local_ids: dict[tuple[int, ...], int] = {}
        self._shared: list[tuple] = []
        self._shared_ids: dict[tuple, int] = {}
        # Per CPU: state bits that matter to its step -> (int delta, violated, witnessed), or
        # () when the CPU cannot move there.
        self._step_cache: list[dict[int, Entry | tuple[()]]] = [{} for _ in range(n)]
        self._choice_cache: list[dict[int, Entry | tuple[()]]] = [{} for _ in range(n)]
        self._bits_cache: dict[int, tuple[int, int]] = {}
        self._local_steps: list[dict[int, bool]] = [{} for _ in range(n)]
        self._perm_cache: dict[tuple[int, tuple[int, ...]], int] = {}
        self._roles_cache: dict[tuple[int, tuple[int, ...]], dict[int, tuple]] = {}
        self._private = self._private_locks()
        self._owned = {lock for own in self._private for lock in own}
        self._groups = self._symmetry_groups()
        # The environment's actions, each seeing only its CPU's own bits: the wakeups, then
        # under the lazy model the lazy wakeups, then the scheduler ticks.
        self._env: list[tuple[Action, dict[int, Entry | tuple[()]]]] = [
            (Action(i, True, env=kind), {})
            for kind, counts in (("", world.wakeups), ("lazy", self._lazy),
                                 ("tick", self._lazy))
            for i in range(n) if counts[i]]
        # One slot per action in `actions` order: each CPU's step (which sees its own bits and
        # the shared part), then the environment's actions.
        self._slots: list[tuple[int, dict[int, Entry | tuple[()]],
                                Callable[[int], Entry | tuple[()]]]] = [
            ((LOCAL_MASK << self._shifts[i]) | SHARED_MASK, self._step_cache[i],
             functools.partial(self._fill_step, i)) for i in range(n)]
        self._slots += [(LOCAL_MASK << self._shifts[action.cpu], cache,
                         functools.partial(self._fill_env, action, cache))
                        for action, cache in self._env]
        # Last, the true outcome of a `*` guard, for the CPUs whose code has one.
        self._slots += [((LOCAL_MASK << self._shifts[i]) | SHARED_MASK, self._choice_cache[i],
                         functools.partial(self._fill_choice, i)) for i in self._choosers]
        self._slot_agents = [*range(n), *(-1 for _ in self._env), *self._choosers]
        self._done_slots = [(1 << i, self._shifts[i], set[int]()) for i in range(n)]
        # Above the CPUs' parts: lockstep timing's "moved in this tick" bits, then its
        # "arrived" bits (0 otherwise).
        self._moved_shift = SHARED_BITS + LOCAL_BITS * n
        self._core_mask = (1 << self._moved_shift) - 1
        # (bit shift, obligation) of each FAIR or WORST property; the shared parts' waiters.
        # (bit shift, index into `obligations`' per-kind masks) of each such property.
        kinds = (Obligation.ACQUIRE, Obligation.WAKEUP, Obligation.FINISH)
        self._obligations = [(i * n, kinds.index(p.obligation))
                             for i, p in enumerate(self.properties)
                             if p.obligation is not Obligation.NONE]
        self._waiting: dict[int, int] = {}
        self._candidates = tuple(Action(i) for i in range(n)) + tuple(
            action for action, _ in self._env) + tuple(
            Action(i, choice=1) for i in self._choosers)
        self._init = self._initial_state()

    # ------------------------------------------------------------ Model protocol

    def init_states(self) -> list[int]:
        return [self._init]

    def actions(self, state: int) -> list[Action]:
        steps = [Action(i) for i in range(len(self._code)) if self._step(i, state) is not None]
        wakes = [action for action, _ in self._env if self._wake(action, state) is not None]
        choices = [Action(i, choice=1) for i in self._choosers
                   if self._choose(i, state) is not None]
        return steps + wakes + choices

    def next_state(self, state: int, action: Action) -> int:
        entry = self._action_entry(state, action)
        if entry is None:
            raise LockbreakError(f"{action} is not enabled in this state")
        return state + entry[0]

    def observe(self, before: int | None, action: Action | None, after: int) -> tuple[int, int]:
        if before is None or action is None:
            events = self._double_hold(self._shared[after & SHARED_MASK])
            if after == self._init:
                events |= self._init_events     # a might-sleep point before the first step
            return self._bits(events)
        entry = self._action_entry(before, action)
        assert entry is not None and before + entry[0] == after
        return entry[1], entry[2]

    def _action_entry(self, state: int, action: Action) -> Entry | None:
        if action.wakeup:
            return self._wake(action, state)
        if action.choice:
            return self._choose(action.cpu, state)
        return self._step(action.cpu, state)

    def done(self, state: int) -> int:
        mask = 0
        for bit, shift, finished in self._done_slots:
            if (state >> shift) & LOCAL_MASK in finished:
                mask |= bit
        return mask

    def successors(self, state: int) -> list[tuple[int, int, int, int]]:
        """``(action_index, next_state, violated, witnessed)`` for every enabled action.

        The hot path of exploration: per action one dict lookup keyed by the state with the
        bits that action cannot see masked off, filled on first use by interpreting the step.
        """
        out: list[tuple[int, int, int, int]] = []
        append = out.append
        index = 0
        for mask, cache, fill in self._slots:
            # The key is the state with the bits the action cannot see masked off: one AND.
            key = state & mask
            entry = cache.get(key)
            if entry is None:
                entry = fill(key)
            if entry:
                append((index, state + entry[0], entry[1], entry[2]))
                index += 1
        return out

    def moves(self, state: int) -> list[tuple[int, int, int]]:
        """``(agent, next_state, ticks)`` for each successor, in `successors` order.

        The agent is the CPU that steps, or -1 for the environment (a wakeup), which no
        fairness assumption covers. Under interleaving timing every CPU step is one tick.
        """
        return [(agent, after, int(agent >= 0)) for agent, after, _, _ in self.transitions(state)]

    def transitions(self, state: int) -> list[tuple[int, int, int, int]]:
        """``(agent, next_state, violated, witnessed)`` for each successor, in order."""
        out = []
        for agent, (mask, cache, fill) in zip(self._slot_agents, self._slots, strict=True):
            key = state & mask
            entry = cache.get(key)
            if entry is None:
                entry = fill(key)
            if entry:
                out.append((agent, state + entry[0], entry[1], entry[2]))
        return out

    def guard_outcomes(self, state: int) -> list[tuple[int, int, int, int]]:
        """``(cpu, pc, state if false, state if true)`` for each CPU whose next move tests a
        `*` guard at program point ``pc``. Strong fairness on the choice is per guard, a CPU's
        program point (docs/semantics.md section 10: an execution that takes a guard
        infinitely often takes each outcome infinitely often). Moves are asked for by
        `attempt`, so a timing that holds a CPU back (lockstep) names no guard for it."""
        out = []
        for cpu in self._choosers:
            pc = self._locals[(state >> self._shifts[cpu]) & LOCAL_MASK][PC]
            code = self._code[cpu]
            if pc >= len(code) or code[pc].op != Op.NONDET:
                continue
            taken = self.attempt(state, Action(cpu, choice=1))
            other = self.attempt(state, Action(cpu))
            if taken is not None and other is not None:
                out.append((cpu, pc, other[0], taken[0]))
        return out

    def obligations(self, state: int) -> int:
        """Open obligations: bit ``p * len(agents) + cpu`` for property ``p`` and each CPU.

        ``acquire``: the CPU is waiting for a lock (its first attempt failed and it has not
        got it yet); ``wakeup``: its need_resched is set and its code path has not ended (the
        return to user space that ends it schedules); ``finish``: it must finish and has not.
        """
        if not self._obligations:
            return 0
        sid = state & SHARED_MASK
        waiting = self._waiting.get(sid)
        if waiting is None:
            shared = self._shared[sid]
            waiting = 0
            for lock in self.world.locks:
                waiting |= shared[lock.index][4]
            self._waiting[sid] = waiting
        woken = finished = 0
        for bit, shift, done_ids in self._done_slots:
            lid = (state >> shift) & LOCAL_MASK
            if lid in done_ids:
                finished |= bit
            elif self._locals[lid][NEED]:
                woken |= bit
        by_kind = (waiting, woken, self.must_finish & ~finished)
        bits = 0
        for shift, kind in self._obligations:
            bits |= by_kind[kind] << shift
        return bits

    def canonical(self, state: int) -> int:
        """The least state among CPU renamings within groups of identical CPUs."""
        return self.canonical_perm(state)[0]

    def canonical_perm(self, state: int) -> tuple[int, tuple[int, ...]]:
        """`canonical` and the renaming used: ``perm[cpu]`` is that CPU's index in the result.

        Identical CPUs are sorted by their private part (with its lockstep "moved" and
        "arrived" bits), and
        where those tie, by their part in the shared state (`_roles`): CPUs equal in both can
        be swapped without changing the state, so any order of them gives the same result,
        and the form is canonical after one sort, O(n log n) in the CPUs.
        """
        n = len(self._shifts)
        if not self._groups:
            return state, tuple(range(n))
        upper = state >> self._moved_shift
        # A CPU's part, with its lockstep "moved" and "arrived" bits, decides where renaming
        # puts it.
        locals_ = [((state >> shift) & LOCAL_MASK) | (upper >> i & 1) << LOCAL_BITS
                   | (upper >> (n + i) & 1) << (LOCAL_BITS + 1)
                   for i, shift in enumerate(self._shifts)]
        shared = state & SHARED_MASK
        perm = list(range(n))                           # perm[old cpu] = new cpu
        for group in self._groups:
            if len({locals_[c] for c in group}) < len(group):
                roles = self._roles(shared, group)
                ordered = sorted(group, key=lambda c: (locals_[c], roles[c]))
            else:
                ordered = sorted(group, key=locals_.__getitem__)
            for new, old in zip(group, ordered, strict=True):
                perm[old] = new
        p = tuple(perm)
        value = self._permute_shared(shared, p)
        for old, local in enumerate(locals_):
            value |= (local & LOCAL_MASK) << self._shifts[p[old]]
            value |= (local >> LOCAL_BITS & 1) << (self._moved_shift + p[old])
            value |= (local >> (LOCAL_BITS + 1)) << (self._moved_shift + n + p[old])
        return value, p

    @property
    def canonical_groups(self) -> tuple[tuple[int, ...], ...]:
        """Groups of CPUs with identical code and wakeups up to renaming their private locks
        (what symmetry reduction renames)."""
        return self._groups

    # ------------------------------------------------------------ factored view

    @property
    def factored(self) -> bool:
        """Whether `lockbreak.engines.frontier` may expand this model from its parts alone
        (lockstep timing's tick bookkeeping is not in the parts, so its subclass says no)."""
        return True

    @property
    def choice_agents(self) -> tuple[int, ...]:
        """The CPUs whose code has a `*` guard, in the order their second outcomes (the
        guard taken true) come in `actions`, after the wakeups."""
        return self._choosers

    @property
    def wake_agents(self) -> tuple[int, ...]:
        """The CPU each of the environment's actions acts on, in the order they come in
        `actions`: the wakeups, then the lazy wakeups and the scheduler ticks (a CPU named
        once per action)."""
        return tuple(action.cpu for action, _ in self._env)

    def split(self, state: int) -> tuple[int, ...]:
        """``(shared id, cpu0's id, cpu1's id, ...)``: the parts a CPU's step depends on."""
        return (state & SHARED_MASK,
                *((state >> shift) & LOCAL_MASK for shift in self._shifts))

    def join(self, ids: Sequence[int]) -> int:
        """The state of `split`'s parts."""
        state = int(ids[0])
        for shift, lid in zip(self._shifts, ids[1:], strict=True):
            state |= int(lid) << shift
        return state

    def step_entry(self, cpu: int, local: int, shared: int) -> tuple[int, int, int, int] | None:
        """``cpu``'s step from its part ``local`` and the shared part ``shared``:
        ``(new local id, new shared id, violated, witnessed)``, or None when it cannot move."""
        shift = self._shifts[cpu]
        key = (local << shift) | shared
        entry = self._step_cache[cpu].get(key)
        if entry is None:
            entry = self._fill_step(cpu, key)
        if not entry:
            return None
        after = key + entry[0]
        return (after >> shift) & LOCAL_MASK, after & SHARED_MASK, entry[1], entry[2]

    def choice_entry(self, cpu: int, local: int, shared: int
                     ) -> tuple[int, int, int, int] | None:
        """`step_entry` for the true outcome of ``cpu``'s `*` guard, or None when its next
        step is not one."""
        shift = self._shifts[cpu]
        key = (local << shift) | shared
        entry = self._choose(cpu, key)
        if entry is None:
            return None
        after = key + entry[0]
        return (after >> shift) & LOCAL_MASK, after & SHARED_MASK, entry[1], entry[2]

    @property
    def wake_groups(self) -> tuple[int, ...]:
        """For each of the environment's actions (`wake_agents`), its kind as a number
        (wakeup, lazy wakeup, tick): actions of one kind come together, in CPU order."""
        return tuple(ENV_GROUPS[action.env] for action, _ in self._env)

    def wake_entry(self, slot: int, local: int) -> tuple[int, int, int] | None:
        """The environment's action number ``slot`` (of `wake_agents`) from its CPU's part
        ``local``: ``(new local id, violated, witnessed)``, or None when it cannot act."""
        action, cache = self._env[slot]
        shift = self._shifts[action.cpu]
        key = local << shift
        entry = cache.get(key)
        if entry is None:
            entry = self._fill_env(action, cache, key)
        if not entry:
            return None
        return (key + entry[0]) >> shift, entry[1], entry[2]

    def wakeups_left(self, cpu: int, local: tuple[int, ...]) -> tuple[int, int]:
        """``(immediate, lazy)``: the wakeups ``cpu`` may still receive in its part ``local``."""
        return divmod(local[WAKE], self._wake_radix[cpu])

    def owed(self, cpu: int, local: int, shared: int) -> int:
        """The FAIR and WORST properties whose obligation is open for ``cpu`` with its part
        ``local`` in the shared part ``shared``: bit ``p`` for property ``p``.

        A CPU's obligations depend on nothing else (its lock waits are in the shared part, its
        need_resched and whether it finished in its own), so the other CPUs' parts are left
        at id 0 here and their bits of `obligations` ignored.
        """
        bits = self.obligations((local << self._shifts[cpu]) | shared)
        n = len(self._shifts)
        return sum(1 << p for p in range(len(self.properties)) if bits >> (p * n + cpu) & 1)

    def finished(self, cpu: int, local: int) -> bool:
        """Whether ``cpu`` has finished its program in its part ``local`` (see `done`)."""
        return local in self._done_slots[cpu][2]

    def local_step(self, cpu: int, local: int) -> bool:
        """Whether ``cpu``'s step from its part ``local`` is CPU-local and forward, so that
        partial-order reduction may take it alone (`lockbreak.engines.frontier`).

        Local: it reads and writes only the CPU's own part, whatever the shared part (a
        preempt_count, need_resched, work or schedule step, with no lock bookkeeping or
        forgotten snapshot in the free instructions after it), and no other action can touch
        that part: the CPU has no wakeups left and no lazy flag for a tick to promote, so
        nothing else ever sets its need_resched.
        Forward: its pc grows, so no cycle is made of such steps alone.
        """
        cached = self._local_steps[cpu].get(local)
        if cached is None:
            cached = self._local_steps[cpu][local] = self._is_local_step(cpu, local)
        return cached

    def _is_local_step(self, cpu: int, local: int) -> bool:
        regs = list(self._locals[local])
        code = self._code[cpu]
        pc = regs[PC]
        if regs[WAKE] or regs[NEED] == NEED_LAZY or pc >= len(code) \
                or code[pc].op not in _LOCAL_OPS:
            return False
        if self._preemptible and regs[NEED] == NEED_RESCHED and regs[COUNT] == 0:
            return False                        # a preemption: the pc stays
        if code[pc].op in (Op.PREEMPT_ENABLE, Op.PREEMPT_ENABLE_NO_RESCHED) and not regs[COUNT]:
            return False                        # an error the full step reports
        self._do_step(cpu, code[pc], regs, [])
        regs[PC] = pc + 1
        try:
            self._free_run(cpu, regs, _NoShared())
        except _SharedTouched:
            return False
        live = self._live[cpu]
        return regs[PC] > pc and not live[pc] & ~live[regs[PC]]

    # ------------------------------------------------------------ random exploration

    def candidates(self, state: int) -> tuple[Action, ...]:
        """Every action that can ever be enabled, in `actions` order, the same in every state.

        A random walk picks one of these and `attempt`s it, so a step costs one interpreted
        transition however many CPUs there are (`actions` interprets every CPU's step).
        """
        return self._candidates

    def attempt(self, state: int, action: Action) -> tuple[int, int, int] | None:
        """``(next_state, violated, witnessed)`` of ``action``, or None when it cannot move."""
        entry = self._action_entry(state, action)
        return None if entry is None else (state + entry[0], entry[1], entry[2])

    def coverage_point(self, state: int, action: Action) -> tuple[int, int] | None:
        """``(cpu, pc)``: where ``action`` left its CPU in ``state`` (None for a wakeup)."""
        if action.wakeup:
            return None
        lid = (state >> self._shifts[action.cpu]) & LOCAL_MASK
        return action.cpu, self._locals[lid][PC]

    # ------------------------------------------------------------ readable views

    def view(self, state: int) -> WorldView:
        shared = self._shared[state & SHARED_MASK]
        cpus = []
        for i, shift in enumerate(self._shifts):
            local = self._locals[(state >> shift) & LOCAL_MASK]
            holds, waits = [], []
            for lock in self.world.locks:
                _, _, holders, writers, waiters = shared[lock.index]
                if (holders | writers) >> i & 1:
                    suffix = "(r)" if lock.has_readers and not writers >> i & 1 else ""
                    holds.append(lock.name + suffix)
                if waiters >> i & 1:
                    waits.append(lock.name)
            pc = local[PC]
            code = self._code[i]
            finished = pc >= len(code)
            at = "finished" if finished else _instr_words(code[pc])
            cpus.append(CpuView(self.agents[i], at, local[COUNT],
                                int(local[NEED] == NEED_RESCHED), sum(self.wakeups_left(i, local)),
                                tuple(holds), tuple(waits), finished,
                                int(local[NEED] == NEED_LAZY)))
        locks = tuple(LockView(lock.name, lock.algorithm.describe(shared[lock.index][0]),
                               shared[lock.index][1]) for lock in self.world.locks)
        stale = []
        base = len(self.world.locks)
        for d, name in enumerate(self.world.data):
            _, stale_mask = shared[base + d]
            stale += [f"cpu{i}:{name}" for i in range(len(self._code)) if stale_mask >> i & 1]
        return WorldView(tuple(cpus), locks, tuple(stale))

    def parts(self, state: int) -> tuple[tuple, tuple[tuple[int, ...], ...]]:
        """The shared part and each CPU's private part of ``state``, as stored (layout above)."""
        return (self._shared[state & SHARED_MASK],
                tuple(self._locals[(state >> shift) & LOCAL_MASK] for shift in self._shifts))

    def step_info(self, state: int, action: Action) -> StepInfo:
        """Re-run one transition to say, in kernel words, what it did."""
        shared = self._shared[state & SHARED_MASK]
        local = self._locals[(state >> self._shifts[action.cpu]) & LOCAL_MASK]
        if action.wakeup:
            texts = {"": "wakeup: need_resched = 1",
                     "lazy": "lazy wakeup: TIF_NEED_RESCHED_LAZY = 1",
                     "tick": "sched_tick(): TIF_NEED_RESCHED_LAZY promoted, need_resched = 1"}
            events = Event.NONE if action.env == "tick" else Event.WAKEUP
            return StepInfo(action, texts[action.env], events, None)
        result = self._execute(action.cpu, local, shared, action.choice)
        if result is None:
            raise LockbreakError(f"{action} is not enabled in this state")
        _, _, events, text, instr = result
        return StepInfo(action, text, events, instr)

    # ------------------------------------------------------------ interning

    def _local_id(self, local: tuple[int, ...]) -> int:
        lid = self._local_ids.get(local)
        if lid is None:
            lid = len(self._locals)
            if lid > LOCAL_MASK:
                raise LockbreakError("more than 2**20 distinct CPU states: scenario too large")
            self._locals.append(local)
            self._local_ids[local] = lid
        return lid

    def _cpu_local_id(self, cpu: int, local: tuple[int, ...]) -> int:
        """`_local_id`, noting the ids in which ``cpu`` has finished its program."""
        lid = self._local_id(local)
        if local[PC] >= len(self._code[cpu]):
            self._done_slots[cpu][2].add(lid)
        return lid

    def _shared_id(self, shared: tuple) -> int:
        sid = self._shared_ids.get(shared)
        if sid is None:
            sid = len(self._shared)
            if sid > SHARED_MASK:
                raise LockbreakError("more than 2**28 distinct shared states: scenario too large")
            self._shared.append(shared)
            self._shared_ids[shared] = sid
        return sid

    def _initial_state(self) -> int:
        world = self.world
        n = world.n_cpus
        shared = tuple((lock.algorithm.initial(n), 0, 0, 0, 0) for lock in world.locks) + tuple(
            (0, 0) for _ in world.data)
        state = self._shared_id(shared)
        self._init_events = Event.NONE
        for i, program in enumerate(world.programs):
            local = [0] * (REGS + program.registers)
            local[WAKE] = world.wakeups[i] * self._wake_radix[i] + self._lazy[i]
            shared_list = list(shared)
            self._init_events |= self._free_run(i, local, shared_list)
            if tuple(shared_list) != shared:
                raise ModelDefinitionError("initial bookkeeping changed shared state")
            state |= self._cpu_local_id(i, tuple(local)) << self._shifts[i]
        return state

    # ------------------------------------------------------------ transitions

    def _step(self, cpu: int, state: int) -> Entry | None:
        key = state & ((LOCAL_MASK << self._shifts[cpu]) | SHARED_MASK)
        entry = self._step_cache[cpu].get(key)
        if entry is None:
            entry = self._fill_step(cpu, key)
        return entry or None

    def _wake(self, action: Action, state: int) -> Entry | None:
        """The environment's ``action`` from ``state``, or None when it cannot act there."""
        for known, cache in self._env:
            if known == action:
                key = state & (LOCAL_MASK << self._shifts[action.cpu])
                entry = cache.get(key)
                if entry is None:
                    entry = self._fill_env(action, cache, key)
                return entry or None
        return None

    def _fill_step(self, cpu: int, key: int) -> Entry | tuple[()]:
        """Interpret one step of ``cpu`` from the private and shared parts in ``key``."""
        shift = self._shifts[cpu]
        lid, sid = (key >> shift) & LOCAL_MASK, key & SHARED_MASK
        result = self._execute(cpu, self._locals[lid], self._shared[sid])
        entry: Entry | tuple[()] = ()
        if result is not None:
            local, shared, events, _, _ = result
            new_lid, new_sid = self._cpu_local_id(cpu, local), self._shared_id(shared)
            delta = ((new_lid - lid) << shift) + (new_sid - sid)
            entry = (delta, *self._bits(events))
        self._step_cache[cpu][key] = entry
        return entry

    def _choose(self, cpu: int, state: int) -> Entry | None:
        key = state & ((LOCAL_MASK << self._shifts[cpu]) | SHARED_MASK)
        entry = self._choice_cache[cpu].get(key)
        if entry is None:
            entry = self._fill_choice(cpu, key)
        return entry or None

    def _fill_choice(self, cpu: int, key: int) -> Entry | tuple[()]:
        """The true outcome of ``cpu``'s `*` guard, when its next step is one."""
        shift = self._shifts[cpu]
        lid, sid = (key >> shift) & LOCAL_MASK, key & SHARED_MASK
        local = self._locals[lid]
        code = self._code[cpu]
        entry: Entry | tuple[()] = ()
        if local[PC] < len(code) and code[local[PC]].op == Op.NONDET:
            result = self._execute(cpu, local, self._shared[sid], 1)
            if result is not None and result[4] is not None:     # not preempted instead
                new_local, shared, events, _, _ = result
                new_lid, new_sid = self._cpu_local_id(cpu, new_local), self._shared_id(shared)
                entry = (((new_lid - lid) << shift) + (new_sid - sid), *self._bits(events))
        self._choice_cache[cpu][key] = entry
        return entry

    def _fill_env(self, action: Action, cache: dict[int, Entry | tuple[()]], key: int
                  ) -> Entry | tuple[()]:
        """The environment's ``action`` on its CPU's part in ``key`` (docs/semantics.md
        section 4): a wakeup sets need_resched, also over a pending lazy flag (v6.13
        ``__resched_curr()`` tests only the bit it sets and TIF_NEED_RESCHED); a lazy wakeup
        sets the lazy flag when neither is set; the tick promotes a pending lazy flag
        (``sched_tick()``). None acts on a CPU whose code path has ended."""
        cpu = action.cpu
        shift = self._shifts[cpu]
        lid = key >> shift
        local = self._locals[lid]
        immediate, lazy = self.wakeups_left(cpu, local)
        need, wake, events = local[NEED], local[WAKE], Event.WAKEUP
        if action.env == "":
            if immediate and need != NEED_RESCHED:
                need, wake = NEED_RESCHED, wake - self._wake_radix[cpu]
        elif action.env == "lazy":
            if lazy and not need:
                need, wake = NEED_LAZY, wake - 1
        elif need == NEED_LAZY:
            need, events = NEED_RESCHED, Event.NONE
        entry: Entry | tuple[()] = ()
        if need != local[NEED] and local[PC] < len(self._code[cpu]):
            woken = list(local)
            woken[NEED], woken[WAKE] = need, wake
            new_lid = self._cpu_local_id(cpu, tuple(woken))
            entry = ((new_lid - lid) << shift, *self._bits(events))
        cache[key] = entry
        return entry

    def _bits(self, events: int) -> tuple[int, int]:
        bits = self._bits_cache.get(events)
        if bits is None:
            violated = witnessed = 0
            for i, prop in enumerate(self.properties):
                if events & prop.violated_by:
                    violated |= 1 << i
                if events & prop.witnessed_by:
                    witnessed |= 1 << i
            bits = self._bits_cache[events] = (violated, witnessed)
        return bits

    # ------------------------------------------------------------ the interpreter

    def _execute(self, cpu: int, local: tuple[int, ...], shared: tuple, choice: int = 0
                 ) -> tuple[tuple[int, ...], tuple, Event, str, Instr | None] | None:
        """One step of ``cpu``: the step instruction at its pc, then free control after it.

        ``choice`` is the outcome of a `*` guard, when that is the step. With interrupts
        disabled the CPU is atomic: a pending reschedule waits, as in the kernel, where
        the preemption point finds ``irqs_disabled()``.
        """
        code = self._code[cpu]
        pc = local[PC]
        irqs = self._irqs[cpu]
        preempt = (self._preemptible and local[NEED] == NEED_RESCHED and local[COUNT] == 0
                   and (irqs < 0 or local[irqs] == 0))
        if pc >= len(code):
            # A finished CPU still owes the reschedule its last preempt_enable() made due.
            if not preempt:
                return None
            regs = list(local)
            regs[NEED] = 0
            return tuple(regs), shared, Event.SCHEDULE, "preempted: schedule()", None
        instr = code[pc]
        regs, mem = list(local), list(shared)
        if preempt and instr.op != Op.SCHEDULE and not _may_block(instr):
            regs[NEED] = 0
            regs[DROPPED] &= ~DROP_UNJUSTIFIED
            events, text, executed = Event.SCHEDULE, "preempted: schedule()", None
        else:
            outcome = self._do_step(cpu, instr, regs, mem, choice)
            if outcome is None:
                return None
            events, note = outcome
            regs[PC] = pc + 1
            notes: list[str] = []
            events |= self._free_run(cpu, regs, mem, notes)
            text = "; ".join([_instr_words(instr) + (f" -> {note}" if note else ""), *notes])
            executed = instr
        regs[ACC] = 0
        self._forget_dead_snapshots(cpu, regs[PC], mem)
        events |= self._double_hold(mem)
        return tuple(regs), tuple(mem), events, text, executed

    def _forget_dead_snapshots(self, cpu: int, pc: int, mem: list) -> None:
        """Drop this CPU's snapshots that its code can no longer use (see `live_snapshots`)."""
        base, me, live = len(self.world.locks), 1 << cpu, self._live[cpu][pc]
        for d in range(len(self.world.data)):
            fresh, stale = mem[base + d]
            if (fresh | stale) & me and not live >> d & 1:
                mem[base + d] = (fresh & ~me, stale & ~me)

    def _do_step(self, cpu: int, instr: Instr, regs: list[int], mem: list, choice: int = 0
                 ) -> tuple[Event, str] | None:
        op = instr.op
        me = 1 << cpu
        if op == Op.PREEMPT_DISABLE:
            regs[COUNT] += 1
            return Event.NONE, ""
        if op in (Op.PREEMPT_ENABLE, Op.PREEMPT_ENABLE_NO_RESCHED):
            if regs[COUNT] == 0:
                raise self._scenario_error(
                    instr, f"cpu{cpu} reaches {_instr_words(instr)} with preempt_count 0",
                    "pair every preempt_enable() with an earlier preempt_disable()")
            regs[COUNT] -= 1
            return Event.NONE, ""
        if op in (Op.CPU_RELAX, Op.WORK):
            return Event.NONE, ""
        if op == Op.SCHEDULE:
            regs[NEED] = 0
            regs[DROPPED] &= ~DROP_UNJUSTIFIED
            if regs[COUNT] > 0:
                return (Event.SCHEDULE | Event.SCHEDULE_IN_ATOMIC,
                        f"scheduling while atomic: preempt_count={regs[COUNT]}")
            irqs = self._irqs[cpu]
            if irqs >= 0 and regs[irqs] > 0:
                return (Event.SCHEDULE | Event.SCHEDULE_IN_ATOMIC,
                        "scheduling while atomic: interrupts disabled")
            return Event.SCHEDULE, ""
        if op == Op.NONDET:
            regs[ACC] = choice
            return Event.NONE, str(choice)
        if op in (Op.IRQ_DISABLE, Op.IRQ_ENABLE):
            slot = REGS + instr.a
            if op == Op.IRQ_ENABLE and regs[slot] == 0:
                raise self._scenario_error(
                    instr, f"cpu{cpu} reaches {_instr_words(instr)} with interrupts enabled",
                    "pair every local_irq_enable()/restore() or _irq unlock with an earlier "
                    "disable")
            regs[slot] += 1 if op == Op.IRQ_DISABLE else -1
            return Event.NONE, ""
        if op == Op.NEED_RESCHED:
            regs[ACC] = int(regs[NEED] == NEED_RESCHED)     # the lazy flag is not seen
            return Event.NONE, str(regs[ACC])
        if op == Op.LOCK_OP:
            return self._lock_op(cpu, instr, regs, mem)
        if op == Op.FLAG_READ:
            regs[ACC] = mem[instr.a][1]
            return Event.NONE, str(regs[ACC])
        if op == Op.FLAG_WRITE:
            word, _, holders, writers, waiters = mem[instr.a]
            mem[instr.a] = (word, instr.b, holders, writers, waiters)
            return Event.NONE, ""
        base = len(self.world.locks)
        if op == Op.DATA_READ:
            fresh, stale = mem[base + instr.a]
            mem[base + instr.a] = (fresh | me, stale & ~me)
            return Event.NONE, "snapshot taken"
        if op == Op.DATA_WRITE:
            fresh, stale = mem[base + instr.a]
            made_stale = fresh & ~me & ~stale
            mem[base + instr.a] = (fresh & me, stale | (fresh & ~me))
            if made_stale:
                whose = ", ".join(f"cpu{i}" for i in range(len(self._code)) if made_stale >> i & 1)
                return Event.STALE, f"{whose}'s snapshot is now stale"
            return Event.NONE, ""
        if op == Op.DATA_USE:
            _, stale = mem[base + instr.a]
            if stale & me:
                return Event.STALE_USE, "relies on a stale snapshot"
            return Event.NONE, "snapshot still valid"
        if op == Op.DATA_GET:
            # A pinned snapshot leaves the fresh set, so no later write makes it stale.
            fresh, stale = mem[base + instr.a]
            if fresh & me:
                mem[base + instr.a] = (fresh & ~me, stale)
                regs[REGS + int(instr.b)] = 1
                return Event.NONE, "snapshot pinned"
            return Event.NONE, "nothing fresh to pin"
        if op == Op.DATA_PUT:
            pinned, regs[REGS + int(instr.b)] = regs[REGS + int(instr.b)], 0
            if pinned:
                fresh, stale = mem[base + instr.a]
                mem[base + instr.a] = (fresh | me, stale)
                return Event.NONE, "unpinned: a write may make the snapshot stale again"
            return Event.NONE, ""
        raise ModelDefinitionError(f"not a step: {instr}")  # pragma: no cover

    def _lock_op(self, cpu: int, instr: Instr, regs: list[int], mem: list
                 ) -> tuple[Event, str] | None:
        lock = self.world.locks[int(instr.a)]
        name = str(instr.b)
        word, flag, holders, writers, waiters = mem[lock.index]
        out = lock.algorithm.ops[name](word, cpu, regs[TICKET])
        if out is None:
            return None
        me = 1 << cpu
        events = Event.NONE
        regs[ACC] = out.value
        if out.ticket is not None:
            regs[TICKET] = out.ticket
        if out.acquired:
            waiters &= ~me
            if instr.flags & IN_BREAK and regs[DROPPED] & DROP_UNJUSTIFIED:
                events |= Event.SPURIOUS_BREAK     # relocked without anyone waiting or a schedule
                regs[DROPPED] &= ~DROP_UNJUSTIFIED
            if lock.has_readers and out.exclusive:
                writers |= me
            else:
                holders |= me
        if out.waits:
            events |= Event.CONTENDED
            if instr.flags & ACQUIRING:
                waiters |= me
        if out.sleeps:
            events |= Event.SCHEDULE
            regs[DROPPED] &= ~DROP_UNJUSTIFIED
            if regs[COUNT] > 0:
                events |= Event.SCHEDULE_IN_ATOMIC
        if name in RELEASE_OPS:
            holders &= ~me
            writers &= ~me
            if instr.flags & IN_BREAK:
                regs[DROPPED] |= DROP_DONE
                events |= Event.BREAK
                if not waiters & ~me:
                    regs[DROPPED] |= DROP_UNJUSTIFIED
                if self._holds_data_of(cpu, lock.index, regs[PC], mem):
                    events |= Event.BREAK_WITH_DATA
        mem[lock.index] = (out.word, flag, holders, writers, waiters)
        return events, out.note

    def _holds_data_of(self, cpu: int, lock: int, pc: int, mem: Sequence) -> bool:
        """Whether ``cpu``, at ``pc``, holds a snapshot of data ``lock`` protects: one its
        code took on every path here (`model.lockset.snapshots_taken`), or one still kept."""
        mine = self._protects[lock]
        if self._taken[cpu][pc] & mine:
            return True
        base, me = len(self.world.locks), 1 << cpu
        return any((mem[base + d][0] | mem[base + d][1]) & me
                   for d in range(len(self.world.data)) if mine >> d & 1)

    def _free_run(self, cpu: int, regs: list[int], mem: list, notes: list[str] | None = None
                  ) -> Event:
        """Run free instructions until the next step or the end of the program.

        ``notes`` collects what a trace should say about them (a lock-break site's return).
        """
        code = self._code[cpu]
        if notes is None:
            notes = []
        events = Event.NONE
        for _ in range(MAX_FREE_RUN):
            pc = regs[PC]
            if pc >= len(code) or code[pc].is_step:
                return events
            instr = code[pc]
            op = instr.op
            nxt = pc + 1
            if op == Op.JUMP:
                nxt = instr.target
            elif op == Op.BRANCH_ACC:
                if regs[ACC]:
                    nxt = instr.target
            elif op == Op.BRANCH_REG:
                slot = REGS + int(instr.a)
                taken = regs[slot]
                if instr.b:
                    regs[slot] = 0
                if taken:
                    nxt = instr.target
            elif op == Op.BRANCH_PCOUNT:
                if _COMPARE[int(instr.a)](regs[COUNT], int(instr.b)):
                    nxt = instr.target
            elif op == Op.SET_REG:
                regs[REGS + int(instr.a)] = int(instr.b)
            elif op == Op.DEC_REG:
                regs[REGS + int(instr.a)] -= 1
            elif op == Op.BRANCH_ZERO:
                if regs[REGS + int(instr.a)] == 0:
                    nxt = instr.target
            elif op == Op.MM_DROP_DUE:
                regs[MM] = (regs[MM] + 1) % int(instr.a)
                regs[ACC] = int(regs[MM] == 0)
            elif op == Op.BELIEVE:
                self._believe(cpu, int(instr.a), Belief(int(instr.b)), mem)
            elif op == Op.BREAK_END:
                dropped = regs[DROPPED] & DROP_DONE
                if regs[DROPPED] & DROP_UNJUSTIFIED:
                    events |= Event.SPURIOUS_BREAK
                if int(instr.a) >= 0:
                    value = regs[REGS + int(instr.a)]
                    if dropped:
                        events |= Event.BREAK_RETURNED
                    if value != dropped:
                        events |= Event.BREAK_LIE
                    lock = self.world.locks[int(instr.b)].name
                    notes.append(f"{instr.where} returns {value} "
                                 f"{'after dropping' if dropped else 'without dropping'} {lock}")
                regs[DROPPED] = 0
            elif op == Op.FREE_LOCK_OP:
                outcome = self._lock_op(cpu, instr, regs, mem)
                if outcome is not None:
                    events |= outcome[0]
            elif op == Op.MIGHT_SLEEP:
                events |= self._might_sleep(cpu, instr, regs, notes)
            else:  # pragma: no cover
                raise ModelDefinitionError(f"unknown free instruction {instr}")
            regs[PC] = nxt
        raise self._scenario_error(
            code[regs[PC]], f"cpu{cpu} loops here without ever taking a step",
            "give the loop a statement that does something, e.g. cpu_relax()")

    def _might_sleep(self, cpu: int, instr: Instr, regs: list[int], notes: list[str]) -> Event:
        """A might-sleep point, checked as ``__might_resched()`` checks it in a kernel built
        with CONFIG_DEBUG_ATOMIC_SLEEP: preempt_count at most the point's offset, interrupts
        enabled (docs/semantics.md section 10)."""
        irqs = self._irqs[cpu]
        if regs[COUNT] > int(instr.a):
            notes.append(f"{_instr_words(instr)}: sleeping function called from invalid "
                         f"context, preempt_count={regs[COUNT]}")
            return Event.MIGHT_SLEEP | Event.MIGHT_SLEEP_ATOMIC
        if irqs >= 0 and regs[irqs] > 0:
            notes.append(f"{_instr_words(instr)}: sleeping function called from invalid "
                         "context, interrupts disabled")
            return Event.MIGHT_SLEEP | Event.MIGHT_SLEEP_ATOMIC
        return Event.MIGHT_SLEEP

    def _scenario_error(self, instr: Instr, message: str, hint: str) -> ScenarioError:
        """A mistake in the scenario found while running it, located at its statement."""
        return ScenarioError(message, file=str(self.world.scenario.path), line=instr.pos.line,
                             col=instr.pos.col, hint=hint)

    def _believe(self, cpu: int, index: int, belief: Belief, mem: list) -> None:
        """After a statement, the code assumes what the lock's contract promises."""
        word, flag, holders, writers, waiters = mem[index]
        me = 1 << cpu
        holders &= ~me
        writers &= ~me
        if belief == Belief.HELD:
            if not self.world.locks[index].has_readers:
                holders |= me
            else:
                writers |= me
        elif belief == Belief.READ:
            holders |= me
        mem[index] = (word, flag, holders, writers, waiters)

    def _double_hold(self, mem: Sequence) -> Event:
        for lock in self.world.locks:
            _, _, holders, writers, _ = mem[lock.index]
            if holders & (holders - 1) and not lock.has_readers:
                return Event.DOUBLE_HOLD
            if writers and (writers & (writers - 1) or holders):
                return Event.DOUBLE_HOLD
        return Event.NONE

    # ------------------------------------------------------------ symmetry

    def _symmetry_groups(self) -> tuple[tuple[int, ...], ...]:
        """CPUs whose compiled code and wakeups are identical up to renaming private locks, in
        groups of two or more.

        A lock is private to a CPU when no other CPU's code names it; a CPU's private locks are
        numbered in the order its code first names them, and code is compared with each
        private lock replaced by its number (and the lock's kind and algorithm), so that the
        scaled nested scenario's CPUs, each with its own ``own{i}``, form one group. Renaming
        CPU ``c`` to ``d`` then also renames ``c``'s k-th private lock to ``d``'s
        (`_lock_perm`). Source text is left out: it only names things in traces.
        """
        by_code: dict[tuple, list[int]] = {}
        for i, program in enumerate(self.world.programs):
            own = {lock: k for k, lock in enumerate(self._private[i])}

            def rename(lock: int, own: dict[int, int] = own) -> tuple[str, int]:
                return ("own", own[lock]) if lock in own else ("lock", lock)

            code = tuple(_renamed(x, rename) for x in program.code)
            kinds = tuple((self.world.locks[k].kind, self.world.locks[k].algorithm.name)
                          for k in own)
            key = (code, kinds, self.world.wakeups[i], self._lazy[i], self.world.forever[i])
            by_code.setdefault(key, []).append(i)
        return tuple(tuple(g) for g in by_code.values() if len(g) > 1)

    def _private_locks(self) -> list[list[int]]:
        """Each CPU's private locks (named by no other CPU), in the order its code names them."""
        users: dict[int, set[int]] = {}
        for i, program in enumerate(self.world.programs):
            for x in program.code:
                for lock in _lock_operands(x):
                    users.setdefault(lock, set()).add(i)
        private: list[list[int]] = []
        for i, program in enumerate(self.world.programs):
            own: dict[int, None] = {}
            for x in program.code:
                own.update((lock, None) for lock in _lock_operands(x) if users[lock] == {i})
            private.append(list(own))
        return private

    def _lock_perm(self, perm: tuple[int, ...]) -> list[int]:
        """Where each lock goes when CPUs are renamed by ``perm``: a CPU's private locks follow
        it; every other lock stays."""
        out = list(range(len(self.world.locks)))
        for group in self._groups:
            for cpu in group:
                for lock, twin in zip(self._private[cpu], self._private[perm[cpu]], strict=True):
                    out[lock] = twin
        return out

    def _roles(self, sid: int, group: tuple[int, ...]) -> dict[int, tuple]:
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
        shared = self._shared[sid]
        locks = self.world.locks
        n = len(self._shifts)
        common = [lock for lock in locks if lock.index not in self._owned]
        roles = {}
        for cpu in group:
            mark = tuple(int(c == cpu) for c in range(n))

            def role(index: int, cpu: int = cpu, mark: tuple[int, ...] = mark) -> tuple:
                word, flag, holders, writers, waiters = shared[index]
                return (locks[index].algorithm.permute(word, mark), flag, holders >> cpu & 1,
                        writers >> cpu & 1, waiters >> cpu & 1)
            roles[cpu] = (tuple(role(lock.index) for lock in common),
                          tuple(role(lock) for lock in self._private[cpu]),
                          tuple((fresh >> cpu & 1, stale >> cpu & 1)
                                for fresh, stale in shared[len(locks):]))
        self._roles_cache[key] = roles
        return roles

    def _permute_shared(self, sid: int, perm: tuple[int, ...]) -> int:
        key = (sid, perm)
        cached = self._perm_cache.get(key)
        if cached is not None:
            return cached
        shared = self._shared[sid]

        def masks(m: int) -> int:
            out = 0
            while m:            # one turn per CPU in the mask: masks are mostly sparse
                low = m & -m
                out |= 1 << perm[low.bit_length() - 1]
                m ^= low
            return out

        out: list[tuple[Hashable, ...]] = list(shared)
        for lock, target in zip(self.world.locks, self._lock_perm(perm), strict=True):
            word, flag, holders, writers, waiters = shared[lock.index]
            out[target] = (lock.algorithm.permute(word, perm), flag, masks(holders),
                           masks(writers), masks(waiters))
        for d, (fresh, stale) in enumerate(shared[len(self.world.locks):]):
            out[len(self.world.locks) + d] = (masks(fresh), masks(stale))
        result = self._perm_cache[key] = self._shared_id(tuple(out))
        return result

    # ------------------------------------------------------------ checkpoints

    def interned(self) -> tuple[tuple[tuple[int, ...], ...], tuple[tuple, ...]]:
        """The interned private and shared parts, in id order: what gives a packed state its
        meaning, so a checkpoint saves them with its states."""
        return tuple(self._locals), tuple(self._shared)

    def restore_interned(self, parts: tuple[tuple[tuple[int, ...], ...], tuple[tuple, ...]]
                         ) -> None:
        """Intern ``parts`` (from `interned` of a model of the same world) under the same ids,
        so that states saved by that model mean the same here."""
        locals_, shared = parts
        for lid, local in enumerate(locals_):
            if self._local_id(local) != lid:
                raise LockbreakError("a checkpoint's states belong to another scenario")
            for cpu in range(len(self._code)):
                if local[PC] >= len(self._code[cpu]):
                    self._done_slots[cpu][2].add(lid)
        for sid, part in enumerate(shared):
            if self._shared_id(part) != sid:
                raise LockbreakError("a checkpoint's states belong to another scenario")

    # ------------------------------------------------------------ portable states

    def portable(self, state: int) -> tuple:
        """``state`` as plain tuples of ints that mean the same in every process.

        A state int indexes this model's interning tables, which another process (a parallel
        search's worker) fills in another order; its parts and lockstep bits do not.
        """
        shared, locals_ = self.parts(state)
        return shared, locals_, state >> self._moved_shift

    def from_portable(self, value: tuple) -> int:
        """The state int, in this model, of a `portable` value from any process."""
        shared, locals_, moved = value
        state = self._shared_id(shared)
        for cpu, local in enumerate(locals_):
            state |= self._cpu_local_id(cpu, local) << self._shifts[cpu]
        return state | moved << self._moved_shift

    def orbit_key(self, state: int) -> tuple:
        """A portable value equal for every renaming of identical CPUs of ``state`` (what
        `canonical` merges), so a parallel search can give a whole orbit one owner: the
        CPUs' private parts with their lockstep bits, sorted, and per lock and datum the
        renaming-free fields (the ``break_lock`` flag, how many CPUs hold, write or wait), the
        locks' in sorted order since renaming CPUs also renames their private locks."""
        upper, n = state >> self._moved_shift, len(self._shifts)
        cpus = sorted((self._locals[(state >> shift) & LOCAL_MASK], upper >> i & 1,
                       upper >> (n + i) & 1) for i, shift in enumerate(self._shifts))
        shared = self._shared[state & SHARED_MASK]
        locks = len(self.world.locks)
        counts = tuple(sorted((flag, holders.bit_count(), writers.bit_count(),
                               waiters.bit_count())
                              for _, flag, holders, writers, waiters in shared[:locks]))
        data = tuple((fresh.bit_count(), stale.bit_count()) for fresh, stale in shared[locks:])
        return tuple(cpus), counts, data


def _protected_data(world: World) -> list[int]:
    """Per lock, the bitmask of the data it protects (the scenario's ``[data]`` table)."""
    index = {lock.name: lock.index for lock in world.locks}
    out = [0] * len(world.locks)
    for d, name in enumerate(world.data):
        out[index[world.scenario.data[name]]] |= 1 << d
    return out


def _lock_operands(instr: Instr) -> tuple[int, ...]:
    """The locks an instruction names (a lock-break's end names its lock only for traces)."""
    if instr.op in (Op.LOCK_OP, Op.FREE_LOCK_OP, Op.FLAG_READ, Op.FLAG_WRITE, Op.BELIEVE):
        return (int(instr.a),)
    if instr.op == Op.BREAK_END:
        return (int(instr.b),)
    return ()


def _renamed(instr: Instr, rename: Callable[[int], tuple[str, int]]) -> tuple:
    """``instr`` as compared for symmetry: its lock operands passed through ``rename``."""
    a: Hashable = instr.a
    b: Hashable = instr.b
    if instr.op in (Op.LOCK_OP, Op.FREE_LOCK_OP, Op.FLAG_READ, Op.FLAG_WRITE, Op.BELIEVE):
        a = rename(int(instr.a))
    elif instr.op == Op.BREAK_END:
        b = rename(int(instr.b))
    return (instr.op, a, b, instr.target, instr.flags)


# Steps that read and write only their CPU's private part.
_LOCAL_OPS = frozenset((Op.PREEMPT_DISABLE, Op.PREEMPT_ENABLE, Op.PREEMPT_ENABLE_NO_RESCHED,
                        Op.CPU_RELAX, Op.WORK, Op.SCHEDULE, Op.NEED_RESCHED))


class _SharedTouched(Exception):
    """A free instruction reached for the shared part (see `KernelModel.local_step`)."""


class _NoShared(list):
    """A shared part that refuses to be read or written."""

    def __getitem__(self, index: object) -> object:  # type: ignore[override]
        raise _SharedTouched

    def __setitem__(self, index: object, value: object) -> None:
        raise _SharedTouched


def _may_block(instr: Instr) -> bool:
    return instr.op == Op.LOCK_OP and instr.b in SLEEPING_OPS


def _instr_words(instr: Instr) -> str:
    return f"{instr.where}: {instr.text}" if instr.where else instr.text


def describe_run(model: KernelModel, init: int, actions: Iterable[Action]) -> list[StepInfo]:
    """Step infos along a run from ``init`` (used by trace rendering and tests)."""
    infos = []
    state = init
    for action in actions:
        infos.append(model.step_info(state, action))
        state = model.next_state(state, action)
    return infos
