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


_EXTENSIONS = {
    ".py": "python",
    ".ts": "typescript",
    ".js": "javascript",
    ".go": "go",
    ".rs": "rust",
    ".c": "c",
    ".h": "c",
    ".cpp": "cpp",
    ".cc": "cpp",
    ".java": "java",
    ".cs": "c_sharp",
}
_HEADER = re.compile(
    r"^(\s*)(?:(?:pub(?:\([^)]*\))?|export|async|static|public|private|protected|def|fn|func|function|class"
    r"|if|for|while|impl|struct|int|void|char|bool|const|unsigned|size_t)\b[^;=]*?)(\(|\s)[^;]*(:|\{)\s*$"
)
_CALL_STATEMENT = re.compile(r"^(\s*)[^\s/#*].*?\b\w+\((?=.*\);\s*$)")
_MEMBER = re.compile(r"\b[a-z_]\w*\.(?=[a-z_]\w*\()")


def _block_end(lines: list[str], i: int) -> int | None:
    """Index of the last line of the block headed by ``lines[i]`` (the closer line for braces)."""
    indent = len(lines[i]) - len(lines[i].lstrip())
    brace = lines[i].rstrip().endswith("{")
    for j in range(i + 1, min(len(lines), i + 40)):
        line = lines[j]
        if not line.strip():
            continue
        width = len(line) - len(line.lstrip())
        if width <= indent:
            if brace and line.strip().startswith("}") and width == indent:
                return j if j > i + 1 else None
            if brace:
                return None
            last = j - 1
            while last > i and not lines[last].strip():
                last -= 1  # blank lines after a block are the file's, not the block's
            return last if last > i else None
    return None


MARK = "\ue000"  # the cursor in real-code documents (a private-use character no source file holds)


def real_holes(path: Path, grammar: str, rng) -> list[tuple[str, str, str, str, int]]:
    """(kind, document with MARK at the cursor, FIM answer, expected document, replaced characters).

    Holes where users meet the rules: a header typed at the end of a line (its rest and body
    missing), the same inside auto-closed parentheses, a call statement before its ``;``, a member
    after ``obj.``, a statement line in a body. The answer is the true middle followed by the next
    four lines of the file (a model that over-generates by repeating the suffix).
    """
    text = path.read_text(encoding="utf-8", errors="replace")
    if "\t" in text and grammar != "go" or len(text) > 200_000:
        return []
    lines = text.split("\n")
    holes = []

    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)
    for i, line in enumerate(lines):
        match = _HEADER.match(line)
        end = _block_end(lines, i) if match else None
        if match and end is not None:
            paren = line.find("(")
            cut = paren + 1 if paren > 0 else len(line.rstrip()) - 1
            block = "\n".join(lines[i : end + 1])
            before = text[: starts[i]] + line[:cut]
            after = text[starts[end + 1] - 1 :] if end + 1 < len(lines) else ""
            middle = block[cut:]
            holes.append(("header", before + MARK + after, middle + after[:400], before + middle + after, 0))
            if paren > 0 and ")" in line[paren:]:
                holes.append(
                    ("closer", before + MARK + ")" + after, middle + after[:400], before + middle + after, 1)
                )
        call = _CALL_STATEMENT.match(line)
        if call and line.rstrip().endswith(");"):
            cut = call.end()
            before = text[: starts[i]] + line[:cut]
            rest = text[starts[i + 1] - 1 :] if i + 1 < len(lines) else ""
            middle = line.rstrip()[cut:-1]
            if middle and "(" not in middle[:1]:
                doc = before + MARK + ";" + rest
                holes.append(("terminator", doc, middle + ";" + rest[:400], before + middle + ";" + rest, 0))
        member = _MEMBER.search(line)
        if member and i + 1 < len(lines) and not line.lstrip().startswith(("#", "//", "*")):
            before = text[: starts[i]] + line[: member.end()]
            rest = text[starts[i + 1] - 1 :]
            middle = line[member.end() :]
            holes.append(("member", before + MARK + rest, middle + rest[:400], before + middle + rest, 0))
        body = (
            i > 0
            and lines[i - 1].strip()
            and line.strip()
            and not line.strip().startswith(("}", ")", "#", "//"))
        )
        if body and line.startswith((" ", "\t")) and not _HEADER.match(line):
            indent = line[: len(line) - len(line.lstrip())]
            before = text[: starts[i]] + indent
            rest = text[starts[i + 1] - 1 :] if i + 1 < len(lines) else ""
            middle = line.strip()
            holes.append(("statement", before + MARK + rest, middle + rest[:400], before + middle + rest, 0))
    rng.shuffle(holes)
    return holes


def run_real(paths: list[str], per_kind: int, show: int) -> None:
    import random

    rng = random.Random(0)
    files = []
    for item in paths:
        root = Path(item)
        candidates = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        files.extend(p for p in candidates if p.suffix in _EXTENSIONS and not p.name.endswith(".d.ts"))
    by_key: dict[tuple[str, str], list] = {}
    for path in files:
        grammar = _EXTENSIONS[path.suffix]
        for hole in real_holes(path, grammar, rng):
            bucket = by_key.setdefault((grammar, hole[0]), [])
            if len(bucket) < per_kind:
                bucket.append((path, *hole))
    print(
        f"real code: {len(files)} files, up to {per_kind} holes per language and kind (repeating the suffix)"
    )
    print(f"  {'language':11} {'kind':10} {'n':>4} " + " ".join(f"{m:>9}" for m in MODES))
    totals = {m: [0, 0] for m in MODES}
    for (grammar, kind), holes in sorted(by_key.items()):
        row = []
        for mode in MODES:
            good = 0
            for path, _, document, answer, expected, _replaced in holes:
                offset = document.index(MARK)
                cursor = Cursor(text=document.replace(MARK, "", 1), offset=offset, grammar=grammar)
                before = cursor.text[cursor.text.rfind("\n", 0, offset) + 1 : offset]
                raw = answer if mode == "fim" else as_chat(before, answer, grammar, col0=mode == "chat-col0")
                text, replaces = run_one(raw, cursor, mode != "fim")
                got = cursor.text[:offset] + text + cursor.text[offset + replaces :]
                ok = got == expected or (replaces == 0 and got.rstrip() == expected.rstrip())
                good += ok
                if not ok and show and mode != "chat-col0":
                    show -= 1
                    print(
                        f"  -- {mode} {grammar}/{kind} {path.name}\n     raw {raw[:200]!r}"
                        f"\n     got {text[-200:]!r} / {replaces}"
                    )
            totals[mode][0] += good
            totals[mode][1] += len(holes)
            row.append(f"{good / len(holes):9.3f}")
        print(f"  {grammar:11} {kind:10} {len(holes):4} " + " ".join(row))
    print(
        f"  {'ALL':11} {'':10} {totals['fim'][1]:4} " + " ".join(f"{g / n:9.3f}" for g, n in totals.values())
    )


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
    parser.add_argument(
        "--real", nargs="*", default=[], help="source files or folders: holes cut from real code"
    )
    parser.add_argument("--per-kind", type=int, default=60, help="real-code holes per language and kind")
    args = parser.parse_args()
    print(
        f"over-generation: middle + first {args.lines} suffix lines (A), renamed (B); modes: "
        + ", ".join(MODES)
    )
    if args.real:
        run_real(args.real, args.per_kind, args.show)
    for name in args.sets:
        if name == "hard":
            run_hard(args.show)
        else:
            run_humaneval(name, DATA / FILES[name], args.lines, args.limit, args.show)


if __name__ == "__main__":
    main()
