"""The protocol every model provider implements, and the request/answer types it speaks.

Owns ``ModelRequest``, ``Delta`` and ``Provider``. It must not import any SDK: callers (features)
depend on this protocol only, and never know whether the model is remote, local or offline.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Protocol

import attrs

from lsp_server.providers.prompts import ChatPrompt, CompletionPrompt, FimPrompt


@attrs.frozen
class ModelRequest:
    """One question to a model.

    ``deadline`` is a ``time.monotonic()`` instant: the provider gives up (``ProviderTimeout``) when it
    passes, retries never go past it. ``n`` asks for several candidates (index in ``Delta.index``).
    """

    prompt: FimPrompt | ChatPrompt | CompletionPrompt
    deadline: float
    max_tokens: int = 128
    temperature: float = 0.1
    stop: tuple[str, ...] = ()
    n: int = 1
    purpose: str = "completion"  # "completion" (typing), "action" (explicit command), "nextEdit": for logs


@attrs.frozen
class Delta:
    """A piece of streamed answer for candidate ``index``; ``finish_reason`` is set on its last piece.

    ``finish_reason`` is ``"stop"`` for a complete answer, ``"length"`` when cut by max_tokens, and
    ``None`` while streaming. A stream that ends without any finish_reason was cut short.
    """

    text: str
    finish_reason: str | None = None
    index: int = 0


class Provider(Protocol):
    """A source of completions.

    ``stream`` is an async generator: the caller iterates it inside ``contextlib.aclosing`` so that
    cancelling the caller (``$/cancelRequest``, latest-wins) closes the underlying HTTP stream.
    """

    @property
    def description(self) -> str:
        """Human-readable name for status and doctor, e.g. ``openai gpt-4o-mini @ api.openai.com``."""
        ...

    @property
    def is_offline(self) -> bool:
        """True for the embedded engine (no LLM): code actions explain that a model is needed."""
        ...

    @property
    def prompt_mode(self) -> str:
        """``fim`` when the provider fills holes natively, ``chat`` when answers come from a chat model."""
        ...

    def stream(self, request: ModelRequest) -> AsyncGenerator[Delta, None]:
        """Stream the answer. Raises ``ProviderError`` subclasses; never hangs past the deadline."""
        ...

    async def aclose(self) -> None:
        """Release connections; called when settings change or the server exits."""
        ...
