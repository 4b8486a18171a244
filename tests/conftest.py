"""Tests that need a system program: skipped with how to get it, or failed under CI.

A test marked ``@pytest.mark.needs_program("spin", "gcc", install="apt-get install -y spin")``
runs only when every named program is on PATH (``"chromium|google-chrome"``: either will do).
On a developer's machine a missing program skips the test with a reason that says how to
install it (``-rs`` in ``addopts`` prints the reasons in pytest's summary); under ``CI=true``
it fails the test instead, since ``.ci/run`` installs every such program and a green run must
not hide a missing one.
"""

from __future__ import annotations

import os
import shutil

import pytest


def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers(name="needs_program"):
        missing = [wanted for wanted in mark.args
                   if not any(shutil.which(program) for program in wanted.split("|"))]
        if not missing:
            continue
        names = ", ".join(wanted.replace("|", " or ") for wanted in missing)
        reason = f"needs {names} on PATH: {mark.kwargs['install']}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (.ci/run installs it; under CI=true its absence fails)")
        pytest.skip(reason)
