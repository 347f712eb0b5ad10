"""The OpenAI-compatible provider: chat and fill-in-the-middle over the openai SDK.

Owns everything that talks to OpenAI or an OpenAI-compatible server (Ollama, llama.cpp, vLLM,
LM Studio, Mistral, DeepSeek): choosing chat or FIM per model, choosing the FIM wire format per server
(``suffix`` on /v1/completions, a model-specific token frame, llama.cpp ``/infill``, Mistral
``/v1/fim/completions``), editor-grade limits (connect timeout, one deadline for the whole request,
at most one retry, no sleeping on long Retry-After), listing a server's models (``GET /models``, for
``doctor`` and for discovering a model, ``providers.catalog``) and mapping SDK failures to ``errors``.

It is the only module that imports ``openai``, and it does so lazily (the import costs about 0.4 s and
must not delay ``initialize``). Until it has loaded, requests to a plain ``http://`` server go out
without it (``providers.sse_request``), so a suggestion asked for at once does not wait for the
import; the SDK's failures and those are described alike (``WireError``), so retries and messages do
not depend on which sent the request. It must not know about LSP, documents or post-processing: it turns a
``ModelRequest`` into ``Delta``s and nothing else. A stream that ends without a finish_reason (server
dropped the connection, or the connection broke after some text arrived) simply ends: the consumer
sees no finish_reason and must treat the answer as cut short.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sys
import threading
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from lsp_server.core import errors
from lsp_server.providers import prompts
from lsp_server.providers.base import Delta, ModelRequest

if TYPE_CHECKING:
    import openai

    from lsp_server.providers.http_pool import ConnectionPool
    from lsp_server.providers.http_transport import KeepAliveTransport
    from lsp_server.providers.sse_request import WireError

log = logging.getLogger(__name__)

T = TypeVar("T")

PROMPT_MODES = ("auto", "fim", "chat")
# How the SDK reaches the server, through its ``http_client`` hook (bench/http_hop.py measures each):
# "keepalive" (the default) passes an httpx2 client whose ``http://`` requests go through our keep-alive
# transport (providers/http_transport.py) and everything else through httpx2's; "httpx" passes a tuned
# httpx2 client; "sdk" lets the SDK build its default client; "aiohttp" uses the SDK's aiohttp adapter
# (needs the ``aiohttp`` package).
TRANSPORTS = ("keepalive", "httpx", "sdk", "aiohttp")
FIM_APIS = ("auto", "suffix", "tokens", "infill", "mistral")

# Sent when no key is configured: local servers ignore it, and it cannot be mistaken for a real key.
PLACEHOLDER_KEY = "no-key"

_DEFAULT_BASE_URL = "https://api.openai.com/v1"
_CHECK_SECONDS = 5.0
_MESSAGE_LIMIT = 200

# Chat markers win over code markers: "deepseek-coder-instruct" or "qwen2.5-coder:7b-instruct" are
# tuned to follow chat turns, while base code models ("qwen2.5-coder:1.5b", "codestral") know FIM tokens.
_CHAT_MODEL = re.compile(
    r"gpt-|(^|[/:_-])o[134]($|[-:_])|claude|chat|instruct|mistral-(large|medium|small)|gemini|command-r"
)
_CODE_MODEL = re.compile(
    r"starcoder|santacoder|codellama|code-llama|deepseek-coder|qwen[0-9.]*-coder|codeqwen|codestral"
    r"|codegemma|granite[0-9.]*-code|stable-code|refact"
)


def is_chat_model(model: str) -> bool:
    """Whether the name says the model follows chat turns (a chat or instruct model)."""
    return _CHAT_MODEL.search(model.lower()) is not None


def is_code_model(model: str) -> bool:
    """Whether the name belongs to a code model family (base or instruct)."""
    return _CODE_MODEL.search(model.lower()) is not None


def prompt_mode_for(model: str) -> str:
    """``"fim"`` for base code models that know fill-in-the-middle tokens, ``"chat"`` for the rest.

    Unknown names get ``"chat"``: every OpenAI-compatible server speaks chat, while FIM needs a model
    trained for it. Users override with ``promptMode``.
    """
    return "fim" if is_code_model(model) and not is_chat_model(model) else "chat"


async def list_models(
    base_url: str | None, api_key: str | None, connect_timeout: float
) -> tuple[str, ...] | None:
    """The model ids a server lists (``OpenAIProvider.models``), on a client opened and closed for it.

    Called once per server and key by ``providers.catalog``, off the keystroke path; it takes at most
    the connect timeout to fail on a server that is not there, and a few seconds in all.
    """
    lister = OpenAIProvider(base_url=base_url, api_key=api_key, model="", connect_timeout=connect_timeout)
    try:
        await lister.warm_up()  # the SDK's import (about 0.5 s) and the client are built off the event loop
        return await lister.models(time.monotonic() + _CHECK_SECONDS)
    finally:
        await lister.aclose()


def fim_api_for(model: str, base_url: str | None) -> str:
    """The FIM wire format to start with: Mistral's endpoint for Codestral on Mistral, else ``suffix``."""
    host = urlsplit(base_url or _DEFAULT_BASE_URL).hostname or ""
    if "codestral" in model.lower() and host.endswith("mistral.ai"):
        return "mistral"
    return "suffix"


def retry_after_seconds(headers: Any) -> float | None:
    """Seconds a 429 asks us to wait (``retry-after-ms``, ``retry-after`` seconds or HTTP date)."""
    for header, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(header)
        if value is None:
            continue
        try:
            return max(0.0, float(value) / divisor)
        except ValueError:
            import email.utils  # an HTTP date: rare, and 2.5 ms to import that a first request skips

            parsed = email.utils.parsedate_tz(value)
            if parsed is not None:
                return max(0.0, email.utils.mktime_tz(parsed) - time.time())
    return None


class OpenAIProvider:
    """A ``Provider`` backed by an OpenAI-compatible server."""

    def __init__(
        self,
        *,
        base_url: str | None,
        api_key: str | None,
        model: str,
        prompt_mode: str = "auto",
        fim_api: str = "auto",
        fim_format: str = "auto",
        connect_timeout: float = 3.0,
        max_retries: int = 1,
        max_prompt_chars: int = 200_000,
        transport: str = "keepalive",
        direct_until_loaded: bool = True,
    ) -> None:
        """Configure only; the SDK is imported and the client built on first use.

        ``max_prompt_chars`` bounds the text of a FIM prompt (context + prefix + suffix) whatever
        the caller built: the context is cut first, the frame and its tokens never.
        ``direct_until_loaded``: requests made before the SDK has loaded may go without it
        (``_goes_direct``); False makes them wait for it.
        """
        if prompt_mode not in PROMPT_MODES:
            raise ValueError(f"prompt mode must be one of {', '.join(PROMPT_MODES)}, not {prompt_mode!r}")
        if fim_api not in FIM_APIS:
            raise ValueError(f"FIM API must be one of {', '.join(FIM_APIS)}, not {fim_api!r}")
        self._base_url = (base_url or _DEFAULT_BASE_URL).rstrip("/")
        self._api_key = api_key or None
        self._model = model
        self._mode = prompt_mode_for(model) if prompt_mode == "auto" else prompt_mode
        # "auto" starts with suffix and may fall back to tokens once; the outcome is then kept.
        self._fim_api = fim_api_for(model, base_url) if fim_api == "auto" else fim_api
        self._fim_api_settled = fim_api != "auto" or self._fim_api == "mistral"
        self._fim_format = prompts.fim_format_for(model, fim_format)
        self._connect_timeout = min(connect_timeout, 3.0)
        self._max_retries = max(0, max_retries)
        self._max_prompt_chars = max_prompt_chars
        if transport not in TRANSPORTS:
            raise ValueError(f"transport must be one of {', '.join(TRANSPORTS)}, not {transport!r}")
        self._transport = transport
        self._client: openai.AsyncOpenAI | None = None
        # The keep-alive connections, shared by the requests sent before the SDK loaded and (through
        # the transport over them) the SDK's client.
        self._pool: ConnectionPool | None = None
        self._keepalive: KeepAliveTransport | None = None
        self._keepalive_lock = threading.Lock()
        self._direct: bool | None = None if direct_until_loaded else False  # see ``_goes_direct``
        self._client_lock = threading.Lock()
        self._warming: asyncio.Future | None = None  # warm_up's worker thread, shared by its callers
        # Requests started while typing (retries and explicit actions not counted): completions and next
        # edits share one call budget.
        self.calls = 0
        self._host = _host_of(self._base_url)

    # -- Provider protocol -------------------------------------------------------------------------

    @property
    def description(self) -> str:
        """E.g. ``model qwen2.5-coder:1.5b at localhost:11434 (fim)``."""
        return f"model {self._model} at {self._host} ({self._mode})"

    @property
    def is_offline(self) -> bool:
        """Never: this provider needs a model server."""
        return False

    @property
    def prompt_mode(self) -> str:
        """``"fim"`` or ``"chat"``: how FIM prompts are sent to this model."""
        return self._mode

    @property
    def fim_api(self) -> str:
        """The FIM wire format in use (``suffix`` may turn into ``tokens`` after a rejection)."""
        return self._fim_api

    async def stream(self, request: ModelRequest) -> AsyncGenerator[Delta, None]:
        """Stream the answer; see the module docstring for limits, retries and cut streams."""
        if self._client is None and not self._goes_direct():
            await self.warm_up()  # never import the SDK on the loop: a first request waits for it
        self.calls += request.purpose != "action"
        retries_left = self._max_retries
        while True:
            sdk_stream: Any = None
            yielded = False
            deadline = _Deadline(request.deadline, self._host, self._model)
            try:
                sdk_stream, to_deltas = await deadline.read(self._open(request))
                while True:
                    chunk = await deadline.read(_next_or_none(sdk_stream))
                    if chunk is None:
                        return
                    for delta in to_deltas(chunk):
                        yielded = True
                        yield delta
            except errors.ProviderError:
                raise  # the deadline's
            except Exception as exc:
                failure = _failure(exc)
                if failure is None:
                    raise
                if failure.kind == "malformed":
                    # An SSE event that is not JSON: a proxy's HTML page or a truncated event.
                    raise errors.ProviderError(
                        f"{self._host} sent a malformed answer: {self._short(failure)}"
                    ) from None
                if yielded and failure.kind == "connection":
                    # Text already reached the consumer, so a retry would duplicate it: end here, without
                    # a finish_reason, which tells the consumer the answer was cut short.
                    log.info(
                        "stream from %s broke after partial output: %s", self._host, self._short(failure)
                    )
                    return
                delay = None if yielded else self._retry_delay(failure, retries_left, request.deadline)
                if delay is None:
                    raise self._error(failure) from None
                retries_left -= 1
                if sdk_stream is not None:
                    await sdk_stream.close()  # free the connection before waiting
                    sdk_stream = None
                log.info("retrying %s after %.2f s: %s", self._host, delay, self._short(failure))
                await asyncio.sleep(delay)
            finally:
                deadline.cancel()
                if sdk_stream is not None:
                    await sdk_stream.close()

    @property
    def warmed(self) -> bool:
        """Whether a request can go out at once: the SDK's client is built, or ``_goes_direct``."""
        return self._client is not None or self._goes_direct()

    @property
    def sdk_loaded(self) -> bool:
        """Whether the SDK is imported and its client built (``warm_up`` has nothing left to do)."""
        return self._client is not None

    def _goes_direct(self) -> bool:
        """Whether requests go out without the SDK until it has loaded (``providers.sse_request``).

        Only the default keep-alive transport to a plain ``http://`` server with no environment proxy
        (a local model, the usual first try): TLS, proxies and the other transports wait for the SDK.
        """
        if self._direct is None:
            self._direct = (
                self._transport == "keepalive"
                and urlsplit(self._base_url).scheme == "http"
                and not _proxied(self._base_url)
            )
        return self._direct

    async def warm_up(self) -> None:
        """Import the SDK and build the client in a worker thread, off the event loop.

        The first request otherwise pays about 0.5-1 s of imports inside its own deadline; the server
        calls this once after ``initialized`` so the first keystroke does not. Shared: a request
        that comes while it runs waits for the same import (cancelling the request does not stop it).
        """
        if self._client is not None:
            return
        if self._warming is None or self._warming.done():  # done: the client was closed since
            self._warming = asyncio.ensure_future(asyncio.to_thread(self._prepare_client))
        await asyncio.shield(self._warming)

    def _prepare_client(self) -> None:
        client = self._client_()
        # The SDK builds its resource objects (and imports their modules) lazily on first access.
        _ = (client.chat.completions, client.completions, client.models)

    async def aclose(self) -> None:
        """Close the SDK client's connection pool (and the keep-alive transport it shares)."""
        keepalive, self._keepalive = self._keepalive, None
        pool, self._pool = self._pool, None
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()
        if keepalive is not None:
            await keepalive.aclose()  # closing it twice is harmless
        if pool is not None:
            pool.close()

    async def check(self) -> str:
        """Reach the server within a few seconds; a one-line result for ``llm-lsp doctor``."""
        deadline = time.monotonic() + _CHECK_SECONDS
        # Some servers (llama.cpp builds, proxies) have no model list: then just try the model.
        ids = await self.models(deadline) or ()
        if self._model in ids:
            return f"OK: {self.description}; the server lists {len(ids)} model(s) including it"
        await self._one_token(deadline)
        listed = f"; not in the server's list of {len(ids)} model(s)" if ids else ""
        return f"OK: {self.description} answered a 1-token request{listed}"

    async def models(self, deadline: float) -> tuple[str, ...] | None:
        """The ids ``GET {base_url}/models`` lists, in the server's order; None when it has no list.

        A 404 or 405 means no list (some llama.cpp builds, proxies); any other failure raises the same
        short ``ProviderError`` a request would.
        """
        sdk = _sdk()
        timer = _Deadline(deadline, self._host, self._model or "list")
        try:
            page = await timer.read(self._client_().models.list(timeout=self._timeout(deadline)))
            return tuple(str(m.id) for m in page.data if getattr(m, "id", None))
        except sdk.APIStatusError as exc:
            if exc.status_code in (404, 405):
                return None
            raise self._error(_sdk_failure(sdk, exc)) from None
        except sdk.APIError as exc:
            raise self._error(_sdk_failure(sdk, exc)) from None
        finally:
            timer.cancel()

    # -- opening a stream --------------------------------------------------------------------------

    async def _open(self, request: ModelRequest) -> tuple[Any, Callable[[Any], list[Delta]]]:
        """Send the request; return the SDK stream and how to turn its chunks into deltas."""
        prompt = request.prompt
        if isinstance(prompt, prompts.CompletionPrompt):
            # A model's own raw format (Zeta's next-edit prompt): /v1/completions, whatever the mode.
            body = {"model": self._model, "prompt": prompt.text, "stream": True}
            body |= _sampling(request, request.stop)
            return await self._post_stream("completions", body, request.deadline), _completion_deltas
        if isinstance(prompt, prompts.FimPrompt) and self._mode == "fim":
            return await self._open_fim(request, prompt)
        chat = prompt if isinstance(prompt, prompts.ChatPrompt) else prompts.hole_filler(prompt)
        messages = [{"role": m.role, "content": m.content} for m in chat.messages]
        body = {
            "model": self._model,
            "messages": messages,
            "stream": True,
            **_sampling(request, request.stop),
        }
        return await self._post_stream("chat/completions", body, request.deadline), _chat_deltas

    async def _open_fim(
        self, request: ModelRequest, prompt: prompts.FimPrompt
    ) -> tuple[Any, Callable[[Any], list[Delta]]]:
        if self._fim_api_settled:
            return await self._open_fim_with(self._fim_api, request, prompt)
        try:
            opened = await self._open_fim_with("suffix", request, prompt)
        except Exception as exc:
            failure = _failure(exc)
            if failure is None or failure.status not in (400, 422):
                raise
            # vLLM and llama.cpp refuse `suffix` on /v1/completions: build the model's FIM frame
            # ourselves from now on, and retry at once within the same deadline.
            log.info("%s rejected suffix (%s); switching to FIM tokens", self._host, self._short(failure))
            self._fim_api, self._fim_api_settled = "tokens", True
            return await self._open_fim_with("tokens", request, prompt)
        self._fim_api_settled = True
        return opened

    async def _open_fim_with(
        self, api: str, request: ModelRequest, prompt: prompts.FimPrompt
    ) -> tuple[Any, Callable[[Any], list[Delta]]]:
        model, deadline = self._model, request.deadline
        # Cut to the budget before any frame is built around the text, so the frame is never cut.
        prompt = prompts.fit_to_budget(prompt, self._max_prompt_chars)
        if api == "suffix":
            body: dict[str, Any] = {
                "model": model,
                "prompt": prompt.context + prompt.prefix,
                "suffix": prompt.suffix,
            }
            body |= {"stream": True, **_sampling(request, request.stop)}
            return await self._post_stream("completions", body, deadline), _completion_deltas
        if api == "tokens":
            stop = tuple(dict.fromkeys(request.stop + self._fim_format.stop))
            body = {"model": model, "prompt": prompts.render_fim(prompt, self._fim_format), "stream": True}
            body |= _sampling(request, stop)
            return await self._post_stream("completions", body, deadline), _completion_deltas
        if api == "mistral":
            body = _mistral_body(model, request, prompt)
            return await self._post_stream("fim/completions", body, deadline), _chat_deltas
        body = _infill_body(request, prompt)
        return await self._post_stream(self._root_url() + "/infill", body, deadline), _infill_deltas

    async def _post_stream(self, path: str, body: dict[str, Any], deadline: float) -> Any:
        """POST a streaming request through the SDK's generic API; chunks come back as plain dicts.

        Why not ``chat.completions.create`` / ``completions.create``: they build a pydantic model per
        chunk, measured at about 0.5 ms a chunk here (15x the cost of a dict), which adds up on the event
        loop for every keystroke's stream. ``client.post`` sends the same request with the same
        connection pool, auth headers, timeouts, SSE decoding and exception types, and also serves the
        non-standard endpoints (Mistral FIM, llama.cpp /infill) that have no SDK method.
        """
        if self._client is None and self._goes_direct():
            from lsp_server.providers import sse_request

            url = path if "://" in path else f"{self._base_url}/{path}"
            remaining = max(0.01, deadline - time.monotonic())
            return await sse_request.post_stream(
                self._connection_pool(),
                url,
                self._api_key or PLACEHOLDER_KEY,
                body,
                timeout=remaining,
                connect_timeout=min(self._connect_timeout, remaining),
                headers=_sdk_environment_headers(),
            )
        sdk = _sdk()
        return await self._client_().post(
            path,
            cast_to=object,
            body=body,
            options={"timeout": self._timeout(deadline)},
            stream=True,
            stream_cls=sdk.AsyncStream[object],
        )

    async def _one_token(self, deadline: float) -> None:
        probe = prompts.FimPrompt(prefix="def add(a, b):\n    return", suffix="\n")
        request = ModelRequest(prompt=probe, deadline=deadline, max_tokens=1, temperature=0.0)
        async for _ in self.stream(request):
            pass

    # -- limits, retries, errors -------------------------------------------------------------------

    def _client_(self) -> openai.AsyncOpenAI:
        # The lock only matters while warm_up (a worker thread) races a first request on the loop.
        with self._client_lock:
            if self._client is None:
                self._client = self._new_client()
            return self._client

    def _new_client(self) -> openai.AsyncOpenAI:
        sdk = _sdk()
        timeout = sdk.Timeout(30.0, connect=self._connect_timeout)
        return sdk.AsyncOpenAI(
            base_url=self._base_url,
            api_key=self._api_key or PLACEHOLDER_KEY,
            # We retry ourselves (at most once, never past the deadline); the SDK's default of
            # 2 retries honouring Retry-After up to 120 s would freeze ghost text for minutes.
            max_retries=0,
            timeout=timeout,
            http_client=self._http_client(sdk, timeout),
        )

    def _http_client(self, sdk: Any, timeout: Any) -> Any:
        """The HTTP client the SDK sends through (None: the SDK's own default)."""
        if self._transport == "sdk":
            return None
        if self._transport == "aiohttp":
            return sdk.DefaultAioHttpClient(timeout=timeout)
        import httpx2

        # One client for the provider's life: its pool keeps the connection to the model server open
        # between keystrokes (keep-alive longer than a typing pause), so a request never pays a connect.
        limits = httpx2.Limits(max_connections=16, max_keepalive_connections=8, keepalive_expiry=120.0)
        if self._transport == "httpx" or _proxied(self._base_url):
            # httpx2 applies environment proxies only to clients without a transport of their own.
            return sdk.DefaultAsyncHttpxClient(timeout=timeout, limits=limits)
        return sdk.DefaultAsyncHttpxClient(timeout=timeout, transport=self._keepalive_transport())

    def _connection_pool(self) -> ConnectionPool:
        """One keep-alive pool for the provider's life, so a request never pays a connect.

        Built on first use by the first request (which may go out before the SDK has loaded) or by the
        SDK's client, whichever comes first; the connection one opened serves the other.
        """
        # The lock: warm_up's worker thread may build it for the SDK while a request on the loop does.
        with self._keepalive_lock:
            if self._pool is None:
                from lsp_server.providers.http_pool import ConnectionPool

                self._pool = ConnectionPool(keepalive_expiry=120.0)
            return self._pool

    def _keepalive_transport(self) -> KeepAliveTransport:
        """The SDK's transport: ``_connection_pool`` for ``http://``, httpx2's own for the rest."""
        pool = self._connection_pool()
        with self._keepalive_lock:
            if self._keepalive is None:
                import httpx2

                from lsp_server.providers.http_transport import KeepAliveTransport, LazyTransport

                limits = httpx2.Limits(
                    max_connections=16, max_keepalive_connections=8, keepalive_expiry=120.0
                )
                # httpx2's own transport serves the other schemes; building it loads TLS certificates
                # (about 0.1 s), so it is built only when one is asked for.
                fallback = LazyTransport(lambda: httpx2.AsyncHTTPTransport(limits=limits))
                self._keepalive = KeepAliveTransport(fallback, pool)
            return self._keepalive

    def _timeout(self, deadline: float) -> Any:
        """An httpx2 timeout for one attempt: connect <= connect_timeout, everything else <= deadline.

        The deadline is enforced by ``_Deadline`` too; this keeps the SDK from holding a socket open
        longer than the request can use it.
        """
        remaining = max(0.01, deadline - time.monotonic())
        return _sdk().Timeout(remaining, connect=min(self._connect_timeout, remaining))

    def _retry_delay(self, failure: WireError, retries_left: int, deadline: float) -> float | None:
        """Seconds to wait before retrying after ``failure``, or None when it must be raised now."""
        if retries_left <= 0:
            return None
        remaining = deadline - time.monotonic()
        if failure.status == 429:
            wait = retry_after_seconds(failure.headers or {})
            # No Retry-After, or one beyond the deadline: fail fast rather than sleep in vain.
            return wait if wait is not None and wait < remaining else None
        if failure.kind == "connection" or (failure.status or 0) >= 500:
            return 0.0 if remaining > 0 else None
        return None  # timeouts, other statuses, error events

    def _error(self, failure: WireError) -> errors.ProviderError:
        """A short, key-free ``ProviderError`` for a failed request."""
        detail = self._short(failure)
        status = failure.status
        if failure.kind == "timeout":
            model = f" (model {self._model})" if self._model else ""
            return errors.ProviderTimeout(f"{self._host} timed out{model}")
        if failure.kind == "connection":
            return errors.ProviderError(f"cannot reach {self._host}: {detail}")
        if status == 429:
            wait = retry_after_seconds(failure.headers or {})
            after = f", retry after {wait:.0f} s" if wait is not None else ""
            return errors.ProviderRateLimited(f"{self._host} is rate limiting requests (HTTP 429{after})")
        if status == 401:
            return errors.ProviderError(f"{self._host} rejected the API key (HTTP 401): {detail}")
        if status == 404:
            return errors.ModelNotFound(f"{self._host}: model {self._model} or endpoint not found (HTTP 404)")
        if status is not None:
            return errors.ProviderError(f"{self._host} answered HTTP {status}: {detail}")
        return errors.ProviderError(f"{self._host}: {detail}")

    def _short(self, failure: WireError) -> str:
        """One line, at most ~200 characters, with the API key (if any) masked."""
        text = _body_message(failure.body) or failure.message or str(failure)
        text = re.sub(r"^Error code: \d+ - ", "", text)
        text = " ".join(text.split())
        if self._api_key:
            text = text.replace(self._api_key, "***")
        return text if len(text) <= _MESSAGE_LIMIT else text[: _MESSAGE_LIMIT - 1] + "…"

    def _root_url(self) -> str:
        """The server root (llama.cpp's /infill is not under /v1)."""
        return self._base_url[: -len("/v1")] if self._base_url.endswith("/v1") else self._base_url


# -- wire shapes -----------------------------------------------------------------------------------


class _Deadline:
    """A request's deadline over its awaits of the model: one timer for a whole stream, not one per chunk.

    ``asyncio.timeout`` around each chunk cost about 20 us a chunk (a timer handle made and dropped
    every time, 0.3 ms per 16-chunk answer). Like it, the timer cancels the reading task and the
    cancellation becomes ``ProviderTimeout``; unlike a timeout scope, it cancels only while the task
    awaits the model, never while the consumer runs between chunks (the stream is a generator
    running in the consumer's task, so a cancellation then would land in unrelated code): a read
    that starts after the deadline fails at once instead.
    """

    def __init__(self, deadline: float, host: str, model: str) -> None:
        loop = asyncio.get_running_loop()
        self._message = f"{host} did not finish before the deadline (model {model})"
        self._reading: asyncio.Task | None = None
        self._expired = False
        self._timer = loop.call_at(loop.time() + max(0.0, deadline - time.monotonic()), self._expire)

    def _expire(self) -> None:
        self._expired = True
        if self._reading is not None:
            self._reading.cancel()

    async def read(self, awaitable: Awaitable[T]) -> T:
        """``await awaitable`` before the deadline, else ``ProviderTimeout`` (the awaitable cancelled)."""
        if self._expired:
            if asyncio.iscoroutine(awaitable):
                awaitable.close()  # never started: avoid a "never awaited" warning
            raise errors.ProviderTimeout(self._message)
        task = self._reading = asyncio.current_task()
        try:
            return await awaitable
        except asyncio.CancelledError:
            # Ours only if no one else cancelled the task too (uncancel: Python 3.11+).
            if self._expired and (not hasattr(task, "uncancel") or task.uncancel() == 0):
                raise errors.ProviderTimeout(self._message) from None
            raise
        finally:
            self._reading = None

    def cancel(self) -> None:
        """Drop the timer (the attempt is over)."""
        self._timer.cancel()


def _host_of(url: str) -> str:
    """``host[:port]`` for messages: never the scheme, path or any ``user:password@`` in the URL."""
    parts = urlsplit(url)
    if not parts.hostname:
        return "the model server"
    return f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname


def _proxied(url: str) -> bool:
    """Whether an environment proxy (``HTTP_PROXY``, ``ALL_PROXY``, less ``NO_PROXY``) applies to ``url``."""
    # Outside macOS and Windows (whose system settings urllib reads too), proxies come only from
    # ``*_proxy`` variables: with none set, none applies, and a first request need not wait for
    # urllib.request's import (7.5 ms).
    from_environment_only = sys.platform not in ("darwin", "win32")
    if from_environment_only and not any(name.lower().endswith("_proxy") for name in os.environ):
        return False
    import urllib.request

    proxies = urllib.request.getproxies()
    parts = urlsplit(url)
    if parts.scheme not in proxies and "all" not in proxies:
        return False
    return not urllib.request.proxy_bypass(parts.hostname or "")


def _sdk() -> Any:
    """The openai module, imported on first use (about 0.5 s) rather than at server start."""
    import openai

    return openai


def _sdk_environment_headers() -> dict[str, str]:
    """The headers the SDK adds on its own from ``OPENAI_ORG_ID`` and ``OPENAI_PROJECT_ID``.

    A request sent before the SDK has loaded must carry them too, or a proxy that routes on them
    would see two different clients.
    """
    found = {
        "OpenAI-Organization": os.environ.get("OPENAI_ORG_ID"),
        "OpenAI-Project": os.environ.get("OPENAI_PROJECT_ID"),
    }
    return {name: value for name, value in found.items() if value}


def _failure(exc: BaseException) -> WireError | None:
    """``exc`` as a ``WireError`` when it is a request's failure (the SDK's or ``sse_request``'s), else None.

    One description of both, so retries and messages are decided the same way whichever sent the
    request.
    """
    from lsp_server.providers.sse_request import WireError

    if isinstance(exc, WireError):
        return exc
    if isinstance(exc, ValueError):  # the SDK decodes each event as JSON
        return WireError("malformed", str(exc))
    sdk = sys.modules.get("openai")  # an SDK exception implies the SDK is loaded: never import it here
    if sdk is None or not isinstance(exc, sdk.OpenAIError):
        return None
    return _sdk_failure(sdk, exc)


def _sdk_failure(sdk: Any, exc: Exception) -> WireError:
    """An SDK exception as a ``WireError``."""
    from lsp_server.providers.sse_request import WireError

    if isinstance(exc, sdk.APIStatusError):
        return WireError(
            "status", exc.message, status=exc.status_code, headers=exc.response.headers, body=exc.body
        )
    kind = (
        "timeout"
        if isinstance(exc, sdk.APITimeoutError)
        else "connection"
        if isinstance(exc, sdk.APIConnectionError)
        else "event"
    )
    message = getattr(exc, "message", None) or str(exc)
    cause = exc.__cause__
    if message in ("Connection error.", "Request timed out.") and cause is not None and str(cause):
        message = str(cause)
    return WireError(kind, message, body=getattr(exc, "body", None))


async def _next_or_none(stream: Any) -> Any:
    """The next chunk of an SDK stream, or None at its end (an awaitable for ``_Deadline.read``)."""
    try:
        return await stream.__anext__()
    except StopAsyncIteration:
        return None


def _sampling(request: ModelRequest, stop: tuple[str, ...]) -> dict[str, Any]:
    """Parameters shared by chat and completions; optional ones only when set (servers differ)."""
    params: dict[str, Any] = {"max_tokens": request.max_tokens, "temperature": request.temperature}
    if stop:
        params["stop"] = list(stop)
    if request.n > 1:
        params["n"] = request.n
    return params


def _mistral_body(model: str, request: ModelRequest, prompt: prompts.FimPrompt) -> dict[str, Any]:
    body = {"model": model, "prompt": prompt.context + prompt.prefix, "suffix": prompt.suffix, "stream": True}
    return body | _sampling(request, request.stop)


def _infill_body(request: ModelRequest, prompt: prompts.FimPrompt) -> dict[str, Any]:
    # llama.cpp's native parameter names; it builds the model's FIM frame itself. n is not supported.
    body: dict[str, Any] = {
        "input_prefix": prompt.context + prompt.prefix,
        "input_suffix": prompt.suffix,
        "n_predict": request.max_tokens,
        "temperature": request.temperature,
        "stream": True,
    }
    if request.stop:
        body["stop"] = list(request.stop)
    return body


def _chat_deltas(chunk: Any) -> list[Delta]:
    """Deltas of a chat chunk (OpenAI chat and Mistral FIM share this shape)."""
    deltas = []
    for choice in _get(chunk, "choices") or ():
        text = _get(_get(choice, "delta"), "content") or ""
        deltas.append(Delta(text, _get(choice, "finish_reason"), _get(choice, "index") or 0))
    return [d for d in deltas if d.text or d.finish_reason]


def _completion_deltas(chunk: Any) -> list[Delta]:
    deltas = [
        Delta(_get(c, "text") or "", _get(c, "finish_reason"), _get(c, "index") or 0)
        for c in _get(chunk, "choices") or ()
    ]
    return [d for d in deltas if d.text or d.finish_reason]


def _infill_deltas(chunk: Any) -> list[Delta]:
    """llama.cpp: ``{"content": ..., "stop": bool, "stop_type": "eos"|"word"|"limit"}``."""
    finish = None
    if _get(chunk, "stop"):
        finish = "length" if _get(chunk, "stop_type") == "limit" else "stop"
    text = _get(chunk, "content") or ""
    return [Delta(text, finish, 0)] if text or finish else []


def _body_message(body: Any) -> str | None:
    """The human message of an error body: ``{"error": {"message": ...}}``, ``{"message": ...}`` or text."""
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else inner
        return str(message) if message else None
    return body if isinstance(body, str) and body else None


def _get(obj: Any, name: str) -> Any:
    """Key (or attribute) access that tolerates servers omitting fields or sending nulls."""
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)
