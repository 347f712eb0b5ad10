r"""The document store's blocks, before and after: memory, didOpen, keystrokes and position lookups.

Run: python bench/documents.py [--reference REV] [--keys 2000] [--repeats 5]

Runs the current ``lsp_server.core.documents`` ("new") and the one of git revision ``--reference``
("old", by default 5197d0e: blocks of 64 lines, each a tuple of one str per line) side by side in one
process (the old module is read with ``git show`` and loaded under another name; both use the current
``core/text.py``). For the 200,000-line text ``ROW_{i} = {i * 7}\n`` and a non-ASCII variant it prints:

- memory of a ``DocumentStore`` holding it: tracemalloc (what the store allocated, the text passed in
  excluded; peak during the open; the top allocation site) and RSS growth, each measured in a fresh
  interpreter so that neither implementation inherits the other's freed heap;
- ``DocumentStore.open``: median and best of ``--repeats`` opens, with the cyclic collector on, in a
  heap of 300,000 long-lived objects (a server's heap is large, which makes the collector cost);
- keystrokes: ``change`` with a one-character insert typed along a line in the middle, and with a
  newline typed there (the line grows, then the block splits), microseconds per change, medians of
  ``--keys`` changes, on the 200k-line text and on a 2,000-line one;
- ``offset_at``/``position_at``/``line_text`` on the snapshot after a keystroke: the first call on
  the new version (which pays for whatever the snapshot works out lazily) and then per call.

Prints what it measured; asserts nothing.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import subprocess
import sys
import time
import tracemalloc
import types
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import reference  # noqa: E402

from lsp_server.core import documents as new_documents  # noqa: E402

REFERENCE = "5197d0e"
BIG_LINES = 200_000
SMALL_LINES = 2_000


def ascii_text(lines: int) -> str:
    return "".join(f"ROW_{i} = {i * 7}\n" for i in range(lines))


def non_ascii_text(lines: int) -> str:
    return "".join(f"ROW_{i} = {i * 7}  # café 😀\n" for i in range(lines))


TEXTS: dict[str, Callable[[int], str]] = {"ascii": ascii_text, "non-ascii": non_ascii_text}


def load_reference(rev: str) -> types.ModuleType:
    return reference.load_reference(rev, "lsp_server/core/documents.py")


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def child(impl: str, variant: str, rev: str) -> dict[str, Any]:
    """In a fresh interpreter: memory of one store holding the 200k-line text."""
    module = new_documents if impl == "new" else load_reference(rev)
    text = TEXTS[variant](BIG_LINES)
    gc.collect()
    before = rss_kib()
    store = module.DocumentStore()
    store.open("file:///bench/huge.py", "python", 1, text)
    gc.collect()
    rss = rss_kib() - before
    del store
    gc.collect()
    tracemalloc.start(1)
    store = module.DocumentStore()
    store.open("file:///bench/huge.py", "python", 1, text)
    gc.collect()
    current, peak = tracemalloc.get_traced_memory()
    top = tracemalloc.take_snapshot().statistics("lineno")[0]
    tracemalloc.stop()
    return {
        "rss_kib": rss,
        "traced": current,
        "peak": peak,
        "top": f"{Path(top.traceback[0].filename).name}:{top.traceback[0].lineno} {top.size / 2**20:.1f} MiB",
    }


def memory(rev: str) -> None:
    print(f"memory of a DocumentStore holding the {BIG_LINES:,}-line text (fresh interpreter each)")
    print(f"  {'text':<10}{'impl':<5}{'traced MiB':>11}{'open peak':>11}{'RSS MiB':>9}  top allocation site")
    for variant in TEXTS:
        for impl in ("old", "new"):
            out = subprocess.run(
                [sys.executable, __file__, "--child", impl, variant, "--reference", rev],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            m = json.loads(out)
            print(
                f"  {variant:<10}{impl:<5}{m['traced'] / 2**20:>11.2f}{m['peak'] / 2**20:>11.2f}"
                f"{m['rss_kib'] / 1024:>9.1f}  {m['top']}"
            )


def timed(step: Callable[[], object]) -> float:
    started = time.perf_counter()
    step()
    return time.perf_counter() - started


def opens(modules: dict[str, types.ModuleType], repeats: int) -> None:
    ballast = [[i] for i in range(300_000)]  # long-lived objects, as a server's heap holds
    gc.collect()
    print(f"\nDocumentStore.open of the {BIG_LINES:,}-line text, ms (median / best of {repeats})")
    for variant, make in TEXTS.items():
        text = make(BIG_LINES)
        for impl, module in modules.items():
            times = []
            for _ in range(repeats):
                store = module.DocumentStore()
                times.append(timed(partial(store.open, "file:///bench/huge.py", "python", 1, text)))
                del store
            print(f"  {variant:<10}{impl:<5}{statistics.median(times) * 1e3:>8.1f}{min(times) * 1e3:>8.1f}")
    del ballast


def keystrokes(modules: dict[str, types.ModuleType], keys: int) -> None:
    print(f"\nDocumentStore.change, µs per change (median of {keys}; p90)")
    print(f"  {'text':<25}{'typed':<10}{'impl':<5}{'median':>8}{'p90':>8}")
    for lines in (BIG_LINES, SMALL_LINES):
        for variant, make in TEXTS.items():
            text = make(lines)
            row = lines // 2
            for typed in ("x", "\n"):
                for impl, module in modules.items():
                    store = module.DocumentStore()
                    uri = "file:///bench/typed.py"
                    store.open(uri, "python", 0, text)
                    change = module.Change
                    times = []
                    line, column = row, 4
                    for k in range(keys):
                        edit = [change(typed, ((line, column), (line, column)))]
                        times.append(timed(partial(store.change, uri, k + 1, edit)))
                        line, column = (line + 1, 0) if typed == "\n" else (line, column + 1)
                    times.sort()
                    label = f"{variant} {lines:,} lines"
                    shown = repr(typed)
                    print(
                        f"  {label:<25}{shown:<10}{impl:<5}{statistics.median(times) * 1e6:>8.1f}"
                        f"{times[int(len(times) * 0.9)] * 1e6:>8.1f}"
                    )


def lookups(modules: dict[str, types.ModuleType], calls: int) -> None:
    print("\nsnapshot lookups after a keystroke, µs (first call on the version / per call after, median)")
    print(f"  {'text':<25}{'call':<13}{'impl':<5}{'first':>9}{'after':>9}")
    for lines in (BIG_LINES, SMALL_LINES):
        for variant, make in TEXTS.items():
            text = make(lines)
            rng = random.Random(11)
            positions = [(rng.randrange(lines), rng.randrange(12)) for _ in range(calls)]
            offsets = [rng.randrange(len(text)) for _ in range(calls)]
            for impl, module in modules.items():
                store = module.DocumentStore()
                uri = "file:///bench/lookup.py"
                store.open(uri, "python", 0, text)
                versions = iter(range(1, 1_000_000))
                typed = [module.Change("x", ((lines // 2, 1), (lines // 2, 1)))]
                arguments: dict[str, list[tuple[int, ...]]] = {
                    "offset_at": positions,
                    "position_at": [(offset,) for offset in offsets],
                    "line_text": [(line,) for line, _ in positions],
                }
                for name, args in arguments.items():
                    firsts = []
                    for k in range(min(calls, 50)):
                        snap = store.change(uri, next(versions), typed)
                        firsts.append(timed(partial(getattr(snap, name), *args[k])))
                    snap = store.change(uri, next(versions), typed)
                    getattr(snap, name)(*args[0])
                    after = [timed(partial(getattr(snap, name), *args[k])) for k in range(calls)]
                    label = f"{variant} {lines:,} lines"
                    print(
                        f"  {label:<25}{name:<13}{impl:<5}{statistics.median(firsts) * 1e6:>9.1f}"
                        f"{statistics.median(after) * 1e6:>9.1f}"
                    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", default=REFERENCE, help="git revision of the old implementation")
    parser.add_argument("--keys", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--child", nargs=2, metavar=("IMPL", "TEXT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child, args.reference)))
        return
    modules = {"old": load_reference(args.reference), "new": new_documents}
    print(f"old: {args.reference}:lsp_server/core/documents.py   new: {new_documents.__file__}\n")
    memory(args.reference)
    opens(modules, args.repeats)
    keystrokes(modules, args.keys)
    lookups(modules, args.calls)


if __name__ == "__main__":
    main()
