"""Where a suggestion ends: the current line, a closing bracket, or the end of the scope being written.

Owns the line cut of single-line mode, the cut at a bracket closed before the cursor and the cut at
the first line that leaves the block (by indentation). Must not compare with the text after the
cursor beyond the next closer: overlap is ``overlap``'s job.
"""

from __future__ import annotations

import re

from lsp_server.core.indentation import indent_width, strip_strings
from lsp_server.engine.postprocess.mode import opens_block
from lsp_server.engine.postprocess.overlap import rest_of_line_starts
from lsp_server.engine.postprocess.scene import (
    BLOCK_OPENER,
    CLOSERS,
    CONTINUATION,
    END_WORD,
    OPENERS,
    PAIRS,
    Scene,
    brace_on_next_line,
    effective_lines,
    next_suffix_text,
)

_DEFINITION = re.compile(
    r"^\s*(?:(?:export|default|async|static|public|private|protected|pub(?:\([^)]*\))?)\s+)*"
    r"(?:def|class|function|fn|func|fun|sub|interface|impl|trait|struct|enum|module)\b"
)
_FUNCTION = re.compile(
    r"^\s*(?:(?:export|default|async|static|public|private|protected|pub(?:\([^)]*\))?)\s+)*"
    r"(?:def|function|fn|func|fun|sub)\b"
)


def keep_first_line(text: str, scene: Scene) -> str:
    """Single-line mode: the rest of the current line (or, at a line end, the one next line)."""
    if text.startswith("\n") and scene.before.strip() and not scene.after.strip():
        rest = text.lstrip("\n").split("\n", 1)[0]
        return "\n" + rest if rest.strip() else ""
    return text.split("\n", 1)[0]


def cut_at_closing(text: str, scene: Scene, *, single: bool = False) -> str:
    """Stop where the suggestion closes a bracket opened before the cursor.

    If the text after the cursor already has that closer, cut right before it (no double closing).
    Otherwise, on a single line, keep the closer and the rest of its line, then stop. First of all,
    a single line that reproduces the rest of the cursor's line ends where that starts.
    """
    if scene.text_closer:
        return text  # prose in a docstring or a comment: its brackets close nothing of the code's
    if single and scene.after.strip() and "\n" not in text:
        start = rest_of_line_starts(text.rstrip(), scene.after.strip(), scene)
        if start is not None:
            return text[:start].rstrip() if scene.after[:1].isspace() else text[:start]
    stack: list[str] = []
    pos = 0
    for line in text.split("\n"):
        masked = strip_strings(line)
        for i, ch in enumerate(masked):
            if ch in OPENERS:
                stack.append(ch)
            elif ch in PAIRS:
                if stack and stack[-1] == PAIRS[ch]:
                    stack.pop()
                    continue
                at_line_start = pos > 0 and not line[:i].strip()
                if next_suffix_text(scene).startswith(ch) and not (
                    at_line_start and _closes_inner(line, scene)
                ):
                    if at_line_start and BLOCK_OPENER.search(masked.rstrip()):
                        # `} catch (e) {`: the suggestion closes the file's block and opens the next
                        # part of the statement, which the file's closer now closes.
                        break
                    return (
                        text[: pos + i].rstrip(" \t") if i == 0 or not line[:i].strip() else text[: pos + i]
                    )
                if single:
                    return text[: pos + len(line)]
                # Multi-line: the statement (a dict, a call) may go on; cut_at_scope_end decides.
                stack.clear()
        pos += len(line) + 1
    return text


def _scope_limit(scene: Scene, ref: int) -> int:
    """Lines indented at or below the returned width leave the scope a blank-line cursor is in.

    The scope is the outermost enclosing function (nested helpers and blocks included: a hole may
    finish them and carry on in the outer body), found by walking up the indentation of the lines
    above; inside a class but no function, the class; outside any definition, the cursor's own block.
    """
    current = ref
    limit = ref - 1
    for line in scene.headers:
        if not line.strip():
            continue
        width = indent_width(line)
        if width >= current:
            continue
        current = width
        if _FUNCTION.match(line) or _DEFINITION.match(line) and limit == ref - 1:
            limit = width
        if width == 0:
            break
    return limit


def cut_at_scope_end(text: str, scene: Scene) -> str:
    """Multi-line: stop at the first line that leaves the scope being written (by indentation).

    At the end of a block opener the scope is that block (lines deeper than the opener line, plus
    ``else``-like continuations). On a blank line it is the enclosing definition, or at top level the
    current paragraph. A dedented ``end``-like line is kept unless the file already has it next;
    closing brackets are left to ``cut_at_closing``.
    """
    if scene.text_closer and scene.before.strip():
        return _cut_at_text_end(text, scene)
    lines = effective_lines(text, scene)
    first_text = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first_text is None:
        return text
    opener = bool(scene.before.strip()) and (
        BLOCK_OPENER.search(lines[0].rstrip()) is not None or opens_block(text, scene)
    )
    if opener and not scene.in_list:  # (a list element's block is followed by the next element)
        end = _brace_block_end(lines, text)
        if end is not None and end >= 0:
            kept = lines[: end + 1]
            kept[0] = kept[0][len(scene.before) :]
            return "\n".join(kept)
    if scene.before.strip():
        ref = indent_width(scene.before)
        # A list's elements stand at the cursor line's indentation: a shallower line closes it.
        limit = ref - 1 if scene.in_list else ref if opener else _scope_limit(scene, ref)
    else:
        ref = indent_width(lines[first_text])
        limit = _scope_limit(scene, ref)
    cut = len(lines)
    previous_width = ref
    after_blank = False
    previous = lines[first_text]
    block = None if opener or scene.in_list else _cursor_block_width(scene)
    start = first_text if not scene.before.strip() else first_text + 1
    for i in range(start, len(lines)):
        line = lines[i]
        if not line.strip():
            after_blank = True
            continue
        width = indent_width(line)
        stripped = line.strip()
        if block is not None and width < block and _closes_block(stripped, scene.grammar):
            # The suggestion closes the block the cursor is in (at the end of a file, a method's `}`):
            # it ends there, unless the statement goes on (`else`, `catch` on the next line).
            following = next((row.strip() for row in lines[i + 1 :] if row.strip()), "")
            if not CONTINUATION.match(following):
                ends_file_block = END_WORD.match(stripped) and _file_has_next(stripped, scene)
                cut = i if ends_file_block else i + 1
                break
            block = width + 1
        if i == first_text:
            continue
        if scene.in_list and line == previous:
            cut = i  # the same element twice in a row: a list has no duplicate keys or fields
            break
        previous = line
        # At top level (limit < 0) a new paragraph or a statement after an indented body leaves.
        leaves = width == 0 and (after_blank or previous_width > 0) if limit < 0 else width <= limit
        previous_width, after_blank = width, False
        if not leaves or opener and stripped == "{" and i == first_text + 1:
            continue  # (the `{` of an Allman header opens its block, at the header's indentation)
        if stripped[0] in CLOSERS:
            if BLOCK_OPENER.search(stripped):
                continue  # `} else {`: the compound statement goes on
            cut = i + 1  # the closer of the scope: keep it (a closer already there was cut before)
            break
        if CONTINUATION.match(stripped) and width >= max(limit, 0):
            continue
        if END_WORD.match(stripped):
            cut = i if _file_has_next(stripped, scene) else i + 1
            break
        cut = i
        break
    kept = lines[:cut] or [scene.before]
    kept[0] = kept[0][len(scene.before) :]
    return "\n".join(kept)


def _cut_at_text_end(text: str, scene: Scene) -> str:
    """Text spanning lines (a docstring, a block comment) ends at its closing delimiter, not by indentation.

    A line made of the delimiter that the file already has next is dropped with all that follows;
    otherwise the suggestion keeps the line that closes the text and stops after it.
    """
    closer = scene.text_closer
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if closer not in line:
            continue
        if line.strip().startswith(closer) and next_suffix_text(scene).startswith(closer):
            return "\n".join(lines[:i])
        return "\n".join(lines[: i + 1])
    return text


def brace_block_open(text: str, scene: Scene) -> bool:
    """Whether the suggestion heads a brace block (after its header) that it has not closed yet."""
    if scene.in_list or not scene.before.strip() or "\n" not in text:
        return False
    lines = effective_lines(text, scene)
    if not (BLOCK_OPENER.search(lines[0].rstrip()) or opens_block(text, scene)):
        return False
    return _brace_block_end(lines, text) == -1


def _brace_block_end(lines: list[str], text: str) -> int | None:
    """The line that closes the brace block the header line (``lines[0]``) opens, by counting braces.

    The header opens it at its end (``fn f() {``) or on the next line (Allman style). Counting, not
    indentation, ends it: a model that indents the body as if the header stood at column 0
    (``fn`` typed inside an ``impl``) still closes it with its own ``}``. ``None`` when the header
    opens no brace block, -1 when the suggestion does not close it (yet).
    """
    header = strip_strings(lines[0]).rstrip()
    if not header.endswith("{") and not brace_on_next_line(text):
        return None
    depth = sum(1 for ch in header if ch == "{") - sum(1 for ch in header if ch == "}")
    base = depth - 1 if header.endswith("{") else depth
    for i in range(1, len(lines)):
        masked = strip_strings(lines[i])
        depth += masked.count("{") - masked.count("}")
        if depth <= base:
            return i
    return -1


def _closes_block(stripped: str, grammar: str | None) -> bool:
    """Whether a line only closes a block: ``}`` (``};`` after a class), or ``end``, ``fi``, ``done``.

    A literal's or a call's closer (``},`` ``})`` ``]``, any Python bracket) ends an expression, and
    the statements after it are still the cursor's block.
    """
    if stripped in ("}", "};"):
        return grammar != "python"
    return END_WORD.match(stripped) is not None


def _cursor_block_width(scene: Scene) -> int:
    """Indentation of the statements of the block the cursor is in.

    The cursor's line's own on a line with text; on a blank line, the nearest line above with
    text, one step deeper when that line opens a block.
    """
    if scene.before.strip():
        return indent_width(scene.before)
    above = next((line for line in reversed(scene.above) if line.strip()), None)
    if above is None:
        return 0
    deeper = BLOCK_OPENER.search(above.rstrip()) is not None or above.strip() == "{"
    return indent_width(above) + (1 if deeper else 0)


def _closes_inner(line: str, scene: Scene) -> bool:
    """Whether a closer at the start of a suggestion line closes a block other than the file's next one.

    The file's next line with text starts with the same closer but stands at another indentation:
    the suggestion closes a block still open inside it (an ``if`` before the function's own ``}``).
    """
    if scene.after.strip():
        return False  # the file's closer is on the cursor's line, after it
    following = next((row for row in scene.below if row.strip()), None)
    return following is not None and indent_width(following) != indent_width(line)


def _file_has_next(stripped: str, scene: Scene) -> bool:
    """Whether the file's next text after the cursor is the same ``end``-like word as ``stripped``."""
    return re.match(re.escape(stripped.split()[0]) + r"\b", next_suffix_text(scene)) is not None
