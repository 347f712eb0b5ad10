"""LSP handlers for next-edit suggestions, in the shape Copilot's language server gives them.

LSP has no method for next edits, so the de facto one of the most used server is followed, and
clients written for it work: ``textDocument/copilotInlineEdit`` with ``{textDocument: {uri, version},
position}`` answers ``{edits: [{text, range, textDocument: {uri, version}, command}]}`` (alternatives,
best first); ``textDocument/didShowInlineEdit {item}`` says one was shown; running the item's
``command`` (``llm-lsp.acceptNextEdit``, through ``workspace/executeCommand``) says it was accepted.
``llmLsp/nextEdit`` is the same request under our own name, with an optional
``context.triggerKind`` (1: the user asked, the default; 2: automatic, like Copilot's). Both are
advertised under ``experimental.llmLsp.nextEdit`` of the server's capabilities.

An empty answer carries ``reason`` (next edits off, the offline engine, ghost text at the cursor, the
model's edit refused by a check...). A stale answer is never returned: -32801 (ContentModified).
Translation only; the Session decides.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from pygls.exceptions import JsonRpcContentModified, JsonRpcInvalidParams

from lsp_server.core.errors import ContentModified, DocumentNotOpen, ExcludedFile, ProviderError
from lsp_server.lsp import convert
from lsp_server.lsp.server import LOG_FILE_ONLY, LlmLanguageServer, server

log = logging.getLogger(__name__)

COPILOT_INLINE_EDIT = "textDocument/copilotInlineEdit"
NEXT_EDIT = "llmLsp/nextEdit"
DID_SHOW_INLINE_EDIT = "textDocument/didShowInlineEdit"
ACCEPT_NEXT_EDIT = "llm-lsp.acceptNextEdit"
INVOKED = 1

server.experimental["llmLsp"] = {
    "nextEdit": {
        "requests": [COPILOT_INLINE_EDIT, NEXT_EDIT],
        "didShow": DID_SHOW_INLINE_EDIT,
        "acceptCommand": ACCEPT_NEXT_EDIT,
    }
}


def _field(params: Any, *path: str) -> Any:
    """``params[path[0]][path[1]]...`` for dicts or attribute objects; None when a step is missing."""
    value = params
    for key in path:
        if value is None:
            return None
        value = value.get(key) if isinstance(value, dict) else getattr(value, key, None)
    return value


def _natural(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


async def next_edits(ls: LlmLanguageServer, params: Any, *, explicit: bool) -> dict[str, Any]:
    """The Session's next edit for a cursor, as Copilot's result shape."""
    uri = _field(params, "textDocument", "uri")
    version = _field(params, "textDocument", "version")
    line, character = _field(params, "position", "line"), _field(params, "position", "character")
    if not isinstance(uri, str) or not _natural(line) or not _natural(character):
        raise JsonRpcInvalidParams(
            message="expected {textDocument: {uri, version}, position: {line, character}}"
        )
    received = time.perf_counter()
    try:
        if not ls.settings_ready.is_set():  # set once the Session exists and has its settings
            await asyncio.wait_for(ls.settings_ready.wait(), timeout=6)
        session = ls.session
        result = await session.next_edit(
            uri, (line, character), version=version if _natural(version) else None, explicit=explicit
        )
    except ContentModified as exc:
        raise JsonRpcContentModified(str(exc)) from None
    except (DocumentNotOpen, ExcludedFile, ProviderError) as exc:
        # Automatic requests never pop errors up: the reason goes back in the answer and the log.
        log.info("no next edit: %s", exc)
        return {"edits": [], "reason": str(exc)}
    except Exception as exc:
        log.exception("next edit failed in %s at %d:%d", uri, line, character)
        return {"edits": [], "reason": f"next edit failed: {exc}"}
    total_ms = (time.perf_counter() - received) * 1000
    # Read by bench/next_edit.py from the log file: the server's own time, model wait excluded.
    log.debug(
        "next edit timing: %.3f ms total, %.3f ms waiting for the model",
        total_ms,
        result.model_seconds * 1000,
        extra=LOG_FILE_ONLY,
    )
    if uri not in session.store or session.store.get(uri).version != result.version:
        raise JsonRpcContentModified(f"{uri} changed while the next edit was computed")
    answer: dict[str, Any] = {
        "edits": [
            {
                "text": edit.edit.new_text,
                "range": convert.lsp_range((edit.edit.start, edit.edit.end)),
                "textDocument": {"uri": edit.uri, "version": edit.version},
                "command": {"title": "Accept next edit", "command": ACCEPT_NEXT_EDIT, "arguments": [edit.id]},
                "id": edit.id,
            }
            for edit in result.edits
        ]
    }
    if result.reason:
        answer["reason"] = result.reason
    return answer


@server.feature(COPILOT_INLINE_EDIT)
async def on_copilot_inline_edit(ls: LlmLanguageServer, params: Any) -> dict[str, Any]:
    """Copilot's next-edit request: automatic (an editor asks after a typing pause)."""
    return await next_edits(ls, params, explicit=False)


@server.feature(NEXT_EDIT)
async def on_next_edit(ls: LlmLanguageServer, params: Any) -> dict[str, Any]:
    """The same request under our own name; ``context.triggerKind`` 2 makes it automatic."""
    kind = _field(params, "context", "triggerKind")
    return await next_edits(ls, params, explicit=kind in (None, INVOKED))


def _edit_id(value: Any) -> str | None:
    """The id of a shown item (``command.arguments[0]``, or its ``id``)."""
    arguments = _field(value, "command", "arguments")
    if isinstance(arguments, list) and arguments and isinstance(arguments[0], str):
        return arguments[0]
    found = _field(value, "id")
    return found if isinstance(found, str) else None


@server.feature(DID_SHOW_INLINE_EDIT)
def on_did_show_inline_edit(ls: LlmLanguageServer, params: Any) -> None:
    """An editor showed a next edit (counted locally; nothing leaves the machine)."""
    edit_id = _edit_id(_field(params, "item"))
    if edit_id is None or not ls.session.next_edit_shown(edit_id):
        log.debug("didShowInlineEdit for an unknown edit: %r", params)


@server.command(ACCEPT_NEXT_EDIT)
def on_accept_next_edit(ls: LlmLanguageServer, *args: Any) -> bool:
    """The user accepted a next edit: its change is marked in the edit history, the rest may follow."""
    edit_id = args[0] if args and isinstance(args[0], str) else None
    accepted = edit_id is not None and ls.session.accept_next_edit(edit_id)
    if not accepted:
        log.debug("acceptNextEdit for an unknown edit: %r", args)
    return accepted
