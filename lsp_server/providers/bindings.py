"""The names a line of code binds itself: loop targets, parameters, ``as`` names, declarations.

Owns ``family_of`` (the language family of a path, by extension) and ``bound_names`` (the
identifiers a line introduces). The offline engine's agreement rule drops a suggestion that writes
a name nothing reachable defines; a name the suggestion binds itself — ``line`` in
``[line.strip() for line in handle]``, ``x`` in ``|x| x + 1``, ``err`` in ``err := f()``, ``row``
in ``for (const row of rows)`` — exists nowhere else yet, and is defined by the very line that uses
it, so it counts as reachable.

Hand-written (a few regular expressions per language family over the line's code, strings and
comments blanked by ``scope.code_only``) rather than a tree-sitter parse: the line being completed
is usually unfinished, a parse of a lone partial line gives no reliable binding nodes, and the check
runs for every candidate of every request. It must not read files or know the engine's tables; it
looks at one line and answers with names.
"""

from __future__ import annotations

import os
import re

from lsp_server.providers import scope

_EXTENSIONS = {
    "python": (".py", ".pyi", ".pyw"),
    "js": (".js", ".jsx", ".mjs", ".cjs", ".ts", ".tsx", ".mts", ".cts", ".svelte", ".vue"),
    "go": (".go",),
    "rust": (".rs",),
    "ruby": (".rb", ".rake", ".gemspec"),
    "php": (".php",),
    # Type before name (``int i``, ``String s``), lambdas with ``->`` (Java, Kotlin) or ``=>`` (C#).
    "c": (
        ".c",
        ".h",
        ".cc",
        ".cpp",
        ".cxx",
        ".hpp",
        ".hh",
        ".java",
        ".cs",
        ".kt",
        ".kts",
        ".scala",
        ".swift",
    ),
}
_FAMILY = {ext: family for family, exts in _EXTENSIONS.items() for ext in exts}

_WORD = re.compile(r"[^\W\d]\w*")
# Words that sit in binding positions without being bound names.
_KEYWORDS = """
const let var val mut ref auto final in of as is not and or await async static readonly public private
protected out params this self new struct enum dyn impl for if else elif while switch range return go
defer case match def class
"""
_NOT_NAMES = frozenset(_KEYWORDS.split())

# ``for a, b in``, ``for (const [k, v] of``, ``for x in``, ``foreach (var item in`` (Python, JS, Rust,
# C#, Ruby, Swift, Kotlin), comprehensions included.
_FOR_IN = re.compile(r"\b(?:for|foreach)\b\s*\(?(?P<names>[^;=]*?)\s+(?:in|of)\b")
# C, C++, Java, C#: ``for (int i = 0``, ``for (auto& x : xs)``, ``for (String s : names)``.
_FOR_TYPED = re.compile(
    r"\bfor\s*\(\s*(?:final\s+)?[\w.:<>\[\],?*& ]+?[\s*&](?P<name>[^\W\d]\w*)\s*(?:=|:(?!:))"
)
# Go: ``for i, v := range``, ``for k := range``.
_FOR_GO = re.compile(r"\bfor\s+(?P<names>[\w\s,]+?)\s*:=")
# Parameter lists of function headers and literals: ``def f(a, b=1)``, ``function (a, b)``,
# ``fn f(x: i32)``, ``func(w http.ResponseWriter)``, ``func (s *Server) Serve(c Conn)``.
_PARAMS = re.compile(
    r"\b(?:def|function|fn|func|fun)\b\s*\*?\s*[\w$]*\s*(?:<[^()]*>)?\s*\((?P<params>[^()]*)\)"
)
_GO_METHOD = re.compile(r"\bfunc\s*\((?P<receiver>[^()]*)\)\s*\w+\s*\((?P<params>[^()]*)\)")
_LAMBDA_PY = re.compile(r"\blambda\b(?P<params>[^:]*):")
# ``(a, b) =>``, ``x =>`` (JS, TS, C#; also Rust and Scala ``Some(x) =>`` match arms).
_ARROW = re.compile(r"(?:\((?P<params>[^()]*)\)|(?P<one>[^\W\d][\w$]*))\s*=>")
# Java and Kotlin lambdas: ``(a, b) ->``, ``x ->``.
_THIN_ARROW = re.compile(r"(?:\((?P<params>[^()]*)\)|(?P<one>[^\W\d]\w*))\s*->")
# Rust closures: ``|x|``, ``move |a, b|``, ``|&(k, v)|``.
_CLOSURE_RUST = re.compile(r"(?:^|[\s(,=])\|(?P<params>[^|]*)\|")
# Ruby blocks: ``{ |x| ``, ``do |a, b|``.
_CLOSURE_RUBY = re.compile(r"(?:\{|\bdo\b)\s*\|(?P<params>[^|]*)\|")
_AS = re.compile(r"\bas\s+\$?(?P<name>[^\W\d]\w*)")
# Declarations with a keyword: ``let x``, ``const {a, b} =``, ``var [x, y] =``, ``let mut n``,
# ``let (a, b) =``, ``if let Some(v) =``, ``val x``.
_DECLARATION = re.compile(
    r"\b(?:let|const|var|val)\s+(?:mut\s+)?(?P<pattern>[^=;:]+?)\s*(?::[^=;]*)?=(?![=>])"
)
_DECLARED = re.compile(r"\b(?:let|const|var|val)\s+(?:mut\s+)?(?P<name>[^\W\d][\w$]*)")
# Go short declarations: ``a, err :=``.
_SHORT = re.compile(r"(?:^|[;{(]\s*)(?P<names>[\w\s,]+?)\s*:=")
# Python and Ruby: ``a, b = ...`` and ``x = ...`` at the start of a statement (not ``a.b =``, ``a[i] =``).
_ASSIGNED = re.compile(
    r"^\s*[(\[]?\s*(?P<names>\*?[^\W\d]\w*(?:\s*,\s*\*?[^\W\d]\w*)*)\s*,?\s*[)\]]?\s*=(?!=)"
)
# Java, C#, C, C++ typed declarations at the start of a statement: ``String name =``, ``var x =``,
# ``List<Item> items =``, ``int count;``.
_TYPED_DECLARATION = re.compile(
    r"^\s*(?:final\s+|const\s+|static\s+)*[\w.:<>\[\],?]+[\s*&]+(?P<name>[^\W\d]\w*)\s*(?:=(?!=)|;)"
)
_CATCH = re.compile(r"\bcatch\s*\(\s*(?:[\w.|\s]+\s)?(?P<name>[^\W\d]\w*)\s*\)")


def family_of(path: str | None) -> str:
    """The language family of ``path`` by its extension, ``""`` when unknown."""
    return _FAMILY.get(os.path.splitext(path or "")[1].lower(), "")


# (pattern, the families it applies to (empty: all), what its named group holds: ``names`` (every
# identifier in it), ``params`` (a parameter list, see ``_parameters``), ``pattern`` (a closure's
# parameters, annotations left out), the line starts it needs (empty: any)).
_RULES: tuple[tuple[re.Pattern[str], tuple[str, ...], str, tuple[str, ...]], ...] = (
    (_FOR_IN, (), "names", ()),
    (_DECLARATION, (), "names", ()),
    (_DECLARED, (), "names", ()),
    (_ARROW, (), "params", ()),
    (_PARAMS, (), "params", ()),
    (_CATCH, (), "names", ()),
    (_LAMBDA_PY, ("python",), "params", ()),
    (_AS, ("python", "php"), "names", ()),  # ``with f() as h``, ``except E as e``, ``foreach ($a as $b)``
    (_AS, ("js",), "names", ("import", "export")),  # ``import * as fs``, not the cast ``x as T``
    (_AS, ("rust",), "names", ("use",)),
    (_ASSIGNED, ("python", "ruby"), "names", ()),
    (_FOR_GO, ("go",), "names", ()),
    (_SHORT, ("go",), "names", ()),
    (_GO_METHOD, ("go",), "params", ()),
    (_CLOSURE_RUST, ("rust",), "pattern", ()),
    (_CLOSURE_RUBY, ("ruby",), "names", ()),
    (_FOR_TYPED, ("c",), "names", ()),
    (_THIN_ARROW, ("c",), "params", ()),
    (_TYPED_DECLARATION, ("c",), "names", ()),
)


def bound_names(line: str, family: str, hash_comments: bool, single_quotes: bool) -> set[str]:
    """The identifiers ``line`` (one line of code, possibly unfinished) binds itself.

    ``family`` comes from ``family_of``; unknown families get the rules every family shares
    (``for ... in``, keyword declarations, arrows, parameter lists).
    """
    code = scope.code_only(line, hash_comments, single_quotes)[0]
    start = code.lstrip()
    names: set[str] = set()
    for pattern, families, holds, starts in _RULES:
        if (families and family not in families) or (starts and not start.startswith(starts)):
            continue
        for match in pattern.finditer(code):
            for group in match.groups():
                if group is None:
                    continue
                if holds == "params":
                    names.update(_parameters(group, family))
                elif holds == "pattern":
                    names.update(_WORD.findall(_before_colons(group)))
                else:
                    names.update(_WORD.findall(group))
    return names - _NOT_NAMES


def _parameters(params: str | None, family: str) -> set[str]:
    """The names a parameter list declares, leaving out types and default values.

    Go writes the name first (``a, b int``), C-family languages the type first (``int a``), the
    others annotate after a colon (``a: int``, ``x: &str``) or not at all; a destructuring pattern
    (``{a, b}: Props``, ``(k, v)``, ``[x, y]``) binds every name inside it.
    """
    if not params:
        return set()
    out: set[str] = set()
    for part in _split_top_level(params):
        part = part.split("=", 1)[0].strip().lstrip("&*.").strip()
        if part[:1] in _OPENERS:
            close = _matching(part)
            out.update(_WORD.findall(part[1:close]))
            continue
        words = [w for w in _WORD.findall(part) if w not in _NOT_NAMES]
        if not words:
            continue
        if family == "go":
            out.add(words[0])
        elif family == "c" and ":" not in part:
            out.add(words[-1])
        else:
            named = [w for w in _WORD.findall(part.split(":", 1)[0]) if w not in _NOT_NAMES]
            out.add(named[0] if named else words[0])
    return out - _NOT_NAMES


_OPENERS = {"(": ")", "[": "]", "{": "}"}


def _matching(text: str) -> int:
    """The index of the bracket closing ``text[0]``, or the end of ``text`` when it stays open."""
    depth = 0
    for i, c in enumerate(text):
        if c in _OPENERS:
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                return i
    return len(text)


def _split_top_level(params: str) -> list[str]:
    """``params`` split at the commas outside brackets."""
    parts, depth, start = [], 0, 0
    for i, c in enumerate(params):
        if c in "([{<":
            depth += 1
        elif c in ")]}>":
            depth -= 1
        elif c == "," and depth <= 0:
            parts.append(params[start:i])
            start = i + 1
    parts.append(params[start:])
    return parts


def _before_colons(text: str) -> str:
    """Each comma-separated part of ``text`` up to its type annotation (``a: i32, b`` -> ``a, b``)."""
    return ",".join(part.split(":", 1)[0] for part in _split_top_level(text))
