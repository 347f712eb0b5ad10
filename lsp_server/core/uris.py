"""Document URIs and the file system paths and names they stand for: the one copy of this logic.

``file:`` URIs become paths; a Windows drive (``file:///C:/x``) becomes ``C:/x``, never ``/C:/x``.
Other schemes (``untitled:``, ``vscode-notebook-cell:``...) have no path. Pure string work, no I/O.
"""

from __future__ import annotations

import posixpath
import re
from urllib.parse import unquote, urlsplit

_DRIVE = re.compile(r"^/[A-Za-z]:")


def uri_to_path(uri: str) -> str | None:
    """The file system path of a ``file:`` URI; ``None`` for other schemes."""
    parts = urlsplit(uri)
    if parts.scheme != "file":
        return None
    path = unquote(parts.path)
    if _DRIVE.match(path):
        path = path[1:]
    if parts.netloc and parts.netloc != "localhost":  # a UNC share: file://server/share/x
        path = f"//{parts.netloc}{path}"
    return path


def uri_name(uri: str) -> str:
    """What a URI is called on its own: the path for ``file:`` URIs, else the URI's path part."""
    path = uri_to_path(uri)
    if path is not None:
        return path
    parts = urlsplit(uri)
    return unquote(parts.path) if parts.scheme else uri


def uri_basename(uri: str) -> str:
    """The last component of a URI's name (``untitled`` when there is none)."""
    return posixpath.basename(uri_name(uri).replace("\\", "/")) or "untitled"
