"""A big workspace, cold and warm: start-up, completions while indexing, cross-file context, memory.

Issue 26's bench. The workspace is CPython's standard library of the Python that runs the bench
(``sysconfig.get_paths()["stdlib"]``, tests included: about 1,800 files, 31 MB), opened as the root
folder by the real ``llm-lsp`` process over stdio (a raw asyncio client, ``bench/lspclient.py``). The
model is the test fake (``tests/fake_openai.py``, keep-alive, answering at once) in this process: it
records every prompt, which is how "cross-file context is ready" is read (the prompt holds the
definition of a class from another file).

Every server runs from bytecode compiled before the first spawn into a prefix of the run's own, as an
installed server does (pip compiles at install), whatever ``PYTHONDONTWRITEBYTECODE`` says: compiling
the checkout's modules at each start added about 0.1 s to the first request.

Each ``--source`` checkout (default: this one) is run twice with one fresh ``XDG_CACHE_HOME``:
``cold`` (empty cache) and ``warm`` (a second launch on the same unchanged files). Per run it prints:

- initialize: spawn -> ``initialize`` answered with the stdlib as root, against a bare pygls server
  and against this server on an empty folder (``--startups`` spawns each, medians);
- first completion: the probe file is opened right after ``initialized`` and a completion asked at
  once (the cursor after ``runner.TextTestRunner(`` typed at the end of ``unittest/main.py``);
- completions during and after indexing: an explicit request every ``--interval`` s, each after a
  keystroke (a new version, so the suggestion cache cannot answer), round trips p50/p90/max;
- cross-file ready: the first of those whose prompt holds ``class TextTestRunner`` (defined in
  ``unittest/runner.py``, late in the walk), seconds after spawn;
- indexing ends: the ``$/progress`` end of the indexing report, seconds after spawn;
- the loop: a cheap request (an unopened document) every 20 ms; the worst round trip while
  indexing, against the p50 of the same pings once idle. These wait for whatever a completion waits
  for (the Session, the settings), so beside them a bare probe every 20 ms, a request of a method the
  server does not have, which pygls answers from the event loop alone: its worst round trip is how
  long the loop was held;
- RSS sampled every 50 ms (peak, at cross-file ready, at the end) and the kernel's VmHWM, measured
  after a pause in typing (1.5 s, then until the server runs no background task), in which a server
  that sent its first requests without the model SDK loads it;
- the one-time imports a first request needs after ``initialize`` (session, offline engine, secret
  scanner, openai SDK), timed one after the other in a fresh interpreter: the floor under a first
  completion;
- the first ``didOpen`` of a 200,000-line file: its round trip with a ping sent right behind it,
  against the ping alone.

Prints what it measured; asserts nothing. Usage:

    python bench/big_workspace.py [--source CHECKOUT ...] [--root DIR] [--startups 5] [--offline]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from statistics import median
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tests")]

from fake_openai import FakeOpenAI, Reply  # noqa: E402
from lspclient import LspProcess  # noqa: E402
from server import spawn_to_initialize  # noqa: E402

BARE_PYGLS = "from pygls.lsp.server import LanguageServer\nLanguageServer('bare', '0').start_io()\n"
PROBE_FILE = "unittest/main.py"
PROBE_LINE = "result = runner.TextTestRunner("  # ``from . import loader, runner`` at the top of the file
PROBE_MARK = "class TextTestRunner"  # the definition's header, in unittest/runner.py
HUGE_LINES = 200_000
PING_URI = "file:///llm-lsp-bench/not-open.py"


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def spread(ms: list[float]) -> str:
    if not ms:
        return "n=0"
    p50, p90 = percentile(ms, 0.5), percentile(ms, 0.9)
    return f"p50 {p50:6.1f}  p90 {p90:6.1f}  max {max(ms):6.1f} ms  (n={len(ms)})"


def initialize_params(root: Path | None) -> dict[str, Any]:
    capabilities = {
        "general": {"positionEncodings": ["utf-16"]},
        "window": {"workDoneProgress": True},
        "workspace": {"configuration": True, "didChangeWatchedFiles": {"dynamicRegistration": False}},
        "textDocument": {"inlineCompletion": {}, "synchronization": {"didSave": True}},
    }
    params: dict[str, Any] = {"processId": None, "capabilities": capabilities, "rootUri": None}
    if root is not None:
        params["rootUri"] = root.as_uri()
        params["workspaceFolders"] = [{"uri": root.as_uri(), "name": root.name}]
    return params


class Run:
    """One launch of the server on the workspace, and what it measured."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.figures: dict[str, Any] = {}

    def __setitem__(self, key: str, value: Any) -> None:
        self.figures[key] = value

    def get(self, key: str) -> Any:
        return self.figures.get(key)


async def launch(
    source: Path, root: Path, env: dict[str, str], fake: FakeOpenAI, label: str, interval: float
) -> Run:
    run = Run(label)
    probe_path = root / PROBE_FILE
    probe_text = probe_path.read_text()
    if not probe_text.endswith("\n"):
        probe_text += "\n"
    probe_text += PROBE_LINE
    probe_uri = probe_path.as_uri()
    probe_line = probe_text.count("\n")
    probe_col = len(PROBE_LINE)
    log_file = Path(env["XDG_STATE_HOME"]) / f"server-{label}.log"
    command = [sys.executable, "-m", "lsp_server", "--log-file", str(log_file), "--log-level", "info"]
    spawned = time.perf_counter()
    client = await LspProcess.start(command, env, cwd=str(source))
    pid = client.process.pid
    samples: list[tuple[float, float]] = []
    stop = asyncio.Event()

    async def sample_rss() -> None:
        while not stop.is_set():
            samples.append((time.perf_counter() - spawned, rss_mib(pid)))
            await asyncio.sleep(0.05)

    pings: list[tuple[float, float]] = []  # (sent after spawn, round trip ms)

    async def ping() -> None:
        while not stop.is_set():
            sent = time.perf_counter()
            await client.request("textDocument/inlineCompletion", _inline_params(PING_URI, 0, 0))
            pings.append((sent - spawned, (time.perf_counter() - sent) * 1000))
            await asyncio.sleep(0.02)

    probes: list[tuple[float, float]] = []  # the bare probe: (sent after spawn, round trip ms)

    async def probe() -> None:
        while not stop.is_set():
            sent = time.perf_counter()
            await client.request("llm-lsp/loopProbe", {})  # no such method: answered by the loop alone
            probes.append((sent - spawned, (time.perf_counter() - sent) * 1000))
            await asyncio.sleep(0.02)

    sampler = asyncio.ensure_future(sample_rss())
    answer = await client.request("initialize", initialize_params(root))
    run["initialize_s"] = time.perf_counter() - spawned
    assert "result" in answer, answer
    client.notify("initialized", {})
    prober = asyncio.ensure_future(probe())
    client.open(probe_uri, probe_text)
    asked = len(fake.requests)
    requested = time.perf_counter()
    pinger = asyncio.ensure_future(ping())  # from the first request on: is the loop held meanwhile?
    first = await client.request(
        "textDocument/inlineCompletion", _inline_params(probe_uri, probe_line, probe_col)
    )
    answered = time.perf_counter()
    run["first_ms"] = (answered - requested) * 1000
    run["first_error"] = first.get("error")
    run["first_cross_file"] = len(fake.requests) > asked and _last_prompt_has(fake, PROBE_MARK)

    during: list[float] = []
    after: list[float] = []
    version = 1
    index_end: float | None = None
    ready: float | None = None
    deadline = time.perf_counter() + 180
    after_target = 30
    while time.perf_counter() < deadline and len(after) < after_target:
        index_end = index_end or _progress_end(client, spawned)
        version += 1
        # A new argument each time: a new version and a prefix the suggestion cache has never seen.
        argument = f"x{version}"
        _replace_line(client, probe_uri, version, probe_line, PROBE_LINE + argument)
        seen = len(fake.requests)
        started = time.perf_counter()
        answer = await client.request(
            "textDocument/inlineCompletion", _inline_params(probe_uri, probe_line, probe_col + len(argument))
        )
        took = (time.perf_counter() - started) * 1000
        if "error" in answer:
            raise RuntimeError(answer["error"])
        (after if index_end is not None else during).append(took)
        if ready is None and len(fake.requests) > seen and _last_prompt_has(fake, PROBE_MARK):
            ready = started - spawned
            run["rss_at_ready"] = rss_mib(pid)
        await asyncio.sleep(interval)
    run["during_ms"] = during
    run["after_ms"] = after
    run["ready_s"] = ready
    run["index_end_s"] = index_end
    index_pings = [ms for at, ms in pings if index_end is not None and at < index_end]
    idle_pings = [ms for at, ms in pings if index_end is not None and at > index_end + 1]
    run["ping_index_max"] = max(index_pings, default=float("nan"))
    run["ping_index_p99"] = percentile(index_pings, 0.99)
    run["ping_idle_p50"] = percentile(idle_pings, 0.5)
    first_pings = [ms for at, ms in pings if at <= answered - spawned]
    run["ping_first_max"] = max(first_pings, default=float("nan"))
    run["probe_first_max"] = max((ms for at, ms in probes if at <= answered - spawned), default=float("nan"))
    index_probes = [ms for at, ms in probes if index_end is not None and at < index_end]
    run["probe_index_max"] = max(index_probes, default=float("nan"))
    run["probe_index_p99"] = percentile(index_probes, 0.99)
    stop.set()
    await pinger
    await prober

    # A pause in typing. A server whose first requests go out without the model SDK loads it once
    # requests pause for a second: the memory below includes what it takes once loaded.
    await asyncio.sleep(1.5)
    for _ in range(100):
        state = await client.request("workspace/executeCommand", {"command": "llm-lsp.debugState"})
        if not (state.get("result") or {}).get("backgroundTasks"):
            break
        await asyncio.sleep(0.1)
    run["rss_peak"] = max(r for _, r in samples)
    run["hwm_workspace"] = rss_mib(pid, "VmHWM")  # the kernel's peak: what 50 ms samples can miss
    split = await client.request(
        "workspace/executeCommand", {"command": "llm-lsp.debugMemory", "arguments": []}
    )
    run["memory_split"] = split.get("result") or split.get("error")
    # The first didOpen of a 200k-line file, with a ping right behind it, against a ping alone.
    huge = "".join(f"ROW_{i} = {i * 7}\n" for i in range(HUGE_LINES))
    alone = []
    for _ in range(5):
        started = time.perf_counter()
        await client.request("textDocument/inlineCompletion", _inline_params(PING_URI, 0, 0))
        alone.append((time.perf_counter() - started) * 1000)
    started = time.perf_counter()
    client.open((root / "llm_lsp_bench_huge.py").as_uri(), huge)
    await client.request("textDocument/inlineCompletion", _inline_params(PING_URI, 0, 0))
    run["huge_open_ms"] = (time.perf_counter() - started) * 1000
    run["huge_ping_ms"] = statistics.median(alone)
    await asyncio.sleep(0.3)
    samples.append((time.perf_counter() - spawned, rss_mib(pid)))
    run["rss_end"] = rss_mib(pid)
    run["rss_hwm"] = rss_mib(pid, "VmHWM")
    await sampler
    await client.close()
    run["slow_steps"] = [line for line in log_file.read_text().splitlines() if "slow step" in line]
    indexed = [line for line in log_file.read_text().splitlines() if "indexed" in line]
    run["index_log"] = indexed[-1].split(" - ")[-1] if indexed else ""
    return run


def _inline_params(uri: str, line: int, character: int) -> dict[str, Any]:
    return {
        "textDocument": {"uri": uri},
        "position": {"line": line, "character": character},
        "context": {"triggerKind": 1},
    }


def _replace_line(client: LspProcess, uri: str, version: int, line: int, text: str) -> None:
    change = {
        "range": {"start": {"line": line, "character": 0}, "end": {"line": line + 1, "character": 0}},
        "text": text,
    }
    client.notify(
        "textDocument/didChange",
        {"textDocument": {"uri": uri, "version": version}, "contentChanges": [change]},
    )


def _last_prompt_has(fake: FakeOpenAI, mark: str) -> bool:
    requests = fake.requests
    return bool(requests) and mark in requests[-1].prompt_text


def _progress_end(client: LspProcess, spawned: float) -> float | None:
    """Seconds after spawn at which the indexing progress report ended, or None while it runs."""
    tokens = set()
    for at, message in client.notifications:
        if message.get("method") != "$/progress":
            continue
        params = message.get("params", {})
        value = params.get("value", {})
        if value.get("kind") == "begin" and "index" in value.get("title", ""):
            tokens.add(params.get("token"))
        elif value.get("kind") == "end" and params.get("token") in tokens:
            return at - spawned
    return None


# What a first request needs that is loaded once, after ``initialize`` (nothing heavy goes before it):
# timed one after the other in a fresh interpreter that has pygls loaded, as the server has then.
ONE_TIME_IMPORTS = """
import json, sys, time
import pygls.lsp.server, lsprotocol.types
steps = {}
t = time.perf_counter(); import lsp_server.app.session; steps["session"] = time.perf_counter() - t
t = time.perf_counter(); import lsp_server.providers.offline; steps["offline"] = time.perf_counter() - t
from lsp_server.privacy import redaction
t = time.perf_counter(); redaction.load_scanner(); steps["secret scanner"] = time.perf_counter() - t
t = time.perf_counter()
import openai
client = openai.AsyncOpenAI(api_key="x", base_url="http://127.0.0.1:9")
_ = (client.completions, client.chat.completions)
steps["openai SDK + client"] = time.perf_counter() - t
t = time.perf_counter(); import lsp_server.providers.sse_request
steps["HTTP before the SDK"] = time.perf_counter() - t
print(json.dumps(steps))
"""


def one_time_imports(env: dict[str, str], cwd: str) -> dict[str, float]:
    """Seconds per one-time import step (``ONE_TIME_IMPORTS``), medians of three fresh interpreters."""
    runs = []
    for _ in range(3):
        done = subprocess.run(
            [sys.executable, "-c", ONE_TIME_IMPORTS],
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        )
        runs.append(json.loads(done.stdout))
    return {step: median(run[step] for run in runs) for step in runs[0]}


def report(source: Path, runs: list[Run], starts: dict[str, float], imports: dict[str, float]) -> None:
    print(f"\n== server source: {source}")
    print(
        f"initialize (spawn -> answer, median): workspace root {starts['root'] * 1000:.0f} ms; "
        f"empty folder {starts['empty'] * 1000:.0f} ms; bare pygls {starts['bare'] * 1000:.0f} ms "
        f"(workspace root - bare {(starts['root'] - starts['bare']) * 1000:+.0f} ms)"
    )
    shown = ", ".join(f"{step} {seconds * 1000:.0f} ms" for step, seconds in imports.items())
    print(f"one-time imports after initialize (sequential, fresh interpreter): {shown}")
    for run in runs:
        f = run.figures
        ready = f"{f['ready_s']:.2f} s" if f["ready_s"] is not None else "never"
        end = f"{f['index_end_s']:.2f} s" if f["index_end_s"] is not None else "not seen"
        print(f"-- {run.label}")
        print(f"  initialize answered              {f['initialize_s'] * 1000:.0f} ms after spawn")
        print(
            f"  first completion (at once)       {f['first_ms']:.0f} ms"
            f"{' error ' + str(f['first_error']) if f['first_error'] else ''}"
            f"{', prompt already cross-file' if f['first_cross_file'] else ''}"
        )
        print(f"  loop: ping during the first      max {f['ping_first_max']:.0f} ms")
        print(f"  loop: bare probe during it       max {f['probe_first_max']:.0f} ms")
        print(f"  completions during indexing      {spread(f['during_ms'])}")
        print(f"  completions after indexing       {spread(f['after_ms'])}")
        print(f"  cross-file context ready         {ready} after spawn")
        print(f"  indexing ended                   {end} after spawn ({f['index_log']})")
        pings = f"max {f['ping_index_max']:.0f} ms, p99 {f['ping_index_p99']:.0f} ms"
        print(f"  loop: ping while indexing        {pings} (idle ping p50 {f['ping_idle_p50']:.1f} ms)")
        probes = f"max {f['probe_index_max']:.0f} ms, p99 {f['probe_index_p99']:.0f} ms"
        print(f"  loop: bare probe while indexing  {probes}")
        rss_ready = f.get("rss_at_ready")
        at_ready = "-" if rss_ready is None else f"{rss_ready:.0f}"
        print(
            f"  RSS (workspace, before the big file) peak {f['rss_peak']:.0f} MiB"
            f" (VmHWM {f['hwm_workspace']:.0f}), at cross-file ready"
            f" {at_ready} MiB; with the 200k-line file open {f['rss_end']:.0f} MiB (VmHWM {f['rss_hwm']:.0f})"
        )
        print(
            f"  didOpen {HUGE_LINES // 1000}k-line file + ping    {f['huge_open_ms']:.0f} ms "
            f"(ping alone {f['huge_ping_ms']:.1f} ms)"
        )
        split = f.get("memory_split")
        if isinstance(split, dict):
            shown = ", ".join(f"{k} {v:.1f}" for k, v in split.items() if isinstance(v, (int, float)))
            print(f"  memory split before the big file (MiB): {shown}")
        for line in f["slow_steps"][:5]:
            print(f"  log: {line}")


async def bench_source(
    source: Path, root: Path, fake: FakeOpenAI, startups: int, interval: float, offline: bool
) -> None:
    work = Path(tempfile.mkdtemp(prefix="llm-lsp-bigws-"))
    try:
        # PYTHONDONTWRITEBYTECODE (set in some shells) would make each server compile every module
        # from source at each start, about 0.1 s that an installed server (pip compiles at install)
        # never pays: the checkout's bytecode goes to a prefix of its own, compiled before any spawn.
        env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "PYTHONDONTWRITEBYTECODE")}
        env |= {
            "PYTHONPATH": str(source),
            "PYTHONPYCACHEPREFIX": str(work / "pycache"),
            **({} if offline else {"OPENAI_BASE_URL": fake.base_url, "LLM_LSP_MODEL": "starcoder2"}),
            "XDG_CONFIG_HOME": str(work / "config"),
            "XDG_CACHE_HOME": str(work / "cache"),
            "XDG_STATE_HOME": str(work / "state"),
            "LLM_LSP_TEST_HOOKS": "1",  # llm-lsp.debugMemory: where the resident memory is
        }
        for name in ("config", "cache", "state"):
            (work / name).mkdir()
        empty = work / "empty"
        empty.mkdir()
        command = [sys.executable, "-m", "lsp_server"]
        cwd = str(source)
        compile_all = "import compileall; compileall.compile_dir('lsp_server', quiet=1)"
        subprocess.run([sys.executable, "-c", compile_all], env=env, cwd=cwd, check=True)
        bare = [sys.executable, "-c", BARE_PYGLS]
        starts = {
            "root": median(spawn_to_initialize(command, env, startups, cwd, initialize_params(root))),
            "empty": median(spawn_to_initialize(command, env, startups, cwd, initialize_params(empty))),
            "bare": median(spawn_to_initialize(bare, env, startups, cwd, initialize_params(root))),
        }
        shutil.rmtree(work / "cache")
        (work / "cache").mkdir()
        imports = one_time_imports(env, cwd)
        runs = [await launch(source, root, env, fake, label, interval) for label in ("cold", "warm")]
        label = source if not offline else Path(f"{source} (no model: the offline engine serves)")
        report(label, runs, starts, imports)
    finally:
        shutil.rmtree(work, ignore_errors=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, action="append", help="checkout whose lsp_server to run")
    parser.add_argument("--root", type=Path, default=Path(sysconfig.get_paths()["stdlib"]))
    parser.add_argument("--startups", type=int, default=5)
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between completions")
    parser.add_argument(
        "--offline",
        action="store_true",
        help="also run each source with no model configured (the offline engine serves; no cross-file mark)",
    )
    options = parser.parse_args()
    sources = [s.resolve() for s in options.source or [ROOT]]
    root = options.root.resolve()
    print(f"workspace: {root}")
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    with FakeOpenAI(default=Reply(text="value + 1"), keep_alive=True) as fake:
        for source in sources:
            await bench_source(source, root, fake, options.startups, options.interval, offline=False)
            if options.offline:
                await bench_source(source, root, fake, options.startups, options.interval, offline=True)


if __name__ == "__main__":
    asyncio.run(main())
