"""The embedded default provider: ghost text from the workspace's own code, with no model at all.

Owns ``OfflineProvider``, which answers fill-in-the-middle requests from an ``OfflineModel``
(``providers/ngram.py``) that the server fills in the background (``provider.model``). It is what
serves when no key, server or network is configured. It is not an LLM: chat requests (explain,
refactor, fix) get an empty answer, and code actions tell the user a model is needed
(``is_offline``). It must not import pygls or openai, read files on its own, or raise while typing:
a failure of the model is logged and answered with an empty suggestion.

When the server hands it the workspace index (``index``, duck-typed: ``file_symbols`` and
``module_files``), the names the index makes reachable from the document (its definitions, its
imports, what those modules define) count as in scope; without it, only the names the document's
windows and the workspace's common words show do, and suggestions mentioning others are shown less.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Callable
from typing import Any

from lsp_server.providers.base import Delta, ModelRequest
from lsp_server.providers.calibration import THRESHOLD
from lsp_server.providers.ngram import Considered, OfflineModel, Suggestion
from lsp_server.providers.prompts import FimPrompt
from lsp_server.providers.scope import IndexNames

__all__ = ["OfflineModel", "OfflineProvider", "Suggestion"]

log = logging.getLogger(__name__)


class OfflineProvider:
    """A ``Provider`` backed by the offline statistical model; never touches the network."""

    def __init__(
        self,
        model: OfflineModel | None = None,
        *,
        is_excluded: Callable[[str], bool] | None = None,
        max_lines: int = 1,
        index: Any = None,
        threshold: float = THRESHOLD,
    ) -> None:
        self.model = model if model is not None else OfflineModel(is_excluded=is_excluded)
        self.max_lines = max_lines
        self.threshold = threshold
        self._names = IndexNames(index)

    @property
    def index(self) -> Any:
        """The workspace index whose definitions count as in scope (None: the windows only)."""
        return self._names.index

    @index.setter
    def index(self, index: Any) -> None:
        # The server replaces its index when the workspace (re)loads: derived names start afresh.
        if index is not self._names.index:
            self._names = IndexNames(index)

    @property
    def description(self) -> str:
        """Says plainly that this is not a language model."""
        return "offline engine (completes from this workspace's code; not an LLM)"

    @property
    def is_offline(self) -> bool:
        """Always True: code actions must explain that they need a model."""
        return True

    @property
    def prompt_mode(self) -> str:
        """Always ``fim``: the model fills the hole between prefix and suffix natively."""
        return "fim"

    async def stream(self, request: ModelRequest) -> AsyncGenerator[Delta, None]:
        """Yield exactly one complete answer: the suggestion for a FIM prompt, ``""`` otherwise."""
        yield Delta(self._answer(request), "stop")

    def _answer(self, request: ModelRequest) -> str:
        prompt = request.prompt
        if not isinstance(prompt, FimPrompt):
            return ""
        try:
            return self.answer(prompt)
        except Exception:  # a bug in the model must never break typing
            log.exception("offline model failed; answering with no suggestion")
            return ""

    def answer(self, prompt: FimPrompt) -> str:
        """The suggestion to show for ``prompt``: ``""`` unless its confidence reaches the threshold.

        At debug level the log gets every candidate considered, its evidence, its confidence and what
        became of it (``llm-lsp complete --log-level debug`` prints them): why nothing was shown is
        never a mystery.
        """
        considered: list[Considered] | None = [] if log.isEnabledFor(logging.DEBUG) else None
        found = self.propose(prompt, considered)
        shown = found is not None and found.confidence >= self.threshold
        if considered is not None:
            for entry in considered:
                if entry.verdict == "best":
                    entry.verdict = (
                        "shown" if shown else f"best, but below the threshold {self.threshold:.2f}"
                    )
            lines = "\n".join("  " + entry.describe() for entry in considered)
            log.debug("offline engine at %s: %d candidate(s)\n%s", prompt.path, len(considered), lines)
        return found.text if found is not None and shown else ""

    def propose(self, prompt: FimPrompt, collect: list[Considered] | None = None) -> Suggestion | None:
        """The engine's best candidate for ``prompt`` with its confidence, shown or not (for benchmarks)."""
        # The prompt names the file relative to the workspace; the model and the index know it by
        # its full path (this provider stays on the machine, so the full path never leaves it).
        path = self.model.resolve_path(prompt.path) or prompt.path
        names = self._names.names(path)
        return self.model.propose(prompt.prefix, prompt.suffix, path, self.max_lines, names, collect=collect)

    async def aclose(self) -> None:
        """Nothing to release: the model lives in memory and holds no connections."""
