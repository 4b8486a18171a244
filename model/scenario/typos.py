"""Which known name a mistyped one stands for, offered only when it means the same thing.

A hint that names something else leads to a wrong model: ``rcu_read_lock`` is not
``read_lock`` and ``mutex_lock`` is not ``write_lock``, however alike they look, and ``v6.12``
is not ``v2.6.12``. So a name is suggested only for a slip of the keys: the same letters in
another case, or one or two letters missed, doubled, swapped or struck wrong in a name long
enough that this cannot make another word, and never a different number (``L1`` for ``L2``,
``v6.11`` for ``v6.12``). An era is suggested only for the same version written another way
(``2.6.12``, ``V2.6.12``, ``linux-2.6.12``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable


def distance(a: str, b: str) -> int:
    """Edits (insert, delete, replace, swap two neighbours) that turn ``a`` into ``b``.

    >>> distance("spin_lokc", "spin_lock"), distance("mutex_lock", "write_lock")
    (1, 4)
    """
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        row = [i]
        for j, y in enumerate(b, 1):
            cost = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (x != y))
            if i > 1 and j > 1 and x == b[j - 2] and a[i - 2] == y:
                cost = min(cost, previous2[j - 2] + 1)
            row.append(cost)
        previous2, previous = previous, row
    return previous[-1]


def _slips(word: str, name: str) -> int:
    """How many slips ``word`` may carry and still be recognisably ``name``: in a name of
    under four letters a letter struck wrong makes another name (``A`` for ``B``), so only a
    missed or doubled letter counts there."""
    if len(word) >= 8:
        return 2
    return 1 if len(word) >= 4 or len(word) != len(name) else 0


def typo_of(word: str, choices: Iterable[str]) -> str | None:
    """The one name among ``choices`` that ``word`` is a slip of the keys for, if any.

    >>> typo_of("spin_lokc", ["spin_lock", "spin_unlock", "read_lock"])
    'spin_lock'
    >>> typo_of("rcu_read_lock", ["read_lock", "write_lock"]) is None
    True
    >>> typo_of("L3", ["L1", "L2"]) is None
    True
    """
    names = list(choices)
    same_case = [name for name in names if name.lower() == word.lower()]
    if same_case:
        return same_case[0]
    numbers = re.findall(r"\d+", word)
    near = sorted((distance(word.lower(), name.lower()), name) for name in names
                  if re.findall(r"\d+", name) == numbers)
    if not near or near[0][0] > _slips(word, near[0][1]) or (
            len(near) > 1 and near[1][0] == near[0][0]):
        return None
    return near[0][1]


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``did you mean NAME?`` when ``word`` is a slip for NAME (`typo_of`), else ``""``."""
    found = typo_of(word, choices)
    return f"did you mean {found}?" if found else ""


def same_era(word: str, eras: Iterable[str]) -> str:
    """``did you mean ERA?`` when ``word`` is that era's version written another way, else
    what to do about a version that is not modelled.

    >>> same_era("2.6.12", ["v2.6.9", "v2.6.12"])
    'did you mean v2.6.12?'
    >>> same_era("v6.12", ["v2.6.12", "v6.11"])
    'v6.12 is not modelled; choose the era whose code you mean (lockbreak list describes each)'
    """
    plain = re.sub(r"^(linux[-_ ]?)?v?", "", word.strip().lower())
    for era in eras:
        if era.lower().removeprefix("v") == plain:
            return f"did you mean {era}?"
    return f"{word} is not modelled; choose the era whose code you mean (lockbreak list " \
           "describes each)"
