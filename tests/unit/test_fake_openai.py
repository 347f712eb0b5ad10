"""The fake OpenAI server speaks the wire shapes the real SDK and raw HTTP clients expect."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from fake_openai import FakeOpenAI, Recorded, Reply, lookup_responder, split_words

FAKE_PATH = Path(__file__).resolve().parents[1] / "fake_openai.py"


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(default=Reply(text="return a + b")) as server:
        yield server


def client(fake: FakeOpenAI) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake.base_url, api_key="test-key", max_retries=0, timeout=5)


def sse_events(raw: bytes) -> list[str]:
    return [line[len("data: ") :] for line in raw.decode().split("\n\n") if line.startswith("data: ")]


def post(fake: FakeOpenAI, path: str, body: dict) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
    conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, data


def test_split_words_keeps_every_character() -> None:
    text = "def f(x):\n    return  x\n"
    assert "".join(split_words(text)) == text
    assert split_words("") == []
    long = "x = 1\n" * 10_000
    assert len(split_words(long)) <= 256 and "".join(split_words(long)) == long


def test_streaming_chat_with_the_sdk(fake: FakeOpenAI) -> None:
    stream = client(fake).chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "return a + b"
    assert [c.choices[0].finish_reason for c in chunks][-1] == "stop"
    assert all(c.choices[0].finish_reason is None for c in chunks[:-1])
    assert fake.requests[0].path == "/v1/chat/completions"
    assert fake.requests[0].headers["authorization"] == "Bearer test-key"


def test_streaming_completions_with_n_choices(fake: FakeOpenAI) -> None:
    fake.script(Reply(choices=["one two", "three"], finish_reason="length"))
    stream = client(fake).completions.create(model="m", prompt="p", suffix="s", n=2, stream=True)
    texts: dict[int, str] = {}
    finishes: dict[int, str | None] = {}
    for chunk in stream:
        for choice in chunk.choices:
            texts[choice.index] = texts.get(choice.index, "") + choice.text
            finishes[choice.index] = choice.finish_reason or finishes.get(choice.index)
    assert texts == {0: "one two", 1: "three"}
    assert finishes == {0: "length", 1: "length"}
    assert fake.requests[0].body_json["suffix"] == "s"


def test_plain_json_answers(fake: FakeOpenAI) -> None:
    sdk = client(fake)
    chat = sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}], n=2)
    assert [c.message.content for c in chat.choices] == ["return a + b"] * 2
    completion = sdk.completions.create(model="m", prompt="p")
    assert completion.choices[0].text == "return a + b"
    assert completion.choices[0].finish_reason == "stop"
    assert [m.id for m in sdk.models.list()] == ["fake-model"]


def test_error_status_headers_and_body(fake: FakeOpenAI) -> None:
    fake.script(Reply(status=429, headers={"Retry-After": "30"}), Reply(status=500))
    with pytest.raises(openai.RateLimitError) as rate:
        client(fake).completions.create(model="m", prompt="p")
    assert rate.value.response.headers["retry-after"] == "30"
    with pytest.raises(openai.InternalServerError):
        client(fake).completions.create(model="m", prompt="p")
    # The script is used up: the default answers again.
    assert client(fake).completions.create(model="m", prompt="p").choices[0].text == "return a + b"


def test_reject_suffix_like_vllm() -> None:
    with FakeOpenAI(reject_suffix=True, default=Reply(text="x")) as fake:
        fake.script(Reply(text="scripted"))
        with pytest.raises(openai.BadRequestError, match="suffix"):
            client(fake).completions.create(model="m", prompt="p", suffix="s")
        # The rejection did not consume the scripted reply.
        assert client(fake).completions.create(model="m", prompt="p").choices[0].text == "scripted"


def test_reply_level_reject_suffix(fake: FakeOpenAI) -> None:
    fake.script(Reply(text="ok", reject_suffix=True), Reply(text="ok", reject_suffix=True))
    with pytest.raises(openai.BadRequestError):
        client(fake).completions.create(model="m", prompt="p", suffix="s")
    assert client(fake).completions.create(model="m", prompt="p").choices[0].text == "ok"


def test_cut_stream_has_no_finish_reason_and_no_done(fake: FakeOpenAI) -> None:
    fake.script(Reply(text="a b c", cut=True))
    status, _, raw = post(fake, "/v1/completions", {"model": "m", "prompt": "p", "stream": True})
    events = sse_events(raw)
    assert status == 200
    assert "[DONE]" not in events
    assert all(json.loads(e)["choices"][0]["finish_reason"] is None for e in events)
    assert "".join(json.loads(e)["choices"][0]["text"] for e in events) == "a b c"


def test_reset_is_a_read_error_for_the_sdk(fake: FakeOpenAI) -> None:
    fake.script(Reply(text="a b", reset=True))
    texts = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in client(fake).completions.create(model="m", prompt="p", stream=True):
            texts.append(chunk.choices[0].text)
    assert "".join(texts) == "a b"


def test_raw_sse_ends_with_done(fake: FakeOpenAI) -> None:
    status, headers, raw = post(fake, "/v1/chat/completions", {"model": "m", "messages": [], "stream": True})
    events = sse_events(raw)
    assert status == 200 and headers["content-type"] == "text/event-stream"
    assert events[-1] == "[DONE]"
    assert json.loads(events[0])["choices"][0]["delta"]["role"] == "assistant"
    assert json.loads(events[-2])["choices"][0]["finish_reason"] == "stop"


def test_mistral_fim_endpoint(fake: FakeOpenAI) -> None:
    body = {"model": "codestral-latest", "prompt": "def f(", "suffix": ")", "stream": True}
    _, _, raw = post(fake, "/v1/fim/completions", body)
    chunks = [json.loads(e) for e in sse_events(raw)[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "return a + b"
    assert chunks[-1]["object"] == "chat.completion.chunk"
    assert chunks[-1]["model"] == "codestral-latest"


def test_llama_cpp_infill(fake: FakeOpenAI) -> None:
    fake.script(Reply(text="x y", finish_reason="length"))
    _, _, raw = post(fake, "/infill", {"input_prefix": "a", "input_suffix": "b", "stream": True})
    events = [json.loads(e) for e in sse_events(raw)]
    assert "".join(e["content"] for e in events) == "x y"
    assert events[-1]["stop"] is True and events[-1]["stop_type"] == "limit"
    assert not any(e["stop"] for e in events[:-1])
    _, _, whole = post(fake, "/infill", {"input_prefix": "a", "input_suffix": "b"})
    assert json.loads(whole)["content"] == "return a + b"
    assert fake.requests[0].prompt_text == "a\nb"


def test_raw_body_is_sent_verbatim(fake: FakeOpenAI) -> None:
    fake.script(Reply(raw=b"data: not json\n\n"))
    status, headers, raw = post(fake, "/v1/completions", {"stream": True})
    assert (status, headers["content-type"], raw) == (200, "text/event-stream", b"data: not json\n\n")


def test_unknown_route_is_404(fake: FakeOpenAI) -> None:
    status, _, _ = post(fake, "/v1/embeddings", {})
    assert status == 404


def test_latency_and_chunk_delay(fake: FakeOpenAI) -> None:
    fake.script(Reply(text="a b c", latency=0.2, chunk_delay=0.05))
    start = time.monotonic()
    post(fake, "/v1/completions", {"model": "m", "prompt": "p", "stream": True})
    assert 0.3 <= time.monotonic() - start < 2


def test_hang_records_disconnect_when_client_gives_up(fake: FakeOpenAI) -> None:
    fake.script(Reply(hang=True))
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=0.2)
    conn.request("POST", "/v1/completions", body=json.dumps({"model": "m", "prompt": "p"}))
    with pytest.raises(TimeoutError):
        conn.getresponse()
    conn.close()
    assert fake.wait_for_disconnect(0, timeout=2).disconnected


def test_early_close_of_a_stream_is_recorded(fake: FakeOpenAI) -> None:
    fake.script(Reply(text="one two three four five", chunk_delay=0.1))
    stream = client(fake).completions.create(model="m", prompt="p", stream=True)
    first = next(iter(stream))
    stream.close()
    assert first.choices[0].text == "one"
    assert fake.wait_for_disconnect(0, timeout=2).disconnected


def test_completed_stream_is_not_a_disconnect(fake: FakeOpenAI) -> None:
    list(client(fake).completions.create(model="m", prompt="p", stream=True))
    time.sleep(0.05)
    assert fake.requests[0].disconnected is False


def test_stop_ends_a_hanging_handler_promptly() -> None:
    fake = FakeOpenAI(default=Reply(hang=True)).start()
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
    conn.request("POST", "/v1/completions", body=b"{}")
    fake.wait_for_requests(1)
    start = time.monotonic()
    fake.stop()
    assert time.monotonic() - start < 1.5
    conn.close()


def test_responders_answer_from_the_request(fake: FakeOpenAI) -> None:
    fake.script(lambda request: Reply(text=request.body_json["prompt"].upper()))
    fake.default = lookup_responder({"def add(a, b):": "return a + b", "def": "pass"}, fallback="?")
    sdk = client(fake)
    assert sdk.completions.create(model="m", prompt="abc").choices[0].text == "ABC"
    assert sdk.completions.create(model="m", prompt="def add(a, b):\n    ").choices[0].text == "return a + b"
    assert sdk.completions.create(model="m", prompt="def g():").choices[0].text == "pass"
    assert sdk.completions.create(model="m", prompt="x = ").choices[0].text == "?"


def test_wait_for_requests_times_out(fake: FakeOpenAI) -> None:
    with pytest.raises(TimeoutError):
        fake.wait_for_requests(1, timeout=0.05)


def test_recorded_prompt_text_covers_chat_messages() -> None:
    body = {"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]}
    assert Recorded("POST", "/v1/chat/completions", {}, body, 0.0).prompt_text == "S\nU"


def test_command_line_prints_base_url_and_writes_port_file(tmp_path: Path) -> None:
    port_file = tmp_path / "port"
    proc = subprocess.Popen(
        [sys.executable, str(FAKE_PATH), "--port", "0", "--reply", "hi there", "--port-file", str(port_file)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        port = int(port_file.read_text())
        assert base_url == f"http://127.0.0.1:{port}/v1"
        sdk = openai.OpenAI(base_url=base_url, api_key="k", max_retries=0, timeout=5)
        assert sdk.completions.create(model="m", prompt="p").choices[0].text == "hi there"
    finally:
        proc.terminate()
        assert proc.wait(timeout=5) == 0


def test_keep_alive_streams_share_one_connection() -> None:
    """With ``keep_alive`` two streams are answered on one connection, each complete; a cut still closes."""
    with FakeOpenAI(default=Reply(text="return a + b"), keep_alive=True) as fake:
        conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
        body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "x"}]}
        for _ in range(2):
            conn.request("POST", "/v1/chat/completions", body=json.dumps(body))
            response = conn.getresponse()
            assert response.getheader("Transfer-Encoding") == "chunked"
            events = sse_events(response.read())
            assert events[-1] == "[DONE]"
            text = "".join(json.loads(e)["choices"][0]["delta"].get("content", "") for e in events[:-1])
            assert text == "return a + b"
        assert conn.sock is not None  # still open: the second answer came on the first connection
        fake.script(Reply(text="return 1", cut=True))
        conn.request("POST", "/v1/chat/completions", body=json.dumps(body))
        response = conn.getresponse()
        assert response.getheader("Connection") == "close"
        assert '"finish_reason": "stop"' not in response.read().decode()
        conn.close()
