"""What in a workspace is not the user's own code: directories that no walk enters.

One list for every walker — the index's workspace walk and the privacy gate's search for nested
ignore files — so the two never disagree about what is vendored, generated or tool state. Pure data.
"""

from __future__ import annotations

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
