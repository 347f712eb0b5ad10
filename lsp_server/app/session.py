"""The Session: one running llm-lsp, whichever door a request came in by (editor or terminal).

Owns the settings and everything built from them — the privacy gate, the document store, the
workspace index, the offline engine, the provider of each job (role: completion, actions, nextEdit;
a model discovered from the server's list where none is named), the suggestion cache, the debounce,
recent-edit tracking, the edit history and next-edit state, and the status — and applies a settings
change to exactly the parts it affects. Every model-calling entry point (``complete``,
``resolve_action``, ``run_command``, ``next_edit``) passes the privacy gate here, below the LSP
layer and the CLI, so no door can forget it.

Must not import pygls or know LSP types: the LSP layer and the CLI both construct a Session and call
it with plain values. Progress and status reach the user through the callbacks they pass in.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import gc
import logging
import os
import posixpath
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from lsp_server.app import completion, next_edit
from lsp_server.app.acceptance import Acceptance
from lsp_server.app.next_edit import NextEditResult
from lsp_server.app.stats import UsageStats, stats_file
from lsp_server.core import settings as config
from lsp_server.core.allocator import trim_heap
from lsp_server.core.collector import freeze_loaded
from lsp_server.core.documents import Change, DocumentStore, Snapshot
from lsp_server.core.errors import (
    ContentModified,
    ExcludedFile,
    ModelNotConfigured,
    ModelNotFound,
    ProviderError,
)
from lsp_server.core.layout import index_dir
from lsp_server.core.uris import uri_name, uri_to_path
from lsp_server.engine import context
from lsp_server.engine.cache import SuggestionCache
from lsp_server.engine.debounce import AdaptiveDebounce
from lsp_server.engine.edit_history import EditHistory
from lsp_server.engine.index import WorkspaceIndex, read_source, symbols_of
from lsp_server.engine.indexer import Indexer, Outcome
from lsp_server.engine.store import StoreReader
from lsp_server.engine.symbols import FileSymbols
from lsp_server.privacy import redaction
from lsp_server.privacy.gate import PrivacyGate, denylist_reason
from lsp_server.providers import choice
from lsp_server.providers.base import Provider
from lsp_server.providers.catalog import server_name
from lsp_server.providers.choice import Assignment, ProviderSet
from lsp_server.providers.prompts import FimPrompt

if TYPE_CHECKING:
    from lsp_server.app.commands import CommandResult
    from lsp_server.engine.rewrite import ProposedEdit

# Code actions and commands (``app.actions``, ``app.commands``, ``engine.rewrite``: about 15 ms of
# imports) are imported by their first request, not with the Session: a first completion waits for
# this module's import and needs neither.

log = logging.getLogger(__name__)

INDEX_SLICE_SECONDS = 0.008  # without a database, the in-memory walk yields to the loop this often
# Open documents longer than this are parsed for the index in a worker thread (a 10k-line Python
# file takes about 125 ms, which would hold the event loop; 22 kB take about 11 ms).
REFRESH_INLINE_CHARS = 50_000
BUSY_AFTER_S = 0.15  # the status turns "busy" only for work that lasts this long (see begin_work)


class Progress(Protocol):
    """How a long step reports itself (``$/progress`` in an editor, stderr in a terminal)."""

    async def begin(self, title: str) -> Any: ...  # noqa: D102

    def report(self, token: Any, message: str) -> None: ...  # noqa: D102

    def end(self, token: Any, message: str) -> None: ...  # noqa: D102


class NoProgress:
    """Progress nobody sees."""

    async def begin(self, title: str) -> Any:  # noqa: D102
        return None

    def report(self, token: Any, message: str) -> None:  # noqa: D102
        pass

    def end(self, token: Any, message: str) -> None:  # noqa: D102
        pass


# The indexer waits for the start-up imports at most this long (they take 0.3-0.7 s here).
START_HOLD_MAX_S = 3.0
# The workspace's index waits for the first suggestions at most this long (``load_workspace``): then a
# slow model's answer no longer delays it. Checked this often.
FIRST_ANSWERS_MAX_S = 0.5
FIRST_ANSWERS_POLL_S = 0.005
# A provider whose first requests go out without its SDK loads the SDK once no request has run for
# this long (``warm_up_when_idle``).
SDK_IDLE_WARM_UP_S = 1.0


@attrs.define
class Status:
    """What the client's status item shows: state (idle/busy/error/offline), model, last message.

    ``summary``: the user's acceptance figures in one line, for a tooltip or detail ("" before any).
    """

    state: str = "idle"
    model: str = ""
    message: str = ""
    summary: str = ""


def _ignore(_status: Status) -> None:
    pass


def release_memory() -> None:
    """Hand memory freed since the last collection back to the OS (the editor is idle: nothing open).

    glibc keeps freed blocks for reuse, so without ``malloc_trim`` the resident size stays at its
    high-water mark after every document is gone. (pymalloc's 1 MiB arenas go back by themselves
    once empty; one that still holds a live object stays, which no call can change.)
    """
    gc.collect()
    trim_heap()


class Session:
    """A running llm-lsp: settings, privacy gate, documents, index, engines, and the requests on them."""

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        *,
        on_status: Callable[[Status], None] = _ignore,
        progress: Progress | None = None,
    ) -> None:
        self.sources = config.Sources(environ=dict(os.environ if environ is None else environ))
        self.settings, self.problems = config.resolve(self.sources)
        self.store = DocumentStore()
        self.roots: list[Path] = []
        self.gate: PrivacyGate | None = None
        self.index = self._new_index()
        self.offline: Provider | None = None
        self.providers = ProviderSet(self.offline_provider)
        # role -> (settings, catalog state, assignment): each request looks its roles up (``provider_for``)
        self._assigned: dict[str, tuple[config.Settings, tuple, Assignment]] = {}
        self._discovery: asyncio.Future | None = None
        self.cache = SuggestionCache()
        self.debounce = self._new_debounce()
        # The user's acceptance figures (a small local file, sent nowhere) and the events feeding them.
        self.stats = UsageStats(stats_file(self.sources.environ), on_flushed=self.show_summary)
        self.acceptance = Acceptance(self.stats, on_outcome=self._observe_outcome)
        self.status = Status()
        self.running = 0
        # Requests waiting in ``until_ready``; the indexer's threads stand still while the event is clear.
        self.holding = 0
        self.indexer_go = threading.Event()
        self.indexer_go.set()
        self._busy_timer: asyncio.TimerHandle | None = None
        self.on_status = on_status
        self.progress: Progress = progress or NoProgress()
        self.log_level_override: str | None = None
        self.background: set[asyncio.Future] = set()
        self._gate_lock = asyncio.Lock()
        self._scanner_loaded: asyncio.Future | None = None  # redaction.load_scanner in a worker thread
        self._idle_warm_ups: list[Provider] = []  # ``warm_up_when_idle``
        self._idle_timer: asyncio.TimerHandle | None = None
        # (uri, line) of the latest edits, newest last: other files' recent edits are prompt context.
        self.recent_edits: deque[tuple[str, int]] = deque(maxlen=16)
        self.recent_documents: deque[str] = deque(maxlen=8)
        # Open documents edited since they were opened: the index and the offline engine learn their
        # text at pauses, so closing one hands them back the file on disk (unsaved edits are gone).
        self.edited: set[str] = set()
        # Open documents whose latest text the offline engine has not learnt: while a model serves,
        # the engine (a fallback then) catches up only when it is about to answer, so typing does not
        # re-index whole files into it at every pause (its dead entries were the largest churn).
        self.offline_stale: set[str] = set()
        self.fallback_served = False  # the offline engine has answered in a model's place (or alone)
        # The worker thread that keeps the roots' index databases in step with the disk (see
        # ``load_workspace``), and the paths of the open documents it must not teach the offline
        # engine from disk (their editor text counts).
        self.indexer: Indexer | None = None
        self._open_paths: frozenset[str] = frozenset()
        # Re-indexing of big open documents, in order, off the loop; per URI the latest request wins.
        self._refresh_pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._refresh_tokens: dict[str, int] = {}
        # Recent edits as diffs (next-edit prompts), and the next-edit requests, predictions and budget.
        self.history = EditHistory()
        self.next_edits = next_edit.NextEdits()
        self._next_edit_offers: dict[str, str] = {}  # next-edit id -> its acceptance offer id

    # settings -----------------------------------------------------------------------------------

    def apply_settings(self, sources: config.Sources) -> list[config.Problem]:
        """Resolve ``sources``, switch to the result and update exactly the parts it affects.

        A role's provider is rebuilt lazily when its signature changed (``provider_for``), and the
        servers' model lists are asked again (the kept ones serve until they answer); the debounce
        takes the new bounds; index limits apply to the next files indexed; a new ``privacy.exclude``
        rebuilds the gate (``reload_gate``, which the caller awaits) and purges what it now excludes.
        Returns the problems to show the user.
        """
        old = self.settings
        self.sources = sources
        self.settings, self.problems = config.resolve(sources)
        new = self.settings
        # --log-level on the command line wins over the logLevel setting.
        level = self.log_level_override or new.log_level
        logging.getLogger("lsp_server").setLevel(level.upper())
        self.cache.clear()
        self.providers.catalog.refresh()  # the lists are asked again; the kept ones serve meanwhile
        if (new.completion.debounce_min_ms, new.completion.debounce_max_ms) != (
            old.completion.debounce_min_ms,
            old.completion.debounce_max_ms,
        ):
            # New bounds, same learnt rhythm, latency and acceptance.
            self.debounce = attrs.evolve(
                self.debounce,
                min_delay=new.completion.debounce_min_ms / 1000,
                max_delay=new.completion.debounce_max_ms / 1000,
            )
        self.index.max_files = new.index.max_files
        self.index.max_file_bytes = new.index.max_file_bytes
        self.resize_offline()
        return self.problems

    def gate_is_stale(self) -> bool:
        """True when the loaded gate was built from another ``privacy.exclude`` than the current one."""
        return self.gate is not None and tuple(self.gate.extra_exclude) != self.settings.privacy.exclude

    async def until_ready(self, role: str) -> None:
        """Wait for what loads once in worker threads: the privacy gate, the scanner, ``role``'s SDK.

        The scanner only when ``role``'s prompts leave the machine (``needs_scanner``).

        The indexer stands still meanwhile (``holding``), so those imports get the interpreter to
        themselves: a first request typed at once on a big workspace otherwise waited for them while
        they shared it with the indexer's two threads.
        """
        if self._ready(role):  # every request after the first few: no lock, no event, no lookup
            return
        release = self.hold_indexer()
        try:
            await self._loaded(role)
        finally:
            release()

    def _ready(self, role: str) -> bool:
        provider = self.providers.current(role)
        return (
            provider is not None
            and self._privacy_loaded(scanner=not provider.is_offline)
            and getattr(provider, "warmed", True)
        )

    def _privacy_loaded(self, *, scanner: bool = True) -> bool:
        """The gate is loaded for the current settings and, with ``scanner``, the scanner (if redacting)."""
        loaded = self._scanner_loaded
        return (
            self.gate is not None
            and not self.gate_is_stale()
            and (
                not scanner
                or not self.settings.privacy.redact_secrets
                or (loaded is not None and loaded.done())
            )
        )

    def needs_scanner(self, role: str) -> bool:
        """Whether ``role``'s prompts are redacted: only prompts for a model leave the machine.

        The offline engine's prompt stays in this process, and the engine refuses to learn or suggest
        secret-shaped text on its own (``ngram.looks_secret``). So with no model the scanner (about
        75 ms of imports) never loads, and a first suggestion does not wait for it.
        """
        settings = self.settings
        # Logged prompts are scrubbed with the scanner too, whichever engine serves.
        leaves = settings.log_prompts or not self.provider_for(role).is_offline
        return settings.privacy.redact_secrets and leaves

    async def _loaded(self, role: str) -> None:
        await self.ensure_privacy(scanner=self.needs_scanner(role))
        provider = self.provider_for(role)
        warm_up = getattr(provider, "warm_up", None)
        if warm_up is not None and not getattr(provider, "warmed", True):  # warmed: a request goes at once
            await warm_up()

    def hold_indexer(self) -> Callable[[], None]:
        """Stop the indexer's threads between two files until the returned function is called."""
        self.holding += 1
        self.indexer_go.clear()
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self.holding -= 1
                if not self.holding:
                    self.indexer_go.set()

        return release

    async def ensure_privacy(self, *, scanner: bool = True) -> None:
        """Load the privacy gate (if missing or stale) and the secret scanner; every prompt awaits this.

        ``scanner`` False: the gate only, for a prompt that stays in this process (``needs_scanner``).

        Until the gate has loaded only the built-in denylist is known, and a git-ignored file would
        pass: so no prompt is built before the gate exists (it reads a directory's ignore files when
        a path under it is first judged, and has ``privacy.exclude`` from the start).
        The scanner (detect-secrets, about 150 modules) loads in a worker thread at the same time:
        imported on the loop by the first prompt that meets a secret-shaped line, it held the loop
        for 0.1-0.3 s while the SDK's import in another thread competed for the interpreter.
        """
        if self._privacy_loaded(scanner=scanner):
            return
        loading = self._scanner_loaded
        if loading is None and scanner and self.settings.privacy.redact_secrets:
            loading = self._scanner_loaded = self.keep(
                asyncio.ensure_future(asyncio.to_thread(redaction.load_scanner))
            )
        if self.gate is None or self.gate_is_stale():
            async with self._gate_lock:
                if self.gate is None or self.gate_is_stale():
                    await self.reload_gate()
        if scanner and loading is not None and not loading.done():
            await asyncio.shield(loading)

    async def reload_gate(self) -> None:
        """Rebuild the privacy gate from the current settings (off the loop) and purge the index."""
        self.gate = await asyncio.to_thread(PrivacyGate.load, self.roots, list(self.settings.privacy.exclude))
        self.index.is_excluded = self.path_excluded
        self.purge_excluded()

    def purge_excluded(self) -> None:
        """Forget indexed files the privacy rules now exclude (after a rule change).

        Open documents' text goes at once; the databases' rows go in the indexer's worker (which
        also tells the offline engine), and until then the index never answers from them: it asks
        the gate about every path it reads from a database.
        """
        model = getattr(self.offline, "model", None)
        for path in self.index.held_paths():
            if self.path_excluded(path):
                self.index.remove_file(path)
                if model is not None:
                    model.remove(path)
        if self.indexer is not None:
            self.indexer.purge()

    def _observe_outcome(self, accepted: bool) -> None:
        # Looked up at each call: a settings change may have replaced the debounce.
        self.debounce.observe_outcome(accepted)

    def _new_debounce(self) -> AdaptiveDebounce:
        bounds = self.settings.completion
        return AdaptiveDebounce(
            min_delay=bounds.debounce_min_ms / 1000, max_delay=bounds.debounce_max_ms / 1000
        )

    def _new_index(self) -> WorkspaceIndex:
        return WorkspaceIndex(
            is_excluded=self.path_excluded,
            max_files=self.settings.index.max_files,
            max_file_bytes=self.settings.index.max_file_bytes,
        )

    # providers ----------------------------------------------------------------------------------

    def provider(self) -> Provider:
        """The completion role's provider (``provider_for("completion")``)."""
        return self.provider_for("completion")

    def roles(self) -> tuple[str, ...]:
        """The roles in use: completion and actions always, next edits when enabled."""
        return config.ROLES if self.settings.next_edit.enable else config.ROLES[:2]

    def assignment(self, role: str) -> Assignment:
        """Who serves ``role`` under the current settings and the model lists asked so far (no I/O).

        Kept until the settings or the lists change: every request looks its roles up, and building
        an assignment (and its sentence) costs about 50 us.
        """
        state = self.providers.catalog.state()
        kept = self._assigned.get(role)
        if kept is not None and kept[0] is self.settings and kept[1] == state:
            return kept[2]
        assignment = choice.assign(self.settings, role, self.providers.catalog)
        self._assigned[role] = (self.settings, state, assignment)
        return assignment

    def provider_for(self, role: str) -> Provider:
        """The provider serving ``role`` (``completion``, ``actions``, ``nextEdit``); never blocks.

        Every role in use is brought up to date at once (a few dictionary lookups when nothing
        changed), so the status always names each job's model. A role's provider is rebuilt only
        when its settings or its chosen model changed, and roles with the same server, key and model
        share one. While a model is still being discovered from the server's list the offline engine
        serves, and the discovery runs in the background (``discover``).
        """
        served: dict[str, Provider] = {}
        moved: dict[int, Provider] = {}
        for each in dict.fromkeys((*self.roles(), role)):
            assignment = self.assignment(each)
            if assignment.state == choice.PENDING or assignment.stale:
                self.discover_in_background()
            provider, changed = self.providers.serve(self.settings, assignment)
            if changed:
                moved[id(provider)] = provider
                if each == "completion":
                    self.cache.clear()  # suggestions of the previous model (or the offline engine) go
            if each == "completion" and provider.is_offline:
                if assignment.state == choice.PENDING:
                    if changed:
                        self.catch_up_offline()  # for the moment the model's list takes to come
                elif changed or not self.fallback_served:
                    self.serve_offline()  # no model (none set, or none found): it serves for good
            served[each] = provider
        if moved:
            for retired in self.providers.retire():
                self.keep(asyncio.ensure_future(retired.aclose()))
            for provider in moved.values():
                warm_up = getattr(provider, "warm_up", None)
                if warm_up is None:
                    continue
                if getattr(provider, "warmed", False):
                    self.warm_up_when_idle(provider)  # its requests go out without the SDK meanwhile
                else:  # import the SDK and connect off the first keystroke's deadline
                    self.keep_then_freeze(warm_up())
            self.refresh_status()
        return served[role]

    def warm_up_when_idle(self, provider: Provider) -> None:
        """Run ``provider.warm_up`` (the SDK's import, 0.35-0.45 s of CPU) once requests pause.

        Its worker thread shares the interpreter with the event loop, and the SDK's pydantic models
        are built in C calls that keep the interpreter for tens of milliseconds: started at once, it
        made a suggestion typed right after start-up twice as slow, and started after the first
        request, it held later ones up to 0.1 s. Requests meanwhile go out without it, so it waits
        until none has run for ``SDK_IDLE_WARM_UP_S`` (``end_work`` starts the wait again).
        """
        self._idle_warm_ups.append(provider)
        self._wait_for_idle()

    def _wait_for_idle(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        self._idle_timer = loop.call_later(SDK_IDLE_WARM_UP_S, self._start_idle_warm_ups)

    def _start_idle_warm_ups(self) -> None:
        self._idle_timer = None
        if self.running:
            return  # ``end_work`` waits again
        providers, self._idle_warm_ups = self._idle_warm_ups, []
        serving = {id(self.providers.current(role)) for role in config.ROLES}
        for provider in providers:
            warm_up = getattr(provider, "warm_up", None)
            if warm_up is not None and id(provider) in serving:  # not one retired meanwhile
                self.keep_then_freeze(warm_up())

    def keep_then_freeze(self, loading: Awaitable[None]) -> asyncio.Future:
        """``keep`` a one-time load, and freeze what it loaded out of the collector's reach once done."""
        task = self.keep(asyncio.ensure_future(loading))
        task.add_done_callback(lambda _f: freeze_loaded())
        return task

    def model_calls(self) -> int:
        """Requests the serving providers have started (the call budget completions and next edits share)."""
        serving = {id(p): p for p in (self.providers.current(role) for role in config.ROLES) if p is not None}
        return sum(getattr(provider, "calls", 0) for provider in serving.values())

    def discover_in_background(self) -> None:
        """Start ``discover`` unless it runs already (needs a running event loop; else nothing)."""
        if self._discovery is not None and not self._discovery.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._discovery = self.keep(loop.create_task(self.discover(), name="llm-lsp model discovery"))

    async def discover(self, roles: tuple[str, ...] | None = None) -> None:
        """Ask each server a role needs a model from for its list (kept: asked once), then serve.

        Takes at most the connect timeout for a server that is not there, a few seconds in all; the
        keystroke path never waits for it (``provider_for`` serves the offline engine meanwhile).
        """
        endpoints = {
            (endpoint.base_url, endpoint.api_key)
            for endpoint in (self.settings.role(role) for role in roles or self.roles())
            if endpoint.discovers
        }
        timeout = self.settings.connect_timeout_ms / 1000
        await asyncio.gather(*(self.providers.catalog.ask(*endpoint, timeout) for endpoint in endpoints))
        self.provider_for("completion")  # leave the offline engine if a model was found; the status

    async def provider_ready(self, role: str) -> Provider:
        """``role``'s provider once its model is known (an explicit action may wait for the list)."""
        if self.settings.role(role).discovers:
            await self.discover((role,))
        return self.provider_for(role)

    def model_failed(self, role: str, exc: ProviderError) -> None:
        """A discovered model the server no longer has: forget its list, so the next use asks again."""
        assignment = self.assignment(role)
        if isinstance(exc, ModelNotFound) and assignment.state == choice.DISCOVERED:
            endpoint = assignment.endpoint
            server = server_name(endpoint.base_url)  # never a user:password the URL may carry
            log.info("%s no longer serves %s: asking for its models again", server, assignment.model)
            self.providers.catalog.forget(endpoint.base_url, endpoint.api_key)

    def not_configured(self, role: str, error: ModelNotConfigured) -> ModelNotConfigured:
        """The error for an action no model serves: why, from the settings and the server's list."""
        assignment = self.assignment(role)
        return error if assignment.model else ModelNotConfigured(assignment.note)

    def offline_provider(self) -> Provider:
        """The embedded offline engine (created on first use).

        Created after the indexer started (a model served until now), it is offered the workspace
        again, as when its budget grows (``resize_offline``).
        """
        offline = self.offline
        if offline is None:
            from lsp_server.providers.offline import OfflineProvider

            offline = self.offline = OfflineProvider(index=self.index)
            offline.model.set_max_tokens(self.offline_budget())
            if offline.model.max_tokens > 0 and self.indexer is not None:
                self.offline_stale.update(self.store.uris())
                self.indexer.reoffer()
        return offline

    # The indexer's threads call these three: they read ``self.offline`` once (the engine may be
    # created on the loop meanwhile), and do nothing while it does not exist.
    def _learn_workspace_file(self, path: str, text: str) -> None:
        model = getattr(self.offline, "model", None)
        if model is not None:
            model.add(path, text)

    def _offline_has_room(self) -> bool:
        model = getattr(self.offline, "model", None)
        return model is not None and model.has_room()

    def _forget_workspace_file(self, path: str) -> None:
        model = getattr(self.offline, "model", None)
        if model is not None:
            model.remove(path)

    def offline_budget(self) -> int:
        """Tokens the offline engine may hold under the current settings.

        Its whole cap when it serves completions (no model: the SDK is never imported then). While
        a model serves, nothing until the model first fails (the open documents are taught when it
        answers: ``catch_up_offline``); from then on a fallback's share, the files nearest the open
        documents, while ``offlineFallback`` is on. A fallback that never serves costs no memory:
        5-9 MiB of resident size on CPython's standard library (bench/big_workspace.py).
        """
        if not self.offline_in_use():
            return 0
        from lsp_server.providers import ngram

        serves = self.settings.role("completion").offline
        return ngram.DEFAULT_MAX_TOKENS if serves else ngram.FALLBACK_MAX_TOKENS

    def offline_in_use(self) -> bool:
        """Whether the offline engine serves completions, or stood in for a model (``offlineFallback`` on)."""
        settings = self.settings
        return settings.role("completion").offline or (settings.offline_fallback and self.fallback_served)

    def resize_offline(self) -> None:
        """Apply ``offline_budget`` after a settings change; a larger one is filled from the workspace."""
        model = getattr(self.offline, "model", None)
        if model is None:
            return
        budget = self.offline_budget()
        grown = budget > model.max_tokens
        model.set_max_tokens(budget)
        if grown:
            self.offline_stale.update(self.store.uris())
            if self.indexer is not None:
                self.indexer.reoffer()

    async def aclose(self) -> None:
        """Close model connections (and stop the indexer)."""
        self.close_index()
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        self._idle_warm_ups.clear()
        await self.providers.aclose()

    # privacy ------------------------------------------------------------------------------------

    def exclusion_reason(self, path: str) -> str | None:
        """The rule that excludes ``path`` (denylist, ignore file or setting), or None.

        Before the gate has loaded only the built-in denylist applies. A name the file system cannot
        judge (NUL byte, not a string) is excluded: fail closed, and never fail the request.
        """
        try:
            if self.gate is not None:
                return self.gate.exclusion_reason(path)
            return denylist_reason(path)
        except (TypeError, ValueError, OSError) as exc:
            log.warning("treating %r as excluded: %s", path, exc)
            return f"unreadable name ({exc})"

    def path_excluded(self, path: str) -> bool:
        """True when the privacy rules exclude ``path``."""
        return self.exclusion_reason(path) is not None

    def uri_exclusion_reason(self, uri: str) -> str | None:
        """``exclusion_reason`` for a document URI; non-file documents are judged by their name."""
        try:
            return self.exclusion_reason(uri_name(uri))
        except (TypeError, ValueError, AttributeError):  # not a uri at all (a number, ...)
            return "not a document URI"

    def uri_excluded(self, uri: str) -> bool:
        """True when the privacy rules exclude the document at ``uri``."""
        return self.uri_exclusion_reason(uri) is not None

    def refuse_excluded(self, uri: str) -> None:
        """Raise ``ExcludedFile``, naming the rule, for a document the privacy rules exclude."""
        reason = self.uri_exclusion_reason(uri)
        if reason is not None:
            raise ExcludedFile(
                f"{uri_name(uri)} is excluded by the privacy rules ({reason}): no AI features here"
            )

    def display_path(self, path: str) -> str:
        """How ``path`` is named in a prompt: relative to its workspace root, never absolute.

        With several roots the root folder's name comes first; a file outside every root gets its
        base name only (the user's name and directory layout never leave the machine).
        """
        if not path:
            return "untitled"
        resolved = Path(path)
        for root in self.roots:
            if resolved.is_relative_to(root):
                relative = resolved.relative_to(root).as_posix()
                return f"{root.name}/{relative}" if len(self.roots) > 1 else relative
        return posixpath.basename(path.replace("\\", "/")) or "untitled"

    # documents ----------------------------------------------------------------------------------

    def open_document(self, uri: str, language_id: str, version: int, text: str) -> Snapshot:
        """Track a newly opened document."""
        snapshot = self.store.open(uri, language_id, version, text)
        self.recent_documents.append(uri)
        self._prioritize_open()  # the index does the files near it first
        return snapshot

    def change_document(self, uri: str, version: int, changes: list[Change]) -> None:
        """Apply edits (incremental: only the changed lines and the tree are touched)."""
        before = self.store.get(uri)
        self.store.change(uri, version, changes)
        if not self.uri_excluded(uri):
            self.history.record(uri, before, changes, time.monotonic(), self.snapshot_of)
        self.next_edits.typed(uri, len(changes), self.model_calls())
        self.edited.add(uri)
        last = changes[-1].range if changes else None
        self.recent_edits.append((uri, last[0][0] if last else 0))
        if not self.recent_documents or self.recent_documents[-1] != uri:
            self.recent_documents.append(uri)

    def close_document(self, uri: str) -> None:
        """Forget a closed document and everything its text lives on in.

        Its cached suggestions, similar-snippet windows and recent-edit entries go. The index and the
        offline engine, which learnt its edited text at pauses, get the file on disk back (or forget
        it: outside the workspace, deleted). Once no document is open the editor is idle: the
        per-line secret verdicts go, and the offline model's dead entries are reclaimed in a worker
        thread before freed memory is handed back (``release_memory``). What is freed goes first, so
        what is rebuilt reuses its room instead of pinning fresh allocator arenas.
        """
        edited = uri in self.edited
        self.edited.discard(uri)
        self.offline_stale.discard(uri)
        self.store.close(uri)
        self.history.forget(uri)
        self.next_edits.forget(uri)
        self.cache.clear(uri)
        context.clear_caches()
        self.recent_edits = deque(
            (e for e in self.recent_edits if e[0] != uri), maxlen=self.recent_edits.maxlen
        )
        self.recent_documents = deque(
            (u for u in self.recent_documents if u != uri), maxlen=self.recent_documents.maxlen
        )
        idle = not self.store.uris()
        if idle:
            redaction.clear_cache()
            gc.collect()
        path = uri_to_path(uri)
        revert = path is not None and (edited or not self.in_workspace(path))
        disk: str | None = None
        if path is not None:
            self._refresh_tokens.pop(uri, None)  # a re-index still running for it is dropped
            self._open_paths = self._open_paths - {os.path.abspath(path)}
        if path is not None and revert:
            if self.in_workspace(path) and not self.path_excluded(path):
                disk = read_source(Path(path), self.settings.index.max_file_bytes)
            # The text held for the buffer goes; the root's database (the file on disk) answers
            # again. Without a database (no root, index off), the disk text is held instead.
            self.index.remove_file(path)
            if disk is not None and not self.index.readers:
                self.index.add_file(path, disk)
        if getattr(self.offline, "model", None) is None and not idle:
            return
        work = functools.partial(self._settle_model, uri, path if revert else None, disk, idle)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (a caller outside the server): do it here
            work()
            return
        self.keep(loop.create_task(asyncio.to_thread(work)))

    def _settle_model(self, uri: str, path: str | None, disk: str | None, idle: bool) -> None:
        """After a close, in a worker thread: the offline model gets the disk text; idle: reclaim, trim."""
        model = getattr(self.offline, "model", None)
        if model is not None and path is not None and uri not in self.store:  # not reopened meanwhile
            if disk is None:
                model.remove(path)
            else:
                model.update(path, disk)
        if idle and not self.store.uris():
            if model is not None:
                model.compact()  # the edited texts' dead entries: O(workspace), once per idle moment
            release_memory()

    def snapshot_of(self, uri: str) -> Snapshot | None:
        """The current snapshot of ``uri``; None when it is not open."""
        return self.store.get(uri) if uri in self.store else None

    def open_files(self, current: str) -> list[tuple[str, str]]:
        """Recently used open documents other than ``current``, for similar-snippet search."""
        files = []
        for uri in reversed(self.recent_documents):
            if uri != current and uri in self.store and not self.uri_excluded(uri):
                files.append((uri_name(uri), self.store.get(uri).text))
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
            snippets.append(context.Snippet(path=uri_name(uri), text=body, line=first))
            if len(snippets) >= 3:
                break
        return snippets

    # workspace ----------------------------------------------------------------------------------

    async def load_workspace(self, answering: Callable[[], bool] = lambda: False) -> int:
        """Load the privacy gate, then bring the workspace index up to date in a worker thread.

        While ``answering`` (the first suggestions, asked for at once on opening an editor) the
        rest waits, up to ``FIRST_ANSWERS_MAX_S``: re-indexing the open documents and starting the
        indexer's threads cost a first suggestion 20 ms on a big workspace, which neither helps.

        Each root's database (``$XDG_CACHE_HOME/llm-lsp/index``) answers lookups as soon as it has
        been checked, so a second launch on the same files has cross-file context at once; the
        worker then re-reads only files whose size, mtime and content changed, files near the open
        documents first, and feeds the offline engine. Nothing of it runs on the event loop.
        Returns the number of files walked once the first pass is over.
        """
        await self.ensure_privacy(scanner=False)  # the scanner comes with ``_loaded`` below, if needed
        await asyncio.sleep(0)  # requests that waited for the settings start first
        deadline = time.monotonic() + FIRST_ANSWERS_MAX_S
        while answering() and time.monotonic() < deadline:
            await asyncio.sleep(FIRST_ANSWERS_POLL_S)
        for uri in self.store.uris():
            self.refresh_document(uri)
        if not self.settings.index.enable or not self.roots:
            return 0
        self.close_index()
        loop = asyncio.get_running_loop()
        token = await self.progress.begin("llm-lsp: indexing workspace")
        started = time.monotonic()
        indexed: asyncio.Future[Outcome] = loop.create_future()
        done: asyncio.Future[Outcome] = loop.create_future()

        def report(count: int, total: int) -> None:
            if not indexed.done():
                self.progress.report(token, f"{count}/{total} files")

        def settle(future: asyncio.Future[Outcome], outcome: Outcome) -> None:
            if not future.done():
                future.set_result(outcome)

        def threadsafe(callback: Callable[..., None]) -> Callable[..., None]:
            def call(*args: Any) -> None:
                loop.call_soon_threadsafe(callback, *args)

            return call

        # The offline engine is created here (on the loop) only when it has a budget now: it serves,
        # or a model failed before. While a model serves it is created on first use, and the
        # workspace is offered to it again then (``offline_provider``): creating it here cost a
        # first completion 10-12 ms of imports for an engine that holds nothing.
        if self.offline_in_use():
            self.offline_provider()
        settings = self.settings.index
        indexer = Indexer(
            self.roots,
            index_dir({**os.environ, **self.sources.environ}),
            self.index,
            is_excluded=self.path_excluded,
            max_files=settings.max_files,
            max_file_bytes=settings.max_file_bytes,
            max_database_bytes=settings.max_database_mb * 2**20,
            busy=lambda: self.running > 0,
            go=self.indexer_go,
            is_open=lambda path: path in self._open_paths,
            on_ready=threadsafe(lambda readers: self._attach_databases(readers, indexer)),
            on_progress=threadsafe(report),
            on_indexed=threadsafe(functools.partial(settle, indexed)),
            on_done=threadsafe(functools.partial(settle, done)),
            # Workspace files are offered (kept while the engine's budget lasts, nearest first);
            # the documents being edited are taught with update(), which makes room.
            on_text=self._learn_workspace_file,
            wants_text=self._offline_has_room,
            on_forget=self._forget_workspace_file,
        )
        self.indexer = indexer
        self._prioritize_open()
        # The start-up imports go first (the SDK, the secret scanner: a first request needs them),
        # then the indexer: sharing the interpreter three ways made both slower.
        release = self.hold_indexer()
        loading = self.keep_then_freeze(self._loaded("completion"))  # the session's modules, the scanner
        loading.add_done_callback(lambda _f: release())
        loop.call_later(START_HOLD_MAX_S, release)  # whatever happens to those imports
        indexer.start()
        try:
            outcome = await self._until_indexer(indexed, indexer)
            if self.indexer is not indexer:  # closed meanwhile (shutdown, another load): no fallback
                return outcome.walked
            if not self.index.readers:
                # No database could be opened (a read-only cache folder, a full disk): index into
                # memory on the loop in short slices, as before the databases existed.
                log.warning("the index databases are unavailable: indexing into memory instead")
                self.close_index()
                outcome = await self._index_in_memory(token)
        finally:
            self.progress.end(token, "workspace indexed")
        log.info(
            "indexed %d files in %.2f s (%d parsed, %d unchanged, %d forgotten%s)",
            outcome.walked,
            time.monotonic() - started,
            outcome.written,
            outcome.unchanged,
            outcome.forgotten,
            "; the index database is full (index.maxDatabaseMB)" if outcome.full else "",
        )
        await self._until_indexer(done, indexer)
        return outcome.walked

    async def _index_in_memory(self, token: Any) -> Outcome:
        """The workspace walk into the index's memory layer, on the loop, yielding every few ms."""
        outcome = Outcome()
        slice_started = time.monotonic()
        for path, text in self.index.build(self.roots, skip=self.open_paths().__contains__):
            outcome.walked += 1
            if text is not None:
                outcome.written += 1
                self.teach_offline(path, text)
            if time.monotonic() - slice_started > INDEX_SLICE_SECONDS:
                self.progress.report(token, f"{outcome.walked} files")
                await asyncio.sleep(0)  # keystrokes and requests go first
                slice_started = time.monotonic()
        return outcome

    @staticmethod
    async def _until_indexer(future: asyncio.Future[Outcome], indexer: Indexer) -> Outcome:
        """Wait for one of the indexer's milestones; an indexer that died answers an empty outcome."""
        while not future.done():
            await asyncio.wait([future], timeout=1.0)
            if not indexer.running and not future.done():
                return Outcome()
        return future.result()

    def _attach_databases(self, readers: list[StoreReader], indexer: Indexer) -> None:
        """The indexer checked the roots' databases: lookups answer from them from now on.

        Unless that indexer was closed meanwhile (shutdown): its readers are closed instead.
        """
        if self.indexer is not indexer:
            for reader in readers:
                reader.close()
            return
        for old in self.index.detach():
            old.close()
        for reader in readers:
            self.index.attach(reader)

    def close_index(self) -> None:
        """Stop the indexer's worker and close the databases (shutdown; a new workspace load)."""
        indexer, self.indexer = self.indexer, None
        if indexer is not None:
            # Briefly: the worker stops between two files, and what it committed is safe on disk
            # (an unfinished batch is rolled back at the next open), so shutdown never waits long.
            indexer.stop(timeout=0.5)
        for reader in self.index.detach():
            reader.close()

    def _prioritize_open(self) -> None:
        """Tell the indexer which files to do first: those near the open documents, and their imports."""
        paths: list[str] = []
        modules: set[str] = set()
        for uri in self.store.uris():
            path = uri_to_path(uri)
            if path is None:
                continue
            paths.append(path)
            for imp in self.index.imports(path) if self.index.held(path) else ():
                if imp.level == 0 and imp.module:
                    modules.add(imp.module)
                    modules.update(f"{imp.module}.{name.name}" for name in imp.names)
        self._open_paths = frozenset(os.path.abspath(p) for p in paths)
        if self.indexer is not None:
            self.indexer.prioritize(paths, modules)

    def teach_offline(self, path: str, text: str) -> None:
        """Let the offline engine learn a file (it serves without a model, and while the model fails)."""
        model = getattr(self.offline_provider(), "model", None)
        if model is not None:
            model.update(path, text)

    def add_workspace_file(self, path: Path) -> None:
        """Index one workspace file that changed on disk and teach it to the offline engine.

        With a database, the indexer's worker re-checks the file (size, mtime, then hash) and
        teaches the engine; without one (no root, index off) it is read and held here.
        """
        if str(path) in self.open_paths():
            return
        if self.indexer is not None and self.indexer.running:
            self.indexer.refresh([str(path)])
            return
        source = read_source(path, self.settings.index.max_file_bytes)
        if source is not None and self.index.add_file(str(path), source):
            self.teach_offline(str(path), source)

    def open_paths(self) -> set[str]:
        """File system paths of the open documents."""
        return {p for p in (uri_to_path(uri) for uri in self.store.uris()) if p}

    def in_workspace(self, path: str) -> bool:
        """True when ``path`` lies under one of the workspace roots."""
        resolved = Path(path)
        return any(resolved.is_relative_to(root) for root in self.roots)

    def refresh_document(self, uri: str) -> None:
        """Re-index an open document from the store (on open, save, pauses: never per keystroke).

        Its text is held by the index (shadowing the file on disk) until it closes. A document over
        ``REFRESH_INLINE_CHARS`` is parsed in a worker thread, the latest request per document
        winning; a smaller one here. A saved file is also re-checked on disk by the indexer.
        """
        path = uri_to_path(uri)
        if path is None or uri not in self.store or self.uri_excluded(uri):
            return
        snapshot = self.store.get(uri)
        self._open_paths = self._open_paths | {os.path.abspath(path)}
        teach = not self.model_serves()
        if teach:
            self.offline_stale.discard(uri)
        else:
            self.offline_stale.add(uri)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None and len(snapshot.text) > REFRESH_INLINE_CHARS:
            self._refresh_off_loop(loop, uri, path, snapshot, teach)
            return
        self._refresh_tokens.pop(uri, None)
        try:
            self.index.add_file(path, snapshot.text, snapshot.language_id)
            if teach:
                self.teach_offline(path, snapshot.text)
        except Exception:
            # The index only degrades context; a failure here must never fail didOpen/didSave.
            log.exception("indexing %s failed", uri)

    def _refresh_off_loop(
        self, loop: asyncio.AbstractEventLoop, uri: str, path: str, snapshot: Snapshot, teach: bool
    ) -> None:
        token = self._refresh_tokens.get(uri, 0) + 1
        self._refresh_tokens[uri] = token
        if self._refresh_pool is None:
            # One thread: jobs run in order, so the offline engine never learns an older text last.
            self._refresh_pool = concurrent.futures.ThreadPoolExecutor(
                1, thread_name_prefix="llm-lsp-refresh"
            )
        model = getattr(self.offline_provider(), "model", None) if teach else None
        text, language_id = snapshot.text, snapshot.language_id
        max_bytes = self.index.max_file_bytes

        def work() -> FileSymbols | None:
            if self._refresh_tokens.get(uri) != token:
                return None  # a newer version is queued: skip this one
            symbols = symbols_of(path, text, language_id, max_bytes)
            if model is not None and self._refresh_tokens.get(uri) == token:
                model.update(path, text)
            return symbols

        def install(future: asyncio.Future[FileSymbols | None]) -> None:
            if self._refresh_tokens.get(uri) != token or uri not in self.store:
                return
            del self._refresh_tokens[uri]
            if future.cancelled():
                return
            if (exc := future.exception()) is not None:
                log.error("indexing %s failed", uri, exc_info=exc)
                return
            symbols = future.result()
            if symbols is None:
                self.index.remove_file(path)  # too big, or no grammar: the disk version answers
            else:
                self.index.add_symbols(path, symbols)

        self.keep(loop.run_in_executor(self._refresh_pool, work)).add_done_callback(install)

    def document_saved(self, uri: str) -> None:
        """A document was saved: the index holds its text, and the indexer re-checks the file on disk."""
        self.refresh_document(uri)
        path = uri_to_path(uri)
        if path is not None and self.indexer is not None and self.in_workspace(path):
            self.indexer.refresh([path])

    def serve_offline(self) -> None:
        """The offline engine is about to answer: give it its budget and the open documents it lacks.

        In place of a model (one that failed, or none found on the server) the budget is a
        fallback's share of the workspace from then on (``offline_budget``), taught in the
        indexer's threads; with no model configured it is the engine's whole cap.
        """
        if not self.fallback_served:
            self.fallback_served = True
            self.resize_offline()  # in place of a model: the nearest workspace files from now on
        self.offline_provider()  # created now if a model served until now (it holds nothing before)
        self.catch_up_offline()

    def catch_up_offline(self) -> None:
        """Teach the offline engine the open documents it has not learnt yet (it is about to answer)."""
        for uri in list(self.offline_stale):
            self.offline_stale.discard(uri)
            path = uri_to_path(uri)
            if path is not None and uri in self.store and not self.uri_excluded(uri):
                self.teach_offline(path, self.store.get(uri).text)

    def file_changed(self, path: str, deleted: bool) -> None:
        """A workspace file changed on disk (not an open document): update the index and engine."""
        if self.indexer is not None and self.indexer.running:
            # The worker re-checks it: a deleted file's rows go, a changed one is re-parsed (and
            # taught to the offline engine) only if its content changed.
            self.indexer.refresh([path])
            if deleted:
                self._forget_workspace_file(path)
            return
        if deleted:
            self.index.remove_file(path)
            self._forget_workspace_file(path)
        elif not self.path_excluded(path):
            self.add_workspace_file(Path(path))

    # completion ---------------------------------------------------------------------------------

    def pipeline(self) -> completion.Pipeline:
        """The inline pipeline wired to this session's state."""
        provider = self.provider()
        return completion.Pipeline(
            provider=provider,
            settings=self.settings,
            cache=self.cache,
            debounce=self.debounce,
            # A model's prompts are redacted (a fallback to the offline engine keeps that prompt).
            build_prompt=self.build_prompt if not provider.is_offline else self.build_local_prompt,
            is_excluded=self.uri_excluded,
        )

    def build_prompt(self, snapshot: Snapshot, offset: int, *, leaves: bool = True) -> FimPrompt:
        """The privacy-gated prompt for a cursor, with this session's index, recent edits and files."""
        return completion.gated_prompt(
            snapshot,
            offset,
            uri_to_path(snapshot.uri),
            completion.PromptSources(
                settings=self.settings,
                leaves_machine=leaves,
                index=self.index if self.settings.index.enable else None,
                is_excluded=self.path_excluded,
                recent_edits=tuple(self.recent_edit_snippets(snapshot.uri)),
                open_files=tuple(self.open_files(snapshot.uri)),
                display_path=self.display_path,
            ),
        )

    def build_local_prompt(self, snapshot: Snapshot, offset: int) -> FimPrompt:
        """``build_prompt`` for the offline engine: the prompt stays here, so it is not redacted.

        Excluded files still never contribute, and invisible characters are still stripped.
        """
        return self.build_prompt(snapshot, offset, leaves=False)

    async def complete(self, uri: str, offset: int, *, explicit: bool) -> completion.InlineResult:
        """Suggestions for a cursor; while the model fails, the offline engine's (``offlineFallback``).

        Refuses excluded documents (``ExcludedFile``). The model's failure still shows in the status,
        so a user sees that the model is unreachable.
        """
        await self.until_ready("completion")
        self.refuse_excluded(uri)
        snapshot = self.store.get(uri)
        self.begin_work()
        release: Callable[[], None] | None = None
        try:
            pipeline = self.pipeline()
            # The offline engine computes on the loop and reads the index many times (each read
            # hands the interpreter over and waits to get it back): the indexer's threads, still
            # teaching it the workspace, stand still for those few milliseconds. A model's request
            # mostly waits on the network, when the indexer may run.
            release = self.hold_indexer() if pipeline.provider.is_offline else None
            try:
                result = await completion.suggest(pipeline, snapshot, offset, explicit=explicit)
            except ProviderError as exc:
                self.model_failed("completion", exc)
                if pipeline.provider.is_offline or not self.settings.offline_fallback:
                    self.set_status("error", message=str(exc))
                    raise
                log.warning("completion failed, answering from the offline engine: %s", exc)
                self.set_status("error", message=f"{exc} (offline engine answering)")
                self.serve_offline()
                offline = attrs.evolve(pipeline, provider=self.offline_provider())
                result = await completion.suggest(offline, snapshot, offset, explicit=True)
                return attrs.evolve(result, fallback=True)
        finally:
            if release is not None:
                release()
            self.end_work()
        self.next_edits.ghost_text(uri, result.version, bool(result.items))
        if self.status.state == "error":
            self.set_status(self.resting_state(), message=self.status_message())
        return result

    # actions and commands -----------------------------------------------------------------------

    async def resolve_action(self, data: Any, *, client_confirms: bool = True) -> ProposedEdit:
        """Compute a listed code action's edit (asks the model); excluded documents are refused.

        ``client_confirms``: the editor asks before applying an edit that needs confirmation; when it
        cannot, such an edit is refused (``UnsafeEdit``) instead of applied silently.
        """
        from lsp_server.app import actions
        from lsp_server.engine.rewrite import require_confirmable

        uri = data.get("uri", "") if isinstance(data, dict) else ""
        await self.ensure_privacy()
        self.refuse_excluded(uri)
        self.begin_work()
        try:
            provider = await self.provider_ready("actions")
            proposed = await actions.resolve(data, self.store, provider, self.settings)
        except ModelNotConfigured as exc:
            raise self.not_configured("actions", exc) from None
        except ProviderError as exc:
            self.model_failed("actions", exc)
            raise
        finally:
            self.end_work()
        require_confirmable([proposed], client_confirms)
        return proposed

    async def run_command(
        self,
        name: str,
        arguments: list[Any],
        report: Callable[[str], None] | None = None,
        *,
        client_confirms: bool = True,
    ) -> CommandResult:
        """Run an ``llm-lsp.*`` command on the store; excluded documents are refused.

        ``report`` receives progress messages. ``client_confirms`` as for ``resolve_action`` (the CLI
        confirms on its own terminal).
        """
        from lsp_server.app import commands
        from lsp_server.engine.rewrite import require_confirmable

        request = commands.parse(name, arguments)
        await self.ensure_privacy()
        self.refuse_excluded(request.uri)
        self.begin_work()
        try:
            provider = await self.provider_ready("actions")
            result = await commands.run(
                request, self.store, provider, self.settings, report=report or commands._noop
            )
        except ModelNotConfigured as exc:
            raise self.not_configured("actions", exc) from None
        except ProviderError as exc:
            self.model_failed("actions", exc)
            raise
        finally:
            self.end_work()
        require_confirmable(result.edits, client_confirms)
        return result

    # next edits ---------------------------------------------------------------------------------

    async def next_edit(
        self,
        uri: str,
        position: tuple[int, int],
        *,
        version: int | None = None,
        explicit: bool = False,
        confirmable: bool = False,
        always: bool = False,
    ) -> next_edit.NextEditResult:
        """The edit that follows the user's last one near ``position``; excluded documents are refused.

        ``version``: the version the client asks about (another one is ``ContentModified``).
        ``explicit``: the user asked (no ghost-text or budget refusal). ``confirmable``: the caller asks
        the user before applying an edit that adds powers (the CLI). ``always``: whatever
        ``nextEdit.enable`` says (a terminal command is the user's own request).
        """
        await self.ensure_privacy()
        self.refuse_excluded(uri)
        snapshot = self.store.get(uri)
        if version is not None and version != snapshot.version:
            raise ContentModified(f"{uri} is at version {snapshot.version}, not {version}")
        if not (always or self.settings.next_edit.enable):
            return next_edit.NextEditResult(uri, snapshot.version, reason=next_edit.DISABLED)
        self.begin_work()
        try:
            # The user's own request may wait for the server's model list; a typing pause never does.
            provider = await self.provider_ready("nextEdit") if explicit else self.provider_for("nextEdit")
            sources = next_edit.Sources(
                settings=self.settings,
                provider=provider,
                model=self.assignment("nextEdit").model,
                history=self.history,
                current=self.snapshot_of,
                is_excluded=self.uri_excluded,
                display_path=lambda other: self.display_path(uri_to_path(other) or uri_name(other)),
                calls=self.model_calls,
            )
            received = time.monotonic()
            result = await self.next_edits.predict(
                sources, snapshot, position, explicit=explicit, confirmable=confirmable
            )
        except ProviderError as exc:
            self.model_failed("nextEdit", exc)
            raise
        finally:
            self.end_work()
        self._count_next_edits(result, snapshot, position, received)
        return result

    def _count_next_edits(
        self, result: NextEditResult, snapshot: Snapshot, position: tuple[int, int], received: float
    ) -> None:
        """Offer the result's edits to the acceptance figures (kind ``nextEdit``); never fails the request."""
        try:
            text = snapshot.text
            self.acceptance.request(snapshot.uri, snapshot.offset_at(*position), text, kind="nextEdit")
            model = self.assignment("nextEdit").model or "offline"
            for edit in result.edits:
                (offer,) = self.acceptance.offer(
                    [edit.edit.new_text],
                    uri=snapshot.uri,
                    offset=snapshot.offset_at(*edit.edit.start),
                    document=text,
                    language=snapshot.language_id,
                    model=model,
                    received=received,
                    kind="nextEdit",
                )
                self._next_edit_offers[edit.id] = offer
                while len(self._next_edit_offers) > next_edit.SHOWN_KEPT:
                    self._next_edit_offers.pop(next(iter(self._next_edit_offers)))
        except Exception:  # counting must never cost the edit
            log.exception("acceptance bookkeeping failed for a next edit in %s", snapshot.uri)

    def next_edit_shown(self, edit_id: str) -> bool:
        """An editor showed next edit ``edit_id``; False for an id this session did not propose."""
        self.acceptance.shown(self._next_edit_offers.get(edit_id))
        return self.next_edits.was_shown(edit_id)

    def accept_next_edit(self, edit_id: str) -> bool:
        """The user accepted next edit ``edit_id``; False for an id this session did not propose."""
        self.acceptance.accepted(self._next_edit_offers.pop(edit_id, None))
        return self.next_edits.accept(edit_id, self.history, time.monotonic())

    # status and background work -----------------------------------------------------------------

    def set_status(self, state: str, model: str | None = None, message: str | None = None) -> None:
        """Update the status and tell whoever shows it (only when it changed)."""
        new = Status(state, self.status.model if model is None else model, message or "", self.status.summary)
        if new != self.status:
            self.status = new
            self.on_status(new)

    def show_summary(self) -> None:
        """Put the acceptance figures' one-line summary into the status (sent only when it changed)."""
        summary = self.stats.summary()
        if summary != self.status.summary:
            self.status = attrs.evolve(self.status, summary=summary)
            self.on_status(self.status)

    def model_label(self) -> str:
        """A short name for status bars: the model, ``m1 + m2`` when jobs use different ones, ``offline``."""
        return choice.label([self.assignment(role) for role in self.roles()])

    def status_message(self) -> str:
        """The status's longer text: which model serves which job, and why the offline engine serves."""
        assignments = [self.assignment(role) for role in self.roles()]
        lines = []
        for assignment in assignments:
            provider = self.providers.current(assignment.role)
            if provider is not None and not provider.is_offline:
                found = f" (chosen from the server's list: {assignment.note})" if assignment.note else ""
                lines.append(f"{choice.JOBS[assignment.role]}: {provider.description}{found}")
        return "\n".join(lines + choice.notes(assignments, self.providers.catalog))

    def refresh_status(self) -> None:
        """Show the current roles' models and the resting state (after a provider or list changed)."""
        self.set_status(self.resting_state(), self.model_label(), self.status_message())

    def model_serves(self) -> bool:
        """True when a model (not the offline engine) serves completions now."""
        provider = self.providers.current("completion")
        return provider is not None and not provider.is_offline

    def resting_state(self) -> str:
        """The state shown when nothing is running: ``offline`` for the offline engine, else ``idle``."""
        return "idle" if self.model_serves() else "offline"

    def begin_work(self) -> None:
        """Mark one model request as running; the status shows ``busy`` once work lasts ``BUSY_AFTER_S``.

        Why late: most completions end within milliseconds, and a spinner that flashes on every
        keystroke is noise that also costs two notifications per request; slow models and commands
        still show it.
        """
        self.running += 1
        if self.running == 1 and self._busy_timer is None and self.status.state != "busy":
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # called outside a loop: nothing would ever fire the timer
                self._show_busy()
                return
            self._busy_timer = loop.call_later(BUSY_AFTER_S, self._show_busy)

    def _show_busy(self) -> None:
        self._busy_timer = None
        if self.running:
            self.set_status("busy", message=self.status.message if self.status.state != "error" else "")

    def end_work(self) -> None:
        """Mark one model request as done; back to the resting state when none runs (errors stay)."""
        self.running = max(0, self.running - 1)
        if self.running == 0 and self._idle_warm_ups:
            self._wait_for_idle()
        if self.running == 0 and self._busy_timer is not None:
            self._busy_timer.cancel()
            self._busy_timer = None
        if self.running == 0 and self.status.state == "busy":
            self.set_status(self.resting_state(), message=self.status_message())

    def background_work(self) -> int:
        """Background tasks running, and SDK loads waiting for an idle moment (``warm_up_when_idle``)."""
        return len(self.background) + len(self._idle_warm_ups)

    def keep(self, task: asyncio.Future) -> asyncio.Future:
        """Keep a background task referenced until it ends, and log its failure once."""
        self.background.add(task)

        def done(finished: asyncio.Future) -> None:
            self.background.discard(finished)
            if not finished.cancelled() and (exc := finished.exception()) is not None:
                name = finished.get_name() if isinstance(finished, asyncio.Task) else repr(finished)
                log.error("background task %s failed", name, exc_info=exc)

        task.add_done_callback(done)
        return task
