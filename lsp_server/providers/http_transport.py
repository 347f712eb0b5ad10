"""The openai SDK's transport for plain-``http://`` model servers: ``http_pool`` behind httpx2's interface.

Owns: turning an httpx2 request into the parts of an HTTP/1.1 request for ``http_pool``, its answer
into an httpx2 response, and ``http_pool.HttpFailure`` into httpx2's timeout and error types (the
SDK maps those to its own). Must not: speak TLS, proxies or HTTP/2 (``https://`` and anything else
goes to the ``fallback`` transport, httpx2's own; the provider does not use this transport when an
environment proxy applies), or hold connections of its own: the pool is shared with the requests
sent before the SDK has loaded (``sse_request``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx2

from lsp_server.providers.http_pool import CONNECT, READ, WRITE, Answer, ConnectionPool, HttpFailure


def httpx_error(failure: HttpFailure) -> httpx2.TransportError:
    """``failure`` as the httpx2 error the SDK expects from a transport."""
    if failure.timed_out:
        timeout = {CONNECT: httpx2.ConnectTimeout, WRITE: httpx2.WriteTimeout}.get(failure.phase)
        return (timeout or httpx2.ReadTimeout)(str(failure))
    errors = {CONNECT: httpx2.ConnectError, WRITE: httpx2.WriteError, READ: httpx2.ReadError}
    return errors.get(failure.phase, httpx2.RemoteProtocolError)(str(failure))


class _Body(httpx2.AsyncByteStream):
    """An answer's body for httpx2; the pool gets its connection back once it is read."""

    def __init__(self, answer: Answer) -> None:
        self._answer = answer

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._answer.chunks():
                yield chunk
        except HttpFailure as failure:
            raise httpx_error(failure) from None

    async def aclose(self) -> None:
        await self._answer.aclose()


class KeepAliveTransport(httpx2.AsyncBaseTransport):
    """HTTP/1.1 with keep-alive for ``http://`` URLs over ``pool``; every other scheme goes to ``fallback``.

    Without ``pool``, one of its own (``max_idle``, ``keepalive_expiry`` as for ``ConnectionPool``).
    """

    def __init__(
        self,
        fallback: httpx2.AsyncBaseTransport,
        pool: ConnectionPool | None = None,
        *,
        max_idle: int = 8,
        keepalive_expiry: float = 120.0,
    ) -> None:
        self._fallback = fallback
        self.pool = pool or ConnectionPool(max_idle=max_idle, keepalive_expiry=keepalive_expiry)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:  # noqa: D102
        url = request.url
        if url.scheme != "http":
            return await self._fallback.handle_async_request(request)
        body = await request.aread()
        wire = (request.method.encode(), url.raw_path, request.headers.raw, body)
        try:
            timeouts = request.extensions.get("timeout", {})
            answer = await self.pool.send(url.host, url.port or 80, wire, timeouts)
        except HttpFailure as failure:
            raise httpx_error(failure) from None
        return httpx2.Response(
            answer.status,
            headers=answer.headers,
            stream=_Body(answer),
            request=request,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": answer.reason},
        )

    async def aclose(self) -> None:  # noqa: D102
        self.pool.close()
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
