"""The LSP adapter: the only module that knows pygls and lsprotocol.

Owns the language server object, its state (document store, settings, provider, cache, debounce,
in-flight requests, status) and the translation between LSP messages and the domain: positions in
the negotiated encoding, typed errors -> JSON-RPC errors (mapped once, here), results -> LSP items.
Features (completion, ...) get plain arguments; nothing below this module sees an LSP object.

It must not hold domain logic: what to suggest, how to build prompts, what is private — those live
in the features and the engine.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from pathlib import Path
from typing import Any

import attrs
from lsprotocol import types
from pygls.exceptions import JsonRpcContentModified
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol, lsp_method
from pygls.uris import to_fs_path

from lsp_server import __version__, completion, config, context, privacy, text
from lsp_server.debounce import AdaptiveDebounce
from lsp_server.documents import Change, DocumentStore
from lsp_server.errors import DocumentNotOpen, ExcludedFile, ProviderError
from lsp_server.index import WorkspaceIndex, iter_workspace_files, read_source
from lsp_server.prompts import FimPrompt
from lsp_server.providers.base import Provider
from lsp_server.providers.choice import choose_provider, model_signature
from lsp_server.suggestion_cache import SuggestionCache

log = logging.getLogger(__name__)

STATUS_NOTIFICATION = "llmLsp/status"
ACCEPT_COMMAND = "llm-lsp.acceptCompletion"


class LlmLspProtocol(LanguageServerProtocol):
    """pygls's protocol with two changes: our own document store, and our encoding choice.

    pygls keeps its own copy of every document and re-splits the whole text on each ``didChange``
    (O(file size) per keystroke). Our store (documents.py) is the one source of truth, so the
    builtin open/change/close handlers here skip pygls's copy and only call our handlers.
    """

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams):  # noqa: D102
        result = yield from super().lsp_initialize(params)
        general = params.capabilities.general
        encoding = text.negotiate(general.position_encodings if general else None)
        result.capabilities.position_encoding = encoding.value
        self._server.store.encoding = encoding  # type: ignore[attr-defined]
        return result

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params: types.DidOpenTextDocumentParams):  # noqa: D102
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_OPEN)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams):  # noqa: D102
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CHANGE)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params: types.DidCloseTextDocumentParams):  # noqa: D102
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CLOSE)) is not None:
            yield handler, (params,), None


def _lenient_converter():
    """lsprotocol's converter, tolerant of the inline-completion trigger numbering of older clients.

    vscode-languageclient 9 sends triggerKind 0 (its old "Invoked"); lsprotocol rejects it, and pygls
    then never answers the request. 0 is read as Invoked, any other unknown value as Automatic.
    """
    from lsprotocol.converters import get_converter

    converter = get_converter()

    def trigger_kind(value: Any, _type: Any) -> types.InlineCompletionTriggerKind:
        try:
            return types.InlineCompletionTriggerKind(value)
        except ValueError:
            if value == 0:
                return types.InlineCompletionTriggerKind.Invoked
            return types.InlineCompletionTriggerKind.Automatic

    converter.register_structure_hook(types.InlineCompletionTriggerKind, trigger_kind)
    return converter


@attrs.define
class Status:
    """What the client's status item shows: state (idle/busy/error/offline), model, last message."""

    state: str = "idle"
    model: str = ""
    message: str = ""


class LlmLanguageServer(LanguageServer):
    """The llm-lsp server: state lives here, in the document store and in the index."""

    def __init__(self) -> None:
        super().__init__(
            "llm-lsp",
            __version__,
            protocol_cls=LlmLspProtocol,
            converter_factory=_lenient_converter,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
        )
        self.store = DocumentStore()
        self.sources = config.Sources(environ=dict(os.environ))
        self.settings, self.problems = config.resolve(self.sources)
        self.offline: Provider | None = None
        self.provider: Provider | None = None
        self._provider_key: tuple | None = None
        self.cache = SuggestionCache()
        self.debounce = AdaptiveDebounce()
        self.inline_tasks: dict[str, asyncio.Task] = {}
        self.background: set[asyncio.Task] = set()
        self.status = Status()
        self.accepted = 0
        self.client_has_inline = False
        self.client_has_configuration = False
        self.client_has_progress = False
        # Set once workspace/configuration has been pulled after `initialized` (or failed): requests
        # that arrive earlier wait for it, so they never run with settings the user did not choose.
        self.settings_ready = asyncio.Event()
        self.client_markdown = False
        self.roots: list[Path] = []
        self.gate: privacy.PrivacyGate | None = None
        self.index = WorkspaceIndex()
        # (uri, line) of the latest edits, newest last: other files' recent edits are prompt context.
        self.recent_edits: deque[tuple[str, int]] = deque(maxlen=16)
        self.recent_documents: deque[str] = deque(maxlen=8)

    # settings -----------------------------------------------------------------------------------

    def apply_settings(self, sources: config.Sources) -> list[config.Problem]:
        """Resolve ``sources`` and switch to the result; returns the problems to show the user."""
        self.sources = sources
        self.settings, self.problems = config.resolve(sources)
        logging.getLogger("lsp_server").setLevel(self.settings.get("logLevel").upper())
        self.cache.clear()
        return self.problems

    def current_provider(self) -> Provider:
        """The provider for the current settings, rebuilt only when model settings changed."""
        key = model_signature(self.settings)
        if self.provider is None or key != self._provider_key:
            old = self.provider
            self.provider = choose_provider(self.settings, self.offline_provider())
            self._provider_key = key
            if old is not None and old is not self.provider and old is not self.offline:
                self.keep(asyncio.ensure_future(old.aclose()))
            warm_up = getattr(self.provider, "warm_up", None)
            if warm_up is not None:  # import the SDK and connect off the first keystroke's deadline
                self.keep(asyncio.ensure_future(warm_up()))
            self.set_status("offline" if self.provider.is_offline else "idle", self.provider.description, "")
        return self.provider

    def offline_provider(self) -> Provider:
        """The embedded offline engine (created on first use)."""
        if self.offline is None:
            from lsp_server.providers.offline import OfflineProvider

            self.offline = OfflineProvider()
        return self.offline

    # status and background work -----------------------------------------------------------------

    def set_status(self, state: str, model: str | None = None, message: str | None = None) -> None:
        """Update the status and tell the client (a custom notification clients may show)."""
        new = Status(state, self.status.model if model is None else model, message or "")
        if new == self.status:
            return
        self.status = new
        try:
            self.protocol.notify(STATUS_NOTIFICATION, attrs.asdict(new))
        except Exception:  # no transport yet (before initialize) or the client is gone
            log.debug("status not sent", exc_info=True)

    def keep(self, task: asyncio.Future) -> asyncio.Future:
        """Keep a background task referenced until it ends, and log its failure once."""
        self.background.add(task)

        def done(finished: asyncio.Future) -> None:
            self.background.discard(finished)
            if not finished.cancelled() and finished.exception() is not None:
                log.error("background task failed: %s", finished.exception())

        task.add_done_callback(done)
        return task

    def show_problems(self, problems: list[config.Problem]) -> None:
        """One readable message for settings that could not be applied (the rest still applies)."""
        if not problems:
            return
        lines = "; ".join(str(p) for p in problems)
        log.warning("settings: %s", lines)
        self.window_show_message(
            types.ShowMessageParams(type=types.MessageType.Warning, message=f"llm-lsp settings: {lines}")
        )

    # completion ---------------------------------------------------------------------------------

    def pipeline(self) -> completion.Pipeline:
        """The inline pipeline wired to this server's state."""
        return completion.Pipeline(
            provider=self.current_provider(),
            settings=self.settings,
            cache=self.cache,
            debounce=self.debounce,
            build_prompt=self.build_prompt,
            is_excluded=self.uri_excluded,
        )

    def build_prompt(self, snapshot, offset: int) -> FimPrompt:
        """The prompt for a cursor: window, scopes, cross-file definitions, recent edits, similar code.

        Every piece passes the privacy gate: excluded files never contribute, secrets are redacted
        and invisible characters stripped before anything is put into the prompt.
        """
        path = uri_to_path(snapshot.uri)
        filename = path or ""
        built = context.build_context(
            text=snapshot.text,
            offset=offset,
            path=path,
            language_id=snapshot.language_id,
            tree=snapshot.tree,
            index=self.index if self.settings.get("index.enable") else None,
            budget_chars=self.settings.get("completion.maxPromptChars"),
            recent_edits=self.recent_edit_snippets(snapshot.uri),
            open_files=self.open_files(snapshot.uri),
            sanitize=self.sanitize,
            is_excluded=self.path_excluded,
        )
        prompt = built.prompt
        if self.settings.get("privacy.redactSecrets"):
            prefix, suffix, _ = privacy.redact_fim(prompt.prefix, prompt.suffix, filename)
            prompt = attrs.evolve(prompt, prefix=prefix, suffix=suffix)
        if self.settings.get("logPrompts"):
            shown = privacy.scrub_for_log(prompt.context + prompt.prefix + "<CURSOR>" + prompt.suffix, True)
            log.debug("prompt for %s:\n%s", filename, shown)
        return prompt

    def sanitize(self, text: str) -> str:
        """Prompt text as it may leave the machine: no invisible characters, no secrets."""
        text = privacy.strip_invisible(text)
        if self.settings.get("privacy.redactSecrets"):
            text = privacy.redact(text).text
        return text

    def path_excluded(self, path: str) -> bool:
        """True when the privacy gate (or, before it has loaded, the denylist) excludes ``path``."""
        if self.gate is not None:
            return self.gate.is_excluded(path)
        return privacy.denylist_reason(path) is not None

    def uri_excluded(self, uri: str) -> bool:
        """``path_excluded`` for a document uri; non-file documents are judged by their name."""
        return self.path_excluded(uri_to_path(uri) or uri)

    def open_files(self, current: str) -> list[tuple[str, str]]:
        """Recently used open documents other than ``current``, for similar-snippet search."""
        files = []
        for uri in reversed(self.recent_documents):
            if uri != current and uri in self.store and not self.uri_excluded(uri):
                files.append((uri_to_path(uri) or uri, self.store.get(uri).text))
        return files[:4]

    def recent_edit_snippets(self, current: str) -> list[context.Snippet]:
        """Lines around the latest edits in other open documents, newest first."""
        snippets: list[context.Snippet] = []
        seen: set[tuple[str, int]] = set()
        for uri, line in reversed(self.recent_edits):
            if uri == current or uri not in self.store or (uri, line // 10) in seen:
                continue
            if self.uri_excluded(uri):
                continue
            seen.add((uri, line // 10))
            snapshot = self.store.get(uri)
            first, last = max(0, line - 5), min(snapshot.line_count, line + 6)
            body = "".join(snapshot.line_text(n) for n in range(first, last))
            snippets.append(context.Snippet(path=uri_to_path(uri) or uri, text=body, line=first))
            if len(snippets) >= 3:
                break
        return snippets

    # workspace: privacy gate, index, offline engine ----------------------------------------------

    async def load_workspace(self) -> None:
        """Load the privacy gate, then index the workspace in the background with ``$/progress``.

        Runs on the event loop in short slices so keystrokes and requests interleave with it (the
        index is never mutated from another thread); one walk feeds the index and the offline engine.
        """
        extra = list(self.settings.get("privacy.exclude"))
        self.gate = await asyncio.to_thread(privacy.PrivacyGate.load, self.roots, extra)
        self.index = WorkspaceIndex(
            is_excluded=self.gate.is_excluded,
            max_files=self.settings.get("index.maxFiles"),
            max_file_bytes=self.settings.get("index.maxFileBytes"),
        )
        for uri in self.store.uris():
            self.refresh_document(uri)
        await asyncio.to_thread(privacy.redact, "warm-up")  # loads detect-secrets off the loop
        if not self.settings.get("index.enable") or not self.roots:
            return
        offline_model = getattr(self.offline_provider(), "model", None)
        token = await self.begin_progress("llm-lsp: indexing workspace")
        started = time.monotonic()
        count = 0
        files = iter_workspace_files(
            self.roots,
            self.gate.is_excluded,
            max_file_bytes=self.settings.get("index.maxFileBytes"),
            max_files=self.settings.get("index.maxFiles"),
        )
        slice_started = time.monotonic()
        try:
            for path in files:
                self.add_workspace_file(path, offline_model)
                count += 1
                # Yield to the event loop every few milliseconds: keystrokes and requests go first.
                if time.monotonic() - slice_started > 0.008:
                    if token is not None:
                        self.report_progress(token, f"{count} files")
                    await asyncio.sleep(0)
                    slice_started = time.monotonic()
        finally:
            if token is not None:
                self.end_progress(token, f"{count} files indexed")
        log.info("indexed %d files in %.2f s", count, time.monotonic() - started)

    def add_workspace_file(self, path: Path, offline_model: Any) -> None:
        """Index one workspace file (and teach it to the offline engine); unreadable files are skipped."""
        if str(path) in self.open_paths():
            return  # open documents are indexed from the editor's text, which may be newer
        source = read_source(path, self.settings.get("index.maxFileBytes"))
        if source is None:
            return
        self.index.add_file(str(path), source)
        if offline_model is not None:
            offline_model.update(str(path), source)

    def open_paths(self) -> set[str]:
        """File system paths of the open documents."""
        return {p for p in (uri_to_path(uri) for uri in self.store.uris()) if p}

    def refresh_document(self, uri: str) -> None:
        """Re-index an open document from our store (on open and save: O(file), never per keystroke)."""
        path = uri_to_path(uri)
        if path is None or uri not in self.store or self.uri_excluded(uri):
            return
        snapshot = self.store.get(uri)
        self.index.add_file(path, snapshot.text, snapshot.language_id)
        offline_model = getattr(self.offline, "model", None)
        if offline_model is not None:
            offline_model.update(path, snapshot.text)

    async def begin_progress(self, title: str) -> str | None:
        """Start a ``$/progress`` report if the client supports it; returns its token."""
        if not self.client_has_progress:
            return None
        token = f"llm-lsp-{time.monotonic_ns()}"
        try:
            await asyncio.wait_for(self.work_done_progress.create_async(token), timeout=5)
        except Exception:
            return None
        self.work_done_progress.begin(token, types.WorkDoneProgressBegin(title=title, cancellable=False))
        return token

    def report_progress(self, token: str, message: str) -> None:
        """Report progress on a token from ``begin_progress``."""
        self.work_done_progress.report(token, types.WorkDoneProgressReport(message=message))

    def end_progress(self, token: str, message: str) -> None:
        """End a progress report."""
        self.work_done_progress.end(token, types.WorkDoneProgressEnd(message=message))

    async def inline(
        self, uri: str, position: types.Position, explicit: bool
    ) -> completion.InlineResult | None:
        """Run the pipeline for a cursor, latest-wins per document; ``None`` when nothing to show."""
        current = asyncio.current_task()
        previous = self.inline_tasks.get(uri)
        if previous is not None and previous is not current and not previous.done():
            previous.cancel()  # latest wins: the older request answers -32800 and closes its stream
        if current is not None:
            self.inline_tasks[uri] = current
        try:
            if not self.settings_ready.is_set():
                await asyncio.wait_for(self.settings_ready.wait(), timeout=6)
            snapshot = self.store.get(uri)
            offset = snapshot.offset_at(position.line, position.character)
            self.set_status("busy")
            result = await completion.suggest(self.pipeline(), snapshot, offset, explicit=explicit)
        except (DocumentNotOpen, ExcludedFile) as exc:
            log.info("no completion: %s", exc)
            return None
        except ProviderError as exc:
            # While typing, model failures are logged and shown in the status, never popped up.
            log.warning("completion failed: %s", exc)
            self.set_status("error", message=str(exc))
            return None
        finally:
            if self.inline_tasks.get(uri) is current:
                del self.inline_tasks[uri]
        self.set_status("offline" if self.current_provider().is_offline else "idle", message="")
        if uri not in self.store or self.store.get(uri).version != result.version:
            raise JsonRpcContentModified(f"{uri} changed while the suggestion was computed")
        return result

    def cursor_range(self, result: completion.InlineResult) -> types.Range:
        """The (clamped) cursor of a result as an empty LSP range, in the negotiated encoding."""
        line, character = self.store.get(result.uri).position_at(result.offset)
        position = types.Position(line=line, character=character)
        return types.Range(start=position, end=position)

    def documentation(self, code: str) -> types.MarkupContent | str:
        """A suggestion shown in the completion item's documentation, as Markdown if the client can."""
        if self.client_markdown:
            return types.MarkupContent(kind=types.MarkupKind.Markdown, value=f"```\n{code}\n```")
        return code

    def item_command(self, uri: str, suggestion: str) -> types.Command:
        """The command an accepted suggestion runs (local acceptance counts)."""
        return types.Command(
            title="Accept suggestion",
            command=ACCEPT_COMMAND,
            arguments=[{"uri": uri, "length": len(suggestion)}],
        )


server = LlmLanguageServer()


@server.feature(types.INITIALIZE)
def on_initialize(ls: LlmLanguageServer, params: types.InitializeParams) -> None:
    """Record what the client can do and resolve settings; nothing slow happens here."""
    capabilities = params.capabilities
    document = capabilities.text_document
    ls.client_has_inline = bool(document and document.inline_completion)
    item = document.completion.completion_item if document and document.completion else None
    ls.client_markdown = bool(item and types.MarkupKind.Markdown in (item.documentation_format or []))
    workspace = capabilities.workspace
    ls.client_has_configuration = bool(workspace and workspace.configuration)
    window = capabilities.window
    ls.client_has_progress = bool(window and window.work_done_progress)
    ls.roots = workspace_roots(params)
    user_path = config.user_file_path()
    user_file, file_problems = config.load_user_file(user_path)
    problems = ls.apply_settings(
        attrs.evolve(ls.sources, user_file=user_file, initialization_options=params.initialization_options)
    )
    ls.problems = file_problems + problems


@server.feature(types.INITIALIZED)
async def on_initialized(ls: LlmLanguageServer, params: types.InitializedParams) -> None:
    """Pull workspace settings, then report settings problems and the status."""
    try:
        if ls.client_has_configuration:
            await pull_configuration(ls)
    finally:
        ls.settings_ready.set()
    ls.show_problems(ls.problems)
    ls.current_provider()
    ls.keep(asyncio.ensure_future(ls.load_workspace()))


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
    ls.problems = ls.apply_settings(attrs.evolve(ls.sources, workspace_configuration=section))


@server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
async def on_configuration_changed(ls: LlmLanguageServer, params: types.DidChangeConfigurationParams) -> None:
    """Hot-reload: re-pull (or take the pushed settings) and apply; problems shown once."""
    if ls.client_has_configuration:
        await pull_configuration(ls)
    else:
        pushed = params.settings if isinstance(params.settings, dict) else None
        ls.problems = ls.apply_settings(attrs.evolve(ls.sources, workspace_configuration=pushed))
    ls.show_problems(ls.problems)
    ls.current_provider()


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
def on_open(ls: LlmLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
    """Track a newly opened document."""
    doc = params.text_document
    ls.store.open(doc.uri, doc.language_id, doc.version, doc.text)
    ls.recent_documents.append(doc.uri)
    ls.refresh_document(doc.uri)


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
def on_change(ls: LlmLanguageServer, params: types.DidChangeTextDocumentParams) -> None:
    """Apply edits to our store (incremental: only the changed lines and the tree are touched)."""
    doc = params.text_document
    changes = [_change(change) for change in params.content_changes]
    try:
        ls.store.change(doc.uri, doc.version, changes)
    except DocumentNotOpen:
        log.warning("didChange for a document that is not open: %s", doc.uri)
        return
    last = changes[-1].range if changes else None
    ls.recent_edits.append((doc.uri, last[0][0] if last else 0))
    if not ls.recent_documents or ls.recent_documents[-1] != doc.uri:
        ls.recent_documents.append(doc.uri)


def _change(change: Any) -> Change:
    if isinstance(change, types.TextDocumentContentChangePartial):
        start, end = change.range.start, change.range.end
        return Change(text=change.text, range=((start.line, start.character), (end.line, end.character)))
    return Change(text=change.text)


@server.feature(types.TEXT_DOCUMENT_DID_SAVE)
def on_save(ls: LlmLanguageServer, params: types.DidSaveTextDocumentParams) -> None:
    """Re-index the saved document (the index and the offline engine see the new text)."""
    ls.refresh_document(params.text_document.uri)


@server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
def on_watched_files(ls: LlmLanguageServer, params: types.DidChangeWatchedFilesParams) -> None:
    """Keep the index and the privacy rules in step with files changed outside the editor."""
    for event in params.changes:
        path = uri_to_path(event.uri)
        if path is None:
            continue
        if Path(path).name in (".gitignore", ".llm-lspignore") and ls.gate is not None:
            ls.gate.invalidate()
        if event.type == types.FileChangeType.Deleted:
            ls.index.remove_file(path)
            continue
        if event.uri in ls.store or ls.path_excluded(path):
            continue  # open documents are indexed from the editor's text, not the disk
        ls.add_workspace_file(Path(path), getattr(ls.offline, "model", None))


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def on_close(ls: LlmLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
    """Forget a closed document and cancel its pending suggestion."""
    uri = params.text_document.uri
    task = ls.inline_tasks.pop(uri, None)
    if task is not None:
        task.cancel()
    ls.store.close(uri)


@server.feature(
    types.TEXT_DOCUMENT_INLINE_COMPLETION,
    types.InlineCompletionOptions(),
)
async def on_inline_completion(
    ls: LlmLanguageServer, params: types.InlineCompletionParams
) -> types.InlineCompletionList | None:
    """Ghost text at the cursor."""
    explicit = params.context.trigger_kind == types.InlineCompletionTriggerKind.Invoked
    result = await ls.inline(params.text_document.uri, params.position, explicit)
    if result is None:
        return types.InlineCompletionList(items=[])
    where = ls.cursor_range(result)
    return types.InlineCompletionList(
        items=[
            types.InlineCompletionItem(
                insert_text=suggestion,
                range=where,
                command=ls.item_command(result.uri, suggestion),
            )
            for suggestion in result.suggestions
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
    result = await ls.inline(params.text_document.uri, params.position, explicit)
    if result is None:
        return types.CompletionList(is_incomplete=True, items=[])
    where = ls.cursor_range(result)
    items = []
    for rank, suggestion in enumerate(result.suggestions):
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
                command=ls.item_command(result.uri, suggestion),
            )
        )
    # Incomplete: the client asks again as the user types, so the item follows the cursor.
    return types.CompletionList(is_incomplete=True, items=items)


@server.command(ACCEPT_COMMAND)
def on_accept(ls: LlmLanguageServer, *args: Any) -> None:
    """Count an accepted suggestion (local statistics only; nothing leaves the machine)."""
    ls.accepted += 1
    log.debug("suggestion accepted (%d so far)", ls.accepted)


@server.feature(types.SHUTDOWN)
async def on_shutdown(ls: LlmLanguageServer, *args: Any) -> None:
    """Cancel in-flight work and close model connections."""
    for task in list(ls.inline_tasks.values()):
        task.cancel()
    if ls.provider is not None:
        try:
            await asyncio.wait_for(ls.provider.aclose(), timeout=2)
        except Exception:
            log.debug("provider close failed", exc_info=True)


# code actions and commands ---------------------------------------------------------------------
# Listing is instant (no model call); resolve and the llm-lsp.* commands ask the model, then hand back
# edits tied to the version they were computed for. Typed errors are mapped here, once.

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


def _errors():
    from lsp_server import errors

    return errors


def _lsp_range(rng: tuple[tuple[int, int], tuple[int, int]]) -> types.Range:
    (sl, sc), (el, ec) = rng
    return types.Range(start=types.Position(line=sl, character=sc), end=types.Position(line=el, character=ec))


def _plain_range(rng: types.Range) -> tuple[tuple[int, int], tuple[int, int]]:
    return (rng.start.line, rng.start.character), (rng.end.line, rng.end.character)


def _plain_diagnostic(diagnostic: types.Diagnostic):
    from lsp_server.rewrite import Diagnostic

    code = diagnostic.code
    return Diagnostic(
        range=_plain_range(diagnostic.range),
        message=diagnostic.message,
        source=diagnostic.source or "",
        code="" if code is None else str(code),
    )


def workspace_edit(proposed: Any) -> types.WorkspaceEdit:
    """``documentChanges`` carrying each file's version, with a confirmation annotation where needed."""
    changes: list[Any] = []
    annotations: dict[str, types.ChangeAnnotation] = {}
    for index, edit in enumerate(proposed):
        annotation = None
        if edit.needs_confirmation:
            annotation = f"llm-lsp-{index}"
            annotations[annotation] = types.ChangeAnnotation(
                label=edit.label, needs_confirmation=True, description="Proposed by the AI model"
            )
        if edit.create:
            changes.append(
                types.CreateFile(
                    uri=edit.uri,
                    options=types.CreateFileOptions(overwrite=False, ignore_if_exists=False),
                    annotation_id=annotation,
                )
            )
        edits: list[Any] = []
        for change in edit.edits:
            where = _lsp_range((change.start, change.end))
            if annotation is None:
                edits.append(types.TextEdit(range=where, new_text=change.new_text))
            else:
                edits.append(
                    types.AnnotatedTextEdit(range=where, new_text=change.new_text, annotation_id=annotation)
                )
        changes.append(
            types.TextDocumentEdit(
                text_document=types.OptionalVersionedTextDocumentIdentifier(
                    uri=edit.uri, version=edit.version
                ),
                edits=edits,
            )
        )
    return types.WorkspaceEdit(document_changes=changes, change_annotations=annotations or None)


def _rpc_error(ls: LlmLanguageServer, exc: Exception, what: str, show: bool) -> Exception:
    """The JSON-RPC error for a failed action (and one short message for the user when ``show``)."""
    from pygls.exceptions import JsonRpcException

    from lsp_server.errors import ContentModified, LlmLspError

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
        ls.window_show_message(types.ShowMessageParams(type=kind, message=f"llm-lsp {what}: {exc}"))
    return error


@server.feature(
    types.TEXT_DOCUMENT_CODE_ACTION,
    types.CodeActionOptions(
        code_action_kinds=[types.CodeActionKind.QuickFix, types.CodeActionKind.RefactorRewrite],
        resolve_provider=True,
    ),
)
def on_code_action(ls: LlmLanguageServer, params: types.CodeActionParams) -> list[types.CodeAction] | None:
    """List the AI actions for a range: no model call, so it is instant."""
    import time

    from lsp_server import code_actions

    started = time.perf_counter()
    uri = params.text_document.uri
    try:
        snapshot = ls.store.get(uri)
    except DocumentNotOpen:
        return None
    lsp_diagnostics = {id(d): d for d in params.context.diagnostics}
    plain = {id(d): _plain_diagnostic(d) for d in params.context.diagnostics}
    by_plain = {plain[key]: lsp_diagnostics[key] for key in plain}
    offers = code_actions.list_actions(
        snapshot,
        _plain_range(params.range),
        list(plain.values()),
        custom=ls.settings.get("actions.custom"),
        only=[str(kind) for kind in params.context.only] if params.context.only else None,
    )
    actions = []
    for offer in offers:
        action = types.CodeAction(
            title=offer.title,
            kind=offer.kind,
            diagnostics=[by_plain[d] for d in offer.diagnostics if d in by_plain] or None,
            data=offer.data,
        )
        if offer.command is not None:
            action.command = types.Command(title=offer.title, command=offer.command, arguments=[offer.data])
        actions.append(action)
    log.debug("code actions: %d listed in %.2f ms", len(actions), (time.perf_counter() - started) * 1000)
    return actions


@server.feature(types.CODE_ACTION_RESOLVE)
async def on_code_action_resolve(ls: LlmLanguageServer, action: types.CodeAction) -> types.CodeAction:
    """Compute the chosen action's edit (asks the model); refused if the document moved on."""
    from lsp_server import code_actions

    if action.edit is not None or action.command is not None:
        return action
    ls.set_status("busy")
    try:
        proposed = await code_actions.resolve(action.data, ls.store, ls.current_provider(), ls.settings)
        current = ls.store.get(proposed.uri).version if proposed.uri in ls.store else None
        if current != proposed.version:
            raise _errors().ContentModified(
                f"{proposed.uri} changed while the model was answering; nothing applied"
            )
    except Exception as exc:
        raise _rpc_error(ls, exc, action.title, show=True) from None
    finally:
        ls.set_status("offline" if ls.current_provider().is_offline else "idle", message="")
    if not proposed.edits:
        ls.window_show_message(
            types.ShowMessageParams(
                type=types.MessageType.Info, message=f"llm-lsp: no change proposed ({action.title})"
            )
        )
    action.edit = workspace_edit([proposed])
    return action


async def _with_progress(ls: LlmLanguageServer, title: str, work: Any) -> Any:
    """Run ``work(report)`` under a cancellable ``$/progress``; cancelling stops the model stream."""
    import uuid

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
    from lsp_server import commands

    ls.set_status("busy")
    try:
        request = commands.parse(name, list(args))
        result = await _with_progress(
            ls,
            f"llm-lsp: {request.action}",
            lambda report: commands.run(request, ls.store, ls.current_provider(), ls.settings, report=report),
        )
        if result.edits:
            for edit in result.edits:
                current = ls.store.get(edit.uri).version if edit.uri in ls.store else None
                if edit.version is not None and current != edit.version:
                    raise _errors().ContentModified(
                        f"{edit.uri} changed while the model was answering; nothing applied"
                    )
            applied = await ls.workspace_apply_edit_async(
                types.ApplyWorkspaceEditParams(
                    edit=workspace_edit(result.edits), label=f"llm-lsp {request.action}"
                )
            )
            if not applied.applied:
                reason = applied.failure_reason or "the editor refused it"
                raise _errors().ContentModified(f"the edit was not applied: {reason}")
    except Exception as exc:
        raise _rpc_error(ls, exc, name.removeprefix("llm-lsp."), show=True) from None
    finally:
        ls.set_status("offline" if ls.current_provider().is_offline else "idle", message="")
    if result.show is not None:
        await _show(ls, result.show, result.text)
    ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Info, message=result.message))
    return result.message


async def _show(ls: LlmLanguageServer, uri: str, text: str | None) -> None:
    """Open a document in the editor, or show ``text`` in a message where that is not supported."""
    window = ls.client_capabilities.window if ls.client_capabilities else None
    if window is not None and window.show_document is not None and window.show_document.support:
        try:
            shown = await ls.window_show_document_async(types.ShowDocumentParams(uri=uri, take_focus=True))
            if shown.success:
                return
        except Exception as exc:
            log.info("window/showDocument failed: %s", exc)
    if text:
        ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Info, message=text))


def _register_ai_command(name: str) -> None:
    async def handler(ls: LlmLanguageServer, *args: Any) -> str:
        return await run_ai_command(ls, name, args)

    handler.__name__ = "on_" + name.replace("llm-lsp.", "").replace("-", "_")
    server.command(name)(handler)


for _name in AI_COMMANDS:
    _register_ai_command(_name)


class ClientLogHandler(logging.Handler):
    """Forwards our log records to the client as ``window/logMessage`` (never to stdout)."""

    LEVELS: dict[int, types.MessageType] = {
        logging.ERROR: types.MessageType.Error,
        logging.WARNING: types.MessageType.Warning,
        logging.INFO: types.MessageType.Info,
        logging.DEBUG: types.MessageType.Log,
    }

    def __init__(self, ls: LlmLanguageServer) -> None:
        super().__init__()
        self.ls = ls
        self._emitting = False

    def emit(self, record: logging.LogRecord) -> None:  # noqa: D102
        if self._emitting or self.ls.protocol.writer is None:
            return
        self._emitting = True  # logging from inside the transport must not recurse
        try:
            kind = self.LEVELS.get(record.levelno, types.MessageType.Log)
            self.ls.window_log_message(types.LogMessageParams(type=kind, message=self.format(record)))
        except Exception:
            pass
        finally:
            self._emitting = False


def serve(tcp: tuple[str, int] | None = None) -> None:
    """Serve LSP on stdio (or TCP) until the client says exit."""
    handler = ClientLogHandler(server)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.getLogger("lsp_server").addHandler(handler)
    if tcp is not None:
        server.start_tcp(*tcp)
    else:
        server.start_io()


def uri_to_path(uri: str) -> str | None:
    """A file system path for a ``file:`` uri (None for other schemes)."""
    return to_fs_path(uri)
