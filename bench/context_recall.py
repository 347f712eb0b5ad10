"""Does the context for a call site carry the called function's definition from another file?

On real packages (sources installed in this interpreter's environment: requests, rich, attrs, cattrs,
pygls, lsprotocol, pathspec, detect_secrets by default), picks call sites ``name(`` and ``obj.name(``
whose callee is defined exactly once in the package, in another file (ground truth from Python's own
``ast``, independent of tree-sitter and of the index). A hit means the prompt holds the callee's
``def`` / ``class`` line. The baseline sends only the current file (prefix/suffix window, same budget).

Two cursor variants, reported side by side:

- ``paren``: the cursor right after the ``(``, the callee's name already typed;
- ``dot``: for ``obj.name(`` sites, the cursor right after ``obj.`` with the name not typed yet (the
  rest of that line removed, so that the name cannot leak in through the suffix): the model must be
  shown the receiver's members to know what to call.

Other repositories: ``--python-root DIR`` (any folder of Python sources, same ground truth) and
``--typescript-root DIR`` for TypeScript, whose ground truth is the TypeScript compiler's own type
checker (``bench/ts_call_sites.js``: the declaration each ``name(`` / ``obj.name(`` call resolves to,
kept when it is a single function, method or class declared in another file under DIR). That needs
Node and an unpacked ``typescript`` package, e.g. ``cd /tmp/ts && npm pack typescript && tar xzf
typescript-*.tgz`` then ``--typescript-package /tmp/ts/package``; sources from ``npm pack rxjs``
(its ``package/src``) are one such repository.

The index is built as the server builds it, in a SQLite database per package (``--index memory``:
the in-memory layer, as tests and the offline bench use it). Prints what it measured; asserts
nothing. Usage:

    python bench/context_recall.py [--budget 6000] [--per-package 80] [--packages requests rich ...]
        [--python-root DIR ...] [--typescript-root DIR ... --typescript-package DIR] [--index memory]
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

from lsp_server.engine.context import build_context
from lsp_server.engine.index import WorkspaceIndex

try:  # the index on disk (issue 26); a checkout before it has the in-memory index only
    from lsp_server.engine.indexer import Indexer
except ImportError:
    Indexer = None  # type: ignore[assignment,misc]

DEFAULT_PACKAGES = ["requests", "rich", "attr", "cattrs", "pygls", "lsprotocol", "pathspec", "detect_secrets"]


def build_index(root: Path, kind: str, work: Path) -> WorkspaceIndex:
    """The index of ``root`` as the server builds it: in its SQLite database (``disk``), or in memory."""
    index = WorkspaceIndex()
    if kind == "memory" or Indexer is None:
        for _ in index.build([root]):
            pass
        return index
    done = threading.Event()
    indexer = Indexer([root], work, index, on_ready=lambda readers: [index.attach(r) for r in readers])
    indexer.on_indexed = lambda _outcome: done.set()
    indexer.start()
    done.wait()
    indexer.stop()
    return index


def package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def ast_definitions(files: dict[str, str]) -> dict[str, list[tuple[str, int, bool]]]:
    """name -> [(path, 1-based line, is_member)] for module- and class-level functions and classes."""
    defs: dict[str, list[tuple[str, int, bool]]] = defaultdict(list)
    for path, text in files.items():
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        for node in tree.body:
            _collect(node, path, defs, member=False)
    return defs


def _collect(node: ast.AST, path: str, defs, member: bool) -> None:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        defs[node.name].append((path, node.lineno, member))
        if isinstance(node, ast.ClassDef):
            for child in node.body:
                _collect(child, path, defs, member=True)
    elif isinstance(node, (ast.If, ast.Try)):
        for child in ast.iter_child_nodes(node):
            _collect(child, path, defs, member)


def call_sites(path: str, text: str, defs) -> list[tuple[int, str, str, str]]:
    """(cursor offset, kind, callee name, truth line) for calls whose callee lives once, elsewhere."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return []
    lines = text.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    sites = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name):
            name, kind = func.id, "name("
        elif isinstance(func, ast.Attribute):
            name, kind = func.attr, "obj.name("
        else:
            continue
        if name.startswith("__"):
            continue
        found = defs.get(name, [])
        if len(found) != 1 or found[0][0] == path:
            continue
        def_path, def_line, member = found[0]
        if kind == "name(" and member:
            continue
        row = func.end_lineno - 1
        line_bytes = lines[row].encode("utf-8")
        col = len(line_bytes[: func.end_col_offset].decode("utf-8", errors="replace"))
        offset = starts[row] + col
        paren = text.find("(", offset)
        if paren < 0 or text[offset:paren].strip():
            continue
        truth = _def_line(def_path, def_line)
        sites.append((paren + 1, kind, name, truth))
    return sites


def dot_site(text: str, site: tuple[int, str, str, str]) -> tuple[int, str, str, str] | None:
    """The ``obj.|`` twin of an ``obj.name(`` site: the cursor where the callee's name starts."""
    paren, kind, name, truth = site
    name_end = text.rfind(name, 0, paren)
    dot = text.rfind(".", 0, name_end)
    if kind != "obj.name(" or name_end < 0 or dot < 0 or text[dot + 1 : name_end].strip():
        return None
    return (name_end, "obj.|", name, truth)


def dot_document(text: str, offset: int) -> str:
    """``text`` with the rest of the cursor's line removed: the name after the dot is not typed yet."""
    line_end = text.find("\n", offset)
    return text[:offset] + (text[line_end:] if line_end >= 0 else "")


_FILE_CACHE: dict[str, list[str]] = {}


def _def_line(path: str, line: int) -> str:
    if path not in _FILE_CACHE:
        _FILE_CACHE[path] = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    return _FILE_CACHE[path][line - 1].strip()


Site = tuple[str, int, str, str, str]  # path, cursor offset, kind, callee name, truth line


def typescript_sites(root: Path, typescript: str) -> tuple[dict[str, str], list[Site]]:
    """Files under ``root`` and their call sites, from the TypeScript checker (``ts_call_sites.js``)."""
    script = Path(__file__).with_name("ts_call_sites.js")
    out = subprocess.run(
        ["node", str(script), str(root), typescript], capture_output=True, text=True, check=True
    ).stdout
    files: dict[str, str] = {}
    sites = []
    for row in map(json.loads, out.splitlines()):
        path = row["file"]
        if path not in files:
            files[path] = Path(path).read_text(encoding="utf-8", errors="replace")
        lines = files[path].splitlines(keepends=True)
        # UTF-16 columns equal code points on the BMP, which holds all of these sources' code.
        offset = sum(len(line) for line in lines[: row["line"]]) + row["character"]
        sites.append((path, offset, row["kind"], row["name"], row["truth"]))
    return files, sites


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=int, default=6000)
    parser.add_argument("--per-package", type=int, default=80)
    parser.add_argument("--packages", nargs="*", default=DEFAULT_PACKAGES)
    parser.add_argument("--python-root", nargs="*", default=[], help="folders of Python sources")
    parser.add_argument("--typescript-root", nargs="*", default=[], help="folders of TypeScript sources")
    parser.add_argument("--typescript-package", help="an unpacked `npm pack typescript` (its package dir)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--show-misses", type=int, default=0)
    parser.add_argument(
        "--no-name-fallback",
        action="store_true",
        help="resolve only through imports, types and the file itself (no guessing by unique names)",
    )
    parser.add_argument(
        "--index",
        choices=("disk", "memory"),
        default="disk",
        help="disk: a SQLite database per package, as the server uses it; memory: the in-memory layer",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="llm-lsp-recall-"))
    if args.no_name_fallback:
        # The ground truth picks callees defined once, which by-name guessing finds trivially; this
        # measures what import and type resolution alone achieve.
        import lsp_server.engine.context
        import lsp_server.engine.index

        lsp_server.engine.index.MAX_AMBIGUOUS = 0
        lsp_server.engine.context._Resolver.unique_member = lambda self, name: []

    rng = random.Random(args.seed)
    totals = defaultdict(lambda: [0, 0, 0])  # kind -> [sites, hits, baseline hits]
    timings: list[float] = []
    misses: list[str] = []
    print(f"budget {args.budget} chars, up to {args.per_package} call sites per package, seed {args.seed}")
    print(f"{'package':16} {'files':>5} {'sites':>5} {'recall':>7} {'baseline':>8}")
    repositories: list[tuple[str, Path | None, str]] = [
        (name, package_dir(name), "python") for name in args.packages
    ]
    repositories += [(Path(d).name, Path(d), "python") for d in args.python_root]
    repositories += [(Path(d).name, Path(d), "typescript") for d in args.typescript_root]
    for name, root, language in repositories:
        if root is None or not root.is_dir():
            print(f"{name:16} not installed, skipped")
            continue
        if language == "typescript" and not args.typescript_package:
            print(f"{name:16} needs --typescript-package, skipped")
            continue
        index = build_index(root, args.index, work)
        if language == "python":
            files = {
                str(p): p.read_text(encoding="utf-8", errors="replace")
                for p in sorted(root.rglob("*.py"))
                if "__pycache__" not in p.parts
            }
            defs = ast_definitions(files)
            sites = [(path, *site) for path, text in files.items() for site in call_sites(path, text, defs)]
        else:
            files, sites = typescript_sites(root, args.typescript_package)
        rng.shuffle(sites)
        sites = sites[: args.per_package]
        # The same call sites with the cursor right after the dot (the paren sample stays as it was).
        twins = [(path, *dot_site(files[path], site)) for path, *site in sites if dot_site(files[path], site)]
        sites = sites + twins
        hits = base_hits = 0
        for path, offset, kind, callee, truth in sites:
            text = files[path]
            if kind == "obj.|":
                text = dot_document(text, offset)
            started = time.perf_counter()
            # As the server calls it: no tree of the whole document, scopes from the region parse.
            built = build_context(
                text=text,
                offset=offset,
                path=path,
                language_id=language,
                index=index,
                budget_chars=args.budget,
            )
            timings.append(time.perf_counter() - started)
            prompt = built.prompt
            hit = truth in prompt.context or truth in prompt.prefix or truth in prompt.suffix
            baseline = build_context(
                text=text,
                offset=offset,
                path=path,
                language_id=language,
                budget_chars=args.budget,
            ).prompt
            base_hit = truth in baseline.prefix or truth in baseline.suffix or truth in baseline.context
            hits += hit
            base_hits += base_hit
            totals[kind][0] += 1
            totals[kind][1] += hit
            totals[kind][2] += base_hit
            if not hit:
                rel = os.path.relpath(path, root)
                line = text.count("\n", 0, offset) + 1
                misses.append(f"{name}/{rel}:{line} {kind} {callee} -> {truth}")
        if sites:
            recall, baseline_recall = hits / len(sites), base_hits / len(sites)
            print(f"{name:16} {len(files):5} {len(sites):5} {recall:7.2f} {baseline_recall:8.2f}")
    n = sum(t[0] for t in totals.values())
    if not n:
        print("no call sites found")
        return
    for kind, (count, hit, base) in sorted(totals.items()):
        print(f"  {kind:10} sites {count:4}  recall {hit / count:.2f}  baseline {base / count:.2f}")
    for variant, kinds in (("paren", ("name(", "obj.name(")), ("dot", ("obj.|",))):
        count = sum(totals[k][0] for k in kinds if k in totals)
        if not count:
            continue
        hits = sum(totals[k][1] for k in kinds if k in totals)
        base = sum(totals[k][2] for k in kinds if k in totals)
        print(
            f"TOTAL {variant:5} sites {count}  recall {hits / count:.3f}"
            f"  baseline (current file only) {base / count:.3f}"
        )
    timings.sort()
    print(
        f"build_context time per request: p50 {statistics.median(timings) * 1000:.2f} ms, "
        f"p99 {timings[int(len(timings) * 0.99) - 1] * 1000:.2f} ms"
    )
    for miss in misses[: args.show_misses]:
        print("  miss:", miss)


if __name__ == "__main__":
    sys.exit(main())
