"""The pipeline: the steps in order, from a model's raw answer to the suggestion shown at the cursor.

Owns ``process`` and ``should_stop_streaming``. It must never raise on model output: a failure
degrades to a conservative answer, never a crash, and never to a worse suggestion than the raw text.
"""

from __future__ import annotations

import logging

import attrs

from lsp_server.engine.postprocess.chat import extract_chat_code, reindent_chat, strip_echoed_prefix
from lsp_server.engine.postprocess.closers import consume_closers, replacement
from lsp_server.engine.postprocess.indentation import normalize_indentation
from lsp_server.engine.postprocess.mode import decide_mode, may_head_block, may_open_block_below
from lsp_server.engine.postprocess.overlap import drop_copy_of_next, drop_repetition, trim_suffix_overlap
from lsp_server.engine.postprocess.rest_of_line import cut_at_rest_of_line
from lsp_server.engine.postprocess.scene import Cursor, Scene, scene_for
from lsp_server.engine.postprocess.scope import (
    brace_block_open,
    cut_at_closing,
    cut_at_scope_end,
    keep_first_line,
)
from lsp_server.engine.postprocess.seam import trim_seam
from lsp_server.engine.postprocess.validation import drop_trivial, shape_end, validate_syntax

log = logging.getLogger(__name__)


@attrs.frozen
class Suggestion:
    """A suggestion to show: ``text`` replaces the ``replaces`` characters right after the cursor.

    ``replaces`` is 0 for a plain insertion; it covers the auto-closed closers the suggestion writes
    itself (``fn fib($0)`` + ``n: u32) -> u32 {...}`` replaces the ``)``). Both are in the document's
    line endings and code points.
    """

    text: str
    replaces: int = 0


def suggest(raw: str, cursor: Cursor, *, chat: bool = False, scene: Scene | None = None) -> Suggestion:
    """The suggestion to show for a model's raw answer at ``cursor``, with the range it replaces.

    Order: line endings -> chat extraction (fences, echoed prefix, indentation) -> closers the answer
    writes itself (the replace range) -> whitespace at the seam -> the rest of the cursor's line at a
    line start -> single/multi-line decision (block headers and lists included) -> single-line cut ->
    closing brackets -> block scope -> overlap with the text after the cursor -> a copy of the next
    line -> repetition -> indentation style -> trailing shape -> syntax validation -> nothing trivial;
    in the document's line endings. ``Suggestion("")`` means show nothing. ``scene``: the request's scene
    for ``cursor`` when the caller already built it (one per request, shared by its candidates).
    """
    if not raw or not raw.strip():
        return Suggestion("")
    try:
        return _run(raw, scene if scene is not None else scene_for(cursor), chat=chat)
    except Exception:  # model output must never crash the server; fall back to a safe single line
        log.exception("post-processing failed")
        return Suggestion(raw.replace("\r\n", "\n").split("\n", 1)[0].rstrip())


def replaced_length(text: str, cursor: Cursor) -> int:
    """How many characters after the cursor an already processed ``text`` replaces (a cache hit)."""
    # Only the closers right after the cursor matter: a bounded look, never the whole line.
    head = cursor.text[cursor.offset : cursor.offset + 200]
    return replacement(text, head.split("\n", 1)[0].removesuffix("\r"), cursor.grammar)[1]


def process(raw: str, cursor: Cursor, *, chat: bool = False) -> str:
    """The text of ``suggest``: what to insert when its ``replaces`` is 0 (most suggestions)."""
    return suggest(raw, cursor, chat=chat).text


def _run(raw: str, scene: Scene, *, chat: bool) -> Suggestion:
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    if chat:
        text = extract_chat_code(text, scene)
        text = strip_echoed_prefix(text, scene)
        text = reindent_chat(text, scene)
    text, scene = consume_closers(text, scene)
    text = trim_seam(text, scene)
    text, scene = cut_at_rest_of_line(text, scene)
    single = decide_mode(scene, text) == "single"
    if single:
        text = keep_first_line(text, scene)
    text = cut_at_closing(text, scene, single=single)
    if not single:
        text = cut_at_scope_end(text, scene)
    text = trim_suffix_overlap(text, scene)
    text = drop_copy_of_next(text, scene)
    text = drop_repetition(text, scene)
    text = normalize_indentation(text, scene)
    text = shape_end(text, scene)
    text = validate_syntax(text, scene)
    text = drop_trivial(text, scene)
    if not text:
        return Suggestion("")
    replaces = len(scene.replaced)
    text = text.replace("\n", scene.eol) if scene.eol != "\n" else text
    return Suggestion(text, replaces)


def should_stop_streaming(partial: str, cursor: Cursor) -> bool:
    """True once ``partial`` already holds everything ``process`` would keep, so the stream can close.

    Single-line mode: a newline after some text. Multi-line: a complete line beyond the scope (the
    scope cut or suffix overlap removed a complete line), or a loop.
    """
    if not partial:
        return False
    try:
        return stop_with_scene(partial, scene_for(cursor))
    except Exception:
        log.exception("stream stop check failed")
        return False


def stop_with_scene(partial: str, scene: Scene) -> bool:
    """``should_stop_streaming`` on a scene built once per request (engine/stream_stop.py feeds it)."""
    if not partial:
        return False
    try:
        text = partial.replace("\r\n", "\n")
        text, scene = consume_closers(text, scene)
        if text.lstrip(" \t").startswith("\n") and decide_mode(scene, text) == "multi":
            return _beyond_scope(text, scene)  # new lines after a complete line: a block's worth
        if decide_mode(scene) == "single":
            first, newline, rest = text.partition("\n")
            line = scene.before + first
            if first.strip() and newline and not rest.strip() and may_open_block_below(line, scene.grammar):
                return False  # an Allman header shows itself by a `{` alone on the next line
            header = may_head_block(line) or may_open_block_below(line, scene.grammar)
            if first.strip() and newline and header and not scene.after.strip():
                # Whether the line heads a block shows on the next line's indentation: wait for it.
                if not rest.strip():
                    return False
                if decide_mode(scene, text) == "multi":
                    return _beyond_scope(text, scene)
            kept = keep_first_line(text, scene)
            return (
                len(text) > len(kept)
                and "\n" in text[len(kept) :]
                or ("\n" in text and text.split("\n", 1)[0].strip() != "" and not text.startswith("\n"))
            )
        return _beyond_scope(text, scene)
    except Exception:
        log.exception("stream stop check failed")
        return False


def _beyond_scope(text: str, scene: Scene) -> bool:
    """Multi-line: whether a complete line of ``text`` lies beyond what the pipeline would keep."""
    if "\n" not in text:
        return False
    complete = text[: text.rfind("\n")]
    if brace_block_open(complete, scene):
        return False  # a block the suggestion opened ends at its own closer, not yet streamed
    cut, scene = cut_at_rest_of_line(complete, scene)
    cut = cut_at_closing(cut, scene)
    cut = cut_at_scope_end(cut, scene)
    cut = trim_suffix_overlap(cut, scene)
    cut = drop_repetition(cut, scene)
    return len(cut.rstrip()) < len(complete.rstrip())
