"""Deciding, while a model streams, that one candidate already holds everything we would show.

Owns the per-request stop state: the post-processing scene is built once when the stopper is made,
and each streamed chunk then costs work proportional to the chunk (appending it, looking for a line
break or the first character of a line). The decision itself is post-processing's own rule
(``postprocess.stop_with_scene``, which ``should_stop_streaming`` runs on a fresh scene) and is only
asked when its answer can change: every rule needs a line break in the text, and after one it turns
on the lines that follow, which are settled by their first non-blank character (is the next line
indented, is there one at all) and by their end. So it runs at most twice per line, never per delta.
Must not build a scene, parse or join the answer per delta, and must not know about providers or LSP.

A candidate longer than ``MAX_STREAM_CHARS`` stops as well: ghost text never shows that much, and the
checks stay bounded whatever a model streams (a minified line, a data dump).
"""

from __future__ import annotations

import logging

from lsp_server.engine import postprocess

log = logging.getLogger(__name__)

MAX_STREAM_CHARS = 16_000


class _Candidate:
    __slots__ = ("parts", "size", "seen_newline", "line_blank", "stopped")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.seen_newline = False
        self.line_blank = True  # only whitespace since the last line break
        self.stopped = False


class StreamStopper:
    """Per-request stop decisions for each candidate (by choice index) of one model stream."""

    __slots__ = ("scene", "_candidates", "decisions")

    def __init__(self, cursor: postprocess.Cursor, scene: postprocess.Scene | None = None) -> None:
        """Use the request's ``scene``, or build it for ``cursor`` (the only scan and parse it pays)."""
        self.scene: postprocess.Scene | None = scene
        if scene is None:
            try:
                self.scene = postprocess.scene_for(cursor)
            except Exception:  # a stop check must never take the pipeline down: read to the end instead
                log.exception("stream stop scene failed")
        self._candidates: dict[int, _Candidate] = {}
        self.decisions = 0  # how often the rule ran (tests and benches read it)

    def text(self, index: int) -> str:
        """Everything candidate ``index`` streamed so far."""
        candidate = self._candidates.get(index)
        return "".join(candidate.parts) if candidate else ""

    def texts(self) -> list[str]:
        """Every candidate's text, by index."""
        return ["".join(c.parts) for _, c in sorted(self._candidates.items())]

    def feed(self, index: int, chunk: str) -> bool:
        """Add a chunk of candidate ``index``; True once that candidate can stop streaming."""
        candidate = self._candidates.get(index)
        if candidate is None:
            candidate = self._candidates[index] = _Candidate()
        candidate.parts.append(chunk)
        candidate.size += len(chunk)
        if candidate.stopped:
            return True
        if candidate.size > MAX_STREAM_CHARS:
            candidate.stopped = True
            return True
        newline = chunk.rfind("\n")
        # The first non-blank character of a line after a line break settles what the rule waits for.
        starts_line = candidate.seen_newline and candidate.line_blank and not chunk.isspace()
        if newline >= 0:
            candidate.seen_newline = True
            candidate.line_blank = chunk[newline + 1 :].isspace() or newline == len(chunk) - 1
        elif candidate.line_blank and not chunk.isspace() and chunk:
            candidate.line_blank = False
        if self.scene is None or (newline < 0 and not starts_line):
            return False
        self.decisions += 1
        if postprocess.stop_with_scene("".join(candidate.parts), self.scene):
            candidate.stopped = True
        return candidate.stopped
