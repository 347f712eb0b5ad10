"""The store's blocks: one string of whole lines each, cut and re-cut without breaking LSP line rules.

``test_documents_property`` checks the store against a naive model on texts that fit one block. Here
the same comparison runs with tiny blocks (a few characters, two or three lines) so that every edit
lands on, across or next to a block boundary, and the block invariants are checked after each step;
the rest pins the cases of real-sized blocks: a CRLF at a cut, lone CRs, NULs, empty text, a last line
without a line break, edits that merge and split blocks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from unit.test_documents_property import PIECES, changes, ref_apply, ref_lines

from lsp_server.core import documents, syntax
from lsp_server.core.documents import Change, DocumentStore, Snapshot
from lsp_server.core.text import Encoding

URI = "file:///w/blocks.py"


@contextlib.contextmanager
def block_size(chars: int, lines: int) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(documents, "_BLOCK_CHARS", chars)
        patch.setattr(documents, "_BLOCK_LINES", lines)
        patch.setattr(documents, "_MAX_CHARS", 2 * chars)
        patch.setattr(documents, "_MAX_LINES", 2 * lines)
        yield


def check_blocks(store: DocumentStore, uri: str, model: str) -> None:
    """The store's blocks hold ``model`` as whole lines, with totals that agree with their text."""
    lines = store._docs[uri].lines
    expected = ref_lines(model)
    assert lines.text() == model
    assert lines.line_count == len(expected)
    assert [b.count for b in lines.blocks] == lines.counts
    assert [len(b.text) for b in lines.blocks] == lines.chars
    assert [len(b.text.encode("utf-8", "surrogatepass")) for b in lines.blocks] == lines.nbytes
    assert lines.lone_cr == model.count("\r") - model.count("\r\n")
    assert lines.nul == model.count("\x00")
    listed = []
    for k, block in enumerate(lines.blocks):
        assert block.count >= 1
        if k < len(lines.blocks) - 1:  # only the document's last line may lack a line break
            assert block.text.endswith(("\n", "\r"))
            assert not (block.text.endswith("\r") and lines.blocks[k + 1].text.startswith("\n"))
        if block._bounds is not None:  # spliced by an edit: as if worked out from the block's text
            kept = list(block._bounds[: block.count + 1])
            block._bounds = None
            assert kept == list(block.bounds()[: block.count + 1])
        listed.extend(block.line(i) for i in range(block.count))
    assert listed == expected
    for line in range(len(expected)):
        assert lines.line(line) == expected[line]


# Besides the line breaks, characters str.splitlines breaks at and LSP does not, and NULs.
BLOCK_PIECES = [*PIECES, "\x0c", "\u2028", "\x85", "\x00", "\r\n", "\n\n\n"]
long_texts = st.lists(st.sampled_from(BLOCK_PIECES), max_size=40).map("".join)
wide_positions = st.tuples(st.integers(-1, 14), st.integers(-1, 8))
wide_inserts = st.lists(st.sampled_from(BLOCK_PIECES), max_size=12).map("".join)
wide_changes = st.one_of(
    changes, st.tuples(st.one_of(st.tuples(wide_positions, wide_positions), st.none()), wide_inserts)
)


@settings(max_examples=300, deadline=None)
@given(
    size=st.sampled_from([(1, 1), (3, 2), (6, 3), (12, 5)]),
    encoding=st.sampled_from(list(Encoding)),
    initial=long_texts,
    batches=st.lists(st.lists(wide_changes, min_size=1, max_size=3), max_size=6),
    probes=st.lists(st.tuples(st.integers(-2, 20), st.integers(-2, 20)), max_size=6),
)
def test_tiny_blocks_match_the_string_model(size, encoding, initial, batches, probes):
    with block_size(*size):
        store = DocumentStore(encoding=encoding)
        store.open(URI, "python", 0, initial)
        model = initial
        check_blocks(store, URI, model)
        for version, batch in enumerate(batches, start=1):
            batch_changes = [Change(text, rng) for rng, text in batch]
            before = store.get(URI)
            before_text = before.text
            for change in batch_changes:
                model = ref_apply(model, change, encoding)
            snap = store.change(URI, version, batch_changes)
            check_blocks(store, URI, model)
            assert before.text == before_text  # the older snapshot shares blocks, never sees the change
            listed = Snapshot(
                uri=URI, version=0, language_id="python", grammar=None, text=model, encoding=encoding
            )
            assert snap.line_count == listed.line_count
            for first, end in probes:
                assert snap.lines_between(first, end) == listed.lines_between(first, end)
                assert snap.offset_at(first, end) == listed.offset_at(first, end)
                assert snap.line_text(first) == listed.line_text(first)
            for offset in range(-1, len(model) + 2):
                assert snap.position_at(offset) == listed.position_at(offset)
            assert snap._lines is None  # all of the above read the blocks, never listing every line
            assert snap.text == model
            assert list(snap.lines) == ref_lines(model)
            assert snap.line_count == len(ref_lines(model))
        snap = store.get(URI)
        if "\x00" not in model:
            assert str(snap.tree.root_node) == str(syntax.parse("python", model.encode("utf-8")).root_node)


def open_lines(text: str) -> tuple[DocumentStore, documents._Lines]:
    store = DocumentStore()
    store.open(URI, "python", 1, text)
    check_blocks(store, URI, text)
    return store, store._docs[URI].lines


@pytest.mark.parametrize("shift", range(-3, 4))
def test_a_crlf_at_the_cut_stays_in_one_block(shift):
    # Lines of 10 characters + CRLF: shift the text so a CRLF sits on every side of _BLOCK_CHARS.
    text = (
        "x" * (documents._BLOCK_CHARS % 12 + shift + 12)
        + "\r\n"
        + "".join(f"{i:010d}\r\n" for i in range(600))
    )
    store, lines = open_lines(text)
    assert len(lines.blocks) > 2
    # An LF typed after each block's last CR (already a CRLF) and a CR typed before each first line.
    model = text
    for version, first in enumerate(lines.first_lines()[1:-1], start=2):
        store.change(URI, version, [Change("\r", ((first, 0), (first, 0)))])
        model = ref_apply(model, Change("\r", ((first, 0), (first, 0))), Encoding.UTF16)
        check_blocks(store, URI, model)


def test_lone_cr_text_is_cut_by_lines_and_an_lf_joins_across_blocks():
    text = "".join(f"r{i}\r" for i in range(1000))  # old Mac line endings: no LF at all
    store, lines = open_lines(text)
    assert max(lines.counts) <= documents._BLOCK_LINES and len(lines.blocks) >= 1000 // documents._BLOCK_LINES
    boundary = lines.first_lines()[1]
    # An LF at the start of a block's first line joins the previous block's last lone CR into a CRLF.
    snap = store.change(URI, 2, [Change("\n", ((boundary, 0), (boundary, 0)))])
    model = text.replace(f"r{boundary - 1}\r", f"r{boundary - 1}\r\n")
    check_blocks(store, URI, model)
    assert snap.line_text(boundary - 1) == f"r{boundary - 1}" and snap.line_text(boundary) == f"r{boundary}"
    assert lines.lone_cr == 999
    assert snap.tree is not None and str(snap.tree.root_node) == str(
        syntax.parse("python", model.encode()).root_node
    )


def test_dense_and_long_lines_bound_the_blocks():
    text = "a\n" + "\n" * 5000 + "b" * 100_000 + "\n" + "c\n" * 3000
    _, lines = open_lines(text)
    assert max(lines.counts) <= documents._BLOCK_LINES
    # The long line ends the block it starts in, whatever short lines came before it.
    long_block = next(b for b in lines.blocks if "b" in b.text)
    assert long_block.text.endswith("b\n") and len(long_block.text) < 100_001 + documents._BLOCK_CHARS
    assert all(len(b.text) <= documents._BLOCK_CHARS + 4 for b in lines.blocks if b is not long_block)


def test_empty_text_and_a_last_line_without_a_line_break():
    store, lines = open_lines("")
    assert [(b.text, b.count) for b in lines.blocks] == [("", 1)]
    snap = store.change(URI, 2, [Change("x", ((0, 0), (0, 0)))])
    assert snap.lines == ("x",)
    snap = store.change(URI, 3, [Change("\n", ((0, 1), (0, 1)))])
    assert snap.lines == ("x\n", "")
    check_blocks(store, URI, "x\n")
    snap = store.change(URI, 4, [Change("", ((0, 0), (1, 0)))])
    assert snap.lines == ("",) and snap.text == ""
    check_blocks(store, URI, "")

    text = "".join(f"v{i} = {i}\n" for i in range(3000)) + "end"  # no final newline
    store, lines = open_lines(text)
    assert lines.blocks[-1].text.endswith("end")
    snap = store.change(URI, 2, [Change("\n", ((3000, 3), (3000, 3)))])
    check_blocks(store, URI, text + "\n")
    assert snap.line_count == 3002 and snap.line_text(3001) == ""
    snap = store.change(URI, 3, [Change("", ((2999, 99), (3001, 0)))])  # the last two lines go
    check_blocks(store, URI, text[: -len("\nend")])
    assert snap.line_count == 3000 and snap.text.endswith("v2999 = 2999")


def test_nuls_across_blocks_are_counted():
    text = "".join(f"v{i} = '\x00'\n" if i % 700 == 0 else f"v{i} = 0\n" for i in range(3000))
    store, lines = open_lines(text)
    assert lines.nul == 5 and store.get(URI).tree is None
    model = text
    for version, line in enumerate(range(0, 3000, 700), start=2):
        column = len(f"v{line} = '")
        change = Change("", ((line, column), (line, column + 1)))
        model = ref_apply(model, change, Encoding.UTF16)
        snap = store.change(URI, version, [change])
    check_blocks(store, URI, model)
    assert lines.nul == 0 and snap.tree is not None


def test_edits_merge_and_split_blocks():
    text = "".join(f"v{i} = {i}\n" for i in range(5000))
    store, lines = open_lines(text)
    before = store.get(URI)
    blocks = len(lines.blocks)
    # A deletion across many blocks leaves one merged block where they were.
    snap = store.change(URI, 2, [Change("", ((300, 2), (4000, 3)))])
    model = ref_apply(text, Change("", ((300, 2), (4000, 3))), Encoding.UTF16)
    check_blocks(store, URI, model)
    assert len(lines.blocks) < blocks // 2
    # Before it, the untouched blocks are the very same objects: snapshots share them.
    assert snap._blocks[0] is before._blocks[0] and snap._blocks[-1] is before._blocks[-1]
    assert before.text == text
    # A paste of thousands of lines is cut into blocks of the usual size.
    paste = "".join(f"p{i} = {i}\n" for i in range(4000))
    store.change(URI, 3, [Change(paste, ((50, 1), (50, 1)))])
    model = ref_apply(model, Change(paste, ((50, 1), (50, 1))), Encoding.UTF16)
    check_blocks(store, URI, model)
    assert max(lines.chars) <= documents._MAX_CHARS and max(lines.counts) <= documents._MAX_LINES
    # Typing grows a block until it is cut in two.
    model_lines = model
    for version in range(4, 200):
        change = Change("xxxxxxxxxx\n", ((60, 0), (60, 0)))
        model_lines = ref_apply(model_lines, change, Encoding.UTF16)
        store.change(URI, version, [change])
        assert max(lines.chars) <= documents._MAX_CHARS + 11 and max(lines.counts) <= documents._MAX_LINES
    check_blocks(store, URI, model_lines)
    snap = store.get(URI)
    assert str(snap.tree.root_node) == str(syntax.parse("python", model_lines.encode()).root_node)


def test_opening_makes_no_string_per_line():
    text = "".join(f"ROW_{i} = {i * 7}\n" for i in range(200_000))
    store = DocumentStore()
    snap = store.open(URI, "python", 1, text)
    lines = store._docs[URI].lines
    assert len(lines.blocks) <= len(text) // documents._BLOCK_CHARS + 1
    assert all(b._bounds is None for b in lines.blocks)  # line starts are found on first need only
    assert snap.position_at(text.index("ROW_123456 ")) == (123456, 0)
    assert snap.offset_at(123456, 4) == text.index("ROW_123456 ") + 4
    assert sum(b._bounds is not None for b in lines.blocks) == 1
