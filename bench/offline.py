"""Benchmark of the offline engine: rest-of-line accuracy on held-out files, speed and memory.

Uses the sources of packages installed beside llm-lsp (no download). Prints what it measured; it
asserts nothing. Run: ``/work/venv/bin/python bench/offline.py`` (``--help`` for options).

Accuracy protocol, per package:
* Files (``*.py``) are split by ``crc32(relative path) % 5 == 0`` into held-out (~20%) and training.
  The model is built from the training files only; held-out files are never added.
* A line is non-trivial when, after its indentation, the lexer (``ngram.lex``) finds at least two
  tokens on it. For each non-trivial line and each k in 1, 2, 3 with k < its token count, the cursor
  is put right after its k-th token. The prompt is the held-out file's text before the cursor as
  prefix and the text from the end of that line on as suffix (the classic single-line infilling
  set-up: the code below is visible, the rest of the line is not). ``--no-suffix`` hides the suffix.
* Truth is the rest of the line with trailing whitespace stripped. A suggestion is *exact* when it
  equals the truth (after stripping its trailing whitespace). *Shown* means non-empty. Reported:
  shown rate, exact among shown (precision), exact overall (empty suggestions count as misses, the
  headline figure), a correct-prefix rate (shown and the truth starts with it), and first-token
  accuracy (the suggestion's first token equals the truth's; empty counts as a miss).
* Baseline: for the cursor's last token (the k-th token of the line, with its leading spaces) the
  most frequent rest-of-line that followed that token at the same kind of cut (k in 1..3 of a
  non-trivial line) in the training files; it answers whenever it has seen the token.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import statistics
import sys
import time
import tracemalloc
import zlib
from collections import Counter
from pathlib import Path

from lsp_server.providers.ngram import DEFAULT_MAX_TOKENS, OfflineModel, lex

PACKAGES = ("attr", "cattrs", "pygls", "lsprotocol", "pathspec", "detect_secrets", "requests", "hypothesis")


def package_files(name: str) -> list[tuple[str, str]]:
    """(relative path, text) of every ``.py`` file of an installed package, sorted by path."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return []
    root = Path(next(iter(spec.submodule_search_locations)))
    out = []
    for path in sorted(root.rglob("*.py")):
        try:
            out.append((str(path.relative_to(root.parent)), path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError):
            continue
    return out


def is_held_out(rel: str) -> bool:
    return zlib.crc32(rel.encode()) % 5 == 0


def cuts(text: str) -> list[tuple[int, str, str, int]]:
    """(cursor offset, truth, last token, k) for every evaluated cursor of a file."""
    out = []
    offset = 0
    for line in text.split("\n"):
        body = line.lstrip(" \t")
        start = offset + len(line) - len(body)
        tokens = lex(body)
        for k in (1, 2, 3):
            if k >= len(tokens):
                break
            head = "".join(tokens[:k])
            truth = body[len(head) :].rstrip()
            if truth:
                out.append((start + len(head), truth, tokens[k - 1], k))
        offset += len(line) + 1
    return out


def first_token(text: str) -> str:
    tokens = lex(text)
    return tokens[0] if tokens else ""


def evaluate(name: str, files: list[tuple[str, str]], max_queries: int, with_suffix: bool) -> dict:
    train = [(p, t) for p, t in files if not is_held_out(p)]
    held = [(p, t) for p, t in files if is_held_out(p)]
    model = OfflineModel()
    for path, text in train:
        model.add(path, text)
    baseline: dict[str, Counter[str]] = {}
    for _path, text in train:
        for _offset, truth, last, _k in cuts(text):
            baseline.setdefault(last, Counter())[truth] += 1
    queries = [(path, text, c) for path, text in held for c in cuts(text)]
    if len(queries) > max_queries:
        queries = random.Random(0).sample(queries, max_queries)
    n = len(queries)
    shown = exact = prefix_ok = first_ok = base_exact = base_first = 0
    by_k: Counter[tuple[int, str]] = Counter()
    for path, text, (offset, truth, last, k) in queries:
        end = text.find("\n", offset)
        suffix = (text[end:] if end != -1 else "") if with_suffix else ""
        got = model.suggest(text[:offset], suffix, path).rstrip()
        by_k[(k, "n")] += 1
        if got:
            shown += 1
            prefix_ok += truth.startswith(got)
            by_k[(k, "shown")] += 1
        if got == truth:
            exact += 1
            by_k[(k, "exact")] += 1
        first_ok += bool(got) and first_token(got) == first_token(truth)
        seen = baseline.get(last)
        if seen:
            guess = seen.most_common(1)[0][0]
            base_exact += guess == truth
            base_first += first_token(guess) == first_token(truth)
    return {
        "package": name,
        "train_files": len(train),
        "held_files": len(held),
        "train_lines": sum(t.count("\n") for _, t in train),
        "queries": n,
        "shown": shown / n,
        "precision": exact / shown if shown else 0.0,
        "exact": exact / n,
        "prefix_ok": prefix_ok / n,
        "first": first_ok / n,
        "base_exact": base_exact / n,
        "base_first": base_first / n,
        "by_k": {k: (by_k[(k, "exact")] / by_k[(k, "n")] if by_k[(k, "n")] else 0.0) for k in (1, 2, 3)},
    }


def workspace(lines: int, packages: tuple[str, ...] = PACKAGES) -> list[tuple[str, str]]:
    """About ``lines`` lines of real code, whole files, from ``packages`` in order."""
    out, total = [], 0
    for name in packages:
        for path, text in package_files(name):
            if total >= lines:
                return out
            out.append((path, text))
            total += text.count("\n")
    return out


def performance(lines: int, samples: int) -> None:
    files = workspace(lines)
    n_lines = sum(t.count("\n") for _, t in files)
    start = time.perf_counter()
    model = OfflineModel()
    for path, text in files:
        model.add(path, text)
    build = time.perf_counter() - start
    stats = model.stats()

    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    traced = OfflineModel()
    for path, text in files:
        traced.add(path, text)
    after, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del traced

    rng = random.Random(1)
    latencies = []
    shown = 0
    for _ in range(samples):
        path, text = rng.choice(files)
        line_starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]
        start_of_line = rng.choice(line_starts)
        end = text.find("\n", start_of_line)
        end = len(text) if end == -1 else end
        cursor = rng.randint(start_of_line, end)
        t0 = time.perf_counter()
        got = model.suggest(text[:cursor], text[end:], path)
        latencies.append((time.perf_counter() - t0) * 1000)
        shown += bool(got)
    latencies.sort()
    p50 = statistics.median(latencies)
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    print(f"\n## Speed and memory on a {n_lines}-line workspace ({len(files)} files, {stats.tokens} tokens)")
    print(f"build: {build:.2f} s ({n_lines / build:,.0f} lines/s)")
    print(
        f"memory: {(after - before) / 2**20:.1f} MiB retained after build (tracemalloc), "
        f"{(peak - before) / 2**20:.1f} MiB peak during build; stats() estimate "
        f"{stats.memory_bytes / 2**20:.1f} MiB; vocabulary {stats.vocabulary}"
    )
    print(
        f"suggest latency over {samples} random cursors in indexed files: p50 {p50:.2f} ms, "
        f"p99 {p99:.2f} ms, max {latencies[-1]:.2f} ms (shown {shown / samples:.0%})"
    )


def huge(lines: int) -> None:
    """Offer more code than the token cap allows: the model must refuse the excess, not grow."""
    files = workspace(lines, (*PACKAGES, "rich", "pydantic", "openai"))
    model = OfflineModel()
    start = time.perf_counter()
    tracemalloc.start()
    refused = sum(not model.add(p, t) for p, t in files)
    traced = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    build = time.perf_counter() - start
    stats = model.stats()
    print(
        f"\n## Cap: offered {sum(t.count(chr(10)) for _, t in files)} lines in {len(files)} files: "
        f"kept {stats.files} files / {stats.tokens} tokens (cap {DEFAULT_MAX_TOKENS}), refused {refused}; "
        f"build {build:.2f} s under tracemalloc; {traced / 2**20:.1f} MiB traced; "
        f"stats() estimate {stats.memory_bytes / 2**20:.1f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--packages", nargs="*", default=list(PACKAGES))
    parser.add_argument("--max-queries", type=int, default=3000, help="sampled cursors per package")
    parser.add_argument("--no-suffix", action="store_true", help="hide the code below the cursor")
    parser.add_argument("--lines", type=int, default=20_000, help="size of the speed workspace")
    parser.add_argument("--samples", type=int, default=2000, help="latency samples")
    parser.add_argument("--skip-accuracy", action="store_true")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}")
    if not args.skip_accuracy:
        print(__doc__.split("Accuracy protocol, per package:")[1].rstrip())
        header = (
            f"{'package':<15}{'train':>7}{'held':>6}{'queries':>8}{'shown':>7}{'prec':>7}{'EXACT':>7}"
            f"{'prefix':>8}{'1st tok':>8}{'base ex':>8}{'base 1st':>9}  exact by k=1/2/3"
        )
        print("\n" + header)
        rows = []
        for name in args.packages:
            files = package_files(name)
            if not files:
                print(f"{name:<15} not installed")
                continue
            r = evaluate(name, files, args.max_queries, not args.no_suffix)
            rows.append(r)
            print(
                f"{name:<15}{r['train_lines']:>7}{r['held_files']:>6}{r['queries']:>8}{r['shown']:>7.1%}"
                f"{r['precision']:>7.1%}{r['exact']:>7.1%}{r['prefix_ok']:>8.1%}{r['first']:>8.1%}"
                f"{r['base_exact']:>8.1%}{r['base_first']:>9.1%}  "
                + "/".join(f"{r['by_k'][k]:.0%}" for k in (1, 2, 3))
            )
        if rows:
            total = sum(r["queries"] for r in rows)

            def mean(key: str, rows: list[dict] = rows, total: int = total) -> float:
                return sum(r[key] * r["queries"] for r in rows) / total

            print(
                f"{'ALL (pooled)':<15}{'':>7}{'':>6}{total:>8}{mean('shown'):>7.1%}"
                f"{mean('exact') / mean('shown') if mean('shown') else 0:>7.1%}{mean('exact'):>7.1%}"
                f"{mean('prefix_ok'):>8.1%}{mean('first'):>8.1%}{mean('base_exact'):>8.1%}"
                f"{mean('base_first'):>9.1%}"
            )
            print("columns: train = training lines; EXACT = exact rest-of-line, empty counts as a miss")
    performance(args.lines, args.samples)
    huge(150_000)


if __name__ == "__main__":
    main()
