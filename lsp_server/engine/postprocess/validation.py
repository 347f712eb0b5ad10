"""The last checks: trailing shape, no new syntax errors, nothing trivial.

Owns the incremental reparse of the window with a suggestion and the cut back to the longest prefix
that adds no syntax error. Without a grammar a suggestion passes unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsp_server.core import syntax
from lsp_server.core.indentation import leading
from lsp_server.engine.postprocess.overlap import TOKEN
from lsp_server.engine.postprocess.scene import BLOCK_OPENER, END_WORD, Scene

if TYPE_CHECKING:
    from tree_sitter import Node


def shape_end(text: str, scene: Scene) -> str:
    """Trailing whitespace by situation: text after the cursor keeps its own line and indentation."""
    if not text.strip():
        return ""
    if scene.inserts_lines:
        return text.rstrip() + "\n" + scene.before
    if not scene.after.strip():
        return text.rstrip()
    if (
        "\n" in text.rstrip()
        and scene.after.strip()[0] in "}])"
        and BLOCK_OPENER.search(scene.before.rstrip())
    ):
        # A body written between `{` and the `}` the editor closed: that `}` goes on its own line.
        return text.rstrip() + "\n" + leading(scene.before)
    return text.rstrip("\n")


def drop_trivial(text: str, scene: Scene) -> str:
    """Nothing at all rather than a suggestion that only repeats the line above the cursor (not a closer)."""
    content = [line for line in text.split("\n") if line.strip()]
    if not content:
        return ""
    previous = next((line for line in reversed(scene.above) if line.strip()), "")
    only = content[0].strip()
    # ...but a closer under a closer closes the next block out (`end` after a function's `end`).
    closer = only[:1] in "}])" or END_WORD.match(only) is not None
    if len(content) == 1 and not scene.before.strip() and only == previous.strip() and not closer:
        return ""
    return text


def _errors_with(text: str, scene: Scene) -> tuple[int, int]:
    """Syntax errors in the window with ``text`` inserted at the cursor (incremental reparse).

    Two counts: in the whole window, and from the cursor on (``errors_from``).
    """
    prefix = scene.window_prefix.encode("utf-8")
    inserted = text.encode("utf-8")
    replaced = len(scene.replaced.encode("utf-8"))  # closers the suggestion writes itself, in the old tree
    source = prefix + inserted + scene.window_suffix.encode("utf-8")
    if scene.tree is None:
        tree = syntax.parse(scene.grammar, source)
    else:
        old = scene.tree.copy()
        row = prefix.count(b"\n")
        column = len(prefix) - (prefix.rfind(b"\n") + 1)
        lines = inserted.count(b"\n")
        end_column = len(inserted) - (inserted.rfind(b"\n") + 1) if lines else column + len(inserted)
        old.edit(
            start_byte=len(prefix),
            old_end_byte=len(prefix) + replaced,
            new_end_byte=len(prefix) + len(inserted),
            start_point=(row, column),
            old_end_point=(row, column + replaced),
            new_end_point=(row + lines, end_column),
        )
        tree = syntax.parse(scene.grammar, source, old)
    if tree is None:
        return 0, 0
    return syntax.error_count(tree.root_node), errors_from(tree.root_node, len(prefix))


def errors_from(node: Node, start: int) -> int:
    """ERROR and MISSING nodes under ``node`` that do not end before byte ``start`` (the cursor).

    Errors wholly before the cursor are the file's own business: an unknown macro or a stray brace
    above changes how many of them the parser reports when code is added below (a C header's
    ``static INLINE uint64_t f(`` reads as one error, and as two once its body is there).
    """
    return syntax.error_count(node, start)


def _token_cuts(line: str) -> list[int]:
    """Character positions in ``line`` at token ends, longest first (for cutting back a line)."""
    return sorted({m.end() for m in TOKEN.finditer(line)}, reverse=True)


def validate_syntax(text: str, scene: Scene, *, max_parses: int = 12) -> str:
    """Cut a suggestion that adds syntax errors back to its longest prefix that does not.

    Compares the window's error counts with and without the suggestion (in the whole window, and
    from the cursor on): a file that is already broken keeps its errors as the baseline, so only new
    errors count. Line prefixes first, then token boundaries of the first line; nothing valid -> "".
    Without a grammar: unchanged.
    """
    if scene.grammar is None or not text.strip():
        return text
    from_cursor = (
        errors_from(scene.tree.root_node, len(scene.window_prefix.encode("utf-8")))
        if scene.tree is not None
        else scene.baseline_errors
    )

    def adds_none(candidate: str) -> bool:
        # No new error in the window, or none from the cursor on (errors above are the file's).
        total, after = _errors_with(candidate, scene)
        return total <= scene.baseline_errors or after <= from_cursor

    if adds_none(text):
        return text
    lines = text.rstrip().split("\n")
    parses = 1
    # Binary search for the longest valid line prefix: errors usually start at one line and stay.
    low, high = 0, len(lines) - 1  # line counts: `low` known valid (0 = nothing), `high` to try
    best = ""
    while low < high and parses < max_parses:
        mid = (low + high + 1) // 2
        candidate = shape_end("\n".join(lines[:mid]), scene)
        parses += 1
        if candidate.strip() and adds_none(candidate):
            low, best = mid, candidate
        else:
            high = mid - 1
    if best:
        return best
    first = lines[0]
    for end in _token_cuts(first)[1:]:
        if parses >= max_parses:
            break
        parses += 1
        candidate = shape_end(first[:end], scene)
        if adds_none(candidate):
            return candidate
    return ""
