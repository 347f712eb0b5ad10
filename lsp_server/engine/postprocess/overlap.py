"""Repeats: a suggestion that reproduces the text after the cursor, or that loops.

Owns the comparison of suggestion lines with the lines after the cursor (literal, near, renamed) and
the loop detector. Must not look beyond the scene's window.
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher

from lsp_server.core.indentation import bracket_depth_change, indent_width, strip_strings
from lsp_server.engine.postprocess.closers import consumed_positions
from lsp_server.engine.postprocess.scene import CLOSERS, Scene, effective_lines

# Tokens for structural (identifier-insensitive) comparison of lines.
TOKEN = re.compile(r"[A-Za-z_]\w*|\d[\w.]*|\"(?:[^\"\\]|\\.)*\"?|'(?:[^'\\]|\\.)*'?|\S")
# Words that must match literally in a structural comparison: renaming never turns one into another.
_KEYWORD_TEXT = (
    "if elif else for while return def class import from try except catch finally raise throw yield "
    "lambda pass break continue and or not in is None True False function const let var new switch "
    "case default fn func struct impl true false null nil"
)
_KEYWORDS = frozenset(_KEYWORD_TEXT.split())
# A line that only closes a keyword block (Ruby, Lua, shell).
_LONE_END = re.compile(r"(?:end|fi|done|esac);?")


def _tokens(line: str) -> list[str]:
    return TOKEN.findall(line)


def _alpha_equal(a: str, b: str, forward: dict[str, str], backward: dict[str, str]) -> bool:
    """Equal up to a consistent renaming of identifiers (keywords and literals must match)."""
    ta, tb = _tokens(a), _tokens(b)
    if len(ta) != len(tb) or not ta:
        return False
    if _LONE_END.fullmatch(a.strip()) or _LONE_END.fullmatch(b.strip()):
        return same_text(a, b)  # `end` closing a block is no renamed `foo`
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


def same_text(a: str, b: str) -> bool:
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
        if indent_width(ours) != indent_width(theirs):
            return k >= 3  # the same text at another nesting level is new code, not a repeat
        if same_text(ours, theirs):
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


def matches_following(lines: list[str], scene: Scene) -> bool:
    """Whether ``lines`` (the end of a suggestion) are blank or repeat the lines after the cursor's line."""
    rest = [line for line in lines if line.strip()]
    if not rest:
        return True
    return _matches_suffix(rest, [line for line in scene.following if line.strip()])


def _opened(lines: list[str]) -> int:
    """Braces ``lines`` open and do not close (strings blanked)."""
    masked = [strip_strings(line) for line in lines]
    return sum(line.count("{") - line.count("}") for line in masked)


def _braces_open_before(scene: Scene) -> int:
    """Braces opened in the window before the cursor and not closed there (strings blanked)."""
    depth = 0
    for line in (*scene.above, scene.before):
        masked = strip_strings(line)
        depth = max(0, depth + masked.count("{") - masked.count("}"))
    return depth


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
        effective = effective_lines(text, scene)
        for i in range(start, len(lines)):
            if not lines[i].strip():
                continue
            rest = [line for line in effective[i:] if line.strip()]
            # Closers ending a block the suggestion opened itself are its own when the file's `}`
            # closes something opened before the cursor (`fn` typed in an `impl`); code after them
            # that repeats the file too makes it a repeat after all.
            closers_only = all(line.strip()[:1] == "}" for line in rest)
            if closers_only and _opened(lines[:i]) > 0 and _braces_open_before(scene) > 0:
                continue
            if _matches_suffix(rest, suffix):
                # Only a literal repeat of the next line may empty a suggestion by itself.
                if i == 0 and not same_text(rest[0], suffix[0]):
                    continue
                return "\n".join(lines[:i])
    after = scene.after.strip()
    # At a line start the rest of the line is ``rest_of_line``'s: here only mid-line cursors.
    if after and len(lines) == 1 and scene.before.strip():
        first = lines[0].rstrip()
        cut = rest_of_line_starts(first, after, scene)
        if cut is not None:
            return first[:cut].rstrip() if scene.after[:1].isspace() else first[:cut]
    return text


def rest_of_line_starts(first: str, after: str, scene: Scene) -> int | None:
    """Where the suggestion's line starts reproducing the rest of the cursor's line, if it does.

    A tail equal to the rest of the line counts unless the line reads balanced only with it (then the
    suggestion wrote its own closers); an earlier occurrence
    counts for real text (a terminator: ``"Hello", this);`` before ``;``), as long as the suggestion
    has not already closed the construct the cursor is in.
    """
    run = after[: next((i for i, ch in enumerate(after) if ch not in CLOSERS), len(after))]
    if first.endswith(after):
        start = len(first) - len(after)
        # Whose closer is the tail's? The reading that leaves the cursor's line balanced wins
        # (`et(string.lower())` before `)` writes its own; `ring.swapcase()` before `)` repeats it).
        kept = abs(bracket_depth_change(scene.before + first + scene.after))
        cut = abs(bracket_depth_change(scene.before + first[:start] + scene.after))
        return start if cut <= kept else None
    if len(after) < 3 or after == run:
        return None
    brackets = "".join(ch for ch in run if ch in ")]}\"'`")
    inherited = consumed_positions(first, brackets, scene.grammar) if brackets else []
    limit = inherited[0] if inherited else len(first)
    found = first.find(after, 1, limit + len(after))
    return found if 0 < found <= limit else None


def drop_copy_of_next(text: str, scene: Scene) -> str:
    """Nothing rather than a suggestion that makes the cursor's line a copy of the next line(s).

    The model wrote the code that already follows (``    |;`` answered with the ``return`` on the
    line below): accepted, it would stand twice. Only a suggestion that completes the cursor's line
    counts here (mid-line, or at a line start whose end the file holds); lines inserted above the
    cursor's line that repeat it are ``trim_suffix_overlap``'s.
    """
    if not text.strip() or scene.inserts_lines or not scene.before.strip() and not scene.completes_line:
        return text
    if not scene.after.strip() and not scene.completes_line:
        return text
    completed = [line for line in (scene.before + text + scene.after).split("\n") if line.strip()]
    following = [line for line in scene.following if line.strip()][: len(completed)]
    if len(following) == len(completed) and all(map(same_text, completed, following)):
        return ""
    return text


def drop_repetition(text: str, scene: Scene) -> str:
    """Cut a model loop: a line repeated 3+ times, or a block of lines repeated at the end."""
    lines = effective_lines(text, scene)
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
