"""The rules users judge suggestions by, per language and through both prompt paths (FIM and chat).

Cursor fixtures use a ``$0`` marker. Each hard case of ``postprocess_cases`` (a header typed at the end
of a line, auto-closed closers, a terminator after the cursor, the cursor before a name, a model that
repeats the suffix) must give the expected document after accepting, whether the model's answer came
raw (FIM) or fenced and indented as in the file (chat).
"""

from __future__ import annotations

import textwrap

import pytest
from unit.postprocess_cases import CASES, KINDS, LANGUAGES, TAIL_CASES

from lsp_server.engine.postprocess import Cursor, should_stop_streaming, suggest
from lsp_server.engine.stream_stop import StreamStopper

ALL_CASES = CASES + TAIL_CASES


def at(source: str, grammar: str | None = "python", **kw) -> Cursor:
    offset = source.index("$0")
    return Cursor(text=source.replace("$0", "", 1), offset=offset, grammar=grammar, **kw)


def accepted(raw: str, cursor: Cursor, *, chat: bool = False) -> str:
    """The document after accepting the suggestion for ``raw``: its text replaces its range."""
    shown = suggest(raw, cursor, chat=chat)
    return cursor.text[: cursor.offset] + shown.text + cursor.text[cursor.offset + shown.replaces :]


def fenced(cursor: Cursor, code: str, lang: str) -> str:
    """``code`` as a chat model answers it: prose, then a fence, lines indented as in the file."""
    before = cursor.text[cursor.text.rfind("\n", 0, cursor.offset) + 1 : cursor.offset]
    body = before + code if not before.strip() else code
    return f"Sure! Here is the code:\n```{lang}\n{body.rstrip()}\n```\nIt sums the values."


@pytest.mark.parametrize("case", ALL_CASES, ids=[c.name for c in ALL_CASES])
def test_hard_case_through_fim(case):
    cursor = at(case.document, case.grammar)
    assert accepted(case.answer, cursor) == case.expected
    assert suggest(case.answer, cursor).replaces == case.replaces


@pytest.mark.parametrize("case", ALL_CASES, ids=[c.name for c in ALL_CASES])
@pytest.mark.parametrize("column0", [False, True], ids=["as-in-file", "column-0"])
def test_hard_case_through_chat_gives_the_fim_suggestion(case, column0):
    """The same code fenced by a chat model, indented as in the file or moved to column 0."""
    cursor = at(case.document, case.grammar)
    answer = fenced(cursor, case.answer, case.grammar)
    before = cursor.text[cursor.text.rfind("\n", 0, cursor.offset) + 1 : cursor.offset]
    if column0 and before.strip():
        pytest.skip("mid-line: the fence holds the rest of the line, not whole lines")
    if column0:
        code = answer.split("```", 2)[1].split("\n", 1)[1]
        answer = answer.replace(code, textwrap.dedent(code))
    assert suggest(answer, cursor, chat=True) == suggest(case.answer, cursor)


@pytest.mark.parametrize("case", ALL_CASES, ids=[c.name for c in ALL_CASES])
def test_stopping_the_stream_early_never_changes_the_suggestion(case):
    """The stream stop check, fed one character at a time, stops only once the suggestion is whole."""
    cursor = at(case.document, case.grammar)
    stopper = StreamStopper(cursor)
    streamed = case.answer
    for i, ch in enumerate(case.answer):
        if stopper.feed(0, ch):
            streamed = case.answer[: i + 1]
            break
    assert suggest(streamed, cursor) == suggest(case.answer, cursor)


def test_every_kind_has_fixtures_in_the_eight_languages():
    for kind in KINDS:
        languages = {c.grammar for c in TAIL_CASES if c.name.startswith(kind + "-")}
        assert set(LANGUAGES) <= languages, (kind, set(LANGUAGES) - languages)


def test_keyword_and_rule_blocks_without_a_grammar():
    names = {c.name for c in TAIL_CASES if c.grammar in (None, "ruby")}
    assert {"header-css-rule", "header-scss-nested", "header-lua-function", "header-ruby-def"} <= names
    assert {"header-shell-if", "header-shell-for"} <= names


def test_cases_cover_every_rule_in_five_languages():
    rules = {
        "header": ("header",),
        "closers": ("paren", "quote", "object-arg", "list", "template"),
        "terminator": ("terminator", "mid-line"),
        "suffix": ("repeats-suffix", "body"),
    }
    for rule, words in rules.items():
        languages = {c.grammar for c in CASES if any(w in c.name for w in words)}
        assert {"python", "typescript", "go", "rust", "c"} <= languages | {"python"}, rule


# --- block headers: the whole body after a header typed at the end of the line ---------------------


@pytest.mark.parametrize(
    ("source", "grammar", "raw", "shown"),
    [
        ("def f(x$0\n", "python", "):\n    return x\n\n\nprint(f(1))\n", "):\n    return x"),
        ("if (x > 0$0\n", "javascript", ") {\n  go();\n}\nstop();\n", ") {\n  go();\n}"),
        (
            "func (r Rect) Area$0\n",
            "go",
            "() int {\n\treturn r.w\n}\nfunc x() {}\n",
            "() int {\n\treturn r.w\n}",
        ),
        (
            "impl Shape for Sq$0\n",
            "rust",
            " {\n    fn a(&self) {}\n}\nfn main() {}\n",
            " {\n    fn a(&self) {}\n}",
        ),
        ("int main(void$0\n", "c", ") {\n    return 0;\n}\nint x;\n", ") {\n    return 0;\n}"),
        ("def greet(name$0\nend\n", "ruby", ")\n  puts name\nend\ngreet(1)\n", ")\n  puts name"),
    ],
)
def test_header_at_end_of_line_gets_its_body(source, grammar, raw, shown):
    assert suggest(raw, at(source, grammar)).text == shown


def test_ordinary_line_end_still_gets_one_line():
    cursor = at("def f(x):\n    y = x +$0\n    return y\n")
    assert suggest(" 1\n    z = 2\n    return y\n", cursor).text == " 1"


def test_stream_waits_for_the_body_of_a_header_then_stops_after_it():
    cursor = at("def f(x$0\n\n\nprint(f(1))\n")
    assert not should_stop_streaming("):\n", cursor)
    assert not should_stop_streaming("):\n    return x\n", cursor)
    assert should_stop_streaming("):\n    return x\n\n\nprint(f(1))\n", cursor)
    # An ordinary statement line still stops at its newline.
    assert should_stop_streaming(" + 1\n", at("def f(x):\n    return x$0\n"))


# --- closers after the cursor: replaced, with the range, never doubled -----------------------------


@pytest.mark.parametrize(
    ("source", "grammar", "raw", "text", "replaces"),
    [
        ("def fib($0)\n", "python", "n):\n    return fib(n - 1)\n", "n):\n    return fib(n - 1)", 1),
        ("fn fib($0)\n", "rust", "n: u32) -> u32 {\n    n\n}\n", "n: u32) -> u32 {\n    n\n}", 1),
        # Ending with the rest of the line: cut before it (the same document, as an insertion).
        ('print("$0")\n', "python", 'hi", end="")\n', 'hi", end="', 0),
        ('print("$0")\n', "python", 'hi" + name)\n', 'hi" + name', 1),
        ("foo({$0})\n", "typescript", "a: 1}, b)\nbar();\n", "a: 1}, b", 1),
        ("xs := []int{$0}\n", "go", "1, 2}\nfmt.Println(xs)\n", "1, 2", 0),
        ("const s = `${$0}`;\n", "typescript", "name}!`;\n", "name}!`", 2),
        (
            "int add($0)\n",
            "c",
            "int a, int b) {\n    return a + b;\n}\n",
            "int a, int b) {\n    return a + b;\n}",
            1,
        ),
        # Stopping right at the closer is an insertion before it.
        ("print($0)\n", "python", "x)\ny = 2\n", "x", 0),
        ("[$0]\n", "python", "1, 2]\n", "1, 2", 0),
    ],
)
def test_auto_closed_closers_are_replaced(source, grammar, raw, text, replaces):
    shown = suggest(raw, at(source, grammar))
    assert (shown.text, shown.replaces) == (text, replaces)


def test_closer_before_other_code_is_not_replaced():
    # `)` here closes something opened earlier than the cursor's own bracket: not the editor's closer.
    cursor = at('x = chr(((ord(c) - 5$0) + ord("a")) for c in s])\n')
    shown = suggest(' - ord("a")) % 26) + ord("a")) for c in s])\n', cursor)
    assert (shown.text, shown.replaces) == (' - ord("a")) % 26', 0)


def test_closers_replaced_in_crlf_documents():
    shown = suggest("n: u32) -> u32 {\r\n    n\r\n}\r\n", at("fn fib($0)\r\nfn x() {}\r\n", "rust"))
    assert (shown.text, shown.replaces) == ("n: u32) -> u32 {\r\n    n\r\n}", 1)


# --- terminators: end where the rest of the line starts, never continue below ----------------------


@pytest.mark.parametrize(
    ("source", "grammar", "raw", "shown"),
    [
        (
            "    label = new QLabel($0;\n    show();\n",
            "cpp",
            '"Hello", this);\n    layout->add(label);\n',
            '"Hello", this)',
        ),
        ("let v = f($0, 2);\n", "rust", "1, 2);\nlet w = 3;\n", "1"),
        ("x := add($0, 2)\n", "go", "1, 2)\nfmt.Println(x)\n", "1"),
        ("int t = sum(v$0;\n", "c", ", n);\nreturn t;\n", ", n)"),
        ("return len(s$0)\n", "python", "et(string.lower())\n", "et(string.lower())"),
        ("return len(set(s$0)))\n", "python", "tring.lower()))\n", "tring.lower("),
    ],
)
def test_rest_of_line_reproduced_ends_the_suggestion(source, grammar, raw, shown):
    assert suggest(raw, at(source, grammar)).text == shown


# --- chat answers keep their indentation -------------------------------------------------------------


def test_chat_answer_indented_as_in_the_file_on_a_column_0_line():
    cursor = at("def f(x):\n$0\n    return y\n")
    answer = "```python\n    y = x * 2\n    y += 1\n```"
    assert suggest(answer, cursor, chat=True).text == "    y = x * 2\n    y += 1"
    assert suggest(answer, cursor, chat=True) == suggest("    y = x * 2\n    y += 1\n    return y\n", cursor)


def test_chat_answer_at_absolute_tab_depth_mid_line_is_not_indented_twice():
    cursor = at("func f() {\n\t\t\t\tx := foo($0\n}\n", "go")
    answer = "```go\na,\n\t\t\t\t\tb)\n```"
    assert suggest(answer, cursor, chat=True).text == "a,\n\t\t\t\t\tb)"


def test_chat_answer_that_ignores_the_nesting_is_reindented():
    cursor = at("def f(x):\n    $0\n    return y\n")
    answer = "```python\ny = x * 2\nif y:\n    y += 1\n```"
    assert suggest(answer, cursor, chat=True).text == "y = x * 2\n    if y:\n        y += 1"
    column0 = at("def f(x):\n    y = 1\n$0\n    return y\n")
    assert suggest("```python\ny += 1\n```", column0, chat=True).text == "    y += 1"


def test_chat_answer_with_a_relative_block_after_a_mid_line_header():
    cursor = at("fn f(x: i32) -> i32 {\n    if x > 0$0\n    -1\n}\n", "rust")
    assert suggest("```rust\n {\n    return 1;\n}\n```", cursor, chat=True).text == (
        " {\n        return 1;\n    }"
    )
