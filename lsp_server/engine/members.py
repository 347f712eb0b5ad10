"""The members of the receiver at the cursor, as signatures: what ``generator.$0`` can be followed by.

When the cursor follows ``receiver.`` or ``receiver.partial``, the method about to be called is the
hardest thing for a model to guess and usually lives in another file. This module renders the
signatures of *all* the receiver class's members (methods' ``def`` / ``fn`` / ``func`` lines, annotated
and assigned attributes), its own first and then those inherited from its bases (as written in its
header, a few levels up), within a character budget. A class with 40 methods costs about 2,000
characters this way, far less than its code.

Owns the choice and order of member lines; resolving *which* class the receiver holds is the
context builder's resolver, and fitting the result into the prompt is ``context.build_context``'s.
Pure and synchronous; reads the index only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from lsp_server.engine.index import base_names
from lsp_server.engine.symbols import TYPE_KINDS

# How many base-class levels are followed for inherited members.
MAX_BASE_DEPTH = 3


class Member(Protocol):
    """The fields of ``index.Definition`` this module reads (classes and their members)."""

    name: str
    kind: str
    path: str
    line: int
    signature: str


class MemberIndex(Protocol):
    """What this module asks of the workspace index."""

    def resolve(self, from_path: str | None, name: str) -> Sequence[Member]:
        """Definitions ``name`` means when used in ``from_path``."""
        ...

    def members_of(self, cls: Member) -> Sequence[Member]:
        """Members of a class definition."""
        ...


def _first_line(signature: str) -> str:
    line = signature.strip().splitlines()[0] if signature.strip() else ""
    return line.rstrip().removesuffix("{").rstrip()


def _bases(cls: Member, index: MemberIndex) -> list[Member]:
    found = []
    for base in base_names(cls.signature):
        if base == cls.name:
            continue
        found.extend(d for d in index.resolve(cls.path, base) if d.kind in TYPE_KINDS and d.name == base)
    return found


def member_lines(cls: Member, index: MemberIndex, comment: str = "#") -> list[str]:
    """The class header, then one line per member: own members first, inherited ones after.

    A member redefined by the class hides the inherited one; identical lines (Go's ``W, H int``
    declares two fields) appear once.
    """
    lines = [_first_line(cls.signature) or cls.name]
    seen_names: set[str] = set()
    seen_lines: set[str] = set()
    visited: set[tuple[str, int]] = set()
    queue: list[tuple[Member, int]] = [(cls, 0)]
    while queue:
        current, depth = queue.pop(0)
        key = (current.path, current.line)
        if key in visited:
            continue
        visited.add(key)
        rows = []
        for member in index.members_of(current):
            line = _first_line(member.signature)
            if not line or member.name in seen_names and current is not cls or line in seen_lines:
                continue
            seen_names.add(member.name)
            seen_lines.add(line)
            rows.append("    " + line)
        if rows and current is not cls:
            lines.append(f"    {comment} inherited from {current.name}:")
        lines.extend(rows)
        if depth < MAX_BASE_DEPTH:
            queue.extend((base, depth + 1) for base in _bases(current, index))
    return lines


def member_signatures(cls: Member, index: MemberIndex, max_chars: int, comment: str = "#") -> str:
    """``member_lines`` joined, cut at a line boundary to at most ``max_chars`` characters."""
    out: list[str] = []
    used = 0
    for line in member_lines(cls, index, comment):
        if used + len(line) + 1 > max_chars:
            break
        out.append(line)
        used += len(line) + 1
    return "\n".join(out)
