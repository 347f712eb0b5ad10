"""From a model's raw answer to the one suggestion a user would accept at the cursor.

Owns the post-processing of inline completions, one module per step family: ``scene`` (what is known
about the cursor), ``chat`` (answer extraction and indentation), ``closers`` (auto-closed closers a
suggestion replaces), ``mode`` (single/multi-line), ``scope`` (line, closer and block cuts),
``overlap`` (text the file already has, loops), ``indentation`` (the file's style), ``validation``
(shape, syntax, trivial answers) and ``pipeline`` (the order). Every step is a small pure function
over ``(text, Scene)``. Nothing here does I/O, knows about LSP or providers, or reads settings: all
it needs arrives as arguments.
"""

from lsp_server.engine.postprocess.chat import extract_chat_code, reindent_chat, strip_echoed_prefix
from lsp_server.engine.postprocess.indentation import normalize_indentation
from lsp_server.engine.postprocess.mode import decide_mode
from lsp_server.engine.postprocess.overlap import drop_repetition, trim_suffix_overlap
from lsp_server.engine.postprocess.pipeline import (
    Suggestion,
    process,
    replaced_length,
    should_stop_streaming,
    stop_with_scene,
    suggest,
)
from lsp_server.engine.postprocess.scene import HEADER_LINES, WINDOW_LINES, Cursor, Scene, scene_for
from lsp_server.engine.postprocess.scope import cut_at_closing, cut_at_scope_end, keep_first_line
from lsp_server.engine.postprocess.validation import drop_trivial, shape_end, validate_syntax

__all__ = [
    "HEADER_LINES",
    "WINDOW_LINES",
    "Cursor",
    "Scene",
    "Suggestion",
    "cut_at_closing",
    "cut_at_scope_end",
    "decide_mode",
    "drop_repetition",
    "drop_trivial",
    "extract_chat_code",
    "keep_first_line",
    "normalize_indentation",
    "process",
    "reindent_chat",
    "replaced_length",
    "scene_for",
    "shape_end",
    "should_stop_streaming",
    "stop_with_scene",
    "strip_echoed_prefix",
    "suggest",
    "trim_suffix_overlap",
    "validate_syntax",
]
