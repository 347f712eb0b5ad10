"""What the offline engine may mention at a cursor: names in scope, and the brackets a line leaves open.

Owns ``IndexNames`` (the names the workspace index makes reachable from a file: its definitions,
its imports, the definitions of the files it imports or shares a Go package with), ``BASE_NAMES``
(keywords and builtins), ``mentioned_names`` (the identifiers a suggestion would write, outside
strings and comments), ``line_balance``, ``closing_line`` (the line that closes what an earlier line
opened) and ``finish_line`` (the current line's quote and brackets closed, then the terminator its
neighbours end with).

It must not import the index module (it sits beside this package in the layers): the index comes in
duck-typed (``file_symbols``, ``module_files``). It never reads files, imports neither pygls nor
openai, and its per-request work is bounded by the windows it is given and a small cache keyed by
the index's own per-file objects, so a re-indexed file invalidates what was derived from it.
"""

from __future__ import annotations

import builtins
import keyword
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from types import SimpleNamespace
from typing import Any

IDENTIFIER_RE = re.compile(r"[^\W\d]\w*")
_OPENERS = {"(": ")", "[": "]", "{": "}"}
_CLOSERS = {")": "(", "]": "[", "}": "{"}
_BRACKETS = frozenset(_OPENERS) | frozenset(_CLOSERS)
# The characters the bracket scan stops at; everything else is skipped at C speed.
_SCAN = re.compile(r"""//|[\\"'`()\[\]{}\n]""")
_SCAN_HASH = re.compile(r"""//|[\\"'`()\[\]{}\n#]""")
_ASSIGNMENT_RE = re.compile(r"[^=!<>]=[^=>]")
_MAX_IMPORTED_FILES = 40  # files whose definitions count as in scope: bounds the first request
_MAX_FILES_PER_IMPORT = 3
_CACHE_ENTRIES = 64


# Keywords and builtins of the languages the benchmark covers: in scope everywhere, even in a workspace
# too small for the model to know its common words.
_KEYWORDS = """
async await break case catch class const continue debugger default delete do else enum export
extends false finally for from function if implements import in instanceof interface let new null
of private protected public readonly return static super switch this throw true try type typeof
undefined var void while yield any unknown never string number boolean object symbol bigint
console Object Array Promise String Number Boolean JSON Math Error TypeError Symbol Map Set Date
RegExp process require module exports
func package struct map chan go defer range select fallthrough goto nil err error int int8 int16
int32 int64 uint uint8 uint16 uint32 uint64 uintptr byte rune float32 float64 bool make len cap
append copy panic recover fmt
fn mut pub impl trait use mod crate self Self match loop ref where unsafe dyn move Some None Ok Err
Option Result Vec Box str usize isize u8 u16 u32 u64 i8 i16 i32 i64 f32 f64 char println format
vec assert assert_eq write writeln
"""
BASE_NAMES = frozenset(keyword.kwlist) | frozenset(dir(builtins)) | frozenset(_KEYWORDS.split())


class IndexNames:
    """Names the workspace index makes reachable from a file, cached per file.

    A cache entry remembers the index's per-file objects it was derived from; when the index replaces
    one of them (the file was re-indexed), the entry is rebuilt. Thread-safe: the server may call it
    from a worker thread.
    """

    def __init__(self, index: Any) -> None:
        self.index = index
        self._cache: OrderedDict[str, tuple[tuple[tuple[str, Any], ...], frozenset[str]]] = OrderedDict()
        self._lock = threading.Lock()

    def names(self, path: str | None) -> frozenset[str]:
        """Definitions of ``path``, its imports' local names and the definitions of what it imports."""
        if path is None or self.index is None:
            return frozenset()
        path = os.path.abspath(path)
        with self._lock:
            found = self._cache.get(path)
            if found is not None and all(self.index.file_symbols(p) is s for p, s in found[0]):
                self._cache.move_to_end(path)
                return found[1]
        deps, names = self._derive(path)
        with self._lock:
            self._cache[path] = (deps, names)
            self._cache.move_to_end(path)
            while len(self._cache) > _CACHE_ENTRIES:
                self._cache.popitem(last=False)
        return names

    def _derive(self, path: str) -> tuple[tuple[tuple[str, Any], ...], frozenset[str]]:
        index = self.index
        own = index.file_symbols(path)
        deps: list[tuple[str, Any]] = [(path, own)]
        names: set[str] = set()
        if own is None:
            return tuple(deps), frozenset()
        names.update(d.name for d in own.definitions)
        imports = list(own.imports)
        if own.grammar == "go":
            # A Go package is its folder: every file of it is in scope without an import.
            imports.append(SimpleNamespace(module=os.path.basename(os.path.dirname(path)), level=0, names=()))
        files: list[str] = []
        for imp in imports:
            names.update(n.local for n in imp.names)
            alias = getattr(imp, "alias", None)
            if alias:
                names.add(alias)
            for target in index.module_files(path, imp)[:_MAX_FILES_PER_IMPORT]:
                if target != path and target not in files:
                    files.append(target)
        for target in files[:_MAX_IMPORTED_FILES]:
            symbols = index.file_symbols(target)
            deps.append((target, symbols))
            if symbols is not None:
                names.update(d.name for d in symbols.definitions)
        return tuple(deps), frozenset(names)


def mentioned_names(line_before: str, suggestion: str, hash_comments: bool, single_quotes: bool) -> list[str]:
    """Identifiers ``suggestion`` writes as code (not inside strings or comments), given the line before.

    The state of strings and comments is carried over from ``line_before`` (the cursor's line up to
    the cursor), so a suggestion that finishes a string literal mentions no names.
    """
    start = len(line_before)
    tokens, _, _ = _code_tokens(line_before + suggestion, hash_comments, single_quotes)
    # A word the cursor splits is introduced by the suggestion that ends it.
    return [word for _, end, word in tokens if end > start and word not in _BRACKETS]


def _scan_brackets(
    text: str, hash_comments: bool, single_quotes: bool
) -> tuple[list[tuple[str, int]], dict[str, dict[str, int]]]:
    """The brackets still open at the end of ``text`` (innermost last), and how closed ones were closed.

    The second result maps the first word of a line that opened brackets closed on a later line to
    the counts of those closing lines' contents (``it`` -> {``});``: 3}): siblings of a construct
    close it the same way. Strings and line comments are skipped; a closer that does not match is
    ignored (the window may start inside a construct).
    """
    stack: list[tuple[str, int]] = []
    closings: dict[str, dict[str, int]] = {}
    quote = ""
    pattern = _SCAN_HASH if hash_comments else _SCAN
    pos, n = 0, len(text)
    while True:
        match = pattern.search(text, pos)
        if match is None:
            break
        i = match.start()
        c = match.group()
        pos = match.end()
        if quote:
            if c == "\\":
                pos = i + 2
            elif c == quote or (c == "\n" and quote != "`"):
                quote = ""
            continue
        if c == '"' or c == "`" or (c == "'" and single_quotes):
            quote = c
        elif c == "#" or c == "//":
            end = text.find("\n", i)
            if end == -1:
                break
            pos = end
        elif c in _OPENERS:
            stack.append((c, i))
        elif c in _CLOSERS and stack and stack[-1][0] == _CLOSERS[c]:
            opened = stack.pop()[1]
            line_start = text.rfind("\n", 0, i) + 1
            if line_start > opened and not text[line_start:i].strip():
                line_end = text.find("\n", i)
                closing = text[i : line_end if line_end != -1 else n].strip()
                word = _first_word(text, opened)
                if word and len(closing) <= 8:
                    counts = closings.setdefault(word, {})
                    counts[closing] = counts.get(closing, 0) + 1
    return stack, closings


def _first_word(text: str, at: int) -> str:
    """The first word of the line holding offset ``at`` (what kind of construct it opens)."""
    start = text.rfind("\n", 0, at) + 1
    match = IDENTIFIER_RE.match(text[start:at].lstrip(" \t"))
    return match.group() if match else ""


def open_brackets(text: str, hash_comments: bool, single_quotes: bool) -> list[tuple[str, int]]:
    """The brackets still open at the end of ``text``: (bracket, offset), innermost last."""
    return _scan_brackets(text, hash_comments, single_quotes)[0]


def closing_line(before: str, hash_comments: bool, single_quotes: bool) -> str | None:
    """The rest of a line that closes what an earlier line opened, or None.

    Applies when the cursor's line holds only indentation and closers so far, and that indentation is
    the indentation of the line that opened the innermost open bracket: code formatted that way closes
    the opener line's brackets here, innermost first (``})`` for ``describe("x", () => {``). What
    follows the closers (``;``, ``,``...) is taken from how the window closed constructs opened by
    lines with the same first word, when they agree.
    """
    line_start = before.rfind("\n") + 1
    line = before[line_start:]
    typed = line.lstrip(" \t")
    if typed.strip("})]"):
        return None
    indent = line[: len(line) - len(typed)]
    stack, closings = _scan_brackets(before, hash_comments, single_quotes)
    if not stack:
        return None
    opener_line_start = before.rfind("\n", 0, stack[-1][1]) + 1
    opener_line = before[opener_line_start : stack[-1][1]]
    if opener_line[: len(opener_line) - len(opener_line.lstrip(" \t"))] != indent:
        return None
    closers = "".join(_OPENERS[b] for b, at in reversed(stack) if at >= opener_line_start)
    if not closers:
        return None
    counts = {
        closing: count
        for closing, count in closings.get(_first_word(before, stack[-1][1]), {}).items()
        if closing.startswith(typed + closers)
    }
    if counts:
        best = max(counts, key=counts.__getitem__)
        if counts[best] * 2 > sum(counts.values()):
            return best[len(typed) :]
    if _ASSIGNMENT_RE.search(opener_line) and before.count(";\n") * 4 > before.count("\n"):
        return closers + ";"  # an assignment statement in a language whose statements end with ``;``
    return closers


def language_flags(path: str | None) -> tuple[bool, bool]:
    """(``#`` starts a comment, ``'`` quotes a string) for a path, by its extension."""
    ext = os.path.splitext(path or "")[1].lower()
    hash_comments = ext in {".py", ".pyi", ".rb", ".sh", ".bash", ".pl", ".r", ".toml", ".yaml", ".yml"}
    single_quotes = ext not in {".rs", ".go", ".c", ".h", ".cpp", ".cc", ".hpp", ".java", ".cs", ".kt"}
    return hash_comments, single_quotes


def unknown_names(names: Iterable[str], known: Iterable[frozenset[str] | set[str]]) -> list[str]:
    """The names that none of the ``known`` sets holds."""
    sets = list(known)
    return [n for n in names if not any(n in s for s in sets)]


def line_balance(
    line_before: str, suggestion: str, hash_comments: bool, single_quotes: bool
) -> tuple[int, int]:
    """(brackets the line leaves open, closers of the suggestion that close an earlier line's brackets).

    A copied rest of line that leaves the line balanced agrees with the live text; one that closes
    brackets the line never opened, or opens more than it closes, is shown less readily.
    """
    tokens, _, _ = _code_tokens(line_before + suggestion, hash_comments, single_quotes)
    depth = over = 0
    for i, _, c in tokens:
        if c not in _BRACKETS:
            continue
        if c in _OPENERS:
            depth += 1
        elif depth:
            depth -= 1
        elif i >= len(line_before):
            over += 1
    return depth, over


def code_only(text: str, hash_comments: bool, single_quotes: bool) -> tuple[str, str, bool]:
    """``text`` with what strings and a trailing line comment hold blanked, its open quote, a comment flag.

    The result has the length of ``text`` (offsets stay valid); quote characters are kept, what lies
    between them and the comment (from its marker to the end) become spaces. The flag says whether a
    line comment ends the text. Meant for one line: a newline ends a string except a template literal.

    Hand-written: a per-line lexical scan, far cheaper than a parse, shared by the line checks.
    """
    out = list(text)
    quote = ""
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if quote:
            if c == "\\":
                out[i : i + 2] = "  "[: len(out[i : i + 2])]
                i += 2
                continue
            if c == quote:
                quote = ""
            else:
                out[i] = " "
        elif c == '"' or c == "`" or (c == "'" and single_quotes):
            quote = c
        elif (c == "#" and hash_comments) or text.startswith("//", i):
            out[i:] = " " * (n - i)
            return "".join(out), quote, True
        i += 1
    return "".join(out), quote, False


_CODE_TOKEN_RE = re.compile(r"[()\[\]{}]|[^\W\d]\w*")


def _code_tokens(
    text: str, hash_comments: bool, single_quotes: bool
) -> tuple[list[tuple[int, int, str]], str, bool]:
    """One line's brackets and words outside strings and comments, its open quote, and a comment end.

    Tokens are ``(start, end, text)``; the flag says whether a line comment ends the line.
    """
    code, quote, comment = code_only(text, hash_comments, single_quotes)
    tokens = [(m.start(), m.end(), m.group()) for m in _CODE_TOKEN_RE.finditer(code)]
    return tokens, quote, comment


_PYTHON_BLOCK_RE = re.compile(r"(?:async\s+)?(?:def|class|if|elif|else|for|while|with|try|except|finally)\b")
_TERMINATORS = ",;:"


def finish_line(
    before: str, after: str, hash_comments: bool, single_quotes: bool
) -> tuple[str, float] | None:
    """The end of the cursor's line if it stopped here: close its quote and brackets, add its terminator.

    The terminator (``,`` ``;`` ``:`` or nothing) is the one the neighbouring lines at the same
    indentation end with (the previous two and the next one: siblings in a list, an object, a block);
    a Python block header ends with ``:``. Returns the text and the share of neighbours that agree on
    the terminator, or None when the line so far is empty or nothing would be added.
    """
    line_start = before.rfind("\n") + 1
    line = before[line_start:]
    body = line.lstrip(" \t")
    if not body:
        return None
    indent = line[: len(line) - len(body)]
    quote, stack = _line_state(body, hash_comments, single_quotes)
    if quote == "`":
        return None  # template literals span lines
    closing = quote + "".join(_OPENERS[b] for b in reversed(stack))
    neighbours = _neighbour_ends(before[:line_start], after, indent)
    if hash_comments and is_block_header(body):
        terminator, share = ":", 1.0
    elif neighbours:
        counts = {end: neighbours.count(end) for end in neighbours}  # first seen wins a tie
        terminator = max(counts, key=counts.__getitem__)
        share = counts[terminator] / len(neighbours)
    else:
        terminator, share = "", 0.0
    text = closing + terminator
    if not text or body.endswith(text):
        return None
    return text, share


def is_block_header(line: str) -> bool:
    """Whether ``line`` starts a Python block (``if``, ``for``, ``def``, ``with``...): it ends with ``:``."""
    return _PYTHON_BLOCK_RE.match(line.lstrip(" \t")) is not None


def _line_state(body: str, hash_comments: bool, single_quotes: bool) -> tuple[str, list[str]]:
    """The quote left open by ``body`` ("" if none) and the brackets it opened and did not close."""
    tokens, quote, comment = _code_tokens(body, hash_comments, single_quotes)
    if comment:
        return "", []  # a comment: nothing to close
    stack: list[str] = []
    for _, _, c in tokens:
        if c not in _BRACKETS:
            continue
        if c in _OPENERS:
            stack.append(c)
        elif stack and stack[-1] == _CLOSERS[c]:
            stack.pop()
    return quote, stack


def _neighbour_ends(before: str, after: str, indent: str) -> list[str]:
    """How neighbouring lines end: a terminator or "", for up to two lines before and one after.

    Only lines indented exactly ``indent`` count; a line indented less ends the search (another block).
    """
    ends: list[str] = []
    for lines in (before.rstrip("\n").split("\n")[-1:-8:-1], after.lstrip("\n").split("\n")[:1]):
        found = 0
        for line in lines:
            if not line.strip():
                continue
            own = line[: len(line) - len(line.lstrip(" \t"))]
            if len(own) < len(indent):
                break
            if own != indent:
                continue
            last = line.rstrip()[-1]
            ends.append(last if last in _TERMINATORS else "")
            found += 1
            if found == 2:
                break
    return ends
