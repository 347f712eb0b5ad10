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
