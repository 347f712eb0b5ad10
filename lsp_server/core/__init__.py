"""The core: text, documents, syntax, settings, errors, uris.

Pure and synchronous; imports nothing above it.
"""
