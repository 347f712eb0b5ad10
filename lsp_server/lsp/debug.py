"""Test-only commands, registered only when ``LLM_LSP_TEST_HOOKS=1`` (never for users).

Read back the server's copy of a document, so tests can prove it equals the client's after any edit
sequence; report how much state the server holds; and break a feature on purpose, to test that a
failure stays isolated.
"""

from __future__ import annotations

from typing import Any

from lsp_server.engine import context
from lsp_server.lsp.server import LlmLanguageServer, server
from lsp_server.providers.prompts import FimPrompt

DEBUG_TEXT_COMMAND = "llm-lsp.debugDocumentText"
DEBUG_FAULT_COMMAND = "llm-lsp.debugFault"
DEBUG_STATE_COMMAND = "llm-lsp.debugState"


@server.command(DEBUG_TEXT_COMMAND)
def on_debug_document_text(ls: LlmLanguageServer, *args: Any) -> dict[str, Any] | None:
    """``{"version", "text"}`` of an open document, ``None`` if it is not open."""
    uri = str(args[0]) if args else ""
    store = ls.session.store
    if uri not in store:
        return None
    snapshot = store.get(uri)
    return {"version": snapshot.version, "text": snapshot.text}


@server.command(DEBUG_STATE_COMMAND)
def on_debug_state(ls: LlmLanguageServer, *args: Any) -> dict[str, Any]:
    """How much state the server holds, table by table (the soak test checks nothing piles up)."""
    session = ls.session
    windows, window_bytes = context.window_cache_stats()
    model = getattr(session.offline, "model", None)
    stats = model.stats() if model is not None else None
    return {
        "documents": len(session.store.uris()),
        "handlerFutures": len(ls.protocol._request_futures),
        "inlineTasks": len(ls.inline_tasks),
        "backgroundTasks": len(session.background),
        "refreshHandles": len(ls.refresh_handles),
        "suggestionCache": session.cache.stats().size,
        "windowCacheEntries": windows,
        "windowCacheBytes": window_bytes,
        "offlineLiveTokens": stats.tokens if stats else 0,
        "offlineDeadTokens": stats.dead_tokens if stats else 0,
    }


@server.command(DEBUG_FAULT_COMMAND)
def on_debug_fault(ls: LlmLanguageServer, *args: Any) -> str:
    """Break prompt building (``"context"``), fail this command (``"raise"``), undo (``"none"``)."""
    if args and args[0] == "raise":
        raise RuntimeError("injected handler failure")
    session = ls.session
    if args and args[0] == "context":

        def broken(snapshot: Any, offset: int) -> FimPrompt:
            raise RuntimeError("injected context failure")

        session.build_prompt = broken  # type: ignore[method-assign]
    else:
        session.__dict__.pop("build_prompt", None)
    return "ok"
