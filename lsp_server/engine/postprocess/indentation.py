"""Indentation style: a suggestion's leading whitespace rewritten in the file's unit (tabs or width).

Must not move a suggestion to another nesting level: only the unit changes.
"""

from __future__ import annotations

from lsp_server.core.indentation import INDENT_STEPS, detect_indent_unit, indent_steps, indent_width, leading
from lsp_server.engine.postprocess.scene import Scene, effective_lines


def _surrounding_steps(lines: list[str], scene: Scene) -> set[int]:
    """Indentation steps of the window, and where the suggestion's last line meets the next line.

    A step already used in the enclosing code (or one the following line needs right after the
    suggestion: a block the model opened whose body is in the file) is the file's style too.
    """
    steps = set(indent_steps(scene.above)) | set(indent_steps(scene.below))
    last = next((line for line in reversed(effective_lines("\n".join(lines), scene)) if line.strip()), "")
    if scene.after.strip():
        following: str | None = scene.before + scene.after if not scene.before.strip() else None
    else:
        following = next((line for line in scene.below if line.strip()), None)
    if last and following is not None:
        step = indent_width(following) - indent_width(last)
        if step in INDENT_STEPS:
            steps.add(step)
    return steps


def normalize_indentation(text: str, scene: Scene) -> str:
    """Rewrite the suggestion's leading whitespace in the file's style (tabs or the file's width)."""
    lines = text.split("\n")
    if len(lines) < 2 or scene.text_closer:
        return text  # a docstring's or a comment's lines are prose: their indentation is the author's
    unit = scene.indent_unit
    body = [line for line in lines[1:] if line.strip()]
    if not body or not unit:
        return text  # no evidence of the file's style: keep the model's
    if unit == "\t":
        if not any(" " in leading(line) for line in body):
            return text
        width = detect_indent_unit(tuple(body))
        step = len(width) if width not in ("\t", "") else 4
        return "\n".join(
            [lines[0]]
            + [
                "\t" * (indent_width(line) // step) + " " * (indent_width(line) % step) + line.lstrip(" \t")
                if line.strip()
                else line
                for line in lines[1:]
            ]
        )
    # The file indents with spaces.
    if any("\t" in leading(line) for line in body):
        return "\n".join(
            [lines[0]] + [leading(line).replace("\t", unit) + line.lstrip(" \t") for line in lines[1:]]
        )
    base = indent_width(scene.before) if not scene.before.strip() else indent_width(scene.before)
    if not scene.before.strip() and lines[0].strip():
        base = indent_width(scene.before + lines[0])
    deltas = [indent_width(line) - base for line in body]
    positive = [d for d in deltas if d > 0]
    if not positive:
        return text
    ours = min(positive)
    theirs = len(unit)
    if ours == theirs or ours not in (2, 4, 8) or any(d % ours for d in deltas if d > 0):
        return text
    if ours in _surrounding_steps(lines, scene):
        return text  # the code around the cursor already indents this way: the model follows it
    out = [lines[0]]
    for line, in_body in ((line, bool(line.strip())) for line in lines[1:]):
        if not in_body:
            out.append(line)
            continue
        delta = indent_width(line) - base
        if delta <= 0:
            out.append(line)
            continue
        out.append(" " * (base + delta // ours * theirs) + line.lstrip(" \t"))
    return "\n".join(out)
