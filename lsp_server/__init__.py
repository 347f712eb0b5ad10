"""llm-lsp: an AI pair programmer delivered as a standard language server.

This package must stay cheap to import: nothing heavy (pygls, openai, grammars) at package level.
"""

__version__ = "0.1.0"
