"""The editable region of a next edit: the lines around the cursor a model may rewrite, and their context.

Owns choosing them. Like Zed's Zeta, the region is the largest syntax node around the cursor that
fits ``MAX_REGION_CHARS`` (a statement, a function, a class, the whole file when it is small), grown
by whole neighbouring statements of the same parent while they fit: it starts and ends on syntax
boundaries, never in the middle of a construct. Files without a grammar get the lines around the
cursor. Read-only context lines (``CONTEXT_CHARS`` each way) surround it.

Only a window of lines around the cursor is read and parsed (``WINDOW_LINES`` and at most
``WINDOW_CHARS`` each way), through ``Snapshot.lines_between``: a 10,000-line file costs what a 200-line one
does, and the answer's checks (syntax, capabilities) reuse the same window. A cursor line longer than
the region's bound (minified code) has no region. Must not import pygls or do I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from lsp_server.core import syntax
from lsp_server.core.documents import Snapshot
from lsp_server.core.text import column_to_index, line_content_length, utf8_len

if TYPE_CHECKING:
    from tree_sitter import Node, Tree

MAX_REGION_CHARS = 1800  # about Zeta's 350 rewrite tokens
CONTEXT_CHARS = 800  # read-only lines shown before and after the region (Zeta: about 150 tokens)
WINDOW_LINES = 300  # lines read and parsed each way from the cursor
WINDOW_CHARS = MAX_REGION_CHARS + CONTEXT_CHARS + 1200  # and at most this much text each way
_CLOSERS = ")]}>"


@attrs.frozen
class Window:
    """Lines ``first_line``.. of a document version, read together, and their parse (None: no grammar).

    ``whole_start``/``whole_end``: the window reaches the document's first / last line.
    ``clean_start``: it starts at the document's start or at a top-level construct's first line, so a
    node starting on its first line is complete (one touching its last line is complete only at the
    document's end).
    """

    first_line: int
    lines: tuple[str, ...]
    grammar: str | None
    tree: Tree | None
    whole_start: bool
    whole_end: bool
    clean_start: bool

    @property
    def text(self) -> str:
        """The window's text."""
        return "".join(self.lines)

    def line_offset(self, line: int) -> int:
        """Str offset in ``text`` of the start of document line ``line`` (inside the window)."""
        return sum(map(len, self.lines[: line - self.first_line]))


@attrs.frozen
class Region:
    """Document lines ``first_line`` to ``end_line`` (exclusive) a model may rewrite, and what surrounds them.

    ``text`` is those lines without the last one's line ending; ``cursor`` a str offset into it;
    ``before``/``after`` the read-only context lines (``before`` ends with a line break);
    ``start_of_file``: ``before`` starts at the document's first line.
    """

    first_line: int
    end_line: int
    text: str
    cursor: int
    before: str
    after: str
    start_of_file: bool
    window: Window


def read_window(snapshot: Snapshot, line: int) -> Window:
    """The lines around ``line``, ``WINDOW_CHARS`` each way at most, parsed with the document's grammar."""
    first = max(0, line - WINDOW_LINES)
    lines = list(snapshot.lines_between(first, line + WINDOW_LINES + 1))
    whole_end = len(lines) < line + WINDOW_LINES + 1 - first
    whole_start = first == 0
    local = line - first
    # Each side keeps the lines nearest the cursor within its character bound.
    size = 0
    for index in range(local - 1, -1, -1):
        size += len(lines[index])
        if size > WINDOW_CHARS:
            lines, first, local, whole_start = lines[index + 1 :], first + index + 1, local - index - 1, False
            break
    size = 0
    for index in range(local + 1, len(lines)):
        size += len(lines[index])
        if size > WINDOW_CHARS:
            lines, whole_end = lines[:index], False
            break
    clean_start = whole_start
    if not whole_start:
        # Start where a top-level construct does, so the window parses as siblings, not a fragment.
        for index in range(min(local + 1, len(lines))):
            text = lines[index]
            if text[:1] not in ("", " ", "\t", "\r", "\n") and text[:1] not in _CLOSERS:
                first += index
                lines = lines[index:]
                clean_start = True
                break
    tree = None
    if snapshot.grammar is not None:
        tree = syntax.parse(snapshot.grammar, "".join(lines).encode("utf-8", "surrogatepass"))
    return Window(first, tuple(lines), snapshot.grammar, tree, whole_start, whole_end, clean_start)


def editable_region(
    snapshot: Snapshot, line: int, character: int, max_chars: int = MAX_REGION_CHARS
) -> Region | None:
    """The region around the cursor ``(line, character)`` (LSP position); None when none fits."""
    window = read_window(snapshot, line)
    if not window.lines or not window.first_line <= line < window.first_line + len(window.lines):
        return None
    local = line - window.first_line
    if len(window.lines[local]) > max_chars:
        return None  # a minified line: nothing around it fits, and rewriting it whole is no next edit
    span = _syntax_span(window, local, character, snapshot, max_chars)
    if span is None:
        span = _line_span(window, local, max_chars)
    first, last = _trim_blank(window, *span, local)
    return region_of(
        window, first + window.first_line, last + window.first_line + 1, line, character, snapshot
    )


def region_of(
    window: Window, first_line: int, end_line: int, line: int, character: int, snapshot: Snapshot
) -> Region:
    """Lines ``first_line``..``end_line`` of ``window`` as a region, the cursor at ``(line, character)``."""
    lines = window.lines[first_line - window.first_line : end_line - window.first_line]
    text = "".join(lines)
    if lines:
        text = text[: len(text) - len(lines[-1]) + line_content_length(lines[-1])]
    line = min(max(line, first_line), end_line - 1)
    offset = sum(map(len, lines[: line - first_line]))
    cursor_line = lines[line - first_line] if lines else ""
    cursor = min(len(text), offset + column_to_index(cursor_line, character, snapshot.encoding))
    local_first, local_end = first_line - window.first_line, end_line - window.first_line
    before_lines = _take(reversed(window.lines[:local_first]), CONTEXT_CHARS)[::-1]
    after_lines = _take(window.lines[local_end:], CONTEXT_CHARS)
    return Region(
        first_line=first_line,
        end_line=end_line,
        text=text,
        cursor=cursor,
        before="".join(before_lines),
        after="".join(after_lines),
        start_of_file=window.whole_start and len(before_lines) == local_first,
        window=window,
    )


def _take(lines, budget: int) -> list[str]:
    taken: list[str] = []
    for line in lines:
        budget -= len(line)
        if budget < 0:
            break
        taken.append(line)
    return taken


def _span_chars(window: Window, first: int, last: int) -> int:
    return sum(map(len, window.lines[first : last + 1]))


def _node_lines(node: Node) -> tuple[int, int]:
    """Window lines a node covers (a node ending at column 0 does not cover that line)."""
    last = node.end_point[0]
    if node.end_point[1] == 0 and last > node.start_point[0]:
        last -= 1
    return node.start_point[0], last


def _complete(window: Window, node: Node) -> bool:
    """Whether ``node`` lies wholly inside the window (not cut by one of its edges)."""
    first, last = _node_lines(node)
    if first == 0 and not window.clean_start:
        return False
    return not (last >= len(window.lines) - 1 and not window.whole_end)


def _syntax_span(
    window: Window, local: int, character: int, snapshot: Snapshot, max_chars: int
) -> tuple[int, int] | None:
    """The largest node around the cursor that fits, widened by whole siblings (window lines)."""
    tree = window.tree
    if tree is None:
        return None
    line_text = window.lines[local]
    byte = utf8_len("".join(window.lines[:local])) + utf8_len(
        line_text[: column_to_index(line_text, character, snapshot.encoding)]
    )
    node = tree.root_node.named_descendant_for_byte_range(byte, byte)
    best: Node | None = None
    while node is not None:
        first, last = _node_lines(node)
        if not _complete(window, node) or _span_chars(window, first, last) > max_chars:
            break
        best = node
        node = node.parent
    if best is None:
        return None
    first, last = _node_lines(best)
    parent = best.parent
    if parent is None:
        return first, last
    # Grow by whole siblings, nearest first, alternating below and above, while they fit.
    siblings = [child for child in parent.named_children if _complete(window, child)]
    index = next((i for i, child in enumerate(siblings) if child.id == best.id), None)
    if index is None:
        return first, last
    below, above = index + 1, index - 1
    grew = True
    while grew:
        grew = False
        for step in ("below", "above"):
            if step == "below" and below < len(siblings):
                new_last = _node_lines(siblings[below])[1]
                if _span_chars(window, first, max(last, new_last)) <= max_chars:
                    last, below, grew = max(last, new_last), below + 1, True
                else:
                    below = len(siblings)
            elif step == "above" and above >= 0:
                new_first = _node_lines(siblings[above])[0]
                if _span_chars(window, min(first, new_first), last) <= max_chars:
                    first, above, grew = min(first, new_first), above - 1, True
                else:
                    above = -1
    return first, last


def _line_span(window: Window, local: int, max_chars: int) -> tuple[int, int]:
    """Without a grammar (or nothing fitting): lines around the cursor, alternating below and above."""
    first = last = local
    size = len(window.lines[local])
    grew = True
    while grew:
        grew = False
        if last + 1 < len(window.lines) and size + len(window.lines[last + 1]) <= max_chars:
            last += 1
            size += len(window.lines[last])
            grew = True
        if first > 0 and size + len(window.lines[first - 1]) <= max_chars:
            first -= 1
            size += len(window.lines[first])
            grew = True
    return first, last


def _trim_blank(window: Window, first: int, last: int, local: int) -> tuple[int, int]:
    """The span without blank lines at its ends (the cursor's line always stays)."""
    while first < local and not window.lines[first].strip():
        first += 1
    while last > local and not window.lines[last].strip():
        last -= 1
    return first, last
