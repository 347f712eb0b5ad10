"""The rest of the cursor's line at a line start: the suggestion completes the line the file already ends.

The cursor sits after the indentation and the line already holds its end (``    |;``,
``    |; // comment``, ``        |)`` closing a call opened above). A model writes the statement, then
reproduces that end, then runs on into the lines below. The suggestion stops where the reproduction
starts, and it then *completes* the cursor's line (the file's end of line follows it) instead of
inserting lines above it. A line whose rest is only such an end (a terminator, or the closer of a
bracket opened above) is completed even when the model stops before reproducing it.

Owns ``cut_at_rest_of_line``. Mid-line cursors are single-line mode's business
(``overlap.rest_of_line_starts``); lines the suggestion repeats below the cursor's line are
``overlap``'s. Looks at the suggestion, the cursor's line and the lines that follow it, nothing else.
"""

from __future__ import annotations

import attrs

from lsp_server.core.indentation import indent_width, leading, strip_strings
from lsp_server.engine.postprocess.overlap import matches_following
from lsp_server.engine.postprocess.scene import OPENERS, PAIRS, Scene

# How the rest of a line starts when it is the end of the statement the cursor is in: a terminator or
# a closer of a bracket opened above. A `}` is left out: at a line start it usually closes a block,
# and a suggestion there inserts statements above it.
_TAIL_START = frozenset(";,)]")


def _compact(text: str) -> str:
    return "".join(text.split())


def _tail_column(line: str, target: str) -> int | None:
    """Where in ``line`` a tail equal to ``target`` (whitespace aside) starts and runs to its end."""
    need = len(target)
    if not need or not _compact(line).endswith(target):
        return None
    seen = 0
    for column in range(len(line) - 1, -1, -1):
        if not line[column].isspace():
            seen += 1
            if seen == need:
                return column
    return None


def _balanced(text: str) -> bool:
    """Whether ``text`` closes every bracket it opens and closes none it did not open (strings aside)."""
    stack: list[str] = []
    for line in text.split("\n"):
        for ch in strip_strings(line):
            if ch in OPENERS:
                stack.append(ch)
            elif ch in PAIRS:
                if not stack or stack[-1] != PAIRS[ch]:
                    return False
                stack.pop()
    return not stack


def cut_at_rest_of_line(text: str, scene: Scene) -> tuple[str, Scene]:
    """The suggestion up to where it reproduces the rest of the cursor's line, and the scene it completes.

    The reproduction must end a line of the suggestion. On its first line, a line end (a terminator,
    a closer of a bracket opened above) always counts; anything else, and any later line, only if
    what follows repeats the file's next lines (or nothing follows), at the file's indentation, and
    the text before it is balanced (a ``}`` the suggestion writes to close its own block is not the
    file's).
    The returned scene says that the suggestion completes the cursor's line (``completes_line``).
    """
    target = _compact(scene.after)
    if scene.before.strip() or not target:
        return text, scene
    completes = attrs.evolve(scene, completes_line=True)
    tail = target[0] in _TAIL_START
    lines = text.split("\n")
    for k, line in enumerate(lines):
        column = _tail_column(line, target)
        if column is None:
            continue
        # The same text at another nesting level is new code, not the file's line.
        if k > 0 and indent_width(line) != indent_width(scene.before + scene.after):
            continue
        if k == 0 and not line[:column].strip() and line[:column] != leading(scene.after):
            continue
        head = line[:column]
        # The rest of the line starts with whitespace (the cursor inside the indentation, or before
        # a spaced comment): the reproduced line carries it too, and the file keeps its own.
        lead = leading(scene.after)
        if lead:
            head = head[: -len(lead)] if head.endswith(lead) else head.rstrip(" \t")
        kept = "\n".join([*lines[:k], head])
        if (any(ch in PAIRS for ch in target) or k > 0) and not _balanced(kept):
            continue
        if (k > 0 or not tail) and not matches_following(lines[k + 1 :], scene):
            continue
        if k > 0 and not head.strip():
            # Whole lines above the cursor's line, which the model then repeats: an insertion.
            return "\n".join(lines[:k]), scene
        return kept, completes
    if tail:
        return text, completes
    return text, scene
