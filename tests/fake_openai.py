"""A fake OpenAI-compatible HTTP server for tests and benchmarks.

Owns a real HTTP server on 127.0.0.1 (ephemeral port, background thread) that speaks the wire shapes
llm-lsp meets in the wild: OpenAI chat and completions (plain JSON or SSE streaming, ``n`` choices),
Mistral Codestral's ``/v1/fim/completions``, llama.cpp's ``/infill`` and ``/v1/models``. Answers are
scripted with ``Reply`` objects (text, faults, delays) or responders (``region_responder`` rewrites a
next-edit prompt's editable region) and every request is recorded, including
whether the client hung up early, so tests can prove that cancelled streams are closed.

It must not reach the network, need an API key, or depend on anything outside the standard library:
the LSP server under test runs as a subprocess and connects to it like to any real server.

Use it in tests::

    with FakeOpenAI() as fake:
        fake.script(Reply(text="return 1"), Reply(status=500))
        ...  # point the client at fake.base_url ("http://127.0.0.1:PORT/v1")
        assert fake.requests[0].body_json["model"] == "m"

or from a shell (editor tests, benchmarks)::

    python tests/fake_openai.py --port 0 --reply "return 1" --latency 0.05 --port-file /tmp/port
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import re
import select
import signal
import socket
import struct
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

_POLL_INTERVAL = 0.02  # how often a waiting handler checks for a hung-up client or a stopping server


@dataclass
class Reply:
    """One scripted answer.

    ``text`` is split into word-sized chunks unless ``chunks`` gives them explicitly; with ``n > 1``
    every choice gets the same pieces unless ``choices`` gives one text per choice index.
    Faults: ``status`` other than 200 answers an error (``error_body`` or an OpenAI-shaped default,
    plus ``headers`` such as ``Retry-After``); ``latency`` waits before the first byte; ``chunk_delay``
    waits between chunks; ``hang`` never answers (until the client hangs up or the server stops);
    ``cut`` sends the content chunks and then closes the connection without a finish_reason or
    ``[DONE]`` (a clean early EOF); ``reset`` does the same but aborts the connection with a TCP reset,
    which clients see as a read error rather than an end of stream; ``reject_suffix`` answers 400
    (like vLLM and llama.cpp) when ``/v1/completions`` gets a ``suffix``, and answers normally
    otherwise. ``raw`` sends these bytes verbatim as a 200 ``text/event-stream`` body (malformed
    events, odd servers).
    """

    text: str = ""
    chunks: list[str] | None = None
    choices: list[str] | None = None
    finish_reason: str = "stop"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    error_body: Any = None
    latency: float = 0.0
    chunk_delay: float = 0.0
    hang: bool = False
    cut: bool = False
    reset: bool = False
    reject_suffix: bool = False
    raw: bytes | None = None

    def pieces(self, index: int = 0) -> list[str]:
        """The chunks of choice ``index``."""
        if self.choices:
            return split_words(self.choices[index % len(self.choices)])
        if self.chunks is not None:
            return list(self.chunks)
        return split_words(self.text)


@dataclass
class Recorded:
    """One request as the server saw it; ``disconnected`` turns True if the client hung up early.

    ``headers`` keys are lower-cased (``authorization``, ``content-type``); ``body_json`` is None when
    the body is not JSON; ``time`` is ``time.monotonic()`` at arrival.
    """

    method: str
    path: str
    headers: dict[str, str]
    body_json: Any
    time: float
    disconnected: bool = False

    @property
    def prompt_text(self) -> str:
        """Every prompt-carrying field of the body joined: handy for responders and assertions."""
        body = self.body_json if isinstance(self.body_json, dict) else {}
        parts = [str(body.get(key, "")) for key in ("prompt", "suffix", "input_prefix", "input_suffix")]
        parts += [str(m.get("content", "")) for m in body.get("messages", []) if isinstance(m, dict)]
        return "\n".join(p for p in parts if p)


Responder = Callable[[Recorded], Reply]


def split_words(text: str, max_pieces: int = 256) -> list[str]:
    """Split text into streaming pieces (each word with its leading whitespace); never loses a char.

    Long texts are merged into at most ``max_pieces`` pieces: a 40,000-line answer as 120,000 events
    would cost the client seconds of per-event work and measure nothing a test cares about.
    """
    words = re.findall(r"\s*\S+|\s+", text) or ([text] if text else [])
    if len(words) <= max_pieces:
        return words
    size = -(-len(words) // max_pieces)  # ceiling division
    return ["".join(words[i : i + size]) for i in range(0, len(words), size)]


def lookup_responder(table: Mapping[str, str], fallback: str = "") -> Responder:
    """A responder answering ``table[key]`` for the longest key found in the request's prompt text.

    Tests map a marker that sits right before the cursor (or a file name) to the canonical middle.
    """
    keys = sorted(table, key=len, reverse=True)

    def respond(request: Recorded) -> Reply:
        prompt = request.prompt_text
        for key in keys:
            if key in prompt:
                return Reply(text=table[key])
        return Reply(text=fallback)

    return respond


REGION_START = "<|editable_region_start|>"
REGION_END = "<|editable_region_end|>"
CURSOR = "<|user_cursor_is_here|>"


def editable_region(request: Recorded) -> str | None:
    """The editable region of a next-edit prompt (Zeta's markers), cursor marker removed; None if none.

    The last start marker opens it: a chat prompt names the markers only in its excerpt, Zeta's too.
    """
    prompt = request.prompt_text
    start = prompt.rfind(REGION_START)
    if start < 0:
        return None
    start = prompt.find("\n", start) + 1
    end = prompt.find("\n" + REGION_END, start)
    if start <= 0 or end < 0:
        return None
    return prompt[start:end].replace(CURSOR, "")


def region_responder(rewrite: Callable[[str], str], style: str = "fenced", fallback: str = "") -> Responder:
    """Answers a next-edit prompt with ``rewrite(region)``; anything else with ``fallback``.

    ``style``: ``fenced`` (a chat model: markers inside a code block), ``zeta`` (Zeta's answer, which
    stops at the end marker: the start marker and the region only), ``bare`` (the region's text alone).
    """

    def respond(request: Recorded) -> Reply:
        region = editable_region(request)
        if region is None:
            return Reply(text=fallback)
        new = rewrite(region)
        if style == "zeta":
            return Reply(text=f"{REGION_START}\n{new}\n")
        if style == "bare":
            return Reply(text=new + "\n")
        return Reply(text=f"```python\n{REGION_START}\n{new}\n{REGION_END}\n```")

    return respond


class FakeOpenAI:
    """The fake server; a context manager that starts and stops it."""

    def __init__(
        self,
        *,
        default: Reply | Responder | None = None,
        models: tuple[str, ...] = ("fake-model",),
        models_reply: Reply | None = None,
        reject_suffix: bool = False,
        port: int = 0,
        keep_alive: bool = False,
    ) -> None:
        """``default`` answers when the script is empty; ``reject_suffix`` makes it behave like vLLM.

        ``models`` is the list ``GET /v1/models`` answers, in that order (assign ``fake.models`` to change
        it while serving: a model that disappears); ``models_reply`` makes only the listing fail or wait
        (its ``status``, ``error_body``, ``latency``), like a server without a model list (404).

        ``keep_alive``: a stream that ends normally is sent with chunked encoding and the connection
        stays open for the next request, as hosted APIs and local servers do (benchmarks that measure
        the server, not a reconnect per request). Off by default: tests rely on the close after every
        stream (a drop mid-stream is a clean early EOF).
        """
        self.keep_alive = keep_alive
        self.default: Reply | Responder = default if default is not None else Reply(text="")
        self.models = models
        self.models_reply = models_reply
        self.reject_suffix = reject_suffix
        self._script: deque[Reply | Responder] = deque()
        self._requests: list[Recorded] = []
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._httpd = _Server(("127.0.0.1", port), _Handler)
        self._httpd.fake = self
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound TCP port."""
        return int(self._httpd.server_address[1])

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:PORT`` (llama.cpp's ``/infill`` lives here)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``: what an OpenAI client takes as its base URL."""
        return self.root_url + "/v1"

    def start(self) -> FakeOpenAI:
        """Serve from a daemon thread."""
        # A short poll interval keeps stop() (and so every test's teardown) fast.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(_POLL_INTERVAL,), name="fake-openai", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; handlers that hang or wait notice within a poll interval and exit."""
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- scripting and records ---------------------------------------------------------------------

    def script(self, *replies: Reply | Responder) -> None:
        """Queue replies (or responders), consumed one per request in order."""
        with self._cond:
            self._script.extend(replies)

    @property
    def requests(self) -> list[Recorded]:
        """A copy of every request received so far, oldest first."""
        with self._cond:
            return list(self._requests)

    def wait_for_requests(self, n: int, timeout: float = 5.0) -> list[Recorded]:
        """Block until at least ``n`` requests arrived; raises TimeoutError otherwise."""
        return self.wait_until(lambda reqs: len(reqs) >= n, timeout, f"{n} requests")

    def wait_for_disconnect(self, index: int = -1, timeout: float = 5.0) -> Recorded:
        """Block until request ``index`` is recorded as hung up by the client."""

        def hung_up(reqs: list[Recorded]) -> bool:
            try:
                return reqs[index].disconnected
            except IndexError:
                return False

        return self.wait_until(hung_up, timeout, f"a disconnect of request {index}")[index]

    def wait_until(
        self, predicate: Callable[[list[Recorded]], bool], timeout: float, what: str = "condition"
    ) -> list[Recorded]:
        """Block until ``predicate(requests)`` holds; raises TimeoutError naming ``what`` otherwise."""
        with self._cond:
            if not self._cond.wait_for(lambda: predicate(self._requests), timeout):
                raise TimeoutError(f"fake server: no {what} within {timeout} s ({len(self._requests)} seen)")
            return list(self._requests)

    def _record(self, request: Recorded, consume: bool = True) -> Reply:
        """Store the request and pick its reply (script first, then the default)."""
        with self._cond:
            self._requests.append(request)
            self._cond.notify_all()
            if not consume:
                return Reply()
            # Server-wide suffix rejection must not eat a scripted reply meant for the retry.
            if self.reject_suffix and _sends_suffix(request):
                return _suffix_rejection()
            item = self._script.popleft() if self._script else self.default
        return item(request) if callable(item) else item

    def _mark_disconnected(self, request: Recorded) -> None:
        with self._cond:
            request.disconnected = True
            self._cond.notify_all()


def _sends_suffix(request: Recorded) -> bool:
    body = request.body_json
    return request.path == "/v1/completions" and isinstance(body, dict) and body.get("suffix") is not None


def _suffix_rejection() -> Reply:
    return Reply(
        status=400,
        error_body={
            "error": {
                "message": "suffix is not supported by this server",
                "type": "invalid_request_error",
                "param": "suffix",
                "code": None,
            }
        },
    )


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeOpenAI


class _ClientGone(Exception):
    """The client closed its side of the connection (or the server is stopping)."""


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature is the stdlib's
        """Keep test output quiet."""

    # -- routing -----------------------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        """Serve ``/v1/models``.

        Listing never consumes a scripted reply (scripts are for completions); a default ``Reply``
        with an error status breaks it too, so "the server rejects the key" is one line to set up.
        """
        fake = self.server.fake
        request = Recorded(self.command, self.path, self._lower_headers(), None, time.monotonic())
        fake._record(request, consume=False)
        broken = fake.default if isinstance(fake.default, Reply) and fake.default.status != 200 else None
        if fake.models_reply is not None:
            try:
                self._wait(fake.models_reply.latency)
            except _ClientGone:
                fake._mark_disconnected(request)
                return
            broken = fake.models_reply if fake.models_reply.status != 200 else broken
        if broken is not None:
            body = broken.error_body if broken.error_body is not None else _error_json(broken.status)
            self._send_json(broken.status, body, broken.headers)
        elif self.path.rstrip("/") in ("/v1/models", "/models"):
            data = [
                {"id": m, "object": "model", "created": 0, "owned_by": "fake"}
                for m in self.server.fake.models
            ]
            self._send_json(200, {"object": "list", "data": data})
        else:
            self._send_json(404, _error_json(404, f"no route GET {self.path}"))

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        """Serve the completion endpoints."""
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        request, reply = self._record_request(body)
        kind = _ROUTES.get(self.path.split("?")[0])
        if kind is None:
            self._send_json(404, _error_json(404, f"no route POST {self.path}"))
            return
        if reply.reject_suffix and _sends_suffix(request):
            reply = _suffix_rejection()
        self.close_connection = True
        try:
            self._answer(kind, request, reply)
        except (_ClientGone, BrokenPipeError, ConnectionResetError):
            self.server.fake._mark_disconnected(request)
            self.close_connection = True

    def _record_request(self, body: Any) -> tuple[Recorded, Reply]:
        request = Recorded(self.command, self.path, self._lower_headers(), body, time.monotonic())
        return request, self.server.fake._record(request)

    def _lower_headers(self) -> dict[str, str]:
        return {k.lower(): v for k, v in self.headers.items()}

    # -- answering ---------------------------------------------------------------------------------

    def _answer(self, kind: str, request: Recorded, reply: Reply) -> None:
        if reply.hang:
            self._wait(float("inf"))
        self._wait(reply.latency)
        if reply.raw is not None:
            self._send_raw(reply.raw, reply.headers)
            return
        if reply.status != 200:
            body = reply.error_body if reply.error_body is not None else _error_json(reply.status)
            self._send_json(reply.status, body, reply.headers)
            return
        params = request.body_json if isinstance(request.body_json, dict) else {}
        n = max(1, int(params.get("n") or 1)) if kind != "infill" else 1
        model = str(params.get("model") or self.server.fake.models[0])
        if params.get("stream"):
            self._stream(kind, reply, n, model)
        else:
            self._send_json(200, _whole_answer(kind, reply, n, model), reply.headers, cut=reply.cut)

    def _stream(self, kind: str, reply: Reply, n: int, model: str) -> None:
        if self.server.fake.keep_alive and not (reply.cut or reply.reset):
            self._stream_chunked(kind, reply, n, model)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        # No Content-Length and no chunked encoding: the body ends when the connection closes, which
        # is how a proxy-less server that drops mid-stream looks to the client (a clean, early EOF).
        self.send_header("Connection", "close")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        for i, event in enumerate(_events(kind, reply, n, model)):
            if i and reply.chunk_delay:
                self._wait(reply.chunk_delay)
            self.wfile.write(b"data: " + json.dumps(event).encode() + b"\n\n")
            self.wfile.flush()
        if reply.cut:
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if reply.reset:
            # Let the client read what was sent first: a reset discards data still queued unread.
            self._wait(0.05)
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            return
        if kind != "infill":  # llama.cpp's native endpoints end the stream without [DONE]
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()

    def _stream_chunked(self, kind: str, reply: Reply, n: int, model: str) -> None:
        """The same events, chunk-encoded on a connection that stays open (``keep_alive``).

        No Nagle delay, as streaming servers set: on a connection that stays open, the last small
        write would otherwise wait for the client's delayed ACK (40 ms) instead of the close.
        """
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        events = [b"data: " + json.dumps(e).encode() + b"\n\n" for e in _events(kind, reply, n, model)]
        if kind != "infill":
            events.append(b"data: [DONE]\n\n")
        for i, event in enumerate(events):
            if i and reply.chunk_delay:
                self._wait(reply.chunk_delay)
            self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        self.close_connection = False

    def _send_raw(self, data: bytes, headers: Mapping[str, str]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _send_json(self, status: int, body: Any, headers: Mapping[str, str] = {}, cut: bool = False) -> None:
        data = json.dumps(body).encode() if not isinstance(body, (str, bytes)) else _as_bytes(body)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data[: len(data) // 2] if cut else data)
        self.wfile.flush()

    def _wait(self, seconds: float) -> None:
        """Sleep ``seconds`` while watching for the client hanging up or the server stopping."""
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return
            if self.server.fake._stopping.is_set():
                raise _ClientGone
            readable, _, _ = select.select([self.connection], [], [], min(left, _POLL_INTERVAL))
            if readable and self._peer_closed():
                raise _ClientGone

    def _peer_closed(self) -> bool:
        try:
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True


_ROUTES = {
    "/v1/chat/completions": "chat",
    "/v1/completions": "completions",
    "/v1/fim/completions": "fim",
    "/infill": "infill",
}


def _as_bytes(body: str | bytes) -> bytes:
    return body.encode() if isinstance(body, str) else body


def _error_json(status: int, message: str | None = None) -> dict[str, Any]:
    kind = {400: "invalid_request_error", 401: "authentication_error", 429: "rate_limit_exceeded"}
    return {
        "error": {
            "message": message or f"fake server error {status}",
            "type": kind.get(status, "server_error"),
            "param": None,
            "code": None,
        }
    }


def _events(kind: str, reply: Reply, n: int, model: str) -> Iterator[dict[str, Any]]:
    """The SSE payloads of a streamed answer, choices interleaved, finish chunks last (unless cut)."""
    pieces = [reply.pieces(i) for i in range(n)]
    for k in range(max(len(p) for p in pieces)):
        for i in range(n):
            if k < len(pieces[i]):
                yield _chunk(kind, model, i, pieces[i][k], None, first=k == 0)
    if reply.cut or reply.reset:
        return
    for i in range(n):
        yield _chunk(kind, model, i, "", reply.finish_reason, first=not pieces[i])


def _chunk(kind: str, model: str, index: int, text: str, finish: str | None, first: bool) -> dict[str, Any]:
    if kind == "infill":
        event: dict[str, Any] = {"index": index, "content": text, "stop": finish is not None}
        if finish is not None:
            event["stop_type"] = "limit" if finish == "length" else "eos"
        return event
    head = {"id": f"fake-{kind}", "created": int(time.time()), "model": model}
    if kind == "completions":
        choice = {"index": index, "text": text, "finish_reason": finish, "logprobs": None}
        return {**head, "object": "text_completion", "choices": [choice]}
    delta: dict[str, Any] = {"content": text} if finish is None else {}
    if first:
        delta["role"] = "assistant"
    choice = {"index": index, "delta": delta, "finish_reason": finish, "logprobs": None}
    return {**head, "object": "chat.completion.chunk", "choices": [choice]}


def _whole_answer(kind: str, reply: Reply, n: int, model: str) -> dict[str, Any]:
    texts = ["".join(reply.pieces(i)) for i in range(n)]
    if kind == "infill":
        return {
            "content": texts[0],
            "stop": True,
            "stop_type": "limit" if reply.finish_reason == "length" else "eos",
        }
    usage = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    head = {"id": f"fake-{kind}", "created": int(time.time()), "model": model, "usage": usage}
    if kind == "completions":
        choices = [
            {"index": i, "text": t, "finish_reason": reply.finish_reason, "logprobs": None}
            for i, t in enumerate(texts)
        ]
        return {**head, "object": "text_completion", "choices": choices}
    choices = [
        {"index": i, "message": {"role": "assistant", "content": t}, "finish_reason": reply.finish_reason}
        for i, t in enumerate(texts)
    ]
    return {**head, "object": "chat.completion", "choices": choices}


# -- command line ----------------------------------------------------------------------------------


def _write_port_file(path: str, port: int) -> None:
    """Write atomically so a reader polling for the file never sees it half-written."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(f"{port}\n")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    """Serve a constant reply until killed; print the base URL on stdout."""
    parser = argparse.ArgumentParser(description="Fake OpenAI-compatible server for llm-lsp tests.")
    parser.add_argument("--port", type=int, default=0, help="TCP port (0: any free port)")
    parser.add_argument("--reply", default="", help="the text every completion answers")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before the first byte")
    parser.add_argument("--chunk-delay", type=float, default=0.0, help="seconds between streamed chunks")
    parser.add_argument("--model", action="append", help="model names listed by /v1/models")
    parser.add_argument("--reject-suffix", action="store_true", help="answer 400 to suffix (like vLLM)")
    parser.add_argument("--port-file", help="write the bound port to this file once listening")
    args = parser.parse_args(argv)
    default = Reply(text=args.reply, latency=args.latency, chunk_delay=args.chunk_delay)
    models = tuple(args.model or ["fake-model"])
    fake = FakeOpenAI(default=default, models=models, reject_suffix=args.reject_suffix, port=args.port)
    return serve_until_terminated(fake, args.port_file)


def serve_until_terminated(fake: FakeOpenAI, port_file: str | None) -> int:
    """Run ``fake`` until SIGTERM or Ctrl-C: base URL on stdout, bound port in ``port_file``."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with fake:
        if port_file:
            _write_port_file(port_file, fake.port)
        print(fake.base_url, flush=True)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
