"""Where llm-lsp keeps its own files on this machine: the XDG state directory.

The state directory (``$XDG_STATE_HOME/llm-lsp``, ``~/.local/state/llm-lsp`` by default) holds what
the server learns about its user and must outlive a session: the local acceptance figures. Pure: the
environment comes in, a path goes out; nothing is created or read here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def state_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_STATE_HOME/llm-lsp`` (``~/.local/state/llm-lsp`` by default).

    A relative ``XDG_STATE_HOME`` is ignored, as the XDG base directory specification says: it would
    put the file wherever the editor happened to start the server.
    """
    env = os.environ if environ is None else environ
    base = env.get("XDG_STATE_HOME", "")
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "llm-lsp"
