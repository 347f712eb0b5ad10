"""A suggestion that writes past an auto-closed closer replaces it: the LSP items carry that range.

The real server over stdio, the fake model answering past the ``)`` the editor auto-closed; both the
inline item's ``range`` and the completion fallback's ``textEdit`` must cover the ``)``, in either
negotiated position encoding.
"""

from __future__ import annotations

import pytest
from fake_openai import FakeOpenAI, Reply
from harness import inline_params, open_document, running_server, server_env
from lsprotocol import types

URI = "file:///tmp/llm_lsp_e2e/fib.py"
SOURCE = 'LABEL = "🙂"\ndef fib()\n\n\nprint(fib(10))\n'
ANSWER = "n: int) -> int:\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n\n\nprint(fib(10))\n"
SHOWN = "n: int) -> int:\n    return n if n < 2 else fib(n - 1) + fib(n - 2)"


@pytest.fixture
def fake():
    with FakeOpenAI() as server:
        yield server


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8"])
async def test_inline_item_range_covers_the_closer_it_replaces(fake, encoding):
    fake.script(Reply(text=ANSWER))
    async with running_server(server_env(fake.base_url, "starcoder2"), encodings=[encoding]) as client:
        open_document(client, URI, SOURCE)
        result = await client.text_document_inline_completion_async(inline_params(URI, 1, 8))
        assert [item.insert_text for item in result.items] == [SHOWN]
        assert result.items[0].range == types.Range(
            start=types.Position(line=1, character=8), end=types.Position(line=1, character=9)
        )


async def test_plain_insertion_keeps_an_empty_range(fake):
    fake.script(Reply(text="n)\n\n\nprint(fib(10))\n"))
    async with running_server(server_env(fake.base_url, "starcoder2")) as client:
        open_document(client, URI, SOURCE)
        result = await client.text_document_inline_completion_async(inline_params(URI, 1, 8))
        assert [item.insert_text for item in result.items] == ["n"]
        assert result.items[0].range.start == result.items[0].range.end


async def test_completion_fallback_text_edit_covers_the_closer(fake):
    fake.script(Reply(text=ANSWER))
    async with running_server(server_env(fake.base_url, "starcoder2"), inline=False) as client:
        open_document(client, URI, SOURCE)
        result = await client.text_document_completion_async(
            types.CompletionParams(
                text_document=types.TextDocumentIdentifier(uri=URI),
                position=types.Position(line=1, character=8),
                context=types.CompletionContext(trigger_kind=types.CompletionTriggerKind.Invoked),
            )
        )
        assert len(result.items) == 1
        edit = result.items[0].text_edit
        assert edit.new_text == SHOWN
        assert edit.range == types.Range(
            start=types.Position(line=1, character=8), end=types.Position(line=1, character=9)
        )
