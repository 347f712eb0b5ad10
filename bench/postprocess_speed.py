"""Post-processing speed: time per ``process`` call on a 10k-line Python file (p50 / p99 / max).

The file is synthetic (classes with methods, module-level functions) and the cursor visits many
positions: blank lines inside bodies (multi-line), mid-line (single-line) and block openers. Each
model answer over-generates (the next lines of the file, plus a syntax error for some) so every step,
syntax validation included, does real work. No tree is passed: ``process`` parses its own window.

Run: ``python bench/postprocess_speed.py [--calls 2000]``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from lsp_server.engine.postprocess import Cursor, process


def make_file(lines: int) -> str:
    out: list[str] = ["import math", "import os", ""]
    i = 0
    while len(out) < lines:
        out += [
            f"class Shape{i}:",
            f'    """Shape number {i}."""',
            "",
            "    def __init__(self, size):",
            "        self.size = size",
            "",
            "    def area(self):",
            "        total = 0",
            "        for k in range(self.size):",
            "            if k % 2:",
            "                total += k * math.pi",
            "            else:",
            "                total -= k",
            "        return total",
            "",
            "",
            f"def helper_{i}(values):",
            "    result = []",
            "    for value in values:",
            "        result.append(value * 2)",
            "    return result",
            "",
            "",
        ]
        i += 1
    return "\n".join(out[:lines]) + "\n"


def cases(text: str, count: int, rng: random.Random) -> list[tuple[Cursor, str]]:
    starts = [0]
    for idx, ch in enumerate(text):
        if ch == "\n":
            starts.append(idx + 1)
    out = []
    while len(out) < count:
        row = rng.randrange(10, len(starts) - 10)
        start, end = starts[row], starts[row + 1] - 1
        line = text[start:end]
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        kind = rng.choice(("blank", "mid", "opener"))
        following = text[starts[row + 1] : starts[min(row + 6, len(starts) - 1)]]
        if kind == "mid" and len(line) - indent > 4:
            cut = start + indent + (len(line) - indent) // 2
            doc, offset, raw = text, cut, text[cut:end] + "\n" + following
        elif kind == "opener" and line.rstrip().endswith(":"):
            doc, offset, raw = text, end, following
        else:
            # A blank line inserted above this line; the model writes this line and runs on.
            doc = text[:start] + " " * indent + "\n" + text[start:]
            offset = start + indent
            raw = line.lstrip() + "\n" + following + ("    def broken(:\n" if rng.random() < 0.3 else "")
        out.append((Cursor(text=doc, offset=offset, grammar="python"), raw))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--lines", type=int, default=10_000)
    args = parser.parse_args()
    text = make_file(args.lines)
    rng = random.Random(7)
    for cursor, raw in cases(text, 50, rng):  # warm-up: grammar loading, regex compilation
        process(raw, cursor)
    times = []
    cpu = []
    # One case at a time: the documents are 180 kB each, and holding thousands of them at once would
    # measure the memory system rather than process().
    for _ in range(args.calls):
        ((cursor, raw),) = cases(text, 1, rng)
        started, started_cpu = time.perf_counter(), time.thread_time()
        process(raw, cursor)
        times.append(time.perf_counter() - started)
        cpu.append(time.thread_time() - started_cpu)
    print(f"file: {text.count(chr(10))} lines, {len(text)} chars; {len(times)} process() calls")
    # Wall time includes preemption on a loaded machine; thread CPU time is process()'s own work.
    for label, values in (("wall", times), ("cpu ", cpu)):
        ms = sorted(t * 1000 for t in values)
        p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
        print(
            f"{label}: p50 {statistics.median(ms):.3f} ms   p99 {p99:.3f} ms   "
            f"max {ms[-1]:.3f} ms   mean {statistics.mean(ms):.3f} ms"
        )


if __name__ == "__main__":
    main()
