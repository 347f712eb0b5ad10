"""A minimal asyncio LSP client over a subprocess's stdio, for benchmarks that time round trips.

No pytest-lsp and no pygls on the client side: framing and JSON only, so what a benchmark measures is
the server's cost plus the unavoidable pipe and JSON work. Answers the server's own requests the way
an editor would (empty configuration, null for the rest).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any


class LspProcess:
    """One server process and the responses it sent, by request id."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future] = {}
        # Notifications from the server with their arrival time (perf_counter), oldest first.
        self.notifications: list[tuple[float, dict[str, Any]]] = []
        self._reader = asyncio.ensure_future(self._read())

    @classmethod
    async def start(
        cls, command: Sequence[str], env: Mapping[str, str], cwd: str | None = None
    ) -> LspProcess:
        """Spawn ``command``; ``cwd`` matters for ``python -m``, which imports from it first."""
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env=dict(env),
            limit=64 * 1024 * 1024,
            cwd=cwd,
        )
        return cls(process)

    def _write(self, message: dict[str, Any]) -> None:
        body = json.dumps(message).encode()
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))

    def notify(self, method: str, params: Any) -> None:
        self._write({"jsonrpc": "2.0", "method": method, "params": params})

    def request_nowait(self, method: str, params: Any) -> asyncio.Future:
        msg_id = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._waiting[msg_id] = future
        self._write({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        return future

    async def request(self, method: str, params: Any) -> Any:
        return await self.request_nowait(method, params)

    async def initialize(self, options: Any = None) -> Any:
        capabilities = {
            "general": {"positionEncodings": ["utf-16"]},
            "workspace": {"configuration": True},
            "textDocument": {"inlineCompletion": {}, "synchronization": {}},
        }
        params = {"processId": None, "rootUri": None, "capabilities": capabilities}
        if options is not None:
            params["initializationOptions"] = options
        result = await self.request("initialize", params)
        self.notify("initialized", {})
        return result

    def open(self, uri: str, text: str, language_id: str = "python", version: int = 1) -> None:
        item = {"uri": uri, "languageId": language_id, "version": version, "text": text}
        self.notify("textDocument/didOpen", {"textDocument": item})

    def insert(self, uri: str, version: int, line: int, character: int, text: str) -> None:
        position = {"line": line, "character": character}
        change = {"range": {"start": position, "end": position}, "text": text}
        self.notify(
            "textDocument/didChange",
            {"textDocument": {"uri": uri, "version": version}, "contentChanges": [change]},
        )

    def inline_nowait(self, uri: str, line: int, character: int, explicit: bool = True) -> asyncio.Future:
        params = {
            "textDocument": {"uri": uri},
            "position": {"line": line, "character": character},
            "context": {"triggerKind": 1 if explicit else 2},
        }
        return self.request_nowait("textDocument/inlineCompletion", params)

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self.request("shutdown", None), 5)
            self.notify("exit", None)
            await asyncio.wait_for(self.process.wait(), 5)
        except (asyncio.TimeoutError, ConnectionError):
            self.process.kill()
            await self.process.wait()
        self._reader.cancel()

    async def _read(self) -> None:
        stdout = self.process.stdout
        while True:
            length = 0
            while True:
                line = await stdout.readline()
                if not line:
                    return
                if line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.decode("ascii").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            message = json.loads(await stdout.readexactly(length))
            if "method" in message and "id" in message:
                result: Any = None
                if message["method"] == "workspace/configuration":
                    result = [{} for _ in message["params"]["items"]]
                self._write({"jsonrpc": "2.0", "id": message["id"], "result": result})
            elif "method" in message:
                self.notifications.append((time.perf_counter(), message))
            elif "id" in message:
                future = self._waiting.pop(message["id"], None)
                if future is not None and not future.done():
                    future.set_result(message)
