"""Where things are: what in a workspace is not the user's own code, and where llm-lsp keeps its files.

One list of directories no walk enters, for every walker — the index's workspace walk and the privacy
gate's search for nested ignore files — so the two never disagree about what is vendored, generated
or tool state; and the one place that says where llm-lsp's own files live: the cache
(``$XDG_CACHE_HOME/llm-lsp``: index databases, explanations) and the state (``$XDG_STATE_HOME/llm-lsp``:
the user's acceptance figures, which must outlive a session). Pure: paths are computed from the
environment given, never created here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

# Ignore files in gitignore syntax that the privacy gate reads (and that, when they change, reload it).
GITIGNORE = ".gitignore"
LLMLSPIGNORE = ".llm-lspignore"

# Dependency trees, build output and tool caches. Dot-directories (.git, .venv, .tox...) are skipped
# by the walkers on their own; the common ones are listed too, for callers that test one name.
VENDORED_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".venv",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".tox",
        ".nox",
        ".gradle",
        ".idea",
        ".terraform",
        "node_modules",
        "bower_components",
        "jspm_packages",
        "venv",
        "env",
        "site-packages",
        "dist-packages",
        "__pycache__",
        "dist",
        "build",
        "out",
        "target",
        "vendor",
        "third_party",
        "coverage",
        "htmlcov",
        "bin",
        "obj",
        "Pods",
        "DerivedData",
    }
)


def _xdg_dir(environ: Mapping[str, str] | None, variable: str, default: tuple[str, ...]) -> Path:
    """``$variable/llm-lsp``, or ``~/<default>/llm-lsp`` when it is unset or relative.

    A relative value is ignored, as the XDG base directory specification says: it would put the
    files wherever the editor happened to start the server.
    """
    env = os.environ if environ is None else environ
    base = env.get(variable, "")
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), *default)
    return Path(base) / "llm-lsp"


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/llm-lsp`` (``~/.cache/llm-lsp`` by default)."""
    return _xdg_dir(environ, "XDG_CACHE_HOME", (".cache",))


def state_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_STATE_HOME/llm-lsp`` (``~/.local/state/llm-lsp`` by default)."""
    return _xdg_dir(environ, "XDG_STATE_HOME", (".local", "state"))


def index_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where the workspace index keeps one database per root (``cache_dir()/index``)."""
    return cache_dir(environ) / "index"
