"""Benchmark: ``lockbreak scan`` over a generated tree of 1,000 kernel-style C files.

Writes N files (default 1,000) into a temporary folder: drivers, filesystems and helpers in the
kernel's style, each a handful of functions (setup and teardown, error paths with ``goto``,
``switch`` on a command, list walks under a lock, reference counting), most of them with no
lock-break site and about one in ten with one or two sites, every idiom in turn
(``cond_resched_lock``, ``cond_resched_rwlock_read/write``, open-coded breaks guarded by
``need_resched()``, ``spin_needbreak()``, ``rwlock_needbreak()``, a ``goto`` loop, an unguarded
unlock and relock around work on a pinned entry, a site in a macro). Then runs ``lockbreak
scan TREE --workers W --json`` in a child process and prints the wall time, files per second,
and the rows by status, engine and idiom.

Usage::

    python bench/bench_scan.py                 # 1,000 files, 2 workers
    python bench/bench_scan.py 200 1           # 200 files, 1 worker

The target is 1,000 files parsed and their sites checked within 10 minutes on 2 cores. The
machines are shared and noisy: compare figures taken in one run.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

SUBSYSTEMS = ("drivers/net", "drivers/block", "fs/ext9", "fs/cache", "mm", "kernel/sched",
              "net/core", "sound/core")
NOUNS = ("queue", "inode", "page", "req", "entry", "node", "buf", "slot", "desc", "ctx")


# Functions with no lock-break site, in several kernel shapes (str.format templates).
PLAIN_SHAPES = (
    """
static int {name}(struct {prefix}_dev *dev, unsigned int cmd)
{{
	int ret = 0;

	switch (cmd) {{
	case {upper}_START:
		dev->state = 1;
		break;
	case {upper}_STOP:
		dev->state = 0;
		break;
	default:
		ret = -EINVAL;
	}}
	return ret;
}}
""",
    """
static int {name}(struct {prefix}_dev *dev)
{{
	struct {noun} *{noun};
	int err;

	{noun} = kzalloc(sizeof(*{noun}), GFP_KERNEL);
	if (!{noun})
		return -ENOMEM;
	spin_lock(&dev->lock);
	if (dev->dying) {{
		err = -ENODEV;
		goto out_unlock;
	}}
	list_add_tail(&{noun}->list, &dev->{noun}s);
	dev->nr_{noun}s++;
	spin_unlock(&dev->lock);
	return 0;

out_unlock:
	spin_unlock(&dev->lock);
	kfree({noun});
	return err;
}}
""",
    """
static void {name}(struct {prefix}_dev *dev)
{{
	struct {noun} *pos, *tmp;
	unsigned long flags;

	spin_lock_irqsave(&dev->lock, flags);
	list_for_each_entry_safe(pos, tmp, &dev->{noun}s, list) {{
		if (pos->flags & {upper}_BUSY)
			continue;
		list_del(&pos->list);
		dev->nr_{noun}s--;
	}}
	spin_unlock_irqrestore(&dev->lock, flags);
}}
""",
    """
static bool {name}(struct {noun} *{noun})
{{
	if (!refcount_inc_not_zero(&{noun}->ref))
		return false;
	if (READ_ONCE({noun}->dead)) {{
		refcount_dec(&{noun}->ref);
		return false;
	}}
	return true;
}}
""",
    """
static unsigned int {name}(const unsigned long *map, unsigned int bits)
{{
	unsigned int i, weight = 0;

	for (i = 0; i < bits; i++)
		if (test_bit(i, map))
			weight++;
	return weight;
}}
""",
)

# Functions (and a macro) with one lock-break site each: cond_resched_lock, the rwlock forms,
# open-coded breaks guarded by need_resched() || spin_needbreak() and by rwlock_needbreak(), a
# goto loop, an unguarded relock around work on a pinned entry, a site in a macro.
SITE_SHAPES = (
    """
static void {name}(struct {prefix}_dev *dev)
{{
	struct {noun} *pos;

	spin_lock(&dev->lock);
	list_for_each_entry(pos, &dev->{noun}s, list) {{
		pos->gen++;
		cond_resched_lock(&dev->lock);
	}}
	spin_unlock(&dev->lock);
}}
""",
    """
static unsigned long {name}(struct {prefix}_dev *dev)
{{
	unsigned long i, sum = 0;

	read_lock(&dev->map_lock);
	for (i = 0; i < dev->nr; i++) {{
		sum += dev->map[i];
		cond_resched_rwlock_read(&dev->map_lock);
	}}
	read_unlock(&dev->map_lock);
	return sum;
}}
""",
    """
static void {name}(struct {prefix}_dev *dev)
{{
	unsigned long i = 0;

	write_lock(&dev->map_lock);
	while (i < dev->nr) {{
		dev->map[i++] = 0;
		cond_resched_rwlock_write(&dev->map_lock);
	}}
	write_unlock(&dev->map_lock);
}}
""",
    """
static void {name}(struct {prefix}_dev *dev)
{{
	struct {noun} *pos;

	spin_lock(&dev->lock);
	list_for_each_entry(pos, &dev->{noun}s, list) {{
		pos->gen++;
		if (need_resched() || spin_needbreak(&dev->lock)) {{
			spin_unlock(&dev->lock);
			cond_resched();
			spin_lock(&dev->lock);
		}}
	}}
	spin_unlock(&dev->lock);
}}
""",
    """
static void {name}(struct {prefix}_dev *dev)
{{
	unsigned long i;

	write_lock(&dev->map_lock);
	for (i = 0; i < dev->nr; i++) {{
		dev->map[i] = i;
		if (rwlock_needbreak(&dev->map_lock)) {{
			write_unlock(&dev->map_lock);
			cond_resched();
			write_lock(&dev->map_lock);
		}}
	}}
	write_unlock(&dev->map_lock);
}}
""",
    """
static void {name}(struct {prefix}_dev *dev)
{{
	spin_lock(&dev->lock);
again:
	if (dev->pending) {{
		dev->pending--;
		if (need_resched()) {{
			spin_unlock(&dev->lock);
			cond_resched();
			spin_lock(&dev->lock);
		}}
		goto again;
	}}
	spin_unlock(&dev->lock);
}}
""",
    """
static void {name}(struct {prefix}_dev *dev)
{{
	struct {noun} *pos;

	spin_lock(&dev->lock);
	list_for_each_entry(pos, &dev->{noun}s, list) {{
		get_{noun}(pos);
		spin_unlock(&dev->lock);
		{prefix}_flush_{noun}(pos);
		put_{noun}(pos);
		spin_lock(&dev->lock);
	}}
	spin_unlock(&dev->lock);
}}
""",
    """
#define {NAME}(dev)				\\
	do {{						\\
		(dev)->gen++;				\\
		cond_resched_lock(&(dev)->lock);	\\
	}} while (0)
""",
)


def _plain(rng: random.Random, prefix: str, noun: str) -> str:
    """A function with no lock-break site, one of several kernel shapes."""
    verb = rng.choice(("init", "exit", "get", "put", "add", "del", "ioctl", "show", "reset"))
    name = f"{prefix}_{noun}_{verb}_{rng.randrange(1000)}"
    shape = rng.randrange(len(PLAIN_SHAPES))
    return PLAIN_SHAPES[shape].format(name=name, prefix=prefix, noun=noun,
                                      upper=prefix.upper())


def _site(kind: int, prefix: str, noun: str, n: int) -> str:
    """A function (or macro) with a lock-break site of idiom ``kind``."""
    name = f"{prefix}_{noun}_walk_{n}"
    return SITE_SHAPES[kind].format(name=name, prefix=prefix, noun=noun, NAME=name.upper())


def write_tree(root: Path, files: int, seed: int = 15) -> int:
    """Write ``files`` C files under ``root``; returns how many site functions they hold."""
    rng = random.Random(seed)
    sites = 0
    for i in range(files):
        folder = root / SUBSYSTEMS[i % len(SUBSYSTEMS)]
        folder.mkdir(parents=True, exist_ok=True)
        noun = rng.choice(NOUNS)
        prefix = f"{folder.name.replace('-', '_')}{i}"
        parts = [f"// SPDX-License-Identifier: GPL-2.0\n/*\n * {prefix}: {noun} handling.\n */\n"
                 "#include <linux/list.h>\n#include <linux/slab.h>\n"
                 "#include <linux/spinlock.h>\n#include <linux/sched.h>\n",
                 f"\nstruct {prefix}_dev {{\n\tspinlock_t lock;\n\trwlock_t map_lock;\n"
                 f"\tstruct list_head {noun}s;\n\tunsigned long *map, nr, nr_{noun}s;\n"
                 "\tint state, dying, pending, gen;\n};\n"]
        parts += [_plain(rng, prefix, noun) for _ in range(rng.randrange(4, 12))]
        if i % 10 == 0:
            for k in range(1 + (i % 20 == 0)):
                parts.insert(rng.randrange(2, len(parts) + 1),
                             _site((i // 10 + k) % 8, prefix, noun, k))
                sites += 1
        suffix = ".h" if i % 25 == 24 else ".c"
        (folder / f"{noun}{i}{suffix}").write_text("".join(parts))
    return sites


def main(argv: list[str]) -> None:
    files = int(argv[0]) if argv else 1000
    workers = int(argv[1]) if len(argv) > 1 else 2
    with tempfile.TemporaryDirectory(prefix="bench-scan-") as folder:
        root = Path(folder) / "tree"
        sites = write_tree(root, files)
        lines = sum(p.read_text().count("\n") for p in root.rglob("*.[ch]"))
        print(f"{files} files, {lines:,} lines, {sites} site functions written")
        command = ["lockbreak", "scan", str(root), "--workers", str(workers), "--json"]
        started = time.monotonic()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        seconds = time.monotonic() - started
        if done.returncode not in (0, 1, 3):
            sys.exit(f"lockbreak scan exited {done.returncode}: {done.stderr.strip()}")
        report = json.loads(done.stdout)
    rows = report["sites"]
    print(f"lockbreak scan --workers {workers}: {seconds:.1f} s wall, exit {done.returncode}, "
          f"{files / seconds:.1f} files/s, {len(rows)} site rows")
    print("  by status:", dict(sorted(Counter(r["status"] for r in rows).items())))
    print("  by engine:", dict(sorted(Counter(r["engine"] or "-" for r in rows).items())))
    print("  by idiom: ", dict(sorted(Counter(r["idiom"] for r in rows).items())))
    print(f"  target 600 s: {'met' if seconds <= 600 else 'NOT met'}")


if __name__ == "__main__":
    main(sys.argv[1:])
