"""The context builder: what a model sees around a cursor, within a character budget.

Owns choosing and ordering the material of a ``FimPrompt``: the prefix/suffix window, headers of the
enclosing scopes, definitions of the symbols used near the cursor (resolved through the workspace
index), the signature of the function being called, recent edits and similar snippets from open files,
and rendering them as comments of the document's language, each labelled with its path.

It must not read files, talk to a model or know about LSP: everything arrives as arguments. It never
walks the workspace per request (the index answers by dictionary lookups) and never re-parses other
files. Its one piece of state is a cache of open files' similar-snippet windows, bounded in bytes
(``WINDOW_CACHE_BYTES``). It does not import ``index``: any object with the ``SymbolIndex`` methods
will do, which keeps the two engine modules independent.

Priorities, highest first (a lower-priority item never displaces a higher one):

1. ``WINDOW`` - the cursor line, whole, and the nearest lines around it, up to ``WINDOW_SHARE`` of the
   budget (prefix gets ``PREFIX_SHARE`` of that, unused room flows to the other side).
2. ``SCOPE`` - headers (``class``/``def`` lines) of enclosing scopes that start above the window.
3. ``CALLEE`` - the definition of the function being called at the cursor (``name(`` / ``obj.name(``
   before the cursor) and the member outline of ``obj`` when the cursor follows ``obj.``: the single
   most predictive item, so it ranks above the other definitions.
4. ``DEFINITION`` - definitions of the other symbols near the cursor, nearest use first.
5. ``RECENT_EDIT`` - recently edited ranges in other files, as passed in (most recent first).
6. ``SIMILAR`` - windows of open files most similar (Jaccard over identifier sets) to the lines
   before the cursor.

Items are added in that order while they fit; budget left over extends the window. The rendered
context lists the lowest priority first, so the most relevant item sits right before the code.
"""

from __future__ import annotations

import posixpath
import re
import string
import sys
from array import array
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from enum import IntEnum
from itertools import accumulate, chain
from typing import TYPE_CHECKING, Protocol, cast

import attrs

from lsp_server.core import syntax
from lsp_server.engine import members
from lsp_server.engine.symbols import TYPE_KINDS
from lsp_server.providers.prompts import FimPrompt

if TYPE_CHECKING:
    from tree_sitter import Node, Tree

WINDOW_SHARE = 0.6
PREFIX_SHARE = 0.75
# How far around the cursor symbols count as "used near the cursor".
NEAR_BEFORE_CHARS = 1500
NEAR_AFTER_CHARS = 300
# How far back local variable types are looked for (assignments, parameter annotations).
TYPES_BEFORE_CHARS = 4000
MAX_SYMBOLS = 24
MAX_OUTLINE_MEMBERS = 16
MAX_SNIPPET_CHARS = 1500
# Member signatures of the receiver at ``obj.$0`` (own, then inherited): their own budget, taken before
# any other snippet and, when the budget is short, from the window down to MIN_WINDOW_SHARE of it.
MEMBERS_CHARS = 2500
# A Go package spans files: the members of ``pkg.`` are read from this many of them at most.
MAX_MODULE_FILES = 8
# ... and this many of their definitions (what fits the member budget is far fewer; sorting stays cheap).
MAX_MODULE_DEFINITIONS = 600
MIN_WINDOW_SHARE = 0.4
SIMILAR_WINDOW_LINES = 12
SIMILAR_STRIDE = 6
SIMILAR_MIN_SCORE = 0.15
SIMILAR_TOP = 2
MAX_OPEN_FILE_CHARS = 100_000  # similar-snippet windows read this much of another open file (one pass)
MAX_PARSE_BYTES = 2_000_000  # same bound as documents.DocumentStore's max_parse_bytes
# Without a tree of the whole text, the scopes around the cursor come from a parse of a region: from
# the top-level construct holding the cursor (searched at most this far up) to the next one below
# (at most SCOPE_BELOW_CHARS on). A parse of the whole document per request (an incremental reparse
# of a 10k-line Python file took 16-20 ms here) is what this avoids; the cost now follows the
# construct around the cursor, bounded, whatever the file's size.
SCOPE_ABOVE_CHARS = 32_000
SCOPE_BELOW_CHARS = 8_000
MAX_REGION_CHARS = SCOPE_ABOVE_CHARS + SCOPE_BELOW_CHARS + 8_000  # beyond: a huge line, not parsed
# A line that starts a construct at column 0 (not a closer, a comment or a continuation).
_TOP_LEVEL_LINE = re.compile(r"\n(?=[A-Za-z_@$\[<])")
_CONSTRUCT_START = re.compile(r"[A-Za-z_@$\[<]")
# How far up the header of a construct bigger than the region is looked for (one C-level search).
OUTER_HEADER_CHARS = 1_000_000
OUTER_HEADER_LINES = 4


class Priority(IntEnum):
    """What a snippet is for; lower numbers are kept first when the budget is short."""

    WINDOW = 1
    MEMBERS = 2  # the receiver's member signatures at ``obj.$0``: before anything else
    SCOPE = 3
    CALLEE = 4
    DEFINITION = 5
    RECENT_EDIT = 6
    SIMILAR = 7


@attrs.frozen
class Snippet:
    """A piece of code offered to the model, with where it comes from and why (for tests and logs)."""

    path: str
    text: str
    reason: str = "recent-edit"
    priority: int = Priority.RECENT_EDIT
    line: int | None = None
    score: float = 0.0


@attrs.frozen
class BuiltContext:
    """The prompt for a cursor, the snippets it includes (in priority order) and those left out."""

    prompt: FimPrompt
    snippets: list[Snippet]
    dropped: list[Snippet] = attrs.field(factory=list)
    window: tuple[int, int] = (0, 0)  # first and last document line of the prefix/suffix window
    # Character offsets [start, end) of that window in the document: a window clipped inside a line
    # needs the text just outside it to redact a secret that straddles the clip.
    span: tuple[int, int] = (0, 0)


class DefinitionLike(Protocol):
    """The fields of ``index.Definition`` this module reads."""

    name: str
    kind: str
    path: str
    line: int
    signature: str
    doc: str
    container: str | None
    type_name: str | None


class SymbolIndex(Protocol):
    """What the context builder asks of the workspace index (``index.WorkspaceIndex`` provides it)."""

    def resolve(self, from_path: str | None, name: str) -> Sequence[DefinitionLike]:
        """Definitions ``name`` means when used in ``from_path``."""
        ...

    def resolve_member(self, from_path: str | None, owner: str, member: str) -> Sequence[DefinitionLike]:
        """Definitions ``owner.member`` means in ``from_path`` (owner: class or module name/chain)."""
        ...

    def members_of(self, cls: DefinitionLike) -> Sequence[DefinitionLike]:
        """Members of a class definition."""
        ...

    def definitions(self, name: str) -> Sequence[DefinitionLike]:
        """Every definition called ``name``."""
        ...

    def module_bound_to(self, from_path: str | None, name: str) -> Sequence[str]:
        """Files of the module a local name is bound to (``import pkg.util as util``), else empty."""
        ...

    def top_level(self, path: str) -> Sequence[DefinitionLike]:
        """One file's definitions outside any class."""
        ...


def identity(text: str) -> str:
    """The default ``sanitize``: leaves text as is (the server passes the privacy gate instead)."""
    return text


def never(_path: str) -> bool:
    """The default ``is_excluded``: nothing is excluded."""
    return False


def base_name(path: str) -> str:
    """The default ``display_path``: a file's base name (an absolute path never enters a prompt)."""
    return posixpath.basename(path.replace("\\", "/")) or "untitled"


# ---------------------------------------------------------------------------------------------------
# The window


def window_bounds(text: str, offset: int, prefix_chars: int, suffix_chars: int) -> tuple[int, int]:
    """Character offsets [start, end) of whole lines around ``offset`` within the given sizes.

    The cursor line is always whole; a pathological cursor line longer than the sizes is cut to them
    around the cursor instead.
    """
    line_start = text.rfind("\n", 0, offset) + 1
    line_end = text.find("\n", offset)
    line_end = len(text) if line_end < 0 else line_end
    start = line_start if offset - line_start <= max(prefix_chars, 200) else offset - prefix_chars
    end = line_end if line_end - offset <= max(suffix_chars, 200) else offset + suffix_chars
    # Grow to the farthest whole lines that fit: one search each way (not a Python step per line).
    lowest = offset - prefix_chars
    if lowest <= 0:
        start = 0
    elif start > lowest:
        start = text.find("\n", lowest - 1, start) + 1 or start
    highest = offset + suffix_chars
    if highest >= len(text):
        end = len(text)
    elif end < highest:
        following = text.rfind("\n", end + 1, highest + 1)
        end = following if following >= 0 else end
    return start, end


# ---------------------------------------------------------------------------------------------------
# Symbols near the cursor

_KEYWORDS_TEXT = (
    "False None True and as assert async await break class continue def del elif else except finally for "
    "from global if import in is lambda nonlocal not or pass raise return try while with yield self cls "
    "this super new function const let var typeof instanceof void delete switch case default do throw "
    "catch extends implements interface package private protected public static final abstract enum "
    "struct impl fn pub mut use mod match loop where type go func defer chan map range select "
    "fallthrough goto int float str bool bytes dict list set tuple object len print isinstance "
    "getattr setattr hasattr range enumerate zip sorted min max sum any all open repr id hash iter next "
    "string number boolean undefined null nil end begin then elsif unless until module require include "
    "console Math JSON Object Array String Number Promise Error Exception ValueError TypeError KeyError "
    "RuntimeError NotImplementedError AttributeError sizeof auto char double long short unsigned signed "
    "namespace template typename using virtual override operator friend inline extern register volatile "
    "std Self Some Ok Err Vec Box Option Result println format"
)
# Keywords and builtins: resolving them would only find unrelated same-named definitions.
_KEYWORDS = frozenset(_KEYWORDS_TEXT.split())
# Whitespace inside a chain never spans lines: ``server.\n    f(`` is a sentence end and a call.
_CHAIN = re.compile(r"(?<![\w.])((?:[A-Za-z_]\w*[ \t]*\.[ \t]*)*[A-Za-z_]\w*)([ \t]*\()?")
_SELF_NAMES = frozenset({"self", "this", "cls", "@"})


@attrs.frozen
class Use:
    """A name or ``a.b.c`` chain used near the cursor; ``distance`` in characters from the cursor."""

    chain: tuple[str, ...]
    distance: int
    called: bool


def uses_near(text: str, offset: int) -> list[Use]:
    """Names and attribute chains used around the cursor, nearest first, each chain once."""
    start = max(0, offset - NEAR_BEFORE_CHARS)
    end = min(len(text), offset + NEAR_AFTER_CHARS)
    region = text[start:end]
    cursor = offset - start
    # raw chain text -> (distance, called); before the cursor later matches are nearer, after it earlier.
    nearest: dict[str, tuple[int, bool]] = {}
    for match in _CHAIN.finditer(region):
        raw = match.group(1)
        m_end = match.end(1)
        distance = cursor - m_end if m_end <= cursor else match.start() - cursor
        previous = nearest.get(raw)
        if previous is None or previous[0] > distance:
            nearest[raw] = (distance, match.group(2) is not None)
    uses: dict[tuple[str, ...], Use] = {}
    for raw, (distance, called) in sorted(nearest.items(), key=lambda item: item[1][0]):
        chain = tuple(part.strip() for part in raw.split(".")) if "." in raw else (raw,)
        head = chain[0]
        if head in _KEYWORDS and (len(chain) == 1 or head not in _SELF_NAMES):
            continue
        if chain not in uses:
            uses[chain] = Use(chain, abs(distance), called)
            if len(uses) >= MAX_SYMBOLS * 2:
                break
    return list(uses.values())


# ``a?.b`` and ``a!.b`` (optional chaining, TypeScript's non-null assertion) access members like ``a.b``.
_CALL_OPEN = re.compile(r"((?:[A-Za-z_]\w*[ \t]*[?!]?\.[ \t]*)*[A-Za-z_]\w*)[ \t]*$")
_MEMBER_ACCESS = re.compile(r"((?:[A-Za-z_]\w*[ \t]*[?!]?\.[ \t]*)*[A-Za-z_]\w*)[ \t]*[?!]?\.[ \t]*(\w*)$")


def callee_at(text: str, offset: int) -> tuple[str, ...] | None:
    """The ``a.b.name`` chain of the innermost call whose argument list holds the cursor, if any."""
    depth = 0
    lower = max(0, offset - 800)
    i = offset - 1
    while i >= lower:
        ch = text[i]
        if ch in ")]}":
            depth += 1
        elif ch in "([{":
            if depth == 0:
                if ch != "(":
                    return None
                match = _CALL_OPEN.search(text, max(lower, i - 200), i)
                if match is None:
                    return None
                chain = tuple(part.strip(" \t?!") for part in match.group(1).split("."))
                before = text[max(0, match.start() - 40) : match.start()].rstrip(" \t")
                # ``f(x).name(`` / ``a[0].name(``: a member of something we cannot name.
                return ("?", *chain) if before.endswith(".") else chain
            depth -= 1
        elif ch == ";" or (ch == "\n" and depth == 0 and text[i - 1 : i] == ":"):
            return None
        i -= 1
    return None


_ASCII_WORD = string.ascii_letters + string.digits + "_"
_CALL_RESULT_ACCESS = re.compile(r"\)[ \t]*[?!]?\.[ \t]*\w*$")
# How far back on the cursor's line a receiver is looked for (a bound, not the line).
MEMBER_ACCESS_CHARS = 300


def member_access_at(text: str, offset: int) -> tuple[str, ...] | None:
    """The owner chain when the cursor follows ``obj.`` or ``obj.partial``; None otherwise.

    A call's result as receiver (``get_settings().``, ``Builder(x).``, ``self.make().``) ends the
    chain with ``name()``: its type is the class constructed or the function's return annotation.
    """
    line_start = text.rfind("\n", max(0, offset - MEMBER_ACCESS_CHARS), offset) + 1
    line = text[max(line_start, offset - MEMBER_ACCESS_CHARS) : offset]
    # Both patterns need a ``.`` before the word being typed. Without one, say so in O(n): the regex
    # search backtracks quadratically over a long run of word characters.
    head = line.rstrip(_ASCII_WORD)
    unicode_word = bool(head) and head[-1].isalnum()  # a non-ASCII letter in the word: the regex judges
    if not unicode_word and not head.rstrip(" \t").endswith("."):
        return None
    match = _MEMBER_ACCESS.search(line)
    if match is not None:
        return tuple(part.strip(" \t?!") for part in match.group(1).split("."))
    call = _CALL_RESULT_ACCESS.search(line)
    if call is None:
        return None
    depth = 0
    for i in range(call.start(), -1, -1):
        depth += {")": 1, "(": -1}.get(line[i], 0)
        if depth == 0:
            break
    else:
        return None
    callee = _CALL_OPEN.search(line, 0, i)
    if callee is None or line[: callee.start()].rstrip(" \t").endswith((".", ")")):
        return None  # ``f(x).g(y).``: the inner call's type is not followed
    chain = tuple(part.strip(" \t?!") for part in callee.group(1).split("."))
    return (*chain[:-1], chain[-1] + "()")


# ---------------------------------------------------------------------------------------------------
# Local types: what class a variable holds, judged from the text before the cursor

_ANNOTATION = re.compile(
    # Python/TS/Rust annotations: ``c: Cache``, ``c: Optional[Cache]``, ``c: &mut Cache``.
    r"(?<![\w.])([a-z_]\w*)[ \t]*:[ \t]*(?:&[ \t]*)?(?:mut )?(?:Optional\[|Type\[)?[\"']?([A-Za-z_][\w.]*)"
)
_ASSIGNMENT = re.compile(
    # Constructor or factory assignments at the start of a line: ``c = Cache(``, ``const c = new Cache(``,
    # ``c := &Cache{``, ``let c = Cache::new(``, ``c = make_cache(``.
    r"^[ \t]*(?:let |const |var |auto |final )?(?:mut )?([A-Za-z_]\w*)(?:[ \t]*:[^=\n]*)?[ \t]*:?="
    r"[ \t]*(?:await |new |&)?([A-Za-z_][\w.]*)(?:::\w+)?[ \t]*[({]",
    re.MULTILINE,
)
_DECLARATION = re.compile(
    # Type-first declarations: ``Cache c = ``, ``Cache *c;``, ``final Cache c,`` (Java, C#, C, C++).
    r"(?<![\w.])([A-Z]\w*)(?:<[^<>\n]*>)?[ \t]*[*&]?[ \t]+([a-z_]\w*)[ \t]*[=;,)]"
)
_GO_PARAMETER = re.compile(
    # Go parameters and receivers: ``(s *Server)``, ``c Cache,``.
    r"[(,][ \t]*([a-z_]\w*)[ \t]+\*?([A-Z][\w.]*)[ \t]*[,)]"
)
_TYPE_PATTERNS: dict[str | None, tuple[re.Pattern[str], ...]] = {
    "python": (_ANNOTATION, _ASSIGNMENT),
    "javascript": (_ASSIGNMENT,),
    "typescript": (_ANNOTATION, _ASSIGNMENT),
    "tsx": (_ANNOTATION, _ASSIGNMENT),
    "rust": (_ANNOTATION, _ASSIGNMENT),
    "go": (_ASSIGNMENT, _GO_PARAMETER),
    "java": (_ASSIGNMENT, _DECLARATION),
    "c_sharp": (_ASSIGNMENT, _DECLARATION),
    "c": (_ASSIGNMENT, _DECLARATION),
    "cpp": (_ASSIGNMENT, _DECLARATION),
    "ruby": (_ASSIGNMENT,),
    None: (_ANNOTATION, _ASSIGNMENT, _DECLARATION),
}


def local_types(
    text: str, offset: int, grammar: str | None = None, start: int | None = None
) -> dict[str, str]:
    """Variable -> type (or ``name()`` for a factory call) from ``text[start:offset]``; last wins.

    ``start`` is usually the start of the enclosing function (its parameters included); by default the
    last ``TYPES_BEFORE_CHARS`` characters. Module-level variables are typed by the index instead.
    """
    # Outside any function only the nearby statements matter: module-level names are typed by the index.
    lower = max(0, offset - TYPES_BEFORE_CHARS) if start is not None else max(0, offset - 1500)
    region = text[max(lower, start or 0) : offset]
    found: list[tuple[int, str, str]] = []
    for pattern in _TYPE_PATTERNS.get(grammar, _TYPE_PATTERNS[None]):
        for match in pattern.finditer(region):
            var, typ = match.group(1), match.group(2)
            if pattern is _DECLARATION:
                var, typ = typ, var
            if var in _KEYWORDS or typ in _KEYWORDS or var == typ:
                continue
            if pattern is _ASSIGNMENT and not typ.rsplit(".", 1)[-1].lstrip("_")[:1].isupper():
                typ = typ + "()"  # a factory: its return annotation names the type
            found.append((match.start(), var, typ))
    found.sort()
    return {var: typ for _, var, typ in found}


# ---------------------------------------------------------------------------------------------------
# Scopes from the tree

_SCOPE_TYPES = syntax.FUNCTION_NODES | syntax.CLASS_NODES | syntax.NAMESPACE_NODES
_CLASS_TYPES = syntax.CLASS_NODES


def scope_region(text: str, offset: int) -> tuple[int, int]:
    """Character offsets [start, end) of the region parsed for the scopes around ``offset``.

    Starts at the nearest column-0 construct line at or above the cursor's line (searched in growing
    windows up to ``SCOPE_ABOVE_CHARS``, else a line start that far up) and ends before the next one
    below the cursor's line (within ``SCOPE_BELOW_CHARS``). Top-level constructs parse on their own,
    so the scopes found in the region are those of the whole file, minus any enclosing construct
    that starts farther up than the bound (a huge class: its methods are still found).
    """
    line_start = text.rfind("\n", 0, offset) + 1
    # endpos one past the line start: the lookahead must see the cursor line's first character.
    start = _nearest_top_level_line(text, line_start + 1, (2_000, 8_000, SCOPE_ABOVE_CHARS))
    if start is None and line_start <= SCOPE_ABOVE_CHARS:
        start = 0  # the file's start: nothing encloses it
    elif start is None:
        start = _outermost_line(text, text.find("\n", line_start - SCOPE_ABOVE_CHARS) + 1, line_start)
    line_end = text.find("\n", offset)
    if line_end < 0:
        return start, len(text)
    limit = line_end + SCOPE_BELOW_CHARS
    following = _TOP_LEVEL_LINE.search(text, line_end, limit + 1)
    if following is not None:
        return start, following.start()
    if limit >= len(text):
        return start, len(text)
    return start, max(text.rfind("\n", line_end, limit), line_end)


def _nearest_top_level_line(text: str, end: int, reaches: tuple[int, ...]) -> int | None:
    """Start of the last column-0 construct line that starts before ``end``, or None.

    Searched in windows of growing ``reaches`` (C-level regex scans), nearest first.
    """
    for reach in reaches:
        lowest = max(0, end - 1 - reach)
        found = None
        for found in _TOP_LEVEL_LINE.finditer(text, max(0, lowest - 1), end):  # noqa: B007 - the last counts
            pass
        if found is not None:
            return found.end()
        if lowest == 0:  # the file's first line has no line break before it
            return 0 if _CONSTRUCT_START.match(text) else None
    return None


def _outermost_line(text: str, lowest: int, line_start: int) -> int:
    """The first least-indented line in [lowest, line_start] (a line start).

    Inside a huge construct, a start from which the code parses as siblings (``def`` after ``def``),
    not as a fragment of a deeper block. Only for cursors more than ``SCOPE_ABOVE_CHARS`` into one
    construct (rare), hence a plain line-by-line walk.
    """
    best, best_width = line_start, None
    position = lowest
    while position <= line_start:
        end = text.find("\n", position, line_start + 1)
        line = text[position : line_start + 1 if end < 0 else end]
        body = line.lstrip()
        if body and _CONSTRUCT_START.match(body):  # not a closer or a continuation (``) -> int:``)
            width = len(line) - len(body)
            if best_width is None or width < best_width:
                best, best_width = position, width
        if end < 0:
            break
        position = end + 1
    return best


def outer_header(text: str, start: int) -> str:
    """The header of the top-level construct holding a region that starts inside it, or "".

    When the cursor sits deeper than ``SCOPE_ABOVE_CHARS`` into one construct (a huge class), the
    region starts at one of its members, and the class itself (what ``self.``/``this.`` resolve
    against) is out of reach. Its header line(s), put before the region, make the parse nest the
    members in it again. "" when ``start`` is itself at column 0 or no header is found.
    """
    if start == 0 or text[start] not in " \t":
        return ""
    head = _nearest_top_level_line(text, start, (64_000, OUTER_HEADER_CHARS))
    if head is None:
        return ""
    end = head
    for _ in range(OUTER_HEADER_LINES):  # up to the line that opens its body: ``:`` or ``{``
        end = text.find("\n", end, start)
        if end < 0:
            return ""
        if text[head:end].rstrip().endswith((":", "{")):
            return text[head : end + 1]
        end += 1
    return ""


def enclosing_scopes(tree: Tree | None, byte_offset: int) -> list[Node]:
    """Scope nodes (functions, classes...) holding the cursor, innermost first."""
    if tree is None:
        return []
    scopes: list[Node] = []
    # At the end of a line the node at the cursor can be the file itself (``self.gen.$0`` parses as an
    # error that ends before the newline): the character before the cursor is then inside the scope.
    for start in (byte_offset, byte_offset - 1) if byte_offset > 0 else (byte_offset,):
        node = tree.root_node.descendant_for_byte_range(start, start)
        while node is not None:
            if node.type in _SCOPE_TYPES and node.parent is not None:
                scopes.append(node)
            node = node.parent
        if scopes:
            break
    return scopes


def _header(source: bytes, node: Node) -> str:
    """A scope's header line(s) as written, with the indentation of its first line."""
    body = node.child_by_field_name("body")
    end = body.start_byte if body is not None and body.start_byte > node.start_byte else node.end_byte
    line_start = source.rfind(b"\n", 0, node.start_byte) + 1
    text = source[line_start:end].decode("utf-8", errors="replace").rstrip().rstrip("{").rstrip()
    lines = text.splitlines()
    return "\n".join(lines[:3])


def _class_name(source: bytes, node: Node) -> str | None:
    named = node.child_by_field_name("name") or node.child_by_field_name("type")
    if named is None:
        return None
    match = re.match(r"[A-Za-z_]\w*", source[named.start_byte : named.end_byte].decode("utf-8", "replace"))
    return match.group(0) if match else None


def _go_receiver_type(source: bytes, scopes: list[Node]) -> str | None:
    for node in scopes:
        receiver = node.child_by_field_name("receiver") if node.type == "method_declaration" else None
        if receiver is not None:
            names = re.findall(r"[A-Za-z_]\w*", source[receiver.start_byte : receiver.end_byte].decode())
            return names[1] if len(names) >= 2 else None
    return None


# ---------------------------------------------------------------------------------------------------
# Resolving what is used near the cursor

_CALLABLE_KINDS = frozenset({"function", "method", "class", "struct"})


@attrs.define
class _Resolver:
    """Per-request resolution state: the index, the file, its local types and enclosing class."""

    index: SymbolIndex
    path: str | None
    types: dict[str, str]
    self_class: str | None
    active: set[str] = attrs.field(factory=set)  # heads whose factory call is being followed

    def owner_type(self, head: str) -> tuple[str, str | None] | None:
        """(type or module chain, file to resolve it from) for the head of an ``a.b`` chain."""
        if head in _SELF_NAMES:
            return (self.self_class, self.path) if self.self_class else None
        if head == "?":
            return None
        typ = self.types.get(head)
        if typ is None:
            # A module-level variable (``console = Console()``): the index knows its type.
            for found in self.index.resolve(self.path, head):
                declared = self.declared_type(found) if found.kind in {"variable", "constant"} else None
                if declared is not None:
                    return declared
            return head, self.path
        if typ.endswith("()"):
            callee = tuple(typ[:-2].split("."))
            # ``x = options.update(...)``: the method of the receiver's type, when that is known.
            through: Sequence[DefinitionLike] = []
            if len(callee) > 1 and head not in self.active:
                # ``a = b.f()`` and ``b = a.g()``: each head is followed once per lookup, no further.
                self.active.add(head)
                try:
                    through = self.chain(callee)
                finally:
                    self.active.discard(head)
            for func in through or self.index.resolve(self.path, callee[-1]):
                if func.kind in TYPE_KINDS:
                    return func.name, func.path  # ``x = _Extractor(...)``: a class after all
                if func.type_name:
                    return func.type_name, func.path
            return None
        return typ, self.path

    def declared_type(self, found: DefinitionLike) -> tuple[str, str] | None:
        """(type, file to resolve it from) of a field, variable or function, if the index knows it.

        A field assigned from a call the index could not type by itself (``self.index =
        self._new_index()``, ``console = get_console()``) has ``callee()`` as its type: the callee's
        return annotation, looked up here, one step and no further.
        """
        typ = found.type_name
        if not typ:
            return None
        if not typ.endswith("()"):
            return typ, found.path
        callee = typ[:-2]
        head, _, attr = callee.rpartition(".")
        if head in _SELF_NAMES and found.container:
            funcs = self.index.resolve_member(found.path, found.container, attr)
        elif head:
            funcs = self.index.resolve_member(found.path, head, attr)
        else:
            funcs = self.index.resolve(found.path, attr)
        for func in funcs[:2]:
            if func.kind in TYPE_KINDS:
                return func.name, func.path
            if func.type_name and not func.type_name.endswith("()"):
                return func.type_name, func.path
        return None

    def chain(self, chain: tuple[str, ...]) -> list[DefinitionLike]:
        """Definitions a name or ``a.b.c`` chain ends at, through types of variables and fields."""
        if len(chain) == 1:
            return list(self.index.resolve(self.path, chain[0]))
        owner = self.owner_type(chain[0])
        if owner is None:
            return []
        typ, from_path = owner
        for attr in chain[1:-1]:
            found = self.index.resolve_member(from_path, typ, attr)
            if not found:
                typ = f"{typ}.{attr}"  # a module chain: ``pkg.mod.f``
                continue
            step = found[0]
            declared = self.declared_type(step)
            if step.kind in TYPE_KINDS:
                typ, from_path = step.name, step.path
            elif declared is not None:
                typ, from_path = declared
            else:
                return []
        return list(self.index.resolve_member(from_path, typ, chain[-1]))

    def owner_class(self, chain: tuple[str, ...]) -> DefinitionLike | None:
        """The class an ``obj`` / ``a.b`` / ``make()`` chain holds, for a member outline."""
        if chain[-1].endswith("()"):
            return self.returned_class((*chain[:-1], chain[-1][:-2]))
        if len(chain) == 1:
            owner = self.owner_type(chain[0])
            if owner is None:
                return None
            typ, from_path = owner
            candidates = self.index.resolve(from_path, typ.rsplit(".", 1)[-1])
        else:
            candidates = self.chain(chain)
            resolved: list[DefinitionLike] = []
            for found in candidates:
                declared = self.declared_type(found) if found.kind not in TYPE_KINDS else None
                if declared is not None:
                    resolved.extend(self.index.resolve(declared[1], declared[0].rsplit(".", 1)[-1]))
                else:
                    resolved.append(found)
            candidates = resolved
        cls = next((c for c in candidates if c.kind in TYPE_KINDS), None)
        if cls is None and chain[-1] not in _SELF_NAMES:
            cls = self.class_named_like(chain[-1])
        return cls

    def returned_class(self, callee: tuple[str, ...]) -> DefinitionLike | None:
        """The class a call to ``callee`` returns: the class itself, or the function's return annotation."""
        for found in self.chain(callee)[:2]:
            if found.kind in TYPE_KINDS:
                return found
            declared = self.declared_type(found)
            if declared is not None:
                typ = declared[0].rsplit(".", 1)[-1]
                cls = next((d for d in self.index.resolve(declared[1], typ) if d.kind in TYPE_KINDS), None)
                if cls is not None:
                    return cls
        return None

    def class_named_like(self, name: str) -> DefinitionLike | None:
        """The class a variable's name spells (``console`` -> ``Console``, ``http_client`` -> ``HttpClient``).

        For receivers whose type is written nowhere near (``self.x = x or default()``).
        """
        spelled = "".join(part[:1].upper() + part[1:] for part in name.split("_") if part)
        if not spelled or spelled == name:
            return None
        return next((d for d in self.index.resolve(self.path, spelled) if d.kind in TYPE_KINDS), None)

    def unique_member(self, name: str) -> list[DefinitionLike]:
        """``?.name`` found by name alone, when the workspace defines it in one or two places only."""
        found = [d for d in self.index.definitions(name) if d.kind in _CALLABLE_KINDS]
        return found if 0 < len(found) <= 2 else []


# ---------------------------------------------------------------------------------------------------
# Rendering


def comment_prefix(grammar: str | None, language_id: str | None) -> str:
    """The line-comment marker for a document's language (``#`` when unknown)."""
    if grammar in {"python", "ruby"}:
        return "#"
    if grammar is not None:
        return "//"
    if language_id and language_id.lower() in {"lua", "sql", "haskell", "elm", "ada"}:
        return "--"
    return "#"


def render_definition(defn: DefinitionLike, index: SymbolIndex, outline: bool, grammar: str | None) -> str:
    """A definition as code: its container's header, its signature, its doc, and a member outline."""
    python = grammar == "python"
    lines: list[str] = []
    indent = ""
    if defn.container:
        lines.append(f"class {defn.container}:" if python else f"{defn.container} {{")
        indent = "    "
    if defn.doc and not python:
        lines.append(f"{indent}/** {defn.doc} */")
    for i, line in enumerate(defn.signature.splitlines()):
        lines.append(indent + line if i == 0 else line)
    if defn.doc and python:
        lines.append(f'{indent}    """{defn.doc}"""')
    if outline and defn.kind in TYPE_KINDS and "\n" not in defn.signature.strip():
        members = list(index.members_of(defn))[:MAX_OUTLINE_MEMBERS]
        for member in members:
            lines.append("    " + member.signature.splitlines()[0].strip())
    text = "\n".join(lines)
    if defn.container and not python:
        text += "\n}"
    return text[:MAX_SNIPPET_CHARS]


def render_snippet(snippet: Snippet, comment: str, label: str) -> str:
    """A snippet as comment lines headed by its path's ``label``, ending in a newline."""
    body = "\n".join(f"{comment} {line}" if line else comment for line in snippet.text.splitlines())
    return f"{comment} path: {label}\n{body}\n"


# ---------------------------------------------------------------------------------------------------
# Similar snippets

_TOKEN = re.compile(r"[A-Za-z_]\w+")


def tokens(text: str) -> frozenset[str]:
    """The identifier set of a text (the unit of similarity)."""
    return frozenset(_TOKEN.findall(text))


class _Windows:
    """A file's sliding windows, searchable by identifier: an inverted index, not one set per window.

    ``postings`` maps each identifier to the windows holding it, ``sizes`` is each window's number of
    distinct identifiers and ``bounds`` the character offsets of the lines, so a window's text is cut
    only for the one that wins. Scoring every window of a file is then one C-level count over the
    query's postings instead of two set operations per window (5.8 -> about 1 ms per request over
    four 2,000-line files), and the entry holds no copy of the windows' text.
    """

    __slots__ = ("text", "postings", "sizes", "bounds", "starts", "cost")

    def __init__(self, text: str) -> None:
        kept = text[:MAX_OPEN_FILE_CHARS]
        lines = kept.splitlines(keepends=True)
        self.text = kept
        self.bounds = array("l", accumulate(map(len, lines), initial=0))
        postings: dict[str, list[int]] = {}
        sizes: list[int] = []
        starts: list[int] = []
        last = max(1, len(lines) - SIMILAR_WINDOW_LINES + SIMILAR_STRIDE)
        for start in range(0, last, SIMILAR_STRIDE):
            toks = tokens(self._chunk(start))
            if not toks:
                continue
            window = len(sizes)
            for tok in toks:
                postings.setdefault(tok, []).append(window)
            sizes.append(len(toks))
            starts.append(start)
        self.postings = {tok: array("H" if len(sizes) < 2**16 else "l", ids) for tok, ids in postings.items()}
        self.sizes = sizes
        self.starts = starts
        self.cost = sys.getsizeof(kept) + len(kept) * _WINDOW_BYTES_PER_CHAR

    def _chunk(self, start: int) -> str:
        """The text of the window at line ``start``: its lines without their endings, joined by newlines."""
        end = min(start + SIMILAR_WINDOW_LINES, len(self.bounds) - 1)
        return "\n".join(self.text[self.bounds[start] : self.bounds[end]].splitlines())

    def best(self, query: frozenset[str]) -> tuple[float, int, str] | None:
        """(Jaccard similarity, first line, text) of the best window at or over ``SIMILAR_MIN_SCORE``.

        The first window wins a tie, as a scan in file order keeping only strictly better ones would.
        """
        postings = self.postings
        shared = Counter(chain.from_iterable(postings[t] for t in query if t in postings))
        found: tuple[float, int] | None = None
        size, sizes = len(query), self.sizes
        for window, common in shared.items():
            score = common / (size + sizes[window] - common)
            if score >= SIMILAR_MIN_SCORE and (
                found is None or score > found[0] or (score == found[0] and window < found[1])
            ):
                found = (score, window)
        if found is None:
            return None
        start = self.starts[found[1]]
        return found[0], start, self._chunk(start)


# What the window cache may hold, in bytes. An entry costs the text it is keyed by (an edited
# document's old text outlives the document's next version here), a copy of the first
# MAX_OPEN_FILE_CHARS when the text is longer, and about _WINDOW_BYTES_PER_CHAR bytes per character of
# that for the index: postings arrays, per-window sizes, line offsets and the identifier dict
# (measured with tracemalloc on real Python modules: 3.3-3.7 bytes per character; the set-per-window
# layout before took about 20). 4 MiB hold the four other open files a request looks at (up to
# ~100 kB each, about 0.5 MiB an entry) twice over. An entry per file, replaced when its text changes:
# old versions are never read again.
WINDOW_CACHE_BYTES = 4 * 2**20
_WINDOW_BYTES_PER_CHAR = 4


class _WindowCache:
    """Sliding windows of the latest text of each file, least recently used dropped first, in bytes.

    Keyed by file, not by text: a new version of a file replaces its entry, so an edited file never
    leaves one entry per version behind (old versions are never read again). An entry holds only
    the part of the text its windows are cut from (``MAX_OPEN_FILE_CHARS``), and is valid for any
    text that starts with it: a huge file costs its bounded part, so it stays cached instead of
    being rebuilt at every request (a 3.5 MB file's whole text exceeded the budget on its own).
    """

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.used = 0
        self._entries: OrderedDict[str, tuple[str, _Windows]] = OrderedDict()

    def get(self, path: str, text: str) -> _Windows:
        kept = text[:MAX_OPEN_FILE_CHARS]  # the whole text itself (no copy) when it is shorter
        found = self._entries.get(path)
        if found is not None and (found[0] is kept or found[0] == kept):
            self._entries.move_to_end(path)
            return found[1]
        if found is not None:
            self.used -= self._entries.pop(path)[1].cost
        windows = _Windows(kept)
        if windows.cost <= self.budget:
            self._entries[path] = (windows.text, windows)
            self.used += windows.cost
            while self.used > self.budget:
                self.used -= self._entries.popitem(last=False)[1][1].cost
        return windows

    def clear(self) -> None:
        self._entries.clear()
        self.used = 0

    def __len__(self) -> int:
        return len(self._entries)


_WINDOW_CACHE = _WindowCache(WINDOW_CACHE_BYTES)


def window_cache_stats() -> tuple[int, int]:
    """(entries, estimated bytes) held by the similar-snippet window cache."""
    return len(_WINDOW_CACHE), _WINDOW_CACHE.used


class _RegionTrees:
    """The last scope-region tree of each recent file, so the next request reparses incrementally.

    Consecutive requests in one file parse nearly the same region (a few keystrokes apart): the old
    tree, edited by the one span where the two regions differ, lets tree-sitter reuse everything
    else (a 20-30 KB class region: ~2 ms from scratch). Bounded by count, each entry by the region's
    bound (``SCOPE_ABOVE_CHARS + SCOPE_BELOW_CHARS`` plus a line, its source and tree).
    """

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._trees: OrderedDict[tuple[str, str], tuple[bytes, Tree]] = OrderedDict()

    def parse(self, path: str | None, grammar: str, source: bytes) -> Tree | None:
        """The tree of ``source``, from the last region of ``path`` when there is one."""
        key = (path or "", grammar)
        previous = self._trees.pop(key, None)
        old_tree = _edited(*previous, source) if previous is not None else None
        tree = syntax.parse(grammar, source, old_tree)
        if tree is not None and path:
            self._trees[key] = (source, tree)
            while len(self._trees) > self._capacity:
                self._trees.popitem(last=False)
        return tree

    def clear(self) -> None:
        self._trees.clear()

    def __len__(self) -> int:
        return len(self._trees)


def _edited(old_source: bytes, old_tree: Tree, source: bytes) -> Tree:
    """A copy of ``old_tree`` edited by the one span where ``old_source`` and ``source`` differ."""
    start = _common_prefix(old_source, source)
    shared_end = _common_suffix(old_source, source, min(len(old_source), len(source)) - start)
    old_end, new_end = len(old_source) - shared_end, len(source) - shared_end
    edited = old_tree.copy()
    edited.edit(
        start_byte=start,
        old_end_byte=old_end,
        new_end_byte=new_end,
        start_point=_point(old_source, start),
        old_end_point=_point(old_source, old_end),
        new_end_point=_point(source, new_end),
    )
    return edited


def _common_prefix(a: bytes, b: bytes) -> int:
    """Length of the longest common prefix: a binary search of C-level comparisons, no copies."""
    left, right = memoryview(a), memoryview(b)
    low, high = 0, min(len(a), len(b))
    while low < high:
        mid = (low + high + 1) // 2
        if left[:mid] == right[:mid]:
            low = mid
        else:
            high = mid - 1
    return low


def _common_suffix(a: bytes, b: bytes, limit: int) -> int:
    """Length of the longest common suffix, at most ``limit``."""
    left, right = memoryview(a), memoryview(b)
    low, high = 0, max(0, limit)
    while low < high:
        mid = (low + high + 1) // 2
        if left[len(a) - mid :] == right[len(b) - mid :]:
            low = mid
        else:
            high = mid - 1
    return low


def _point(source: bytes, byte: int) -> tuple[int, int]:
    """Tree-sitter's (row, byte column) of a byte offset."""
    return source.count(b"\n", 0, byte), byte - (source.rfind(b"\n", 0, byte) + 1)


_REGION_TREES = _RegionTrees(capacity=4)


def clear_caches() -> None:
    """Forget every cached window and region tree (a document closed: its text must not outlive it)."""
    _WINDOW_CACHE.clear()
    _REGION_TREES.clear()


def similar_snippets(query: frozenset[str], files: Sequence[tuple[str, str]]) -> list[Snippet]:
    """The ``SIMILAR_TOP`` windows of ``files`` with the highest Jaccard similarity to ``query``."""
    if not query:
        return []
    scored: list[Snippet] = []
    for path, text in files:
        best = _WINDOW_CACHE.get(path, text).best(query)
        if best is not None:
            scored.append(Snippet(path, best[2], "similar", Priority.SIMILAR, best[1], round(best[0], 3)))
    scored.sort(key=lambda s: -s.score)
    return scored[:SIMILAR_TOP]


# ---------------------------------------------------------------------------------------------------
# Assembly


def _definition_snippets(
    *,
    text: str,
    offset: int,
    path: str | None,
    grammar: str | None,
    index: SymbolIndex,
    resolver: _Resolver,
    window: tuple[int, int],
    local_names: set[str],
) -> list[Snippet]:
    """CALLEE and DEFINITION snippets for the symbols around the cursor, most relevant first."""
    result: list[Snippet] = []
    seen: set[tuple[str, int]] = set()
    first_line = text.count("\n", 0, window[0])
    window_lines = (first_line, first_line + text.count("\n", window[0], window[1]))

    def add(defs: Sequence[DefinitionLike], priority: int, reason: str, outline: bool) -> None:
        for defn in defs[:2]:
            key = (defn.path, defn.line)
            if key in seen:
                continue
            seen.add(key)
            if defn.path == path and window_lines[0] <= defn.line <= window_lines[1]:
                continue  # already visible in the prefix/suffix
            body = render_definition(defn, index, outline, grammar)
            result.append(Snippet(defn.path, body, reason, priority, defn.line))

    member_owner = member_access_at(text, offset)
    if member_owner is not None:
        cls = resolver.owner_class(member_owner)
        if cls is not None:
            seen.add((cls.path, cls.line))  # its members are the MEMBERS snippet (receiver_members)
    callee = callee_at(text, offset)
    if callee is not None:
        defs = resolver.chain(callee)
        if not defs and len(callee) > 1:
            # The receiver's class as the dot would find it (``subscriber`` -> ``Subscriber``), then by name.
            cls = resolver.owner_class(callee[:-1])
            defs = list(index.resolve_member(cls.path, cls.name, callee[-1])) if cls is not None else []
            defs = defs or resolver.unique_member(callee[-1])
        add(defs, Priority.CALLEE, "callee", outline=False)
    for use in uses_near(text, offset)[:MAX_SYMBOLS]:
        if use.chain in {callee, member_owner}:
            continue
        if len(use.chain) == 1 and use.chain[0] in local_names:
            continue
        defs = resolver.chain(use.chain)
        if not defs and len(use.chain) > 1 and use.called:
            defs = resolver.unique_member(use.chain[-1])
        outline = len(use.chain) == 1 and not use.called
        add(defs, Priority.DEFINITION, "definition", outline=outline)
    return result


_TYPED_NAME = re.compile(r"\w*$")


def receiver_members(
    text: str, offset: int, index: SymbolIndex, resolver: _Resolver, comment: str
) -> Snippet | None:
    """At ``receiver.$0`` / ``receiver.partial$0``: the signatures of all the receiver class's members."""
    owner = member_access_at(text, offset)
    if owner is None:
        return None
    match = _TYPED_NAME.search(text, max(0, offset - 100), offset)
    typed = match.group() if match else ""  # ``obj.gen$0``: members starting with ``gen`` first
    # Members the code around the cursor already uses come early (a bounded look, not the file).
    nearby = tokens(text[max(0, offset - 3000) : offset + 1000])
    if len(owner) == 1 and owner[0] not in resolver.types:
        # ``util.$0`` where ``util`` is an imported module: its top-level definitions are the members.
        files = list(index.module_bound_to(resolver.path, owner[0]))[:MAX_MODULE_FILES]
        definitions = [d for f in files for d in index.top_level(f)][:MAX_MODULE_DEFINITIONS]
        if definitions:
            body = members.module_signatures(
                owner[0],
                cast("list[members.Member]", definitions),
                MEMBERS_CHARS - 200,
                comment,
                typed,
                nearby,
            )
            return Snippet(files[0], body, "members", Priority.MEMBERS, 0)
    cls = resolver.owner_class(owner)
    if cls is None:
        return None
    # The index returns its own definitions for its own classes: DefinitionLike is members.Member.
    lookup = cast("members.MemberIndex", index)
    body = members.member_signatures(cls, lookup, MEMBERS_CHARS - 200, comment, typed, nearby)
    return Snippet(cls.path, body, "members", Priority.MEMBERS, cls.line) if body else None


def build_context(
    *,
    text: str,
    offset: int,
    path: str | None,
    language_id: str | None,
    tree: Tree | None = None,
    index: SymbolIndex | None = None,
    budget_chars: int = 6000,
    recent_edits: Sequence[Snippet] = (),
    open_files: Sequence[tuple[str, str]] = (),
    sanitize: Callable[[str], str] = identity,
    is_excluded: Callable[[str], bool] = never,
    display_path: Callable[[str], str] = base_name,
    parse_missing: bool = True,
) -> BuiltContext:
    """The FIM prompt for a cursor at character ``offset`` of ``text``, within ``budget_chars``.

    ``len(prefix) + len(suffix) + len(context) <= budget_chars`` always holds, except that the cursor
    line is kept whole (cut around the cursor only when it alone exceeds the window's share).
    ``sanitize`` runs over the prefix, the suffix and every snippet before they are measured;
    ``is_excluded`` drops snippets from excluded files (open files, recent edits, definitions); it
    judges real paths, and ``display_path`` turns a path into the label the prompt shows.
    Without ``tree``, the text is parsed here unless ``parse_missing`` is False (the document store
    withheld the tree on purpose: scope headers are left out then).
    """
    offset = max(0, min(offset, len(text)))
    grammar = syntax.grammar_name(language_id, path)
    comment = comment_prefix(grammar, language_id)
    # ``source`` holds text[base:...] in utf-8: the whole text with a caller's tree, else the region
    # around the cursor (``scope_region``); node byte offsets are relative to it.
    # ``lead``: bytes put before text[base:...] in ``source`` (the header of a construct bigger
    # than the region, see ``outer_header``); byte offsets in ``source`` count them.
    base = lead = 0
    if tree is not None:
        source = text.encode("utf-8", errors="replace")
    elif parse_missing and grammar is not None:
        base, region_end = scope_region(text, offset)
        if region_end - base <= MAX_REGION_CHARS:
            header = outer_header(text, base).encode("utf-8", errors="replace")
            lead = len(header)
            source = header + text[base:region_end].encode("utf-8", errors="replace")
            tree = _REGION_TREES.parse(path, grammar, source)
        else:  # the cursor's line alone is longer (minified code, data): no scopes to speak of
            base, source = offset, b""
    else:
        source = b""
    byte_offset = lead + len(text[base:offset].encode("utf-8", errors="replace"))
    scopes = enclosing_scopes(tree, byte_offset)
    resolver = None
    receiver = None
    if index is not None:
        self_class = next(
            (_class_name(source, node) for node in scopes if node.type in _CLASS_TYPES), None
        ) or _go_receiver_type(source, scopes)
        function_start = next((n.start_byte for n in scopes if n.type not in _CLASS_TYPES), None)
        if function_start is not None:
            function_start = base + len(source[lead:function_start].decode("utf-8", errors="replace"))
        types = local_types(text, offset, grammar, function_start)
        resolver = _Resolver(index, path, types, self_class)
        receiver = receiver_members(text, offset, index, resolver, comment)

    window_chars = int(budget_chars * WINDOW_SHARE)
    if receiver is not None and not is_excluded(receiver.path):
        # The receiver's members come first: the window gives up the room they need (down to a floor).
        need = len(render_snippet(receiver, comment, display_path(receiver.path))) + 1
        window_chars = max(min(window_chars, budget_chars - need), int(budget_chars * MIN_WINDOW_SHARE))
    prefix_room = int(window_chars * PREFIX_SHARE)
    suffix_room = window_chars - prefix_room
    # Unused room on one side flows to the other.
    available_before, available_after = offset, len(text) - offset
    if available_after < suffix_room:
        prefix_room += suffix_room - available_after
    if available_before < prefix_room:
        suffix_room += prefix_room - available_before
    start, end = window_bounds(text, offset, prefix_room, suffix_room)

    candidates: list[Snippet] = [receiver] if receiver is not None else []
    # Scopes that start above the window (and the region's start, ``base``) are not in the prompt.
    start_byte = lead + (len(text[base:start].encode("utf-8", errors="replace")) if start > base else 0)
    label = path or "untitled"
    headers = [_header(source, node) for node in reversed(scopes) if node.start_byte < start_byte]
    if headers:
        candidates.append(Snippet(label, "\n".join(headers), "scope", Priority.SCOPE))

    if index is not None and resolver is not None:
        local_names = set(resolver.types) | _assigned_names(text[start:offset])
        candidates.extend(
            _definition_snippets(
                text=text,
                offset=offset,
                path=path,
                grammar=grammar,
                index=index,
                resolver=resolver,
                window=(start, end),
                local_names=local_names,
            )
        )
    for edit in recent_edits:
        if edit.path != path and edit.text.strip():
            candidates.append(attrs.evolve(edit, reason="recent-edit", priority=Priority.RECENT_EDIT))
    others = [(p, t) for p, t in open_files if p != path and not is_excluded(p)]
    if others:
        query = tokens(text[max(start, text.rfind("\n", 0, max(0, offset - 600)) + 1) : offset])
        for snippet in similar_snippets(query, others):
            candidates.append(snippet)

    prefix = sanitize(text[start:offset])
    suffix = sanitize(text[offset:end])
    remaining = budget_chars - len(prefix) - len(suffix)
    chosen: list[tuple[Snippet, str]] = []
    dropped: list[Snippet] = []
    seen_text: set[str] = set()
    for snippet in sorted(candidates, key=lambda s: s.priority):  # stable: keeps rank within a priority
        if is_excluded(snippet.path) or snippet.text in seen_text:
            continue
        clean = attrs.evolve(snippet, text=sanitize(snippet.text))
        rendered = render_snippet(clean, comment, display_path(snippet.path))
        if len(rendered) > remaining:
            dropped.append(clean)
            continue
        seen_text.add(snippet.text)
        chosen.append((clean, rendered))
        remaining -= len(rendered)

    # Room left over goes back to the window, prefix first (it predicts the completion best).
    if remaining > 0:
        grown, _ = window_bounds(text, offset, (offset - start) + remaining, end - offset)
        extra = sanitize(text[grown:start])
        if extra and len(extra) <= remaining:
            prefix, start, remaining = extra + prefix, grown, remaining - len(extra)
    if remaining > 0:
        _, grown = window_bounds(text, offset, offset - start, (end - offset) + remaining)
        extra = sanitize(text[end:grown])
        if extra and len(extra) <= remaining:
            suffix, end, remaining = suffix + extra, grown, remaining - len(extra)

    context = "".join(rendered for _, rendered in reversed(chosen))
    first_line = text.count("\n", 0, start)
    last_line = first_line + text.count("\n", start, end)
    shown_path = display_path(path) if path else None
    prompt = FimPrompt(
        prefix=prefix, suffix=suffix, path=shown_path, language_id=language_id, context=context
    )
    return BuiltContext(prompt, [s for s, _ in chosen], dropped, (first_line, last_line), (start, end))


_ASSIGNED = re.compile(r"^\s*([A-Za-z_]\w*)\s*(?::[^=\n]*)?=(?!=)", re.MULTILINE)


def _assigned_names(text: str) -> set[str]:
    """Names assigned in the window: locals, whose "definition" elsewhere would be a false match."""
    return set(_ASSIGNED.findall(text))
