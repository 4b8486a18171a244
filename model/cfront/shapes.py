"""Questions about the shape of kernel C as tree-sitter reads it, asked by the abstraction
(`model.cfront.abstract`): what a node dereferences, whether a statement ends its function,
which tree-sitter readings of kernel macros are deliberate (a `struct T` macro argument, an
iteration macro read as an old-style function definition)."""

from __future__ import annotations

from collections.abc import Callable

from tree_sitter import Node

from model.cfront import vocabulary as vocab
from model.cfront.parse import CSource, walk


def strip(node: Node) -> Node:
    """``node`` without the parentheses around it."""
    while node.type == "parenthesized_expression" and node.named_children:
        node = node.named_children[0]
    return node


def argument(args: list[Node], k: int, node: Node, src: CSource) -> Node:
    """Argument ``k`` of the call ``node``; a `ScenarioError` when the call has fewer."""
    if len(args) <= k:
        raise src.error(node, f"{src.text(node)}: missing its lock argument")
    return args[k]


def reads_through(value: Node, src: CSource) -> bool:
    """Whether assigning ``value`` reads memory through a pointer or a call: a field behind
    ``->``, a dereference, or what a function returns."""
    for n in walk(value):
        if n.type == "field_expression" and "->" in src.text(n):
            return True
        if n.type == "pointer_expression" and src.text(n).startswith("*"):
            return True
        if n.type == "call_expression":
            fn = n.child_by_field_name("function")
            if fn is not None and vocab.is_cursor_start(src.text(fn)):
                return True
            if fn is not None and src.text(fn).endswith(("entry", "_next", "_first")):
                return True
    return False


def dereferences(node: Node, var: str, src: CSource, passed: bool) -> bool:
    """Whether ``node`` reads through ``var`` (or, with ``passed``, hands it to a call)."""
    for n in walk(node):
        if n.type in ("field_expression", "pointer_expression"):
            arg = n.child_by_field_name("argument")
            if arg is not None and arg.type == "identifier" and src.text(arg) == var:
                return "->" in src.text(n) or src.text(n).startswith("*")
        if passed and n.type == "argument_list" and any(
                a.type == "identifier" and src.text(a) == var for a in n.named_children):
            return True
    return False


def tests_null(node: Node, var: str, src: CSource) -> bool:
    """Whether ``node`` is ``if (!var) ...`` (or ``unlikely(!var)``, ``var == NULL``)
    without an else."""
    if node.type != "if_statement" or node.child_by_field_name("alternative") is not None:
        return False
    cond = node.child_by_field_name("condition")
    text = "".join(src.text(cond).split()) if cond is not None else ""
    return text in (f"(!{var})", f"(unlikely(!{var}))", f"({var}==NULL)",
                    f"(unlikely({var}==NULL))")


def iterator_definition(node: Node, src: CSource) -> tuple[str, Node, Node] | None:
    """``(macro, cursor, body)`` when tree-sitter read an iteration macro with one argument
    and a body (``for_each_possible_cpu(cpu) { ... }``) as an old-style function
    definition, whose type is the macro's name and whose declarator is ``(cpu)``."""
    if node.type != "function_definition":
        return None
    kind = node.child_by_field_name("type")
    declarator = node.child_by_field_name("declarator")
    body = node.child_by_field_name("body")
    if (kind is None or declarator is None or body is None
            or declarator.type != "parenthesized_declarator"
            or not vocab.is_iterator(src.text(kind))):
        return None
    cursor = declarator.named_children[0] if declarator.named_children else declarator
    return src.text(kind), cursor, body


_TAGS = ("struct", "union", "enum")


def type_argument(node: Node, src: CSource) -> bool:
    """Whether the error node ``node`` is part of a ``struct T`` argument of a macro that
    takes a type (``list_first_entry(head, struct page, lru)``, ``rb_entry``,
    ``container_of``), which tree-sitter reads either as the identifier ``struct`` followed
    by an error holding ``T``, or as an error holding ``struct`` followed by ``T``."""
    if not (node.is_error and node.parent is not None
            and node.parent.type == "argument_list"
            and all(c.type == "identifier" for c in node.named_children)):
        return False
    before, after = node.prev_named_sibling, node.next_named_sibling
    if before is not None and src.text(before) in _TAGS:
        return True
    return (src.text(node) in _TAGS and after is not None and after.type == "identifier")


def iterator_semicolon(node: Node, src: CSource) -> bool:
    """Whether the missing node ``node`` is the ``;`` tree-sitter expects after the head of
    an iteration macro (``list_for_each_entry_safe(va, n, &head, list)``), whose body is
    the statement after it, braced or not."""
    statement = node.parent
    if not (node.is_missing and statement is not None
            and statement.type == "expression_statement" and statement.named_children):
        return False
    call = statement.named_children[0]
    fn = call.child_by_field_name("function") if call.type == "call_expression" else None
    return fn is not None and vocab.is_iterator(src.text(fn))


def attribute_declarator(node: Node) -> bool:
    """Whether the error node ``node`` is a declarator after an attribute macro in a local
    declaration (``bool __maybe_unused released;``), which tree-sitter reads as the macro
    for the type and an error for the name: a declaration without a value, which the
    abstraction keeps nothing of."""
    return (node.is_error and node.parent is not None and node.parent.type == "declaration"
            and not any(c.type == "init_declarator" for c in node.parent.named_children)
            and all(c.type == "identifier" for c in node.named_children))


def has_label(node: Node) -> bool:
    """Whether a statement of the block ``node`` (not of a nested loop or block) is
    labelled: a label a ``goto`` may jump to from outside the block."""
    return node.type == "compound_statement" and any(
        c.type == "labeled_statement" for c in node.named_children)


def holds_label(node: Node) -> bool:
    """Whether ``node`` or any statement inside it is labelled: code that cannot be written
    twice, since each label is defined once."""
    return any(n.type == "labeled_statement" for n in walk(node))


def compared(node: Node, src: CSource, ident: Callable[[str], str]) -> list[str]:
    """The variables ``node`` compares as a whole, with ``==`` or ``!=``, against what it
    reads through a pointer (``journal->j_checkpoint_transactions != transaction``), named
    through ``ident``, in order; a test against NULL or a number is no such comparison."""
    found: list[str] = []
    for n in walk(node):
        op = n.child_by_field_name("operator") if n.type == "binary_expression" else None
        left, right = n.child_by_field_name("left"), n.child_by_field_name("right")
        if op is None or src.text(op) not in ("==", "!=") or left is None or right is None:
            continue
        for side, other in ((left, right), (right, left)):
            if strip(side).type == "identifier" and (
                    reads_through(other, src) or any(c.type == "call_expression"
                                                     for c in walk(other))):
                name = ident(src.text(strip(side)))
                if name not in found:
                    found.append(name)
    return found


def is_deref(n: Node, src: CSource) -> bool:
    """Whether ``n`` reads through a pointer: ``p->f`` or ``*p``."""
    return ((n.type == "field_expression" and "->" in src.text(n))
            or (n.type == "pointer_expression" and src.text(n).startswith("*")))


def constant_true(node: Node, src: CSource) -> bool:
    """Whether the condition ``node`` is ``1`` or ``true`` (``while (1)``)."""
    return src.text(strip(node)) in ("1", "true")


def parameters(definition: Node, src: CSource) -> list[str]:
    """The parameter names of a function definition, in order."""
    declarator = definition.child_by_field_name("declarator")
    while declarator is not None and declarator.type != "function_declarator":
        declarator = declarator.child_by_field_name("declarator")
    params = declarator.child_by_field_name("parameters") if declarator is not None else None
    names: list[str] = []
    for p in [] if params is None else params.named_children:
        ident = ""
        for n in walk(p):
            if n.type == "identifier":
                ident = src.text(n)
        names.append(ident)
    return names


def last_statement(node: Node) -> bool:
    """Whether nothing of the function runs after ``node`` when it falls through: it is
    last in its block, and so is every block and branch around it up to the body (a
    return there needs no jump)."""
    while node.parent is not None and node.parent.type != "function_definition":
        parent = node.parent
        if parent.type == "compound_statement":
            rest = [c for c in parent.named_children if c.type != "comment"]
            if rest[-1] != node:
                return False
        elif parent.type not in ("if_statement", "else_clause", "labeled_statement"):
            return False
        node = parent
    return node.parent is not None


def leaves_loop(body: Node | None, src: CSource) -> bool:
    """Whether a ``break`` or ``continue`` in ``body`` belongs to the loop around it (so
    ``do { } while (0)`` cannot simply be its body)."""
    if body is None:
        return False
    for n in walk(body):
        if n.type in ("break_statement", "continue_statement"):
            up = n.parent
            while up is not None and up != body and up.type not in (
                    "while_statement", "for_statement", "do_statement", "switch_statement"):
                up = up.parent
            if up == body or up is None or (n.type == "continue_statement"
                                            and up.type == "switch_statement"):
                return True
    return False


def iterated_assignment(node: Node, src: CSource) -> tuple[Node, Node, Node] | None:
    """``(macro call, variable, value)`` when tree-sitter read a braceless iteration macro
    whose statement assigns (``for_each_sp(pages, sp, parents, i)\\n\\tprotected |= f(sp);``)
    as one assignment from the macro's call, with the variable an error between them."""
    if node.type != "expression_statement" or not node.named_children:
        return None
    assignment = node.named_children[0]
    if assignment.type != "assignment_expression":
        return None
    call = assignment.child_by_field_name("left")
    value = assignment.child_by_field_name("right")
    errors = [c for c in assignment.children if c.is_error]
    fn = call.child_by_field_name("function") if call is not None and \
        call.type == "call_expression" else None
    if (call is None or fn is None or value is None or len(errors) != 1
            or not vocab.is_iterator(src.text(fn))
            or [c.type for c in errors[0].named_children] != ["identifier"]):
        return None
    return call, errors[0].named_children[0], value


def iterated_variable(node: Node, src: CSource) -> bool:
    """Whether the error node ``node`` is the variable of a braceless iteration macro's
    assignment (`iterated_assignment`)."""
    statement = node.parent.parent if node.parent is not None else None
    return (node.is_error and statement is not None
            and iterated_assignment(statement, src) is not None)


def declared_locals(body: Node, src: CSource) -> list[str]:
    """The names a function body declares (``struct inode *inode, *next;``), in order."""
    names: list[str] = []
    for node in walk(body):
        if node.type != "declaration":
            continue
        for top in node.children_by_field_name("declarator"):
            decl: Node | None = top
            while decl is not None and decl.type != "identifier":
                decl = decl.child_by_field_name("declarator")
            if decl is not None and src.text(decl) not in names:
                names.append(src.text(decl))
    return names
