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
    grammar: str | None
    document: str  # with "$0" at the cursor
    answer: str  # the raw FIM answer: middle + over-generation
    expected: str  # the document after accepting the suggestion
    replaces: int  # characters after the cursor the suggestion replaces (its range), 0 for an insertion


def _case(
    name: str,
    grammar: str | None,
    document: str,
    middle: str,
    replaces: str = "",
    more: str | None = None,
    lead: str = "",
):
    """A case whose over-generation is the rest of the file (``more`` overrides it).

    ``lead``: what the model writes before the middle (a space the cursor already stands after).
    """
    cursor = document.index("$0")
    text = document.replace("$0", "", 1)
    after = text[cursor:]
    assert after.startswith(replaces), name
    following = after[len(replaces) :]
    expected = text[:cursor] + middle + following
    answer = lead + middle + (following if more is None else more)
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

# The long tail (issue 25): each kind of case in the eight languages. A case's name starts with the
# kind: `line-rest` (the cursor after the indentation, the line's end already there), `list` (the next
# elements of a construct written one per line), `header` (a block after a header: a Rust `fn` in an
# `impl`, Allman braces, keyword-closed blocks), `seam` (whitespace the cursor already stands after),
# `copy` (a suggestion equal to the code below the cursor), `eof` (the end of the enclosing block at the
# end of a file), `inner` (a closer that closes a block still open inside the file's next closer).
LANGUAGES = ("python", "typescript", "go", "rust", "java", "c_sharp", "cpp", "c")
KINDS = ("line-rest", "list", "header", "seam", "copy", "eof", "inner")

TAIL_CASES = [
    # -- line-rest: `    |;`, `    |; // comment`, `        |)`, `return |;`
    _case(
        "line-rest-py-call-closer",
        "python",
        "def f(xs):\n    total = sum(\n        $0)\n    return total\n",
        "x * 2 for x in xs",
    ),
    _case(
        "line-rest-py-comment",
        "python",
        "def answer():\n    $0  # the answer\n\n\nprint(answer())\n",
        "return 42",
    ),
    _case(
        "line-rest-ts-terminator-comment",
        "typescript",
        "function f(a: number): number {\n  const b = a * 2;\n  $0; // log it\n  return b;\n}\n",
        "console.log(b)",
    ),
    _case(
        "line-rest-go-call-closer",
        "go",
        'package main\n\nfunc main() {\n\tfmt.Println(\n\t\t"total:",\n\t\t$0)\n\tos.Exit(0)\n}\n',
        "sum(values)",
    ),
    _case(
        "line-rest-rust-terminator",
        "rust",
        "fn f(x: i32) -> i32 {\n    $0;\n    y * 2\n}\n",
        "let y = x + 1",
    ),
    _case(
        "line-rest-java-terminator-comment",
        "java",
        "class A {\n    int f(int x) {\n        $0; // cached\n        return y;\n    }\n}\n",
        "int y = cache.get(x)",
    ),
    _case(
        "line-rest-cs-call-closer",
        "c_sharp",
        "class A\n{\n    void F()\n    {\n        Log(\n"
        '            "done",\n            $0);\n        Flush();\n    }\n}\n',
        "DateTime.Now",
    ),
    _case(
        "line-rest-cpp-return",
        "cpp",
        "int area(const Rect &r) {\n    return $0; // in pixels\n}\n\nint main() { return 0; }\n",
        "r.width * r.height",
    ),
    _case(
        "line-rest-c-terminator",
        "c",
        "int main(void) {\n    int n = 0;\n    $0;\n    return n;\n}\n",
        "n = count(items, len)",
    ),
    # -- list: the next elements, up to where the construct closes
    _case(
        "list-py-dict-entries",
        "python",
        'COLORS = {\n    "red": 1,\n    "green": 2,$0\n}\n\nprint(COLORS)\n',
        '\n    "blue": 3,\n    "white": 4,',
    ),
    _case(
        "list-py-docstring",
        "python",
        'def f(x):\n    """Double x.\n\n    :param x: the value$0\n    """\n    return x * 2\n',
        "\n    :return: twice the value",
    ),
    _case(
        "list-ts-interface-members",
        "typescript",
        "interface User {\n  id: number;\n  name: string;\n  e$0\n}\n\nexport type Users = User[];\n",
        "mail: string;\n  age: number;",
    ),
    _case(
        "list-go-struct-fields",
        "go",
        "package main\n\ntype Address struct {\n\tStreet string\n\tCity   $0\n}\n\nfunc main() {}\n",
        "string\n\tState  string\n\tZip    string",
    ),
    _case(
        "list-rust-match-arms",
        "rust",
        'fn describe(code: u16) -> &\'static str {\n    match code {\n        200 => "OK",$0\n    }\n}\n',
        '\n        404 => "Not Found",\n        _ => "Unknown",',
    ),
    _case(
        "list-java-enum-constants",
        "java",
        "enum Color {\n    RED,$0\n}\n\nclass Paint {\n}\n",
        "\n    GREEN,\n    BLUE",
    ),
    _case(
        "list-cs-enum-members",
        "c_sharp",
        "public enum Level\n{\n    Low,\n    Medium,$0\n}\n\npublic class Gauge\n{\n}\n",
        "\n    High,\n    Critical",
    ),
    _case(
        "list-cpp-struct-fields",
        "cpp",
        "struct Point {\n    double x;$0\n};\n\nint main() { return 0; }\n",
        "\n    double y;\n    double z;",
    ),
    _case(
        "list-c-initializer",
        "c",
        'static const char *names[] = {\n    "zero",\n    "one",$0\n};\n\nint main(void) { return 0; }\n',
        '\n    "two",\n    "three",',
    ),
    # -- header: a block after a header, its braces wherever the language puts them
    _case(
        "header-py-class",
        "python",
        "class Stack$0\n\n\ns = Stack()\n",
        ":\n    def __init__(self):\n        self.items = []",
    ),
    _case(
        "header-ts-method",
        "typescript",
        "class Counter {\n  count = 0;\n\n  increment$0\n}\n",
        "(): void {\n    this.count += 1;\n  }",
    ),
    _case(
        "header-go-if",
        "go",
        'package main\n\nfunc check(err error) {\n\tif err != nil$0\n\tlog.Println("ok")\n}\n',
        " {\n\t\tpanic(err)\n\t}",
    ),
    _case(
        "header-rust-fn-in-impl",
        "rust",
        "impl Calculator {\n    fn reset(&mut self) {\n        self.result = 0.0;\n    }\n\n    fn$0\n}\n",
        " divide(&mut self, n: f64) {\n    if n != 0.0 {\n        self.result /= n;\n    }\n}",
    ),
    _case(
        "header-java-allman",
        "java",
        "class Loop\n{\n    void run(int[] xs)\n    {\n        for ($0)\n        return;\n    }\n}\n",
        "int x : xs)\n        {\n            use(x);\n        }",
        replaces=")",
    ),
    _case(
        "header-cs-allman-ctor",
        "c_sharp",
        "public class Person\n{\n    public string Name { get; set; }\n\n    public Person(string $0\n}\n",
        "name)\n    {\n        Name = name;\n    }",
    ),
    _case(
        "header-cpp-allman",
        "cpp",
        "class Timer\n{\npublic:\n    void start()\n    {\n"
        "        if ($0)\n        running = true;\n    }\n};\n",
        "!running)\n        {\n            begin = now();\n        }",
        replaces=")",
    ),
    _case(
        "header-c-allman-function",
        "c",
        "#include <stdio.h>\n\nint twice($0)\n\nint main(void)\n{\n    return twice(2);\n}\n",
        "int x)\n{\n    return 2 * x;\n}",
        replaces=")",
    ),
    _case(
        "header-css-rule",
        None,
        "h1 {\n  color: red;\n}\n\nh4$0\n\na {\n  color: blue;\n}\n",
        " {\n  font-size: 18px;\n}",
    ),
    _case(
        "header-scss-nested",
        None,
        "nav {\n  .logo {\n    color: #333;\n\n    .brand$0\n  }\n}\n",
        "-name {\n    font-weight: bold;\n}",
    ),
    _case("header-lua-function", None, "function greet(name$0\n\ngreet('x')\n", ")\n  print(name)\nend"),
    _case("header-ruby-def", "ruby", "def greet(name$0\n\ngreet(1)\n", ")\n  puts name\nend"),
    _case("header-shell-if", None, 'if [ -f "$1" ]; then$0\necho done\n', '\n  cat "$1"\nfi'),
    _case("header-shell-for", None, "for f in *.txt; do$0\necho done\n", '\n  wc -l "$f"\ndone'),
    # -- seam: the cursor already stands after a space or at the line's indentation
    _case("seam-py-return", "python", "def f(x):\n    return $0\n", "x * 2", lead=" "),
    _case(
        "seam-ts-return", "typescript", "class A {\n  self() {\n    return $0\n  }\n}\n", "this;", lead=" "
    ),
    _case(
        "seam-go-assign", "go", "package main\n\nfunc f() int {\n\tx := $0\n\treturn x\n}\n", "2", lead=" "
    ),
    _case("seam-rust-let", "rust", "fn f() -> i32 {\n    let x = $0\n    x\n}\n", "2;", lead=" "),
    _case(
        "seam-java-indentation",
        "java",
        "class A {\n    int f(int x) {\n        int y = x;\n        $0\n    }\n}\n",
        "return y;",
        lead=" ",
    ),
    _case("seam-cs-new", "c_sharp", "class A\n{\n    object F() => new $0\n}\n", "object();", lead=" "),
    _case("seam-cpp-return", "cpp", "int f(int x) {\n    return $0\n}\n", "x + 1;", lead=" "),
    _case("seam-c-assign", "c", "int main(void) {\n    int n = $0\n    return n;\n}\n", "3;", lead=" "),
    # -- copy: the suggestion is the code that already follows: nothing is shown
    _case("copy-py-next-line", "python", "def f(x):\n    $0\n    return x * 2\n", "", more="return x * 2\n"),
    _case(
        "copy-ts-terminator",
        "typescript",
        "function f() {\n  const id = setInterval(tick, 1000);\n  $0;\n\n"
        "  return () => clearInterval(id);\n}\n",
        "",
        more="return () => clearInterval(id);",
    ),
    _case(
        "copy-go-next-line",
        "go",
        "package main\n\nfunc f() {\n\t$0\n\tclose(done)\n}\n",
        "",
        more="close(done)\n",
    ),
    _case("copy-rust-terminator", "rust", "fn f() {\n    $0;\n    drop(lock);\n}\n", "", more="drop(lock);"),
    _case(
        "copy-java-terminator",
        "java",
        "class A {\n    void f() {\n        $0;\n        stream.close();\n    }\n}\n",
        "",
        more="stream.close();",
    ),
    _case(
        "copy-cs-next-line",
        "c_sharp",
        "class A\n{\n    void F()\n    {\n        $0\n        Flush();\n    }\n}\n",
        "",
        more="Flush();\n",
    ),
    _case("copy-cpp-terminator", "cpp", "void f() {\n    $0;\n    delete p;\n}\n", "", more="delete p;"),
    _case(
        "copy-c-terminator", "c", "void f(FILE *fp) {\n    $0;\n    fclose(fp);\n}\n", "", more="fclose(fp);"
    ),
    # -- eof: at the end of a file, the enclosing block's closer and nothing the model invents after it
    _case(
        "eof-py-method",
        "python",
        "class Account:\n    def deposit(self, amount):\n        $0",
        "self.balance += amount",
        more="\n\n    def withdraw(self, amount):\n        self.balance -= amount\n",
    ),
    _case(
        "eof-ts-method",
        "typescript",
        "class Account {\n  deposit(amount: number) {\n    this.balance += amount;\n$0",
        "  }",
        more="\n\n  withdraw(amount: number) {\n    this.balance -= amount;\n  }\n",
    ),
    _case(
        "eof-go-func",
        "go",
        "package main\n\nfunc add(a, b int) int {\n\treturn a + b\n$0",
        "}",
        more="\n\nfunc sub(a, b int) int {\n\treturn a - b\n}\n",
    ),
    _case(
        "eof-rust-fn",
        "rust",
        "impl Account {\n    fn deposit(&mut self, amount: u64) {\n        self.balance += amount;\n$0",
        "    }",
        more="\n\n    fn withdraw(&mut self, amount: u64) {\n        self.balance -= amount;\n    }\n",
    ),
    _case(
        "eof-java-method",
        "java",
        "public class Calculator {\n    private double result;\n\n"
        "    public void add(double n) {\n        result += n;\n$0",
        "\n    }",
        more="\n\n    public void subtract(double n) {\n        result -= n;\n    }\n",
    ),
    _case(
        "eof-cs-method",
        "c_sharp",
        "public class Calculator\n{\n    public void Add(double n)\n    {\n        result += n;\n$0",
        "    }",
        more="\n\n    public void Subtract(double n)\n    {\n        result -= n;\n    }\n",
    ),
    _case(
        "eof-cpp-function",
        "cpp",
        "int area(int w, int h) {\n    return w * h;\n$0",
        "}",
        more="\n\nint perimeter(int w, int h) {\n    return 2 * (w + h);\n}\n",
    ),
    _case(
        "eof-c-one-level",
        "c",
        "int parse(const char *s) {\n    if (s == NULL) {\n        return -1;$0",
        "\n    }",
        more="\n}\n\nint main(void) {\n    return parse(0);\n}\n",
    ),
    # -- inner: a closer for a block still open inside the file's next closer is shown
    _case(
        "inner-py-list-closer",
        "python",
        "def f():\n    xs = [\n        1,\n        $0\n",
        "2,\n    ]\n    return xs",
        more="",
    ),
    _case(
        "inner-ts-if",
        "typescript",
        "function check(ok: boolean) {\n  if (!ok) {\n    $0\n}\n",
        'throw new Error("check failed");\n  }',
        more="",
    ),
    _case(
        "inner-go-if",
        "go",
        "package main\n\nfunc check(err error) {\n\tif err != nil {\n\t\t$0\n}\n",
        "panic(err)\n\t}",
        more="",
    ),
    _case(
        "inner-rust-if",
        "rust",
        "fn check(ok: bool) {\n    if !ok {\n        $0\n}\n",
        'panic!("check failed");\n    }',
        more="",
    ),
    _case(
        "inner-java-if",
        "java",
        "class A {\n    void check(boolean ok) {\n        if (!ok) {\n            $0\n    }\n}\n",
        'throw new IllegalStateException("check failed");\n        }',
        more="",
    ),
    _case(
        "inner-cs-if",
        "c_sharp",
        "class A\n{\n    void Check(bool ok)\n    {\n        if (!ok)\n        {\n            $0\n    }\n}\n",
        'throw new InvalidOperationException("check failed");\n        }',
        more="",
    ),
    _case(
        "inner-cpp-if",
        "cpp",
        "void check(bool ok) {\n    if (!ok) {\n        $0\n}\n",
        'throw std::runtime_error("check failed");\n    }',
        more="",
    ),
    _case(
        "inner-c-while",
        "c",
        "void drain(int *n) {\n    while (*n > 0) {\n        $0\n}\n",
        "(*n)--;\n    }",
        more="",
    ),
    # -- the peers' expectations that would double a closer already after the cursor stay single
    _case("closer-py-print", "python", "for n in numbers:\n    print($0)\n", "n", more=")\n"),
    _case("closer-ts-call", "typescript", "const n = Math.max($0);\n", "a, b", more=");\n"),
    _case("closer-go-call", "go", "package main\n\nfunc f() {\n\tfmt.Println($0)\n}\n", "x", more=")\n}\n"),
    _case("closer-rust-macro", "rust", "fn f(x: i32) {\n    println!($0);\n}\n", '"{}", x', more=");\n}\n"),
    _case(
        "closer-java-call",
        "java",
        "class A {\n    void f() {\n        log($0);\n    }\n}\n",
        "x",
        more=");\n",
    ),
    _case("closer-cs-call", "c_sharp", "class A\n{\n    void F() { Log($0); }\n}\n", "x", more=");"),
    _case("closer-cpp-call", "cpp", "int main() {\n    std::printf($0);\n}\n", '"%d", 1', more=");\n"),
    _case("closer-c-call", "c", "int main(void) {\n    puts($0);\n}\n", '"hi"', more=");\n"),
]
