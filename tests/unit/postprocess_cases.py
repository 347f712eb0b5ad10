"""Hard post-processing cases, shared by tests/unit/test_postprocess_rules.py and bench/overgeneration.py.

Each case is a document with the cursor at ``$0``, what a model that over-generates answers there (the
true middle followed by more of the file), and the document a user expects after accepting. The
cases are the ones users meet and the old rules got wrong: a header typed at the end of a line, closers
the editor auto-closed, a terminator after the cursor, the cursor before a name, and a model that
repeats the suffix.
"""

from __future__ import annotations

from typing import NamedTuple


class Case(NamedTuple):
    name: str
    grammar: str
    document: str  # with "$0" at the cursor
    answer: str  # the raw FIM answer: middle + over-generation
    expected: str  # the document after accepting the suggestion
    replaces: int  # characters after the cursor the suggestion replaces (its range), 0 for an insertion


def _case(name: str, grammar: str, document: str, middle: str, replaces: str = "", more: str | None = None):
    """A case whose over-generation is the rest of the file (``more`` overrides it)."""
    cursor = document.index("$0")
    text = document.replace("$0", "", 1)
    after = text[cursor:]
    assert after.startswith(replaces), name
    following = after[len(replaces) :]
    expected = text[:cursor] + middle + following
    answer = middle + (following if more is None else more)
    return Case(name, grammar, document, answer, expected, len(replaces))


CASES = [
    # -- a block header typed at the end of a line: the body comes with it
    _case("py-def-header", "python", "def area(w, h$0\n\n\nprint(area(2, 3))\n", "):\n    return w * h"),
    _case(
        "py-method-header",
        "python",
        "class Rect:\n    def area(self$0\n\n    def scale(self, k):\n        self.w *= k\n",
        "):\n        return self.w * self.h",
    ),
    _case(
        "py-if-header",
        "python",
        "def sign(x):\n    if x > 0$0\n    return -1\n",
        ":\n        return 1",
    ),
    _case(
        "ts-function-header",
        "typescript",
        "function add(a: number, b: number$0\n\nconsole.log(add(1, 2));\n",
        "): number {\n  return a + b;\n}",
    ),
    _case(
        "go-method-header",
        "go",
        "package main\n\nfunc (r Rect) Area$0\n\nfunc main() {\n}\n",
        "() float64 {\n\treturn r.W * r.H\n}",
    ),
    _case(
        "rust-if-header",
        "rust",
        "fn sign(x: i32) -> i32 {\n    if x > 0$0\n    -1\n}\n",
        " {\n        return 1;\n    }",
    ),
    _case(
        "c-while-header",
        "c",
        "int count(const char *s) {\n    int n = 0;\n    while (*s$0\n    return n;\n}\n",
        "++) {\n        n++;\n    }",
    ),
    # -- auto-closed closers after the cursor: replaced, not duplicated
    _case(
        "rust-fn-paren",
        "rust",
        'fn fib($0)\n\nfn main() {\n    println!("{}", fib(10));\n}\n',
        "n: u32) -> u32 {\n    if n < 2 {\n        return n;\n    }\n    fib(n - 1) + fib(n - 2)\n}",
        replaces=")",
    ),
    _case(
        "py-def-paren",
        "python",
        "def fib($0)\n\n\nprint(fib(10))\n",
        "n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)",
        replaces=")",
    ),
    _case(
        "ts-arrow-paren",
        "typescript",
        "const double = ($0)\n\nconsole.log(double(2));\n",
        "x: number) => x * 2;",
        replaces=")",
    ),
    _case(
        "go-func-paren",
        "go",
        "package main\n\nfunc add($0)\n\nfunc main() {\n}\n",
        "a, b int) int {\n\treturn a + b\n}",
        replaces=")",
    ),
    _case(
        "c-func-paren",
        "c",
        "int add($0)\n\nint main(void) {\n    return add(1, 2);\n}\n",
        "int a, int b) {\n    return a + b;\n}",
        replaces=")",
    ),
    _case("py-print-quote", "python", 'def hi():\n    print("$0")\n', "Hello, world!"),
    _case("ts-object-arg", "typescript", "foo({$0});\nbar();\n", "a: 1, b: 2"),
    # The `}` is replaced; the `)` stays the file's (the suggestion's own `)` at its end is cut).
    _case(
        "ts-object-arg-more",
        "typescript",
        "foo({$0})\nbar();\n",
        "a: 1}, extra",
        replaces="}",
        more=")\nbar();\n",
    ),
    _case("py-list", "python", "xs = [$0]\nprint(xs)\n", "1, 2, 3"),
    _case("ts-template", "typescript", "const s = `${$0}`;\nconsole.log(s);\n", "name}!`", replaces="}`"),
    _case("go-call-paren", "go", "package main\n\nfunc main() {\n\tfmt.Println($0)\n}\n", '"hi"'),
    _case("c-call-paren", "c", "int main(void) {\n    printf($0);\n    return 0;\n}\n", '"%d\\n", 42'),
    # -- a terminator after the cursor: end where the rest of the line is reproduced
    _case(
        "cpp-terminator",
        "cpp",
        "void Window::setup() {\n    label = new QLabel($0;\n    layout->addWidget(label);\n}\n",
        '"Hello", this)',
    ),
    _case(
        "c-terminator",
        "c",
        "int main(void) {\n    int total = sum(values$0;\n    return total;\n}\n",
        ", n)",
    ),
    _case(
        "ts-terminator",
        "typescript",
        "function f() {\n  const user = await fetchUser($0;\n  return user;\n}\n",
        "id)",
    ),
    _case(
        "rust-terminator",
        "rust",
        'fn main() {\n    let v = compute($0;\n    println!("{}", v);\n}\n',
        "1, 2)",
    ),
    _case(
        "go-mid-line",
        "go",
        "package main\n\nfunc main() {\n\tx := add($0, 2)\n\tfmt.Println(x)\n}\n",
        "1",
    ),
    # -- the cursor before a name (nothing typed yet on the line, or after a dot)
    _case(
        "py-before-name",
        "python",
        "def total(items):\n    s = 0\n    for item in items:\n        s += $0\n    return s\n",
        "item.price",
    ),
    _case(
        "ts-after-dot",
        "typescript",
        "function f(list: number[]) {\n  return list.$0\n}\n",
        "map((x) => x * 2);",
    ),
    _case(
        "rust-after-dot",
        "rust",
        "fn f(v: Vec<i32>) -> i32 {\n    v.$0\n}\n",
        "iter().sum()",
    ),
    # -- an empty line in a body: the model repeats the suffix after the block
    _case(
        "py-body-repeats-suffix",
        "python",
        "def mean(xs):\n    $0\n    return total / len(xs)\n",
        "total = 0\n    for x in xs:\n        total += x",
    ),
    _case(
        "go-body-repeats-suffix",
        "go",
        "package main\n\nfunc sum(xs []int) int {\n\ttotal := 0\n\t$0\n\treturn total\n}\n",
        "for _, x := range xs {\n\t\ttotal += x\n\t}",
    ),
    _case(
        "c-body-repeats-suffix",
        "c",
        "int sum(int *xs, int n) {\n    int total = 0;\n    $0\n    return total;\n}\n",
        "for (int i = 0; i < n; i++) {\n        total += xs[i];\n    }",
    ),
    _case(
        "ts-body-repeats-suffix",
        "typescript",
        "function sum(xs: number[]): number {\n  let total = 0;\n  $0\n  return total;\n}\n",
        "for (const x of xs) {\n    total += x;\n  }",
    ),
    _case(
        "rust-body-repeats-suffix",
        "rust",
        "fn sum(xs: &[i32]) -> i32 {\n    let mut total = 0;\n    $0\n    total\n}\n",
        "for x in xs {\n        total += x;\n    }",
    ),
    _case(
        "java-body",
        "java",
        "class A {\n    int sum(int[] xs) {\n        int t = 0;\n        $0\n        return t;\n    }\n}\n",
        "for (int x : xs) {\n            t += x;\n        }",
    ),
]
