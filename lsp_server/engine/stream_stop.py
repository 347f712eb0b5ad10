"""Deciding, while a model streams, that one candidate already holds everything we would show.

Owns the per-request stop state: the post-processing scene is built once when the stopper is made,
and each streamed chunk then costs work proportional to the chunk (appending it, looking for a line
break). The decision itself (``postprocess.should_stop_streaming``'s rule, run on the scene built
once) can only change when a line completes, so it runs at most once per chunk that completes a
line, never per delta. Must not build a scene, parse or join the answer per delta, and must not know
about providers or LSP.

A candidate longer than ``MAX_STREAM_CHARS`` stops as well: ghost text never shows that much, and the
checks on completed lines stay bounded whatever a model streams (a minified line, a data dump).
"""

from __future__ import annotations

import logging

from lsp_server.engine import postprocess

log = logging.getLogger(__name__)

MAX_STREAM_CHARS = 16_000


class StreamStopper:
    """Per-request stop decisions for each candidate (by choice index) of one model stream."""

    __slots__ = ("scene", "_single", "_parts", "_sizes", "_stopped")

    def __init__(self, cursor: postprocess.Cursor) -> None:
        """Build the scene for ``cursor`` (the only scan and parse this request's stream pays)."""
        self.scene: postprocess.Scene | None
        try:
            self.scene = postprocess.scene_for(cursor)
            self._single = postprocess.decide_mode(self.scene) == "single"
        except Exception:  # a stop check must never take the pipeline down: read to the end instead
            log.exception("stream stop scene failed")
            self.scene, self._single = None, False
        self._parts: dict[int, list[str]] = {}
        self._sizes: dict[int, int] = {}
        self._stopped: set[int] = set()

    def text(self, index: int) -> str:
        """Everything candidate ``index`` streamed so far."""
        return "".join(self._parts.get(index, ()))

    def texts(self) -> list[str]:
        """Every candidate's text, by index."""
        return ["".join(parts) for _, parts in sorted(self._parts.items())]

    def feed(self, index: int, chunk: str) -> bool:
        """Add a chunk of candidate ``index``; True once that candidate can stop streaming."""
        parts = self._parts.setdefault(index, [])
        parts.append(chunk)
        size = self._sizes[index] = self._sizes.get(index, 0) + len(chunk)
        if index in self._stopped:
            return True
        if size > MAX_STREAM_CHARS:
            self._stopped.add(index)
            return True
        # Every rule of the decision needs a line break in the text, and none of its inputs changes
        # until another one arrives: only a chunk carrying one can change the answer.
        if "\n" not in chunk or self.scene is None:
            return False
        if self._decide("".join(parts)):
            self._stopped.add(index)
            return True
        return False

    def _decide(self, partial: str) -> bool:
        """``postprocess.should_stop_streaming``'s rule, on the scene built once."""
        scene = self.scene
        assert scene is not None
        try:
            text = partial.replace("\r\n", "\n")
            if self._single:
                kept = postprocess.keep_first_line(text, scene)
                return (
                    len(text) > len(kept)
                    and "\n" in text[len(kept) :]
                    or ("\n" in text and text.split("\n", 1)[0].strip() != "" and not text.startswith("\n"))
                )
            complete = text[: text.rfind("\n")]
            cut = postprocess.cut_at_closing(complete, scene)
            cut = postprocess.cut_at_scope_end(cut, scene)
            cut = postprocess.trim_suffix_overlap(cut, scene)
            cut = postprocess.drop_repetition(cut, scene)
            return len(cut.rstrip()) < len(complete.rstrip())
        except Exception:
            log.exception("stream stop check failed")
            return False
