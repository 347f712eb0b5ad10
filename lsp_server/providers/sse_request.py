"""A streamed POST to an OpenAI-compatible server without the openai SDK: the session's first requests.

Owns: sending one JSON request over the provider's keep-alive connections (``http_pool``), decoding
the server-sent events of its answer into plain dicts, and describing every failure as one
``WireError`` (a timeout, a broken connection, an HTTP status with its error body, an error event,
a malformed event). Must not: decide on retries or user-facing messages (the provider does, for the
SDK's failures and these alike), speak TLS or proxies (the provider sends only plain ``http://``
requests without an environment proxy this way), or know about prompts.

Why by hand: importing the SDK costs 0.35-0.45 s of CPU (its ``openai.types`` package builds a
thousand pydantic models), and nothing heavy may load before ``initialize`` is answered. A suggestion
asked for at once after start-up waited for that import. The provider sends requests this way
until the SDK has loaded (in a worker thread, once requests pause); from then on the SDK serves
every request. What is
left to write once ``http_pool`` does HTTP is the request's fields and the SSE framing below, which
mirror the SDK's (``httpx2.Request``'s ``Host`` and ``Content-Length``; ``openai._streaming``: ``data:``
lines joined per event, ``[DONE]`` ends the stream, an event whose data holds ``error`` fails it).
httpx2 is not imported on this path (about 28 ms a first request would wait for).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from lsp_server import __version__
from lsp_server.providers.http_pool import Answer, ConnectionPool, HttpFailure

_ERROR_BODY_BYTES = 64 * 1024  # an error answer's body is read up to this for its message
_LINE_END = re.compile(rb"\r\n|\r|\n")


class WireError(Exception):
    """A request that failed: ``kind`` is ``timeout``, ``connection``, ``status``, ``event`` or ``malformed``.

    ``status``, ``headers`` and ``body`` (the parsed ``error`` object, else the parsed body, else its
    text) are set for ``status``; ``body`` for ``event``. ``headers`` is looked up by lower-case name.
    """

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status
        self.headers = headers
        self.body = body


class SseStream:
    """The events of one answer as dicts; ``close`` frees (or keeps alive) its connection."""

    def __init__(self, answer: Answer) -> None:
        self._answer = answer
        self._chunks = answer.chunks()
        self._events = self._decode()

    def __aiter__(self) -> SseStream:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self._events.__anext__()
        except HttpFailure as failure:
            raise _wire_error(failure) from failure

    async def close(self) -> None:
        await self._events.aclose()
        await self._answer.aclose()

    async def _decode(self) -> AsyncGenerator[Any, None]:
        async for data in _event_data(self._chunks):
            if data.startswith("[DONE]"):
                # HTTP/1.1: read the rest so the connection can serve the next request.
                async for _ in self._chunks:
                    pass
                return
            try:
                parsed = json.loads(data)
            except ValueError as exc:
                raise WireError("malformed", f"an event is not JSON: {exc}") from None
            if isinstance(parsed, dict) and parsed.get("error"):
                error = parsed["error"]
                message = error.get("message") if isinstance(error, dict) else None
                raise WireError("event", message or "An error occurred during streaming", body=error)
            yield parsed


async def _event_data(chunks: AsyncIterator[bytes]) -> AsyncIterator[str]:
    """The ``data`` of each event (its ``data:`` lines joined by newlines); other fields are dropped.

    Lines end with CRLF, LF or a lone CR, as the SSE format (and the SDK's decoder) allow; a CR at the
    end of a chunk waits for the next one, which may start with the LF of the same line end.
    """
    pending = b""
    data: list[str] = []

    def take(raw: bytes) -> str | None:
        """Add one line to the event; the event's data when the line ends it."""
        nonlocal data
        line = raw.decode("utf-8", "replace")
        if not line:  # an empty line ends the event
            done, data = data, []
            return "\n".join(done) if done else None
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value[1:] if value.startswith(" ") else value)
        return None

    async for chunk in chunks:
        pending += chunk
        start = 0
        for end in _LINE_END.finditer(pending):
            if end.group() == b"\r" and end.end() == len(pending):
                break
            event = take(pending[start : end.start()])
            start = end.end()
            if event is not None:
                yield event
        pending = pending[start:]
    for raw in _LINE_END.split(pending):  # the server closed mid-line or without the last blank line
        event = take(raw) if raw else None
        if event is not None:
            yield event
    if data:
        yield "\n".join(data)


async def post_stream(
    pool: ConnectionPool,
    url: str,
    api_key: str,
    body: dict[str, Any],
    *,
    timeout: float,
    connect_timeout: float,
    headers: dict[str, str] | None = None,
) -> SseStream:
    """POST ``body`` to ``url`` (``http://`` only); its event stream once the answer's head says 2xx.

    ``headers`` are sent besides the key's and the JSON ones. Raises ``WireError`` otherwise:
    ``status`` with the error body, ``timeout`` or ``connection``.
    """
    parts = urlsplit(url)
    content = json.dumps(body).encode()
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    fields = {
        "Host": parts.netloc.rpartition("@")[2],
        "Authorization": f"Bearer {api_key}",
        "Content-Type": "application/json",
        "Accept": "application/json",
        "User-Agent": f"llm-lsp/{__version__}",
        **(headers or {}),
        "Content-Length": str(len(content)),
    }
    # ASCII like httpx2's headers: a key that is not fails here, before anything is sent.
    wire = (
        b"POST",
        target.encode("ascii"),
        [(name.encode("ascii"), value.encode("ascii")) for name, value in fields.items()],
        content,
    )
    timeouts = {"connect": connect_timeout, "read": timeout, "write": timeout}
    try:
        answer = await pool.send(parts.hostname or "", parts.port or 80, wire, timeouts)
    except HttpFailure as failure:
        raise _wire_error(failure) from failure
    if answer.status < 400:
        return SseStream(answer)
    raw = b""
    try:
        async for chunk in answer.chunks():
            raw += chunk
            if len(raw) >= _ERROR_BODY_BYTES:
                break
    except HttpFailure:
        pass  # the status says enough
    finally:
        await answer.aclose()
    text = raw.decode("utf-8", "replace")
    try:
        parsed: Any = json.loads(text)
    except ValueError:
        parsed = text
    error = parsed.get("error", parsed) if isinstance(parsed, dict) else parsed
    message = f"Error code: {answer.status} - {parsed}"
    names = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in answer.headers}
    raise WireError("status", message, status=answer.status, headers=names, body=error)


def _wire_error(failure: HttpFailure) -> WireError:
    if failure.timed_out:
        return WireError("timeout", str(failure) or "Request timed out.")
    return WireError("connection", str(failure) or type(failure).__name__)
