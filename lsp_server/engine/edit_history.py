"""The edit history: what the user changed lately, across files, as unified diffs for next-edit prompts.

Owns the recent edits of the open documents. The Session feeds it every ``didChange`` (``record``):
per keystroke it only moves a few line numbers, and copies the old text of the lines a change brings
into the current group (O(lines touched), read with ``Snapshot.lines_between``, never O(file)). Diffs
are built when a prompt asks for them (difflib), from the old lines kept and the document's lines now.

Consecutive changes to one document that come within ``GROUP_SECONDS`` of each other and within
``GROUP_LINES`` of the lines already changed form one event, like Zed's Zeta groups them. An event
the user accepted from a prediction is marked: prompts say so, and its text never counts as the
user's own words (the capability check of next edits trusts only what the user typed). Bounded: at
most ``MAX_EVENTS`` events and ``MAX_CHARS`` characters of kept text; an event too large to show
keeps a one-line summary instead of its lines.

Must not import pygls or do I/O; knows nothing of privacy (the caller filters excluded documents and
redacts what it renders).
"""

from __future__ import annotations

import difflib
import re
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from difflib import SequenceMatcher

import attrs

from lsp_server.core.documents import Change, Snapshot
from lsp_server.core.text import split_lines

GROUP_SECONDS = 1.0  # a pause longer than this starts a new event (Zeta groups within 1 s)
GROUP_LINES = 2  # a change this close to an event's lines joins it
MAX_EVENTS = 16  # Zeta's bound on events in a prompt
MAX_CHARS = 64 * 1024  # text kept over all events
MAX_EVENT_CHARS = 6 * 1024  # an event larger than this keeps only a summary line
MAX_GROUP_LINES = 400  # a group spanning more lines than this is closed (its next change starts anew)
CONTEXT_LINES = 2  # unchanged lines shown around each diff hunk
ACCEPT_SECONDS = 3.0  # an accepted prediction's change is expected within this time of the accept

Snapshots = Callable[[str], "Snapshot | None"]
_HUNK_HEADER = re.compile(r"^@@ -(\d+)(,\d+)? \+(\d+)(,\d+)? @@")


@attrs.define
class EditEvent:
    """One edit of one document: lines ``first_line``.. replaced (``old`` -> ``new``), in current lines.

    ``first_line`` follows later edits above it. ``before``/``after`` are unchanged lines around it for
    the diff's context. ``summary`` replaces the lines of an event too large to show.
    """

    uri: str
    first_line: int
    old: tuple[str, ...]
    new: tuple[str, ...]
    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    accepted: bool = False
    time: float = 0.0
    summary: str = ""

    @property
    def size(self) -> int:
        """Characters kept by this event."""
        return sum(map(len, self.old)) + sum(map(len, self.new)) + len(self.summary)

    def diff(self) -> str:
        """The event as a unified diff with the document's line numbers (no file header lines)."""
        if self.summary:
            return self.summary
        before = [_content(line) for line in self.before]
        after = [_content(line) for line in self.after]
        old = before + [_content(line) for line in self.old] + after
        new = before + [_content(line) for line in self.new] + after
        shift = self.first_line - len(before)
        lines: list[str] = []
        for line in difflib.unified_diff(old, new, n=CONTEXT_LINES, lineterm=""):
            if line.startswith(("--- ", "+++ ")) and not lines:
                continue
            if line.startswith("@@"):
                line = _HUNK_HEADER.sub(lambda m: _shifted(m, shift), line)
            lines.append(line)
        return "\n".join(lines)

    def changes(self) -> tuple[str, str]:
        """(inserted, deleted): the text this edit added and the text it removed, in document order."""
        old, new = "".join(self.old), "".join(self.new)
        inserted, deleted = [], []
        for tag, i1, i2, j1, j2 in SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
            if tag in ("replace", "delete"):
                deleted.append(old[i1:i2])
            if tag in ("replace", "insert"):
                inserted.append(new[j1:j2])
        return "".join(inserted), "".join(deleted)


def _content(line: str) -> str:
    return line.rstrip("\r\n")


def _shifted(match: re.Match, shift: int) -> str:
    old_start, old_count, new_start, new_count = match.groups()
    return f"@@ -{int(old_start) + shift}{old_count or ''} +{int(new_start) + shift}{new_count or ''} @@"


@attrs.define
class _Group:
    """The event being typed: lines [first, end) now, which were ``old`` before its first change."""

    uri: str
    first: int
    end: int
    old: list[str]
    started: float
    last: float
    accepted: bool = False
    sealed: bool = False


class EditHistory:
    """Recent edits of the open documents, oldest first; see the module docstring."""

    def __init__(self) -> None:
        self._events: deque[EditEvent] = deque()
        self._open: _Group | None = None
        self._chars = 0
        self._accepting: tuple[str, float] | None = None  # (uri, deadline) of an accepted prediction
        self._stamps: dict[str, int] = {}  # uri -> changes recorded (a request asks "edited since?")

    # recording ---------------------------------------------------------------------------------

    def record(
        self, uri: str, before: Snapshot, changes: Sequence[Change], now: float, current: Snapshots
    ) -> None:
        """Note ``changes`` (one ``didChange``) to ``uri``, whose text before them was ``before``.

        ``current`` gives a document's snapshot now (to close an event of another document).
        """
        if not changes:
            return
        self._stamps[uri] = self._stamps.get(uri, 0) + len(changes)
        open_group = self._open
        if open_group is not None and (open_group.uri != uri or len(changes) > 1 or open_group.sealed):
            # Another document's event ends with its text now; a multi-change edit (several cursors)
            # becomes one event of its own, so its changes' coordinates chain inside one group.
            self._close(current(open_group.uri) if open_group.uri != uri else before)
        accepting = self._accepting
        if accepting is not None and (accepting[0] != uri or now > accepting[1]):
            accepting = self._accepting = None
        applied: list[tuple[int, int, int]] = []  # (first, end after, delta) of changes applied so far
        force = len(changes) > 1
        for change in changes:
            if change.range is None:
                # The whole text replaced (a client without incremental sync, already O(file) per
                # change): the lines that differ become the change. Among several changes the
                # document starts over with no event.
                if len(changes) > 1:
                    self._drop_open(uri)
                    applied.clear()
                    continue
                ranged = _as_ranged(before, change.text)
                if ranged is None:
                    continue  # nothing differs
                change = ranged
            assert change.range is not None
            (sl, _), (el, _) = sorted(change.range)
            if not applied:
                present = before.lines_between(sl, el + 1)
                if not present:
                    continue  # past the end of the document (clients clamp; nothing to diff)
                el = min(el, sl + len(present) - 1)
            inserted = len(split_lines(change.text))
            delta = inserted - 1 - (el - sl)
            group = self._open
            joins = (
                group is not None
                and group.uri == uri
                and not group.sealed
                and (force or (now - group.last <= GROUP_SECONDS and _near(group, sl, el)))
            )
            if group is not None and joins:
                self._shift_events(uri, el, delta)
                self._extend(group, before, sl, el, applied)
            else:
                self._close(before)  # its document is this one (others were closed above)
                self._shift_events(uri, el, delta)
                old = list(before.lines_between(_to_before(sl, applied), _to_before(el, applied) + 1))
                group = self._open = _Group(uri, sl, el + 1, old, now, now, accepted=accepting is not None)
            group.end += delta
            group.last = now
            applied.append((sl, sl + inserted, delta))
        group = self._open
        if group is not None and accepting is not None and group.uri == uri and group.accepted:
            group.sealed = True  # the accepted change is an event of its own
            self._accepting = None
        if group is not None and group.end - group.first > MAX_GROUP_LINES:
            group.sealed = True

    def _extend(self, group: _Group, before: Snapshot, sl: int, el: int, applied: list) -> None:
        """Widen ``group`` to lines ``sl``..``el``: the lines it did not hold yet are unchanged so far."""
        if sl < group.first:
            group.old[:0] = before.lines_between(_to_before(sl, applied), _to_before(group.first, applied))
            group.first = sl
        if el + 1 > group.end:
            start = _to_before(group.end, applied)
            group.old.extend(before.lines_between(start, start + el + 1 - group.end))
            group.end = el + 1

    def _shift_events(self, uri: str, last_line: int, delta: int) -> None:
        if delta:
            for event in self._events:
                if event.uri == uri and event.first_line > last_line:
                    event.first_line += delta

    def _close(self, snapshot: Snapshot | None) -> None:
        """End the open group: its new lines are ``snapshot``'s now (the group's document)."""
        group, self._open = self._open, None
        if group is None or snapshot is None:
            return
        self._add(_materialize(group, snapshot))

    def _drop_open(self, uri: str) -> None:
        if self._open is not None and self._open.uri == uri:
            self._open = None

    def _add(self, event: EditEvent | None) -> None:
        if event is None:
            return
        self._events.append(event)
        self._chars += event.size
        while self._events and (len(self._events) > MAX_EVENTS or self._chars > MAX_CHARS):
            self._chars -= self._events.popleft().size

    # accepted predictions ------------------------------------------------------------------------

    def seal(self) -> None:
        """The open event is complete (a prediction was shown for it): the next change starts anew."""
        if self._open is not None:
            self._open.sealed = True

    def accepted(self, uri: str, since: float, now: float) -> None:
        """The user accepted a prediction in ``uri``: its change is (or will be) an accepted event.

        Editors send the edit's ``didChange`` before or after the accept command: an event opened
        since ``since`` (when the prediction was shown) is marked now, else the next one within
        ``ACCEPT_SECONDS``.
        """
        group = self._open
        if group is not None and group.uri == uri and group.started >= since:
            group.accepted = group.sealed = True
            return
        self._accepting = (uri, now + ACCEPT_SECONDS)

    # reading -------------------------------------------------------------------------------------

    def stamp(self, uri: str) -> int:
        """How many changes to ``uri`` were recorded: a different value means "edited since"."""
        return self._stamps.get(uri, 0)

    def events(self, current: Snapshots) -> list[EditEvent]:
        """Every event, oldest first; the open one read from its document's ``current`` snapshot."""
        events = list(self._events)
        group = self._open
        if group is not None:
            snapshot = current(group.uri)
            event = _materialize(group, snapshot) if snapshot is not None else None
            if event is not None:
                events.append(event)
        return events[-MAX_EVENTS:]

    def recent(self, uri: str, current: Snapshots, count: int = 4) -> list[EditEvent]:
        """The user's own latest events in ``uri`` (accepted predictions left out), newest first."""
        found = [e for e in reversed(self.events(current)) if e.uri == uri and not e.accepted]
        return found[:count]

    def own_text(self, current: Snapshots, exclude: Callable[[str], bool]) -> str:
        """What the user typed lately (not accepted predictions), in documents ``exclude`` lets through."""
        return "".join("".join(e.new) for e in self.events(current) if not e.accepted and not exclude(e.uri))

    def forget(self, uri: str) -> None:
        """Drop everything recorded for a closed document."""
        self._drop_open(uri)
        kept = [e for e in self._events if e.uri != uri]
        self._events = deque(kept)
        self._chars = sum(e.size for e in kept)
        self._stamps.pop(uri, None)

    def add(self, events: Iterable[EditEvent]) -> None:
        """Add finished events (the CLI's uncommitted changes, oldest first)."""
        for event in events:
            self._add(_bounded(event))


def events_between(uri: str, old_text: str, new_text: str) -> list[EditEvent]:
    """The changes from ``old_text`` to ``new_text`` as events, top to bottom (difflib, line by line).

    For edits made outside the editor (the CLI reads a file's uncommitted changes this way).
    """
    old, new = split_lines(old_text), split_lines(new_text)
    events = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag != "equal":
            before = tuple(new[max(0, j1 - CONTEXT_LINES) : j1])
            after = tuple(new[j2 : j2 + CONTEXT_LINES])
            events.append(EditEvent(uri, j1, tuple(old[i1:i2]), tuple(new[j1:j2]), before, after))
    return events


def _as_ranged(before: Snapshot, text: str) -> Change | None:
    """A whole-text change as the ranged change of the lines that differ (None: nothing differs)."""
    old, new = before.lines, split_lines(text)
    limit = min(len(old), len(new))
    first = 0
    while first < limit and old[first] == new[first]:
        first += 1
    same = 0
    while same < limit - first and old[-1 - same] == new[-1 - same]:
        same += 1
    old_end, new_end = len(old) - same, len(new) - same
    if first == old_end and first == new_end:
        return None
    # Columns do not matter to the history (it works on lines): the end is a line start or the end.
    end = (old_end, 0) if old_end < len(old) else (len(old) - 1, len(old[-1]))
    return Change("".join(new[first:new_end]), ((first, 0), end))


def _near(group: _Group, sl: int, el: int) -> bool:
    """Whether lines ``sl``..``el`` touch ``group``'s lines or lie within ``GROUP_LINES`` of them."""
    return sl <= group.end - 1 + GROUP_LINES and el >= group.first - GROUP_LINES


def _to_before(line: int, applied: Sequence[tuple[int, int, int]]) -> int:
    """A line of the text after ``applied`` changes, as a line of the text before them.

    Only for lines outside the changed ones (those existed before, possibly moved).
    """
    for first, end, delta in reversed(applied):
        if line >= end:
            line -= delta
        elif line >= first:
            line = first
    return line


def _materialize(group: _Group, snapshot: Snapshot) -> EditEvent | None:
    new = snapshot.lines_between(group.first, group.end)
    old = tuple(group.old)
    if old == new:
        return None  # typed and deleted again: nothing changed
    event = EditEvent(
        uri=group.uri,
        first_line=group.first,
        old=old,
        new=new,
        before=snapshot.lines_between(group.first - CONTEXT_LINES, group.first),
        after=snapshot.lines_between(group.end, group.end + CONTEXT_LINES),
        accepted=group.accepted,
        time=group.last,
    )
    return _bounded(event)


def _bounded(event: EditEvent) -> EditEvent:
    """``event``, or its one-line summary when its text is too large to keep and show."""
    if event.size <= MAX_EVENT_CHARS:
        return event
    summary = (
        f"@@ lines {event.first_line + 1}-{event.first_line + len(event.old)}: {len(event.old)} lines "
        f"replaced by {len(event.new)} lines (too large to show) @@"
    )
    return attrs.evolve(event, old=(), new=(), before=(), after=(), summary=summary)
