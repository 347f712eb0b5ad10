"""From a model's raw answer to the one suggestion a user would accept at the cursor.

Owns the post-processing of inline completions: chat-answer extraction, the single/multi-line
decision, scope limits, overlap with the text after the cursor, repetition, indentation style and
syntax validation. Every step is a small pure function over ``(text, Scene)``; ``process`` runs them in
the order documented there. It must not do I/O, know about LSP or providers, or read settings: all
it needs arrives as arguments. It must never raise on model output: a failure degrades to a
conservative answer, never a crash, and never to a worse suggestion than the raw text.

Only a window of the document around the cursor is ever looked at (the enclosing top-level construct,
at most ``WINDOW_LINES`` lines each way), so the cost per suggestion does not grow with the file.
"""

from __future__ import annotations

import logging
import re
from difflib import SequenceMatcher
from typing import TYPE_CHECKING

import attrs

from lsp_server.core import syntax

if TYPE_CHECKING:
    from tree_sitter import Tree

log = logging.getLogger(__name__)

# How many lines above and below the cursor line the analysis may read. Parsing ~80 lines costs
# about 0.2 ms, which keeps a whole suggestion (a few parses) well under the 2 ms budget.
WINDOW_LINES = 40
# How far up the enclosing function / class header is looked for (plain text scanning, no parse).
HEADER_LINES = 400

# Characters that close something opened before the cursor; text made only of these after the cursor
# does not make the cursor "mid-line" (typing inside auto-closed brackets or quotes).
_CLOSERS = ")]}>\"'`;,"
_PAIRS = {")": "(", "]": "[", "}": "{"}
_OPENERS = "([{"
# Line endings that open a block whose body the user is about to write.
_BLOCK_OPENER = re.compile(r"(:|\{|\(|\[|\bdo|=>|->|\bthen|\bbegin|\bdo\s*\|[^|]*\|)\s*$")
# Lines that continue the compound statement of the line above rather than leaving its scope.
_CONTINUATION = re.compile(r"^(else\b|elif\b|except\b|finally\b|catch\b|case\b|when\b|rescue\b|ensure\b)")
_DEFINITION = re.compile(
    r"^\s*(?:(?:export|default|async|static|public|private|protected|pub(?:\([^)]*\))?)\s+)*"
    r"(?:def|class|function|fn|func|fun|sub|interface|impl|trait|struct|enum|module)\b"
)
_FUNCTION = re.compile(
    r"^\s*(?:(?:export|default|async|static|public|private|protected|pub(?:\([^)]*\))?)\s+)*"
    r"(?:def|function|fn|func|fun|sub)\b"
)
_END_WORD = re.compile(r"^(end|fi|done|esac)\b")
# Tokens for structural (identifier-insensitive) comparison of lines.
_TOKEN = re.compile(r"[A-Za-z_]\w*|\d[\w.]*|\"(?:[^\"\\]|\\.)*\"?|'(?:[^'\\]|\\.)*'?|\S")
# Words that must match literally in a structural comparison: renaming never turns one into another.
_KEYWORD_TEXT = (
    "if elif else for while return def class import from try except catch finally raise throw yield "
    "lambda pass break continue and or not in is None True False function const let var new switch "
    "case default fn func struct impl true false null nil"
)
_KEYWORDS = frozenset(_KEYWORD_TEXT.split())
_FENCE = re.compile(r"```[^\n`]*\n(.*?)(?:\n[ \t]*```|\Z)", re.DOTALL)
_HOLE_MARKERS = ("<|CURSOR|>", "<CURSOR>", "<FILL_ME>", "<FILL>")


@attrs.frozen
class Cursor:
    """A document and a cursor in it: everything ``process`` knows about where the text goes."""

    text: str  # the whole document text
    offset: int  # cursor as a str (code point) index into text
    grammar: str | None  # syntax.grammar_name(...) or None for plain text
    tree: Tree | None = None  # tree of text.encode('utf-8') at this version, if available
    multiline: str = "auto"  # "auto" | "always" | "never"


@attrs.frozen
class Scene:
    """The lines around the cursor, with newline (LF) line endings, computed once per suggestion.

    ``window_prefix`` / ``window_suffix`` are the text of the analysis window before / after the
    cursor; ``above`` / ``below`` are the window's lines above / below the cursor line.
    """

    before: str  # cursor line, before the cursor
    after: str  # cursor line, after the cursor
    above: tuple[str, ...]  # window lines above the cursor line, nearest last
    below: tuple[str, ...]  # window lines below the cursor line, nearest first
    eol: str  # the document's line ending
    indent_unit: str  # "\t" or some spaces
    grammar: str | None
    multiline: str = "auto"
    in_comment: bool = False
    baseline_errors: int = 0  # syntax errors in the window without any suggestion
    # The window's tree without the suggestion: candidates are parsed incrementally from a copy.
    tree: Tree | None = attrs.field(default=None, eq=False, repr=False)
    # Enclosing header lines (each less indented than the one below it), nearest first, from further
    # up than the window: finding the enclosing function must not depend on the parse window's size.
    headers: tuple[str, ...] = ()

    @property
    def window_prefix(self) -> str:
        """Window text from its start to the cursor."""
        return "".join(line + "\n" for line in self.above) + self.before

    @property
    def window_suffix(self) -> str:
        """Window text from the cursor to its end."""
        return self.after + "".join("\n" + line for line in self.below)

    @property
    def mid_line(self) -> bool:
        """Whether real text (not just closing punctuation) follows the cursor on its line."""
        return bool(self.after.strip().strip(_CLOSERS).strip())

    @property
    def inserts_lines(self) -> bool:
        """Cursor in the leading whitespace of a line with text: a suggestion goes above that text."""
        return not self.before.strip() and bool(self.after.strip())


# ---------------------------------------------------------------------------------------------------
# Building the scene


def _lines_up(text: str, end: int, limit: int) -> list[str]:
    """Up to ``limit`` lines ending at ``end`` (a line start), nearest first, without reading further."""
    lines: list[str] = []
    while end > 0 and len(lines) < limit:
        start = text.rfind("\n", 0, end - 1) + 1
        lines.append(text[start : end - 1])
        end = start
    return lines


def _lines_down(text: str, start: int, limit: int) -> list[str]:
    """Up to ``limit`` lines starting at ``start`` (just after a newline), nearest first."""
    lines: list[str] = []
    while start <= len(text) and len(lines) < limit:
        end = text.find("\n", start)
        if end < 0:
            lines.append(text[start:])
            break
        lines.append(text[start:end])
        start = end + 1
    return lines


def _indent_width(line: str, tab: int = 4) -> int:
    width = 0
    for ch in line:
        if ch == " ":
            width += 1
        elif ch == "\t":
            width += tab - width % tab
        else:
            break
    return width


def _leading(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _is_top_level_start(line: str) -> bool:
    """A line at column 0 that starts a construct (not a closer, a continuation or a comment tail)."""
    if not line or line[0] in " \t" or not line.strip():
        return False
    return line[0] not in _CLOSERS and not _CONTINUATION.match(line) and not _END_WORD.match(line)


def _headers(text: str, end: int, limit: int) -> tuple[str, ...]:
    """The chain of less and less indented lines above ``end`` (its enclosing headers), nearest first.

    Scans up from ``end`` (a line start) and stops at the first column-0 line or after ``limit`` lines.
    """
    out: list[str] = []
    current: int | None = None
    for _ in range(limit):
        if end <= 0:
            break
        start = text.rfind("\n", 0, end - 1) + 1
        line = text[start : end - 1]
        end = start
        if not line.strip():
            continue
        width = _indent_width(line)
        if current is None or width < current:
            out.append(line.removesuffix("\r"))
            current = width
            if width == 0:
                break
    return tuple(out)


def _window_above(lines_up: list[str]) -> tuple[str, ...]:
    """The lines above the cursor back to the start of the enclosing top-level construct."""
    for i, line in enumerate(lines_up):
        if _is_top_level_start(line):
            # Keep decorators / comments directly attached above a top-level start.
            j = i + 1
            while j < len(lines_up) and lines_up[j].strip() and not lines_up[j][:1].isspace():
                j += 1
            return tuple(reversed(lines_up[:j]))
    return tuple(reversed(lines_up))


def _window_below(lines_down: list[str]) -> tuple[str, ...]:
    """The lines below the cursor up to (not including) the next top-level construct."""
    for i, line in enumerate(lines_down):
        if i > 0 and _is_top_level_start(line):
            return tuple(lines_down[:i])
    return tuple(lines_down)


# Indentation widths people actually use; other steps are alignment (continuation lines, docstrings).
_INDENT_STEPS = (2, 3, 4, 8)


def _bracket_depth_change(line: str) -> int:
    """Open minus closed parentheses/brackets (strings blanked): > 0 continues on the next line."""
    # Braces are left out: in brace languages they open blocks, whose lines are indented by a unit.
    masked = _strip_strings(line)
    return masked.count("(") + masked.count("[") - masked.count(")") - masked.count("]")


def _indent_steps(lines: tuple[str, ...] | list[str]) -> dict[int, int]:
    """How often each indentation step (deeper than the previous statement line) occurs in ``lines``.

    Lines inside open brackets are skipped: they are aligned to the bracket, not indented by a unit.
    """
    steps: dict[int, int] = {}
    previous: int | None = None
    depth = 0
    for line in lines:
        if not line.strip():
            continue
        inside = depth > 0
        depth = max(0, depth + _bracket_depth_change(line))
        if inside:
            continue
        width = _indent_width(line)
        if previous is not None and width - previous in _INDENT_STEPS:
            steps[width - previous] = steps.get(width - previous, 0) + 1
        previous = width
    return steps


def _detect_indent_unit(lines: tuple[str, ...]) -> str:
    """The file's indentation style from the window: a tab, the most common space step, or "" (unknown)."""
    tabs = spaces = 0
    for line in lines:
        if not line.strip():
            continue
        lead = _leading(line)
        if lead.startswith("\t"):
            tabs += 1
        elif lead:
            spaces += 1
    if tabs > spaces:
        return "\t"
    steps = _indent_steps(lines)
    if not steps:
        return ""
    return " " * max(steps, key=lambda s: (steps[s], -s))


def scene_for(cursor: Cursor) -> Scene:
    """Everything the steps need about the document around ``cursor`` (a bounded window)."""
    text = cursor.text
    offset = max(0, min(cursor.offset, len(text)))
    line_start = text.rfind("\n", 0, offset) + 1
    line_end = text.find("\n", offset)
    if line_end < 0:
        line_end = len(text)
    before = text[line_start:offset]
    after = text[offset:line_end]
    eol = "\r\n" if after.endswith("\r") or text[max(0, line_start - 2) : line_start] == "\r\n" else "\n"
    above = _window_above(_lines_up(text, line_start, WINDOW_LINES))
    headers = _headers(text, line_start, HEADER_LINES)
    below = _window_below(_lines_down(text, line_end + 1, WINDOW_LINES)) if line_end < len(text) else ()
    if eol == "\r\n" or "\r" in after:
        above = tuple(line.removesuffix("\r") for line in above)
        below = tuple(line.removesuffix("\r") for line in below)
        before = before.removesuffix("\r")
        after = after.removesuffix("\r")
    scene = Scene(
        before=before,
        after=after,
        above=above,
        below=below,
        eol=eol,
        indent_unit=_detect_indent_unit(above[-40:] + below[:40]),
        grammar=cursor.grammar,
        multiline=cursor.multiline,
        headers=headers,
    )
    if cursor.grammar is None or syntax.language(cursor.grammar) is None:
        return attrs.evolve(scene, grammar=None)
    prefix = scene.window_prefix.encode("utf-8")
    tree = syntax.parse(cursor.grammar, prefix + scene.window_suffix.encode("utf-8"))
    if tree is None:
        return attrs.evolve(scene, grammar=None)
    return attrs.evolve(
        scene,
        in_comment=_in_comment(tree, len(prefix)),
        baseline_errors=syntax.error_count(tree.root_node),
        tree=tree,
    )


def _in_comment(tree: Tree, byte: int) -> bool:
    node = tree.root_node.descendant_for_byte_range(max(0, byte - 1), byte)
    while node is not None:
        if "comment" in node.type:
            return node.start_byte < byte
        if node.parent is None or node.type in ("block", "compound_statement"):
            break
        node = node.parent
    return False


# ---------------------------------------------------------------------------------------------------
# Mode


def decide_mode(scene: Scene) -> str:
    """``"single"`` (finish the current line) or ``"multi"`` (write a block) for the cursor."""
    if scene.multiline == "always":
        return "multi"
    if scene.multiline == "never" or scene.in_comment:
        return "single"
    if scene.inserts_lines or not scene.before.strip():
        return "multi"
    if scene.mid_line:
        return "single"
    # Inside auto-closed brackets (`print($0)`) the user is finishing an argument, not a block.
    if scene.after.strip():
        return "single"
    return "multi" if _BLOCK_OPENER.search(scene.before.rstrip()) else "single"


def mode(cursor: Cursor) -> str:
    """``"single"`` or ``"multi"``: the line-count decision ``process`` makes for this cursor."""
    try:
        return decide_mode(scene_for(cursor))
    except Exception:  # the decision must never take the pipeline down
        log.exception("mode decision failed")
        return "single"


# ---------------------------------------------------------------------------------------------------
# Steps (each: text with "\n" endings + scene -> text)


def extract_chat_code(text: str, scene: Scene) -> str:
    """The code of a chat answer: the first fenced block if any, else the text; no hole markers."""
    match = _FENCE.search(text)
    code = match.group(1) if match else text.strip("\n")
    for marker in _HOLE_MARKERS:
        code = code.replace(marker, "")
    return code


def strip_echoed_prefix(text: str, scene: Scene) -> str:
    """Drop line(s) before the cursor that the model repeated at the start of its answer."""
    lines = text.split("\n")
    context = list(scene.above[-8:]) + [scene.before]
    for m in range(min(len(context), len(lines)), 0, -1):
        tail = context[-m:]
        if not tail[-1].strip() and m == 1:
            break
        if not any(t.strip() for t in tail):
            continue
        if all(lines[j].strip() == tail[j].strip() for j in range(m - 1)) and lines[
            m - 1
        ].lstrip().startswith(tail[-1].strip()):
            rest = lines[m - 1].lstrip()[len(tail[-1].strip()) :]
            if scene.before[-1:].isspace() or not scene.before:
                rest = rest.lstrip()
            return "\n".join([rest, *lines[m:]])
    return text


def reindent_chat(text: str, scene: Scene) -> str:
    """Place chat code (usually written at column 0) at the cursor line's indentation."""
    lines = text.split("\n")
    body = [line for line in lines[1:] if line.strip()]
    if not body:
        return text.lstrip() if not scene.before.strip() else text
    common = min(_indent_width(line) for line in body)
    first_indent = _indent_width(lines[0]) if lines[0].strip() else common
    common = min(common, first_indent)
    base = _leading(scene.before) if not scene.before.strip() else _leading(scene.before)
    out = [lines[0][common:] if lines[0][:common].isspace() else lines[0].lstrip()]
    for line in lines[1:]:
        out.append(base + line[common:] if line.strip() else "")
    if not scene.before.strip():
        out[0] = out[0].lstrip()
    return "\n".join(out)


def keep_first_line(text: str, scene: Scene) -> str:
    """Single-line mode: the rest of the current line (or, at a line end, the one next line)."""
    if text.startswith("\n") and scene.before.strip() and not scene.after.strip():
        rest = text.lstrip("\n").split("\n", 1)[0]
        return "\n" + rest if rest.strip() else ""
    return text.split("\n", 1)[0]


def _strip_strings(line: str) -> str:
    """The line with string literals blanked out (crude, per line), so brackets inside don't count."""
    return re.sub(
        r"\"(?:[^\"\\\n]|\\.)*\"|'(?:[^'\\\n]|\\.)*'|`[^`\n]*`", lambda m: " " * len(m.group()), line
    )


def _next_suffix_text(scene: Scene) -> str:
    """The first non-blank text after the cursor (rest of the line, else the next non-blank line)."""
    if scene.after.strip():
        return scene.after.strip()
    return next((line.strip() for line in scene.below if line.strip()), "")


def cut_at_closing(text: str, scene: Scene, *, single: bool = False) -> str:
    """Stop where the suggestion closes a bracket opened before the cursor.

    If the text after the cursor already has that closer, cut right before it (no double closing).
    Otherwise, on a single line, keep the closer and the rest of its line, then stop.
    """
    stack: list[str] = []
    pos = 0
    for line in text.split("\n"):
        masked = _strip_strings(line)
        for i, ch in enumerate(masked):
            if ch in _OPENERS:
                stack.append(ch)
            elif ch in _PAIRS:
                if stack and stack[-1] == _PAIRS[ch]:
                    stack.pop()
                    continue
                if _next_suffix_text(scene).startswith(ch):
                    return (
                        text[: pos + i].rstrip(" \t") if i == 0 or not line[:i].strip() else text[: pos + i]
                    )
                if single:
                    return text[: pos + len(line)]
                # Multi-line: the statement (a dict, a call) may go on; cut_at_scope_end decides.
                stack.clear()
        pos += len(line) + 1
    return text


def _effective_lines(text: str, scene: Scene) -> list[str]:
    """The suggestion's lines as they will read in the file (the first joined to ``before``)."""
    lines = text.split("\n")
    lines[0] = scene.before + lines[0]
    return lines


def _scope_limit(scene: Scene, ref: int) -> int:
    """Lines indented at or below the returned width leave the scope a blank-line cursor is in.

    The scope is the outermost enclosing function (nested helpers and blocks included: a hole may
    finish them and carry on in the outer body), found by walking up the indentation of the lines
    above; inside a class but no function, the class; outside any definition, the cursor's own block.
    """
    current = ref
    limit = ref - 1
    for line in scene.headers:
        if not line.strip():
            continue
        width = _indent_width(line)
        if width >= current:
            continue
        current = width
        if _FUNCTION.match(line) or _DEFINITION.match(line) and limit == ref - 1:
            limit = width
        if width == 0:
            break
    return limit


def cut_at_scope_end(text: str, scene: Scene) -> str:
    """Multi-line: stop at the first line that leaves the scope being written (by indentation).

    At the end of a block opener the scope is that block (lines deeper than the opener line, plus
    ``else``-like continuations). On a blank line it is the enclosing definition, or at top level the
    current paragraph. A dedented ``end``-like line is kept unless the file already has it next;
    closing brackets are left to ``cut_at_closing``.
    """
    lines = _effective_lines(text, scene)
    first_text = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first_text is None:
        return text
    opener = bool(scene.before.strip()) and _BLOCK_OPENER.search(lines[0].rstrip()) is not None
    if scene.before.strip():
        ref = _indent_width(scene.before)
        limit = ref if opener else _scope_limit(scene, ref)
    else:
        ref = _indent_width(lines[first_text])
        limit = _scope_limit(scene, ref)
    cut = len(lines)
    previous_width = ref
    after_blank = False
    for i in range(first_text + 1, len(lines)):
        line = lines[i]
        if not line.strip():
            after_blank = True
            continue
        width = _indent_width(line)
        stripped = line.strip()
        # At top level (limit < 0) a new paragraph or a statement after an indented body leaves.
        leaves = width == 0 and (after_blank or previous_width > 0) if limit < 0 else width <= limit
        previous_width, after_blank = width, False
        if not leaves:
            continue
        if stripped[0] in _CLOSERS:
            if _BLOCK_OPENER.search(stripped):
                continue  # `} else {`: the compound statement goes on
            cut = i + 1  # the closer of the scope: keep it (a closer already there was cut before)
            break
        if _CONTINUATION.match(stripped) and width >= max(limit, 0):
            continue
        if _END_WORD.match(stripped):
            cut = i if _next_suffix_text(scene).startswith(stripped.split()[0]) else i + 1
            break
        cut = i
        break
    kept = lines[:cut]
    kept[0] = kept[0][len(scene.before) :]
    return "\n".join(kept)


def _tokens(line: str) -> list[str]:
    return _TOKEN.findall(line)


def _alpha_equal(a: str, b: str, forward: dict[str, str], backward: dict[str, str]) -> bool:
    """Equal up to a consistent renaming of identifiers (keywords and literals must match)."""
    ta, tb = _tokens(a), _tokens(b)
    if len(ta) != len(tb) or not ta:
        return False
    for x, y in zip(ta, tb, strict=True):
        if x == y:
            is_name = (x[0].isalpha() or x[0] == "_") and x not in _KEYWORDS
            if is_name and (forward.setdefault(x, y) != y or backward.setdefault(y, x) != x):
                return False
            continue
        is_ident = (x[0].isalpha() or x[0] == "_") and (y[0].isalpha() or y[0] == "_")
        if not is_ident or x in _KEYWORDS or y in _KEYWORDS:
            return False
        if forward.setdefault(x, y) != y or backward.setdefault(y, x) != x:
            return False
    return True


def _same_text(a: str, b: str) -> bool:
    """Equality ignoring whitespace: the same code, whatever its formatting."""
    return "".join(a.split()) == "".join(b.split())


def _skeleton(line: str) -> list[str]:
    """The line's tokens with identifiers blanked: keywords, literals and punctuation kept."""
    return ["_" if (t[0].isalpha() or t[0] == "_") and t not in _KEYWORDS else t for t in _tokens(line)]


def _near_equal(a: str, b: str) -> bool:
    """The same code up to formatting, or up to small edits of identifiers (similarity >= 0.9).

    Literals, keywords and punctuation must match: lines of a repeated structure that differ in a
    number or a string (``elif x > 2.0:`` / ``elif x > 1.7:``) are new code, not a repetition.
    """
    x, y = "".join(a.split()), "".join(b.split())
    if x == y:
        return True
    if min(len(x), len(y)) < 12 or _skeleton(a) != _skeleton(b):
        return False
    matcher = SequenceMatcher(None, x, y, autojunk=False)
    return matcher.quick_ratio() >= 0.9 and matcher.ratio() >= 0.9


def _suffix_lines(scene: Scene) -> list[str]:
    """Non-blank lines after the cursor that a suggestion's own lines could duplicate."""
    # The cursor line's text, at its own indentation, when the suggestion goes above it.
    lines = [scene.before + scene.after] if scene.after.strip() and not scene.before.strip() else []
    lines.extend(scene.below[:20])
    return [line for line in lines if line.strip()]


def _matches_suffix(lines: list[str], suffix: list[str]) -> bool:
    """Whether ``lines`` (non-blank) repeat the start of ``suffix``, exactly, nearly or renamed.

    Lines compare at their indentation: the same text at another nesting level is new code. The last
    line may be a truncated prefix of its counterpart. A renamed or near match needs two lines (or the
    whole rest of the suffix): one such line alone is too weak a signal. A suggestion that runs on
    past the end of the suffix repeats it only if at least two suffix lines exist to match (a single
    common line such as ``return False`` followed by more code is a coincidence).
    """
    if not lines or len(lines) > len(suffix) and (len(lines) < 3 or len(suffix) < 2):
        return False
    forward: dict[str, str] = {}
    backward: dict[str, str] = {}
    literal = True
    n = min(len(lines), len(suffix))
    for k in range(n):
        ours, theirs = lines[k], suffix[k]
        last = k == len(lines) - 1
        if _indent_width(ours) != _indent_width(theirs):
            return k >= 3  # the same text at another nesting level is new code, not a repeat
        if _same_text(ours, theirs):
            continue
        if _near_equal(ours, theirs):
            literal = False  # a near repeat is as weak a signal as a renamed one
            continue
        if last and len(ours.strip()) >= 4 and theirs.strip().startswith(ours.strip()):
            continue
        if _alpha_equal(ours, theirs, forward, backward):
            literal = False
            continue
        return k >= 3  # three repeated lines in a row are enough, whatever follows
    if literal:
        return True
    return n >= 2 or n == len(suffix)


def trim_suffix_overlap(text: str, scene: Scene) -> str:
    """Drop the part of the suggestion that repeats what already follows the cursor.

    Line level: from the first suggestion line whose remaining non-blank lines repeat the lines after
    the cursor. Cursor line: a tail equal to the text after the cursor on that line.
    """
    lines = text.split("\n")
    suffix = _suffix_lines(scene)
    if suffix and len(lines) > 0:
        complete_first = not scene.before.strip()
        start = 0 if complete_first else 1
        # Compared as they will read in the file: the first line after the cursor's indentation.
        effective = _effective_lines(text, scene)
        for i in range(start, len(lines)):
            if not lines[i].strip():
                continue
            rest = [line for line in effective[i:] if line.strip()]
            if _matches_suffix(rest, suffix):
                # Only a literal repeat of the next line may empty a suggestion by itself.
                if i == 0 and not _same_text(rest[0], suffix[0]):
                    continue
                return "\n".join(lines[:i])
    after = scene.after.strip()
    if after and len(lines) == 1:
        first = lines[0].rstrip()
        if first.endswith(after):
            return (
                first[: len(first) - len(after)].rstrip()
                if scene.after[:1].isspace()
                else first[: len(first) - len(after)]
            )
    return text


def drop_repetition(text: str, scene: Scene) -> str:
    """Cut a model loop: a line repeated 3+ times, or a block of lines repeated at the end."""
    lines = _effective_lines(text, scene)
    n = len(lines)
    for period in range(1, 9):
        copies = 3 if period == 1 else 2
        if n < period * copies:
            break
        # Walk back from the end over lines equal to the line one period earlier.
        j = n - 1
        if j - period >= 0 and lines[j] != lines[j - period] and lines[j - period].startswith(lines[j]):
            j -= 1  # a last copy truncated by max tokens
        start = j
        while start - period >= 0 and lines[start] == lines[start - period]:
            start -= 1
        repeated = j - start
        block = lines[start + 1 - period : start + 1] if start + 1 - period >= 0 else []
        if repeated >= period * (copies - 1) and any(line.strip() for line in block):
            kept = lines[: start + 1]
            kept[0] = kept[0][len(scene.before) :]
            return "\n".join(kept)
    return text


def _surrounding_steps(lines: list[str], scene: Scene) -> set[int]:
    """Indentation steps of the window, and where the suggestion's last line meets the next line.

    A step already used in the enclosing code (or one the following line needs right after the
    suggestion: a block the model opened whose body is in the file) is the file's style too.
    """
    steps = set(_indent_steps(scene.above)) | set(_indent_steps(scene.below))
    last = next((line for line in reversed(_effective_lines("\n".join(lines), scene)) if line.strip()), "")
    if scene.after.strip():
        following: str | None = scene.before + scene.after if not scene.before.strip() else None
    else:
        following = next((line for line in scene.below if line.strip()), None)
    if last and following is not None:
        step = _indent_width(following) - _indent_width(last)
        if step in _INDENT_STEPS:
            steps.add(step)
    return steps


def normalize_indentation(text: str, scene: Scene) -> str:
    """Rewrite the suggestion's leading whitespace in the file's style (tabs or the file's width)."""
    lines = text.split("\n")
    if len(lines) < 2:
        return text
    unit = scene.indent_unit
    body = [line for line in lines[1:] if line.strip()]
    if not body or not unit:
        return text  # no evidence of the file's style: keep the model's
    if unit == "\t":
        if not any(" " in _leading(line) for line in body):
            return text
        width = _detect_indent_unit(tuple(body))
        step = len(width) if width not in ("\t", "") else 4
        return "\n".join(
            [lines[0]]
            + [
                "\t" * (_indent_width(line) // step) + " " * (_indent_width(line) % step) + line.lstrip(" \t")
                if line.strip()
                else line
                for line in lines[1:]
            ]
        )
    # The file indents with spaces.
    if any("\t" in _leading(line) for line in body):
        return "\n".join(
            [lines[0]] + [_leading(line).replace("\t", unit) + line.lstrip(" \t") for line in lines[1:]]
        )
    base = _indent_width(scene.before) if not scene.before.strip() else _indent_width(scene.before)
    if not scene.before.strip() and lines[0].strip():
        base = _indent_width(scene.before + lines[0])
    deltas = [_indent_width(line) - base for line in body]
    positive = [d for d in deltas if d > 0]
    if not positive:
        return text
    ours = min(positive)
    theirs = len(unit)
    if ours == theirs or ours not in (2, 4, 8) or any(d % ours for d in deltas if d > 0):
        return text
    if ours in _surrounding_steps(lines, scene):
        return text  # the code around the cursor already indents this way: the model follows it
    out = [lines[0]]
    for line, in_body in ((line, bool(line.strip())) for line in lines[1:]):
        if not in_body:
            out.append(line)
            continue
        delta = _indent_width(line) - base
        if delta <= 0:
            out.append(line)
            continue
        out.append(" " * (base + delta // ours * theirs) + line.lstrip(" \t"))
    return "\n".join(out)


def _errors_with(text: str, scene: Scene) -> int:
    """Syntax errors in the window with ``text`` inserted at the cursor (incremental reparse)."""
    prefix = scene.window_prefix.encode("utf-8")
    inserted = text.encode("utf-8")
    source = prefix + inserted + scene.window_suffix.encode("utf-8")
    if scene.tree is None:
        tree = syntax.parse(scene.grammar, source)
    else:
        old = scene.tree.copy()
        row = prefix.count(b"\n")
        column = len(prefix) - (prefix.rfind(b"\n") + 1)
        lines = inserted.count(b"\n")
        end_column = len(inserted) - (inserted.rfind(b"\n") + 1) if lines else column + len(inserted)
        old.edit(
            start_byte=len(prefix),
            old_end_byte=len(prefix),
            new_end_byte=len(prefix) + len(inserted),
            start_point=(row, column),
            old_end_point=(row, column),
            new_end_point=(row + lines, end_column),
        )
        tree = syntax.parse(scene.grammar, source, old)
    return 0 if tree is None else syntax.error_count(tree.root_node)


def _token_cuts(line: str) -> list[int]:
    """Character positions in ``line`` at token ends, longest first (for cutting back a line)."""
    return sorted({m.end() for m in _TOKEN.finditer(line)}, reverse=True)


def validate_syntax(text: str, scene: Scene, *, max_parses: int = 12) -> str:
    """Cut a suggestion that adds syntax errors back to its longest prefix that does not.

    Compares the window's error count with and without the suggestion: a file that is already
    broken keeps its errors as the baseline, so only new errors count. Line prefixes first, then
    token boundaries of the first line; nothing valid -> "". Without a grammar: unchanged.
    """
    if scene.grammar is None or not text.strip():
        return text
    baseline = scene.baseline_errors
    if _errors_with(text, scene) <= baseline:
        return text
    lines = text.rstrip().split("\n")
    parses = 1
    # Binary search for the longest valid line prefix: errors usually start at one line and stay.
    low, high = 0, len(lines) - 1  # line counts: `low` known valid (0 = nothing), `high` to try
    best = ""
    while low < high and parses < max_parses:
        mid = (low + high + 1) // 2
        candidate = shape_end("\n".join(lines[:mid]), scene)
        parses += 1
        if candidate.strip() and _errors_with(candidate, scene) <= baseline:
            low, best = mid, candidate
        else:
            high = mid - 1
    if best:
        return best
    first = lines[0]
    for end in _token_cuts(first)[1:]:
        if parses >= max_parses:
            break
        parses += 1
        candidate = shape_end(first[:end], scene)
        if _errors_with(candidate, scene) <= baseline:
            return candidate
    return ""


def shape_end(text: str, scene: Scene) -> str:
    """Trailing whitespace by situation: text after the cursor keeps its own line and indentation."""
    if not text.strip():
        return ""
    if scene.inserts_lines:
        return text.rstrip() + "\n" + scene.before
    if not scene.after.strip():
        return text.rstrip()
    return text.rstrip("\n")


def drop_trivial(text: str, scene: Scene) -> str:
    """Nothing at all rather than a suggestion that only repeats the line above the cursor."""
    content = [line for line in text.split("\n") if line.strip()]
    if not content:
        return ""
    previous = next((line for line in reversed(scene.above) if line.strip()), "")
    if len(content) == 1 and not scene.before.strip() and content[0].strip() == previous.strip():
        return ""
    return text


# ---------------------------------------------------------------------------------------------------
# Pipeline


def process(raw: str, cursor: Cursor, *, chat: bool = False) -> str:
    """The suggestion to show for a model's raw answer at ``cursor``; ``""`` means show nothing.

    Order: line endings -> chat extraction (fences, echoed prefix, indentation) -> single-line cut ->
    closing brackets -> block scope -> overlap with the text after the cursor -> repetition ->
    indentation style -> trailing shape -> syntax validation -> nothing trivial; in the document's
    line endings.
    """
    if not raw or not raw.strip():
        return ""
    try:
        scene = scene_for(cursor)
        return _run(raw, scene, chat=chat)
    except Exception:  # model output must never crash the server; fall back to a safe single line
        log.exception("post-processing failed")
        return raw.replace("\r\n", "\n").split("\n", 1)[0].rstrip()


def _run(raw: str, scene: Scene, *, chat: bool) -> str:
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    if chat:
        text = extract_chat_code(text, scene)
        text = strip_echoed_prefix(text, scene)
        text = reindent_chat(text, scene)
    single = decide_mode(scene) == "single"
    if single:
        text = keep_first_line(text, scene)
    text = cut_at_closing(text, scene, single=single)
    if not single:
        text = cut_at_scope_end(text, scene)
    text = trim_suffix_overlap(text, scene)
    text = drop_repetition(text, scene)
    text = normalize_indentation(text, scene)
    text = shape_end(text, scene)
    text = validate_syntax(text, scene)
    text = drop_trivial(text, scene)
    return text.replace("\n", scene.eol) if scene.eol != "\n" else text


def should_stop_streaming(partial: str, cursor: Cursor) -> bool:
    """True once ``partial`` already holds everything ``process`` would keep, so the stream can close.

    Single-line mode: a newline after some text. Multi-line: a complete line beyond the scope (the
    scope cut or suffix overlap removed a complete line), or a loop.
    """
    if not partial:
        return False
    try:
        scene = scene_for(cursor)
        text = partial.replace("\r\n", "\n")
        if decide_mode(scene) == "single":
            kept = keep_first_line(text, scene)
            return (
                len(text) > len(kept)
                and "\n" in text[len(kept) :]
                or ("\n" in text and text.split("\n", 1)[0].strip() != "" and not text.startswith("\n"))
            )
        if "\n" not in text:
            return False
        complete = text[: text.rfind("\n")]
        cut = cut_at_closing(complete, scene)
        cut = cut_at_scope_end(cut, scene)
        cut = trim_suffix_overlap(cut, scene)
        cut = drop_repetition(cut, scene)
        return len(cut.rstrip()) < len(complete.rstrip())
    except Exception:
        log.exception("stream stop check failed")
        return False
