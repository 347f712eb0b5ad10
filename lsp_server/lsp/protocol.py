"""pygls's protocol, adapted: the one module that relies on pygls internals.

The server needs three things pygls offers only privately: answering every request id exactly once
(``_send_handler_result``, ``_execute_handler``, ``_request_futures``, ``_result_types``), skipping
pygls's own copy of each document (the builtin ``lsp_text_document__did_*`` handlers), and choosing
the position encoding. They are isolated here; ``tests/unit/test_pygls_contract.py`` fails loudly
when a pygls release changes one of them, and ``pyproject.toml`` pins pygls to the tested minor range.
Everything else in ``lsp/`` uses pygls's public API.
"""

from __future__ import annotations

import functools
import json
import logging
from typing import Any

import attrs
from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams, JsonRpcInvalidRequest
from pygls.protocol import LanguageServerProtocol, lsp_method
from pygls.protocol.json_rpc import JsonRPCNotification, JsonRPCRequestMessage, JsonRPCResponseMessage

from lsp_server.core import text

log = logging.getLogger(__name__)

# The private pygls members this module relies on (checked by the contract test).
PYGLS_PRIVATE_API = (
    "_execute_handler",
    "_send_handler_result",
    "_run_generator",
    "_handle_cancel_notification",
    "_request_futures",
    "_result_types",
    "_send_data",
    "_send_response",
    "_converter",
    "_shutdown",
    "_server",
)
PYGLS_SERVER_PRIVATE_API = ("_thread_pool",)


class LlmLspProtocol(LanguageServerProtocol):
    """pygls's protocol with our document store, our encoding choice, and every request answered.

    pygls keeps its own copy of every document and re-splits the whole text on each ``didChange``
    (O(file size) per keystroke). Our store (documents.py) is the one source of truth, so the
    builtin open/change/close handlers here skip pygls's copy and only call our handlers.

    pygls 2.1.1 leaves some requests unanswered (FACTS.md): params that fail to structure, requests
    after ``shutdown``. ``receive`` (fed by our own frame reader, see ``read_frames``) validates the
    envelope and answers every request id exactly once: -32700 parse error, -32600 invalid request,
    -32602 invalid params (with a readable message), -32002 before ``initialize``, -32601 unknown
    method, -32603 handler failure, -32800 cancelled, -32801 stale.
    """

    def __init__(self, server: Any, converter: Any) -> None:
        super().__init__(server, converter)
        # Set by ``exit``: the reader loop stops and serve() exits with it (0 after shutdown, else 1).
        self.exit_code: int | None = None
        self.initialize_seen = False
        self.shutdown_requested = False
        # Request id -> method, so a failure is logged once with the method it happened in.
        self._methods: dict[Any, str] = {}
        # Finished handler futures waiting to leave _request_futures (see _forget_future).
        self._finished: list[tuple[Any, Any]] = []

    # receiving: envelope checks, structuring, answering -----------------------------------------

    def receive(self, body: bytes) -> None:
        """Decode one frame's body and dispatch it; never raises, answers every request it can see."""
        try:
            data = json.loads(body.decode("utf-8"))
        except UnicodeDecodeError as exc:
            self._reply_error(None, PARSE_ERROR, f"Parse error: the message is not UTF-8 ({exc.reason})")
            return
        except (ValueError, RecursionError) as exc:
            self._reply_error(None, PARSE_ERROR, f"Parse error: invalid JSON ({exc})")
            return
        if isinstance(data, list):
            # LSP has no batches. Each request inside still gets its own (error) answer.
            ids = [item["id"] for item in data if isinstance(item, dict) and _valid_id(item.get("id"))]
            message = "Invalid request: LSP has no batch messages; send each message in its own frame"
            for msg_id in ids or [None]:
                self._reply_error(msg_id, INVALID_REQUEST, message)
            return
        if not isinstance(data, dict):
            self._reply_error(None, INVALID_REQUEST, "Invalid request: a message must be a JSON object")
            return
        try:
            self._dispatch(data)
        except Exception:  # a bug here must cost one message, never the reader loop
            log.exception("failed to handle a %r message", data.get("method", "response"))
            if _valid_id(data.get("id")) and isinstance(data.get("method"), str):
                self._reply_error(data["id"], INTERNAL_ERROR, "Internal error while dispatching the request")

    def _dispatch(self, data: dict[str, Any]) -> None:
        has_id, msg_id, method = "id" in data, data.get("id"), data.get("method")
        bad_method = "method" in data and not isinstance(method, str)
        if data.get("jsonrpc") != "2.0" or (has_id and not _valid_id(msg_id)) or bad_method:
            reason = "Invalid request: expected jsonrpc '2.0', an integer or string id, a string method"
            if has_id or "method" not in data:
                self._reply_error(msg_id if _valid_id(msg_id) else None, INVALID_REQUEST, reason)
            else:
                log.warning("dropped a malformed notification: %s", reason)
            return
        if method is None and not has_id:
            self._reply_error(None, INVALID_REQUEST, "Invalid request: neither a method nor an id")
            return
        try:
            message = self.structure_message(data)
        except JsonRpcException as exc:
            if method is not None and has_id:
                self._reply_error(msg_id, exc.code, exc.message)
            elif method is None:  # the client's answer to one of our requests: fail the waiting caller
                future = self._request_futures.pop(msg_id, None) if msg_id is not None else None
                if future is not None and not future.done():
                    future.set_exception(exc)
                log.warning("malformed response to request %s: %s", msg_id, exc.message)
            else:
                log.warning("dropped notification %s: %s", method, exc.message)
            return
        if method is not None and has_id and not hasattr(message, "id"):
            self._reply_error(msg_id, INVALID_REQUEST, f"Invalid request: {method} is a notification")
            return
        self.handle_message(message)

    def structure_message(self, data: dict[str, Any]) -> Any:
        """The top-level message as its lsprotocol type; bad params raise a readable -32602.

        pygls's version logs a traceback and raises from inside ``json.loads`` (as an object hook),
        where its reader no longer knows the request id: the request is never answered.
        """
        method = data.get("method")
        if "jsonrpc" not in data:
            return data
        if method is None:
            if "error" in data:
                kind: Any = types.ResponseErrorMessage
            else:
                answered = data.get("id")
                kind = (self._result_types.pop(answered, None) if answered is not None else None) or (
                    JsonRPCResponseMessage
                )
        else:
            kind = self.get_message_type(method)
            if kind is None:
                kind = JsonRPCRequestMessage if "id" in data else JsonRPCNotification
            elif "id" not in data and "id" in attrs.fields_dict(kind):
                raise JsonRpcInvalidRequest(message=f"Invalid request: {method} needs an id")
        try:
            return self._converter.structure(data, kind)
        except Exception as exc:
            raise JsonRpcInvalidParams(message=f"Invalid params for {method}: {_readable(exc)}") from None

    def handle_message(self, message: Any) -> None:
        """pygls's dispatch, except that requests it would silently drop get an error answer."""
        method = getattr(message, "method", None)
        is_request = method is not None and hasattr(message, "id")
        if self._shutdown and method != types.EXIT:
            if is_request:
                self._reply_error(message.id, INVALID_REQUEST, f"{method}: the server is shutting down")
            return
        if not self.initialize_seen and method not in (types.INITIALIZE, types.EXIT, None):
            if is_request:
                self._reply_error(message.id, -32002, f"{method}: the server is not initialized yet")
            return
        if (
            not is_request
            and method is not None
            and method.startswith("$/")
            and method != types.CANCEL_REQUEST
            and method not in self.fm.builtin_features
            and method not in self.fm.features
        ):
            return  # optional protocol notifications ($/setTrace, $/logTrace, ...): ignored silently
        if is_request and (method in self.fm.builtin_features or method in self.fm.features):
            self._methods[message.id] = str(method)
        if is_request and method == types.SHUTDOWN:
            # pygls marks the shutdown only once our async handler is done; an ``exit`` pipelined
            # right behind the request must still count as a clean exit.
            self.shutdown_requested = True
        super().handle_message(message)

    def _reply_error(self, msg_id: Any, code: int, message: str) -> None:
        # Garbage on the wire points at a broken client: worth a warning. The rest is routine.
        level = logging.WARNING if code in (PARSE_ERROR, INVALID_REQUEST) else logging.DEBUG
        log.log(level, "answering %s with error %d: %s", msg_id, code, message)
        self._send_data({"jsonrpc": "2.0", "id": msg_id, "error": {"code": code, "message": message}})

    def _send_handler_result(self, future: Any, *, msg_id: Any) -> None:
        """Answer a finished request: result, -32800 cancelled, its own JSON-RPC error, or -32603.

        Unlike pygls's version: expected errors (stale, cancelled, invalid params) are not logged
        with a traceback, unexpected ones are logged once with the method, and no popup is shown.
        """
        if self._request_futures.get(msg_id) is future:  # a duplicate id must not drop the other one
            del self._request_futures[msg_id]
        method = self._methods.pop(msg_id, "request")
        if future.cancelled():
            self._reply_error(msg_id, -32800, f"{method} {msg_id} was cancelled")
            return
        exc = future.exception()
        if exc is None:
            self._send_response(msg_id, result=future.result())
        elif isinstance(exc, JsonRpcException):
            self._reply_error(msg_id, exc.code, exc.message)
        else:
            log.error("%s (request %s) failed", method, msg_id, exc_info=exc)
            self._reply_error(msg_id, INTERNAL_ERROR, f"{method} failed: {type(exc).__name__}: {exc}")

    def _execute_handler(
        self, msg_id: Any, handler: Any, callback: Any, args: Any = None, kwargs: Any = None
    ) -> None:
        """pygls's, plus: handler futures are forgotten once done, and cancelling reaches delegates.

        pygls forgets a future only when it answers a request with it: builtin generators (didOpen,
        didChange, executeCommand, ...) run under fresh ids whose futures stayed in ``_request_futures``
        forever, one per keystroke. Builtin generators also run the user handler under a fresh id,
        and pygls cancels only the outer future: a cancelled request now cancels the async handler
        (the model stream would run on).
        """
        self._sweep_finished()
        super()._execute_handler(msg_id, handler, callback, args, kwargs)
        stored = self._request_futures.get(msg_id)
        if stored is not None:
            stored.add_done_callback(functools.partial(self._forget_future, msg_id))
        outer = getattr(callback, "keywords", {}).get("result_future")
        if outer is not None and stored is not None and stored is not outer:
            outer.add_done_callback(lambda done: stored.cancel() if done.cancelled() else None)

    def _forget_future(self, msg_id: Any, future: Any) -> None:
        # Not deleted here: a concurrent future runs its callbacks inside cancel(), and pygls's
        # shutdown cancels futures while iterating _request_futures. The next handler sweeps.
        self._finished.append((msg_id, future))

    def _sweep_finished(self) -> None:
        finished, self._finished = self._finished, []
        for msg_id, future in finished:
            if self._request_futures.get(msg_id) is future:  # a duplicate id must not drop the other
                del self._request_futures[msg_id]

    def _run_generator(self, future: Any, *, gen: Any, result_future: Any) -> None:
        # pygls reads a cancelled inner task's result, and the CancelledError escapes as a traceback
        # from an event-loop callback; the request is answered -32800 instead.
        if future is not None and future.cancelled():
            gen.close()
            if not result_future.done():
                result_future.cancel()
            return
        super()._run_generator(future, gen=gen, result_future=result_future)

    def _handle_cancel_notification(self, msg_id: Any) -> None:
        # A cancel that crosses the answer on the wire is normal, not worth a warning. lsprotocol lets
        # any JSON through as the id (found by the frame fuzzer: a dict id raised TypeError here).
        if not _valid_id(msg_id):
            log.warning("ignored $/cancelRequest with an invalid id: %r", msg_id)
            return
        future = self._request_futures.pop(msg_id, None)
        if future is not None:
            future.cancel()

    def shutting_down(self) -> bool:
        """True once ``shutdown`` was requested (exit is then a clean 0)."""
        return bool(self._shutdown or self.shutdown_requested)

    @lsp_method(types.EXIT)
    def lsp_exit(self, *args: Any) -> None:  # type: ignore[override]  # pygls's is a generator
        """Stop the reader loop; serve() then exits 0 after ``shutdown``, 1 without (LSP spec).

        pygls's version calls ``sys.exit`` from inside the handler; its own loop swallows the
        ``SystemExit`` and the process always ends with 0.
        """
        self.exit_code = 0 if self.shutting_down() else 1

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams):  # noqa: D102
        self.initialize_seen = True
        result = yield from super().lsp_initialize(params)
        general = params.capabilities.general
        encoding = text.negotiate(general.position_encodings if general else None)
        result.capabilities.position_encoding = encoding.value
        result.capabilities.experimental = getattr(self._server, "experimental", None) or None
        self._server.encoding = encoding  # type: ignore[attr-defined]  # read by LlmLanguageServer
        return result

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params: types.DidOpenTextDocumentParams):  # noqa: D102
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_OPEN)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams):  # noqa: D102
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CHANGE)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params: types.DidCloseTextDocumentParams):  # noqa: D102
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CLOSE)) is not None:
            yield handler, (params,), None


PARSE_ERROR = -32700
INVALID_REQUEST = -32600
INTERNAL_ERROR = -32603


def _valid_id(value: Any) -> bool:
    """LSP request ids are integers or strings (JSON booleans are not integers here)."""
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def _readable(exc: Exception) -> str:
    """A short human sentence for a structuring failure ("expected int @ $.params.position.line")."""
    import cattrs

    try:
        lines = cattrs.transform_error(exc)
    except Exception:
        lines = [str(exc)]
    shown = "; ".join(lines[:3]) or type(exc).__name__
    return shown if len(lines) <= 3 else f"{shown}; and {len(lines) - 3} more"


def lenient_converter():
    """lsprotocol's converter, tolerant of the inline-completion trigger numbering of older clients.

    vscode-languageclient 9 sends the proposed API's numbering (0 Invoked, 1 Automatic); LSP 3.18
    says 1 Invoked, 2 Automatic. lsprotocol rejects 0 (and pygls then never answered the request).
    Heuristic: 0 only exists in the old numbering, so 0 is Invoked and a session that has sent 0 is
    an old client: from then on its 1 means Automatic. Before any 0, 1 is read as the spec's Invoked
    (an old client's first automatic trigger is then treated as explicit: a harmless difference, it
    only skips the debounce once). Anything else is invalid params (-32602).
    """
    from lsprotocol.converters import get_converter

    converter = get_converter()
    old_numbering = False  # one converter per server process, so per session

    def trigger_kind(value: Any, _type: Any) -> types.InlineCompletionTriggerKind:
        nonlocal old_numbering
        if type(value) is int and value == 0:
            old_numbering = True
            return types.InlineCompletionTriggerKind.Invoked
        if type(value) is int and value == 1:
            if old_numbering:
                return types.InlineCompletionTriggerKind.Automatic
            return types.InlineCompletionTriggerKind.Invoked
        if type(value) is int and value == 2:
            return types.InlineCompletionTriggerKind.Automatic
        raise ValueError(f"triggerKind must be 1 (Invoked) or 2 (Automatic), got {value!r}")

    converter.register_structure_hook(types.InlineCompletionTriggerKind, trigger_kind)
    return converter


def shutdown_thread_pool(server: Any) -> None:
    """Stop pygls's worker threads without waiting (a blocked worker must not hold the exit)."""
    pool = server._thread_pool
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)
