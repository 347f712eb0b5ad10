"""The rewrite engine shared by code actions and commands: scope -> prompt -> answer -> safe, minimal edits.

Owns what both features need to turn "fix / simplify / document / annotate / test / explain this" into
an edit the user may apply: finding the scope (the selection, else the enclosing function, class or
top-level block found with tree-sitter, else the surrounding lines for files without a grammar), the
chat prompt (instructions only in the system message; the code fenced as data under a per-request
nonce, secrets redacted, invisible characters stripped), reading the model's answer, and the safety
checks an answer must pass before it becomes an edit (DESIGN invariants 5 and 6): a complete answer
(``finish_reason == "stop"``), exactly one fenced code block, not huge, no invisible characters, no
code echoed from outside the scope, no new syntax errors. Accepted code is re-indented to the scope
and turned into minimal ``TextEdit``s that lie inside the scope by construction. Every answer's code
is then reviewed for the powers it adds (``capabilities``: process execution, network access, new
URLs, sensitive paths, blobs, unexplained imports); a flagged edit needs the user's confirmation.

It also owns the plain result types the features hand to the adapter (``ProposedEdit``) and the list of
sensitive paths whose edits need the user's confirmation; ``proposed`` is the one way to build an edit,
and it takes the review, so no door can hand on a model edit that skipped the check. It must not
import pygls, openai or a feature module, and never applies an edit: the adapter does, and only on
the version computed for.
"""

from __future__ import annotations

import contextlib
import posixpath
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from lsp_server.core import syntax
from lsp_server.core.documents import Snapshot
from lsp_server.core.errors import InvalidRequest, ModelNotConfigured, TruncatedAnswer, UnsafeEdit
from lsp_server.core.indentation import detect_indent_unit, leading
from lsp_server.core.settings import Settings
from lsp_server.core.text import Encoding, TextEdit, index_to_column, minimal_edits, split_lines
from lsp_server.core.uris import uri_basename, uri_name
from lsp_server.engine import capabilities
from lsp_server.engine.capabilities import Review, Task
from lsp_server.privacy import fences, invisible, redaction
from lsp_server.providers.base import ModelRequest, Provider
from lsp_server.providers.prompts import ChatMessage, ChatPrompt

# A scope longer than this is refused rather than sent whole: the answer would be slow, costly and
# likely cut short. The user can select the part to rewrite instead.
MAX_SCOPE_LINES = 400
# Without a grammar, a cursor's scope is its paragraph (blank-line bounded), at most this far each way.
SURROUNDING_LINES = 20
# Characters of read-only context shown before and after the scope.
CONTEXT_CHARS = 3000
# An answer longer than this is not code for the scope: the stream is closed and the answer refused.
MAX_ANSWER_CHARS = 200_000

Position = tuple[int, int]
Range = tuple[Position, Position]

ACTIONS = ("fix", "simplify", "document", "annotate", "tests", "explain", "refactor", "custom")

MODEL_NEEDED = (
    "This action needs a language model, and only the offline engine is configured (it completes code "
    "but cannot rewrite it). Configure a model: set OPENAI_BASE_URL (e.g. http://localhost:11434/v1 for "
    "Ollama) and LLM_LSP_MODEL, plus OPENAI_API_KEY for a hosted API — or the llmLsp.baseUrl, "
    "llmLsp.model and llmLsp.apiKey settings."
)


# ---------------------------------------------------------------------------------------------------
# Plain types handed between the features and the adapter
# ---------------------------------------------------------------------------------------------------


@attrs.frozen
class Diagnostic:
    """A diagnostic from any language server, as data: positions in the document's encoding."""

    range: Range
    message: str
    source: str = ""
    code: str = ""

    def describe(self, snapshot: Snapshot | None = None) -> str:
        """One line for the prompt: ``line 3: [ruff F821] undefined name 'x'``."""
        where = f"line {self.range[0][0] + 1}"
        label = " ".join(part for part in (self.source, self.code) if part)
        first = self.message.strip().splitlines()[0] if self.message.strip() else ""
        return f"{where}: [{label}] {first}" if label else f"{where}: {first}"


@attrs.frozen
class ProposedEdit:
    """Edits for one file, computed for ``version`` (None: a file the editor does not have open).

    ``create`` asks for the file to be created first. ``needs_confirmation`` marks edits the user must
    confirm: sensitive paths (editor settings, CI, hooks, build scripts) and edits that add powers the
    task did not ask for; ``warning`` says what, in one phrase ("adds process execution (...)"), and
    ``label`` names the edit, for the change annotation.
    """

    uri: str
    version: int | None
    edits: tuple[TextEdit, ...]
    create: bool = False
    needs_confirmation: bool = False
    label: str = "llm-lsp"
    warning: str = ""


@attrs.frozen
class Scope:
    """The part of a document an action rewrites: whole lines ``first_line``..``last_line``.

    ``start``/``end`` are str offsets: the start of the first line and the end of the last line's
    content (its line ending stays outside, so the answer never has to reproduce it).
    """

    start: int
    end: int
    first_line: int
    last_line: int
    kind: str  # "selection" | "function" | "class" | "block" | "lines" | "file"
    name: str = ""

    def describe(self) -> str:
        """``function `add` (lines 3-7)``, for prompts and messages."""
        named = f"{self.kind} `{self.name}`" if self.name else self.kind
        return f"{named} (lines {self.first_line + 1}-{self.last_line + 1})"


@attrs.frozen
class Answer:
    """The model's whole answer and why it ended (``"stop"`` only for a complete answer)."""

    text: str
    finish_reason: str | None


@attrs.frozen
class PreparedPrompt:
    """A chat prompt plus what is needed to read its answer back (redacted secrets, in order)."""

    prompt: ChatPrompt
    secrets: tuple[str, ...] = ()


def _decode_position(value: Any) -> Position:
    if isinstance(value, Mapping):
        value = (value.get("line"), value.get("character"))
    line, character = value
    if not isinstance(line, int) or not isinstance(character, int) or line < 0 or character < 0:
        raise ValueError(f"bad position {value!r}")
    return line, character


def decode_range(value: Any) -> Range:
    """A range from JSON: ``[[l, c], [l, c]]``, LSP ``{"start", "end"}``, or a bare position (a cursor).

    Raises ``ValueError`` (callers turn it into ``InvalidRequest``).
    """
    if isinstance(value, Mapping) and "start" in value:
        return _decode_position(value["start"]), _decode_position(value["end"])
    if isinstance(value, Mapping):
        position = _decode_position(value)
        return position, position
    start, end = value
    return _decode_position(start), _decode_position(end)


def encode_range(rng: Range) -> list[list[int]]:
    """A range as JSON: ``[[line, character], [line, character]]``."""
    return [list(rng[0]), list(rng[1])]


def decode_diagnostics(values: Any) -> tuple[Diagnostic, ...]:
    """Diagnostics from JSON (``encode_diagnostic``'s or LSP-shaped); raises ``ValueError``."""
    found = []
    for value in values or ():
        if not isinstance(value, Mapping) or not isinstance(value.get("message"), str):
            raise ValueError(f"bad diagnostic {value!r}")
        code = value.get("code")
        found.append(
            Diagnostic(
                range=decode_range(value["range"]),
                message=value["message"],
                source=str(value.get("source") or ""),
                code="" if code is None else str(code),
            )
        )
    return tuple(found)


def encode_diagnostic(diagnostic: Diagnostic) -> dict[str, Any]:
    """A diagnostic as JSON."""
    return {
        "range": encode_range(diagnostic.range),
        "message": diagnostic.message,
        "source": diagnostic.source,
        "code": diagnostic.code,
    }


# ---------------------------------------------------------------------------------------------------
# Scope finding
# ---------------------------------------------------------------------------------------------------

_FUNCTION_TYPES = syntax.FUNCTION_NODES | syntax.LAMBDA_NODES
_CLASS_TYPES = syntax.CLASS_NODES | syntax.NAMESPACE_NODES | {"type_declaration"}
# Nodes that wrap a definition and belong with it (decorators, `export`, templates).
_WRAPPERS = frozenset({"decorated_definition", "export_statement", "template_declaration"})
# Anonymous functions are scopes only when they are a declaration's value; then the statement is.
_VALUE_FUNCTIONS = syntax.LAMBDA_NODES


SCOPE_CHOICES = ("selection", "function", "file")


def scope_choice(value: Any) -> str:
    """A scope a user may ask for by name (``selection``, ``function``, ``file``); else ``function``."""
    return value if isinstance(value, str) and value in SCOPE_CHOICES else "function"


def find_scope(snapshot: Snapshot, rng: Range, prefer: str = "function") -> Scope:
    """The scope an action on ``rng`` rewrites.

    ``prefer`` is ``"selection"`` or ``"function"`` (a non-empty selection's lines win, else the enclosing
    function / class / top-level block), ``"enclosing"`` (that enclosing scope even for a non-empty range:
    fixes need the code around a diagnostic) or ``"file"``.
    A range starting past the end of the file raises ``InvalidRequest``; an end past it is clamped.
    """
    (sl, sc), (el, ec) = rng
    if sl < 0 or sc < 0 or (el, ec) < (sl, sc):
        raise InvalidRequest(f"invalid range: {sl + 1}:{sc + 1}-{el + 1}:{ec + 1}")
    last = snapshot.line_count - 1
    if sl > last:
        raise InvalidRequest(
            f"the range starts at line {sl + 1}, past the end of the file ({snapshot.line_count} lines)"
        )
    if prefer == "file":
        return _checked(_line_scope(snapshot, 0, last, "file"))
    start = snapshot.offset_at(sl, sc)
    end = snapshot.offset_at(min(el, last + 1), ec)
    if prefer != "enclosing" and snapshot.text[start:end].strip():
        first_line, last_line = sl, min(el, last)
        if last_line > first_line and snapshot.offset_at(last_line, 0) == end:
            last_line -= 1  # a selection of whole lines ends at column 0 of the next line
        return _checked(_line_scope(snapshot, first_line, last_line, "selection"))
    scope = _syntax_scope(snapshot, start, end) if snapshot.tree is not None else None
    if scope is None:
        scope = _paragraph_scope(snapshot, sl)
        if min(el, last) > scope.last_line:  # diagnostics spread over several paragraphs
            scope = _line_scope(
                snapshot, scope.first_line, _paragraph_scope(snapshot, min(el, last)).last_line, "lines"
            )
    return _checked(scope)


def _line_scope(snapshot: Snapshot, first: int, last: int, kind: str, name: str = "") -> Scope:
    start = snapshot.offset_at(first, 0)
    end = start + sum(len(line) for line in snapshot.lines[first : last + 1])
    end = start + len(snapshot.text[start:end].rstrip("\r\n"))
    return Scope(start, end, first, last, kind, name)


def _checked(scope: Scope) -> Scope:
    lines = scope.last_line - scope.first_line + 1
    if lines > MAX_SCOPE_LINES:
        raise InvalidRequest(
            f"the {scope.describe()} is {lines} lines long; select the part to rewrite "
            f"(at most {MAX_SCOPE_LINES} lines)"
        )
    return scope


def _syntax_scope(snapshot: Snapshot, start: int, end: int) -> Scope | None:
    tree = snapshot.tree
    if tree is None:
        return None
    root = tree.root_node
    node = root.named_descendant_for_byte_range(snapshot.byte_at(start), snapshot.byte_at(end))
    while node is not None and node != root:
        kind = _scope_kind(node)
        if kind is not None:
            while node.parent is not None and node.parent.type in _WRAPPERS:
                node = node.parent
            return _node_scope(snapshot, node, kind)
        node = node.parent
    # Outside any definition: the top-level statements the range touches.
    first_byte, last_byte = snapshot.byte_at(start), snapshot.byte_at(end)
    touched = [
        child
        for child in root.named_children
        if child.start_byte <= max(last_byte, first_byte)
        and child.end_byte >= first_byte
        and child.type != "comment"
    ]
    if not touched:
        return None
    first_line, last_line = touched[0].start_point[0], touched[-1].end_point[0]
    return _line_scope(snapshot, first_line, last_line, "block")


def _scope_kind(node) -> str | None:
    if node.type in _FUNCTION_TYPES:
        if node.type in _VALUE_FUNCTIONS and node.start_point[0] == node.end_point[0]:
            return None  # a one-line lambda is an expression, not a scope worth rewriting alone
        return "function"
    if node.type in _CLASS_TYPES:
        return "class"
    return None


def _node_scope(snapshot: Snapshot, node, kind: str) -> Scope:
    name_node = node.child_by_field_name("name")
    if name_node is None:
        for child in node.named_children:
            if child.type not in ("decorator", "comment"):
                name_node = child.child_by_field_name("name")
                if name_node is not None:
                    break
    name = name_node.text.decode("utf-8", "replace") if name_node is not None else ""
    first_line = _line_of_byte(snapshot, node.start_byte)
    last_line = _line_of_byte(snapshot, node.end_byte)
    if node.end_point[1] == 0 and last_line > first_line:
        last_line -= 1
    return _line_scope(snapshot, first_line, last_line, kind, name)


def _line_of_byte(snapshot: Snapshot, byte: int) -> int:
    return snapshot.position_at(snapshot.offset_of_byte(byte))[0]


def _paragraph_scope(snapshot: Snapshot, line: int) -> Scope:
    if not snapshot.line_text(line).strip():
        raise InvalidRequest("nothing to work on here: put the cursor on code or select it")
    first = line
    while first > 0 and line - first < SURROUNDING_LINES and snapshot.line_text(first - 1).strip():
        first -= 1
    last = line
    limit = snapshot.line_count - 1
    while last < limit and last - line < SURROUNDING_LINES and snapshot.line_text(last + 1).strip():
        last += 1
    return _line_scope(snapshot, first, last, "lines")


# ---------------------------------------------------------------------------------------------------
# Instructions per action and language
# ---------------------------------------------------------------------------------------------------

_DOC_CONVENTIONS = {
    "python": "PEP 257 docstrings",
    "javascript": "JSDoc comments (/** ... */)",
    "typescript": "TSDoc comments (/** ... */)",
    "tsx": "TSDoc comments (/** ... */)",
    "go": "Go doc comments (// lines starting with the declared name, right above the declaration)",
    "rust": "/// doc comments (rustdoc)",
    "java": "Javadoc comments (/** ... */)",
    "c": "Doxygen comments (/** ... */)",
    "cpp": "Doxygen comments (/** ... */)",
    "c_sharp": "XML documentation comments (///)",
    "ruby": "YARD comments (# lines above the method)",
}
# Languages where type annotations are optional, so "Add type annotations" means something.
ANNOTATED_LANGUAGES = frozenset({"python", "typescript", "tsx", "typescriptreact", "php"})


def language_name(snapshot: Snapshot) -> str:
    """A readable language name for prompts and the fence info string."""
    return (snapshot.grammar or snapshot.language_id or "text").replace("c_sharp", "csharp")


def has_type_annotations(grammar: str | None, language_id: str | None) -> bool:
    """Whether "Add type annotations" is offered for a language."""
    return (grammar or "") in ANNOTATED_LANGUAGES or (language_id or "") in ANNOTATED_LANGUAGES


def instruction(action: str, snapshot: Snapshot, custom: str = "") -> str:
    """What the model is asked to do: ours, or the given words (a command's, or a custom action's prompt).

    A custom action's prompt may come from a workspace's settings: it is still sent as the task (the
    user chose the action by its title), but only ``asked`` decides what may explain a power the edit
    adds, and a workspace's prompt is never part of it (``app.actions.resolve``).
    """
    language = language_name(snapshot)
    if action == "fix":
        return (
            "Fix the problems reported by the diagnostics listed in the user message, with the smallest "
            "change that fixes them. Do not change anything else."
            if custom == ""
            else custom
        )
    if action == "simplify":
        return (
            "Simplify this code: make it shorter and clearer without changing its behaviour, its "
            "public names or its signature."
        )
    if action == "document":
        convention = _DOC_CONVENTIONS.get(snapshot.grammar or "", "the language's documentation comments")
        return (
            f"Add documentation using {convention} to every function, method and class defined in this "
            "code, and keep the code itself unchanged. Say what each does, its parameters and result."
        )
    if action == "annotate":
        return (
            f"Add {language} type annotations to parameters, return values and variables where they are "
            "missing, without changing behaviour. Add needed imports only if they fit inside this code."
        )
    if action == "tests":
        return (
            "Write unit tests for this code in the project's test framework for "
            f"{language} ({custom or 'the usual one'}). Cover normal cases, edge cases and errors."
        )
    if action == "explain":
        return (
            "Explain this code to a colleague, in Markdown: what it does, how, its inputs and outputs, "
            "edge cases and anything surprising or likely wrong. Be concise."
        )
    return custom.strip() or "Improve this code."


# ---------------------------------------------------------------------------------------------------
# Prompts
# ---------------------------------------------------------------------------------------------------


def _clean(text: str, filename: str, redact: bool) -> tuple[str, tuple[str, ...]]:
    """Text fit for a prompt: invisible characters stripped, secrets replaced (originals returned)."""
    text = invisible.strip_invisible(text)
    if not redact:
        return text, ()
    spans = redaction.secret_spans(text, filename)
    if not spans:
        return text, ()
    originals = tuple(text[s:e] for s, e in spans)
    return redaction.redact(text, filename).text, originals


def _context(snapshot: Snapshot, scope: Scope) -> tuple[str, str]:
    """Read-only text before and after the scope, cut on line boundaries within the budget."""
    text = snapshot.text
    before_start = max(0, scope.start - CONTEXT_CHARS)
    if before_start > 0:
        newline = text.find("\n", before_start, scope.start)
        before_start = newline + 1 if newline != -1 else scope.start
    after_end = min(len(text), scope.end + CONTEXT_CHARS)
    if after_end < len(text):
        newline = text.rfind("\n", scope.end, after_end)
        after_end = newline if newline != -1 else scope.end
    return text[before_start : scope.start], text[scope.end : after_end]


def rewrite_prompt(
    snapshot: Snapshot,
    scope: Scope,
    task: str,
    *,
    diagnostics: Sequence[Diagnostic] = (),
    redact: bool = True,
) -> PreparedPrompt:
    """The chat prompt asking for the full replacement of ``scope`` as one fenced code block.

    ``task`` is the instruction (``instruction()``): trusted text, so it goes in the system message.
    The code, its context and the diagnostics (written by other tools, possibly quoting code) are data.
    """
    nonce = fences.new_nonce()
    filename = uri_basename(snapshot.uri)
    language = language_name(snapshot)
    code, secrets = _clean(snapshot.text[scope.start : scope.end], filename, redact)
    before, after = (_clean(part, filename, redact)[0] for part in _context(snapshot, scope))
    system = (
        f"You are an expert {language} programmer editing part of a file in the user's editor.\n"
        f"Task: {task}\n"
        "The user message holds the code to rewrite and, for reference only, the code around it and "
        "any diagnostics reported by tools.\n"
        "Answer with the complete new version of the code to rewrite - every line of it, including the "
        f"lines you keep - as exactly one fenced code block (```{language}). Keep its indentation. Do "
        "not repeat the surrounding code and do not add a second code block. Keep every "
        f"{redaction.PLACEHOLDER} exactly as it is.\n" + fences.DATA_INSTRUCTION(nonce)
    )
    parts = _fenced_code(
        filename, (before, code, after), f"rewrite: {scope.describe()}", ", do not repeat", nonce
    )
    if diagnostics:
        notes = "\n".join(invisible.strip_invisible(d.describe()) for d in diagnostics)
        parts.append(fences.fence("diagnostics", notes, nonce))
    return PreparedPrompt(
        ChatPrompt((ChatMessage("system", system), ChatMessage("user", "\n\n".join(parts)))), secrets
    )


def _fenced_code(
    filename: str, pieces: tuple[str, str, str], task: str, context_note: str, nonce: str
) -> list[str]:
    """The user message's parts: the file name, then the code before, the code to ``task`` and after.

    Context that is blank is left out; ``context_note`` follows "context" in its labels.
    """
    before, code, after = pieces
    parts = [f"File: {filename}"]
    if before.strip():
        parts.append(fences.fence(f"code before (context{context_note})", before, nonce))
    parts.append(fences.fence(f"code to {task}", code, nonce))
    if after.strip():
        parts.append(fences.fence(f"code after (context{context_note})", after, nonce))
    return parts


def explain_prompt(snapshot: Snapshot, scope: Scope, *, redact: bool = True) -> PreparedPrompt:
    """The chat prompt asking for a Markdown explanation of ``scope`` (prose, not an edit)."""
    nonce = fences.new_nonce()
    filename = uri_basename(snapshot.uri)
    code, _ = _clean(snapshot.text[scope.start : scope.end], filename, redact)
    before, after = (_clean(part, filename, redact)[0] for part in _context(snapshot, scope))
    system = (
        f"You are an expert {language_name(snapshot)} programmer. "
        + instruction("explain", snapshot)
        + "\n"
        + fences.DATA_INSTRUCTION(nonce)
    )
    parts = _fenced_code(filename, (before, code, after), f"explain: {scope.describe()}", "", nonce)
    return PreparedPrompt(
        ChatPrompt((ChatMessage("system", system), ChatMessage("user", "\n\n".join(parts))))
    )


def tests_prompt(
    snapshot: Snapshot, scope: Scope, framework: str, existing: str | None, *, redact: bool = True
) -> PreparedPrompt:
    """The chat prompt asking for tests of ``scope``: a whole new test file, or tests to append."""
    nonce = fences.new_nonce()
    filename = uri_basename(snapshot.uri)
    code, _ = _clean(snapshot.text[scope.start : scope.end], filename, redact)
    language = language_name(snapshot)
    target = (
        "Answer with the new tests to append at the end of the existing test file shown (no repeated "
        "imports or helpers it already has)"
        if existing is not None
        else "Answer with a complete new test file, imports included"
    )
    system = (
        f"You are an expert {language} programmer. {instruction('tests', snapshot, framework)}\n"
        f"{target}, as exactly one fenced code block (```{language}). The code under test is in "
        f"`{filename}`.\n" + fences.DATA_INSTRUCTION(nonce)
    )
    parts = [fences.fence(f"code to test, from {filename}: {scope.describe()}", code, nonce)]
    if existing is not None:
        shown = _clean(existing[-CONTEXT_CHARS * 2 :], "", redact)[0]
        parts.append(fences.fence("end of the existing test file", shown, nonce))
    return PreparedPrompt(
        ChatPrompt((ChatMessage("system", system), ChatMessage("user", "\n\n".join(parts))))
    )


# ---------------------------------------------------------------------------------------------------
# Asking the model
# ---------------------------------------------------------------------------------------------------


def require_model(provider: Provider) -> None:
    """Raise ``ModelNotConfigured`` (with how to configure one) when only the offline engine serves."""
    if provider.is_offline:
        raise ModelNotConfigured(MODEL_NEEDED)


async def ask(provider: Provider, prompt: ChatPrompt, *, deadline: float, max_tokens: int) -> Answer:
    """Stream one answer; a huge answer is cut off and refused (the stream is closed early)."""
    require_model(provider)
    request = ModelRequest(
        prompt=prompt, deadline=deadline, max_tokens=max_tokens, temperature=0.1, purpose="action"
    )
    answer = await read_answer(provider, request)
    if answer is None:
        raise UnsafeEdit(
            f"the model's answer is too large (over {MAX_ANSWER_CHARS} characters); nothing applied"
        )
    return answer


async def read_answer(
    provider: Provider, request: ModelRequest, limit: int = MAX_ANSWER_CHARS
) -> Answer | None:
    """Stream one answer (candidate 0) to its end; None once it grows past ``limit`` characters.

    Giving up closes the stream, which hangs up: the model stops writing.
    """
    pieces: list[str] = []
    size = 0
    finish: str | None = None
    async with contextlib.aclosing(provider.stream(request)) as stream:
        async for delta in stream:
            if delta.index != 0:
                continue
            pieces.append(delta.text)
            size += len(delta.text)
            if size > limit:
                return None
            if delta.finish_reason is not None:
                finish = delta.finish_reason
                break
    return Answer("".join(pieces), finish)


# ---------------------------------------------------------------------------------------------------
# Reading and checking the answer
# ---------------------------------------------------------------------------------------------------

_OPEN_FENCE = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})([^`]*)$")
_CLOSE_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*$")


def check_finished(answer: Answer) -> None:
    """Refuse an answer cut short: by max_tokens (``length``), a filter, or a dropped stream."""
    if answer.finish_reason != "stop":
        why = answer.finish_reason or "the stream ended early"
        raise TruncatedAnswer(
            f"the model's answer was cut short ({why}); nothing applied. "
            "Select a smaller part, or raise llmLsp.actions.maxTokens."
        )


def code_blocks(answer: str) -> list[str]:
    """The bodies of the fenced code blocks of a Markdown answer (an unclosed last block included)."""
    blocks: list[str] = []
    lines = answer.split("\n")
    i = 0
    while i < len(lines):
        opened = _OPEN_FENCE.match(lines[i])
        if opened is None:
            i += 1
            continue
        fence = opened.group(1)
        body: list[str] = []
        i += 1
        while i < len(lines):
            closed = _CLOSE_FENCE.match(lines[i])
            if closed and closed.group(1)[0] == fence[0] and len(closed.group(1)) >= len(fence):
                break
            body.append(lines[i])
            i += 1
        blocks.append("\n".join(body))
        i += 1
    return blocks


def extract_code(answer: str) -> str:
    """The one fenced code block of an answer; no block or several is refused (``UnsafeEdit``)."""
    blocks = code_blocks(answer)
    if not blocks:
        raise UnsafeEdit("the model's answer has no code block; nothing applied")
    if len(blocks) > 1:
        raise UnsafeEdit(
            f"the model's answer has {len(blocks)} code blocks where one was asked for; nothing applied"
        )
    return blocks[0]


def check_invisible(code: str) -> None:
    """Refuse code carrying invisible or bidi-control characters (a Trojan Source vector)."""
    found = invisible.find_invisible(code)
    if found:
        names = ", ".join(sorted({name for _, name in found}))
        raise UnsafeEdit(f"the model's answer contains invisible characters ({names}); nothing applied")


def restore_secrets(code: str, secrets: Sequence[str]) -> str:
    """Put redacted secrets back, in order; an answer that moved, dropped or added one is refused."""
    count = code.count(redaction.PLACEHOLDER)
    if not secrets:
        return code
    if count != len(secrets):
        raise UnsafeEdit("the model's answer changed lines holding redacted secrets; nothing applied")
    pieces = code.split(redaction.PLACEHOLDER)
    out = [pieces[0]]
    for secret, piece in zip(secrets, pieces[1:], strict=True):
        out.extend((secret, piece))
    return "".join(out)


def indent_unit(lines: Sequence[str]) -> str | None:
    """The indentation step of some lines: a tab or a run of spaces (None when flat or unclear)."""
    return detect_indent_unit(tuple(lines)) or None


def _common_indent(lines: Sequence[str]) -> str:
    leads = [leading(line) for line in lines if line.strip()]
    if not leads:
        return ""
    common = leads[0]
    for lead in leads[1:]:
        while not lead.startswith(common):
            common = common[:-1]
    return common


def reindent(code: str, base: str, unit: str | None) -> str:
    """Move ``code`` to indentation ``base`` and, if it uses another step than ``unit``, convert it.

    Models often answer a method at column 0, or with 2 spaces where the file uses 4 or tabs. Lines are
    shifted as a block; the step is converted only when the answer is consistently indented.
    """
    lines = code.split("\n")
    own_base = _common_indent(lines)
    relative = [line[len(own_base) :] if line.strip() else "" for line in lines]
    own_unit = indent_unit(relative)
    convert = unit is not None and own_unit is not None and own_unit != unit
    out = []
    for line in relative:
        if not line:
            out.append("")
            continue
        lead = leading(line)
        if convert and unit is not None and own_unit is not None:
            if own_unit == "\t":
                levels, rest = lead.count("\t"), lead.replace("\t", "")
            else:
                levels, spaces = divmod(len(lead.expandtabs(len(own_unit))), len(own_unit))
                rest = " " * spaces
            lead = unit * levels + rest
        out.append(base + lead + line.lstrip(" \t"))
    return "\n".join(out)


def fit_to_scope(code: str, snapshot: Snapshot, scope: Scope) -> str:
    """The answer's code as the scope's new text: re-indented, same line endings, no blank fringes."""
    old = snapshot.text[scope.start : scope.end]
    lines = code.replace("\r\n", "\n").split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    old_lines = split_lines(old)
    base = leading(old_lines[0]) if old_lines else ""
    file_unit = indent_unit(snapshot.lines[: min(snapshot.line_count, 2000)]) or "    "
    new = reindent("\n".join(line.rstrip() for line in lines), base, file_unit)
    if "\r\n" in old or (not old and "\r\n" in snapshot.text[:10000]):
        new = new.replace("\n", "\r\n")
    return new


def check_inside_scope(new: str, snapshot: Snapshot, scope: Scope) -> None:
    """Refuse an answer that repeats the code just before or after the scope (it would be doubled)."""
    before = [line.strip() for line in snapshot.lines[max(0, scope.first_line - 2) : scope.first_line]]
    after = [line.strip() for line in snapshot.lines[scope.last_line + 1 : scope.last_line + 3]]
    new_lines = [line.strip() for line in new.split("\n") if line.strip()]
    old_lines = {line.strip() for line in snapshot.lines[scope.first_line : scope.last_line + 1]}

    def echoed(context: list[str], edge: list[str]) -> bool:
        meaningful = [line for line in context if len(line) > 3 and line not in old_lines]
        return len(meaningful) >= 1 and len(context) == 2 and all(c in edge for c in meaningful)

    if echoed(before, new_lines[:3]) or echoed(after, new_lines[-3:]):
        raise UnsafeEdit("the model's answer rewrites code outside the chosen scope; nothing applied")


def check_syntax(snapshot: Snapshot, new_text: str):
    """Refuse a result with more syntax errors than the document has now (files with a grammar).

    Returns the new text's tree (None without a grammar), for the capability review.
    """
    if snapshot.grammar is None or snapshot.tree is None:
        return None
    tree = syntax.parse(snapshot.grammar, new_text.encode("utf-8", "surrogatepass"))
    if tree is None:
        return None
    before = syntax.error_count(snapshot.tree.root_node)
    after = syntax.error_count(tree.root_node)
    if after > before:
        raise UnsafeEdit(
            f"the model's answer does not parse ({after - before} new syntax errors); nothing applied"
        )
    return tree


def scope_edits(old: str, new: str, first_line: int, encoding: Encoding) -> tuple[TextEdit, ...]:
    """Minimal edits turning the scope's text into ``new``, in document positions.

    Scopes start at column 0, so shifting line numbers is the whole translation, and every edit lies
    inside the scope by construction.
    """
    return tuple(
        TextEdit(
            start=(edit.start[0] + first_line, edit.start[1]),
            end=(edit.end[0] + first_line, edit.end[1]),
            new_text=edit.new_text,
        )
        for edit in minimal_edits(old, new, encoding)
    )


@attrs.frozen
class Rewrite:
    """A checked answer: the minimal edits of the scope, and what they add that the task did not ask for."""

    edits: tuple[TextEdit, ...]
    review: Review = capabilities.CLEAN


def review_rewrite(snapshot: Snapshot, scope: Scope, new: str, new_tree, task: Task) -> Review:
    """What the scope's new text adds over the whole old file's code (its comments and docstrings aside)."""
    new_source = (snapshot.text[: scope.start] + new + snapshot.text[scope.end :]).encode(
        "utf-8", "surrogatepass"
    )
    start = snapshot.byte_at(scope.start)
    end = start + len(new.encode("utf-8", "surrogatepass"))
    baseline = capabilities.documentation_free(snapshot.grammar, snapshot.tree, snapshot.source)
    task = attrs.evolve(task, local=task.local | capabilities.project_names(uri_name(snapshot.uri)))
    return capabilities.review(snapshot.grammar, new_tree, new_source, start, end, baseline, task)


def edits_from_answer(
    snapshot: Snapshot, scope: Scope, answer: Answer, secrets: Sequence[str] = (), task: Task | None = None
) -> Rewrite:
    """Check an answer and turn it into minimal edits of ``scope``, reviewed for the powers they add.

    Raises when any check fails. ``task`` is what the user asked for (it may explain a capability).
    """
    check_finished(answer)
    code = extract_code(answer.text)
    check_invisible(code)
    code = restore_secrets(code, secrets)
    old = snapshot.text[scope.start : scope.end]
    if len(code) > 20 * len(old) + 20_000:
        raise UnsafeEdit("the model's answer is far larger than the code it replaces; nothing applied")
    new = fit_to_scope(code, snapshot, scope)
    if not new.strip():
        raise UnsafeEdit("the model's answer is empty; nothing applied")
    check_inside_scope(new, snapshot, scope)
    tree = check_syntax(snapshot, snapshot.text[: scope.start] + new + snapshot.text[scope.end :])
    edits = scope_edits(old, new, scope.first_line, snapshot.encoding)
    if not edits:
        return Rewrite(edits)
    return Rewrite(edits, review_rewrite(snapshot, scope, new, tree, task or Task()))


# ---------------------------------------------------------------------------------------------------
# Sensitive paths and test files
# ---------------------------------------------------------------------------------------------------

# Edits to these run code or change tools the next time something builds, commits or opens the
# folder: the user confirms each one even after choosing the action.
_SENSITIVE_DIRS = (
    (".vscode/", "editor settings"),
    (".idea/", "editor settings"),
    (".github/workflows/", "CI workflow"),
    (".gitlab/", "CI configuration"),
    (".circleci/", "CI configuration"),
    (".git/", "git internals and hooks"),
    (".husky/", "git hooks"),
    (".devcontainer/", "dev container"),
)
_SENSITIVE_NAMES = {
    "package.json": "package scripts",
    "makefile": "build script",
    "gnumakefile": "build script",
    ".pre-commit-config.yaml": "git hooks",
    ".gitlab-ci.yml": "CI configuration",
    "azure-pipelines.yml": "CI configuration",
    "jenkinsfile": "CI configuration",
    ".envrc": "shell environment",
    "setup.py": "build script",
    "pyproject.toml": "build configuration",
    "build.gradle": "build script",
    "dockerfile": "container build",
    ".bashrc": "shell start-up",
    ".zshrc": "shell start-up",
    ".profile": "shell start-up",
}


def sensitive_reason(uri: str) -> str | None:
    """Why an edit to ``uri`` needs confirmation (``"CI workflow"``), or None for ordinary files."""
    path = "/" + uri_name(uri).replace("\\", "/").lstrip("/")
    lowered = path.lower()
    for directory, reason in _SENSITIVE_DIRS:
        if f"/{directory}" in lowered:
            return reason
    return _SENSITIVE_NAMES.get(posixpath.basename(lowered))


def proposed(
    uri: str,
    version: int | None,
    edits: Sequence[TextEdit],
    label: str,
    *,
    review: Review,
    create: bool = False,
) -> ProposedEdit:
    """A ``ProposedEdit``, to be confirmed when it touches a sensitive path or adds unasked-for powers."""
    reasons = []
    path_reason = sensitive_reason(uri)
    if path_reason is not None:
        reasons.append(f"changes {path_reason}")
    if review.flagged:
        reasons.append(review.summary)
    warning = " and ".join(reasons)
    if warning:
        label = f"{label} ({warning}: review before applying)"
    return ProposedEdit(uri, version, tuple(edits), create, bool(warning), label, warning)


def refusal(edit: ProposedEdit, how_to_review: str) -> str:
    """The sentence that refuses ``edit`` where nobody can be asked to confirm it."""
    return f"not applied: the model's edit to {uri_basename(edit.uri)} {edit.warning}; {how_to_review}"


def require_confirmable(edits: Sequence[ProposedEdit], client_confirms: bool) -> None:
    """Raise ``UnsafeEdit`` when an edit needs confirmation and the client cannot ask for it.

    Editors that declare ``workspace.workspaceEdit.changeAnnotationSupport`` show the annotation and
    ask; any other client would apply the edit silently, so it gets a refusal naming what was added.
    """
    if client_confirms:
        return
    for edit in edits:
        if edit.needs_confirmation:
            raise UnsafeEdit(
                refusal(
                    edit,
                    "this editor cannot ask for confirmation (it does not declare change annotation "
                    "support); review it with `llm-lsp fix` or `llm-lsp refactor` in a terminal",
                )
            )


def _nothing(_path: str) -> bool:
    return False


@attrs.frozen
class TestTarget:
    """Where generated tests go, and which framework the prompt names."""

    path: str
    framework: str


def test_target(
    source_path: str, grammar: str | None, exists: Callable[[str], bool] = _nothing
) -> TestTarget:
    """The test file for ``source_path`` in the usual convention of its language.

    pytest ``tests/test_x.py`` under the project (nearest parent holding ``tests/``, ``pyproject.toml``
    or ``.git``; next to the file otherwise), jest/vitest ``x.test.ts``, go ``x_test.go``, rust tests in
    ``tests/x.rs``, ruby ``spec/x_spec.rb``, java ``src/test/java/.../XTest.java``. ``exists`` says
    whether a path exists (the caller's I/O; this module does none).
    """
    directory, name = posixpath.split(source_path)
    stem, ext = posixpath.splitext(name)
    if grammar == "python":
        root = _project_root(directory, exists)
        folder = (
            "test"
            if exists(posixpath.join(root, "test")) and not exists(posixpath.join(root, "tests"))
            else "tests"
        )
        return TestTarget(posixpath.join(root, folder, f"test_{stem}.py"), "pytest")
    if grammar in ("javascript", "typescript", "tsx"):
        return TestTarget(
            posixpath.join(directory, f"{stem}.test{ext}"), "jest or vitest, as the project uses"
        )
    if grammar == "go":
        return TestTarget(posixpath.join(directory, f"{stem}_test.go"), "go test (package testing)")
    if grammar == "rust":
        root = _project_root(directory, exists, markers=("Cargo.toml",))
        return TestTarget(posixpath.join(root, "tests", f"{stem}.rs"), "cargo test integration tests")
    if grammar == "ruby":
        root = _project_root(directory, exists, markers=("Gemfile",))
        return TestTarget(posixpath.join(root, "spec", f"{stem}_spec.rb"), "RSpec")
    if grammar == "java":
        marker = "/src/main/java/"
        if marker in source_path:
            test_dir = directory.replace(marker, "/src/test/java/", 1)
            return TestTarget(posixpath.join(test_dir, f"{stem}Test.java"), "JUnit 5")
        return TestTarget(posixpath.join(directory, f"{stem}Test.java"), "JUnit 5")
    if grammar == "c_sharp":
        return TestTarget(posixpath.join(directory, f"{stem}Tests.cs"), "xUnit")
    return TestTarget(posixpath.join(directory, f"test_{stem}{ext}"), "the project's test framework")


def _project_root(
    directory: str,
    exists: Callable[[str], bool],
    markers: Sequence[str] = ("pyproject.toml", "setup.py", "setup.cfg", "tests"),
) -> str:
    current = directory
    while True:
        if any(exists(posixpath.join(current, marker)) for marker in (*markers, ".git")):
            return current
        parent = posixpath.dirname(current)
        if parent == current:
            return directory
        current = parent


# ---------------------------------------------------------------------------------------------------
# One rewrite, end to end (both features call this)
# ---------------------------------------------------------------------------------------------------


@attrs.frozen
class Budget:
    """How long and how much the model may answer for one action."""

    deadline: float  # time.monotonic() instant
    max_tokens: int
    redact: bool = True

    @classmethod
    def from_settings(cls, settings: Settings, clock: Callable[[], float] = time.monotonic) -> Budget:
        """The deadline and token budget of one explicit action, from settings."""
        return cls(
            deadline=clock() + settings.actions.deadline_ms / 1000,
            max_tokens=settings.actions.max_tokens,
            redact=settings.privacy.redact_secrets,
        )


async def rewrite(
    provider: Provider,
    snapshot: Snapshot,
    scope: Scope,
    task: str,
    budget: Budget,
    diagnostics: Sequence[Diagnostic] = (),
    asked: Task | None = None,
) -> Rewrite:
    """Ask for the new text of ``scope``; the checked, minimal edits (possibly none) and their review.

    ``asked`` is the user's own request, which may explain a capability the edit adds (the default:
    the diagnostics' messages, which explain only imports of the modules they name).
    """
    require_model(provider)
    prepared = rewrite_prompt(snapshot, scope, task, diagnostics=diagnostics, redact=budget.redact)
    answer = await ask(provider, prepared.prompt, deadline=budget.deadline, max_tokens=budget.max_tokens)
    if asked is None:
        asked = Task(hints=tuple(d.message for d in diagnostics))
    return edits_from_answer(snapshot, scope, answer, prepared.secrets, asked)


async def explain(provider: Provider, snapshot: Snapshot, scope: Scope, budget: Budget) -> str:
    """A Markdown explanation of ``scope`` (refused when cut short, like an edit)."""
    require_model(provider)
    prepared = explain_prompt(snapshot, scope, redact=budget.redact)
    answer = await ask(provider, prepared.prompt, deadline=budget.deadline, max_tokens=budget.max_tokens)
    check_finished(answer)
    text = answer.text.strip()
    if not text:
        raise UnsafeEdit("the model's explanation is empty")
    check_invisible(text)
    return text


async def generate_tests(
    provider: Provider,
    snapshot: Snapshot,
    scope: Scope,
    target: TestTarget,
    existing: str | None,
    budget: Budget,
) -> GeneratedTests:
    """The test code for ``scope`` (a whole file, or what to append to ``existing``) and its review.

    The review compares the tests with the source file and the existing test file: a test may import
    its framework and the project's own modules, nothing else new without a reason.
    """
    require_model(provider)
    prepared = tests_prompt(snapshot, scope, target.framework, existing, redact=budget.redact)
    answer = await ask(provider, prepared.prompt, deadline=budget.deadline, max_tokens=budget.max_tokens)
    check_finished(answer)
    code = extract_code(answer.text)
    check_invisible(code)
    if not code.strip():
        raise UnsafeEdit("the model's answer is empty; nothing applied")
    grammar = syntax.grammar_name(None, target.path)
    tree = syntax.parse(grammar, code.encode("utf-8", "surrogatepass"))
    if tree is not None and syntax.error_count(tree.root_node) > 0:
        raise UnsafeEdit("the generated tests do not parse; nothing applied")
    source = code.encode("utf-8", "surrogatepass")
    baseline = capabilities.documentation_free(snapshot.grammar, snapshot.tree, snapshot.source)
    if existing:
        existing_tree = syntax.parse(grammar, existing.encode("utf-8", "surrogatepass"))
        baseline += "\n" + capabilities.documentation_free(
            grammar, existing_tree, existing.encode("utf-8", "surrogatepass")
        )
    local = capabilities.project_names(uri_name(snapshot.uri))
    verdict = capabilities.review(grammar, tree, source, 0, len(source), baseline, Task("tests", local=local))
    return GeneratedTests(code.strip("\n") + "\n", verdict)


@attrs.frozen
class GeneratedTests:
    """Test code to write, and what it adds that the tests did not need."""

    code: str
    review: Review = capabilities.CLEAN


def append_edit(existing: str, addition: str, encoding: Encoding) -> TextEdit:
    """An edit appending ``addition`` at the end of a file's text, one blank line apart."""
    lines = split_lines(existing)
    last = len(lines) - 1
    end = (last, index_to_column(lines[last], len(lines[last]), encoding))
    if not existing.strip() or existing.endswith("\n\n"):
        separator = ""
    elif existing.endswith("\n"):
        separator = "\n"
    else:
        separator = "\n\n"
    return TextEdit(start=end, end=end, new_text=separator + addition)
