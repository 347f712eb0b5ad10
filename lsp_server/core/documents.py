"""Open documents: their text, version and syntax tree, kept in step with incremental changes.

Owns the one source of truth for document text (DESIGN invariant 2): pygls applies ``didChange`` to its
own copy, but only this store knows the exact byte ranges each change touched, which tree-sitter's
``Tree.edit`` needs. It hands out frozen ``Snapshot``s that later changes never alter.

Speed matters because every keystroke lands here. The text lives in small immutable blocks of whole
lines with per-block character, byte and line totals, so a change costs O(block) work, never O(file)
Python work, and a snapshot shares the blocks instead of copying the text. A block is ONE string
(about 2 kB, at most 128 lines when built) plus, once a line of it is asked for, an array of where
its lines start; not a string per line, whose ~50-byte headers outweigh a short line's text (a
200,000-line ASCII file took 15 MiB as 200,000 strings, 4 MiB as 2,000 blocks; bench/documents.py).
Opening a file cuts its text after a line break every 2 kB with C-level searches and counts, never
a Python step per line. Tree-sitter edits are recorded per change and the reparse happens once, when
someone first asks a snapshot for its tree (a burst of keystrokes between two completion requests
costs one reparse, not one per key).

Must not import pygls or lsprotocol, do I/O, or raise on odd input: positions out of range are
clamped, and binary or huge files are kept as plain text without a tree.
"""

from __future__ import annotations

import gc
import re
from array import array
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from itertools import accumulate, chain, islice
from typing import TYPE_CHECKING

import attrs

from lsp_server.core import errors, syntax
from lsp_server.core.text import (
    Encoding,
    column_to_index,
    index_to_column,
    line_content_length,
    point_after,
    split_lines,
    to_utf8,
    ts_point,
    utf8_len,
)
from lsp_server.core.uris import uri_basename

if TYPE_CHECKING:
    from tree_sitter import Tree

Point = tuple[int, int]
Position = tuple[int, int]
# (start_byte, old_end_byte, new_end_byte, start_point, old_end_point, new_end_point), as Tree.edit takes
TreeEdit = tuple[int, int, int, Point, Point, Point]

# A block is (re)built from about _BLOCK_CHARS characters of whole lines and at most _BLOCK_LINES lines:
# small enough that O(block) work is cheap, big enough that a large file is a few thousand objects. An
# edited block is kept whole up to twice that (one line longer than that is a block of its own).
_BLOCK_CHARS = 2048
_BLOCK_LINES = 128
_MAX_CHARS = 2 * _BLOCK_CHARS
_MAX_LINES = 2 * _BLOCK_LINES
_MAX_PENDING = 16  # tree edits kept apart before they are folded into one covering edit
_PAUSE_GC_CHARS = 1_000_000  # texts from this size are split with the cyclic collector paused


@attrs.frozen
class Change:
    """One entry of ``didChange``'s ``contentChanges``: ``range`` None replaces the whole text.

    Positions are ``(line, character)`` in the store's negotiated encoding.
    """

    text: str
    range: tuple[Position, Position] | None = None


class _Block:
    """``count`` whole LSP lines as one string, shared (never changed) by the store and its snapshots.

    Every line but a document's last ends with its line break, so a CRLF never straddles two blocks.
    Where each line starts is found on first need and kept: most blocks of a big file are never read
    line by line, and the one being typed in is read once per keystroke.
    """

    __slots__ = ("text", "count", "_bounds")

    def __init__(self, text: str, count: int) -> None:
        self.text = text
        self.count = count
        self._bounds: array[int] | None = None

    def bounds(self) -> array[int]:
        """Str index where each line starts, then the end of the last one (``count + 1`` items or more)."""
        bounds = self._bounds
        if bounds is None:
            # split_lines keeps the LSP line-break rules in one place; its lines live only for this call.
            # A 4-byte index per line: the array is a quarter the size of a tuple of int objects.
            code = "I" if len(self.text) < 1 << 32 else "Q"
            bounds = array(code, accumulate(map(len, split_lines(self.text)), initial=0))
            self._bounds = bounds
        return bounds

    def line(self, i: int) -> str:
        bounds = self.bounds()
        return self.text[bounds[i] : bounds[i + 1]]

    def lines(self, first: int = 0, end: int | None = None) -> list[str]:
        """Lines ``first`` up to ``end`` (exclusive, within the block), with their line endings."""
        end = self.count if end is None else min(end, self.count)
        if self._bounds is None and first == 0 and end == self.count:
            # Listing a whole block (``Snapshot.lines``) needs no bounds kept afterwards.
            return split_lines(self.text)[:end]
        bounds, text = self.bounds(), self.text
        return [text[bounds[i] : bounds[i + 1]] for i in range(first, end)]


def _breaks(text: str, start: int, end: int, cr: bool) -> int:
    """Line breaks in ``text[start:end]``; ``cr`` says whether ``text`` holds a CR at all."""
    count = text.count("\n", start, end)
    if cr:
        count += text.count("\r", start, end) - text.count("\r\n", start, end)
    return count


def _lines_end(text: str, pos: int, cr: bool) -> int:
    """Where the first _BLOCK_LINES lines from ``pos`` end (there must be as many line breaks)."""
    line = r"[^\r\n]*(?:\r\n|\r|\n)" if cr else r"[^\n]*\n"
    # One C-level match; re caches the compiled pattern.
    match = re.compile(f"(?:{line}){{{_BLOCK_LINES}}}").match(text, pos)
    assert match is not None
    return match.end()


def _break_end(text: str, pos: int, cr: bool) -> int:
    """Where the first line break at or after ``pos`` ends; the end of the text if none does."""
    lf = text.find("\n", pos)
    if cr:
        at = text.find("\r", pos, lf if lf >= 0 else len(text))
        if at >= 0:  # a CR before the LF: a lone CR, or the CR of a CRLF
            return at + 2 if text.startswith("\n", at + 1) else at + 1
    return lf + 1 if lf >= 0 else len(text)


def _cut(text: str, lines: int) -> list[_Block]:
    """``text``, ``lines`` whole LSP lines (the last may lack a line break), as blocks.

    Cuts after the first line break past every _BLOCK_CHARS characters, so the work is a few C-level
    searches and counts per block, never a step per line; a stretch of more than _BLOCK_LINES short
    lines is cut after its _BLOCK_LINES-th line instead.
    """
    cr = "\r" in text
    size, pos = len(text), 0
    blocks: list[_Block] = []
    while True:
        cut = _break_end(text, pos + _BLOCK_CHARS, cr)
        count = lines if cut == size else _breaks(text, pos, cut, cr)
        if count > _BLOCK_LINES:
            cut, count = _lines_end(text, pos, cr), _BLOCK_LINES
        blocks.append(_Block(text[pos:cut], count))
        lines -= count
        pos = cut
        if lines <= 0:
            return blocks


class _TreeState:
    """The tree of one document version, parsed on first demand from a base tree plus pending edits.

    Shared by the store and every snapshot of that version, so the reparse happens once and the
    next version starts from the resolved tree.
    """

    __slots__ = ("grammar", "base", "edits", "blocks", "tree", "done")

    def __init__(
        self,
        grammar: str | None,
        base: Tree | None = None,
        edits: tuple[TreeEdit, ...] = (),
        blocks: tuple[_Block, ...] = (),
    ) -> None:
        self.grammar = grammar
        self.base = base
        self.edits = edits
        self.blocks = blocks  # the version's text, as the store's immutable line blocks
        self.tree: Tree | None = None
        self.done = grammar is None

    def resolve(self) -> Tree | None:
        if not self.done:
            # One contiguous buffer, not a chunk callback: py-tree-sitter 0.25-0.26 never releases
            # what a read callback returns (parser.c takes a buffer view of it and drops only the
            # view), so every incremental parse leaked the chunks it read. Joining and encoding is
            # C-level work once per parsed version (a completion request), never per keystroke.
            source = to_utf8("".join([block.text for block in self.blocks]))
            if self.base is None:
                self.tree = syntax.parse(self.grammar, source)
            else:
                # Tree.edit mutates in place and older snapshots may hold the base: edit a copy.
                edited = self.base.copy()
                for edit in self.edits:
                    edited.edit(*edit)
                self.tree = syntax.parse(self.grammar, source, edited)
            self.done, self.base, self.edits, self.blocks = True, None, (), ()
        return self.tree

    def next_base(self) -> tuple[Tree | None, list[TreeEdit]]:
        """Where the following version's tree starts from: this tree, or this one's own starting point."""
        if self.done:
            return self.tree, []
        return self.base, list(self.edits)


@attrs.frozen(eq=False)
class Snapshot:
    """One version of one document, frozen: later changes never alter it (nor its tree).

    ``text`` and ``tree`` may be passed directly, or (from the store) computed on first access.
    Positions are LSP ``(line, character)`` in ``encoding``; offsets are str indexes into ``text``.
    """

    uri: str
    version: int
    language_id: str
    grammar: str | None
    _text: str | None = attrs.field(default=None, alias="text")
    _tree: Tree | None = attrs.field(default=None, alias="tree", repr=False)
    encoding: Encoding = Encoding.UTF16
    _blocks: tuple[_Block, ...] | None = attrs.field(default=None, alias="blocks", repr=False)
    # Characters per block and the number of each block's first line (one more item: the line count),
    # from the store: positions <-> offsets find their block by bisection, not by listing every line.
    _block_chars: tuple[int, ...] | None = attrs.field(default=None, alias="block_chars", repr=False)
    _block_lines: tuple[int, ...] | None = attrs.field(default=None, alias="block_lines", repr=False)
    _state: _TreeState | None = attrs.field(default=None, alias="state", repr=False)
    _lines: tuple[str, ...] | None = attrs.field(default=None, init=False, repr=False)
    _starts: list[int] | None = attrs.field(default=None, init=False, repr=False)
    _block_starts: list[int] | None = attrs.field(default=None, init=False, repr=False)
    _source: bytes | None = attrs.field(default=None, init=False, repr=False)

    @property
    def text(self) -> str:
        """The full text of this version."""
        if self._text is None:
            text = "".join([block.text for block in self._blocks]) if self._blocks is not None else ""
            object.__setattr__(self, "_text", text)
            return text
        return self._text

    @property
    def tree(self) -> Tree | None:
        """The syntax tree of ``text``; ``None`` for plain text, binary or oversized files."""
        if self._tree is None and self._state is not None:
            object.__setattr__(self, "_tree", self._state.resolve())
        return self._tree

    @property
    def source(self) -> bytes:
        """``text`` as the utf-8 bytes tree-sitter offsets index into."""
        source = self._source
        if source is None:
            source = to_utf8(self.text)
            object.__setattr__(self, "_source", source)
        return source

    @property
    def lines(self) -> tuple[str, ...]:
        """LSP lines, each with its line ending (the last one has none)."""
        if self._lines is None:
            if self._blocks is not None:
                lines = tuple(chain.from_iterable(block.lines() for block in self._blocks))
            else:
                lines = tuple(split_lines(self.text))
            object.__setattr__(self, "_lines", lines)
            return lines
        return self._lines

    @property
    def line_count(self) -> int:
        """Number of LSP lines (text ending with a line break has an empty last line)."""
        if self._walkable():
            assert self._block_lines is not None
            return self._block_lines[-1]
        return len(self.lines)

    def line_text(self, n: int) -> str:
        """Line ``n`` without its line ending; ``""`` for a line that does not exist."""
        if self._walkable():
            assert self._blocks is not None and self._block_lines is not None
            if not 0 <= n < self._block_lines[-1]:
                return ""
            k = bisect_right(self._block_lines, n) - 1
            line = self._blocks[k].line(n - self._block_lines[k])
            return line[: line_content_length(line)]
        lines = self.lines
        if 0 <= n < len(lines):
            line = lines[n]
            return line[: line_content_length(line)]
        return ""

    def lines_between(self, first: int, end: int) -> tuple[str, ...]:
        """Lines ``first`` up to ``end`` (exclusive, clamped to the document), with their line endings.

        Reads the store's blocks: a few lines of a version whose lines were never listed cost
        O(log blocks + block), not O(lines) (the edit history reads the lines each keystroke touched).
        """
        first, end = max(0, first), max(0, end)
        if not self._walkable():
            return self.lines[first:end]
        assert self._blocks is not None and self._block_lines is not None
        starts = self._block_lines
        found: list[str] = []
        k = bisect_right(starts, first) - 1
        while k < len(self._blocks) and starts[k] < end:
            found.extend(self._blocks[k].lines(max(0, first - starts[k]), end - starts[k]))
            k += 1
        return tuple(found)

    def _line_starts(self) -> list[int]:
        if self._starts is None:
            starts = list(accumulate(map(len, self.lines), initial=0))
            object.__setattr__(self, "_starts", starts)
            return starts
        return self._starts

    def _walkable(self) -> bool:
        # A version whose lines were never listed: its positions cost O(log blocks + block), not O(lines)
        # (each keystroke makes a new version, and a request converts two positions on it).
        return self._lines is None and self._blocks is not None and self._block_lines is not None

    def _char_starts(self) -> list[int]:
        """Str offset where each block starts, then the length of the text."""
        starts = self._block_starts
        if starts is None:
            starts = list(accumulate(self._block_chars or (), initial=0))
            object.__setattr__(self, "_block_starts", starts)
        return starts

    def offset_at(self, line: int, character: int) -> int:
        """Str offset of an LSP position, clamped: past the last line is the end of the text."""
        if line < 0:
            return 0
        if self._walkable():
            assert self._blocks is not None and self._block_lines is not None
            firsts, chars = self._block_lines, self._char_starts()
            if line >= firsts[-1]:
                return chars[-1]
            k = bisect_right(firsts, line) - 1
            block, i = self._blocks[k], line - firsts[k]
            return chars[k] + block.bounds()[i] + column_to_index(block.line(i), character, self.encoding)
        lines = self.lines
        if line >= len(lines):
            return len(self.text)
        return self._line_starts()[line] + column_to_index(lines[line], character, self.encoding)

    def position_at(self, offset: int) -> Position:
        """LSP position of a str offset (clamped to the text; inside a line ending: end of that line)."""
        if self._walkable():
            assert self._blocks is not None and self._block_lines is not None
            chars = self._char_starts()
            k = max(0, min(bisect_right(chars, offset) - 1, len(self._blocks) - 1))
            block, within = self._blocks[k], offset - chars[k]
            bounds = block.bounds()
            i = max(0, min(bisect_right(bounds, within) - 1, block.count - 1))
            text = block.line(i)
            index = min(max(0, within - bounds[i]), line_content_length(text))
            return self._block_lines[k] + i, index_to_column(text, index, self.encoding)
        lines, starts = self.lines, self._line_starts()
        number = max(0, min(bisect_right(starts, offset) - 1, len(lines) - 1))
        line = lines[number]
        index = min(max(0, offset - starts[number]), line_content_length(line))
        return number, index_to_column(line, index, self.encoding)

    def byte_at(self, offset: int) -> int:
        """Utf-8 byte offset (as tree-sitter counts) of a str offset."""
        return utf8_len(self.text[: max(0, offset)])

    def offset_of_byte(self, byte: int) -> int:
        """Str offset of a utf-8 byte offset; a byte inside a character rounds down to its start."""
        data = self.source[: max(0, byte)]
        end = len(data)
        while end > 0 and end < len(self.source) and (self.source[end] & 0xC0) == 0x80:
            end -= 1
        return len(data[:end].decode("utf-8", "surrogatepass"))


class _Lines:
    """A document's text in immutable blocks of whole lines, with per-block totals for O(block) offsets."""

    __slots__ = ("blocks", "chars", "nbytes", "counts", "_first", "lone_cr", "nul")

    def __init__(self, text: str) -> None:
        self.reset(text)

    def reset(self, text: str) -> None:
        # A big text's few thousand new blocks could still be what tips the cyclic collector into a walk
        # of every object of the server (as a string per line did: 17 of ~65 ms of a 200k-line open);
        # none of them can form a cycle, so the collector waits until the blocks are built.
        paused = gc.isenabled() and len(text) > _PAUSE_GC_CHARS
        if paused:
            gc.disable()
        try:
            self._reset(text)
        finally:
            if paused:
                gc.enable()

    def _reset(self, text: str) -> None:
        cr = "\r" in text
        self.blocks = _cut(text, _breaks(text, 0, len(text), cr) + 1)
        self.chars = [len(b.text) for b in self.blocks]
        # utf8_len is O(1) on an ASCII block: a 200k-line ASCII file opens without encoding anything.
        self.nbytes = [utf8_len(b.text) for b in self.blocks]
        self.counts = [b.count for b in self.blocks]
        self._first: tuple[int, ...] | None = None
        # Lone CRs make tree-sitter rows differ from LSP lines; counted so the common case stays fast.
        self.lone_cr = text.count("\r") - text.count("\r\n") if cr else 0
        self.nul = text.count("\x00")

    def first_lines(self) -> tuple[int, ...]:
        """Number of each block's first line, then the line count; never altered (snapshots keep it)."""
        if self._first is None:
            self._first = tuple(accumulate(self.counts, initial=0))
        return self._first

    @property
    def line_count(self) -> int:
        return self.first_lines()[-1]

    @property
    def total_bytes(self) -> int:
        return sum(self.nbytes)

    def locate(self, line: int) -> tuple[int, int]:
        first = self.first_lines()
        block = bisect_right(first, line) - 1
        return block, line - first[block]

    def line(self, line: int) -> str:
        block, index = self.locate(line)
        return self.blocks[block].line(index)

    def byte_offset(self, line: int, index: int) -> int:
        """Utf-8 byte offset of str ``index`` within ``line``."""
        k, i = self.locate(line)
        block = self.blocks[k]
        base = sum(self.nbytes[:k])
        within = block.bounds()[i] + index
        if self.nbytes[k] == self.chars[k]:  # an ASCII block: bytes are characters
            return base + within
        return base + utf8_len(block.text[:within])

    def char_offset(self, line: int, index: int) -> int:
        k, i = self.locate(line)
        return sum(self.chars[:k]) + self.blocks[k].bounds()[i] + index

    def point(self, line: int, index: int) -> Point:
        """Tree-sitter point of str ``index`` within ``line``."""
        if self.lone_cr == 0:
            return line, utf8_len(self.line(line)[:index])
        return ts_point(self.text(), self.char_offset(line, index))  # rare: old Mac line endings

    def text(self) -> str:
        return "".join([b.text for b in self.blocks])

    def replace(self, first: int, last: int, region: str) -> None:
        """Replace lines ``first..last`` (inclusive) with ``region``.

        ``region`` is whole lines, each with its line break but the last when ``last`` is the document's
        last line (as the ones it replaces).
        """
        k1, i1 = self.locate(first)
        k2, i2 = self.locate(last)
        head, tail = self.blocks[k1], self.blocks[k2]
        start, end = head.bounds()[i1], tail.bounds()[i2 + 1]
        if k1 == k2:
            old = head.text[start:end]
        else:
            old = "".join([head.text[start:], *(b.text for b in self.blocks[k1 + 1 : k2]), tail.text[:end]])
        cr = "\r" in region
        self.lone_cr += (region.count("\r") - region.count("\r\n") if cr else 0) - (
            old.count("\r") - old.count("\r\n") if "\r" in old else 0
        )
        self.nul += region.count("\x00") - old.count("\x00")
        # Text that ends the document has one line more than line breaks (its last, unended line).
        added = _breaks(region, 0, len(region), cr) + (last == self.line_count - 1)
        merged = head.text[:start] + region + tail.text[end:]
        count = i1 + added + tail.count - i2 - 1
        if len(merged) <= _MAX_CHARS and count <= _MAX_LINES:
            block = _Block(merged, count)
            # The next keystroke reads this block's lines again: splicing the old line starts around the
            # region's costs a third of splitting the block anew, and its bytes are counted from the
            # lines that changed, not by encoding the block.
            block._bounds = _spliced(head.bounds(), i1, region, added, tail.bounds(), i2, tail.count)
            pieces = [block]
            nbytes = [sum(self.nbytes[k1 : k2 + 1]) - utf8_len(old) + utf8_len(region)]
        else:
            pieces = _cut(merged, count)
            nbytes = [utf8_len(p.text) for p in pieces]
        self.blocks[k1 : k2 + 1] = pieces
        self.chars[k1 : k2 + 1] = [len(p.text) for p in pieces]
        self.nbytes[k1 : k2 + 1] = nbytes
        self.counts[k1 : k2 + 1] = [p.count for p in pieces]
        if not (k1 == k2 and len(pieces) == 1 and count == head.count):
            self._first = None


def _spliced(
    head: array[int], i1: int, region: str, added: int, tail: array[int], i2: int, tail_count: int
) -> array[int]:
    """Line bounds of ``head``'s lines up to ``i1``, ``region`` (``added`` lines), ``tail``'s after ``i2``.

    Made from the bounds of ``head`` and ``tail``, as ``_Block.bounds`` would work them out from the text.
    """
    start, end = head[i1], tail[i2 + 1]
    size = start + len(region) + tail[tail_count] - end
    bounds = array("I" if size < 1 << 32 else "Q", head[: i1 + 1])
    if added > 1:
        ends = accumulate(map(len, split_lines(region)))
        bounds.extend([start + e for e in islice(ends, added - 1)])
    bounds.append(start + len(region))
    bounds.extend(map((start + len(region) - end).__add__, tail[i2 + 2 : tail_count + 1]))
    return bounds


@attrs.define
class _Document:
    uri: str
    language_id: str
    grammar: str | None
    version: int
    lines: _Lines
    state: _TreeState
    snapshot: Snapshot | None = None


class DocumentStore:
    """The open documents, by URI. Not thread-safe: the server calls it from its event loop only."""

    def __init__(self, encoding: Encoding = Encoding.UTF16, max_parse_bytes: int = 2_000_000) -> None:
        self._encoding = Encoding(encoding)
        self._max_parse_bytes = max_parse_bytes
        self._docs: dict[str, _Document] = {}

    @property
    def encoding(self) -> Encoding:
        """Encoding of positions in changes and snapshots (set once ``initialize`` negotiated it)."""
        return self._encoding

    @encoding.setter
    def encoding(self, value: Encoding) -> None:
        self._encoding = Encoding(value)
        for doc in self._docs.values():
            doc.snapshot = None

    def open(self, uri: str, language_id: str, version: int, text: str) -> Snapshot:
        """Start tracking a document (re-opening replaces it)."""
        grammar = syntax.grammar_name(language_id, uri_basename(uri))
        lines = _Lines(text)
        doc = _Document(uri, language_id, grammar, version, lines, _TreeState(None))
        doc.state = self._new_state(doc, None, [])
        self._docs[uri] = doc
        return self._snapshot(doc)

    def change(self, uri: str, version: int, changes: Sequence[Change]) -> Snapshot:
        """Apply ``didChange`` content changes in order; returns the new snapshot."""
        doc = self._doc(uri)
        base, edits = doc.state.next_base()
        for change in changes:
            if change.range is None:
                doc.lines.reset(change.text)
                base, edits = None, []
                continue
            edit = _apply(doc.lines, change, self._encoding)
            if edit is not None:
                _add_edit(edits, edit)
        doc.version = version
        doc.state = self._new_state(doc, base, edits)
        doc.snapshot = None
        return self._snapshot(doc)

    def close(self, uri: str) -> None:
        """Forget a document; closing an unknown one is a no-op (clients do send duplicates)."""
        self._docs.pop(uri, None)

    def get(self, uri: str) -> Snapshot:
        """The current snapshot of ``uri``; raises ``DocumentNotOpen`` if it is not open."""
        return self._snapshot(self._doc(uri))

    def uris(self) -> list[str]:
        """URIs of every open document."""
        return list(self._docs)

    def __contains__(self, uri: object) -> bool:
        return uri in self._docs

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._docs))

    def _doc(self, uri: str) -> _Document:
        doc = self._docs.get(uri)
        if doc is None:
            raise errors.DocumentNotOpen(f"document not open: {uri}")
        return doc

    def _parseable(self, doc: _Document) -> bool:
        lines = doc.lines
        return doc.grammar is not None and lines.nul == 0 and lines.total_bytes <= self._max_parse_bytes

    def _new_state(self, doc: _Document, base: Tree | None, edits: list[TreeEdit]) -> _TreeState:
        if not self._parseable(doc):
            return _TreeState(None)
        blocks = tuple(doc.lines.blocks)
        pending = tuple(edits) if base is not None else ()
        return _TreeState(doc.grammar, base, pending, blocks)

    def _snapshot(self, doc: _Document) -> Snapshot:
        if doc.snapshot is None:
            doc.snapshot = Snapshot(
                uri=doc.uri,
                version=doc.version,
                language_id=doc.language_id,
                grammar=doc.grammar,
                encoding=self._encoding,
                blocks=doc.state.blocks or tuple(doc.lines.blocks),
                block_chars=tuple(doc.lines.chars),
                block_lines=doc.lines.first_lines(),
                state=doc.state,
            )
        return doc.snapshot


def _clamp(lines: _Lines, position: Position, encoding: Encoding) -> tuple[int, int, str]:
    """(line, str index in line, the line) of an LSP position, clamped into the document."""
    line, column = position
    if line < 0:
        return 0, 0, lines.line(0)
    count = lines.line_count
    if line >= count:
        text = lines.line(count - 1)
        return count - 1, len(text), text  # the last line has no line ending
    text = lines.line(line)
    return line, column_to_index(text, column, encoding), text


def _apply(lines: _Lines, change: Change, encoding: Encoding) -> TreeEdit | None:
    """Apply one ranged change to ``lines``; returns the tree edit it amounts to (None if a no-op)."""
    assert change.range is not None
    start, end = change.range
    if tuple(end) < tuple(start):  # a reversed range from a sloppy client: treat as its mirror image
        start, end = end, start
    first, start_index, start_line = _clamp(lines, start, encoding)
    last, end_index, end_line = _clamp(lines, end, encoding)
    text = change.text
    if first == last and start_index == end_index and not text:
        return None
    start_byte = lines.byte_offset(first, start_index)
    start_point = lines.point(first, start_index)
    if first == last:
        # Within one line's content (no line break of any kind): as many bytes further on the same row.
        span = utf8_len(start_line[start_index:end_index])
        old_end_byte, old_end_point = start_byte + span, (start_point[0], start_point[1] + span)
    else:
        old_end_byte, old_end_point = lines.byte_offset(last, end_index), lines.point(last, end_index)

    region = start_line[:start_index] + text + end_line[end_index:]
    # A new LF right after a lone CR joins the line before into one CRLF line ending.
    if region.startswith("\n") and first > 0 and lines.line(first - 1).endswith("\r"):
        first -= 1
        region = lines.line(first) + region
    lines.replace(first, last, region)
    return (
        start_byte,
        old_end_byte,
        start_byte + utf8_len(text),
        start_point,
        old_end_point,
        point_after(start_point, text),
    )


def _add_edit(edits: list[TreeEdit], edit: TreeEdit) -> None:
    """Record ``edit`` after ``edits``, merging neighbours so the list stays short."""
    if edits and _touches(edits[-1], edit):
        edits[-1] = _combine(edits[-1], edit)
    else:
        edits.append(edit)
    if len(edits) > _MAX_PENDING:
        folded = edits[0]
        for later in edits[1:]:
            folded = _combine(folded, later)
        edits[:] = [folded]


def _touches(first: TreeEdit, second: TreeEdit) -> bool:
    return second[0] <= first[2] and second[1] >= first[0]


def _combine(first: TreeEdit, second: TreeEdit) -> TreeEdit:
    """One edit covering ``first`` then ``second`` (whose positions are in the text after ``first``).

    The result may mark more text as changed than strictly was, which tree-sitter handles by
    re-lexing a little more; it never marks less.
    """
    s1, o1, n1, sp1, op1, np1 = first
    s2, o2, n2, sp2, op2, np2 = second
    start, start_point = (s2, sp2) if s2 <= s1 else (s1, sp1)
    # The end of the union, in the text between the two edits: after both edited spans.
    middle, middle_point = (n1, np1) if n1 >= o2 else (o2, op2)
    old_end, old_end_point = middle - n1 + o1, _shift(middle_point, np1, op1)
    new_end, new_end_point = middle + n2 - o2, _shift(middle_point, op2, np2)
    return start, old_end, new_end, start_point, old_end_point, new_end_point


def _shift(point: Point, old: Point, new: Point) -> Point:
    """Move ``point`` (at or after ``old``) as text ending at ``old`` now ends at ``new``."""
    if point[0] == old[0]:
        return new[0], new[1] + point[1] - old[1]
    return point[0] - old[0] + new[0], point[1]
