"""Write the large scenarios of ``bench/scenarios/``: 16 to 64 CPUs, 8 or more locks, deep
nesting, long loops; far past the explicit engine, for ``lockbreak check --engine hypothesis``.

Usage::

    python bench/make_large_scenarios.py      # rewrites bench/scenarios/*.toml

The files are committed; this script is how they were made, so that a change to one family
changes all its sizes alike. ``lockbreak check scenarios/`` (CI's main job, the explicit engine)
does not scan this folder: these configurations have far too many states for it.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent / "scenarios"


def _file(name: str, description: str, kernel: dict[str, str | int | bool], locks: list[str],
          cpus: list[tuple[str, int]], expect: dict[str, str], data: dict[str, str] | None = None
          ) -> str:
    lines = ["# Far past the explicit engine: lockbreak check --engine hypothesis FILE",
             "# (written by bench/make_large_scenarios.py)",
             f'name = "{name}"', f'description = "{description}"', "[kernel]"]
    for key, value in kernel.items():
        text = ("true" if value else "false") if isinstance(value, bool) else (
            str(value) if isinstance(value, int) else f'"{value}"')
        lines.append(f"{key} = {text}")
    lines.append("[locks]")
    lines += [f'{lock} = "spin"' for lock in locks]
    if data:
        lines.append("[data]")
        lines += [f'{datum} = "{lock}"' for datum, lock in data.items()]
    for code, wakeups in cpus:
        lines += ["[[cpu]]", f"wakeups = {wakeups}", 'code = """', code.strip(), '"""']
    lines.append("[expect]")
    lines += [f'{prop} = "{status}"' for prop, status in expect.items()]
    return "\n".join(lines) + "\n"


def nested(n: int, version: str, loops: int, expect: dict[str, str], lock: str = "tas") -> str:
    """The nested scenario of the 2004 mail scaled to ``n`` CPUs: each nests its own lock and
    the shared B and breaks B in a loop."""
    cpus = [(f"""
spin_lock(own{i});
spin_lock(B);
repeat ({loops}) {{
    work();
    cond_resched_lock(B);
}}
spin_unlock(B);
spin_unlock(own{i});""", 0) for i in range(n)]
    return _file(f"nested-{n}cpu-{version}",
                 f"{n} CPUs each nest their own lock and B, and break B {loops} times",
                 {"version": version, "lock": lock, "preempt": "full"},
                 [f"own{i}" for i in range(n)] + ["B"], cpus, expect)


def deep(n: int, depth: int, version: str, loops: int, expect: dict[str, str]) -> str:
    """``depth`` nested locks on every CPU, the innermost broken in a long loop; CPU0 may be
    woken once (scheduling while atomic, in the eras that let it)."""
    locks = [f"L{d}" for d in range(depth)]
    take = "\n".join(f"spin_lock({lock});" for lock in locks)
    drop = "\n".join(f"spin_unlock({lock});" for lock in reversed(locks))
    inner = locks[-1]
    cpus = []
    for i in range(n):
        cpus.append((f"""
{take}
repeat ({loops}) {{
    work();
    cond_resched_lock({inner});
}}
{drop}""", 1 if i == 0 else 0))
    return _file(f"deep{depth}-{n}cpu-{version}",
                 f"{n} CPUs take {depth} nested locks and break the innermost {loops} times",
                 {"version": version, "lock": "tas", "preempt": "full"}, locks, cpus, expect)


def stale(n: int, version: str, loops: int, expect: dict[str, str]) -> str:
    """CPU0 reads X under L and uses it across a long loop of breaks; the others write X."""
    holder = f"""
spin_lock(L);
read(X);
repeat ({loops}) {{
    work();
    if (cond_resched_lock(L)) {{
        read(X);
    }}
    use(X);
}}
spin_unlock(L);"""
    writer = "spin_lock(L); write(X); spin_unlock(L);"
    others = [f"L{k}" for k in range(8)]
    return _file(f"stale-{n}cpu-{version}",
                 f"CPU0 re-reads X after each break in a {loops}-iteration loop; {n - 1} CPUs "
                 "write X",
                 {"version": version, "lock": "tas", "preempt": "full"},
                 ["L", *others], [(holder, 0)] + [(writer, 0)] * (n - 1), expect,
                 data={"X": "L"})


def abba(n: int, version: str, loops: int, expect: dict[str, str]) -> str:
    """CPU0 breaks the outer lock A while holding B (an ABBA relock against CPU1); the other
    CPUs share six locks of their own and can always finish, so a stuck run drains to the two
    deadlocked CPUs."""
    breaker = f"""
spin_lock(A);
spin_lock(B);
repeat ({loops}) {{
    work();
    cond_resched_lock(A);
}}
spin_unlock(B);
spin_unlock(A);"""
    plain = "spin_lock(A); spin_lock(B); work(); spin_unlock(B); spin_unlock(A);"
    others = [(f"spin_lock(C{i % 6}); work(); cond_resched_lock(C{i % 6}); "
               f"spin_unlock(C{i % 6});", 0) for i in range(2, n)]
    return _file(f"abba-outer-{n}cpu-{version}",
                 f"CPU0 breaks the outer lock A {loops} times while holding B, CPU1 takes A "
                 f"then B; {n - 2} more CPUs contend on six other locks",
                 {"version": version, "lock": "tas", "preempt": "full"},
                 ["A", "B", *[f"C{k}" for k in range(6)]],
                 [(breaker, 0), (plain, 0), *others], expect)


SCENARIOS = {
    "nested-16cpu-v2.6.9.toml": nested(16, "v2.6.9", 20, {
        "mutual_exclusion": "holds", "break_return_truth": "violated",
        "no_spurious_break": "violated"}),
    "nested-64cpu-v2.6.9.toml": nested(64, "v2.6.9", 10, {
        "mutual_exclusion": "holds", "break_return_truth": "violated"}),
    "nested-64cpu-v2.6.25-ticket.toml": nested(64, "v2.6.25", 10, {
        "mutual_exclusion": "holds", "break_return_truth": "holds"}, lock="ticket"),
    "deep8-16cpu-v2.6.20.toml": deep(16, 8, "v2.6.20", 50, {
        "mutual_exclusion": "holds", "no_sleep_in_atomic": "violated"}),
    "deep8-32cpu-v5.17.toml": deep(32, 8, "v5.17", 50, {
        "mutual_exclusion": "holds", "no_sleep_in_atomic": "holds"}),
    "stale-32cpu-v2.6.9.toml": stale(32, "v2.6.9", 100, {
        "mutual_exclusion": "holds", "no_stale_use": "violated"}),
    "abba-outer-32cpu-v2.6.12.toml": abba(32, "v2.6.12", 20, {
        "mutual_exclusion": "holds", "deadlock_free": "violated"}),
}


def main() -> None:
    HERE.mkdir(exist_ok=True)
    for name, text in SCENARIOS.items():
        (HERE / name).write_text(text)
        print(HERE / name)


if __name__ == "__main__":
    main()
