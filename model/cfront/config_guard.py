"""The configuration under which a piece of kernel C is built: its enclosing ``#if``,
``#ifdef``, ``#elif`` and ``#else`` conditions, as one condition over configuration symbols.

Symbols the model decides per scenario stay symbols (printed as ``IS_ENABLED(CONFIG_...)``, which
`model.compile` folds), fixed ones become constants, and a symbol that is neither is a
`ScenarioError` at the condition that names it: never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass

from tree_sitter import Node

from model.cfront.parse import CSource
from model.cfront.primitive_table import CONFIG_ALIASES, FIXED_CONFIG, MODELLED_CONFIG

PREPROC_CONDITIONALS = ("preproc_if", "preproc_ifdef", "preproc_elif", "preproc_elifdef")


@dataclass(frozen=True)
class Guard:
    """A condition over modelled configuration symbols: ``op`` is ``const`` (``value``),
    ``sym`` (``name``), ``not``, ``and`` or ``or`` (``args``)."""

    op: str
    value: bool = False
    name: str = ""
    args: tuple[Guard, ...] = ()

    @property
    def constant(self) -> bool | None:
        """True or False when the condition is decided whatever the scenario asks."""
        return self.value if self.op == "const" else None

    def c_text(self) -> str:
        """The condition in the era language."""
        if self.op == "const":
            return "1" if self.value else "0"
        if self.op == "sym":
            return f"IS_ENABLED({self.name})"
        if self.op == "not":
            inner = self.args[0]
            text = inner.c_text()
            return f"!{text}" if inner.op in ("sym", "const") else f"!({text})"
        joiner = " && " if self.op == "and" else " || "
        return joiner.join(a.c_text() if a.op in ("sym", "const", "not") else f"({a.c_text()})"
                           for a in self.args)


TRUE, FALSE = Guard("const", value=True), Guard("const", value=False)


def negate(g: Guard) -> Guard:
    if g.op == "const":
        return FALSE if g.value else TRUE
    if g.op == "not":
        return g.args[0]
    return Guard("not", args=(g,))


def conjoin(a: Guard, b: Guard) -> Guard:
    if a.constant is False or b.constant is False:
        return FALSE
    if a.constant is True:
        return b
    if b.constant is True or a == b:
        return a
    return Guard("and", args=(a, b))


def disjoin(a: Guard, b: Guard) -> Guard:
    if a.constant is True or b.constant is True:
        return TRUE
    if a.constant is False:
        return b
    if b.constant is False or a == b:
        return a
    return Guard("or", args=(a, b))


def symbol(source: CSource, node: Node) -> Guard:
    """A configuration symbol named at ``node``, as the model knows it."""
    name = source.text(node)
    name = CONFIG_ALIASES.get(name, name)
    if name in MODELLED_CONFIG:
        return Guard("sym", name=name)
    if name in FIXED_CONFIG:
        return TRUE if FIXED_CONFIG[name] else FALSE
    raise source.error(node, f"configuration symbol {name} is neither modelled nor fixed",
                       "modelled: " + ", ".join(sorted(MODELLED_CONFIG)) + "; a symbol "
                       "every modelled kernel fixes goes in FIXED_CONFIG of "
                       "model/cfront/primitive_table.py")


def condition(source: CSource, node: Node) -> Guard:
    """The ``#if`` condition at ``node`` (``defined``, ``IS_ENABLED``, ``!``, ``&&``, ``||``)."""
    kind = node.type
    if kind == "parenthesized_expression":
        return condition(source, node.named_children[0])
    if kind == "preproc_defined":
        return symbol(source, node.named_children[0])
    if kind == "identifier":
        return symbol(source, node)
    if kind == "number_literal":
        return TRUE if source.text(node).strip() not in ("0", "0L", "0U") else FALSE
    if kind == "call_expression":
        function = node.child_by_field_name("function")
        args = node.child_by_field_name("arguments")
        if (function is not None and source.text(function) in ("IS_ENABLED", "IS_BUILTIN")
                and args is not None and len(args.named_children) == 1):
            return symbol(source, args.named_children[0])
    if kind == "unary_expression" and source.text(node).startswith("!"):
        argument = node.child_by_field_name("argument")
        if argument is not None:
            return negate(condition(source, argument))
    if kind == "binary_expression":
        op = node.child_by_field_name("operator")
        left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
        if op is not None and left is not None and right is not None and op.type in ("&&", "||"):
            both = (condition(source, left), condition(source, right))
            return conjoin(*both) if op.type == "&&" else disjoin(*both)
    raise source.error(node, f"preprocessor condition not understood: {source.text(node)!r}",
                       "write it with defined(CONFIG_...), IS_ENABLED(CONFIG_...), !, && and ||")


def own_condition(source: CSource, node: Node) -> Guard:
    """The condition that selects the first branch of the conditional ``node``."""
    if node.type in ("preproc_ifdef", "preproc_elifdef"):
        name = node.child_by_field_name("name")
        if name is None:
            raise source.error(node, "#ifdef without a name")
        test = symbol(source, name)
        return negate(test) if source.text(node).lstrip("#\t ").startswith(
            ("ifndef", "elifndef")) else test
    cond = node.child_by_field_name("condition")
    if cond is None:
        raise source.error(node, "#if without a condition")
    return condition(source, cond)


def include_guard(source: CSource, node: Node) -> bool:
    """True for ``#ifndef X`` whose body starts with ``#define X``: a header's include guard,
    which holds wherever the header's code is read."""
    if node.type != "preproc_ifdef" or not source.text(node).lstrip("#\t ").startswith("ifndef"):
        return False
    name = node.child_by_field_name("name")
    for child in node.named_children:
        if child == name or child.type == "comment":
            continue
        if child.type == "preproc_def":
            defined = child.child_by_field_name("name")
            return (defined is not None and name is not None
                    and source.text(defined) == source.text(name))
        return False
    return False


def guard_of(source: CSource, node: Node, stop: Node | None = None) -> Guard:
    """The configuration under which ``node`` is compiled: the conjunction of every
    conditional branch that encloses it (below ``stop``, when given)."""
    guard = TRUE
    child, parent = node, node.parent
    while parent is not None and parent != stop:
        if parent.type in PREPROC_CONDITIONALS and not include_guard(source, parent):
            alternative = parent.child_by_field_name("alternative")
            if alternative is not None and child == alternative:
                guard = conjoin(guard, negate(own_condition(source, parent)))
            else:
                guard = conjoin(guard, own_condition(source, parent))
        child, parent = parent, parent.parent
    return guard
