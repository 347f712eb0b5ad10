"""Soak: a long typing session against the real server; prints memory and request latency over time.

Run: ``/work/venv/bin/python bench/soak.py [--keys 20000] [--warmup 4000] [--every 4] [--files 5]``
(``--scatter --every 1`` for random edits with a completion after each; ``--tracemalloc DIR`` to
compare the server's own allocation snapshots).

The real ``llm-lsp`` process (over stdio, tests/robustness/rawclient.py) indexes a temporary workspace
holding ``--files`` Python documents of ``--lines`` lines, cut from real modules that ship with the venv,
and opens them all. A segment of real code is removed from each, then typed back one character at a time
(Enter is one key that also types the next line's indentation, like editor auto-indent), switching file
every ``--switch`` keys; every ``--every`` keys the editor asks an explicit inline completion and waits
for it. The fake model (tests/fake_openai.py, 127.0.0.1) answers at once with a few lines picked at
random from the corpus, so no two answers are alike. ``--scatter`` types each key at a random place in
the current file instead.

Printed, never asserted: the server's RSS (VmRSS from /proc) after start-up + indexing (taken once the
model SDK's background warm-up has ended, so the level does not swing with it), after one completion in
a scratch document that is then closed (the code a first completion loads: post-processing, the HTTP
path), after opening, every ``--report`` keys, and after closing every document (once the server's idle
reclaim has run); the closed level against both earlier ones; growth per 1,000 keys after the warm-up;
request latency (send -> answer) early (the ``--report`` keys after the warm-up) and late (the last
``--report`` keys); and at each step the server's own split of its memory (``llm-lsp.debugMemory``):
live Python objects, pymalloc arenas and their free room, glibc's heap, modules loaded. The fake
model keeps its connection alive, as hosted APIs and local servers do. With ``--tracemalloc DIR`` the
server runs under tracemalloc and dumps snapshots (SIGUSR1) at start-up, after the scratch completion,
at the end of the warm-up, at the end of typing and after closing; the top sites between them are
printed (pymalloc's split is not available while tracemalloc wraps the allocator).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
sys.path[:0] = [str(TESTS), str(TESTS / "robustness")]

SITE = Path(sys.prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
# Real, long, ASCII modules that ship with the venv; concatenated and cut into documents.
CORPUS = (
    "click/core.py",
    "attr/_make.py",
    "openai/_base_client.py",
    "cattrs/converters.py",
    "click/types.py",
    "anyio/_core/_fileio.py",
    "h11/_connection.py",
    "pygls/protocol/language_server.py",
)


def rss_mib(pid: int) -> float:
    """Resident set size of ``pid`` in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def corpus_lines() -> list[str]:
    """The lines (with endings) of every corpus module that is present and ASCII."""
    lines: list[str] = []
    for name in CORPUS:
        path = SITE / name
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            if text.isascii():
                lines += text.splitlines(keepends=True)
    if not lines:
        raise SystemExit(f"no corpus modules found under {SITE}")
    return lines


def documents(count: int, length: int) -> list[str]:
    """``count`` documents of ``length`` lines cut from the corpus (wrapping round when it runs out)."""
    lines = corpus_lines()
    out = []
    for n in range(count):
        start = (n * length) % len(lines)
        chunk = (
            (lines * 2)[start : start + length]
            if start + length > len(lines)
            else lines[start : start + length]
        )
        out.append("".join(chunk))
    return out


def keystrokes(segment: str) -> list[str]:
    """The keys that type ``segment``: characters, except that Enter also types the next indentation."""
    keys: list[str] = []
    lines = segment.splitlines(keepends=True)
    for i, line in enumerate(lines):
        body = line.rstrip("\n")
        keys += list(body.lstrip(" ") if i else body)  # the indentation came with the Enter before
        if line.endswith("\n"):
            following = lines[i + 1] if i + 1 < len(lines) else ""
            keys.append("\n" + following[: len(following) - len(following.lstrip(" "))])
    return keys


@dataclass
class Doc:
    """One open document as the editor holds it: its lines, the cursor and the keys still to type."""

    uri: str
    lines: list[str]
    cursor: tuple[int, int]
    keys: list[str]
    version: int = 1
    typed: int = 0

    def insert(self, line: int, col: int, text: str) -> tuple[int, int]:
        """Insert ``text`` (no line break, or a line break plus indentation); the new cursor."""
        current = self.lines[line]
        if text.startswith("\n"):
            self.lines[line : line + 1] = [current[:col], text[1:] + current[col:]]
            return line + 1, len(text) - 1
        self.lines[line] = current[:col] + text + current[col:]
        return line, col + len(text)


@dataclass
class Run:
    """What the run measured (RSS in MiB, latency in seconds)."""

    typed: int = 0
    rss: list[tuple[int, float]] = field(default_factory=list)  # (keys typed, RSS)
    latency: list[tuple[int, float]] = field(default_factory=list)  # (keys typed, send -> answer)
    errors: int = 0
    seconds: float = 0.0
    indexed: float = 0.0  # RSS after start-up + indexing (and the SDK's warm-up), no document open yet
    primed: float = 0.0  # RSS after one completion in a scratch document, closed again
    closed: float = 0.0  # RSS after closing every document
    trimmed: float = 0.0  # RSS after one more gc + malloc_trim on the server's main thread
    memory: dict = field(default_factory=dict)  # name -> the server's llm-lsp.debugMemory breakdown
    state: dict = field(default_factory=dict)
    closed_state: dict = field(default_factory=dict)
    exit_code: int | None = None

    def growth(self, warmup: int) -> tuple[int, float, int, float] | None:
        """(keys, RSS) at the first report at or after ``warmup`` and at the last report."""
        after = [(k, m) for k, m in self.rss if k >= warmup]
        if len(after) < 2:
            return None
        return (*after[0], *after[-1])

    def latencies(self, warmup: int, span: int) -> tuple[list[float], list[float]]:
        """Request latencies in the ``span`` keys after the warm-up, and in the last ``span`` keys."""
        early = [t for k, t in self.latency if warmup < k <= warmup + span]
        late = [t for k, t in self.latency if k > self.typed - span]
        return early, late


def answer_with(rng: random.Random, lines: list[str]):
    """A fake-model responder answering 1-4 corpus lines picked at random (answers vary)."""
    from fake_openai import Reply

    def respond(_request) -> Reply:
        start = rng.randrange(len(lines) - 4)
        return Reply(text="".join(lines[start : start + rng.randint(1, 4)]).rstrip("\n"))

    return respond


def wait_indexed(client, timeout: float = 60.0) -> None:
    """Wait for the end of the server's indexing ``$/progress`` (returns at once without roots)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with client._cond:
            for note in client.notifications:
                value = note.get("params", {}).get("value", {})
                if note.get("method") == "$/progress" and value.get("kind") == "end":
                    return
        time.sleep(0.05)
    raise SystemExit("indexing did not finish")


def initialize(client, root_uri: str) -> None:
    """The initialize handshake, with time to spare on a loaded machine (RawClient's waits 10 s)."""
    caps = {
        "general": {"positionEncodings": ["utf-16"]},
        "workspace": {"configuration": True},
        "window": {"workDoneProgress": True},
        "textDocument": {"inlineCompletion": {}, "completion": {}},
    }
    params = {"processId": None, "rootUri": root_uri, "capabilities": caps}
    try:
        answer = client.call("initialize", params, timeout=60)
    except AssertionError:
        raise SystemExit(f"no answer to initialize; server stderr:\n{client.stderr_text()}") from None
    assert "result" in answer, answer
    client.notify("initialized", {})


def wait_settled(client, timeout: float = 60.0) -> None:
    """Wait until the server runs no background task (the model SDK's import and warm-up connection).

    The provider warms up in the background after ``initialized``: measured before it ends, the
    start-up level misses the SDK (10-17 MiB) and swings with the machine's load.
    """
    deadline = time.monotonic() + timeout
    while debug_state(client).get("backgroundTasks", 0) and time.monotonic() < deadline:
        time.sleep(0.05)


def settle(client, uri: str) -> None:
    """Every earlier message handled and the server idle for a moment (the allocator has settled)."""
    probe(client, uri)
    time.sleep(0.3)
    probe(client, uri)


def probe(client, uri: str) -> None:
    """A round trip that the server answers only after every earlier notification was handled."""
    client.call("workspace/executeCommand", {"command": "llm-lsp.debugDocumentText", "arguments": [uri]}, 60)


def prepare(options: argparse.Namespace, workspace: Path) -> list[Doc]:
    """Write the workspace files and return the documents as opened, each with its keys to type."""
    docs: list[Doc] = []
    per_file = -(-options.keys // options.files)
    (workspace / "scratch.py").write_text(SCRATCH)
    for n, text in enumerate(documents(options.files, options.lines)):
        lines = text.split("\n")
        # The segment to type back: whole lines of real code from the first third of the file.
        first = last = len(lines) // 3
        while last < len(lines) and len(keystrokes("\n".join(lines[first:last]) + "\n")) < per_file:
            last += 1
        kept = [*lines[:first], "", *lines[last:]]  # typing starts on an empty line
        path = workspace / f"module_{n}.py"
        path.write_text("\n".join(kept))
        docs.append(Doc(path.as_uri(), kept, (first, 0), keystrokes("\n".join(lines[first:last]) + "\n")))
    return docs


# The primer's document: a first completion loads what only a completion needs (post-processing,
# the HTTP path), so the soak can tell that one-off code from what typing leaves behind.
SCRATCH = (
    'import os\n\n\ndef home() -> str:\n    return os.path.expanduser("~")\n\n\ndef user_dir() -> str:\n    '
)


def prime(client, workspace: Path) -> None:
    """Open the scratch document, ask one completion at its end, close it again."""
    uri = (workspace / "scratch.py").as_uri()
    item = {"uri": uri, "languageId": "python", "version": 1, "text": SCRATCH}
    client.notify("textDocument/didOpen", {"textDocument": item})
    lines = SCRATCH.split("\n")
    position = {"line": len(lines) - 1, "character": len(lines[-1])}
    params = {"textDocument": {"uri": uri}, "position": position, "context": {"triggerKind": 1}}
    answer = client.call("textDocument/inlineCompletion", params, 60)
    assert "result" in answer, answer
    client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    probe(client, uri)
    wait_settled(client)
    settle(client, uri)


def next_key(options: argparse.Namespace, docs: list[Doc], current: int, typed: int) -> int | None:
    """The index of the document the next key goes to (switching every ``--switch`` keys), or None."""
    if docs[current].keys and not (typed and typed % options.switch == 0 and docs[current].typed):
        return current
    for step in range(1, len(docs) + 1):
        candidate = (current + step) % len(docs)
        if docs[candidate].keys:
            return candidate
    return None


def type_key(client, options: argparse.Namespace, doc: Doc, rng: random.Random) -> tuple[int, int]:
    """Send one keystroke as ``didChange``; the cursor after it."""
    key = doc.keys.pop()
    line, col = doc.cursor
    if options.scatter:  # anywhere in the file, keeping the line count steady
        line = rng.randrange(len(doc.lines))
        col = rng.randint(0, len(doc.lines[line]))
        key = " " if key.startswith("\n") else key
    doc.version += 1
    cursor = doc.insert(line, col, key)
    if not options.scatter:
        doc.cursor = cursor
    where = {"line": line, "character": col}
    change = {"range": {"start": where, "end": where}, "text": key}
    client.notify(
        "textDocument/didChange",
        {"textDocument": {"uri": doc.uri, "version": doc.version}, "contentChanges": [change]},
    )
    doc.typed += 1
    return cursor


def soak(options: argparse.Namespace, out=print) -> Run:
    """Run the session; ``out`` gets the progress lines. Returns what was measured."""
    import rawclient
    from fake_openai import FakeOpenAI
    from rawclient import RawClient, server_env

    rng = random.Random(options.seed)
    run = Run()
    workspace = Path(tempfile.mkdtemp(prefix="llm-lsp-soak-"))
    docs = prepare(options, workspace)
    for doc in docs:
        doc.keys.reverse()  # popped from the end
    extra = {}
    if options.tracemalloc:
        Path(options.tracemalloc).mkdir(parents=True, exist_ok=True)
        rawclient.SERVER = [sys.executable, str(Path(__file__).resolve()), "--serve-traced"]
        extra["SOAK_TRACE_DIR"] = str(Path(options.tracemalloc).resolve())
    # Keep-alive, as hosted APIs and local servers answer: a reconnect per request is not the server.
    with FakeOpenAI(
        default=answer_with(random.Random(options.seed + 1), corpus_lines()), keep_alive=True
    ) as fake:
        client = RawClient(server_env(fake.base_url, "soak-model", **extra))
        try:
            pid = client.process.pid
            initialize(client, workspace.as_uri())
            wait_indexed(client)
            wait_settled(client)
            settle(client, docs[0].uri)
            run.indexed = rss_mib(pid)
            run.memory["start-up + indexing"] = debug_memory(client)
            if options.tracemalloc:
                dump(pid, options.tracemalloc, "base")
            prime(client, workspace)
            run.primed = rss_mib(pid)
            run.memory["+ one completion, closed"] = debug_memory(client)
            if options.tracemalloc:
                dump(pid, options.tracemalloc, "primed")
            for doc in docs:
                item = {"uri": doc.uri, "languageId": "python", "version": 1, "text": "\n".join(doc.lines)}
                client.notify("textDocument/didOpen", {"textDocument": item})
            probe(client, docs[-1].uri)
            out(
                f"RSS after start-up + indexing {run.indexed:.1f} MiB; after a first completion in a "
                f"scratch file, closed again {run.primed:.1f} MiB; "
                f"after opening {len(docs)} files {rss_mib(pid):.1f} MiB"
            )
            started = time.monotonic()
            current: int | None = 0
            while run.typed < options.keys:
                current = next_key(options, docs, current, run.typed)
                if current is None:
                    break
                doc = docs[current]
                cursor = type_key(client, options, doc, rng)
                run.typed += 1
                if run.typed % options.every == 0:
                    params = {
                        "textDocument": {"uri": doc.uri},
                        "position": {"line": cursor[0], "character": cursor[1]},
                        "context": {"triggerKind": 1},  # invoked: measures the server, not the debounce
                    }
                    msg_id = client.request("textDocument/inlineCompletion", params)
                    if "error" in client.wait_answer(msg_id, 60):
                        run.errors += 1
                    run.latency.append((run.typed, client.answer_time(msg_id)))
                if run.typed % options.report == 0:
                    probe(client, doc.uri)
                    if options.tracemalloc and run.typed == options.warmup:
                        dump(pid, options.tracemalloc, "warm")
                    run.rss.append((run.typed, rss_mib(pid)))
                    out(
                        f"  {run.typed:6d} keys  RSS {run.rss[-1][1]:6.1f} MiB  "
                        f"({time.monotonic() - started:5.1f} s, {len(fake.requests)} model calls)"
                    )
            run.seconds = time.monotonic() - started
            if options.tracemalloc:
                probe(client, docs[0].uri)
                dump(pid, options.tracemalloc, "late")
            run.state = debug_state(client)
            run.memory["end of typing"] = debug_memory(client)
            for doc in docs:
                client.notify("textDocument/didClose", {"textDocument": {"uri": doc.uri}})
            wait_settled(client)  # the server reclaims and trims in the background once nothing is open
            settle(client, docs[0].uri)
            run.closed = rss_mib(pid)
            run.closed_state = debug_state(client)
            run.memory["all closed"] = debug_memory(client)
            run.trimmed = debug_memory(client, "trim").get("rss", 0.0)  # did the server's own trim run?
            if options.tracemalloc:
                dump(pid, options.tracemalloc, "closed")
            run.exit_code = client.shutdown_and_exit()
        finally:
            client.close()
    return run


def debug_state(client) -> dict:
    """The server's own count of what it holds (test hook ``llm-lsp.debugState``)."""
    answer = client.call("workspace/executeCommand", {"command": "llm-lsp.debugState"}, 60)
    return answer.get("result") or {}


def debug_memory(client, *arguments: str) -> dict:
    """The server's own breakdown of its memory (test hook ``llm-lsp.debugMemory``)."""
    params = {"command": "llm-lsp.debugMemory", "arguments": list(arguments)}
    answer = client.call("workspace/executeCommand", params, 60)
    return answer.get("result") or {}


MEMORY_COLUMNS = (
    ("rss", "RSS"),
    ("rssFile", "file-backed"),
    ("pyUsed", "Python objects"),
    ("pyArenas", "pymalloc arenas (1 MiB)"),
    ("pyFreeBlocks", "pymalloc free blocks"),
    ("pyFreePools", "pymalloc free pools"),
    ("mallocInUse", "malloc in use"),
    ("mallocFree", "malloc free"),
)


def memory_table(run: Run) -> list[str]:
    """The server's memory breakdown at each step, as aligned lines (MiB; modules and objects counted)."""
    names = list(run.memory)
    lines = [f"  {'':26s}" + "".join(f"{name:>26s}" for name in names)]
    for key, title in (*MEMORY_COLUMNS, ("modules", "modules loaded"), ("gcObjects", "gc objects")):
        row = [run.memory[n].get(key) for n in names]
        cells = "".join(f"{v:26.1f}" if isinstance(v, float) else f"{v!s:>26s}" for v in row)
        lines.append(f"  {title:26s}{cells}")
    return lines


def report(options: argparse.Namespace, run: Run) -> None:
    """Print the figures."""
    print(f"{run.typed} keys, {len(run.latency)} completions ({run.errors} errors) in {run.seconds:.1f} s")
    growth = run.growth(options.warmup)
    if growth is not None:
        k0, m0, k1, m1 = growth
        per = (m1 - m0) / max(1, k1 - k0) * 1000
        print(
            f"RSS at warm-up ({k0} keys) {m0:.1f} MiB, at {k1} keys {m1:.1f} MiB: "
            f"{m1 - m0:+.1f} MiB over {k1 - k0} keys ({per:+.2f} MiB per 1,000 keys); "
            f"peak {max(m for _, m in run.rss):.1f} MiB"
        )
    print(
        f"RSS after closing every document {run.closed:.1f} MiB: "
        f"{run.closed - run.indexed:+.1f} MiB vs start-up + indexing, "
        f"{run.closed - run.primed:+.1f} MiB vs start-up + indexing + one completion in a scratch file"
    )
    print(
        f"one more gc + malloc_trim(0) on the server's main thread after that: {run.trimmed:.1f} MiB "
        "(the server's own trim at the last close already ran if this is no lower)"
    )
    if run.memory:
        print("the server's memory (llm-lsp.debugMemory, MiB):")
        for line in memory_table(run):
            print(line)
    print(f"server state at the end of typing: {run.state}")
    print(f"server state after closing: {run.closed_state}")
    early, late = run.latencies(options.warmup, options.report)
    if early and late:
        e, lt = statistics.median(early) * 1000, statistics.median(late) * 1000
        print(
            f"request latency median early {e:.1f} ms (mean {statistics.fmean(early) * 1000:.1f}), "
            f"late {lt:.1f} ms (mean {statistics.fmean(late) * 1000:.1f}): late/early {lt / e:.2f}x"
        )
    print(f"exit code {run.exit_code}")


# -- tracemalloc ------------------------------------------------------------------------------------


def dump(pid: int, directory: str, name: str) -> None:
    """Ask the traced server to write a snapshot ``name`` into ``directory`` and wait for it."""
    target = Path(directory) / f"{name}.snap"
    target.unlink(missing_ok=True)
    (Path(directory) / "next").write_text(name)
    os.kill(pid, signal.SIGUSR1)
    deadline = time.monotonic() + 120
    while not target.exists() and time.monotonic() < deadline:
        time.sleep(0.1)


def compare(directory: str, top: int = 15) -> None:
    """Print the allocation sites that grew most over the typing, and what closing left behind."""
    import tracemalloc

    def load(name: str):
        return tracemalloc.Snapshot.load(str(Path(directory) / f"{name}.snap"))

    for older, newer, title in (
        ("warm", "late", "warm-up -> end of typing"),
        ("base", "closed", "start-up + indexing -> all closed"),
        ("primed", "closed", "one completion in a scratch file, closed -> all closed"),
    ):
        before, after = load(older), load(newer)
        print(f"traced Python memory {title}: {_total(before):.1f} -> {_total(after):.1f} MiB; top sites:")
        for stat in after.compare_to(before, "lineno")[:top]:
            frame = stat.traceback[0]
            where = f"{_short(frame.filename)}:{frame.lineno}"
            print(f"  {stat.size_diff / 2**20:+7.2f} MiB {stat.count_diff:+8d} blocks  {where}")
    print("warm-up -> end of typing, by traceback (top 5):")
    for stat in load("late").compare_to(load("warm"), "traceback")[:5]:
        print(f"  {stat.size_diff / 2**20:+7.2f} MiB")
        for line in stat.traceback.format()[-10:]:
            print("     ", line.strip())


def _total(snapshot) -> float:
    return sum(s.size for s in snapshot.statistics("filename")) / 2**20


def _short(filename: str) -> str:
    if "/lsp_server/" in filename:
        return "lsp_server/" + filename.split("/lsp_server/", 1)[1]
    return filename.split("site-packages/", 1)[-1]


def serve_traced(argv: list[str]) -> int:
    """Run the server; each SIGUSR1 writes a tracemalloc snapshot named by ``$SOAK_TRACE_DIR/next``.

    Tracing starts at the first signal (the end of the warm-up): tracing imports and start-up with deep
    tracebacks takes minutes, and only what is allocated after the warm-up and still alive matters.
    """
    import tracemalloc

    directory = Path(os.environ["SOAK_TRACE_DIR"])

    def on_signal(_signum, _frame) -> None:
        import gc

        gc.collect()
        if not tracemalloc.is_tracing():
            tracemalloc.start(6)
        name = (directory / "next").read_text().strip()
        tmp = directory / f"{name}.tmp"
        tracemalloc.take_snapshot().dump(str(tmp))
        tmp.rename(directory / f"{name}.snap")

    signal.signal(signal.SIGUSR1, on_signal)
    from lsp_server.cli import main as server_main

    return server_main(argv)


def main() -> None:
    if sys.argv[1:2] == ["--serve-traced"]:
        raise SystemExit(serve_traced(sys.argv[2:]))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=20000, help="keystrokes to type (default 20000)")
    parser.add_argument("--warmup", type=int, default=4000, help="keys before growth is measured")
    parser.add_argument("--every", type=int, default=4, help="an inline completion every N keys")
    parser.add_argument("--files", type=int, default=5)
    parser.add_argument("--lines", type=int, default=2000)
    parser.add_argument("--switch", type=int, default=500, help="move to the next file every N keys")
    parser.add_argument("--report", type=int, default=2000, help="print RSS every N keys")
    parser.add_argument("--scatter", action="store_true", help="type each key at a random place")
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--tracemalloc", metavar="DIR", help="trace the server's allocations")
    options = parser.parse_args()
    run = soak(options, out=lambda line: print(line, flush=True))
    report(options, run)
    if options.tracemalloc:
        compare(options.tracemalloc)


if __name__ == "__main__":
    main()
