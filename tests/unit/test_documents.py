"""The document store: snapshots, clamping, incremental trees, binary and oversized files."""

from __future__ import annotations

import pytest

from lsp_server.core import errors, syntax
from lsp_server.core.documents import Change, DocumentStore, Snapshot
from lsp_server.core.text import Encoding

URI = "file:///w/mod.py"
SOURCE = "def f(x):\n    return x\n\nprint(f(1))\n"


def fresh(text: str) -> str:
    return str(syntax.parse("python", text.encode("utf-8")).root_node)


def ranged(text, sl, sc, el, ec):
    return Change(text, ((sl, sc), (el, ec)))


@pytest.fixture
def store():
    s = DocumentStore()
    s.open(URI, "python", 1, SOURCE)
    return s


def test_open_gives_text_tree_and_grammar(store):
    snap = store.get(URI)
    assert (snap.uri, snap.version, snap.language_id, snap.grammar) == (URI, 1, "python", "python")
    assert snap.text == SOURCE
    assert snap.encoding is Encoding.UTF16
    assert str(snap.tree.root_node) == fresh(SOURCE)
    assert URI in store and store.uris() == [URI]


def test_grammar_from_extension_when_language_id_unknown():
    s = DocumentStore()
    assert s.open("file:///a/b%20c.rs", "plaintext", 1, "fn main() {}").grammar == "rust"
    assert s.open("untitled:Untitled-1", "plaintext", 1, "hello").tree is None


def test_incremental_change_matches_fresh_parse(store):
    snap = store.change(URI, 2, [ranged("y", 1, 11, 1, 12), ranged("    y = 2\n", 1, 0, 1, 0)])
    text = "def f(x):\n    y = 2\n    return y\n\nprint(f(1))\n"
    assert snap.text == text and snap.version == 2
    assert str(snap.tree.root_node) == fresh(text)


def test_snapshots_are_frozen(store):
    before = store.get(URI)
    old_tree = before.tree
    old_repr = str(old_tree.root_node)
    after = store.change(URI, 2, [ranged("async ", 0, 0, 0, 0)])
    assert after.tree is not old_tree
    assert before.text == SOURCE and str(before.tree.root_node) == old_repr
    assert before.tree.root_node.end_byte == len(SOURCE)
    assert after.tree.root_node.end_byte == len(SOURCE) + 6


def test_full_replacement(store):
    snap = store.change(URI, 2, [Change("x = 1\n")])
    assert snap.text == "x = 1\n"
    assert str(snap.tree.root_node) == fresh("x = 1\n")


def test_out_of_range_positions_are_clamped(store):
    snap = store.change(URI, 2, [ranged("!", 99, 0, 120, 5)])
    assert snap.text == SOURCE + "!"
    snap = store.change(URI, 3, [ranged("#", 0, 500, 0, 600)])
    assert snap.text.startswith("def f(x):#\n")
    snap = store.change(URI, 4, [ranged("", -4, -1, 0, 3)])
    assert snap.text.startswith(" f(x):#\n")


def test_reversed_range_is_treated_as_its_mirror(store):
    snap = store.change(URI, 2, [ranged("g", 0, 5, 0, 4)])
    assert snap.text.startswith("def g(x):")


def test_utf16_columns_with_astral_characters():
    s = DocumentStore(encoding=Encoding.UTF16)
    s.open(URI, "python", 1, 's = "😀é"\n')
    snap = s.change(URI, 2, [ranged("中", 0, 7, 0, 8)])  # "é" sits after the 2-unit emoji
    assert snap.text == 's = "😀中"\n'
    assert str(snap.tree.root_node) == fresh(snap.text)
    assert snap.position_at(7) == (0, 8)
    assert snap.offset_at(0, 6) == 5  # inside the surrogate pair rounds down to the emoji's start


def test_encoding_setter_applies_to_later_snapshots(store):
    store.encoding = Encoding.UTF8
    assert store.get(URI).encoding is Encoding.UTF8
    s = DocumentStore()
    s.encoding = Encoding.UTF8
    s.open(URI, "python", 1, "é = 1\n")
    assert s.change(URI, 2, [ranged("x", 0, 2, 0, 2)]).text == "éx = 1\n"


def test_lf_after_lone_cr_joins_into_crlf():
    s = DocumentStore()
    s.open(URI, "python", 1, "a\rb")
    snap = s.change(URI, 2, [ranged("\n", 1, 0, 1, 0)])
    assert snap.text == "a\r\nb"
    assert snap.lines == ("a\r\n", "b")
    snap = s.change(URI, 3, [ranged("", 1, 0, 1, 1)])  # now "a\r\n": deleting "b" leaves two lines
    assert snap.lines == ("a\r\n", "")
    snap = s.change(URI, 4, [ranged("c", 0, 1, 1, 0)])  # replaces the CRLF itself
    assert snap.lines == ("ac",)


def test_cr_typed_before_lf_makes_crlf():
    s = DocumentStore()
    s.open(URI, "python", 1, "a\nb")
    snap = s.change(URI, 2, [ranged("\r", 0, 1, 0, 1)])
    assert snap.lines == ("a\r\n", "b")
    assert snap.line_count == 2


def test_lone_cr_file_tree_matches_fresh_parse():
    s = DocumentStore()
    s.open(URI, "python", 1, "x = 1\ry = 2\rz = 3\n")
    snap = s.change(URI, 2, [ranged("yy", 1, 0, 1, 1), ranged("\n", 2, 5, 2, 5)])
    assert snap.text == "x = 1\ryy = 2\rz = 3\n\n"
    assert str(snap.tree.root_node) == fresh(snap.text)
    assert snap.tree.root_node.end_point == syntax.parse("python", snap.text.encode()).root_node.end_point


def test_many_changes_across_blocks_keep_tree_exact():
    text = "".join(f"v{i} = {i}\n" for i in range(500))
    s = DocumentStore()
    s.open(URI, "python", 1, text)
    model = text
    version = 1
    for line in (3, 400, 120, 499, 64, 63, 128, 250, 7, 300, 301, 302, 10, 480, 20, 30, 40, 50, 60):
        version += 1
        s.change(URI, version, [ranged("é\n", line, 1, line, 1)])
        lines = model.split("\n")
        lines[line] = lines[line][:1] + "é\n" + lines[line][1:]
        model = "\n".join(lines)
    version += 1
    snap = s.change(URI, version, [ranged("", 60, 0, 300, 0)])  # a deletion spanning many blocks
    lines = model.split("\n")
    model = "\n".join(lines[:60] + lines[300:])
    assert snap.text == model
    assert str(snap.tree.root_node) == fresh(model)
    assert snap.line_count == model.count("\n") + 1


def test_binary_and_oversized_files_have_no_tree():
    s = DocumentStore(max_parse_bytes=100)
    assert s.open("file:///b.py", "python", 1, "x = 1\x00\n").tree is None
    assert s.open("file:///big.py", "python", 1, "x = 1\n" * 50).tree is None
    small = s.change("file:///big.py", 2, [Change("x = 1\n")])  # shrinks under the limit: parsed again
    assert str(small.tree.root_node) == fresh("x = 1\n")
    cleaned = s.change("file:///b.py", 2, [ranged("", 0, 5, 0, 6)])
    assert cleaned.text == "x = 1\n" and cleaned.tree is not None


def test_unknown_document_raises_and_close_forgets(store):
    with pytest.raises(errors.DocumentNotOpen):
        store.get("file:///nope.py")
    with pytest.raises(errors.DocumentNotOpen):
        store.change("file:///nope.py", 1, [Change("x")])
    store.close(URI)
    store.close(URI)
    assert URI not in store
    with pytest.raises(errors.DocumentNotOpen):
        store.get(URI)


def test_snapshot_line_helpers():
    snap = Snapshot(uri=URI, version=1, language_id="python", grammar=None, text="ab\r\nc😀d\n")
    assert snap.line_count == 3
    assert snap.line_text(0) == "ab" and snap.line_text(1) == "c😀d" and snap.line_text(2) == ""
    assert snap.line_text(9) == ""
    assert snap.offset_at(1, 3) == 6  # utf-16: "c" is 1 unit, the emoji 2
    assert snap.offset_at(1, 2) == 5  # mid-pair rounds down to the emoji
    assert snap.offset_at(5, 0) == len(snap.text)
    assert snap.offset_at(-1, 0) == 0
    assert snap.offset_at(0, 50) == 2
    assert snap.position_at(3) == (0, 2)  # between CR and LF
    assert snap.position_at(6) == (1, 3)
    assert snap.position_at(999) == (2, 0)
    assert snap.byte_at(6) == 9
    assert snap.offset_of_byte(9) == 6
    assert snap.offset_of_byte(7) == 5  # inside the emoji's 4 bytes: rounds down
    assert snap.tree is None


def test_incremental_reparses_release_the_text_they_read(store):
    """Typing with a tree per keystroke holds steady: nothing per version outlives the version.

    py-tree-sitter 0.25-0.26 leaks whatever a read callback returns; the store parses from one buffer.
    """
    import gc
    import tracemalloc

    uri = "file:///big.py"
    comment = "# " + "words " * 40  # long lines: each chunk tree-sitter reads is a few kB
    text = "".join(f"def f{i}(x):\n    return x + {i}  {comment}\n" for i in range(1500))
    store.open(uri, "python", 1, text)

    def type_keys(first_version: int, count: int) -> None:
        for k in range(count):
            line = 700 + (k % 40) * 2
            store.change(uri, first_version + k, [Change("y", ((line, 4), (line, 4)))])
            assert store.get(uri).tree is not None

    tracemalloc.start()
    try:
        type_keys(2, 20)
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        type_keys(22, 200)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 300_000, f"{grown} bytes still held after 200 reparses"
