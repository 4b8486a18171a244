"""What changes between two runs of the same suite, and how reports keep it apart.

Times, the date and the git commit differ from run to run; everything else a report shows is
determined by its inputs. Renderers print those values in the forms below, and `normalise`
masks exactly those forms, so a committed report can be compared with a fresh one.
"""

from __future__ import annotations

import json
import re
from typing import Any

# Keys of results.json whose values differ between runs of the same inputs.
VOLATILE_KEYS = frozenset({"seconds", "total_seconds", "date", "git_commit", "git_dirty"})
MASK = "<volatile>"

# Each pattern's first group is kept, the rest of the match is masked.
_TEXT_PATTERNS = (
    re.compile(r"()\b\d+\.\d\d s\b"),                                # durations: "0.84 s"
    re.compile(r'(class="volatile">)[^<]*'),                           # HTML
    re.compile(r"(?m)^(- (?:date|git commit|total time): ).*$"),       # Markdown provenance
    re.compile(r'(\btime(?:stamp)?=")[^"]*'),                          # JUnit attributes
    re.compile(r'(name="git_commit" value=")[^"]*'),
)


def seconds(value: float) -> str:
    """A duration as every report prints it.

    >>> seconds(0.8412)
    '0.84 s'
    """
    return f"{value:.2f} s"


def _drop(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: MASK if k in VOLATILE_KEYS else _drop(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_drop(v) for v in data]
    return data


def normalise(name: str, text: str) -> str:
    """``text`` of the report file ``name`` with every run-dependent value masked.

    >>> normalise("report.md", "| 316 | 0.01 s |\\n- date: 2026-11-29T11:00:00Z")
    '| 316 | <volatile> |\\n- date: <volatile>'
    """
    if name.endswith(".json"):
        return json.dumps(_drop(json.loads(text)), indent=2)
    for pattern in _TEXT_PATTERNS:
        text = pattern.sub(lambda m: m[1] + MASK, text)
    return text
