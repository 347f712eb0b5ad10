"""The byte stream: LSP framing with caps, stdin and TCP, log forwarding, and ``serve``.

pygls's reader trusts the Content-Length it is given (a bogus huge one blocks it forever), skips
frames it cannot parse without telling anyone, and structures params where the request id is no
longer known. This hand-written reader is the small part of the transport we need to own: it caps
the frame size, exits promptly (non-zero, logged) when the byte stream cannot be framed any more,
and hands each intact body to ``LlmLspProtocol.receive``, which answers every request id.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from typing import Any

from lsprotocol import types

from lsp_server import __version__
from lsp_server.core.allocator import tune_allocator
from lsp_server.lsp.protocol import LlmLspProtocol, shutdown_thread_pool
from lsp_server.lsp.server import LlmLanguageServer, server

log = logging.getLogger(__name__)


class ClientLogHandler(logging.Handler):
    """Forwards our log records to the client as ``window/logMessage`` (never to stdout)."""

    LEVELS: dict[int, types.MessageType] = {
        logging.ERROR: types.MessageType.Error,
        logging.WARNING: types.MessageType.Warning,
        logging.INFO: types.MessageType.Info,
        logging.DEBUG: types.MessageType.Log,
    }

    def __init__(self, ls: LlmLanguageServer) -> None:
        super().__init__()
        self.ls = ls
        self._emitting = False

    def emit(self, record: logging.LogRecord) -> None:  # noqa: D102
        if self._emitting or self.ls.protocol.writer is None or getattr(record, "log_file_only", False):
            return
        self._emitting = True  # logging from inside the transport must not recurse
        try:
            kind = self.LEVELS.get(record.levelno, types.MessageType.Log)
            self.ls.window_log_message(types.LogMessageParams(type=kind, message=self.format(record)))
        except Exception:
            pass
        finally:
            self._emitting = False


MAX_CONTENT_LENGTH = 64 * 1024 * 1024  # larger than any sane document; beyond it: a broken client
MAX_HEADER_BYTES = 8 * 1024
READ_CHUNK = 1024 * 1024
EXIT_BROKEN_STREAM = 2  # distinct from 1 (exit without shutdown) so logs and editors can tell them apart


class BrokenStream(Exception):
    """The byte stream cannot be framed any more: the only safe move is to exit (the editor restarts)."""


def _content_length(header: bytes) -> int:
    """The body length announced by a header block; ``BrokenStream`` if missing, malformed or too big."""
    length: int | None = None
    for line in header.split(b"\r\n"):
        name, sep, value = line.partition(b":")
        if not sep:
            raise BrokenStream(f"malformed header line {line[:80]!r}")
        if name.strip().lower() == b"content-length":
            value = value.strip()
            if not value.isdigit():  # ASCII digits only: rejects "-1", "1e3", "0x10", ""
                raise BrokenStream(f"Content-Length is not a non-negative integer: {value[:40]!r}")
            length = int(value)
    if length is None:
        raise BrokenStream("a message header has no Content-Length")
    if length > MAX_CONTENT_LENGTH:
        raise BrokenStream(f"Content-Length {length} exceeds the {MAX_CONTENT_LENGTH}-byte cap")
    return length


async def read_frames(read: Any, protocol: LlmLspProtocol) -> int:
    """Frame and dispatch messages from ``read(n) -> bytes`` until ``exit`` or EOF; the exit code.

    Returns 0 or 1 after ``exit`` (with or without ``shutdown``), the same on EOF, and
    ``EXIT_BROKEN_STREAM`` (after logging why) when the stream cannot be framed.
    """
    buffer = bytearray()
    try:
        while protocol.exit_code is None:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if b"\n\n" in buffer:
                    raise BrokenStream("message headers must end with CRLF CRLF")
                if len(buffer) > MAX_HEADER_BYTES:
                    raise BrokenStream(f"no end of message header within {MAX_HEADER_BYTES} bytes")
                chunk = await read(READ_CHUNK)
                if not chunk:
                    if buffer.strip():
                        raise BrokenStream("the input ended inside a message header")
                    log.info("the client closed the input")
                    return 0 if protocol.shutting_down() else 1
                buffer += chunk
                continue
            length = _content_length(bytes(buffer[:end]))
            del buffer[: end + 4]
            while len(buffer) < length:
                chunk = await read(max(READ_CHUNK, length - len(buffer)))
                if not chunk:
                    raise BrokenStream(f"the input ended inside a message body ({len(buffer)} of {length})")
                buffer += chunk
            body = bytes(buffer[:length])
            del buffer[:length]
            protocol.receive(body)
            await asyncio.sleep(0)  # handlers the message started get a turn before the next message
    except BrokenStream as exc:
        log.error("broken LSP input, exiting so the editor can restart the server: %s", exc)
        return EXIT_BROKEN_STREAM
    return protocol.exit_code


class StdinChunks:
    """Chunks of stdin read by a daemon thread with ``os.read``, handed over through a bounded queue.

    Not pygls's executor reader: a blocked ``sys.stdin.buffer`` read in a pool thread keeps the
    process alive after ``exit`` (pool threads are joined at interpreter exit) and holds the buffer's
    lock (a fatal error at shutdown). ``os.read`` on the raw fd in a daemon thread has neither problem.
    """

    def __init__(self, fd: int, loop: asyncio.AbstractEventLoop) -> None:
        self._fd = fd
        self._loop = loop
        # Bounded: when the loop falls behind, the thread stops reading and the client's writes block.
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=4)
        threading.Thread(target=self._run, name="llm-lsp-stdin", daemon=True).start()

    def _run(self) -> None:
        while True:
            try:
                chunk = os.read(self._fd, READ_CHUNK)
            except OSError as exc:
                log.error("reading stdin failed: %s", exc)
                chunk = b""
            try:
                asyncio.run_coroutine_threadsafe(self._queue.put(chunk), self._loop).result()
            except Exception:  # the loop is gone: the process is exiting
                return
            if not chunk:
                return

    async def read(self, _size: int) -> bytes:
        """The next chunk (b"" at EOF)."""
        return await self._queue.get()


async def _serve_stdio() -> int:
    import sys

    from pygls.io_ import StdoutWriter

    server.protocol.set_writer(StdoutWriter(sys.stdout.buffer))
    chunks = StdinChunks(sys.stdin.fileno(), asyncio.get_running_loop())
    return await read_frames(chunks.read, server.protocol)


async def _serve_tcp(host: str, port: int) -> int:
    """One client connection (like pygls's start_tcp), read with the same capped frame reader."""
    connected: asyncio.Future = asyncio.get_running_loop().create_future()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if connected.done():
            writer.close()
            return
        connected.set_result((reader, writer))

    listener = await asyncio.start_server(on_connect, host, port)
    log.info("serving LSP on %s:%d", host, port)
    reader, writer = await connected
    listener.close()
    server.protocol.set_writer(writer)
    return await read_frames(reader.read, server.protocol)


def serve(tcp: tuple[str, int] | None = None, log_level: str | None = None) -> None:
    """Serve LSP on stdio (or TCP) until the client says exit; a non-zero code leaves as SystemExit."""
    tune_allocator()  # before any thread: see its docstring
    from lsp_server.lsp import actions, handlers, next_edit

    assert handlers and actions and next_edit  # imported for their @server.feature registrations
    if os.environ.get("LLM_LSP_TEST_HOOKS") == "1":
        from lsp_server.lsp import debug

        assert debug
    handler = ClientLogHandler(server)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.getLogger("lsp_server").addHandler(handler)
    server.log_level_override = log_level
    where = f"TCP {tcp[0]}:{tcp[1]}" if tcp is not None else "stdio"
    log.info("llm-lsp %s serving on %s (pid %d)", __version__, where, os.getpid())
    try:
        code = asyncio.run(_serve_tcp(*tcp) if tcp is not None else _serve_stdio())
    except KeyboardInterrupt:
        code = 1
    except BrokenPipeError:
        log.error("the connection to the client is lost")
        code = 1
    finally:
        shutdown_thread_pool(server)
    if code:
        raise SystemExit(code)
