"""Calls and expressions in an abstraction walk (`model.cfront.abstract`): lock operations
and lock-break primitives as the kernel spells them, reference helpers as ``get``/``put``,
calls into functions of the same file that take or release a lock inlined to `MAX_INLINE`
levels, any other call one ``work()`` step (or ``use(X)`` when it is handed a datum).
"""

from __future__ import annotations

import re
from dataclasses import replace

from tree_sitter import Node

from model.cfront import vocabulary as vocab
from model.cfront.abstraction_core import Walker
from model.cfront.flow import Flow, entry_lock, join
from model.cfront.parse import walk
from model.cfront.shapes import argument, declared_locals, parameters, reads_through

MAX_INLINE = 4


class CallWalker(Walker):
    """The walk's expressions, assignments and calls."""

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

    def call(self, node: Node, flow: Flow, depth: int) -> Flow:
        fn = node.child_by_field_name("function")
        args_node = node.child_by_field_name("arguments")
        args = [] if args_node is None else [a for a in args_node.named_children
                                             if a.type != "comment"]
        name = self.src.text(fn) if fn is not None else ""
        op = vocab.lock_operation(name)
        if op is not None:
            return self.lock_call(name, op, args, flow, depth, node)
        if name in vocab.BREAKS:
            lock = self.lock(argument(args, 0, node, self.src), vocab.BREAKS[name])
            self.emit(f"{name}({self.spelled(lock, args[0])});", depth, node)
            self.breaks(lock)
            self.needs_held(name, lock, flow, node)
            return flow
        if name in vocab.EXPANDED:
            for text in vocab.EXPANDED[name]:
                self.emit(text, depth, node)
            self.note(f"{name}() at {self.at(node)} is {' '.join(vocab.EXPANDED[name])}")
            return flow
        if name in vocab.STATEMENTS:
            rest = ", ".join(self.plain(a) for a in args)
            self.emit(f"{name}({rest});", depth, node)
            return flow
        if name in vocab.REFERENCES:
            return self.reference(name, args, flow, depth, node)
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

    def lock_call(self, name: str, op: tuple[str, str], args: list[Node], flow: Flow,
                  depth: int, node: Node) -> Flow:
        """A lock operation in any of the kernel's spellings (a wrapper such as
        ``pte_unmap_unlock()`` as the operation it wraps), and what it does to the locks
        held on this path."""
        what, kind = op
        if what == "trylock":
            raise self.src.error(node, f"{name}() whose result is not tested",
                                 f"the abstraction takes {name}() as the whole condition "
                                 "of an if or a loop")
        wrapper = vocab.WRAPPERS.get(name)
        if wrapper is not None:
            arg = argument(args, max((wrapper.arg, *wrapper.extra)), node, self.src)
            expr = wrapper.lock_expr(self.rename(args[wrapper.arg], locks=True))
            lock = self.lock_named(expr, kind, arg, flow.held if what == "lock" else ())
            spelled = expr if expr in self.locks[lock].exprs else lock
            rest = "".join(f", {self.plain(args[k])}" for k in wrapper.extra)
            self.emit(f"{wrapper.spelling}({spelled}{rest});", depth, node)
            self.note(f"{name}() at {self.at(node)} is {wrapper.spelling}({spelled})")
        else:
            lock = self.lock(argument(args, 0, node, self.src), kind,
                             flow.held if what == "lock" else ())
            rest = "".join(f", {self.plain(a)}" for a in args[1:])
            spelling = vocab.SPELLED_AS.get(name, name)
            self.emit(f"{spelling}({self.spelled(lock, args[0])}{rest});", depth, node)
        self.operated_on.add(lock)
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

    def own_locals(self, definition: Node, mapping: dict[str, str]) -> dict[str, str]:
        """Names for the locals of a function being inlined that its callers also use
        (``dispose_list()``'s ``inode`` inside ``evict_inodes()``, which has its own): the
        callee's is another variable, so it is numbered after the call (``inode_2``)."""
        body = definition.child_by_field_name("body")
        if body is None:
            return {}
        used = {word for scope in self.scopes
                for word in re.findall(r"\b[A-Za-z_]\w*\b", self.src.text(scope))}
        used |= set(self.data) | {v for m in self.subst for v in m.values()}
        return {name: f"{name}_{self.fresh}" for name in declared_locals(body, self.src)
                if name not in mapping and name in used}

    def not_inlined(self, name: str, flow: Flow, depth: int, node: Node) -> Flow:
        """A call that is recursive, or deeper than `MAX_INLINE` levels: one ``work()``
        step when everything it does to locks stays inside it (each lock it names taken as
        often as released, and no lock break), with a note; otherwise refused, since the
        locks held after it would be guessed."""
        why = ("calls itself" if name in self.callers
               else f"is more than {MAX_INLINE} calls deep")
        if not self.balanced(name):
            raise self.src.error(node, f"{name}() {why} and takes or releases a lock it does "
                                 "not give back", "extract a function nearer the lock")
        self.note(f"{name}() at {self.at(node)} {why}: one work() step, its own locks taken "
                  "and released inside it are left out")
        self.once("work();", depth, node)
        return flow

    def balanced(self, name: str) -> bool:
        """Whether the body of ``name`` (without what it calls) breaks no lock and takes
        each lock it names as many times as it releases it."""
        body = self.defined[name].child_by_field_name("body")
        count: dict[str, int] = {}
        for n in walk(body) if body is not None else []:
            called = self.call_name(n) if n.type == "call_expression" else ""
            op = vocab.lock_operation(called)
            if called in vocab.BREAKS:
                return False
            args = n.child_by_field_name("arguments")
            if op is None or op[0] == "trylock" or args is None or not args.named_children:
                continue
            wrapper = vocab.WRAPPERS.get(called)
            arg = args.named_children[wrapper.arg if wrapper is not None else 0]
            key = "".join(self.src.text(arg).split()).lstrip("&")
            count[key] = count.get(key, 0) + (1 if op[0] == "lock" else -1)
        return not any(count.values())

    def inline(self, name: str, args: list[Node], flow: Flow, depth: int,
               node: Node) -> Flow:
        definition = self.defined[name]
        if name in self.callers or len(self.callers) >= MAX_INLINE:
            return self.not_inlined(name, flow, depth, node)
        params = parameters(definition, self.src)
        mapping = {p: self.rename(a) for p, a in zip(params, args, strict=False)}
        self.fresh += 1
        own = self.own_locals(definition, mapping)
        mapping.update(own)
        self.subst.append(mapping)
        self.own.append(frozenset(own))
        exit_label = f"{name}_ret{self.fresh}"
        self.stack.append(exit_label)
        self.label_tags.append(str(self.fresh))
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
        self.label_tags.pop()
        self.own.pop()
        self.callers.pop()
        self.subst.pop()
        if any(line.text == f"goto {exit_label};" for line in self.out[start:]):
            self.emit(f"{exit_label}:", max(depth - 1, 0), node)
            self.emit("{ }", depth, node)
            after = join([after, self.labels.get(exit_label)])
        return after if after is not None else flow
