"""The edit history: grouped diffs across files, bounded, accepted predictions marked, cheap per keystroke."""

from __future__ import annotations

import random

import pytest

from lsp_server.core.documents import Change, DocumentStore
from lsp_server.engine import edit_history
from lsp_server.engine.edit_history import EditHistory


class Typist:
    """A store and a history fed like the Session feeds them, with a clock the test moves."""

    def __init__(self) -> None:
        self.store = DocumentStore()
        self.history = EditHistory()
        self.versions: dict[str, int] = {}
        self.now = 0.0

    def open(self, uri: str, text: str) -> None:
        self.store.open(uri, "python", 1, text)
        self.versions[uri] = 1

    def current(self, uri: str):
        return self.store.get(uri) if uri in self.store else None

    def change(self, uri: str, *changes: Change, gap: float = 0.1, before=None) -> None:
        self.now += gap
        self.versions[uri] += 1
        before = before or self.store.get(uri)
        self.store.change(uri, self.versions[uri], list(changes))
        self.history.record(uri, before, list(changes), self.now, self.current)

    def type(self, uri: str, line: int, character: int, text: str, gap: float = 0.1) -> None:
        for i, char in enumerate(text):
            self.change(uri, Change(char, ((line, character + i), (line, character + i))), gap=gap)

    def diffs(self) -> list[str]:
        return [event.diff() for event in self.history.events(self.current)]


def at(line: int, character: int, text: str, end: tuple[int, int] | None = None) -> Change:
    return Change(text, ((line, character), end or (line, character)))


def test_keystrokes_close_in_time_and_place_make_one_event_as_a_unified_diff():
    t = Typist()
    t.open("file:///a.py", "def area(w):\n    return w * w\n\n\nprint(area(2))\n")
    t.type("file:///a.py", 0, 10, ", h")
    assert t.diffs() == ["@@ -1,3 +1,3 @@\n-def area(w):\n+def area(w, h):\n     return w * w\n "]
    event = t.history.events(t.current)[0]
    assert event.changes() == (", h", "")


def test_a_pause_or_a_distant_line_starts_a_new_event_and_line_numbers_follow_later_edits():
    t = Typist()
    t.open("file:///a.py", "".join(f"line {i}\n" for i in range(40)))
    t.type("file:///a.py", 30, 7, "!")
    t.type("file:///a.py", 31, 6, "?", gap=2.0)  # after a pause
    t.change("file:///a.py", at(2, 6, "\nnew line"))  # far away: a new event, and lines 30.. move down
    events = t.history.events(t.current)
    assert [e.first_line for e in events] == [31, 32, 2]
    assert (
        events[0].diff() == "@@ -30,5 +30,5 @@\n line 28\n line 29\n-line 30\n+line 30!\n line 31\n line 32"
    )
    assert events[2].new == ("line 2\n", "new line\n")


def test_edits_across_files_are_kept_in_order_and_an_event_ends_with_its_documents_text():
    t = Typist()
    t.open("file:///a.py", "x = 1\n")
    t.open("file:///b.py", "y = 2\n")
    t.type("file:///a.py", 0, 5, "0")
    t.type("file:///b.py", 0, 5, "0")
    t.type("file:///a.py", 0, 6, "0")
    assert [(e.uri, e.new) for e in t.history.events(t.current)] == [
        ("file:///a.py", ("x = 10\n",)),
        ("file:///b.py", ("y = 20\n",)),
        ("file:///a.py", ("x = 100\n",)),
    ]


def test_typed_and_deleted_again_is_no_event():
    t = Typist()
    t.open("file:///a.py", "x = 1\n")
    t.type("file:///a.py", 0, 5, "0")
    t.change("file:///a.py", at(0, 5, "", end=(0, 6)))
    assert t.history.events(t.current) == []


def test_a_multi_cursor_change_is_one_event_with_each_line_from_before():
    t = Typist()
    t.open("file:///a.py", "a = 1\nb = 2\nc = 3\nd = 4\n")
    # Two changes in one didChange: the second's coordinates are after the first (a line was added).
    t.change("file:///a.py", at(0, 5, "\nz = 0"), at(3, 5, "9"))
    (event,) = t.history.events(t.current)
    assert event.old == ("a = 1\n", "b = 2\n", "c = 3\n")
    assert event.new == ("a = 1\n", "z = 0\n", "b = 2\n", "c = 39\n")
    assert t.store.get("file:///a.py").text == "a = 1\nz = 0\nb = 2\nc = 39\nd = 4\n"


def test_a_whole_text_change_records_the_lines_that_differ():
    t = Typist()
    t.open("file:///a.py", "a = 1\nb = 2\nc = 3\n")
    t.change("file:///a.py", Change("a = 1\nb = 20\nb2 = 4\nc = 3\n"))  # a client without incremental sync
    (event,) = t.history.events(t.current)
    assert event.first_line == 1
    assert event.diff() == "@@ -1,4 +1,5 @@\n a = 1\n-b = 2\n+b = 20\n+b2 = 4\n c = 3\n "
    t.change("file:///a.py", Change("a = 1\nb = 20\nb2 = 4\nc = 3\n"))  # nothing differs
    assert len(t.history.events(t.current)) == 1


def test_the_history_is_bounded_in_events_and_characters():
    t = Typist()
    t.open("file:///a.py", "".join(f"line {i}\n" for i in range(400)))
    for i in range(40):
        t.type("file:///a.py", i * 8, 0, "#", gap=2.0)
    events = t.history.events(t.current)
    assert len(events) == edit_history.MAX_EVENTS
    assert events[-1].new == ("#line 312\n",)
    huge = "x" * (edit_history.MAX_EVENT_CHARS + 10)
    t.change("file:///a.py", at(399, 0, huge + "\n"), gap=2.0)
    t.change("file:///a.py", at(0, 0, "#"), gap=2.0)
    big = t.history.events(t.current)[-2]
    assert big.new == () and "too large to show" in big.diff()
    assert sum(e.size for e in t.history.events(t.current)) <= edit_history.MAX_CHARS


def test_an_accepted_prediction_is_its_own_event_marked_accepted_whichever_comes_first():
    t = Typist()
    t.open("file:///a.py", "def f(a):\n    return 1\n")
    t.type("file:///a.py", 0, 7, ", b")
    shown = t.now
    t.history.seal()  # a prediction was shown for that edit
    # The editor applies the edit, then runs the accept command.
    t.change("file:///a.py", at(1, 11, "a + b", end=(1, 12)), gap=0.05)
    t.history.accepted("file:///a.py", shown, t.now)
    # Another prediction shown, then its accept command before its change (another editor's order).
    t.history.accepted("file:///a.py", t.now + 0.01, t.now + 0.02)
    t.change("file:///a.py", at(0, 0, "# x\n"), gap=0.05)
    t.type("file:///a.py", 1, 0, "#", gap=0.05)
    events = t.history.events(t.current)
    assert [e.accepted for e in events] == [False, True, True, False]
    assert t.history.own_text(t.current, lambda uri: False) == "def f(a, b):\n#def f(a, b):\n"


def test_a_closed_document_is_forgotten():
    t = Typist()
    t.open("file:///a.py", "x = 1\n")
    t.open("file:///b.py", "y = 1\n")
    t.type("file:///a.py", 0, 5, "0")
    t.type("file:///b.py", 0, 5, "0")
    t.history.forget("file:///a.py")
    assert [e.uri for e in t.history.events(t.current)] == ["file:///b.py"]
    assert t.history.stamp("file:///a.py") == 0


class OnlyLines:
    """A snapshot that serves ``lines_between`` and nothing else: reading the whole text fails."""

    def __init__(self, snapshot) -> None:
        self.snapshot = snapshot
        self.read = 0

    def lines_between(self, first: int, end: int):
        found = self.snapshot.lines_between(first, end)
        self.read += len(found)
        return found

    def __getattr__(self, name: str):
        raise AssertionError(f"record() read snapshot.{name}: O(file) work per keystroke")


def test_a_keystroke_reads_only_the_lines_it_touches():
    t = Typist()
    t.open("file:///a.py", "".join(f"line {i}\n" for i in range(10_000)))
    total = 0
    for i, char in enumerate("hello"):
        guard = OnlyLines(t.store.get("file:///a.py"))
        t.change("file:///a.py", at(5000, 4 + i, char), before=guard)
        total += guard.read
    assert total == 6  # each keystroke its own line, and the first one the line entering the event
    (event,) = t.history.events(t.current)
    assert event.new == ("linehello 5000\n",)


@pytest.mark.parametrize("seed", range(3))
def test_lines_between_walks_blocks_and_matches_the_listed_lines(seed: int):
    rng = random.Random(seed)
    store = DocumentStore()
    store.open("file:///a.py", "python", 1, "".join(f"l{i}\n" for i in range(500)))
    for version in range(2, 60):
        line = rng.randrange(500)
        store.change("file:///a.py", version, [at(line, 0, "x\n" * rng.randrange(3))])
        first, end = rng.randrange(-5, 520), rng.randrange(-5, 530)
        walked = store.get("file:///a.py").lines_between(first, end)
        listed = store.get("file:///a.py").lines[max(0, first) : max(0, end)]
        assert walked == listed
