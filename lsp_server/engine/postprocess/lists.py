"""Lists that go on: whether the cursor ends a line inside a construct whose elements stand one per line.

Struct fields, interface and enum members, match and switch arms, the entries of a literal, the keys of
a YAML mapping, Markdown list items and sections, the lines of a docstring or a multi-line string: a
model that writes the next elements is right to, and the suggestion shows them (``scope`` then stops
where the construct closes, ``overlap`` where the answer repeats the file). Statements in a body are
not a list: at the end of an ordinary statement line only the line is finished.

Owns ``cursor_in_list``, a fact about the cursor computed once per scene from the window's tree (the
grammar's node types, ``core.syntax.LIST_NODES``), or from the line's shape for plain text. Must not
look at a suggestion.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from lsp_server.core import syntax

if TYPE_CHECKING:
    from tree_sitter import Node, Tree

# Plain text (no grammar): a list item (`- `, `* `, `+ `, `1. `, an F# or OCaml `| ` arm), a Markdown
# heading, or a `key: value` line (YAML, TOML-like, CSS declarations, F# record fields).
_ITEM = re.compile(r"^\s*(?:[-*+]\s|\|\s|\d+[.)]\s|#{1,6}\s|[\w\"'$@.-]+\s*:(?:\s|$))")
# An opening triple quote or fence with no closing one on the line: the text goes on below.
_OPEN_TEXT = ('"""', "'''", "```")
# How text spanning lines opens, and the delimiter that closes it.
_TEXT_CLOSERS = (('"""', '"""'), ("'''", "'''"), ("/*", "*/"), ("`", "`"), ('@"', '"'), ('"', '"'))


def cursor_in_list(
    tree: Tree | None, prefix: bytes, suffix: bytes, row: int, before: str, grammar: str | None
) -> str | None:
    """How the construct around the cursor goes on (``prefix`` + ``suffix``: the window, ``row``: its line).

    ``None`` when it is not a list; ``""`` for elements at the cursor line's indentation; for text
    that spans lines (a docstring, a block comment), the delimiter that closes it (its lines may
    stand at any indentation). The construct that decides is the innermost node around the cursor
    that starts on an earlier line and is still open after the cursor's line: the element the
    cursor's line begins does not count. The element being typed often does not parse yet
    (``Ranges`` alone in a match): then the window is parsed once more without it.
    """
    if not before.strip():
        return None
    for mark in _OPEN_TEXT:
        if before.count(mark) % 2 == 1:
            return mark
    if tree is None:
        return "" if grammar is None and _ITEM.match(before) is not None else None
    line_start = len(prefix) - len(before.encode("utf-8"))
    end = line_start + len(before.rstrip().encode("utf-8"))
    kind = _decide(tree.root_node.descendant_for_byte_range(max(line_start, end - 1), end), row)
    if kind is not _ERROR:
        return kind
    # The element being typed is broken: the same window with the cursor's line left blank.
    again = syntax.parse(grammar, prefix[:line_start] + suffix)
    if again is None:
        return None
    kind = _decide(again.root_node.descendant_for_byte_range(line_start, line_start), row)
    return None if kind is _ERROR else kind


_ERROR = "\0error"


def _decide(node: Node | None, row: int) -> str | None:
    """The list kind of the innermost node that starts above ``row`` and ends below it."""
    while node is not None:
        if node.start_point[0] < row and node.end_point[0] > row:
            return _ERROR if node.is_error else _kind(node)
        # Closed on the cursor's line: the construct around it decides.
        node = node.parent
    return None


def _kind(node: Node) -> str | None:
    if node.type in syntax.TEXT_NODES:
        if node.type == "string_content" and node.parent is not None:
            node = node.parent
        # Bounded by the window: a string node is never more than the parsed window.
        head = (node.text or b"")[:8].decode("utf-8", errors="replace").lstrip("rRbBfFuU$")
        for opener, closer in _TEXT_CLOSERS:
            if head.startswith(opener):
                return closer
        return None
    if node.type in syntax.LIST_NODES:
        return ""
    parents = syntax.LIST_NODES_IN.get(node.type)
    return "" if parents is not None and node.parent is not None and node.parent.type in parents else None
