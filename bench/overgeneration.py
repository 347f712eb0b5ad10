"""Over-generation benchmark: does post-processing cut a model that keeps writing past the hole?

Both prompt paths run on the same fixtures: ``fim`` gets the raw answer, ``chat`` gets the same code
as a chat model writes it (prose, then a fenced block whose lines are already indented as in the
file), and ``chat-col0`` the same fenced code moved to column 0 (a chat model that ignores the
file's nesting). A fenced answer must yield the same suggestion as the same code through FIM.

HumanEval-infilling (single-line, multi-line and random-span holes, the last ones mid-line and before
names): the "model" answers the true middle (``canonical_solution``) followed by

- ``middle``  nothing (the model stopped in the right place: post-processing must do no harm);
- ``A``       the real continuation of the file: the first ``--lines`` lines of the suffix (a model
              that repeats the suffix);
- ``B``       that continuation with every identifier renamed (``v1``, ``v2``, ...; keywords, literals
              and strings kept), so no text matching against the suffix can find the cut.

Hard cases (tests/unit/postprocess_cases.py; Python, TypeScript, Go, Rust, C, C++, Java): a header
typed at the end of a line, auto-closed brackets and quotes after the cursor, a terminator after the
cursor, the cursor before a name, a body whose model repeats the suffix.

A result is an exact match when the document after accepting the suggestion (its text replacing the
range it covers) equals the true document (for the hard cases, through the expected range too); when
nothing is replaced, trailing whitespace of the suggestion and the middle is ignored (whether the
suggestion carries the hole's last newline is presentation). The strict rate (suggestion text ==
middle, nothing replaced) is printed beside it.

Run: ``python bench/overgeneration.py [--lines 4] [--limit N] [--show K] [--sets single multi span hard]``.
Works on older trees too (without ``postprocess.suggest`` every suggestion is an insertion).
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import keyword
import re
import textwrap
import time
from pathlib import Path

from lsp_server.engine import postprocess
from lsp_server.engine.postprocess import Cursor

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "humaneval-infilling"
if not DATA.exists():
    DATA = Path("/work/shared/data/humaneval-infilling")
FILES = {
    "single": "HumanEval-SingleLineInfilling.jsonl.gz",
    "multi": "HumanEval-MultiLineInfilling.jsonl.gz",
    "span": "HumanEval-RandomSpanInfilling.jsonl.gz",
}
MODES = ("fim", "chat", "chat-col0")
_WORD_OR_STRING = re.compile(r"\"(?:[^\"\\\n]|\\.)*\"|'(?:[^'\\\n]|\\.)*'|#[^\n]*|[A-Za-z_]\w*")
_KEEP = set(keyword.kwlist) | set(keyword.softkwlist)
_FENCE_LANG = {"python": "python", "typescript": "ts", "go": "go", "rust": "rust", "c": "c", "cpp": "cpp"}


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


def as_chat(before: str, raw: str, grammar: str, *, col0: bool) -> str:
    """``raw`` as a chat model answers it: prose and a fenced block, indented as in the file.

    On a blank cursor line the block holds whole lines at their absolute indentation (the cursor's
    own indentation included); mid-line it starts with the rest of the cursor's line. ``col0``: the
    block's lines moved to column 0, as a chat model that ignores the nesting writes them.
    """
    code = (before + raw if not before.strip() else raw).rstrip("\n")
    if col0 and not before.strip():
        code = textwrap.dedent(code)
    return f"Here is the code that goes at the cursor:\n```{_FENCE_LANG.get(grammar, grammar)}\n{code}\n```\n"


def run_one(raw: str, cursor: Cursor, chat: bool) -> tuple[str, int]:
    """(suggestion text, characters after the cursor it replaces)."""
    if hasattr(postprocess, "suggest"):
        shown = postprocess.suggest(raw, cursor, chat=chat)
        return shown.text, shown.replaces
    return postprocess.process(raw, cursor, chat=chat), 0


def judge(text: str, replaces: int, cursor: Cursor, expected: str, middle: str | None) -> tuple[bool, bool]:
    """(exact, strict) for a suggestion against the expected document (and the true middle)."""
    got = cursor.text[: cursor.offset] + text + cursor.text[cursor.offset + replaces :]
    exact = got == expected
    if not exact and replaces == 0 and middle is not None:
        exact = text.rstrip() == middle.rstrip()
    strict = middle is not None and replaces == 0 and text == middle
    return exact, strict


class Tally:
    def __init__(self, variants: tuple[str, ...]):
        self.n = 0
        self.exact = {(m, v): 0 for m in MODES for v in variants}
        self.strict = dict.fromkeys(self.exact, 0)
        self.misses: dict[tuple[str, str], list[tuple[str, str, str]]] = {k: [] for k in self.exact}

    def add(self, key: tuple[str, str], name: str, raw: str, shown: str, exact: bool, strict: bool) -> None:
        self.exact[key] += exact
        self.strict[key] += strict
        if not exact:
            self.misses[key].append((name, raw, shown))


def run_humaneval(name: str, path: Path, lines: int, limit: int | None, show: int) -> None:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        tasks = [json.loads(line) for line in handle]
    if limit:
        tasks = tasks[:limit]
    variants = ("middle", "A", "B")
    tally = Tally(variants)
    started = time.perf_counter()
    for task in tasks:
        prefix, suffix, middle = task["prompt"], task["suffix"], task["canonical_solution"]
        cursor = Cursor(text=prefix + suffix, offset=len(prefix), grammar="python")
        expected = prefix + middle + suffix
        before = prefix[prefix.rfind("\n") + 1 :]
        more = continuation(suffix, lines)
        answers = {"middle": middle, "A": middle + more, "B": middle + rename_identifiers(more)}
        for variant, fim_raw in answers.items():
            for mode in MODES:
                raw = (
                    fim_raw if mode == "fim" else as_chat(before, fim_raw, "python", col0=mode == "chat-col0")
                )
                text, replaces = run_one(raw, cursor, mode != "fim")
                exact, strict = judge(text, replaces, cursor, expected, middle)
                tally.add((mode, variant), task["task_id"], raw, text, exact, strict)
    elapsed = time.perf_counter() - started
    n = len(tasks)
    print(f"{name} ({path.name}): {n} tasks, {len(variants) * len(MODES) * n} calls in {elapsed:.1f} s")
    report(tally, variants, n, show)


def run_hard(show: int) -> None:
    spec = importlib.util.spec_from_file_location(
        "postprocess_cases", ROOT / "tests/unit/postprocess_cases.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cases = module.CASES
    tally = Tally(("A",))
    for case in cases:
        offset = case.document.index("$0")
        cursor = Cursor(text=case.document.replace("$0", "", 1), offset=offset, grammar=case.grammar)
        before = cursor.text[cursor.text.rfind("\n", 0, offset) + 1 : offset]
        for mode in MODES:
            raw = (
                case.answer
                if mode == "fim"
                else as_chat(before, case.answer, case.grammar, col0=mode == "chat-col0")
            )
            text, replaces = run_one(raw, cursor, mode != "fim")
            exact, _ = judge(text, replaces, cursor, case.expected, None)
            exact = exact and replaces == case.replaces  # the same document through the expected range
            tally.add((mode, "A"), case.name, raw, f"{text!r} replacing {replaces}", exact, False)
    print(
        f"hard cases (tests/unit/postprocess_cases.py): {len(cases)}, the model repeats the rest of the file"
    )
    report(tally, ("A",), len(cases), show, strict=False)


def report(tally: Tally, variants: tuple[str, ...], n: int, show: int, strict: bool = True) -> None:
    for mode in MODES:
        cells = []
        for variant in variants:
            e = tally.exact[(mode, variant)]
            cell = f"{variant} {e:5}/{n} = {e / n:.4f}"
            if strict:
                cell += f" (strict {tally.strict[(mode, variant)] / n:.4f})"
            cells.append(cell)
        print(f"  {mode:9} " + "   ".join(cells))
    for key, misses in tally.misses.items():
        for name, raw, got in misses[:show]:
            print(f"  -- {key[0]}/{key[1]} miss {name}\n     raw {raw!r}\n     got {got}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--lines", type=int, default=4, help="suffix lines the model over-generates")
    parser.add_argument("--limit", type=int, default=None, help="only the first N tasks of each file")
    parser.add_argument("--show", type=int, default=0, help="print the first K misses per mode and variant")
    parser.add_argument("--sets", nargs="*", default=["hard", "single", "multi", "span"])
    args = parser.parse_args()
    print(
        f"over-generation: middle + first {args.lines} suffix lines (A), renamed (B); modes: "
        + ", ".join(MODES)
    )
    for name in args.sets:
        if name == "hard":
            run_hard(args.show)
        else:
            run_humaneval(name, DATA / FILES[name], args.lines, args.limit, args.show)


if __name__ == "__main__":
    main()
