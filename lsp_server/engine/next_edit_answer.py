"""From a model's answer to next edits: the rewritten region read back, diffed into hunks, checked.

Owns what an answer must pass before any of it is shown: reading the rewritten region (fenced or
bare, with or without Zeta's markers; Zeta's answer stops at ``<|editable_region_end|>``), putting the
redacted secrets back, diffing it against the region (difflib through ``core.text.minimal_edits``:
each hunk is the smallest range, so a one-line change replaces part of one line, never the region),
and the checks of every hunk: it changes more than whitespace; it does not only undo what the user
just typed (models often do, and showing it would fight the user); it adds no syntax error (the
window re-parsed with it, as code actions check theirs) and no invisible character; and what it adds
is reviewed for powers (``capabilities``: process execution, network access, URLs, sensitive paths)
against the window's code, comments left out, and what the user typed themselves. Hunks come out
nearest the cursor first.

Pure and synchronous, bounded by the region's window (never the whole document). Must not import
pygls or openai; it never applies an edit, and the version check is the caller's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import attrs

from lsp_server.core import syntax
from lsp_server.core.errors import UnsafeEdit
from lsp_server.core.text import Encoding, TextEdit, minimal_edits, offset_of, split_lines, utf8_len
from lsp_server.engine import capabilities
from lsp_server.engine.capabilities import Review, Task
from lsp_server.engine.edit_history import EditEvent
from lsp_server.engine.editable_region import Region
from lsp_server.engine.rewrite import check_invisible, code_blocks, restore_secrets
from lsp_server.providers.edit_formats import CURSOR, REGION_END, REGION_START

SYNTAX_ERROR = "it adds a syntax error"
_CLOSING_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*$", re.MULTILINE)
_SPACE = re.compile(r"\s+")


@attrs.frozen
class Proposal:
    """One hunk that passed the checks: ``edit`` in document positions, ``start``..``end`` in the region.

    ``review`` says what it adds that the user did not type (flagged: never a plain edit).
    """

    edit: TextEdit
    start: int
    end: int
    new_text: str
    review: Review = capabilities.CLEAN

    @property
    def lines(self) -> tuple[int, int]:
        """First and last document line the hunk replaces."""
        return self.edit.start[0], self.edit.end[0]


@attrs.frozen
class Verdict:
    """The hunks worth showing, best first, and why the others were dropped (for logs and results)."""

    proposals: tuple[Proposal, ...] = ()
    dropped: tuple[str, ...] = ()

    @property
    def reason(self) -> str:
        """Why nothing is proposed ("" when something is)."""
        if self.proposals:
            return ""
        if not self.dropped:
            return "the model proposed no change"
        return "; ".join(dict.fromkeys(self.dropped))


def read_region(answer: str) -> str | None:
    """The rewritten region in a model's answer, or None when it cannot be told apart.

    Accepted shapes: the region between Zeta's markers (the end marker may be missing: Zeta stops
    there), inside a fence or not; one fenced code block; or a bare answer.
    """
    text = answer.replace(CURSOR, "")
    if REGION_START in text:
        body = text.split(REGION_START, 1)[1]
        newline = body.find("\n")
        if newline >= 0 and not body[:newline].strip():
            body = body[newline + 1 :]  # the rest of the marker's own line
        end = body.find(REGION_END)
        if end >= 0:
            body = body[:end]
        else:
            fence = _CLOSING_FENCE.search(body)
            body = body[: fence.start()] if fence else body
        return body[:-1] if body.endswith("\n") else body
    if REGION_END in text:
        text = text.split(REGION_END, 1)[0]
    blocks = code_blocks(text)
    if len(blocks) > 1:
        return None
    body = blocks[0] if blocks else text
    lines = body.split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)


def answer_region(answer: str, region: Region, secrets: Sequence[str]) -> str:
    """The region's new text from a model's answer: markers read, secrets put back, line endings kept.

    Raises ``UnsafeEdit`` when the answer cannot be read, lost or moved a redacted secret, or carries
    invisible characters.
    """
    new = read_region(answer)
    if new is None:
        raise UnsafeEdit("the model's answer holds several code blocks")
    if not new.strip() and region.text.strip():
        raise UnsafeEdit("the model's answer is empty")  # a lost answer, not "delete the region"
    check_invisible(new)
    new = restore_secrets(new, secrets)
    if "\r\n" in region.text and "\r\n" not in new:
        new = new.replace("\n", "\r\n")
    return new


def propose(
    region: Region,
    new_text: str,
    encoding: Encoding,
    *,
    user_edits: Sequence[EditEvent] = (),
    own_text: str = "",
    local: frozenset[str] = frozenset(),
) -> Verdict:
    """The hunks of ``region`` -> ``new_text`` that pass every check, nearest the cursor first.

    ``user_edits`` are the user's latest edits of this document (newest first): a hunk that only
    undoes them is dropped. ``own_text`` is what the user typed lately in any document, which
    explains the powers it holds; ``local`` names the project's own modules (imports of them are fine).
    """
    hunks = minimal_edits(region.text, new_text, encoding)
    if not hunks:
        return Verdict()
    checker = _Checker(region, encoding, own_text, local)
    cursor_line = region.first_line + region.text.count("\n", 0, region.cursor)
    lines = split_lines(region.text)
    dropped: list[str] = []
    passed: list[Proposal] = []
    syntax_failed = 0
    for hunk in hunks:
        start = offset_of(lines, *hunk.start, encoding)
        end = offset_of(lines, *hunk.end, encoding)
        old = region.text[start:end]
        if _SPACE.sub("", old) == _SPACE.sub("", hunk.new_text):
            dropped.append("the model only changed whitespace")
            continue
        if _undoes(
            old, hunk.new_text, region.first_line + hunk.start[0], region.first_line + hunk.end[0], user_edits
        ):
            dropped.append("the model only undid your last edit")
            continue
        proposal = checker.check(start, end, hunk)
        if isinstance(proposal, str):
            syntax_failed += proposal == SYNTAX_ERROR
            dropped.append(proposal)
            continue
        passed.append(proposal)
    if not passed and syntax_failed and len(hunks) > 1:
        # Hunks of one change may only parse together (a block moved into a new `if`): try them as one.
        first, last = hunks[0], hunks[-1]
        start = offset_of(lines, *first.start, encoding)
        end = offset_of(lines, *last.end, encoding)
        tail = len(region.text) - end
        merged = TextEdit(first.start, last.end, new_text[start : len(new_text) - tail])
        proposal = checker.check(start, end, merged)
        if not isinstance(proposal, str):
            passed.append(proposal)
    passed.sort(key=lambda p: _distance(p.lines, cursor_line))
    return Verdict(tuple(passed), tuple(dropped))


def _distance(lines: tuple[int, int], cursor_line: int) -> tuple[int, int]:
    """Lines from the cursor to a hunk (0 on it); a hunk below the cursor wins a tie."""
    first, last = lines
    if first <= cursor_line <= last:
        return 0, 0
    if first > cursor_line:
        return first - cursor_line, 0
    return cursor_line - last, 1


def _undoes(old: str, new: str, first_line: int, last_line: int, user_edits: Sequence[EditEvent]) -> bool:
    """Whether replacing ``old`` by ``new`` at those lines only takes back the user's latest edits.

    It does when the text it removes is text they inserted and the text it puts is text they
    removed, in lines they edited (their edits are read oldest first, so an insertion typed over
    several events reads whole).
    """
    if not user_edits or not (old.strip() or new.strip()):
        return False
    touched = [
        e for e in user_edits if e.first_line - 1 <= last_line and first_line <= e.first_line + len(e.new)
    ]
    if not touched:
        return False
    inserted, deleted = "", ""
    for event in reversed(touched):
        added, removed = event.changes()
        inserted += added
        deleted += removed
    return _within(old, inserted) and _within(new, deleted)


def _within(part: str, whole: str) -> bool:
    if not part:
        return True
    return part in whole or (bool(part.strip()) and _SPACE.sub("", part) in _SPACE.sub("", whole))


class _Checker:
    """The checks that need the window: syntax (before and after the hunk) and the capability review."""

    def __init__(self, region: Region, encoding: Encoding, own_text: str, local: frozenset[str]) -> None:
        self.region = region
        self.window = region.window
        self.text = self.window.text
        self.base = self.window.line_offset(region.first_line)
        tree = self.window.tree
        self.errors = syntax.error_count(tree.root_node) if tree is not None else 0
        self.own_text = own_text
        self.local = local
        self._baseline: str | None = None

    def baseline(self) -> str:
        """The window's code without comments and docstrings, plus what the user typed lately."""
        if self._baseline is None:
            source = self.text.encode("utf-8", "surrogatepass")
            code = capabilities.documentation_free(self.window.grammar, self.window.tree, source)
            self._baseline = code + "\n" + self.own_text
        return self._baseline

    def check(self, start: int, end: int, hunk: TextEdit) -> Proposal | str:
        """A proposal for the hunk replacing region ``start``..``end``, or why it is dropped."""
        try:
            check_invisible(hunk.new_text)
        except UnsafeEdit:
            return "the model's edit holds invisible characters"
        at, to = self.base + start, self.base + end
        new_window = self.text[:at] + hunk.new_text + self.text[to:]
        source = new_window.encode("utf-8", "surrogatepass")
        tree = None
        if self.window.grammar is not None and self.window.tree is not None:
            tree = syntax.parse(self.window.grammar, source)
            if tree is not None and syntax.error_count(tree.root_node) > self.errors:
                return SYNTAX_ERROR
        # Review whole lines: an argument slipped into an existing call is read with its call.
        line_start = new_window.rfind("\n", 0, at) + 1
        line_end = new_window.find("\n", at + len(hunk.new_text))
        line_end = len(new_window) if line_end < 0 else line_end
        review = capabilities.review(
            self.window.grammar,
            tree,
            source,
            utf8_len(new_window[:line_start]),
            utf8_len(new_window[:line_end]),
            self.baseline(),
            Task("nextEdit", local=self.local),
        )
        edit = TextEdit(
            (hunk.start[0] + self.region.first_line, hunk.start[1]),
            (hunk.end[0] + self.region.first_line, hunk.end[1]),
            hunk.new_text,
        )
        return Proposal(edit, start, end, hunk.new_text, review)
