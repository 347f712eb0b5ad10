"""Property: any edit sequence applied to the store equals a plain string model, tree and all."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from lsp_server.core import syntax
from lsp_server.core.documents import Change, DocumentStore
from lsp_server.core.text import Encoding

PIECES = [
    "a",
    "x",
    "def f(x):",
    "    ",
    "return 1",
    "(",
    ")",
    ":",
    '"',
    "#",
    "é",
    "中文",
    "😀",
    "𝒳",
    "\r\n",
    "\r",
    "\r",
    "\r",
    "\n",
    "\n",
    "\n",
    "\t",
]

texts = st.lists(st.sampled_from(PIECES), max_size=12).map("".join)
inserts = st.lists(st.sampled_from(PIECES), max_size=3).map("".join)
# Small coordinates so edits often hit line ends, line breaks and each other; a few fall outside.
positions = st.tuples(st.integers(-1, 6), st.integers(-1, 8))
# Full replacements are rare (1 in 10) so that edit sequences build up.
changes = st.tuples(st.one_of(*[st.tuples(positions, positions)] * 9, st.none()), inserts)


# The reference model: deliberately naive code, one character at a time, sharing nothing with text.py.
def ref_lines(text: str) -> list[str]:
    lines, current, i = [], "", 0
    while i < len(text):
        ch = text[i]
        if ch == "\r" and text[i + 1 : i + 2] == "\n":
            lines.append(current + "\r\n")
            current, i = "", i + 2
            continue
        if ch in "\r\n":
            lines.append(current + ch)
            current = ""
        else:
            current += ch
        i += 1
    lines.append(current)
    return lines


def ref_width(ch: str, encoding: Encoding) -> int:
    if encoding is Encoding.UTF8:
        return len(ch.encode("utf-8"))
    if encoding is Encoding.UTF16:
        return len(ch.encode("utf-16-le")) // 2
    return 1


def ref_offset(text: str, line: int, column: int, encoding: Encoding) -> int:
    lines = ref_lines(text)
    if line < 0:
        return 0
    if line >= len(lines):
        return len(text)
    start = sum(len(x) for x in lines[:line])
    content = lines[line].rstrip("\r\n")
    used, index = 0, 0
    for ch in content:
        if used + ref_width(ch, encoding) > column:
            break
        used += ref_width(ch, encoding)
        index += 1
    return start + index


def ref_apply(text: str, change: Change, encoding: Encoding) -> str:
    if change.range is None:
        return change.text
    start, end = change.range
    if end < start:
        start, end = end, start
    a = ref_offset(text, *start, encoding)
    b = ref_offset(text, *end, encoding)
    return text[:a] + change.text + text[b:]


def node_list(tree) -> list[tuple]:
    out, cursor = [], tree.walk()
    while True:
        node = cursor.node
        out.append(
            (node.type, node.start_byte, node.end_byte, tuple(node.start_point), tuple(node.end_point))
        )
        if cursor.goto_first_child() or cursor.goto_next_sibling():
            continue
        while cursor.goto_parent():
            if cursor.goto_next_sibling():
                break
        else:
            return out


@settings(max_examples=150, deadline=None)
@given(
    encoding=st.sampled_from(list(Encoding)),
    initial=texts,
    batches=st.lists(st.tuples(st.lists(changes, min_size=1, max_size=3), st.booleans()), max_size=8),
)
def test_store_matches_string_model(encoding, initial, batches):
    store = DocumentStore(encoding=encoding)
    uri = "file:///t/prop.py"
    store.open(uri, "python", 0, initial)
    model = initial
    seen = []  # (snapshot, its node list when first looked at): later edits must not alter it
    for version, (batch, look_at_tree) in enumerate(batches, start=1):
        batch_changes = [Change(text, rng) for rng, text in batch]
        for change in batch_changes:
            model = ref_apply(model, change, encoding)
        snap = store.change(uri, version, batch_changes)
        assert snap.text == model
        assert list(snap.lines) == ref_lines(model)
        assert snap.version == version
        if look_at_tree:  # resolve some intermediate trees, leave others pending
            fresh = syntax.parse("python", model.encode("utf-8"))
            assert node_list(snap.tree) == node_list(fresh)
            assert snap.line_count == len(ref_lines(model))
            seen.append((snap, node_list(snap.tree)))
    snap = store.get(uri)
    assert snap.text == model
    fresh = syntax.parse("python", model.encode("utf-8"))
    assert str(snap.tree.root_node) == str(fresh.root_node)
    assert node_list(snap.tree) == node_list(fresh)
    assert snap.line_count == len(ref_lines(model))
    for i in range(len(model) + 1):
        if model[i - 1 : i + 1] == "\r\n" and i > 0:
            continue  # between CR and LF: no LSP position names it
        assert snap.offset_at(*snap.position_at(i)) == i
    for old, nodes in seen:
        assert node_list(old.tree) == nodes
