"""Which provider serves, from resolved settings.

Owns the rule "a configured model -> the OpenAI-compatible provider, no model -> the offline engine".
Must not import the openai SDK itself (``providers.openai`` imports it lazily on first request).
"""

from __future__ import annotations

from lsp_server.core.settings import Settings
from lsp_server.providers.base import Provider


def model_signature(settings: Settings) -> tuple:
    """The settings that require a new provider when they change (others apply per request)."""
    return tuple(
        settings.get(key)
        for key in (
            "baseUrl",
            "apiKey",
            "promptMode",
            "fimApi",
            "fimFormat",
            "connectTimeoutMs",
            "completion.maxPromptChars",
        )
    ) + (settings.model,)


def choose_provider(settings: Settings, offline: Provider) -> Provider:
    """The provider for ``settings``: the offline engine when no model is configured."""
    if settings.uses_offline_engine:
        return offline
    from lsp_server.providers.openai import OpenAIProvider

    return OpenAIProvider(
        base_url=settings.get("baseUrl") or None,
        api_key=settings.get("apiKey") or None,
        model=settings.model,
        prompt_mode=settings.get("promptMode"),
        fim_api=settings.get("fimApi"),
        fim_format=settings.get("fimFormat"),
        connect_timeout=settings.get("connectTimeoutMs") / 1000,
        max_prompt_chars=settings.get("completion.maxPromptChars"),
    )
