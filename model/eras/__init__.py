"""Kernel eras by name: each era's spin_lock / cond_resched_lock family
(docs/semantics.md section 5).

>>> sorted(ERAS)[:3]
['v2.6.11', 'v2.6.12', 'v2.6.20']
>>> get_era("v2.6.12").default_lock
'tas'
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from model.eras.era import Era, Primitive, era
from model.eras.mainline import MAINLINE
from model.eras.rt import with_preempt_rt

ERAS: Mapping[str, Era] = MappingProxyType({e.name: e for e in MAINLINE})


def get_era(name: str) -> Era:
    """The era called ``name``; `KeyError` for an unknown one."""
    return ERAS[name]


__all__ = ["ERAS", "Era", "Primitive", "era", "get_era", "with_preempt_rt"]
