"""Kernel C bodies of the lock-break primitives, found in a kernel tree and translated into the
era language.

A primitive is found by the kernel names and files of `model.cfront.primitive_table`, read with
tree-sitter, and translated statement by statement with that table's vocabulary. A definition
under ``#if`` alternatives becomes one body that tests the configuration the way the bundled
eras do (``if (IS_ENABLED(CONFIG_PREEMPTION)) ...``, folded per scenario by `model.compile`);
helpers such as ``should_resched()`` are expanded where they are called. A primitive that is
missing, or a construct the table does not cover, is a `ScenarioError` naming what and where.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tree_sitter import Node

from lockbreak.core import ScenarioError
from model.cfront.config_guard import FALSE, TRUE, Guard, disjoin, guard_of, negate, symbol
from model.cfront.parse import CSource, not_understood, walk
from model.cfront.primitive_files import Def, KernelFiles, Origin, find_definitions
from model.cfront.primitive_table import (
    CONSTANT_ALIASES,
    CONSTANTS,
    DROPPED,
    HELPERS,
    KEPT,
    MIGHT_SLEEP_CHECKS,
    PREEMPT_WORD,
    PREEMPT_WORD_READS,
    RENAMED,
    SCHED_H,
    TRANSPARENT,
    Definition,
)
from model.lang.parser import parse_code

INDENT = "    "
BINARY = ("&&", "||", "==", "!=", "<", "<=", ">", ">=")
VALUE_TYPES = ("int", "bool", "long", "unsigned", "unsigned int", "unsigned long")


@dataclass
class _Scope:
    """What the C names of one body stand for in the era language."""

    lock: str | None                       # the C name of the lock parameter
    values: dict[str, str] = field(default_factory=dict)    # parameters bound to text
    locals: set[str] = field(default_factory=set)


class _Translator:
    """Translates the definitions of one era primitive into one era-language body."""

    def __init__(self, tree: KernelFiles, primitive: str) -> None:
        self.tree, self.primitive = tree, primitive
        self.helpers: list[Origin] = []
        self.expanding: list[str] = []
        self.assumed: list[Guard] = []         # the configurations tested around this point

    # ------------------------------------------------------------ functions

    def function(self, defs: list[Def], depth: int) -> list[str]:
        """The body of a function defined once or under ``#if`` alternatives."""
        live = [d for d in defs if d.guard != FALSE]
        if not live:
            d = defs[0]
            raise d.source.error(d.node, f"{self.primitive}: every definition is under a "
                                 "configuration the model never builds",
                                 "see FIXED_CONFIG in model/cfront/primitive_table.py")
        lines: list[str] = []
        closing, covered = 0, FALSE
        for d in live:
            pad = INDENT * (depth + closing)
            if d.guard.constant is True or d.guard in self.assumed or d.guard == negate(covered):
                lines += self.body(d, depth + closing)
                break
            self.assumed.append(d.guard)
            lines.append(f"{pad}if ({d.guard.c_text()}) {{")
            lines += self.body(d, depth + closing + 1)
            self.assumed.pop()
            lines.append(f"{pad}}} else {{")
            covered = disjoin(covered, d.guard)
            closing += 1
        else:
            lines[-1] = lines[-1][:-len(" else {")]
            closing -= 1
        for level in range(closing - 1, -1, -1):
            lines.append(f"{INDENT * (depth + level)}}}")
        return lines

    def body(self, d: Def, depth: int) -> list[str]:
        bad = not_understood(d.body)
        if bad:
            raise d.source.error(bad[0], f"not understood in {self.primitive}: "
                                 f"{d.source.text(bad[0])[:60]!r}",
                                 "tree-sitter could not read this construct")
        return self.block(d.source, d.body, _Scope(lock=d.params[0] if d.params else None),
                          depth)

    # ------------------------------------------------------------ statements

    def block(self, source: CSource, node: Node, scope: _Scope, depth: int) -> list[str]:
        lines: list[str] = []
        for child in node.named_children:
            lines += self.stmt(source, child, scope, depth)
        return lines

    def stmt(self, source: CSource, node: Node, scope: _Scope, depth: int) -> list[str]:
        pad = INDENT * depth
        kind = node.type
        if kind == "comment":
            return []
        if kind == "compound_statement":
            return self.block(source, node, scope, depth)
        if kind == "declaration":
            return self.declaration(source, node, scope, pad)
        if kind == "expression_statement":
            return self.expression_stmt(source, node, scope, depth)
        if kind == "if_statement":
            cond = node.child_by_field_name("condition")
            then = node.child_by_field_name("consequence")
            other = node.child_by_field_name("alternative")
            assert cond is not None and then is not None
            lines = [f"{pad}if ({self.expr(source, cond, scope)}) {{"]
            lines += self.stmt(source, then, scope, depth + 1)
            if other is not None:
                lines.append(f"{pad}}} else {{")
                for part in other.named_children:
                    lines += self.stmt(source, part, scope, depth + 1)
            return [*lines, f"{pad}}}"]
        if kind == "return_statement":
            return self.return_stmt(source, node, scope, depth)
        if kind == "for_statement" and not any(
                node.child_by_field_name(f) for f in ("initializer", "condition", "update")):
            loop = node.child_by_field_name("body")
            assert loop is not None
            return [f"{pad}for (;;) {{", *self.stmt(source, loop, scope, depth + 1), f"{pad}}}"]
        if kind == "while_statement":
            cond, loop = node.child_by_field_name("condition"), node.child_by_field_name("body")
            assert cond is not None and loop is not None
            return [f"{pad}while ({self.expr(source, cond, scope)}) {{",
                    *self.stmt(source, loop, scope, depth + 1), f"{pad}}}"]
        if kind in ("break_statement", "continue_statement"):
            return [f"{pad}{kind.split('_')[0]};"]
        if kind in ("preproc_if", "preproc_ifdef", "preproc_else", "preproc_elif"):
            return self.conditional(source, node, scope, depth)
        raise source.error(node, f"{self.primitive}: a {kind.replace('_', ' ')} is not "
                           "understood here", "the lock-break primitives' bodies may use "
                           "declarations, calls, assignments, if, for (;;), while and return")

    def declaration(self, source: CSource, node: Node, scope: _Scope, pad: str) -> list[str]:
        kind = node.child_by_field_name("type")
        if kind is None or source.text(kind) not in VALUE_TYPES:
            raise source.error(node, f"{self.primitive}: only int-valued locals are understood")
        lines = []
        for declarator in node.children_by_field_name("declarator"):
            name_node = declarator.child_by_field_name("declarator") or declarator
            value = declarator.child_by_field_name("value")
            name = source.text(name_node)
            if not re.fullmatch(r"[A-Za-z_]\w*", name):
                raise source.error(declarator, f"{self.primitive}: declaration not understood")
            scope.locals.add(name)
            init = self.expr(source, value, scope) if value is not None else "0"
            lines.append(f"{pad}int {name} = {init};")
        return lines

    def expression_stmt(self, source: CSource, node: Node, scope: _Scope,
                        depth: int) -> list[str]:
        pad = INDENT * depth
        if not node.named_children:
            return []
        inner = node.named_children[0]
        if inner.type == "parenthesized_expression" and inner.named_children and \
                inner.named_children[0].type == "compound_statement":
            return self.block(source, inner.named_children[0], scope, depth)   # ({ ... })
        if inner.type == "call_expression":
            name = self.callee(source, inner)
            if name in DROPPED:
                return []
            if name in MIGHT_SLEEP_CHECKS:
                args = inner.child_by_field_name("arguments")
                offset = args.named_children[-1] if args is not None else None
                if offset is None:
                    raise source.error(inner, f"{self.primitive}: {name}() without its "
                                       "preempt_count offset")
                return [f"{pad}{MIGHT_SLEEP_CHECKS[name]}({self.expr(source, offset, scope)});"]
            if name in HELPERS:
                raise source.error(inner, f"{self.primitive}: {name}() is expanded only "
                                   "where its value is returned or tested")
            return [f"{pad}{self.expr(source, inner, scope)};"]
        if inner.type == "assignment_expression":
            left, right = inner.child_by_field_name("left"), inner.child_by_field_name("right")
            op = inner.child_by_field_name("operator")
            assert left is not None and right is not None
            if op is None or op.type != "=":
                raise source.error(inner, f"{self.primitive}: only plain = assignments "
                                   "are understood")
            return [f"{pad}{self.target(source, left, scope)} = "
                    f"{self.expr(source, right, scope)};"]
        raise source.error(inner, f"{self.primitive}: expression statement not understood: "
                           f"{source.text(inner)[:60]!r}")

    def return_stmt(self, source: CSource, node: Node, scope: _Scope, depth: int) -> list[str]:
        pad = INDENT * depth
        value = node.named_children[0] if node.named_children else None
        if value is None:
            return [f"{pad}return;"]
        call = _unwrapped(value)
        if call.type == "call_expression":
            name = self.callee(source, call)
            if name in HELPERS and not self.is_expression(name):
                self.enter(name)
                found, defs = self.tree.find(f"{name}() (called by {self.primitive})",
                                             HELPERS[name])
                self.helpers.append(Origin(self.primitive, found, tuple(d.place for d in defs)))
                lines = self.function(defs, depth)
                self.expanding.pop()
                return lines
        return [f"{pad}return {self.expr(source, value, scope)};"]

    def conditional(self, source: CSource, node: Node, scope: _Scope,
                    depth: int) -> list[str]:
        """``#if`` inside a body: each branch under its configuration. A branch never built
        is not read; one that translates to nothing (only dropped calls) needs no decision."""
        out: list[str] = []
        pad = INDENT * depth
        part: Node | None = node
        while part is not None:
            alternative = part.child_by_field_name("alternative")
            skip = {part.child_by_field_name(f) for f in ("condition", "name")} | {alternative}
            problem: ScenarioError | None = None
            try:
                guard = guard_of(source, _first_body_node(part), stop=node.parent)
            except ScenarioError as err:
                guard, problem = TRUE, err
            if guard != FALSE:
                lines = [line for child in part.named_children if child not in skip
                         for line in self.stmt(source, child, scope, depth + 1)]
                if lines and problem is not None:
                    raise problem
                if guard.constant is True:
                    out += lines
                elif lines:
                    out += [f"{pad}if ({guard.c_text()}) {{", *lines, f"{pad}}}"]
            part = alternative
        return out

    # ------------------------------------------------------------ expressions

    def callee(self, source: CSource, call: Node) -> str:
        function = call.child_by_field_name("function")
        if function is None or function.type != "identifier":
            raise source.error(call, f"{self.primitive}: a call through "
                               f"{source.text(function or call)[:40]!r} is not understood",
                               "calls must name a function of the primitive vocabulary in "
                               "model/cfront/primitive_table.py")
        return source.text(function)

    def is_expression(self, name: str) -> bool:
        """True for a helper whose every definition is a single ``return EXPR;``."""
        _, defs = self.tree.find(f"{name}() (called by {self.primitive})", HELPERS[name])
        return all(_single_return(d) is not None for d in defs)

    def enter(self, name: str) -> None:
        if name in self.expanding:
            raise ScenarioError(f"{self.primitive}: {name}() calls itself through "
                                f"{' -> '.join(self.expanding)}", file=self.tree.shown)
        self.expanding.append(name)

    def target(self, source: CSource, node: Node, scope: _Scope) -> str:
        if node.type == "identifier" and source.text(node) in scope.locals:
            return source.text(node)
        return self.expr(source, node, scope)

    def expr(self, source: CSource, node: Node, scope: _Scope) -> str:
        kind = node.type
        text = source.text(node)
        if kind == "parenthesized_expression" and node.named_children:
            return self.expr(source, node.named_children[0], scope)
        if kind == "number_literal":
            return _number(source, node)
        if kind in ("true", "false"):
            return "1" if kind == "true" else "0"
        if kind == "identifier":
            if text in scope.values:
                return scope.values[text]
            if text in scope.locals or text in CONSTANTS:
                return text
            if text in CONSTANT_ALIASES:
                return CONSTANT_ALIASES[text]
            if text == scope.lock:
                return "lock"
            raise source.error(node, f"{self.primitive}: unknown name {text!r}",
                               "a body may use its locals, its lock parameter and "
                               + ", ".join(sorted(CONSTANTS)))
        if kind == "field_expression" and self.lock_arg(source, node, scope):
            name = node.child_by_field_name("field")
            if name is not None and source.text(name) == "break_lock":
                return "lock->break_lock"
        if kind == "unary_expression" and text.startswith("!"):
            argument = node.child_by_field_name("argument")
            assert argument is not None
            inner = self.expr(source, argument, scope)
            return f"!{_grouped(inner)}"
        if kind == "binary_expression":
            op = node.child_by_field_name("operator")
            left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
            if op is not None and op.type in BINARY and left is not None and right is not None:
                word = self.preempt_word_test(source, op.type, left, right, scope)
                if word is not None:
                    return word
                return (f"{_grouped(self.expr(source, left, scope))} {op.type} "
                        f"{_grouped(self.expr(source, right, scope))}")
        if kind == "call_expression":
            return self.call(source, node, scope)
        raise source.error(node, f"{self.primitive}: expression not understood: {text[:60]!r}",
                           "a body may test calls of the primitive vocabulary, locals, "
                           "!, &&, || and comparisons")

    def preempt_word_test(self, source: CSource, op: str, left: Node, right: Node,
                          scope: _Scope) -> str | None:
        """x86's ``raw_cpu_read_4(__preempt_count) == OFFSET`` (the word holds need_resched
        inverted) as the count and the flag it tests; None when neither side reads the word."""
        if self.reads_preempt_word(source, right):
            left, right = right, left
        if not self.reads_preempt_word(source, left):
            return None
        if op not in ("==", "!="):
            raise source.error(left, f"{self.primitive}: the x86 preempt word is understood "
                               "only compared with == or != to an offset")
        test = f"preempt_count() == {_grouped(self.expr(source, right, scope))} && need_resched()"
        return f"({test})" if op == "==" else f"!({test})"

    def reads_preempt_word(self, source: CSource, node: Node) -> bool:
        node = _unwrapped(node)
        if node.type != "call_expression" or self.callee(source, node) not in PREEMPT_WORD_READS:
            return False
        args = node.child_by_field_name("arguments")
        return (args is not None and len(args.named_children) == 1
                and source.text(args.named_children[0]) == PREEMPT_WORD)

    def call(self, source: CSource, node: Node, scope: _Scope) -> str:
        name = self.callee(source, node)
        args_node = node.child_by_field_name("arguments")
        args = args_node.named_children if args_node is not None else []
        if name in TRANSPARENT and len(args) == 1:
            return self.expr(source, args[0], scope)
        if name in HELPERS:
            return self.expand(source, node, name, args, scope)
        if name == "IS_ENABLED" and len(args) == 1:
            return symbol(source, args[0]).c_text()
        era_name = RENAMED.get(name, name)
        if era_name not in KEPT and name not in RENAMED:
            raise source.error(node, f"{self.primitive}: {name}() is not in the primitive "
                               "vocabulary", "add it to KEPT, RENAMED or DROPPED in "
                               "model/cfront/primitive_table.py if the model has a meaning "
                               "for it")
        texts = ["lock" if self.lock_arg(source, a, scope) else self.expr(source, a, scope)
                 for a in args]
        return f"{era_name}({', '.join(texts)})"

    def expand(self, source: CSource, node: Node, name: str, args: list[Node],
               scope: _Scope) -> str:
        """A helper's single ``return EXPR;`` with its parameters bound to the arguments."""
        found, defs = self.tree.find(f"{name}() (called by {self.primitive})", HELPERS[name])
        live = [d for d in defs if d.guard != FALSE]
        values = [_single_return(d) for d in live]
        if len(live) != 1 or values[0] is None:
            raise source.error(node, f"{self.primitive}: {name}() is expanded only when it is "
                               "one `return EXPR;` in every configuration the model builds")
        d = live[0]
        if len(d.params) != len(args):
            raise source.error(node, f"{self.primitive}: {name}() takes {len(d.params)} "
                               f"arguments, called with {len(args)}")
        self.enter(name)
        bound = {p: ("lock" if self.lock_arg(source, a, scope) else self.expr(source, a, scope))
                 for p, a in zip(d.params, args, strict=True)}
        self.helpers.append(Origin(self.primitive, found, (d.place,)))
        value = values[0]
        assert value is not None
        text = self.expr(d.source, value, _Scope(lock=None, values=bound))
        self.expanding.pop()
        return text

    def lock_arg(self, source: CSource, node: Node, scope: _Scope) -> bool:
        """True when ``node`` names the lock parameter: ``lock``, ``&lock->rlock``,
        ``&(lock)->raw_lock``."""
        if scope.lock is None and "lock" not in scope.values.values():
            return False
        while node.type in ("pointer_expression", "parenthesized_expression",
                            "field_expression"):
            inner = node.child_by_field_name("argument") or (
                node.named_children[0] if node.named_children else None)
            if inner is None:
                return False
            node = inner
        if node.type != "identifier":
            return False
        text = source.text(node)
        return text == scope.lock or scope.values.get(text) == "lock"


def _number(source: CSource, node: Node) -> str:
    text = source.text(node).rstrip("uUlL")
    try:
        return str(int(text, 8) if re.fullmatch(r"0[0-7]+", text) else int(text, 0))
    except ValueError:
        raise source.error(node, f"number not understood: {text!r}") from None


def _unwrapped(node: Node) -> Node:
    while node.type == "parenthesized_expression" and node.named_children:
        node = node.named_children[0]
    return node


def _grouped(text: str) -> str:
    return f"({text})" if " " in text and not (text.startswith("(") and text.endswith(")")
                                                and _balanced(text[1:-1])) else text


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def _single_return(d: Def) -> Node | None:
    stmts = [c for c in d.body.named_children if c.type != "comment"]
    if len(stmts) == 1 and stmts[0].type == "return_statement" and stmts[0].named_children:
        return stmts[0].named_children[0]
    return None


def _first_body_node(part: Node) -> Node:
    skip = {part.child_by_field_name(f) for f in ("condition", "name", "alternative")}
    for child in part.named_children:
        if child not in skip:
            return child
    return part


@dataclass(frozen=True)
class Translated:
    """One primitive's body in the era language, and where it came from."""

    origin: Origin
    helpers: tuple[Origin, ...]          # functions expanded into it
    body: str

    @property
    def place(self) -> tuple[str, int, int]:
        """``(file, line, col)`` of the first definition used."""
        return self.origin.places[0]


def _might_sleep_check(files: KernelFiles, translator: _Translator, macro: str) -> list[str]:
    """The might-sleep check (`__might_resched(__FILE__, __LINE__, offset)`) of the macro
    ``macro`` of include/linux/sched.h that wraps a lock-break function, as the era language
    writes it; nothing when the tree has no such macro or it checks nothing."""
    source = files.source(SCHED_H[0])
    if source is None:
        return []
    for d in find_definitions(source, macro):
        if d.guard == FALSE:
            continue
        for node in walk(d.body):
            if node.type != "call_expression":
                continue
            name = translator.callee(d.source, node)
            args = node.child_by_field_name("arguments")
            if name in MIGHT_SLEEP_CHECKS and args is not None and args.named_children:
                offset = translator.expr(d.source, args.named_children[-1], _Scope(lock=None))
                return [f"{MIGHT_SLEEP_CHECKS[name]}({offset});\n"]
    return []


def translate(files: KernelFiles, primitive: str, definition: Definition) -> Translated:
    """The tree's definition of ``primitive`` as an era-language body."""
    translator = _Translator(files, primitive)
    found, defs = files.find(primitive, definition)
    body = "\n".join(translator.function(defs, 0)) + "\n"
    if definition.checked_by is not None:
        body = "".join(_might_sleep_check(files, translator, definition.checked_by)) + body
    origin = Origin(primitive, found, tuple(d.place for d in defs if d.guard != FALSE))
    file, line, col = origin.places[0]
    try:
        parse_code(body, file=file, line=line, col=col, mode="era")
    except ScenarioError as err:
        raise ScenarioError(f"{primitive}: the translation of {found}() does not read as the "
                            f"era language ({err.message})", file=file, line=line,
                            col=col) from None
    return Translated(origin, tuple(translator.helpers), body)
