"""The language server object: a pygls ``LanguageServer`` holding one Session and the client's traits.

Owns what only the LSP connection knows — the client's capabilities, the negotiated position
encoding, in-flight inline requests (latest wins per document), the ``llmLsp/status`` notification
and ``$/progress`` — and builds the Session after ``initialize`` is answered (the engine's imports
cost about 60 ms, which the editor must not wait for). They run in a worker thread at
``initialized`` (``load_session``), so the event loop keeps answering meanwhile; document
notifications that come before the Session exists wait for it in order (``when_session``). Handlers
live in ``handlers.py`` and ``actions.py``; domain logic lives in the Session and below, never here.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs
from lsprotocol import types
from pygls.lsp.server import LanguageServer

from lsp_server import __version__
from lsp_server.core import settings as config
from lsp_server.core.text import Encoding
from lsp_server.lsp.protocol import LlmLspProtocol, lenient_converter

if TYPE_CHECKING:
    from pathlib import Path

    from lsp_server.app.session import Session, Status

log = logging.getLogger(__name__)

STATUS_NOTIFICATION = "llmLsp/status"
# ``extra=`` for log records meant for the log file only, never forwarded as window/logMessage.
LOG_FILE_ONLY = {"log_file_only": True}


class LspProgress:
    """``$/progress`` for the Session's long steps (nothing when the client does not support it)."""

    def __init__(self, ls: LlmLanguageServer) -> None:
        self.ls = ls

    async def begin(self, title: str) -> str | None:
        """Start a report; returns its token (None when the client cannot show progress)."""
        if not self.ls.client_has_progress:
            return None
        token = f"llm-lsp-{time.monotonic_ns()}"
        try:
            await asyncio.wait_for(self.ls.work_done_progress.create_async(token), timeout=5)
        except Exception:
            return None
        self.ls.work_done_progress.begin(token, types.WorkDoneProgressBegin(title=title, cancellable=False))
        return token

    def report(self, token: str | None, message: str) -> None:
        """Report progress on a token from ``begin``."""
        if token is not None:
            self.ls.work_done_progress.report(token, types.WorkDoneProgressReport(message=message))

    def end(self, token: str | None, message: str) -> None:
        """End a progress report."""
        if token is not None:
            self.ls.work_done_progress.end(token, types.WorkDoneProgressEnd(message=message))


class LlmLanguageServer(LanguageServer):
    """The llm-lsp server: the Session plus what only the LSP connection knows."""

    protocol: LlmLspProtocol

    def __init__(self) -> None:
        super().__init__(
            "llm-lsp",
            __version__,
            protocol_cls=LlmLspProtocol,
            converter_factory=lenient_converter,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
        )
        self.sources = config.Sources(environ=dict(os.environ))
        self.problems: list[config.Problem] = []
        self.encoding = Encoding.UTF16
        self.roots: list[Path] = []
        self._session: Session | None = None
        # Document notifications that came while the Session's modules were loading (``when_session``).
        self._session_waiting: list[Callable[[Session], object]] | None = None
        self._session_loading: asyncio.Future | None = None  # the import, in a worker thread
        self.log_level_override: str | None = None
        self.inline_tasks: dict[str, asyncio.Task] = {}
        self.client_has_inline = False
        self.client_has_configuration = False
        self.client_has_progress = False
        # Whether the client asks the user about edits annotated needsConfirmation; if not, such edits
        # are refused rather than applied silently (rewrite.require_confirmable).
        self.client_has_annotations = False
        self.client_markdown = False
        # Set once workspace/configuration has been pulled after `initialized` (or failed): requests
        # that arrive earlier wait for it, so they never run with settings the user did not choose.
        self.settings_ready = asyncio.Event()
        self.refresh_handles: dict[str, asyncio.TimerHandle] = {}
        # Capabilities outside LSP that handler modules advertise (ServerCapabilities.experimental).
        self.experimental: dict[str, Any] = {}

    @property
    def session(self) -> Session:
        """The Session, built on first use (after ``initialize`` has been answered).

        Whoever builds it first (``load_session``, or a request that came while the modules were
        loading) applies the document notifications waiting for it first, in their order.
        """
        if self._session is None:
            from lsp_server.app.session import Session

            session = Session(self.sources.environ, on_status=self.notify_status, progress=LspProgress(self))
            session.log_level_override = self.log_level_override
            session.store.encoding = self.encoding
            session.roots = list(self.roots)
            self.problems += session.apply_settings(self.sources)
            self._session = session
            waiting, self._session_waiting = self._session_waiting or [], None
            if waiting:
                log.debug("applying %d document notification(s) sent while the session loaded", len(waiting))
            for action in waiting:
                try:
                    action(session)
                except Exception:  # as the handler it came from would have: logged, the rest go on
                    log.exception("a document notification failed")
        return self._session

    async def load_session(self) -> Session:
        """Import the Session's modules in a worker thread, then build the Session on the loop.

        The import (about 60 ms of CPU) held the event loop at ``initialized``; meanwhile document
        notifications now queue (``when_session``), inline requests wait for the settings as before,
        and any other request that needs the Session builds it at once (waiting for the import).
        """
        if self._session is None:
            if self._session_waiting is None:
                self._session_waiting = []
            if self._session_loading is None:
                self._session_loading = asyncio.ensure_future(
                    asyncio.to_thread(importlib.import_module, "lsp_server.app.session")
                )
            await asyncio.shield(self._session_loading)
        return self.session

    async def loaded_session(self) -> Session:
        """The Session for a request: once its modules have loaded, if they are loading (no wait after)."""
        if self._session is None and self._session_loading is not None:
            await asyncio.shield(self._session_loading)
        return self.session

    def when_session(self, action: Callable[[Session], object]) -> None:
        """Run ``action`` with the Session: now, or once it is built if its modules are loading."""
        if self._session is None and self._session_waiting is not None:
            self._session_waiting.append(action)
        else:
            action(self.session)

    def apply_settings(self, sources: config.Sources) -> None:
        """Switch to settings resolved from ``sources``; problems are kept for ``show_problems``."""
        self.sources = sources
        self.problems = self.session.apply_settings(sources)

    def notify_status(self, status: Status) -> None:
        """Tell the client the status (a custom notification clients may show)."""
        try:
            self.protocol.notify(STATUS_NOTIFICATION, attrs.asdict(status))
        except Exception:  # no transport yet (before initialize) or the client is gone
            log.debug("status not sent", exc_info=True)

    def show_problems(self) -> None:
        """One readable message for settings that could not be applied (the rest still applies)."""
        if not self.problems:
            return
        lines = "; ".join(str(p) for p in self.problems)
        log.warning("settings: %s", lines)
        self.window_show_message(
            types.ShowMessageParams(type=types.MessageType.Warning, message=f"llm-lsp settings: {lines}")
        )

    def keep(self, task: asyncio.Future) -> asyncio.Future:
        """Keep a background task referenced until it ends (the Session logs its failure)."""
        return self.session.keep(task)

    def schedule_refresh(self, uri: str, delay: float = 2.0) -> None:
        """Re-index a document once edits to it pause for ``delay`` seconds (never per keystroke)."""
        self.cancel_refresh(uri)
        loop = asyncio.get_running_loop()
        self.refresh_handles[uri] = loop.call_later(delay, self._refresh_now, uri)

    def cancel_refresh(self, uri: str) -> None:
        """Drop a pending re-index of ``uri``."""
        handle = self.refresh_handles.pop(uri, None)
        if handle is not None:
            handle.cancel()

    def _refresh_now(self, uri: str) -> None:
        self.refresh_handles.pop(uri, None)
        self.session.refresh_document(uri)

    def documentation(self, code: str) -> types.MarkupContent | str:
        """A suggestion shown in the completion item's documentation, as Markdown if the client can."""
        if self.client_markdown:
            return types.MarkupContent(kind=types.MarkupKind.Markdown, value=f"```\n{code}\n```")
        return code

    def show(self, kind: types.MessageType, message: str) -> None:
        """One short message for the user."""
        self.window_show_message(types.ShowMessageParams(type=kind, message=message))


server = LlmLanguageServer()
