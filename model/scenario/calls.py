"""What scenario code may call: the statements and conditions, their arguments, and each
lock kind's calls by role.

The static checks (`model.scenario.static` for names, `model.scenario.held_locks` for the
locks held along each path) read these tables: a statement's or condition's argument kinds,
whether the era or the language provides it, which call takes, releases or breaks a lock of
each kind and in which mode, and what to write instead when a call meets a lock of another
kind. `Context` is the scenario those checks judge.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from lockbreak.core import ScenarioError
from model.eras.era import Era
from model.lang.ast import Pos
from model.spellings import CONTEXT_STATEMENTS

# Argument kinds: "spin", "rwlock", "mutex" and "rwsem" are declared locks of that kind,
# "datum" declared data, "flags" and "subclass" any name or number (the model keeps no
# interrupt flags or lockdep subclasses).
BUILTIN_STATEMENTS: Mapping[str, tuple[str, ...]] = {
    "work": (), "cpu_relax": (), "preempt_disable": (), "preempt_enable": (), "schedule": (),
    "read": ("datum",), "write": ("datum",), "use": ("datum",), "get": ("datum",),
    "put": ("datum",),
    **{name: (extra,) if extra else () for name, (_, extra) in CONTEXT_STATEMENTS.items()},
}
ERA_STATEMENTS: Mapping[str, tuple[str, ...]] = {
    "spin_lock": ("spin",), "spin_unlock": ("spin",),
    "read_lock": ("rwlock",), "read_unlock": ("rwlock",),
    "write_lock": ("rwlock",), "write_unlock": ("rwlock",),
    "cond_resched_lock": ("spin",), "cond_resched_rwlock_read": ("rwlock",),
    "cond_resched_rwlock_write": ("rwlock",), "cond_resched": (), "might_sleep": (),
    "mutex_lock": ("mutex",), "mutex_unlock": ("mutex",), "down_read": ("rwsem",),
    "up_read": ("rwsem",), "down_write": ("rwsem",), "up_write": ("rwsem",),
}
BUILTIN_CONDITIONS: Mapping[str, tuple[str, ...]] = {"need_resched": ()}
ERA_CONDITIONS: Mapping[str, tuple[str, ...]] = {
    "need_lockbreak": ("spin",), "lock_need_resched": ("spin",), "spin_needbreak": ("spin",),
    "rwlock_needbreak": ("rwlock",), "spin_trylock": ("spin",), "read_trylock": ("rwlock",),
    "write_trylock": ("rwlock",), "mutex_trylock": ("mutex",),
    "down_read_trylock": ("rwsem",), "down_write_trylock": ("rwsem",),
    # the lock-break calls' return values, where the era's version returns one
    "cond_resched_lock": ("spin",), "cond_resched_rwlock_read": ("rwlock",),
    "cond_resched_rwlock_write": ("rwlock",),
}
STATEMENTS = {**BUILTIN_STATEMENTS, **ERA_STATEMENTS}
CONDITIONS = {**BUILTIN_CONDITIONS, **ERA_CONDITIONS}

# Each lock kind's calls by role, with the mode each takes ("" for the only one): what to
# write instead when a call meets a lock of another kind.
CALLS: Mapping[str, Mapping[str, tuple[tuple[str, str], ...]]] = {
    "spin": {"lock": (("spin", "spin_lock"),), "unlock": (("spin", "spin_unlock"),),
             "trylock": (("spin", "spin_trylock"),), "break": (("spin", "cond_resched_lock"),),
             "needbreak": (("", "spin_needbreak"),)},
    "rwlock": {"lock": (("read", "read_lock"), ("write", "write_lock")),
               "unlock": (("read", "read_unlock"), ("write", "write_unlock")),
               "trylock": (("read", "read_trylock"), ("write", "write_trylock")),
               "break": (("read", "cond_resched_rwlock_read"),
                         ("write", "cond_resched_rwlock_write")),
               "needbreak": (("", "rwlock_needbreak"),)},
    "mutex": {"lock": (("mutex", "mutex_lock"),), "unlock": (("mutex", "mutex_unlock"),),
              "trylock": (("mutex", "mutex_trylock"),)},
    "rwsem": {"lock": (("read", "down_read"), ("write", "down_write")),
              "unlock": (("read", "up_read"), ("write", "up_write")),
              "trylock": (("read", "down_read_trylock"), ("write", "down_write_trylock"))},
}
# Each call's role and mode, from the table above.
ROLES: Mapping[str, tuple[str, str]] = {
    **{name: (role, mode) for calls in CALLS.values() for role, pairs in calls.items()
       for mode, name in pairs},
    "need_lockbreak": ("needbreak", ""), "lock_need_resched": ("needbreak", ""),
}
KIND_NOUNS = {"spin": "a spinlock", "rwlock": "an rwlock", "mutex": "a mutex",
               "rwsem": "an rwsem"}
# The trylocks, which take their lock when they succeed (a whole condition, in this mode).
TRYLOCKS = {name: mode for calls in CALLS.values() for mode, name in calls["trylock"]}

# How each call changes or needs the held locks: (mode taken, mode released, mode needed).
LOCKS = {name: mode for calls in CALLS.values() for mode, name in calls["lock"]}
UNLOCKS = {name: mode for calls in CALLS.values() for mode, name in calls["unlock"]}
NEEDS = {name: mode for calls in CALLS.values() for mode, name in calls.get("break", ())}


def lock_call(kind: str, role: str, mode: str) -> str:
    """The call of ``role`` on a lock of ``kind`` in ``mode`` (its only one when it has one).

    >>> lock_call("rwsem", "unlock", "read"), lock_call("mutex", "lock", "write")
    ('up_read', 'mutex_lock')
    """
    pairs = CALLS[kind][role]
    return next(name for m, name in pairs if m == mode or len(pairs) == 1)


@dataclass(frozen=True)
class Context:
    """What the checks of one scenario's code see: its file, era (and how messages name
    it), declared locks by kind and data by lock."""

    file: str
    era: Era
    era_label: str
    locks: Mapping[str, str]
    data: Mapping[str, str]

    def error(self, pos: Pos, message: str, hint: str = "") -> ScenarioError:
        """A mistake at ``pos`` of this scenario's file."""
        return ScenarioError(message, file=self.file, line=pos.line, col=pos.col, hint=hint)
