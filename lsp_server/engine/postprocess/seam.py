"""Whitespace at the seam: a suggestion does not repeat the space or indentation the cursor stands after.

The prefix ends with a space (``return |``) or with the line's indentation (``    |``) and the model's
answer starts with a space of its own: accepted as is, the line would read ``return  this;``. Owns
``trim_seam``; must not touch anything but the leading spaces of the suggestion's first line.
"""

from __future__ import annotations

from lsp_server.core.indentation import indent_width, leading
from lsp_server.engine.postprocess.scene import BLOCK_OPENER, Scene


def trim_seam(text: str, scene: Scene) -> str:
    """The suggestion without the leading spaces of its first line when the cursor stands after one.

    After text (``return |``) the answer's spaces are always a repeat. In the indentation of a blank
    line they are one only when the cursor already stands where the code around it is indented and
    the answer would move the line off it; a cursor short of that indentation is completed by them.
    """
    if scene.before[-1:] not in (" ", "\t"):
        return text
    first, newline, rest = text.partition("\n")
    if not first.strip() or first[:1] not in (" ", "\t"):
        return text
    if not scene.before.strip():
        expected = _expected_widths(scene)
        here = indent_width(scene.before)
        if here not in expected or indent_width(scene.before + leading(first)) in expected:
            return text
    return first.lstrip(" \t") + newline + rest


def _expected_widths(scene: Scene) -> set[int]:
    """Indentations a statement may have on the cursor's line.

    The line above's (one step deeper after a block opener, in the file's unit) and the line below's.
    """
    widths: set[int] = set()
    above = next((line for line in reversed(scene.above) if line.strip()), None)
    if above is not None:
        step = len(scene.indent_unit.replace("\t", "    ")) or 4
        widths.add(indent_width(above) + (step if BLOCK_OPENER.search(above.rstrip()) else 0))
    below = next((line for line in scene.below if line.strip()), None)
    if below is not None:
        widths.add(indent_width(below))
    return widths
