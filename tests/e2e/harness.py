"""Start the real ``llm-lsp`` process over stdio with a pytest-lsp client, wired for our features.

The client declares inline completion (pytest-lsp's profiles do not), answers
``workspace/applyEdit`` (pytest-lsp's client has no handler) and records ``llmLsp/status``.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

SERVER = [sys.executable, "-m", "lsp_server"]


def capabilities(
    *, inline: bool = True, encodings: list[str] | None = None, annotations: bool = False
) -> types.ClientCapabilities:
    """Client capabilities like a modern editor's (VS Code), optionally without inline completion.

    ``annotations`` declares ``changeAnnotationSupport`` (the client asks before applying an edit
    annotated ``needsConfirmation``), as VS Code does.
    """
    return types.ClientCapabilities(
        general=types.GeneralClientCapabilities(position_encodings=encodings or ["utf-16"]),
        workspace=types.WorkspaceClientCapabilities(
            configuration=True,
            apply_edit=True,
            workspace_edit=types.WorkspaceEditClientCapabilities(
                document_changes=True,
                change_annotation_support=(
                    types.ChangeAnnotationsSupportOptions(groups_on_label=True) if annotations else None
                ),
            ),
            did_change_configuration=types.DidChangeConfigurationClientCapabilities(
                dynamic_registration=False
            ),
        ),
        window=types.WindowClientCapabilities(work_done_progress=True),
        text_document=types.TextDocumentClientCapabilities(
            synchronization=types.TextDocumentSyncClientCapabilities(),
            completion=types.CompletionClientCapabilities(),
            inline_completion=types.InlineCompletionClientCapabilities() if inline else None,
            code_action=types.CodeActionClientCapabilities(
                code_action_literal_support=types.ClientCodeActionLiteralOptions(
                    code_action_kind=types.ClientCodeActionKindOptions(
                        value_set=[types.CodeActionKind.QuickFix, types.CodeActionKind.RefactorRewrite]
                    )
                ),
                resolve_support=types.ClientCodeActionResolveOptions(properties=["edit"]),
                data_support=True,
            ),
        ),
    )


def server_env(base_url: str | None = None, model: str | None = None, **extra: str) -> dict[str, str]:
    """A clean environment for the server: no inherited model settings, empty user config and state dirs.

    The state dir is where the server keeps the user's acceptance figures: a test never writes the
    real ``~/.local/state``.
    """
    env = {
        k: v for k, v in os.environ.items() if k not in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "LLM_LSP_MODEL")
    }
    env["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="llm-lsp-cfg-")
    env["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="llm-lsp-state-")
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    if base_url:
        env["OPENAI_BASE_URL"] = base_url
    if model:
        env["LLM_LSP_MODEL"] = model
    env.update(extra)
    return env


@contextlib.asynccontextmanager
async def running_server(
    env: Mapping[str, str],
    *,
    inline: bool = True,
    encodings: list[str] | None = None,
    initialization_options: Any = None,
    configuration: Any = None,
    root: Path | None = None,
    server_args: list[str] | None = None,
    annotations: bool = False,
) -> AsyncIterator[LanguageClient]:
    """An initialized client talking to a fresh server process; shut down cleanly on exit."""
    command = SERVER + list(server_args or [])
    client = await ClientServerConfig(server_command=command, server_env=dict(env)).start()
    client.statuses = []  # type: ignore[attr-defined]
    client.applied_edits = []  # type: ignore[attr-defined]
    client.set_configuration(configuration or {}, section="llmLsp")

    @client.feature("llmLsp/status")
    def on_status(params: Any) -> None:
        client.statuses.append(params)  # type: ignore[attr-defined]

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    def on_apply_edit(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        client.applied_edits.append(params)  # type: ignore[attr-defined]
        return types.ApplyWorkspaceEditResult(applied=True)

    root_uri = root.as_uri() if root else None
    client.initialize_result = await client.initialize_session(  # type: ignore[attr-defined]
        types.InitializeParams(
            capabilities=capabilities(inline=inline, encodings=encodings, annotations=annotations),
            root_uri=root_uri,
            workspace_folders=[types.WorkspaceFolder(uri=root_uri, name="root")] if root_uri else None,
            initialization_options=initialization_options,
        )
    )
    try:
        yield client
    finally:
        with contextlib.suppress(Exception):
            await client.shutdown_session()
        await client.stop()


def open_document(client: LanguageClient, uri: str, text: str, language_id: str = "python", version: int = 1):
    """Send ``didOpen``."""
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id=language_id, version=version, text=text)
        )
    )


def insert(client: LanguageClient, uri: str, version: int, line: int, character: int, text: str) -> None:
    """Send an incremental ``didChange`` inserting ``text`` at a position."""
    position = types.Position(line=line, character=character)
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[
                types.TextDocumentContentChangePartial(
                    range=types.Range(start=position, end=position), text=text
                )
            ],
        )
    )


def inline_params(
    uri: str, line: int, character: int, *, explicit: bool = True
) -> types.InlineCompletionParams:
    """Parameters of an inline completion request."""
    kind = (
        types.InlineCompletionTriggerKind.Invoked if explicit else types.InlineCompletionTriggerKind.Automatic
    )
    return types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=types.Position(line=line, character=character),
        context=types.InlineCompletionContext(trigger_kind=kind),
    )
