"""The Session serves a provider per job: discovered or named models, shared, rebuilt only where needed."""

from __future__ import annotations

import asyncio

import attrs
import pytest

from lsp_server.app.session import Session, Status
from lsp_server.core import settings as config
from lsp_server.core.errors import ModelNotConfigured, ModelNotFound
from lsp_server.providers.catalog import Catalog

SERVER = "http://127.0.0.1:11434/v1"
OLLAMA = ("llama3.1:8b-instruct", "nomic-embed-text", "qwen2.5-coder:1.5b-base")


class Lister:
    """A model server's list, scripted: the answers in order (the last repeats), and every ask counted."""

    def __init__(self, *answers: tuple[str, ...] | None) -> None:
        self.answers = list(answers)
        self.calls = 0

    async def __call__(self, base_url, api_key, timeout):
        self.calls += 1
        await asyncio.sleep(0)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def session_with(
    lister: Lister, environ: dict | None = None, **user_file: object
) -> tuple[Session, list[Status]]:
    statuses: list[Status] = []
    session = Session(
        environ=environ if environ is not None else {"OPENAI_BASE_URL": SERVER}, on_status=statuses.append
    )
    session.providers.catalog = Catalog(lister)
    if user_file:
        session.apply_settings(attrs.evolve(session.sources, user_file=user_file))
    return session, statuses


def model_of(provider) -> str:
    return provider.description.split()[1] if not provider.is_offline else "offline"


@pytest.fixture
async def closing():
    sessions: list[Session] = []
    yield sessions.append
    for session in sessions:
        await session.aclose()


async def test_a_base_url_alone_serves_offline_until_the_list_answers_then_each_job_gets_its_model(closing):
    lister = Lister(OLLAMA)
    session, statuses = session_with(lister)
    closing(session)
    first = session.provider()  # a keystroke before the server answered: never waits for it
    assert first.is_offline
    assert statuses[-1].state == "offline" and "asking http://127.0.0.1:11434/v1" in statuses[-1].message
    await session._discovery
    completion, actions = session.provider(), session.provider_for("actions")
    assert model_of(completion) == "qwen2.5-coder:1.5b-base" and completion.prompt_mode == "fim"
    assert model_of(actions) == "llama3.1:8b-instruct" and actions.prompt_mode == "chat"
    last = statuses[-1]
    assert last.state == "idle" and last.model == "qwen2.5-coder:1.5b-base + llama3.1:8b-instruct"
    assert "completions: model qwen2.5-coder:1.5b-base" in last.message
    assert "fixes, refactors and the other commands: model llama3.1:8b-instruct" in last.message
    await session.provider_ready("actions")
    assert lister.calls == 1  # asked once for both jobs


async def test_one_model_serves_every_job_through_one_shared_provider(closing):
    session, statuses = session_with(Lister(("qwen2.5-coder:7b",)))
    closing(session)
    await session.discover()
    completion, actions = session.provider(), session.provider_for("actions")
    assert completion is actions and model_of(completion) == "qwen2.5-coder:7b"
    assert statuses[-1].model == "qwen2.5-coder:7b"
    assert len(session.providers.distinct()) == 1


async def test_named_models_per_job_and_a_change_rebuilds_only_the_job_it_affects(closing):
    lister = Lister(OLLAMA)
    session, statuses = session_with(
        lister, completion={"model": "qwen2.5-coder:1.5b-base"}, actions={"model": "llama3.1:8b-instruct"}
    )
    closing(session)
    completion, actions = session.provider(), session.provider_for("actions")
    assert (model_of(completion), model_of(actions)) == ("qwen2.5-coder:1.5b-base", "llama3.1:8b-instruct")
    assert lister.calls == 0  # named models need no list
    session.apply_settings(
        attrs.evolve(
            session.sources,
            user_file={
                "completion": {"model": "qwen2.5-coder:1.5b-base"},
                "actions": {"model": "qwen2.5-coder:7b-instruct"},
            },
        )
    )
    assert session.provider() is completion  # untouched
    rebuilt = session.provider_for("actions")
    assert rebuilt is not actions and model_of(rebuilt) == "qwen2.5-coder:7b-instruct"
    assert actions not in session.providers.distinct()  # the old one is retired (and closed)
    assert statuses[-1].model == "qwen2.5-coder:1.5b-base + qwen2.5-coder:7b-instruct"


async def test_a_settings_change_asks_the_list_again_while_the_chosen_model_keeps_serving(closing):
    lister = Lister(OLLAMA, OLLAMA + ("starcoder2:3b",))
    session, _ = session_with(lister)
    closing(session)
    await session.discover()
    serving = session.provider()
    session.apply_settings(attrs.evolve(session.sources, user_file={"completion": {"maxTokens": 64}}))
    assert session.provider() is serving  # no fallback to the offline engine while the server is asked
    await session._discovery
    assert lister.calls == 2 and session.provider() is serving  # same choice: nothing rebuilt


async def test_a_discovered_model_that_disappears_is_chosen_again(closing):
    lister = Lister(OLLAMA, ("llama3.1:8b-instruct", "starcoder2:3b"))
    session, _ = session_with(lister)
    closing(session)
    await session.discover()
    assert model_of(session.provider()) == "qwen2.5-coder:1.5b-base"
    session.model_failed(
        "completion", ModelNotFound("127.0.0.1:11434: model qwen2.5-coder:1.5b-base not found")
    )
    assert session.provider().is_offline  # while the list is asked again
    await session._discovery
    assert model_of(session.provider()) == "starcoder2:3b" and lister.calls == 2


async def test_a_named_model_that_fails_does_not_make_the_list_be_asked(closing):
    lister = Lister(OLLAMA)
    session, _ = session_with(lister, {"OPENAI_BASE_URL": SERVER, "LLM_LSP_MODEL": "gone"})
    closing(session)
    session.model_failed("completion", ModelNotFound("gone not found"))
    assert model_of(session.provider()) == "gone" and lister.calls == 0


async def test_an_action_waits_for_the_list_and_explains_exactly_why_no_model_serves_it(closing, tmp_path):
    session, _ = session_with(Lister(("nomic-embed-text", "bge-m3")))
    closing(session)
    uri = (tmp_path / "f.py").as_uri()
    session.open_document(uri, "python", 1, "def f(x):\n    return x +\n")
    with pytest.raises(ModelNotConfigured) as raised:
        await session.run_command("llm-lsp.fix", [{"uri": uri, "position": {"line": 1, "character": 4}}])
    message = str(raised.value)
    assert "nomic-embed-text, bge-m3" in message and "`actions.model`" in message
    assert "only the offline engine is configured" not in message and "set OPENAI_BASE_URL" not in message
    with pytest.raises(ModelNotConfigured, match="lists no model that can serve fixes"):
        await session.resolve_action({"uri": uri, "version": 1, "range": [[1, 4], [1, 4]], "action": "fix"})


async def test_next_edits_get_a_provider_only_when_enabled(closing):
    session, statuses = session_with(Lister(OLLAMA))
    closing(session)
    await session.discover()
    assert session.roles() == ("completion", "actions")
    session.apply_settings(attrs.evolve(session.sources, user_file={"nextEdit": {"enable": True}}))
    await session.discover()
    assert session.roles() == config.ROLES
    assert model_of(session.provider_for("nextEdit")) == "llama3.1:8b-instruct"
    assert "next edits: model llama3.1:8b-instruct" in statuses[-1].message


async def test_the_offline_engine_takes_a_fallbacks_share_only_once_discovery_found_nothing(closing):
    """While the list is on its way it answers from the document alone; after that, it learns.

    A server without a usable model leaves it serving, and then it takes the nearest workspace files.
    """
    from lsp_server.providers import ngram

    session, _ = session_with(Lister(("nomic-embed-text",)))  # nothing that writes code
    closing(session)
    assert session.provider().is_offline and session.offline_budget() == 0  # the list is pending
    await session._discovery
    assert session.provider().is_offline  # no usable model: the engine stays
    assert session.offline_budget() == ngram.FALLBACK_MAX_TOKENS
    assert session.offline_provider().model.max_tokens == ngram.FALLBACK_MAX_TOKENS
