"""The Session's modules load in a worker thread after ``initialized``; what the client sends meanwhile.

Document notifications that arrive before the Session exists wait for it and are applied in their
order; a request that needs the Session sooner builds it, after those notifications.
"""

from __future__ import annotations

from harness import insert, open_document, running_server, server_env
from lsprotocol import types

URI = "file:///tmp/loading/orders.py"
OTHER = "file:///tmp/loading/scratch.py"


async def document_text(client, uri: str):
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="llm-lsp.debugDocumentText", arguments=[uri])
    )


async def test_documents_sent_while_the_session_loads_are_applied_in_order(tmp_path) -> None:
    log_file = tmp_path / "server.log"
    args = ["--log-file", str(log_file), "--log-level", "debug"]
    async with running_server(server_env(LLM_LSP_TEST_HOOKS="1"), server_args=args) as client:
        # Straight after `initialized`, while the Session's modules are still loading.
        open_document(client, URI, "def total(rows):\n")
        open_document(client, OTHER, "x = 1\n")
        expected = "def total(rows):\n"
        for version, piece in enumerate(["    return ", "sum(", "row.price ", "for row in rows)"], start=2):
            insert(client, URI, version, 1, len(expected.split("\n")[1]), piece)
            expected = expected + piece
        client.text_document_did_close(
            types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=OTHER))
        )
        # A request that needs the Session at once: it sees every notification sent before it.
        assert await document_text(client, URI) == {"version": 5, "text": expected}
        assert await document_text(client, OTHER) is None
    queued = [line for line in log_file.read_text().splitlines() if "sent while the session loaded" in line]
    assert queued, "the notifications did not wait for the session: nothing here tested the queue"


async def test_a_change_after_the_session_exists_applies_at_once() -> None:
    async with running_server(server_env(LLM_LSP_TEST_HOOKS="1")) as client:
        open_document(client, URI, "a = 1\n")
        assert (await document_text(client, URI))["text"] == "a = 1\n"
        insert(client, URI, 2, 1, 0, "b = 2\n")
        assert await document_text(client, URI) == {"version": 2, "text": "a = 1\nb = 2\n"}
