"""The HTTP/1.1 transport under the openai SDK for plain-``http://`` model servers (Ollama, llama.cpp...).

Owns: keep-alive connections to ``http://`` hosts, writing one request and parsing its response with
httptools (llhttp, the parser uvicorn uses), httpx2's timeout and error types. Must not: speak TLS,
proxies or HTTP/2 (``https://`` and anything else goes to the ``fallback`` transport, httpx2's own;
the provider does not use this transport when an environment proxy applies), send a request twice (except once
when a pooled connection turns out closed or reset before any answer byte: the server's idle close
raced us), or build anything per streamed chunk beyond the bytes themselves.

Why by hand: the openai SDK stays the interface (request building, auth, SSE decoding, errors), but its
default transport (httpcore2 + h11, pure-Python state machines) costs about 1 ms of event-loop CPU per
streamed completion on loopback, several times the cost of the bytes themselves, on every keystroke's
request; aiohttp through the SDK's adapter measured no better (bench/http_hop.py). What is left to
write once a C parser does the HTTP grammar is a connection pool and a request line.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httptools
import httpx2

_READ_SIZE = 64 * 1024
_MAX_HEAD_BYTES = 64 * 1024  # status line + headers; beyond it the peer is not a sane HTTP server
_HAS_ASYNCIO_TIMEOUT = hasattr(asyncio, "timeout")


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


class _Body(httpx2.AsyncByteStream):
    """The response body as the server sends it; the connection goes back to the pool once it is read."""

    def __init__(
        self,
        transport: KeepAliveTransport,
        key: tuple[str, int],
        conn: _Connection,
        response: _Response,
        read_timeout: float | None,
    ) -> None:
        self._transport = transport
        self._key = key
        self._conn: _Connection | None = conn
        self._response = response
        self._read_timeout = read_timeout

    async def __aiter__(self) -> AsyncIterator[bytes]:
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
                    raise httpx2.RemoteProtocolError("the server closed the connection mid-answer")
                response.complete = True  # a body delimited by the connection's end
                break
            _feed(response.parser, data)
        self._release()

    async def aclose(self) -> None:
        # Cancelled or abandoned before the end: the rest of the answer is unread, so the connection
        # cannot serve another request (closing it also tells the server to stop generating).
        if not self._response.complete:
            self._drop()
        self._release()

    def _release(self) -> None:
        if self._conn is not None:
            if self._response.keep_alive:
                self._transport.check_in(self._key, self._conn)
            else:
                self._conn.close()
            self._conn = None

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class KeepAliveTransport(httpx2.AsyncBaseTransport):
    """HTTP/1.1 with keep-alive for ``http://`` URLs; every other scheme goes to ``fallback``."""

    def __init__(
        self, fallback: httpx2.AsyncBaseTransport, *, max_idle: int = 8, keepalive_expiry: float = 120.0
    ) -> None:
        self._fallback = fallback
        self._max_idle = max_idle
        self._expiry = keepalive_expiry
        self._idle: dict[tuple[str, int], list[_Connection]] = {}

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:  # noqa: D102
        url = request.url
        if url.scheme != "http":
            return await self._fallback.handle_async_request(request)
        key = (url.host, url.port or 80)
        timeouts = request.extensions.get("timeout", {})
        body = await request.aread()
        head = [b"%s %s HTTP/1.1\r\n" % (request.method.encode(), url.raw_path)]
        head += [b"%s: %s\r\n" % (name, value) for name, value in request.headers.raw]
        message = b"".join(head) + b"\r\n" + body
        conn = self._check_out(key)
        if conn is not None:
            try:
                return await self._exchange(key, conn, message, timeouts, request)
            except _NothingReceived:
                pass  # the server dropped the idle connection first: the request never reached it
        conn = await self._connect(key, timeouts.get("connect"))
        try:
            return await self._exchange(key, conn, message, timeouts, request)
        except _NothingReceived as failed:
            raise failed.error from None

    async def _exchange(
        self, key: tuple[str, int], conn: _Connection, message: bytes, timeouts: dict, request: httpx2.Request
    ) -> httpx2.Response:
        """Write the request and read the answer's head; ``_NothingReceived`` if no byte came back."""
        response = _Response()
        parser = response.parser = httptools.HttpResponseParser(response)
        received = False
        try:
            conn.writer.write(message)
            await _within(conn.writer.drain(), timeouts.get("write"), httpx2.WriteTimeout, httpx2.WriteError)
            while not response.head_done:
                data = await _read(conn, timeouts.get("read"))
                if not data:
                    if not received:
                        raise _NothingReceived(
                            httpx2.RemoteProtocolError("the server closed the connection without answering")
                        )
                    raise httpx2.RemoteProtocolError(
                        "the server closed the connection inside the answer's headers"
                    )
                received = True
                _feed(parser, data)
                if response.head_bytes > _MAX_HEAD_BYTES:
                    raise httpx2.RemoteProtocolError("the answer's headers are too large")
        except (httpx2.WriteError, httpx2.ReadError) as exc:
            conn.close()
            if received:
                raise
            raise _NothingReceived(exc) from None  # a reset before any answer: same as a close
        except BaseException:
            conn.close()  # a half-done exchange (also on cancel) leaves the connection unusable
            raise
        return httpx2.Response(
            parser.get_status_code(),
            headers=response.headers,
            stream=_Body(self, key, conn, response, timeouts.get("read")),
            request=request,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": response.reason},
        )

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
        reader, writer = await _within(opening, timeout, httpx2.ConnectTimeout, httpx2.ConnectError)
        return _Connection(reader, writer)

    async def aclose(self) -> None:  # noqa: D102
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()
        await self._fallback.aclose()


class LazyTransport(httpx2.AsyncBaseTransport):
    """A transport built on its first request: ``KeepAliveTransport``'s fallback, rarely needed.

    httpx2's own transport loads TLS certificates when it is built (about 0.1 s), which a server that
    only ever talks to ``http://localhost`` should not pay before its first request.
    """

    def __init__(self, build: Callable[[], httpx2.AsyncBaseTransport]) -> None:
        self._build = build
        self._built: httpx2.AsyncBaseTransport | None = None

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:  # noqa: D102
        if self._built is None:
            self._built = self._build()
        return await self._built.handle_async_request(request)

    async def aclose(self) -> None:  # noqa: D102
        if self._built is not None:
            await self._built.aclose()


class _NothingReceived(Exception):
    """The connection ended (closed or reset) before the first byte of an answer.

    On a reused connection this is the server's idle close racing our request, which it never read:
    the one case a request is sent again. On a fresh connection, ``error`` is raised.
    """

    def __init__(self, error: httpx2.TransportError) -> None:
        super().__init__(str(error))
        self.error = error


def _framed(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether the body has its own length (chunked or Content-Length), so an early end is a cut."""
    return any(name.lower() in (b"content-length", b"transfer-encoding") for name, _ in headers)


def _feed(parser: Any, data: bytes) -> None:
    try:
        parser.feed_data(data)
    except httptools.HttpParserError as exc:
        raise httpx2.RemoteProtocolError(f"malformed HTTP answer: {exc}") from None


async def _read(conn: _Connection, timeout: float | None) -> bytes:
    return await _within(conn.reader.read(_READ_SIZE), timeout, httpx2.ReadTimeout, httpx2.ReadError)


async def _within(awaitable: Any, timeout: float | None, on_timeout: type, on_error: type) -> Any:
    """``awaitable`` within ``timeout`` seconds, its failures as httpx2's (the SDK maps those)."""
    try:
        if timeout is None:
            return await awaitable
        if _HAS_ASYNCIO_TIMEOUT:  # 3.11+: no task per read, unlike wait_for
            async with asyncio.timeout(timeout):  # type: ignore[attr-defined]
                return await awaitable
        return await asyncio.wait_for(awaitable, timeout)
    except asyncio.TimeoutError:
        raise on_timeout(f"no answer within {timeout:g} s") from None
    except OSError as exc:
        raise on_error(str(exc) or type(exc).__name__) from None
