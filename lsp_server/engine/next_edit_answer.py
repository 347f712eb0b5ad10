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
from bisect import bisect_right
from collections.abc import Sequence
from difflib import SequenceMatcher
from itertools import accumulate

import attrs

from lsp_server.core import syntax
from lsp_server.core.errors import UnsafeEdit
from lsp_server.core.text import (
    Encoding,
    TextEdit,
    index_to_column,
    line_content_length,
    split_lines,
    utf8_len,
)
from lsp_server.engine import capabilities
from lsp_server.engine.capabilities import Review, Task
from lsp_server.engine.edit_history import EditEvent
from lsp_server.engine.editable_region import Region
from lsp_server.engine.rewrite import check_invisible, code_blocks, restore_secrets
from lsp_server.providers.edit_formats import CURSOR, REGION_END, REGION_START

SYNTAX_ERROR = "it adds a syntax error"
_SLACK = 2  # characters of difflib's approximation allowed when telling a revert (and 10 %)
_REVERT_CHARS = 3000  # longer edits are not compared character by character (difflib is quadratic)
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


@attrs.frozen
class _Hunk:
    """Region text ``start``..``end`` replaced by ``new_text`` (``new_start``..``new_end`` of the answer).

    ``block`` numbers difflib's changed blocks and ``line`` is the region line the hunk starts on: hunks
    of one block on consecutive lines are one change, split only to leave noise out.
    """

    start: int
    end: int
    new_text: str
    new_start: int = 0
    new_end: int = 0
    block: int = 0
    line: int = 0
    last_line: int = 0


def hunks(old: str, new: str) -> list[_Hunk]:
    """The changes from ``old`` to ``new``, each as small as it can be, in order.

    Lines are aligned with difflib ignoring trailing whitespace (a line whose only change is trailing
    space is no change), a block of changed lines that keeps its line count is split line by line (a
    revert on one line and the next edit on the line below stay apart until ``_joined`` puts the
    wanted ones back together), and each change is trimmed to the characters that differ.
    Hand-written over ``SequenceMatcher`` because ``core.text``'s minimal edits keep a block of changed
    lines whole, which would tie a wanted edit to an unwanted one.
    """
    a, b = split_lines(old), split_lines(new)
    starts = list(accumulate(map(len, a), initial=0))
    news = list(accumulate(map(len, b), initial=0))
    keys_a, keys_b = [line.rstrip() for line in a], [line.rstrip() for line in b]
    found: list[_Hunk] = []
    opcodes = SequenceMatcher(None, keys_a, keys_b, autojunk=False).get_opcodes()
    for block, (tag, i1, i2, j1, j2) in enumerate(opcodes):
        if tag == "equal":
            continue
        pairs = (
            [(i, i + 1, j1 + i - i1, j1 + i - i1 + 1) for i in range(i1, i2)] if i2 - i1 == j2 - j1 else []
        )
        for k1, k2, m1, m2 in pairs or [(i1, i2, j1, j2)]:
            hunk = _trimmed(old[starts[k1] : starts[k2]], new[news[m1] : news[m2]], starts[k1], news[m1])
            if hunk is not None:
                found.append(attrs.evolve(hunk, block=block, line=k1, last_line=k1))
    return found


def _joined(kept: Sequence[_Hunk], new: str) -> list[_Hunk]:
    """Hunks of one block on consecutive lines as one: a two-line change is one edit."""
    joined: list[_Hunk] = []
    for hunk in kept:
        previous = joined[-1] if joined else None
        if previous is not None and previous.block == hunk.block and hunk.line == previous.last_line + 1:
            joined[-1] = attrs.evolve(
                previous,
                end=hunk.end,
                new_text=new[previous.new_start : hunk.new_end],
                new_end=hunk.new_end,
                last_line=hunk.line,
            )
        else:
            joined.append(hunk)
    return joined


def _trimmed(old: str, new: str, base: int, new_base: int) -> _Hunk | None:
    """``old`` -> ``new`` at ``base`` without their common start and end (never inside a CRLF)."""
    if old == new:
        return None
    prefix = 0
    limit = min(len(old), len(new))
    while prefix < limit and old[prefix] == new[prefix]:
        prefix += 1
    if prefix and old[prefix - 1 : prefix + 1] == "\r\n":
        prefix -= 1
    suffix = 0
    while suffix < limit - prefix and old[-1 - suffix] == new[-1 - suffix]:
        suffix += 1
    cut = len(old) - suffix
    if suffix and old[cut - 1 : cut + 1] == "\r\n":
        suffix -= 1
    return _Hunk(
        base + prefix,
        base + len(old) - suffix,
        new[prefix : len(new) - suffix],
        new_base + prefix,
        new_base + len(new) - suffix,
    )


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
    found = hunks(region.text, new_text)
    if not found:
        return Verdict()
    checker = _Checker(region, encoding, own_text, local)
    cursor_line = region.first_line + region.text.count("\n", 0, region.cursor)
    spans = _user_spans(region, user_edits)
    dropped: list[str] = []
    kept: list[_Hunk] = []
    for hunk in found:
        old = region.text[hunk.start : hunk.end]
        if _SPACE.sub("", old) == _SPACE.sub("", hunk.new_text):
            dropped.append("the model only changed whitespace")
        elif any(_undoes(hunk, region.text, new_text, *span) for span in spans):
            dropped.append("the model only undid your last edit")
        else:
            kept.append(hunk)
    passed: list[Proposal] = []
    syntax_failed = 0
    for hunk in _joined(kept, new_text):
        if any(_undoes(hunk, region.text, new_text, *span) for span in spans):
            dropped.append("the model only undid your last edit")  # line by line it did not show
            continue
        proposal = checker.check(hunk)
        if isinstance(proposal, str):
            syntax_failed += proposal == SYNTAX_ERROR
            dropped.append(proposal)
            continue
        passed.append(proposal)
    if not passed and syntax_failed and len(found) > 1:
        # Hunks of one change may only parse together (a block moved into a new `if`): try them as one.
        first, last = found[0], found[-1]
        tail = len(region.text) - last.end
        merged = _Hunk(first.start, last.end, new_text[first.new_start : len(new_text) - tail])
        proposal = checker.check(merged)
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


def _user_spans(region: Region, user_edits: Sequence[EditEvent]) -> list[tuple[int, int, str]]:
    """The user's latest edits inside the region: (start, end) of their text now, and the text before.

    Consecutive events of the same lines (an edit typed in bursts) read as one. An event whose lines
    changed since, or that reaches outside the region, is left out.
    """
    chains: list[EditEvent] = []
    for event in reversed(user_edits):  # oldest first
        previous = chains[-1] if chains else None
        if previous is not None and event.first_line == previous.first_line and event.old == previous.new:
            chains[-1] = attrs.evolve(event, old=previous.old)
        else:
            chains.append(event)
    lines = split_lines(region.text)
    starts = list(accumulate(map(len, lines), initial=0))
    spans = []
    for event in chains:
        new, old = list(event.new), list(event.old)
        while new and old and not new[-1].strip() and not old[-1].strip():
            new.pop()  # blank lines the region leaves out (it ends on its last non-blank line)
            old.pop()
        first = event.first_line - region.first_line
        end = first + len(new)
        if first < 0 or end > len(lines) or not new:
            continue
        now = "".join(lines[first:end])
        joined = "".join(new)
        if now != joined and now != joined.rstrip("\r\n"):  # the region's last line has no line ending
            continue
        spans.append((starts[first], starts[first] + len(now), "".join(old)))
    return spans


def _undoes(hunk: _Hunk, text: str, new_text: str, start: int, end: int, before: str) -> bool:
    """Whether ``hunk`` only takes back a user's edit (``text[start:end]`` now, ``before`` it).

    Models often answer with the user's edit undone, in part or whole. A hunk inside the edit does
    that when the whole lines it leaves are lines the user replaced, in order, or when the text it
    leaves is on the way from the user's text back to ``before``: closer to ``before``, and no farther
    from the user's text than that much (difflib's opcodes as the measure, with a little slack for
    their approximations). A rename's other uses are not inside the edit.
    """
    if hunk.start < start or hunk.end > end:
        return False
    left = _line_span(new_text, hunk.new_start, hunk.new_end)  # the whole lines the hunk leaves
    if hunk.start < hunk.end and left != _line_span(text, hunk.start, hunk.end) and _lines_of(before, left):
        return True
    if end - start > _REVERT_CHARS or len(before) > _REVERT_CHARS:
        return False
    now = text[start:end]
    after = now[: hunk.start - start] + hunk.new_text + now[hunk.end - start :]
    if not now.endswith(("\n", "\r")):
        before = before.rstrip("\r\n")  # the region's last line carries no line ending
    whole = _changed(before, now)
    back = _changed(before, after)
    return back < whole and _changed(after, now) <= (whole - back) * 1.1 + _SLACK


def _line_span(text: str, start: int, end: int) -> list[str]:
    """The whole lines of ``text`` holding ``start``..``end``, stripped."""
    first = text.rfind("\n", 0, start) + 1
    last = text.find("\n", max(start, end - 1))
    return [line.strip() for line in text[first : len(text) if last < 0 else last].split("\n")]


def _lines_of(text: str, lines: list[str]) -> bool | None:
    """Whether ``lines`` (stripped) follow each other in ``text``; None when they are all blank."""
    if not any(lines):
        return None
    have = [line.strip() for line in text.split("\n")]
    size = len(lines)
    return any(have[i : i + size] == lines for i in range(len(have) - size + 1))


def _changed(a: str, b: str) -> int:
    """Characters that differ between ``a`` and ``b`` (difflib's opcodes, each replaced run counted once)."""
    ops = SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    return sum(max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in ops if tag != "equal")


class _Checker:
    """The checks that need the window: syntax (before and after the hunk) and the capability review."""

    def __init__(self, region: Region, encoding: Encoding, own_text: str, local: frozenset[str]) -> None:
        self.region = region
        self.encoding = encoding
        self.lines = split_lines(region.text)
        self.starts = list(accumulate(map(len, self.lines), initial=0))
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

    def check(self, hunk: _Hunk) -> Proposal | str:
        """A proposal for ``hunk``, or why it is dropped."""
        try:
            check_invisible(hunk.new_text)
        except UnsafeEdit:
            return "the model's edit holds invisible characters"
        at, to = self.base + hunk.start, self.base + hunk.end
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
        edit = TextEdit(self.position(hunk.start), self.position(hunk.end), hunk.new_text)
        return Proposal(edit, hunk.start, hunk.end, hunk.new_text, review)

    def position(self, offset: int) -> tuple[int, int]:
        """The document position (line, column in the encoding) of a str offset into the region."""
        index = min(bisect_right(self.starts, offset) - 1, len(self.lines) - 1)
        line = self.lines[index]
        column = index_to_column(
            line, min(offset - self.starts[index], line_content_length(line)), self.encoding
        )
        return self.region.first_line + index, column
