"""The C-like code parser: every construct of both modes, positions in the file, errors."""

from __future__ import annotations

import dataclasses

import pytest

from lockbreak.core import ScenarioError
from model.eras import ERAS
from model.lang import parse_code
from model.lang.ast import (
    And,
    Assign,
    Break,
    Call,
    CallExpr,
    Compare,
    Const,
    Continue,
    Field,
    Forever,
    Goto,
    If,
    Label,
    Nondet,
    Not,
    Or,
    Repeat,
    Restart,
    Return,
    Var,
    While,
)


def scenario(text: str, **where: int) -> tuple:
    return parse_code(text, file="s.toml", **where)


def era(text: str) -> tuple:
    return parse_code(text, file="era.c", mode="era")


def positions(node: object) -> list[tuple[str, int, int]]:
    """Every node's (type, line, col) in depth-first order, arguments included."""
    if isinstance(node, tuple):
        return [p for child in node for p in positions(child)]
    if not dataclasses.is_dataclass(node):
        return []
    found = [(type(node).__name__, node.pos.line, node.pos.col)]
    found += [("arg", p.line, p.col) for p in getattr(node, "arg_pos", ())]
    for f in dataclasses.fields(node):
        if f.name not in ("pos", "arg_pos"):
            found += positions(getattr(node, f.name))
    return found


def error_of(text: str, mode: str = "scenario") -> str:
    with pytest.raises(ScenarioError) as caught:
        parse_code(text, file="s.toml", line=10, col=1, mode=mode)  # type: ignore[arg-type]
    return str(caught.value)


# ---------------------------------------------------------------- scenario mode


def test_calls_with_names_and_numbers():
    code = scenario("spin_lock(B);\n  work(3); work(); work(-1);")
    assert code == (Call("spin_lock", ("B",)), Call("work", (3,)), Call("work"),
                    Call("work", (-1,)))
    assert positions(code) == [("Call", 1, 1), ("arg", 1, 11), ("Call", 2, 3), ("arg", 2, 8),
                               ("Call", 2, 12), ("Call", 2, 20), ("arg", 2, 25)]


def test_positions_are_in_the_file():
    # the first line starts at `col`; later lines start at column 1 of the file
    code = scenario("work();\nschedule();", line=7, col=9)
    assert positions(code) == [("Call", 7, 9), ("Call", 8, 1)]


def test_loops_and_control():
    code = scenario("""repeat (3) {
    work();
    if (need_resched()) break;
    continue;
}
while (need_lockbreak(B)) { restart; }
forever { cpu_relax(); }""")
    assert code == (
        Repeat(3, (Call("work"), If(CallExpr("need_resched"), (Break(),)), Continue())),
        While(CallExpr("need_lockbreak", ("B",)), (Restart(),)),
        Forever((Call("cpu_relax"),)),
    )
    assert positions(code) == [
        ("Repeat", 1, 1), ("Call", 2, 5), ("If", 3, 5), ("CallExpr", 3, 9), ("Break", 3, 25),
        ("Continue", 4, 5), ("While", 6, 1), ("CallExpr", 6, 8), ("arg", 6, 23),
        ("Restart", 6, 29), ("Forever", 7, 1), ("Call", 7, 11)]


def test_if_else_if_and_single_statements():
    code = scenario("if (a()) x(); else if (b()) { y(); } else z();\nwhile (c()) w();")
    assert code == (
        If(CallExpr("a"), (Call("x"),),
           (If(CallExpr("b"), (Call("y"),), (Call("z"),)),)),
        While(CallExpr("c"), (Call("w"),)),
    )
    assert positions(code)[:6] == [("If", 1, 1), ("CallExpr", 1, 5), ("Call", 1, 10),
                                   ("If", 1, 20), ("CallExpr", 1, 24), ("Call", 1, 31)]


def test_dangling_else_binds_to_the_nearest_if():
    (outer,) = scenario("if (a()) if (b()) x(); else y();")
    assert outer == If(CallExpr("a"), (If(CallExpr("b"), (Call("x"),), (Call("y"),)),))


def test_condition_precedence_is_c():
    (stmt,) = scenario("if (!a() || b() && !(c() || d(L))) x();")
    assert stmt.cond == Or(Not(CallExpr("a")),
                           And(CallExpr("b"), Not(Or(CallExpr("c"), CallExpr("d", ("L",))))))
    assert positions(stmt.cond) == [
        ("Or", 1, 5), ("Not", 1, 5), ("CallExpr", 1, 6), ("And", 1, 13), ("CallExpr", 1, 13),
        ("Not", 1, 20), ("Or", 1, 22), ("CallExpr", 1, 22), ("CallExpr", 1, 29), ("arg", 1, 31)]


def test_comments_blocks_and_empty_code():
    code = scenario("// one\nwork(); /* two\nlines */ { { schedule(); } }")
    assert code == (Call("work"), Call("schedule"))
    assert positions(code) == [("Call", 2, 1), ("Call", 3, 14)]
    assert scenario("  // nothing\n") == ()


@pytest.mark.parametrize(("text", "message"), [
    ("ret = 1;", "s.toml:10:1: assignments are not part of the scenario language; scenario "
     "code only calls kernel functions\n  hint: only era bodies assign; a scenario calls "
     "spin_lock(L), work(), cond_resched_lock(L), ..."),
    ("  int ret = 0;", "s.toml:10:3: assignments are not part of the scenario language; "
     "scenario code only calls kernel functions\n  hint: only era bodies assign; a scenario "
     "calls spin_lock(L), work(), cond_resched_lock(L), ..."),
    ("B->break_lock = 0;", "s.toml:10:1: assignments are not part of the scenario language; "
     "scenario code only calls kernel functions\n  hint: only era bodies assign; a scenario "
     "calls spin_lock(L), work(), cond_resched_lock(L), ..."),
    ("return 1;", "s.toml:10:1: a scenario's code path returns no value\n"
     "  hint: write return; to end the CPU's code path here"),
    ("if (a() == 1) x();", "s.toml:10:5: comparisons are not part of the scenario language\n"
     "  hint: conditions are calls such as need_resched() or spin_needbreak(L), combined with "
     "!, && and ||"),
    ("if (!need_resched) x();", "s.toml:10:6: 'need_resched' is not a condition\n"
     "  hint: conditions are calls such as need_resched() or spin_needbreak(L), combined with "
     "!, && and ||"),
    ("while (B->break_lock) x();", "s.toml:10:8: lock fields such as B->break_lock are not "
     "visible to scenario code\n  hint: test need_lockbreak(B) or spin_needbreak(B) instead"),
    ("while (1) x();", "s.toml:10:8: constants are not conditions in the scenario language\n"
     "  hint: write forever { ... } for an endless loop; conditions are calls such as "
     "need_resched() or spin_needbreak(L), combined with !, && and ||"),
])
def test_era_only_constructs_are_refused_in_scenarios(text, message):
    assert error_of(text) == message


# ---------------------------------------------------------------- era mode


def test_era_assignments_returns_and_fields():
    code = era("""int ret = 0;
lock->break_lock = 1;
ret = lock->break_lock;
if (ret != 0) return ret;
return;""")
    assert code == (
        Assign(Var("ret"), Const(0)),
        Assign(Field("lock", "break_lock"), Const(1)),
        Assign(Var("ret"), Field("lock", "break_lock")),
        If(Compare("!=", Var("ret"), Const(0)), (Return(Var("ret")),)),
        Return(),
    )
    assert positions(code) == [
        ("Assign", 1, 1), ("Var", 1, 5), ("Const", 1, 11),
        ("Assign", 2, 1), ("Field", 2, 1), ("Const", 2, 20),
        ("Assign", 3, 1), ("Var", 3, 1), ("Field", 3, 7),
        ("If", 4, 1), ("Compare", 4, 5), ("Var", 4, 5), ("Const", 4, 12),
        ("Return", 4, 15), ("Var", 4, 22), ("Return", 5, 1)]


@pytest.mark.parametrize("op", ["==", "!=", "<", "<=", ">", ">="])
def test_era_comparisons(op):
    (stmt,) = era(f"return preempt_count() {op} PREEMPT_LOCK_OFFSET;")
    assert stmt == Return(Compare(op, CallExpr("preempt_count"), Var("PREEMPT_LOCK_OFFSET")))


def test_era_comparison_precedence_and_constants():
    (stmt,) = era("return !a() && 1 < 0x10 == b(lock) || IS_ENABLED(CONFIG_PREEMPT);")
    assert stmt.value == Or(
        And(Not(CallExpr("a")),
            Compare("==", Compare("<", Const(1), Const(16)), CallExpr("b", ("lock",)))),
        CallExpr("IS_ENABLED", ("CONFIG_PREEMPT",)))


def test_era_for_ever_and_do_while():
    code = era("for (;;) { cpu_relax(); }\ndo {\n  cpu_relax();\n} while (!can_lock(lock));")
    assert code == (
        Forever((Call("cpu_relax"),)),
        Forever((Call("cpu_relax"),
                 If(Not(Not(CallExpr("can_lock", ("lock",)))), (Break(),)))),
    )
    assert positions(code)[:4] == [("Forever", 1, 1), ("Call", 1, 12), ("Forever", 2, 1),
                                   ("Call", 3, 3)]


def test_era_continue_in_do_while_is_refused():
    assert error_of("do { if (a()) continue; } while (b());", mode="era") == (
        "s.toml:10:15: continue inside do { } while is not supported\n  hint: do-while is "
        "lowered to for (;;) with a trailing test, which continue would skip; write the loop "
        "as for (;;) { ... }")
    # a continue of an inner loop is fine
    assert era("do { while (a()) continue; } while (b());")


def test_every_era_body_parses():
    bodies = {p.body for e in ERAS.values() for p in e.primitives.values()}
    for body in bodies:
        assert parse_code(body, file="era", mode="era") is not None


def test_unknown_mode():
    with pytest.raises(ValueError, match="mode must be"):
        parse_code("", file="x", mode="c")  # type: ignore[arg-type]


# ---------------------------------------------------------------- syntax errors


@pytest.mark.parametrize(("text", "message"), [
    ("spin_lock(A)\nwork();", "s.toml:10:13: expected ';' before 'work'"),
    ("spin_lock(A);\n  spin_unlock(A)\n", "s.toml:11:17: expected ';' before the end of the code"),
    ("if need_resched() x();", "s.toml:10:4: expected '(' before 'need_resched'"),
    ("if (a() b()) x();", "s.toml:10:9: expected ')' before 'b'"),
    ("if (a()", "s.toml:10:8: expected ')' before the end of the code"),
    ("if (!) x();", "s.toml:10:6: expected a condition before ')'"),
    ("repeat () { }", "s.toml:10:9: expected a name or a number before ')'"),
    ("spin_lock(A B);", "s.toml:10:13: expected ')' or ',' before 'B'"),
    ("work(;", "s.toml:10:6: expected a name, a number or ')' before ';'"),
    ("work(1,);", "s.toml:10:8: expected a name or a number before ')'"),
    ("if (a()) else b();", "s.toml:10:10: expected a statement before 'else'"),
    ("forever { } else { }", "s.toml:10:13: expected a statement or the end of the code "
     "before 'else'"),
    ("if (a()) x(); else", "s.toml:10:19: expected a statement before the end of the code"),
    ("work(); }", "s.toml:10:9: '}' without a matching '{'"),
    ("forever {\n  if (a()) { work(); }\n", "s.toml:10:9: this '{' is never closed\n"
     "  hint: add the matching '}'"),
    ("work() @", "s.toml:10:8: unexpected character '@'"),
    ("work(); /* never\nclosed", "s.toml:10:9: this /* comment is never closed\n"
     "  hint: close it with */"),
    ("B->break_lock;", "s.toml:10:14: expected '=' before ';'"),
])
def test_syntax_errors_say_what_was_expected(text, message):
    assert error_of(text) == message


FOR = ("write repeat (N) { ... } to run the body N times, while (*) { ... } for a bound the "
       "model cannot see, or for (;;) { ... }")
ITERATION = ("write while (*) { ... } for a list of any length, or repeat (N) { ... } for N "
             "entries; the list itself is not modelled")


@pytest.mark.parametrize(("text", "message"), [
    ("work();\nspin_lock(&A);", "s.toml:11:11: lock expression '&A' names no declared lock\n"
     '  hint: map it to a lock in [locks]: A = { kind = "spin", expr = ["&A"] }'),
    ("spin_lock(inode->i_lock);", "s.toml:10:11: lock expression 'inode->i_lock' names no "
     'declared lock\n  hint: map it to a lock in [locks]: i_lock = { kind = "spin", '
     'expr = ["inode->i_lock"] }'),
    ("for (i = 0; i < 3; i++) {\n  work();\n}", "s.toml:10:1: a C for loop with a counter is "
     f"not part of the scenario language\n  hint: {FOR}"),
    ("list_for_each_entry_safe(p, n, &head, list)\n  work();", "s.toml:10:1: "
     "list_for_each_entry_safe is a list iteration macro, not part of the scenario language\n"
     f"  hint: {ITERATION}"),
    ("spin_lock(A);\nlist_for_each_entry(p, head, list) {\n  work();\n}",
     "s.toml:11:1: list_for_each_entry is a list iteration macro, not part of the scenario "
     f"language\n  hint: {ITERATION}"),
])
def test_kernel_c_the_language_does_not_take_gets_what_to_write_instead(text, message):
    assert error_of(text) == message


def test_era_syntax_errors_expect_expressions():
    assert error_of("ret = ;", mode="era") == "s.toml:10:7: expected an expression before ';'"


# ---------------------------------------------------------------- kernel C in scenarios


def test_goto_labels_and_return_in_scenarios():
    code = scenario("again:\n  spin_lock(L);\n  if (need_resched()) goto again;\nout: return;")
    assert code == (
        Label("again"), Call("spin_lock", ("L",)),
        If(CallExpr("need_resched"), (Goto("again"),)),
        Label("out"), Return(),
    )
    assert positions(code)[:3] == [("Label", 1, 1), ("Call", 2, 3), ("arg", 2, 13)]
    assert positions(code)[-2:] == [("Label", 4, 1), ("Return", 4, 6)]


def test_for_ever_and_do_while_in_scenarios():
    assert scenario("for (;;) { work(); }") == (Forever((Call("work"),)),)
    assert scenario("do { work(); } while (*);") == (
        Forever((Call("work"), If(Not(Nondet()), (Break(),)))),)


@pytest.mark.parametrize("text", ["if (*) work();", "if (nondet()) work();"])
def test_nondet_guards(text):
    assert scenario(text) == (If(Nondet(), (Call("work"),)),)


def test_nondet_inside_conditions():
    (stmt,) = scenario("while (need_resched() && *) work();")
    assert stmt.cond == And(CallExpr("need_resched"), Nondet())


def test_lock_expressions_resolve_through_aliases():
    aliases = {"&inode->i_lock": "i_lock", "&zone.lock": "zone_lock", "ptl": "pte_lock"}
    code = parse_code("spin_lock(& inode -> i_lock); spin_lock(&zone.lock);\n"
                      "spin_unlock_irqrestore(ptl, flags);", file="s.toml", aliases=aliases)
    assert [c.args for c in code] == [("i_lock",), ("zone_lock",), ("pte_lock", "flags")]
    assert positions(code)[1] == ("arg", 1, 11)


def test_unmapped_lock_expression_is_an_error():
    assert error_of("spin_lock(&kvm->mmu_lock);") == (
        "s.toml:10:11: lock expression '&kvm->mmu_lock' names no declared lock\n"
        '  hint: map it to a lock in [locks]: mmu_lock = { kind = "spin", '
        'expr = ["&kvm->mmu_lock"] }')
