"""Post-processing of inline suggestions, each step on cursor fixtures written with a `$0` marker."""

import pytest

from lsp_server.engine import postprocess as pp
from lsp_server.engine.postprocess import Cursor, decide_mode, process, scene_for, should_stop_streaming


def at(source: str, grammar: str | None = "python", **kw) -> Cursor:
    offset = source.index("$0")
    return Cursor(text=source.replace("$0", "", 1), offset=offset, grammar=grammar, **kw)


# --- mode -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("def f(x):\n    return $0 + 1\n", "single"),  # mid-line
        ("def f(x):\n    $0\n", "multi"),  # blank line
        ("def f(x):$0\n", "multi"),  # end of a block opener
        ("x = 1$0\n", "single"),  # end of an ordinary line
        ("print($0)\n", "single"),  # inside auto-closed brackets
        ("# a comment $0\n", "single"),  # comment, from the tree
        ("def f(x):\n    # todo: $0\n    pass\n", "single"),
    ],
)
def test_mode(source, expected):
    assert decide_mode(scene_for(at(source))) == expected


def test_mode_for_brace_languages_and_setting_override():
    assert decide_mode(scene_for(at("function f() {$0\n}\n", "javascript"))) == "multi"
    assert decide_mode(scene_for(at("def f(x):\n    $0\n", multiline="never"))) == "single"
    assert decide_mode(scene_for(at("x = f($0)\n", multiline="always"))) == "multi"


# --- single line, closers, overlap ------------------------------------------------------------------


def test_mid_line_keeps_one_line():
    assert process("x + 1\n    y = 2\n", at("def f(x):\n    return $0\n")) == "x + 1"


def test_no_double_closing_bracket_or_quote():
    assert process('"hello")\n', at("print($0)\n")) == '"hello"'
    assert process("3, 4]", at("x = [1, 2, $0]\n")) == "3, 4"
    assert process("b, c))", at("f(a, g($0))\n")) == "b, c"


def test_tail_equal_to_the_rest_of_the_line_is_dropped():
    assert process("a, b):", at("def f($0):\n    pass\n")) == "a, b"


def test_suggestion_that_is_only_the_suffix_is_dropped():
    cursor = at("def f(x):\n    $0\n    return y\n")
    assert process("return y\n", cursor) == ""


def test_suffix_repetition_is_trimmed():
    cursor = at("def f(x):\n    $0\n    return y\n")
    assert process("y = x * 2\n    return y\n", cursor) == "y = x * 2"


def test_renamed_repetition_of_the_suffix_is_trimmed():
    cursor = at("def f(items):\n$0        if item:\n            total += item\n    return total\n")
    raw = "    total = 0\n    for item in items:\n        if it:\n            tot += it\n"
    assert process(raw, cursor) == "    total = 0\n    for item in items:\n"


# --- scope ----------------------------------------------------------------------------------------


def test_block_stops_at_the_next_definition():
    cursor = at("def f(x):\n    $0\n")
    assert process("y = x * 2\n    return y\n\ndef g():\n    pass\n", cursor) == "y = x * 2\n    return y"


def test_block_after_opener_stops_when_dedenting():
    cursor = at("def f(x):\n    if x:$0\n    return 0\n")
    assert process("\n        return 1\n    else:\n        return 2\nprint(1)", cursor) == (
        "\n        return 1\n    else:\n        return 2"
    )


def test_brace_block_does_not_repeat_the_closing_brace():
    cursor = at("function f() {$0\n}\n", "javascript")
    assert process("\n  return 1;\n}\n\nfunction g() {}\n", cursor) == "\n  return 1;"


def test_brace_block_closes_its_scope_once_when_the_file_lacks_the_brace():
    cursor = at("function f() {$0\n", "javascript")
    assert process("\n  return 1;\n}\n\nfunction g() {}\n", cursor) == "\n  return 1;\n}"


def test_ruby_end_already_in_file_is_not_repeated():
    cursor = at("def f(x)\n  $0\nend\n", "ruby")
    assert process("x * 2\nend\n\ndef g\nend\n", cursor) == "x * 2"


def test_plain_text_uses_indentation():
    # A list item goes on with its siblings and stops where the list closes (a shallower line).
    cursor = at("items:\n  - $0\n", None)
    assert process("one\n  - two\nnext:\n  - three", cursor) == "one\n  - two"


# --- repetition, trivia, indentation ---------------------------------------------------------------


def test_repeated_lines_are_cut():
    cursor = at("def f():\n    $0\n")
    assert process("x += 1\n    x += 1\n    x += 1\n    x += 1\n", cursor) == "x += 1"


def test_repeated_block_is_cut():
    raw = "a = 1\n    b = 2\n    a = 1\n    b = 2\n    a = 1\n    b = 2\n"
    assert process(raw, at("def f():\n    $0\n")) == "a = 1\n    b = 2"


def test_a_suggestion_repeating_the_line_above_is_dropped():
    assert process("x = compute(1)\n", at("def f():\n    x = compute(1)\n    $0\n")) == ""


def test_tabs_in_a_spaces_file_become_the_file_unit():
    cursor = at("def f(x):\n    if x:\n        pass\n    $0\n")
    assert process("for i in x:\n\t\tprint(i)\n", cursor) == "for i in x:\n        print(i)"


def test_two_space_suggestion_in_a_four_space_file():
    cursor = at("def f(x):\n    if x:\n        pass\n    $0\n")
    assert process("for i in x:\n      print(i)\n", cursor) == "for i in x:\n        print(i)"


def test_spaces_in_a_tab_file_become_tabs():
    cursor = at("def f(x):\n\tif x:\n\t\tpass\n\t$0\n")
    assert process("for i in x:\n\t    print(i)\n", cursor) == "for i in x:\n\t\tprint(i)"


# --- syntax validation ----------------------------------------------------------------------------


def test_syntax_error_is_cut_back_to_a_valid_prefix():
    cursor = at("def f(x):\n    $0\n")
    assert process("if x:\n        return 1\n    return 2 +\n", cursor) == "if x:\n        return 1"


def test_single_line_error_is_cut_at_a_token_boundary_or_dropped():
    cursor = at("def f(x):\n    return $0\n")
    assert process("x + )", cursor) in ("x", "")


def test_already_broken_file_still_gets_suggestions():
    cursor = at("def f(x:\n    return $0\n\ndef g(:\n    pass\n")
    assert process("x + 1", cursor) == "x + 1"


def test_unknown_language_is_not_validated():
    assert process("x + )", at("value: $0\n", None)) == "x + )"


# --- chat answers ---------------------------------------------------------------------------------


def test_chat_answer_fence_prose_and_echoed_prefix_are_stripped():
    cursor = at("def double(x):\n    $0\n")
    raw = "Sure! Here you go:\n```python\ndef double(x):\n    return x * 2\n```\nThis doubles x."
    assert process(raw, cursor, chat=True) == "return x * 2"


def test_chat_answer_without_fence_echoing_the_current_line():
    cursor = at("def f(x):\n    total = $0\n")
    assert process("total = x * 2", cursor, chat=True) == "x * 2"


def test_chat_code_at_column_zero_is_indented_to_the_cursor():
    cursor = at("class A:\n    def f(self, x):\n        $0\n")
    raw = "```\nif x:\n    return 1\nreturn 2\n```"
    assert process(raw, cursor, chat=True) == "if x:\n            return 1\n        return 2"


# --- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["", "   ", "\n\n", "\t\n"])
def test_empty_and_blank_answers_show_nothing(raw):
    assert process(raw, at("def f():\n    $0\n")) == ""


def test_crlf_document_keeps_its_line_endings():
    cursor = at("a = 1\r\ndef f(x):\r\n    $0\r\n")
    assert process("y = 1\r\n    z = 2\r\n", cursor) == "y = 1\r\n    z = 2"


def test_inserting_above_existing_text_ends_with_a_newline_and_its_indentation():
    cursor = at("def f(x):\n    $0return x\n")
    assert process("x += 1\n", cursor) == "x += 1\n    "


@pytest.mark.parametrize(
    "source",
    ["$0", "\n\n$0", "x$0", "\t\t$0\n", "def f(:\n  $0", "🙂 = 1\n$0😀", "a\r\n$0\r\n"],
)
@pytest.mark.parametrize("grammar", ["python", "javascript", None, "no-such-grammar"])
def test_never_crashes(source, grammar):
    cursor = at(source, grammar)
    for raw in ("x", "x\n  y\n", ")", "```\n```", "\r\n", "🙂\n🙂\n🙂\n🙂"):
        assert isinstance(process(raw, cursor), str)
        assert isinstance(should_stop_streaming(raw, cursor), bool)


def test_offset_out_of_range_is_clamped():
    assert process("1", Cursor(text="x = ", offset=99, grammar="python")) == "1"


# --- streaming ------------------------------------------------------------------------------------


def test_stop_streaming_single_line_after_newline():
    cursor = at("def f(x):\n    return $0\n")
    assert not should_stop_streaming("x +", cursor)
    assert should_stop_streaming("x + 1\n", cursor)


def test_stop_streaming_multi_line_once_the_scope_is_left():
    cursor = at("def f(x):\n    $0\n")
    assert not should_stop_streaming("y = 1\n    return y\n", cursor)
    assert should_stop_streaming("y = 1\n    return y\n\ndef g():\n", cursor)


def test_scene_reads_only_a_window_of_a_big_file():
    big = "x = 1\n" * 20_000
    scene = pp.scene_for(Cursor(text=big + "def f():\n    ", offset=len(big) + 13, grammar="python"))
    assert len(scene.above) <= pp.WINDOW_LINES and scene.before == "    "


# --- repeated structures are new code; repeats compare at their indentation ---------------------------

# A chain whose next arm is already in the file: the suggestion writes the arms before it. The arms
# look alike (similar text) but differ in a literal, so none of them is a repetition of the suffix.
_CHAINS = [
    (
        "python",
        "def g(score):\n    if score > 3.0:\n        return grade('A')\n$0    elif score > 1.0:\n"
        "        return grade('C')\n",
        "    elif score > 2.0:\n        return grade('B')\n",
    ),
    (
        "javascript",
        "function g(x) {\n  switch (x) {\n    case 3: return grade('A');\n$0    case 1: return grade('C');\n"
        "  }\n}\n",
        "    case 2: return grade('B');\n",
    ),
    (
        "go",
        'func g(x int) string {\n\tswitch x {\n\tcase 3:\n\t\treturn grade("A")\n$0\tcase 1:\n'
        '\t\treturn grade("C")\n\t}\n\treturn ""\n}\n',
        '\tcase 2:\n\t\treturn grade("B")\n',
    ),
    (
        "rust",
        'fn g(x: i32) -> &str {\n    match x {\n        3 => grade("A"),\n$0        1 => grade("C"),\n'
        '        _ => "",\n    }\n}\n',
        '        2 => grade("B"),\n        4 => grade("D"),\n',
    ),
    (
        "c",
        'const char *g(int x) {\n    switch (x) {\n    case 3: return grade("A");\n$0'
        '    case 1: return grade("C");\n    }\n    return "";\n}\n',
        '    case 2: return grade("B");\n',
    ),
]


@pytest.mark.parametrize(("grammar", "source", "raw"), _CHAINS, ids=[c[0] for c in _CHAINS])
def test_similar_lines_differing_in_a_literal_are_not_a_repeat(grammar, source, raw):
    assert process(raw, at(source, grammar)).rstrip() == raw.rstrip()


@pytest.mark.parametrize(("grammar", "source", "raw"), _CHAINS, ids=[c[0] for c in _CHAINS])
def test_the_same_chain_followed_by_the_file_is_still_cut(grammar, source, raw):
    offset = source.index("$0")
    following = source[offset + 2 :]
    assert process(raw + following, at(source, grammar)).rstrip() == raw.rstrip()


@pytest.mark.parametrize(
    ("grammar", "source", "raw"),
    [
        # The suggestion's `return False` is nested one level deeper than the file's next line.
        (
            "python",
            "def g(x):\n    if x:\n$0    return False\n",
            "        if x > 1:\n            return True\n        return False\n",
        ),
        (
            "c",
            "int g(int x) {\n    if (x) {\n$0    }\n    return 0;\n}\n",
            "        if (x > 1) {\n            return 1;\n        }\n        return 0;\n",
        ),
        (
            "go",
            "func g(x int) int {\n\tif x > 0 {\n$0\t}\n\treturn 0\n}\n",
            "\t\tif x > 1 {\n\t\t\treturn 1\n\t\t}\n\t\treturn 0\n",
        ),
    ],
)
def test_the_same_line_at_another_nesting_level_is_not_a_repeat(grammar, source, raw):
    assert process(raw, at(source, grammar)).rstrip() == raw.rstrip()


@pytest.mark.parametrize(
    ("grammar", "source", "raw"),
    [
        # `for ... else`: the one-line suffix (`return x`) is the else body; a similar line earlier in
        # the suggestion, followed by more code, is a coincidence.
        (
            "python",
            "def g(n, x, y):\n$0        return x\n",
            "    for i in range(n):\n        return y\n    else:\n",
        ),
        (
            "javascript",
            "function g(n, x, y) {\n$0    return x;\n  }\n}\n",
            "  if (n) {\n    return y;\n  } else {\n",
        ),
        (
            "rust",
            "fn g(n: bool, x: i32, y: i32) -> i32 {\n$0        x\n    }\n}\n",
            "    if n {\n        y\n    } else {\n",
        ),
    ],
)
def test_one_matching_line_followed_by_more_code_is_not_a_repeat(grammar, source, raw):
    assert process(raw, at(source, grammar)).rstrip() == raw.rstrip()


# --- indentation style from the surrounding code -----------------------------------------------------------


def test_bracket_continuation_lines_do_not_set_the_indent_unit():
    source = "def f():\n    nums = [1, 2,\n           3, 4]\n    names = ['a',\n             'b']\n    $0\n"
    assert pp.scene_for(at(source)).indent_unit == "    "
    raw = "for n in nums:\n        print(n)\n"
    assert process(raw, at(source)) == "for n in nums:\n        print(n)"


@pytest.mark.parametrize(
    ("grammar", "source", "unit"),
    [
        ("javascript", "function f() {\n  const xs = [1,\n               2];\n  $0\n}\n", "  "),
        ("go", "func f() {\n\tx := g(1,\n\t\t2)\n\t$0\n}\n", "\t"),
        ("rust", "fn f() {\n    let x = g(1,\n              2);\n    $0\n}\n", "    "),
        ("c", "int f(void) {\n    int x = g(1,\n              2);\n    $0\n}\n", "    "),
    ],
)
def test_indent_unit_ignores_alignment_in_other_languages(grammar, source, unit):
    assert pp.scene_for(at(source, grammar)).indent_unit == unit


def test_a_step_the_enclosing_code_uses_is_kept():
    # The function body uses 2-space steps for nested blocks: the model following them is not "wrong".
    source = "def f(s):\n    if not s:\n      return 0\n    $0\n"
    raw = "for c in s:\n      print(c)\n"
    assert process(raw, at(source)) == "for c in s:\n      print(c)"


def test_a_step_the_next_line_needs_is_kept():
    # The model opens a block whose body is already in the file two spaces deeper.
    source = "def f(s):\n    total = 0\n$0        total += c\n    return total\n"
    raw = "    for c in s:\n      if c:\n"
    assert process(raw, at(source)) == raw


def test_a_step_the_file_does_not_use_is_still_normalized_in_braces():
    source = "function f(xs) {\n    if (xs) {\n        g();\n    }\n    $0\n}\n"
    raw = "for (const x of xs) {\n      h(x);\n    }\n"
    assert process(raw, at(source, "javascript")).startswith("for (const x of xs) {\n        h(x);")
