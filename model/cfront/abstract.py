"""A kernel function's body abstracted to the scenario language (docs/extract.md).

What lock breaking needs of a function is its lock operations, its lock-break primitives,
the control flow around them and the data it reads under a lock and relies on after. The
abstraction keeps exactly that, statement by statement, each with the kernel line it came
from:

- lock operations, lock-break primitives, `cond_resched()` and the context statements stay
  as the kernel spells them (`model.cfront.vocabulary`);
- a guard the model cannot evaluate becomes ``*``; `need_resched()`, `spin_needbreak(L)`,
  `rwlock_needbreak(L)` and trylocks stay themselves;
- a list iteration macro becomes ``while (*)`` whose cursor, read under a lock, is a datum:
  ``read(pos)`` before the walk and after each advance, ``use(pos)`` where the advance
  follows the cursor;
- a local assigned from a dereference under a lock is a datum protected by the innermost
  lock held there (or the lock the protection file names); a later dereference is
  ``use(X)``, a store through it ``write(X)``;
- a reference helper on a datum is ``get(X)``/``put(X)``;
- a call into a function of the same file that takes, releases or breaks a lock is inlined,
  to `MAX_INLINE` levels; any other call is one ``work()`` step (or ``use(X)`` when it is
  passed a datum).

What cannot be read this way (an error node, a preprocessor conditional inside the body, a
`switch` case falling through, a lock operation inside an expression) is a `ScenarioError`
at its ``file:line:col``: the abstraction never guesses.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from tree_sitter import Node

from lockbreak.core import ScenarioError
from model.cfront import vocabulary as vocab
from model.cfront.flow import Entry, Flow, Loop, bare, branches, entry_lock, join
from model.cfront.parse import (
    CSource,
    function,
    function_name,
    functions,
    not_understood,
    walk,
)
from model.cfront.shapes import (
    argument,
    attribute_declarator,
    breaks_switch,
    compared,
    constant_true,
    dereferences,
    has_label,
    is_deref,
    iterator_definition,
    iterator_semicolon,
    last_statement,
    leaves_loop,
    parameters,
    reads_through,
    strip,
    tests_null,
    type_argument,
)

MAX_INLINE = 3
_LOCK_EXPR = re.compile(r"^&?\w+(?:(?:->|\.)\w+)*$")
_IDENT = re.compile(r"\b[A-Za-z_]\w*\b")
_RESERVED = frozenset({"repeat", "forever", "while", "do", "for", "if", "else", "break",
                       "continue", "restart", "goto", "return", "work", "read", "write",
                       "use", "get", "put"})


@dataclass(frozen=True)
class CodeLine:
    """One line of scenario code: its text, nesting depth and the kernel line (0: none)."""

    text: str
    depth: int
    line: int


@dataclass
class Lock:
    """A lock the function uses: its kind and every expression that names it."""

    kind: str
    exprs: list[str] = field(default_factory=list)


@dataclass
class Abstraction:
    """A function abstracted: its code lines, the locks and data it uses, the locks it
    breaks, and what was abstracted, in the order met."""

    function: str
    line: int
    lines: list[CodeLine]
    locks: dict[str, Lock]
    data: dict[str, str]
    contended: list[str]
    notes: list[str]
    inlined: list[str]


def abstract(source: CSource, name: str, *,
             protect: Mapping[str, str] | None = None) -> Abstraction:
    """The function ``name`` of ``source`` abstracted to scenario code.

    ``protect`` maps a local variable to the lock expression that protects what it points
    to (``""``: not a datum), overriding the inference from where it is read.
    """
    definition = function(source, name)
    body = definition.child_by_field_name("body")
    if body is None:
        raise source.error(definition, f"{name} has no body here")
    walker = _Abstractor(source, dict(protect or {}), [])
    walker.body(body, definition)
    if walker.unheld:
        # Entered with locks its caller took: take them before the body, release after.
        walker = _Abstractor(source, dict(protect or {}), list(walker.unheld.values()))
        walker.body(body, definition)
    elif walker.holding is not None:
        raise walker.holding
    if not any(line.text not in ("{ }", "}") for line in walker.out):
        raise source.error(definition, f"{name}() has nothing lock breaking needs: no lock, "
                           "lock break or call", "extract a function that takes a lock")
    return Abstraction(name, source.line(definition), walker.out, walker.locks, walker.data,
                       walker.contended, walker.notes, walker.inlined)


class _Abstractor:
    """One walk over a function's body, writing scenario code as it goes: what one path
    knows travels as a `Flow`, the function's locks, data and notes accumulate here."""

    def __init__(self, source: CSource, protect: dict[str, str],
                 entry: list[Entry]) -> None:
        self.src = source
        self.protect = protect
        self.entry = entry
        self.function = ""
        self.pending: tuple[str, Callable[[Flow], Flow]] | None = None
        self.unheld: dict[str, Entry] = {}
        self.holding: ScenarioError | None = None
        self.defined = functions(source)
        self.out: list[CodeLine] = []
        self.locks: dict[str, Lock] = {}
        self.by_expr: dict[str, str] = {}
        self.data: dict[str, str] = {}
        self.contended: list[str] = []
        self.released: set[str] = set()
        self.notes: list[str] = []
        self.inlined: list[str] = []
        self.loops: list[Loop] = []
        self.subst: list[dict[str, str]] = [{}]
        self.labels: dict[str, Flow] = {}
        self.stack: list[str] = []
        self.callers: list[str] = []
        self.relevant: dict[str, bool] = {}
        self.fresh = 0
        self.scopes: list[Node] = []

    def body(self, body: Node, definition: Node) -> None:
        """The function's body, between taking and releasing the locks it is entered
        holding."""
        self.function = function_name(definition) or ""
        self.scopes = [body]
        flow = Flow()
        if not self.entry:
            self.annotated(definition)
        for entry in self.entry:
            lock = self.lock_named(entry.expr, entry.kind, definition)
            flags = ", flags" if entry.take.endswith("irqsave") else ""
            self.emit(f"{entry.take}({self.lock_text(lock)}{flags});", 0, definition)
            self.note(f"entered holding {entry.expr} ({entry.why}): taken before the body "
                      "and released after it")
            flow = replace(flow, held=(*flow.held, lock))
        after = self.block(body, flow, 0)
        if after is not None:
            self.leave(after, 0, body.children[-1] if body.children else body)

    def leave(self, flow: Flow, depth: int, node: Node) -> None:
        """Release the entry locks still held where the function returns; any other lock
        still held is an error."""
        held = list(flow.held)
        for entry in reversed(self.entry):
            lock = self.by_expr.get(entry.expr)
            if lock in held:
                flags = ", flags" if entry.release.endswith("irqrestore") else ""
                self.emit(f"{entry.release}({self.lock_text(lock)}{flags});", depth, None)
                held.remove(lock)
        if held:
            taken = ", ".join(self.lock_text(lock) for lock in held)
            error = self.src.error(node, f"{self.function}() returns holding {taken}",
                                   "extract checks a function that releases every lock it "
                                   "takes; extract the caller that releases it")
            if self.entry:
                raise error
            # A later unlock may show the caller holds it on entry (an unlock-cond_resched-
            # relock before `return -EINTR`): the walk goes on, and decides at its end.
            self.holding = self.holding or error

    def annotated(self, definition: Node) -> None:
        """The locks the declaration's sparse annotations (``__must_hold(&q->lock)``,
        ``__releases``) say the function is entered holding, unless the body takes or
        releases it itself, which says how (a ``write_unlock`` of an rwlock)."""
        declarator = definition.child_by_field_name("declarator")
        while declarator is not None and declarator.type != "function_declarator":
            declarator = declarator.child_by_field_name("declarator")
        for note in declarator.named_children if declarator is not None else []:
            name = self.call_name(note) if note.type == "call_expression" else ""
            args = note.child_by_field_name("arguments")
            if name not in vocab.HELD_ON_ENTRY or args is None:
                continue
            expr = re.sub(r"\s+", "", self.src.text(args))[1:-1]
            if expr in self.operated(definition):
                continue
            lock = self.lock_named(expr, "spin", note)
            self.unheld.setdefault(lock, entry_lock(name, self.lock_text(lock),
                                                    f"{name}({expr}) on its declaration"))

    def operated(self, definition: Node) -> set[str]:
        """The lock expressions the body's own lock operations name (no whitespace)."""
        named = set()
        for n in walk(definition):
            args = n.child_by_field_name("arguments") if n.type == "call_expression" else None
            if args is not None and args.named_children and vocab.lock_operation(
                    self.call_name(n)) is not None:
                named.add(re.sub(r"\s+", "", self.src.text(args.named_children[0])))
        return named

    # ------------------------------------------------------------------ output and notes
    def emit(self, text: str, depth: int, node: Node | None) -> None:
        self.out.append(CodeLine(text, depth, self.src.line(node) if node is not None else 0))

    def once(self, text: str, depth: int, node: Node) -> None:
        """``text`` emitted unless the line before is the same step (one ``work()`` or
        ``use(X)`` stands for a run of them)."""
        last = self.out[-1] if self.out else None
        if last is None or last.text != text or last.depth != depth:
            self.emit(text, depth, node)

    def breaks(self, lock: str) -> None:
        """``lock`` is contended for: broken (released and retaken), tested for waiters, or
        tried, so a contender CPU makes the difference."""
        if lock not in self.contended:
            self.contended.append(lock)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def at(self, node: Node) -> str:
        return f"{self.src.path}:{self.src.line(node)}"

    def text(self, node: Node) -> str:
        return " ".join(self.src.text(node).split())

    # ------------------------------------------------------------------ names
    def ident(self, name: str) -> str:
        """The caller's name for ``name`` inside an inlined callee (its argument)."""
        return self.subst[-1].get(name, name)

    def local(self, name: str) -> str:
        """The name the function being walked gives the caller's ``name`` (back through
        the inlined callee's parameters)."""
        back = {v: k for k, v in self.subst[-1].items()}
        return back.get(name, name)

    def rename(self, node: Node) -> str:
        """The text of ``node`` with the inlined callee's parameters replaced by the
        caller's arguments, whitespace removed."""
        raw = "".join(self.src.text(node).split())
        return _IDENT.sub(lambda m: self.ident(m[0]), raw)

    def plain(self, node: Node) -> str:
        """A flags or subclass argument as the scenario language takes it: its last name or
        number (``*flags`` and ``&flags`` are ``flags``; the model keeps neither)."""
        words = re.findall(r"\w+", self.rename(node))
        return words[-1] if words else "0"

    def lock_text(self, lock: str) -> str:
        exprs = self.locks[lock].exprs
        return exprs[0] if exprs else lock

    def lock(self, node: Node, kind: str) -> str:
        """The declared lock name of the lock expression ``node``, registering it."""
        return self.lock_named(self.rename(node), kind, node)

    def lock_named(self, expr: str, kind: str, node: Node) -> str:
        """The declared lock name of the lock expression ``expr`` (no whitespace)."""
        if expr.startswith("(") and expr.endswith(")"):
            expr = expr[1:-1]
        if expr in self.by_expr:
            name = self.by_expr[expr]
        else:
            words = re.findall(r"\w+", expr)
            if not words:
                raise self.src.error(node, f"lock expression {self.text(node)!r} names no lock")
            name = words[-1]
            if name == "lock" and len(words) > 1:
                name = f"{words[-2]}_lock"
            if name in _RESERVED or name in self.data:
                name = f"{name}_lock"
            self.by_expr[expr] = name
            if name not in self.locks:
                self.locks[name] = Lock(kind)
            if _LOCK_EXPR.match(expr) and expr != name:
                self.locks[name].exprs.append(expr)
        if self.locks[name].kind != kind:
            raise self.src.error(node, f"{self.text(node)} is used both as a spinlock and as "
                                 "an rwlock", "say which it is in the protection file")
        return name

    def spelled(self, lock: str, node: Node) -> str:
        """How code names ``lock`` at ``node``: the expression written there when the
        scenario language takes it, else the lock's name."""
        expr = self.rename(node)
        return expr if expr in self.locks[lock].exprs else lock

    # ------------------------------------------------------------------ data
    def datum_of(self, node: Node) -> str | None:
        """The datum an argument expression refers to (``inode``, ``&page->lru``)."""
        while node.type in ("pointer_expression", "parenthesized_expression", "cast_expression",
                            "field_expression"):
            inner = (node.child_by_field_name("argument")
                     or node.child_by_field_name("value") or node.named_child(0))
            if inner is None:
                return None
            node = inner
        if node.type == "identifier":
            name = self.ident(self.src.text(node))
            return name if name in self.data else None
        return None

    def derefs(self, node: Node) -> list[str]:
        """The data ``node`` dereferences (``x->f``, ``*x``) or hands to a call, in order."""
        found: list[str] = []
        for n in walk(node):
            target: Node | None = None
            if is_deref(n, self.src):
                target = n.child_by_field_name("argument")
            elif n.type == "argument_list":
                for arg in n.named_children:
                    if arg.type == "identifier":
                        name = self.ident(self.src.text(arg))
                        if name in self.data and name not in found:
                            found.append(name)
            if target is not None and target.type == "identifier":
                name = self.ident(self.src.text(target))
                if name in self.data and name not in found:
                    found.append(name)
        return found

    def access(self, what: str, datum: str, flow: Flow, depth: int, node: Node) -> Flow:
        """``what(datum)`` emitted when the model allows it on this path, else noted."""
        held = self.data[datum] in flow.held
        if what == "use" and not held and not (datum in flow.pins and datum in flow.reads):
            self.note(f"use of {datum} at {self.at(node)} with {self.lock_text(self.data[datum])}"
                      " dropped and no reference held: left out, the model's use needs one")
            return flow
        if what == "write" and not held:
            return self.access("use", datum, flow, depth, node)
        if what == "use" and datum not in flow.reads:
            return flow
        self.once(f"{what}({datum});", depth, node)
        return replace(flow, reads=flow.reads | {datum}) if what == "read" else flow

    def uses(self, node: Node, flow: Flow, depth: int) -> Flow:
        """``use(X)`` for each datum ``node`` dereferences."""
        for datum in self.derefs(node):
            flow = self.access("use", datum, flow, depth, node)
        return flow

    def snapshot(self, var: str, flow: Flow, depth: int, node: Node) -> Flow:
        """``var`` assigned from what a lock protects: a datum, ``read(var)``."""
        if var not in self.data:
            wanted = self.protect.get(var)
            if wanted == "" or (wanted is None and not flow.held):
                return flow
            if wanted is None and not dereferences(self.scopes[-1], self.local(var),
                                                   self.src, True):
                return flow         # a value, never followed: nothing can go stale
            if wanted is not None:
                lock = self.by_expr.get(wanted) or (wanted if wanted in self.locks else None)
                if lock is None:
                    raise ScenarioError(f"the protection file names {wanted!r} for {var}, a "
                                        "lock this function never takes", file=self.src.path,
                                        line=self.src.line(node), col=self.src.col(node))
            else:
                lock = flow.held[-1]
            if var in self.locks or var in self.by_expr:
                return flow         # a pointer to a lock, not data the lock protects
            self.data[var] = lock
            self.note(f"{var} is a datum protected by {self.lock_text(lock)} (read at "
                      f"{self.at(node)})")
        if self.data[var] not in flow.held:
            return flow
        return self.access("read", var, flow, depth, node)

    # ------------------------------------------------------------------ statements
    def block(self, node: Node, flow: Flow | None, depth: int) -> Flow | None:
        children = [c for c in node.named_children if c.type != "comment"]
        k = 0
        while k < len(children):
            child = children[k]
            labelled = self.labelled_iterator(child)
            macro = self.iterator_head(labelled or child)
            if macro is not None:
                if labelled is not None:
                    # `restart: list_for_each_entry(...) { }`: the label, then the walk.
                    name = self.src.text(child.child_by_field_name("label")
                                         or child.named_children[0])
                    flow = flow if flow is not None else self.labels.get(name, Flow())
                    self.emit(f"{name}:", max(depth - 1, 0), child)
                if k + 1 >= len(children):
                    raise self.src.error(child, f"{self.call_name(macro)} without a body")
                args_node = macro.child_by_field_name("arguments")
                args = [] if args_node is None else list(args_node.named_children)
                flow = self.iterate(self.call_name(macro), args, macro, children[k + 1], flow,
                                    depth)
                k += 2
                continue
            declared = iterator_definition(child, self.src)
            if declared is not None:
                name, cursor, body = declared
                flow = self.iterate(name, [cursor], child, body, flow, depth)
            else:
                flow = self.stmt(child, flow, depth)
            k += 1
        if self.pending is not None and flow is not None:
            flow = self.pending[1](flow)
        self.pending = None
        return flow

    def labelled_iterator(self, node: Node) -> Node | None:
        """The statement of a labelled iteration macro head (``again:
        list_for_each_entry(...)``, whose body tree-sitter puts after the label's
        statement), or None."""
        if node.type != "labeled_statement":
            return None
        inner = [c for c in node.named_children[1:] if c.type != "comment"]
        if len(inner) == 1 and inner[0].type == "expression_statement" and any(
                c.is_missing for c in inner[0].children):
            return inner[0]
        return None

    def iterator_head(self, node: Node) -> Node | None:
        """The call of an iteration macro that tree-sitter read as a statement missing its
        ``;`` (its body is the next statement), or None."""
        if node.type != "expression_statement" or not node.named_children:
            return None
        call = node.named_children[0]
        if call.type != "call_expression":
            return None
        fn = call.child_by_field_name("function")
        if fn is None or not vocab.is_iterator(self.src.text(fn)):
            return None
        if not any(c.is_missing for c in node.children):
            raise self.src.error(node, f"{self.src.text(fn)}(...); with no body",
                                 "an iteration macro is followed by the statement it repeats")
        return call

    def stmt(self, node: Node, flow: Flow | None, depth: int) -> Flow | None:
        if self.pending is not None and flow is not None:
            var, take = self.pending
            self.pending = None
            if tests_null(node, var, self.src):
                # The NULL check runs first: on its path the lock was never taken.
                self.note(f"the lock of {var} is taken only when {var} is not NULL: the "
                          f"check at {self.at(node)} comes before it")
                flow = self.stmt(node, flow, depth)
                return take(flow) if flow is not None else None
            flow = take(flow)
        return self.statement(node, flow, depth)

    def statement(self, node: Node, flow: Flow | None, depth: int) -> Flow | None:
        bad = [n for n in not_understood(node)
               if not type_argument(n, self.src) and not attribute_declarator(n)
               and not iterator_semicolon(n, self.src)]
        if bad:
            what = (f"{bad[0].type!r} missing here" if bad[0].is_missing
                    else repr(self.text(bad[0])))
            raise self.src.error(bad[0], f"not understood: {what}",
                                 "the C front end reads kernel source as tree-sitter-c does; "
                                 "extract a function whose body parses")
        if flow is None and node.type != "labeled_statement":
            return None
        kind = node.type
        if kind == "compound_statement":
            return self.block(node, flow, depth)
        if kind == "labeled_statement":
            return self.label(node, flow, depth)
        assert flow is not None
        if kind == "expression_statement":
            if not node.named_children:
                return flow
            return self.expression(node.named_children[0], flow, depth)
        if kind == "declaration":
            return self.declaration(node, flow, depth)
        if kind == "if_statement":
            return self.if_(node, flow, depth)
        if kind in ("while_statement", "do_statement", "for_statement"):
            return self.loop(node, flow, depth)
        if kind == "switch_statement":
            return self.switch(node, flow, depth)
        if kind == "goto_statement":
            label = self.src.text(node.child_by_field_name("label") or node.named_children[0])
            self.labels.setdefault(label, flow)
            self.emit(f"goto {label};", depth, node)
            return None
        if kind == "break_statement":
            self.emit("break;", depth, node)
            return None
        if kind == "continue_statement":
            loop = self.loops[-1] if self.loops else None
            if loop is not None and loop.advance is not None:
                flow = loop.advance(flow, depth)
            if loop is not None and loop.test is not None:
                if not loop.test:
                    self.fresh += 1
                    loop.test = f"do_{self.fresh}_test"
                loop.continued.append(flow)
                self.emit(f"goto {loop.test};", depth, node)
                return None
            self.emit("continue;", depth, node)
            return None
        if kind == "return_statement":
            return self.return_(node, flow, depth)
        if kind in ("type_definition", "struct_specifier", "enum_specifier"):
            return flow
        raise self.src.error(node, f"not understood: a {kind.replace('_', ' ')}",
                             "the abstraction takes C statements, declarations and calls; "
                             "extract a function without it")

    def label(self, node: Node, flow: Flow | None, depth: int) -> Flow | None:
        name = self.src.text(node.child_by_field_name("label") or node.named_children[0])
        if flow is None:
            flow = self.labels.get(name, Flow())
        self.emit(f"{name}:", depth - 1 if depth else 0, node)
        rest = [c for c in node.named_children[1:] if c.type != "comment"]
        if not rest:
            self.emit("{ }", depth, node)
            return flow
        start = len(self.out)
        for child in rest:
            flow = self.stmt(child, flow, depth)
        if len(self.out) == start:
            self.emit("{ }", depth, node)
        return flow

    def return_(self, node: Node, flow: Flow, depth: int) -> Flow | None:
        value = node.named_children[0] if node.named_children else None
        if value is not None:
            flow = self.expression(value, flow, depth)
        if not self.stack:
            self.leave(flow, depth, node)
        if last_statement(node):
            return None
        if self.stack:
            self.emit(f"goto {self.stack[-1]};", depth, node)
            self.labels.setdefault(self.stack[-1], flow)
        else:
            self.emit("return;", depth, node)
        return None

    def declaration(self, node: Node, flow: Flow, depth: int) -> Flow:
        for decl in node.children_by_field_name("declarator"):
            if decl.type != "init_declarator":
                continue
            value = decl.child_by_field_name("value")
            target = decl.child_by_field_name("declarator")
            while target is not None and target.type != "identifier":
                target = target.child_by_field_name("declarator")
            if value is not None:
                flow = self.assign(target, value, flow, depth, decl)
        return flow

    def expression(self, node: Node, flow: Flow, depth: int) -> Flow:
        kind = node.type
        if kind == "gnu_asm_expression":
            self.note(f"asm at {self.at(node)} left out: it takes no lock")
            return flow
        if kind == "comma_expression":
            for part in node.named_children:
                flow = self.expression(part, flow, depth)
            return flow
        if kind == "parenthesized_expression" and node.named_children:
            return self.expression(node.named_children[0], flow, depth)
        if kind == "call_expression":
            return self.call(node, flow, depth)
        if kind == "assignment_expression":
            left = node.child_by_field_name("left")
            right = node.child_by_field_name("right")
            assert left is not None and right is not None
            if left.type == "identifier":
                return self.assign(left, right, flow, depth, node)
            flow = self.split_calls(right, flow, depth)
            self.no_lock_ops(right)
            flow = self.uses(right, flow, depth)
            datum = self.datum_of(left) if left.type in ("field_expression",
                                                         "pointer_expression") else None
            if datum is not None:
                return self.access("write", datum, flow, depth, node)
            return self.uses(left, flow, depth)
        flow = self.split_calls(node, flow, depth)
        self.no_lock_ops(node)
        return self.uses(node, flow, depth)

    def assign(self, target: Node | None, value: Node, flow: Flow, depth: int,
               node: Node) -> Flow:
        if value.type == "call_expression" and self.call_name(value) in vocab.MAY_FAIL \
                and target is not None:
            var = self.ident(self.src.text(target))
            self.pending = (var, lambda f: self.call(value, f, depth))
            return flow
        if value.type == "call_expression" and self.takes_part(value):
            return self.call(value, flow, depth)
        flow = self.split_calls(value, flow, depth)
        self.no_lock_ops(value)
        flow = self.uses(value, flow, depth)
        var = self.ident(self.src.text(target)) if target is not None else ""
        looked_up = var in self.data and any(n.type == "call_expression" for n in walk(value))
        if var and (looked_up or reads_through(value, self.src)):
            return self.snapshot(var, flow, depth, node)
        return flow

    def no_lock_ops(self, node: Node) -> None:
        """Refuse a lock operation or lock break buried in an expression: its effect would
        be guessed (a call to inline was split out before, `split_calls`)."""
        for n in walk(node):
            if n.type == "call_expression":
                fn = n.child_by_field_name("function")
                name = self.src.text(fn) if fn is not None else ""
                if vocab.lock_operation(name) or name in vocab.BREAKS:
                    raise self.src.error(n, f"not understood: {name}() inside an expression",
                                         f"the abstraction takes {name}() as a statement or "
                                         "as the whole condition of an if or a loop")

    def split_calls(self, node: Node, flow: Flow, depth: int) -> Flow:
        """Each call to inline inside the expression ``node`` (``x->val = copy_one(...)``,
        ``if (unmap_one(...) < 0)``) as its own statement before it: what it does to the
        locks is kept, the value it gives the expression is ``*``."""
        for n in self.inlined_calls(node):
            self.note(f"{self.call_name(n)}() at {self.at(n)} inside an expression runs as "
                      "its own statement before it; its value is *")
            flow = self.call(n, flow, depth)
        return flow

    def inlined_calls(self, node: Node) -> list[Node]:
        """The outermost calls to inline inside ``node``, in source order."""
        if node.type == "call_expression" and self.inlinable(self.call_name(node)):
            return [node]
        return [call for child in node.named_children for call in self.inlined_calls(child)]

    def takes_part(self, call: Node) -> bool:
        """Whether the call is one the abstraction translates (not just a work() step)."""
        fn = call.child_by_field_name("function")
        name = self.src.text(fn) if fn is not None else ""
        return bool(vocab.is_known(name) or self.inlinable(name))

    # ------------------------------------------------------------------ calls
    def call(self, node: Node, flow: Flow, depth: int) -> Flow:
        fn = node.child_by_field_name("function")
        args_node = node.child_by_field_name("arguments")
        args = [] if args_node is None else [a for a in args_node.named_children
                                             if a.type != "comment"]
        name = self.src.text(fn) if fn is not None else ""
        op = vocab.lock_operation(name)
        if op is not None:
            what, kind = op
            if what == "trylock":
                raise self.src.error(node, f"{name}() whose result is not tested",
                                     f"the abstraction takes {name}() as the whole condition "
                                     "of an if or a loop")
            wrapper = vocab.WRAPPERS.get(name)
            if wrapper is not None:
                arg = argument(args, max((wrapper.arg, *wrapper.extra)), node, self.src)
                expr = wrapper.lock_expr(self.rename(args[wrapper.arg]))
                lock = self.lock_named(expr, kind, arg)
                spelled = expr if expr in self.locks[lock].exprs else lock
                rest = "".join(f", {self.plain(args[k])}" for k in wrapper.extra)
                self.emit(f"{wrapper.spelling}({spelled}{rest});", depth, node)
                self.note(f"{name}() at {self.at(node)} is {wrapper.spelling}({spelled})")
            else:
                lock = self.lock(argument(args, 0, node, self.src), kind)
                rest = "".join(f", {self.plain(a)}" for a in args[1:])
                self.emit(f"{name}({self.spelled(lock, args[0])}{rest});", depth, node)
            if what == "lock":
                if lock in self.released:
                    self.breaks(lock)
                return replace(flow, held=(*flow.held, lock))
            self.released.add(lock)
            known = self.unheld.get(lock)
            if lock not in flow.held and (known is None or known.asserted):
                # The unlock's spelling says how the caller took it (irq, bh, rwlock mode).
                self.unheld[lock] = entry_lock(name, self.lock_text(lock),
                                           f"{name}() at {self.at(node)} releases it")
            if any(lock in loop.held for loop in self.loops):
                self.breaks(lock)
            return replace(flow, held=tuple(h for h in flow.held if h != lock))
        if name in vocab.BREAKS:
            lock = self.lock(argument(args, 0, node, self.src), vocab.BREAKS[name])
            self.emit(f"{name}({self.spelled(lock, args[0])});", depth, node)
            self.breaks(lock)
            self.needs_held(name, lock, flow, node)
            return flow
        if name in vocab.STATEMENTS:
            rest = ", ".join(self.plain(a) for a in args)
            self.emit(f"{name}({rest});", depth, node)
            return flow
        if name in vocab.REFERENCES:
            return self.reference(name, args, flow, depth, node)
        if name in vocab.SLEEPING:
            self.note(f"{name}() at {self.at(node)} left out: {vocab.SLEEPING[name]}")
            return flow
        if name.startswith("lockdep_assert_held") and args and not self.callers:
            lock = self.lock(args[0], "rwlock" if name.endswith(("_read", "_write"))
                             else "spin")
            if lock not in flow.held and lock not in self.unheld:
                self.unheld[lock] = entry_lock(name, self.lock_text(lock),
                                           f"{name}() at {self.at(node)}")
            return flow
        if name in vocab.IGNORED or name in vocab.GUARDS:
            return flow
        if name.startswith("trace_") and not self.inlinable(name):
            self.note(f"{name}() at {self.at(node)} left out: a trace point")
            return flow
        if vocab.is_declaring_macro(name) and not self.inlinable(name):
            self.note(f"{name}() at {self.at(node)} left out: an upper-case macro (a "
                      "declaration, an assertion or a trace point)")
            return flow
        if self.inlinable(name):
            return self.inline(name, args, flow, depth, node)
        if args_node is not None:
            flow = self.split_calls(args_node, flow, depth)
            self.no_lock_ops(args_node)
        used = self.derefs(node)
        if used:
            return self.uses(node, flow, depth)
        why = ("not defined in this file" if name not in self.defined
               else "takes and releases no lock")
        self.note(f"{name}() at {self.at(node)} is one work() step: {why}")
        self.once("work();", depth, node)
        return flow

    def reference(self, name: str, args: list[Node], flow: Flow, depth: int,
                  node: Node) -> Flow:
        datum = self.datum_of(args[0]) if args else None
        action = vocab.REFERENCES[name]
        if datum is None:
            self.note(f"{name}({self.text(args[0]) if args else ''}) at {self.at(node)} left "
                      "out: its object is not a datum the model keeps")
            return flow
        if action == "get":
            if self.data[datum] not in flow.held or datum not in flow.reads:
                self.note(f"{name}({datum}) at {self.at(node)} left out: taken without "
                          f"{self.lock_text(self.data[datum])} held")
                return flow
            self.emit(f"get({datum});", depth, node)
            return replace(flow, pins=flow.pins | {datum})
        if datum not in flow.pins:
            self.note(f"{name}({datum}) at {self.at(node)} left out: no reference taken "
                      "before it on this path")
            return flow
        self.emit(f"put({datum});", depth, node)
        return replace(flow, pins=flow.pins - {datum})

    def needs_held(self, name: str, lock: str, flow: Flow, node: Node) -> None:
        """A lock-break call on a lock no path here took: the function is entered with it."""
        if lock not in flow.held and lock not in self.unheld:
            self.unheld[lock] = entry_lock(name, self.lock_text(lock),
                                           f"{name}() at {self.at(node)} breaks it")

    def inlinable(self, name: str) -> bool:
        """Whether ``name`` is a function of this file that takes, releases or breaks a
        lock (directly or through the functions it calls, to `MAX_INLINE` levels)."""
        if name not in self.defined:
            return False
        if name not in self.relevant:
            self.relevant[name] = False
            self.relevant[name] = self._locks_within(name, MAX_INLINE)
        return self.relevant[name]

    def _locks_within(self, name: str, levels: int) -> bool:
        body = self.defined[name].child_by_field_name("body")
        if body is None or levels == 0:
            return False
        for n in walk(body):
            if n.type != "call_expression":
                continue
            fn = n.child_by_field_name("function")
            called = self.src.text(fn) if fn is not None else ""
            if (vocab.lock_operation(called) or called in vocab.BREAKS
                    or called in vocab.STATEMENTS or called in vocab.REFERENCES):
                return True
            if called in self.defined and called != name and self._locks_within(called,
                                                                                 levels - 1):
                return True
        return False

    def inline(self, name: str, args: list[Node], flow: Flow, depth: int,
               node: Node) -> Flow:
        definition = self.defined[name]
        if name in self.callers:
            raise self.src.error(node, f"{name}() calls itself: recursion is not inlined",
                                 "extract a function whose lock operations are not recursive")
        if len(self.callers) >= MAX_INLINE:
            raise self.src.error(node, f"{name}() is more than {MAX_INLINE} calls deep",
                                 f"the abstraction inlines {MAX_INLINE} levels of calls; "
                                 "extract a function nearer the lock")
        params = parameters(definition, self.src)
        mapping = {p: self.rename(a) for p, a in zip(params, args, strict=False)}
        self.subst.append(mapping)
        self.fresh += 1
        exit_label = f"{name}_ret{self.fresh}"
        self.stack.append(exit_label)
        self.callers.append(name)
        if name not in self.inlined:
            self.inlined.append(name)
        start = len(self.out)
        body = definition.child_by_field_name("body")
        assert body is not None
        self.scopes.append(body)
        after = self.block(body, flow, depth)
        self.scopes.pop()
        self.stack.pop()
        self.callers.pop()
        self.subst.pop()
        if any(line.text == f"goto {exit_label};" for line in self.out[start:]):
            self.emit(f"{exit_label}:", max(depth - 1, 0), node)
            self.emit("{ }", depth, node)
            after = join([after, self.labels.get(exit_label)])
        return after if after is not None else flow

    # ------------------------------------------------------------------ conditions
    def condition(self, node: Node, flow: Flow, depth: int) -> tuple[str, Flow]:
        """The scenario condition for the C guard ``node``, after the statements its
        dereferences and inlined calls become."""
        for datum in compared(node, self.src, self.ident):
            if datum in self.data and self.data[datum] in flow.held:
                # Comparing the pointer itself with what the lock protects now is how
                # kernel code revalidates it after a break: a fresh look.
                self.note(f"{datum} compared at {self.at(node)}: a revalidation, read({datum})")
                flow = self.access("read", datum, flow, depth, node)
        flow = self.uses(node, flow, depth)
        whole = strip(node)
        called = strip(whole.child_by_field_name("argument") or whole) if (
            whole.type == "unary_expression" and self.src.text(whole).startswith("!")) else whole
        if called.type == "call_expression" and self.call_name(called) in vocab.STATEMENTS:
            flow = self.call(called, flow, depth)
            self.note(f"guard {self.text(node)} at {self.at(node)} became * after the call")
            return "*", flow
        if whole.type == "call_expression" and self.inlinable(self.call_name(whole)):
            flow = self.call(whole, flow, depth)
            self.note(f"guard {self.text(node)} at {self.at(node)} became *: the function was "
                      "inlined before it")
            return "*", flow
        flow = self.split_calls(node, flow, depth)
        return self.guard(node, flow), flow

    def call_name(self, node: Node) -> str:
        fn = node.child_by_field_name("function")
        return self.src.text(fn) if fn is not None else ""

    def guard(self, node: Node, flow: Flow) -> str:
        node = strip(node)
        if node.type == "binary_expression":
            op = self.src.text(node.child_by_field_name("operator") or node)
            if op in ("&&", "||"):
                left = self.guard(node.child_by_field_name("left") or node, flow)
                right = self.guard(node.child_by_field_name("right") or node, flow)
                if left == "*" and right == "*":
                    return "*"
                return f"{left} {op} {right}" if op == "&&" else f"({left} {op} {right})"
        if node.type == "unary_expression" and self.src.text(node).startswith("!"):
            inner = self.guard(node.child_by_field_name("argument") or node, flow)
            return "*" if inner == "*" else f"!{inner}"
        if node.type == "call_expression":
            name = self.call_name(node)
            args_node = node.child_by_field_name("arguments")
            args = [] if args_node is None else list(args_node.named_children)
            lock_op = vocab.lock_operation(name)
            kind = (lock_op[1] if lock_op is not None and lock_op[0] == "trylock" else
                    vocab.BREAKS.get(name) or vocab.GUARDS.get(name))
            if kind is not None and (lock_op is None or lock_op[0] == "trylock"):
                if kind == "":
                    return f"{name}()"
                lock = self.lock(argument(args, 0, node, self.src), kind)
                rest = "".join(f", {self.plain(a)}" for a in args[1:])
                self.breaks(lock)
                if name in vocab.BREAKS:
                    self.needs_held(name, lock, flow, node)
                return f"{name}({self.spelled(lock, args[0])}{rest})"
            if name in ("likely", "unlikely") and args:
                return self.guard(args[0], flow)
        self.no_lock_ops(node)
        self.note(f"guard {self.text(node)} at {self.at(node)} became *")
        return "*"

    # ------------------------------------------------------------------ control flow
    def if_(self, node: Node, flow: Flow, depth: int) -> Flow | None:
        cond_node = node.child_by_field_name("condition")
        assert cond_node is not None
        cond, flow = self.condition(cond_node, flow, depth)
        then_flow, else_flow = branches(cond, flow, self.by_expr | {n: n for n in self.locks})
        then_node = node.child_by_field_name("consequence")
        alt = node.child_by_field_name("alternative")
        if then_node is not None and alt is None and has_label(then_node) \
                and then_flow == else_flow:
            return self.flattened(cond, then_node, flow, depth, node)
        self.emit(f"if ({bare(cond)}) {{", depth, node)
        after_then = self.stmt(then_node, then_flow, depth + 1) if then_node else then_flow
        if alt is not None:
            inner = [c for c in alt.named_children if c.type != "comment"]
            self.emit("} else {", depth, alt)
            after_else: Flow | None = else_flow
            for child in inner:
                after_else = self.stmt(child, after_else, depth + 1)
        else:
            after_else = else_flow
        self.emit("}", depth, None)
        return join([after_then, after_else])

    def flattened(self, cond: str, body: Node, flow: Flow, depth: int,
                  node: Node) -> Flow | None:
        """``if (c) { ... label: ... }`` as ``if (!c) goto past; ... label: ...; past:``,
        its body in the enclosing block: kernel code jumps to labels inside such a block
        (``goto unlock_and_flush``), which the scenario language takes only in the same
        block or an enclosing one."""
        self.fresh += 1
        past = f"if_{self.fresh}_done"
        negated = "*" if cond == "*" else f"!({bare(cond)})"
        self.emit(f"if ({negated}) {{", depth, node)
        self.emit(f"goto {past};", depth + 1, node)
        self.emit("}", depth, None)
        self.labels[past] = flow
        self.note(f"the block of the if at {self.at(node)} has labels that gotos jump to: its "
                  "statements are written after a jump past them")
        after = self.block(body, flow, depth)
        self.emit(f"{past}:", max(depth - 1, 0), None)
        self.emit("{ }", depth, None)
        return join([after, flow])

    def loop(self, node: Node, flow: Flow, depth: int) -> Flow | None:
        body = node.child_by_field_name("body")
        cond_node = node.child_by_field_name("condition")
        if node.type == "for_statement":
            init = node.child_by_field_name("initializer")
            update = node.child_by_field_name("update")
            if init is not None:
                flow = (self.declaration(init, flow, depth) if init.type == "declaration"
                        else self.expression(init, flow, depth))
            advance = None
            if update is not None:
                advance = self.advancer(update)
            head = "for (;;) {" if cond_node is None else None
            return self.loop_body(node, body, head, cond_node, flow, depth, advance)
        if node.type == "do_statement":
            assert cond_node is not None
            if self.src.text(strip(cond_node)) == "0" and not leaves_loop(body, self.src):
                return self.stmt(body, flow, depth) if body is not None else flow
            self.emit("do {", depth, node)
            loop = Loop(flow.held, test="")
            self.loops.append(loop)
            after = self.stmt(body, flow, depth + 1) if body is not None else flow
            self.loops.pop()
            if loop.continued:
                # The language's do-while skips its test on `continue`; the kernel's does
                # not: a `continue` is a jump to a label just before the test.
                self.note(f"continue in the do-while at {self.at(node)} became goto "
                          f"{loop.test}, a label before its test")
                self.emit(f"{loop.test}:", depth, None)
                self.emit("{ }", depth + 1, None)
                after = join([after, *loop.continued])
            cond, _ = self.condition(cond_node, after or flow, depth + 1)
            self.emit(f"}} while ({bare(cond)});", depth, cond_node)
            return join([after, flow])
        return self.loop_body(node, body, None, cond_node, flow, depth, None)

    def advancer(self, update: Node) -> Callable[[Flow, int], Flow]:
        def advance(flow: Flow, depth: int) -> Flow:
            return self.expression(update, flow, depth)
        return advance

    def loop_body(self, node: Node, body: Node | None, head: str | None,
                  cond_node: Node | None, flow: Flow, depth: int,
                  advance: Callable[[Flow, int], Flow] | None) -> Flow | None:
        if head is None:
            assert cond_node is not None
            cond = ("1" if constant_true(cond_node, self.src)
                    else self.condition(cond_node, flow, depth)[0])
            head = "for (;;) {" if cond == "1" else f"while ({bare(cond)}) {{"
        self.emit(head, depth, node)
        self.loops.append(Loop(flow.held, advance))
        after = self.stmt(body, flow, depth + 1) if body is not None else flow
        if after is not None and advance is not None:
            after = advance(after, depth + 1)
        self.loops.pop()
        self.emit("}", depth, None)
        return join([flow, after])

    def iterate(self, name: str, args: list[Node], macro: Node, body: Node,
                flow: Flow | None, depth: int) -> Flow | None:
        """``list_for_each_entry(pos, head, member) body`` as ``while (*)`` with the cursor
        ``pos`` read before the walk and after each advance."""
        if flow is None:
            return None
        at = 2 if name.startswith("xa_for_each") else 1 if name.startswith("idr_for") else 0
        cursor = self.ident(self.src.text(args[at])) if len(args) > at and \
            args[at].type == "identifier" else ""
        if cursor and not dereferences(body, cursor, self.src, vocab.walks_objects(name)):
            cursor = ""
        self.note(f"{name} at {self.at(macro)} became while (*)"
                  + (f" with the cursor {cursor} a datum" if cursor else ""))
        if cursor:
            flow = self.snapshot(cursor, flow, depth, macro)

        def advance(f: Flow, at: int) -> Flow:
            if not cursor or cursor not in self.data:
                return f
            f = self.access("use", cursor, f, at, macro)
            return self.snapshot(cursor, f, at, macro)

        self.emit("while (*) {", depth, macro)
        self.loops.append(Loop(flow.held, advance))
        after = self.stmt(body, flow, depth + 1)
        if after is not None:
            after = advance(after, depth + 1)
        self.loops.pop()
        self.emit("}", depth, None)
        return join([flow, after])

    def switch(self, node: Node, flow: Flow, depth: int) -> Flow | None:
        cond_node = node.child_by_field_name("condition")
        body = node.child_by_field_name("body")
        assert cond_node is not None and body is not None
        flow = self.uses(cond_node, flow, depth)
        self.note(f"switch ({self.text(strip(cond_node))}) at {self.at(node)} became a choice "
                  "of its cases (if (*) ... else ...)")
        cases: list[list[Node]] = []
        default = False
        for case in body.named_children:
            if case.type == "comment":
                continue
            if case.type != "case_statement":
                raise self.src.error(case, "not understood: a statement before the first case")
            default = default or case.child_by_field_name("value") is None
            stmts = [c for c in case.named_children[1 if case.child_by_field_name("value")
                                                      else 0:]
                     if c.type != "comment" and c != case.child_by_field_name("value")]
            if not stmts:
                continue
            last = stmts[-1]
            if last.type == "break_statement":
                stmts = stmts[:-1]
            elif last.type not in ("return_statement", "goto_statement",
                                   "continue_statement") and case != body.named_children[-1]:
                raise self.src.error(last, "not understood: a case that falls through into "
                                     "the next", "end each case with break, return or goto")
            for inner in stmts:
                for n in walk(inner):
                    if n.type == "break_statement" and breaks_switch(n, case):
                        raise self.src.error(n, "not understood: a break out of a switch "
                                             "from inside a case")
            cases.append(stmts)
        flows: list[Flow | None] = [] if default else [flow]
        self.cases(cases, default, flow, depth, node, flows)
        return join(flows)

    def cases(self, cases: list[list[Node]], default: bool, flow: Flow, depth: int,
              node: Node, flows: list[Flow | None]) -> None:
        """``cases`` as a chain of ``if (*) { case } else { the rest }``; with a default,
        the last case is the final else."""
        if not cases:
            return
        if default and len(cases) == 1:
            after: Flow | None = flow
            for s in cases[0]:
                after = self.stmt(s, after, depth)
            flows.append(after)
            return
        self.emit("if (*) {", depth, node)
        after = flow
        for s in cases[0]:
            after = self.stmt(s, after, depth + 1)
        flows.append(after)
        if len(cases) > 1:
            self.emit("} else {", depth, None)
            self.cases(cases[1:], default, flow, depth + 1, node, flows)
        self.emit("}", depth, None)
