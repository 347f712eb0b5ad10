"""Indentation: how deep a line is, and which indentation step a piece of code uses.

The one copy of this logic for post-processing (the file's step around the cursor) and rewrite (the
step of a model's answer, to convert it to the file's). Pure string work.
"""

from __future__ import annotations

import re

# Indentation widths people actually use; other steps are alignment (continuation lines, docstrings).
INDENT_STEPS = (2, 3, 4, 8)


def indent_width(line: str, tab: int = 4) -> int:
    """Columns of leading whitespace, tabs to the next multiple of ``tab``."""
    width = 0
    for ch in line:
        if ch == " ":
            width += 1
        elif ch == "\t":
            width += tab - width % tab
        else:
            break
    return width


def leading(line: str) -> str:
    """The leading spaces and tabs of ``line``."""
    return line[: len(line) - len(line.lstrip(" \t"))]


def strip_strings(line: str) -> str:
    """The line with string literals blanked out (crude, per line), so brackets inside don't count."""
    return re.sub(
        r"\"(?:[^\"\\\n]|\\.)*\"|'(?:[^'\\\n]|\\.)*'|`[^`\n]*`", lambda m: " " * len(m.group()), line
    )


def bracket_depth_change(line: str) -> int:
    """Open minus closed parentheses/brackets (strings blanked): > 0 continues on the next line."""
    # Braces are left out: in brace languages they open blocks, whose lines are indented by a unit.
    masked = strip_strings(line)
    return masked.count("(") + masked.count("[") - masked.count(")") - masked.count("]")


def indent_steps(lines: tuple[str, ...] | list[str]) -> dict[int, int]:
    """How often each indentation step (deeper than the previous statement line) occurs in ``lines``.

    Lines inside open brackets are skipped: they are aligned to the bracket, not indented by a unit.
    """
    steps: dict[int, int] = {}
    previous: int | None = None
    depth = 0
    for line in lines:
        if not line.strip():
            continue
        inside = depth > 0
        depth = max(0, depth + bracket_depth_change(line))
        if inside:
            continue
        width = indent_width(line)
        if previous is not None and width - previous in INDENT_STEPS:
            steps[width - previous] = steps.get(width - previous, 0) + 1
        previous = width
    return steps


def detect_indent_unit(lines: tuple[str, ...]) -> str:
    """The file's indentation style from the window: a tab, the most common space step, or "" (unknown)."""
    tabs = spaces = 0
    for line in lines:
        if not line.strip():
            continue
        lead = leading(line)
        if lead.startswith("\t"):
            tabs += 1
        elif lead:
            spaces += 1
    if tabs > spaces:
        return "\t"
    steps = indent_steps(lines)
    if not steps:
        return ""
    return " " * max(steps, key=lambda s: (steps[s], -s))
