"""Trial on held-out kernel source: ``lockbreak scan`` on real files of a kernel tree, the share
of their lock-break sites whose extracted scenario loads and checks, every line the issue's
``grep`` finds matched to a row, and ``check --kernel-tree`` against the matching bundled era.

The tree is not part of the project and is never copied into it: unpack one outside the
repository (Debian: ``apt-get install linux-source``, then ``tar xf
/usr/src/linux-source-6.1.tar.xz -C /tmp/heldout``) and give its top folder::

    python bench/bench_heldout.py /tmp/heldout/linux-source-6.1
    python bench/bench_heldout.py /tmp/heldout/linux-source-6.1 --era v5.17 --workers 2

Without a tree (or with one that lacks the files) it says so and exits 0: nothing to measure.
Prints five tables: rows by status, split into the issue's sites (the primitives and breaks
guarded by ``need_resched()``, ``spin_needbreak()``, ``rwlock_needbreak()``) and the unguarded
``open-coded relock`` rows; the issue's sites with what did not hold; the causes of rows
not checked, most frequent first; the ``grep``
lines and the row each one became; and the tree's era beside the bundled one, scenario by
scenario and preemption model by preemption model.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

from lockbreak.pipeline import CheckRequest, Overrides, check_scenario, load
from model.cfront.parse import definitions, parse_source
from model.cfront.primitives import TreeEra, closest_era, era_from_tree
from model.eras import get_era

ROOT = Path(__file__).resolve().parent.parent
FILES = ("fs/inode.c", "fs/btrfs/extent_map.c", "arch/x86/kvm/mmu/mmu.c",
         "arch/x86/kvm/mmu/tdp_mmu.c", "mm/memory.c", "fs/jbd2/checkpoint.c", "mm/vmalloc.c",
         "net/sunrpc/xprt.c", "fs/dcache.c", "mm/shmem.c", "mm/khugepaged.c", "fs/ext4")
GREP = re.compile(r"cond_resched_lock|need_resched\(\)|spin_needbreak|rwlock_needbreak|"
                  r"cond_resched_rwlock")
CHECKED = ("holds", "violated", "incomplete")
PREEMPTS = (None, "none", "voluntary", "full", "rt")


def scan(tree: Path, era: str, workers: int, budget: str) -> list[dict]:
    """The rows of ``lockbreak scan`` over FILES, run in the tree so rows cite its paths."""
    paths = [p for p in FILES if (tree / p).exists()]
    command = ["lockbreak", "scan", *paths, "--era", era, "--workers", str(workers),
               "--budget-per-site", budget, "--json"]
    done = subprocess.run(command, cwd=tree, capture_output=True, text=True, check=False)
    if done.returncode not in (0, 1, 3, 4):
        sys.exit(f"lockbreak scan exited {done.returncode}: {done.stderr.strip()}")
    rows: list[dict] = json.loads(done.stdout)["sites"]
    return rows


def issue_site(row: dict) -> bool:
    """A site of the issue's kinds: a primitive or a guarded open-coded break."""
    return row["idiom"] != "open-coded relock"


def status_table(rows: list[dict]) -> None:
    for title, group in (("issue's sites", [r for r in rows if issue_site(r)]),
                         ("open-coded relock", [r for r in rows if not issue_site(r)]),
                         ("all rows", rows)):
        statuses = Counter(r["status"] for r in group)
        checked = sum(statuses[s] for s in CHECKED)
        share = f"{checked / len(group):.0%}" if group else "-"
        print(f"  {title:18} {checked:3} of {len(group):3} load and check ({share})  "
              + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())))


def verdict_table(rows: list[dict]) -> None:
    """The issue's sites, each with the properties it did not show to hold."""
    for r in (r for r in rows if issue_site(r)):
        open_ = [f"{p} {v}" for p, v in r["verdicts"].items() if v in ("violated", "incomplete")]
        via = f" (in {r['via']})" if r["via"] else ""
        print(f"  {r['file']}:{r['line']} {r['function']}{via}: {r['status']}"
              + (f": {', '.join(open_)}" if open_ else ""))


def cause(why: str) -> str:
    """The kind of a refusal, without its place and names."""
    text = re.sub(r"^\S+:\d+(:\d+)?: ", "", why)
    text = re.sub(r"the abstraction of \w+\(\) is refused by the model: ", "model: ", text)
    text = re.sub(r"'[^']*'|\b\w+\(\)|&\S+", "X", text)
    return re.sub(r"(line|at) \d+(:\d+)?", r"\1 N", text.split("; hint")[0])[:90]


def cause_table(rows: list[dict]) -> None:
    causes = Counter(cause(r["why"]) for r in rows if r["status"] == "not checked")
    for text, count in causes.most_common():
        print(f"  {count:3}  {text}")


def grep_hits(tree: Path) -> list[tuple[str, int, str]]:
    hits = []
    for top in FILES:
        base = tree / top
        for path in sorted([base] if base.is_file() else base.rglob("*.c")):
            rel = str(path.relative_to(tree))
            for number, text in enumerate(path.read_text(errors="replace").splitlines(), 1):
                if GREP.search(text):
                    hits.append((rel, number, text.strip()))
    return hits


def functions_of(tree: Path, rel: str, cache: dict[str, list]) -> list[tuple[str, int, int,
                                                                          str]]:
    """``(name, first line, last line, text)`` of each function of ``rel``."""
    if rel not in cache:
        source = parse_source(rel, (tree / rel).read_bytes())
        cache[rel] = [(name, node.start_point[0] + 1, node.end_point[0] + 1,
                       source.text(node)) for name, node in definitions(source)]
    return cache[rel]


def row_of(tree: Path, rel: str, line: int, rows: list[dict], cache: dict[str, list]
           ) -> tuple[str, dict | None]:
    """The function around a grep line and the row that lists it: the first row of that
    function at or after the line, else (a guard helper) the first row of a function of
    the file that calls it."""
    known = functions_of(tree, rel, cache)
    inside = [name for name, start, end, _ in known if start <= line <= end]
    function = inside[-1] if inside else ""
    mine = sorted((r for r in rows if r["file"] == rel), key=lambda r: r["line"])
    row = next((r for r in mine if r["function"] == function and r["line"] >= line), None)
    if row is None and function:
        calling = {name for name, _, _, text in known
                   if name != function and re.search(rf"\b{function}\s*\(", text)}
        row = next((r for r in mine if r["function"] in calling), None)
    return function, row


def grep_table(tree: Path, rows: list[dict]) -> int:
    """Each grep line beside the row that lists it; the number of lines no row lists."""
    cache: dict[str, list] = {}
    missing = 0
    for rel, line, text in grep_hits(tree):
        function, row = row_of(tree, rel, line, rows, cache)
        shown = (f"row {row['line']} {row['function']} {row['idiom']}: {row['status']}"
                 if row is not None else "NO ROW")
        missing += row is None
        print(f"  {rel}:{line} {function}: {shown}    | {text[:50]}")
    return missing


def outcome(path: Path, era: str, tree_era: TreeEra | None, preempt: str | None) -> list:
    scenario = load(path, Overrides(version=era, preempt=preempt))
    if tree_era is not None:
        scenario = tree_era.under(scenario)
    checked = check_scenario(scenario, CheckRequest())
    return [(v.result.property, v.result.status.value, v.result.worst, v.result.stats.states)
            for v in checked.verdicts]


def era_table(tree: Path, era: str) -> tuple[int, int]:
    """Every scenario of ``era`` in every preemption model, under the tree's era and the
    bundled one: (agreeing, compared)."""
    tree_era = era_from_tree(tree, get_era(era))
    agree = total = 0
    for path in sorted((ROOT / "scenarios").glob(f"*-{era}.toml")):
        same = [outcome(path, era, tree_era, p) == outcome(path, era, None, p)
                for p in PREEMPTS]
        agree, total = agree + sum(same), total + len(same)
        print(f"  {path.stem:40} " + " ".join(
            f"{p or 'as written'}:{'same' if s else 'DIFFERENT'}" for p, s in zip(PREEMPTS, same,
                                                                              strict=True)))
    return agree, total


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tree", nargs="?", type=Path)
    parser.add_argument("--era", default=None, help="default: the tree Makefile's closest era")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--budget-per-site", default="200000,60s")
    args = parser.parse_args(argv)
    if args.tree is None or not any((args.tree / p).exists() for p in FILES):
        print("no kernel tree given (or it has none of the trial's files): skipped")
        return
    era = args.era or closest_era(args.tree, str(args.tree)).name
    rows = scan(args.tree, era, args.workers, args.budget_per_site)
    print(f"lockbreak scan {' '.join(FILES)} --era {era}: {len(rows)} rows")
    status_table(rows)
    print("the issue's sites, and what did not hold:")
    verdict_table(rows)
    print("not checked, by cause:")
    cause_table(rows)
    print("grep lines (the issue's words) and their rows:")
    missing = grep_table(args.tree, rows)
    print(f"  {missing} grep lines with no row")
    print(f"check --kernel-tree {args.tree} against --version {era}:")
    agree, total = era_table(args.tree, era)
    print(f"  {agree} of {total} (scenario, preemption model) pairs agree")


if __name__ == "__main__":
    main(sys.argv[1:])
