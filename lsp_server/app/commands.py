"""Palette commands: ``llm-lsp.fix``, ``.explain``, ``.document``, ``.tests``, ``.simplify``, ``.refactor``.

Owns reading a command's arguments (a dict ``{uri, range | position, version?, instruction?,
diagnostics?}``, or positional ``uri, range, instruction``), running it end to end with the rewrite
engine, and what each command produces: edits for the current document (fix, document, simplify,
annotate, refactor), a new or extended test file in the project's convention (tests), or a Markdown
explanation written under the cache directory (explain). The snapshot is taken before the first await
and every edit carries its version; the adapter applies it through ``workspace/applyEdit`` only if the
document is still at that version. Progress goes through the ``report`` callback (``$/progress``).

Must not import pygls, openai or another feature. Its only I/O is reading an existing test file that
is not open and writing explanation files under the cache directory.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import attrs

from lsp_server.core.documents import DocumentStore, Snapshot
from lsp_server.core.errors import ContentModified, InvalidRequest
from lsp_server.core.layout import cache_dir
from lsp_server.core.settings import Settings
from lsp_server.core.text import TextEdit
from lsp_server.core.uris import uri_to_path
from lsp_server.engine import rewrite
from lsp_server.engine.capabilities import Task
from lsp_server.engine.rewrite import Diagnostic, ProposedEdit, Range
from lsp_server.providers.base import Provider

PREFIX = "llm-lsp."
# command name -> action of the rewrite engine
COMMANDS: dict[str, str] = {
    "llm-lsp.fix": "fix",
    "llm-lsp.explain": "explain",
    "llm-lsp.document": "document",
    "llm-lsp.tests": "tests",
    "llm-lsp.simplify": "simplify",
    "llm-lsp.annotate": "annotate",
    "llm-lsp.refactor": "refactor",
}
_FIX_WITHOUT_DIAGNOSTICS = (
    "Find and fix the bugs and errors in this code with the smallest change. If nothing is wrong, "
    "answer with the code unchanged."
)


@attrs.frozen
class CommandRequest:
    """One command invocation, decoded."""

    action: str
    uri: str
    range: Range
    version: int | None = None
    instruction: str = ""
    diagnostics: tuple[Diagnostic, ...] = ()
    scope: str = "function"


@attrs.frozen
class CommandResult:
    """What a command produced: edits to apply, a document to show, and one short message.

    ``show`` is a file URI to open (the explanation, the test file); ``text`` is what to show in a
    message instead when the client cannot open documents.
    """

    message: str
    edits: tuple[ProposedEdit, ...] = ()
    show: str | None = None
    text: str | None = None


def _noop(_message: str) -> None:
    return None


def parse(command: str, arguments: Sequence[Any] | None) -> CommandRequest:
    """Decode ``workspace/executeCommand`` arguments; ``InvalidRequest`` says what was expected."""
    action = COMMANDS.get(command)
    if action is None:
        raise InvalidRequest(f"unknown command {command!r}")
    args = list(arguments or [])
    try:
        if args and isinstance(args[0], Mapping):
            given = dict(args[0])
        elif args and isinstance(args[0], str):
            given = {"uri": args[0]}
            if len(args) > 1:
                given["range"] = args[1]
            if len(args) > 2:
                given["instruction"] = args[2]
        else:
            raise ValueError("no arguments")
        uri = given["uri"]
        if not isinstance(uri, str) or not uri:
            raise ValueError("uri")
        where = given.get("range", given.get("position"))
        rng = rewrite.decode_range(where) if where is not None else ((0, 0), (0, 0))
        version = given.get("version")
        if version is not None and not isinstance(version, int):
            raise ValueError("version")
        instruction = given.get("instruction") or ""
        if not isinstance(instruction, str):
            raise ValueError("instruction")
        scope = rewrite.scope_choice(given.get("scope"))
        diagnostics = rewrite.decode_diagnostics(given.get("diagnostics"))
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidRequest(
            f"{command} expects [{{uri, range, instruction?}}] (or uri, range, instruction): {exc}"
        ) from None
    if action == "refactor" and not instruction.strip():
        raise InvalidRequest('llm-lsp.refactor needs an instruction, e.g. "use pathlib" or "make it async"')
    if action == "fix" and diagnostics and where is None:
        rng = (min(d.range[0] for d in diagnostics), max(d.range[1] for d in diagnostics))
        scope = "enclosing"
    return CommandRequest(action, uri, rng, version, instruction.strip(), diagnostics, scope)


async def run(
    request: CommandRequest,
    store: DocumentStore,
    provider: Provider,
    settings: Settings,
    *,
    cache: Path | None = None,
    report: Callable[[str], None] = _noop,
    clock: Callable[[], float] = time.monotonic,
) -> CommandResult:
    """Run one command; raises typed errors (``ContentModified``, ``TruncatedAnswer``, ...)."""
    snapshot = store.get(request.uri)
    if request.version is not None and request.version != snapshot.version:
        raise ContentModified(f"{request.uri} changed since the command was invoked; run it again")
    rewrite.require_model(provider)
    scope = rewrite.find_scope(snapshot, request.range, request.scope)
    report(f"asking the model about the {scope.describe()}")
    limits = rewrite.Budget.from_settings(settings, clock)
    if request.action == "explain":
        return await _explain(provider, snapshot, scope, limits, cache or cache_dir())
    if request.action == "tests":
        return await _tests(provider, store, snapshot, scope, limits)
    task = _task(request, snapshot)
    asked = Task(request.action, request.instruction, tuple(d.message for d in request.diagnostics))
    result = await rewrite.rewrite(
        provider, snapshot, scope, task, limits, diagnostics=request.diagnostics, asked=asked
    )
    _still_current(store, snapshot)
    edits = result.edits
    if not edits:
        return CommandResult(f"llm-lsp: the model proposed no change to the {scope.describe()}")
    label = f"llm-lsp {request.action}: {scope.describe()}"
    changed = len({e.start[0] for e in edits} | {e.end[0] for e in edits})
    return CommandResult(
        f"llm-lsp: {request.action} changed {changed} line(s) of the {scope.describe()}",
        (rewrite.proposed(snapshot.uri, snapshot.version, edits, label, review=result.review),),
    )


def _task(request: CommandRequest, snapshot: Snapshot) -> str:
    if request.action == "fix":
        if request.diagnostics:
            return rewrite.instruction("fix", snapshot)
        return request.instruction or _FIX_WITHOUT_DIAGNOSTICS
    if request.action == "refactor":
        return "Refactor this code as the user asks: " + request.instruction
    return rewrite.instruction(request.action, snapshot)


def _still_current(store: DocumentStore, snapshot: Snapshot) -> None:
    if snapshot.uri not in store or store.get(snapshot.uri).version != snapshot.version:
        raise ContentModified(f"{snapshot.uri} changed while the model was answering; nothing applied")


async def _explain(
    provider: Provider, snapshot: Snapshot, scope: rewrite.Scope, limits: rewrite.Budget, cache: Path
) -> CommandResult:
    markdown = await rewrite.explain(provider, snapshot, scope, limits)
    path = snapshot.uri.rsplit("/", 1)[-1] or "untitled"
    name = posixpath.splitext(unquote(path))[0] or "untitled"
    digest = hashlib.sha1(f"{snapshot.uri}:{scope.first_line}".encode(), usedforsecurity=False).hexdigest()[
        :8
    ]
    target = cache / "explain" / f"{name}-L{scope.first_line + 1}-{digest}.md"
    target.parent.mkdir(parents=True, exist_ok=True)
    body = f"# {scope.describe().capitalize()} of `{unquote(path)}`\n\n{markdown}\n"
    target.write_text(body, encoding="utf-8")
    return CommandResult(
        f"llm-lsp: explanation of the {scope.describe()} written to {target}",
        show=target.as_uri(),
        text=markdown,
    )


async def _tests(
    provider: Provider, store: DocumentStore, snapshot: Snapshot, scope: rewrite.Scope, limits: rewrite.Budget
) -> CommandResult:
    source = uri_to_path(snapshot.uri)
    if source is None:
        raise InvalidRequest("tests can only be generated for files on disk (file: URIs)")
    target = rewrite.test_target(source, snapshot.grammar, os.path.exists)
    target_uri = Path(target.path).as_uri()
    open_target = store.get(target_uri) if target_uri in store else None
    if open_target is not None:
        existing: str | None = open_target.text
    else:
        try:
            existing = Path(target.path).read_text(encoding="utf-8")
        except FileNotFoundError:
            existing = None
        except OSError as exc:
            raise InvalidRequest(f"cannot read {target.path}: {exc.strerror or exc}") from None
    generated = await rewrite.generate_tests(provider, snapshot, scope, target, existing, limits)
    code = generated.code
    _still_current(store, snapshot)
    if open_target is not None and (
        target_uri not in store or store.get(target_uri).version != open_target.version
    ):
        raise ContentModified(f"{target_uri} changed while the model was answering; nothing applied")
    label = f"llm-lsp tests for the {scope.describe()}"
    if existing is None:
        edit = rewrite.proposed(
            target_uri, None, [TextEdit((0, 0), (0, 0), code)], label, review=generated.review, create=True
        )
        message = f"llm-lsp: tests written to a new file {target.path}"
    else:
        version = open_target.version if open_target is not None else None
        appended = rewrite.append_edit(existing, code, store.encoding)
        edit = rewrite.proposed(target_uri, version, [appended], label, review=generated.review)
        message = f"llm-lsp: tests appended to {target.path}"
    return CommandResult(message, (edit,), show=target_uri)
