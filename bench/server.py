"""Benchmark the server process itself: start-up, per-completion overhead, keystrokes, memory.

Prints what it measured; asserts nothing. Runs the real ``llm-lsp`` process over stdio against the
fake OpenAI-compatible server on 127.0.0.1 answering instantly, so the round trip is the server's
own cost (plus the stdio transport and the local HTTP hop, which we count as ours).

    python bench/server.py [--requests 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "e2e")]

from fake_openai import FakeOpenAI, Reply  # noqa: E402
from harness import (  # noqa: E402
    SERVER,
    inline_params,
    insert,
    open_document,
    running_server,
    server_env,
)


def python_file(lines: int) -> str:
    """A synthetic but realistic Python module of ``lines`` lines."""
    out: list[str] = ["import os", "import sys", ""]
    n = 0
    while len(out) < lines - 1:
        out += [
            f"def function_{n}(value, count=3):",
            f'    """Compute thing {n}."""',
            "    total = 0",
            "    for index in range(count):",
            "        total += value * index",
            "    return total",
            "",
        ]
        n += 1
    return "\n".join(out[: lines - 1]) + "\n"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


BARE_PYGLS = "from pygls.lsp.server import LanguageServer\nLanguageServer('bare', '0').start_io()\n"


def spawn_to_initialize(command: list[str], runs: int) -> list[float]:
    """Seconds from spawning ``command`` to the first byte of its answer to ``initialize``."""
    body = json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"processId": None, "capabilities": {}}}
    ).encode()
    frame = b"Content-Length: %d\r\n\r\n" % len(body) + body
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=server_env(),
        )
        process.stdin.write(frame)
        process.stdin.flush()
        process.stdout.readline()
        times.append(time.perf_counter() - started)
        process.kill()
        process.wait()
    return times


async def overhead(fake: FakeOpenAI, requests: int) -> tuple[list[float], list[float]]:
    """Explicit inline completions on a 10k-line file: client round trips, and the server's own time.

    The server's own time comes from its debug log (``inline timing``): the time from receiving the
    request to answering it, minus the time spent waiting for the provider's stream (which holds the
    HTTP exchange with the instant fake model).
    """
    fake.script(lambda request: Reply(text="value + 1"))
    uri = "file:///tmp/llm_lsp_bench/big.py"
    text = python_file(10_000)
    lines = text.splitlines()
    round_trips = []
    log_file = Path(tempfile.mkdtemp(prefix="llm-lsp-bench-")) / "server.log"
    args = ["--log-file", str(log_file), "--log-level", "debug"]
    async with running_server(server_env(fake.base_url, "starcoder2"), server_args=args) as client:
        open_document(client, uri, text)
        # warm-up: first-use costs (openai import, grammar load) are not per-request overhead
        for line in range(5):
            await client.text_document_inline_completion_async(inline_params(uri, line * 7 + 5, 8))
        skip = len(_timings(log_file))
        for i in range(requests):
            line = 100 + (i * 37) % 9_000
            started = time.perf_counter()
            await client.text_document_inline_completion_async(inline_params(uri, line, len(lines[line])))
            round_trips.append(time.perf_counter() - started)
    own = [total - model for total, model in _timings(log_file)[skip:]]
    return round_trips, own


def _timings(log_file: Path) -> list[tuple[float, float]]:
    found = re.findall(r"inline timing: ([0-9.]+) ms total, ([0-9.]+) ms waiting", log_file.read_text())
    return [(float(total), float(model)) for total, model in found]


async def keystrokes(fake: FakeOpenAI, lines: int, strokes: int) -> list[float]:
    """Client-observed cost of a one-character didChange, synchronised by a cheap request."""
    uri = f"file:///tmp/llm_lsp_bench/keys_{lines}.py"
    text = python_file(lines)
    async with running_server(server_env(fake.base_url, "starcoder2")) as client:
        open_document(client, uri, text)
        target = lines // 2
        column = len(text.splitlines()[target])
        times = []
        for i in range(strokes):
            started = time.perf_counter()
            insert(client, uri, i + 2, target, column + i, "x")
            # an unknown-document request is answered at once, after the change was applied
            await client.text_document_inline_completion_async(inline_params("file:///none.py", 0, 0))
            times.append(time.perf_counter() - started)
        return times


async def memory(fake: FakeOpenAI, files: int, lines: int) -> float:
    async with running_server(server_env(fake.base_url, "starcoder2")) as client:
        text = python_file(lines)
        for i in range(files):
            open_document(client, f"file:///tmp/llm_lsp_bench/mem_{i}.py", text)
        await client.text_document_inline_completion_async(inline_params("file:///none.py", 0, 0))
        return rss_mib(client._server.pid)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--startups", type=int, default=5)
    options = parser.parse_args()
    with FakeOpenAI() as fake:
        starts = spawn_to_initialize(SERVER, options.startups)
        bare = spawn_to_initialize([sys.executable, "-c", BARE_PYGLS], options.startups)
        print(
            f"spawn -> initialize answered: median {statistics.median(starts) * 1000:.0f} ms, "
            f"max {max(starts) * 1000:.0f} ms over {len(starts)} starts "
            f"(a bare pygls server here: median {statistics.median(bare) * 1000:.0f} ms)"
        )
        trips, own = await overhead(fake, options.requests)
        ms = [t * 1000 for t in trips]
        print(
            f"inline completion, 10k-line file, instant fake model, explicit trigger ({len(ms)} requests):\n"
            f"  client round trip: p50 {percentile(ms, 0.5):.2f} ms, p99 {percentile(ms, 0.99):.2f} ms\n"
            f"  server's own time (model stream excluded): p50 {percentile(own, 0.5):.2f} ms, "
            f"p99 {percentile(own, 0.99):.2f} ms"
        )
        for size in (1_000, 10_000):
            keys = [t * 1000 for t in await keystrokes(fake, size, 300)]
            print(
                f"didChange + sync round trip, {size}-line file ({len(keys)} keystrokes): "
                f"p50 {percentile(keys, 0.5):.3f} ms, p99 {percentile(keys, 0.99):.3f} ms"
            )
        rss = await memory(fake, 100, 500)
        print(f"resident memory with 100 open 500-line files: {rss:.0f} MiB")


if __name__ == "__main__":
    asyncio.run(main())
