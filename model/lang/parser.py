"""Parse the C-like kernel code of scenarios and era bodies into `model.lang.ast` trees.

One lark grammar (``grammar.lark``) accepts both languages. In ``"scenario"`` mode the
constructs that only era bodies need (assignments, ``return`` with a value, comparisons)
are rejected with a message that says so; in ``"era"`` mode they are built. Every node's
`Pos` is a position in the file the code came from, and every syntax error becomes a
`ScenarioError` at ``file:line:col`` saying what was expected.

Scenario code is written as the kernel writes it::

    again:
        spin_lock(&inode->i_lock);          // a lock expression, mapped in [locks]
        for (;;) {                          // or forever { }, while (c) { }, repeat (N) { }
            if (*)                          // a guard the model cannot see: either way
                break;
            if (need_resched() || spin_needbreak(&inode->i_lock)) {
                spin_unlock(&inode->i_lock);
                cond_resched();
                goto again;                 // goto NAME; to a label of this or an outer block
            }
        }
        do { work(); } while (nondet());    // nondet() is *
        spin_unlock(&inode->i_lock);
        return;                             // ends the CPU's code path

Scenario parameters (the ``[params]`` table) are resolved here: a name in a ``repeat``
count, or a call argument that names a parameter (``work(n)``), becomes its value, so the
rest of the model only ever sees numbers. Lock expressions are resolved the same way, by
the scenario's map from C expressions to declared locks (``aliases``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from itertools import takewhile
from pathlib import Path
from typing import Any, Literal

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from lark.lexer import PatternStr

from lockbreak.core import ScenarioError
from model.lang import unsupported
from model.lang.ast import (
    And,
    Assign,
    Break,
    Call,
    CallExpr,
    Compare,
    Const,
    Continue,
    Expr,
    Field,
    Forever,
    Goto,
    If,
    Label,
    Nondet,
    Not,
    Or,
    Pos,
    Repeat,
    Restart,
    Return,
    Stmt,
    Var,
    While,
)
from model.lang.limits import MAX_CONDITION, MAX_COUNT, MAX_NESTING

Mode = Literal["scenario", "era"]

_CONDITION_HINT = ("conditions are calls such as need_resched() or spin_needbreak(L), "
                   "combined with !, && and ||")


@cache
def _lark() -> Lark:
    grammar = Path(__file__).with_name("grammar.lark").read_text()
    return Lark(grammar, parser="lalr", lexer="basic", propagate_positions=True,
                maybe_placeholders=True)


def parse_code(text: str, *, file: str, line: int = 1, col: int = 1,
               mode: Mode = "scenario",
               params: Mapping[str, int] | None = None,
               aliases: Mapping[str, str] | None = None) -> tuple[Stmt, ...]:
    """Parse kernel C code into statements whose positions are positions in ``file``.

    Parameters
    ----------
    text
        The code: a scenario CPU's program or an era primitive's body.
    file
        The file the code came from, for positions and error messages.
    line, col
        Where ``text`` starts in ``file`` (1-based), so code embedded in a TOML string
        gets positions in the TOML file.
    mode
        ``"scenario"`` for the scenario language of docs/semantics.md section 7, ``"era"`` for
        era bodies, which may also assign, return and compare.
    params
        The scenario's ``[params]``: each name may stand for its value as a ``repeat``
        count or as a call argument.
    aliases
        The scenario's lock expressions: ``{"&inode->i_lock": "i_lock"}``. A call argument
        written as one of them becomes the lock's name.

    Returns
    -------
    tuple of Stmt
        The statements, with ``{ }`` blocks flattened into their enclosing list.

    Raises
    ------
    ScenarioError
        On a syntax error, on an era-only construct in scenario mode, on a ``repeat``
        count that names no parameter, or on a lock expression the scenario maps to no lock.

    Examples
    --------
    >>> parse_code("spin_lock(B);", file="a.toml", line=4)
    (Call(name='spin_lock', args=('B',), pos=Pos(line=4, col=1), arg_pos=(Pos(line=4, col=11),)),)
    >>> parse_code("repeat (n) work(n);", file="a.toml", params={"n": 2})[0].count
    2
    >>> parse_code("spin_lock(&kvm->mmu_lock);", file="a.toml",
    ...            aliases={"&kvm->mmu_lock": "mmu_lock"})[0].args
    ('mmu_lock',)
    """
    if mode not in ("scenario", "era"):
        raise ValueError(f"mode must be 'scenario' or 'era', not {mode!r}")
    where = _Where(file, line, col)
    try:
        tree = _lark().parse(text)
    except UnexpectedInput as err:
        raise _syntax_error(err, text, where, mode) from None
    _check_nesting(tree, where)
    return _Builder(where, mode, params or {}, aliases or {}).stmts(tree.children)


_COMPOUND = frozenset({"repeat", "while_", "forever", "for_ever", "do_while", "if_"})
_CONDITION_OPERATORS = frozenset({"and_", "or_", "not_", "compare"})


def _check_nesting(tree: Tree, where: _Where) -> None:
    """Refuse code nested deeper than `MAX_NESTING` statements, or a condition of more than
    `MAX_CONDITION` operands.

    Everything after the parse walks the code recursively; this walk does not (lark's LALR
    parser builds the tree without recursing), so it runs before them. A block that is a
    loop's or an if's body is part of that statement, not a level of its own.
    """
    stack: list[tuple[Tree, int, int, bool]] = [(tree, 0, 0, False)]
    while stack:
        node, nesting, operators, is_body = stack.pop()
        if node.data in _COMPOUND or (node.data == "block" and not is_body):
            nesting += 1
            if nesting > MAX_NESTING:
                raise where.error(f"statements nested more than {MAX_NESTING} deep",
                                  node.meta.line, node.meta.column,
                                  f"the limit is {MAX_NESTING} levels; move the inner part "
                                  "into a loop of its own or flatten it")
        elif node.data in _CONDITION_OPERATORS:
            operators += 1
            if operators >= MAX_CONDITION:     # k operands nest k - 1 operators deep
                raise where.error(f"a condition of more than {MAX_CONDITION} operands",
                                  node.meta.line, node.meta.column,
                                  f"the limit is {MAX_CONDITION} operands of &&, || and ! in "
                                  "one chain; split the condition over nested ifs")
        body = node.data in _COMPOUND
        stack.extend((kid, nesting, operators, body) for kid in node.children
                     if isinstance(kid, Tree))


@dataclass(frozen=True)
class _Where:
    """Maps positions in the code text to positions in its file."""

    file: str
    line: int
    col: int

    def pos(self, line: int, col: int) -> Pos:
        return Pos(self.line + line - 1, col + (self.col - 1 if line == 1 else 0))

    def error(self, message: str, line: int, col: int, hint: str = "") -> ScenarioError:
        at = self.pos(line, col)
        return ScenarioError(message, file=self.file, line=at.line, col=at.col, hint=hint)


class _Builder:
    """Builds AST nodes from the lark tree, refusing era-only constructs in scenario mode and
    replacing parameter names by their values."""

    def __init__(self, where: _Where, mode: Mode, params: Mapping[str, int],
                 aliases: Mapping[str, str]) -> None:
        self.where, self.mode, self.params, self.aliases = where, mode, params, aliases

    def at(self, node: Tree | Token) -> Pos:
        if isinstance(node, Token):
            return self.where.pos(node.line or 0, node.column or 0)
        return self.where.pos(node.meta.line, node.meta.column)

    def era_only(self, node: Tree, message: str, hint: str) -> None:
        if self.mode == "scenario":
            at = self.at(node)
            raise ScenarioError(message, file=self.where.file, line=at.line, col=at.col,
                                hint=hint)

    def stmts(self, trees: Iterable[Any]) -> tuple[Stmt, ...]:
        return tuple(s for tree in trees for s in self.stmt(tree))

    def stmt(self, tree: Tree) -> tuple[Stmt, ...]:
        pos, kids = self.at(tree), _children(tree)
        match tree.data:
            case "block":
                return self.stmts(kids)
            case "call_stmt":
                name, args, arg_pos = self.call(kids[0])
                return (Call(name, args, pos, arg_pos),)
            case "repeat":
                return (Repeat(self.count(kids[0].children[0]), self.stmt(kids[1]), pos),)
            case "while_":
                return (While(self.expr(kids[0]), self.stmt(kids[1]), pos),)
            case "forever":
                return (Forever(self.stmt(kids[0]), pos),)
            case "if_":
                orelse = () if kids[2] is None else self.stmt(kids[2])
                return (If(self.expr(kids[0]), self.stmt(kids[1]), orelse, pos),)
            case "break_":
                return (Break(pos),)
            case "continue_":
                return (Continue(pos),)
            case "restart":
                return (Restart(pos),)
            case "goto":
                return (Goto(str(kids[0].children[0]), pos),)
            case "labeled":
                return (Label(str(kids[0].children[0]), pos), *self.stmt(kids[1]))
            case "for_ever":
                return (Forever(self.stmt(kids[0]), pos),)
            case "do_while":
                return (self.do_while(kids[0], kids[1], pos),)
        return self.era_stmt(tree, pos)

    def era_stmt(self, tree: Tree, pos: Pos) -> tuple[Stmt, ...]:
        kids = _children(tree)
        match tree.data:
            case "return_":
                if kids[0] is not None:
                    self.era_only(tree, "a scenario's code path returns no value",
                                  "write return; to end the CPU's code path here")
                return (Return(None if kids[0] is None else self.expr(kids[0]), pos),)
            case "declare" | "assign":
                self.era_only(tree, "assignments are not part of the scenario language; "
                              "scenario code only calls kernel functions",
                              "only era bodies assign; a scenario calls spin_lock(L), work(), "
                              "cond_resched_lock(L), ...")
                target = (Var(str(kids[0]), self.at(kids[0])) if tree.data == "declare"
                          else self.lvalue(kids[0]))
                return (Assign(target, self.expr(kids[1]), pos),)
        raise AssertionError(f"grammar rule {tree.data} has no builder")

    def do_while(self, body_tree: Tree, cond_tree: Tree, pos: Pos) -> Forever:
        """``do B while (c);`` as ``for (;;) { B if (!c) break; }``."""
        body = self.stmt(body_tree)
        stray = _loop_continue(body)
        if stray is not None:
            raise ScenarioError(
                "continue inside do { } while is not supported", file=self.where.file,
                line=stray.line, col=stray.col,
                hint="do-while is lowered to for (;;) with a trailing test, which continue "
                     "would skip; write the loop as for (;;) { ... }")
        cond = self.expr(cond_tree)
        cpos = self.at(cond_tree)
        return Forever((*body, If(Not(cond, cpos), (Break(cpos),), (), cpos)), pos)

    def count(self, token: Token) -> int:
        """A ``repeat`` count: a number, or the name of a parameter."""
        at = self.at(token)
        if token.type == "NUMBER" or str(token) in self.params:
            count = _number(token) if token.type == "NUMBER" else self.params[str(token)]
            if count > MAX_COUNT:
                raise ScenarioError(f"repeat ({token}): {count} is more than {MAX_COUNT}",
                                    file=self.where.file, line=at.line, col=at.col,
                                    hint=f"the limit is {MAX_COUNT} rounds; each one adds "
                                    "states to explore")
            return count
        declared = ", ".join(self.params) or "none"
        raise ScenarioError(
            f"repeat ({token}): '{token}' is not a parameter; declared: {declared}",
            file=self.where.file, line=at.line, col=at.col,
            hint="era bodies take no parameters: write a number" if self.mode == "era"
            else f"declare it in the scenario's [params] table, e.g. {token} = 3, "
                 "or write a number")

    def lvalue(self, tree: Tree) -> Var | Field:
        obj = self.expr(tree)
        assert isinstance(obj, Var | Field)
        return obj

    def call(self, tree: Tree) -> tuple[str, tuple[str | int, ...], tuple[Pos, ...]]:
        name, *args = _children(tree)
        toks = [_arg_token(a) for a in args if a is not None]
        values = tuple(self.argument(a) for a in toks)
        return str(name), values, tuple(self.at(a) for a in toks)

    def argument(self, token: Token) -> str | int:
        """A call argument: a number, a parameter's value, or a lock by name or expression."""
        text = str(token)
        if token.type in ("NUMBER", "NEG_NUMBER"):
            return _number(token)
        if text in self.aliases:
            return self.aliases[text]
        if token.type == "LOCK_EXPR":
            at = self.at(token)
            lock = text.lstrip("&*(").split("->")[-1].split(".")[-1]
            hint = (f'map it to a lock in [locks]: {lock} = {{ kind = "spin", '
                    f'expr = ["{text}"] }}' if self.mode == "scenario"
                    else "a primitive's lock parameter is called lock")
            raise ScenarioError(f"lock expression '{text}' names no declared lock",
                                file=self.where.file, line=at.line, col=at.col, hint=hint)
        return self.params.get(text, text)

    def expr(self, tree: Tree) -> Expr:
        pos, kids = self.at(tree), _children(tree)
        match tree.data:
            case "call":
                name, args, arg_pos = self.call(tree)
                if name == "nondet" and not args:
                    return Nondet(pos)
                return CallExpr(name, args, pos, arg_pos)
            case "nondet":
                return Nondet(pos)
            case "not_":
                return Not(self.expr(kids[0]), pos)
            case "and_":
                return And(self.expr(kids[0]), self.expr(kids[1]), pos)
            case "or_":
                return Or(self.expr(kids[0]), self.expr(kids[1]), pos)
        return self.era_expr(tree, pos)

    def era_expr(self, tree: Tree, pos: Pos) -> Expr:
        kids = _children(tree)
        match tree.data:
            case "compare":
                self.era_only(tree, "comparisons are not part of the scenario language",
                              _CONDITION_HINT)
                return Compare(str(kids[1]), self.expr(kids[0]), self.expr(kids[2]), pos)
            case "var":
                self.era_only(tree, f"'{kids[0]}' is not a condition", _CONDITION_HINT)
                return Var(str(kids[0]), pos)
            case "field":
                self.era_only(tree, f"lock fields such as {kids[0]}->{kids[1]} are not "
                              "visible to scenario code",
                              f"test need_lockbreak({kids[0]}) or spin_needbreak({kids[0]}) "
                              "instead")
                return Field(str(kids[0]), str(kids[1]), pos)
            case "const":
                self.era_only(tree, "constants are not conditions in the scenario language",
                              "write forever { ... } for an endless loop; " + _CONDITION_HINT)
                return Const(_number(kids[0]), pos)
        raise AssertionError(f"grammar rule {tree.data} has no builder")


def _children(tree: Tree) -> list[Any]:
    """A node's children: subtrees, tokens, and None for an absent optional part."""
    return tree.children


def _arg_token(arg: Tree | Token) -> Token:
    """A call argument's token; a keyword used as a name (``work(repeat)``) comes wrapped in
    its own rule, and a lock expression (``&inode->i_lock``) becomes one ``LOCK_EXPR`` token
    of its text, at its ``&``."""
    if isinstance(arg, Tree) and arg.data == "lock_expr":
        first = arg.children[0]
        assert isinstance(first, Token)
        return Token.new_borrow_pos("LOCK_EXPR", "".join(map(str, arg.children)), first)
    token = arg.children[0] if isinstance(arg, Tree) else arg
    assert isinstance(token, Token)
    return token


def _number(token: Token) -> int:
    text = str(token)
    return int(text, 16) if text[:2].lower() == "0x" else int(text)


def _loop_continue(body: Sequence[Stmt]) -> Pos | None:
    """The position of a ``continue`` that belongs to the loop whose body is ``body``."""
    for stmt in body:
        if isinstance(stmt, Continue):
            return stmt.pos
        if isinstance(stmt, If):
            found = _loop_continue(stmt.then) or _loop_continue(stmt.orelse)
            if found is not None:
                return found
    return None


# ------------------------------------------------------------------ syntax errors

_STATEMENT_STARTS = frozenset({"if", "while", "repeat", "forever", "for", "do", "break",
                               "continue", "restart", "return", "goto", "int", "{", "NAME"})
_EXPR_STARTS = frozenset({"NAME", "NUMBER", "!", "(", "*"})
_OPERATORS = frozenset({"||", "&&", "->", "EQ_OP", "REL_OP", "=", ":", "."})
_WORDS = {"NAME": "a name", "NUMBER": "a number", "NEG_NUMBER": "a number",
          "EQ_OP": "a comparison", "REL_OP": "a comparison", "$END": "the end of the code"}


def _syntax_error(err: UnexpectedInput, text: str, where: _Where,
                  mode: Mode) -> ScenarioError:
    """Turn a lark exception into a plain-words `ScenarioError` at the right position."""
    if isinstance(err, UnexpectedCharacters):
        at = err.pos_in_stream or 0
        if text.startswith("/*", at):
            return where.error("this /* comment is never closed", err.line, err.column,
                               "close it with */")
        return where.error(f"unexpected character '{text[at]}'", err.line, err.column,
                           unsupported.at_character(text, at))
    if not isinstance(err, UnexpectedToken):
        end = _end_of(list(_lark().lex(text)))
        return where.error("unexpected end of code", *end)
    tok = err.token
    # lark's expected set is the LALR lookahead of a reduction, looser than the truth
    expected = err.interactive_parser.accepts() if err.interactive_parser else err.expected
    at_end = tok.type == "$END"
    before = list(takewhile(lambda t: at_end or (t.start_pos or 0) < (tok.start_pos or 0),
                            _lark().lex(text)))
    kernel_c = unsupported.at_token(before, tok)
    if kernel_c is not None:
        message, at_token, hint = kernel_c
        return where.error(message, at_token.line or 0, at_token.column or 0, hint)
    if tok.type == "RBRACE" and "$END" in expected:
        return where.error("'}' without a matching '{'", tok.line or 0, tok.column or 0)
    if at_end and "RBRACE" in expected:
        brace = _unclosed_brace(before)
        if brace is not None:
            return where.error("this '{' is never closed", brace.line or 0, brace.column or 0,
                               "add the matching '}'")
    what = "the end of the code" if at_end else f"'{tok}'"
    line, col = (tok.line or 0, tok.column or 0)
    if at_end or expected == {"SEMICOLON"}:
        line, col = _end_of(before)  # where the missing token belongs, as gcc points
    return where.error(f"expected {_describe(expected, mode)} before {what}", line, col)


def _end_of(tokens: Sequence[Token]) -> tuple[int, int]:
    if not tokens:
        return 1, 1
    last = tokens[-1]
    return last.end_line or 0, last.end_column or 0


def _unclosed_brace(tokens: Sequence[Token]) -> Token | None:
    opened: list[Token] = []
    for tok in tokens:
        if tok.type == "LBRACE":
            opened.append(tok)
        elif tok.type == "RBRACE" and opened:
            opened.pop()
    return opened[-1] if opened else None


def _describe(expected: Iterable[str], mode: Mode) -> str:
    """``{'SEMICOLON', 'RPAR'}`` as "';' or ')'", grouping statement and condition starts."""
    keys = {_key(name) for name in expected}
    if "NAME" in keys:
        keys.discard("repeat")    # the keyword that may also name a parameter: "a name"
        keys.discard("&")         # a lock expression is a name too
    words: list[str] = []
    if {"if", "while"} <= keys:
        words.append("a statement")
        keys -= _STATEMENT_STARTS
    if {"!", "("} <= keys:
        words.append("a condition" if mode == "scenario" else "an expression")
        keys -= _EXPR_STARTS | {"NEG_NUMBER"}
    if keys - _OPERATORS or words:
        keys -= _OPERATORS
    words += sorted({_WORDS.get(k, f"'{k}'") for k in keys - {"$END"}},
                    key=lambda word: (word.startswith("'"), word))
    if "$END" in keys:
        words.append(_WORDS["$END"])
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _key(terminal: str) -> str:
    """A terminal's literal text for punctuation and keywords, else its name."""
    if terminal == "$END":
        return terminal
    pattern = _lark().get_terminal(terminal).pattern
    return pattern.value if isinstance(pattern, PatternStr) else terminal
