"""Every message about which model serves, against the settings that produce it.

Each row: the settings (environment, user file), what the server's /models answered, the job, and what
the message must name and must not. On top of the rows' own lists, no message may ask the user to set
something the row already set (``test_no_message_asks_to_set_what_is_set``).
"""

from __future__ import annotations

import re

import attrs
import pytest

from lsp_server.app.session import Session
from lsp_server.core import settings as config
from lsp_server.core.errors import ModelNotConfigured, ProviderError
from lsp_server.engine import rewrite
from lsp_server.providers import choice
from lsp_server.providers.catalog import Catalog

URL = "http://127.0.0.1:11434/v1"
LOCAL = "http://127.0.0.1:8080/v1"
HOSTED_KEY = "sk-hosted-0123456789"
UNREACHABLE = ProviderError("cannot reach 127.0.0.1:11434: [Errno 111] Connect call failed")


@attrs.frozen
class Row:
    name: str
    role: str
    environ: dict = attrs.field(factory=dict)
    user_file: dict = attrs.field(factory=dict)
    listed: object = ()  # ids, None (no /models), or an exception; unused when nothing is asked
    names: tuple[str, ...] = ()
    never: tuple[str, ...] = ()
    state: str = choice.FAILED


ROWS = (
    Row(
        "nothing configured",
        "completion",
        names=("not an LLM", "OPENAI_BASE_URL", "OPENAI_API_KEY", "LLM_LSP_MODEL", "config.toml"),
        never=("Cannot ask", "lists"),
        state=choice.UNCONFIGURED,
    ),
    Row(
        "nothing configured, actions",
        "actions",
        names=("cannot fix, refactor or explain", "OPENAI_BASE_URL", "LLM_LSP_MODEL"),
        state=choice.UNCONFIGURED,
    ),
    Row(
        "base URL, server down, no key",
        "completion",
        {"OPENAI_BASE_URL": URL},
        listed=UNREACHABLE,
        names=(
            URL,
            "Connect call failed",
            "needs an API key (`apiKey` / OPENAI_API_KEY)",
            "`completion.model`",
        ),
        never=("only the offline engine is configured", "No model is configured", "OPENAI_BASE_URL"),
    ),
    Row(
        "base URL and key, server down",
        "actions",
        {"OPENAI_BASE_URL": URL, "OPENAI_API_KEY": HOSTED_KEY},
        listed=UNREACHABLE,
        names=("accepts the API key", "`actions.model`", "LLM_LSP_MODEL"),
        never=("OPENAI_API_KEY", "needs an API key", HOSTED_KEY, "OPENAI_BASE_URL"),
    ),
    Row(
        "base URL, only embedding models",
        "completion",
        {"OPENAI_BASE_URL": URL},
        listed=("nomic-embed-text", "bge-m3"),
        names=("lists no model that can serve completions", "nomic-embed-text, bge-m3", "Load a code model"),
        never=("OPENAI_BASE_URL", "Cannot ask"),
    ),
    Row(
        "base URL, only embedding models, actions",
        "actions",
        {"OPENAI_BASE_URL": URL},
        listed=("nomic-embed-text",),
        names=("Load a chat or instruct model", "`actions.model` (or `model` / LLM_LSP_MODEL for every job)"),
    ),
    Row(
        "base URL, no model list",
        "completion",
        {"OPENAI_BASE_URL": URL},
        listed=None,
        names=("has no model list", "`completion.model`", "LLM_LSP_MODEL"),
        never=("OPENAI_BASE_URL",),
    ),
    Row(
        "base URL, empty list",
        "actions",
        {"OPENAI_BASE_URL": URL},
        listed=(),
        names=("lists no models", "load one into the server"),
    ),
    Row(
        "completion on its own server (down), hosted model for the rest",
        "completion",
        {"OPENAI_API_KEY": HOSTED_KEY, "LLM_LSP_MODEL": "gpt-4o-mini"},
        {"completion": {"baseUrl": LOCAL}},
        listed=UNREACHABLE,
        names=("http://127.0.0.1:8080/v1", "`completion.apiKey`", "`completion.model`"),
        # The hosted key and model never reach that server: suggesting them would mislead.
        never=("LLM_LSP_MODEL", "OPENAI_API_KEY", "`model`"),
    ),
    Row(
        "only completion configured: actions have nothing",
        "actions",
        user_file={"completion": {"baseUrl": LOCAL, "model": "qwen2.5-coder:1.5b-base"}},
        names=("No model is configured for fixes", "`actions.baseUrl`", "`actions.model`", "OPENAI_BASE_URL"),
        never=("not an LLM", "completion.baseUrl"),
        state=choice.UNCONFIGURED,
    ),
)


def settings_of(row: Row) -> config.Settings:
    settings, problems = config.resolve(config.Sources(environ=row.environ, user_file=row.user_file or None))
    assert problems == []
    return settings


async def message_of(row: Row) -> choice.Assignment:
    settings = settings_of(row)

    async def lister(base_url, api_key, timeout):
        if isinstance(row.listed, Exception):
            raise row.listed
        return row.listed

    kept = Catalog(lister)
    endpoint = settings.role(row.role)
    if endpoint.discovers:
        await kept.ask(endpoint.base_url, endpoint.api_key, 1.0)
    return choice.assign(settings, row.role, kept)


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.name)
async def test_the_message_names_what_would_help_and_nothing_that_would_not(row: Row):
    assignment = await message_of(row)
    assert assignment.state == row.state and assignment.model == ""
    for part in row.names:
        assert part in assignment.note, (part, assignment.note)
    for part in row.never:
        assert part not in assignment.note, (part, assignment.note)


def _set_names(row: Row) -> list[str]:
    """How messages would name each setting the row sets: its variable, or its key in backticks."""
    names = list(row.environ)
    names += [f"`{key}`" for key in config.flatten(row.user_file)]
    names += [f"`{key}`" for key, variable in config.ENVIRONMENT.items() if variable in row.environ]
    return names


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.name)
async def test_no_message_asks_to_set_what_is_set(row: Row):
    note = (await message_of(row)).note
    for name in _set_names(row):
        # "set X", "Set X", "set A or X": within one sentence, never after the word "set".
        assert not re.search(rf"\bset\b[^.]*{re.escape(name)}", note, re.IGNORECASE), (name, note)


async def test_roles_failing_on_one_server_share_one_sentence_naming_both_settings():
    row = ROWS[4]  # only embedding models
    settings = settings_of(row)

    async def lister(base_url, api_key, timeout):
        return ("nomic-embed-text",)

    kept = Catalog(lister)
    await kept.ask(URL, "", 1.0)
    assignments = [choice.assign(settings, role, kept) for role in ("completion", "actions")]
    [sentence] = choice.notes(assignments, kept)
    assert "completions or fixes, refactors and the other commands" in sentence
    assert "`completion.model` or `actions.model` (or `model` / LLM_LSP_MODEL" in sentence
    assert "Load a code, chat or instruct model" in sentence


def test_the_pending_note_says_the_offline_engine_answers_meanwhile():
    settings = settings_of(Row("pending", "completion", {"OPENAI_BASE_URL": URL}))
    assignment = choice.assign(settings, "completion", Catalog())
    assert assignment.state == choice.PENDING
    assert assignment.note == f"asking {URL} which models it serves; the offline engine completes meanwhile"


@pytest.mark.parametrize(
    ("key", "value", "names", "never"),
    [
        (
            "baseUrl",
            "http://x/v1",
            ("initializationOptions", "config.toml", "environment (OPENAI_BASE_URL)"),
            (),
        ),
        ("apiKey", "k", ("environment (OPENAI_API_KEY)",), ()),
        ("completion.baseUrl", "http://x/v1", ("initializationOptions", "config.toml"), ("environment",)),
        ("nextEdit.apiKey", "k", ("initializationOptions", "config.toml"), ("environment",)),
        ("privacy.redactSecrets", False, ("initializationOptions",), ("environment (",)),
    ],
)
def test_a_refused_workspace_setting_says_where_it_can_be_set(key, value, names, never):
    _, [problem] = config.resolve(config.Sources(workspace_configuration={key: value}))
    for part in names:
        assert part in str(problem)
    for part in never:
        assert part not in str(problem)


async def test_an_action_through_the_session_never_says_only_the_offline_engine_is_configured(tmp_path):
    """The engine's generic sentence is for nothing configured; with a base URL the reason is the server's."""
    session = Session(environ={"OPENAI_BASE_URL": URL})

    async def lister(base_url, api_key, timeout):
        raise UNREACHABLE

    session.providers.catalog = Catalog(lister)
    uri = (tmp_path / "f.py").as_uri()
    session.open_document(uri, "python", 1, "def f(x):\n    return x +\n")
    try:
        with pytest.raises(ModelNotConfigured) as raised:
            await session.run_command("llm-lsp.fix", [{"uri": uri, "position": {"line": 1, "character": 4}}])
    finally:
        await session.aclose()
    assert str(raised.value).startswith(f"Cannot ask {URL} which models it serves")
    assert rewrite.MODEL_NEEDED not in str(raised.value)
    nothing = Session(environ={})
    nothing.open_document(uri, "python", 1, "def f(x):\n    return x +\n")
    with pytest.raises(ModelNotConfigured) as unconfigured:
        await nothing.run_command("llm-lsp.fix", [{"uri": uri, "position": {"line": 1, "character": 4}}])
    assert "OPENAI_BASE_URL" in str(unconfigured.value) and "LLM_LSP_MODEL" in str(unconfigured.value)
