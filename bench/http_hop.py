"""Benchmark the HTTP hop alone: one streamed FIM completion, SDK transports against a plain socket.

Prints what it measured; asserts nothing. Starts ``bench/instant_model.py`` (keep-alive, chunked SSE,
its own process) and streams the same completion N times through:

- a plain keep-alive asyncio socket that writes the request and parses the SSE events into deltas
  (the floor: what any HTTP client must at least do);
- ``OpenAIProvider`` with each transport it can be given through the SDK's ``http_client`` hook.

Per request it reports wall time (p50/p99) and this process's CPU time, which is what the server's
event loop pays. Ratios are against the plain socket measured in the same run.

    python bench/http_hop.py [--requests 500] [--chunks 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lsp_server.providers.base import Delta, ModelRequest  # noqa: E402
from lsp_server.providers.openai import TRANSPORTS, OpenAIProvider  # noqa: E402
from lsp_server.providers.prompts import FimPrompt  # noqa: E402

PROMPT = FimPrompt(prefix="def add(a, b):\n    return ", suffix="\n\nprint(add(1, 2))\n", path="a.py")


def start_model(chunks: int) -> tuple[subprocess.Popen, str]:
    """The instant model server in its own process, and its base URL."""
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "instant_model.py"), "--chunks", str(chunks)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    base_url = process.stdout.readline().strip()
    return process, base_url


class PlainSocket:
    """One keep-alive connection; a request is written by hand and its SSE answer parsed into deltas."""

    def __init__(self, base_url: str) -> None:
        host_port = base_url.split("//", 1)[1].split("/", 1)[0]
        self.host, port = host_port.split(":")
        self.port = int(port)
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def stream(self, body: dict) -> list[Delta]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        data = json.dumps(body).encode()
        self.writer.write(
            b"POST /v1/completions HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer no-key\r\nAccept: text/event-stream\r\nContent-Length: %d\r\n\r\n%s"
            % (self.host.encode(), len(data), data)
        )
        reader = self.reader
        await reader.readuntil(b"\r\n\r\n")  # status line and headers
        deltas: list[Delta] = []
        buffer = b""
        while True:
            size = int((await reader.readline()).strip(), 16)
            if size == 0:
                await reader.readline()
                return deltas
            buffer += (await reader.readexactly(size + 2))[:-2]
            while b"\n\n" in buffer:
                event, buffer = buffer.split(b"\n\n", 1)
                payload = event.removeprefix(b"data: ")
                if payload == b"[DONE]":
                    continue
                choice = json.loads(payload)["choices"][0]
                deltas.append(Delta(choice["text"], choice["finish_reason"], choice["index"]))


def connections(base_url: str) -> int:
    """How many connections the instant model has accepted so far."""
    with urllib.request.urlopen(base_url + "/models") as answer:
        return int(json.load(answer)["connections"])


async def measure(name: str, one, requests: int) -> dict:
    for _ in range(20):  # warm-up: imports, first connection
        await one()
    walls, cpus = [], []
    for _ in range(requests):
        wall, cpu = time.perf_counter(), time.process_time()
        await one()
        cpus.append(time.process_time() - cpu)
        walls.append(time.perf_counter() - wall)
    walls.sort()
    return {
        "name": name,
        "p50": walls[len(walls) // 2] * 1000,
        "p99": walls[min(len(walls) - 1, int(0.99 * len(walls)))] * 1000,
        "cpu": statistics.fmean(cpus) * 1000,
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--chunks", type=int, default=16)
    options = parser.parse_args()
    process, base_url = start_model(options.chunks)
    try:
        results = []
        plain = PlainSocket(base_url)
        body = {"model": "starcoder2", "prompt": PROMPT.prefix, "suffix": PROMPT.suffix, "stream": True}
        body |= {"max_tokens": 128, "temperature": 0.2}
        results.append(await measure("plain keep-alive socket", lambda: plain.stream(body), options.requests))
        for transport in TRANSPORTS:
            try:
                provider = OpenAIProvider(
                    base_url=base_url, api_key=None, model="starcoder2", transport=transport
                )
                await provider.warm_up()
            except Exception as exc:  # e.g. aiohttp not installed
                print(f"  (transport {transport}: unavailable: {exc})")
                continue

            async def one(provider: OpenAIProvider = provider) -> None:
                request = ModelRequest(prompt=PROMPT, deadline=time.monotonic() + 5, max_tokens=128)
                async for _ in provider.stream(request):
                    pass

            before = connections(base_url)
            results.append(await measure(f"OpenAIProvider, transport {transport}", one, options.requests))
            opened = connections(base_url) - before - 1  # minus the one this check used
            print(
                f"  (transport {transport}: {opened} connection(s) opened "
                f"for {options.requests + 20} requests)"
            )
            await provider.aclose()
        floor = results[0]
        print(f"streamed FIM completion, {options.chunks} chunks, {options.requests} requests each:")
        for r in results:
            print(
                f"  {r['name']:<40} wall p50 {r['p50']:.3f} ms  p99 {r['p99']:.3f} ms  "
                f"CPU {r['cpu']:.3f} ms/request  "
                f"(x{r['p50'] / floor['p50']:.1f} wall, x{r['cpu'] / floor['cpu']:.1f} CPU of the socket; "
                f"+{r['p50'] - floor['p50']:.2f} ms)"
            )
    finally:
        process.terminate()
        process.wait()


if __name__ == "__main__":
    asyncio.run(main())
