"""LSP handlers for code actions and the ``llm-lsp.*`` commands.

Listing is instant (no model call); resolve and the commands ask the Session, which refuses excluded
files and hands back edits tied to the version they were computed for. Typed errors are mapped to
JSON-RPC errors here, once, with one short message for the user.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcContentModified, JsonRpcException

from lsp_server.core.errors import ContentModified, DocumentNotOpen, LlmLspError, ProviderError
from lsp_server.lsp import convert
from lsp_server.lsp.server import LlmLanguageServer, server

log = logging.getLogger(__name__)

AI_COMMANDS = (
    "llm-lsp.fix",
    "llm-lsp.explain",
    "llm-lsp.document",
    "llm-lsp.tests",
    "llm-lsp.simplify",
    "llm-lsp.annotate",
    "llm-lsp.refactor",
)
REQUEST_FAILED = -32803  # LSP ErrorCodes.RequestFailed: the request was valid but could not be served


def rpc_error(ls: LlmLanguageServer, exc: Exception, what: str, show: bool) -> Exception:
    """The JSON-RPC error for a failed action (and one short message for the user when ``show``)."""
    if isinstance(exc, ContentModified):
        error: Exception = JsonRpcContentModified(str(exc))
        kind = types.MessageType.Warning
    elif isinstance(exc, LlmLspError):
        error = JsonRpcException(message=f"llm-lsp {what}: {exc}", code=REQUEST_FAILED)
        kind = types.MessageType.Error if isinstance(exc, ProviderError) else types.MessageType.Warning
    else:
        log.exception("%s failed", what)
        error = JsonRpcException(message=f"llm-lsp {what} failed: {exc}", code=REQUEST_FAILED)
        kind = types.MessageType.Error
    log.info("%s: %s", what, exc)
    if show:
        ls.show(kind, f"llm-lsp {what}: {exc}")
    return error


@server.feature(
    types.TEXT_DOCUMENT_CODE_ACTION,
    types.CodeActionOptions(
        code_action_kinds=[types.CodeActionKind.QuickFix, types.CodeActionKind.RefactorRewrite],
        resolve_provider=True,
    ),
)
async def on_code_action(
    ls: LlmLanguageServer, params: types.CodeActionParams
) -> list[types.CodeAction] | None:
    """List the AI actions for a range: no model call, so it is instant."""
    from lsp_server.app import actions

    session = await ls.loaded_session()  # right after start-up, its modules may still be loading
    started = time.perf_counter()
    uri = params.text_document.uri
    if session.uri_excluded(uri):
        return None  # no AI features inside a file the privacy rules exclude
    try:
        snapshot = session.store.get(uri)
    except DocumentNotOpen:
        return None
    lsp_diagnostics = {id(d): d for d in params.context.diagnostics}
    plain = {id(d): convert.plain_diagnostic(d) for d in params.context.diagnostics}
    by_plain = {plain[key]: lsp_diagnostics[key] for key in plain}
    offers = actions.list_actions(
        snapshot,
        convert.plain_range(params.range),
        list(plain.values()),
        custom=session.settings.actions.custom,
        only=[str(kind) for kind in params.context.only] if params.context.only else None,
    )
    listed = []
    for offer in offers:
        action = types.CodeAction(
            title=offer.title,
            kind=offer.kind,
            diagnostics=[by_plain[d] for d in offer.diagnostics if d in by_plain] or None,
            data=offer.data,
        )
        if offer.command is not None:
            action.command = types.Command(title=offer.title, command=offer.command, arguments=[offer.data])
        listed.append(action)
    log.debug("code actions: %d listed in %.2f ms", len(listed), (time.perf_counter() - started) * 1000)
    return listed


def check_current(ls: LlmLanguageServer, uri: str, version: int | None) -> None:
    """``ContentModified`` when ``uri`` moved past the version an edit was computed for."""
    store = ls.session.store
    current = store.get(uri).version if uri in store else None
    if current != version:
        raise ContentModified(f"{uri} changed while the model was answering; nothing applied")


@server.feature(types.CODE_ACTION_RESOLVE)
async def on_code_action_resolve(ls: LlmLanguageServer, action: types.CodeAction) -> types.CodeAction:
    """Compute the chosen action's edit (asks the model); refused if the document moved on."""
    if action.edit is not None or action.command is not None:
        return action
    try:
        proposed = await ls.session.resolve_action(action.data, client_confirms=ls.client_has_annotations)
        check_current(ls, proposed.uri, proposed.version)
    except Exception as exc:
        raise rpc_error(ls, exc, action.title, show=True) from None
    if not proposed.edits:
        ls.show(types.MessageType.Info, f"llm-lsp: no change proposed ({action.title})")
    action.edit = convert.workspace_edit([proposed])
    return action


async def with_progress(ls: LlmLanguageServer, title: str, work: Any) -> Any:
    """Run ``work(report)`` under a cancellable ``$/progress``; cancelling stops the model stream."""
    token = f"llm-lsp-{uuid.uuid4().hex}"
    try:
        await asyncio.wait_for(ls.work_done_progress.create_async(token), timeout=5)
    except Exception:  # the client does not do progress: work without it
        return await work(lambda message: None)
    ls.work_done_progress.begin(token, types.WorkDoneProgressBegin(title=title, cancellable=True))
    task = asyncio.current_task()
    cancel = ls.work_done_progress.tokens.get(token)
    if cancel is not None and task is not None:
        cancel.add_done_callback(lambda future: task.cancel() if future.cancelled() else None)

    def report(message: str) -> None:
        ls.work_done_progress.report(token, types.WorkDoneProgressReport(message=message))

    outcome = "cancelled"
    try:
        result = await work(report)
        outcome = "done"
        return result
    except Exception:
        outcome = "failed"
        raise
    finally:
        ls.work_done_progress.end(token, types.WorkDoneProgressEnd(message=outcome))


async def run_ai_command(ls: LlmLanguageServer, name: str, args: Any) -> str:
    """Run an ``llm-lsp.*`` command: compute, apply if still current, report one short message."""
    action = name.removeprefix("llm-lsp.")
    try:
        result = await with_progress(
            ls,
            f"llm-lsp: {action}",
            lambda report: ls.session.run_command(
                name, list(args), report, client_confirms=ls.client_has_annotations
            ),
        )
        if result.edits:
            for edit in result.edits:
                if edit.version is not None:  # a file the command creates has no version
                    check_current(ls, edit.uri, edit.version)
            # An editor that never answers must not leave the command unanswered.
            applied = await asyncio.wait_for(
                ls.workspace_apply_edit_async(
                    types.ApplyWorkspaceEditParams(
                        edit=convert.workspace_edit(result.edits), label=f"llm-lsp {action}"
                    )
                ),
                timeout=30,
            )
            if not applied.applied:
                reason = applied.failure_reason or "the editor refused it"
                raise ContentModified(f"the edit was not applied: {reason}")
    except Exception as exc:
        raise rpc_error(ls, exc, action, show=True) from None
    if result.show is not None:
        await show_document(ls, result.show, result.text)
    ls.show(types.MessageType.Info, result.message)
    return result.message


async def show_document(ls: LlmLanguageServer, uri: str, text: str | None) -> None:
    """Open a document in the editor, or show ``text`` in a message where that is not supported."""
    window = ls.client_capabilities.window if ls.client_capabilities else None
    if window is not None and window.show_document is not None and window.show_document.support:
        try:
            shown = await asyncio.wait_for(
                ls.window_show_document_async(types.ShowDocumentParams(uri=uri, take_focus=True)),
                timeout=10,
            )
            if shown.success:
                return
        except Exception as exc:
            log.info("window/showDocument failed: %s", exc)
    if text:
        ls.show(types.MessageType.Info, text)


def _register_ai_command(name: str) -> None:
    async def handler(ls: LlmLanguageServer, *args: Any) -> str:
        return await run_ai_command(ls, name, args)

    handler.__name__ = "on_" + name.replace("llm-lsp.", "").replace("-", "_")
    server.command(name)(handler)


for _name in AI_COMMANDS:
    _register_ai_command(_name)
