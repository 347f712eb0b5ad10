"""Auto-closed closers after the cursor: which of them a suggestion replaces rather than duplicates.

The editor closed a bracket or a quote when the user opened it (``fn fib($0)``, ``print("$0")``,
``foo({$0})``, ``[$0]``, `` `${$0}` ``). A model that writes past that closer (``n: u32) -> u32 {``)
means the closer where it writes it: the suggestion then *replaces* the closers it consumes, and the
result carries how many characters after the cursor it replaces, so that accepting it yields one
``)``, not two. A suggestion that merely ends with those closers is not widened: it is cut before them
(``scope.cut_at_closing`` and ``overlap`` do that), so the shown text stays a plain insertion.

Owns ``consume_closers``. Must not decide the number of lines (``mode`` does, on the scene this step
returns) and must not look beyond the cursor's line in the document.
"""

from __future__ import annotations

import attrs

from lsp_server.engine.postprocess.scene import Scene, brace_on_next_line

# Characters an editor auto-closes; only a rest of line made of these can be replaced.
_AUTO_CLOSERS = frozenset(")]}\"'`")
_MATCH = {")": "(", "]": "[", "}": "{"}
_QUOTES = "\"'`"
# A suggestion is scanned this far at most: closers are consumed on its first lines, not pages later.
_SCAN_LIMIT = 4000
_HASH_COMMENTS = frozenset({"python", "ruby", "bash", "r", "perl", "toml", "yaml", "elixir"})


def _closes_on_line(text: str, start: int, quote: str) -> bool:
    """Whether a quote opened at ``start`` closes later on the same line (``'`` is also a lifetime)."""
    end = text.find("\n", start + 1)
    line = text[start + 1 : end if end >= 0 else len(text)]
    return quote in line


def consumed_positions(text: str, closers: str, grammar: str | None) -> list[int]:
    """Indexes in ``text`` of the characters that close, in order, the ``closers`` after the cursor.

    Scans the suggestion as code that starts inside those constructs (innermost first: ``")`` means in
    a string in a call). Brackets and strings the suggestion opens itself are matched on its own stack;
    a closer that matches neither ends the scan.
    """
    expected = list(closers)
    own: list[str] = []
    positions: list[int] = []
    i = 0
    limit = min(len(text), _SCAN_LIMIT)
    hash_comments = grammar in _HASH_COMMENTS
    while i < limit and len(positions) < len(expected):
        top = own[-1] if own else expected[len(positions)]
        c = text[i]
        if top in _QUOTES:  # inside a string (the suggestion's own or one opened before the cursor)
            if c == "\\":
                i += 2
                continue
            if c == "\n" and top != "`":
                return positions  # a plain string does not span lines: the scan has lost track
            if c == top:
                if own:
                    own.pop()
                else:
                    positions.append(i)
            elif top == "`" and text.startswith("${", i):
                own.append("{")
                i += 1
            i += 1
            continue
        if c == "/" and text.startswith("//", i) or c == "#" and hash_comments:
            newline = text.find("\n", i)
            i = limit if newline < 0 else newline
            continue
        if c in "([{":
            own.append(c)
        elif c in _MATCH:
            if own and own[-1] == _MATCH[c]:
                own.pop()
            elif not own and c == top:
                positions.append(i)
            else:
                return positions  # closes something else: the suggestion is out of step with the file
        elif c in _QUOTES:
            if not own and c == top:
                positions.append(i)
            elif c != "'" or _closes_on_line(text, i, c):
                own.append(c)
        i += 1
    return positions


def consume_closers(text: str, scene: Scene) -> tuple[str, Scene]:
    """The suggestion and the scene it now applies to, with the closers it writes itself consumed.

    A closer counts as consumed only when the suggestion writes more code after it on the same line
    (``) -> u32 {``, ``}!`;``): a suggestion that stops right at it is an insertion before it. The
    returned scene's ``after`` has lost the consumed closers and ``replaced`` holds them.
    """
    text, length = replacement(text, scene.after, scene.grammar)
    if not length:
        return text, scene
    return text, attrs.evolve(scene, after=scene.after[length:], replaced=scene.after[:length])


def replacement(text: str, after: str, grammar: str | None) -> tuple[str, int]:
    """``text`` (cut before closers it writes but the file keeps) and how much of ``after`` it replaces.

    ``after`` is the rest of the cursor's line. Pure; costs O(length of the suggestion's first lines).
    """
    rest = after.strip()
    # The run of closers right after the cursor; a terminator after them (`;`, `,`) stays in the file.
    closers = rest[: next((i for i, ch in enumerate(rest) if ch not in _AUTO_CLOSERS), len(rest))]
    # Only a rest of line the editor could have auto-closed (plus a terminator) is replaced: before
    # other code (`) + ord("a"))`) a closer the suggestion writes may close something else.
    if not closers or after[:1].isspace() or rest[len(closers) :] not in ("", ";", ",", ":"):
        return text, 0
    first = text.split("\n", 1)[0].rstrip()
    # A header whose block opens on the next line (Allman style: `foreach (x in xs)` then `{`) goes
    # on past its closer as much as one that opens its block on the same line.
    allman = brace_on_next_line(text)
    if (first.endswith(rest) or first.endswith(closers)) and not allman:
        return text, 0  # ends by reproducing the rest of the line: cut there, nothing replaced
    found = consumed_positions(text, closers, grammar)
    positions = list(found)
    # Keep the consumed closers that the suggestion carries on after, on their own line.
    while positions:
        end = text.find("\n", positions[-1])
        if text[positions[-1] + 1 : end if end >= 0 else len(text)].strip():
            break
        if allman and end == text.find("\n"):
            break  # the closer ends the first line and the block's brace follows
        positions.pop()
    if not positions:
        return text, 0
    count = len(positions)
    if count < len(closers) and len(found) > count:
        # The later closers stay in the file: the suggestion ends before the first of them it wrote.
        text = text[: found[count]]
    return text, _span(after, count)


def _span(rest: str, count: int) -> int:
    """Characters of ``rest`` up to and including its ``count``-th non-space character."""
    seen = 0
    for i, ch in enumerate(rest):
        if not ch.isspace():
            seen += 1
            if seen == count:
                return i + 1
    return len(rest)
