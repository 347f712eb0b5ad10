"""Code actions: the instant listing, and the lazy resolve that asks the model for the edit.

Owns which AI actions are offered for a range — "Fix with AI: <message>" per diagnostic of the request
(from any language server) plus one for all of them, the ``refactor.rewrite`` family (simplify,
document, type annotations where the language has them, generate tests, explain) and the custom
``actions.custom`` — and how a chosen action becomes a ``ProposedEdit``. A custom action's prompt counts
as the user's request (which may explain a power the edit adds) only when the user's own settings hold
it, never when only a workspace's do. Listing never calls a model, parses nothing and does no I/O, so
it stays far under 20 ms; each offer carries in ``data`` everything resolve needs (uri, version,
range, action, diagnostics). Resolve refuses a document whose version
moved (``ContentModified``), before and after the model call.

"Explain" and "Generate tests" do not edit the current document: they are offered as commands
(``llm-lsp.explain``, ``llm-lsp.tests``) run by the commands feature. Must not import pygls, openai or
another feature; plain types in, plain types out (the adapter converts).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from lsp_server.core.documents import DocumentStore, Snapshot
from lsp_server.core.errors import ContentModified, InvalidRequest
from lsp_server.core.settings import Settings
from lsp_server.engine import rewrite
from lsp_server.engine.capabilities import Task
from lsp_server.engine.rewrite import Diagnostic, ProposedEdit, Range
from lsp_server.providers.base import Provider

QUICKFIX = "quickfix"
REWRITE = "refactor.rewrite"
EXPLAIN_COMMAND = "llm-lsp.explain"
TESTS_COMMAND = "llm-lsp.tests"
TITLE_CHARS = 80

# (action, title): the refactor family, in menu order. Fixes come first, from the diagnostics.
_REWRITES: tuple[tuple[str, str], ...] = (
    ("simplify", "AI: Simplify"),
    ("document", "AI: Add documentation"),
    ("annotate", "AI: Add type annotations"),
    ("tests", "AI: Generate tests"),
    ("explain", "AI: Explain"),
)
_COMMANDS = {"explain": EXPLAIN_COMMAND, "tests": TESTS_COMMAND}
_SCOPES = ("selection", "function", "file", "enclosing")


@attrs.frozen
class ActionOffer:
    """One listed action. ``data`` is JSON-able; ``command`` set: run that command with ``[data]``."""

    title: str
    kind: str
    data: dict[str, Any]
    diagnostics: tuple[Diagnostic, ...] = ()
    command: str | None = None


@attrs.frozen
class ActionRequest:
    """The decoded ``data`` of an offer."""

    uri: str
    version: int
    range: Range
    action: str
    scope: str = "function"
    diagnostics: tuple[Diagnostic, ...] = ()
    prompt: str = ""
    title: str = ""


def _kind_wanted(kind: str, only: Sequence[str] | None) -> bool:
    if not only:
        return True
    return any(kind == wanted or kind.startswith(wanted + ".") for wanted in only)


def _title_of(message: str) -> str:
    first = " ".join(message.strip().split("\n", 1)[0].split())
    return first if len(first) <= TITLE_CHARS else first[: TITLE_CHARS - 1] + "…"


def _covering(ranges: Sequence[Range]) -> Range:
    return min(r[0] for r in ranges), max(r[1] for r in ranges)


def list_actions(
    snapshot: Snapshot,
    rng: Range,
    diagnostics: Sequence[Diagnostic],
    custom: Sequence[Any] = (),
    only: Sequence[str] | None = None,
) -> list[ActionOffer]:
    """The AI actions for ``rng`` of ``snapshot``: cheap, no model call, no parsing, no I/O."""
    offers: list[ActionOffer] = []
    base = {"uri": snapshot.uri, "version": snapshot.version}

    def offer(title: str, kind: str, action: str, at: Range, scope: str, **extra: Any) -> None:
        if not _kind_wanted(kind, only):
            return
        found = tuple(extra.pop("diagnostics", ()))
        data = {**base, "range": rewrite.encode_range(at), "action": action, "scope": scope, **extra}
        data["diagnostics"] = [rewrite.encode_diagnostic(d) for d in found]
        offers.append(
            ActionOffer(
                title=title,
                kind=kind,
                data=data,
                diagnostics=found,
                command=_COMMANDS.get(action),
            )
        )

    for diagnostic in diagnostics:
        offer(
            f"Fix with AI: {_title_of(diagnostic.message)}",
            QUICKFIX,
            "fix",
            diagnostic.range,
            "enclosing",
            diagnostics=(diagnostic,),
        )
    if len(diagnostics) > 1:
        offer(
            f"Fix all {len(diagnostics)} problems with AI",
            QUICKFIX,
            "fix",
            _covering([d.range for d in diagnostics]),
            "enclosing",
            diagnostics=tuple(diagnostics),
        )
    annotations = rewrite.has_type_annotations(snapshot.grammar, snapshot.language_id)
    for action, title in _REWRITES:
        if action == "annotate" and not annotations:
            continue
        offer(title, REWRITE, action, rng, "function")
    for index, entry in enumerate(custom):
        parsed = _custom_entry(entry)
        if parsed is None:
            continue
        title, prompt, scope, kind = parsed
        offer(title, kind, "custom", rng, scope, prompt=prompt, label=title, custom=index)
    return offers


def _custom_entry(entry: Any) -> tuple[str, str, str, str] | None:
    """(title, prompt, scope, kind) of a valid ``actions.custom`` entry; None skips a broken one."""
    if not isinstance(entry, Mapping):
        return None
    title, prompt = entry.get("title"), entry.get("prompt")
    if not isinstance(title, str) or not title.strip() or not isinstance(prompt, str) or not prompt.strip():
        return None
    scope = rewrite.scope_choice(entry.get("scope"))
    kind = entry.get("kind")
    if not isinstance(kind, str) or not (
        kind == QUICKFIX or kind == "refactor" or kind.startswith("refactor.")
    ):
        kind = REWRITE
    return title.strip(), prompt, scope, kind


def decode(data: Any) -> ActionRequest:
    """The ``data`` of an offer back to a request; ``InvalidRequest`` when it is not ours or broken."""
    try:
        if not isinstance(data, Mapping):
            raise ValueError(data)
        action = data["action"]
        if action not in rewrite.ACTIONS or not isinstance(data["uri"], str):
            raise ValueError(action)
        version = data["version"]
        if not isinstance(version, int):
            raise ValueError(version)
        scope = data.get("scope", "function")
        return ActionRequest(
            uri=data["uri"],
            version=version,
            range=rewrite.decode_range(data["range"]),
            action=action,
            scope=scope if scope in _SCOPES else "function",
            diagnostics=rewrite.decode_diagnostics(data.get("diagnostics")),
            prompt=str(data.get("prompt") or ""),
            title=str(data.get("label") or ""),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidRequest(f"this code action's data is not llm-lsp's or is damaged: {exc!r}") from None


async def resolve(
    data: Any,
    store: DocumentStore,
    provider: Provider,
    settings: Settings,
    clock: Callable[[], float] = time.monotonic,
) -> ProposedEdit:
    """Compute the edit of a chosen action; the result carries the version it was computed for.

    Raises ``ContentModified`` when the document is not (or no longer, once the model answered) at the
    listed version, ``ModelNotConfigured`` with only the offline engine, and the rewrite checks' errors.
    """
    request = decode(data)
    if request.action in _COMMANDS:
        raise InvalidRequest(f"'{request.action}' runs as the command {_COMMANDS[request.action]}")
    snapshot = store.get(request.uri)
    if snapshot.version != request.version:
        raise ContentModified(f"{request.uri} changed since the actions were listed; ask again")
    rewrite.require_model(provider)
    scope = rewrite.find_scope(snapshot, request.range, request.scope)
    task = rewrite.instruction(request.action, snapshot, request.prompt)
    limits = rewrite.Budget.from_settings(settings, clock)
    # A custom action's prompt is the user's request only when the user's own settings hold it; one a
    # workspace supplied is repository text, and repository text never explains a power an edit adds.
    own = request.prompt if settings.actions.users_own(request.prompt) else ""
    asked = Task(request.action, own, tuple(d.message for d in request.diagnostics))
    result = await rewrite.rewrite(
        provider, snapshot, scope, task, limits, diagnostics=request.diagnostics, asked=asked
    )
    if request.uri not in store or store.get(request.uri).version != snapshot.version:
        raise ContentModified(f"{request.uri} changed while the model was answering; nothing applied")
    label = request.title or _label(request.action, scope)
    return rewrite.proposed(snapshot.uri, snapshot.version, result.edits, label, review=result.review)


def _label(action: str, scope: rewrite.Scope) -> str:
    verbs = {
        "fix": "Fix",
        "simplify": "Simplify",
        "document": "Document",
        "annotate": "Add type annotations to",
        "refactor": "Refactor",
    }
    return f"llm-lsp: {verbs.get(action, 'Rewrite')} {scope.describe()}"
