"""The editable region: syntax boundaries, bounded in characters, read from a window of the document."""

from __future__ import annotations

from lsp_server.core.documents import DocumentStore
from lsp_server.engine import editable_region as regions
from lsp_server.engine.editable_region import editable_region


def snapshot(text: str, language: str = "python", uri: str = "file:///a.py"):
    store = DocumentStore()
    store.open(uri, language, 1, text)
    return store.get(uri)


def test_a_small_file_is_one_region_with_the_cursor_where_it_is():
    text = "import os\n\n\ndef area(w, h):\n    return w * w\n\n\nprint(area(2))\n"
    region = editable_region(snapshot(text), 3, 13)
    assert region is not None
    assert region.text == text.rstrip("\n") and (region.first_line, region.end_line) == (0, 8)
    assert region.text[: region.cursor] == "import os\n\n\ndef area(w, h"
    assert region.start_of_file and region.before == "" and region.after == ""


def functions(count: int) -> str:
    return "".join(
        f"def f{i}(a, b):\n    x = a + b\n    if x > {i}:\n        return x\n    return {i}\n\n\n"
        for i in range(count)
    )


def test_in_a_large_file_the_region_starts_and_ends_on_whole_functions_within_its_bound():
    text = functions(3000)  # 21,000 lines
    doc = snapshot(text)
    region = editable_region(doc, 7 * 1500 + 3, 10)  # inside f1500
    assert region is not None
    assert len(region.text) <= regions.MAX_REGION_CHARS
    lines = region.text.split("\n")
    assert lines[0].startswith("def f") and lines[-1].startswith("    return")
    assert "def f1500(a, b):" in region.text
    assert region.before and region.after and not region.start_of_file
    assert len(region.before) <= regions.CONTEXT_CHARS and len(region.after) <= regions.CONTEXT_CHARS
    # The region's lines are the document's.
    assert doc.lines_between(region.first_line, region.end_line)[0] == lines[0] + "\n"


def test_a_long_function_gives_its_statement_not_a_cut_construct():
    body = "".join(f"    value_{i} = compute({i}, {i + 1}, {i + 2})\n" for i in range(200))
    text = "def huge():\n" + body + "    return value_0\n"
    region = editable_region(snapshot(text), 100, 8)
    assert region is not None
    assert len(region.text) <= regions.MAX_REGION_CHARS
    assert "value_99 = compute" in region.text
    assert all(line.startswith("    value_") for line in region.text.split("\n"))


def test_a_minified_line_has_no_region():
    text = "var a=" + "1+" * 5000 + "1;\n"
    assert editable_region(snapshot(text, "javascript", "file:///a.min.js"), 0, 10) is None


def test_text_without_a_grammar_gets_the_lines_around_the_cursor():
    text = "".join(f"note {i}: something to say\n" for i in range(500))
    region = editable_region(snapshot(text, "plaintext", "file:///notes.txt"), 250, 3)
    assert region is not None and region.window.tree is None
    assert "note 250:" in region.text and len(region.text) <= regions.MAX_REGION_CHARS
    assert region.first_line < 250 < region.end_line


class OnlyLines:
    def __init__(self, snapshot) -> None:
        self.snapshot = snapshot
        self.read = 0

    def lines_between(self, first: int, end: int):
        found = self.snapshot.lines_between(first, end)
        self.read += len(found)
        return found

    def __getattr__(self, name: str):
        if name in ("grammar", "encoding"):
            return getattr(self.snapshot, name)
        raise AssertionError(f"the region read snapshot.{name}: O(file) work")


def test_the_region_reads_a_window_never_the_whole_document():
    doc = OnlyLines(snapshot(functions(3000)))
    region = editable_region(doc, 10_000, 4)
    assert region is not None
    assert doc.read <= 2 * regions.WINDOW_LINES + 1
