"""Typed errors of the core and engine.

Owns the error vocabulary every layer raises. It must not know about LSP error codes or pygls:
the adapter (server.py) maps these to JSON-RPC errors once, in one place.
"""

from __future__ import annotations


class LlmLspError(Exception):
    """Base of every error llm-lsp raises on purpose; its message is shown to users as is."""


class DocumentNotOpen(LlmLspError):
    """A request named a document the client never opened (or already closed)."""


class ContentModified(LlmLspError):
    """The document changed after the result was computed; the result must be dropped."""


class ExcludedFile(LlmLspError):
    """The privacy gate excludes this file: no AI feature may read or send it."""


class InvalidRequest(LlmLspError):
    """The request's arguments cannot be served (bad range, unknown command argument, ...)."""


class ModelNotConfigured(LlmLspError):
    """The action needs a language model and none is configured."""


class ProviderError(LlmLspError):
    """The model provider failed: network, HTTP status, malformed answer."""


class ModelNotFound(ProviderError):
    """The server answered 404: the model (or endpoint) is not there, e.g. a discovered one was removed."""


class ProviderTimeout(ProviderError):
    """The model did not answer before the request's deadline."""


class ProviderRateLimited(ProviderError):
    """The model server asked us to slow down beyond what the deadline allows."""


class TruncatedAnswer(LlmLspError):
    """The model's answer was cut short (finish_reason other than ``stop``): never turned into an edit."""


class UnsafeEdit(LlmLspError):
    """A proposed edit failed a safety check: adds syntax errors, or leaves its scope."""
