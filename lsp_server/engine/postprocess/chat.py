"""Chat answers: the code of a fenced answer, without the echoed prefix, at the file's indentation.

Owns the steps that turn a chat model's answer into the raw text a FIM model would have produced, so
that every later step treats both prompt paths alike. Must not cut by scope or overlap.
"""

from __future__ import annotations

import re

from lsp_server.core.indentation import indent_width, leading, strip_strings
from lsp_server.engine.postprocess.scene import BLOCK_OPENER, END_WORD, Scene

_FENCE = re.compile(r"```[^\n`]*\n(.*?)(?:\n[ \t]*```|\Z)", re.DOTALL)
_HOLE_MARKERS = ("<|CURSOR|>", "<CURSOR>", "<FILL_ME>", "<FILL>")


def extract_chat_code(text: str, scene: Scene) -> str:
    """The code of a chat answer: the first fenced block if any, else the text; no hole markers."""
    match = _FENCE.search(text)
    code = match.group(1) if match else text.strip("\n")
    for marker in _HOLE_MARKERS:
        code = code.replace(marker, "")
    return code


# Lines above a blank cursor line count as echoed only with this much text or a block header:
# short ones (`return`, `}`) recur as new code.
_ECHO_MIN_CHARS = 24


def strip_echoed_prefix(text: str, scene: Scene) -> str:
    """Drop line(s) before the cursor that the model repeated at the start of its answer."""
    lines = text.split("\n")
    context = list(scene.above[-8:]) + [scene.before]
    for m in range(min(len(context), len(lines)), 0, -1):
        tail = context[-m:]
        if not tail[-1].strip() and m == 1:
            break
        if not any(t.strip() for t in tail):
            continue
        weak = sum(len(t.strip()) for t in tail) < _ECHO_MIN_CHARS and not any(
            len(t.strip()) >= 8 and BLOCK_OPENER.search(t.rstrip()) for t in tail
        )
        if not tail[-1].strip() and weak:
            continue  # `return` / `}` above a blank cursor line: as likely new code as an echo
        if all(lines[j].strip() == tail[j].strip() for j in range(m - 1)) and lines[
            m - 1
        ].lstrip().startswith(tail[-1].strip()):
            rest = lines[m - 1].lstrip()[len(tail[-1].strip()) :]
            if scene.before[-1:].isspace() or not scene.before:
                rest = rest.lstrip()
            return "\n".join([rest, *lines[m:]])
    return text


def _expected_indent(scene: Scene, *, below: bool = True) -> int:
    """The indentation a statement on the cursor's (blank, column-0) line needs inside its block.

    The line above says it (one unit deeper after a header); a less indented line below means the
    block above ended and the cursor is at that line's level (unless ``below`` is false). 0 outside
    any indented block.
    """
    use_below = below
    above = next((line for line in reversed(scene.above) if line.strip()), None)
    following = next((line for line in scene.below if line.strip()), None)
    unit = len(scene.indent_unit.replace("\t", "    ")) or 4
    if above is None:
        return indent_width(following) if following is not None else 0
    expected = indent_width(above) + (unit if BLOCK_OPENER.search(above.rstrip()) else 0)
    if use_below and following is not None and indent_width(following) < expected:
        return indent_width(following)
    return expected


def _shift(lines: list[str], common: int, depth: int, scene: Scene) -> list[str]:
    """Body lines moved so that column ``common`` lands at ``depth``, in the file's unit; blanks emptied.

    Lines less indented than ``common`` (a closer under a deeper first line) keep their distance.
    """
    out = []
    for line in lines:
        if not line.strip():
            out.append("")
            continue
        width = max(0, indent_width(line) - common + depth)
        pad = "\t" * (width // 4) + " " * (width % 4) if scene.indent_unit == "\t" else " " * width
        out.append(pad + line.lstrip(" \t"))
    return out


def _starts_with_closer(line: str) -> bool:
    stripped = line.strip()
    return stripped[:1] in "}])" or END_WORD.match(stripped) is not None


def reindent_chat(text: str, scene: Scene) -> str:
    """Place chat code at the file's indentation, re-indenting only an answer that ignores it.

    Chat models often answer already indented as in the file: then the code is kept as a FIM model
    would have written it (absolute columns; on a blank line, the first line without the indentation
    the cursor already stands after). Only when the answer clearly ignores the nesting (on a blank
    column-0 line inside an indented block, an answer starting at column 0; a body less indented than
    the cursor's line) is it moved to the block's or the cursor line's indentation, keeping its own
    relative structure. When the answer runs on into the code below, the reading that lines up with
    that code wins. A first line that closes the cursor's block (``}``, ``end``) stands one step out.
    """
    lines = text.split("\n")
    first, rest = lines[0], lines[1:]
    body = [line for line in rest if line.strip()]
    blank = not scene.before.strip()
    base = leading(scene.before)
    depth = indent_width(base)
    first_width = indent_width(first) if first.strip() else None
    unit = len(scene.indent_unit.replace("\t", "    ")) or 4
    if blank and depth == 0:
        text_lines = [line for line in lines if line.strip()]
        expected = _expected_indent(scene)
        if not text_lines or min(indent_width(line) for line in text_lines) > 0 or expected == 0:
            return text  # already absolute, or nothing says it should be deeper
        # The answer's first line goes where a statement after the line above goes (a closer of that
        # line's block one step out), and its other lines keep their distance to it.
        target = _expected_indent(scene, below=False)
        if _starts_with_closer(text_lines[0]):
            target = max(0, target - unit)
        return "\n".join(_shift(lines, indent_width(text_lines[0]), target, scene))
    if not body:
        return first.lstrip() if blank else text
    body_min = min(indent_width(line) for line in body)
    absolute = (
        blank
        and first_width is not None
        and first_width >= depth
        or body_min >= depth
        or (body_min > 0 and indent_width(body[0]) >= depth)
    )
    # On a blank line the first line lands at the cursor's indentation and the rest keeps its
    # distance to it; mid-line the least indented line of the body does.
    common = first_width if blank and first_width is not None else body_min
    shifted = _shift(rest, common, depth, scene)
    # An answer that runs on into the code below the cursor shows its own columns: the reading whose
    # lines coincide with the file's lines (text and indentation) is the right one.
    kept_score, shifted_score = _agreement(rest, scene, blank), _agreement(shifted, scene, blank)
    closer = _closer_width(first, rest)
    if kept_score != shifted_score:
        absolute = kept_score > shifted_score
    elif closer is not None and not blank:
        # The `}` of the block the first line opens stands at the cursor line's indentation when the
        # answer is written in the file's columns, at column 0 when written as if the line were.
        absolute = closer >= depth
    elif not blank and BLOCK_OPENER.search(first.rstrip()):
        # Likewise the block's first line: deeper than the cursor's line in the file's columns, one
        # step from column 0 otherwise.
        absolute = indent_width(body[0]) > depth
    elif not blank and not first.strip() and _starts_with_closer(body[0]):
        # New lines after the cursor's line that start by closing its block, out of its indentation.
        absolute = indent_width(body[0]) < depth
    if blank:
        first = first[len(base) :] if first.startswith(base) and absolute else first.lstrip()
    return "\n".join([first, *(rest if absolute else shifted)])


def _agreement(lines: list[str], scene: Scene, blank: bool) -> int:
    """How many lines of ``lines`` repeat, indentation included, the lines that follow the cursor.

    The longest run of the answer's lines equal to the file's next non-blank lines from the first
    one on: an answer that runs on into the code below shows there which columns it writes in. On a
    blank line a run of one closer (``}``) proves nothing: the answer's own block may close there.
    """
    below = [line.rstrip() for line in scene.following if line.strip()]
    ours = [line.rstrip() for line in lines if line.strip()]
    best = 0
    for start in range(len(ours)):
        k = 0
        while start + k < len(ours) and k < len(below) and ours[start + k] == below[k]:
            k += 1
        if k > 1 or k == 1 and not (blank and _starts_with_closer(ours[start])):
            best = max(best, k)
    return best


def _closer_width(first: str, rest: list[str]) -> int | None:
    """Indentation of the line that closes the brace block ``first`` opens, if any.

    The block opens at the end of ``first`` or, Allman style, on the next line.
    """
    allman = next((line for line in rest if line.strip()), "").strip() == "{"
    if not strip_strings(first).rstrip().endswith("{") and not allman:
        return None
    depth = 0 if allman else 1
    for line in rest:
        masked = strip_strings(line)
        depth += masked.count("{") - masked.count("}")
        if depth <= 0:
            return indent_width(line)
    return None
