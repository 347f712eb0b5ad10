"""The pipeline: the steps in order, from a model's raw answer to the suggestion shown at the cursor.

Owns ``process`` and ``should_stop_streaming``. It must never raise on model output: a failure
degrades to a conservative answer, never a crash, and never to a worse suggestion than the raw text.
"""

from __future__ import annotations

import logging

from lsp_server.engine.postprocess.chat import extract_chat_code, reindent_chat, strip_echoed_prefix
from lsp_server.engine.postprocess.indentation import normalize_indentation
from lsp_server.engine.postprocess.mode import decide_mode
from lsp_server.engine.postprocess.overlap import drop_repetition, trim_suffix_overlap
from lsp_server.engine.postprocess.scene import Cursor, Scene, scene_for
from lsp_server.engine.postprocess.scope import cut_at_closing, cut_at_scope_end, keep_first_line
from lsp_server.engine.postprocess.validation import drop_trivial, shape_end, validate_syntax

log = logging.getLogger(__name__)


def mode(cursor: Cursor) -> str:
    """``"single"`` or ``"multi"``: the line-count decision ``process`` makes for this cursor."""
    try:
        return decide_mode(scene_for(cursor))
    except Exception:  # the decision must never take the pipeline down
        log.exception("mode decision failed")
        return "single"


def process(raw: str, cursor: Cursor, *, chat: bool = False) -> str:
    """The suggestion to show for a model's raw answer at ``cursor``; ``""`` means show nothing.

    Order: line endings -> chat extraction (fences, echoed prefix, indentation) -> single-line cut ->
    closing brackets -> block scope -> overlap with the text after the cursor -> repetition ->
    indentation style -> trailing shape -> syntax validation -> nothing trivial; in the document's
    line endings.
    """
    if not raw or not raw.strip():
        return ""
    try:
        scene = scene_for(cursor)
        return _run(raw, scene, chat=chat)
    except Exception:  # model output must never crash the server; fall back to a safe single line
        log.exception("post-processing failed")
        return raw.replace("\r\n", "\n").split("\n", 1)[0].rstrip()


def _run(raw: str, scene: Scene, *, chat: bool) -> str:
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    if chat:
        text = extract_chat_code(text, scene)
        text = strip_echoed_prefix(text, scene)
        text = reindent_chat(text, scene)
    single = decide_mode(scene) == "single"
    if single:
        text = keep_first_line(text, scene)
    text = cut_at_closing(text, scene, single=single)
    if not single:
        text = cut_at_scope_end(text, scene)
    text = trim_suffix_overlap(text, scene)
    text = drop_repetition(text, scene)
    text = normalize_indentation(text, scene)
    text = shape_end(text, scene)
    text = validate_syntax(text, scene)
    text = drop_trivial(text, scene)
    return text.replace("\n", scene.eol) if scene.eol != "\n" else text


def should_stop_streaming(partial: str, cursor: Cursor) -> bool:
    """True once ``partial`` already holds everything ``process`` would keep, so the stream can close.

    Single-line mode: a newline after some text. Multi-line: a complete line beyond the scope (the
    scope cut or suffix overlap removed a complete line), or a loop.
    """
    if not partial:
        return False
    try:
        scene = scene_for(cursor)
        text = partial.replace("\r\n", "\n")
        if decide_mode(scene) == "single":
            kept = keep_first_line(text, scene)
            return (
                len(text) > len(kept)
                and "\n" in text[len(kept) :]
                or ("\n" in text and text.split("\n", 1)[0].strip() != "" and not text.startswith("\n"))
            )
        if "\n" not in text:
            return False
        complete = text[: text.rfind("\n")]
        cut = cut_at_closing(complete, scene)
        cut = cut_at_scope_end(cut, scene)
        cut = trim_suffix_overlap(cut, scene)
        cut = drop_repetition(cut, scene)
        return len(cut.rstrip()) < len(complete.rstrip())
    except Exception:
        log.exception("stream stop check failed")
        return False
