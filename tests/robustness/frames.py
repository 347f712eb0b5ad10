"""Random frames for the frame fuzzer: valid-looking LSP traffic with mutated params, and garbage.

Every frame keeps its framing intact (a correct Content-Length), so the server must keep serving and
answer every request whose envelope carries a usable id exactly once. ``expected_ids`` says which
ids a frame obliges the server to answer. Used by test_protocol.py (a bounded run) and bench/fuzz.py.
"""

from __future__ import annotations

import json
import random
import time
from typing import Any

URI = "file:///tmp/llm-lsp-frames/a.py"
_POS = {"line": 1, "character": 4}
_RANGE = {"start": {"line": 0, "character": 0}, "end": {"line": 1, "character": 4}}

# (method, params template, is_request). Never exit/shutdown/initialize: the server must stay up.
TEMPLATES: list[tuple[str, Any, bool]] = [
    (
        "textDocument/inlineCompletion",
        {"textDocument": {"uri": URI}, "position": _POS, "context": {"triggerKind": 1}},
        True,
    ),
    ("textDocument/completion", {"textDocument": {"uri": URI}, "position": _POS}, True),
    (
        "textDocument/codeAction",
        {"textDocument": {"uri": URI}, "range": _RANGE, "context": {"diagnostics": []}},
        True,
    ),
    ("codeAction/resolve", {"title": "Fix", "data": {"uri": URI, "version": 1, "kind": "fix"}}, True),
    ("workspace/executeCommand", {"command": "llm-lsp.debugDocumentText", "arguments": [URI]}, True),
    (
        "workspace/executeCommand",
        {"command": "llm-lsp.explain", "arguments": [{"uri": URI, "range": _RANGE}]},
        True,
    ),
    ("textDocument/hover", {"textDocument": {"uri": URI}, "position": _POS}, True),
    ("llm-lsp/unknown", {"x": 1}, True),
    (
        "textDocument/didOpen",
        {"textDocument": {"uri": URI, "languageId": "python", "version": 1, "text": "x = 1\n"}},
        False,
    ),
    (
        "textDocument/didChange",
        {"textDocument": {"uri": URI, "version": 2}, "contentChanges": [{"range": _RANGE, "text": "y"}]},
        False,
    ),
    ("textDocument/didClose", {"textDocument": {"uri": URI}}, False),
    ("textDocument/didSave", {"textDocument": {"uri": URI}}, False),
    ("workspace/didChangeConfiguration", {"settings": {"llmLsp": {"logLevel": "info"}}}, False),
    ("$/cancelRequest", {"id": 1}, False),
    ("$/setTrace", {"value": "off"}, False),
    ("$/unknown", {}, False),
]


def random_json(rng: random.Random, depth: int = 0) -> Any:
    """Any JSON value, biased towards the shapes that break structuring (wrong types, nulls, huge)."""
    kind = rng.randrange(10 if depth < 3 else 7)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, -1, 1, 2**31, -(2**63), 10**30, 7])
    if kind == 3:
        return rng.choice([0.5, -1e308, 1e-9])
    if kind in (4, 5, 6):
        return rng.choice(["", "x", "中文😀", "\r\n", "\u0000", "file:///", "a" * rng.randrange(1, 5000)])
    if kind in (7, 8):
        return [random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(["uri", "line", "text", "x", "range"]): random_json(rng, depth + 1) for _ in range(3)}


def mutate(value: Any, rng: random.Random) -> Any:
    """``value`` with one random leaf replaced, a key dropped or added, somewhere inside."""
    if isinstance(value, dict) and value and rng.random() < 0.8:
        key = rng.choice(list(value))
        copy = dict(value)
        roll = rng.random()
        if roll < 0.2:
            del copy[key]
        elif roll < 0.3:
            copy["extra"] = random_json(rng)
        else:
            copy[key] = mutate(value[key], rng)
        return copy
    if isinstance(value, list) and value and rng.random() < 0.8:
        copy = list(value)
        index = rng.randrange(len(copy))
        copy[index] = mutate(copy[index], rng)
        return copy
    return random_json(rng)


def random_frame(rng: random.Random, next_id: int) -> tuple[bytes, list[Any]]:
    """One frame body and the request ids it obliges the server to answer."""
    roll = rng.random()
    if roll < 0.1:  # garbage bodies: answered with a null id, never with one of ours
        return rng.choice(
            [b"", b"{", b"null", b"[1,2]", b"\xff\xfe\xfd", b'{"jsonrpc":"2.0","id":', b"[" * 100_000, b"42"]
        ), []
    if roll < 0.15:  # a batch: each request inside answered
        items = [{"jsonrpc": "2.0", "id": next_id + i, "method": "textDocument/hover"} for i in range(2)]
        return json.dumps(items).encode(), [next_id, next_id + 1]
    method, params, is_request = rng.choice(TEMPLATES)
    if rng.random() < 0.6:
        params = mutate(params, rng)
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params}
    expected: list[Any] = []
    if is_request or rng.random() < 0.05:  # now and then a notification sent as a request
        msg_id: Any = next_id if rng.random() < 0.7 else f"s{next_id}"
        message["id"] = msg_id
        expected.append(msg_id)
    if rng.random() < 0.05:
        message["jsonrpc"] = rng.choice(["1.0", None, 2])
    if rng.random() < 0.03:
        del message["params"]
    return json.dumps(message).encode(), expected


def run_frames(client: Any, count: int, seed: int = 0, bound: float = 10.0) -> float:
    """Send ``count`` random frames to an initialized ``RawClient``; check every obliged answer.

    Returns the longest answer time. Raises AssertionError if a request is not answered exactly
    once within ``bound`` seconds, or if the server stopped serving.
    """
    from rawclient import frame

    rng = random.Random(seed)
    base = 1_000_000 * (seed + 1)
    client.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": URI, "languageId": "python", "version": 1, "text": "def f(a):\n    ret\n"}},
    )
    expected: list[Any] = []
    for n in range(count):
        body, ids = random_frame(rng, base + 10 * n)
        client.write(frame(body), tuple(ids))
        expected += ids
    longest = 0.0
    for msg_id in expected:
        client.wait_answer(msg_id, bound)
        longest = max(longest, client.answer_time(msg_id))
    time.sleep(0.1)  # a second answer to the same id would follow right behind
    for msg_id in expected:
        got = client.answers[_key(msg_id)]
        assert len(got) == 1, f"request {msg_id} answered {len(got)} times: {got}"
    probe = client.call(
        "workspace/executeCommand", {"command": "llm-lsp.debugDocumentText", "arguments": [URI]}
    )
    assert "result" in probe or "error" in probe
    return longest


def _key(msg_id: Any) -> Any:
    return (type(msg_id).__name__, msg_id)
