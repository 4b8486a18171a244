"""The state of one abstraction walk over a kernel function (`model.cfront.abstract`): the
scenario lines written so far, the locks and data met, the notes on what was abstracted, and
how the walk names locks and data (an inlined callee's parameters read as the caller's
arguments). The statements and calls are walked by the subclasses in
`model.cfront.abstraction_calls` and `model.cfront.abstraction_control`.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from tree_sitter import Node

from lockbreak.core import ScenarioError
from model.cfront import vocabulary as vocab
from model.cfront.flow import Entry, Flow, Loop, entry_lock
from model.cfront.parse import CSource, function_name, functions, walk
from model.cfront.shapes import declared_locals, dereferences, is_deref, strip

_LOCK_EXPR = re.compile(r"^&?\w+(?:(?:->|\.)\w+)*$")
_IDENT = re.compile(r"\b[A-Za-z_]\w*\b")
_RESERVED = frozenset({"repeat", "forever", "while", "do", "for", "if", "else", "break",
                       "continue", "restart", "goto", "return", "work", "read", "write",
                       "use", "get", "put"})
# Arguments whose truth a guard on the parameter they are passed to can use.
CONSTANTS = {"true": True, "false": False, "1": True, "0": False, "NULL": False}

# The language's words a label cannot be (it takes ``restart:``, the kernel's favourite).
_NOT_LABELS = _RESERVED - {"restart"}


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


class Walker(ABC):
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
        self.operated_on: set[str] = set()
        self.break_in_condition: Node | None = None
        self.notes: list[str] = []
        self.inlined: list[str] = []
        self.loops: list[Loop] = []
        self.subst: list[dict[str, str]] = [{}]
        self.labels: dict[str, Flow] = {}
        self.stack: list[str] = []
        self.label_tags: list[str] = []
        self.own: list[frozenset[str]] = []
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

    @abstractmethod
    def block(self, node: Node, flow: Flow | None, depth: int) -> Flow | None:
        """The statements of the block ``node`` on the path ``flow``; None when no path
        leaves it."""

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

    # ------------------------------------------------------------------ output and notes
    def emit(self, text: str, depth: int, node: Node | None) -> None:
        self.out.append(CodeLine(text, depth, self.src.line(node) if node is not None else 0))

    def break_or(self, node: Node) -> Node:
        """Where a statement whose condition was just read comes from: the lock-break call
        in the condition, when it has one on a line of its own (``if (batch >= BATCH &&
        cond_resched_rwlock_write(&kvm->mmu_lock))``), since the break is the step a trace
        shows there; else ``node``."""
        found, self.break_in_condition = self.break_in_condition, None
        return found if found is not None else node

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
        self.operated_on.add(lock)

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

    def rename(self, node: Node, locks: bool = False) -> str:
        """The text of ``node`` with the inlined callee's parameters replaced by the
        caller's arguments, whitespace removed. For a lock expression (``locks``) the
        callee's own locals keep their names: one lock per field, whichever object holds
        it, as the model names locks."""
        raw = "".join(self.src.text(node).split())
        own = self.own[-1] if locks and self.own else frozenset()
        return _IDENT.sub(lambda m: m[0] if m[0] in own else self.ident(m[0]), raw)

    def plain(self, node: Node) -> str:
        """A flags or subclass argument as the scenario language takes it: its last name or
        number (``*flags`` and ``&flags`` are ``flags``; the model keeps neither)."""
        words = re.findall(r"\w+", self.rename(node))
        return words[-1] if words else "0"

    def label_name(self, node: Node) -> str:
        """The scenario's name for the label a ``goto`` or labelled statement names: the
        kernel's, unless it is a word of the scenario language (``repeat:``), and numbered
        after the inlined call it is in, so a helper inlined twice, or with a label its
        caller also has (``out:``), defines each label once."""
        name = self.src.text(node.child_by_field_name("label") or node.named_children[0])
        if name in _NOT_LABELS:
            name = f"{name}_label"
        return f"{name}_{self.label_tags[-1]}" if self.label_tags else name

    def lock_text(self, lock: str) -> str:
        exprs = self.locks[lock].exprs
        return exprs[0] if exprs else lock

    def lock(self, node: Node, kind: str, held: tuple[str, ...] = ()) -> str:
        """The declared lock name of the lock expression ``node``, registering it."""
        return self.lock_named(self.rename(node, locks=True), kind, node, held)

    def lock_named(self, expr: str, kind: str, node: Node, held: tuple[str, ...] = ()) -> str:
        """The declared lock name of the lock expression ``expr`` (no whitespace). A new
        expression is named after its field, as the lock of that field in another object
        (one lock per field); but when that one is held as this is taken (two inodes'
        ``i_data_sem`` taken together, in a fixed order), it is another lock, numbered."""
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
            base, k = name, 1
            while name in held:
                k += 1
                name = f"{base}_{k}"
            self.by_expr[expr] = name
            if name not in self.locks:
                self.locks[name] = Lock(kind)
            if _LOCK_EXPR.match(expr) and expr != name:
                self.locks[name].exprs.append(expr)
        if self.locks[name].kind != kind:
            raise self.src.error(node, f"{self.text(node)} is used both as a "
                                 f"{self.locks[name].kind} and as a {kind}",
                                 "extract a function that takes it one way")
        return name

    def spelled(self, lock: str, node: Node) -> str:
        """How code names ``lock`` at ``node``: the expression written there when the
        scenario language takes it, else the lock's name."""
        expr = self.rename(node, locks=True)
        return expr if expr in self.locks[lock].exprs else lock

    def call_name(self, node: Node) -> str:
        fn = node.child_by_field_name("function")
        return self.src.text(fn) if fn is not None else ""

    def constant_guard(self, cond_node: Node) -> bool | None:
        """The value of a guard that is a parameter of an inlined function (or its
        negation) which the call passes a constant (``if (shared)`` in a helper called
        ``tdp_mmu_iter_cond_resched(kvm, &iter, flush, false)``); None for any other."""
        whole = strip(cond_node)
        negated = whole.type == "unary_expression" and self.src.text(whole).startswith("!")
        if negated:
            whole = strip(whole.child_by_field_name("argument") or whole)
        if whole.type != "identifier" or not self.subst[-1]:
            return None
        value = CONSTANTS.get(self.ident(self.src.text(whole)))
        return None if value is None else value != negated

    # ------------------------------------------------------------------ data
    def private_list(self, args: list[Node]) -> str | None:
        """The list a walk's arguments head on this function's own stack (``&dispose``,
        declared ``LIST_HEAD(dispose)`` or as a local, passed down to an inlined helper):
        entries moved there are this CPU's alone, so the walk's cursor is no datum."""
        locals_: set[str] = set()
        for scope in self.scopes:
            locals_ |= set(declared_locals(scope, self.src))
            locals_ |= {self.src.text(a) for n in walk(scope) if n.type == "call_expression"
                        and self.call_name(n) == "LIST_HEAD"
                        for a in (n.child_by_field_name("arguments") or n).named_children}
        for arg in args:
            for text in ("".join(self.src.text(arg).split()), self.rename(arg)):
                if text.startswith("&") and text[1:] in locals_:
                    return text[1:]
        return None

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
