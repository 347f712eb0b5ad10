"""The incremental stream stopper decides as ``postprocess.should_stop_streaming`` does, chunk by chunk.

It builds the scene once and never re-checks a chunk that completes no line.
"""

import random

import pytest

from lsp_server.engine import postprocess, stream_stop
from lsp_server.engine.postprocess import Cursor, should_stop_streaming
from lsp_server.engine.stream_stop import StreamStopper


def at(source: str, grammar: str | None = "python", **kw) -> Cursor:
    offset = source.index("$0")
    return Cursor(text=source.replace("$0", "", 1), offset=offset, grammar=grammar, **kw)


CURSORS = [
    ("def f(x):\n    return $0\n", "python"),
    ("def f(x):\n    $0\n", "python"),
    ("def f(x):$0\n", "python"),
    ("x = 1$0\n", "python"),
    ("print($0)\n", "python"),
    ("# a comment $0\n", "python"),
    ("def f(x):\n    $0return x\n", "python"),
    ("class A:\n    def f(self):\n        $0\n\n    def g(self):\n        pass\n", "python"),
    ("function f() {$0\n}\n", "javascript"),
    ("if (x) {\n  $0\n}\nfoo();\n", "javascript"),
    ("a\r\n$0\r\n", "python"),
    ("\n\n$0", None),
    ("x = f($0)\n", "python"),
]

ANSWERS = [
    "x + 1\n",
    "x +",
    "y = 1\n    return y\n\ndef g():\n    pass\n",
    "y = 1\n    return y\n",
    "\n    return x\n",
    "\n\n\nfoo\n",
    "a, b)\nprint(1)\n",
    "total = 0\n    for i in range(3):\n        total += i\n    return total\n\nprint(f(1))\n",
    "x = 1\n    x = 1\n    x = 1\n    x = 1\n    x = 1\n",
    "  bar();\n}\nbaz();\n",
    "\r\n  y\r\n",
    "value",
    "🙂\n🙂\n🙂\n🙂",
]


def first_stop_old(chunks: list[str], cursor: Cursor) -> int | None:
    text = ""
    for i, chunk in enumerate(chunks):
        text += chunk
        if should_stop_streaming(text, cursor):
            return i
    return None


def first_stop_new(chunks: list[str], cursor: Cursor) -> int | None:
    stopper = StreamStopper(cursor)
    for i, chunk in enumerate(chunks):
        if stopper.feed(0, chunk):
            return i
    return None


def chunked(text: str, rng: random.Random) -> list[str]:
    cuts = (
        sorted(rng.sample(range(1, len(text)), min(len(text) - 1, rng.randint(0, 8))))
        if len(text) > 1
        else []
    )
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


@pytest.mark.parametrize(("source", "grammar"), CURSORS)
def test_stops_at_the_same_chunk_as_the_old_check(source, grammar):
    rng = random.Random(source)
    for multiline in ("auto", "always", "never"):
        cursor = at(source, grammar, multiline=multiline)
        for answer in ANSWERS:
            for _ in range(6):
                chunks = chunked(answer, rng)
                assert first_stop_new(chunks, cursor) == first_stop_old(chunks, cursor), (answer, chunks)
            per_char = list(answer)
            assert first_stop_new(per_char, cursor) == first_stop_old(per_char, cursor), answer


def test_scene_is_built_once_and_the_rule_runs_at_most_twice_per_line(monkeypatch):
    cursor = at("def f(x):\n    $0\n")
    scenes = []
    real_scene = postprocess.scene_for
    monkeypatch.setattr(postprocess, "scene_for", lambda c: scenes.append(c) or real_scene(c))
    stopper = StreamStopper(cursor)
    tokens = ["y", " =", " 1", "\n", "    ", "return", " y", "\n", "\n", "def", " g", "():", "\n"]
    stops = [stopper.feed(0, token) for token in tokens]
    assert len(scenes) == 1
    assert stops.index(True) == len(tokens) - 1
    lines = sum(token.count("\n") for token in tokens)
    assert stopper.decisions <= 2 * lines
    assert stopper.decisions < len(tokens) - 2


def test_candidates_are_kept_apart_and_a_runaway_candidate_stops():
    stopper = StreamStopper(at("x = $0\n"))
    assert not stopper.feed(0, "1")
    assert not stopper.feed(1, "2")
    assert stopper.feed(1, " + 3\n")
    assert not stopper.feed(0, "x" * 100)
    assert stopper.feed(0, "y" * stream_stop.MAX_STREAM_CHARS)
    assert stopper.texts()[1] == "2 + 3\n"
    assert stopper.text(0).startswith("1xxx")
