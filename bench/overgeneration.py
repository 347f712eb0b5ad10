"""Over-generation benchmark: does post-processing cut a model that keeps writing past the hole?

For every HumanEval-infilling task (single-line and multi-line files) the "model" answers the true
middle (``canonical_solution``) followed by:

- ``middle``  nothing (the model stopped in the right place: post-processing must do no harm);
- ``A``       the real continuation of the file: the first ``--lines`` lines of the suffix;
- ``B``       that continuation with every identifier renamed (``v1``, ``v2``, ...; keywords, literals
              and strings kept), so no text matching against the suffix can find the cut.

``process`` runs with the cursor at the hole (document = prompt + suffix, offset = len(prompt)).
A result is an exact match when it equals the true middle after stripping trailing whitespace on
both sides (``rstrip()``): the hole always ends at a line end, and whether the suggestion carries that
last newline is presentation (at the end of the file or before an empty line the newline already
exists). The strict rate (no normalisation at all) is printed beside it.

Run: ``python bench/overgeneration.py [--lines 4] [--limit N] [--show K]``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import keyword
import re
import time
from pathlib import Path

from lsp_server.engine.postprocess import Cursor, process

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "humaneval-infilling"
if not DATA.exists():
    DATA = Path("/work/shared/data/humaneval-infilling")
FILES = {
    "single-line": "HumanEval-SingleLineInfilling.jsonl.gz",
    "multi-line": "HumanEval-MultiLineInfilling.jsonl.gz",
}
_WORD_OR_STRING = re.compile(r"\"(?:[^\"\\\n]|\\.)*\"|'(?:[^'\\\n]|\\.)*'|#[^\n]*|[A-Za-z_]\w*")
_KEEP = set(keyword.kwlist) | set(keyword.softkwlist)


def rename_identifiers(code: str) -> str:
    """``code`` with every identifier consistently renamed; keywords, strings and comments kept."""
    names: dict[str, str] = {}

    def swap(match: re.Match[str]) -> str:
        word = match.group()
        if word[0] in "\"'#" or word in _KEEP:
            return word
        return names.setdefault(word, f"v{len(names) + 1}")

    return _WORD_OR_STRING.sub(swap, code)


def continuation(suffix: str, lines: int) -> str:
    """The first ``lines`` lines of the suffix (with their newlines)."""
    return "".join(suffix.splitlines(keepends=True)[:lines])


def run(path: Path, lines: int, limit: int | None, show: int) -> None:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        tasks = [json.loads(line) for line in handle]
    if limit:
        tasks = tasks[:limit]
    variants = ("middle", "A", "B")
    exact = dict.fromkeys(variants, 0)
    strict = dict.fromkeys(variants, 0)
    failures: dict[str, list[tuple[str, str, str]]] = {v: [] for v in variants}
    started = time.perf_counter()
    for task in tasks:
        prefix, suffix, middle = task["prompt"], task["suffix"], task["canonical_solution"]
        cursor = Cursor(text=prefix + suffix, offset=len(prefix), grammar="python")
        more = continuation(suffix, lines)
        answers = {"middle": middle, "A": middle + more, "B": middle + rename_identifiers(more)}
        for variant, raw in answers.items():
            got = process(raw, cursor)
            if got == middle:
                strict[variant] += 1
            if got.rstrip() == middle.rstrip():
                exact[variant] += 1
            else:
                failures[variant].append((task["task_id"], raw, got))
    elapsed = time.perf_counter() - started
    n = len(tasks)
    print(f"{path.name}: {n} tasks, {3 * n} process() calls in {elapsed:.1f} s")
    for variant in variants:
        print(
            f"  {variant:6} exact {exact[variant]:5}/{n} = {exact[variant] / n:.4f}"
            f"   strict {strict[variant]:5}/{n} = {strict[variant] / n:.4f}"
        )
    for variant in variants:
        for task_id, raw, got in failures[variant][:show]:
            print(f"  -- {variant} miss {task_id}\n     raw {raw!r}\n     got {got!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--lines", type=int, default=4, help="suffix lines the model over-generates")
    parser.add_argument("--limit", type=int, default=None, help="only the first N tasks of each file")
    parser.add_argument("--show", type=int, default=0, help="print the first K misses per variant")
    args = parser.parse_args()
    print(f"over-generation: middle + first {args.lines} suffix lines (A), renamed (B)")
    for name in FILES.values():
        run(DATA / name, args.lines, args.limit, args.show)


if __name__ == "__main__":
    main()
