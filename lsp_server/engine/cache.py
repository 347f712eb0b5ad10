"""Typed-ahead cache of inline suggestions: serve the rest of a shown suggestion with no model call.

Owns a small LRU of suggestions keyed by document and cursor surroundings. A lookup hits when the
current prefix is a stored prefix plus the start of one of its suggestions (the user typed what was
shown) and the text after the cursor is unchanged (or only gained auto-closed brackets/quotes);
backspacing to a stored state hits with the whole suggestion. An entry remembers how many candidates
were asked for: a request for alternatives (cycling) is not answered by an entry that asked for one
only. Only a bounded tail of the prefix and
head of the suffix are ever compared, so a lookup costs O(entries), never O(file size), and an entry
stored elsewhere is ruled out by one string comparison. Time is passed
in explicitly. Pure and synchronous; it must not know about LSP, providers or settings.
"""

from __future__ import annotations

from collections import OrderedDict

import attrs

PREFIX_TAIL = 300  # prefix characters compared before the stored cursor
SUFFIX_HEAD = 200  # suffix characters compared after the cursor
_AUTO_CLOSERS = ")]}\"'`"


@attrs.frozen
class CacheStats:
    """How the cache has done so far."""

    hits: int
    misses: int
    size: int

    @property
    def hit_rate(self) -> float:
        """Hits over lookups (0.0 before any lookup)."""
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


@attrs.frozen
class _Entry:
    uri: str
    anchor: str  # the last PREFIX_TAIL characters of the prefix when stored (all of it if shorter)
    whole: bool  # the anchor is the whole prefix: it must sit at the start of a later prefix too
    suffix_head: str
    suggestions: tuple[str, ...]
    stored_at: float
    asked: int = 1  # candidates requested from the model for these suggestions

    @property
    def longest(self) -> int:
        """Length of the longest suggestion: how far past the anchor typed text can reach."""
        return max(len(s) for s in self.suggestions)


def _typed_since(entry: _Entry, prefix: str) -> str | None:
    """What was typed after the entry's cursor, or None if ``prefix`` does not continue that state.

    Callers pass a bounded window of the prefix (its last N characters), so absolute lengths are not
    comparable between calls: the stored anchor is found near the end of the current prefix instead.
    """
    if entry.whole:
        return prefix[len(entry.anchor) :] if prefix.startswith(entry.anchor) else None
    start = max(0, len(prefix) - len(entry.anchor) - entry.longest)
    found = prefix.rfind(entry.anchor, start)
    return None if found < 0 else prefix[found + len(entry.anchor) :]


def _remaining(entry: _Entry, prefix: str, suffix_head: str) -> list[str] | None:
    """What is left of the entry's suggestions for this prefix/suffix, or None if it does not apply."""
    # The suffix first: a string comparison that fails at once for entries stored on other lines,
    # where the prefix search would scan hundreds of characters per entry on every request.
    closers = _auto_closed(suffix_head, entry.suffix_head)
    if closers is None:
        return None
    typed = _typed_since(entry, prefix)
    if typed is None:
        return None
    out = []
    for suggestion in entry.suggestions:
        if not suggestion.startswith(typed):
            continue
        rest = suggestion[len(typed) :]
        if closers:
            # The editor already inserted these closers after the cursor: don't show them twice.
            body = rest.rstrip()
            if not body.endswith(closers):
                continue
            rest = body[: len(body) - len(closers)]
        if rest.strip():
            out.append(rest)
    return out


def _auto_closed(current: str, stored: str) -> str | None:
    """Closers the editor auto-inserted after the cursor since the entry was stored ("" if none).

    ``None`` when the suffix changed in any other way.
    """
    if current == stored:
        return ""
    if not current or current[0] not in _AUTO_CLOSERS:  # the common miss, decided in O(1)
        return None
    for extra in (1, 2):
        head = current[:extra]
        closers_only = len(current) >= extra and all(ch in _AUTO_CLOSERS for ch in head)
        if closers_only and current[extra:] == stored[: len(current) - extra]:
            return head
    return None


@attrs.define
class SuggestionCache:
    """An LRU of ``capacity`` entries that expire ``ttl`` seconds after they were stored."""

    capacity: int = 200
    ttl: float = 300.0
    hits: int = 0
    misses: int = 0
    _entries: OrderedDict[tuple[str, bool, str, str], _Entry] = attrs.field(factory=OrderedDict)

    def put(
        self, uri: str, prefix: str, suffix: str, suggestions: list[str], now: float, asked: int = 1
    ) -> None:
        """Remember ``suggestions`` shown with the cursor between ``prefix`` and ``suffix``.

        ``asked``: how many candidates the model was asked for (fewer may have survived).
        """
        kept = tuple(s for s in suggestions if s.strip())
        if not kept:
            return
        entry = _Entry(
            uri=uri,
            anchor=prefix[-PREFIX_TAIL:],
            whole=len(prefix) <= PREFIX_TAIL,
            suffix_head=suffix[:SUFFIX_HEAD],
            suggestions=kept,
            stored_at=now,
            asked=asked,
        )
        key = (uri, entry.whole, entry.anchor, entry.suffix_head)
        self._entries.pop(key, None)
        self._entries[key] = entry
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def get(self, uri: str, prefix: str, suffix: str, now: float, candidates: int = 1) -> list[str] | None:
        """The remaining suggestions for this cursor, or ``None`` on a miss (nothing non-empty left).

        ``candidates``: entries made by asking the model for fewer than this many do not count.
        """
        head = suffix[:SUFFIX_HEAD]
        found: list[str] | None = None
        hit_key = None
        for key in reversed(self._entries):
            entry = self._entries[key]
            if now - entry.stored_at > self.ttl:
                continue
            if entry.uri != uri or entry.asked < candidates:
                continue
            rest = _remaining(entry, prefix, head)
            if rest:
                found, hit_key = rest, key
                break
        self._expire(now)
        if found is None:
            self.misses += 1
            return None
        if hit_key is not None and hit_key in self._entries:
            self._entries.move_to_end(hit_key)
        self.hits += 1
        return found

    def _expire(self, now: float) -> None:
        # Oldest first: stop at the first entry still fresh (later ones are at least as fresh unless
        # touched, and touched entries are fresh by construction).
        while self._entries:
            key, entry = next(iter(self._entries.items()))
            if now - entry.stored_at <= self.ttl:
                break
            del self._entries[key]

    def clear(self, uri: str | None = None) -> None:
        """Forget everything, or everything for one document (closed, or replaced wholesale)."""
        if uri is None:
            self._entries.clear()
            return
        for key in [k for k in self._entries if k[0] == uri]:
            del self._entries[key]

    def stats(self) -> CacheStats:
        """Hits, misses and current size."""
        return CacheStats(hits=self.hits, misses=self.misses, size=len(self._entries))
