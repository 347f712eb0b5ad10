"""The inline completion pipeline: one cursor in, the suggestions to show out.

Owns the order of the steps — snapshot -> privacy -> cache -> debounce -> context -> prompt ->
provider stream -> post-processing -> cache — and nothing else: each step is a function of the
engine layer, and every piece of state (documents, cache, debounce, provider) is passed in by the
server. Must not import pygls or openai, nor another feature module.

Cancellation is the caller's: this coroutine awaits only in the debounce sleep and while reading
the model stream, and the stream is read inside ``aclosing`` so a cancelled request closes the HTTP
stream. The result is tied to the snapshot's version; the server drops it if the document moved on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any

import attrs

from lsp_server.core import loop_steps
from lsp_server.core.documents import Snapshot
from lsp_server.core.errors import ExcludedFile
from lsp_server.core.settings import Settings
from lsp_server.engine import capabilities, context, postprocess
from lsp_server.engine.cache import SuggestionCache
from lsp_server.engine.debounce import AdaptiveDebounce
from lsp_server.engine.stream_stop import StreamStopper
from lsp_server.privacy import invisible, redaction
from lsp_server.providers.base import ModelRequest, Provider
from lsp_server.providers.prompts import FimPrompt

log = logging.getLogger(__name__)

# Builds the prompt for a cursor (context.build_context wired by the server with the index, the
# privacy gate and recent files). Synchronous and pure from the pipeline's point of view.
PromptBuilder = Callable[[Snapshot, int], FimPrompt]


@attrs.frozen
class InlineResult:
    """What to show at the cursor: suggestions for ``offset`` of ``version``.

    Each item's text replaces the range from ``offset`` to ``offset + item.replaces`` (the auto-closed
    closers it writes itself; empty for a plain insertion).
    """

    uri: str
    version: int
    offset: int
    items: tuple[postprocess.Suggestion, ...]
    from_cache: bool = False
    fallback: bool = False  # served by the offline engine because the model failed
    model_seconds: float = 0.0  # time spent waiting for the provider's stream (for the overhead figure)

    @property
    def suggestions(self) -> tuple[str, ...]:
        """The items' texts."""
        return tuple(item.text for item in self.items)


@attrs.frozen
class Pipeline:
    """The long-lived collaborators of the pipeline, owned by the server and passed in per request."""

    provider: Provider
    settings: Settings
    cache: SuggestionCache
    debounce: AdaptiveDebounce
    build_prompt: PromptBuilder
    is_excluded: Callable[[str], bool] = lambda uri: False
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    clock: Callable[[], float] = time.monotonic


# Post-processing sees this much text around the cursor, whatever the document or its lines: enough for
# its window (postprocess.WINDOW_LINES each way) and its search for enclosing headers on ordinary code,
# while a 4 MB minified line costs the same as a short one. No tree: the scene parses its own window.
SCENE_BEFORE_CHARS = 16_000
SCENE_AFTER_CHARS = 4_000
LONG_LINE_SCENE_CHARS = 2_000
# Text read beyond a prompt window clipped inside a line, to find secrets the clip cuts: a token, key or
# JWT on one line is shorter than this. The scan costs about as much as the window's own.
REDACT_MARGIN_CHARS = 1_000


def cursor_for(snapshot: Snapshot, offset: int, multiline: str) -> postprocess.Cursor:
    """The post-processing view of a cursor in a snapshot: a bounded window of text around it.

    The window starts at a line start when one is in reach (a cut line would look like code at the
    wrong indentation); inside a line longer than the window it starts mid-line.
    """
    text = snapshot.text
    start = max(0, offset - SCENE_BEFORE_CHARS)
    if start > 0:
        newline = text.find("\n", start, offset)
        # Inside a line longer than the window (minified code, data) lines and indentation mean
        # little: a smaller window keeps the scene's parse cheap.
        start = newline + 1 if newline >= 0 else offset - LONG_LINE_SCENE_CHARS
    end = min(len(text), offset + SCENE_AFTER_CHARS)
    newline = text.rfind("\n", offset, end) if end < len(text) else -1
    end = newline if newline >= 0 else end
    return postprocess.Cursor(
        text=text[start:end],
        offset=offset - start,
        grammar=snapshot.grammar,
        multiline=multiline,
    )


# No synchronous step may hold the event loop longer than this (every other request waits behind it).
SLOW_STEP_SECONDS = 0.05


@contextlib.contextmanager
def slow_step(step: str, where: str) -> Iterator[None]:
    """Log a warning when the step in the ``with`` block held the loop longer than ``SLOW_STEP_SECONDS``.

    Steps are bounded by the window, not by the document or its lines; a warning in a user's log
    names the next input shape that escaped a bound.
    """
    started = time.perf_counter()
    with loop_steps.step():  # background threads wait at their next checkpoint meanwhile
        yield
    took = time.perf_counter() - started
    if took > SLOW_STEP_SECONDS:
        log.warning(
            "slow step: %s took %.0f ms for %s (bound %.0f ms)",
            step,
            took * 1000,
            where,
            SLOW_STEP_SECONDS * 1000,
        )


def _cache_keys(snapshot: Snapshot, offset: int) -> tuple[str, str]:
    # The cache compares only bounded windows, so a lookup never costs O(file size).
    return snapshot.text[max(0, offset - 2000) : offset], snapshot.text[offset : offset + 500]


async def suggest(pipeline: Pipeline, snapshot: Snapshot, offset: int, *, explicit: bool) -> InlineResult:
    """Compute the suggestions for ``offset`` in ``snapshot`` (explicit: the user asked, no debounce)."""
    settings = pipeline.settings
    empty = InlineResult(snapshot.uri, snapshot.version, offset, ())
    if not settings.completion.enable:
        return empty
    if snapshot.language_id in settings.completion.disabled_languages:
        return empty
    if pipeline.is_excluded(snapshot.uri):
        raise ExcludedFile(f"{snapshot.uri} is excluded by the privacy rules: no AI features here")

    now = pipeline.clock()
    prefix_key, suffix_key = _cache_keys(snapshot, offset)
    # Explicit requests ask for alternatives (cycling): a cached single answer does not do.
    candidates = settings.completion.candidates if explicit else 1
    cached = pipeline.cache.get(snapshot.uri, prefix_key, suffix_key, now, candidates=candidates)
    if cached:
        # A suggestion served again replaces the same closers, when the user typed into its start.
        cursor = cursor_for(snapshot, offset, settings.completion.multiline)
        items = tuple(postprocess.Suggestion(t, postprocess.replaced_length(t, cursor)) for t in cached)
        return InlineResult(snapshot.uri, snapshot.version, offset, items, from_cache=True)

    if not explicit:
        pipeline.debounce.observe_keystroke(now)
        await pipeline.sleep(pipeline.debounce.delay(now))

    with slow_step("scene window", snapshot.uri):
        cursor = cursor_for(snapshot, offset, settings.completion.multiline)
    with slow_step("prompt", snapshot.uri):
        prompt = pipeline.build_prompt(snapshot, offset)
    deadline_s = settings.completion.deadline_ms / 1000
    request = ModelRequest(
        prompt=prompt,
        deadline=pipeline.clock() + (deadline_s * 3 if explicit else deadline_s),
        max_tokens=settings.completion.max_tokens,
        temperature=settings.completion.temperature if candidates == 1 else 0.6,
        n=candidates,
        purpose="completion",
    )
    chat = not isinstance(prompt, FimPrompt) or getattr(pipeline.provider, "prompt_mode", "fim") == "chat"
    # One scene per request: the stream's stop checks and every candidate's post-processing share it.
    with slow_step("scene", snapshot.uri):
        scene = request_scene(cursor)
    started = pipeline.clock()
    texts = await read_candidates(pipeline.provider, request, cursor, chat=chat, scene=scene)
    model_seconds = pipeline.clock() - started
    pipeline.debounce.observe_latency(model_seconds)

    with slow_step("post-processing", snapshot.uri):
        shown = dedupe(postprocess.suggest(text, cursor, chat=chat, scene=scene) for text in texts)
    if log.isEnabledFor(logging.DEBUG):
        log.debug(
            "post-processing: %d answer(s) %s -> shown %s",
            len(texts),
            [text[:120] for text in texts],
            [item.text[:120] for item in shown],
        )
    # Held back (and logged): a multi-line suggestion adding process execution with a URL or secret path.
    safe = set(
        capabilities.without_risky([item.text for item in shown], snapshot.grammar, prefix_key + suffix_key)
    )
    shown = tuple(item for item in shown if item.text in safe)
    if shown:
        texts_shown = [item.text for item in shown]
        pipeline.cache.put(snapshot.uri, prefix_key, suffix_key, texts_shown, pipeline.clock(), candidates)
    return InlineResult(snapshot.uri, snapshot.version, offset, shown, model_seconds=model_seconds)


def request_scene(cursor: postprocess.Cursor) -> postprocess.Scene | None:
    """The post-processing scene for ``cursor``, or None (each step then builds its own, and logs)."""
    try:
        return postprocess.scene_for(cursor)
    except Exception:  # model-independent, but a scene bug must cost at most this shortcut
        log.exception("scene for %d failed", cursor.offset)
        return None


async def read_candidates(
    provider: Provider,
    request: ModelRequest,
    cursor: postprocess.Cursor,
    *,
    chat: bool = False,
    scene: postprocess.Scene | None = None,
) -> list[str]:
    """Read the model stream into one text per candidate, closing it as soon as enough arrived.

    Chat answers are read to the end: prose may come before the code, so "enough" cannot be judged
    from the first lines.

    A candidate whose stream ended without a finish reason (cut connection) is still usable for
    ghost text: post-processing only shows complete lines/blocks of it.
    """
    # The scene is built once per request; each delta then costs work proportional to its own text.
    with slow_step("stream stop scene", "this request"):
        stopper = StreamStopper(cursor, scene) if not chat else None
    texts: dict[int, list[str]] = {}
    finished: set[int] = set()
    stopped: set[int] = set()
    async with contextlib.aclosing(provider.stream(request)) as stream:
        async for delta in stream:
            if stopper is not None:
                with slow_step("streamed chunk check", "this request"):
                    if stopper.feed(delta.index, delta.text):
                        stopped.add(delta.index)
            else:
                texts.setdefault(delta.index, []).append(delta.text)
            if delta.finish_reason is not None:
                finished.add(delta.index)
            if len(finished | stopped) >= request.n and not stopped <= finished:
                # The model is still writing something we will not show: hang up (the connection is
                # dropped, which also stops the generation on servers that notice).
                break
            # Once every candidate finished, only the stream's end marker follows: reading it lets the
            # HTTP client put the connection back in its pool instead of paying a connect next time.
    if stopper is not None:
        return stopper.texts()
    return ["".join(parts) for _, parts in sorted(texts.items())]


def dedupe(suggestions: Iterable[postprocess.Suggestion]) -> tuple[postprocess.Suggestion, ...]:
    """Non-empty suggestions in order, each once (ignoring trailing whitespace)."""
    seen: set[tuple[str, int]] = set()
    kept: list[postprocess.Suggestion] = []
    for item in suggestions:
        key = (item.text.rstrip(), item.replaces)
        if key[0] and key not in seen:
            seen.add(key)
            kept.append(item)
    return tuple(kept)


@attrs.frozen
class PromptSources:
    """What a prompt may draw on besides the document: the index, other files, the privacy rules."""

    settings: Settings
    index: Any = None  # a context.SymbolIndex (the workspace index), or None
    is_excluded: Callable[[str], bool] = lambda path: False
    recent_edits: tuple[context.Snippet, ...] = ()
    open_files: tuple[tuple[str, str], ...] = ()
    display_path: Callable[[str], str] = context.base_name  # a path as the prompt may name it
    # False: the prompt stays in this process (the offline engine), so secrets need no redaction.
    leaves_machine: bool = True


def sanitize(text: str, redact: bool) -> str:
    """Prompt text as it may leave the machine: no invisible characters and (``redact``) no secrets."""
    text = invisible.strip_invisible(text)
    return redaction.redact(text).text if redact else text


def gated_prompt(snapshot: Snapshot, offset: int, path: str | None, sources: PromptSources) -> FimPrompt:
    """The prompt for a cursor: window, scopes, cross-file definitions, recent edits, similar code.

    Every piece passes the privacy gate: excluded files never contribute, secrets are redacted (in a
    prompt that leaves the machine) and invisible characters stripped before anything is put into the
    prompt. The line the cursor splits is redacted whole (``redact_fim``), so a secret being typed
    cannot leak in two halves.
    """
    settings = sources.settings
    redact = settings.privacy.redact_secrets and sources.leaves_machine
    built = context.build_context(
        text=snapshot.text,
        offset=offset,
        path=path,
        language_id=snapshot.language_id,
        # No tree of the whole document: each keystroke makes a new version, and reparsing all of it
        # per request costs O(file) (16-20 ms for 10k lines of Python). The scopes come from a parse
        # of the construct around the cursor (context.scope_region).
        tree=None,
        index=sources.index,
        budget_chars=settings.completion.max_prompt_chars,
        recent_edits=sources.recent_edits,
        open_files=sources.open_files,
        sanitize=lambda text: sanitize(text, redact),
        is_excluded=sources.is_excluded,
        display_path=sources.display_path,
    )
    prompt = built.prompt
    if redact:
        # A window clipped inside a long line may cut a secret in two: what is in the window must go
        # too, so the scan also reads a margin of text outside each mid-line clip.
        text, (start, end) = snapshot.text, built.span
        head = text[max(0, start - REDACT_MARGIN_CHARS) : start] if start and text[start - 1] != "\n" else ""
        tail = text[end : end + REDACT_MARGIN_CHARS] if end < len(text) and text[end] not in "\r\n" else ""
        prefix, suffix, _ = redaction.redact_fim(
            prompt.prefix, prompt.suffix, path or "", margins=(head, tail)
        )
        prompt = attrs.evolve(prompt, prefix=prefix, suffix=suffix)
    if settings.log_prompts:
        shown = redaction.scrub_for_log(prompt.context + prompt.prefix + "<CURSOR>" + prompt.suffix, True)
        log.debug("prompt for %s:\n%s", path, shown)
    return prompt
