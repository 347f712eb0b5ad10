"""The workspace walk: which files under the roots are source files worth indexing, and their text.

Owns the one walk of the workspace (skipping dot-directories, vendored and generated trees,
virtualenvs, minified and binary files, files over the size cap, and whatever the privacy gate
excludes, directories included so an excluded tree is never entered) and reading a file's bytes and
text. It must not parse, store or judge anything beyond those rules: the indexer decides what to do
with each file, the privacy gate what is excluded.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from lsp_server.core import syntax
from lsp_server.core.layout import VENDORED_DIRS

_GENERATED_SUFFIXES = (
    ".min.js",
    ".min.mjs",
    ".min.css",
    ".bundle.js",
    ".map",
    ".d.ts.map",
    "_pb2.py",
    ".pb.go",
)

_BINARY_SNIFF_BYTES = 1024
# Minified code, whatever its name: lines longer than this on average, GitHub linguist's rule for
# minified files, in files of at least ``_MINIFIED_MIN_BYTES``. A bundle's one-letter names are no
# context, and parsing a 1 MB one took the resident size from 62 to 122 MiB (VS Code's extensions).
_MINIFIED_MEAN_LINE = 110
_MINIFIED_MIN_BYTES = 4096

# Source files of languages without a grammar here: the walk lists them too, because the offline
# engine learns from any code (a PHP or Kotlin project otherwise taught it nothing but the open
# file); the index stores them with no symbols. Only languages shaped like the ones its precision
# was measured on (bench/offline.py): PHP measured itself (Symfony Console: 86.9% precision, 50%
# exact), the other brace languages follow Java, TypeScript and C. Lua measured 51% (Neovim's
# runtime) and is left out, with the other languages unlike any measured one; so are shell, SQL and
# markup (scripts and dumps are where credentials sit, markup is mostly generated).
PLAIN_SOURCE_SUFFIXES = (
    ".php",
    ".kt",
    ".kts",
    ".swift",
    ".scala",
    ".dart",
    ".groovy",
    ".gradle",
    ".mm",  # Objective-C++ (not ``.m``: MATLAB's too)
    ".zig",
    ".vue",
    ".svelte",
    ".css",
    ".scss",
    ".less",
)


def _never(_path: str) -> bool:
    return False


def iter_workspace_files(
    roots: Iterable[str | os.PathLike[str]],
    is_excluded: Callable[[str], bool] = _never,
    max_file_bytes: int = 1_000_000,
    max_files: int = 20_000,
) -> Iterator[Path]:
    """Source files under ``roots`` (``is_source_file``), lazily, at most ``max_files`` of them.

    Skips dot-directories (``.git``, ``.venv``, ``.tox``...), ``VENDORED_DIRS``, any directory holding a
    ``pyvenv.cfg`` (a virtualenv under any name), minified/generated files, files over
    ``max_file_bytes``, and anything ``is_excluded`` rejects (asked for directories too, so an excluded
    tree is never entered). Directory symlinks are never followed, which rules out symlink loops; file
    symlinks are followed once per real path. Unreadable directories are skipped silently.
    """
    seen_real: set[str] = set()
    count = 0
    for root in roots:
        root_abs = os.path.abspath(os.fspath(root))
        root_real = os.path.realpath(root_abs)
        stack = [root_abs]
        while stack:
            directory = stack.pop()
            try:
                with os.scandir(directory) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except OSError:
                continue
            if any(e.name == "pyvenv.cfg" for e in entries):
                continue
            subdirs = []
            for entry in entries:
                name = entry.name
                try:
                    if entry.is_dir(follow_symlinks=False):
                        if name.startswith(".") or name in VENDORED_DIRS or is_excluded(entry.path):
                            continue
                        subdirs.append(entry.path)
                        continue
                    if not is_source_file(name) or is_excluded(entry.path):
                        continue
                    st = entry.stat(follow_symlinks=True)
                except OSError:  # dangling symlink, permission denied, vanished meanwhile
                    continue
                if not stat.S_ISREG(st.st_mode) or st.st_size > max_file_bytes:
                    continue
                # Directory symlinks are never entered below the root, so a regular file's real path is
                # its path with the root's real path swapped in; only file symlinks need resolving.
                if entry.is_symlink():
                    real = os.path.realpath(entry.path)
                else:
                    real = root_real + entry.path[len(root_abs) :]
                if real in seen_real:
                    continue
                seen_real.add(real)
                yield Path(entry.path)
                count += 1
                if count >= max_files:
                    return
            # Reversed so the depth-first walk visits subdirectories in name order.
            stack.extend(reversed(subdirs))


def is_source_file(name: str) -> bool:
    """Whether a file name is source the walk lists: a grammar's, or ``PLAIN_SOURCE_SUFFIXES``."""
    lowered = name.lower()
    if lowered.endswith(_GENERATED_SUFFIXES):
        return False
    return syntax.grammar_name(None, lowered) is not None or lowered.endswith(PLAIN_SOURCE_SUFFIXES)


def read_source_bytes(path: str | os.PathLike[str], max_file_bytes: int = 1_000_000) -> bytes | None:
    """A file's bytes, or ``None`` when it is unreadable, too big, binary or minified.

    Binary: a NUL in its first KB. Minified: ``looks_minified``.
    """
    try:
        with open(path, "rb") as f:
            data = f.read(max_file_bytes + 1)
    except OSError:
        return None
    if len(data) > max_file_bytes or b"\0" in data[:_BINARY_SNIFF_BYTES] or looks_minified(data):
        return None
    return data


def looks_minified(data: bytes) -> bool:
    """Whether a file's lines are too long on average to be written by hand (bundles, minified code)."""
    return len(data) >= _MINIFIED_MIN_BYTES and len(data) / (data.count(b"\n") + 1) > _MINIFIED_MEAN_LINE


def decode_source(data: bytes) -> str:
    """A source file's text from its bytes.

    Non-UTF-8 files are decoded with ``errors="replace"``: their identifiers are still mostly ASCII, so
    their definitions stay useful, and the replacement characters cannot break anything downstream.
    """
    return data.decode("utf-8", errors="replace")


def read_source(path: str | os.PathLike[str], max_file_bytes: int = 1_000_000) -> str | None:
    """A file's text, or ``None`` when it is unreadable, too big or binary (``read_source_bytes``)."""
    data = read_source_bytes(path, max_file_bytes)
    return decode_source(data) if data is not None else None
