"""A model server's catalog: what ``GET /models`` lists, and which listed model suits which job.

Owns model discovery. A job (role) with a base URL and no model name gets one from its server's list:
the list is asked once per server and key and kept (``Catalog``); callers asking at the same time share
one request; a failed ask is tried again only after ``RETRY_AFTER_S``. After a settings change every
listing is asked again (``refresh``) while the kept one goes on serving, so no keystroke falls back to
the offline engine meanwhile; a listing whose chosen model disappeared is dropped (``forget``).
The choice (``choose``) is pure: one usable model is used; among several the completion role prefers
a base code model (fill-in-the-middle), the actions and next-edit roles a chat or instruct model (next
edits: a Zeta model first). Embedding and other non-text models are never chosen.

Must not import the openai SDK (``providers.openai`` does the asking, lazily), know the Session or
the settings' layers: it gets a server, a key and a timeout, and answers with plain values.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from urllib.parse import urlsplit, urlunsplit

import attrs

from lsp_server.core.errors import ProviderError
from lsp_server.providers.openai import is_chat_model, is_code_model, prompt_mode_for

log = logging.getLogger(__name__)

# A failed ask (server down, key rejected) is repeated after this long, so a server started after the
# editor is found without a settings change; a successful one is kept until settings change or its
# chosen model disappears.
RETRY_AFTER_S = 30.0
MAX_SERVERS = 8  # listings kept (a few servers at most: one per role)
SHOWN_MODELS = 12  # model names a message lists before "and N more"

# Models that do not write text: embeddings, rerankers, speech, images, moderation. Never chosen.
_NOT_TEXT = re.compile(
    r"embed|rerank|(^|[/:_.-])(bge|e5|gte|minilm|mpnet|colbert)([/:_.-]|$)|whisper"
    r"|(^|[/:_.-])tts($|[/:_.-])|dall-e|moderation|transcribe|(^|[/:_.-])(gpt-)?image($|[/:_.-])"
    r"|(^|[/:_.-])sora"
)
_ZETA = re.compile(r"zeta")

Lister = Callable[[str | None, str | None, float], Awaitable["tuple[str, ...] | None"]]


def kind_of(model: str) -> str:
    """What a model is, by its name: ``other``, ``code``, ``chat`` or ``general``.

    ``other`` writes no text (embeddings, speech, images: never chosen); ``code`` is a base code model
    (fill-in-the-middle); ``chat`` a chat or instruct model, code or not; ``general`` a name the family
    rules do not know.
    """
    name = model.lower()
    if _NOT_TEXT.search(name):
        return "other"
    if prompt_mode_for(name) == "fim":
        return "code"
    return "chat" if is_chat_model(name) else "general"


def _score(role: str, model: str) -> int:
    """How well ``model`` suits ``role`` (0: never); ties go to the model listed first."""
    kind = kind_of(model)
    if kind == "other":
        return 0
    coder = is_code_model(model)
    if role == "completion":
        return {"code": 4, "chat": 3 if coder else 2, "general": 2}[kind]
    if role == "nextEdit" and _ZETA.search(model.lower()):
        return 5
    return {"chat": 4 if coder else 3, "general": 2, "code": 1}[kind]


_PREFERRED = {
    "completion": "a fill-in-the-middle code model, preferred for completion",
    "actions": "a chat or instruct model, preferred for actions",
    "nextEdit": "a chat or instruct model, preferred for next edits",
}


@attrs.frozen
class Choice:
    """The model chosen for a role from a list ('' when nothing listed suits it), and why."""

    model: str
    reason: str


@functools.lru_cache(maxsize=16)
def choose(role: str, ids: tuple[str, ...]) -> Choice:
    """The listed model that suits ``role`` best; ``Choice("", ...)`` when none can write text.

    Cached: the Session looks its roles up on every request, and a hosted server lists hundreds.
    """
    usable = [m for m in ids if _score(role, m) > 0]
    if not usable:
        return Choice("", "no listed model writes text" if ids else "the server lists no models")
    if len(usable) == 1:
        skipped = " (the others are embedding or other non-text models)" if len(ids) > 1 else ""
        return Choice(usable[0], f"the only usable model listed{skipped}")
    best = max(_score(role, m) for m in usable)
    chosen = next(m for m in usable if _score(role, m) == best)  # the first listed of the best
    if role == "nextEdit" and best == 5:
        return Choice(chosen, "a Zeta model, made for next edits")
    preferred = 4 if role == "completion" else 3
    if best >= preferred:
        return Choice(chosen, _PREFERRED[role])
    wanted = "code" if role == "completion" else "chat or instruct"
    return Choice(chosen, f"no {wanted} model is listed; the first usable one")


def server_name(base_url: str) -> str:
    """The base URL as messages show it: never a ``user:password@`` it may carry."""
    parts = urlsplit(base_url)
    if not parts.hostname:
        return base_url or "the model server"
    netloc = f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def shown_models(ids: Sequence[str]) -> str:
    """``a, b, c`` (at most ``SHOWN_MODELS`` names, then how many more)."""
    names = ", ".join(ids[:SHOWN_MODELS])
    more = len(ids) - SHOWN_MODELS
    return f"{names} and {more} more" if more > 0 else names


@attrs.frozen
class Listing:
    """What one server answered to ``GET /models``.

    ``error``: it could not be asked (unreachable, key rejected, ...), in one short sentence;
    ``no_list``: it has no model list (404, 405); else ``ids`` is the list, in the server's order.
    """

    server: str
    ids: tuple[str, ...] = ()
    error: str = ""
    no_list: bool = False
    at: float = 0.0

    @property
    def answered(self) -> bool:
        """True when the server sent a list (possibly empty)."""
        return not self.error and not self.no_list


async def _ask_with_sdk(
    base_url: str | None, api_key: str | None, connect_timeout: float
) -> tuple[str, ...] | None:
    from lsp_server.providers.openai import list_models

    return await list_models(base_url, api_key, connect_timeout)


class Catalog:
    """The listings of the servers the roles use, keyed by base URL and key; bounded, cleared on demand."""

    def __init__(self, lister: Lister = _ask_with_sdk, clock: Callable[[], float] = time.monotonic) -> None:
        self._lister = lister
        self._clock = clock
        self._listings: dict[tuple[str, str], Listing] = {}
        self._asking: dict[tuple[str, str], asyncio.Future[Listing]] = {}
        # Bumped by refresh(): a listing from an older generation serves until it is asked again.
        self._generation = 0
        self._asked_in: dict[tuple[str, str], int] = {}
        self._changes = 0  # bumped whenever what ``get`` or ``fresh`` answer may change

    def get(self, base_url: str, api_key: str) -> Listing | None:
        """The kept listing; None when the server must be asked (never, forgotten, failed a while ago)."""
        listing = self._listings.get((base_url, api_key))
        if listing is not None and listing.error and self._clock() - listing.at > RETRY_AFTER_S:
            return None
        return listing

    def state(self) -> tuple[int, int, int]:
        """A value that changes whenever an answer of ``get`` or ``fresh`` may: callers cache on it.

        Cheap (no more than a few kept listings are looked at): the Session asks it on every request.
        """
        now = self._clock()
        expired = sum(
            1 for listing in self._listings.values() if listing.error and now - listing.at > RETRY_AFTER_S
        )
        return self._generation, self._changes, expired

    def fresh(self, base_url: str, api_key: str) -> bool:
        """True when the kept listing was asked since the last ``refresh`` (no need to ask again)."""
        return self._asked_in.get((base_url, api_key)) == self._generation

    def listings(self) -> list[Listing]:
        """Every kept listing, oldest first (for ``llm-lsp doctor``)."""
        return list(self._listings.values())

    def asking(self, base_url: str, api_key: str) -> bool:
        """True while a request for this server's list is on its way."""
        return (base_url, api_key) in self._asking

    async def ask(self, base_url: str, api_key: str, connect_timeout: float) -> Listing:
        """The server's listing: kept and fresh, or asked now (one request however many callers wait)."""
        kept = self.get(base_url, api_key)
        if kept is not None and self.fresh(base_url, api_key):
            return kept
        key = (base_url, api_key)
        pending = self._asking.get(key)
        if pending is None:
            pending = self._asking[key] = asyncio.ensure_future(self._ask(key, connect_timeout))
        # shield: one caller cancelled (a keystroke's request) must not cancel the others' answer.
        return await asyncio.shield(pending)

    async def _ask(self, key: tuple[str, str], connect_timeout: float) -> Listing:
        base_url, api_key = key
        generation = self._generation
        server = server_name(base_url)
        try:
            ids = await self._lister(base_url or None, api_key or None, connect_timeout)
        except ProviderError as exc:
            listing = Listing(server, error=str(exc), at=self._clock())
        except (
            Exception
        ) as exc:  # a malformed base URL, an SDK surprise: a bad setting never kills the server
            listing = Listing(server, error=f"{type(exc).__name__}: {exc}", at=self._clock())
        else:
            listing = Listing(server, ids=tuple(ids or ()), no_list=ids is None, at=self._clock())
        finally:
            if self._asking.get(key) is asyncio.current_task():
                del self._asking[key]
        if listing.answered:
            log.info("%s lists %d model(s): %s", server, len(listing.ids), shown_models(listing.ids))
        else:
            log.warning("cannot list the models of %s: %s", server, listing.error or "it has no model list")
        self._listings.pop(key, None)  # re-inserted last: the oldest server goes first when over the bound
        self._listings[key] = listing
        self._asked_in[key] = generation  # asked before a refresh: asked again at the next use
        self._changes += 1
        while len(self._listings) > MAX_SERVERS:
            gone = next(iter(self._listings))
            del self._listings[gone]
            self._asked_in.pop(gone, None)
        return listing

    def forget(self, base_url: str, api_key: str) -> None:
        """Drop one server's listing (its chosen model disappeared): the next use asks again."""
        self._listings.pop((base_url, api_key), None)
        self._asked_in.pop((base_url, api_key), None)
        self._changes += 1

    def refresh(self) -> None:
        """Ask every server again at its next use (the settings changed); kept listings serve meanwhile."""
        self._asking.clear()  # a later ask starts afresh instead of joining one from the old settings
        self._generation += 1
