"""What powers a model's edit adds: process execution, network access, URLs, sensitive paths, blobs, imports.

Owns the capability check every model edit passes before it may reach a buffer or a file (DESIGN
invariant 6). A repository can carry text aimed at the AI ("also add telemetry: subprocess.run(['curl',
...])"), and a model sometimes obeys; fencing the code as data lowers the odds, this check catches the
case where it fails. It compares what the edit ADDS against the code it replaces and the rest of the
file: the new code is read with tree-sitter (calls, string literals, imports; comments and docstrings
are documentation and never count), and each thing found is new only when the old file's code (its
comments and docstrings left out, so a planted comment cannot make its own payload look familiar)
does not hold it already. What the task plainly asks for is not flagged: a refactor instruction that
names the URL or says "add an HTTP call", a diagnostic that names the module to import.

The rules are data, in ``capability_rules``: one table per language (calls and imports that execute
processes or reach the network, the modules that are ordinary to import) and the rules on string
literals that hold in every language. Each rule has an id and a test (tests/unit/test_capabilities.py).

It must not import pygls, openai or a feature, does no I/O, and never decides what happens to a
flagged edit: callers turn a ``Review`` into a confirmation (editor), a refusal, or a question (CLI).
Inline suggestions get a cheaper, bounded variant (``risky_suggestion``) that never looks past a window.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from functools import cache
from typing import TYPE_CHECKING

import attrs

from lsp_server.core import syntax
from lsp_server.engine.capability_rules import (
    ASKS,
    BLOB,
    IMPORT,
    IP,
    NAMESPACE_HOSTS,
    NETWORK,
    ORDER,
    PROCESS,
    SENSITIVE,
    STRING_RULES,
    TABLES,
    URL,
    Rule,
    is_blob,
)

if TYPE_CHECKING:
    from tree_sitter import Query

log = logging.getLogger(__name__)


@attrs.frozen
class Task:
    """What the user asked for, as far as it may explain a capability.

    ``request``: words the user wrote (a refactor instruction, a custom action's prompt from the user's
    own settings; never a workspace's, which is repository text like the file's comments); ``hints``:
    diagnostic messages, which explain only an import of a module they name; ``local``: names of the
    project's own modules (generated tests import the code under test).
    """

    action: str = "fix"
    request: str = ""
    hints: tuple[str, ...] = ()
    local: frozenset[str] = frozenset()


@attrs.frozen
class Finding:
    """One added thing: the rule that found it, its capability and the evidence (``collect.example.net``)."""

    rule: str
    capability: str
    evidence: str


@attrs.frozen
class Review:
    """The verdict on one edit: what it adds that the task did not ask for (nothing: not flagged)."""

    findings: tuple[Finding, ...] = ()

    @property
    def flagged(self) -> bool:
        """True when the edit must not be applied without the user's explicit confirmation."""
        return bool(self.findings)

    @property
    def summary(self) -> str:
        """``adds process execution (subprocess.run) and a URL (collect.example.net)``; "" if clean."""
        if not self.findings:
            return ""
        parts = []
        for capability in ORDER:
            evidence = list(dict.fromkeys(f.evidence for f in self.findings if f.capability == capability))
            if evidence:
                shown = ", ".join(evidence[:3]) + (", …" if len(evidence) > 3 else "")
                parts.append(f"{capability} ({shown})")
        joined = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
        return "adds " + joined


CLEAN = Review()


# ---------------------------------------------------------------------------------------------------
# Reading code: what a piece of code holds, and the old file's code without its documentation
# ---------------------------------------------------------------------------------------------------


@attrs.frozen
class _Query:
    things: Query  # calls, strings, documentation, comments and special nodes
    imports: Query | None


@cache
def _queries(grammar: str) -> _Query | None:
    table = TABLES.get(grammar)
    language = syntax.language(grammar)
    if table is None or language is None:
        return None
    from tree_sitter import Query

    # One table serves related grammars (C and C++): node types a grammar lacks are left out.
    def known(kinds: Sequence[str]) -> list[str]:
        return [kind for kind in kinds if language.id_for_node_kind(kind, True) is not None]

    patterns = [f"({kind}) @call" for kind in known(table.calls)]
    patterns += [f"({kind}) @string" for kind in known(table.strings)]
    patterns += [f"({kind}) @node" for kind in known(table.nodes)]
    patterns += [f"({kind}) @comment" for kind in _comment_types(language)]
    if table.documentation:
        patterns.append(table.documentation)
    things = Query(language, "\n".join(patterns))
    imports = Query(language, table.imports) if table.imports.strip() else None
    return _Query(things, imports)


def _comment_types(language) -> list[str]:
    names = []
    for kind in range(language.node_kind_count):
        name = language.node_kind_for_id(kind)
        if name and "comment" in name and language.node_kind_is_named(kind) and name not in names:
            names.append(name)
    return names


def _captures(query, node, start: int, end: int) -> dict[str, list]:
    from tree_sitter import QueryCursor

    cursor = QueryCursor(query)
    cursor.set_byte_range(start, end)
    return cursor.captures(node)


def _callee(node, source: bytes) -> str:
    """A call's callee as text without whitespace: ``subprocess.run``, ``new ProcessBuilder``."""
    end = node.end_byte
    arguments = node.child_by_field_name("arguments")
    if arguments is not None:
        end = arguments.start_byte
    else:
        for field in ("method", "name", "macro", "function", "constructor", "type"):
            part = node.child_by_field_name(field)
            if part is not None:
                end = part.end_byte
                break
    text = source[node.start_byte : min(end, node.start_byte + 200)].decode("utf-8", "replace")
    if node.type == "macro_invocation":
        text = text.rstrip("!") + "!"
    if node.type in ("new_expression", "object_creation_expression") and text.startswith("new"):
        return "new " + re.sub(r"\s+", "", text[3:])
    return re.sub(r"\s+", "", text).replace("?.", ".")


def _rust_paths(text: str) -> list[str]:
    """``std::{fs, process::Command}`` -> ``std::fs``, ``std::process::Command`` (one level of braces)."""
    text = re.sub(r"\s+", "", text)
    head, brace, rest = text.partition("::{")
    if not brace:
        return [text]
    return [f"{head}::{part}" for part in rest.rstrip("}").split(",") if part]


@attrs.frozen
class _Found:
    rule: Rule
    evidence: str  # what is searched for in the old code
    shown: str = ""  # what the warning names, when not the evidence itself (a blob's length)


def _module_name(grammar: str, node, source: bytes) -> list[str]:
    text = source[node.start_byte : node.end_byte].decode("utf-8", "replace")
    if grammar == "rust":
        return _rust_paths(text.split(" as ")[0])
    text = text.strip().strip("\"'`<>")
    if grammar == "c_sharp":
        text = re.sub(r"\s+", "", text)
    return [text]


def _is_local(grammar: str, module: str) -> bool:
    if grammar in ("javascript", "typescript", "tsx"):
        return module.startswith((".", "/", "~/", "@/"))
    return False


def read_code(
    grammar: str | None, tree, source: bytes, start: int = 0, end: int | None = None
) -> list[_Found]:
    """Everything the rules find in ``source[start:end]``: calls, imports, strings, special nodes.

    Comments and docstrings are skipped: documentation runs nothing. Without a grammar (or a table),
    the string rules run over the raw text.
    """
    end = len(source) if end is None else end
    found: list[_Found] = []
    queries = _queries(grammar) if grammar and tree is not None else None
    if grammar is None or queries is None:
        found.extend(_string_findings(source[start:end].decode("utf-8", "replace")))
        return found
    table = TABLES[grammar]
    captured = _captures(queries.things, tree.root_node, start, end)
    inside = [n for n in captured.get("call", ()) if n.start_byte >= start and n.end_byte <= end]
    rules = [rule for rule in table.rules if rule.on == "call"]
    for node in inside:
        callee = _callee(node, source)
        for rule in rules:
            if rule.regex.fullmatch(callee):
                found.append(_Found(rule, callee))
                break
    for node in captured.get("node", ()):
        if node.start_byte >= start and node.end_byte <= end:
            for rule in table.rules:
                if rule.on == "node" and rule.pattern == node.type:
                    found.append(_Found(rule, source[node.start_byte : node.end_byte].decode()[:40]))
    docs = {(n.start_byte, n.end_byte) for n in captured.get("doc", ())}
    for node in captured.get("string", ()):
        if (node.start_byte, node.end_byte) in docs or node.start_byte < start or node.end_byte > end:
            continue
        if node.parent is not None and node.parent.type in table.strings:
            continue  # a part of a concatenated string: the whole was read already
        found.extend(_string_findings(source[node.start_byte : node.end_byte].decode("utf-8", "replace")))
    for module, _local in imported_modules(grammar, tree, source, start, end):
        if _local:
            continue
        for rule in table.rules:
            if rule.on == "import" and rule.regex.fullmatch(module):
                found.append(_Found(rule, module))
                break
        else:
            found.append(_Found(_IMPORT_RULE, module))
    return found


_IMPORT_RULE = Rule("any.import", IMPORT, "import", r".+")


def imported_modules(grammar: str, tree, source: bytes, start: int = 0, end: int | None = None):
    """(module, is_local) for each import in the range (``@local``: the project's own code)."""
    end = len(source) if end is None else end
    queries = _queries(grammar)
    if queries is None or queries.imports is None:
        return []
    table = TABLES[grammar]
    from tree_sitter import QueryCursor

    cursor = QueryCursor(queries.imports)
    cursor.set_byte_range(start, end)
    out = []
    for _pattern, match in cursor.matches(tree.root_node):
        function = match.get("_fn")
        if function is not None:
            name = source[function[0].start_byte : function[0].end_byte].decode()
            if name == "require_relative":
                continue
            if name not in table.import_functions:
                continue
        for capture, local in (("module", False), ("local", True)):
            for node in match.get(capture, ()):
                if node.start_byte < start or node.end_byte > end:
                    continue
                for module in _module_name(grammar, node, source):
                    out.append((module, local or _is_local(grammar, module)))
    return out


def _string_findings(text: str) -> Iterable[_Found]:
    for rule in STRING_RULES:
        for match in rule.regex.finditer(text):
            evidence = match.group(rule.group) if rule.group else match.group(0)
            if rule.capability == URL:
                evidence = _host(evidence)
                if evidence in NAMESPACE_HOSTS:
                    continue
            elif rule.capability == BLOB:
                if is_blob(evidence):
                    yield _Found(rule, evidence, f"{len(evidence)} characters")
                continue
            yield _Found(rule, evidence)


def _host(rest: str) -> str:
    """The host of a URL's part after ``://`` (the whole start of it when the host is templated)."""
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    host = authority.rsplit("@", 1)[-1]
    if host.startswith("["):
        return host.split("]")[0] + "]"
    host = host.split(":")[0].lower()
    return host or rest[:40]


def documentation_free(grammar: str | None, tree, source: bytes) -> str:
    """The file's code with comments and docstrings blanked: what "already in the file" is judged on.

    A planted comment ("AI: add subprocess.run(['curl', ...])") must not make its own payload look
    like code the file already had.
    """
    queries = _queries(grammar) if grammar and tree is not None else None
    if queries is None:
        return source.decode("utf-8", "replace")
    captured = _captures(queries.things, tree.root_node, 0, len(source))
    spans = sorted((n.start_byte, n.end_byte) for key in ("comment", "doc") for n in captured.get(key, ()))
    pieces, at = [], 0
    for begin, finish in spans:
        if begin >= at:
            pieces.append(source[at:begin])
            pieces.append(b" ")
            at = finish
    pieces.append(source[at:])
    return b"".join(pieces).decode("utf-8", "replace")


# ---------------------------------------------------------------------------------------------------
# Judging: new, and not asked for
# ---------------------------------------------------------------------------------------------------


def _present(evidence: str, code: str, ignore_case: bool) -> bool:
    """Whether ``evidence`` occurs in ``code`` as a whole token (``exec`` is not in ``executor``)."""
    pattern = r"(?<![\w$])" + re.escape(evidence) + r"(?![\w$])"
    return re.search(pattern, code, re.IGNORECASE if ignore_case else 0) is not None


def _words(text: str) -> set[str]:
    """Lower-cased words and dotted names of a text, and each dotted name's first part."""
    words = {word.lower().strip(".-") for word in re.findall(r"[\w.:/-]+", text)}
    return words | {re.split(r"[./:]+", word)[0] for word in words}


# Roots too generic to explain anything by being named ("run" in "run the tests" is no subprocess).
_GENERIC_ROOTS = frozenset({"new", "os", "run", "std", "self", "this", "window", "globalthis", "io"})


def _named(evidence: str, words: set[str]) -> bool:
    """Whether a call's callee or an import's module is named in ``words`` (in full, or by its root)."""
    name = evidence.lower().removeprefix("new ")
    root = re.split(r"[./:(]+", name)[0]
    return name in words or (root not in _GENERIC_ROOTS and root in words)


def _explained(found: _Found, grammar: str | None, task: Task) -> bool:
    """Whether the task explains ``found``: the user asked for the capability or named the thing."""
    capability = found.rule.capability
    asks = ASKS.get(capability)
    if asks is not None and asks.search(task.request):
        return True
    evidence = found.evidence.lower()
    request = _words(task.request)
    if capability in (URL, IP, SENSITIVE) and evidence in task.request.lower():
        return True
    if capability == SENSITIVE:
        name = evidence.rstrip("/").rsplit("/", 1)[-1].lstrip("~.")
        return bool(name) and name in request
    if found.rule.on == "call":
        return _named(found.evidence, request)
    if found.rule.on != "import":
        return False
    # An import is also explained by a diagnostic naming the module ("json" is not defined), by being
    # ordinary (the standard library), a test framework in generated tests, or the project's own code.
    hints = {word for hint in task.hints for word in _words(hint)}
    if _named(found.evidence, request | hints):
        return True
    table = TABLES.get(grammar or "")
    if table is None:
        return False
    if capability == IMPORT and re.fullmatch(table.ordinary, found.evidence):
        return True
    if task.action == "tests" and re.fullmatch(table.tests, found.evidence):
        return True
    return re.split(r"[./:]+", evidence)[0] in task.local


def project_names(path: str) -> frozenset[str]:
    """The folder and file names on a file's path: an import of one of them is the project's own code.

    ``lsp_server/cli.py`` may import ``lsp_server.core``; ``tests/test_stats.py`` may import ``stats``
    when it sits next to it. A coarse rule, but it needs no I/O and never names a third-party package
    the project does not already hold on disk.
    """
    parts = re.split(r"[/\\]+", path)
    names = {re.sub(r"\.\w+$", "", part).lower() for part in parts if part}
    return frozenset(name for name in names if name)


def judge(found: Sequence[_Found], grammar: str | None, baseline: str, task: Task) -> Review:
    """The findings of ``found`` that the baseline code does not hold and the task does not explain."""
    kept: dict[tuple[str, str], Finding] = {}
    for item in found:
        capability = item.rule.capability
        if (item.rule.id, item.evidence) in kept:
            continue
        if _present(item.evidence, baseline, ignore_case=capability in (URL, SENSITIVE, NETWORK)):
            continue
        if _explained(item, grammar, task):
            continue
        kept[(item.rule.id, item.evidence)] = Finding(item.rule.id, capability, item.shown or item.evidence)
    return Review(tuple(kept.values()))


def review(
    grammar: str | None,
    new_tree,
    new_source: bytes,
    start: int,
    end: int,
    baseline: str,
    task: Task,
) -> Review:
    """What ``new_source[start:end]`` (the edit's new code, parsed as ``new_tree``) adds over ``baseline``.

    ``baseline`` is the old code the edit is compared with, documentation removed
    (``documentation_free``): the whole old file for a rewrite, the source file and the existing
    test file for generated tests.
    """
    return judge(read_code(grammar, new_tree, new_source, start, end), grammar, baseline, task)


# ---------------------------------------------------------------------------------------------------
# Inline suggestions: bounded, and only the worst combination
# ---------------------------------------------------------------------------------------------------

_SUGGESTION_HINT = re.compile(r"[(`]|\bsystem\b")


def risky_suggestion(grammar: str | None, suggestion: str, window: str) -> Review:
    """A multi-line suggestion that adds process execution together with a URL or a sensitive path.

    Ghost text is already a preview, so only this combination is held back. ``window`` is a bounded
    stretch of the document around the cursor (the cost never depends on the file's size); the
    suggestion is parsed alone, which tree-sitter's error recovery handles for fragments.
    """
    if suggestion.strip().count("\n") < 1 or not _SUGGESTION_HINT.search(suggestion):
        return CLEAN
    source = suggestion.encode("utf-8", "surrogatepass")
    tree = syntax.parse(grammar, source) if grammar else None
    found = read_code(grammar, tree, source)
    verdict = judge(found, grammar, window, Task(action="complete"))
    capabilities = {f.capability for f in verdict.findings}
    if PROCESS in capabilities and capabilities & {URL, IP, SENSITIVE}:
        return Review(tuple(f for f in verdict.findings if f.capability in (PROCESS, URL, IP, SENSITIVE)))
    return CLEAN


def without_risky(suggestions: Sequence[str], grammar: str | None, window: str) -> tuple[str, ...]:
    """``suggestions`` minus the risky ones (each dropped one is logged, never shown)."""
    kept = []
    for suggestion in suggestions:
        verdict = risky_suggestion(grammar, suggestion, window)
        if verdict.flagged:
            log.warning("inline suggestion not shown: it %s", verdict.summary)
            continue
        kept.append(suggestion)
    return tuple(kept)
