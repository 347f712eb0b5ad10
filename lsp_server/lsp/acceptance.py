"""LSP handlers for what the user does with suggestions, as Copilot's language server takes them.

- ``textDocument/didShowCompletion {item}``: the editor shows ``item`` (as it received it);
- ``textDocument/didPartiallyAcceptCompletion {item, acceptedLength}``: the user accepted the first
  ``acceptedLength`` UTF-16 code units of the item's ``insertText`` (whatever position encoding
  was negotiated: that is how Copilot's clients count);
- ``workspace/executeCommand llm-lsp.acceptCompletion [{"id", "uri", "length"}]``: the item's own
  command, run when it is accepted in full (``{uri, length}`` without an id, from older clients,
  still counts);
- ``workspace/executeCommand llm-lsp.showStats [{"format": "text"}?]``: the figures, as
  ``llm-lsp stats --json`` prints them, or (``format: text``) as its table.

Each item gets its id here when it is sent (``offer_ids``). Unknown or stale items are ignored
quietly: these are notifications, and even the command answers ``null`` rather than an error. The
Session's ``Acceptance`` does the counting; nothing here leaves the machine.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from lsp_server.lsp.server import LlmLanguageServer, server

log = logging.getLogger(__name__)

ACCEPT_COMMAND = "llm-lsp.acceptCompletion"
SHOW_STATS_COMMAND = "llm-lsp.showStats"
DID_SHOW = "textDocument/didShowCompletion"
DID_PARTIALLY_ACCEPT = "textDocument/didPartiallyAcceptCompletion"


def offer_ids(ls: LlmLanguageServer, result: Any, texts: list[str], received: float) -> list[str]:
    """Ids for the items of an inline result about to be sent (``received``: the request's arrival)."""
    session = ls.session
    snapshot = session.store.get(result.uri)
    return session.acceptance.offer(
        texts,
        uri=result.uri,
        offset=result.offset,
        document=snapshot.text,
        language=snapshot.language_id,
        model="offline" if result.fallback else (session.assignment("completion").model or "offline"),
        received=received,
    )


def new_request(ls: LlmLanguageServer, uri: str, offset: int) -> None:
    """A request arrived for ``uri``: shown suggestions its cursor does not continue are dismissed."""
    try:
        ls.session.acceptance.request(uri, offset, ls.session.store.get(uri).text)
    except Exception:  # counting must never cost the suggestion
        log.exception("acceptance bookkeeping failed for %s", uri)


def _field(params: Any, name: str) -> Any:
    return params.get(name) if isinstance(params, dict) else getattr(params, name, None)


@server.feature(DID_SHOW)
def on_did_show(ls: LlmLanguageServer, params: Any) -> None:
    """The editor shows an item."""
    try:
        acceptance = ls.session.acceptance
        acceptance.shown(acceptance.find(_field(params, "item")))
    except Exception:  # a hint gone wrong is logged, never shown to the user
        log.exception("didShowCompletion failed")


@server.feature(DID_PARTIALLY_ACCEPT)
def on_did_partially_accept(ls: LlmLanguageServer, params: Any) -> None:
    """The user accepted part of an item (a word, a line)."""
    try:
        acceptance = ls.session.acceptance
        item_id = acceptance.find(_field(params, "item"))
        acceptance.partially_accepted(item_id, _field(params, "acceptedLength"))
    except Exception:
        log.exception("didPartiallyAcceptCompletion failed")


def accept_command(offer_id: str, uri: str, text: str) -> dict[str, Any]:
    """The argument of an item's accept command: its id, plus what clients before ids sent."""
    return {"id": offer_id, "uri": uri, "length": len(text)}


@server.command(ACCEPT_COMMAND)
def on_accept(ls: LlmLanguageServer, *args: Any) -> None:
    """An item was accepted in full (local figures only; nothing leaves the machine)."""
    argument = args[0] if args else None
    acceptance = ls.session.acceptance
    try:
        if isinstance(argument, str):  # a bare id, as Copilot's commands carry it
            acceptance.accepted(argument)
        elif isinstance(argument, dict) and isinstance(argument.get("id"), str):
            acceptance.accepted(argument["id"])
        elif isinstance(argument, dict) and isinstance(argument.get("uri"), str):
            acceptance.accepted_unnamed(argument["uri"], argument.get("length"))
    except Exception:  # counting must never answer the editor with an error
        log.exception("acceptCompletion failed")


@server.command(SHOW_STATS_COMMAND)
async def on_show_stats(ls: LlmLanguageServer, *args: Any) -> Any:
    """The figures (this machine, every llm-lsp process): JSON, or a table with ``{"format": "text"}``."""
    from lsp_server.app.stats import render

    stats = ls.session.stats
    await stats.aflush()  # what this process counted, merged with what the others wrote
    figures = stats.figures()
    argument = args[0] if args else None
    if isinstance(argument, dict) and argument.get("format") == "text":
        return render(figures, str(stats.path) if stats.path else "")
    return figures


async def flush_at_shutdown(ls: LlmLanguageServer) -> None:
    """Write the counts still pending (the ``shutdown`` request)."""
    try:
        await asyncio.wait_for(ls.session.stats.aflush(), timeout=2)
    except Exception:
        log.debug("writing the stats at shutdown failed", exc_info=True)
