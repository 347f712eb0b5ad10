"""Positions <-> offsets of store snapshots find their line block by bisection, never listing every line.

Each keystroke makes a new version and each request converts positions on it, so the store's
snapshots answer ``offset_at``/``position_at`` from their blocks. They must agree with a snapshot of
the same text that lists its lines, for every offset and position, in every encoding, after edits.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from unit.test_documents_property import changes, ref_apply, texts

from lsp_server.core.documents import Change, DocumentStore, Snapshot
from lsp_server.core.text import Encoding


@settings(max_examples=200, deadline=None)
@given(
    encoding=st.sampled_from(list(Encoding)),
    initial=texts,
    batch=st.lists(changes, max_size=4),
    positions=st.lists(st.tuples(st.integers(-2, 40), st.integers(-2, 12)), max_size=30),
)
def test_block_walks_agree_with_the_listed_lines(encoding, initial, batch, positions):
    store = DocumentStore(encoding=encoding)
    uri = "file:///t/walk.py"
    store.open(uri, "python", 0, initial)
    model = initial
    batch_changes = [Change(text, rng) for rng, text in batch]
    for change in batch_changes:
        model = ref_apply(model, change, encoding)
    walked = store.change(uri, 1, batch_changes) if batch_changes else store.get(uri)
    listed = Snapshot(uri=uri, version=1, language_id="python", grammar=None, text=model, encoding=encoding)
    for line, character in positions:
        assert walked.offset_at(line, character) == listed.offset_at(line, character), (line, character)
    for offset in range(-1, len(model) + 2):
        assert walked.position_at(offset) == listed.position_at(offset), offset
    assert walked._lines is None  # the walk never listed the lines


def test_a_big_document_is_walked_in_blocks():
    store = DocumentStore()
    text = "".join(f"line {i} é\n" for i in range(50_000))
    snapshot = store.open("file:///big.py", "python", 1, text)
    offset = text.index("line 31337 ")
    assert snapshot.position_at(offset + 7) == (31337, 7)
    assert snapshot.offset_at(31337, 7) == offset + 7
    assert snapshot._lines is None
