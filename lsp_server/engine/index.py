"""The workspace symbol index: definitions and imports of every source file, and what names mean.

Owns walking the workspace (skipping vendored, generated, binary and excluded files), extracting per
file the definitions (functions, classes, methods, fields, module-level names, with signature line(s),
doc and enclosing class) and imports (module, names, aliases) with tree-sitter queries, and resolving
a name as seen from one file (through its imports, then its own definitions, then by name) to the
definitions it means.

It must not know about LSP, pygls or any model, and must not decide what goes into a prompt
(``context.py`` does). It reads files only while building; every query is a dictionary lookup, never a
walk of the workspace. Building is a generator so the server can run it in the background, report
progress and stop between files. One writer (the server) mutates the index; readers get copies.
"""

from __future__ import annotations

import logging
import os
import posixpath
import re
import stat
from collections.abc import Callable, Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from lsp_server.core import syntax
from lsp_server.core.layout import VENDORED_DIRS

if TYPE_CHECKING:
    from tree_sitter import Node, Query, Tree

log = logging.getLogger(__name__)

# Directories that hold dependencies, build output or tool state, never the user's own code.
# Minified or generated files: long lines, no useful definitions, and they dominate similarity search.
_GENERATED_SUFFIXES = (".min.js", ".min.mjs", ".bundle.js", ".map", ".d.ts.map", "_pb2.py", ".pb.go")

MAX_SIGNATURE_CHARS = 400
MAX_DOC_CHARS = 300
MAX_DEFINITIONS_PER_FILE = 3000
# A name defined in more files than this is too ambiguous for by-name resolution (``get``, ``run``...).
MAX_AMBIGUOUS = 4
_BINARY_SNIFF_BYTES = 1024


@attrs.frozen(slots=True)
class Definition:
    """One named definition; ``line`` is 0-based, ``container`` the enclosing class/type name or None.

    ``signature`` is the definition's header as written (``def f(x: int) -> str``, ``class A(B)``, the
    first line of an assignment); ``doc`` the first paragraph of its docstring or doc comment;
    ``type_name`` the declared or constructed type of a field or variable (``self.c = Cache()`` ->
    ``Cache``) or the return annotation of a function, when written.
    """

    name: str
    kind: str
    path: str
    line: int
    signature: str
    doc: str = ""
    container: str | None = None
    type_name: str | None = None


@attrs.frozen(slots=True)
class ImportedName:
    """``name`` as exported by the imported module, bound locally as ``alias`` (or ``name``)."""

    name: str
    alias: str | None = None

    @property
    def local(self) -> str:
        """The name this import binds in the importing file."""
        return self.alias or self.name


@attrs.frozen(slots=True)
class Import:
    """One import statement.

    ``module`` is written as in the source (``pkg.mod``, ``./b``, ``fmt``); ``level`` counts the leading
    dots of a Python relative import; ``names`` are the imported names (empty for ``import pkg.mod``);
    ``alias`` is the local name bound to the module itself (``import pkg.mod as m``, ``import * as ns``,
    ``const m = require('./m')``, Go ``import f "fmt"``).
    """

    module: str
    names: tuple[ImportedName, ...] = ()
    alias: str | None = None
    level: int = 0
    line: int = 0


@attrs.frozen(slots=True)
class Binding:
    """What a local name bound by an import refers to: a name inside a module, or the module itself."""

    imp: Import
    original: str | None  # None: the name is the module (``import x``, namespace import)


@attrs.frozen
class FileSymbols:
    """Everything the index knows about one file."""

    path: str
    grammar: str
    definitions: tuple[Definition, ...]
    imports: tuple[Import, ...]
    bindings: dict[str, Binding] = attrs.field(factory=dict)
    # Top-level definitions by name, built once per file: lookups run many times per request.
    top_level: dict[str, list[Definition]] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        table: dict[str, list[Definition]] = {}
        for definition in self.definitions:
            if definition.container is None:
                table.setdefault(definition.name, []).append(definition)
        object.__setattr__(self, "top_level", table)


# --------------------------------------------------------------------------------------------------
# Walking the workspace


def _never(_path: str) -> bool:
    return False


def iter_workspace_files(
    roots: Iterable[str | os.PathLike[str]],
    is_excluded: Callable[[str], bool] = _never,
    max_file_bytes: int = 1_000_000,
    max_files: int = 20_000,
) -> Iterator[Path]:
    """Source files under ``roots`` that have a grammar, lazily, at most ``max_files`` of them.

    Skips dot-directories (``.git``, ``.venv``, ``.tox``...), ``VENDORED_DIRS``, any directory holding a
    ``pyvenv.cfg`` (a virtualenv under any name), minified/generated files, files over
    ``max_file_bytes``, and anything ``is_excluded`` rejects (asked for directories too, so an excluded
    tree is never entered). Directory symlinks are never followed, which rules out symlink loops; file
    symlinks are followed once per real path. Unreadable directories are skipped silently.
    """
    seen_real: set[str] = set()
    count = 0
    for root in roots:
        root_abs = os.path.abspath(os.fspath(root))
        root_real = os.path.realpath(root_abs)
        stack = [root_abs]
        while stack:
            directory = stack.pop()
            try:
                with os.scandir(directory) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except OSError:
                continue
            if any(e.name == "pyvenv.cfg" for e in entries):
                continue
            subdirs = []
            for entry in entries:
                name = entry.name
                try:
                    if entry.is_dir(follow_symlinks=False):
                        if name.startswith(".") or name in VENDORED_DIRS or is_excluded(entry.path):
                            continue
                        subdirs.append(entry.path)
                        continue
                    if not _wanted_file(name) or is_excluded(entry.path):
                        continue
                    st = entry.stat(follow_symlinks=True)
                except OSError:  # dangling symlink, permission denied, vanished meanwhile
                    continue
                if not stat.S_ISREG(st.st_mode) or st.st_size > max_file_bytes:
                    continue
                # Directory symlinks are never entered below the root, so a regular file's real path is
                # its path with the root's real path swapped in; only file symlinks need resolving.
                if entry.is_symlink():
                    real = os.path.realpath(entry.path)
                else:
                    real = root_real + entry.path[len(root_abs) :]
                if real in seen_real:
                    continue
                seen_real.add(real)
                yield Path(entry.path)
                count += 1
                if count >= max_files:
                    return
            # Reversed so the depth-first walk visits subdirectories in name order.
            stack.extend(reversed(subdirs))


def _wanted_file(name: str) -> bool:
    lowered = name.lower()
    if lowered.endswith(_GENERATED_SUFFIXES):
        return False
    return syntax.grammar_name(None, lowered) is not None


def read_source(path: str | os.PathLike[str], max_file_bytes: int = 1_000_000) -> str | None:
    """A file's text, or ``None`` when it is unreadable, too big or binary (a NUL in its first KB).

    Non-UTF-8 files are decoded with ``errors="replace"``: their identifiers are still mostly ASCII, so
    their definitions stay useful, and the replacement characters cannot break anything downstream.
    """
    try:
        with open(path, "rb") as f:
            data = f.read(max_file_bytes + 1)
    except OSError:
        return None
    if len(data) > max_file_bytes or b"\0" in data[:_BINARY_SNIFF_BYTES]:
        return None
    return data.decode("utf-8", errors="replace")


# --------------------------------------------------------------------------------------------------
# Extraction: tree-sitter queries per grammar. Captures: @def.<kind> on the definition node, @name on
# its name, optionally @container (C++ ``void A::f()``); @def.selffield marks ``self.x = ...`` /
# ``this.x = ...`` assignments, which live inside methods but belong to the class.

_PY_DEFS = [
    "(function_definition name: (identifier) @name) @def.function",
    "(class_definition name: (identifier) @name) @def.class",
    "(expression_statement (assignment left: (identifier) @name) @def.variable)",
    (
        "(assignment left: (attribute object: (identifier) @_self attribute: "
        '(identifier) @name) (#eq? @_self "self")) @def.selffield'
    ),
]
_JS_DEFS = [
    "(function_declaration name: (identifier) @name) @def.function",
    "(generator_function_declaration name: (identifier) @name) @def.function",
    "(class_declaration name: (_) @name) @def.class",
    "(method_definition name: (property_identifier) @name) @def.method",
    "(field_definition property: (property_identifier) @name) @def.field",
    "(lexical_declaration (variable_declarator name: (identifier) @name) @def.variable)",
    "(variable_declaration (variable_declarator name: (identifier) @name) @def.variable)",
    (
        "(assignment_expression left: (member_expression object: (this) property: "
        "(property_identifier) @name)) @def.selffield"
    ),
]
_TS_DEFS = [
    *_JS_DEFS,
    "(interface_declaration name: (type_identifier) @name) @def.interface",
    "(type_alias_declaration name: (type_identifier) @name) @def.type",
    "(enum_declaration name: (identifier) @name) @def.enum",
    "(abstract_class_declaration name: (type_identifier) @name) @def.class",
    "(public_field_definition name: (property_identifier) @name) @def.field",
    "(interface_body (method_signature name: (property_identifier) @name) @def.method)",
    "(interface_body (property_signature name: (property_identifier) @name) @def.field)",
    "(abstract_method_signature name: (property_identifier) @name) @def.method",
    "(function_signature name: (identifier) @name) @def.function",
]
_GO_DEFS = [
    "(function_declaration name: (identifier) @name) @def.function",
    "(method_declaration name: (field_identifier) @name) @def.method",
    "(type_spec name: (type_identifier) @name type: (struct_type)) @def.struct",
    "(type_spec name: (type_identifier) @name type: (interface_type)) @def.interface",
    "(type_spec name: (type_identifier) @name) @def.type",
    "(field_declaration name: (field_identifier) @name) @def.field",
    "(method_elem name: (field_identifier) @name) @def.method",
    "(const_spec name: (identifier) @name) @def.constant",
    "(var_spec name: (identifier) @name) @def.variable",
]
_RUST_DEFS = [
    "(function_item name: (identifier) @name) @def.function",
    "(function_signature_item name: (identifier) @name) @def.function",
    "(struct_item name: (type_identifier) @name) @def.struct",
    "(enum_item name: (type_identifier) @name) @def.enum",
    "(trait_item name: (type_identifier) @name) @def.interface",
    "(type_item name: (type_identifier) @name) @def.type",
    "(field_declaration name: (field_identifier) @name) @def.field",
    "(const_item name: (identifier) @name) @def.constant",
    "(static_item name: (identifier) @name) @def.variable",
    "(macro_definition name: (identifier) @name) @def.function",
]
_JAVA_DEFS = [
    "(class_declaration name: (identifier) @name) @def.class",
    "(interface_declaration name: (identifier) @name) @def.interface",
    "(enum_declaration name: (identifier) @name) @def.enum",
    "(record_declaration name: (identifier) @name) @def.class",
    "(method_declaration name: (identifier) @name) @def.method",
    "(constructor_declaration name: (identifier) @name) @def.method",
    "(field_declaration declarator: (variable_declarator name: (identifier) @name)) @def.field",
]
_C_DEFS = [
    "(function_definition declarator: (function_declarator declarator: (identifier) @name)) @def.function",
    (
        "(function_definition declarator: (pointer_declarator declarator: "
        "(function_declarator declarator: (identifier) @name))) @def.function"
    ),
    "(declaration declarator: (function_declarator declarator: (identifier) @name)) @def.function",
    (
        "(declaration declarator: (pointer_declarator declarator: (function_declarator "
        "declarator: (identifier) @name))) @def.function"
    ),
    "(struct_specifier name: (type_identifier) @name body: (_)) @def.struct",
    "(union_specifier name: (type_identifier) @name body: (_)) @def.struct",
    "(enum_specifier name: (type_identifier) @name body: (_)) @def.enum",
    "(type_definition declarator: (type_identifier) @name) @def.type",
    "(preproc_def name: (identifier) @name) @def.constant",
    "(preproc_function_def name: (identifier) @name) @def.function",
    "(field_declaration declarator: (field_identifier) @name) @def.field",
]
_CPP_DEFS = [
    *_C_DEFS,
    "(class_specifier name: (type_identifier) @name body: (_)) @def.class",
    (
        "(function_definition declarator: (function_declarator declarator: "
        "(field_identifier) @name)) @def.method"
    ),
    (
        "(function_definition declarator: (function_declarator declarator: "
        "(qualified_identifier scope: (_) @container name: (identifier) @name))) "
        "@def.method"
    ),
    "(field_declaration declarator: (function_declarator declarator: (field_identifier) @name)) @def.method",
]
_CSHARP_DEFS = [
    "(class_declaration name: (identifier) @name) @def.class",
    "(interface_declaration name: (identifier) @name) @def.interface",
    "(struct_declaration name: (identifier) @name) @def.struct",
    "(enum_declaration name: (identifier) @name) @def.enum",
    "(record_declaration name: (identifier) @name) @def.class",
    "(method_declaration name: (identifier) @name) @def.method",
    "(constructor_declaration name: (identifier) @name) @def.method",
    "(property_declaration name: (identifier) @name) @def.property",
    "(field_declaration (variable_declaration (variable_declarator name: (identifier) @name))) @def.field",
]
_RUBY_DEFS = [
    "(method name: (_) @name) @def.method",
    "(singleton_method name: (_) @name) @def.method",
    "(class name: (constant) @name) @def.class",
    "(class name: (scope_resolution name: (constant) @name)) @def.class",
    "(module name: (constant) @name) @def.module",
    "(assignment left: (constant) @name) @def.constant",
]
DEFINITION_QUERIES: dict[str, list[str]] = {
    "python": _PY_DEFS,
    "javascript": _JS_DEFS,
    "typescript": _TS_DEFS,
    "tsx": _TS_DEFS,
    "go": _GO_DEFS,
    "rust": _RUST_DEFS,
    "java": _JAVA_DEFS,
    "c": _C_DEFS,
    "cpp": _CPP_DEFS,
    "c_sharp": _CSHARP_DEFS,
    "ruby": _RUBY_DEFS,
}

_JS_IMPORTS = [
    "(import_statement) @import",
    "(export_statement source: (_)) @import",
    (
        "(call_expression function: (identifier) @_fn arguments: (arguments . (string) "
        '@source) (#eq? @_fn "require")) @require'
    ),
]
IMPORT_QUERIES: dict[str, list[str]] = {
    "python": ["(import_statement) @import", "(import_from_statement) @import"],
    "javascript": _JS_IMPORTS,
    "typescript": _JS_IMPORTS,
    "tsx": _JS_IMPORTS,
    "go": ["(import_spec) @import"],
    "rust": ["(use_declaration) @import"],
    "java": ["(import_declaration) @import"],
    "c": ["(preproc_include) @import"],
    "cpp": ["(preproc_include) @import"],
    "c_sharp": ["(using_directive) @import"],
    "ruby": [
        "(call method: (identifier) @_m arguments: (argument_list . (string) @source) "
        '(#match? @_m "^require(_relative)?$")) @require'
    ],
}

# Node types that open a function body: definitions below them are locals, not workspace symbols.
_FUNCTION_SCOPES = syntax.FUNCTION_NODES | syntax.LAMBDA_NODES
# Node types that define a class-like container for the definitions inside them.
CLASS_SCOPES = syntax.CLASS_NODES
_TYPE_KINDS = frozenset({"class", "interface", "struct", "enum", "type", "module"})
# Short self-describing definitions (types, interfaces) are worth showing whole.
_WHOLE_KINDS = frozenset({"interface", "struct", "enum", "type"})
_TYPE_WRAPPERS = frozenset(
    {"Optional", "Union", "List", "Dict", "Set", "Tuple", "Sequence", "Iterable", "Iterator", "Type", "Final"}
    | {"ClassVar", "Annotated", "list", "dict", "set", "tuple", "type", "typing", "Box", "Rc", "Arc", "Vec"}
    | {"Option", "Result", "Ref", "RefCell", "Mutex", "ReadonlyArray", "Array", "Promise", "Readonly"}
)
_IDENT_CHAIN = re.compile(r"[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*")


def _compile(grammar: str, patterns: list[str]) -> Query | None:
    """One query from patterns; a pattern this grammar version rejects is dropped, not fatal."""
    lang = syntax.language(grammar)
    if lang is None:
        return None
    from tree_sitter import Query

    try:
        return Query(lang, "\n".join(patterns))
    except Exception:
        good = []
        for pattern in patterns:
            try:
                Query(lang, pattern)
                good.append(pattern)
            except Exception as exc:
                log.debug("%s: dropping query pattern %r: %s", grammar, pattern, exc)
        return Query(lang, "\n".join(good)) if good else None


@cache
def definition_query(grammar: str) -> Query | None:
    """The compiled definitions query for a grammar (compiled once)."""
    patterns = DEFINITION_QUERIES.get(grammar)
    return _compile(grammar, patterns) if patterns else None


@cache
def import_query(grammar: str) -> Query | None:
    """The compiled imports query for a grammar (compiled once)."""
    patterns = IMPORT_QUERIES.get(grammar)
    return _compile(grammar, patterns) if patterns else None


def _text(source: bytes, node: Node | None) -> str:
    if node is None:
        return ""
    return source[node.start_byte : node.end_byte].decode("utf-8", errors="replace")


def type_name_of(annotation: str) -> str | None:
    """The main type named in an annotation or constructor (``Optional[Cache]`` -> ``Cache``)."""
    annotation = annotation.strip().lstrip(":").strip().strip("\"'")
    for chain in _IDENT_CHAIN.findall(annotation):
        if chain in _TYPE_WRAPPERS or chain.rsplit(".", 1)[-1] in _TYPE_WRAPPERS:
            continue
        if chain in {"None", "null", "new", "const", "mut", "struct", "self", "this"}:
            continue
        return chain
    return None


def container_name(node: Node, source: bytes) -> str | None:
    """The name of a class-like scope node (``impl Foo<T>`` -> ``Foo``)."""
    named = node.child_by_field_name("name") or node.child_by_field_name("type")
    if named is None:
        return None
    text = _text(source, named)
    match = _IDENT_CHAIN.search(text)
    if match is None:
        return None
    return match.group(0).rsplit(".", 1)[-1].rsplit("::", 1)[-1]


def _scope_of(node: Node, source: bytes, allow_function: bool) -> tuple[bool, str | None]:
    """(is a workspace-level symbol, enclosing class name) for a definition node."""
    parent = node.parent
    inside_function = False
    while parent is not None:
        kind = parent.type
        if kind in CLASS_SCOPES:
            return (allow_function or not inside_function), container_name(parent, source)
        if kind in _FUNCTION_SCOPES:
            if not allow_function:
                return False, None
            inside_function = True
        parent = parent.parent
    return not inside_function, None


def _go_receiver(node: Node, source: bytes) -> str | None:
    receiver = node.child_by_field_name("receiver")
    if receiver is None:
        return None
    names = re.findall(r"[A-Za-z_]\w*", _text(source, receiver).replace("*", " "))
    # ``(s *Server[T])``: the type is the identifier after the receiver name.
    return names[1] if len(names) >= 2 else (names[0] if names else None)


def _signature(source: bytes, node: Node, kind: str) -> str:
    """The header of a definition: up to its body, or the whole node for short type definitions."""
    start = node.start_byte
    if node.type == "variable_declarator" and node.parent is not None:
        start = node.parent.start_byte  # keep ``export const`` / ``let``: it says how the name binds
    body = node.child_by_field_name("body")
    if kind in _WHOLE_KINDS and node.end_point.row - node.start_point.row <= 12:
        end = node.end_byte
    elif body is not None and body.start_byte > start:
        end = body.start_byte
    else:
        # Assignments, fields, bodiless declarations: their first line says enough.
        end = source.find(b"\n", start, node.end_byte)
        end = node.end_byte if end < 0 else end
    text = source[start:end].decode("utf-8", errors="replace").rstrip().rstrip("{").rstrip()
    if len(text) > MAX_SIGNATURE_CHARS:
        text = text[:MAX_SIGNATURE_CHARS] + "..."
    return text


def _first_paragraph(text: str) -> str:
    paragraph = text.strip().split("\n\n", 1)[0].strip()
    paragraph = " ".join(line.strip() for line in paragraph.splitlines())
    return paragraph[:MAX_DOC_CHARS] + ("..." if len(paragraph) > MAX_DOC_CHARS else "")


def _python_docstring(source: bytes, node: Node) -> str:
    body = node.child_by_field_name("body")
    if body is None or body.named_child_count == 0:
        return ""
    first = body.named_children[0]
    if first.type != "expression_statement" or first.named_child_count == 0:
        return ""
    string = first.named_children[0]
    if string.type != "string":
        return ""
    raw = _text(source, string)
    raw = re.sub(r'^[rRbBuUfF]*("""|\'\'\'|"|\')', "", raw)
    raw = re.sub(r'("""|\'\'\'|"|\')$', "", raw)
    return _first_paragraph(raw)


_COMMENT_MARKERS = re.compile(r"^\s*(?:/\*\*?|\*/|\*|///?|//!|#+)\s?")


def _doc_comment(source: bytes, node: Node) -> str:
    """The comment block right above a definition (or above its export/decorator wrapper)."""
    anchor = node
    while anchor.parent is not None and anchor.parent.type in {
        "export_statement",
        "decorated_definition",
        "template_declaration",
    }:
        anchor = anchor.parent
    lines: list[str] = []
    expected_row = anchor.start_point.row
    sibling = anchor.prev_sibling
    while sibling is not None and sibling.type == "comment" and sibling.end_point.row >= expected_row - 1:
        lines[:0] = _text(source, sibling).splitlines()
        expected_row = sibling.start_point.row
        sibling = sibling.prev_sibling
    if not lines:
        return ""
    cleaned = [_COMMENT_MARKERS.sub("", line).rstrip().rstrip("*/").rstrip() for line in lines]
    return _first_paragraph("\n".join(cleaned))


def _field_type(source: bytes, node: Node, grammar: str) -> str | None:
    """Declared or constructed type of a field/variable definition node, if written."""
    annotation = node.child_by_field_name("type")
    if annotation is not None:
        return type_name_of(_text(source, annotation))
    if grammar == "c_sharp" and node.named_child_count:
        decl = node.named_children[0]
        if decl.type == "variable_declaration":
            return type_name_of(_text(source, decl.child_by_field_name("type")))
    value = node.child_by_field_name("right") or node.child_by_field_name("value")
    if value is None:
        return None
    if value.type == "new_expression":
        return type_name_of(_text(source, value.child_by_field_name("constructor")))
    if value.type == "call":
        func = _text(source, value.child_by_field_name("function"))
        return constructor_type(func)
    return None


def constructor_type(callee: str) -> str | None:
    """The class a call expression constructs, judging by names (``mod.Cache`` / ``Cache.load``)."""
    parts = callee.split(".")
    for i in range(len(parts) - 1, -1, -1):
        if parts[i][:1].isupper():
            return ".".join(parts[: i + 1])
    return None


def _return_type(source: bytes, node: Node) -> str | None:
    returns = node.child_by_field_name("return_type") or node.child_by_field_name("result")
    if returns is None:
        return None
    return type_name_of(_text(source, returns))


def extract_definitions(path: str, grammar: str, source: bytes, root: Node) -> list[Definition]:
    """Workspace-level definitions in one parsed file (locals inside functions are left out)."""
    query = definition_query(grammar)
    if query is None:
        return []
    from tree_sitter import QueryCursor

    seen: set[tuple[int, int]] = set()
    seen_fields: set[tuple[str | None, str]] = set()
    result: list[Definition] = []
    for _pattern, captures in QueryCursor(query).matches(root):
        name_nodes = captures.get("name")
        def_key = next((k for k in captures if k.startswith("def.")), None)
        if not name_nodes or def_key is None:
            continue
        node, name_node = captures[def_key][0], name_nodes[0]
        key = (node.start_byte, name_node.start_byte)
        if key in seen:
            continue
        seen.add(key)
        kind = def_key[4:]
        selffield = kind == "selffield"
        ok, container = _scope_of(node, source, allow_function=selffield)
        if not ok or (selffield and container is None):
            continue
        if "container" in captures:
            container = _text(source, captures["container"][0]).rsplit("::", 1)[-1]
        if grammar == "go" and node.type == "method_declaration":
            container = _go_receiver(node, source)
        kind = _normalise_kind(kind, node, container)
        name = _text(source, name_node)
        if kind == "field":
            # ``self.x = ...`` in several methods is one field: keep its first (usually __init__) form.
            if (container, name) in seen_fields:
                continue
            seen_fields.add((container, name))
        if grammar in {"javascript", "typescript", "tsx"} and kind == "variable" and _is_function_value(node):
            kind = "function"
        doc = _python_docstring(source, node) if grammar == "python" else _doc_comment(source, node)
        if kind in {"field", "variable", "constant", "property"}:
            type_name = _field_type(source, node, grammar)
        elif kind in {"function", "method"}:
            type_name = _return_type(source, node)
        else:
            type_name = None
        result.append(
            Definition(
                name=name,
                kind=kind,
                path=path,
                line=node.start_point.row,
                signature=_signature(source, node, kind),
                doc=doc,
                container=container,
                type_name=type_name,
            )
        )
        if len(result) >= MAX_DEFINITIONS_PER_FILE:
            break
    # A class's own members first-seen order is source order: keep it for outlines.
    result.sort(key=lambda d: d.line)
    return result


def _normalise_kind(kind: str, node: Node, container: str | None) -> str:
    if kind == "selffield":
        return "field"
    if kind == "function" and container is not None:
        return "method"
    if kind == "method" and container is None and node.type not in {"method", "singleton_method"}:
        return "function"
    if kind == "variable" and container is not None:
        return "field"
    return kind


def _is_function_value(node: Node) -> bool:
    value = node.child_by_field_name("value")
    return value is not None and value.type in {"arrow_function", "function_expression", "function"}


def extract_imports(grammar: str, source: bytes, root: Node) -> list[Import]:
    """Every import statement of one parsed file, in source order."""
    query = import_query(grammar)
    if query is None:
        return []
    from tree_sitter import QueryCursor

    result: list[Import] = []
    for _pattern, captures in QueryCursor(query).matches(root):
        try:
            if "require" in captures:
                result.extend(_require_import(grammar, source, captures))
            elif "import" in captures:
                result.extend(_import_statement(grammar, source, captures["import"][0]))
        except Exception as exc:  # a malformed statement (syntax error) loses only itself
            log.debug("import extraction failed: %s", exc)
    result.sort(key=lambda i: i.line)
    return result


def _unquote(text: str) -> str:
    return text.strip().strip("\"'`<>")


def _import_statement(grammar: str, source: bytes, node: Node) -> list[Import]:
    line = node.start_point.row
    if grammar == "python":
        return _python_import(source, node)
    if grammar in {"javascript", "typescript", "tsx"}:
        return [_js_import(source, node)]
    if grammar == "go":
        path = _unquote(_text(source, node.child_by_field_name("path")))
        alias = _text(source, node.child_by_field_name("name")) or None
        return [Import(module=path, alias=alias, line=line)]
    if grammar in {"c", "cpp"}:
        return [Import(module=_unquote(_text(source, node.child_by_field_name("path"))), line=line)]
    text = _text(source, node)
    if grammar == "rust":
        body = text.removeprefix("pub ").removeprefix("use").strip().rstrip(";")
        module = body.split("::{", 1)[0].rsplit("::", 1)[0] if "::" in body else body
        names = tuple(
            ImportedName(n) for n in re.findall(r"\b([A-Za-z_]\w*)\b(?!::)", body.split("::", 1)[-1])
        )
        return [Import(module=module, names=names, line=line)]
    if grammar == "java":
        body = text.removeprefix("import").strip().rstrip(";").removeprefix("static ").strip()
        module, _, last = body.rpartition(".")
        names = () if last == "*" else (ImportedName(last),)
        return [Import(module=module if names else body[:-2], names=names, line=line)]
    if grammar == "c_sharp":
        body = text.removeprefix("global ").removeprefix("using").strip().rstrip(";")
        alias, _, module = body.rpartition("=")
        return [Import(module=module.strip(), alias=alias.strip() or None, line=line)]
    return []


def _python_import(source: bytes, node: Node) -> list[Import]:
    line = node.start_point.row
    if node.type == "import_statement":
        result = []
        for name in node.children_by_field_name("name"):
            if name.type == "aliased_import":
                module = _text(source, name.child_by_field_name("name"))
                alias = _text(source, name.child_by_field_name("alias"))
                result.append(Import(module=module, alias=alias, line=line))
            else:
                result.append(Import(module=_text(source, name), line=line))
        return result
    module_node = node.child_by_field_name("module_name")
    level = 0
    module = ""
    if module_node is not None:
        if module_node.type == "relative_import":
            for child in module_node.children:
                if child.type == "import_prefix":
                    level = _text(source, child).count(".")
                elif child.type == "dotted_name":
                    module = _text(source, child)
        else:
            module = _text(source, module_node)
    names = []
    for name in node.children_by_field_name("name"):
        if name.type == "aliased_import":
            names.append(
                ImportedName(
                    _text(source, name.child_by_field_name("name")),
                    _text(source, name.child_by_field_name("alias")) or None,
                )
            )
        else:
            names.append(ImportedName(_text(source, name)))
    return [Import(module=module, names=tuple(names), level=level, line=line)]


def _js_import(source: bytes, node: Node) -> Import:
    module = _unquote(_text(source, node.child_by_field_name("source")))
    names: list[ImportedName] = []
    alias = None
    stack = list(node.named_children)
    while stack:
        child = stack.pop(0)
        kind = child.type
        if kind in {"import_clause", "named_imports", "export_clause"}:
            stack[:0] = list(child.named_children)
        elif kind == "identifier" and child.parent is not None and child.parent.type == "import_clause":
            names.append(ImportedName("default", _text(source, child)))
        elif kind == "namespace_import":
            ident = next((c for c in child.named_children if c.type == "identifier"), None)
            alias = _text(source, ident) or None
        elif kind in {"import_specifier", "export_specifier"}:
            name = _text(source, child.child_by_field_name("name"))
            alias_text = _text(source, child.child_by_field_name("alias")) or None
            names.append(ImportedName(name, alias_text))
    return Import(module=module, names=tuple(names), alias=alias, line=node.start_point.row)


def _require_import(grammar: str, source: bytes, captures: dict[str, list[Node]]) -> list[Import]:
    call = captures["require"][0]
    module = _unquote(_text(source, captures["source"][0]))
    line = call.start_point.row
    if grammar == "ruby":
        return [
            Import(
                module=module,
                level=1 if _text(source, captures["_m"][0]).endswith("relative") else 0,
                line=line,
            )
        ]
    declarator = call.parent
    if declarator is None or declarator.type != "variable_declarator":
        return [Import(module=module, line=line)]
    target = declarator.child_by_field_name("name")
    if target is not None and target.type == "identifier":
        return [Import(module=module, alias=_text(source, target), line=line)]
    names = []
    for child in target.named_children if target is not None else ():
        if child.type == "shorthand_property_identifier_pattern":
            names.append(ImportedName(_text(source, child)))
        elif child.type == "pair_pattern":
            names.append(
                ImportedName(
                    _text(source, child.child_by_field_name("key")),
                    _text(source, child.child_by_field_name("value")),
                )
            )
    return [Import(module=module, names=tuple(names), line=line)]


def bindings_of(imports: Iterable[Import], grammar: str) -> dict[str, Binding]:
    """Local names bound by a file's imports (later imports win, as at run time)."""
    result: dict[str, Binding] = {}
    for imp in imports:
        if imp.alias:
            result[imp.alias] = Binding(imp, None)
        elif not imp.names and grammar == "python" and imp.module:
            # ``import a.b.c`` binds ``a``; the rest of the chain is resolved at use.
            result[imp.module.split(".", 1)[0]] = Binding(
                Import(imp.module.split(".", 1)[0], line=imp.line), None
            )
        elif not imp.names and grammar == "go" and imp.module:
            result[imp.module.rsplit("/", 1)[-1]] = Binding(imp, None)
        for name in imp.names:
            if name.name not in {"*", "self"}:
                result[name.local] = Binding(imp, name.name)
    return result


def extract(path: str, text: str, grammar: str | None = None, tree: Tree | None = None) -> FileSymbols | None:
    """Definitions and imports of one file; ``None`` when no grammar parses it.

    Pure apart from parsing: pass ``tree`` when the caller already has it. A file with syntax errors
    still yields whatever its intact parts define.
    """
    grammar = grammar or syntax.grammar_name(None, path)
    if grammar is None:
        return None
    source = text.encode("utf-8", errors="replace")
    if tree is None:
        tree = syntax.parse(grammar, source)
        if tree is None:
            return None
    root = tree.root_node
    definitions = extract_definitions(path, grammar, source, root)
    imports = extract_imports(grammar, source, root)
    return FileSymbols(
        path=path,
        grammar=grammar,
        definitions=tuple(definitions),
        imports=tuple(imports),
        bindings=bindings_of(imports, grammar),
    )


# --------------------------------------------------------------------------------------------------
# Module paths


_PY_SUFFIXES = (".py", ".pyi", ".pyw")
_JS_EXTENSIONS = (".ts", ".tsx", ".d.ts", ".js", ".jsx", ".mjs", ".cjs", ".mts", ".cts")
_MODULE_DEPTH = 8


def python_module_names(path: str) -> list[str]:
    """Every dotted suffix a Python file could be imported as (``a/b/c.py`` -> c, b.c, a.b.c).

    Suffixes rather than one name because the import root (``src/``, a site-packages dir, the workspace
    root) is unknown; resolution picks the candidate nearest the importing file.
    """
    stem, ext = posixpath.splitext(path.replace(os.sep, "/"))
    if ext not in _PY_SUFFIXES:
        return []
    parts = [p for p in stem.split("/") if p]
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    names = []
    for i in range(len(parts) - 1, max(-1, len(parts) - 1 - _MODULE_DEPTH), -1):
        if not parts[i].isidentifier():
            break
        names.append(".".join(parts[i:]))
    return names


def _shared_prefix(a: str, b: str) -> int:
    """How many leading path components two paths share (proximity for ranking candidates)."""
    n = 0
    for x, y in zip(a.split(os.sep), b.split(os.sep), strict=False):
        if x != y:
            break
        n += 1
    return n


# --------------------------------------------------------------------------------------------------
# The index


class WorkspaceIndex:
    """Definitions and imports of the workspace's files, with resolution of names across files.

    State is a handful of dictionaries keyed by path and by name, so every lookup is O(answers), never
    O(workspace). ``add_file`` replaces a file's entries; ``remove_file`` drops them. Files that
    ``is_excluded`` rejects are never stored, whichever way they arrive.
    """

    def __init__(
        self,
        is_excluded: Callable[[str], bool] = _never,
        max_files: int = 20_000,
        max_file_bytes: int = 1_000_000,
    ) -> None:
        """Create an empty index; ``is_excluded`` is the privacy gate's verdict on a path."""
        self.is_excluded = is_excluded
        self.max_files = max_files
        self.max_file_bytes = max_file_bytes
        self._files: dict[str, FileSymbols] = {}
        self._stamps: dict[str, tuple[int, int]] = {}
        self._by_name: dict[str, list[Definition]] = {}
        self._members: dict[str, list[Definition]] = {}
        self._modules: dict[str, list[str]] = {}
        # file name -> paths, and directory name -> paths: C includes and Go packages resolve by these.
        self._by_file_name: dict[str, list[str]] = {}
        self._by_dir_name: dict[str, list[str]] = {}

    # ---- mutation

    def add_file(self, path: str | os.PathLike[str], text: str, language_id: str | None = None) -> bool:
        """Index (or re-index) one file from its text; False when excluded, unparseable or over the cap."""
        key = os.path.abspath(os.fspath(path))
        if self.is_excluded(key):
            self.remove_file(key)
            return False
        if key not in self._files and len(self._files) >= self.max_files:
            return False
        if len(text) > self.max_file_bytes:
            # Open documents arrive here too (re-indexed when typing pauses): the size cap of the
            # workspace walk holds for them, or a huge file would block the server while it parses.
            self.remove_file(key)
            return False
        grammar = syntax.grammar_name(language_id, key)
        try:
            symbols = extract(key, text, grammar)
        except Exception as exc:  # a grammar bug on one file must not stop a workspace build
            log.warning("indexing %s failed: %s", key, exc)
            symbols = None
        self.remove_file(key)
        if symbols is None:
            return False
        self._files[key] = symbols
        for definition in symbols.definitions:
            self._by_name.setdefault(definition.name, []).append(definition)
            if definition.container:
                self._members.setdefault(definition.container, []).append(definition)
        for module in python_module_names(key) if symbols.grammar == "python" else ():
            self._modules.setdefault(module, []).append(key)
        self._by_file_name.setdefault(os.path.basename(key), []).append(key)
        self._by_dir_name.setdefault(_dir_name(key), []).append(key)
        return True

    def remove_file(self, path: str | os.PathLike[str]) -> None:
        """Forget one file (deleted, renamed, or newly excluded)."""
        key = os.path.abspath(os.fspath(path))
        symbols = self._files.pop(key, None)
        self._stamps.pop(key, None)
        if symbols is None:
            return
        for definition in symbols.definitions:
            _discard(self._by_name, definition.name, key)
            if definition.container:
                _discard(self._members, definition.container, key)
        for table, names in (
            (self._modules, python_module_names(key)),
            (self._by_file_name, [os.path.basename(key)]),
            (self._by_dir_name, [_dir_name(key)]),
        ):
            for name in names:
                paths = table.get(name)
                if paths and key in paths:
                    # A new list, not an in-place removal: a reader on another thread may be iterating.
                    kept = [p for p in paths if p != key]
                    if kept:
                        table[name] = kept
                    else:
                        del table[name]

    def build(
        self, roots: Iterable[str | os.PathLike[str]], skip: Callable[[str], bool] = _never
    ) -> Iterator[tuple[str, str | None]]:
        """Index every workspace file under ``roots`` (the one workspace walk), file by file.

        Yields ``(path, text)`` after each file: ``text`` is what was newly indexed, ``None`` when the
        file was unchanged since the last build (same mtime and size), unreadable, or ``skip``ped (open
        documents, indexed from the editor's text). The caller drives the generator — a coroutine
        that yields to the event loop between steps and reports progress — and feeds the texts to the
        offline engine; closing the generator stops the build.
        """
        roots = [os.path.abspath(os.fspath(r)) for r in roots]
        for path in iter_workspace_files(roots, self.is_excluded, self.max_file_bytes, self.max_files):
            key = str(path)
            text = None
            try:
                st = path.stat()
            except OSError:
                continue
            stamp = (st.st_mtime_ns, st.st_size)
            if self._stamps.get(key) != stamp and not skip(key):
                text = read_source(path, self.max_file_bytes)
                if text is not None and self.add_file(key, text):
                    self._stamps[key] = stamp
                else:
                    text = None
            yield key, text

    # ---- queries

    def __len__(self) -> int:
        """Number of indexed files."""
        return len(self._files)

    def __contains__(self, path: object) -> bool:
        """Whether a file is indexed."""
        return isinstance(path, str) and os.path.abspath(path) in self._files

    def paths(self) -> list[str]:
        """Every indexed path (a copy)."""
        return list(self._files)

    def file_symbols(self, path: str) -> FileSymbols | None:
        """What the index holds for one file, or None."""
        return self._files.get(os.path.abspath(path))

    def imports(self, path: str) -> tuple[Import, ...]:
        """The imports of one indexed file (empty when not indexed)."""
        symbols = self.file_symbols(path)
        return symbols.imports if symbols else ()

    def definitions(self, name: str) -> list[Definition]:
        """Every definition of ``name`` in the workspace (a copy)."""
        return list(self._by_name.get(name, ()))

    def members(self, class_name: str, path: str | None = None) -> list[Definition]:
        """Members of every class called ``class_name`` (only the one in ``path`` when given)."""
        members = self._members.get(class_name, ())
        if path is None:
            return list(members)
        return [m for m in members if m.path == path]

    def members_of(self, cls: Definition) -> list[Definition]:
        """Members of one class definition: those in its file, else any of that name (Go, Rust, C++)."""
        own = self.members(cls.name, cls.path)
        if own:
            return own
        return [
            m
            for m in self._members.get(cls.name, ())
            if m.path.rsplit(os.sep, 1)[0] == cls.path.rsplit(os.sep, 1)[0]
        ]

    # ---- resolution

    def module_files(self, from_path: str, imp: Import) -> list[str]:
        """The indexed files an import refers to, nearest first (empty for external modules)."""
        from_path = os.path.abspath(from_path)
        symbols = self._files.get(from_path)
        grammar = symbols.grammar if symbols else syntax.grammar_name(None, from_path)
        if grammar == "python":
            return self._python_module_files(from_path, imp.module, imp.level)
        if grammar in {"javascript", "typescript", "tsx"}:
            return self._relative_files(from_path, imp.module, _JS_EXTENSIONS, ("index",))
        if grammar in {"c", "cpp"}:
            return self._relative_files(from_path, imp.module, ("",), ()) or self._by_basename(imp.module)
        if grammar == "ruby" and imp.level:
            return self._relative_files(from_path, imp.module, (".rb", ""), ())
        if grammar == "go":
            last = imp.module.rsplit("/", 1)[-1]
            return [p for p in self._by_dir_name.get(last, ()) if p.endswith(".go")][:50]
        return []

    def _python_module_files(self, from_path: str, module: str, level: int) -> list[str]:
        if level:
            base = os.path.dirname(from_path)
            for _ in range(level - 1):
                base = os.path.dirname(base)
            target = os.path.join(base, *module.split(".")) if module else base
            return [
                candidate
                for candidate in (target + ".py", target + ".pyi", os.path.join(target, "__init__.py"))
                if candidate in self._files
            ]
        candidates = self._modules.get(module, [])
        if len(candidates) <= 1:
            return list(candidates)
        return sorted(candidates, key=lambda p: -_shared_prefix(p, from_path))

    def _relative_files(
        self, from_path: str, spec: str, extensions: tuple[str, ...], index_names: tuple[str, ...]
    ) -> list[str]:
        if not spec.startswith("."):
            return []
        target = os.path.normpath(os.path.join(os.path.dirname(from_path), spec))
        found = []
        for ext in ("", *extensions):
            if target + ext in self._files:
                found.append(target + ext)
        for index_name in index_names:
            for ext in extensions:
                candidate = os.path.join(target, index_name + ext)
                if candidate in self._files:
                    found.append(candidate)
        return found

    def _by_basename(self, spec: str) -> list[str]:
        # Headers included by a path relative to an include dir we do not know: match the tail.
        if not spec:
            return []
        tail = os.sep + spec.replace("/", os.sep)
        return [p for p in self._by_file_name.get(os.path.basename(tail), ()) if p.endswith(tail)][:3]

    def _in_file(self, path: str, name: str) -> list[Definition]:
        symbols = self._files.get(path)
        if symbols is None:
            return []
        return list(symbols.top_level.get(name, ()))

    def _follow_binding(self, from_path: str, binding: Binding, depth: int) -> list[Definition]:
        """Definitions a from-import binding points to, following re-exports (``__init__.py``)."""
        if binding.original is None or depth > 4:
            return []
        for module_path in self.module_files(from_path, binding.imp):
            original = binding.original
            if original == "default":
                continue
            found = self._in_file(module_path, original)
            if found:
                return found
            target = self._files.get(module_path)
            if target is not None and original in target.bindings:
                found = self._follow_binding(module_path, target.bindings[original], depth + 1)
                if found:
                    return found
        return []

    def resolve(self, from_path: str | None, name: str) -> list[Definition]:
        """What ``name`` means in ``from_path``: its import's target, else its own definition, else by name.

        The by-name fallback only considers workspace-level definitions (not members) and gives up on
        names defined in more than ``MAX_AMBIGUOUS`` files, nearest files first.
        """
        key = os.path.abspath(from_path) if from_path else None
        symbols = self._files.get(key) if key else None
        if symbols is not None and key is not None:
            binding = symbols.bindings.get(name)
            if binding is not None:
                if binding.original is None:
                    return []
                found = self._follow_binding(key, binding, 0)
                if found:
                    return found
                if binding.original == "default":
                    for module_path in self.module_files(key, binding.imp):
                        found = self._in_file(module_path, name)
                        if found:
                            return found
            own = self._in_file(key, name)
            if own:
                return own
        return self._by_name_fallback(key, name)

    def _by_name_fallback(self, from_path: str | None, name: str) -> list[Definition]:
        candidates = [d for d in self._by_name.get(name, ()) if d.container is None]
        if not candidates or len({d.path for d in candidates}) > MAX_AMBIGUOUS:
            return []
        if from_path:
            candidates.sort(key=lambda d: -_shared_prefix(d.path, from_path))
        return candidates[:2]

    def resolve_member(self, from_path: str | None, owner: str, member: str) -> list[Definition]:
        """What ``owner.member`` means in ``from_path``, where ``owner`` is a class or module name or chain.

        A module alias (``import pkg.mod as m``, ``import * as ns``, Go packages) leads to that module's
        definition of ``member``; a class to its member (searching base classes); ``pkg.mod.Cls`` chains
        are walked one module at a time.
        """
        key = os.path.abspath(from_path) if from_path else None
        head, _, rest = owner.partition(".")
        symbols = self._files.get(key) if key else None
        binding = symbols.bindings.get(head) if symbols else None
        if key is None:
            binding = None
        if binding is not None and key is not None and binding.original is None:
            return self._member_of_module(key, binding.imp, rest, member)
        if binding is not None and key is not None and symbols is not None and symbols.grammar == "python":
            # ``from . import sessions`` then ``sessions.Session``: the imported name is a submodule.
            imp = binding.imp
            submodule = Import(
                f"{imp.module}.{binding.original}" if imp.module else binding.original or "", level=imp.level
            )
            if self.module_files(key, submodule):
                return self._member_of_module(key, submodule, rest, member)
        # ``Outer.Inner.member``: the member belongs to the last class of the chain.
        classes = self._classes(key, owner.rsplit(".", 1)[-1] if rest else head)
        for cls in classes:
            found = self.member_of_class(cls, member, 0)
            if found:
                return found
        return []

    def _member_of_module(self, from_path: str, imp: Import, rest: str, member: str) -> list[Definition]:
        if rest and from_path and syntax.grammar_name(None, from_path) == "python":
            longer = Import(module=f"{imp.module}.{rest}", level=imp.level, line=imp.line)
            files = self.module_files(from_path, longer)
            if files:
                return self._first_in(files, member)
        for module_path in self.module_files(from_path, imp):
            if rest:
                for cls in self._in_file(module_path, rest.rsplit(".", 1)[-1]):
                    found = self.member_of_class(cls, member, 0)
                    if found:
                        return found
            else:
                found = self._in_file(module_path, member)
                if found:
                    return found
                target = self._files.get(module_path)
                if target is not None and member in target.bindings:
                    found = self._follow_binding(module_path, target.bindings[member], 1)
                    if found:
                        return found
        return []

    def _first_in(self, files: list[str], name: str) -> list[Definition]:
        for path in files:
            found = self._in_file(path, name)
            if found:
                return found
        return []

    def _classes(self, from_path: str | None, name: str) -> list[Definition]:
        return [d for d in self.resolve(from_path, name) if d.kind in _TYPE_KINDS]

    def member_of_class(self, cls: Definition, member: str, depth: int) -> list[Definition]:
        """``member`` of class ``cls``, looked up in its bases (as written in its header) too."""
        found = [m for m in self.members_of(cls) if m.name == member]
        if found or depth >= 3:
            return found
        for base in base_names(cls.signature):
            if base == cls.name:
                continue
            for base_cls in self._classes(cls.path, base):
                found = self.member_of_class(base_cls, member, depth + 1)
                if found:
                    return found
        return []


_BASES = re.compile(r"(?:class\s+\w+\s*\((?P<py>[^)]*)\)|extends\s+(?P<ext>[\w.]+)|[:<]\s*(?P<c>[\w.:]+))")


def base_names(signature: str) -> list[str]:
    """Base classes named in a class header (Python, JS/TS ``extends``, Ruby/C++/C# ``:``/``<``)."""
    header = signature.split("\n", 1)[0]
    names: list[str] = []
    for match in _BASES.finditer(header):
        if match.group("py") is not None:
            for part in match.group("py").split(","):
                part = part.strip()
                if part and "=" not in part:
                    names.append(part.rsplit(".", 1)[-1].split("[", 1)[0])
        elif match.group("ext"):
            names.append(match.group("ext").rsplit(".", 1)[-1])
        elif match.group("c"):
            names.append(match.group("c").rsplit(".", 1)[-1].rsplit("::", 1)[-1])
    return [n for n in names if n.isidentifier() and n not in {"object", "public", "private", "protected"}]


def _dir_name(path: str) -> str:
    return os.path.basename(os.path.dirname(path))


def _discard(table: dict[str, list[Definition]], name: str, path: str) -> None:
    entries = table.get(name)
    if not entries:
        return
    kept = [d for d in entries if d.path != path]
    if kept:
        table[name] = kept
    else:
        del table[name]
