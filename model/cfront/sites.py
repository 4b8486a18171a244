"""Lock-break sites in kernel C: every place a function drops a lock it holds so that another
CPU, or the scheduler, can have it, and takes it back (docs/semantics.md section 10).

These shapes are sites:

- a call of a lock-break primitive: ``cond_resched_lock(L)`` (and ``__cond_resched_lock``),
  ``cond_resched_rwlock_read(L)``, ``cond_resched_rwlock_write(L)``;
- an open-coded break: an unlock of a lock in a branch guarded by ``need_resched()``,
  ``spin_needbreak(L)`` or ``rwlock_needbreak(L)``, inside a loop (a C loop, a list iteration
  macro such as ``list_for_each_entry(...) { ... }``, or a ``goto`` back to a label above it).
  The unlock is the site: that is where the lock is dropped. The guard may be asked through a
  helper of the same file, or decide an early exit before the unlock (``if (!need_resched())
  return false;``), the unlock may be a wrapper of the same file (``zone_unlock()``), and the
  loop may be in a caller of the same file;
- an unguarded break (``open-coded relock``): an unlock inside a loop whose lock is taken
  again, by the same expression, before the loop goes on (section 10's open-coded break:
  ``drop_pagecache_sb()``'s shape, dropping the list lock around work on a pinned entry);
- a round that a guard ends early: an unlock inside a loop that took the lock at the start of
  the round, with a guard asked in between (``again: spin_lock(ptl); ... if (need_resched())
  break; ... spin_unlock(ptl); cond_resched(); goto again;``, as page-table copies do).

An unguarded unlock that sleeps until woken before the relock (``spin_unlock(L); schedule();
spin_lock(L);`` in a loop waiting for a condition) is a wait, not a site; the same drop under a
``need_resched()`` guard is a break. A ``need_resched()`` test whose branch unlocks nothing (it
breaks out of the loop and unlocks after it), an unlock outside any loop (the primitive
``__cond_resched_lock`` itself) and an unguarded unlock of a lock the iteration took itself and
does not take again are not sites.
A site found in a macro body (tree-sitter keeps a ``#define`` body as text) or outside any
function it could read is still listed, with why it has no function to extract.

>>> from model.cfront.parse import parse_source
>>> src = parse_source("walk.c", b"void walk(spinlock_t *l)\\n{\\n\\tcond_resched_lock(l);\\n}\\n")
>>> find_sites(src)
[Site(path='walk.c', line=3, col=2, function='walk', idiom='cond_resched_lock', lock='l', why='')]
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tree_sitter import Node

from model.cfront.parse import CSource, definitions, function_name, walk
from model.cfront.vocabulary import SPELLED_AS, WRAPPERS, lock_operation
from model.spellings import base_name

# Calls that are lock-break sites by themselves, by the idiom each one is.
PRIMITIVES = {
    "cond_resched_lock": "cond_resched_lock",
    "__cond_resched_lock": "cond_resched_lock",
    "cond_resched_rwlock_read": "cond_resched_rwlock_read",
    "__cond_resched_rwlock_read": "cond_resched_rwlock_read",
    "cond_resched_rwlock_write": "cond_resched_rwlock_write",
    "__cond_resched_rwlock_write": "cond_resched_rwlock_write",
    "cond_resched_rcu": "cond_resched_rcu",
}
# Tests that ask whether a held lock should be dropped now (spin_needbreak() and
# rwlock_needbreak() are the contention tests, which some callers ask directly).
GUARDS = ("need_resched", "spin_needbreak", "rwlock_needbreak", "spin_is_contended",
          "raw_spin_is_contended", "rwlock_is_contended")
# The releases an open-coded break is made of (their kernel spellings map to these bases),
# with the wrappers that release a spinlock or an rwsem under another name: the xarray's
# lock (xa_unlock_irq(), xas_unlock()) and the mm's mmap_lock.
UNLOCKS = frozenset({"spin_unlock", "read_unlock", "write_unlock", "mutex_unlock", "up_read",
                     "up_write", *(name for name in WRAPPERS
                                   if (lock_operation(name) or ("",))[0] == "unlock")})
# The acquisitions a relock is made of, as UNLOCKS lists the releases.
LOCKS = frozenset({"spin_lock", "read_lock", "write_lock", "mutex_lock", "down_read",
                   "down_write", *(name for name in (*WRAPPERS, *SPELLED_AS)
                                   if (lock_operation(name) or ("",))[0] == "lock")})
_LOOPS = frozenset({"for_statement", "while_statement", "do_statement"})
_JUMPS = frozenset({"return_statement", "continue_statement", "break_statement",
                    "goto_statement"})
# The calls that put the task to sleep until it is woken: a wait, not a break.
_SLEEPS = re.compile(r"^(?:io_)?schedule(?:_timeout\w*|_hrtimeout\w*)?$")
_ITERATOR = re.compile(r"(for_each|_foreach|_for_each_)")
_MACRO_WORDS = re.compile(r"\b(" + "|".join(sorted(PRIMITIVES, key=len, reverse=True))
                          + r"|" + "|".join(GUARDS) + r")\s*\(")


@dataclass(frozen=True)
class Site:
    """One lock-break site: where the lock is dropped, the function that does it, the idiom
    (``cond_resched_lock``, ``cond_resched_rwlock_read``, ``cond_resched_rwlock_write``, or
    ``open-coded need_resched`` and the like, naming the guards), the lock as written, and,
    for a site no function can be extracted for, why (empty otherwise)."""

    path: str
    line: int
    col: int
    function: str
    idiom: str
    lock: str
    why: str = ""


@dataclass(frozen=True)
class _File:
    """What the file's other functions say about a call: which of them answer a guard, which
    run once per iteration of a caller's loop, and which only release or only take a lock
    (``zone_unlock(zone, flags)`` wrapping ``spin_unlock_irqrestore``)."""

    helpers: dict[str, list[str]]
    repeated: set[str]
    unlockers: set[str]
    lockers: set[str]


def find_sites(source: CSource) -> list[Site]:
    """Every lock-break site of ``source``, in source order."""
    sites = []
    unlockers, lockers = lock_wrappers(source)
    context = _File(guard_helpers(source), repeated_functions(source), unlockers, lockers)
    for node in walk(source.tree.root_node):
        if node.type == "call_expression":
            site = _call_site(source, node, context)
            if site is not None:
                sites.append(site)
        elif node.type == "preproc_function_def" or node.type == "preproc_def":
            sites += _macro_sites(source, node)
    sites += _answers(source, sites, context)
    return sorted(sites, key=lambda s: (s.line, s.col))


def _answers(source: CSource, sites: list[Site], context: _File) -> list[Site]:
    """Guards asked where no lock is dropped, listed with why: a function that drops no
    lock, whose answer to ``need_resched()`` leaves it as a value (``ret = need_resched() ?
    D_WALK_QUIT : ...``, a callback a walk asks), and that no function of the file with a
    site calls. A guard in a function
    with a site, in a guard helper, or in a function called by one with a site (a helper
    that bails out for its caller to break) belongs to that site."""
    covered = {s.function for s in sites}
    callers_of: dict[str, set[str]] = {}
    for call in walk(source.tree.root_node):
        if call.type == "call_expression":
            caller = _enclosing_name(call)
            if caller:
                callers_of.setdefault(_callee(call), set()).add(caller)
    unlocking = {caller for name, callers in callers_of.items()
                 if base_name(name) in UNLOCKS or name in context.unlockers
                 for caller in callers}
    found = []
    for call in walk(source.tree.root_node):
        if call.type != "call_expression" or _callee(call) not in GUARDS[:3]:
            continue
        function, why = _enclosing(source, call)
        if not function or why or function in covered or function in context.helpers \
                or callers_of.get(function, set()) & covered or not _handed_on(call) \
                or function in unlocking:
            continue
        found.append(Site(source.path, source.line(call), source.col(call), function,
                          f"open-coded {_callee(call)}", "", (
                              f"{_callee(call)}() here drops no lock: its answer leaves "
                              f"{function}() (returned or stored), and no function of this "
                              "file that calls it breaks a lock; the break, if any, is where "
                              "a caller acts on the answer: extract that caller")))
    return found


def _handed_on(call: Node) -> bool:
    """Whether the answer of the guard ``call`` is a value the statement around it stores
    or returns (``ret = need_resched() ? D_WALK_QUIT : D_WALK_NORETRY;``), not a condition
    of the function's own control flow."""
    node = call.parent
    while node is not None and not node.type.endswith("statement"):
        node = node.parent
    return node is not None and node.type in ("expression_statement", "return_statement")


def lock_wrappers(source: CSource) -> tuple[set[str], set[str]]:
    """The functions of ``source`` that release a lock and take none, and those that take a
    lock and release none (through wrappers of wrappers): what a break spells its unlock and
    relock with when the file wraps them."""
    calls = {name: {_callee(n) for n in walk(node) if n.type == "call_expression"}
             for name, node in _definitions(source)}
    unlockers: set[str] = set()
    lockers: set[str] = set()
    changed = True
    while changed:
        changed = False
        for name, called in calls.items():
            drops = any(base_name(c) in UNLOCKS or c in unlockers for c in called)
            takes = any(base_name(c) in LOCKS or c in lockers for c in called)
            for found, kind in ((drops and not takes, unlockers), (takes and not drops, lockers)):
                if found and name not in kind:
                    kind.add(name)
                    changed = True
    return unlockers, lockers


def repeated_functions(source: CSource) -> set[str]:
    """Functions of ``source`` called from inside a loop of the same file (or from a function
    so called): a lock break in one of them (KVM's ``tdp_mmu_iter_cond_resched()``, called
    for every entry of a walk) happens once per iteration of its caller's loop."""
    calls = [(call, _callee(call)) for call in walk(source.tree.root_node)
             if call.type == "call_expression"]
    defined = {name for name, _ in _definitions(source)}
    repeated: set[str] = set()
    changed = True
    while changed:
        changed = False
        for call, name in calls:
            if name in defined and name not in repeated and (
                    _in_loop(call) or _enclosing_name(call) in repeated):
                repeated.add(name)
                changed = True
    return repeated


def callers(source: CSource, name: str) -> list[str]:
    """The functions of ``source`` that call ``name``, in source order: where a helper that
    is handed a held lock (and breaks it) is checked from."""
    found = [_enclosing_name(call) for call in walk(source.tree.root_node)
             if call.type == "call_expression" and _callee(call) == name]
    return [caller for caller in dict.fromkeys(found) if caller and caller != name]


def _enclosing_name(node: Node) -> str | None:
    function = _function_of(node)
    return function_name(function) if function is not None else None


def _definitions(source: CSource) -> list[tuple[str, Node]]:
    """The functions ``source`` defines, without the iteration macros read as definitions."""
    return [(name, node) for name, node in definitions(source) if _is_function(node)]


def _is_function(node: Node) -> bool:
    """Whether ``node`` defines a function: a ``function_definition`` outside any other.
    Inside one, it is an iteration macro tree-sitter took for a definition
    (``for_each_possible_cpu(cpu) { ... }`` reads as a function ``cpu`` of type
    ``for_each_possible_cpu``)."""
    if node.type != "function_definition":
        return False
    parent = node.parent
    while parent is not None:
        if parent.type == "function_definition":
            return False
        parent = parent.parent
    return True


def _iterator_definition(node: Node) -> bool:
    """Whether ``node`` is an iteration macro read as a nested function definition."""
    kind = node.child_by_field_name("type")
    return (node.type == "function_definition" and not _is_function(node)
            and kind is not None and bool(_ITERATOR.search((kind.text or b"").decode())))


def break_lines(source: CSource, site: Site) -> set[int]:
    """The lines ``site``'s break is written on: its own, and when it calls a function of the
    same file (an unlock wrapper such as ``zone_unlock()``), that function's lines, where an
    extraction that inlines it puts the unlock."""
    lines = {site.line}
    point = (site.line - 1, site.col - 1)
    node = source.tree.root_node.descendant_for_point_range(point, point)
    while node is not None and node.type != "call_expression":
        node = node.parent
    defined = dict(_definitions(source))
    if node is not None and _callee(node) in defined:
        wrapper = defined[_callee(node)]
        lines |= set(range(source.line(wrapper), wrapper.end_point[0] + 2))
    return lines


def _callee(call: Node) -> str:
    name = call.child_by_field_name("function")
    return name.text.decode() if name is not None and name.type == "identifier" and name.text \
        else ""


def _first_argument(source: CSource, call: Node) -> str:
    args = call.child_by_field_name("arguments")
    named = [] if args is None else [a for a in args.named_children if a.type != "comment"]
    return source.text(named[0]) if named else ""


def guard_helpers(source: CSource) -> dict[str, list[str]]:
    """Functions of ``source`` that return a lock-break guard's answer, in their return value
    or from a branch the guard decides (KVM's ``need_topup_split_caches_or_resched()``:
    ``if (need_resched() || rwlock_needbreak(...)) return true;``), each with the guards it
    asks, through helpers of helpers."""
    returns = {name: [n for n in walk(node) if n.type == "return_statement"]
               for name, node in _definitions(source)}
    helpers: dict[str, list[str]] = {}
    changed = True
    while changed:
        changed = False
        for name, statements in returns.items():
            guards = list(dict.fromkeys(g for r in statements
                                        for g in _guards_in(r, helpers) + _guarding(r, helpers)))
            if guards and guards != helpers.get(name):
                helpers[name] = guards
                changed = True
    return helpers


def _call_site(source: CSource, call: Node, context: _File) -> Site | None:
    name = _callee(call)
    if name in PRIMITIVES:
        idiom = PRIMITIVES[name]
    elif base_name(name) in UNLOCKS or name in context.unlockers:
        if not (_in_loop(call) or _enclosing_name(call) in context.repeated):
            return None
        guards = _guarding(call, context.helpers)
        if guards:
            idiom = "open-coded " + " || ".join(guards)
        elif _relocked(call, context.lockers):
            if _sleeps_to_wait(call, context.lockers):
                return None
            idiom = "open-coded relock"
        elif restarted := _restarted(call, context):
            idiom = "open-coded " + " || ".join(restarted)
        else:
            return None
    else:
        return None
    function, why = _enclosing(source, call)
    return Site(source.path, source.line(call), source.col(call), function, idiom,
                _first_argument(source, call), why)


def _relocked(unlock: Node, lockers: set[str]) -> bool:
    """Whether the lock ``unlock`` drops is taken again after it, before its loop ends (or,
    in a function called once per iteration, before the function ends)."""
    _, end = _loop_span(unlock)
    return any(unlock.end_byte <= n.start_byte < end for n in _takes(unlock, lockers))


def _sleeps_to_wait(unlock: Node, lockers: set[str]) -> bool:
    """Whether the task goes to sleep between ``unlock`` and the relock after it
    (``spin_unlock(&inode->i_lock); schedule(); spin_lock(&inode->i_lock);``): a wait for a
    condition, which gives the lock up for as long as the wait lasts, not a lock break."""
    _, end = _loop_span(unlock)
    relocks = [n.start_byte for n in _takes(unlock, lockers)
               if unlock.end_byte <= n.start_byte < end]
    scope = _function_of(unlock)
    if not relocks or scope is None:
        return False
    return any(n.type == "call_expression" and _SLEEPS.match(_callee(n))
               and unlock.end_byte <= n.start_byte < min(relocks) for n in walk(scope))


def _restarted(unlock: Node, context: _File) -> list[str]:
    """The guards that end a hold early when the loop takes the lock ``unlock`` drops at the
    start of each round (``again: spin_lock(ptl); ... if (need_resched()) break; ...
    spin_unlock(ptl); cond_resched(); goto again;``): those asked between the taking and the
    unlock."""
    start, _ = _loop_span(unlock)
    taken = [n.end_byte for n in _takes(unlock, context.lockers)
             if start <= n.start_byte < unlock.start_byte]
    if not taken:
        return []
    scope = _function_of(unlock)
    asked = [n for n in walk(scope) if n.type == "call_expression"
             and max(taken) <= n.start_byte < unlock.start_byte] if scope else []
    return list(dict.fromkeys(g for n in asked for g in _guards_in(n, context.helpers)))


def _takes(unlock: Node, lockers: set[str]) -> list[Node]:
    """The calls of ``unlock``'s function that take the lock it drops (the same expression)."""
    lock = _argument_text(unlock)
    scope = _function_of(unlock)
    if scope is None or not lock:
        return []
    return [n for n in walk(scope) if n.type == "call_expression"
            and (base_name(_callee(n)) in LOCKS or _callee(n) in lockers)
            and _argument_text(n) == lock]


def _function_of(node: Node) -> Node | None:
    scope = node.parent
    while scope is not None and not _is_function(scope):
        scope = scope.parent
    return scope


def _argument_text(call: Node) -> str:
    """The argument naming the lock (the first, or the one a wrapper takes it in:
    ``pte_offset_map_lock(mm, pmd, addr, &ptl)`` and ``pte_unmap_unlock(pte, ptl)``),
    without blanks or a leading ``&``, as two spellings of one lock compare."""
    args = call.child_by_field_name("arguments")
    named = [] if args is None else [a for a in args.named_children if a.type != "comment"]
    wrapper = WRAPPERS.get(_callee(call))
    at = wrapper.arg if wrapper is not None else 0
    return "".join((named[at].text or b"").decode().split()).lstrip("&") \
        if len(named) > at else ""


def _loop_span(node: Node) -> tuple[int, int]:
    """Where the innermost loop around ``node`` starts and ends: a C loop, an iteration
    macro's body, a label and the ``goto`` back to it; the function when it has none."""
    child, parent = node, node.parent
    while parent is not None and not _is_function(parent):
        if parent.type in _LOOPS and child != parent.child_by_field_name("condition"):
            return parent.start_byte, parent.end_byte
        if _iterator_body(child):
            return child.start_byte, child.end_byte
        if _iterator_definition(parent):
            return parent.start_byte, parent.end_byte
        child, parent = parent, parent.parent
    if parent is None:
        return node.start_byte, node.end_byte
    back = _backward_gotos(node, parent)
    if back:
        return max(back)
    return parent.start_byte, parent.end_byte


def _guarding(call: Node, helpers: dict[str, list[str]]) -> list[str]:
    """The lock-break guards that decide whether ``call`` (a call, or a return statement)
    runs, inside the same function, in the order the condition names them: those of the
    nearest ``if`` whose branch holds it, or of an ``if`` before it that leaves when the guard
    says not to break (``if (!need_resched() && !spin_needbreak(l)) return false;``)."""
    child, node = call, call.parent
    while node is not None and not _is_function(node):
        if node.type == "if_statement" and child != node.child_by_field_name("condition"):
            condition = node.child_by_field_name("condition")
            guards = _guards_in(condition, helpers) if condition is not None else []
            if guards:
                return guards
        if node.type == "compound_statement":
            before = child.prev_named_sibling
            while before is not None:
                guards = _early_exit(before, helpers)
                if guards:
                    return guards
                before = before.prev_named_sibling
        child, node = node, node.parent
    return []


def _early_exit(statement: Node, helpers: dict[str, list[str]]) -> list[str]:
    """The guards of ``if (GUARDS) return/continue/break/goto;`` without an else: what
    follows it runs only when the guards said so."""
    if statement.type != "if_statement" or statement.child_by_field_name("alternative"):
        return []
    condition = statement.child_by_field_name("condition")
    branch = statement.child_by_field_name("consequence")
    if condition is None or branch is None:
        return []
    last = branch.named_children[-1] if branch.type == "compound_statement" and \
        branch.named_children else branch
    if last.type not in _JUMPS:
        return []
    return _guards_in(condition, helpers)


def _guards_in(node: Node, helpers: dict[str, list[str]]) -> list[str]:
    """The guards ``node`` calls, directly or through a guard helper, in the order written."""
    found: list[str] = []
    for name in (_callee(n) for n in walk(node) if n.type == "call_expression"):
        found += [name] if name in GUARDS else helpers.get(name, [])
    return list(dict.fromkeys(found))


def _in_loop(node: Node) -> bool:
    """Whether ``node`` runs repeatedly: inside a C loop, the body of an iteration macro, or
    a branch that jumps back to a label above it."""
    child, parent = node, node.parent
    while parent is not None and not _is_function(parent):
        if parent.type in _LOOPS and child != parent.child_by_field_name("condition"):
            return True
        if _iterator_body(child) or _iterator_definition(parent):
            return True
        child, parent = parent, parent.parent
    return parent is not None and bool(_backward_gotos(node, parent))


def _iterator_body(statement: Node) -> bool:
    """Whether ``statement`` is the body of an iteration macro: tree-sitter reads
    ``list_for_each_entry(pos, head, member) { ... }`` as a call statement missing its ``;``
    followed by the body."""
    before = statement.prev_named_sibling
    if before is None or before.type != "expression_statement":
        return False
    call = before.named_children[0] if before.named_children else None
    return (call is not None and call.type == "call_expression"
            and bool(_ITERATOR.search(_callee(call)))
            and any(n.is_missing for n in before.children))


def _backward_gotos(node: Node, function: Node) -> list[tuple[int, int]]:
    """Where each ``goto`` that jumps back over ``node`` to a label above it (a loop made of a
    backward jump, kernel style ``goto again``) has its label, and where it ends."""
    labels: dict[bytes | None, int] = {}
    for n in walk(function):
        label = n.child_by_field_name("label")
        if n.type == "labeled_statement" and label is not None:
            labels.setdefault(label.text, n.start_byte)
    found = []
    for n in walk(function):
        label = n.child_by_field_name("label")
        if (n.type == "goto_statement" and label is not None and label.text in labels
                and labels[label.text] <= node.start_byte < n.end_byte):
            found.append((labels[label.text], n.end_byte))
    return found


def _enclosing(source: CSource, node: Node) -> tuple[str, str]:
    """The function around ``node``, or ``""`` and why there is none to extract."""
    parent = _function_of(node)
    if parent is not None:
        name = function_name(parent)
        if name is not None:
            return name, ""
        head = _short(source.text(parent))
        return "", (f"in the body at {source.where(parent)} whose name a macro makes "
                    f"({head!r}); tree-sitter cannot tell which function it is: extract it "
                    "by hand")
    errors = [a for a in _ancestors(node) if a.is_error]
    cause = f" (not understood: {source.where(errors[-1])})" if errors else ""
    return "", ("outside any function tree-sitter could read" + cause
                + "; a macro around the definition may hide it: extract the function by hand")


def _ancestors(node: Node) -> list[Node]:
    found = []
    parent = node.parent
    while parent is not None:
        found.append(parent)
        parent = parent.parent
    return found


def _short(text: str) -> str:
    first = text.strip().splitlines()[0] if text.strip() else text
    return first[:60]


def _macro_sites(source: CSource, define: Node) -> list[Site]:
    """Lock-break primitives and guards written in a ``#define`` body, which tree-sitter keeps
    as text: listed at their line with why, since a macro is not a function to extract."""
    value = define.child_by_field_name("value")
    name = define.child_by_field_name("name")
    if value is None or name is None:
        return []
    text = source.text(value)
    unlocks = bool(re.search(r"\b\w*(" + "|".join(sorted(UNLOCKS)) + r")\w*\s*\(", text))
    sites = []
    macro = source.text(name)
    for match in _MACRO_WORDS.finditer(text):
        word = match.group(1)
        if word in GUARDS and not unlocks:
            continue
        idiom = PRIMITIVES.get(word, f"open-coded {word}")
        offset = value.start_byte + len(text[:match.start()].encode())
        line = source.data.count(b"\n", 0, offset) + 1
        col = offset - (source.data.rfind(b"\n", 0, offset) + 1) + 1
        sites.append(Site(source.path, line, col, "", idiom, "", (
            f"in the body of macro {macro}, which is kept as text, not C; extract the "
            "functions that expand it")))
    return sites
