"""Next edits in the Session: triggers, the shared call budget, latest wins, cancellation, staleness."""

from __future__ import annotations

import asyncio
from pathlib import Path

import attrs
import pytest
from fake_openai import REGION_END, REGION_START

from lsp_server.app import next_edit
from lsp_server.app.session import Session
from lsp_server.core.documents import Change
from lsp_server.core.errors import ContentModified, ExcludedFile
from lsp_server.engine.call_budget import CallBudget
from lsp_server.providers.base import Delta
from lsp_server.providers.prompts import ChatPrompt

AREA = "def area(w):\n    return w * w\n\n\nprint(area(2))\n"


@attrs.define
class RewritingProvider:
    """A chat model that rewrites the prompt's region (``return w * w`` -> ``w * h``), optionally slowly."""

    delay: float = 0.0
    requests: list = attrs.Factory(list)
    started: asyncio.Event = attrs.Factory(asyncio.Event)
    closed: int = 0
    calls: int = 0
    description: str = "rewriting"
    is_offline: bool = False
    prompt_mode: str = "chat"

    async def stream(self, request):
        self.calls += 1
        self.requests.append(request)
        self.started.set()
        prompt = request.prompt
        assert isinstance(prompt, ChatPrompt)
        user = prompt.messages[-1].content
        region = user.split(REGION_START + "\n", 1)[1].split("\n" + REGION_END, 1)[0]
        region = region.replace("<|user_cursor_is_here|>", "").replace("return w * w", "return w * h")
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            yield Delta(
                f"```\n{REGION_START}\n{region.replace('area(2)', 'area(2, 3)')}\n{REGION_END}\n```", "stop"
            )
        finally:
            self.closed += 1

    async def aclose(self) -> None:
        pass


def private_dirs(tmp_path: Path) -> dict[str, str]:
    """No model in the environment; the state and cache (acceptance figures, index) in ``tmp_path``."""
    return {"XDG_STATE_HOME": str(tmp_path / "state"), "XDG_CACHE_HOME": str(tmp_path / "cache")}


def session_with(provider: RewritingProvider, tmp_path: Path, enable: bool = True) -> Session:
    session = Session(environ=private_dirs(tmp_path))
    session.roots = [tmp_path]
    if enable:
        session.apply_settings(
            attrs.evolve(session.sources, initialization_options={"nextEdit": {"enable": True}})
        )
    session.providers.pin(provider)
    return session


def edited(session: Session, tmp_path: Path, name: str = "area.py") -> str:
    uri = (tmp_path / name).as_uri()
    session.open_document(uri, "python", 1, AREA)
    session.change_document(uri, 2, [Change(", h", ((0, 10), (0, 10)))])
    return uri


async def test_an_automatic_request_waits_for_ghost_text_to_go_and_for_the_budget(tmp_path: Path):
    provider = RewritingProvider()
    session = session_with(provider, tmp_path)
    uri = edited(session, tmp_path)
    session.next_edits.ghost_text(uri, 2, shown=True)
    result = await session.next_edit(uri, (0, 13))
    assert result.edits == () and result.reason == next_edit.GHOST_SHOWN and provider.requests == []
    explicit = await session.next_edit(uri, (0, 13), explicit=True)
    assert [e.edit.new_text for e in explicit.edits] == ["h"]
    session.next_edits.ghost_text(uri, 2, shown=False)
    session.next_edits.budget.tokens = 0.5
    assert (await session.next_edit(uri, (0, 13))).reason == next_edit.OVER_BUDGET
    assert len(provider.requests) == 1


async def test_off_by_default_and_the_offline_engine_says_it_does_not_predict(tmp_path: Path):
    session = session_with(RewritingProvider(), tmp_path, enable=False)
    uri = edited(session, tmp_path)
    assert (await session.next_edit(uri, (0, 13))).reason == next_edit.DISABLED
    offline = Session(environ=private_dirs(tmp_path))
    offline.roots = [tmp_path]
    uri = edited(offline, tmp_path)
    result = await offline.next_edit(uri, (0, 13), always=True)
    assert result.edits == () and "offline engine does not predict edits" in result.reason


async def test_a_change_cancels_the_request_in_flight_and_a_newer_request_wins(tmp_path: Path):
    provider = RewritingProvider(delay=5)
    session = session_with(provider, tmp_path)
    uri = edited(session, tmp_path)
    first = asyncio.ensure_future(session.next_edit(uri, (0, 13)))
    await provider.started.wait()
    second = asyncio.ensure_future(session.next_edit(uri, (0, 13)))
    await asyncio.sleep(0.05)
    assert first.cancelled() or (first.done() and isinstance(first.exception(), asyncio.CancelledError))
    session.change_document(uri, 3, [Change("=1", ((0, 13), (0, 13)))])
    with pytest.raises(asyncio.CancelledError):
        await second
    assert provider.closed == 2  # both model streams were closed


async def test_an_answer_for_an_older_version_is_never_returned(tmp_path: Path):
    provider = RewritingProvider(delay=0.2)
    session = session_with(provider, tmp_path)
    uri = edited(session, tmp_path)
    with pytest.raises(ContentModified):
        await session.next_edit(uri, (0, 13), version=1)
    task = asyncio.ensure_future(session.next_edit(uri, (0, 13)))
    await provider.started.wait()
    # A change that bypasses the cancellation (as if it crossed the answer): the version check holds.
    session.store.change(uri, 3, [Change("=1", ((0, 13), (0, 13)))])
    with pytest.raises(ContentModified):
        await task


async def test_an_accepted_edit_brings_the_rest_of_its_prediction_only_if_the_region_is_as_left(
    tmp_path: Path,
):
    provider = RewritingProvider()
    session = session_with(provider, tmp_path)
    uri = edited(session, tmp_path)
    (shown,) = (await session.next_edit(uri, (0, 13))).edits
    assert session.next_edit_shown(shown.id) and not session.next_edit_shown("next-edit-999")
    session.change_document(uri, 3, [Change("h", ((1, 15), (1, 16)))])
    assert session.accept_next_edit(shown.id) and not session.accept_next_edit(shown.id)
    counts = {key[0]: row.counts() for key, row in session.stats.rows().items()}
    assert counts["nextEdit"]["shown"] == 1 and counts["nextEdit"]["accepted"] == 1  # the local figures
    rest = await session.next_edit(uri, (1, 16))
    assert rest.from_prediction and [e.edit.new_text for e in rest.edits] == [", 3"]
    assert len(provider.requests) == 1
    assert session.history.events(session.snapshot_of)[-1].accepted
    # Typed over instead: the region no longer matches, so the model is asked.
    (again,) = (await session.next_edit(uri, (1, 16), explicit=True)).edits
    session.change_document(uri, 4, [Change("x", ((4, 0), (4, 0)))])
    session.accept_next_edit(again.id)
    result = await session.next_edit(uri, (4, 1))
    assert not result.from_prediction and len(provider.requests) == 3


async def test_an_excluded_document_is_refused_before_any_prompt(tmp_path: Path):
    (tmp_path / ".gitignore").write_text("secret/\n")
    (tmp_path / "secret").mkdir()
    provider = RewritingProvider()
    session = session_with(provider, tmp_path)
    await session.reload_gate()
    uri = edited(session, tmp_path, "secret/area.py")
    with pytest.raises(ExcludedFile):
        await session.next_edit(uri, (0, 13), explicit=True)
    assert provider.requests == [] and session.history.events(session.snapshot_of) == []


def test_the_budget_refills_with_typing_and_counts_every_call():
    budget = CallBudget(rate=0.15, burst=2.0)
    budget.observe(0)
    assert budget.allows()
    budget.observe(2)  # two completions
    assert not budget.allows()
    budget.typed(6)
    assert not budget.allows()  # 0.9 calls' worth
    budget.typed(1)
    assert budget.allows()
    budget.typed(1000)
    assert budget.tokens == 2.0  # never more than the burst
    budget.observe(0)  # a new provider counts from zero
    budget.observe(1)
    assert budget.tokens == 1.0
