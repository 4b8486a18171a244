"""``lockbreak check``'s command line as one frozen `CheckRequest`.

Every option of ``check`` reaches the pipeline through `check_request`, one typed parameter
per option, which hands each group of them to the module that owns it (`store_choice`,
`scale_choice`, `random_options`), each refusing the options that do not apply to the
engine chosen, and returns the request the rest of the command reads.
"""

from __future__ import annotations

from pathlib import Path

from lockbreak.cli.hypothesis_check import random_options
from lockbreak.cli.scale import scale_choice
from lockbreak.cli.store_options import store_choice
from lockbreak.core import Budget, LockbreakError
from lockbreak.pipeline.request import CheckRequest, Overrides


def check_request(*, props: tuple[str, ...], version: str | None, lock: str | None,
                  preempt: str | None, timing: str | None, engine: str, depth: int,
                  max_states: int | None, timeout: float | None, no_symmetry: bool,
                  plain_bfs: bool, no_por: bool, store: str, bitstate_bits: int | None,
                  bitstate_memory: str | None, bitstate_hashes: int, max_omission: float,
                  max_memory: str | None, estimate: bool, estimate_seconds: float,
                  checkpoint: Path, resume: Path | None, workers: int | None,
                  ray_address: str | None, swarm_size: int | None, seed: int | None,
                  budget: str | None, steps: int, no_swarm: bool, database: Path,
                  no_db: bool) -> CheckRequest:
    """The request of one ``lockbreak check`` command line, from its options as click names
    them (raises `LockbreakError` naming an option that does not apply)."""
    stored = store_choice(
        engine, store=store, bitstate_bits=bitstate_bits, bitstate_memory=bitstate_memory,
        bitstate_hashes=bitstate_hashes, max_omission=max_omission, estimate=estimate,
        estimate_seconds=estimate_seconds, checkpoint=checkpoint, resume=resume,
        max_memory=max_memory)
    scale = scale_choice(engine, workers, ray_address, swarm_size)
    if scale.active and (stored.storage.lossy or stored.checkpoint.resume is not None):
        raise LockbreakError("--workers, --ray and --swarm keep every state exactly and do "
                             "not resume: leave out --store and --resume, or the spreading")
    random_search = random_options(engine, max_states, seed, budget, steps, no_swarm, database,
                                   no_db)
    return CheckRequest(
        properties=props, budget=Budget(max_states=max_states, timeout=timeout),
        engine=engine, overrides=Overrides(version, lock, preempt, timing),
        symmetry=not no_symmetry, por=not no_por, vectorised=not plain_bfs,
        storage=stored.storage, depth=depth, random=random_search, scale=scale,
        checkpoint=stored.checkpoint, estimate_seconds=stored.estimate_seconds)
