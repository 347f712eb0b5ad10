"""An instant OpenAI-compatible streaming server for benchmarks: HTTP/1.1 keep-alive, chunked SSE.

The test fake (tests/fake_openai.py) closes the connection after every stream on purpose (it plays
servers that drop mid-stream), so it cannot show what connection reuse is worth. This one answers
every ``/v1/completions``, ``/v1/chat/completions`` and ``/infill`` request at once with a fixed
reply split into N chunks, keeps the connection open and serves the next request on it, in its own
process so the benchmark's client does not share a GIL with it.

    python bench/instant_model.py --chunks 16 --port-file /tmp/port

Prints the base URL (``http://127.0.0.1:PORT/v1``) on stdout once listening. Not for tests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import time


def _events(path: str, body: dict, words: list[str]) -> list[bytes]:
    """The SSE frames of one answer (choice 0 only; n>1 repeats them per index)."""
    n = int(body.get("n") or 1)
    head = {"id": "instant", "created": int(time.time()), "model": body.get("model", "m")}
    out: list[bytes] = []
    for k, word in enumerate(words + [None]):
        for i in range(n):
            finish = "stop" if word is None else None
            if path.endswith("/infill"):
                event = {"index": i, "content": word or "", "stop": finish is not None}
            elif path.endswith("chat/completions"):
                delta = {"content": word} if word is not None else {}
                if k == 0:
                    delta["role"] = "assistant"
                choice = {"index": i, "delta": delta, "finish_reason": finish, "logprobs": None}
                event = {**head, "object": "chat.completion.chunk", "choices": [choice]}
            else:
                choice = {"index": i, "text": word or "", "finish_reason": finish, "logprobs": None}
                event = {**head, "object": "text_completion", "choices": [choice]}
            out.append(b"data: " + json.dumps(event).encode() + b"\n\n")
    out.append(b"data: [DONE]\n\n")
    return out


def _chunked(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


_connections = 0  # opened so far: GET /v1/models reports it, so a bench can verify connection reuse


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, words: list[str]) -> None:
    global _connections
    _connections += 1
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {
                k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])
            }
            length = int(headers.get("content-length", "0"))
            raw = await reader.readexactly(length) if length else b""
            if method == "GET":  # /v1/models
                payload = json.dumps(
                    {"object": "list", "data": [{"id": "m", "object": "model"}], "connections": _connections}
                ).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                    % (len(payload), payload)
                )
                continue
            body = json.loads(raw or b"{}")
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n"
            )
            for event in _events(path, body, words):
                writer.write(_chunked(event))
            writer.write(b"0\r\n\r\n")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reply", default="value + 1")
    parser.add_argument("--chunks", type=int, default=0, help="split the reply into this many chunks")
    parser.add_argument("--port-file")
    args = parser.parse_args()
    words = [args.reply] if args.chunks <= 1 else _split(args.reply, args.chunks)
    server = await asyncio.start_server(lambda r, w: _serve(r, w, words), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    if args.port_file:
        tmp = f"{args.port_file}.tmp{os.getpid()}"
        with open(tmp, "w") as f:
            f.write(f"{port}\n")
        os.replace(tmp, args.port_file)
    print(f"http://127.0.0.1:{port}/v1", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with server:
        await stop.wait()


def _split(text: str, chunks: int) -> list[str]:
    """``chunks`` pieces that join to ``text`` (the reply is repeated as needed)."""
    size = max(1, len(text) // chunks)
    long = text * (chunks * size // max(1, len(text)) + 1)
    return [long[i * size : (i + 1) * size] for i in range(chunks)]


if __name__ == "__main__":
    asyncio.run(main())
