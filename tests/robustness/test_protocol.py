"""Raw frames against the real server process: every request answered exactly once, whatever arrives.

Bytes are written straight to the server's stdin (rawclient.py, not pytest-lsp) so that broken
frames, wrong types, batches and duplicate ids reach the server exactly as a buggy editor would
send them. Tests that keep serving share one process per test; the framing tests each need a fresh
one because the server must exit.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fake_openai import FakeOpenAI, Reply
from frames import run_frames
from rawclient import SERVER, RawClient, frame, server_env

URI = "file:///tmp/llm-lsp-robustness/a.py"
TEXT = "def add(a, b):\n    return \n"
FAULT = "llm-lsp.debugFault"
READ_TEXT = "llm-lsp.debugDocumentText"


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(default=Reply(text="a + b")) as server:
        yield server


@pytest.fixture
def client(fake: FakeOpenAI) -> Iterator[RawClient]:
    raw = RawClient(server_env(fake.base_url, "starcoder2"))
    try:
        raw.initialize()
        yield raw
    finally:
        raw.close()


def open_doc(client: RawClient, uri: str = URI, text: str = TEXT) -> None:
    client.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}},
    )


def insert(client: RawClient, version: int, line: int, character: int, text: str) -> None:
    where = {"line": line, "character": character}
    change = {"range": {"start": where, "end": where}, "text": text}
    params = {"textDocument": {"uri": URI, "version": version}, "contentChanges": [change]}
    client.notify("textDocument/didChange", params)


def inline(line: int, character: int, trigger: object = 1, uri: str = URI) -> dict:
    return {
        "textDocument": {"uri": uri},
        "position": {"line": line, "character": character},
        "context": {"triggerKind": trigger},
    }


def error_code(answer: dict) -> int | None:
    return answer.get("error", {}).get("code")


def assert_still_serving(client: RawClient) -> None:
    answer = client.call("workspace/executeCommand", {"command": READ_TEXT, "arguments": [URI]})
    assert "result" in answer, answer


def test_garbage_that_keeps_the_framing_is_answered_and_the_server_keeps_serving(client: RawClient) -> None:
    open_doc(client)
    # Invalid JSON and non-UTF-8 bodies inside intact frames: -32700 with a null id.
    client.write(frame(b'{"jsonrpc": "2.0", "id": 1000, "method": '))
    client.write(frame(b"\xff\xfe\x00garbage"))
    client.write(frame(b"42"))  # valid JSON, not a message
    # Batches: LSP has none; each request inside gets its own -32600.
    client.write(frame([{"jsonrpc": "2.0", "id": 501, "method": "shutdown"}, {"jsonrpc": "2.0", "id": 502}]))
    client.write(frame([]))
    # Envelope errors.
    client.write(frame({"jsonrpc": "1.0", "id": 503, "method": "shutdown"}))
    client.write(frame({"jsonrpc": "2.0", "id": True, "method": "shutdown"}))
    client.write(frame({"jsonrpc": "2.0", "id": 504, "method": 7}))
    save = {"textDocument": {"uri": URI}}
    client.write(frame({"jsonrpc": "2.0", "id": 505, "method": "textDocument/didSave", "params": save}))
    deadline = time.monotonic() + 10
    while len(client.answers.get(("NoneType", None), [])) < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    # Null ids: the two unparseable bodies, the bare 42, the empty batch, the boolean id.
    nulls = [a.message["error"]["code"] for a in client.answers[("NoneType", None)]]
    assert sorted(nulls) == [-32700, -32700, -32600, -32600, -32600], nulls
    for msg_id in (501, 502, 503, 504, 505):
        assert error_code(client.wait_answer(msg_id)) == -32600, msg_id
    assert "Parse error" in client.answers[("NoneType", None)][0].message["error"]["message"]
    assert_still_serving(client)


def test_wrong_types_in_params_get_a_readable_invalid_params_error(client: RawClient) -> None:
    open_doc(client)
    answer = client.call("textDocument/inlineCompletion", inline("one", 4))
    assert error_code(answer) == -32602
    assert "position.line" in answer["error"]["message"] and "int" in answer["error"]["message"]
    answer = client.call("textDocument/codeAction", {"textDocument": {"uri": URI}})
    assert error_code(answer) == -32602 and "range" in answer["error"]["message"]
    assert error_code(client.call("textDocument/inlineCompletion", inline(1, 4, trigger=7))) == -32602
    assert error_code(client.call("textDocument/inlineCompletion", inline(1, 4, trigger=True))) == -32602
    # A notification with bad params cannot be answered; it is dropped and sync goes on.
    client.notify("textDocument/didChange", {"textDocument": {"uri": URI, "version": "x"}})
    assert_still_serving(client)


def test_old_trigger_kind_numbering_is_accepted(client: RawClient) -> None:
    open_doc(client)
    assert "result" in client.call("textDocument/inlineCompletion", inline(1, 11, trigger=1))  # new Invoked
    assert "result" in client.call("textDocument/inlineCompletion", inline(1, 11, trigger=0))  # old Invoked
    assert "result" in client.call("textDocument/inlineCompletion", inline(1, 11, trigger=1))  # old Automatic
    assert "result" in client.call("textDocument/inlineCompletion", inline(1, 11, trigger=2))


def test_unknown_methods_duplicate_ids_and_handler_failures(client: RawClient) -> None:
    assert error_code(client.call("llm-lsp/noSuchMethod", {})) == -32601
    client.notify("llm-lsp/noSuchNotification", {})
    client.notify("$/noSuchProtocolNotification", {})
    # A command that raises: -32603, and the server goes on.
    answer = client.call("workspace/executeCommand", {"command": FAULT, "arguments": ["raise"]})
    assert error_code(answer) == -32603 and "injected handler failure" in answer["error"]["message"]
    # The same id twice: both answered.
    params = {"command": READ_TEXT, "arguments": [URI]}
    client.request("workspace/executeCommand", params, msg_id="dup")
    client.request("workspace/executeCommand", params, msg_id="dup")
    deadline = time.monotonic() + 10
    while len(client.answers.get(("str", "dup"), [])) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(client.answers[("str", "dup")]) == 2
    # A notification method sent as a request is answered, not silently dropped.
    assert error_code(client.call("initialized", {})) == -32600
    assert_still_serving(client)
    assert "RuntimeError: injected handler failure" in client.stderr_text()


def test_cancelled_and_stale_requests(client: RawClient, fake: FakeOpenAI) -> None:
    open_doc(client)
    fake.script(Reply(hang=True))
    hanging = client.request("textDocument/inlineCompletion", inline(1, 11))
    fake.wait_for_requests(1)
    client.notify("$/cancelRequest", {"id": hanging})
    assert error_code(client.wait_answer(hanging)) == -32800
    fake.script(Reply(text="a + b", latency=1.0))
    stale = client.request("textDocument/inlineCompletion", inline(1, 11))
    fake.wait_for_requests(2)
    insert(client, 2, 0, 0, "#")
    assert error_code(client.wait_answer(stale)) == -32801


def test_a_failing_context_costs_one_suggestion_not_the_document_sync(client: RawClient) -> None:
    open_doc(client)
    client.call("workspace/executeCommand", {"command": FAULT, "arguments": ["context"]})
    answer = client.call("textDocument/inlineCompletion", inline(1, 11))
    assert answer.get("result") == {"items": []}, answer
    insert(client, 2, 1, 11, "a")
    read = client.call("workspace/executeCommand", {"command": READ_TEXT, "arguments": [URI]})
    assert read["result"]["text"] == "def add(a, b):\n    return a\n"
    client.call("workspace/executeCommand", {"command": FAULT, "arguments": ["none"]})
    assert client.call("textDocument/inlineCompletion", inline(1, 12))["result"]["items"]
    assert client.stderr_text().count("inline completion failed in") == 1
    assert not any("showMessage" in n["method"] for n in client.notifications)


def test_a_ten_megabyte_document_opens_and_reads_back(client: RawClient) -> None:
    text = ("x = '" + "é中😀" * 20 + "'\n") * 120_000  # about 10 MB of UTF-8
    assert len(text.encode()) > 10_000_000
    open_doc(client, text=text)
    started = time.monotonic()
    read = client.call("workspace/executeCommand", {"command": READ_TEXT, "arguments": [URI]}, timeout=60)
    assert read["result"]["text"] == text
    assert "result" in client.call("textDocument/inlineCompletion", inline(5, 3), timeout=30)
    assert time.monotonic() - started < 30


def test_requests_after_shutdown_are_refused_and_exit_is_clean(client: RawClient) -> None:
    assert client.call("shutdown")["result"] is None
    answer = client.call("workspace/executeCommand", {"command": READ_TEXT, "arguments": [URI]})
    assert error_code(answer) == -32600 and "shutting down" in answer["error"]["message"]
    client.notify("exit")
    assert client.wait_exit(5) == 0


def test_exit_without_shutdown_exits_with_1(fake: FakeOpenAI) -> None:
    raw = RawClient(server_env(fake.base_url, "starcoder2"))
    try:
        raw.initialize()
        raw.notify("exit")
        assert raw.wait_exit(5) == 1
    finally:
        raw.close()


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"Content-Length: 99999999999\r\n\r\n{}", id="oversize"),
        pytest.param(b"Content-Length: -5\r\n\r\n{}", id="negative"),
        pytest.param(b"Content-Length: ten\r\n\r\n{}", id="non-numeric"),
        pytest.param(b"Content-Type: application/json\r\n\r\n{}", id="missing"),
        pytest.param(b"Content-Length: 2\n\n{}", id="bare-newlines"),
        pytest.param(b"X" * 20_000, id="no-header-end"),
    ],
)
def test_a_broken_frame_is_a_prompt_logged_exit(data: bytes) -> None:
    raw = RawClient(server_env())
    try:
        raw.initialize()
        raw.write(data)  # stdin stays open: the server must not wait for more
        started = time.monotonic()
        assert raw.wait_exit(5) == 2
        assert time.monotonic() - started < 5
        assert "broken LSP input" in raw.stderr_text()
        assert "Traceback" not in raw.stderr_text()
    finally:
        raw.close()


def test_end_of_input_without_exit_ends_the_process() -> None:
    raw = RawClient(server_env())
    try:
        raw.initialize()
        raw.flush()
        assert raw.process.stdin is not None
        raw.process.stdin.close()
        assert raw.wait_exit(5) == 1
    finally:
        raw.close()


def test_random_frames_are_each_answered_exactly_once(client: RawClient) -> None:
    # A bounded run of the frame fuzzer (bench/fuzz.py runs thousands): mutated params, garbage
    # bodies, batches, bad envelopes; every request with a usable id is answered exactly once.
    longest = run_frames(client, 300, seed=3)
    assert longest < 10
    assert "Traceback" not in client.stderr_text()
    assert client.shutdown_and_exit() == 0


def test_tcp_serves_with_the_same_reader_and_a_pipelined_exit_is_clean() -> None:
    import json
    import socket
    import subprocess

    with socket.socket() as probe:  # a free port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [*SERVER, "--tcp", f"127.0.0.1:{port}"]
    process = subprocess.Popen(command, env=server_env(), stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                connection = socket.create_connection(("127.0.0.1", port))
                break
            except OSError:
                assert time.monotonic() < deadline, "the TCP server did not listen"
                time.sleep(0.05)
        with connection:
            for message in (
                {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}}},
                {"jsonrpc": "2.0", "id": 2, "method": "shutdown"},
                {"jsonrpc": "2.0", "method": "exit"},  # not waiting for the shutdown answer
            ):
                connection.sendall(frame(json.dumps(message)))
            assert process.wait(10) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(5)
        assert process.stderr is not None
        process.stderr.close()
