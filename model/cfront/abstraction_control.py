"""Statements and control flow in an abstraction walk (`model.cfront.abstract`): blocks,
labels and ``goto``, ``if``, loops, list iteration macros as ``while (*)``, ``switch`` as a
choice of its cases, and guards, which become ``*`` unless the model can evaluate them.
"""

from __future__ import annotations

from collections.abc import Callable

from tree_sitter import Node

from model.cfront import vocabulary as vocab
from model.cfront.abstraction_calls import CallWalker
from model.cfront.flow import Flow, Loop, bare, branches, join
from model.cfront.parse import not_understood, walk
from model.cfront.shapes import (
    argument,
    attribute_declarator,
    compared,
    constant_true,
    dereferences,
    has_label,
    holds_label,
    iterated_assignment,
    iterated_variable,
    iterator_definition,
    iterator_semicolon,
    last_statement,
    leaves_loop,
    strip,
    tests_null,
    type_argument,
)

# The statements of one branch of an if: the path into it and its depth to the path out.
Branch = Callable[[Flow | None, int], Flow | None]


class ControlWalker(CallWalker):
    """The walk's statements, conditions and control flow."""

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
                    name = self.label_name(child)
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
        repeated = iterated_assignment(node, self.src)
        if repeated is not None:
            return self.iterated(repeated, flow, depth)
        bad = [n for n in not_understood(node)
               if not type_argument(n, self.src) and not attribute_declarator(n)
               and not iterator_semicolon(n, self.src) and not iterated_variable(n, self.src)]
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
            label = self.label_name(node)
            self.labels.setdefault(label, flow)
            self.emit(f"goto {label};", depth, node)
            return None
        if kind == "break_statement":
            if self.loops:
                self.loops[-1].broken.append(flow)
            if self.loops and self.loops[-1].exit is not None:
                self.emit(f"goto {self.loops[-1].exit};", depth, node)
                return None
            self.emit("break;", depth, node)
            return None
        if kind == "continue_statement":
            loop = next((lp for lp in reversed(self.loops) if lp.exit is None), None)
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

    def iterated(self, parts: tuple[Node, Node, Node], flow: Flow | None, depth: int
                 ) -> Flow | None:
        """A braceless iteration macro over one assignment, ``MACRO(...) var op= value;``:
        the walk with the assignment as its body."""
        macro, target, value = parts
        args_node = macro.child_by_field_name("arguments")
        args = [] if args_node is None else list(args_node.named_children)

        def assigned(f: Flow, at: int) -> Flow:
            return self.assign(target, value, f, at, value)
        return self.iterate(self.call_name(macro), args, macro, value, flow, depth, assigned)

    def label(self, node: Node, flow: Flow | None, depth: int) -> Flow | None:
        name = self.label_name(node)
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
                wrapper = vocab.WRAPPERS.get(name)
                if wrapper is not None:
                    arg = argument(args, wrapper.arg, node, self.src)
                    lock = self.lock_named(wrapper.lock_expr(self.rename(arg, locks=True)),
                                           kind, arg)
                    self.breaks(lock)
                    expr = self.locks[lock].exprs[0] if self.locks[lock].exprs else lock
                    return f"{wrapper.spelling}({expr})"
                lock = self.lock(argument(args, 0, node, self.src), kind)
                rest = "".join(f", {self.plain(a)}" for a in args[1:])
                self.breaks(lock)
                if name in vocab.BREAKS:
                    self.needs_held(name, lock, flow, node)
                    self.break_in_condition = node
                spelling = vocab.SPELLED_AS.get(name, name)
                return f"{spelling}({self.spelled(lock, args[0])}{rest})"
            if name in ("likely", "unlikely") and args:
                return self.guard(args[0], flow)
        self.no_lock_ops(node)
        self.note(f"guard {self.text(node)} at {self.at(node)} became *")
        return "*"

    # ------------------------------------------------------------------ control flow
    def if_(self, node: Node, flow: Flow, depth: int) -> Flow | None:
        cond_node = node.child_by_field_name("condition")
        assert cond_node is not None
        then_node = node.child_by_field_name("consequence")
        alt = node.child_by_field_name("alternative")
        known = self.constant_guard(cond_node)
        if known is not None:
            self.note(f"guard {self.text(strip(cond_node))} at {self.at(cond_node)} is "
                      f"{'true' if known else 'false'}: the inlined call's argument")
            taken = self.branch(then_node if known else alt)
            return taken(flow, depth) if taken is not None else flow
        if self.tries_within(cond_node):
            return self.tried(cond_node, then_node, alt, flow, depth, node)
        cond, flow = self.condition(cond_node, flow, depth)
        then_flow, else_flow = branches(cond, flow, self.by_expr | {n: n for n in self.locks})
        if then_node is not None and alt is None and has_label(then_node) \
                and then_flow == else_flow:
            return self.flattened(cond, then_node, flow, depth, node)
        return self.branched(cond, node, flow, self.branch(then_node), self.branch(alt),
                             depth, alt)

    def branch(self, node: Node | None) -> Branch | None:
        """The statements of an ``if``'s branch (an ``else`` clause's contents), as a
        function of the path into it and the depth."""
        if node is None:
            return None
        inner = ([c for c in node.named_children if c.type != "comment"]
                 if node.type == "else_clause" else [node])

        def walk_branch(flow: Flow | None, depth: int) -> Flow | None:
            for child in inner:
                flow = self.stmt(child, flow, depth)
            return flow
        return walk_branch

    def branched(self, cond: str, node: Node, flow: Flow, then: Branch | None,
                 other: Branch | None, depth: int, else_at: Node | None = None
                 ) -> Flow | None:
        """``if (cond) { then } else { other }`` written at ``depth`` (the ``else`` at the
        kernel's ``else_at``)."""
        then_flow, else_flow = branches(cond, flow, self.by_expr | {n: n for n in self.locks})
        self.emit(f"if ({bare(cond)}) {{", depth, self.break_or(node))
        after_then = then(then_flow, depth + 1) if then is not None else then_flow
        after_else: Flow | None = else_flow
        if other is not None:
            self.emit("} else {", depth, else_at)
            after_else = other(else_flow, depth + 1)
        self.emit("}", depth, None)
        return join([after_then, after_else])

    def tries_within(self, cond_node: Node) -> bool:
        """Whether ``cond_node`` joins a trylock to other tests with ``&&`` or ``||``
        (``if (inode && !spin_trylock(&inode->i_lock))``), which the scenario language
        takes only as a whole condition."""
        whole = strip(cond_node)
        if whole.type != "binary_expression" or self.src.text(
                whole.child_by_field_name("operator") or whole) not in ("&&", "||"):
            return False
        return any(n.type == "call_expression" and (vocab.lock_operation(self.call_name(n))
                                                    or ("", ""))[0] == "trylock"
                   for n in walk(whole))

    def tried(self, cond_node: Node, then_node: Node | None, alt: Node | None, flow: Flow,
              depth: int, node: Node) -> Flow | None:
        """An ``if`` whose condition joins a trylock to other tests, as C evaluates it: ``if
        (a && b) S else E`` as ``if (a) { if (b) S else E } else E``, ``if (a || b) S else
        E`` as ``if (a) S else { if (b) S else E }``. A branch so written twice (``E`` after
        ``&&``, ``S`` after ``||``) must hold no label (each label is defined once)."""
        ops = {self.src.text(n.child_by_field_name("operator") or n)
               for n in walk(strip(cond_node)) if self.tries_within(n)}
        twice = ([alt] if "&&" in ops else []) + ([then_node] if "||" in ops else [])
        for branch in twice:
            if branch is not None and holds_label(branch):
                raise self.src.error(cond_node, "not understood: a trylock joined to other "
                                     "tests, over a branch that holds a label",
                                     "test the trylock in an if of its own")
        self.note(f"the condition {self.text(cond_node)} at {self.at(cond_node)} joins a "
                  "trylock to other tests: one if per test, in C's order")
        return self.nested(cond_node, self.branch(then_node), self.branch(alt), flow, depth,
                           node)

    def nested(self, cond_node: Node, then: Branch | None, other: Branch | None, flow: Flow,
               depth: int, node: Node) -> Flow | None:
        whole = strip(cond_node)
        if self.tries_within(whole):
            op = self.src.text(whole.child_by_field_name("operator") or whole)
            left = whole.child_by_field_name("left")
            right = whole.child_by_field_name("right")
            assert left is not None and right is not None

            def inner(f: Flow | None, d: int) -> Flow | None:
                return None if f is None else self.nested(right, then, other, f, d, node)
            if op == "&&":
                return self.nested(left, inner, other, flow, depth, node)
            return self.nested(left, then, inner, flow, depth, node)
        cond, flow = self.condition(whole, flow, depth)
        return self.branched(cond, node, flow, then, other, depth)

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
            if constant_true(cond_node, self.src):
                return self.loop_body(node, body, "for (;;) {", None, flow, depth, None)
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
            self.emit(f"}} while ({bare(cond)});", depth, self.break_or(cond_node))
            return join([after, flow, *loop.broken])
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
        self.emit(head, depth, self.break_or(node))
        loop = Loop(flow.held, advance)
        self.loops.append(loop)
        after = self.stmt(body, flow, depth + 1) if body is not None else flow
        if after is not None and advance is not None:
            after = advance(after, depth + 1)
        self.loops.pop()
        self.emit("}", depth, None)
        if head == "for (;;) {":
            # Left only by `break` (or a jump out): what the breaks knew.
            return join(list(loop.broken))
        return join([flow, after, *loop.broken])

    def iterate(self, name: str, args: list[Node], macro: Node, body: Node,
                flow: Flow | None, depth: int,
                walk_body: Callable[[Flow, int], Flow] | None = None) -> Flow | None:
        """``list_for_each_entry(pos, head, member) body`` as ``while (*)`` with the cursor
        ``pos`` read before the walk and after each advance."""
        if flow is None:
            return None
        at = 2 if name.startswith("xa_for_each") else 1 if name.startswith("idr_for") else 0
        written = self.src.text(args[at]) if len(args) > at and \
            args[at].type == "identifier" else ""
        cursor = self.ident(written) if written else ""
        private = self.private_list(args)
        if cursor and (private or not dereferences(body, written, self.src,
                                                   vocab.walks_objects(name))):
            cursor = ""
        self.note(f"{name} at {self.at(macro)} became while (*)"
                  + (f" with the cursor {cursor} a datum" if cursor else "")
                  + (f": a walk of {private}, a list on this function's stack" if private
                     else ""))
        if cursor:
            flow = self.snapshot(cursor, flow, depth, macro)

        def advance(f: Flow, at: int) -> Flow:
            if not cursor or cursor not in self.data:
                return f
            f = self.access("use", cursor, f, at, macro)
            return self.snapshot(cursor, f, at, macro)

        self.emit("while (*) {", depth, macro)
        loop = Loop(flow.held, advance)
        self.loops.append(loop)
        after = (self.stmt(body, flow, depth + 1) if walk_body is None
                 else walk_body(flow, depth + 1))
        if after is not None:
            after = advance(after, depth + 1)
        self.loops.pop()
        self.emit("}", depth, None)
        return join([flow, after, *loop.broken])

    def switch(self, node: Node, flow: Flow, depth: int) -> Flow | None:
        cond_node = node.child_by_field_name("condition")
        body = node.child_by_field_name("body")
        assert cond_node is not None and body is not None
        flow = self.uses(cond_node, flow, depth)
        self.note(f"switch ({self.text(strip(cond_node))}) at {self.at(node)} became a choice "
                  "of its cases (if (*) ... else ...)")
        cases, default = self.case_bodies(body)
        self.fresh += 1
        done = Loop(flow.held, exit=f"switch_{self.fresh}_done")
        self.loops.append(done)
        flows: list[Flow | None] = [] if default else [flow]
        self.cases(cases, default, flow, depth, node, flows)
        self.loops.pop()
        if done.broken:
            # A `break` inside a case (under an if) jumps past the switch.
            self.emit(f"{done.exit}:", max(depth - 1, 0), None)
            self.emit("{ }", depth, None)
        return join([*flows, *done.broken])

    def case_bodies(self, body: Node) -> tuple[list[list[Node]], bool]:
        """The statements each case runs, and whether there is a default: a case that falls
        through runs the next one's too (written again after its own), a final `break`
        is dropped."""
        own: list[list[Node]] = []
        default = False
        for case in body.named_children:
            if case.type == "comment":
                continue
            if case.type != "case_statement":
                raise self.src.error(case, "not understood: a statement before the first case")
            value = case.child_by_field_name("value")
            default = default or value is None
            own.append([c for c in case.named_children[1 if value else 0:]
                        if c.type != "comment" and c != value])
        cases: list[list[Node]] = []
        for k, stmts in enumerate(own):
            if not stmts:
                continue
            run = list(stmts)
            for later in own[k + 1:]:
                if run[-1].type in ("break_statement", "return_statement", "goto_statement",
                                    "continue_statement"):
                    break
                if any(holds_label(n) for n in later):
                    raise self.src.error(run[-1], "not understood: a case that falls through "
                                         "into one holding a label", "end the case with a goto")
                self.note(f"the case ending at {self.at(run[-1])} falls through: the next "
                          "case's statements are written after its own")
                run += later
            cases.append(run[:-1] if run[-1].type == "break_statement" else run)
        return cases, default

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
