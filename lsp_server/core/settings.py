"""Settings: one camelCase schema, resolved from layered sources into typed ``Settings``.

Owns the schema (every key, its type, bounds, default and meaning), merging of the sources and
validation. Sources, lowest first: defaults -> environment (``OPENAI_BASE_URL``, ``OPENAI_API_KEY``,
``LLM_LSP_MODEL``) -> user file ``~/.config/llm-lsp/config.toml`` -> ``initializationOptions`` ->
``workspace/configuration`` section ``llmLsp``. A bad value never stops anything: it yields one
readable ``Problem`` naming the key and the reason, and the key keeps its value from the layer below.

It also owns the roles (``completion``, ``actions``, ``nextEdit``): which model name, server and key
each job's settings give (``Settings.role``), and which of the custom actions are the user's own words
rather than a workspace's (``ActionsSettings.users_own``). Which provider then serves a role, and a
model discovered from a server's list, are ``providers.choice``'s and ``providers.catalog``'s.

Pure: no LSP types, no network. Reading the user file is the only I/O and happens only when asked
(``load_user_file``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

SECTION = "llmLsp"
KEY = "llm_lsp_key"  # attrs metadata: the camelCase key when it is not the attribute's name
OMIT = "llm_lsp_omit"  # attrs metadata: derived, not a setting (no key, never read from a source)
DEFAULT_OPENAI_MODEL = "gpt-4o-mini"


def _choice(*values: str) -> tuple[str, ...]:
    return values


@attrs.frozen
class Field:
    """One setting: its dotted camelCase key, kind, default, bounds/choices and documentation."""

    key: str
    kind: type | tuple[str, ...]  # bool, int, float, str, list (of str) or a tuple of choices
    default: Any
    doc: str
    minimum: float | None = None
    maximum: float | None = None


def _role_fields(role: str, job: str) -> tuple[Field, ...]:
    """A job's own model, server and key (a fast local FIM model for completion, a chat model for actions).

    Written once for the three roles so they stay alike; ``Settings.role`` resolves them.
    """
    return (
        Field(
            f"{role}.model",
            str,
            "",
            f"Model for {job}. Empty: `model` on the same server; on a server of its own "
            f"(`{role}.baseUrl`), chosen from that server's /models list.",
        ),
        Field(f"{role}.baseUrl", str, "", f"OpenAI-compatible base URL for {job}. Empty: `baseUrl`."),
        Field(
            f"{role}.apiKey",
            str,
            "",
            f"API key for {job}. Empty: `apiKey`, unless `{role}.baseUrl` names another server "
            "(a key is never sent to a server it was not given for).",
        ),
    )


# The schema. Every key here is documented in the README's settings reference (generated from `doc`).
SCHEMA: tuple[Field, ...] = (
    Field(
        "model",
        str,
        "",
        "Model name for every job a role setting does not name. Empty: chosen from the server's "
        "/models list when a base URL is set, gpt-4o-mini when only a key is set, else the offline engine.",
    ),
    Field(
        "baseUrl",
        str,
        "",
        "OpenAI-compatible base URL, e.g. http://127.0.0.1:11434/v1 (Ollama). Empty: OpenAI.",
    ),
    Field(
        "apiKey",
        str,
        "",
        "API key; optional for local servers. Prefer the OPENAI_API_KEY variable.",
    ),
    Field(
        "promptMode",
        _choice("auto", "fim", "chat"),
        "auto",
        "fim: fill-in-the-middle (code models); chat: a hole-filling chat prompt; auto: by model name.",
    ),
    Field(
        "fimApi",
        _choice("auto", "suffix", "tokens", "infill", "mistral"),
        "auto",
        "How FIM is sent: suffix (/v1/completions suffix), tokens (FIM tokens in the prompt), "
        "infill (llama.cpp /infill), mistral (/v1/fim/completions); auto tries suffix, then tokens.",
    ),
    Field(
        "fimFormat",
        str,
        "auto",
        "FIM token format when fimApi is tokens: auto (from the model name), starcoder, codellama, "
        "deepseek, deepseek-v2, qwen, codestral, codegemma, granite.",
    ),
    Field("connectTimeoutMs", int, 3000, "Connection timeout to the model server.", 100, 3000),
    Field(
        "offlineFallback",
        bool,
        True,
        "Serve completions from the offline engine while the configured model is unreachable.",
    ),
    Field("logLevel", _choice("error", "warning", "info", "debug"), "info", "Server log verbosity."),
    Field(
        "logPrompts",
        bool,
        False,
        "Debug only: write (redacted) prompts and answers to the log. Keys are never logged.",
    ),
    Field("completion.enable", bool, True, "Inline completions (ghost text) and the completion-list item."),
    *_role_fields("completion", "completions"),
    Field(
        "completion.multiline",
        _choice("auto", "always", "never"),
        "auto",
        "auto: finish the line mid-line, whole blocks on empty lines; always; never.",
    ),
    Field("completion.maxTokens", int, 128, "Upper bound on tokens generated per completion.", 1, 4096),
    Field("completion.temperature", float, 0.1, "Sampling temperature for completions.", 0.0, 2.0),
    Field(
        "completion.deadlineMs",
        int,
        5000,
        "Per-request deadline for automatic completions; retries never go past it.",
        200,
        60000,
    ),
    Field("completion.debounceMinMs", int, 75, "Lower bound of the adaptive debounce.", 0, 2000),
    Field("completion.debounceMaxMs", int, 600, "Upper bound of the adaptive debounce.", 0, 5000),
    Field("completion.candidates", int, 3, "Candidates requested on explicit invocation (cycling).", 1, 5),
    Field(
        "completion.maxPromptChars",
        int,
        8000,
        "Character budget of a completion prompt (context is cut first).",
        500,
        200000,
    ),
    Field("completion.disabledLanguages", list, [], "languageIds with completions switched off."),
    *_role_fields("actions", "fixes, refactors and the other commands"),
    Field(
        "actions.deadlineMs",
        int,
        60000,
        "Deadline for explicit actions (fix, refactor, ...).",
        1000,
        600000,
    ),
    Field("actions.maxTokens", int, 2048, "Upper bound on tokens generated for an action.", 16, 32768),
    Field(
        "actions.custom",
        list,
        [],
        'User-defined actions: [{"title", "prompt", "scope": selection|function|file, "kind"}].',
    ),
    Field(
        "nextEdit.enable",
        bool,
        False,
        "Next-edit suggestions: after an edit, predict the edit that follows near the cursor "
        "(textDocument/copilotInlineEdit). Needs a model; the offline engine does not predict edits.",
    ),
    *_role_fields("nextEdit", "next-edit suggestions"),
    Field("nextEdit.maxTokens", int, 1024, "Upper bound on tokens generated for one next edit.", 64, 8192),
    Field(
        "nextEdit.deadlineMs",
        int,
        10000,
        "Deadline of one next-edit request; a newer edit cancels it sooner.",
        500,
        60000,
    ),
    Field("privacy.exclude", list, [], "Extra gitignore-style patterns no AI feature may read or send."),
    Field(
        "privacy.redactSecrets",
        bool,
        True,
        "Replace credentials by a placeholder before any prompt is built.",
    ),
    Field("index.enable", bool, True, "Index the workspace for cross-file context."),
    Field("index.maxFiles", int, 20000, "Files indexed at most.", 0, 1000000),
    Field("index.maxFileBytes", int, 1000000, "Files larger than this are not indexed.", 1000, 100000000),
    Field(
        "index.maxDatabaseMB",
        int,
        256,
        "Size bound of each workspace root's index database; once reached, no further files are added.",
        1,
        100000,
    ),
)

FIELDS: dict[str, Field] = {f.key: f for f in SCHEMA}

# The jobs that may each have a model of their own: ``Settings.role`` resolves one.
ROLES = ("completion", "actions", "nextEdit")

# Keys a workspace (a folder the user opened, possibly someone else's repository) must not change:
# where code is sent, with which key, and whether the privacy gate applies.
# ``logPrompts`` is one of them: it would write prompt text (code) into a log the user did not ask for.
MACHINE_ONLY_KEYS = frozenset(
    {"baseUrl", "apiKey", "privacy.redactSecrets", "logPrompts"}
    | {f"{role}.{key}" for role in ROLES for key in ("baseUrl", "apiKey")}
    # The disk the user's cache may take: a cloned repository must not be able to raise it.
    | {"index.maxDatabaseMB"}
)
# The environment variables that set a key (the other keys have none).
ENVIRONMENT = {"baseUrl": "OPENAI_BASE_URL", "apiKey": "OPENAI_API_KEY", "model": "LLM_LSP_MODEL"}

# Keys a workspace may only add to: its ``privacy.exclude`` patterns join the user's, never replace them.
# The other keys were reviewed with one question — could a hostile repository use it to send code or
# secrets somewhere the user did not choose? — and cannot: they choose among the user's own endpoint's
# models and modes, or tune local behaviour (limits, timeouts, what is shown).
ADDITIVE_KEYS = frozenset({"privacy.exclude"})


@attrs.frozen
class Problem:
    """A setting that could not be applied; ``str()`` is the one readable line shown to users."""

    key: str
    reason: str
    source: str

    def __str__(self) -> str:
        return f"{SECTION}.{self.key} ({self.source}): {self.reason}"


@attrs.frozen
class RoleEndpoint:
    """What one job's settings give: a model name (or none), a server and a key.

    ``model`` is '' when no setting names one: then a model is discovered from ``base_url``'s list
    (``discovers``), or, without a server either, the offline engine serves (``offline``).
    ``own_server``: the role names a base URL of its own, other than ``baseUrl``; the top-level model
    and key then stay with the top-level server.
    """

    role: str
    model: str
    base_url: str
    api_key: str
    own_server: bool = False

    @property
    def discovers(self) -> bool:
        """True when the model must be chosen from the server's list."""
        return not self.model and bool(self.base_url)

    @property
    def offline(self) -> bool:
        """True when nothing names a model or a server for this role."""
        return not self.model and not self.base_url


# The typed tree. Attribute names are the schema's keys in snake_case (``completion.maxTokens`` is
# ``settings.completion.max_tokens``); one cattrs converter maps them to and from camelCase.


@attrs.frozen
class CompletionSettings:
    """``completion.*``: ghost text and the completion-list item."""

    enable: bool
    model: str
    base_url: str
    api_key: str
    multiline: str
    max_tokens: int
    temperature: float
    deadline_ms: int
    debounce_min_ms: int
    debounce_max_ms: int
    candidates: int
    max_prompt_chars: int
    disabled_languages: tuple[str, ...]


@attrs.frozen
class ActionsSettings:
    """``actions.*``: quick fixes and the ``llm-lsp.*`` commands.

    ``user_custom`` is not a setting: it holds the custom actions the user's own sources gave (user
    file, ``initializationOptions``), as ``resolve`` saw them before a workspace's settings applied.
    """

    model: str
    base_url: str
    api_key: str
    deadline_ms: int
    max_tokens: int
    custom: tuple[Any, ...]
    user_custom: tuple[Any, ...] = attrs.field(default=(), metadata={OMIT: True})

    def users_own(self, prompt: str) -> bool:
        """Whether ``prompt`` is a custom action prompt the user wrote, not one a workspace supplied.

        A workspace's settings come from whoever wrote the repository: its prompts may be offered as
        actions, but they are repository text, so they never explain a power an edit adds
        (``engine.capabilities``). The same entry in the user's own settings (VS Code sends those in
        both places) is the user's.
        """
        return bool(prompt) and any(
            isinstance(entry, Mapping) and entry.get("prompt") == prompt for entry in self.user_custom
        )


@attrs.frozen
class NextEditSettings:
    """``nextEdit.*``: next-edit suggestions, and the model, server and key of their job."""

    enable: bool
    model: str
    base_url: str
    api_key: str
    max_tokens: int
    deadline_ms: int


@attrs.frozen
class PrivacySettings:
    """``privacy.*``: what may never leave the machine."""

    exclude: tuple[str, ...]
    redact_secrets: bool


@attrs.frozen
class IndexSettings:
    """``index.*``: the workspace symbol index."""

    enable: bool
    max_files: int
    max_file_bytes: int
    max_database_mb: int = attrs.field(metadata={KEY: "maxDatabaseMB"})


@attrs.frozen
class Settings:
    """Resolved settings: every key present, typed, defaulted; read as attributes."""

    model_name: str = attrs.field(metadata={KEY: "model"})  # as set; ``model`` is the effective name
    base_url: str
    api_key: str
    prompt_mode: str
    fim_api: str
    fim_format: str
    connect_timeout_ms: int
    offline_fallback: bool
    log_level: str
    log_prompts: bool
    completion: CompletionSettings
    actions: ActionsSettings
    next_edit: NextEditSettings
    privacy: PrivacySettings
    index: IndexSettings

    @property
    def model(self) -> str:
        """The effective top-level model name ('' when none is named or implied)."""
        if not self.model_name and self.api_key and not self.base_url:
            return DEFAULT_OPENAI_MODEL
        return self.model_name

    @property
    def uses_offline_engine(self) -> bool:
        """True when no job has a model or a server to find one on: the offline engine serves all."""
        return all(self.role(role).offline for role in ROLES)

    def role(self, role: str) -> RoleEndpoint:
        """The model name, server and key for one job (``ROLES``), each falling back to the top level.

        A role on a server of its own (``<role>.baseUrl`` other than ``baseUrl``) takes neither the
        top-level key (a key is never sent to a server it was not given for) nor the top-level model
        name (it names a model of the other server): its model is then its own, or discovered.
        """
        sections: dict[str, CompletionSettings | ActionsSettings | NextEditSettings] = {
            "completion": self.completion,
            "actions": self.actions,
            "nextEdit": self.next_edit,
        }
        section = sections[role]
        own_url = section.base_url
        own_server = bool(own_url) and own_url.rstrip("/") != self.base_url.rstrip("/")
        base_url = own_url or self.base_url
        api_key = section.api_key or ("" if own_server else self.api_key)
        model = section.model or ("" if own_server else self.model_name)
        if not model and api_key and not base_url:
            model = DEFAULT_OPENAI_MODEL  # OpenAI itself: its list is long, the default is known
        return RoleEndpoint(role, model, base_url, api_key, own_server)

    def flat(self) -> dict[str, Any]:
        """Every dotted camelCase key with its value (the schema's own view)."""
        return flatten(CONVERTER.unstructure(self))

    def public_view(self) -> dict[str, Any]:
        """The settings as a plain dict with every API key masked (for doctor and logs)."""
        shown = self.flat()
        for key in shown:
            if key == "apiKey" or key.endswith(".apiKey"):
                shown[key] = mask_secret(shown[key])
        return shown


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _renames(cls: type) -> dict[str, Any]:
    return {
        a.name: override(omit=True)
        if a.metadata.get(OMIT)
        else override(rename=a.metadata.get(KEY, _camel(a.name)))
        for a in attrs.fields(cls)
    }


def _converter() -> cattrs.Converter:
    """One converter for the whole tree: camelCase keys outside, snake_case attributes inside."""
    converter = cattrs.Converter(forbid_extra_keys=True)
    converter.register_structure_hook_factory(
        attrs.has, lambda cls: make_dict_structure_fn(cls, converter, **_renames(cls))
    )
    converter.register_unstructure_hook_factory(
        attrs.has, lambda cls: make_dict_unstructure_fn(cls, converter, **_renames(cls))
    )
    return converter


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"completion.enable": False}`` -> ``{"completion": {"enable": False}}``."""
    tree: dict[str, Any] = {}
    for key, value in flat.items():
        *parents, leaf = key.split(".")
        node = tree
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    return tree


def mask_secret(value: str) -> str:
    """Show that a secret is set without revealing it: at most its last 4 characters."""
    if not value:
        return "(not set)"
    return "…" + value[-4:] if len(value) > 8 else "(set)"


def defaults() -> dict[str, Any]:
    """Every key at its default value."""
    return {f.key: (list(f.default) if isinstance(f.default, list) else f.default) for f in SCHEMA}


def flatten(options: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested ``{"completion": {"enable": false}}`` -> ``{"completion.enable": False}``.

    Dotted keys are accepted as they are, so ``{"completion.enable": false}`` (VS Code style) works too.
    A leading ``llmLsp`` section is unwrapped, so clients may send either the section or its content.
    """
    flat: dict[str, Any] = {}
    for key, value in options.items():
        if not prefix and key == SECTION and isinstance(value, Mapping):
            flat.update(flatten(value))
            continue
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and dotted not in FIELDS:
            flat.update(flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def _coerce(field: Field, value: Any) -> tuple[Any, str | None]:
    """The value converted to the field's type, or an error reason (a readable sentence)."""
    kind = field.kind
    if isinstance(kind, tuple):
        if isinstance(value, str) and value in kind:
            return value, None
        return None, f"expected one of {', '.join(kind)}; got {value!r}"
    if kind is bool:
        if isinstance(value, bool):
            return value, None
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true", None
        return None, f"expected true or false; got {value!r}"
    if kind in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            return None, f"expected a number; got {value!r}"
        try:
            number = kind(value)
        except (TypeError, ValueError):
            return None, f"expected a number; got {value!r}"
        if kind is int and isinstance(value, float) and not value.is_integer():
            return None, f"expected a whole number; got {value!r}"
        if field.minimum is not None and number < field.minimum:
            return None, f"must be at least {field.minimum:g}; got {value!r}"
        if field.maximum is not None and number > field.maximum:
            return None, f"must be at most {field.maximum:g}; got {value!r}"
        return number, None
    if kind is str:
        if isinstance(value, str):
            return value.strip(), None
        return None, f"expected a string; got {value!r}"
    if kind is list:
        if isinstance(value, (list, tuple)):
            return list(value), None
        return None, f"expected a list; got {value!r}"
    return None, "unsupported setting type"  # pragma: no cover - schema error


def apply_layer(
    values: dict[str, Any],
    options: Mapping[str, Any] | None,
    source: str,
    *,
    trusted: bool = True,
) -> list[Problem]:
    """Apply one source's options onto ``values`` in place; returns the problems found.

    ``trusted=False`` marks a source that may come from a workspace: it cannot change
    ``MACHINE_ONLY_KEYS``, and only adds to ``ADDITIVE_KEYS``. ``null`` values mean "not set here"
    and are skipped.
    """
    if options is None:
        return []
    if not isinstance(options, Mapping):
        return [Problem("", f"expected an object of settings; got {type(options).__name__}", source)]
    problems: list[Problem] = []
    for key, raw in flatten(options).items():
        if raw is None:
            continue
        field = FIELDS.get(key)
        if field is None:
            problems.append(Problem(key, "unknown setting (ignored)", source))
            continue
        if not trusted and key in MACHINE_ONLY_KEYS:
            if raw != values.get(key):
                problems.append(Problem(key, f"can only be set in {trusted_places(key)}", source))
            continue
        value, reason = _coerce(field, raw)
        if reason is not None:
            problems.append(Problem(key, reason, source))
            continue
        if not trusted and key in ADDITIVE_KEYS:
            value = list(values[key]) + [item for item in value if item not in values[key]]
        values[key] = value
    if values["completion.debounceMinMs"] > values["completion.debounceMaxMs"]:
        problems.append(Problem("completion.debounceMinMs", "is above completion.debounceMaxMs", source))
        values["completion.debounceMinMs"] = values["completion.debounceMaxMs"]
    return problems


def trusted_places(key: str) -> str:
    """Where the user sets ``key`` so that it counts as theirs (the environment where a variable exists)."""
    places = "initializationOptions or the user config file"
    variable = ENVIRONMENT.get(key)
    return (
        f"{places} ({user_file_path()}) or the environment ({variable})"
        if variable
        else (f"{places} ({user_file_path()})")
    )


def environment_layer(environ: Mapping[str, str]) -> dict[str, Any]:
    """The settings the standard environment variables give."""
    layer: dict[str, Any] = {}
    if environ.get("OPENAI_BASE_URL"):
        layer["baseUrl"] = environ["OPENAI_BASE_URL"]
    if environ.get("OPENAI_API_KEY"):
        layer["apiKey"] = environ["OPENAI_API_KEY"]
    if environ.get("LLM_LSP_MODEL"):
        layer["model"] = environ["LLM_LSP_MODEL"]
    return layer


def user_file_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/llm-lsp/config.toml`` (``~/.config/llm-lsp/config.toml`` by default)."""
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "llm-lsp" / "config.toml"


def load_user_file(path: Path) -> tuple[dict[str, Any] | None, list[Problem]]:
    """Read the user TOML file; a missing file is no problem, a broken one is one problem."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle), []
    except FileNotFoundError:
        return None, []
    except (OSError, tomllib.TOMLDecodeError) as exc:
        return None, [Problem("", f"cannot read {path}: {exc}", "user file")]


@attrs.frozen
class Sources:
    """The raw inputs settings are resolved from, lowest precedence first."""

    environ: Mapping[str, str] = attrs.field(factory=dict)
    user_file: Mapping[str, Any] | None = None
    initialization_options: Any = None
    workspace_configuration: Any = None


def resolve(sources: Sources) -> tuple[Settings, list[Problem]]:
    """Resolve every layer into ``Settings`` plus the problems met on the way."""
    values = defaults()
    problems: list[Problem] = []
    problems += apply_layer(values, environment_layer(sources.environ), "environment")
    problems += apply_layer(values, sources.user_file, "user file")
    # initializationOptions come from the user's own editor configuration; workspace/configuration may
    # carry a workspace's settings file (e.g. .vscode/settings.json of a cloned repository).
    problems += apply_layer(values, sources.initialization_options, "initializationOptions")
    users_custom = tuple(values["actions.custom"])
    problems += apply_layer(values, sources.workspace_configuration, "workspace/configuration", trusted=False)
    settings = from_flat(values)
    settings = attrs.evolve(settings, actions=attrs.evolve(settings.actions, user_custom=users_custom))
    return settings, problems


def from_flat(values: Mapping[str, Any]) -> Settings:
    """Typed settings from validated dotted keys (every key of ``SCHEMA``)."""
    return CONVERTER.structure(nest(values), Settings)


CONVERTER = _converter()
