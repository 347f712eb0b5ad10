r"""Over-generation benchmark: does post-processing cut a model that keeps writing past the hole?

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

Hard cases (tests/unit/postprocess_cases.py; Python, TypeScript, Go, Rust, Java, C#, C++, C, and CSS,
SCSS, Lua, Ruby and shell): a header typed at the end of a line, auto-closed brackets and quotes after
the cursor, a terminator after the cursor, the cursor before a name, a body whose model repeats the
suffix; and the long tail: the rest of the line at a line start, lists that go on, blocks after
headers (Allman braces, keyword-closed blocks), whitespace at the seam, a copy of the next line, the
end of the enclosing block at the end of a file, a closer for a block still open.

A result is an exact match when the document after accepting the suggestion (its text replacing the
range it covers) equals the true document (for the hard cases, through the expected range too); when
nothing is replaced, trailing whitespace of the suggestion and the middle is ignored (whether the
suggestion carries the hole's last newline is presentation). The strict rate (suggestion text ==
middle, nothing replaced) is printed beside it.

Real code (``--repo LANG=PATH``, repeatable): holes cut from the source files of a folder, sampled
uniformly per language and kind (``--per-kind``, seed 0): headers (brace on the line or, Allman, on
the next), the same inside auto-closed parentheses, terminators, members after ``obj.``, statement
lines, the cursor after a line's indentation with its end (``;``, ``; // comment``, a ``)`` opened
above) already there (``line-start``) or after ``return``, and the next elements of a list (struct
fields, enum and interface members, match and switch arms, literal entries, docstring lines). The
model answers the middle and the next ``--repo-lines`` lines (A) or the same with the identifiers
renamed, by the grammar's own idea of an identifier (B); FIM and chat (as in the file, and at
column 0) are printed side by side per language.

The folders used for the figures, none of it committed (no network beyond the package registries)::

    mkdir -p corpus/debs && cd corpus/debs
    apt-get download libcurl4-doc googletest golang-github-spf13-cobra-dev librust-regex-dev \
        librust-regex-syntax-dev openjdk-17-source
    cd .. && for d in debs/*.deb; do dpkg -x "$d" x; done
    mkdir java && (cd java && unzip -q ../x/usr/lib/jvm/openjdk-17/lib/src.zip \
        'java.base/java/util/*' 'java.base/java/io/*')
    mkdir typescript && (cd typescript && npm pack rxjs@7.8.2 && tar xzf rxjs-7.8.2.tgz)
    mkdir csharp && (cd csharp && pip download --no-deps --no-binary :all: pythonnet==3.2.1 \
        && tar xzf pythonnet-3.2.1.tar.gz)
    SITE="$(python -c 'import site; print(site.getsitepackages()[0])')"
    mkdir python && cp -r "$SITE"/{attr,cattrs,pygls,click,anyio,h11,detect_secrets} python/
    python bench/overgeneration.py --sets --repo python=corpus/python \
        --repo typescript=corpus/typescript/package/src --repo go=corpus/x/usr/share/gocode/src \
        --repo rust=corpus/x/usr/share/cargo/registry --repo java=corpus/java \
        --repo csharp=corpus/csharp --repo c=corpus/x/usr/share/doc/libcurl4/examples \
        --repo cpp=corpus/x/usr/src/googletest

Run: ``python bench/overgeneration.py [--lines 4] [--limit N] [--show K] [--sets single multi span hard]
[--repo LANG=PATH ...] [--per-kind 60] [--repo-lines 8] [--kinds KIND ...]``.
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
from typing import NamedTuple

from lsp_server.core import syntax
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
_FENCE_LANG = {
    "python": "python",
    "typescript": "ts",
    "go": "go",
    "rust": "rust",
    "c": "c",
    "cpp": "cpp",
    "c_sharp": "csharp",
}


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
    cases = module.CASES + getattr(module, "TAIL_CASES", [])
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


# --- real code ---------------------------------------------------------------------------------------

# File extensions per grammar, for --repo LANG=PATH.
_EXTENSIONS = {
    "python": (".py",),
    "typescript": (".ts",),
    "javascript": (".js", ".mjs"),
    "go": (".go",),
    "rust": (".rs",),
    "java": (".java",),
    "c_sharp": (".cs",),
    "c": (".c",),
    "cpp": (".cc", ".cpp", ".cxx", ".hpp"),
}
LANGUAGE_NAMES = {"csharp": "c_sharp", "cs": "c_sharp", "c#": "c_sharp", "ts": "typescript", "c++": "cpp"}
# A header typed at the end of a line: its rest and its body are the hole (`:` / `{` at the end).
_HEADER = re.compile(
    r"^(\s*)(?:(?:pub(?:\([^)]*\))?|export|async|static|public|private|protected|internal|def|fn|func|function"
    r"|class|if|for|while|impl|struct|int|void|char|bool|const|unsigned|size_t)\b[^;=]*?)(\(|\s)[^;]*(:|\{)\s*$"
)
# The same with the brace on the next line (Allman style: C#, Java, C, C++).
_ALLMAN_HEADER = re.compile(
    r"^(\s*)(?:(?:public|private|protected|internal|static|override|virtual|abstract|sealed|async|unsafe"
    r"|partial|readonly|extern|inline|const|void|int|bool|char|double|float|long|unsigned|size_t|class|struct"
    r"|interface|enum|record|namespace|if|else|for|foreach|while|switch|using|try|catch|finally|fixed|lock"
    r"|do)\b)[^;{}=]*$"
)
_CALL_STATEMENT = re.compile(r"^(\s*)[^\s/#*].*?\b\w+\((?=.*\);\s*$)")
_MEMBER = re.compile(r"\b[a-z_]\w*\.(?=[a-z_]\w*\()")
# Constructs whose elements stand one per line (the "lists that go on"), per grammar: struct fields,
# interface and enum members, match / switch arms, object / array / dict literals, import lists.
# Multi-line strings and block comments (docstrings) are lists of text lines.
_LIST_NODES = {
    "python": {"dictionary", "list", "set", "tuple"},
    "typescript": {"object", "array", "interface_body", "object_type", "enum_body", "named_imports"},
    "javascript": {"object", "array", "named_imports"},
    "go": {
        "field_declaration_list",
        "literal_value",
        "import_spec_list",
        "const_declaration",
        "var_declaration",
    },
    "rust": {
        "field_declaration_list",
        "enum_variant_list",
        "match_block",
        "field_initializer_list",
        "use_list",
    },
    "java": {"enum_body", "array_initializer", "switch_block"},
    "c_sharp": {"enum_member_declaration_list", "initializer_expression", "switch_body"},
    "c": {"field_declaration_list", "enumerator_list", "initializer_list"},
    "cpp": {"field_declaration_list", "enumerator_list", "initializer_list"},
}
_TEXT_NODES = {"string", "comment", "block_comment", "template_string"}
_SKIP_CHILDREN = {"comment", "line_comment", "block_comment"}
MARK = "\ue000"  # the cursor in real-code documents (a private-use character no source file holds)


class Hole(NamedTuple):
    """A hole in a real file: the document is ``prefix + MARK + extra + suffix``.

    ``middle`` is the true text of the hole; ``extra`` is what the editor auto-closed after the
    cursor (the suggestion replaces it); accepting the right suggestion yields ``prefix + middle +
    suffix``.
    """

    kind: str
    path: Path
    prefix: str
    middle: str
    suffix: str
    extra: str = ""


def _leaves_on_row(node, row: int) -> list:
    """The leaf nodes of ``node`` that start on ``row``, in order."""
    out = []
    stack = [node]
    while stack:
        current = stack.pop()
        if current.start_point[0] > row or current.end_point[0] < row:
            continue
        if current.child_count == 0 or current.type in _TEXT_NODES:
            if current.start_point[0] == row:
                out.append(current)
            continue
        stack.extend(reversed(current.children))
    return sorted(out, key=lambda n: n.start_byte)


def _line_tail(tree, row: int, line: str, line_start: int, data: bytes) -> int | None:
    """Where a statement line's tail starts (its column), ``None`` without a tail.

    The tail: a trailing comment, then the closers of brackets opened on earlier lines and the
    terminators (``;`` ``,``) before it.
    """
    leaves = _leaves_on_row(tree.root_node, row)
    start = None
    for leaf in reversed(leaves):
        if leaf.end_point[0] != row:
            return None  # something spans lines here (a string, a block comment): not a simple line
        kind = leaf.type
        if "comment" in kind and start is None:
            start = leaf
            continue
        if kind in (";", ","):
            start = leaf
            continue
        if kind in (")", "]", "}") and leaf.parent is not None and leaf.parent.start_point[0] < row:
            start = leaf
            continue
        break
    if start is None:
        return None
    column = len(data[line_start : start.start_byte].decode("utf-8", errors="replace"))
    return column if column <= len(line) else None


def _block_end(lines: list[str], i: int, brace_line: int | None = None) -> int | None:
    """Index of the last line of the block headed by ``lines[i]`` (the closer line for braces)."""
    indent = len(lines[i]) - len(lines[i].lstrip())
    brace = brace_line is not None or lines[i].rstrip().endswith("{")
    first = (brace_line if brace_line is not None else i) + 1
    for j in range(first, min(len(lines), i + 40)):
        line = lines[j]
        if not line.strip():
            continue
        width = len(line) - len(line.lstrip())
        if width <= indent:
            if brace and line.strip().startswith("}") and width == indent:
                return j if j > first else None
            if brace:
                return None
            last = j - 1
            while last > i and not lines[last].strip():
                last -= 1  # blank lines after a block are the file's, not the block's
            return last if last > i else None
    return None


def _list_holes(tree, text: str, data: bytes, starts: list[int], grammar: str, path: Path, rng) -> list[Hole]:
    """The cursor in a construct whose elements stand one per line; the hole runs to its closer line."""
    lines = text.split("\n")
    holes: list[Hole] = []
    wanted = _LIST_NODES.get(grammar, set())
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        first_row, last_row = node.start_point[0], node.end_point[0]
        if last_row - first_row < 2 or node.has_error:
            continue
        closer = lines[last_row]
        closer_column = len(closer) - len(closer.lstrip())
        if node.type in wanted:
            rows = [
                c.start_point[0]
                for c in node.named_children
                if c.type not in _SKIP_CHILDREN and first_row < c.start_point[0] < last_row
            ]
            columns = {len(lines[r]) - len(lines[r].lstrip()) for r in rows}
            # Elements one per line at one indentation, the construct's closer on a line of its own.
            if len(rows) < 3 or len(set(rows)) != len(rows) or len(columns) != 1:
                continue
            if closer.strip()[:1] not in ")]}" or not lines[last_row - 1].strip():
                continue
            candidates = rows[-3:]
        elif node.type in _TEXT_NODES and grammar in (
            "python",
            "typescript",
            "javascript",
            "java",
            "c_sharp",
            "c",
            "cpp",
            "go",
            "rust",
        ):
            text_rows = [r for r in range(first_row + 1, last_row) if lines[r].strip()]
            if (
                len(text_rows) < 2
                or not closer.strip()
                or closer_column != len(closer) - len(closer.lstrip())
            ):
                continue
            if not closer.strip().startswith(('"""', "'''", "*/", "`")):
                continue  # the closing delimiter must start its line
            candidates = text_rows[-3:]
        else:
            continue
        row = rng.choice(candidates)
        line = lines[row]
        if rng.random() < 0.5 and row - 1 > first_row and lines[row - 1].strip():
            cut = starts[row] - 1  # at the end of the line above: the model writes the next elements
        else:
            word = re.match(r"\s*[\w$@#*\"'-]+\s*", line)
            if word is None or word.end() >= len(line.rstrip()):
                continue
            cut = starts[row] + word.end()
        end = starts[last_row] - 1  # the hole ends before the closer's line
        holes.append(Hole("list", path, text[:cut], text[cut:end], text[end:]))
    return holes


def real_holes(path: Path, grammar: str, rng) -> list[Hole]:
    """Holes where users meet the rules, cut from one real file.

    - ``header``: a header typed at the end of a line, its rest and its body missing (brace on the
      same line or on the next, Allman style); ``closer``: the same inside auto-closed parentheses;
    - ``terminator``: a call statement before its ``;``; ``member``: after ``obj.``;
    - ``statement``: a blank line in a body where a statement goes;
    - ``line-start``: the cursor after the indentation, the line's tail (``;``, ``; // comment``,
      the ``)`` of a call opened above) already there; ``return``: the same after ``return``;
    - ``list``: the next elements of a construct written one per line (struct fields, enum and
      interface members, match arms, literals, docstring lines), up to its closer.
    """
    text = path.read_text(encoding="utf-8", errors="replace")
    if "\t" in text and grammar != "go" or len(text) > 200_000 or "\r" in text:
        return []
    data = text.encode("utf-8")
    tree = syntax.parse(grammar, data)
    if tree is None:
        return []
    lines = text.split("\n")
    holes: list[Hole] = []
    starts = [0]
    byte_starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)
        byte_starts.append(byte_starts[-1] + len(line.encode("utf-8")) + 1)
    for i, line in enumerate(lines):
        if tree.root_node.has_error and _row_has_error(tree, i):
            continue
        match = _HEADER.match(line)
        end = _block_end(lines, i) if match else None
        allman = (
            match is None
            and i + 1 < len(lines)
            and lines[i + 1].strip() == "{"
            and _ALLMAN_HEADER.match(line) is not None
            and len(lines[i + 1]) - len(lines[i + 1].lstrip()) == len(line) - len(line.lstrip())
        )
        if allman:
            end = _block_end(lines, i, brace_line=i + 1)
        if (match or allman) and end is not None:
            paren = line.find("(")
            cut = paren + 1 if paren > 0 else len(line.rstrip()) - 1
            prefix = text[: starts[i]] + line[:cut]
            suffix = text[starts[end + 1] - 1 :] if end + 1 < len(lines) else ""
            middle = text[starts[i] + cut : starts[end + 1] - 1 if end + 1 < len(lines) else len(text)]
            holes.append(Hole("header", path, prefix, middle, suffix))
            close = line.find(")", paren)
            if paren > 0 and close > paren and middle.startswith(line[paren + 1 : close]):
                holes.append(Hole("closer", path, prefix, middle, suffix, extra=")"))
        call = _CALL_STATEMENT.match(line)
        if call and line.rstrip().endswith(");"):
            cut = call.end()
            middle = line.rstrip()[cut:-1]
            if middle and "(" not in middle[:1]:
                prefix = text[: starts[i]] + line[:cut]
                holes.append(
                    Hole("terminator", path, prefix, middle, text[starts[i] + len(line.rstrip()) - 1 :])
                )
        member = _MEMBER.search(line)
        if member and i + 1 < len(lines) and not line.lstrip().startswith(("#", "//", "*")):
            cut = starts[i] + member.end()
            end = starts[i + 1] - 1
            holes.append(Hole("member", path, text[:cut], text[cut:end], text[end:]))
        body = (
            i > 0
            and lines[i - 1].strip()
            and line.strip()
            and not line.strip().startswith(("}", ")", "#", "//"))
        )
        if body and line.startswith((" ", "\t")) and not _HEADER.match(line):
            indent = line[: len(line) - len(line.lstrip())]
            cut = starts[i] + len(indent)
            end = starts[i + 1] - 1 if i + 1 < len(lines) else len(text)
            holes.append(Hole("statement", path, text[:cut], line.strip(), text[end:]))
        stripped = line.strip()
        if stripped and line[:1] in " \t" and not stripped.startswith(("//", "#", "*", "/*")):
            tail = _line_tail(tree, i, line, byte_starts[i], data)
            indent = len(line) - len(line.lstrip())
            if tail is not None and tail > indent and line[indent:tail].strip():
                content = line[indent:tail]
                end = starts[i] + len(content.rstrip()) + indent
                holes.append(
                    Hole(
                        "line-start", path, text[: starts[i] + indent], line[indent:tail].rstrip(), text[end:]
                    )
                )
                if content.startswith("return ") and content[7:].strip():
                    cut = starts[i] + indent + 7
                    holes.append(Hole("return", path, text[:cut], content[7:].rstrip(), text[end:]))
    holes.extend(_list_holes(tree, text, data, starts, grammar, path, rng))
    rng.shuffle(holes)
    return holes


def _row_has_error(tree, row: int) -> bool:
    """Whether a syntax error touches ``row`` (holes are cut from code that parses)."""
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.start_point[0] > row or node.end_point[0] < row or not node.has_error:
            continue
        if node.type == "ERROR" or node.is_missing:
            return True
        stack.extend(node.children)
    return False


_RENAMED = re.compile(r"identifier$")


def rename_continuation(document: str, start: int, end: int, grammar: str) -> str:
    """``document[start:end]`` with every identifier in it consistently renamed (``v1``, ``v2``...).

    Identifiers are the grammar's (tree-sitter leaves named ``*identifier``): keywords, types the
    grammar spells as keywords, literals, strings and comments are kept, as a model that writes the
    same structure with other names would.
    """
    data = document.encode("utf-8")
    tree = syntax.parse(grammar, data)
    b_start = len(document[:start].encode("utf-8"))
    b_end = len(document[:end].encode("utf-8"))
    spans: list[tuple[int, int]] = []
    stack = [tree.root_node] if tree is not None else []
    while stack:
        node = stack.pop()
        if node.end_byte <= b_start or node.start_byte >= b_end:
            continue
        if node.child_count == 0:
            if _RENAMED.search(node.type) and node.start_byte >= b_start and node.end_byte <= b_end:
                spans.append((node.start_byte, node.end_byte))
            continue
        if "comment" in node.type or node.type in ("string", "string_literal", "template_string"):
            continue
        stack.extend(node.children)
    names: dict[bytes, str] = {}
    out = bytearray()
    position = b_start
    for s, e in sorted(spans):
        out += data[position:s]
        out += names.setdefault(data[s:e], f"v{len(names) + 1}").encode()
        position = e
    out += data[position:b_end]
    return out.decode("utf-8", errors="replace")


def _repo_files(spec: str) -> tuple[str, list[Path]]:
    """``LANG=PATH`` -> (grammar, source files of that language under PATH)."""
    language, _, folder = spec.partition("=")
    grammar = LANGUAGE_NAMES.get(language.lower(), language.lower())
    if grammar not in _EXTENSIONS or not folder:
        raise SystemExit(f"--repo {spec!r}: expected LANG=PATH with LANG one of {sorted(_EXTENSIONS)}")
    root = Path(folder)
    found = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    files = [p for p in found if p.name.endswith(_EXTENSIONS[grammar]) and not p.name.endswith(".d.ts")]
    return grammar, files


def run_real(specs: list[str], per_kind: int, lines: int, show: int, kinds: set[str] | None) -> None:
    """Holes cut from real source folders; FIM and chat side by side per language (A and B)."""
    import random

    rng = random.Random(0)
    by_language: dict[str, dict[str, list[Hole]]] = {}
    counts: dict[str, int] = {}
    seen: dict[tuple[str, str], int] = {}
    for spec in specs:
        grammar, files = _repo_files(spec)
        counts[grammar] = counts.get(grammar, 0) + len(files)
        buckets = by_language.setdefault(grammar, {})
        for path in files:
            for hole in real_holes(path, grammar, rng):
                if kinds and hole.kind not in kinds:
                    continue
                # A uniform sample of each kind's holes over all files (reservoir sampling), not the
                # first files' holes.
                bucket = buckets.setdefault(hole.kind, [])
                count = seen[(grammar, hole.kind)] = seen.get((grammar, hole.kind), 0) + 1
                if len(bucket) < per_kind:
                    bucket.append(hole)
                elif (slot := rng.randrange(count)) < per_kind:
                    bucket[slot] = hole
    print(
        f"real code: up to {per_kind} holes per language and kind; the model answers the middle and the "
        f"next {lines} lines of the file (A) or the same with identifiers renamed (B)"
    )
    columns = [(mode, variant) for variant in ("A", "B") for mode in MODES]
    header = " ".join(f"{mode + ' ' + variant:>11}" for mode, variant in columns)
    print(f"  {'language':10} {'kind':10} {'n':>5} {header}")
    grand = {c: [0, 0] for c in columns}
    for grammar in sorted(by_language):
        totals = {c: [0, 0] for c in columns}
        for kind, holes in sorted(by_language[grammar].items()):
            row = []
            for mode, variant in columns:
                good = 0
                for hole in holes:
                    ok, text, replaces, raw = _judge_hole(hole, grammar, mode, variant, lines)
                    good += ok
                    if not ok and show and mode != "chat-col0":
                        show -= 1
                        print(
                            f"  -- {mode} {variant} {grammar}/{kind} {hole.path.name}\n"
                            f"     before {hole.prefix[-120:]!r}\n     after  {hole.suffix[:80]!r}\n"
                            f"     raw {raw[:300]!r}\n     got {text[:300]!r} / {replaces}"
                            f"\n     want {hole.middle[:300]!r}"
                        )
                totals[(mode, variant)][0] += good
                totals[(mode, variant)][1] += len(holes)
                row.append(f"{good / len(holes):11.3f}")
            print(f"  {grammar:10} {kind:10} {len(holes):5} " + " ".join(row))
        n = totals[columns[0]][1]
        print(
            f"  {grammar:10} {'ALL':10} {n:5} "
            + " ".join(f"{g / max(t, 1):11.3f}" for g, t in totals.values())
            + f"   ({counts[grammar]} files)"
        )
        for c in columns:
            grand[c][0] += totals[c][0]
            grand[c][1] += totals[c][1]
    n = grand[columns[0]][1]
    print(f"  {'ALL':10} {'':10} {n:5} " + " ".join(f"{g / max(t, 1):11.3f}" for g, t in grand.values()))


def _judge_hole(hole: Hole, grammar: str, mode: str, variant: str, lines: int) -> tuple[bool, str, int, str]:
    """(exact, shown text, replaced characters, raw answer) for one hole, prompt path and variant."""
    document = hole.prefix + hole.extra + hole.suffix
    offset = len(hole.prefix)
    more = continuation(hole.suffix, lines)
    if variant == "B":
        truth = hole.prefix + hole.middle + hole.suffix
        start = len(hole.prefix) + len(hole.middle)
        more = rename_continuation(truth, start, start + len(more), grammar)
    answer = hole.middle + more
    cursor = Cursor(text=document, offset=offset, grammar=grammar)
    before = document[document.rfind("\n", 0, offset) + 1 : offset]
    raw = answer if mode == "fim" else as_chat(before, answer, grammar, col0=mode == "chat-col0")
    text, replaces = run_one(raw, cursor, mode != "fim")
    expected = hole.prefix + hole.middle + hole.suffix
    got = document[:offset] + text + document[offset + replaces :]
    # Trailing whitespace is presentation only where the hole ends its line.
    ends_line = hole.suffix[:1] in ("", "\n")
    ok = got == expected or (
        replaces == 0 and not hole.extra and ends_line and text.rstrip() == hole.middle.rstrip()
    )
    return ok, text, replaces, raw


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
        "--repo",
        action="append",
        default=[],
        metavar="LANG=PATH",
        help="real LANG sources (python, typescript, go, rust, java, csharp, c, cpp): holes cut from them",
    )
    parser.add_argument("--per-kind", type=int, default=60, help="real-code holes per language and kind")
    parser.add_argument(
        "--repo-lines", type=int, default=8, help="file lines the model over-generates (real code)"
    )
    parser.add_argument("--kinds", nargs="*", default=None, help="only these real-code hole kinds")
    args = parser.parse_args()
    print(
        f"over-generation: middle + first {args.lines} suffix lines (A), renamed (B); modes: "
        + ", ".join(MODES)
    )
    if args.repo:
        run_real(
            args.repo, args.per_kind, args.repo_lines, args.show, set(args.kinds) if args.kinds else None
        )
    for name in args.sets:
        if name == "hard":
            run_hard(args.show)
        else:
            run_humaneval(name, DATA / FILES[name], args.lines, args.limit, args.show)


if __name__ == "__main__":
    main()
