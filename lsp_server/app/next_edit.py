"""Next edits: after an edit, the edit that follows near the cursor, asked of the model and checked.

Owns one next-edit request end to end with plain types: when to ask (an editor asks after a typing
pause that follows an edit, or on the user's request; an automatic request is refused while ghost
text shows at the cursor and when the call budget shared with completions is spent), the prompt
(the recent edits of every document the privacy rules let through, the editable region with its
context, secrets redacted), the model call (cancellable: the next change to the document and a newer
request cancel it), and the answer's checks (``engine/next_edit_answer.py``). A result is tied to
the document version it was computed for; one computed for an older version is never returned.

It also keeps what was shown (an id per edit) and what the user accepted: an accepted edit is marked
in the edit history, and the rest of its prediction is offered next without asking the model again,
as long as the region is exactly as the accepted edit left it.

Must not import pygls, openai or another feature; the Session passes its state in (``Sources``).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

import attrs

from lsp_server.core.documents import Snapshot
from lsp_server.core.errors import ContentModified, UnsafeEdit
from lsp_server.core.settings import Settings
from lsp_server.core.text import TextEdit, line_content_length
from lsp_server.core.uris import uri_basename, uri_name
from lsp_server.engine.call_budget import CallBudget
from lsp_server.engine.edit_history import EditHistory
from lsp_server.privacy import invisible, redaction
from lsp_server.providers.base import ModelRequest, Provider
from lsp_server.providers.prompts import ChatPrompt, CompletionPrompt

if TYPE_CHECKING:
    from lsp_server.engine import next_edit_answer
    from lsp_server.engine.editable_region import Region
    from lsp_server.providers import edit_formats

# The region, the edit formats, the answer's checks and reader (``engine.editable_region``,
# ``providers.edit_formats``, ``engine.next_edit_answer``, ``engine.rewrite``: about 20 ms of imports)
# are imported by the first prediction, not with this module: the Session imports it before a first
# completion can be answered, which needs none of them.

log = logging.getLogger(__name__)

OFFLINE = (
    "the offline engine does not predict edits: next edits need a model (set OPENAI_BASE_URL and "
    "LLM_LSP_MODEL, or llmLsp.baseUrl and llmLsp.model)"
)
DISABLED = "next edits are off (set llmLsp.nextEdit.enable to true)"
GHOST_SHOWN = "ghost text is shown at the cursor"
OVER_BUDGET = "the model-call budget shared with completions is spent; type on"
MAX_ANSWER_CHARS = 40_000  # a rewritten region is a few thousand characters; more is not an answer
EDITS_CHARS = 6_000  # recent edits shown in a prompt at most (the newest kept)
SHOWN_KEPT = 32  # predictions remembered for their accept command


@attrs.frozen
class NextEdit:
    """One proposed edit of ``uri`` at ``version``, and how to refer to it (``id``) when it is accepted.

    ``needs_confirmation``: it adds powers the user's own edits did not hold (``warning`` says which);
    only a door that asks the user (the CLI) ever gets such an edit.
    """

    id: str
    uri: str
    version: int
    edit: TextEdit
    needs_confirmation: bool = False
    warning: str = ""


@attrs.frozen
class NextEditResult:
    """The edits proposed for a cursor (alternatives, best first), or why there are none (``reason``)."""

    uri: str
    version: int
    edits: tuple[NextEdit, ...] = ()
    reason: str = ""
    model_seconds: float = 0.0
    from_prediction: bool = False  # the rest of an accepted prediction: no model call


@attrs.frozen
class Sources:
    """What a next edit draws on besides the document, wired by the Session."""

    settings: Settings
    provider: Provider
    model: str  # the model serving next edits (its name picks the prompt format)
    history: EditHistory
    current: Callable[[str], Snapshot | None]  # a document's snapshot now (None: closed)
    is_excluded: Callable[[str], bool]  # by URI: the privacy rules
    display_path: Callable[[str], str]  # by URI: how a prompt names a document
    calls: Callable[[], int] = lambda: 0  # model requests started so far, by every feature
    clock: Callable[[], float] = time.monotonic


@attrs.define
class _Shown:
    uri: str
    version: int
    first_line: int
    region_text: str
    predicted: str
    proposal: next_edit_answer.Proposal
    time: float


@attrs.frozen
class _Pending:
    """The rest of an accepted prediction: the region as the accepted edit left it, and as predicted."""

    first_line: int
    expected: str
    predicted: str


class NextEdits:
    """The next-edit state of one Session: requests running, predictions shown and accepted, the budget."""

    def __init__(self) -> None:
        self.budget = CallBudget()
        self.running: dict[str, asyncio.Task] = {}
        self.ghost: dict[str, int] = {}  # uri -> version whose inline completion showed ghost text
        self.shown: OrderedDict[str, _Shown] = OrderedDict()
        self.pending: dict[str, _Pending] = {}
        self.counts = {"proposed": 0, "shown": 0, "accepted": 0}
        self._ids = itertools.count(1)
        self._said_offline = False

    # what the Session tells it ---------------------------------------------------------------------

    def typed(self, uri: str, changes: int, calls: int) -> None:
        """``uri`` changed (``changes`` content changes); the provider has made ``calls`` requests so far.

        The change cancels the document's request in flight: its answer would be for an old version.
        """
        self.budget.observe(calls)
        self.budget.typed(changes)
        self.ghost.pop(uri, None)
        task = self.running.pop(uri, None)
        if task is not None and not task.done():
            task.cancel()

    def ghost_text(self, uri: str, version: int, shown: bool) -> None:
        """An inline completion for ``uri`` at ``version`` returned suggestions (``shown``) or none."""
        if shown:
            self.ghost[uri] = version
        else:
            self.ghost.pop(uri, None)

    def forget(self, uri: str) -> None:
        """A document closed: drop its request, ghost text, shown and pending predictions."""
        task = self.running.pop(uri, None)
        if task is not None and not task.done():
            task.cancel()
        self.ghost.pop(uri, None)
        self.pending.pop(uri, None)
        for key in [key for key, shown in self.shown.items() if shown.uri == uri]:
            del self.shown[key]

    def was_shown(self, edit_id: str) -> bool:
        """The editor showed prediction ``edit_id`` (``textDocument/didShowInlineEdit``)."""
        if edit_id not in self.shown:
            return False
        self.counts["shown"] += 1
        return True

    def accept(self, edit_id: str, history: EditHistory, now: float) -> bool:
        """The user accepted prediction ``edit_id``: mark it in the history, keep the rest of it."""
        shown = self.shown.pop(edit_id, None)
        if shown is None:
            return False
        self.counts["accepted"] += 1
        proposal = shown.proposal
        expected = shown.region_text[: proposal.start] + proposal.new_text + shown.region_text[proposal.end :]
        if expected != shown.predicted:
            self.pending[shown.uri] = _Pending(shown.first_line, expected, shown.predicted)
        else:
            self.pending.pop(shown.uri, None)
        history.accepted(shown.uri, shown.time, now)
        return True

    # one request -------------------------------------------------------------------------------------

    async def predict(
        self,
        sources: Sources,
        snapshot: Snapshot,
        position: tuple[int, int],
        *,
        explicit: bool,
        confirmable: bool = False,
    ) -> NextEditResult:
        """The next edit at ``position`` of ``snapshot``; see the module docstring for when none is asked.

        ``confirmable``: the caller asks the user before applying an edit that needs confirmation
        (the CLI); elsewhere such an edit is not offered. Raises ``ContentModified`` when the
        document moved on while the model answered (the result would be stale).
        """
        uri = snapshot.uri
        current = asyncio.current_task()
        previous = self.running.get(uri)
        if previous is not None and previous is not current and not previous.done():
            previous.cancel()  # latest wins: the older request answers "cancelled"
        if current is not None:
            self.running[uri] = current
        try:
            return await self._predict(sources, snapshot, position, explicit, confirmable)
        finally:
            if current is not None and self.running.get(uri) is current:
                del self.running[uri]

    async def _predict(
        self,
        sources: Sources,
        snapshot: Snapshot,
        position: tuple[int, int],
        explicit: bool,
        confirmable: bool,
    ) -> NextEditResult:
        uri, version = snapshot.uri, snapshot.version

        def none(reason: str, seconds: float = 0.0) -> NextEditResult:
            # Automatic requests come at every typing pause: their reasons are debug chatter.
            level = logging.INFO if explicit else logging.DEBUG
            log.log(level, "no next edit for %s: %s", uri_basename(uri), reason)
            return NextEditResult(uri, version, (), reason, seconds)

        provider = sources.provider
        if provider.is_offline:
            if not self._said_offline:
                self._said_offline = True
                log.info("next edits: %s", OFFLINE)
            return none(OFFLINE)
        if not explicit and self.ghost.get(uri) == version:
            return none(GHOST_SHOWN)
        served = self._rest_of_prediction(sources, snapshot, position, confirmable)
        if served is not None:
            return served
        if not explicit:
            self.budget.observe(sources.calls())
            if not self.budget.allows():
                return none(OVER_BUDGET)
        from lsp_server.engine.editable_region import editable_region
        from lsp_server.providers import edit_formats

        region = editable_region(snapshot, *position)
        if region is None:
            return none("no editable region here (past the end, or a line longer than a region may be)")
        if invisible.find_invisible(region.text):
            return none("the code around the cursor holds invisible characters")
        fmt = edit_formats.edit_format_for(sources.model)
        try:
            prompt, secrets = _prompt(fmt, sources, snapshot, region)
        except UnsafeEdit as exc:
            return none(str(exc))
        settings = sources.settings.next_edit
        request = ModelRequest(
            prompt=prompt,
            deadline=sources.clock() + settings.deadline_ms / 1000,
            max_tokens=settings.max_tokens,
            temperature=0.0,
            stop=fmt.stop,
            purpose="nextEdit",
        )
        if sources.settings.log_prompts:
            shown = prompt.text if isinstance(prompt, CompletionPrompt) else _chat_text(prompt)
            log.debug("next-edit prompt (%s):\n%s", fmt.name, redaction.scrub_for_log(shown, True))
        started = sources.clock()
        answer, finish = await _ask(provider, request)
        model_seconds = sources.clock() - started
        now = sources.current(uri)
        if now is None or now.version != version:
            raise ContentModified(f"{uri} changed while the next edit was computed")
        if finish != "stop":
            return none(
                f"the model's answer was cut short ({finish or 'the stream ended early'})", model_seconds
            )
        from lsp_server.engine import next_edit_answer

        try:
            new_text = next_edit_answer.answer_region(answer, region, secrets)
        except UnsafeEdit as exc:
            return none(str(exc), model_seconds)
        result = self._offer(sources, snapshot, region, new_text, confirmable)
        return attrs.evolve(result, model_seconds=model_seconds)

    def _offer(
        self, sources: Sources, snapshot: Snapshot, region: Region, new_text: str, confirmable: bool
    ) -> NextEditResult:
        """The checked edits of ``region`` -> ``new_text`` as a result, each remembered by its id."""
        from lsp_server.engine import capabilities, next_edit_answer

        uri = snapshot.uri
        history = sources.history
        verdict = next_edit_answer.propose(
            region,
            new_text,
            snapshot.encoding,
            user_edits=history.recent(uri, sources.current),
            own_text=history.own_text(sources.current, sources.is_excluded),
            local=capabilities.project_names(uri_name(uri)),
        )
        dropped = list(verdict.dropped)
        kept = []
        for proposal in verdict.proposals:
            if proposal.review.flagged and not confirmable:
                log.warning("next edit not offered: it %s", proposal.review.summary)
                dropped.append(f"not offered: the edit {proposal.review.summary}")
                continue
            kept.append(proposal)
        if not kept:
            reason = "; ".join(dict.fromkeys(dropped)) if dropped else verdict.reason
            log.debug("no next edit for %s: %s", uri_basename(uri), reason)
            return NextEditResult(uri, snapshot.version, (), reason)
        best = kept[0]
        edit_id = f"next-edit-{next(self._ids)}"
        self.shown[edit_id] = _Shown(
            uri, snapshot.version, region.first_line, region.text, new_text, best, sources.clock()
        )
        while len(self.shown) > SHOWN_KEPT:
            self.shown.popitem(last=False)
        self.counts["proposed"] += 1
        sources.history.seal()  # the edit it follows is complete: the next change is a new event
        proposed = NextEdit(
            edit_id,
            uri,
            snapshot.version,
            best.edit,
            needs_confirmation=best.review.flagged,
            warning=best.review.summary,
        )
        return NextEditResult(uri, snapshot.version, (proposed,))

    def _rest_of_prediction(
        self, sources: Sources, snapshot: Snapshot, position: tuple[int, int], confirmable: bool
    ) -> NextEditResult | None:
        """The next hunk of an accepted prediction, if the region is exactly as the accepted edit left it."""
        pending = self.pending.pop(snapshot.uri, None)
        if pending is None:
            return None
        count = pending.expected.count("\n") + 1
        lines = snapshot.lines_between(pending.first_line, pending.first_line + count)
        text = "".join(lines)
        if lines:
            text = text[: len(text) - len(lines[-1]) + line_content_length(lines[-1])]
        if text != pending.expected:
            return None
        from lsp_server.engine.editable_region import read_window, region_of

        window = read_window(snapshot, pending.first_line + count // 2)
        if not (
            window.first_line <= pending.first_line
            and pending.first_line + count <= window.first_line + len(window.lines)
        ):
            return None
        region = region_of(window, pending.first_line, pending.first_line + count, *position, snapshot)
        result = self._offer(sources, snapshot, region, pending.predicted, confirmable)
        if not result.edits:
            return None
        return attrs.evolve(result, from_prediction=True)


def _prompt(
    fmt: edit_formats.EditFormat, sources: Sources, snapshot: Snapshot, region: Region
) -> tuple[ChatPrompt | CompletionPrompt, tuple[str, ...]]:
    """The prompt for ``region`` and the secrets redacted from it (in order, to put back).

    Every piece passes the privacy rules: edits of excluded documents are left out, secrets are
    replaced and invisible characters stripped, paths are the ones the Session shows.
    """
    from lsp_server.providers import edit_formats

    if edit_formats.holds_format_text(region.text, fmt):
        # The prompt must leave the format's markers out of the user's text, and the answer would then
        # lack them: its diff would delete them from the file.
        raise UnsafeEdit("the code around the cursor holds the next-edit prompt's own markers")
    redact = sources.settings.privacy.redact_secrets
    filename = uri_basename(snapshot.uri)
    spans = redaction.secret_spans(region.text, filename) if redact else ()
    if any(start < region.cursor < end for start, end in spans):
        raise UnsafeEdit("the cursor is inside a secret")
    secrets = tuple(region.text[start:end] for start, end in spans)
    text = redaction.redact(region.text, filename).text if spans else region.text
    shift = sum(len(redaction.PLACEHOLDER) - (end - start) for start, end in spans if end <= region.cursor)
    cursor = region.cursor + shift

    def clean(part: str) -> str:
        part = invisible.strip_invisible(part)
        return redaction.redact(part, filename).text if redact else part

    diffs: list[edit_formats.EditDiff] = []
    size = 0
    for event in reversed(sources.history.events(sources.current)):
        if sources.is_excluded(event.uri):
            continue
        diff = clean(event.diff())
        size += len(diff)
        if size > EDITS_CHARS and diffs:
            break
        diffs.append(edit_formats.EditDiff(sources.display_path(event.uri), diff, event.accepted))
    excerpt = edit_formats.EditExcerpt(
        path=sources.display_path(snapshot.uri),
        before=clean(region.before),
        region_before=text[:cursor],
        region_after=text[cursor:],
        after=clean(region.after),
        start_of_file=region.start_of_file,
    )
    return edit_formats.edit_prompt(fmt, diffs[::-1], excerpt), secrets


def _chat_text(prompt: ChatPrompt) -> str:
    return "\n".join(message.content for message in prompt.messages)


async def _ask(provider: Provider, request: ModelRequest) -> tuple[str, str | None]:
    """Stream one answer (candidate 0) and why it ended; a huge answer is cut (``length``)."""
    from lsp_server.engine import rewrite

    answer = await rewrite.read_answer(provider, request, MAX_ANSWER_CHARS)
    return ("", "length") if answer is None else (answer.text, answer.finish_reason)
