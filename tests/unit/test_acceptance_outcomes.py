"""What became of each offered suggestion: shown, accepted, partly accepted, dismissed, once each."""

from __future__ import annotations

from lsp_server.app.acceptance import Acceptance, utf16_prefix
from lsp_server.app.stats import UsageStats

URI = "file:///w/a.py"
DOC = "def add(a, b):\n    return \n"
CURSOR = DOC.index("return ") + len("return ")
SUGGESTION = "a + b\n    # done"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def recorder():
    outcomes: list[bool] = []
    clock = Clock()
    acceptance = Acceptance(UsageStats(None), on_outcome=outcomes.append, clock=clock)
    return acceptance, outcomes, clock


def offer(acceptance, texts=(SUGGESTION,), offset=CURSOR, document=DOC, received=100.0, **kw):
    return acceptance.offer(
        list(texts),
        uri=URI,
        offset=offset,
        document=document,
        language="python",
        model="starcoder2",
        received=received,
        **kw,
    )


def totals(acceptance):
    total = acceptance.stats.figures()["total"]
    return {k: total[k] for k in ("shown", "accepted", "partiallyAccepted", "dismissed")}


def test_shown_then_accepted_counts_once_with_its_time_to_show():
    acceptance, outcomes, clock = recorder()
    [item] = offer(acceptance)
    clock.now = 100.25
    assert acceptance.shown(item)
    assert acceptance.shown(item)  # shown again (redrawn): still one suggestion
    assert acceptance.accepted(item)
    assert not acceptance.accepted(item)  # accepted twice: the second is stale
    assert totals(acceptance) == {"shown": 1, "accepted": 1, "partiallyAccepted": 0, "dismissed": 0}
    assert 240 < acceptance.stats.figures()["total"]["medianTimeToShowMs"] < 262
    assert outcomes == [True]


def test_partial_accept_then_the_rest_served_again_is_the_same_suggestion():
    acceptance, outcomes, _ = recorder()
    [first] = offer(acceptance)
    acceptance.shown(first)
    assert acceptance.partially_accepted(first, len("a + b\n"))
    # The editor inserted the line; the next request continues the suggestion, which is not dismissed.
    document = DOC[:CURSOR] + "a + b\n" + DOC[CURSOR:]
    cursor = CURSOR + len("a + b\n")
    acceptance.request(URI, cursor, document)
    [rest] = offer(acceptance, texts=("    # done",), offset=cursor, document=document)
    acceptance.shown(rest)
    acceptance.accepted(rest)
    assert totals(acceptance) == {"shown": 1, "accepted": 1, "partiallyAccepted": 1, "dismissed": 0}
    assert outcomes == [True]


def test_partial_accepts_reaching_the_end_accept_it():
    acceptance, _, _ = recorder()
    [item] = offer(acceptance)
    acceptance.partially_accepted(item, 2)
    acceptance.partially_accepted(item, len(SUGGESTION))
    assert totals(acceptance) == {"shown": 1, "accepted": 1, "partiallyAccepted": 1, "dismissed": 0}


def test_a_shown_suggestion_is_dismissed_by_a_request_elsewhere_or_the_document_closing():
    acceptance, outcomes, _ = recorder()
    [item] = offer(acceptance)
    acceptance.shown(item)
    acceptance.request(URI, CURSOR, DOC)  # the same cursor: still pending
    assert totals(acceptance)["dismissed"] == 0
    moved = DOC[:CURSOR] + "x" + DOC[CURSOR:]  # the user typed something else
    acceptance.request(URI, CURSOR + 1, moved)
    assert totals(acceptance)["dismissed"] == 1
    [other] = offer(acceptance, offset=CURSOR + 1, document=moved)
    acceptance.shown(other)
    acceptance.closed(URI)
    assert totals(acceptance) == {"shown": 2, "accepted": 0, "partiallyAccepted": 0, "dismissed": 2}
    assert outcomes == [False, False]
    assert not acceptance.accepted(other)  # settled: a late accept is ignored


def test_typing_through_a_suggestion_keeps_it_pending():
    acceptance, _, _ = recorder()
    [item] = offer(acceptance)
    acceptance.shown(item)
    typed = DOC[:CURSOR] + "a +" + DOC[CURSOR:]
    acceptance.request(URI, CURSOR + 3, typed)
    assert totals(acceptance)["dismissed"] == 0


def test_never_shown_suggestions_are_not_dismissed():
    acceptance, outcomes, _ = recorder()
    offer(acceptance)
    acceptance.closed(URI)
    assert totals(acceptance) == {"shown": 0, "accepted": 0, "partiallyAccepted": 0, "dismissed": 0}
    assert outcomes == []


def test_unknown_and_malformed_events_are_ignored():
    acceptance, outcomes, _ = recorder()
    [item] = offer(acceptance)
    assert not acceptance.shown("no-such-id")
    assert not acceptance.shown(None)
    assert not acceptance.partially_accepted(item, "3")
    assert not acceptance.partially_accepted(item, -1)
    assert acceptance.find({"command": {"arguments": [{"id": 7}]}}) is None
    assert acceptance.find("not an item") is None
    assert totals(acceptance)["shown"] == 0 and outcomes == []


def test_items_are_found_by_their_command_id_or_their_text():
    acceptance, _, _ = recorder()
    first, second = offer(acceptance, texts=("a + b", "b + a"))
    assert acceptance.find({"insertText": "x", "command": {"arguments": [{"id": second}]}}) == second
    assert acceptance.find({"command": {"arguments": [first]}}) == first  # a bare id, Copilot style
    assert acceptance.find({"insertText": "b + a"}) == second
    assert acceptance.find({"insertText": {"kind": "snippet", "value": "a + b"}}) == first


def test_accepted_length_counts_utf16_units():
    assert utf16_prefix("a😀b", 1) == 1
    assert utf16_prefix("a😀b", 2) == 1  # half of the emoji's surrogate pair: not accepted yet
    assert utf16_prefix("a😀b", 3) == 2
    assert utf16_prefix("a😀b", 99) == 3
    acceptance, _, _ = recorder()
    [item] = offer(acceptance, texts=("😀 = 1\nnext",))
    acceptance.partially_accepted(item, len("😀 = 1\n") + 1)  # +1: the emoji is two UTF-16 units
    assert totals(acceptance)["partiallyAccepted"] == 1 and totals(acceptance)["accepted"] == 0


def test_kinds_are_counted_apart():
    acceptance, _, _ = recorder()
    [completion] = offer(acceptance)
    [edit] = offer(acceptance, texts=("return a + b",), kind="nextEdit")
    acceptance.shown(completion)
    acceptance.shown(edit)
    acceptance.accepted(edit)
    acceptance.request(URI, 0, DOC, kind="nextEdit")  # a next-edit request leaves completions alone
    kinds = acceptance.stats.figures()["total"]["kinds"]
    assert kinds["nextEdit"]["accepted"] == 1 and kinds["completion"]["accepted"] == 0
    assert kinds["completion"]["dismissed"] == 0


def test_an_old_client_accept_without_id_still_counts():
    acceptance, _, _ = recorder()
    offer(acceptance)
    assert acceptance.accepted_unnamed(URI, len(SUGGESTION))
    assert not acceptance.accepted_unnamed(URI, 3)
    assert totals(acceptance)["accepted"] == 1
