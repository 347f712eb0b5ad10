"""Benchmark the stop check run while a model streams: CPU per 128-token answer, old against new.

Prints what it measured; asserts nothing. The old way calls ``postprocess.should_stop_streaming`` on
the re-joined text after every delta (a scene scan and a tree-sitter parse each time); the new way
builds a ``StreamStopper`` once per request and feeds it the deltas. Both see the same cursor in a
10k-line Python file (and in a 4 MB single-line bundle) and the same 128-token answer, which keeps
inside the function so neither stops early. All of it runs on the event loop in the server, so this
CPU time is what other requests wait behind.

    python bench/stream_stop.py [--runs 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lsp_server.app.completion import cursor_for  # noqa: E402
from lsp_server.core.documents import Snapshot  # noqa: E402
from lsp_server.engine.postprocess import Cursor, should_stop_streaming  # noqa: E402
from lsp_server.engine.stream_stop import StreamStopper  # noqa: E402


def python_file(lines: int) -> str:
    out = ["import os", ""]
    n = 0
    while len(out) < lines:
        out += [f"def function_{n}(value, count=3):", "    total = 0", "    return total", ""]
        n += 1
    return "\n".join(out[:lines]) + "\n"


def answer_tokens(count: int) -> list[str]:
    """``count`` tokens of a function body that stays inside the function (no early stop)."""
    tokens: list[str] = []
    i = 0
    while len(tokens) < count:
        tokens += ["total", " +=", f" value_{i}", " *", " index", "\n", "    "]
        i += 1
    return tokens[:count]


def old_way(tokens: list[str], cursor: Cursor) -> None:
    parts: list[str] = []
    for token in tokens:
        parts.append(token)
        if should_stop_streaming("".join(parts), cursor):
            return


def new_way(tokens: list[str], cursor: Cursor) -> None:
    stopper = StreamStopper(cursor)
    for token in tokens:
        if stopper.feed(0, token):
            return


def cpu_ms(run, runs: int) -> float:
    run()  # warm-up
    times = []
    for _ in range(runs):
        started = time.process_time()
        run()
        times.append((time.process_time() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    options = parser.parse_args()
    tokens = answer_tokens(128)
    text = python_file(10_000)
    cut = text.index("def function_1200(")
    text = text[:cut] + "def target(value, index):\n    " + text[cut:]
    offset = cut + len("def target(value, index):\n    ")
    bundle = ("function f(a,b){return a+b};var v=f(1,2);" * 100_000)[: 4 * 1024 * 1024]
    cases = {
        "10k-line Python file": (text, offset, "python"),
        "4 MB single-line bundle": (bundle, len(bundle), "javascript"),
    }
    print(f"stop checks for one 128-token answer ({options.runs} runs, median CPU):")
    for name, (doc, at, grammar) in cases.items():
        snapshot = Snapshot(uri="file:///x", version=1, language_id=grammar, grammar=grammar, text=doc)
        whole = Cursor(text=doc, offset=at, grammar=grammar, tree=None)
        clipped = cursor_for(snapshot, at, "auto")
        # On the 4 MB line one old check takes seconds: time its first 4 deltas and scale to 128.
        sample = tokens if len(doc) < 1_000_000 else tokens[:4]
        runs = options.runs if len(doc) < 1_000_000 else 1
        old = (
            cpu_ms(lambda whole=whole, sample=sample: old_way(sample, whole), runs)
            * len(tokens)
            / len(sample)
        )
        new = cpu_ms(lambda clipped=clipped: new_way(tokens, clipped), options.runs)
        estimated = "" if sample is tokens else " (est. from 4 deltas)"
        print(
            f"  {name:<26} old (per-delta scene) {old:9.2f} ms{estimated}   "
            f"new (scene once) {new:6.2f} ms   x{old / new:.0f}"
        )


if __name__ == "__main__":
    main()
