"""Model discovery: which listed model suits which job, and the listing asked once per server and key."""

from __future__ import annotations

import asyncio

import pytest

from lsp_server.core.errors import ProviderError
from lsp_server.providers import catalog
from lsp_server.providers.catalog import Catalog, choose, kind_of

# What local servers list in the wild (Ollama tags, vLLM / LM Studio / llama.cpp ids, OpenAI ids).
EMBEDDINGS = (
    "nomic-embed-text:latest",
    "mxbai-embed-large",
    "bge-m3",
    "BAAI/bge-small-en-v1.5",
    "all-minilm:l6-v2",
    "intfloat/multilingual-e5-large",
    "intfloat/e5-mistral-7b-instruct",
    "text-embedding-3-small",
    "snowflake-arctic-embed:33m",
    "thenlper/gte-large",
    "bge-reranker-v2-m3",
)
NOT_TEXT = ("whisper-1", "tts-1", "gpt-4o-mini-tts", "dall-e-3", "omni-moderation-latest", "gpt-image-1")


@pytest.mark.parametrize("name", EMBEDDINGS + NOT_TEXT)
def test_embedding_and_other_non_text_models_are_never_chosen(name: str):
    assert kind_of(name) == "other"
    for role in ("completion", "actions", "nextEdit"):
        assert choose(role, (name,)).model == ""
        assert choose(role, (name, "llama3.2:3b")).model == "llama3.2:3b"


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("qwen2.5-coder:1.5b-base", "code"),
        ("qwen2.5-coder:7b", "code"),
        ("starcoder2:3b", "code"),
        ("deepseek-coder-v2:16b", "code"),
        ("codestral-latest", "code"),
        ("qwen2.5-coder:7b-instruct", "chat"),
        ("llama3.1:8b-instruct-q4_K_M", "chat"),
        ("gpt-4o-mini", "chat"),
        ("llama3.2:3b", "general"),
        ("mistral:7b", "general"),
        ("qwen2.5:7b", "general"),
    ],
)
def test_the_family_rules_sort_names_into_kinds(name: str, kind: str):
    assert kind_of(name) == kind


OLLAMA = ("llama3.1:8b-instruct", "nomic-embed-text", "qwen2.5-coder:1.5b-base", "qwen2.5-coder:7b-instruct")


def test_with_several_models_completion_takes_the_code_model_and_actions_a_chat_model():
    completion = choose("completion", OLLAMA)
    assert completion.model == "qwen2.5-coder:1.5b-base"
    assert "code model" in completion.reason
    actions = choose("actions", OLLAMA)
    assert actions.model == "qwen2.5-coder:7b-instruct"  # a chat model that knows code beats a general one
    assert "chat or instruct" in actions.reason
    assert choose("nextEdit", OLLAMA).model == "qwen2.5-coder:7b-instruct"
    assert choose("nextEdit", OLLAMA + ("zed-industries/zeta",)).model == "zed-industries/zeta"


def test_one_usable_model_serves_every_role_even_if_it_is_not_the_preferred_kind():
    for role in ("completion", "actions", "nextEdit"):
        only = choose(role, ("nomic-embed-text", "qwen2.5-coder:1.5b-base"))
        assert only.model == "qwen2.5-coder:1.5b-base"
        assert "only usable model" in only.reason and "embedding" in only.reason
        assert choose(role, ("llama3.2:3b",)) == catalog.Choice("llama3.2:3b", "the only usable model listed")


def test_without_the_preferred_kind_the_first_usable_model_is_taken_and_the_reason_says_so():
    chat_only = choose("completion", ("llama3.2:3b", "gpt-4o-mini"))
    assert chat_only.model == "llama3.2:3b" and "no code model is listed" in chat_only.reason
    code_only = choose("actions", ("starcoder2:3b", "qwen2.5-coder:1.5b-base"))
    assert code_only.model == "starcoder2:3b" and "no chat or instruct model is listed" in code_only.reason


def test_an_empty_or_useless_list_chooses_nothing():
    assert choose("completion", ()) == catalog.Choice("", "the server lists no models")
    assert choose("actions", ("bge-m3", "whisper-1")).model == ""


def test_server_names_never_show_credentials():
    assert catalog.server_name("http://user:secret@127.0.0.1:11434/v1/") == "http://127.0.0.1:11434/v1"
    assert catalog.shown_models([f"m{i}" for i in range(15)]).endswith("m11 and 3 more")


class Lister:
    """A scripted model server list: answers (or raises) in order, counting the asks."""

    def __init__(self, *answers, delay: float = 0.0) -> None:
        self.answers = list(answers)
        self.calls: list[tuple] = []
        self.delay = delay

    async def __call__(self, base_url, api_key, timeout):
        self.calls.append((base_url, api_key, timeout))
        await asyncio.sleep(self.delay)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


async def test_the_list_is_asked_once_for_every_caller_and_kept():
    lister = Lister(("a", "b"), delay=0.05)
    kept = Catalog(lister)
    first, second = await asyncio.gather(kept.ask("http://s/v1", "k", 3.0), kept.ask("http://s/v1", "k", 3.0))
    assert first == second and first.ids == ("a", "b") and first.answered
    assert await kept.ask("http://s/v1", "k", 3.0) is first
    assert lister.calls == [("http://s/v1", "k", 3.0)]
    other_key = await kept.ask("http://s/v1", "k2", 3.0)  # another key may see another list
    assert other_key.ids == ("a", "b") and len(lister.calls) == 2


async def test_a_failed_ask_is_kept_for_a_while_then_tried_again():
    now = [100.0]
    lister = Lister(ProviderError("cannot reach s: refused"), ("m",))
    kept = Catalog(lister, clock=lambda: now[0])
    failed = await kept.ask("http://s/v1", "", 1.0)
    assert failed.error == "cannot reach s: refused" and not failed.answered
    assert kept.get("http://s/v1", "") is failed  # not asked again on every keystroke
    state = kept.state()  # what callers cache their choices on
    now[0] += catalog.RETRY_AFTER_S + 1
    assert kept.get("http://s/v1", "") is None and kept.state() != state
    assert (await kept.ask("http://s/v1", "", 1.0)).ids == ("m",)


async def test_no_list_and_surprises_become_listings_not_crashes():
    kept = Catalog(Lister(None))
    assert (await kept.ask("http://s/v1", "", 1.0)).no_list
    broken = Catalog(Lister(ValueError("bad URL")))
    assert "bad URL" in (await broken.ask("nonsense", "", 1.0)).error


async def test_forget_asks_again_and_a_refresh_asks_again_while_the_kept_list_serves():
    lister = Lister(("old",), ("newer",), ("newest",), delay=0.05)
    kept = Catalog(lister)
    assert (await kept.ask("http://s/v1", "", 1.0)).ids == ("old",)
    state = kept.state()
    kept.forget("http://s/v1", "")  # the chosen model disappeared
    assert kept.get("http://s/v1", "") is None and kept.state() != state
    assert (await kept.ask("http://s/v1", "", 1.0)).ids == ("newer",)
    kept.refresh()  # the settings changed
    assert kept.get("http://s/v1", "").ids == ("newer",) and not kept.fresh("http://s/v1", "")
    on_its_way = asyncio.ensure_future(kept.ask("http://s/v1", "", 1.0))
    await asyncio.sleep(0.01)
    assert kept.get("http://s/v1", "").ids == ("newer",)  # serves while the server is asked again
    assert (await on_its_way).ids == ("newest",) and kept.fresh("http://s/v1", "")
    assert len(lister.calls) == 3
