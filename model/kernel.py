"""The kernel lock world as a checkable model: CPUs running compiled programs over lock words.

A state is one int: the id of the shared part (lock words, ``break_lock`` flags, ghost holder
and waiter masks, data snapshots) in the low bits, then one id per CPU for its private part
(program counter, ``preempt_count``, ``need_resched`` or the lazy flag, wakeups left,
registers); `model.layout` gives the layout, `model.interning` the ids. Ids index interned
tuples, so the engine hashes small ints while traces and properties decode readable views
(`model.views`). A CPU's step depends only on its own part and the shared part, so each
(private, shared) pair is interpreted once (`model.interpreter`) and its successor kept as an
int delta: the hot path is a dict lookup and an addition. Symmetry reduction is
`model.symmetry`'s.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

from lockbreak.core import LockbreakError, ModelDefinitionError
from model.actions import ENV_GROUPS, Action, Obligation, PropertySpec
from model.events import Event
from model.interning import Interned, Interning
from model.interpreter import Interpreter
from model.layout import (
    ACC,
    LOCAL_MASK,
    NEED,
    NEED_LAZY,
    NEED_RESCHED,
    PC,
    REGS,
    SHARED_MASK,
    TICKET,
    WAKE,
    DataCell,
    LockCell,
)
from model.opcodes import Op
from model.symmetry import Symmetry
from model.views import CpuView, StepInfo, WorldView, describe_run, world_view
from model.world import World

# What callers outside the model import from here: the model, its actions and views, and
# the register names that tests read.
__all__ = [
    "ACC",
    "LOCAL_MASK",
    "NEED",
    "NEED_LAZY",
    "NEED_RESCHED",
    "PC",
    "REGS",
    "SHARED_MASK",
    "TICKET",
    "WAKE",
    "Action",
    "CpuView",
    "KernelModel",
    "Obligation",
    "PropertySpec",
    "StepInfo",
    "WorldView",
    "describe_run",
]

Entry = tuple[int, int, int]    # (state delta, violated bits, witnessed bits)
Slot = tuple[int, dict[int, Entry | tuple[()]], Callable[[int], Entry | tuple[()]]]


class KernelModel:
    """The compiled world as a `lockbreak.core.Model` with a fast `successors`."""

    def __init__(self, world: World, properties: Sequence[PropertySpec],
                 interpreter: Interpreter | None = None) -> None:
        """The model of ``world`` observed for ``properties``; ``interpreter`` replaces the
        world's own (a broken variant, which a test shows a property catches)."""
        self.world = world
        self.properties = tuple(properties)
        self.property_names = tuple(p.name for p in self.properties)
        self.property_kinds = tuple(p.kind for p in self.properties)
        n = world.n_cpus
        self.agents = tuple(f"cpu{i}" for i in range(n))
        self.must_finish = sum(1 << i for i in range(n) if not world.forever[i])
        self.interpreter = interpreter or Interpreter(world)
        self.interning = Interning([len(p.code) for p in world.programs], len(world.locks))
        self.symmetry = Symmetry(world, self.interning)
        # The parts' tables and methods the cached transitions use, bound once.
        self._code = self.interpreter.code
        self._execute = self.interpreter.execute
        self._locals = self.interning.locals
        self._shared = self.interning.shared
        self._cpu_local_id = self.interning.cpu_local_id
        self._shared_id = self.interning.shared_id
        self._lazy = world.lazy
        self._wake_radix = tuple(lazy + 1 for lazy in self._lazy)
        self._choosers = tuple(i for i, p in enumerate(world.programs)
                               if any(x.op == Op.NONDET for x in p.code))
        # Where each CPU's part sits in a state (`model.interning`).
        self.shifts = self.interning.shifts
        # Per CPU: state bits that matter to its step -> (int delta, violated, witnessed), or
        # () when the CPU cannot move there.
        self._step_cache: list[dict[int, Entry | tuple[()]]] = [{} for _ in range(n)]
        self._choice_cache: list[dict[int, Entry | tuple[()]]] = [{} for _ in range(n)]
        self._bits_cache: dict[int, tuple[int, int]] = {}
        self._local_steps: list[dict[int, bool]] = [{} for _ in range(n)]
        # The environment's actions, each seeing only its CPU's own bits: the wakeups, then
        # under the lazy model the lazy wakeups, then the scheduler ticks.
        self.env_actions: list[tuple[Action, dict[int, Entry | tuple[()]]]] = [
            (Action(i, True, env=kind), {})
            for kind, counts in (("", world.wakeups), ("lazy", self._lazy),
                                 ("tick", self._lazy))
            for i in range(n) if counts[i]]
        self.successor_slots = self._successor_slots()
        self._slot_agents = [*range(n), *(-1 for _ in self.env_actions), *self._choosers]
        self._done_slots = [(1 << i, self.shifts[i], self.interning.finished[i])
                            for i in range(n)]
        # Above the CPUs' parts: lockstep timing's "moved in this tick" bits, then its
        # "arrived" bits (0 otherwise).
        self.moved_shift = self.interning.moved_shift
        self.core_mask = (1 << self.moved_shift) - 1
        # (bit shift, index into `obligations`' per-kind masks) of each FAIR or WORST
        # property; the shared parts' waiters.
        kinds = (Obligation.ACQUIRE, Obligation.WAKEUP, Obligation.FINISH)
        self._obligations = [(i * n, kinds.index(p.obligation))
                             for i, p in enumerate(self.properties)
                             if p.obligation is not Obligation.NONE]
        self._waiting: dict[int, int] = {}
        self._candidates = tuple(Action(i) for i in range(n)) + tuple(
            action for action, _ in self.env_actions) + tuple(
            Action(i, choice=1) for i in self._choosers)
        self._init = self._initial_state()

    def _successor_slots(self) -> list[Slot]:
        """One slot per action in `actions` order: each CPU's step (which sees its own bits
        and the shared part), then the environment's actions, last the true outcome of a
        `*` guard for the CPUs whose code has one. A slot is the mask of the state bits its
        action sees, its cache, and what fills the cache."""
        both = [(LOCAL_MASK << shift) | SHARED_MASK for shift in self.shifts]
        slots: list[Slot] = [(both[i], self._step_cache[i], functools.partial(self._fill_step, i))
                             for i in range(len(self.shifts))]
        slots += [(LOCAL_MASK << self.shifts[action.cpu], cache,
                   functools.partial(self._fill_env, action, cache))
                  for action, cache in self.env_actions]
        slots += [(both[i], self._choice_cache[i], functools.partial(self._fill_choice, i))
                  for i in self._choosers]
        return slots

    # ------------------------------------------------------------ Model protocol

    def init_states(self) -> list[int]:
        return [self._init]

    def actions(self, state: int) -> list[Action]:
        steps = [Action(i) for i in range(len(self._code)) if self._step(i, state) is not None]
        wakes = [action for action, _ in self.env_actions if self._wake(action, state) is not None]
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
            events = self.interpreter.double_hold(self._shared[after & SHARED_MASK])
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
        for mask, cache, fill in self.successor_slots:
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
        for agent, (mask, cache, fill) in zip(self._slot_agents, self.successor_slots, strict=True):
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
            pc = self._locals[(state >> self.shifts[cpu]) & LOCAL_MASK][PC]
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
                waiting |= shared[lock.index].waiters
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
        return self.symmetry.canonical_perm(state)[0]

    def canonical_perm(self, state: int) -> tuple[int, tuple[int, ...]]:
        """`canonical` and the renaming used: ``perm[cpu]`` is that CPU's index in the result
        (`model.symmetry.Symmetry.canonical_perm`)."""
        return self.symmetry.canonical_perm(state)

    @property
    def canonical_groups(self) -> tuple[tuple[int, ...], ...]:
        """Groups of CPUs with identical code and wakeups up to renaming their private locks
        (what symmetry reduction renames)."""
        return self.symmetry.groups

    # ------------------------------------------------------------ factored view

    @property
    def factored(self) -> bool:
        """Whether `lockbreak.engines.vectorised_bfs` may expand this model from its parts alone
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
        return tuple(action.cpu for action, _ in self.env_actions)

    def split(self, state: int) -> tuple[int, ...]:
        """``(shared id, cpu0's id, cpu1's id, ...)``: the parts a CPU's step depends on."""
        return (state & SHARED_MASK,
                *((state >> shift) & LOCAL_MASK for shift in self.shifts))

    def join(self, ids: Sequence[int]) -> int:
        """The state of `split`'s parts."""
        state = int(ids[0])
        for shift, lid in zip(self.shifts, ids[1:], strict=True):
            state |= int(lid) << shift
        return state

    def step_entry(self, cpu: int, local: int, shared: int) -> tuple[int, int, int, int] | None:
        """``cpu``'s step from its part ``local`` and the shared part ``shared``:
        ``(new local id, new shared id, violated, witnessed)``, or None when it cannot move."""
        shift = self.shifts[cpu]
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
        shift = self.shifts[cpu]
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
        return tuple(ENV_GROUPS[action.env] for action, _ in self.env_actions)

    def wake_entry(self, slot: int, local: int) -> tuple[int, int, int] | None:
        """The environment's action number ``slot`` (of `wake_agents`) from its CPU's part
        ``local``: ``(new local id, violated, witnessed)``, or None when it cannot act."""
        action, cache = self.env_actions[slot]
        shift = self.shifts[action.cpu]
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
        bits = self.obligations((local << self.shifts[cpu]) | shared)
        n = len(self.shifts)
        return sum(1 << p for p in range(len(self.properties)) if bits >> (p * n + cpu) & 1)

    def finished(self, cpu: int, local: int) -> bool:
        """Whether ``cpu`` has finished its program in its part ``local`` (see `done`)."""
        return local in self._done_slots[cpu][2]

    def local_step(self, cpu: int, local: int) -> bool:
        """Whether ``cpu``'s step from its part ``local`` is CPU-local and forward, so that
        partial-order reduction may take it alone (`lockbreak.engines.vectorised_bfs`).

        Local: it reads and writes only the CPU's own part, whatever the shared part (a
        preempt_count, need_resched, work or schedule step, with no lock bookkeeping or
        forgotten snapshot in the free instructions after it), and no other action can touch
        that part: the CPU has no wakeups left and no lazy flag for a tick to promote, so
        nothing else ever sets its need_resched.
        Forward: its pc grows, so no cycle is made of such steps alone.
        """
        cached = self._local_steps[cpu].get(local)
        if cached is None:
            cached = self._local_steps[cpu][local] = self.interpreter.local_step(
                cpu, self._locals[local])
        return cached

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
        lid = (state >> self.shifts[action.cpu]) & LOCAL_MASK
        return action.cpu, self._locals[lid][PC]
    # ------------------------------------------------------------ readable views

    def view(self, state: int) -> WorldView:
        shared, locals_ = self.parts(state)
        return world_view(self.world, shared, locals_, self.wakeups_left)

    def parts(self, state: int) -> tuple[tuple, tuple[tuple[int, ...], ...]]:
        """The shared part and each CPU's private part of ``state``, as stored
        (`model.layout`)."""
        return self.interning.parts(state)

    def step_info(self, state: int, action: Action) -> StepInfo:
        """Re-run one transition to say, in kernel words, what it did."""
        shared = self._shared[state & SHARED_MASK]
        local = self._locals[(state >> self.shifts[action.cpu]) & LOCAL_MASK]
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

    # ------------------------------------------------------------ transitions

    def _initial_state(self) -> int:
        world = self.world
        n = world.n_cpus
        shared = tuple(LockCell(lock.algorithm.initial(n), 0, 0, 0, 0)
                       for lock in world.locks) + tuple(DataCell(0, 0) for _ in world.data)
        state = self._shared_id(shared)
        self._init_events = Event.NONE
        for i, program in enumerate(world.programs):
            local = [0] * (REGS + program.registers)
            local[WAKE] = world.wakeups[i] * self._wake_radix[i] + self._lazy[i]
            shared_list = list(shared)
            self._init_events |= self.interpreter.free_run(i, local, shared_list)
            if tuple(shared_list) != shared:
                raise ModelDefinitionError("initial bookkeeping changed shared state")
            state |= self._cpu_local_id(i, tuple(local)) << self.shifts[i]
        return state


    def _step(self, cpu: int, state: int) -> Entry | None:
        key = state & ((LOCAL_MASK << self.shifts[cpu]) | SHARED_MASK)
        entry = self._step_cache[cpu].get(key)
        if entry is None:
            entry = self._fill_step(cpu, key)
        return entry or None

    def _wake(self, action: Action, state: int) -> Entry | None:
        """The environment's ``action`` from ``state``, or None when it cannot act there."""
        for known, cache in self.env_actions:
            if known == action:
                key = state & (LOCAL_MASK << self.shifts[action.cpu])
                entry = cache.get(key)
                if entry is None:
                    entry = self._fill_env(action, cache, key)
                return entry or None
        return None

    def _fill_step(self, cpu: int, key: int) -> Entry | tuple[()]:
        """Interpret one step of ``cpu`` from the private and shared parts in ``key``."""
        shift = self.shifts[cpu]
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
        key = state & ((LOCAL_MASK << self.shifts[cpu]) | SHARED_MASK)
        entry = self._choice_cache[cpu].get(key)
        if entry is None:
            entry = self._fill_choice(cpu, key)
        return entry or None

    def _fill_choice(self, cpu: int, key: int) -> Entry | tuple[()]:
        """The true outcome of ``cpu``'s `*` guard, when its next step is one."""
        shift = self.shifts[cpu]
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
        shift = self.shifts[cpu]
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

    # ------------------------------------------------------------ checkpoints

    def interned(self) -> Interned:
        """The interned private and shared parts, in id order: what gives a packed state its
        meaning, so a checkpoint saves them with its states."""
        return self.interning.interned()

    def restore_interned(self, parts: Interned) -> None:
        """Intern ``parts`` (from `interned` of a model of the same world) under the same ids,
        so that states saved by that model mean the same here."""
        self.interning.restore(parts)

    # ------------------------------------------------------------ portable states

    def portable(self, state: int) -> tuple:
        """``state`` as plain tuples of ints that mean the same in every process
        (`model.interning.Interning.portable`)."""
        return self.interning.portable(state)

    def from_portable(self, value: tuple) -> int:
        """The state int, in this model, of a `portable` value from any process."""
        return self.interning.from_portable(value)

    def orbit_key(self, state: int) -> tuple:
        """A portable value equal for every renaming of identical CPUs of ``state`` (what
        `canonical` merges), so a parallel search can give a whole orbit one owner."""
        return self.interning.orbit_key(state)
