"""KeepAliveTransport and its ConnectionPool (http_transport.py, http_pool.py) against a server on 127.0.0.1.

The server is scripted per request with the exact bytes to answer, so framing (Content-Length,
chunked, read-to-close), keep-alive, stale connections, cut answers, timeouts and cancellation are
each checked on the wire: how many connections the server saw and when the client hung up.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx2
import pytest

from lsp_server.providers.http_transport import KeepAliveTransport

OK_CHUNKED = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"7\r\ndata: 1\r\n7\r\ndata: 2\r\n0\r\n\r\n"
)


def sized(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


class Server:
    """Answers each request with ``answer(n)`` (n counts requests over all connections)."""

    def __init__(self, answer: Callable[[int], bytes | None]) -> None:
        self.answer = answer
        self.connections = 0
        self.requests: list[bytes] = []
        self.hung_up = asyncio.Event()
        self.server: asyncio.AbstractServer | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length")
                    ),
                    0,
                )
                self.requests.append(head + await reader.readexactly(length))
                answer = self.answer(len(self.requests) - 1)
                if answer is None:  # hang: answer nothing, wait for the client to go
                    await reader.read()
                    self.hung_up.set()
                    return
                writer.write(answer)
                await writer.drain()
                if b"Connection: close" in answer or answer.endswith(b"CUT"):
                    writer.close()
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            self.hung_up.set()
        except asyncio.CancelledError:  # the test is over
            pass
        finally:
            writer.close()

    async def close(self) -> None:
        assert self.server is not None
        self.server.close()


class Fallback(httpx2.AsyncBaseTransport):
    def __init__(self) -> None:
        self.seen: list[str] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self.seen.append(str(request.url))
        return httpx2.Response(204)


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Awaitable[tuple[httpx2.AsyncClient, Server, str]]]]:
    """Start a scripted server and a client whose transport is ours; all closed after the test."""
    opened: list[tuple[httpx2.AsyncClient, Server]] = []

    async def start(
        answer: Callable[[int], bytes | None], **kwargs
    ) -> tuple[httpx2.AsyncClient, Server, str]:
        server = Server(answer)
        url = await server.start()
        client = httpx2.AsyncClient(transport=KeepAliveTransport(Fallback(), **kwargs), timeout=2.0)
        opened.append((client, server))
        return client, server, url

    yield start
    for client, server in opened:
        await client.aclose()
        await server.close()


async def test_one_connection_serves_many_requests_and_bodies_arrive_whole(serve) -> None:
    client, server, url = await serve(lambda n: OK_CHUNKED if n % 2 else sized(b'{"n": %d}' % n))
    for n in range(6):
        answer = await client.post(url + "/v1/completions?x=1", json={"n": n})
        assert answer.status_code == 200
        assert answer.content == (b"data: 1data: 2" if n % 2 else b'{"n": %d}' % n)
    assert server.connections == 1
    first = server.requests[0]
    assert first.startswith(b"POST /v1/completions?x=1 HTTP/1.1\r\n")
    assert b"Host: 127.0.0.1" in first and first.endswith(b'{"n":0}')


async def test_a_streamed_body_arrives_in_pieces_before_its_end() -> None:
    release = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
        await writer.drain()
        await release.wait()
        writer.write(b"6\r\nsecond\r\n0\r\n\r\n")
        await writer.drain()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = httpx2.AsyncClient(transport=KeepAliveTransport(Fallback()))
    async with client.stream("GET", f"http://127.0.0.1:{port}/") as answer:
        pieces = answer.aiter_bytes()
        assert await pieces.__anext__() == b"first"  # before the server sent the rest
        release.set()
        assert [piece async for piece in pieces] == [b"second"]
    await client.aclose()
    server.close()


async def test_a_connection_closed_by_the_server_is_not_reused(serve) -> None:
    client, server, url = await serve(
        lambda n: sized(b"x", b"Connection: close\r\n") if n == 0 else sized(b"y")
    )
    assert (await client.get(url)).content == b"x"
    assert (await client.get(url)).content == b"y"
    assert server.connections == 2


@pytest.mark.parametrize("noticed", [True, False], ids=["close-seen-first", "close-in-flight"])
async def test_a_kept_alive_connection_the_server_dropped_while_idle_is_replaced_without_an_error(
    monkeypatch, serve, noticed: bool
) -> None:
    # The first answer says nothing about closing, so the client pools the connection; the server
    # then drops it (an idle timeout on the model server). The next request must just reconnect:
    # whether the pool saw the close before reusing the connection, or (the race the pool cannot
    # see, played by making every pooled connection look usable) the close is still in flight when
    # the request is written and the first sign is an end of input before any answer byte.
    if not noticed:
        from lsp_server.providers import http_pool

        monkeypatch.setattr(http_pool._Connection, "usable", lambda self, now, expiry: True)
    client, server, url = await serve(lambda n: sized(b"xCUT") if n == 0 else sized(b"y"))
    assert (await client.get(url)).content == b"xCUT"
    await asyncio.sleep(0.05)
    assert (await client.get(url)).content == b"y"
    assert server.connections == 2


async def test_an_answer_cut_before_its_end_is_an_error_not_a_short_body(serve) -> None:
    client, server, url = await serve(lambda n: b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabcCUT")
    with pytest.raises(httpx2.RemoteProtocolError):
        await client.get(url)


async def test_a_body_delimited_by_the_connection_end_is_read_whole(serve) -> None:
    client, server, url = await serve(lambda n: b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end")
    assert (await client.get(url)).content == b"until the end"
    assert (await client.get(url)).content == b"until the end"
    assert server.connections == 2  # never reused


async def test_garbage_instead_of_http_is_a_protocol_error(serve) -> None:
    client, server, url = await serve(lambda n: b"<html>proxy error</html>\r\n\r\n")
    with pytest.raises(httpx2.RemoteProtocolError):
        await client.get(url)


async def test_a_silent_server_times_out_and_the_connection_is_hung_up(serve) -> None:
    client, server, url = await serve(lambda n: None)
    with pytest.raises(httpx2.ReadTimeout):
        await client.get(url, timeout=httpx2.Timeout(0.2))
    await asyncio.wait_for(server.hung_up.wait(), 2)


async def test_cancelling_mid_answer_hangs_up_and_the_next_request_connects_afresh(serve) -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n"
    client, server, url = await serve(lambda n: head if n == 0 else sized(b"ok"))

    async def read_all() -> None:
        async with client.stream("GET", url) as answer:
            async for _ in answer.aiter_bytes():
                pass

    task = asyncio.ensure_future(read_all())
    while not server.requests:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(server.hung_up.wait(), 2)
    assert (await client.get(url)).content == b"ok"
    assert server.connections == 2


async def test_other_schemes_go_to_the_fallback_transport() -> None:
    fallback = Fallback()
    client = httpx2.AsyncClient(transport=KeepAliveTransport(fallback))
    assert (await client.get("https://example.invalid/v1/models")).status_code == 204
    assert fallback.seen == ["https://example.invalid/v1/models"]
    await client.aclose()


async def test_a_refused_connection_is_a_connect_error(serve) -> None:
    client, server, url = await serve(lambda n: sized(b""))
    await server.close()
    await asyncio.sleep(0.05)
    with pytest.raises(httpx2.ConnectError):
        await client.get(url)
    await client.aclose()


async def test_idle_connections_are_bounded(serve) -> None:
    client, server, url = await serve(lambda n: sized(b"z"), max_idle=2)
    await asyncio.gather(*(client.get(url) for _ in range(5)))
    transport = client._transport
    assert isinstance(transport, KeepAliveTransport)
    assert sum(len(idle) for idle in transport.pool._idle.values()) <= 2


@pytest.mark.parametrize(
    ("env", "base_url", "ours"),
    [
        ({}, "http://10.0.0.5:11434/v1", True),
        ({"HTTP_PROXY": "http://127.0.0.1:9"}, "http://10.0.0.5:11434/v1", False),
        ({"ALL_PROXY": "http://127.0.0.1:9"}, "http://10.0.0.5:11434/v1", False),
        ({"HTTP_PROXY": "http://127.0.0.1:9", "NO_PROXY": "10.0.0.5"}, "http://10.0.0.5:11434/v1", True),
        ({"http_proxy": "http://127.0.0.1:9"}, "http://10.0.0.5:11434/v1", False),
    ],
)
def test_the_provider_leaves_proxied_servers_to_httpx2(monkeypatch, env, base_url, ours) -> None:
    # httpx2 applies environment proxies only to clients without a transport of their own.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    from lsp_server.providers.openai import OpenAIProvider

    provider = OpenAIProvider(base_url=base_url, api_key=None, model="qwen2.5-coder:1.5b")
    transport = provider._client_()._client._transport
    assert isinstance(transport, KeepAliveTransport) is ours


def test_with_no_proxy_variable_the_decision_imports_nothing() -> None:
    # urllib.request (7.5 ms) is imported only when a *_proxy variable may apply (on Linux).
    code = (
        "import sys\n"
        "from lsp_server.providers.openai import _proxied\n"
        "assert not _proxied('http://127.0.0.1:11434/v1')\n"
        "print('urllib.request' in sys.modules)\n"
    )
    env = {name: value for name, value in os.environ.items() if not name.lower().endswith("_proxy")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ("True" if sys.platform in ("darwin", "win32") else "False")
