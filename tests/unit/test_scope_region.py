"""The scopes of a completion prompt come from a parse of the region around the cursor (context.scope_region).

The prompt no longer reparses the whole document per request (each keystroke makes a new version).
What that must not cost: the scope headers a whole-file tree gives, at random cursors in real files of
this repository, and a bounded parse whatever the file's size.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from lsp_server.core import syntax
from lsp_server.engine.context import SCOPE_ABOVE_CHARS, SCOPE_BELOW_CHARS, build_context, scope_region

ROOT = Path(__file__).resolve().parents[2]
REAL_FILES = [
    ("python", ROOT / "lsp_server" / "engine" / "rewrite.py"),
    ("python", ROOT / "lsp_server" / "engine" / "context.py"),
    ("python", ROOT / "lsp_server" / "core" / "documents.py"),
    ("python", ROOT / "tests" / "fake_openai.py"),
    ("typescript", ROOT / "editor-clients" / "vscode" / "src" / "extension.ts"),
]


def scope_context(text: str, offset: int, language: str, path: str, tree=None) -> str:
    # A small budget: the window is short, so enclosing scopes start above it and show as headers.
    built = build_context(
        text=text, offset=offset, path=path, language_id=language, tree=tree, budget_chars=1200
    )
    return built.prompt.context


@pytest.mark.parametrize(("language", "path"), REAL_FILES, ids=lambda p: getattr(p, "name", p))
def test_region_scopes_match_the_whole_file_tree_in_real_files(language: str, path: Path) -> None:
    text = path.read_text()
    tree = syntax.parse(syntax.grammar_name(language, str(path)), text.encode())
    rng = random.Random(14)
    offsets = [rng.randint(0, len(text)) for _ in range(120)]
    with_headers = same = 0
    for offset in offsets:
        whole = scope_context(text, offset, language, str(path), tree)
        with_headers += bool(whole)
        same += whole == scope_context(text, offset, language, str(path))
    assert with_headers > 20  # the check is not vacuous: most cursors have a scope above the window
    assert same >= 0.97 * len(offsets), f"{same}/{len(offsets)} prompts agree"


def test_the_region_is_the_construct_around_the_cursor() -> None:
    text = "import os\n\nclass A:\n    def f(self):\n        x = 1\n        return x\n\ndef g():\n    pass\n"
    start, end = scope_region(text, text.index("return x") + 3)
    assert text[start:end] == "class A:\n    def f(self):\n        x = 1\n        return x\n"
    start, end = scope_region(text, text.index("pass"))
    assert text[start:end] == "def g():\n    pass\n"
    braces = "int main() {\n  foo();\n}\n\nint other() {\n  return 1;\n}\n"
    start, end = scope_region(braces, braces.index("foo"))
    assert braces[start:end].startswith("int main() {") and "other" not in braces[start:end]


def test_the_region_stays_bounded_in_a_huge_construct_and_a_huge_file() -> None:
    method = (
        "    def method_{0}(self):\n"
        + "".join(f"        x{j} = {j}\n" for j in range(30))
        + "        return {0}\n\n"
    )
    body = "".join(method.format(i) for i in range(1_500))
    text = "class Huge:\n" + body + "def after():\n    pass\n" * 2_000
    offset = text.index("return 1000")
    start, end = scope_region(text, offset)
    assert offset - start <= SCOPE_ABOVE_CHARS + 100 and end - offset <= SCOPE_BELOW_CHARS + 100
    assert len(text) > 10 * (end - start)
    # The method around the cursor is found as a scope, and so is its class, far above the region:
    # its header is parsed before the region (``self.`` resolves against it).
    built = build_context(text=text, offset=offset, path="huge.py", language_id="python", budget_chars=400)
    assert "def method_1000(self)" in built.prompt.context
    assert "class Huge:" in built.prompt.context


def test_region_trees_reparsed_incrementally_equal_fresh_parses() -> None:
    # Consecutive requests reuse the last region tree of the file, edited by the span that differs:
    # typing, deleting, jumping elsewhere, and a region that shifts must all give the fresh tree.
    from lsp_server.engine.context import _REGION_TREES

    text = (ROOT / "lsp_server" / "engine" / "rewrite.py").read_text()
    rng = random.Random(7)
    _REGION_TREES.clear()
    cursor = len(text) // 2
    for step in range(150):
        if step % 25 == 0:
            cursor = rng.randint(0, len(text))  # a jump: a different region
        elif rng.random() < 0.7:
            piece = rng.choice(["x", " ", "\n", "(", "):", "\n    def g(self):\n        ", "é", '"'])
            text, cursor = text[:cursor] + piece + text[cursor:], cursor + len(piece)
        else:
            cut = rng.randint(1, 5)
            text, cursor = text[: max(0, cursor - cut)] + text[cursor:], max(0, cursor - cut)
        start, end = scope_region(text, cursor)
        source = text[start:end].encode()
        cached = _REGION_TREES.parse("rewrite.py", "python", source)
        assert str(cached.root_node) == str(syntax.parse("python", source).root_node), step
    assert len(_REGION_TREES) == 1
