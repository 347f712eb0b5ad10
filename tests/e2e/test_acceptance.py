"""Shown, partly accepted, accepted and dismissed suggestions, as an editor reports them, end to end.

The real server over stdio and the fake model: the client sends Copilot's events
(``textDocument/didShowCompletion``, ``textDocument/didPartiallyAcceptCompletion``) and runs each
item's command, as copilot.lua-style clients do; then ``llm-lsp stats --json`` reads the figures the
server left in ``$XDG_STATE_HOME`` after it exited.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

from fake_openai import FakeOpenAI, Reply
from harness import inline_params, insert, open_document, running_server, server_env
from lsprotocol import types
from lsprotocol.converters import get_converter

URI = "file:///tmp/llm_lsp_acceptance/example.py"
SOURCE = "def add(a, b):\n    \n\nprint(add(1, 2))\n"
BLOCK = "total = a + b\n    return total"
FIRST_LINE = "total = a + b\n"
CONVERTER = get_converter()


def as_sent(item: types.InlineCompletionItem) -> dict:
    """The item as a client would send it back: the JSON it received."""
    return CONVERTER.unstructure(item)


def counts(figures: dict) -> tuple[int, int, int, int]:
    total = figures["total"]
    return total["shown"], total["accepted"], total["partiallyAccepted"], total["dismissed"]


def stats_json(env: dict[str, str]) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "lsp_server", "stats", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


async def show_partly_accept_and_accept(client, fake: FakeOpenAI) -> None:
    """One suggestion shown, its first line accepted, the rest accepted; a second one shown, dismissed."""
    open_document(client, URI, SOURCE)
    result = await client.text_document_inline_completion_async(inline_params(URI, 1, 4, explicit=False))
    [item] = result.items
    assert item.insert_text == BLOCK
    argument = item.command.arguments[0]
    assert argument["uri"] == URI and argument["length"] == len(BLOCK) and argument["id"]
    client.protocol.notify("textDocument/didShowCompletion", {"item": as_sent(item)})
    client.protocol.notify(
        "textDocument/didPartiallyAcceptCompletion",
        {"item": as_sent(item), "acceptedLength": len(FIRST_LINE)},
    )
    # The editor inserted the first line; the rest comes from the same suggestion, with no model call.
    calls = len(fake.requests)
    insert(client, URI, 2, 1, 4, FIRST_LINE)
    rest = await client.text_document_inline_completion_async(inline_params(URI, 2, 0, explicit=False))
    assert [i.insert_text for i in rest.items] == ["    return total"]
    assert len(fake.requests) == calls
    client.protocol.notify("textDocument/didShowCompletion", {"item": as_sent(rest.items[0])})
    command = rest.items[0].command
    await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=command.command, arguments=command.arguments)
    )
    insert(client, URI, 3, 2, 0, "    return total")
    # A second suggestion, shown, then a request elsewhere: dismissed.
    fake.script(Reply(text="a - b"))
    insert(client, URI, 4, 3, 0, "\nprint(")
    other = await client.text_document_inline_completion_async(inline_params(URI, 4, 6, explicit=False))
    assert other.items
    client.protocol.notify("textDocument/didShowCompletion", {"item": as_sent(other.items[0])})
    insert(client, URI, 5, 4, 6, "zzz")
    fake.script(Reply(text=""))
    await client.text_document_inline_completion_async(inline_params(URI, 4, 9, explicit=False))


async def test_events_become_figures_that_survive_the_server():
    with FakeOpenAI(default=Reply(text=BLOCK)) as fake:
        env = server_env(fake.base_url, "starcoder2")
        async with running_server(env) as client:
            await show_partly_accept_and_accept(client, fake)
            live = await client.workspace_execute_command_async(
                types.ExecuteCommandParams(command="llm-lsp.showStats", arguments=[])
            )
            assert counts(live) == (2, 1, 1, 1)
            table = await client.workspace_execute_command_async(
                types.ExecuteCommandParams(command="llm-lsp.showStats", arguments=[{"format": "text"}])
            )
            assert "python" in table and "starcoder2" in table and "sent nowhere" in table
            # The status carries the one-line summary once the figures were written.
            assert any("accepted 1 of 2" in getattr(s, "summary", "") for s in client.statuses)
            assert not client.messages  # nothing popped up
    figures = stats_json(env)
    assert counts(figures) == (2, 1, 1, 1)
    assert figures["byLanguage"]["python"]["shown"] == 2
    assert figures["byModel"]["starcoder2"]["partiallyAccepted"] == 1
    assert figures["total"]["medianTimeToShowMs"] is not None
    # Counts only: no code, no path, no document name in the file.
    text = (__import__("pathlib").Path(env["XDG_STATE_HOME"]) / "llm-lsp" / "stats.json").read_text()
    assert "total" not in text and "example.py" not in text and "/tmp" not in text


async def test_unknown_and_stale_events_are_ignored_quietly():
    with FakeOpenAI(default=Reply(text="a + b")) as fake:
        async with running_server(server_env(fake.base_url, "starcoder2")) as client:
            open_document(client, URI, SOURCE)
            client.protocol.notify(
                "textDocument/didShowCompletion", {"item": {"insertText": "nothing like it"}}
            )
            client.protocol.notify("textDocument/didShowCompletion", {"bogus": 1})
            client.protocol.notify(
                "textDocument/didPartiallyAcceptCompletion", {"item": None, "acceptedLength": "x"}
            )
            for arguments in ([{"id": "no-such-id"}], [], ["no-such-id"], [{"uri": URI, "length": 99}], [42]):
                answer = await client.workspace_execute_command_async(
                    types.ExecuteCommandParams(command="llm-lsp.acceptCompletion", arguments=arguments)
                )
                assert answer is None
            figures = await client.workspace_execute_command_async(
                types.ExecuteCommandParams(command="llm-lsp.showStats", arguments=[])
            )
            assert counts(figures) == (0, 0, 0, 0)
            assert not client.messages


async def test_two_servers_at_once_keep_each_others_counts_even_without_shutdown():
    with FakeOpenAI(default=Reply(text=BLOCK)) as fake:
        env = server_env(fake.base_url, "starcoder2")

        async def session(clean_exit: bool) -> None:
            async with running_server(env) as client:
                open_document(client, URI, SOURCE)
                result = await client.text_document_inline_completion_async(inline_params(URI, 1, 4))
                item = result.items[0]
                client.protocol.notify("textDocument/didShowCompletion", {"item": as_sent(item)})
                await client.workspace_execute_command_async(
                    types.ExecuteCommandParams(command=item.command.command, arguments=item.command.arguments)
                )
                if not clean_exit:  # `exit` without `shutdown`: the counts are written on the way out
                    client.protocol.notify(types.EXIT)
                    assert await asyncio.wait_for(client._server.wait(), 10) == 1  # the spec's code

        await asyncio.gather(session(True), session(False))
    assert counts(stats_json(env)) == (2, 2, 0, 0)


async def test_cycling_asks_for_alternatives_once_then_serves_them_from_the_cache():
    reply = Reply(choices=["a + b", "b + a", "sum((a, b))"])
    with FakeOpenAI(default=reply) as fake:
        async with running_server(server_env(fake.base_url, "starcoder2")) as client:
            open_document(client, URI, "def add(a, b):\n    return \n")
            automatic = await client.text_document_inline_completion_async(
                inline_params(URI, 1, 11, explicit=False)
            )
            assert len(automatic.items) == 1
            explicit = await client.text_document_inline_completion_async(inline_params(URI, 1, 11))
            assert [i.insert_text for i in explicit.items] == ["a + b", "b + a", "sum((a, b))"]
            assert fake.requests[-1].body_json["n"] == 3
            calls = len(fake.requests)
            again = await client.text_document_inline_completion_async(inline_params(URI, 1, 11))
            assert len(again.items) == 3 and len(fake.requests) == calls
