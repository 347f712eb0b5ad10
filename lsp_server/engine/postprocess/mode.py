"""The single/multi-line decision: finish the current line, or write a block.

A suggestion gets several lines on an empty line, after a block opener the user typed, and when the
suggestion itself turns the cursor's line into a block header (``def f(x`` + ``):``, ``if x > 0`` +
`` {``, ``func (r Rect) Area`` + ``() float64 {``): then the body is what the user wants to see, as
Copilot, Tabby and Continue show it. Everywhere else (mid-line, inside auto-closed brackets, at the
end of an ordinary line) only the line is finished. Must not cut text: the cutting steps use the
answer.
"""

from __future__ import annotations

import re

from lsp_server.core.indentation import bracket_depth_change, indent_width
from lsp_server.engine.postprocess.scene import BLOCK_OPENER, Scene, brace_on_next_line

# Headers that need no opener at the line end (Ruby, Lua, shell, Elixir, Crystal, Julia...).
_KEYWORD_HEADER = re.compile(
    r"^\s*(?:(?:export|async|static|public|private|protected|local)\s+)*"
    r"(?:def|class|module|function|fn|func|if|unless|elif|elsif|else|while|until|for|case|begin|do|struct)\b"
)


def opens_block(text: str, scene: Scene) -> bool:
    """Whether the cursor's line, completed by the suggestion's first line, heads a block it writes.

    Either the line ends with a block opener (``:``, ``{``, ``do``, ``then``, ``=>``...) or its
    block's ``{`` stands alone on the next line (Allman style), or the next line of the suggestion is
    indented deeper than the cursor's line while no bracket is left open (Ruby's ``def f(x)``, a shell
    ``function f()``): a wrapped argument list is not a header.
    """
    if not scene.before.strip() or scene.after.strip():
        return False
    first, _, rest = text.partition("\n")
    if not first.strip() or not rest.strip():
        return False
    line = (scene.before + first).rstrip()
    if BLOCK_OPENER.search(line) or brace_on_next_line(text) and bracket_depth_change(line) <= 0:
        return True
    if not may_head_block(line):
        return False
    following = next((row for row in rest.split("\n") if row.strip()), "")
    return indent_width(following) > indent_width(scene.before) and bracket_depth_change(line) <= 0


def may_head_block(line: str) -> bool:
    """Whether a line without an opener at its end can still head a block (by its first keyword)."""
    return BLOCK_OPENER.search(line.rstrip()) is not None or _KEYWORD_HEADER.match(line) is not None


# Grammars where a block's `{` often stands alone on the line below its header (Allman style).
_ALLMAN_GRAMMARS = frozenset({"c_sharp", "java", "c", "cpp"})


def may_open_block_below(line: str, grammar: str | None) -> bool:
    """Whether a complete line may be a header whose ``{`` comes on the next line (Allman style).

    A streamed answer must not stop at such a line's end before the next line shows it.
    """
    end = line.rstrip()[-1:]
    return grammar in _ALLMAN_GRAMMARS and bool(end) and end not in ";,{}"


def decide_mode(scene: Scene, text: str | None = None) -> str:
    """``"single"`` (finish the current line) or ``"multi"`` (write a block) for the cursor.

    Without ``text`` the decision is the scene's alone; with it, a suggestion that completes a block
    header at the end of the line gets its body too, and one that starts on a new line after a
    complete line (or between ``{`` and the ``}`` the editor closed) writes the lines that follow,
    as at a blank line.
    """
    if scene.multiline == "always":
        return "multi"
    if scene.multiline == "never" or scene.in_comment and not scene.in_list:
        return "single"
    if scene.inserts_lines or not scene.before.strip():
        return "multi"
    if scene.mid_line:
        return "single"
    new_line = text is not None and text.lstrip(" \t").startswith("\n")
    opener = BLOCK_OPENER.search(scene.before.rstrip()) is not None
    # Inside auto-closed brackets (`print($0)`) the user is finishing an argument, not a block; between
    # `{` and its `}` (`function f() {$0}`) a body starting on a new line is a block.
    if scene.after.strip():
        return "multi" if opener and new_line and scene.after.strip()[0] in "}])" else "single"
    if opener or scene.in_list or new_line:
        return "multi"
    return "multi" if text is not None and opens_block(text, scene) else "single"
