"""The single/multi-line decision: finish the current line, or write a block.

Owns ``decide_mode`` (from the scene alone). Must not cut text: the cutting steps use its answer.
"""

from __future__ import annotations

from lsp_server.engine.postprocess.scene import BLOCK_OPENER, Scene


def decide_mode(scene: Scene) -> str:
    """``"single"`` (finish the current line) or ``"multi"`` (write a block) for the cursor."""
    if scene.multiline == "always":
        return "multi"
    if scene.multiline == "never" or scene.in_comment:
        return "single"
    if scene.inserts_lines or not scene.before.strip():
        return "multi"
    if scene.mid_line:
        return "single"
    # Inside auto-closed brackets (`print($0)`) the user is finishing an argument, not a block.
    if scene.after.strip():
        return "single"
    return "multi" if BLOCK_OPENER.search(scene.before.rstrip()) else "single"
