"""Keep-alive HTTP/1.1 connections to plain ``http://`` model servers (Ollama, llama.cpp...), without httpx2.

Owns: the pool of idle connections per host, writing one request and parsing its answer with
httptools (llhttp, the parser uvicorn uses), streaming the answer's body, and describing every
failure as one ``HttpFailure`` (the phase it happened in, and whether it timed out). Must not: speak
TLS, proxies or HTTP/2, send a request twice (except once when a pooled connection turns out closed
or reset before any answer byte: the server's idle close raced us), or build anything per streamed
chunk beyond the bytes themselves.

Two users share one pool: ``http_transport.KeepAliveTransport`` puts it under the openai SDK (and
turns ``HttpFailure`` into httpx2's error types, which the SDK maps), and ``sse_request`` sends the
requests made before the SDK has loaded. This module imports no HTTP library besides httptools, so
those first requests do not wait for httpx2's import (about 28 ms).

Why by hand: the SDK's default transport (httpcore2 + h11, pure-Python state machines) costs about
1 ms of event-loop CPU per streamed completion on loopback, several times the cost of the bytes
themselves, on every keystroke's request; aiohttp through the SDK's adapter measured no better
(bench/http_hop.py). What is left to write once a C parser does the HTTP grammar is a connection
pool and a request line.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

import httptools

_READ_SIZE = 64 * 1024
_MAX_HEAD_BYTES = 64 * 1024  # status line + headers; beyond it the peer is not a sane HTTP server
_HAS_ASYNCIO_TIMEOUT = hasattr(asyncio, "timeout")

#: ``HttpFailure.phase`` values.
CONNECT, WRITE, READ, PROTOCOL = "connect", "write", "read", "protocol"


class HttpFailure(Exception):
    """A request that failed in ``phase`` (connect, write, read, protocol); ``timed_out`` if by a timeout."""

    def __init__(self, phase: str, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.phase = phase
        self.timed_out = timed_out


class _Response:
    """httptools callbacks for one response: its head, then body pieces as they are parsed."""

    def __init__(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
        self.head_done = False
        self.complete = False
        self.body: collections.deque[bytes] = collections.deque()
        self.head_bytes = 0
        self.reason = b""
        self.keep_alive = False
        self.parser: Any = None  # set once the parser exists: it is built around these callbacks

    def on_status(self, reason: bytes) -> None:  # noqa: D102
        self.reason = reason

    def on_header(self, name: bytes, value: bytes) -> None:  # noqa: D102
        self.head_bytes += len(name) + len(value)
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:  # noqa: D102
        self.head_done = True
        # Read here: llhttp resets its flags once the message completes.
        self.keep_alive = self.parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:  # noqa: D102
        self.body.append(body)

    def on_message_complete(self) -> None:  # noqa: D102
        self.complete = True


class _Connection:
    """One TCP connection to a host, used by one request at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.idle_since = 0.0

    def usable(self, now: float, expiry: float) -> bool:
        return not self.reader.at_eof() and not self.writer.is_closing() and now - self.idle_since < expiry

    def close(self) -> None:
        # Shut down now, not when the loop next runs the transport's close: the model server sees the
        # hang-up at once and stops generating an answer nobody reads.
        sock = self.writer.get_extra_info("socket")
        if sock is not None and not self.writer.is_closing():
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self.writer.close()


class Answer:
    """An answer whose head has been read: ``status``, ``reason``, ``headers``; then ``chunks()`` once.

    The connection goes back to the pool once the body has been read to its end; ``aclose`` before
    that hangs it up (the rest is unread, and closing also tells the server to stop generating).
    """

    def __init__(
        self,
        pool: ConnectionPool,
        key: tuple[str, int],
        conn: _Connection,
        response: _Response,
        read_timeout: float | None,
    ) -> None:
        self.status: int = response.parser.get_status_code()
        self.reason = response.reason
        self.headers = response.headers
        self._pool = pool
        self._key = key
        self._conn: _Connection | None = conn
        self._response = response
        self._read_timeout = read_timeout

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as the server sends it; ``HttpFailure`` if the connection breaks before its end."""
        response = self._response
        while True:
            while response.body:
                yield response.body.popleft()
            if response.complete or self._conn is None:
                break
            data = await _read(self._conn, self._read_timeout)
            if not data:
                if response.keep_alive or _framed(response.headers):
                    self._drop()
                    raise HttpFailure(PROTOCOL, "the server closed the connection mid-answer")
                response.complete = True  # a body delimited by the connection's end
                break
            _feed(response.parser, data)
        self._release()

    async def aclose(self) -> None:
        """Give the connection back (the body was read) or hang it up (it was not)."""
        if not self._response.complete:
            self._drop()
        self._release()

    def _release(self) -> None:
        if self._conn is not None:
            if self._response.keep_alive:
                self._pool.check_in(self._key, self._conn)
            else:
                self._conn.close()
            self._conn = None

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class ConnectionPool:
    """Idle keep-alive connections per ``(host, port)``: ``max_idle`` each, ``keepalive_expiry`` s at most."""

    def __init__(self, *, max_idle: int = 8, keepalive_expiry: float = 120.0) -> None:
        self._max_idle = max_idle
        self._expiry = keepalive_expiry
        self._idle: dict[tuple[str, int], list[_Connection]] = {}

    async def send(
        self,
        host: str,
        port: int,
        request: tuple[bytes, bytes, Iterable[tuple[bytes, bytes]], bytes],
        timeouts: dict[str, Any],
    ) -> Answer:
        """Write ``request`` to ``host:port`` and read the answer's head.

        ``request``: the method, the target (path and query), the header fields (``Host`` and
        ``Content-Length`` included) and the body. ``timeouts``: ``connect``, ``read`` and ``write`` in
        seconds (absent or None: no limit).
        """
        method, target, fields, body = request
        head = [b"%s %s HTTP/1.1\r\n" % (method, target)]
        head += [b"%s: %s\r\n" % (name, value) for name, value in fields]
        message = b"".join(head) + b"\r\n" + body
        key = (host, port)
        conn = self._check_out(key)
        if conn is not None:
            try:
                return await self._exchange(key, conn, message, timeouts)
            except _NothingReceived:
                pass  # the server dropped the idle connection first: the request never reached it
        conn = await self._connect(key, timeouts.get("connect"))
        try:
            return await self._exchange(key, conn, message, timeouts)
        except _NothingReceived as failed:
            raise failed.failure from None

    async def _exchange(
        self, key: tuple[str, int], conn: _Connection, message: bytes, timeouts: dict[str, Any]
    ) -> Answer:
        """Write the request and read the answer's head; ``_NothingReceived`` if no byte came back."""
        response = _Response()
        parser = response.parser = httptools.HttpResponseParser(response)
        received = False
        try:
            conn.writer.write(message)
            await _within(conn.writer.drain(), timeouts.get("write"), WRITE)
            while not response.head_done:
                data = await _read(conn, timeouts.get("read"))
                if not data:
                    if not received:
                        raise _NothingReceived(
                            HttpFailure(PROTOCOL, "the server closed the connection without answering")
                        )
                    raise HttpFailure(PROTOCOL, "the server closed the connection inside the answer's head")
                received = True
                _feed(parser, data)
                if response.head_bytes > _MAX_HEAD_BYTES:
                    raise HttpFailure(PROTOCOL, "the answer's headers are too large")
        except HttpFailure as failure:
            conn.close()
            if received or failure.timed_out or failure.phase not in (READ, WRITE):
                raise
            raise _NothingReceived(failure) from None  # a reset before any answer: same as a close
        except BaseException:
            conn.close()  # a half-done exchange (also on cancel) leaves the connection unusable
            raise
        return Answer(self, key, conn, response, timeouts.get("read"))

    def _check_out(self, key: tuple[str, int]) -> _Connection | None:
        idle = self._idle.get(key)
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if conn.usable(now, self._expiry):
                return conn
            conn.close()
        return None

    def check_in(self, key: tuple[str, int], conn: _Connection) -> None:
        """Keep a connection whose answer was read to the end for the next request (bounded)."""
        idle = self._idle.setdefault(key, [])
        if len(idle) >= self._max_idle:
            conn.close()
            return
        conn.idle_since = time.monotonic()
        idle.append(conn)

    async def _connect(self, key: tuple[str, int], timeout: float | None) -> _Connection:
        opening = asyncio.open_connection(key[0], key[1], limit=_READ_SIZE)
        reader, writer = await _within(opening, timeout, CONNECT)
        return _Connection(reader, writer)

    def close(self) -> None:
        """Hang up every idle connection."""
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()


class _NothingReceived(Exception):
    """The connection ended (closed or reset) before the first byte of an answer.

    On a reused connection this is the server's idle close racing our request, which it never read:
    the one case a request is sent again. On a fresh connection, ``failure`` is raised.
    """

    def __init__(self, failure: HttpFailure) -> None:
        super().__init__(str(failure))
        self.failure = failure


def _framed(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether the body has its own length (chunked or Content-Length), so an early end is a cut."""
    return any(name.lower() in (b"content-length", b"transfer-encoding") for name, _ in headers)


def _feed(parser: Any, data: bytes) -> None:
    try:
        parser.feed_data(data)
    except httptools.HttpParserError as exc:
        raise HttpFailure(PROTOCOL, f"malformed HTTP answer: {exc}") from None


async def _read(conn: _Connection, timeout: float | None) -> bytes:
    return await _within(conn.reader.read(_READ_SIZE), timeout, READ)


async def _within(awaitable: Any, timeout: float | None, phase: str) -> Any:
    """``awaitable`` within ``timeout`` seconds; its failures as ``HttpFailure`` of ``phase``."""
    try:
        if timeout is None:
            return await awaitable
        if _HAS_ASYNCIO_TIMEOUT:  # 3.11+: no task per read, unlike wait_for
            async with asyncio.timeout(timeout):  # type: ignore[attr-defined]
                return await awaitable
        return await asyncio.wait_for(awaitable, timeout)
    except asyncio.TimeoutError:
        raise HttpFailure(phase, f"no answer within {timeout:g} s", timed_out=True) from None
    except OSError as exc:
        raise HttpFailure(phase, str(exc) or type(exc).__name__) from None
