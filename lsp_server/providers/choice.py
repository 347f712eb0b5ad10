"""Which provider serves each job (role), from resolved settings and the servers' model lists.

Owns the rule per role (``completion``, ``actions``, ``nextEdit``): a model the settings name (or
OpenAI's default when only a key is set), else one chosen from the server's ``/models`` list
(``providers.catalog``), else the offline engine. It owns the providers built for the roles
(``ProviderSet``): one per distinct server, key, model and options, so two roles on the same model
share one provider and its connections, and a settings change rebuilds only the roles it affects.
It also owns the sentences that say which model serves which job, or exactly why none does and which
settings would change that: they are built from the settings, so they never ask for one already set.

Must not import the openai SDK itself (``providers.openai`` imports it lazily on first request).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import attrs

from lsp_server.core.settings import ROLES, RoleEndpoint, Settings, user_file_path
from lsp_server.providers.base import Provider
from lsp_server.providers.catalog import Catalog, Listing, choose, server_name, shown_models

# What each role does, as messages name it.
JOBS = {
    "completion": "completions",
    "actions": "fixes, refactors and the other commands",
    "nextEdit": "next edits",
}
# The kind of model to load when a server lists none that suits the role.
WANTED = {"completion": "code", "actions": "chat or instruct", "nextEdit": "chat or instruct"}

# Assignment states: the model is named by the settings (or implied: OpenAI's default), chosen from
# the server's list, not known yet (the list is being asked), none configured (the offline engine
# serves by choice), or none found (the list could not be had, or holds nothing usable).
SET, DISCOVERED, PENDING, UNCONFIGURED, FAILED = "set", "discovered", "pending", "unconfigured", "failed"


@attrs.frozen
class Assignment:
    """Who serves one role now: ``model`` ('' for the offline engine), how it was found, and why.

    ``note`` is the sentence for users: for a discovered model why it was chosen, for the other
    states without a model what happens instead and which settings would change it.
    """

    role: str
    endpoint: RoleEndpoint
    model: str
    state: str
    note: str = ""
    stale: bool = False  # chosen from a list kept from before a settings change: ask it again


def assign(settings: Settings, role: str, catalog: Catalog) -> Assignment:
    """The assignment of ``role`` from ``settings`` and the listings ``catalog`` holds (no I/O)."""
    endpoint = settings.role(role)
    if endpoint.model:
        return Assignment(role, endpoint, endpoint.model, SET)
    if endpoint.offline:
        return Assignment(role, endpoint, "", UNCONFIGURED, unconfigured_message(settings, role))
    listing = catalog.get(endpoint.base_url, endpoint.api_key)
    if listing is None:
        server = server_name(endpoint.base_url)
        note = f"asking {server} which models it serves; the offline engine completes meanwhile"
        return Assignment(role, endpoint, "", PENDING, note)
    stale = not catalog.fresh(endpoint.base_url, endpoint.api_key)
    choice = choose(role, listing.ids) if listing.answered else None
    if choice is None or not choice.model:
        return Assignment(role, endpoint, "", FAILED, failed_message([endpoint], listing), stale)
    return Assignment(role, endpoint, choice.model, DISCOVERED, choice.reason, stale)


# ---------------------------------------------------------------------------------------------------
# Messages: each names only settings that are not set (tests/unit/test_model_messages.py)
# ---------------------------------------------------------------------------------------------------


def _model_keys(endpoints: Sequence[RoleEndpoint]) -> str:
    """How to name a model for these roles; the top-level keys only where they would reach them."""
    own = " or ".join(f"`{e.role}.model`" for e in endpoints)
    if all(e.own_server for e in endpoints):
        return own
    return f"{own} (or `model` / LLM_LSP_MODEL for every job)"


def _jobs(endpoints: Sequence[RoleEndpoint]) -> str:
    return " or ".join(JOBS[e.role] for e in endpoints)


def unconfigured_message(settings: Settings, role: str) -> str:
    """Why the offline engine serves ``role`` when nothing names a model or a server for it."""
    if settings.uses_offline_engine:
        return (
            "No model is configured, so the offline engine serves: it completes from your workspace's own "
            "code, but it is not an LLM and cannot fix, refactor or explain. To use a model, set "
            "OPENAI_BASE_URL (a local server such as Ollama: http://127.0.0.1:11434/v1; a model is then "
            "chosen from its list) or OPENAI_API_KEY (OpenAI), and LLM_LSP_MODEL to name the model; or "
            f"`baseUrl`, `apiKey` and `model` in {user_file_path()}."
        )
    # Other roles have a model, this one has neither a model, a server nor a key (nor the top level).
    return (
        f"No model is configured for {JOBS[role]}. Set `{role}.baseUrl` (a model is then chosen from its "
        f"list) or `{role}.model`, or `baseUrl` / OPENAI_BASE_URL for every job."
    )


def failed_message(endpoints: Sequence[RoleEndpoint], listing: Listing) -> str:
    """Why no model could be chosen from ``listing`` for these roles (all on its server), and the fix."""
    job, server, keys = _jobs(endpoints), listing.server, _model_keys(endpoints)
    if listing.error:
        own = [e for e in endpoints if e.own_server]
        key_setting = f"`{own[0].role}.apiKey`" if own else "`apiKey` / OPENAI_API_KEY"
        key = "accepts the API key" if endpoints[0].api_key else f"needs an API key ({key_setting})"
        return (
            f"Cannot ask {server} which models it serves ({listing.error}), so no model serves {job}. "
            f"Check that the server runs at that address and whether it {key}, or name the model with {keys}."
        )
    if listing.no_list:
        return (
            f"{server} has no model list (GET /models is not found), so no model could be chosen for {job}: "
            f"name one with {keys}."
        )
    if not listing.ids:
        return (
            f"{server} lists no models, so none could be chosen for {job}: load one into the server, or "
            f"name one with {keys}."
        )
    wanted = ", ".join(dict.fromkeys(WANTED[e.role] for e in endpoints))  # "code, chat or instruct"
    return (
        f"{server} lists no model that can serve {job}: it lists {shown_models(listing.ids)} (embedding and "
        f"other non-text models are never used). Load a {wanted} model, or name one with {keys}."
    )


def notes(assignments: Sequence[Assignment], catalog: Catalog) -> list[str]:
    """The sentences for the roles no model serves, once each: roles failing on one server share one."""
    groups: dict[object, list[Assignment]] = {}
    for assignment in assignments:
        if assignment.model:
            continue
        endpoint = assignment.endpoint
        key = (endpoint.base_url, endpoint.api_key) if assignment.state == FAILED else assignment.note
        groups.setdefault(key, []).append(assignment)
    sentences = []
    for group in groups.values():
        first = group[0].endpoint
        listing = catalog.get(first.base_url, first.api_key) if group[0].state == FAILED else None
        if listing is not None and len(group) > 1:
            sentences.append(failed_message([a.endpoint for a in group], listing))
        else:
            sentences.append(group[0].note)
    return sentences


# ---------------------------------------------------------------------------------------------------
# Providers per role
# ---------------------------------------------------------------------------------------------------


def signature(settings: Settings, assignment: Assignment) -> tuple:
    """The settings a role's provider is built from: equal signatures share one provider."""
    endpoint = assignment.endpoint
    return (
        endpoint.base_url,
        endpoint.api_key,
        assignment.model,
        settings.prompt_mode,
        settings.fim_api,
        settings.fim_format,
        settings.connect_timeout_ms,
        settings.completion.max_prompt_chars,
    )


def build(settings: Settings, assignment: Assignment) -> Provider:
    """The OpenAI-compatible provider for an assignment with a model."""
    from lsp_server.providers.openai import OpenAIProvider

    endpoint = assignment.endpoint
    return OpenAIProvider(
        base_url=endpoint.base_url or None,
        api_key=endpoint.api_key or None,
        model=assignment.model,
        prompt_mode=settings.prompt_mode,
        fim_api=settings.fim_api,
        fim_format=settings.fim_format,
        connect_timeout=settings.connect_timeout_ms / 1000,
        max_prompt_chars=settings.completion.max_prompt_chars,
    )


class ProviderSet:
    """The providers serving the roles now, keyed by signature so roles with the same one share it."""

    def __init__(self, offline: Callable[[], Provider], catalog: Catalog | None = None) -> None:
        self.catalog = catalog if catalog is not None else Catalog()
        self._offline = offline
        self._built: dict[tuple, Provider] = {}
        self._serving: dict[str, tuple | None] = {}  # role -> signature in use (None: the offline engine)
        self._pinned: dict[str, Provider] = {}
        # role -> (settings, assignment, provider) of the last call: the same objects again (the
        # Session keeps its assignments) skip building the signature on every request.
        self._last: dict[str, tuple[Settings, Assignment, Provider]] = {}

    def serve(self, settings: Settings, assignment: Assignment) -> tuple[Provider, bool]:
        """The provider for ``assignment``, and whether it differs from the one the role had."""
        role = assignment.role
        if role in self._pinned:
            return self._pinned[role], False
        last = self._last.get(role)
        if last is not None and last[0] is settings and last[1] is assignment:
            return last[2], False
        if not assignment.model:
            key: tuple | None = None
            provider = self._offline()
        else:
            key = signature(settings, assignment)
            provider = self._built.get(key) or self._built.setdefault(key, build(settings, assignment))
        changed = role not in self._serving or self._serving[role] != key
        self._serving[role] = key
        self._last[role] = (settings, assignment, provider)
        return provider, changed

    def current(self, role: str) -> Provider | None:
        """The provider ``role`` was last served by (None: never asked yet)."""
        if role in self._pinned:
            return self._pinned[role]
        if role not in self._serving:
            return None
        key = self._serving[role]
        return self._offline() if key is None else self._built.get(key)

    def retire(self) -> list[Provider]:
        """Forget the built providers no role uses any more; the caller closes them."""
        used = set(self._serving.values())
        return [self._built.pop(key) for key in list(self._built) if key not in used]

    def pin(self, provider: Provider, roles: Iterable[str] = ROLES) -> None:
        """Serve ``roles`` with ``provider`` whatever the settings say (tests, scripted benchmarks)."""
        for role in roles:
            self._pinned[role] = provider

    def distinct(self) -> list[Provider]:
        """Every built provider, once."""
        return list(self._built.values())

    async def aclose(self) -> None:
        """Close every built provider's connections."""
        for provider in self._built.values():
            await provider.aclose()


def label(assignments: Sequence[Assignment]) -> str:
    """The status bar's model label: ``m``, or ``m1 + m2`` when jobs use different models; ``offline``."""
    names = list(dict.fromkeys(a.model or "offline" for a in assignments))
    return " + ".join(names)
