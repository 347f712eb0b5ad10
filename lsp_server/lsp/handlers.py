"""LSP handlers for the lifecycle, settings, document sync, inline completion and the completion list.

Every item sent carries an accept command naming its id (``lsp/acceptance.py`` takes the events).

Each handler translates LSP params into plain values, calls the Session, and translates the result
back; typed errors become JSON-RPC errors here, once. No domain logic: what to suggest and what is
private are decided by the Session and below.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
from lsprotocol import types
from pygls.exceptions import JsonRpcContentModified

from lsp_server.core import settings as config
from lsp_server.core.errors import DocumentNotOpen, ExcludedFile, ProviderError
from lsp_server.core.layout import GITIGNORE, LLMLSPIGNORE
from lsp_server.core.uris import uri_to_path
from lsp_server.lsp import acceptance, convert
from lsp_server.lsp.server import LOG_FILE_ONLY, LlmLanguageServer, server

if TYPE_CHECKING:
    from lsp_server.app.session import Session

log = logging.getLogger(__name__)

IGNORE_FILES = (GITIGNORE, LLMLSPIGNORE)


@server.feature(types.INITIALIZE)
def on_initialize(ls: LlmLanguageServer, params: types.InitializeParams) -> None:
    """Record what the client can do and where settings come from; nothing slow happens here."""
    capabilities = params.capabilities
    document = capabilities.text_document
    ls.client_has_inline = bool(document and document.inline_completion)
    item = document.completion.completion_item if document and document.completion else None
    ls.client_markdown = bool(item and types.MarkupKind.Markdown in (item.documentation_format or []))
    workspace = capabilities.workspace
    ls.client_has_configuration = bool(workspace and workspace.configuration)
    edit = workspace.workspace_edit if workspace else None
    ls.client_has_annotations = bool(edit and edit.change_annotation_support is not None)
    window = capabilities.window
    ls.client_has_progress = bool(window and window.work_done_progress)
    ls.roots = workspace_roots(params)
    user_file, ls.problems = config.load_user_file(config.user_file_path())
    ls.sources = attrs.evolve(
        ls.sources, user_file=user_file, initialization_options=params.initialization_options
    )


@server.feature(types.INITIALIZED)
async def on_initialized(ls: LlmLanguageServer, params: types.InitializedParams) -> None:
    """Build the Session, pull workspace settings, report problems and the status, index."""
    session = await ls.load_session()  # off the loop; document notifications meanwhile wait in order
    try:
        if ls.client_has_configuration:
            await pull_configuration(ls)
    finally:
        ls.settings_ready.set()
    ls.show_problems()
    session.provider()
    ls.keep(asyncio.ensure_future(session.load_workspace(answering=lambda: bool(ls.inline_tasks))))
    ls.keep(asyncio.ensure_future(session.stats.aflush()))  # the figures so far, for the status summary


def workspace_roots(params: types.InitializeParams) -> list[Path]:
    """The folders the client opened (workspace folders, else rootUri, else rootPath)."""
    uris = [folder.uri for folder in params.workspace_folders or []]
    if not uris and params.root_uri:
        uris = [params.root_uri]
    paths = [uri_to_path(uri) for uri in uris]
    if not uris and params.root_path:
        paths = [params.root_path]
    return [Path(p) for p in paths if p]


async def pull_configuration(ls: LlmLanguageServer) -> None:
    """Ask the client for section ``llmLsp`` and apply it (a failure keeps the current settings)."""
    try:
        result = await asyncio.wait_for(
            ls.workspace_configuration_async(
                types.ConfigurationParams(items=[types.ConfigurationItem(section=config.SECTION)])
            ),
            timeout=5,
        )
    except Exception as exc:
        log.warning("workspace/configuration failed: %s", exc)
        return
    section = result[0] if result else None
    await apply_workspace_settings(ls, section)


async def apply_workspace_settings(ls: LlmLanguageServer, section: Any) -> None:
    """Apply a workspace's settings; a changed ``privacy.exclude`` rebuilds the gate before going on."""
    ls.apply_settings(attrs.evolve(ls.sources, workspace_configuration=section))
    if ls.session.gate_is_stale():
        await ls.session.reload_gate()


@server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
async def on_configuration_changed(ls: LlmLanguageServer, params: types.DidChangeConfigurationParams) -> None:
    """Hot-reload: re-pull (or take the pushed settings) and apply; problems shown once."""
    if ls.client_has_configuration:
        await pull_configuration(ls)
    else:
        pushed = params.settings if isinstance(params.settings, dict) else None
        await apply_workspace_settings(ls, pushed)
    ls.show_problems()
    ls.session.provider()


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
def on_open(ls: LlmLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
    """Track a newly opened document.

    Not indexed here: workspace files come from the background walk (same text as on disk), and
    edited text is picked up once typing pauses (``schedule_refresh``) or on save.
    """
    doc = params.text_document
    ls.when_session(lambda session: session.open_document(doc.uri, doc.language_id, doc.version, doc.text))


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
def on_change(ls: LlmLanguageServer, params: types.DidChangeTextDocumentParams) -> None:
    """Apply edits to the store (incremental: only the changed lines and the tree are touched)."""
    doc = params.text_document
    changes = [convert.change(c) for c in params.content_changes]

    def change(session: Session) -> None:
        try:
            session.change_document(doc.uri, doc.version, changes)
        except DocumentNotOpen:
            log.warning("didChange for a document that is not open: %s", doc.uri)
            return
        ls.schedule_refresh(doc.uri)

    ls.when_session(change)


@server.feature(types.TEXT_DOCUMENT_DID_SAVE)
def on_save(ls: LlmLanguageServer, params: types.DidSaveTextDocumentParams) -> None:
    """Re-index the saved document (the index and the offline engine see the new text)."""
    uri = params.text_document.uri
    ls.when_session(lambda session: session.document_saved(uri))


@server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
def on_watched_files(ls: LlmLanguageServer, params: types.DidChangeWatchedFilesParams) -> None:
    """Keep the index and the privacy rules in step with files changed outside the editor."""

    def changed(session: Session) -> None:
        for event in params.changes:
            path = uri_to_path(event.uri)
            if path is None:
                continue
            deleted = event.type == types.FileChangeType.Deleted
            if deleted or event.uri not in session.store:  # open documents: the editor's text counts
                session.file_changed(path, deleted)
            if Path(path).name in IGNORE_FILES and session.gate is not None:
                session.gate.invalidate()
                session.purge_excluded()

    ls.when_session(changed)


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def on_close(ls: LlmLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
    """Forget a closed document and cancel its pending suggestion."""
    uri = params.text_document.uri
    task = ls.inline_tasks.pop(uri, None)
    if task is not None:
        task.cancel()

    def close(session: Session) -> None:
        ls.cancel_refresh(uri)  # here: a change queued before the close may have scheduled one
        session.acceptance.closed(uri)
        session.close_document(uri)

    ls.when_session(close)


async def inline(ls: LlmLanguageServer, uri: str, position: types.Position, explicit: bool) -> Any:
    """The Session's suggestions for a cursor, latest-wins per document; ``None`` when nothing to show.

    Returns the result and the request's arrival (``time.monotonic``, for the time to show).
    """
    current = asyncio.current_task()
    previous = ls.inline_tasks.get(uri)
    if previous is not None and previous is not current and not previous.done():
        previous.cancel()  # latest wins: the older request answers -32800 and closes its stream
    if current is not None:
        ls.inline_tasks[uri] = current
    received = time.perf_counter()
    arrived = time.monotonic()
    try:
        if not ls.settings_ready.is_set():  # set once the Session exists and has its settings
            await asyncio.wait_for(ls.settings_ready.wait(), timeout=6)
        session = ls.session
        offset = session.store.get(uri).offset_at(position.line, position.character)
        acceptance.new_request(ls, uri, offset)
        result = await session.complete(uri, offset, explicit=explicit)
    except (DocumentNotOpen, ExcludedFile) as exc:
        log.info("no completion: %s", exc)
        return None
    except ProviderError as exc:
        # While typing, model failures are logged and shown in the status, never popped up.
        log.warning("completion failed: %s", exc)
        return None
    except Exception:
        # Crash isolation: a bug in context building or post-processing costs this one
        # suggestion (logged once, with where), never an error popup or the document sync.
        log.exception("inline completion failed in %s at %d:%d", uri, position.line, position.character)
        return None
    finally:
        if ls.inline_tasks.get(uri) is current:
            del ls.inline_tasks[uri]
    total_ms = (time.perf_counter() - received) * 1000
    # Read by bench/server.py from the log file: the server's own time, model wait excluded.
    log.debug(
        "inline timing: %.3f ms total, %.3f ms waiting for the model",
        total_ms,
        result.model_seconds * 1000,
        extra=LOG_FILE_ONLY,  # one line per keystroke would bury the editor's log panel
    )
    if uri not in session.store or session.store.get(uri).version != result.version:
        raise JsonRpcContentModified(f"{uri} changed while the suggestion was computed")
    return result, arrived


def cursor_range(ls: LlmLanguageServer, result: Any, replaces: int = 0) -> types.Range:
    """The range a suggestion replaces, in the negotiated encoding.

    From the (clamped) cursor up to ``replaces`` characters after it: the auto-closed closers the
    suggestion writes itself; empty for an insertion.
    """
    document = ls.session.store.get(result.uri)
    start = types.Position(*document.position_at(result.offset))
    end = types.Position(*document.position_at(result.offset + replaces)) if replaces else start
    return types.Range(start=start, end=end)


def item_commands(ls: LlmLanguageServer, answer: tuple[Any, float]) -> list[types.Command]:
    """The command each item of ``answer`` runs when accepted in full, naming the item's id."""
    result, arrived = answer
    texts = [item.text for item in result.items]
    ids = acceptance.offer_ids(ls, result, texts, arrived)
    return [
        types.Command(
            title="Accept suggestion",
            command=acceptance.ACCEPT_COMMAND,
            arguments=[acceptance.accept_command(offer_id, result.uri, text)],
        )
        for offer_id, text in zip(ids, texts, strict=True)
    ]


@server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
async def on_inline_completion(
    ls: LlmLanguageServer, params: types.InlineCompletionParams
) -> types.InlineCompletionList | None:
    """Ghost text at the cursor."""
    explicit = params.context.trigger_kind == types.InlineCompletionTriggerKind.Invoked
    answer = await inline(ls, params.text_document.uri, params.position, explicit)
    if answer is None:
        return types.InlineCompletionList(items=[])
    result = answer[0]
    return types.InlineCompletionList(
        items=[
            types.InlineCompletionItem(
                insert_text=item.text, range=cursor_range(ls, result, item.replaces), command=command
            )
            for item, command in zip(result.items, item_commands(ls, answer), strict=True)
        ]
    )


@server.feature(
    types.TEXT_DOCUMENT_COMPLETION,
    types.CompletionOptions(trigger_characters=None, resolve_provider=False),
)
async def on_completion(ls: LlmLanguageServer, params: types.CompletionParams) -> types.CompletionList:
    """The same suggestion as a completion item, for editors without ghost text."""
    if ls.client_has_inline:
        # The client shows ghost text from inlineCompletion; a popup item would duplicate it.
        return types.CompletionList(is_incomplete=False, items=[])
    explicit = bool(params.context and params.context.trigger_kind == types.CompletionTriggerKind.Invoked)
    answer = await inline(ls, params.text_document.uri, params.position, explicit)
    if answer is None:
        return types.CompletionList(is_incomplete=True, items=[])
    result = answer[0]
    items = []
    for rank, (item, command) in enumerate(zip(result.items, item_commands(ls, answer), strict=True)):
        suggestion, where = item.text, cursor_range(ls, result, item.replaces)
        first_line = suggestion.strip().splitlines()[0] if suggestion.strip() else suggestion
        items.append(
            types.CompletionItem(
                label=first_line[:80],
                kind=types.CompletionItemKind.Text,
                detail="llm-lsp suggestion",
                documentation=ls.documentation(suggestion),
                sort_text=f"0000{rank}",
                filter_text=first_line,
                insert_text_format=types.InsertTextFormat.PlainText,
                text_edit=types.TextEdit(range=where, new_text=suggestion),
                command=command,
            )
        )
    # Incomplete: the client asks again as the user types, so the item follows the cursor.
    return types.CompletionList(is_incomplete=True, items=items)


@server.feature(types.SHUTDOWN)
async def on_shutdown(ls: LlmLanguageServer, *args: Any) -> None:
    """Cancel in-flight work, write the acceptance figures and close model connections."""
    for task in list(ls.inline_tasks.values()):
        task.cancel()
    if ls._session is not None:
        await acceptance.flush_at_shutdown(ls)
        try:
            await asyncio.wait_for(ls.session.aclose(), timeout=2)
        except Exception:
            log.debug("provider close failed", exc_info=True)
