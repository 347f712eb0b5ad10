"""Which tree-sitter grammar parses a document, and parsing with it.

Owns the mapping languageId / file extension -> grammar, lazy grammar loading and parsing helpers.
Grammars come from the per-language wheels (tree-sitter-python, ...) and load on first use, never at
import time, so nothing here slows the server's start. Any file without a grammar is plain text:
callers get ``None`` and must still work. Pure and synchronous; no I/O besides importing grammars.
"""

from __future__ import annotations

import importlib
import logging
import posixpath
import re
import threading
from functools import cache
from typing import TYPE_CHECKING

from lsp_server.core import loop_steps

if TYPE_CHECKING:
    from tree_sitter import Language, Node, Parser, Tree

log = logging.getLogger(__name__)

# Node types across the shipped grammars, the one copy every step reads (index, context, rewrite).
# Named functions and methods: python, c, cpp (function_definition); js, ts, go (function_declaration);
# js, ts (method_definition); go, java, c# (method_declaration); rust (function_item); ruby (method).
FUNCTION_NODES = frozenset(
    {
        "function_definition",
        "function_declaration",
        "generator_function_declaration",
        "method_definition",
        "method_declaration",
        "constructor_declaration",
        "function_item",
        "method",
        "singleton_method",
        "local_function_statement",
    }
)
# Anonymous functions: scopes for the names inside them, but no header of their own.
LAMBDA_NODES = frozenset(
    {
        "lambda",
        "arrow_function",
        "function_expression",
        "function",
        "func_literal",
        "closure_expression",
        "lambda_expression",
        "do_block",
    }
)
# Class-like containers whose members are definitions (classes, interfaces, structs, enums, impls).
CLASS_NODES = frozenset(
    {
        "class_definition",
        "class_declaration",
        "abstract_class_declaration",
        "interface_declaration",
        "enum_declaration",
        "record_declaration",
        "struct_declaration",
        "struct_item",
        "enum_item",
        "trait_item",
        "impl_item",
        "class_specifier",
        "struct_specifier",
        "union_specifier",
        "type_spec",
        "class",
        "module",
    }
)
# Namespaces and modules that group definitions without being types.
NAMESPACE_NODES = frozenset({"namespace_definition", "namespace_declaration", "mod_item"})

# Constructs whose elements stand one per line, so that a line ending inside one is followed by more of
# the same: struct and class fields, interface and enum members, match and switch arms, the elements of
# object / array / dict literals and initializer lists, import and const lists, arguments.
LIST_NODES = frozenset(
    {
        # python
        "dictionary",
        "list",
        "set",
        "tuple",
        # javascript, typescript
        "object",
        "array",
        "interface_body",
        "object_type",
        "enum_body",
        "switch_body",
        "named_imports",
        # go
        "field_declaration_list",
        "interface_type",
        "literal_value",
        "import_spec_list",
        "const_declaration",
        "var_declaration",
        # rust
        "enum_variant_list",
        "match_block",
        "field_initializer_list",
        "use_list",
        "token_tree",
        # java
        "array_initializer",
        "switch_block",
        "element_value_array_initializer",
        # c#
        "enum_member_declaration_list",
        "initializer_expression",
        # c, c++
        "enumerator_list",
        "initializer_list",
        # every grammar: arguments and parameters written one per line, a parenthesized tuple
        "argument_list",
        "arguments",
        "parameters",
        "formal_parameters",
        "parameter_list",
        "parenthesized_expression",
        "tuple_expression",
    }
)
# Containers that are lists only inside these parents: a C# interface's members (its classes share
# the node type), a C or C++ switch's case lines (function bodies share it).
LIST_NODES_IN = {
    "declaration_list": frozenset({"interface_declaration"}),
    "compound_statement": frozenset({"switch_statement"}),
}
# Text that spans lines: docstrings and multi-line strings, template literals, block comments.
TEXT_NODES = frozenset(
    {
        "string",
        "string_content",
        "template_string",
        "raw_string_literal",
        "text_block",
        "verbatim_string_literal",
        "comment",
        "block_comment",
    }
)

# grammar name -> (wheel module, attribute returning the language pointer)
_GRAMMARS: dict[str, tuple[str, str]] = {
    "python": ("tree_sitter_python", "language"),
    "javascript": ("tree_sitter_javascript", "language"),
    "typescript": ("tree_sitter_typescript", "language_typescript"),
    "tsx": ("tree_sitter_typescript", "language_tsx"),
    "go": ("tree_sitter_go", "language"),
    "rust": ("tree_sitter_rust", "language"),
    "java": ("tree_sitter_java", "language"),
    "c": ("tree_sitter_c", "language"),
    "cpp": ("tree_sitter_cpp", "language"),
    "c_sharp": ("tree_sitter_c_sharp", "language"),
    "ruby": ("tree_sitter_ruby", "language"),
}

# LSP languageId (as editors send it) -> grammar name.
_LANGUAGE_IDS: dict[str, str] = {
    "python": "python",
    "javascript": "javascript",
    "javascriptreact": "javascript",
    "jsx": "javascript",
    "typescript": "typescript",
    "typescriptreact": "tsx",
    "tsx": "tsx",
    "go": "go",
    "rust": "rust",
    "java": "java",
    "c": "c",
    "cpp": "cpp",
    "c++": "cpp",
    "cuda": "cpp",
    "csharp": "c_sharp",
    "cs": "c_sharp",
    "ruby": "ruby",
}

_EXTENSIONS: dict[str, str] = {
    ".py": "python",
    ".pyi": "python",
    ".pyw": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".tsx": "tsx",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".cxx": "cpp",
    ".hpp": "cpp",
    ".hh": "cpp",
    ".hxx": "cpp",
    ".cu": "cpp",
    ".cs": "c_sharp",
    ".rb": "ruby",
    ".rake": "ruby",
    ".gemspec": "ruby",
}


def grammar_name(language_id: str | None, path: str | None = None) -> str | None:
    """Name of the grammar for a document, from its languageId first, then its file extension.

    Returns ``None`` for anything we have no grammar for; such documents are plain text.
    """
    if language_id:
        name = _LANGUAGE_IDS.get(language_id.lower())
        if name:
            return name
    if path:
        _, ext = posixpath.splitext(path.lower())
        return _EXTENSIONS.get(ext)
    return None


# A ``.h`` file is C or C++, and only its text tells. C's grammar reads a C++ header as errors: its
# classes are lost, and recovering took it 4-8 times longer than C++'s grammar (/usr/include). So a
# file read from disk (no editor's languageId) is C++ when its first 64 kB use C++.
_CPP_LINES = re.compile(
    r"^[ \t]*(?:template[ \t]*<|namespace[ \t]+\w|class[ \t]+\w[^;\n]*(?:\{|$)|using[ \t]+namespace\b)",
    re.MULTILINE,
)
_SNIFFED_CHARS = 64 * 1024
_CPP_WORDS = ("namespace", "template", "class")


def grammar_of(language_id: str | None, path: str | None, text: str) -> str | None:
    """``grammar_name``, except that a ``.h`` file's text decides between C and C++ without a languageId."""
    name = grammar_name(language_id, path)
    if name != "c" or language_id or path is None or not path.lower().endswith(".h"):
        return name
    head = text[:_SNIFFED_CHARS]
    if "std::" in head:
        return "cpp"
    # The words first (a fast scan): the pattern alone took 0.3 ms a header.
    if any(word in head for word in _CPP_WORDS) and _CPP_LINES.search(head) is not None:
        return "cpp"
    return name


@cache
def language(name: str) -> Language | None:
    """The tree-sitter ``Language`` for a grammar name, loaded on first use; ``None`` if unavailable."""
    spec = _GRAMMARS.get(name)
    if spec is None:
        return None
    try:
        from tree_sitter import Language

        module = importlib.import_module(spec[0])
        return Language(getattr(module, spec[1])())
    except Exception as exc:  # a broken or missing wheel degrades to plain text, never a crash
        log.warning("grammar %s unavailable: %s", name, exc)
        return None


# One parser per grammar and thread: a parse releases the GIL, so two threads (the event loop and the
# index's worker) must never share a parser.
_PARSERS = threading.local()


def parser(name: str) -> Parser | None:
    """A cached parser for a grammar, one per thread (the loop and the index's worker both parse)."""
    parsers: dict[str, Parser | None] | None = getattr(_PARSERS, "by_name", None)
    if parsers is None:
        parsers = _PARSERS.by_name = {}
    if name not in parsers:
        lang = language(name)
        if lang is None:
            parsers[name] = None
        else:
            from tree_sitter import Parser

            parsers[name] = Parser(lang)
    return parsers[name]


#: Off the main thread, a source this long is parsed in chunks (``_parse_in_chunks``). Sources parse at
#: very different speeds: about 0.1 ms a kB for most, up to 2 ms a kB for headers whose macros keep
#: the C grammar recovering from errors (88 ms for a 45 kB header of /usr/include).
CHUNKED_PARSE_BYTES = 16 * 1024
_CHUNK_BYTES = 8 * 1024


def parse(
    name: str | None,
    source: bytes,
    old_tree: Tree | None = None,
) -> Tree | None:
    """Parse utf-8 ``source`` with a grammar; ``None`` for plain text.

    Off the main thread, a fresh parse of ``CHUNKED_PARSE_BYTES`` or more gives the interpreter lock
    away as it goes (``_parse_in_chunks``); its tree has no ``text``, so read nodes' bytes from
    ``source`` (as ``symbols.extract`` does).
    """
    if name is None:
        return None
    p = parser(name)
    if p is None:
        return None
    if old_tree is not None:
        return p.parse(source, old_tree)
    if len(source) >= CHUNKED_PARSE_BYTES and threading.current_thread() is not threading.main_thread():
        return _parse_in_chunks(p, source)
    return p.parse(source)


def _parse_in_chunks(p: Parser, source: bytes) -> Tree:
    """Parse ``source`` fed through a read callback, 8 kB at a time.

    Why: ``parse(bytes)`` is one C call that keeps the interpreter lock. On a 460 kB file (the
    indexer's thread parsing ``_pydecimal.py``) that is 36-44 ms the event loop waits behind it.
    Each call of a read callback runs Python, where the interpreter can hand the lock over: the
    longest wait falls to about 8 ms, for the same parse time and the same tree. Between chunks the
    parse also waits while the loop computes a step (``loop_steps``).

    py-tree-sitter 0.25-0.26 keeps a reference to every object a read callback returns, for good.
    So the callback always returns the same buffer of this thread, always full: the tail is padded
    with spaces, which the parser's included range (exactly the source) keeps out of the tree.

    The tree keeps the callback too, and ``Node.text`` calls it, expecting ``bytes`` (a buffer there
    crashes the interpreter): once the parse is over, it returns plain slices of ``source``.
    """
    from tree_sitter import Point, Range

    buffer: bytearray | None = getattr(_PARSERS, "chunk", None)
    if buffer is None:
        buffer = _PARSERS.chunk = bytearray(_CHUNK_BYTES)
    size = len(source)
    end = Point(source.count(b"\n"), size - (source.rfind(b"\n") + 1))

    parsing = True

    def read(offset: int, _point: Point) -> bytes | bytearray:
        if offset >= size:
            return b""  # the empty bytes object is shared and never freed: nothing leaks
        piece = source[offset : offset + _CHUNK_BYTES]
        if not parsing:
            return piece
        loop_steps.wait_while_stepping()  # the event loop's step first
        buffer[: len(piece)] = piece
        if len(piece) < _CHUNK_BYTES:
            buffer[len(piece) :] = b" " * (_CHUNK_BYTES - len(piece))
        return buffer

    p.included_ranges = [Range(Point(0, 0), end, 0, size)]
    try:
        return p.parse(read)
    finally:
        parsing = False
        p.included_ranges = []


def error_count(node: Node, from_byte: int = -1) -> int:
    """How many ERROR or MISSING nodes lie under ``node`` (0 for a tree that parses cleanly).

    With ``from_byte``, only those that do not end before it (a MISSING node ending right at it
    counts, anything else ending there does not). Walks only subtrees flagged ``has_error``, so a
    clean file costs O(1).
    """
    if not node.has_error:
        return 0
    count = 0
    stack = [node]
    while stack:
        current = stack.pop()
        if current.end_byte < from_byte or current.end_byte == from_byte and not current.is_missing:
            continue
        if current.is_error or current.is_missing:
            count += 1
            continue
        stack.extend(child for child in current.children if child.has_error or child.is_missing)
    return count
