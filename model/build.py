"""What a CPU's program is compiled for: the kernel's configuration and the scenario's locks."""

from __future__ import annotations

from dataclasses import dataclass

from model.locks import SHARED_KINDS, LockAlgorithm

# The preemption models that preempt at preempt_enable() and have preemptible RCU readers
# (v6.13 include/linux/preempt.h preempt_model_preemptible(): full, lazy or rt).
PREEMPTIBLE = frozenset({"full", "lazy", "rt"})


@dataclass(frozen=True)
class BuildConfig:
    """What the preprocessor and the booted kernel know (docs/semantics.md sections 4 and 5)."""

    preempt: str                 # none | voluntary | full | lazy | rt
    preempt_dynamic: bool
    smp: bool
    generic_lockbreak: bool

    @property
    def built_preemptible(self) -> bool:
        return self.preempt in PREEMPTIBLE or self.preempt_dynamic

    def constant(self, name: str) -> int | None:
        """The value of a configuration symbol or run-time model test, or None."""
        table = {
            "CONFIG_PREEMPT": self.built_preemptible,
            "CONFIG_PREEMPTION": self.built_preemptible,
            "CONFIG_PREEMPT_DYNAMIC": self.preempt_dynamic,
            "CONFIG_PREEMPT_RT": self.preempt == "rt",
            "CONFIG_PREEMPT_LAZY": self.preempt == "lazy",
            "CONFIG_SMP": self.smp,
            "CONFIG_GENERIC_LOCKBREAK": self.generic_lockbreak,
            "preempt_model_none": self.preempt == "none",
            "preempt_model_voluntary": self.preempt == "voluntary",
            "preempt_model_full": self.preempt == "full",
            "preempt_model_lazy": self.preempt == "lazy",
            "preempt_model_rt": self.preempt == "rt",
            "preempt_model_preemptible": self.preempt in PREEMPTIBLE,
            "PREEMPT_LOCK_OFFSET": 0 if self.preempt == "rt" else 1,
        }
        value = table.get(name)
        return None if value is None else int(value)


@dataclass(frozen=True)
class LockInfo:
    """One lock of the scenario: its index in the shared part, name, kind and algorithm."""

    index: int
    name: str
    kind: str                    # spin | rwlock | mutex | rwsem
    algorithm: LockAlgorithm

    @property
    def has_readers(self) -> bool:
        """Whether the lock is held by readers or one writer (rwlock, rwsem), not by one
        holder (spinlock, mutex)."""
        return self.kind in SHARED_KINDS
