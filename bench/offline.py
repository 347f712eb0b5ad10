r"""Benchmark of the offline engine on real repositories: precision, coverage, speed and memory.

Prints what it measured; asserts nothing. The repositories are not part of this project: pass their
source folders as ``NAME=PATH`` (the language is read from the files). Two groups keep the engine
honest: ``--tune`` repositories may be looked at while choosing constants and the threshold,
``--held`` ones must not be. Any local checkout works; what the figures in the README used (no
download beyond the package registries)::

    SP=$(ls -d /work/venv/lib/python3*/site-packages)      # Python: installed packages
    npm pack zod rxjs immer && tar xzf ...                 # TypeScript: packages shipping src/
    apt-get download golang-github-spf13-cobra-dev golang-github-gin-gonic-gin-dev \\
        golang-github-google-go-cmp-dev librust-regex-dev librust-clap-dev librust-itertools-dev
    dpkg -x PKG.deb DIR                                    # Go under usr/share/gocode/src/...,
                                                           # Rust under usr/share/cargo/registry/...
    python bench/offline.py --tune attr=$SP/attr zod=.../package/src cobra=.../spf13/cobra \\
        regex=.../regex-1.7.1 --held pathspec=$SP/pathspec rxjs=.../package/src gin=.../gin-gonic/gin \\
        clap=.../clap-4.0.32 --workspace $SP/hypothesis

Protocol, per repository ("cut on disk"):
* The source files (``.py``, ``.ts``/``.tsx``/``.js``/``.mjs``, ``.go``, ``.rs``, ``.rb``, ``.php``,
  ``.java``, ``.cs``, C and C++, ``.kt``, ``.swift``, ``.scala``; not ``.d.ts``) are listed as the
  server's workspace walk lists them.
  In each file, ``--cuts`` non-blank lines (default 1) are chosen at random (seeded by the file's
  path), and in each line a cursor position at random between the end of its indentation and its last
  visible character.
* Every file is copied to a temporary folder WITH THOSE LINES CUT at the cursor (the rest of the
  line removed), and the workspace index and the offline engine are built from that folder, as the
  server builds them: neither ever sees an answer.
* For each cut, the engine gets the editor's view: the prefix (``--prefix-chars`` before the cursor,
  about what the completion prompt holds) and the suffix (the following lines, ``--suffix-chars``).
  Truth is the removed rest of the line, trailing whitespace stripped.
* Reported: *shown* (non-empty suggestions / cuts), *precision* (exact / shown), *EXACT* (exact /
  cuts: the headline), *prefix-ok* (shown and a prefix of the truth: a partial but right suggestion).
* The confidence curve: every cut's best candidate with its confidence (threshold 0); the table shows
  precision and coverage if the threshold were each value. The engine's own threshold is marked.
* ``--through session`` asks the way ``llm-lsp complete FILE:LINE:COL`` does instead: the live file
  (only the cut line cut) is opened in a Session rooted at the cut folder, whose workspace walk built
  the index and the engine, and the suggestion is whatever the whole pipeline shows (prompt window,
  cross-file context, post-processing, the engine's own threshold); the file goes back to its cut
  text on disk after each cut, so no answer leaks into the next one. No confidence curve then.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import tracemalloc
import zlib
from pathlib import Path

from lsp_server.engine.index import WorkspaceIndex, iter_workspace_files, read_source
from lsp_server.providers import ngram
from lsp_server.providers.prompts import FimPrompt

try:
    from lsp_server.providers import calibration
except ImportError:  # main's engine (the "before") has no calibration
    calibration = None  # type: ignore[assignment]
from lsp_server.providers.offline import OfflineProvider

LANGUAGES = {".py": "python", ".ts": "ts/js", ".tsx": "ts/js", ".js": "ts/js", ".mjs": "ts/js"}
LANGUAGES |= {".go": "go", ".rs": "rust", ".rb": "ruby", ".php": "php", ".java": "java", ".cs": "c#"}
LANGUAGES |= {".kt": "kotlin", ".swift": "swift", ".scala": "scala"}  # listed without a grammar
LANGUAGES |= {ext: "c/c++" for ext in (".c", ".h", ".cc", ".cpp", ".hpp", ".hh", ".cxx")}
CURVE = (0.0, 0.1, 0.2, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7, 0.8, 0.9)
NEW_API = hasattr(OfflineProvider, "propose")  # main's engine (the "before") has only suggest()


def language_of(path: str) -> str | None:
    if path.endswith(".d.ts"):
        return None
    return LANGUAGES.get(os.path.splitext(path)[1])


def list_files(root: Path) -> list[tuple[str, str]]:
    """(relative path, text) of the workspace files the server would walk, sorted by path."""
    out = []
    for path in iter_workspace_files([root]):
        text = read_source(path)
        if text is not None:
            out.append((str(path.relative_to(root)), text))
    return sorted(out)


def choose_cuts(rel: str, text: str, count: int) -> list[tuple[int, int]]:
    """(cursor offset, end of line offset) for ``count`` random non-blank lines of a file."""
    rng = random.Random(zlib.crc32(rel.encode()))
    starts, offset = [], 0
    for line in text.split("\n"):
        if line.strip():
            starts.append((offset, line))
        offset += len(line) + 1
    picked = rng.sample(starts, min(count, len(starts)))
    out = []
    for start, line in sorted(picked):
        body = len(line) - len(line.lstrip(" \t"))
        last = len(line.rstrip())
        out.append((start + rng.randint(body, last - 1), start + len(line)))
    return out


def cut_text(text: str, cuts: list[tuple[int, int]]) -> str:
    out, at = [], 0
    for cursor, end in cuts:
        out.append(text[at:cursor])
        at = end
    out.append(text[at:])
    return "".join(out)


def window(text: str, cursor: int, end: int, prefix_chars: int, suffix_chars: int) -> tuple[str, str]:
    """What the completion prompt shows the engine: the text before the cursor, the lines after."""
    start = max(0, cursor - prefix_chars)
    if start:
        newline = text.find("\n", start)
        start = newline + 1 if 0 <= newline < cursor else start
    return text[start:cursor], text[end : end + suffix_chars]


class Engine:
    """The engine under test, fed like the server feeds it; works with main's engine as well."""

    def __init__(self, root: Path) -> None:
        self.index = WorkspaceIndex()
        self.model = ngram.OfflineModel()
        for path in iter_workspace_files([root]):
            text = read_source(path)
            if text is None:
                continue
            self.index.add_file(str(path), text)
            self.model.add(str(path), text)
        self.provider = OfflineProvider(self.model, index=self.index) if NEW_API else None

    def ask(self, prefix: str, suffix: str, path: str, collect: list | None = None) -> tuple[str, float, str]:
        """(suggestion at threshold 0, its confidence, its source); main's engine: confidence 1.0."""
        if self.provider is None:
            return self.model.suggest(prefix, suffix, path), 1.0, ""
        found = self.provider.propose(FimPrompt(prefix=prefix, suffix=suffix, path=path), collect)
        return (found.text, found.confidence, found.source) if found is not None else ("", 0.0, "")


async def ask_session(root: Path, queries: list[tuple[str, str, int, str]]) -> list[tuple[str, float, str]]:
    """Each cut through a Session as the CLI builds it: (first line shown, 1.0 or 0.0, truth)."""
    from lsp_server.app.session import Session
    from lsp_server.core.text import Encoding

    session = Session(environ={})  # no model configured: the offline engine serves, as for a newcomer
    session.store.encoding = Encoding.UTF32
    session.roots = [root]
    await session.load_workspace()
    # One document stays open throughout: closing the last one makes the session idle (a full collect).
    session.open_document("untitled:keep-open", "plaintext", 0, "")
    out = []
    for path, live, cursor, truth in queries:
        uri = Path(path).as_uri()
        session.open_document(uri, "", 0, live)
        session.refresh_document(uri)  # as the CLI's load_workspace does for the file it opened
        result = await session.complete(uri, cursor, explicit=True)
        shown = result.suggestions[0].split("\n", 1)[0].rstrip() if result.suggestions else ""
        out.append((shown, 1.0 if shown else 0.0, truth, ""))
        session.edited.add(uri)  # closing hands the index and the engine the cut file on disk back
        session.close_document(uri)
        await asyncio.gather(*session.background)
    return out


def evaluate(name: str, root: Path, args: argparse.Namespace) -> dict:
    files = list_files(root)
    counts: dict[str, int] = {}
    for rel, _ in files:
        lang = language_of(rel)
        if lang:
            counts[lang] = counts.get(lang, 0) + 1
    language = max(counts, key=counts.__getitem__) if counts else "?"
    tmp = Path(tempfile.mkdtemp(prefix="offline-bench-"))
    queries = []
    lives: list[tuple[str, str, int, str]] = []
    try:
        for rel, text in files:
            cuts = choose_cuts(rel, text, args.cuts) if language_of(rel) else []
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(cut_text(text, cuts), encoding="utf-8")  # the index sees no answer
            for cursor, end in cuts:
                live = text[:cursor] + text[end:]  # the editor's buffer: only this line is cut
                prefix, suffix = window(live, cursor, cursor, args.prefix_chars, args.suffix_chars)
                queries.append((str(target), prefix, suffix, text[cursor:end].rstrip()))
                lives.append((str(target), live, cursor, text[cursor:end].rstrip()))
        if args.through == "session":
            results = asyncio.run(ask_session(tmp, lives))
            return {
                "name": name,
                "language": language,
                "files": len(files),
                "results": results,
                "candidates": [],
                "p99": 0.0,
            }
        engine = Engine(tmp)
        results = []
        times = []
        candidates: list[tuple[list[float], bool]] = []
        for path, prefix, suffix, truth in queries:
            collect: list | None = [] if args.fit else None
            started = time.perf_counter()
            got, confidence, source = engine.ask(prefix, suffix, path, collect)
            times.append((time.perf_counter() - started) * 1000)
            got = got.split("\n", 1)[0].rstrip()
            results.append((got, confidence, truth, source))
            for seen in collect or ():
                if seen.confidence is not None and seen.source != "repeat":
                    exact = seen.text.split("\n", 1)[0].rstrip() == truth
                    candidates.append((calibration.vector(seen.features), exact))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    times.sort()
    return {
        "name": name,
        "language": language,
        "files": len(files),
        "results": results,
        "candidates": candidates,
        "p99": times[max(0, int(len(times) * 0.99) - 1)] if times else 0.0,
    }


def fit(rows: list[tuple[list[float], bool]], l2: float = 1.0, rounds: int = 25) -> list[float]:
    """Logistic regression by Newton's method (L2-regularised): the weights of calibration.py."""
    d = len(rows[0][0])
    w = [0.0] * d
    for _ in range(rounds):
        grad = [-l2 * wi for wi in w]
        hess = [[(l2 if i == j else 0.0) for j in range(d)] for i in range(d)]
        for x, y in rows:
            z = max(-30.0, min(30.0, sum(a * b for a, b in zip(w, x, strict=True))))
            p = 1.0 / (1.0 + math.exp(-z))
            g, h = float(y) - p, p * (1 - p)
            for i in range(d):
                if x[i]:
                    grad[i] += g * x[i]
                    hi, xi = hess[i], h * x[i]
                    for j in range(d):
                        if x[j]:
                            hi[j] += xi * x[j]
        w = [a + b for a, b in zip(w, solve(hess, grad), strict=True)]
    return w


def solve(a: list[list[float]], b: list[float]) -> list[float]:
    """x with a x = b (Gaussian elimination with partial pivoting; a is small and well-conditioned)."""
    n = len(b)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for c in range(n):
        pivot = max(range(c, n), key=lambda r: abs(m[r][c]))
        m[c], m[pivot] = m[pivot], m[c]
        for r in range(n):
            if r != c and m[r][c]:
                f = m[r][c] / m[c][c]
                m[r] = [x - f * y for x, y in zip(m[r], m[c], strict=True)]
    return [m[i][n] / m[i][i] for i in range(n)]


def summary(results: list[tuple[str, float, str]], threshold: float) -> tuple[int, int, int, int]:
    """(cuts, shown, exact, prefix-ok) when suggestions below ``threshold`` are hidden."""
    shown = exact = prefix_ok = 0
    for got, confidence, truth, _ in results:
        if got and confidence >= threshold:
            shown += 1
            exact += got == truth
            prefix_ok += truth.startswith(got)
    return len(results), shown, exact, prefix_ok


def report(title: str, rows: list[dict], threshold: float) -> None:
    print(f"\n## {title} (threshold {threshold:.2f})")
    print(
        f"{'repo':<14}{'lang':<7}{'files':>6}{'cuts':>6}{'shown':>8}{'prec':>8}{'EXACT':>8}"
        f"{'pfx-ok':>8}{'p99 ms':>8}"
    )
    by_lang: dict[str, list] = {}
    for r in rows:
        n, shown, exact, pok = summary(r["results"], threshold)
        if not n:
            print(f"{r['name']:<14}no cuts: none of its files is one the workspace walk lists")
            continue
        by_lang.setdefault(r["language"], []).extend(r["results"])
        print(
            f"{r['name']:<14}{r['language']:<7}{r['files']:>6}{n:>6}{shown / n:>8.1%}"
            f"{exact / shown if shown else 0:>8.1%}{exact / n:>8.1%}{pok / n:>8.1%}{r['p99']:>8.2f}"
        )
    for lang, results in sorted(by_lang.items()):
        n, shown, exact, pok = summary(results, threshold)
        print(
            f"{'  ' + lang:<21}{'':>6}{n:>6}{shown / n:>8.1%}{exact / shown if shown else 0:>8.1%}"
            f"{exact / n:>8.1%}{pok / n:>8.1%}"
        )
    pooled = [x for r in rows for x in r["results"]]
    n, shown, exact, pok = summary(pooled, threshold)
    sources = sorted({x[3] for x in pooled if x[3] and x[0] and x[1] >= threshold})
    if sources:
        parts = []
        for source in sources:
            of_source = [x for x in pooled if x[3] == source and x[0] and x[1] >= threshold]
            right = sum(x[0] == x[2] for x in of_source)
            parts.append(f"{source} {len(of_source)} shown, {right / len(of_source):.0%} right")
        print("  by source: " + "; ".join(parts))
    langs = list(by_lang.values())
    macro_p = statistics.mean(summary(x, threshold)[2] / max(1, summary(x, threshold)[1]) for x in langs)
    print(
        f"{'ALL (pooled)':<21}{'':>6}{n:>6}{shown / n:>8.1%}{exact / shown if shown else 0:>8.1%}"
        f"{exact / n:>8.1%}{pok / n:>8.1%}   mean of languages: precision {macro_p:.1%}"
    )


def curve(title: str, rows: list[dict], threshold: float) -> None:
    pooled = [x for r in rows for x in r["results"]]
    print(f"\n## Precision / coverage by confidence threshold, {title} ({len(pooled)} cuts)")
    print(f"{'threshold':>10}{'shown':>8}{'prec':>8}{'EXACT':>8}")
    for t in sorted({*CURVE, threshold}):
        n, shown, exact, _ = summary(pooled, t)
        mark = "  <- the engine's threshold" if t == threshold else ""
        print(f"{t:>10.2f}{shown / n:>8.1%}{exact / shown if shown else 0:>8.1%}{exact / n:>8.1%}{mark}")


def performance(roots: list[Path], lines: int, samples: int, args: argparse.Namespace) -> None:
    """Latency per suggestion and the tables' memory on a workspace of about ``lines`` lines."""
    files: list[tuple[str, str]] = []
    total = 0
    for root in roots:
        for rel, text in list_files(root):
            if total >= lines:
                break
            files.append((str(root / rel), text))
            total += text.count("\n")
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    traced = ngram.OfflineModel()
    for path, text in files:
        traced.add(path, text)
    after, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del traced

    index = WorkspaceIndex()
    model = ngram.OfflineModel()
    started = time.perf_counter()
    for path, text in files:
        model.add(path, text)
    build = time.perf_counter() - started
    for path, text in files:
        index.add_file(path, text)
    provider = OfflineProvider(model, index=index) if NEW_API else None
    stats = model.stats()
    rng = random.Random(1)
    latencies, cpu, shown = [], [], 0
    for _ in range(samples):
        path, text = rng.choice(files)
        cuts = choose_cuts(path + str(rng.random()), text, 1)
        if not cuts:
            continue
        cursor, end = cuts[0]
        live = text[:cursor] + text[end:]
        prefix, suffix = window(live, cursor, cursor, args.prefix_chars, args.suffix_chars)
        started, started_cpu = time.perf_counter(), time.thread_time()
        if provider is not None:
            got = provider.answer(FimPrompt(prefix=prefix, suffix=suffix, path=path))
        else:
            got = model.suggest(prefix, suffix, path)
        latencies.append((time.perf_counter() - started) * 1000)
        cpu.append((time.thread_time() - started_cpu) * 1000)
        shown += bool(got)
    latencies.sort()
    cpu.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    cpu_p99 = cpu[int(len(cpu) * 0.99) - 1]
    print(f"\n## Speed and memory on a {total}-line workspace ({len(files)} files, {stats.tokens} tokens)")
    print(f"build: {build:.2f} s ({total / build:,.0f} lines/s)")
    print(
        f"engine tables: {(after - before) / 2**20:.1f} MiB retained after build (tracemalloc), "
        f"{(peak - before) / 2**20:.1f} MiB peak during build; vocabulary {stats.vocabulary}"
    )
    print(
        f"latency per suggestion over {len(latencies)} random cuts (provider, index included): "
        f"p50 {statistics.median(latencies):.2f} ms, p99 {p99:.2f} ms, max {latencies[-1]:.2f} ms "
        f"(shown {shown / len(latencies):.0%}); CPU time of this thread: p99 {cpu_p99:.2f} ms "
        "(the wall figures include waiting for other processes on a shared machine)"
    )


def parse_repos(values: list[str]) -> list[tuple[str, Path]]:
    out = []
    for value in values:
        name, _, path = value.partition("=")
        if not path:
            name, path = Path(value).name, value
        out.append((name, Path(path).resolve()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tune", nargs="*", default=[], help="NAME=PATH repositories used for tuning")
    parser.add_argument("--held", nargs="*", default=[], help="NAME=PATH repositories never tuned on")
    parser.add_argument("--cuts", type=int, default=1, help="cut lines per file")
    parser.add_argument("--prefix-chars", type=int, default=4000)
    parser.add_argument("--suffix-chars", type=int, default=1500)
    parser.add_argument("--workspace", nargs="*", default=[], help="folders for the speed/memory workspace")
    parser.add_argument("--lines", type=int, default=20_000, help="size of the speed workspace")
    parser.add_argument("--samples", type=int, default=2000, help="latency samples")
    parser.add_argument("--fit", action="store_true", help="fit calibration weights on the tuning set")
    parser.add_argument(
        "--through",
        choices=("engine", "session"),
        default="engine",
        help="ask the engine directly, or through a Session as `llm-lsp complete` does",
    )
    args = parser.parse_args()
    threshold = getattr(ngram, "THRESHOLD", 0.0)
    print(f"python {sys.version.split()[0]}; engine {ngram.__file__}; cuts per file {args.cuts}")
    for title, repos in (("tuning set", args.tune), ("held-out set", args.held)):
        if not repos:
            continue
        rows = [evaluate(name, root, args) for name, root in parse_repos(repos)]
        if args.fit and title == "tuning set":
            weights = fit([c for r in rows for c in r["candidates"]])
            fitted = dict(zip(calibration.FEATURE_NAMES, (round(w, 3) for w in weights), strict=True))
            print("\nWEIGHTS = " + repr(fitted))
        report(title, rows, threshold)
        if NEW_API and args.through == "engine":
            curve(title, rows, threshold)
    if args.workspace:
        performance([Path(p).resolve() for p in args.workspace], args.lines, args.samples, args)


if __name__ == "__main__":
    main()
