"""The event framing of requests sent before the SDK has loaded, chunk by chunk (providers/sse_request.py)."""

from __future__ import annotations

import pytest

from lsp_server.providers.sse_request import _event_data

STREAM = b": comment\r\nevent: x\r\ndata: 1\r\n\r\ndata: a\ndata: b\n\ndata: 2\r\rdata: [DONE]\r\n\r\n"
EVENTS = ["1", "a\nb", "2", "[DONE]"]


async def events(chunks: list[bytes]) -> list[str]:
    async def stream():
        for chunk in chunks:
            yield chunk

    return [data async for data in _event_data(stream())]


@pytest.mark.parametrize("size", [1, 2, 3, 7, len(STREAM)])
async def test_any_cut_into_chunks_gives_the_same_events(size: int):
    """A CRLF cut between two chunks is one line end, not a line end and an empty line."""
    chunks = [STREAM[i : i + size] for i in range(0, len(STREAM), size)]
    assert await events(chunks) == EVENTS


async def test_a_stream_closed_without_the_last_blank_line_still_gives_its_event():
    assert await events([b"data: 1\n\ndata: 2"]) == ["1", "2"]
    assert await events([b"data: 1\n\ndata: 2\r"]) == ["1", "2"]
