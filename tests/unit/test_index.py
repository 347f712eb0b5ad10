"""The workspace index: walking, extraction per grammar, imports, resolution across files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lsp_server.engine.index import (
    WorkspaceIndex,
    base_names,
    iter_workspace_files,
    python_module_names,
    read_source,
)
from lsp_server.engine.symbols import extract, type_name_of


def write(root: Path, files: dict[str, str | bytes]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def built(root: Path, **kwargs) -> WorkspaceIndex:
    index = WorkspaceIndex(**kwargs)
    for _ in index.build([root]):
        pass
    return index


# ---- walking


def test_walk_skips_vendored_generated_and_excluded_trees(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "src/app.py": "x = 1\n",
            "src/web/app.ts": "export const y = 1\n",
            "node_modules/lib/index.js": "function f() {}\n",
            ".venv/lib/site.py": "",
            "myenv/pyvenv.cfg": "home = /usr\n",
            "myenv/lib/mod.py": "",
            "build/gen.py": "",
            "dist/x.js": "",
            "target/debug/x.rs": "",
            ".git/hooks/x.py": "",
            "__pycache__/x.py": "",
            "secret/keys.py": "KEY = 1\n",
            "src/notes.txt": "not code\n",
            "src/bundle.min.js": "var a=1",
        },
    )
    excluded = str(tmp_path / "secret")
    found = sorted(
        p.relative_to(tmp_path).as_posix() for p in iter_workspace_files([tmp_path], lambda p: p == excluded)
    )
    assert found == ["src/app.py", "src/web/app.ts"]


def test_walk_survives_symlink_loops_and_lists_a_file_once(tmp_path: Path) -> None:
    write(tmp_path, {"pkg/a.py": "A = 1\n"})
    os.symlink(tmp_path, tmp_path / "pkg" / "loop")
    os.symlink(tmp_path / "pkg" / "a.py", tmp_path / "alias.py")
    os.symlink(tmp_path / "missing.py", tmp_path / "dangling.py")
    found = list(iter_workspace_files([tmp_path]))
    assert len(found) == 1  # the loop is not followed; the file symlink and its target are one file


def test_walk_respects_max_files_and_max_bytes(tmp_path: Path) -> None:
    write(tmp_path, {f"m{i}.py": "x = 1\n" for i in range(10)})
    write(tmp_path, {"big.py": "x = 1\n" * 1000})
    assert len(list(iter_workspace_files([tmp_path], max_files=3))) == 3
    assert all(p.name != "big.py" for p in iter_workspace_files([tmp_path], max_file_bytes=100))


def test_binary_and_non_utf8_files(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "bin.py": b"\x00\x01\x02def f(): pass\n",
            "latin.py": "# caf\xe9\ndef g():\n    pass\n".encode("latin-1"),
        },
    )
    assert read_source(tmp_path / "bin.py") is None
    assert "\ufffd" in (read_source(tmp_path / "latin.py") or "")
    index = built(tmp_path)
    assert index.definitions("f") == []
    assert [d.name for d in index.definitions("g")] == ["g"]


def test_minified_code_is_not_read_whatever_its_name(tmp_path: Path) -> None:
    """A bundle's lines average far over 110 characters (linguist's rule); hand-written code does not."""
    bundle = "".join(f"var a{i}=function(r,e){{return r+e}};" for i in range(3000))  # one 100 kB line
    write(
        tmp_path,
        {
            "out/extension.js": bundle + "\n" + bundle + "\n",
            "src/app.js": "".join(f"function f{i}(a, b) {{\n  return a + b;\n}}\n" for i in range(400)),
            "src/short.js": "var a=function(r,e){return r+e};" * 20,  # one long line, but under 4 kB
        },
    )
    assert read_source(tmp_path / "out" / "extension.js") is None
    assert read_source(tmp_path / "src" / "app.js") and read_source(tmp_path / "src" / "short.js")
    index = built(tmp_path)
    assert index.definitions("f3") and not index.definitions("a3")


def test_build_yields_progress_and_can_stop_midway(tmp_path: Path) -> None:
    write(tmp_path, {f"m{i}.py": f"def f{i}(): pass\n" for i in range(5)})
    index = WorkspaceIndex()
    steps = index.build([tmp_path])
    first, text = next(steps)
    assert text == "def f0(): pass\n" and first.endswith("m0.py")
    steps.close()
    assert len(index) == 1
    again = list(index.build([tmp_path]))
    assert [path.rsplit("/", 1)[-1] for path, _ in again] == [f"m{i}.py" for i in range(5)]
    assert [text is not None for _, text in again] == [False, True, True, True, True]  # m0 unchanged
    assert len(index) == 5


def test_excluded_files_are_never_indexed(tmp_path: Path) -> None:
    write(tmp_path, {"a.py": "def visible(): pass\n", "secrets.py": "def hidden(): pass\n"})
    index = built(tmp_path, is_excluded=lambda p: p.endswith("secrets.py"))
    assert index.definitions("hidden") == []
    assert index.add_file(tmp_path / "secrets.py", "def hidden(): pass\n") is False
    assert index.definitions("hidden") == []
    assert [d.name for d in index.definitions("visible")] == ["visible"]


# ---- extraction

PYTHON = '''
import os.path as p
from .a.b import c as d, e
from .. import z
X: int = 1

class A(Base):
    """Doc of A.

    More text."""

    size = 3

    def __init__(self, cache: Cache) -> None:
        self.store = Store(1)
        self.cache: Optional[Cache] = cache
        local = 4

    def get(self, key: str) -> bytes:
        def inner():
            pass
        self.store = None

def top(a, b):
    """Top doc."""
    y = 2
'''


def test_python_definitions_kinds_containers_docs_and_types() -> None:
    symbols = extract("/w/m.py", PYTHON)
    assert symbols is not None
    got = {(d.name, d.kind, d.container) for d in symbols.definitions}
    assert got == {
        ("X", "variable", None),
        ("A", "class", None),
        ("size", "field", "A"),
        ("__init__", "method", "A"),
        ("store", "field", "A"),
        ("cache", "field", "A"),
        ("get", "method", "A"),
        ("top", "function", None),
    }
    by_name = {d.name: d for d in symbols.definitions}
    assert by_name["A"].doc == "Doc of A."
    assert by_name["A"].signature == "class A(Base):"
    assert by_name["get"].signature == "def get(self, key: str) -> bytes:"
    assert by_name["get"].type_name == "bytes"
    assert by_name["top"].doc == "Top doc."
    assert by_name["store"].type_name == "Store"
    assert by_name["cache"].type_name == "Cache"
    assert by_name["top"].line == 23  # 0-based


def test_python_imports_and_bindings() -> None:
    symbols = extract("/w/m.py", PYTHON)
    assert symbols is not None
    modules = [
        (i.module, i.level, i.alias, tuple((n.name, n.alias) for n in i.names)) for i in symbols.imports
    ]
    assert modules == [
        ("os.path", 0, "p", ()),
        ("a.b", 1, None, (("c", "d"), ("e", None))),
        ("", 2, None, (("z", None),)),
    ]
    assert symbols.bindings["d"].original == "c"
    assert symbols.bindings["p"].original is None


SAMPLES = {
    "a.js": (
        "/** Adds. */\nexport function add(a, b) { return a + b }\n"
        "const mul = (a, b) => a * b;\n"
        "class K extends Base { constructor() { this.cache = new Cache(); } run(x) { return x } }\n"
        "import D, {a, b as c} from './mod';\nconst {r} = require('./req');\n",
        {"add", "mul", "K", "cache", "run", "constructor"},
    ),
    "a.ts": (
        "interface Shape { area(): number; name: string }\n"
        "type Id = string;\nenum Color { Red }\n"
        "export class Circle implements Shape {\n"
        "  private r: number = 1; area(): number { return 1 } name = 'c' }\n"
        "function make(c: Circle): Shape { return c }\n",
        {"Shape", "area", "name", "Id", "Color", "Circle", "r", "make"},
    ),
    "a.tsx": ("export function App(): JSX.Element { return <div/> }\n", {"App"}),
    "a.go": (
        'package p\nimport f "fmt"\ntype Server struct { Addr string }\n'
        "type Runner interface { Run() error }\n"
        "// Start starts.\nfunc (s *Server) Start(port int) error { return nil }\n"
        "func New() *Server { return nil }\n"
        "const Max = 3\n",
        {"Server", "Addr", "Runner", "Run", "Start", "New", "Max"},
    ),
    "a.rs": (
        "use std::io;\npub struct Point { x: i32 }\nenum Dir { Up }\ntrait Shape { fn area(&self) -> f64; }\n"
        "impl Point { /// Makes one.\n pub fn new() -> Self { Point { x: 0 } } }\n"
        "fn main() {}\nconst N: u8 = 1;\n",
        {"Point", "x", "Dir", "Shape", "area", "new", "main", "N"},
    ),
    "A.java": (
        "import java.util.List;\nclass A extends B { int count; A() {} void run(int y) {} }\n"
        "interface I { void go(); }\n",
        {"A", "count", "run", "I", "go"},
    ),
    "a.c": (
        '#include "a.h"\nstruct S { int v; };\ntypedef struct S T;\n'
        "int *f(int x) { return 0; }\nint g(int);\n"
        "#define M 1\n",
        {"S", "v", "T", "f", "g", "M"},
    ),
    "a.cpp": (
        "class C : public B { public: int x; void m(); };\n"
        "void C::m() {}\nnamespace n { int f() { return 1; } }\n",
        {"C", "x", "m", "f"},
    ),
    "a.cs": (
        "using System.IO;\nclass C : B { int x; public int P { get; set; } void M() {} }\n"
        "interface I { void N(); }\n",
        {"C", "x", "P", "M", "I", "N"},
    ),
    "a.rb": (
        "require 'json'\nmodule M\n  class C < B\n    LIMIT = 1\n    def run(a)\n    end\n  end\nend\n",
        {"M", "C", "LIMIT", "run"},
    ),
}


@pytest.mark.parametrize("filename", sorted(SAMPLES))
def test_definitions_in_every_grammar(filename: str) -> None:
    text, expected = SAMPLES[filename]
    symbols = extract(f"/w/{filename}", text)
    assert symbols is not None
    assert expected <= {d.name for d in symbols.definitions}


def test_members_know_their_container_in_several_grammars() -> None:
    go = extract("/w/a.go", SAMPLES["a.go"][0])
    rust = extract("/w/a.rs", SAMPLES["a.rs"][0])
    cpp = extract("/w/a.cpp", SAMPLES["a.cpp"][0])
    assert go and rust and cpp
    start = next(d for d in go.definitions if d.name == "Start")
    assert (start.container, start.kind, start.doc) == ("Server", "method", "Start starts.")
    assert next(d for d in rust.definitions if d.name == "new").container == "Point"
    assert {d.container for d in cpp.definitions if d.name == "m"} == {"C"}


def test_js_imports_and_require() -> None:
    symbols = extract("/w/a.js", SAMPLES["a.js"][0])
    assert symbols is not None
    assert symbols.bindings["D"].original == "default"
    assert symbols.bindings["c"].original == "b"
    assert symbols.bindings["r"].imp.module == "./req"
    cache = next(d for d in symbols.definitions if d.name == "cache")
    assert (cache.container, cache.type_name) == ("K", "Cache")


@pytest.mark.parametrize("filename", sorted(SAMPLES))
def test_syntax_errors_degrade_without_crashing(filename: str) -> None:
    text, _ = SAMPLES[filename]
    broken = text[: len(text) // 2] + "\n)))}}} ((( def class fn func <<<\n" + text[len(text) // 2 :]
    symbols = extract(f"/w/{filename}", broken)
    assert symbols is not None
    for garbage in ("", "(((((", "\x00\x01", "def", "class {"):
        assert extract(f"/w/{filename}", garbage) is not None


def test_helpers() -> None:
    assert python_module_names("/w/src/pkg/mod.py")[:3] == ["mod", "pkg.mod", "src.pkg.mod"]
    assert python_module_names("/w/pkg/__init__.py")[0] == "pkg"
    assert type_name_of(": Optional[Cache]") == "Cache"
    assert type_name_of("list[Item]") == "Item"
    assert base_names("class A(b.Base, Mixin, metaclass=M):") == ["Base", "Mixin"]
    assert base_names("class A extends Base implements I") == ["Base"]


# ---- resolution across files


def test_python_relative_absolute_and_reexported_imports(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "pkg/__init__.py": "from .cache import Cache as Cache\n",
            "pkg/cache.py": (
                "class Cache:\n    def get(self, key):\n        pass\n\ndef helper():\n    pass\n"
            ),
            "pkg/sub/__init__.py": "",
            "pkg/sub/user.py": (
                "from ..cache import helper\nfrom pkg.cache import Cache\nimport pkg.cache as pc\n"
            ),
            "app.py": "from pkg import Cache\nimport pkg.cache\nfrom pkg import cache\n",
        },
    )
    index = built(tmp_path)
    user = str(tmp_path / "pkg/sub/user.py")
    app = str(tmp_path / "app.py")
    cache_py = str(tmp_path / "pkg/cache.py")
    assert [(d.name, d.path) for d in index.resolve(user, "helper")] == [("helper", cache_py)]
    assert [d.path for d in index.resolve(user, "Cache")] == [cache_py]
    assert [d.name for d in index.resolve_member(user, "pc", "helper")] == ["helper"]
    assert [d.name for d in index.resolve_member(user, "pc.Cache", "get")] == ["get"]
    assert [d.path for d in index.resolve(app, "Cache")] == [cache_py]  # through pkg/__init__.py
    assert [d.name for d in index.resolve_member(app, "pkg.cache", "helper")] == ["helper"]
    assert [d.name for d in index.resolve_member(app, "cache", "helper")] == ["helper"]  # submodule import
    assert [d.name for d in index.resolve_member(app, "Cache", "get")] == ["get"]


def test_js_ts_imports_resolve_to_files(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "src/lib/cache.ts": "export class Cache { get(k: string): number { return 1 } }\n",
            "src/lib/index.ts": "export { Cache } from './cache';\n",
            "src/util.js": "function helper() {}\nmodule.exports = { helper };\n",
            "src/app.ts": "import { Cache as C } from './lib';\nimport * as lib from './lib/cache';\n"
            "const { helper } = require('./util');\n",
        },
    )
    index = built(tmp_path)
    app = str(tmp_path / "src/app.ts")
    assert [d.path for d in index.resolve(app, "C")] == [str(tmp_path / "src/lib/cache.ts")]
    assert [d.name for d in index.resolve_member(app, "lib", "Cache")] == ["Cache"]
    assert [d.name for d in index.resolve(app, "helper")] == ["helper"]
    assert [d.name for d in index.resolve_member(app, "C", "get")] == ["get"]


def test_members_follow_base_classes(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "base.py": "class Base:\n    def shared(self):\n        pass\n",
            "child.py": "from base import Base\n\nclass Child(Base):\n    pass\n",
        },
    )
    index = built(tmp_path)
    found = index.resolve_member(str(tmp_path / "child.py"), "Child", "shared")
    assert [(d.name, d.container) for d in found] == [("shared", "Base")]


def test_by_name_fallback_gives_up_on_ambiguous_names(tmp_path: Path) -> None:
    write(tmp_path, {f"m{i}.py": "def run():\n    pass\n" for i in range(6)})
    write(tmp_path, {"only.py": "def unique_thing():\n    pass\n"})
    index = built(tmp_path)
    assert index.resolve(None, "run") == []
    assert [d.name for d in index.resolve(None, "unique_thing")] == ["unique_thing"]


def test_add_and_remove_file_update_every_table(tmp_path: Path) -> None:
    index = WorkspaceIndex()
    path = str(tmp_path / "m.py")
    index.add_file(path, "class A:\n    def f(self):\n        pass\n")
    assert index.members("A") and index.definitions("A")
    index.add_file(path, "class B:\n    pass\n")
    assert index.definitions("A") == [] and index.members("A") == []
    index.remove_file(path)
    assert index.definitions("B") == [] and len(index) == 0
    assert index.add_file(tmp_path / "notes.txt", "hello") is False


def test_add_file_refuses_text_over_the_size_cap(tmp_path):
    index = WorkspaceIndex(max_file_bytes=1_000)
    path = tmp_path / "big.py"
    assert index.add_file(path, "def small():\n    pass\n")
    assert index.definitions("small")
    assert not index.add_file(path, "def small():\n    pass\n" + "x = 1\n" * 1_000)
    assert index.definitions("small") == []  # the old entry does not linger either


def test_fields_typed_by_constructor_parameters() -> None:
    source = (
        "class App:\n"
        "    def __init__(self, store: Store, proto_cls: type[Proto] = Proto, make=Factory, n: int = 1):\n"
        "        self.store = store\n        self.proto = proto_cls(self)\n"
        "        self.made = make()\n        self.other = unknown\n        self.ex = _Extractor()\n"
        "        self.later = self._new()\n        self.opened = io.open_thing()\n        self.no = f()()\n"
    )
    symbols = extract("/w/app.py", source)
    assert symbols is not None
    types = {d.name: d.type_name for d in symbols.definitions if d.kind == "field"}
    # ``make=Factory`` is called: an unannotated class default says what it makes.
    assert types == {
        "store": "Store",
        "proto": "Proto",
        "made": "Factory",
        "other": None,
        "ex": "_Extractor",
        # Calls the index cannot type alone: the context builder reads the callee's return annotation.
        "later": "self._new()",
        "opened": "io.open_thing()",
        "no": None,
    }


def test_typescript_parameter_properties_and_fields_typed_by_parameters() -> None:
    source = (
        "export class Api {\n  private cache;\n"
        "  constructor(private readonly client: HttpClient, public opts?: Options,\n"
        "              cache: Cache, x: number) {\n"
        "    this.cache = cache;\n  }\n}\n"
    )
    symbols = extract("/w/api.ts", source)
    assert symbols is not None
    fields = {d.name: (d.container, d.type_name) for d in symbols.definitions if d.kind == "field"}
    assert fields == {"client": ("Api", "HttpClient"), "opts": ("Api", "Options"), "cache": ("Api", "Cache")}


def test_module_bound_to_and_top_level(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "pkg/__init__.py": "from .util import helper\n",
            "pkg/util.py": "def helper():\n    pass\n\nclass Walker:\n    def walk(self):\n        pass\n",
            "pkg/app.py": "from . import util\nfrom .util import Walker\nimport pkg.util as u2\nimport os\n",
        },
    )
    index = built(tmp_path)
    app, util = str(tmp_path / "pkg/app.py"), str(tmp_path / "pkg/util.py")
    assert index.module_bound_to(app, "util") == [util]
    assert index.module_bound_to(app, "u2") == [util]
    assert index.module_bound_to(app, "Walker") == []  # a class imported from the module
    assert index.module_bound_to(app, "os") == []  # not in the workspace
    assert index.module_bound_to(app, "nothing") == []
    assert [d.name for d in index.top_level(util)] == ["helper", "Walker"]


def test_base_names_of_interfaces_extending_several() -> None:
    assert base_names("interface SubjectLike<T> extends Observer<T>, Subscribable<T> {}")[-2:] == [
        "Observer",
        "Subscribable",
    ]
    assert base_names("class A extends B<Map<K, V>> implements C {") == ["B"]
    assert base_names("class A extends mod.B") == ["B"]


@pytest.mark.parametrize("table", ["DEFINITION_QUERIES", "IMPORT_QUERIES"])
def test_every_query_pattern_is_valid_in_its_grammar(table: str):
    """No pattern a grammar rejects: it is dropped at run time, after compiling every pattern alone.

    That cost TypeScript 90 ms with the interpreter held, the event loop's requests waiting.
    """
    from tree_sitter import Query

    from lsp_server.core import syntax
    from lsp_server.engine import symbols

    checked = 0
    for grammar, patterns in getattr(symbols, table).items():
        language = syntax.language(grammar)
        if language is None:  # its grammar's wheel is not installed
            continue
        Query(language, "\n".join(patterns))  # raises on the first invalid pattern
        checked += 1
    assert checked >= 8


CPP_SOURCE = """\
#include <string>
#define LIMIT 10
#define SQUARE(x) ((x) * (x))
typedef unsigned long size_type;
struct Point { int x; int y; };
union Value { int i; float f; };
enum Color { RED, GREEN };
class Cache {
  public:
    int size;
    int lookup(const std::string &key);
    Cache *clone();
};
int Cache::lookup(const std::string &key) { return 0; }
static int helper(int a) { return a + 1; }
char *name_of(int id);
char *name_of(int id) { return nullptr; }
int count(void);
"""


def test_a_query_compiled_in_parts_finds_what_the_whole_query_finds(monkeypatch: pytest.MonkeyPatch):
    """C++'s definitions query compiles in three parts (68 ms whole, the interpreter held): same answers."""
    from lsp_server.engine import symbols

    symbols.definition_queries.cache_clear()
    assert len(symbols.definition_queries("cpp")) == symbols.QUERY_SPLITS["cpp"] == 3
    split = extract("/w/cache.cpp", CPP_SOURCE, "cpp")
    monkeypatch.setattr(symbols, "QUERY_SPLITS", {})
    symbols.definition_queries.cache_clear()
    try:
        assert len(symbols.definition_queries("cpp")) == 1
        whole = extract("/w/cache.cpp", CPP_SOURCE, "cpp")
    finally:
        symbols.definition_queries.cache_clear()
    assert split is not None and whole is not None
    assert split.definitions == whole.definitions
    found = {(d.name, d.kind) for d in split.definitions}
    assert {("LIMIT", "constant"), ("Point", "struct"), ("lookup", "method"), ("helper", "function")} <= found
    assert ("name_of", "function") in found and ("Cache", "class") in found


def test_a_header_read_from_disk_is_cpp_when_its_text_is(tmp_path: Path) -> None:
    """C's grammar reads a C++ header as errors (its classes lost); without a languageId the text decides."""
    from lsp_server.core import syntax
    from lsp_server.engine.index import symbols_of

    cpp = "#pragma once\nnamespace geo {\nclass Shape {\n  public:\n    double area() const;\n};\n}\n"
    c = (
        "/* Not a class: a struct. */\n#include <stddef.h>\n"
        "struct point { int x; };\nint norm(struct point *p);\n"
    )
    assert syntax.grammar_of(None, "/w/shape.h", cpp) == "cpp"
    assert syntax.grammar_of(None, "/w/point.h", c) == "c"
    assert syntax.grammar_of("c", "/w/shape.h", cpp) == "c"  # an editor's languageId still decides
    assert syntax.grammar_of(None, "/w/shape.c", cpp) == "c"  # only headers are in doubt
    shape = symbols_of("/w/shape.h", cpp)
    assert shape is not None and shape.grammar == "cpp"
    assert ("Shape", "class") in {(d.name, d.kind) for d in shape.definitions}
    point = symbols_of("/w/point.h", c)
    assert point is not None and point.grammar == "c"
    assert ("norm", "function") in {(d.name, d.kind) for d in point.definitions}
