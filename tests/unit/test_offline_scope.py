"""The offline engine's evidence: names in scope, brackets, confidence, and the benchmark's on-disk cut."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

from lsp_server.engine.index import WorkspaceIndex
from lsp_server.providers import calibration
from lsp_server.providers.ngram import OfflineModel
from lsp_server.providers.scope import (
    IndexNames,
    closing_line,
    finish_line,
    line_balance,
    mentioned_names,
)

JS = (False, True)  # (``#`` comments, ``'`` strings)
PY = (True, True)
GO = (False, False)


def test_mentioned_names_skip_strings_and_comments_and_count_the_word_being_finished():
    assert mentioned_names("x = fo", 'o(bar, "baz qux")  # note', *PY) == ["foo", "bar"]
    assert mentioned_names('msg = "hello wor', 'ld" + name', *PY) == ["name"]
    assert mentioned_names("let c = ", "'a' as u8; // comment", *GO) == ["a", "as", "u8"]


def test_closes_the_brackets_the_opener_line_opened_as_its_siblings_were_closed():
    text = 'describe("a", () => {\n  it("x", () => {\n    foo();\n  });\n  it("y", () => {\n    bar();\n  '
    assert closing_line(text, *JS) == "});"
    assert closing_line(text + "}", *JS) == ");"  # part of the closers already typed
    assert closing_line("func f() {\n\tx := 1\n", *GO) == "}"
    assert closing_line("const x = {\n  a: 1;\n  b;\n", *JS) == "};"
    assert closing_line('  s = "(" + (\n    a\n  ', *JS) == ")"  # brackets in strings do not count


def test_does_not_close_when_the_indentation_is_not_the_openers():
    assert closing_line("func f() {\n\tx := 1\n\t", *GO) is None
    assert closing_line("func f() {\n\tx := 1\n\ty", *GO) is None
    assert closing_line("x = 1\n", *PY) is None


def test_finishes_a_line_like_its_siblings():
    assert finish_line('x = {\n    url: "URL",\n    guid: "GUID', "\n    b: 1,\n}", *JS) == ('",', 1.0)
    assert finish_line("    foo(1)\n    bar(2", "\n", *JS) == (")", 1.0)
    assert finish_line("if ready(x", "\n    go()\n", *PY) == ("):", 1.0)
    assert finish_line("    # a comment (", "\n", *PY) is None


def test_line_balance_counts_what_stays_open_and_what_closes_earlier_lines():
    assert line_balance("f(a, ", "b)", *PY) == (0, 0)
    assert line_balance("f(a, ", "g(b", *PY) == (2, 0)
    assert line_balance("", "})", *JS) == (0, 2)


def test_index_names_follow_imports_and_are_rebuilt_when_a_file_is_reindexed(tmp_path):
    lib, app = str(tmp_path / "lib.py"), str(tmp_path / "app.py")
    index = WorkspaceIndex()
    index.add_file(lib, "def parse_config(path):\n    pass\n")
    index.add_file(app, "from lib import parse_config\n\n\ndef main():\n    pass\n")
    names = IndexNames(index)
    assert {"parse_config", "main"} <= names.names(app)
    index.add_file(lib, "def parse_config(path):\n    pass\n\n\ndef load_config(path):\n    pass\n")
    assert "load_config" in names.names(app)  # lib.py was re-indexed: the cached entry is stale
    assert names.names(str(tmp_path / "unknown.py")) == frozenset()
    assert IndexNames(None).names(app) == frozenset()


def test_confidence_rises_with_agreement_and_falls_with_rivals():
    strong = {"source": "copy", "share": 0.95, "longest": 10, "voters": 6, "after": 8, "rank": 0}
    weak = dict(strong, share=0.3, rival=0.3, after=0)
    assert 0.0 < calibration.confidence(weak) < calibration.confidence(strong) < 1.0
    assert len(calibration.vector(strong)) == len(calibration.FEATURE_NAMES)


def test_suggest_shows_only_what_reaches_the_threshold():
    model = OfflineModel()
    text = "left = 1\nright = 2\nresult = combine(left, right)\nprint(result)\n"
    model.add("a.py", text)  # one copy: evidence, not a repeat
    prefix, suffix = "left = 1\nright = 2\nresult = combine(", ")\nprint(result)\n"
    found = model.propose(prefix, suffix, "b.py")
    assert found is not None and found.text == "left, right" and found.source == "copy"
    assert model.suggest(prefix, suffix, "b.py") == (
        found.text if found.confidence >= calibration.THRESHOLD else ""
    )


def _bench():
    path = Path(__file__).resolve().parents[2] / "bench" / "offline.py"
    spec = importlib.util.spec_from_file_location("bench_offline", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_benchmark_cuts_the_line_on_disk_so_the_index_never_sees_the_answer():
    bench = _bench()
    rng = random.Random(3)
    words = ["alpha", "beta(", ")", "gamma", " = ", "delta", ",", "  "]
    for trial in range(50):
        lines = ["".join(rng.choice(words) for _ in range(rng.randint(0, 8))) for _ in range(20)]
        text = "\n".join(lines) + "\n"
        cuts = bench.choose_cuts(f"file{trial}.py", text, 2)
        on_disk = bench.cut_text(text, cuts)
        for cursor, end in cuts:
            assert text[cursor:end].rstrip()  # every cut leaves something to predict
            at = cursor - sum(e - c for c, e in cuts if c < cursor)  # the cursor's offset on disk
            line_start = text.rfind("\n", 0, cursor) + 1
            assert on_disk[:at].endswith(text[line_start:cursor])
            assert on_disk[at : at + 1] in ("\n", "")  # the line ends at the cursor on disk
        assert len(on_disk) == len(text) - sum(end - cursor for cursor, end in cuts)
