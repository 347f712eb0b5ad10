"""How long the workspace index takes to build, and how long one context request takes with it.

Copies a few real packages installed in this interpreter's environment (default: requests, attr,
cattrs: about 20k lines of Python) into a temporary workspace, builds a ``WorkspaceIndex`` over it
(wall time, files, lines, definitions, memory of the index via tracemalloc in a second build), then
times ``build_context`` at random call sites (cursor right after ``name(``) and at random positions,
with the document's tree already parsed as the server holds it. Prints p50/p99; asserts nothing.

    python bench/index_speed.py [--packages requests attr cattrs] [--requests 500]
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import random
import re
import shutil
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

from lsp_server.core import syntax
from lsp_server.engine.context import build_context
from lsp_server.engine.index import WorkspaceIndex

_CALL = re.compile(r"[A-Za-z_][\w.]*\(")


def package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{name} is not installed in this environment")
    return Path(next(iter(spec.submodule_search_locations)))


def build(root: Path) -> tuple[WorkspaceIndex, float]:
    index = WorkspaceIndex()
    started = time.perf_counter()
    for _ in index.build([root]):
        pass
    return index, time.perf_counter() - started


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packages", nargs="*", default=["requests", "attr", "cattrs"])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--budget", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="llm-lsp-bench-") as tmp:
        root = Path(tmp)
        for name in args.packages:
            shutil.copytree(package_dir(name), root / name, ignore=shutil.ignore_patterns("__pycache__"))
        files = {str(p): p.read_text(encoding="utf-8", errors="replace") for p in sorted(root.rglob("*.py"))}
        lines = sum(text.count("\n") for text in files.values())
        print(f"workspace: {', '.join(args.packages)}: {len(files)} files, {lines} lines")

        syntax.language("python")  # grammar loading is a one-off cost of the first file, not of indexing
        index, cold = build(root)
        _, warm = build(root)
        definitions = sum(len(s.definitions) for p in index.paths() if (s := index.file_symbols(p)))
        print(
            f"index build: {cold:.3f} s (first), {warm:.3f} s (fresh index again); {definitions} definitions"
        )
        unchanged = time.perf_counter()
        for _ in index.build([root]):
            pass
        print(f"index rebuild with no file changed: {time.perf_counter() - unchanged:.3f} s")

        tracemalloc.start()
        measured, _ = build(root)
        size, _peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"index memory (tracemalloc, after build): {size / 2**20:.1f} MiB")
        del measured
        gc.collect()

        rng = random.Random(args.seed)
        trees = {path: syntax.parse("python", text.encode("utf-8")) for path, text in files.items()}
        cursors: list[tuple[str, int, str]] = []
        paths = list(files)
        while len(cursors) < args.requests:
            path = rng.choice(paths)
            text = files[path]
            calls = [m.end() for m in _CALL.finditer(text)]
            if calls and rng.random() < 0.7:
                cursors.append((path, rng.choice(calls), "call site"))
            elif text:
                cursors.append((path, rng.randrange(len(text)), "anywhere"))
        open_files = [(p, files[p]) for p in rng.sample(paths, min(5, len(paths)))]
        timings: dict[str, list[float]] = {"call site": [], "anywhere": []}
        for path, offset, kind in cursors:
            started = time.perf_counter()
            build_context(
                text=files[path],
                offset=offset,
                path=path,
                language_id="python",
                tree=trees[path],
                index=index,
                budget_chars=args.budget,
                open_files=open_files,
            )
            timings[kind].append(time.perf_counter() - started)
        every = timings["call site"] + timings["anywhere"]
        print(
            f"build_context over {len(every)} requests (5 open files for similarity, budget {args.budget}):"
        )
        for kind, values in (*timings.items(), ("all", every)):
            if values:
                print(
                    f"  {kind:10} n={len(values):4}  p50 {statistics.median(values) * 1000:.2f} ms  "
                    f"p99 {percentile(values, 0.99) * 1000:.2f} ms  max {max(values) * 1000:.2f} ms"
                )


if __name__ == "__main__":
    main()
