"""The context builder: window, scopes, cross-file definitions, budgets and priorities, privacy hooks."""

from __future__ import annotations

from pathlib import Path

import pytest

from lsp_server.engine.context import (
    BuiltContext,
    Priority,
    Snippet,
    build_context,
    callee_at,
    local_types,
    member_access_at,
    window_bounds,
)
from lsp_server.engine.index import WorkspaceIndex


def cursor(marked: str) -> tuple[str, int]:
    """Text and offset from a fixture with a ``$0`` cursor marker."""
    offset = marked.index("$0")
    return marked.replace("$0", "", 1), offset


def workspace(root: Path, files: dict[str, str], **kwargs) -> WorkspaceIndex:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    index = WorkspaceIndex(**kwargs)
    for _ in index.build([root]):
        pass
    return index


def context_at(root: Path, index: WorkspaceIndex, rel: str, marked: str, **kwargs) -> BuiltContext:
    text, offset = cursor(marked)
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    index.add_file(path, text)
    language = kwargs.pop("language_id", None)
    kwargs.setdefault(
        "display_path",
        lambda p: Path(p).relative_to(root).as_posix() if Path(p).is_relative_to(root) else Path(p).name,
    )
    return build_context(
        text=text, offset=offset, path=str(path), language_id=language, index=index, **kwargs
    )


PKG = {
    "pkg/__init__.py": "",
    "pkg/cache.py": (
        "class Store:\n"
        "    def put(self, key, value):\n"
        '        """Store value under key."""\n'
        "\n"
        "class Cache:\n"
        '    """An LRU cache."""\n'
        "\n"
        "    def __init__(self, size: int) -> None:\n"
        "        self.store = Store()\n"
        "\n"
        "    def get(self, key: str) -> bytes | None:\n"
        '        """Return the value for key."""\n'
        "\n"
        "def make_cache(size: int = 3) -> Cache:\n"
        "    return Cache(size)\n"
    ),
}


@pytest.fixture
def pkg(tmp_path: Path) -> tuple[Path, WorkspaceIndex]:
    return tmp_path, workspace(tmp_path, PKG)


def test_relative_import_callee_definition(pkg) -> None:
    root, index = pkg
    built = context_at(root, index, "pkg/user.py", "from .cache import make_cache\n\nc = make_cache($0)\n")
    assert "def make_cache(size: int = 3) -> Cache:" in built.prompt.context
    assert "# path: pkg/cache.py" in built.prompt.context
    assert built.snippets[0].reason == "callee"


def test_absolute_import_and_module_alias(pkg) -> None:
    root, index = pkg
    built = context_at(root, index, "app.py", "import pkg.cache as pc\n\nx = pc.make_cache($0)\n")
    assert "def make_cache(" in built.prompt.context
    built = context_at(root, index, "app2.py", "from pkg.cache import Cache\n\nCache($0)\n")
    assert "class Cache:" in built.prompt.context


def test_parameter_annotation_gives_members(pkg) -> None:
    root, index = pkg
    built = context_at(
        root, index, "pkg/user.py", "from .cache import Cache\n\ndef use(c: Cache):\n    c.get($0)\n"
    )
    assert "def get(self, key: str) -> bytes | None:" in built.prompt.context
    assert "Return the value for key." in built.prompt.context


def test_constructor_assignment_and_member_outline(pkg) -> None:
    root, index = pkg
    built = context_at(root, index, "pkg/user.py", "from .cache import Cache\n\nc = Cache(3)\nc.$0\n")
    members = next(s for s in built.snippets if s.reason == "members")
    assert "class Cache:" in members.text and "def get(self, key: str)" in members.text


def test_factory_return_annotation_types_the_variable(pkg) -> None:
    root, index = pkg
    built = context_at(
        root,
        index,
        "pkg/user.py",
        "from .cache import make_cache\n\ndef f():\n    c = make_cache()\n    c.get($0)\n",
    )
    assert "def get(self, key: str)" in built.prompt.context


def test_self_fields_lead_to_other_files(pkg) -> None:
    root, index = pkg
    marked = (
        "from .cache import Store\n\n"
        "class Service:\n"
        "    def __init__(self):\n"
        "        self.backend = Store()\n\n"
        "    def save(self, k, v):\n"
        "        self.backend.put($0)\n"
    )
    built = context_at(root, index, "pkg/service.py", marked)
    assert "def put(self, key, value):" in built.prompt.context
    assert built.snippets[0].reason == "callee"


def test_self_members_of_a_class_defined_elsewhere_in_the_file(tmp_path: Path) -> None:
    filler = "".join(f"    def m{i}(self):\n        return {i}\n\n" for i in range(200))
    marked = (
        "class Big:\n    def target(self, a, b):\n        pass\n\n"
        + filler
        + "    def last(self):\n        self.target($0)\n"
    )
    index = workspace(tmp_path, {})
    built = context_at(tmp_path, index, "big.py", marked, budget_chars=3000)
    assert "def target(self, a, b):" in built.prompt.context
    assert "class Big:" in built.prompt.context  # the scope header, far above the window


def test_js_import_and_ts_parameter_types(tmp_path: Path) -> None:
    index = workspace(
        tmp_path,
        {
            "src/cache.ts": "export class Cache {\n  get(key: string): number { return 1 }\n}\n",
            "src/util.js": "/** Joins parts. */\nfunction joinAll(parts) { return parts.join('') }\n"
            "module.exports = { joinAll };\n",
        },
    )
    built = context_at(
        tmp_path,
        index,
        "src/app.ts",
        "import { Cache } from './cache';\n\nfunction use(c: Cache) {\n  return c.get($0)\n}\n",
        language_id="typescript",
    )
    assert "get(key: string): number" in built.prompt.context
    assert "// path: src/cache.ts" in built.prompt.context
    built = context_at(
        tmp_path,
        index,
        "src/main.js",
        "const { joinAll } = require('./util');\n\njoinAll($0)\n",
        language_id="javascript",
    )
    assert "function joinAll(parts)" in built.prompt.context
    assert "Joins parts." in built.prompt.context


def test_budget_is_respected_for_many_budgets(pkg) -> None:
    root, index = pkg
    body = "".join(f"value_{i} = make_cache({i})\n" for i in range(300))
    marked = "from .cache import make_cache, Cache\n" + body + "c = make_cache($0)\n" + body
    opens = [("/other/a.py", "value_1 = make_cache(1)\n" * 50)]
    edits = [Snippet("/other/b.py", "x = 1\n" * 20)]
    for budget in (200, 500, 1000, 2000, 6000, 20000):
        built = context_at(
            root, index, "pkg/user.py", marked, budget_chars=budget, open_files=opens, recent_edits=edits
        )
        prompt = built.prompt
        assert len(prompt.prefix) + len(prompt.suffix) + len(prompt.context) <= budget
        assert prompt.prefix.endswith("c = make_cache(")  # the cursor line is always whole
        assert prompt.suffix.startswith(")\n")


def test_priorities_callee_first_similar_last(pkg) -> None:
    root, index = pkg
    marked = "from .cache import make_cache\n\ncache_size = 3\nc = make_cache($0)\n"
    opens = [("/other/a.py", "cache_size = 3\nc = make_cache(cache_size)\n" + "z = 0\n" * 40)]
    edits = [Snippet("/other/b.py", "recently_edited = True\n")]
    built = context_at(
        root, index, "pkg/user.py", marked, budget_chars=4000, open_files=opens, recent_edits=edits
    )
    priorities = [s.priority for s in built.snippets]
    assert priorities == sorted(priorities)
    assert {Priority.CALLEE, Priority.RECENT_EDIT, Priority.SIMILAR} <= set(priorities)
    # Most relevant last, right before the code: the callee ends the context.
    assert built.prompt.context.rstrip().endswith("def make_cache(size: int = 3) -> Cache:")
    # With little room the callee stays and the similar snippet goes.
    small = context_at(
        root, index, "pkg/user.py", marked, budget_chars=260, open_files=opens, recent_edits=edits
    )
    reasons = [s.reason for s in small.snippets]
    assert "callee" in reasons and "similar" not in reasons
    assert any(s.reason == "similar" for s in small.dropped)


def test_leftover_budget_extends_the_window(tmp_path: Path) -> None:
    marked = "".join(f"line_{i} = {i}\n" for i in range(100)) + "x = $0\n"
    text, offset = cursor(marked)
    built = build_context(text=text, offset=offset, path=None, language_id="python", budget_chars=100_000)
    assert built.prompt.prefix == text[:offset]
    assert built.window == (0, 101)


def test_excluded_files_are_never_used(tmp_path: Path) -> None:
    files = dict(PKG)
    index = workspace(tmp_path, files, is_excluded=lambda p: p.endswith("cache.py"))
    built = context_at(
        tmp_path,
        index,
        "pkg/user.py",
        "from .cache import make_cache\nsecret_token = 1\nmake_cache($0)\n",
        open_files=[("/w/secret.py", "secret_token = 1\nmake_cache()\n" * 5)],
        recent_edits=[Snippet("/w/secret.py", "password = 'x'\n")],
        is_excluded=lambda p: "secret" in p,
    )
    assert "make_cache(size" not in built.prompt.context
    assert "secret.py" not in built.prompt.context
    assert built.snippets == []


def test_sanitize_runs_over_everything_sent(pkg) -> None:
    root, index = pkg
    built = context_at(
        root,
        index,
        "pkg/user.py",
        "from .cache import make_cache\nkey = 'Return'\nmake_cache($0)\n",
        recent_edits=[Snippet("/w/other.py", "token = 'Return'\n")],
        sanitize=lambda text: text.replace("Return", "<redacted>"),
    )
    prompt = built.prompt
    assert "Return" not in prompt.prefix + prompt.suffix + prompt.context
    assert "<redacted>" in prompt.prefix and "<redacted>" in prompt.context


def test_comment_style_follows_the_language(tmp_path: Path) -> None:
    edits = [Snippet("/w/x.txt", "hello")]
    py = build_context(text="x = 1\n", offset=5, path="/w/a.py", language_id="python", recent_edits=edits)
    go = build_context(text="x := 1\n", offset=6, path="/w/a.go", language_id="go", recent_edits=edits)
    plain = build_context(text="x", offset=1, path=None, language_id="plaintext", recent_edits=edits)
    assert py.prompt.context == "# path: x.txt\n# hello\n"  # never an absolute path
    assert go.prompt.context == "// path: x.txt\n// hello\n"
    assert plain.prompt.context.startswith("# path:")


@pytest.mark.parametrize(
    ("language_id", "path", "marked"),
    [
        ("python", "/w/a.py", "def f(:\n    x = (((\n    y.$0\nclass"),
        ("javascript", "/w/a.js", "function f( { let x = {{{ $0 }"),
        ("go", "/w/a.go", "func (s *S) M( { s.$0"),
        ("rust", "/w/a.rs", "impl X { fn f(&self) { self.$0"),
        (None, None, "$0"),
        ("python", "/w/a.py", "\x00\ufffd$0\u202e"),
    ],
)
def test_syntax_errors_and_odd_text_never_crash(tmp_path: Path, language_id, path, marked) -> None:
    index = workspace(tmp_path, PKG)
    text, offset = cursor(marked)
    built = build_context(text=text, offset=offset, path=path, language_id=language_id, index=index)
    assert built.prompt.prefix + built.prompt.suffix == text


def test_cursor_helpers() -> None:
    text, offset = cursor("x = obj.method(a, f(b), $0")
    assert callee_at(text, offset) == ("obj", "method")
    text, offset = cursor("y = make(x).join($0")
    assert callee_at(text, offset) == ("?", "join")
    text, offset = cursor("x = [1, $0")
    assert callee_at(text, offset) is None
    text, offset = cursor("    self.store.pu$0")
    assert member_access_at(text, offset) == ("self", "store")
    text = "def f(c: Cache, n: Optional[Node]):\n    s = Store(1)\n    t = make()\n"
    assert local_types(text, len(text), "python") == {"c": "Cache", "n": "Node", "s": "Store", "t": "make()"}
    assert local_types("Cache c = new Cache();\n", 22, "java")["c"] == "Cache"


def test_window_bounds_whole_lines_and_long_lines() -> None:
    text = "a\nbb\nccc\ndddd\n"
    start, end = window_bounds(text, text.index("ccc") + 1, 5, 3)
    assert text[start:end] == "bb\nccc"
    long = "x" * 10_000
    start, end = window_bounds(long, 5000, 300, 100)
    assert (start, end) == (4700, 5100)


def test_go_package_qualified_calls_and_receiver_members(tmp_path: Path) -> None:
    index = workspace(
        tmp_path,
        {
            "store/store.go": "package store\n\n// Open opens a store.\n"
            "func Open(path string) (*DB, error) {\n\treturn nil, nil\n}\n\n"
            "type DB struct {\n\tPath string\n}\n",
            "store/db_get.go": "package store\n\nfunc (d *DB) Get(key string) []byte { return nil }\n",
        },
    )
    built = context_at(
        tmp_path,
        index,
        "cmd/main.go",
        'package main\n\nimport "example.com/app/store"\n\nfunc main() {\n\tstore.Open($0)\n}\n',
        language_id="go",
    )
    assert "func Open(path string) (*DB, error)" in built.prompt.context
    assert "Open opens a store." in built.prompt.context
    built = context_at(
        tmp_path,
        index,
        "cmd/use.go",
        "package main\n\nfunc use(d *DB) {\n\td.Get($0)\n}\n",
        language_id="go",
    )
    assert "func (d *DB) Get(key string) []byte" in built.prompt.context


def test_c_quoted_include_resolves_to_the_header(tmp_path: Path) -> None:
    index = workspace(tmp_path, {"include/util.h": "/* Sums. */\nint sum(int a, int b);\n"})
    built = context_at(
        tmp_path,
        index,
        "src/main.c",
        '#include "util.h"\n\nint main(void) { return sum($0); }\n',
        language_id="c",
    )
    assert "int sum(int a, int b);" in built.prompt.context


def test_chains_do_not_span_lines() -> None:
    text, offset = cursor("# cookies from the server.\n        extract($0")
    assert callee_at(text, offset) == ("extract",)
    text, offset = cursor("query = (session\n    .filter(x)\n    .order_by($0")
    assert callee_at(text, offset) == ("?", "order_by")


@pytest.mark.parametrize(
    ("marked", "owner"),
    [
        ("    get_settings().$0", ("get_settings()",)),
        ("    x = Builder(a, f(b)).add_$0", ("Builder()",)),
        ("    self.make(1).$0", ("self", "make()")),
        ("    f(x).g(y).$0", None),  # the inner call's type is not followed
        ("    (a + b).$0", None),
        ("    s = _Store(1)\n    s.$0", ("s",)),
    ],
)
def test_member_access_on_a_call_result(marked: str, owner) -> None:
    text, offset = cursor(marked)
    assert member_access_at(text, offset) == owner


def test_member_access_looks_back_a_bounded_distance() -> None:
    text = "x = " + "y" * 5000 + " + Cache()."
    assert member_access_at(text, len(text)) == ("Cache()",)
    text = "x = Cache(" + "1, " * 200 + ")."
    assert member_access_at(text, len(text)) is None  # the ``(`` is beyond MEMBER_ACCESS_CHARS


def test_local_types_constructor_of_an_underscore_class() -> None:
    text = "def f():\n    ex = _Extractor(c)\n    m = mod._Impl()\n"
    assert local_types(text, len(text), "python") == {"ex": "_Extractor", "m": "mod._Impl"}


def test_optional_chaining_and_non_null_receivers() -> None:
    text, offset = cursor("    durationSubscriber?.$0")
    assert member_access_at(text, offset) == ("durationSubscriber",)
    text, offset = cursor("    this.client!.ge$0")
    assert member_access_at(text, offset) == ("this", "client")
    text, offset = cursor("    this.sub?.unsubscribe($0")
    assert callee_at(text, offset) == ("this", "sub", "unsubscribe")


def _reference_best(query: frozenset[str], text: str) -> tuple[float, int, str] | None:
    """The plain definition of the best window: every window's set, Jaccard, first best in file order."""
    from lsp_server.engine.context import (
        MAX_OPEN_FILE_CHARS,
        SIMILAR_MIN_SCORE,
        SIMILAR_STRIDE,
        SIMILAR_WINDOW_LINES,
        tokens,
    )

    lines = text[:MAX_OPEN_FILE_CHARS].splitlines()
    best = None
    for start in range(0, max(1, len(lines) - SIMILAR_WINDOW_LINES + SIMILAR_STRIDE), SIMILAR_STRIDE):
        chunk = "\n".join(lines[start : start + SIMILAR_WINDOW_LINES])
        toks = tokens(chunk)
        if not toks:
            continue
        score = len(query & toks) / len(query | toks)
        if score >= SIMILAR_MIN_SCORE and (best is None or score > best[0]):
            best = (score, start, chunk)
    return best


def test_similar_windows_match_the_plain_definition() -> None:
    """The inverted index picks exactly the window a scan of per-window sets picks (ties: the first)."""
    import random

    from lsp_server.engine.context import _Windows, tokens

    rng = random.Random(7)
    words = [f"name_{i}" for i in range(40)]
    texts = [
        "".join(
            " ".join(rng.sample(words, rng.randint(0, 5))) + rng.choice(["\n", "\r\n", "\r"])
            for _ in range(300)
        )
        for _ in range(3)
    ]
    texts += ["", "x", "a_a = 1\n" * 30, "same_line = 1\n" * 100, "u\u2028v\x0cw_w\n" * 40]
    for _ in range(300):
        text = rng.choice(texts)
        query = tokens(
            " ".join(rng.sample(words, rng.randint(1, 12))) + rng.choice(["", " a_a", " same_line"])
        )
        assert _Windows(text).best(query) == _reference_best(query, text)


def test_window_cache_is_bounded_in_bytes_measured() -> None:
    """What a window cache entry is charged covers what it really holds (tracemalloc)."""
    import tracemalloc

    from lsp_server.engine import context

    source = Path(context.__file__).read_text(encoding="utf-8")
    text = "".join(f"{line}  # {n}\n" for n, line in enumerate(source.splitlines()))  # a fresh string
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        windows = context._Windows(text)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held + len(text) <= windows.cost, (held, windows.cost)

    cache = context._WindowCache(budget=3 * windows.cost)
    for n in range(10):
        cache.get(
            "edited.py", f"{text}# version {n}\n"
        )  # an edited file keeps one entry, not one per version
    assert len(cache) == 1 and cache.used <= windows.cost + 100
    for n in range(10):
        cache.get(f"file_{n}.py", f"{text}# file {n}\n")
    assert len(cache) <= 3 and cache.used <= cache.budget


def test_a_huge_file_is_windowed_once_not_at_every_request() -> None:
    """Windows come from the first MAX_OPEN_FILE_CHARS: a huge file is charged and cached for those."""
    from lsp_server.engine import context

    huge = "".join(f"ROW_{i} = {i * 7}\n" for i in range(200_000))  # 3.5 MB, more than the budget
    cache = context._WindowCache(budget=context.WINDOW_CACHE_BYTES)
    first = cache.get("generated.py", huge)
    assert cache.get("generated.py", huge) is first
    assert cache.get("generated.py", huge + "tail = 1\n") is first  # past the windowed part
    assert cache.used <= context.MAX_OPEN_FILE_CHARS * 6
    assert cache.get("generated.py", "changed = 1\n" + huge) is not first
