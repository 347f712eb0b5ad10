"""Which provider serves, from resolved settings.

Owns the rule "a configured model -> the OpenAI-compatible provider, no model -> the offline engine".
Must not import the openai SDK itself (``providers.openai`` imports it lazily on first request).
"""

from __future__ import annotations

from lsp_server.core.settings import Settings
from lsp_server.providers.base import Provider


def model_signature(settings: Settings) -> tuple:
    """The settings that require a new provider when they change (others apply per request)."""
    return (
        settings.base_url,
        settings.api_key,
        settings.prompt_mode,
        settings.fim_api,
        settings.fim_format,
        settings.connect_timeout_ms,
        settings.completion.max_prompt_chars,
        settings.model,
    )


def choose_provider(settings: Settings, offline: Provider) -> Provider:
    """The provider for ``settings``: the offline engine when no model is configured."""
    if settings.uses_offline_engine:
        return offline
    from lsp_server.providers.openai import OpenAIProvider

    return OpenAIProvider(
        base_url=settings.base_url or None,
        api_key=settings.api_key or None,
        model=settings.model,
        prompt_mode=settings.prompt_mode,
        fim_api=settings.fim_api,
        fim_format=settings.fim_format,
        connect_timeout=settings.connect_timeout_ms / 1000,
        max_prompt_chars=settings.completion.max_prompt_chars,
    )
