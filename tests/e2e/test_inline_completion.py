"""The real server over stdio against the fake OpenAI-compatible server: the inline pipeline end to end."""

from __future__ import annotations

import asyncio
import time

import pytest
from fake_openai import FakeOpenAI, Reply
from harness import SERVER, capabilities, inline_params, insert, open_document, running_server, server_env
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig

from lsp_server.app.session import BUSY_AFTER_S

URI = "file:///tmp/llm_lsp_e2e/example.py"
SOURCE = "def add(a, b):\n    return \n\nprint(add(1, 2))\n"


@pytest.fixture
def fake():
    with FakeOpenAI() as server:
        yield server


async def test_initialize_advertises_inline_completion_and_negotiates_encoding(fake):
    client = await ClientServerConfig(
        server_command=SERVER, server_env=server_env(fake.base_url, "x")
    ).start()
    try:
        started = time.monotonic()
        result = await client.initialize_session(
            types.InitializeParams(capabilities=capabilities(encodings=["utf-8", "utf-16"]))
        )
        assert time.monotonic() - started < 5
        caps = result.capabilities
        assert caps.position_encoding == "utf-8"
        assert caps.inline_completion_provider is not None
        assert caps.completion_provider is not None
        assert caps.text_document_sync.change == types.TextDocumentSyncKind.Incremental
        assert result.server_info.name == "llm-lsp"
        await client.shutdown_session()
    finally:
        await client.stop()


async def test_fim_suggestion_reaches_the_editor_without_repeating_the_suffix(fake):
    fake.script(Reply(text="a + b\n\nprint(add(1, 2))\n"))
    async with running_server(server_env(fake.base_url, "starcoder2")) as client:
        open_document(client, URI, SOURCE)
        result = await client.text_document_inline_completion_async(inline_params(URI, 1, 11))
        assert [item.insert_text for item in result.items] == ["a + b"]
        item = result.items[0]
        assert item.range.start == types.Position(line=1, character=11)
        assert item.command.command == "llm-lsp.acceptCompletion"
        body = fake.requests[-1].body_json
        assert body["prompt"].endswith("    return ")
        assert body["suffix"].startswith("\n\nprint(add(1, 2))")
        assert body["stream"] is True


async def test_chat_model_answer_is_taken_from_its_code_block(fake):
    fake.script(Reply(text="Sure! Here is the code:\n```python\na + b\n```\nHope it helps."))
    async with running_server(server_env(fake.base_url, "gpt-4o-mini")) as client:
        open_document(client, URI, SOURCE)
        result = await client.text_document_inline_completion_async(inline_params(URI, 1, 11))
        assert [item.insert_text for item in result.items] == ["a + b"]
        assert fake.requests[-1].path.endswith("/chat/completions")


async def test_completion_item_fallback_for_editors_without_ghost_text(fake):
    fake.script(Reply(text="a + b"))
    async with running_server(server_env(fake.base_url, "starcoder2"), inline=False) as client:
        open_document(client, URI, SOURCE)
        result = await client.text_document_completion_async(
            types.CompletionParams(
                text_document=types.TextDocumentIdentifier(uri=URI),
                position=types.Position(line=1, character=11),
                context=types.CompletionContext(trigger_kind=types.CompletionTriggerKind.Invoked),
            )
        )
        assert len(result.items) == 1
        item = result.items[0]
        assert item.label == "a + b"
        assert item.text_edit.new_text == "a + b"


async def test_a_new_request_cancels_the_previous_one_and_closes_its_stream(fake):
    fake.script(Reply(text="a + b", latency=3.0), Reply(text="a - b"))
    async with running_server(server_env(fake.base_url, "starcoder2")) as client:
        open_document(client, URI, SOURCE)
        first = asyncio.ensure_future(client.text_document_inline_completion_async(inline_params(URI, 1, 11)))
        await asyncio.to_thread(fake.wait_for_requests, 1)
        second = await client.text_document_inline_completion_async(inline_params(URI, 1, 11))
        assert [item.insert_text for item in second.items] == ["a - b"]
        with pytest.raises(JsonRpcException) as raised:
            await first
        assert raised.value.code == -32800
        assert (await asyncio.to_thread(fake.wait_for_disconnect, 0, 5)).disconnected


async def test_cancel_request_answers_at_once_and_closes_the_model_stream(fake):
    fake.script(Reply(text="a + b", hang=True))
    async with running_server(server_env(fake.base_url, "starcoder2")) as client:
        open_document(client, URI, SOURCE)
        msg_id = "cancel-me"
        future = client.protocol.send_request(
            types.TEXT_DOCUMENT_INLINE_COMPLETION, inline_params(URI, 1, 11), msg_id=msg_id
        )
        await asyncio.to_thread(fake.wait_for_requests, 1)
        started = time.monotonic()
        client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=msg_id))
        with pytest.raises(JsonRpcException) as raised:
            await asyncio.wrap_future(future)
        assert raised.value.code == -32800
        assert time.monotonic() - started < 1.0
        assert (await asyncio.to_thread(fake.wait_for_disconnect, 0, 5)).disconnected


async def test_a_result_for_an_older_version_is_never_returned(fake):
    fake.script(Reply(text="a + b", latency=0.5))
    async with running_server(server_env(fake.base_url, "starcoder2")) as client:
        open_document(client, URI, SOURCE)
        pending = asyncio.ensure_future(
            client.text_document_inline_completion_async(inline_params(URI, 1, 11))
        )
        await asyncio.to_thread(fake.wait_for_requests, 1)
        insert(client, URI, 2, 1, 11, "x")
        with pytest.raises(JsonRpcException) as raised:
            await pending
        assert raised.value.code == -32801


async def test_model_faults_while_typing_are_logged_not_popped_up(fake):
    fake.script(Reply(status=500), Reply(status=500), Reply(status=500))
    env = server_env(fake.base_url, "starcoder2")
    async with running_server(env, configuration={"offlineFallback": False}) as client:
        open_document(client, URI, SOURCE)
        result = await client.text_document_inline_completion_async(inline_params(URI, 1, 11, explicit=False))
        assert result.items == ()
        assert not [m for m in client.messages if m.type == types.MessageType.Error]
        await asyncio.sleep(0.1)
        assert any(getattr(s, "state", None) == "error" for s in client.statuses)


async def test_a_model_that_never_answers_costs_one_deadline_then_nothing(fake):
    fake.script(Reply(hang=True))
    env = server_env(fake.base_url, "starcoder2")
    settings = {"completion": {"deadlineMs": 600}, "offlineFallback": False}
    async with running_server(env, configuration=settings) as client:
        open_document(client, URI, SOURCE)
        started = time.monotonic()
        result = await client.text_document_inline_completion_async(inline_params(URI, 1, 11, explicit=False))
        assert result.items == ()
        assert time.monotonic() - started < 3.0


async def test_bad_settings_give_one_message_and_the_server_keeps_serving(fake):
    fake.script(Reply(text="a + b"))
    env = server_env(fake.base_url, "starcoder2")
    async with running_server(
        env, initialization_options={"completion": {"multiline": "sometimes"}}
    ) as client:
        open_document(client, URI, SOURCE)
        result = await client.text_document_inline_completion_async(inline_params(URI, 1, 11))
        assert [item.insert_text for item in result.items] == ["a + b"]
        warnings = [m.message for m in client.messages if m.type == types.MessageType.Warning]
        assert len(warnings) == 1 and "completion.multiline" in warnings[0]


async def test_unknown_documents_and_positions_past_the_end_get_clear_answers(fake):
    fake.script(Reply(text="pass"), Reply(text="pass"))
    async with running_server(server_env(fake.base_url, "starcoder2")) as client:
        never_opened = await client.text_document_inline_completion_async(
            inline_params("file:///tmp/never-opened.py", 0, 0)
        )
        assert never_opened.items == ()
        open_document(client, URI, SOURCE)
        past_end = await client.text_document_inline_completion_async(inline_params(URI, 99, 99))
        end_of_file = types.Position(line=4, character=0)
        assert all(item.range.start == end_of_file for item in past_end.items)
        plain = "file:///tmp/llm_lsp_e2e/notes.unknownext"
        open_document(client, plain, "some text\n", language_id="plaintext")
        result = await client.text_document_inline_completion_async(inline_params(plain, 0, 9))
        assert [item.insert_text for item in result.items] == ["pass"]


async def test_while_the_model_is_down_the_offline_engine_answers_and_the_status_says_so(fake):
    fake.default = Reply(status=503)
    source = "values = [1, 2, 3]\ntotal = sum(values)\nprint(total)\n\nvalues = [4, 5, 6]\ntotal = sum(\n"
    async with running_server(server_env(fake.base_url, "starcoder2")) as client:
        open_document(client, URI, source)
        result = await client.text_document_inline_completion_async(inline_params(URI, 5, 12))
        assert [item.insert_text for item in result.items] == ["values)"]
        await asyncio.sleep(0.1)
        last = client.statuses[-1]
        assert last.state == "error" and "offline engine" in last.message


async def test_a_binary_file_and_a_50_mb_file_get_clear_answers_and_the_server_keeps_serving(fake):
    fake.default = Reply(text="pass")
    async with running_server(server_env(fake.base_url, "starcoder2")) as client:
        binary = "file:///tmp/llm_lsp_e2e/blob.bin"
        open_document(client, binary, "\x00\x01\x02 data \x00" * 1000, language_id="plaintext")
        result = await client.text_document_inline_completion_async(inline_params(binary, 0, 5))
        assert isinstance(result.items, tuple)

        huge = "file:///tmp/llm_lsp_e2e/huge.py"
        line = "value = compute(value, 12345)  # padding to make the line longer\n"
        text = line * (50 * 1024 * 1024 // len(line))
        open_document(client, huge, text)
        started = time.monotonic()
        result = await client.text_document_inline_completion_async(inline_params(huge, 400_000, 8))
        assert time.monotonic() - started < 10
        assert [item.insert_text for item in result.items] == ["pass"]
        sent = fake.requests[-1].body_json
        assert len(sent["prompt"]) + len(sent["suffix"]) < 20_000  # the prompt stays within its budget


async def test_settings_hot_reload_on_did_change_configuration(fake):
    fake.default = Reply(text="a + b")
    async with running_server(server_env(fake.base_url, "starcoder2")) as client:
        open_document(client, URI, SOURCE)
        first = await client.text_document_inline_completion_async(inline_params(URI, 1, 11))
        assert [item.insert_text for item in first.items] == ["a + b"]

        client.set_configuration({"completion": {"enable": False, "maxTokens": "lots"}}, section="llmLsp")
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
        await asyncio.sleep(0.5)
        insert(client, URI, 2, 1, 11, " ")  # a new version: nothing cached applies
        requests_before = len(fake.requests)
        second = await client.text_document_inline_completion_async(inline_params(URI, 1, 12))
        assert second.items == ()
        assert len(fake.requests) == requests_before  # disabled: the model is not asked
        warnings = [m.message for m in client.messages if m.type == types.MessageType.Warning]
        assert any("completion.maxTokens" in w for w in warnings)

        client.set_configuration({"completion": {"enable": True}}, section="llmLsp")
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
        await asyncio.sleep(0.5)
        third = await client.text_document_inline_completion_async(inline_params(URI, 1, 12))
        assert [item.insert_text for item in third.items] == ["a + b"]


async def test_the_status_turns_busy_for_a_slow_answer_and_stays_quiet_for_a_quick_one(fake):
    # Instant answers send no status at all (no spinner flashing per keystroke, no extra writes); an
    # answer slower than the busy delay shows busy, then the resting state again.
    fake.script(Reply(text="a * b"), Reply(text="a + b"), Reply(text="a - b", latency=0.6))
    async with running_server(server_env(fake.base_url, "starcoder2")) as client:
        open_document(client, URI, SOURCE)
        # The first request pays one-time imports and the model check: it may well be slow.
        await client.text_document_inline_completion_async(inline_params(URI, 1, 10))
        await asyncio.sleep(0.3)
        client.statuses.clear()
        started = time.monotonic()
        quick = await client.text_document_inline_completion_async(inline_params(URI, 1, 11))
        took = time.monotonic() - started
        assert [item.insert_text for item in quick.items] == ["a + b"]
        await asyncio.sleep(0.3)
        if took < BUSY_AFTER_S:  # on a machine loaded enough to make it slow, busy is right
            assert client.statuses == []
        insert(client, URI, 2, 1, 11, " ")
        slow = await client.text_document_inline_completion_async(inline_params(URI, 1, 12))
        assert [item.insert_text for item in slow.items] == ["a - b"]
        await asyncio.sleep(0.1)
        states = [status.state for status in client.statuses]
        assert states == ["busy", "idle"], states
