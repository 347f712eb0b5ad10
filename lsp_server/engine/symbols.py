"""What one source file defines and imports, read with tree-sitter queries.

Owns the per-file facts the index is built from: definitions (functions, classes, methods, fields,
module-level names, with signature line(s), doc and enclosing class) and imports (module, names,
aliases), for every grammar the server ships. Pure: text in, records out; no walking, no I/O, no
knowledge of other files (``index.py`` resolves names across files).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from functools import cache
from typing import TYPE_CHECKING

import attrs

from lsp_server.core import loop_steps, syntax

if TYPE_CHECKING:
    from tree_sitter import Node, Query, Tree

log = logging.getLogger(__name__)

MAX_SIGNATURE_CHARS = 400
MAX_DOC_CHARS = 300
MAX_DEFINITIONS_PER_FILE = 3000
# A name defined in more files than this is too ambiguous for by-name resolution (``get``, ``run``...).


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


_PY_DEFS = [
    "(function_definition name: (identifier) @name) @def.function",
    "(class_definition name: (identifier) @name) @def.class",
    "(expression_statement (assignment left: (identifier) @name) @def.variable)",
    (
        "(assignment left: (attribute object: (identifier) @_self attribute: "
        '(identifier) @name) (#eq? @_self "self")) @def.selffield'
    ),
]
# JavaScript's and TypeScript's grammars share these; a class field is ``field_definition`` in one
# and ``public_field_definition`` in the other.
_ECMASCRIPT_DEFS = [
    "(function_declaration name: (identifier) @name) @def.function",
    "(generator_function_declaration name: (identifier) @name) @def.function",
    "(class_declaration name: (_) @name) @def.class",
    "(method_definition name: (property_identifier) @name) @def.method",
    "(lexical_declaration (variable_declarator name: (identifier) @name) @def.variable)",
    "(variable_declaration (variable_declarator name: (identifier) @name) @def.variable)",
    (
        "(assignment_expression left: (member_expression object: (this) property: "
        "(property_identifier) @name)) @def.selffield"
    ),
]
_JS_DEFS = [
    *_ECMASCRIPT_DEFS,
    "(field_definition property: (property_identifier) @name) @def.field",
]
_TS_DEFS = [
    *_ECMASCRIPT_DEFS,
    "(interface_declaration name: (type_identifier) @name) @def.interface",
    "(type_alias_declaration name: (type_identifier) @name) @def.type",
    "(enum_declaration name: (identifier) @name) @def.enum",
    "(abstract_class_declaration name: (type_identifier) @name) @def.class",
    "(public_field_definition name: (property_identifier) @name) @def.field",
    "(interface_body (method_signature name: (property_identifier) @name) @def.method)",
    "(interface_body (property_signature name: (property_identifier) @name) @def.field)",
    "(abstract_method_signature name: (property_identifier) @name) @def.method",
    "(function_signature name: (identifier) @name) @def.function",
    # ``constructor(private readonly client: HttpClient)``: a parameter property is a field of the class.
    "(required_parameter (accessibility_modifier) pattern: (identifier) @name) @def.selffield",
    "(optional_parameter (accessibility_modifier) pattern: (identifier) @name) @def.selffield",
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
TYPE_KINDS = frozenset({"class", "interface", "struct", "enum", "type", "module"})
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


# Grammars whose whole definitions query takes long to compile: tree-sitter compiles it in one C call
# that holds the interpreter lock, so the event loop's requests wait. tree-sitter-cpp's took 68 ms here
# (the first C++ file of a workspace); in 3 queries of every third pattern, at most 28 ms each, for
# two more passes over each C++ file's tree. The rest compile whole in 13 ms or less.
QUERY_SPLITS = {"cpp": 3}


@cache
def definition_queries(grammar: str) -> tuple[Query, ...]:
    """The compiled definitions queries for a grammar (compiled once): one, or ``QUERY_SPLITS`` of them."""
    patterns = DEFINITION_QUERIES.get(grammar)
    if not patterns:
        return ()
    splits = QUERY_SPLITS.get(grammar, 1)
    queries = []
    for k in range(splits):
        if k:
            loop_steps.give_way()  # between two long C calls: a request the loop started finishes
        loop_steps.wait_while_stepping()
        query = _compile(grammar, patterns[k::splits])
        if query is not None:
            queries.append(query)
    return tuple(queries)


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
    if value.type == "identifier":
        # ``self.store = store`` / ``this.store = store``: the parameter's annotation types the field.
        written = _parameter_annotation(source, node, _text(source, value))
        return type_name_of(written) if written else None
    if value.type in {"call", "call_expression"}:
        func_node = value.child_by_field_name("function")
        func = _text(source, func_node)
        found = constructor_type(func)
        if found is None and func_node is not None and func_node.type == "identifier":
            # ``self.protocol = protocol_cls(...)`` with ``protocol_cls: type[Protocol] = Protocol``.
            written = _parameter_annotation(source, node, func, classes_only=True)
            if written:
                return type_name_of(written)
        if found is None and _CALLEE.fullmatch(func):
            # ``self.index = self._new_index()``, ``console = get_console()``: the callee's return
            # annotation, which the context builder looks up (it may live in another file).
            return func + "()"
        return found
    return None


_CALLEE = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*){0,3}")
_CLASS_ANNOTATION = re.compile(r"^(?:typing\.)?(?:Type|type)\[")


def _parameter_annotation(source: bytes, node: Node, name: str, classes_only: bool = False) -> str | None:
    """The annotation of parameter ``name`` of the function holding ``node`` (its default's class if none).

    ``classes_only``: the parameter is called, so only a class-valued one says what the call makes
    (``type[P]``, or an unannotated default ``= P``).
    """
    function = node.parent
    while function is not None and function.type not in _FUNCTION_SCOPES:
        function = function.parent
    params = function.child_by_field_name("parameters") if function is not None else None
    if params is None:
        return None
    for param in params.named_children:
        ident = param.child_by_field_name("name") or param.child_by_field_name("pattern")
        if ident is None and param.named_child_count and param.named_children[0].type == "identifier":
            ident = param.named_children[0]  # Python's ``typed_parameter`` names no field
        if ident is None or _text(source, ident) != name:
            continue
        annotation = _text(source, param.child_by_field_name("type")).lstrip(":").strip()
        default = _text(source, param.child_by_field_name("value")).strip()
        if classes_only:
            if annotation and _CLASS_ANNOTATION.match(annotation):
                return annotation
            if not annotation and default[:1].isupper() and default.isidentifier():
                return default
            return None
        return annotation or None
    return None


def constructor_type(callee: str) -> str | None:
    """The class a call expression constructs, judging by names (``mod.Cache`` / ``_Cache.load``)."""
    parts = callee.split(".")
    for i in range(len(parts) - 1, -1, -1):
        if parts[i].lstrip("_")[:1].isupper():
            return ".".join(parts[: i + 1])
    return None


def _return_type(source: bytes, node: Node) -> str | None:
    returns = node.child_by_field_name("return_type") or node.child_by_field_name("result")
    if returns is None:
        return None
    return type_name_of(_text(source, returns))


# Off the main thread, a tree of this many bytes or more is matched a range of bytes at a time: a
# query's ``matches`` over a whole tree is one C call that keeps the interpreter lock (37-41 ms for
# C++ headers of /usr/include, the event loop's requests waiting behind it). Ranges of 16 kB made
# the standard library's extraction 4-5 % slower; of 32 kB, no slower.
CHUNKED_MATCH_BYTES = 64 * 1024
_MATCH_RANGE_BYTES = 32 * 1024


def _definition_matches(queries: tuple[Query, ...], root: Node, size: int) -> list[tuple[int, dict]]:
    """Every query's matches under ``root``: one query's in its own order, several merged in source order.

    A match met in two ranges comes twice (``extract_definitions`` keeps the first); matched in ranges,
    the definitions are the whole tree's (3,295 files of the standard library and /usr/include).
    """
    from tree_sitter import QueryCursor

    whole = size < CHUNKED_MATCH_BYTES or threading.current_thread() is threading.main_thread()
    matches: list[tuple[int, dict]] = []
    for query in queries:
        cursor = QueryCursor(query)
        if whole:
            matches.extend(cursor.matches(root))
            continue
        for start in range(0, size, _MATCH_RANGE_BYTES):
            loop_steps.wait_while_stepping()
            cursor.set_byte_range(start, min(start + _MATCH_RANGE_BYTES, size))
            matches.extend(cursor.matches(root))
    if len(queries) > 1:  # merged in source order, as one query's would be
        matches.sort(key=lambda match: min(nodes[0].start_byte for nodes in match[1].values()))
    return matches


def extract_definitions(path: str, grammar: str, source: bytes, root: Node) -> list[Definition]:
    """Workspace-level definitions in one parsed file (locals inside functions are left out)."""
    queries = definition_queries(grammar)
    if not queries:
        return []
    matches = _definition_matches(queries, root, len(source))
    seen: set[tuple[int, int]] = set()
    # (class, field) -> its position in ``result``: the first form is kept, typed by a later one if need be.
    seen_fields: dict[tuple[str | None, str], int] = {}
    result: list[Definition] = []
    for _pattern, captures in matches:
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
            first = seen_fields.get((container, name))
            if first is not None:
                # ``private client;`` then ``this.client = client`` (typed by its parameter).
                if result[first].type_name is None:
                    later = _field_type(source, node, grammar)
                    if later:
                        result[first] = attrs.evolve(result[first], type_name=later)
                continue
            seen_fields[(container, name)] = len(result)
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
