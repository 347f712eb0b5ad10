"""What became of each suggestion offered to the editor: shown, accepted, partly accepted, dismissed.

Owns the suggestions offered (each item sent to the editor gets an id that its accept command and the
``didShowCompletion`` / ``didPartiallyAcceptCompletion`` events name) and turns the editor's events
into counts in ``UsageStats`` and outcomes for the adaptive debounce. A suggestion is counted once
whichever items carry it: the rest of a suggestion served again after a partial accept or typing
(the typed-ahead cache) is the same suggestion, not a new one.

Outcomes, per suggestion:

- shown: the editor said so (or accepted it, which implies it was shown; no time to show then);
- accepted: its accept command ran, or partial accepts reached its end;
- partially accepted: part of it was accepted (it may still be accepted in full later);
- dismissed: it was shown and nothing of it was accepted when the next request for that document
  arrived at a cursor that does not continue it, or when the document closed.

Unknown or stale ids are ignored quietly: events are hints, never errors. Bounded: ``MAX_OFFERS``
items and ``MAX_PENDING`` open suggestions per document and kind (the oldest are settled when more
come). Keeps suggestion texts in memory only, to recognise their continuations; the figures hold
counts. Next-edit suggestions report through the same calls with ``kind="nextEdit"``.

Must not know LSP or pygls: the LSP layer passes plain ids, lengths and texts.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from lsp_server.app.stats import Key, UsageStats, clean_key

log = logging.getLogger(__name__)

COMPLETION = "completion"
NEXT_EDIT = "nextEdit"
KINDS = (COMPLETION, NEXT_EDIT)
MAX_OFFERS = 512
MAX_PENDING = 8


@attrs.define(eq=False)
class Suggestion:
    """One suggestion as the user sees it, whichever items carry its text."""

    key: Key
    uri: str
    text: str
    offset: int  # where ``text`` starts in the document (str offset in the version it was made for)
    shown: bool = False
    accepted: bool = False
    partly: bool = False
    settled: bool = False  # no event counts any more (accepted, dismissed or forgotten)
    judged: bool = False  # its outcome went to the debounce


@attrs.frozen
class Offer:
    """One item sent to the editor: ``suggestion.text[start:]``, for a request that arrived at ``received``.

    ``received`` is the request's arrival (the Acceptance's clock): the time to show counts from it.
    """

    id: str
    suggestion: Suggestion
    start: int
    received: float

    @property
    def text(self) -> str:
        """The item's insert text."""
        return self.suggestion.text[self.start :]


def utf16_prefix(text: str, units: int) -> int:
    """How many characters of ``text`` make up its first ``units`` UTF-16 code units (rounded down)."""
    if units <= 0:
        return 0
    if text.isascii():
        return min(units, len(text))
    data = text.encode("utf-16-le", "surrogatepass")[: 2 * units]
    return len(data.decode("utf-16-le", "ignore"))  # half a surrogate pair is not a character yet


class Acceptance:
    """The suggestions offered to the editor and what the user did with them."""

    def __init__(
        self,
        stats: UsageStats,
        *,
        on_outcome: Callable[[bool], None] = lambda accepted: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``on_outcome(accepted)`` learns each shown suggestion's fate once (the adaptive debounce)."""
        self.stats = stats
        self.on_outcome = on_outcome
        self.clock = clock
        self._offers: OrderedDict[str, Offer] = OrderedDict()
        self._pending: dict[tuple[str, str], list[Suggestion]] = {}  # (uri, kind) -> open suggestions

    # offering -----------------------------------------------------------------------------------

    def offer(
        self,
        texts: Sequence[str],
        *,
        uri: str,
        offset: int,
        document: str,
        language: str,
        model: str,
        received: float,
        kind: str = COMPLETION,
    ) -> list[str]:
        """Ids for items with ``texts`` offered at ``offset`` of ``document`` (the text they were made for).

        An item that is the rest of an open suggestion the cursor continues (typed or partly accepted
        since) gets an id on that suggestion; any other starts a new one.
        """
        key = (kind, clean_key(language), clean_key(model, model=True))
        pending = self._pending.setdefault((uri, kind), [])
        ids = []
        for text in texts:
            found = self._continued(pending, text, offset, document)
            if found is None:
                suggestion, start = Suggestion(key, uri, text, offset), 0
                pending.append(suggestion)
            else:
                suggestion, start = found
            offer = Offer(uuid.uuid4().hex[:16], suggestion, start, received)
            self._offers[offer.id] = offer
            ids.append(offer.id)
        while len(pending) > MAX_PENDING:
            self._settle(pending.pop(0))
        while len(self._offers) > MAX_OFFERS:
            # An evicted item's id is forgotten; its suggestion still settles with its document.
            self._offers.popitem(last=False)
        return ids

    @staticmethod
    def _typed(suggestion: Suggestion, offset: int, document: str) -> int | None:
        """How much of ``suggestion`` lies between its start and ``offset`` in ``document``, if it continues.

        None when the text there is not the suggestion's start (the user typed something else, moved
        away, or edited above it). Costs the length of the suggestion, never of the document.
        """
        typed = offset - suggestion.offset
        if typed < 0 or typed > len(suggestion.text):
            return None
        if document[suggestion.offset : offset] != suggestion.text[:typed]:
            return None
        return typed

    def _continued(
        self, pending: list[Suggestion], text: str, offset: int, document: str
    ) -> tuple[Suggestion, int] | None:
        head = text.rstrip()
        if not head:
            return None
        for suggestion in reversed(pending):
            typed = self._typed(suggestion, offset, document)
            if typed is not None and suggestion.text[typed:].startswith(head):
                return suggestion, typed
        return None

    # the document ------------------------------------------------------------------------------

    def request(self, uri: str, offset: int, document: str, kind: str = COMPLETION) -> None:
        """A new request for ``uri`` arrived: shown suggestions the cursor does not continue are dismissed."""
        pending = self._pending.get((uri, kind))
        if not pending:
            return
        keep = []
        for suggestion in pending:
            if suggestion.settled or self._typed(suggestion, offset, document) is None:
                self._settle(suggestion)
            else:
                keep.append(suggestion)
        pending[:] = keep

    def closed(self, uri: str) -> None:
        """The document closed: its open suggestions are settled (dismissed if shown and untouched)."""
        for kind in KINDS:
            for suggestion in self._pending.pop((uri, kind), []):
                self._settle(suggestion)

    # events -------------------------------------------------------------------------------------

    def find(self, item: Any) -> str | None:
        """The id an editor's item names: its command's argument ``{"id"}`` (or a bare id), else its text.

        Copilot-style clients send the item back as they received it; a client that dropped the
        command is matched by ``insertText`` against the newest offers.
        """
        if not isinstance(item, dict):
            return None
        command = item.get("command")
        arguments = command.get("arguments") if isinstance(command, dict) else None
        if isinstance(arguments, list) and arguments:
            first = arguments[0]
            found = first.get("id") if isinstance(first, dict) else first
            if isinstance(found, str) and found in self._offers:
                return found
        text = item.get("insertText")
        if isinstance(text, dict):  # a snippet StringValue
            text = text.get("value")
        if isinstance(text, str):
            for offer in reversed(self._offers.values()):
                if offer.text == text:
                    return offer.id
        return None

    def shown(self, offer_id: str | None) -> bool:
        """The editor showed item ``offer_id``; False when the id is unknown or its suggestion settled."""
        offer = self._live(offer_id)
        if offer is None:
            return False
        suggestion = offer.suggestion
        if not suggestion.shown:
            suggestion.shown = True
            self.stats.count(suggestion.key, "shown")
            self.stats.time_to_show(suggestion.key, self.clock() - offer.received)
        return True

    def partially_accepted(self, offer_id: str | None, accepted_length: Any) -> bool:
        """The user accepted the first ``accepted_length`` UTF-16 units of item ``offer_id``'s text."""
        offer = self._live(offer_id)
        if offer is None or type(accepted_length) is not int or accepted_length <= 0:
            return False
        suggestion = offer.suggestion
        end = offer.start + utf16_prefix(offer.text, accepted_length)
        if end >= len(suggestion.text.rstrip()):
            return self._accept(suggestion)
        self._imply_shown(suggestion)
        if not suggestion.partly:
            suggestion.partly = True
            self.stats.count(suggestion.key, "partiallyAccepted")
            self._judge(suggestion, True)
        return True

    def accepted(self, offer_id: str | None) -> bool:
        """Item ``offer_id`` was accepted in full (its command ran)."""
        offer = self._live(offer_id)
        return offer is not None and self._accept(offer.suggestion)

    def accepted_unnamed(self, uri: str, length: Any) -> bool:
        """An accept command without an id (a client built before ids): the newest item of that length."""
        for offer in reversed(self._offers.values()):
            if offer.suggestion.uri == uri and len(offer.text) == length and not offer.suggestion.settled:
                return self._accept(offer.suggestion)
        return False

    # internals ----------------------------------------------------------------------------------

    def _live(self, offer_id: str | None) -> Offer | None:
        offer = self._offers.get(offer_id) if offer_id else None
        if offer is None or offer.suggestion.settled:
            log.debug("event for an unknown or settled suggestion %r ignored", offer_id)
            return None
        return offer

    def _imply_shown(self, suggestion: Suggestion) -> None:
        # Accepting implies it was shown; the time to show is unknown then, so none is recorded.
        if not suggestion.shown:
            suggestion.shown = True
            self.stats.count(suggestion.key, "shown")

    def _accept(self, suggestion: Suggestion) -> bool:
        self._imply_shown(suggestion)
        suggestion.accepted = suggestion.settled = True
        self.stats.count(suggestion.key, "accepted")
        self._judge(suggestion, True)
        pending = self._pending.get((suggestion.uri, suggestion.key[0]), [])
        if suggestion in pending:
            pending.remove(suggestion)
        return True

    def _settle(self, suggestion: Suggestion) -> None:
        if suggestion.settled:
            return
        suggestion.settled = True
        if suggestion.shown and not suggestion.partly:
            self.stats.count(suggestion.key, "dismissed")
            self._judge(suggestion, False)

    def _judge(self, suggestion: Suggestion, accepted: bool) -> None:
        if not suggestion.judged:
            suggestion.judged = True
            self.on_outcome(accepted)
