"""Every opcode has a rule, or a refusal by name, in each of the four interpreters.

The kernel model's interpreter, the symbolic twin, the Promela export and the proofs'
transition relation each keep their rules as mappings from opcode to method
(`model.opcodes`). An opcode added to `Op` without a rule in one of them fails here, naming
the interpreter; and an instruction none of them knows stops each with an error that names
the opcode instead of a wrong model.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import replace

import pytest
import z3

from lockbreak.core import ModelDefinitionError
from model import program
from model.constructs import EXPLICIT_ONLY
from model.eras import get_era
from model.interpreter import Interpreter
from model.kernel import KernelModel
from model.opcodes import OPCODES, STEP_OPS, Op
from model.program import Instr, Program
from model.promela import PromelaWriter, promela_model
from model.proofs.loops import compile_loop
from model.proofs.prove import Prover
from model.proofs.transition import REFUSED, Generator
from model.proofs.vocabulary import Frame, vocabulary
from model.scenario import load_scenario
from model.symbolic import SymbolicKernel
from model.world import World, build_world
from properties.catalogue import KNOWN
from tests.support.paths import REPO

SCENARIO = REPO / "scenarios" / "nested-v2.6.12.toml"
# An opcode no interpreter has heard of (`Op` stops at 31).
FAKE = 99


def _world() -> World:
    return build_world(load_scenario(SCENARIO, known_properties=KNOWN))


@functools.cache
def _rules() -> dict[str, tuple[Mapping, Mapping, Mapping]]:
    """Per interpreter: its step rules, its free rules, and the opcodes it refuses."""
    world = _world()
    kernel = Interpreter(world)
    twin = SymbolicKernel(KernelModel(world, [])).interpreter
    writer = PromelaWriter(world, []).steps
    loop = compile_loop(get_era("v2.6.12"))
    voc = vocabulary(loop.step_pcs(), ())
    proofs = Generator(loop, voc, Frame(voc, ""), z3.Const("me", voc.cpu))
    return {
        "the kernel model's interpreter": (kernel.steps, kernel.free, {}),
        "the z3 encoding": (twin.steps, twin.free, twin.refused),
        "the Promela export": (writer.steps, writer.free, writer.refused),
        "the proofs' transition relation": (proofs.steps, proofs.free_rules, REFUSED),
    }


def test_every_opcode_is_in_the_table() -> None:
    assert set(OPCODES) == set(Op)
    assert {op for op in Op if op < 20} == STEP_OPS


@pytest.mark.parametrize("name", list(_rules()))
def test_every_opcode_has_a_rule_or_a_refusal(name: str) -> None:
    steps, free, refused = _rules()[name]
    assert not set(steps) & set(free), name
    assert not (set(steps) | set(free)) & set(refused), name
    missing = set(Op) - set(steps) - set(free) - set(refused)
    assert not missing, f"{name} has no rule for {sorted(op.name for op in missing)}"
    assert set(steps) <= STEP_OPS, name
    assert not set(free) & STEP_OPS, name


def test_the_kernel_model_refuses_nothing_and_the_others_refuse_what_only_it_models() -> None:
    rules = _rules()
    steps, free, _ = rules["the kernel model's interpreter"]
    assert set(steps) | set(free) == set(Op)
    for name in ("the z3 encoding", "the Promela export"):
        assert rules[name][2] == EXPLICIT_ONLY


# cpu0's code with the unknown opcode: ``work(); fake(); goto 0`` forever.
CODE = (Instr(Op.WORK, text="work()"), Instr(FAKE, text="fake()"),  # type: ignore[arg-type]
        Instr(Op.JUMP, target=0))


def _with_fake(world: World) -> World:
    return replace(world, programs=(Program(CODE, registers=0), *world.programs[1:]))


def _explore(model: KernelModel) -> None:
    """A few breadth-first levels: enough to reach cpu0's second instruction."""
    frontier = model.init_states()
    for _ in range(3):
        frontier = [after for state in frontier for _, after, _, _ in model.successors(state)]


RUNS: dict[str, Callable[[World], object]] = {
    "the kernel model's interpreter": lambda world: _explore(KernelModel(world, [])),
    "the z3 encoding": lambda world: SymbolicKernel(KernelModel(world, [])),
    "the Promela export": lambda world: promela_model(world, []),
}


@pytest.mark.parametrize("step", [False, True], ids=["free", "step"])
def test_an_opcode_nobody_knows_stops_every_interpreter_by_name(
        step: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if step:
        monkeypatch.setattr(program, "STEP_OPS", STEP_OPS | {FAKE})
    world = _with_fake(_world())
    for name, run in RUNS.items():
        with pytest.raises(ModelDefinitionError, match=f"{name} has no rule for opcode 99"):
            run(world)
    fake = replace(compile_loop(get_era("v2.6.12")), program=Program(CODE, registers=0))
    with pytest.raises(ModelDefinitionError,
                       match="the proofs' transition relation has no rule for opcode 99"):
        Prover(fake, timeout_ms=1000)
