"""The queued rwlock's reader fast path (docs/semantics.md section 3): ``queued_read_lock``
shares at once unless a writer holds the lock or waits first in line, even while other
readers are still queued behind a writer that has left."""

from __future__ import annotations

from lockbreak.engines.plain_bfs import check
from lockbreak.pipeline import Overrides, load
from model.kernel import KernelModel
from model.locks import NOBODY, RWLOCK
from model.world import build_world
from properties.catalogue import specs
from tests.support.helpers import first_states
from tests.support.paths import REPO

SCENARIO = (REPO / "scenarios"
            / "rwlock-reader-fastpath-v5.17.toml")
read_enter = RWLOCK.ops["__rw_read_enter"]


def test_a_reader_passes_readers_queued_behind_a_writer_that_left() -> None:
    outcome = read_enter(((), NOBODY, ((1, 0),)), 2, 0)
    assert outcome is not None
    assert outcome.acquired and not outcome.exclusive
    assert outcome.word == ((2,), NOBODY, ((1, 0),))


def test_a_reader_queues_while_a_writer_holds_or_waits_first_in_line() -> None:
    for word in [((), 0, ()), ((1,), NOBODY, ((0, 1),)), ((), 0, ((1, 0),))]:
        outcome = read_enter(word, 2, 0)
        assert outcome is not None
        assert outcome.waits and not outcome.acquired
        assert outcome.word[2][-1] == (2, 0)


def test_a_writer_queued_behind_a_reader_does_not_stop_the_fast_path() -> None:
    outcome = read_enter(((), NOBODY, ((1, 0), (0, 1))), 2, 0)
    assert outcome is not None and outcome.acquired


def test_the_scenario_reaches_a_reader_sharing_past_a_queued_reader() -> None:
    model = KernelModel(build_world(load(SCENARIO, Overrides())), specs())
    words = [model.parts(s)[0][0][0] for s in first_states(model)]
    passed = [(readers, writer, queue) for readers, writer, queue in words
              if readers and writer == NOBODY and any(not w for _, w in queue)]
    assert passed, "no state shows a reader inside while another reader still queues"
    results = {r.property: r for r in check(model, properties=["mutual_exclusion"])}
    assert results["mutual_exclusion"].stats.states == 1944
