"""The scene: what the post-processing steps know about the document around the cursor.

Owns ``Cursor`` (the input) and ``Scene`` (the lines around the cursor, its indentation style and a
parse of the window), built once per suggestion by ``scene_for``, and the small text helpers every
step shares (indentation width, string masking, the suggestion's lines as they read in the file). It
must not decide anything about a suggestion: that is the steps' job.

Only a window of the document around the cursor is ever looked at (the enclosing top-level construct,
at most ``WINDOW_LINES`` lines each way), so the cost per suggestion does not grow with the file.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import attrs

from lsp_server.core import syntax
from lsp_server.core.indentation import detect_indent_unit, indent_width, strip_strings
from lsp_server.engine.postprocess.lists import cursor_in_list

if TYPE_CHECKING:
    from tree_sitter import Tree


# How many lines above and below the cursor line the analysis may read. Parsing ~80 lines costs
# about 0.2 ms, which keeps a whole suggestion (a few parses) well under the 2 ms budget.
WINDOW_LINES = 40
# How far up the enclosing function / class header is looked for (plain text scanning, no parse).
HEADER_LINES = 400
# Characters that close something opened before the cursor; text made only of these after the cursor
# does not make the cursor "mid-line" (typing inside auto-closed brackets or quotes).
CLOSERS = ")]}>\"'`;,"
PAIRS = {")": "(", "]": "[", "}": "{"}
OPENERS = "([{"
# Line endings that open a block whose body the user is about to write.
BLOCK_OPENER = re.compile(r"(:|\{|\(|\[|\bdo|=>|->|\bthen|\bbegin|\bdo\s*\|[^|]*\|)\s*$")
# Lines that continue the compound statement of the line above rather than leaving its scope.
CONTINUATION = re.compile(r"^(else\b|elif\b|except\b|finally\b|catch\b|case\b|when\b|rescue\b|ensure\b)")
END_WORD = re.compile(r"^(end|fi|done|esac)\b")
# Delimiters of strings that span lines, per grammar.
_STRING_DELIMITERS = {
    "go": ("`",),
    "javascript": ("`",),
    "typescript": ("`",),
    "tsx": ("`",),
    "java": ('"""',),
}
# Inside a long construct, Python's docstrings count too (with the cursor in one, no line qualifies
# and the window falls back to its first line).
_MEMBER_STRING_DELIMITERS = {**_STRING_DELIMITERS, "python": ('"""', "'''")}
# How lines that are comments or preprocessor directives start.
_NOT_HEADERS = ("#", "//", "/*", "*")
# Lines that start a member of a class-like body: a definition, a declaration or a decorator.
_MEMBER_HEADER = re.compile(
    r"^\s*(?:@|(?:(?:pub(?:\([^)]*\))?|export|async|static|public|private|protected|internal|override|abstract"
    r"|virtual|final|readonly)\s+)*(?:def|class|fn|func|function|impl|struct|enum|interface|trait|const|let"
    r"|var|type)\b)"
)


@attrs.frozen
class Cursor:
    """A document and a cursor in it: everything ``process`` knows about where the text goes."""

    text: str  # the whole document text
    offset: int  # cursor as a str (code point) index into text
    grammar: str | None  # syntax.grammar_name(...) or None for plain text
    tree: Tree | None = None  # tree of text.encode('utf-8') at this version, if available
    multiline: str = "auto"  # "auto" | "always" | "never"


@attrs.frozen
class Scene:
    """The lines around the cursor, with newline (LF) line endings, computed once per suggestion.

    ``window_prefix`` / ``window_suffix`` are the text of the analysis window before / after the
    cursor; ``above`` / ``below`` are the window's lines above / below the cursor line.
    """

    before: str  # cursor line, before the cursor
    after: str  # cursor line, after the cursor
    above: tuple[str, ...]  # window lines above the cursor line, nearest last
    below: tuple[str, ...]  # window lines below the cursor line, nearest first
    eol: str  # the document's line ending
    indent_unit: str  # "\t" or some spaces
    grammar: str | None
    multiline: str = "auto"
    in_comment: bool = False
    baseline_errors: int = 0  # syntax errors in the window without any suggestion
    # The window's tree without the suggestion: candidates are parsed incrementally from a copy.
    tree: Tree | None = attrs.field(default=None, eq=False, repr=False)
    # Enclosing header lines (each less indented than the one below it), nearest first, from further
    # up than the window: finding the enclosing function must not depend on the parse window's size.
    headers: tuple[str, ...] = ()
    # Text right after the cursor that the suggestion replaces (auto-closed closers it writes itself);
    # ``after`` then starts behind it.
    replaced: str = ""
    # The next lines after the cursor line, whatever the window: what an over-generating answer repeats.
    following: tuple[str, ...] = ()
    # The suggestion completes the cursor's line, whose rest (``after``) follows it: it does not insert
    # lines above that text even at a line start (``rest_of_line`` decides).
    completes_line: bool = False
    # The cursor ends a line inside a construct whose elements stand one per line (``lists``)...
    in_list: bool = False
    # ...or inside text spanning lines (a docstring, a block comment): the delimiter that closes it.
    text_closer: str = ""

    @property
    def window_prefix(self) -> str:
        """Window text from its start to the cursor."""
        return "".join(line + "\n" for line in self.above) + self.before

    @property
    def window_suffix(self) -> str:
        """Window text from the cursor to its end."""
        return self.after + "".join("\n" + line for line in self.below)

    @property
    def mid_line(self) -> bool:
        """Whether real text (not just closing punctuation) follows the cursor on its line."""
        return bool(self.after.strip().strip(CLOSERS).strip())

    @property
    def inserts_lines(self) -> bool:
        """Cursor in the leading whitespace of a line with text: a suggestion goes above that text."""
        return not self.before.strip() and bool(self.after.strip()) and not self.completes_line


def _lines_up(text: str, end: int, limit: int) -> list[str]:
    """Up to ``limit`` lines ending at ``end`` (a line start), nearest first, without reading further."""
    lines: list[str] = []
    while end > 0 and len(lines) < limit:
        start = text.rfind("\n", 0, end - 1) + 1
        lines.append(text[start : end - 1])
        end = start
    return lines


def _lines_down(text: str, start: int, limit: int) -> list[str]:
    """Up to ``limit`` lines starting at ``start`` (just after a newline), nearest first."""
    lines: list[str] = []
    while start <= len(text) and len(lines) < limit:
        end = text.find("\n", start)
        if end < 0:
            lines.append(text[start:])
            break
        lines.append(text[start:end])
        start = end + 1
    return lines


def _is_top_level_start(line: str) -> bool:
    """A line at column 0 that starts a construct.

    Not a closer, a continuation, a comment tail, nor a comment or a preprocessor line (``#pragma``,
    ``#if``, commented-out code), which stand at column 0 inside bodies too.
    """
    if not line or line[0] in " \t" or not line.strip():
        return False
    if line.startswith(_NOT_HEADERS):
        return False
    return line[0] not in CLOSERS and not CONTINUATION.match(line) and not END_WORD.match(line)


def _headers(text: str, end: int, limit: int) -> tuple[str, ...]:
    """The chain of less and less indented lines above ``end`` (its enclosing headers), nearest first.

    Scans up from ``end`` (a line start) and stops at the first column-0 line or after ``limit`` lines.
    """
    out: list[str] = []
    current: int | None = None
    for _ in range(limit):
        if end <= 0:
            break
        start = text.rfind("\n", 0, end - 1) + 1
        line = text[start : end - 1]
        end = start
        # Comments and preprocessor lines (`#pragma` at column 0 inside a class) enclose nothing.
        if not line.strip() or line.lstrip().startswith(_NOT_HEADERS):
            continue
        width = indent_width(line)
        if current is None or width < current:
            out.append(line.removesuffix("\r"))
            current = width
            if width == 0:
                break
    return tuple(out)


def _window_above(lines_up: list[str], grammar: str | None) -> tuple[str, ...]:
    """The lines above the cursor back to the start of the enclosing top-level construct."""
    start = _top_level_start(lines_up, grammar)
    if start is None:
        return _balanced_start(tuple(reversed(lines_up[: _member_start(lines_up, grammar) + 1])))
    # Keep decorators / comments directly attached above a top-level start.
    j = start + 1
    while j < len(lines_up) and lines_up[j].strip() and not lines_up[j][:1].isspace():
        j += 1
    return tuple(reversed(lines_up[:j]))


def _top_level_start(lines_up: list[str], grammar: str | None) -> int | None:
    """The nearest column-0 line up that starts a construct, preferring one outside multi-line strings.

    A column-0 line inside a raw string's usage text or a docstring is no start: between a real start
    and a cursor outside strings, the delimiters come in pairs. (With the cursor itself inside a
    string no candidate has pairs, and the nearest one stands.)
    """
    delimiters = _STRING_DELIMITERS.get(grammar or "", ())
    nearest = None
    odd = 0
    for i, line in enumerate(lines_up):
        if delimiters:
            odd ^= sum(line.count(mark) for mark in delimiters) & 1
        if _is_top_level_start(line):
            if not odd:
                return i
            if nearest is None:
                nearest = i
    return nearest


def _member_start(lines_up: list[str], grammar: str | None) -> int:
    """Inside a construct longer than the window: the furthest line up that starts one of its members.

    A window cut at its line limit may start in the middle of a docstring or a call, and then the
    whole window parses as an error. A definition or a decorator at the shallowest indentation of the
    lines read starts something whole; else such a line after a blank line (a statement, a field
    group), outside multi-line strings (docstring prose stands at the members' indentation too).
    """
    widths = [indent_width(line) for line in lines_up if line.strip()]
    if not widths:
        return len(lines_up) - 1
    shallowest = min(widths)
    delimiters = _MEMBER_STRING_DELIMITERS.get(grammar or "", ())
    # Best first: a definition; a line after a blank line outside strings; one inside (the cursor
    # itself may be in a string, and then every line is).
    found: dict[str, int] = {}
    odd = 0
    for i, line in enumerate(lines_up):
        if delimiters:
            odd ^= sum(line.count(mark) for mark in delimiters) & 1
        if not line.strip() or indent_width(line) != shallowest:
            continue
        if _MEMBER_HEADER.match(line):
            found["definition"] = i
        elif i + 1 < len(lines_up) and not lines_up[i + 1].strip():
            found["in string" if odd else "after blank"] = i
    for key in ("definition", "after blank", "in string"):
        if key in found:
            return found[key]
    return len(lines_up) - 1


def _with_outer_headers(above: tuple[str, ...], headers: tuple[str, ...]) -> tuple[str, ...]:
    """The window with the headers that enclose it from further up put back on top of it.

    A window that starts inside a long class body would parse its methods out of their class
    (``protected async f(`` is an error at the top level of TypeScript or Java): with the class
    header line above them, the window parses as the file does.
    """
    if not above or _is_top_level_start(above[0]):
        return above
    inner = min((indent_width(line) for line in above if line.strip()), default=0)
    outer = [line for line in headers if line.strip() and indent_width(line) < inner]
    return (*reversed(outer), *above) if outer else above


def _balanced_start(lines: tuple[str, ...]) -> tuple[str, ...]:
    """The window from just after its last line that closes a bracket opened above the window.

    A window cut by its line limit inside a long class or call would start with stray closers
    (``}),`` ``);``) whose errors change with whatever the suggestion opens below, and the syntax
    check would blame the suggestion for them.
    """
    depth = lowest = 0
    cut = 0
    for i, line in enumerate(lines):
        masked = strip_strings(line)
        depth += sum(masked.count(c) for c in "([{") - sum(masked.count(c) for c in ")]}")
        if depth < lowest:
            lowest, cut = depth, i + 1
    return lines[cut:]


def _window_below(lines_down: list[str]) -> tuple[str, ...]:
    """The lines below the cursor up to (not including) the next top-level construct."""
    for i, line in enumerate(lines_down):
        if i > 0 and _is_top_level_start(line):
            return tuple(lines_down[:i])
    return tuple(lines_down)


def scene_for(cursor: Cursor) -> Scene:
    """Everything the steps need about the document around ``cursor`` (a bounded window)."""
    text = cursor.text
    offset = max(0, min(cursor.offset, len(text)))
    line_start = text.rfind("\n", 0, offset) + 1
    line_end = text.find("\n", offset)
    if line_end < 0:
        line_end = len(text)
    before = text[line_start:offset]
    after = text[offset:line_end]
    eol = "\r\n" if after.endswith("\r") or text[max(0, line_start - 2) : line_start] == "\r\n" else "\n"
    above = _window_above(_lines_up(text, line_start, WINDOW_LINES), cursor.grammar)
    headers = _headers(text, line_start, HEADER_LINES)
    above = _with_outer_headers(above, headers)
    down = _lines_down(text, line_end + 1, WINDOW_LINES) if line_end < len(text) else []
    below = _window_below(down)
    following = tuple(line.removesuffix("\r") for line in down[:20])
    if eol == "\r\n" or "\r" in after:
        above = tuple(line.removesuffix("\r") for line in above)
        below = tuple(line.removesuffix("\r") for line in below)
        before = before.removesuffix("\r")
        after = after.removesuffix("\r")
    scene = Scene(
        before=before,
        after=after,
        above=above,
        below=below,
        eol=eol,
        indent_unit=detect_indent_unit(above[-40:] + below[:40]),
        grammar=cursor.grammar,
        multiline=cursor.multiline,
        headers=headers,
        following=following,
    )
    if cursor.grammar is None or syntax.language(cursor.grammar) is None:
        kind = None if after.strip() else cursor_in_list(None, b"", b"", len(above), before, None)
        return attrs.evolve(scene, grammar=None, in_list=kind is not None, text_closer=kind or "")
    prefix = scene.window_prefix.encode("utf-8")
    suffix = scene.window_suffix.encode("utf-8")
    tree = syntax.parse(cursor.grammar, prefix + suffix)
    if tree is None:
        return attrs.evolve(scene, grammar=None)
    kind = None if after.strip() else cursor_in_list(tree, prefix, suffix, len(above), before, cursor.grammar)
    return attrs.evolve(
        scene,
        in_comment=_in_comment(tree, len(prefix)),
        baseline_errors=syntax.error_count(tree.root_node),
        tree=tree,
        in_list=kind is not None,
        text_closer=kind or "",
    )


def _in_comment(tree: Tree, byte: int) -> bool:
    node = tree.root_node.descendant_for_byte_range(max(0, byte - 1), byte)
    while node is not None:
        if "comment" in node.type:
            return node.start_byte < byte
        if node.parent is None or node.type in ("block", "compound_statement"):
            break
        node = node.parent
    return False


def next_suffix_text(scene: Scene) -> str:
    """The first non-blank text after the cursor (rest of the line, else the next non-blank line)."""
    if scene.after.strip():
        return scene.after.strip()
    return next((line.strip() for line in scene.below if line.strip()), "")


def effective_lines(text: str, scene: Scene) -> list[str]:
    """The suggestion's lines as they will read in the file (the first joined to ``before``)."""
    lines = text.split("\n")
    lines[0] = scene.before + lines[0]
    return lines


def brace_on_next_line(text: str) -> bool:
    """Whether the suggestion's first line is followed by a ``{`` alone on the next line (Allman style)."""
    _, newline, rest = text.partition("\n")
    following = next((line for line in rest.split("\n") if line.strip()), "") if newline else ""
    return following.strip() == "{"
