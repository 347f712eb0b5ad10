"""OpenAIProvider against the fake OpenAI-compatible server: wire formats, limits, faults, cancellation."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI, Reply

from lsp_server.core import errors
from lsp_server.providers import prompts
from lsp_server.providers.base import Delta, ModelRequest
from lsp_server.providers.openai import (
    PLACEHOLDER_KEY,
    OpenAIProvider,
    fim_api_for,
    list_models,
    prompt_mode_for,
    retry_after_seconds,
)

KEY = "sk-test-SECRET-0123456789abcdef"
FIM = prompts.FimPrompt(prefix="def add(a, b):\n    return ", suffix="\n\nprint(add(1, 2))\n")
CHAT = prompts.ChatPrompt(messages=(prompts.ChatMessage("system", "S"), prompts.ChatMessage("user", "U")))


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(default=Reply(text="a + b")) as server:
        yield server


@pytest.fixture(params=["direct", "sdk"])
async def make(fake: FakeOpenAI, request: pytest.FixtureRequest) -> AsyncIterator:
    """Providers on the fake, through each door a request may take: before the SDK loaded, and through it.

    Every wire format, limit and fault must come out the same through both.
    """
    providers: list[OpenAIProvider] = []
    direct = request.param == "direct"

    def factory(model: str = "qwen2.5-coder:1.5b", **kwargs: object) -> OpenAIProvider:
        options: dict = {
            "base_url": fake.base_url,
            "api_key": KEY,
            "model": model,
            "direct_until_loaded": direct,
            **kwargs,
        }
        provider = OpenAIProvider(**options)
        providers.append(provider)
        return provider

    yield factory
    for provider in providers:
        await provider.aclose()


def request(
    prompt: prompts.FimPrompt | prompts.ChatPrompt = FIM, seconds: float = 10.0, **kw: object
) -> ModelRequest:
    return ModelRequest(prompt=prompt, deadline=time.monotonic() + seconds, **kw)  # type: ignore[arg-type]


async def collect(provider: OpenAIProvider, req: ModelRequest) -> list[Delta]:
    return [delta async for delta in provider.stream(req)]


def joined(deltas: list[Delta], index: int = 0) -> str:
    return "".join(d.text for d in deltas if d.index == index)


def finish(deltas: list[Delta], index: int = 0) -> str | None:
    reasons = [d.finish_reason for d in deltas if d.index == index and d.finish_reason]
    return reasons[-1] if reasons else None


# -- pure rules ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "mode"),
    [
        ("gpt-4o-mini", "chat"),
        ("o3-mini", "chat"),
        ("claude-3-5-sonnet", "chat"),
        ("deepseek-chat", "chat"),
        ("llama3.1:8b-instruct-q4_0", "chat"),
        ("mistral-large-latest", "chat"),
        ("qwen2.5-coder:7b-instruct", "chat"),
        ("deepseek-coder-6.7b-instruct", "chat"),
        ("qwen2.5-coder:1.5b", "fim"),
        ("Qwen/Qwen2.5-Coder-1.5B", "fim"),
        ("starcoder2:3b", "fim"),
        ("codellama:7b-code", "fim"),
        ("deepseek-coder:1.3b-base", "fim"),
        ("codestral-latest", "fim"),
        ("codegemma:2b", "fim"),
        ("granite-code:3b", "fim"),
        ("some-unknown-model", "chat"),
    ],
)
def test_prompt_mode_for(model: str, mode: str) -> None:
    assert prompt_mode_for(model) == mode


def test_fim_api_for() -> None:
    assert fim_api_for("codestral-latest", "https://codestral.mistral.ai/v1") == "mistral"
    assert fim_api_for("codestral-latest", "https://api.mistral.ai/v1") == "mistral"
    assert fim_api_for("codestral", "http://localhost:11434/v1") == "suffix"
    assert fim_api_for("qwen2.5-coder", None) == "suffix"


def test_retry_after_seconds() -> None:
    assert retry_after_seconds({"retry-after": "30"}) == 30
    assert retry_after_seconds({"retry-after-ms": "250"}) == 0.25
    assert retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0
    assert retry_after_seconds({}) is None


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="prompt mode"):
        OpenAIProvider(base_url=None, api_key=None, model="m", prompt_mode="fill")
    with pytest.raises(ValueError, match="FIM API"):
        OpenAIProvider(base_url=None, api_key=None, model="m", fim_api="magic")


def test_description_and_flags() -> None:
    provider = OpenAIProvider(base_url="http://localhost:11434/v1", api_key=None, model="starcoder2:3b")
    assert provider.description == "model starcoder2:3b at localhost:11434 (fim)"
    assert provider.is_offline is False
    assert OpenAIProvider(base_url=None, api_key="k", model="gpt-4o").description == (
        "model gpt-4o at api.openai.com (chat)"
    )


def test_credentials_in_the_base_url_never_show() -> None:
    provider = OpenAIProvider(
        base_url="https://me:hunter2@proxy.example:8443/v1", api_key=None, model="gpt-4o"
    )
    assert provider.description == "model gpt-4o at proxy.example:8443 (chat)"


def test_importing_and_constructing_does_not_import_openai() -> None:
    code = (
        "import sys\n"
        "from lsp_server.providers.openai import OpenAIProvider\n"
        "OpenAIProvider(base_url=None, api_key=None, model='gpt-4o')\n"
        "assert 'openai' not in sys.modules, 'openai imported eagerly'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)


# -- chat ------------------------------------------------------------------------------------------


async def test_streaming_chat(fake: FakeOpenAI, make) -> None:
    fake.script(Reply(choices=["one two", "three"]))
    deltas = await collect(make("gpt-4o-mini"), request(CHAT, n=2, stop=("\n\n",), max_tokens=7))
    assert joined(deltas, 0) == "one two" and joined(deltas, 1) == "three"
    assert finish(deltas, 0) == finish(deltas, 1) == "stop"
    body = fake.requests[0].body_json
    assert fake.requests[0].path == "/v1/chat/completions"
    assert body["messages"] == [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]
    assert (body["n"], body["stop"], body["max_tokens"], body["stream"]) == (2, ["\n\n"], 7, True)


async def test_fim_prompt_to_a_chat_model_goes_through_the_hole_filler(fake: FakeOpenAI, make) -> None:
    deltas = await collect(make("gpt-4o-mini"), request(FIM))
    assert joined(deltas) == "a + b"
    messages = fake.requests[0].body_json["messages"]
    assert prompts.HOLE in messages[-1]["content"]
    assert fake.requests[0].path == "/v1/chat/completions"


async def test_prompt_mode_override(fake: FakeOpenAI, make) -> None:
    await collect(make("gpt-4o-mini", prompt_mode="fim", fim_api="suffix"), request(FIM))
    assert fake.requests[0].path == "/v1/completions"


# -- FIM wire formats ------------------------------------------------------------------------------


async def test_fim_suffix(fake: FakeOpenAI, make) -> None:
    fim = prompts.FimPrompt(prefix="x = ", suffix="\n", context="# ctx\n")
    deltas = await collect(make(fim_api="suffix"), request(fim))
    assert joined(deltas) == "a + b" and finish(deltas) == "stop"
    body = fake.requests[0].body_json
    assert (fake.requests[0].path, body["prompt"], body["suffix"]) == ("/v1/completions", "# ctx\nx = ", "\n")


async def test_fim_tokens(fake: FakeOpenAI, make) -> None:
    provider = make("starcoder2:3b", fim_api="tokens")
    deltas = await collect(provider, request(FIM, stop=("\n\n",)))
    assert joined(deltas) == "a + b"
    body = fake.requests[0].body_json
    fmt = prompts.fim_format_for("starcoder2:3b")
    assert body["prompt"] == prompts.render_fim(FIM, fmt)
    assert "suffix" not in body
    assert body["stop"][0] == "\n\n" and set(fmt.stop) <= set(body["stop"])


async def test_fim_infill(fake: FakeOpenAI, make) -> None:
    fake.script(Reply(text="a + b", finish_reason="length"))
    deltas = await collect(make(fim_api="infill"), request(FIM, max_tokens=9))
    assert joined(deltas) == "a + b" and finish(deltas) == "length"
    recorded = fake.requests[0]
    assert recorded.path == "/infill"
    assert recorded.body_json["input_prefix"] == FIM.prefix
    assert recorded.body_json["input_suffix"] == FIM.suffix
    assert recorded.body_json["n_predict"] == 9


async def test_fim_mistral(fake: FakeOpenAI, make) -> None:
    deltas = await collect(make("codestral-latest", fim_api="mistral"), request(FIM))
    assert joined(deltas) == "a + b" and finish(deltas) == "stop"
    recorded = fake.requests[0]
    assert recorded.path == "/v1/fim/completions"
    assert (recorded.body_json["prompt"], recorded.body_json["suffix"]) == (FIM.prefix, FIM.suffix)


async def test_rejected_suffix_switches_to_tokens_for_good(make) -> None:
    with FakeOpenAI(reject_suffix=True, default=Reply(text="a + b")) as vllm:
        provider = make(base_url=vllm.base_url)
        assert joined(await collect(provider, request(FIM))) == "a + b"
        assert provider.fim_api == "tokens"
        await collect(provider, request(FIM))
        sent_suffix = ["suffix" in r.body_json for r in vllm.requests]
        assert sent_suffix == [True, False, False]


async def test_accepted_suffix_is_remembered(fake: FakeOpenAI, make) -> None:
    provider = make()
    await collect(provider, request(FIM))
    # Once suffix worked, a later 400 is the request's fault, not a reason to change format.
    fake.script(Reply(status=400))
    with pytest.raises(errors.ProviderError, match="HTTP 400"):
        await collect(provider, request(FIM))
    assert provider.fim_api == "suffix"


# -- faults ----------------------------------------------------------------------------------------


async def test_server_error_then_success_retries_once(fake: FakeOpenAI, make) -> None:
    fake.script(Reply(status=500))
    assert joined(await collect(make(), request(FIM))) == "a + b"
    assert len(fake.requests) == 2


async def test_two_server_errors_give_up_after_one_retry(fake: FakeOpenAI, make) -> None:
    fake.script(Reply(status=503), Reply(status=503), Reply(text="never"))
    with pytest.raises(errors.ProviderError, match="HTTP 503"):
        await collect(make(), request(FIM))
    assert len(fake.requests) == 2


async def test_client_errors_are_not_retried(fake: FakeOpenAI, make) -> None:
    fake.script(Reply(status=404))
    # A model the server does not have (any more) is its own error: a discovered model is then re-chosen.
    with pytest.raises(errors.ModelNotFound, match="not found"):
        await collect(make("gpt-4o"), request(CHAT))
    assert len(fake.requests) == 1


async def test_rate_limit_beyond_the_deadline_fails_fast(fake: FakeOpenAI, make) -> None:
    fake.script(Reply(status=429, headers={"Retry-After": "30"}))
    provider = make()
    await provider.warm_up()
    start = time.monotonic()
    with pytest.raises(errors.ProviderRateLimited, match="429"):
        await collect(provider, request(FIM, seconds=5))
    assert time.monotonic() - start < 1
    assert len(fake.requests) == 1


async def test_short_rate_limit_within_the_deadline_is_waited_out(fake: FakeOpenAI, make) -> None:
    fake.script(Reply(status=429, headers={"Retry-After": "0.1"}))
    assert joined(await collect(make(), request(FIM))) == "a + b"
    assert len(fake.requests) == 2
    assert fake.requests[1].time - fake.requests[0].time >= 0.1


async def test_hang_times_out_near_the_deadline_and_hangs_up(fake: FakeOpenAI, make) -> None:
    fake.script(Reply(hang=True))
    provider = make()
    await provider.warm_up()  # the deadline must measure the server, not the SDK's first import
    start = time.monotonic()
    with pytest.raises(errors.ProviderTimeout):
        await collect(provider, request(FIM, seconds=0.5))
    assert 0.45 <= time.monotonic() - start < 1.0
    assert fake.wait_for_disconnect(0, timeout=2).disconnected
    assert len(fake.requests) == 1  # a timeout is never retried


async def test_stall_mid_stream_times_out(fake: FakeOpenAI, make) -> None:
    fake.script(Reply(text="a b c", chunk_delay=2))
    provider = make()
    await provider.warm_up()
    seen: list[Delta] = []
    start = time.monotonic()
    with pytest.raises(errors.ProviderTimeout):
        async for delta in provider.stream(request(FIM, seconds=0.5)):
            seen.append(delta)
    assert time.monotonic() - start < 1.0
    assert joined(seen) == "a"
    assert fake.wait_for_disconnect(0, timeout=2).disconnected


async def test_a_deadline_passing_while_the_consumer_works_never_cancels_the_consumer(
    fake: FakeOpenAI, make
) -> None:
    # The stream runs in the consumer's task: the deadline may only cancel a read of the model.
    # Passing while the consumer awaits something of its own, it surfaces at the next read instead.
    fake.script(Reply(text="a b c"))
    provider = make()
    await provider.warm_up()
    seen: list[Delta] = []
    with pytest.raises(errors.ProviderTimeout):
        async for delta in provider.stream(request(FIM, seconds=0.3)):
            seen.append(delta)
            await asyncio.sleep(0.5)  # not cancelled: this is the consumer's own wait
    assert joined(seen) == "a"


async def test_a_cancel_from_outside_stays_a_cancel(fake: FakeOpenAI, make) -> None:
    fake.script(Reply(hang=True))
    provider = make()
    await provider.warm_up()
    reading = asyncio.ensure_future(collect(provider, request(FIM, seconds=5)))
    await asyncio.to_thread(fake.wait_for_requests, 1)
    reading.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reading
    assert fake.wait_for_disconnect(0, timeout=2).disconnected


async def test_cut_stream_ends_without_finish_reason(fake: FakeOpenAI, make) -> None:
    fake.script(Reply(text="a + b", cut=True))
    deltas = await collect(make(), request(FIM))
    assert joined(deltas) == "a + b"
    assert finish(deltas) is None


async def test_reset_after_partial_output_ends_without_finish_reason(fake: FakeOpenAI, make) -> None:
    fake.script(Reply(text="a + b", reset=True), Reply(text="never"))
    deltas = await collect(make(), request(FIM))
    assert joined(deltas) == "a + b"
    assert finish(deltas) is None
    assert len(fake.requests) == 1  # text already went out: a retry would duplicate it


async def test_reset_before_any_output_is_retried(fake: FakeOpenAI, make) -> None:
    fake.script(Reply(chunks=[], reset=True))
    deltas = await collect(make(), request(FIM))
    assert joined(deltas) == "a + b" and finish(deltas) == "stop"
    assert len(fake.requests) == 2


async def test_malformed_events_are_a_provider_error(fake: FakeOpenAI, make) -> None:
    fake.script(Reply(raw=b"data: <html>proxy error</html>\n\n"))
    with pytest.raises(errors.ProviderError, match="malformed"):
        await collect(make(), request(FIM))


SSE_ODDITIES = (
    b": keep-alive comment\r\n"
    b"event: completion\r\n"
    b'data: {"choices": [{"index": 0, "text": "a"}]}\r\n\r\n'
    b'data: {"choices": [{"index": 0, "text": " +"}]}\r\r'  # lone CRs end lines too
    b"id: 2\n"
    b'data:{"choices": [{"index": 0, "text": " b", "finish_reason": "stop"}]}\n\n'
    b"data: [DONE]"  # the server closed without the blank line after its last event
)


async def test_event_framing_oddities_decode_the_same_through_both_doors(fake: FakeOpenAI, make) -> None:
    fake.script(Reply(raw=SSE_ODDITIES))
    deltas = await collect(make(), request(FIM))
    assert joined(deltas) == "a + b" and finish(deltas) == "stop"


async def test_an_error_event_in_the_stream_is_a_provider_error(fake: FakeOpenAI, make) -> None:
    fake.script(Reply(raw=b'data: {"error": {"message": "model overloaded"}}\n\n'))
    with pytest.raises(errors.ProviderError, match="model overloaded"):
        await collect(make(), request(FIM))
    assert len(fake.requests) == 1  # not retried


async def test_organization_and_project_from_the_environment_go_through_both_doors(
    fake: FakeOpenAI, make, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SDK sends OPENAI_ORG_ID and OPENAI_PROJECT_ID as headers on its own; so must the other door."""
    monkeypatch.setenv("OPENAI_ORG_ID", "org-test")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-test")
    await collect(make(), request(FIM))
    headers = fake.requests[0].headers
    assert headers["openai-organization"] == "org-test" and headers["openai-project"] == "proj-test"


def test_a_first_request_goes_out_before_the_sdk_has_loaded(tmp_path) -> None:
    """The SDK (0.35-0.45 s of CPU to import) and httpx2 (28 ms): a first suggestion waits for neither."""
    code = f"""
import asyncio, sys, time
sys.path.insert(0, {str(Path(__file__).parents[1])!r})
from fake_openai import FakeOpenAI, Reply
from lsp_server.providers import prompts
from lsp_server.providers.base import ModelRequest
from lsp_server.providers.openai import OpenAIProvider

async def main():
    with FakeOpenAI(default=Reply(text="a + b")) as fake:
        provider = OpenAIProvider(base_url=fake.base_url, api_key={KEY!r}, model="qwen2.5-coder:1.5b")
        prompt = prompts.FimPrompt(prefix="x = ", suffix="")
        request = ModelRequest(prompt=prompt, deadline=time.monotonic() + 5)
        text = "".join([d.text async for d in provider.stream(request)])
        assert text == "a + b", text
        assert "openai" not in sys.modules, "the SDK was imported for the first request"
        assert "httpx2" not in sys.modules, "httpx2 was imported for the first request"
        headers = fake.requests[0].headers
        assert headers["authorization"] == "Bearer {KEY}", headers
        assert headers["host"] == fake.base_url.split("/")[2], headers
        assert fake.requests[0].path == "/v1/completions", fake.requests[0].path
        await provider.warm_up()  # then the SDK serves, on the same kept-alive connection
        text = "".join([d.text async for d in provider.stream(request)])
        assert text == "a + b" and "openai" in sys.modules
        await provider.aclose()

asyncio.run(main())
"""
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


async def test_unreachable_server_is_a_short_provider_error(make) -> None:
    with FakeOpenAI() as gone:
        base_url = gone.base_url
    provider = make(base_url=base_url)
    await provider.warm_up()
    start = time.monotonic()
    with pytest.raises(errors.ProviderError, match="cannot reach 127.0.0.1") as caught:
        await collect(provider, request(FIM))
    assert time.monotonic() - start < 1
    assert len(str(caught.value)) < 200


# -- cancellation and closing ----------------------------------------------------------------------


async def test_cancelling_the_consumer_closes_the_stream(fake: FakeOpenAI, make) -> None:
    fake.script(Reply(text="one two three four", chunk_delay=0.3))
    first = asyncio.Event()

    async def consume() -> None:
        async with contextlib.aclosing(make().stream(request(FIM))) as stream:
            async for _ in stream:
                first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    recorded = await asyncio.to_thread(fake.wait_for_disconnect, 0, 2)
    assert recorded.disconnected


async def test_stopping_early_closes_the_stream(fake: FakeOpenAI, make) -> None:
    fake.script(Reply(text="one two three four", chunk_delay=0.2))
    async with contextlib.aclosing(make().stream(request(FIM))) as stream:
        async for delta in stream:
            assert delta.text == "one"
            break
    recorded = await asyncio.to_thread(fake.wait_for_disconnect, 0, 2)
    assert recorded.disconnected


# -- keys ------------------------------------------------------------------------------------------


async def test_base_url_without_key_sends_a_placeholder(fake: FakeOpenAI, make, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)  # an ambient key must not leak to a keyless local server
    assert joined(await collect(make(api_key=None), request(FIM))) == "a + b"
    assert fake.requests[0].headers["authorization"] == f"Bearer {PLACEHOLDER_KEY}"
    assert KEY not in str(fake.requests[0].headers)


async def test_api_key_never_appears_in_errors(fake: FakeOpenAI, make) -> None:
    echo = {"error": {"message": f"Incorrect API key provided: {KEY}", "type": "invalid_request_error"}}
    leak = Reply(status=500, error_body={"error": {"message": KEY}})
    fake.script(Reply(status=401, error_body=echo), leak, leak)  # the 500 is retried once
    for _ in range(2):
        with pytest.raises(errors.ProviderError) as caught:
            await collect(make(), request(FIM))
        assert KEY not in str(caught.value)
        assert KEY not in repr(caught.value.args)
        assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_connect_timeout_is_editor_grade() -> None:
    provider = OpenAIProvider(base_url="http://127.0.0.1:9/v1", api_key=None, model="m", connect_timeout=10)
    timeout = provider._timeout(time.monotonic() + 1.5)
    assert timeout.connect <= 1.5 and timeout.read <= 1.5
    assert provider._client_().max_retries == 0


async def test_warm_up_builds_the_client_once(fake: FakeOpenAI, make) -> None:
    provider = make()
    await provider.warm_up()
    client = provider._client_()
    await provider.warm_up()
    assert provider._client_() is client
    assert fake.requests == []  # warming up sends nothing


async def test_a_first_request_builds_the_client_off_the_loop_and_shares_the_warm_up(
    fake: FakeOpenAI, make, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SDK's import takes 0.3-0.5 s: a request that comes first waits for it in a worker thread."""
    import threading

    provider = make()
    built_in: list[threading.Thread] = []
    build = provider._new_client

    def recording():  # the SDK's import and the client's construction
        built_in.append(threading.current_thread())
        return build()

    monkeypatch.setattr(provider, "_new_client", recording)
    # The request first, then the server's warm-up (started after ``initialized``) while it waits.
    asked = asyncio.ensure_future(collect(provider, request(FIM)))
    await asyncio.sleep(0)
    deltas, _ = await asyncio.gather(asked, provider.warm_up())
    assert joined(deltas) == "a + b"
    assert built_in and all(thread is not threading.main_thread() for thread in built_in)
    assert len(built_in) == 1  # built once: the request waited for the warm-up


async def test_past_deadline_sends_nothing(fake: FakeOpenAI, make) -> None:
    with pytest.raises(errors.ProviderTimeout):
        await collect(make(), request(FIM, seconds=-1))
    assert fake.requests == []


# -- doctor ----------------------------------------------------------------------------------------


async def test_check_finds_the_model_in_the_list(make) -> None:
    with FakeOpenAI(models=("a", "qwen2.5-coder:1.5b")) as server:
        outcome = await make(base_url=server.base_url).check()
        assert outcome.startswith("OK") and "qwen2.5-coder:1.5b" in outcome
        assert [r.path for r in server.requests] == ["/v1/models"]


async def test_check_tries_an_unlisted_model(fake: FakeOpenAI, make) -> None:
    outcome = await make("gpt-4o").check()
    assert "answered a 1-token request" in outcome
    assert [r.path for r in fake.requests] == ["/v1/models", "/v1/chat/completions"]
    assert fake.requests[1].body_json["max_tokens"] == 1


async def test_check_reports_a_rejected_key(fake: FakeOpenAI, make) -> None:
    fake.default = Reply(status=401)
    with pytest.raises(errors.ProviderError, match="rejected the API key"):
        await make().check()


# -- listing a server's models (discovery) ---------------------------------------------------------


async def test_list_models_returns_the_ids_in_the_servers_order_and_sends_the_key() -> None:
    with FakeOpenAI(models=("qwen2.5-coder:1.5b-base", "nomic-embed-text", "llama3.1:8b")) as server:
        ids = await list_models(server.base_url, KEY, 3.0)
        assert ids == ("qwen2.5-coder:1.5b-base", "nomic-embed-text", "llama3.1:8b")
        [asked] = server.requests
        assert (asked.method, asked.path) == ("GET", "/v1/models")
        assert asked.headers["authorization"] == f"Bearer {KEY}"


async def test_list_models_says_none_for_a_server_without_a_list_and_raises_readably_otherwise() -> None:
    with FakeOpenAI(models_reply=Reply(status=404)) as server:
        assert await list_models(server.base_url, None, 3.0) is None
    with FakeOpenAI(models_reply=Reply(status=401)) as server:
        with pytest.raises(errors.ProviderError, match="rejected the API key") as rejected:
            await list_models(server.base_url, KEY, 3.0)
        assert KEY not in str(rejected.value)
    started = time.monotonic()
    with pytest.raises(errors.ProviderError, match="cannot reach 127.0.0.1:9"):
        await list_models("http://127.0.0.1:9/v1", None, 1.0)
    assert time.monotonic() - started < 3


async def test_fim_prompt_is_cut_to_the_budget_before_the_frame_is_built(fake: FakeOpenAI, make) -> None:
    fake.script(Reply(text="a + b"))
    provider = make("starcoder2:3b", fim_api="tokens", max_prompt_chars=80)
    long = prompts.FimPrompt(
        prefix="".join(f"x{i} = {i}\n" for i in range(50)) + "def add(a, b):\n    return ",
        suffix="\n\nprint(add(1, 2))\n" + "# tail\n" * 50,
        context="# from other.py\n" * 20,
    )
    await collect(provider, request(long))
    rendered = fake.requests[-1].body_json["prompt"]
    assert rendered.startswith("<fim_prefix>") and rendered.endswith("<fim_middle>")
    assert "from other.py" not in rendered and "x0 = 0" not in rendered
    assert "    return <fim_suffix>\n\nprint(add(1, 2))" in rendered
