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

import attrs

from lsp_server.engine.index import base_names
from lsp_server.engine.symbols import TYPE_KINDS

_CALLABLE = frozenset({"method", "function"})
# A module's classes are what ``module.`` is followed by as often as its functions.
_CALLABLE_OR_TYPE = _CALLABLE | TYPE_KINDS
# Share of the member budget for whole signature lines; the rest lists further members by name.
FULL_SHARE = 0.7
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
    found: list[Member] = []
    for base in base_names(cls.signature):
        if base == cls.name:
            continue
        found.extend(d for d in index.resolve(cls.path, base) if d.kind in TYPE_KINDS and d.name == base)
    return found


@attrs.frozen
class MemberLine:
    """One member as shown: its name, its signature's first line, and the base it comes from."""

    name: str
    line: str
    inherited_from: str | None = None
    attribute: bool = False  # a field or property rather than a method

    @property
    def private(self) -> bool:
        """``_x`` and ``__x__``: rarely what ``obj.`` is followed by."""
        return self.name.startswith("_")

    def short(self) -> str:
        """The line cut after its opening parenthesis (``def get_style(...)``), for a tight budget."""
        # After the member's own name: Go's receiver ``func (g *G) Name(`` has a parenthesis before it.
        at = self.line.find(self.name + "(")
        return self.line[: at + len(self.name)] + "(...)" if at >= 0 else self.line


def member_lines(cls: Member, index: MemberIndex) -> list[MemberLine]:
    """Every member of ``cls``: its own in source order, then those of its bases, breadth first.

    A member redefined by the class hides the inherited one; identical lines (Go's ``W, H int``
    declares two fields) appear once.
    """
    out: list[MemberLine] = []
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
        base = None if current is cls else current.name
        for member in index.members_of(current):
            line = _first_line(member.signature)
            if not line or (member.name in seen_names and base is not None) or line in seen_lines:
                continue
            seen_names.add(member.name)
            seen_lines.add(line)
            out.append(MemberLine(member.name, line, base, member.kind not in _CALLABLE))
        if depth < MAX_BASE_DEPTH:
            queue.extend((found, depth + 1) for found in _bases(current, index))
    return out


def member_signatures(
    cls: Member,
    index: MemberIndex,
    max_chars: int,
    comment: str = "#",
    typed: str = "",
    nearby: frozenset[str] = frozenset(),
) -> str:
    """The class header and its members' signatures, within ``max_chars`` characters.

    Order: members starting with the ``typed`` part of the name first, then those the code near the
    cursor already mentions, then public own members (methods, then attributes), public inherited
    ones, and private (``_x``, ``__x__``) last. Whole lines for all when they fit; else whole lines
    up to ``FULL_SHARE`` of the budget and a short line (``def name(...)``) for the next members
    while room lasts, so that a class of a hundred members still shows its public names. A
    property's getter and setter show once.
    """
    header = _first_line(cls.signature) or cls.name
    return _fit(header, cls.name, member_lines(cls, index), max_chars, comment, typed, nearby)


def module_signatures(
    label: str,
    definitions: Sequence[Member],
    max_chars: int,
    comment: str = "#",
    typed: str = "",
    nearby: frozenset[str] = frozenset(),
) -> str:
    """What ``module.`` can be followed by: the module's top-level definitions, as ``member_signatures``.

    ``label`` names the module in the header line; ``definitions`` are its top-level ones (several
    files for a Go package), shown in the same order and within the same budget rules as a class's.
    """
    lines: list[MemberLine] = []
    seen: set[str] = set()
    for definition in definitions:
        line = _first_line(definition.signature)
        if not line or line in seen:
            continue
        seen.add(line)
        lines.append(MemberLine(definition.name, line, None, definition.kind not in _CALLABLE_OR_TYPE))
    return _fit(f"{comment} module {label}:", label, lines, max_chars, comment, typed, nearby, indent="")


def _fit(
    header: str,
    owner: str,
    members: list[MemberLine],
    max_chars: int,
    comment: str,
    typed: str,
    nearby: frozenset[str],
    indent: str = "    ",
) -> str:
    members.sort(
        key=lambda m: (
            not (typed and m.name.startswith(typed)),
            m.name not in nearby,
            m.private,
            m.inherited_from is not None,
            m.attribute,
        )
    )
    lines = [header]
    used = len(header) + 1
    whole = used + sum(len(m.line) + 5 for m in members) + 40 * len({m.inherited_from for m in members})
    full_limit = max_chars if whole <= max_chars else int(max_chars * FULL_SHARE)
    current_base: str | None = None
    shown: set[str] = set()
    for member in members:
        if member.short() in shown:
            continue  # a property's setter after its getter, an overload
        shown.add(member.short())
        if member.inherited_from != current_base:
            source = member.inherited_from
            marker = (
                f"{indent}{comment} inherited from {source}:" if source else f"{indent}{comment} {owner}:"
            )
            if used + len(marker) + 1 > max_chars:
                break
            lines.append(marker)
            used += len(marker) + 1
        current_base = member.inherited_from
        full = indent + member.line
        short = indent + member.short()
        if used + len(full) + 1 <= full_limit:
            chosen = full
        elif used + len(short) + 1 <= max_chars:
            chosen = short
        else:
            break
        lines.append(chosen)
        used += len(chosen) + 1
    return "\n".join(lines)
