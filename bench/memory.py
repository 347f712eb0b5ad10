"""Server memory with many open documents (issue 8: memory bounded with many documents).

Run: /work/venv/bin/python bench/memory.py [--files 1000] [--lines 200]

Starts the real server (offline engine, no model), opens ``--files`` Python documents of ``--lines``
lines each over stdio, asks one inline completion (so trees and the offline engine are built), and
prints the server's RSS (VmRSS from /proc) after initialize, after opening all files, after
closing them, and the time the opens took. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path[:0] = [str(TESTS), str(TESTS / "robustness")]

from rawclient import RawClient, server_env  # noqa: E402


def rss_mib(pid: int) -> float:
    """Resident set size of ``pid`` in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def module(n: int, lines: int) -> str:
    """A plausible Python module of ``lines`` lines, different per file."""
    out = [f"import os\n\n\nclass Thing{n}:\n"]
    i = 0
    while len(out) < lines:
        out.append(f"    def method_{n}_{i}(self, value):\n        return value + {i}  # item {i}\n")
        i += 1
    return "".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--lines", type=int, default=200)
    options = parser.parse_args()
    client = RawClient(server_env())
    try:
        client.initialize()
        pid = client.process.pid
        time.sleep(0.5)
        base = rss_mib(pid)
        started = time.monotonic()
        total = 0
        for n in range(options.files):
            text = module(n, options.lines)
            total += len(text)
            item = {
                "uri": f"file:///tmp/llm-lsp-mem/m{n}.py",
                "languageId": "python",
                "version": 1,
                "text": text,
            }
            client.notify("textDocument/didOpen", {"textDocument": item})
        probe = {"command": "llm-lsp.debugDocumentText", "arguments": [f"file:///tmp/llm-lsp-mem/m{n}.py"]}
        assert client.call("workspace/executeCommand", probe, timeout=300).get("result")
        opened = time.monotonic() - started
        position = {"line": 5, "character": 8}
        params = {"textDocument": {"uri": item["uri"]}, "position": position, "context": {"triggerKind": 1}}
        client.call("textDocument/inlineCompletion", params, timeout=60)
        time.sleep(0.5)
        full = rss_mib(pid)
        for n in range(options.files):
            client.notify(
                "textDocument/didClose", {"textDocument": {"uri": f"file:///tmp/llm-lsp-mem/m{n}.py"}}
            )
        client.call("workspace/executeCommand", probe, timeout=300)
        time.sleep(0.5)
        closed = rss_mib(pid)
        print(
            f"{options.files} files x {options.lines} lines ({total / 1e6:.1f} MB of text) "
            f"opened in {opened:.1f} s"
        )
        print(
            f"RSS after initialize {base:.0f} MiB; with all open {full:.0f} MiB (+{full - base:.0f}); ",
            end="",
        )
        print(f"after closing them {closed:.0f} MiB")
        print(f"exit code {client.shutdown_and_exit()}")
    finally:
        client.close()


if __name__ == "__main__":
    main()
