"""A raw-bytes LSP client for robustness tests and the fuzz bench: no pytest-lsp, no pygls.

Owns one ``python -m lsp_server`` subprocess. It writes whatever bytes a test gives it (broken frames
included), parses the server's frames on a reader thread, records every response with its arrival
time (so "answered exactly once, within a bound" can be checked), answers the server's own requests
(configuration, progress, applyEdit, showDocument) like an editor would, and collects stderr.

It must not share code with the server: it is the independent side of the conversation.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SERVER = [sys.executable, "-m", "lsp_server"]


def frame(body: bytes | str | Any) -> bytes:
    """One LSP frame for a body (bytes as is, str as UTF-8, anything else as JSON)."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    elif not isinstance(body, bytes | bytearray):
        body = json.dumps(body).encode("utf-8")
    return b"Content-Length: %d\r\n\r\n" % len(body) + bytes(body)


@dataclass
class Answer:
    """One response as received: the message and when it arrived (``time.monotonic()``)."""

    message: dict[str, Any]
    time: float


@dataclass
class RawClient:
    """The server process and everything it said."""

    env: Mapping[str, str]
    configuration: Any = None
    process: subprocess.Popen = field(init=False)
    answers: dict[Any, list[Answer]] = field(default_factory=lambda: defaultdict(list))
    sent: dict[Any, float] = field(default_factory=dict)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    stderr_lines: list[str] = field(default_factory=list)
    frames_received: int = 0
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _outbox: queue.Queue = field(default_factory=queue.Queue)

    def __post_init__(self) -> None:
        self.process = subprocess.Popen(
            [*SERVER, "--log-level", "warning"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(self.env),
            cwd=ROOT,
        )
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._write_stdin, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    # -- writing -----------------------------------------------------------------------------------

    def write(self, data: bytes, ids: tuple[Any, ...] = ()) -> None:
        """Queue raw bytes for the server's stdin (written in order by the writer thread).

        Never blocks: if the reader thread had to wait for a full stdin pipe to answer a server
        request, it would stop reading stdout, and client and server would wait on each other.
        """
        self._outbox.put((data, ids))

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until everything queued has been written."""
        deadline = time.monotonic() + timeout
        while self._outbox.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.005)

    def _write_stdin(self) -> None:
        stream = self.process.stdin
        assert stream is not None
        while True:
            data, ids = self._outbox.get()
            try:
                for msg_id in ids:  # answer times count from the moment the server could read it
                    self.sent.setdefault(_key(msg_id), time.monotonic())
                with contextlib.suppress(BrokenPipeError, OSError, ValueError):
                    stream.write(data)
                    stream.flush()
            finally:
                self._outbox.task_done()

    def send(self, message: dict[str, Any]) -> None:
        """A JSON message, framed; requests are timed from here."""
        ids = (message["id"],) if "id" in message and "method" in message else ()
        self.write(frame(message), ids)

    def request(self, method: str, params: Any = None, msg_id: Any = None) -> Any:
        """Send a request; returns its id (a fresh integer unless given)."""
        msg_id = next(self._ids) if msg_id is None else msg_id
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)
        return msg_id

    def notify(self, method: str, params: Any = None) -> None:
        """Send a notification."""
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)

    def call(self, method: str, params: Any = None, timeout: float = 10.0) -> dict[str, Any]:
        """A request and its (first) answer."""
        return self.wait_answer(self.request(method, params), timeout)

    def initialize(self, capabilities: dict[str, Any] | None = None, root_uri: str | None = None) -> None:
        """The initialize handshake with editor-like capabilities."""
        caps = capabilities or {
            "general": {"positionEncodings": ["utf-16"]},
            "workspace": {"configuration": True, "applyEdit": True},
            "window": {"workDoneProgress": True, "showDocument": {"support": True}},
            "textDocument": {"inlineCompletion": {}, "completion": {}},
        }
        answer = self.call("initialize", {"processId": None, "rootUri": root_uri, "capabilities": caps})
        assert "result" in answer, answer
        self.notify("initialized", {})

    def shutdown_and_exit(self, timeout: float = 10.0) -> int:
        """``shutdown`` then ``exit``; the process's exit code."""
        self.call("shutdown", timeout=timeout)
        self.notify("exit")
        return self.wait_exit(timeout)

    # -- reading -----------------------------------------------------------------------------------

    def wait_answer(self, msg_id: Any, timeout: float = 10.0) -> dict[str, Any]:
        """The first answer to ``msg_id``; AssertionError after ``timeout``."""
        key = _key(msg_id)
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self.answers.get(key):
                left = deadline - time.monotonic()
                assert left > 0, f"no answer to request {msg_id!r} within {timeout} s"
                self._cond.wait(left)
            return self.answers[key][0].message

    def wait_exit(self, timeout: float = 10.0) -> int:
        """The exit code; AssertionError if the process is still running after ``timeout``."""
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the server did not exit within {timeout} s") from None

    def answer_time(self, msg_id: Any) -> float:
        """Seconds from sending ``msg_id`` to its first answer."""
        key = _key(msg_id)
        return self.answers[key][0].time - self.sent[key]

    def stderr_text(self) -> str:
        """Everything the server wrote to stderr so far."""
        return "".join(self.stderr_lines)

    def close(self) -> None:
        """Kill the process if it is still running (tests end with shutdown/exit when they can)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            with contextlib.suppress(Exception):
                stream.close()  # type: ignore[union-attr]

    def _read_stdout(self) -> None:
        stream = self.process.stdout
        assert stream is not None
        while True:
            length = None
            while True:
                line = stream.readline()
                if not line:
                    return
                if line == b"\r\n":
                    break
                name, _, value = line.decode("ascii").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            assert length is not None, "server frame without Content-Length"
            message = json.loads(stream.read(length))
            self._on_message(message)

    def _on_message(self, message: dict[str, Any]) -> None:
        with self._cond:
            self.frames_received += 1
        if "method" in message and "id" in message:
            self._answer_server_request(message)
        elif "method" in message:
            with self._cond:
                self.notifications.append(message)
        else:
            with self._cond:
                self.answers[_key(message.get("id"))].append(Answer(message, time.monotonic()))
                self._cond.notify_all()

    def _answer_server_request(self, message: dict[str, Any]) -> None:
        method = message["method"]
        result: Any = None
        if method == "workspace/configuration":
            result = [self.configuration for _ in message["params"]["items"]]
        elif method == "workspace/applyEdit":
            result = {"applied": True}
        elif method == "window/showDocument":
            result = {"success": True}
        self.write(frame({"jsonrpc": "2.0", "id": message["id"], "result": result}))

    def _read_stderr(self) -> None:
        stream = self.process.stderr
        assert stream is not None
        for line in iter(stream.readline, b""):
            with self._cond:
                self.stderr_lines.append(line.decode("utf-8", "replace"))


def _key(msg_id: Any) -> Any:
    """A dict key that keeps 1 and "1" apart."""
    return (type(msg_id).__name__, msg_id)


def server_env(base_url: str | None = None, model: str | None = None, **extra: str) -> dict[str, str]:
    """A clean environment: no inherited model settings, an empty config dir, the test hooks on."""
    import tempfile

    model_vars = ("OPENAI_BASE_URL", "OPENAI_API_KEY", "LLM_LSP_MODEL")
    env = {k: v for k, v in os.environ.items() if k not in model_vars}
    env["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="llm-lsp-cfg-")
    env["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="llm-lsp-state-")  # the acceptance figures' file
    env["PYTHONPATH"] = str(ROOT)
    env["LLM_LSP_TEST_HOOKS"] = "1"
    if base_url:
        env["OPENAI_BASE_URL"] = base_url
    if model:
        env["LLM_LSP_MODEL"] = model
    env.update(extra)
    return env
