"""Positions, line splitting and minimal edits (lsp_server.core.text)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lsp_server.core.text import (
    Encoding,
    TextEdit,
    apply_edits,
    column_to_index,
    index_to_column,
    minimal_edits,
    negotiate,
    offset_of,
    point_after,
    split_lines,
    ts_point,
    utf8_len,
)

U8, U16, U32 = Encoding.UTF8, Encoding.UTF16, Encoding.UTF32


@pytest.mark.parametrize(
    ("offered", "expected"),
    [
        (None, U16),
        ([], U16),
        (["utf-16"], U16),
        (["utf-8", "utf-16"], U8),
        (["utf-16", "utf-8", "utf-32"], U32),
        (["latin-1"], U16),
    ],
)
def test_negotiate_prefers_utf32_then_utf8(offered, expected):
    assert negotiate(offered) is expected


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        ("", [""]),
        ("a", ["a"]),
        ("a\n", ["a\n", ""]),
        ("a\r\nb", ["a\r\n", "b"]),
        ("a\rb\n", ["a\r", "b\n", ""]),
        ("\r\r\n\n", ["\r", "\r\n", "\n", ""]),
        ("a\x0cb\u2028c", ["a\x0cb\u2028c"]),  # form feed and U+2028 are not LSP line breaks
    ],
)
def test_split_lines(text, lines):
    assert split_lines(text) == lines


# "a" (1 byte), "é" (2 bytes, 1 unit), "中" (3 bytes, 1 unit), "😀" (4 bytes, 2 units)
LINE = "aé中😀b\r\n"


@pytest.mark.parametrize(
    ("encoding", "column", "index"),
    [
        (U32, 0, 0),
        (U32, 4, 4),
        (U32, 5, 5),
        (U32, 6, 5),  # past the content: clamped before the CRLF
        (U32, -3, 0),
        (U16, 3, 3),
        (U16, 4, 3),  # between the halves of the surrogate pair: rounds down
        (U16, 5, 4),
        (U16, 6, 5),
        (U16, 99, 5),
        (U8, 1, 1),
        (U8, 2, 1),  # inside "é"
        (U8, 3, 2),
        (U8, 5, 2),  # inside "中"
        (U8, 6, 3),
        (U8, 9, 3),  # inside "😀"
        (U8, 10, 4),
        (U8, 11, 5),
        (U8, 12, 5),
    ],
)
def test_column_to_index(encoding, column, index):
    assert column_to_index(LINE, column, encoding) == index


@pytest.mark.parametrize(
    ("encoding", "index", "column"),
    [(U32, 4, 4), (U16, 3, 3), (U16, 4, 5), (U16, 5, 6), (U8, 2, 3), (U8, 4, 10), (U8, 5, 11)],
)
def test_index_to_column(encoding, index, column):
    assert index_to_column(LINE, index, encoding) == column


def test_ascii_fast_path_clamps_too():
    assert column_to_index("abc\n", 10, U16) == 3
    assert column_to_index("abc\r", 10, U8) == 3
    assert index_to_column("abc", 10, U8) == 3


def test_lone_surrogates_do_not_crash():
    line = "a\ud800b"
    assert column_to_index(line, 2, U8) == 1  # the lone surrogate takes 3 bytes
    assert column_to_index(line, 4, U8) == 2
    assert column_to_index(line, 2, U16) == 2
    assert index_to_column(line, 3, U8) == 5
    assert utf8_len(line) == 5


def test_ts_point_counts_rows_by_lf_only():
    text = "a\rbé\nxy"
    assert ts_point(text, 4) == (0, 5)  # the lone CR does not start a tree-sitter row
    assert ts_point(text, 6) == (1, 1)
    assert ts_point(text, 99) == (1, 2)


def test_point_after():
    assert point_after((3, 4), "é") == (3, 6)
    assert point_after((3, 4), "x\r\nab") == (4, 2)
    assert point_after((3, 4), "\r") == (3, 5)


def test_offset_and_position_clamp():
    lines = split_lines("ab\r\ncd")
    assert offset_of(lines, -1, 5, U16) == 0
    assert offset_of(lines, 0, 9, U16) == 2
    assert offset_of(lines, 1, 1, U16) == 5
    assert offset_of(lines, 7, 0, U16) == 6


def test_one_line_change_gives_one_edit_on_that_line():
    old = "def f():\n    return 1\n\nx = 2\n"
    new = "def f():\n    return 42\n\nx = 2\n"
    edits = minimal_edits(old, new, U16)
    assert edits == [TextEdit(start=(1, 11), end=(1, 12), new_text="42")]


def test_minimal_edits_identity_and_positions_in_encoding():
    assert minimal_edits("same\n", "same\n", U8) == []
    edits = minimal_edits("😀a\n", "😀b\n", U16)
    assert edits == [TextEdit(start=(0, 2), end=(0, 3), new_text="b")]
    assert minimal_edits("😀a\n", "😀b\n", U8)[0].start == (0, 4)


def test_minimal_edits_never_split_crlf():
    old, new = "a\r\nb", "a\nb"
    edits = minimal_edits(old, new, U16)
    assert apply_edits(old, edits, U16) == new
    for edit in edits:
        assert edit.start == (0, 1)


PIECES = ["a", "b", "é", "中", "😀", "𝒳", "\n", "\r\n", "\r", " ", "x = 1\n"]
docs = st.lists(st.sampled_from(PIECES), max_size=25).map("".join)


@settings(max_examples=150, deadline=None)
@given(old=docs, new=docs, encoding=st.sampled_from(list(Encoding)))
def test_minimal_edits_apply_to_new(old, new, encoding):
    edits = minimal_edits(old, new, encoding)
    assert apply_edits(old, edits, encoding) == new
    lines = split_lines(old)
    spans = [(offset_of(lines, *e.start, encoding), offset_of(lines, *e.end, encoding)) for e in edits]
    assert spans == sorted(spans)
    assert all(a <= b for a, b in spans)


@settings(max_examples=150, deadline=None)
@given(text=docs)
def test_split_lines_roundtrip(text):
    lines = split_lines(text)
    assert "".join(lines) == text
    assert all(line for line in lines[:-1])
    assert len(lines) == text.count("\n") + text.count("\r") - text.count("\r\n") + 1
