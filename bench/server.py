"""Benchmark the server process: per-completion overhead against its floors, keystrokes, start-up, memory.

Also documents with huge lines (issue 17). Prints what it measured, side by side; asserts nothing.

Everything runs in one go against the real ``llm-lsp`` process over stdio, driven by a raw asyncio
client (bench/lspclient.py: framing and JSON only), with ``bench/instant_model.py`` as the model (an
OpenAI-compatible keep-alive server in its own process, answering at once). The floors, measured in
the same run because this machine is noisy:

- raw stdio round trip: a request the server answers without work (an unopened document);
- a naive server: pygls + the openai SDK, the whole prefix as prompt, no context, no post-processing;
- from the server's own debug log: its time with the model stream excluded, and the stream's time
  (the HTTP stack, since the model answers at once).

    python bench/server.py [--requests 300] [--source DIR]   # --source: run another checkout's server
    python bench/server.py --only huge                         # issue 17's shapes only
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from lspclient import LspProcess  # noqa: E402

BARE_PYGLS = "from pygls.lsp.server import LanguageServer\nLanguageServer('bare', '0').start_io()\n"

# The floor a naive implementation pays: pygls + the openai SDK, prefix as prompt, first choice shown.
NAIVE_SERVER = """
import os
from lsprotocol import types
from pygls.lsp.server import LanguageServer
server = LanguageServer("naive", "0")
client = None

@server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
async def inline(ls, params):
    global client
    if client is None:
        import openai
        client = openai.AsyncOpenAI(base_url=os.environ["OPENAI_BASE_URL"], api_key="x", max_retries=0)
    doc = ls.workspace.get_text_document(params.text_document.uri)
    offset = doc.offset_at_position(params.position)
    stream = await client.completions.create(
        model=os.environ["LLM_LSP_MODEL"], prompt=doc.source[:offset], suffix=doc.source[offset:],
        max_tokens=128, stream=True)
    text = "".join([chunk.choices[0].text async for chunk in stream if chunk.choices])
    return [types.InlineCompletionItem(insert_text=text)]

server.start_io()
"""


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


class Bench:
    def __init__(self, source: Path, base_url: str, profile: str | None) -> None:
        self.source = source
        self.base_url = base_url
        self.profile = profile
        self.only: str | None = None

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY",)}
        env |= {
            "PYTHONPATH": str(self.source),
            "OPENAI_BASE_URL": self.base_url,
            "LLM_LSP_MODEL": "starcoder2",
        }
        env["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="llm-lsp-cfg-")
        return env | extra

    async def ours(self, log_file: Path | None = None) -> LspProcess:
        command = [sys.executable, "-m", "lsp_server"]
        if log_file is not None:
            command += ["--log-file", str(log_file), "--log-level", "debug"]
        # cwd: ``python -m`` imports from the working directory before PYTHONPATH.
        client = await LspProcess.start(command, self.env(), cwd=str(self.source))
        await client.initialize()
        return client

    def start_profiler(self, client: LspProcess) -> subprocess.Popen | None:
        """py-spy sampling the server (collapsed stacks in ``self.profile``), or None."""
        if not self.profile:
            return None
        return subprocess.Popen(
            [
                "py-spy",
                "record",
                "--nonblocking",
                "-r",
                "250",
                "-f",
                "raw",
                "-o",
                self.profile,
                "-p",
                str(client.process.pid),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )


async def stdio_floor(client: LspProcess, n: int) -> list[float]:
    """Round trips of a request the server answers without work (the pipes, framing and JSON)."""
    times = []
    for _ in range(n):
        started = time.perf_counter()
        await client.inline_nowait("file:///not/open.py", 0, 0)
        times.append(time.perf_counter() - started)
    return times


async def completions(client: LspProcess, uri: str, lines: list[str], n: int) -> list[float]:
    for line in range(5):  # warm-up: first-use costs (imports, grammar, connection) are not per request
        await client.inline_nowait(uri, line * 7 + 5, 8)
    times = []
    for i in range(n):
        line = 100 + (i * 37) % (len(lines) - 200)
        started = time.perf_counter()
        answer = await client.inline_nowait(uri, line, len(lines[line]))
        times.append(time.perf_counter() - started)
        if "error" in answer:
            raise RuntimeError(answer["error"])
    return times


async def completions_while_typing(client: LspProcess, uri: str, lines: list[str], n: int) -> list[float]:
    """Round trips of explicit requests each sent right after a keystroke: every one on a new version.

    What a user meets while typing: per-version costs (the new text, its tree) are paid by the
    request, which a repeated request on one version would hide. The keystroke is not timed.
    """
    times = []
    line = len(lines) // 2
    column = len(lines[line])
    for i in range(n):
        client.insert(uri, 2 + i, line, column + i, "x")
        started = time.perf_counter()
        answer = await client.inline_nowait(uri, line, column + i + 1)
        times.append(time.perf_counter() - started)
        if "error" in answer:
            raise RuntimeError(answer["error"])
    return times


def timings(log_file: Path) -> list[tuple[float, float]]:
    found = re.findall(r"inline timing: ([0-9.]+) ms total, ([0-9.]+) ms waiting", log_file.read_text())
    return [(float(total), float(model)) for total, model in found]


def stats(ms: list[float]) -> str:
    return f"p50 {percentile(ms, 0.5):6.2f} ms  p99 {percentile(ms, 0.99):6.2f} ms"


async def overhead(bench: Bench, requests: int) -> None:
    uri = "file:///tmp/llm_lsp_bench/big.py"
    text = python_file(10_000)
    lines = text.splitlines()
    log_file = Path(tempfile.mkdtemp(prefix="llm-lsp-bench-")) / "server.log"
    client = await bench.ours(log_file)
    client.open(uri, text)
    floor = [t * 1000 for t in await stdio_floor(client, requests)]
    skip = len(timings(log_file))
    profiler = bench.start_profiler(client)
    if profiler is not None:
        await asyncio.sleep(1.0)  # py-spy attaching
    trips = [t * 1000 for t in await completions(client, uri, lines, requests)]
    if profiler is not None:
        profiler.send_signal(signal.SIGINT)
        profiler.wait()
    found = timings(log_file)[skip + 5 :]
    typing = [t * 1000 for t in await completions_while_typing(client, uri, lines, requests)]
    await client.close()
    own = [total - model for total, model in found]
    http = [model for _, model in found]

    naive_client = await LspProcess.start([sys.executable, "-c", NAIVE_SERVER], bench.env(), cwd="/")
    await naive_client.initialize()
    naive_client.open(uri, text)
    naive = [t * 1000 for t in await completions(naive_client, uri, lines, requests)]
    naive_typing = [t * 1000 for t in await completions_while_typing(naive_client, uri, lines, requests)]
    await naive_client.close()

    p50 = percentile(trips, 0.5)
    print(f"inline completion, 10k-line file, instant model, explicit trigger ({requests} requests each):")
    print(f"  llm-lsp round trip (raw stdio client)     {stats(trips)}")
    print(
        f"    of which the server's own time          {stats(own)}  "
        f"({statistics.median(own) / p50:.0%} of p50)"
    )
    print(
        f"    of which the HTTP stack (model stream)  {stats(http)}  "
        f"({statistics.median(http) / p50:.0%} of p50)"
    )
    print(f"  raw stdio round trip (no work)            {stats(floor)}")
    print(f"  naive pygls + openai SDK server           {stats(naive)}")
    print(
        f"  ratios (p50): llm-lsp / naive {p50 / percentile(naive, 0.5):.2f}, "
        f"llm-lsp / stdio floor {p50 / percentile(floor, 0.5):.1f}, "
        f"round trip minus stdio floor {p50 - percentile(floor, 0.5):.2f} ms"
    )
    print("same, each request right after a keystroke (a new version every time):")
    print(f"  llm-lsp round trip                        {stats(typing)}")
    print(f"  naive pygls + openai SDK server           {stats(naive_typing)}")
    print(f"  ratio (p50): llm-lsp / naive {percentile(typing, 0.5) / percentile(naive_typing, 0.5):.2f}")


async def keystrokes(bench: Bench, sizes: tuple[int, ...], strokes: int) -> None:
    """Cost of a one-character didChange: (didChange + sync request) minus (sync request alone)."""
    results = {}
    for size in sizes:
        uri = f"file:///tmp/llm_lsp_bench/keys_{size}.py"
        text = python_file(size)
        client = await bench.ours()
        client.open(uri, text)
        target = size // 2
        column = len(text.splitlines()[target])
        await stdio_floor(client, 20)
        with_change, alone = [], []
        for i in range(strokes):
            started = time.perf_counter()
            client.insert(uri, i + 2, target, column + i, "x")
            await client.inline_nowait("file:///not/open.py", 0, 0)
            with_change.append((time.perf_counter() - started) * 1000)
            alone += [t * 1000 for t in await stdio_floor(client, 1)]
        await client.close()
        cost = percentile(with_change, 0.5) - percentile(alone, 0.5)
        results[size] = cost
        print(
            f"didChange, {size}-line file ({strokes} keystrokes): with sync request {stats(with_change)}; "
            f"sync request alone p50 {percentile(alone, 0.5):.3f} ms; keystroke p50 ~{cost:.3f} ms"
        )
    if len(sizes) == 2:
        small, large = (results[s] for s in sizes)
        ratio = large / small if small > 0 else float("nan")
        print(f"  keystroke ratio {sizes[1]} / {sizes[0]} lines: {ratio:.2f}")


def spawn_to_initialize(
    command: list[str], env: dict[str, str], runs: int, cwd: str, params: dict | None = None
) -> list[float]:
    """Seconds from spawning ``command`` to the first byte of its answer to ``initialize`` (``params``)."""
    params = params if params is not None else {"processId": None, "capabilities": {}}
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params}).encode()
    frame = b"Content-Length: %d\r\n\r\n" % len(body) + body
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
        )
        process.stdin.write(frame)
        process.stdin.flush()
        process.stdout.readline()
        times.append(time.perf_counter() - started)
        process.kill()
        process.wait()
    return times


async def memory(bench: Bench, files: int, lines: int) -> None:
    client = await bench.ours()
    text = python_file(lines)
    for i in range(files):
        client.open(f"file:///tmp/llm_lsp_bench/mem_{i}.py", text)
    await stdio_floor(client, 1)
    await asyncio.sleep(1.0)  # let the index take the files in
    await stdio_floor(client, 1)
    print(f"resident memory with {files} open {lines}-line files: {rss_mib(client.process.pid):.0f} MiB")
    await client.close()


def huge_shapes() -> dict[str, tuple[str, str]]:
    """Issue 17's documents: (language id, text) with the cursor at the very end."""
    bundle = "".join(f"function f{i}(a,b){{return a+b*{i}}};var v{i}=f{i}(1,2);" for i in range(80_000))
    bundle = bundle[: 4 * 1024 * 1024]
    literal = 'DATA = "' + ("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo" * 2000)[:60_000] + '"\nvalue = DATA'
    generated = "".join(f"ROW_{i} = {i * 7}\n" for i in range(200_000)) + "total = ROW_1"
    return {
        "4 MB single-line bundle (.js)": ("javascript", bundle),
        "60k-char literal line (.py)": ("python", literal),
        "200k-line generated file (.py)": ("python", generated),
    }


async def huge(bench: Bench, tries: int = 3) -> None:
    """Open each shape, then explicit completions near its end with a small file's request sent meanwhile.

    Each try asks at a different column (the suggestion cache would answer a repeat at once).
    """
    print("huge documents, instant model; a small file's request is sent 5 ms after the big one:")
    small_uri = "file:///tmp/llm_lsp_bench/small.py"
    client = await bench.ours()
    client.open(small_uri, python_file(50))
    await client.inline_nowait(small_uri, 10, 4)
    profiler = bench.start_profiler(client) if bench.only == "huge" else None
    for name, (language, text) in huge_shapes().items():
        ext = ".js" if language == "javascript" else ".py"
        uri = f"file:///tmp/llm_lsp_bench/huge_{len(text)}{ext}"
        started = time.perf_counter()
        client.open(uri, text, language)
        await stdio_floor(client, 1)
        opened = (time.perf_counter() - started) * 1000
        last = text.count("\n")
        column = len(text) - (text.rfind("\n") + 1)
        figures = []
        for k in range(tries):
            started = time.perf_counter()
            big = client.inline_nowait(uri, last, column - 3 * k)
            await asyncio.sleep(0.005)  # the big request is being served when the small one arrives
            small_sent = time.perf_counter()
            await client.inline_nowait(small_uri, 10 + k, 4)
            small_ms = (time.perf_counter() - small_sent) * 1000
            await big
            figures.append(((time.perf_counter() - started) * 1000, small_ms))
        shown = ", ".join(f"{a:.0f}/{b:.0f}" for a, b in figures)
        print(f"  {name:<32} didOpen+sync {opened:5.0f} ms; answer/small-file wait ms: {shown}")
    print("  (issue 17 targets: answer <= 300 ms, small file waits <= 100 ms)")
    if profiler is not None:
        profiler.send_signal(signal.SIGINT)
        profiler.wait()
    await client.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--startups", type=int, default=5)
    parser.add_argument("--source", type=Path, default=ROOT, help="checkout whose lsp_server to run")
    parser.add_argument("--only", choices=("overhead", "keys", "start", "memory", "huge"))
    parser.add_argument("--profile", help="record the overhead run with py-spy (raw format) to this file")
    options = parser.parse_args()
    model = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "instant_model.py"), "--chunks", "4"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    bench = Bench(options.source.resolve(), model.stdout.readline().strip(), options.profile)
    bench.only = options.only
    print(f"server source: {bench.source}")
    try:
        if options.only in (None, "overhead"):
            await overhead(bench, options.requests)
        if options.only in (None, "keys"):
            await keystrokes(bench, (1_000, 10_000), 300)
        if options.only in (None, "start"):
            env = bench.env()
            source = str(bench.source)
            starts = spawn_to_initialize([sys.executable, "-m", "lsp_server"], env, options.startups, source)
            bare = spawn_to_initialize([sys.executable, "-c", BARE_PYGLS], env, options.startups, source)
            print(
                f"spawn -> initialize answered: median {statistics.median(starts) * 1000:.0f} ms "
                f"(bare pygls server: {statistics.median(bare) * 1000:.0f} ms; difference "
                f"{(statistics.median(starts) - statistics.median(bare)) * 1000:+.0f} ms) "
                f"over {options.startups} starts"
            )
        if options.only in (None, "memory"):
            await memory(bench, 100, 500)
        if options.only in (None, "huge"):
            await huge(bench)
    finally:
        model.terminate()
        model.wait()


if __name__ == "__main__":
    asyncio.run(main())
