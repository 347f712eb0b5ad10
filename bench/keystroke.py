"""Per-keystroke cost of DocumentStore.change versus pygls's TextDocument.apply_change.

Run: /work/venv/bin/python bench/keystroke.py [--keys 2000]

Prints, for generated 1,000- and 10,000-line Python files, the median and p99 cost of one
single-character insert, typed (a) along one line and (b) at a different line each time, for:
  store.change           DocumentStore.change alone (tree edits recorded, reparse deferred)
  store.change+tree      change and then asking the snapshot for its tree (what a completion request
                         after every single key would cost: includes tree-sitter's incremental reparse)
  pygls.apply_change     pygls.workspace.TextDocument.apply_change (text only, no tree)
and the growth ratio 1k -> 10k of each. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

from lsprotocol import types
from pygls.workspace import TextDocument

from lsp_server.core.documents import Change, DocumentStore
from lsp_server.core.text import Encoding


def python_file(lines: int) -> str:
    """A plausible module: classes of methods plus some module-level functions, ``lines`` lines long."""
    out: list[str] = ['"""Generated module."""', "import os", ""]
    n = 0
    while len(out) < lines:
        out += [f"class Thing{n}:", f'    """Thing number {n}: naïve café 😀."""', ""]
        for m in range(6):
            out += [
                f"    def method_{m}(self, value: int = {m}) -> int:",
                f"        total = value * {n} + len(os.sep)  # accumulate",
                "        return total",
                "",
            ]
        out += [f"def helper_{n}(x):", "    return [x for _ in range(3)]", "", ""]
        n += 1
    return "\n".join(out[:lines]) + "\n"


def measure(step: Callable[[int], None], keys: int) -> list[float]:
    times = []
    for k in range(keys):
        t0 = time.perf_counter()
        step(k)
        times.append(time.perf_counter() - t0)
    return times


def summary(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered) * 1e6, ordered[int(len(ordered) * 0.99) - 1] * 1e6


def targets(text: str, keys: int, varying: bool) -> list[tuple[int, int]]:
    """(line, column) of each key, always at the end of a comment so the code stays valid.

    Keys that break the syntax make tree-sitter's error recovery the dominant cost, which measures
    the grammar rather than the store. Typing goes along one comment line in the middle of the file,
    or to a random comment line each time.
    """
    lines = text.split("\n")
    comments = [n for n, line in enumerate(lines) if line.rstrip().endswith("# accumulate")]
    if not varying:
        row = comments[len(comments) // 2]
        return [(row, len(lines[row]) + k) for k in range(keys)]
    rng = random.Random(7)
    typed: dict[int, int] = {}
    where = []
    for _ in range(keys):
        row = rng.choice(comments)
        where.append((row, len(lines[row]) + typed.get(row, 0)))
        typed[row] = typed.get(row, 0) + 1
    return where


def bench_store(text: str, keys: int, varying: bool, with_tree: bool) -> list[float]:
    store = DocumentStore(encoding=Encoding.UTF16)
    uri = "file:///bench/mod.py"
    store.open(uri, "python", 0, text)
    assert store.get(uri).tree is not None  # the first full parse is not a keystroke
    where = targets(text, keys, varying)

    def step(k: int) -> None:
        line, col = where[k]
        snap = store.change(uri, k + 1, [Change("x", ((line, col), (line, col)))])
        if with_tree:
            assert snap.tree is not None  # forces the deferred reparse

    return measure(step, keys)


def bench_pygls(text: str, keys: int, varying: bool) -> list[float]:
    doc = TextDocument("file:///bench/mod.py", text, version=0, language_id="python")
    where = targets(text, keys, varying)

    def step(k: int) -> None:
        line, col = where[k]
        pos = types.Position(line=line, character=col)
        doc.apply_change(types.TextDocumentContentChangePartial(range=types.Range(pos, pos), text="x"))

    return measure(step, keys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=2000)
    args = parser.parse_args()
    results: dict[tuple[str, str, int], tuple[float, float]] = {}
    for varying in (False, True):
        case = "varying lines" if varying else "one line"
        for size in (1000, 10000):
            text = python_file(size)
            runs = {
                "store.change": bench_store(text, args.keys, varying, with_tree=False),
                "store.change+tree": bench_store(text, args.keys, varying, with_tree=True),
                "pygls.apply_change": bench_pygls(text, args.keys, varying),
            }
            for name, times in runs.items():
                results[(case, name, size)] = summary(times)
    print(f"{args.keys} single-character inserts per run; microseconds per change")
    print(f"{'case':<15}{'what':<20}{'lines':>7}{'median':>10}{'p99':>10}")
    for (case, name, size), (median, p99) in results.items():
        print(f"{case:<15}{name:<20}{size:>7}{median:>10.1f}{p99:>10.1f}")
    print("\ngrowth of the median, 1,000 -> 10,000 lines")
    for case in ("one line", "varying lines"):
        for name in ("store.change", "store.change+tree", "pygls.apply_change"):
            ratio = results[(case, name, 10000)][0] / results[(case, name, 1000)][0]
            print(f"{case:<15}{name:<20}{ratio:>7.2f}x")


if __name__ == "__main__":
    main()
