"""The receiver's member signatures at ``obj.$0``: all members, own then inherited, before other snippets.

One test per language with classes or methods (Python, TypeScript, Java, Go methods on types, Rust
impls): the class lives in another file than the cursor, has more members than the old outline showed
(16), and the member the true completion calls comes last in the class.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from unit.test_context import context_at, workspace

from lsp_server.engine.context import MEMBERS_CHARS, Priority

N = 40  # methods per class: about 2,000 characters of signatures


def members_snippet(built):
    found = [s for s in built.snippets if s.reason == "members"]
    assert found, [s.reason for s in built.snippets]
    return found[0]


def python_class() -> str:
    methods = "".join(
        f"    def step_{i}(self, value: int) -> int:\n        return value + {i}\n\n" for i in range(N)
    )
    return (
        "class Base:\n    def reset(self) -> None:\n        pass\n\n\n"
        "class Generator(Base):\n    retries: int = 3\n\n"
        "    def __init__(self, model: str):\n        self.model = model\n\n"
        f"{methods}"
        "    def generate(self, prompt: str, n: int = 1) -> list[str]:\n        return []\n"
    )


@pytest.mark.parametrize(
    "marked",
    [
        "from gen import Generator\n\ngenerator = Generator('m')\nresult = generator.$0\n",
        "from gen import Generator\n\ndef run(generator: Generator):\n    return generator.gen$0\n",
        "from gen import Generator\n\nclass App:\n    def __init__(self):\n"
        "        self.gen = Generator('m')\n\n    def run(self):\n        return self.gen.$0\n",
    ],
    ids=["constructor", "annotation-partial-name", "self-attribute"],
)
def test_python_all_members_own_then_inherited(tmp_path: Path, marked: str) -> None:
    index = workspace(tmp_path, {"gen.py": python_class()})
    built = context_at(tmp_path, index, "app.py", marked, budget_chars=6000)
    snippet = members_snippet(built)
    lines = snippet.text.splitlines()
    assert lines[0] == "class Generator(Base):"
    assert "retries: int = 3" in snippet.text and "self.model = model" in snippet.text
    for i in range(N):
        assert f"def step_{i}(self, value: int) -> int:" in snippet.text
    assert "def generate(self, prompt: str, n: int = 1) -> list[str]:" in snippet.text
    # Inherited members after the own ones.
    assert snippet.text.index("inherited from Base") > snippet.text.index("def generate(")
    assert "def reset(self) -> None:" in snippet.text
    assert len(snippet.text) <= MEMBERS_CHARS
    # Before every other snippet.
    assert built.snippets[0] is snippet and snippet.priority == Priority.MEMBERS
    assert "def generate(" in built.prompt.context


def test_python_members_fit_a_short_budget_by_shrinking_the_window(tmp_path: Path) -> None:
    index = workspace(tmp_path, {"gen.py": python_class()})
    filler = "".join(f"x{i} = {i}\n" for i in range(400))
    marked = f"from gen import Generator\n\n{filler}generator = Generator('m')\ngenerator.$0\n"
    built = context_at(tmp_path, index, "app.py", marked, budget_chars=4000)
    assert "def generate(" in built.prompt.context
    total = len(built.prompt.prefix) + len(built.prompt.suffix) + len(built.prompt.context)
    assert total <= 4000


def test_typescript_class_members(tmp_path: Path) -> None:
    methods = "".join(
        f"  step{i}(value: number): number {{\n    return value + {i};\n  }}\n" for i in range(N)
    )
    gen = (
        "export class Base {\n  reset(): void {}\n}\n\n"
        "export class Generator extends Base {\n  retries: number = 3;\n"
        f"{methods}"
        "  generate(prompt: string, n: number = 1): string[] {\n    return [];\n  }\n}\n"
    )
    index = workspace(tmp_path, {"gen.ts": gen})
    marked = "import { Generator } from './gen';\n\nconst generator = new Generator();\ngenerator.$0\n"
    snippet = members_snippet(context_at(tmp_path, index, "app.ts", marked, language_id="typescript"))
    assert "generate(prompt: string, n: number = 1): string[]" in snippet.text
    assert "step39(value: number): number" in snippet.text
    assert snippet.text.index("inherited from Base") > snippet.text.index("generate(")
    assert "reset(): void" in snippet.text


def test_java_class_members(tmp_path: Path) -> None:
    methods = "".join(f"    public int step{i}(int value) {{ return value + {i}; }}\n" for i in range(N))
    gen = (
        "package app;\n\npublic class Generator {\n    private int retries = 3;\n"
        f"{methods}"
        "    public List<String> generate(String prompt, int n) { return null; }\n}\n"
    )
    index = workspace(tmp_path, {"app/Generator.java": gen})
    marked = (
        "package app;\n\npublic class Main {\n    void run() {\n"
        "        Generator generator = new Generator();\n        generator.$0\n    }\n}\n"
    )
    snippet = members_snippet(context_at(tmp_path, index, "app/Main.java", marked, language_id="java"))
    assert "public List<String> generate(String prompt, int n)" in snippet.text
    assert "public int step39(int value)" in snippet.text


def test_go_methods_on_a_type(tmp_path: Path) -> None:
    methods = "".join(
        f"func (g *Generator) Step{i}(value int) int {{ return value + {i} }}\n" for i in range(N)
    )
    gen = (
        "package gen\n\ntype Generator struct {\n\tRetries int\n}\n\n"
        f"{methods}"
        "func (g *Generator) Generate(prompt string, n int) []string { return nil }\n"
    )
    index = workspace(tmp_path, {"gen/gen.go": gen})
    marked = "package gen\n\nfunc run() {\n\tg := &Generator{}\n\tg.$0\n}\n"
    snippet = members_snippet(context_at(tmp_path, index, "gen/run.go", marked, language_id="go"))
    assert "func (g *Generator) Generate(prompt string, n int) []string" in snippet.text
    assert "func (g *Generator) Step39(value int) int" in snippet.text
    assert "Retries int" in snippet.text


def test_rust_impl_methods(tmp_path: Path) -> None:
    methods = "".join(f"    pub fn step{i}(&self, value: i32) -> i32 {{ value + {i} }}\n" for i in range(N))
    gen = (
        "pub struct Generator {\n    pub retries: u32,\n}\n\nimpl Generator {\n"
        "    pub fn new() -> Self { Generator { retries: 3 } }\n"
        f"{methods}"
        "    pub fn generate(&self, prompt: &str, n: usize) -> Vec<String> { vec![] }\n}\n"
    )
    index = workspace(tmp_path, {"src/gen.rs": gen})
    marked = (
        "use crate::gen::Generator;\n\nfn run() {\n    let generator = Generator::new();\n"
        "    generator.$0\n}\n"
    )
    snippet = members_snippet(context_at(tmp_path, index, "src/main.rs", marked, language_id="rust"))
    assert "pub fn generate(&self, prompt: &str, n: usize) -> Vec<String>" in snippet.text
    assert "pub fn step39(&self, value: i32) -> i32" in snippet.text
    assert "pub retries: u32" in snippet.text


# ---------------------------------------------------------------------------------------------------
# Resolving receivers whose type is never written at the use: one test per rule and language.

STORE_PY = (
    "class DocumentStore:\n"
    "    def get_document(self, uri: str) -> str:\n        return ''\n\n"
    "    def close(self) -> None:\n        pass\n"
)


@pytest.mark.parametrize(
    "marked",
    [
        # ``__init__`` parameter annotation, then ``self.store = store``.
        "from store import DocumentStore\n\nclass App:\n"
        "    def __init__(self, store: DocumentStore):\n        self.store = store\n\n"
        "    def run(self):\n        return self.store.$0\n",
        # A class-level annotation only.
        "from store import DocumentStore\n\nclass App:\n    store: DocumentStore\n\n"
        "    def run(self):\n        return self.store.$0\n",
        # ``self.store = store_cls(...)`` with ``store_cls: type[DocumentStore] = DocumentStore``.
        "from store import DocumentStore\n\nclass App:\n"
        "    def __init__(self, store_cls: type[DocumentStore] = DocumentStore):\n"
        "        self.store = store_cls()\n\n    def run(self):\n        return self.store.$0\n",
        # A factory's return annotation: ``x = make_store()``.
        "from store import DocumentStore\n\ndef make_store() -> DocumentStore:\n"
        "    return DocumentStore()\n\ndef run():\n    x = make_store()\n    x.$0\n",
        # A call's result as receiver, constructor and function.
        "from store import DocumentStore\n\ndef run():\n    DocumentStore().$0\n",
        "from store import DocumentStore\n\ndef get_store() -> 'DocumentStore':\n    pass\n\n"
        "def run():\n    get_store().get_$0\n",
        # A class whose name starts with an underscore is still constructed, not a factory.
        "from store import DocumentStore as _Store\n\ndef run():\n    s = _Store()\n    s.$0\n",
        # A method's return annotation through the receiver's type: ``x = app.make()``.
        "from store import DocumentStore\n\nclass App:\n    def make(self) -> DocumentStore:\n"
        "        pass\n\ndef run(app: App):\n    x = app.make()\n    x.$0\n",
    ],
    ids=[
        "init-parameter",
        "class-annotation",
        "type-parameter-call",
        "factory-return",
        "constructor-result",
        "function-result",
        "underscore-class",
        "method-return",
    ],
)
def test_python_receiver_types_not_written_at_the_use(tmp_path: Path, marked: str) -> None:
    index = workspace(tmp_path, {"store.py": STORE_PY})
    snippet = members_snippet(context_at(tmp_path, index, "app.py", marked))
    assert snippet.text.splitlines()[0] == "class DocumentStore:"
    assert "def get_document(self, uri: str) -> str:" in snippet.text


def test_python_chain_and_base_class_field(tmp_path: Path) -> None:
    """``self.session.store.$0`` where ``session`` is set up by a base class in a third file."""
    files = {
        "store.py": STORE_PY,
        "session.py": "from store import DocumentStore\n\nclass Session:\n"
        "    def __init__(self, store: DocumentStore):\n        self.store = store\n",
        "base.py": "from session import Session\n\nclass Base:\n"
        "    def __init__(self, session_cls: type[Session] = Session):\n"
        "        self.session = session_cls(None)\n",
    }
    index = workspace(tmp_path, files)
    marked = "from base import Base\n\nclass App(Base):\n    def run(self):\n        self.session.store.$0\n"
    snippet = members_snippet(context_at(tmp_path, index, "app.py", marked))
    assert "def get_document(self, uri: str) -> str:" in snippet.text


@pytest.mark.parametrize(
    "bind",
    ["from pkg import util", "import pkg.util as util", "from . import util"],
)
def test_python_module_receiver_lists_its_top_level_definitions(tmp_path: Path, bind: str) -> None:
    util = "".join(f"def helper_{i}(x: int) -> int:\n    return x\n\n" for i in range(30))
    util += "class Walker:\n    pass\n\ndef iter_tree_files(root: str) -> list[str]:\n    return []\n"
    index = workspace(tmp_path, {"pkg/__init__.py": "", "pkg/util.py": util})
    marked = f"{bind}\n\ndef run():\n    files = util.$0\n"
    snippet = members_snippet(context_at(tmp_path, index, "pkg/app.py", marked))
    assert snippet.text.splitlines()[0] == "# module util:"
    assert "def iter_tree_files(root: str) -> list[str]:" in snippet.text
    assert "class Walker:" in snippet.text
    assert len(snippet.text) <= MEMBERS_CHARS


def test_python_name_imported_from_a_module_is_not_a_module(tmp_path: Path) -> None:
    index = workspace(tmp_path, {"pkg/__init__.py": "", "pkg/store.py": STORE_PY})
    marked = "from pkg.store import DocumentStore\n\nDocumentStore.$0\n"
    snippet = members_snippet(context_at(tmp_path, index, "pkg/app.py", marked))
    assert snippet.text.splitlines()[0] == "class DocumentStore:"


STORE_TS = (
    "export class HttpClient {\n  get(url: string): Promise<string> { return fetch(url); }\n"
    "  post(url: string, body: string): Promise<string> { return fetch(url); }\n}\n"
)


@pytest.mark.parametrize(
    "marked",
    [
        # A constructor parameter property.
        "import { HttpClient } from './http';\n\nexport class Api {\n"
        "  constructor(private readonly client: HttpClient) {}\n\n"
        "  load() {\n    return this.client.$0\n  }\n}\n",
        # ``this.client = client`` from an annotated constructor parameter.
        "import { HttpClient } from './http';\n\nexport class Api {\n  private client;\n"
        "  constructor(client: HttpClient) {\n    this.client = client;\n  }\n\n"
        "  load() {\n    return this.client.$0\n  }\n}\n",
        # A function's return annotation, called as the receiver.
        "import { HttpClient } from './http';\n\nfunction makeClient(): HttpClient {\n"
        "  return new HttpClient();\n}\n\nmakeClient().$0\n",
    ],
    ids=["parameter-property", "this-from-parameter", "function-result"],
)
def test_typescript_receiver_types_not_written_at_the_use(tmp_path: Path, marked: str) -> None:
    index = workspace(tmp_path, {"http.ts": STORE_TS})
    built = context_at(tmp_path, index, "api.ts", marked, language_id="typescript")
    snippet = members_snippet(built)
    assert "post(url: string, body: string): Promise<string>" in snippet.text


def test_typescript_namespace_import_receiver(tmp_path: Path) -> None:
    util = "export function joinPath(a: string, b: string): string { return a + b; }\n"
    index = workspace(tmp_path, {"util.ts": util})
    marked = "import * as util from './util';\n\nconst p = util.$0\n"
    snippet = members_snippet(context_at(tmp_path, index, "app.ts", marked, language_id="typescript"))
    assert "function joinPath(a: string, b: string): string" in snippet.text


def test_java_field_type_through_this(tmp_path: Path) -> None:
    store = "package app;\n\npublic class Store {\n    public String fetch(String key) { return key; }\n}\n"
    index = workspace(tmp_path, {"app/Store.java": store})
    marked = (
        "package app;\n\npublic class Service {\n    private final Store store;\n\n"
        "    Service(Store store) { this.store = store; }\n\n"
        "    String run() {\n        return this.store.$0\n    }\n}\n"
    )
    snippet = members_snippet(context_at(tmp_path, index, "app/Service.java", marked, language_id="java"))
    assert "public String fetch(String key)" in snippet.text


def test_go_struct_field_and_package_receiver(tmp_path: Path) -> None:
    store = (
        "package store\n\ntype Store struct {\n\tpath string\n}\n\n"
        "func (s *Store) Fetch(key string) string { return key }\n\n"
        "func Open(path string) *Store { return &Store{path} }\n"
    )
    server = "package store\n\ntype Server struct {\n\tstore *Store\n}\n"
    index = workspace(tmp_path, {"store/store.go": store, "store/server.go": server})
    marked = "package store\n\nfunc (s *Server) Handle() {\n\ts.store.$0\n}\n"
    snippet = members_snippet(context_at(tmp_path, index, "store/handle.go", marked, language_id="go"))
    assert "func (s *Store) Fetch(key string) string" in snippet.text
    marked = 'package main\n\nimport "example.com/app/store"\n\nfunc main() {\n\ts := store.$0\n}\n'
    snippet = members_snippet(context_at(tmp_path, index, "main.go", marked, language_id="go"))
    assert "func Open(path string) *Store" in snippet.text


def test_rust_struct_field_through_self_in_an_impl(tmp_path: Path) -> None:
    store = (
        "pub struct Store {\n    path: String,\n}\n\nimpl Store {\n"
        "    pub fn fetch(&self, key: &str) -> String { key.to_string() }\n}\n"
    )
    index = workspace(tmp_path, {"src/store.rs": store})
    marked = (
        "use crate::store::Store;\n\npub struct Service {\n    store: Store,\n}\n\n"
        "impl Service {\n    pub fn run(&self) {\n        self.store.$0\n    }\n}\n"
    )
    snippet = members_snippet(context_at(tmp_path, index, "src/service.rs", marked, language_id="rust"))
    assert "pub fn fetch(&self, key: &str) -> String" in snippet.text


def test_typescript_callee_of_an_untyped_receiver_found_like_the_dot_finds_it(tmp_path: Path) -> None:
    """``subscriber.next(`` in a callback, its parameter inferred: the class its name spells."""
    subscriber = (
        "export class Subscriber<T> {\n  next(value: T): void {}\n  complete(): void {}\n}\n"
        # ``next`` defined in several classes: guessing by the name alone finds nothing.
        + "".join(f"export class Other{i} {{\n  next(value: number): void {{}}\n}}\n" for i in range(3))
    )
    index = workspace(tmp_path, {"Subscriber.ts": subscriber})
    marked = "export function map() {\n  return operate((source, subscriber) => {\n    subscriber.next($0\n"
    built = context_at(tmp_path, index, "map.ts", marked, language_id="typescript")
    callee = [s for s in built.snippets if s.reason == "callee"]
    assert callee and "next(value: T): void" in callee[0].text


def test_typescript_interface_members_inherited_from_several_bases(tmp_path: Path) -> None:
    types = (
        "export interface Observer<T> {\n  next(value: T): void;\n}\n"
        "export interface Subscribable<T> {\n  subscribe(observer: Observer<T>): Unsubscribable;\n}\n"
        "export interface SubjectLike<T> extends Observer<T>, Subscribable<T> {}\n"
    )
    index = workspace(tmp_path, {"types.ts": types})
    marked = (
        "import { SubjectLike } from './types';\n\n"
        "function f(subject: SubjectLike<number>) {\n  subject?.$0\n"
    )
    snippet = members_snippet(context_at(tmp_path, index, "app.ts", marked, language_id="typescript"))
    assert "next(value: T): void" in snippet.text
    assert "subscribe(observer: Observer<T>): Unsubscribable" in snippet.text


@pytest.mark.parametrize(
    "files",
    [
        # ``self.store = self._new_store()``: the method's return annotation.
        {
            "app.py": "from store import DocumentStore\n\nclass App:\n"
            "    def __init__(self):\n        self.store = self._new_store()\n\n"
            "    def _new_store(self) -> DocumentStore:\n        return DocumentStore()\n"
        },
        # ``self.store = open_store()`` with ``open_store`` imported from a third file.
        {
            "factory.py": "from store import DocumentStore\n\ndef open_store() -> DocumentStore:\n    pass\n",
            "app.py": "from factory import open_store\n\nclass App:\n"
            "    def __init__(self):\n        self.store = open_store()\n",
        },
    ],
    ids=["self-method", "imported-function"],
)
def test_python_field_assigned_from_a_call_typed_by_its_return_annotation(tmp_path: Path, files) -> None:
    index = workspace(tmp_path, {"store.py": STORE_PY, **files})
    marked = "from app import App\n\ndef run(app: App):\n    app.store.$0\n"
    snippet = members_snippet(context_at(tmp_path, index, "run.py", marked))
    assert "def get_document(self, uri: str) -> str:" in snippet.text


def test_python_module_variable_from_a_factory_in_another_file(tmp_path: Path) -> None:
    files = {
        "store.py": STORE_PY,
        "factory.py": "from store import DocumentStore\n\ndef get_store() -> DocumentStore:\n    pass\n",
        "shared.py": "from factory import get_store\n\nstore = get_store()\n",
    }
    index = workspace(tmp_path, files)
    marked = "from shared import store\n\nstore.$0\n"
    snippet = members_snippet(context_at(tmp_path, index, "run.py", marked))
    assert "def get_document(self, uri: str) -> str:" in snippet.text


def test_typescript_module_constant_from_a_factory(tmp_path: Path) -> None:
    files = {
        "http.ts": STORE_TS,
        "shared.ts": "import { HttpClient } from './http';\n\n"
        "function makeClient(): HttpClient {\n  return new HttpClient();\n}\n\n"
        "export const client = makeClient();\n",
    }
    index = workspace(tmp_path, files)
    marked = "import { client } from './shared';\n\nclient.$0\n"
    snippet = members_snippet(context_at(tmp_path, index, "app.ts", marked, language_id="typescript"))
    assert "post(url: string, body: string): Promise<string>" in snippet.text
