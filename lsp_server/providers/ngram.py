"""The offline engine's statistical model of the workspace's code: lexer, token index, predictor.

Owns ``lex`` (a language-agnostic regex lexer whose tokens concatenate back to the exact text) and
``OfflineModel`` (an index of the workspace's token sequences that completes the current line by
copying what followed the longest earlier occurrences of the cursor's context). It must not import
pygls or openai, walk or read the file system (the server feeds it texts), nor decide privacy: the
caller passes ``is_excluded`` and only the texts it may see. Synchronous and dependency-free.

How it predicts ("naturalness of software"; an ∞-gram-style longest-match model with backoff):

* Every file becomes a sequence of token ids. Two hash indexes map a context of the last 4 tokens
  (and, for backoff, the last 2) to every position that followed such a context.
* At the cursor, the last token of the prefix is treated as possibly unfinished ("pending"): the
  next token must start with it, so ``self.fo`` completes to ``self.format(`` and ``x = `` continues
  with a token whose leading space is already typed.
* Candidates come from earlier occurrences of the context: in the current document (the prefix and
  suffix windows, lexed per request so a never-saved file still helps), then in the indexed files.
  Each occurrence votes with weight ``2 ** match_length`` (how many tokens of context it shares,
  up to ``_MAX_MATCH``), boosted for the current document.
* Each voting occurrence proposes what followed it up to the end of its line; identical lines pool
  their votes. The winner is shown only when it holds ``_LINE_MIN`` of ``all votes + prior``: one
  short match is not enough, a long or repeated one is; otherwise ``""`` (an empty suggestion beats
  garbage). When nothing matches, an unfinished identifier is completed from the identifiers of
  the current document and the line continued from there.
* When copying gives nothing sure, the line is composed token by token (greedy) by an n-gram model
  with stupid backoff over contexts of 1..5 tokens: counts come from the same position indexes
  (orders 2..5), a bigram table (order 1) and the current document's windows weighted as a cache.
  A composed line is shown only when short, grounded in a context of at least two tokens, and
  agreed at every step (``_compose``); it adds about two points of exact rest-of-line.

Tokens keep their leading horizontal whitespace, and a line break token carries the next line's
indentation, so ``"".join(lex(text)) == text`` for any text and suggestions reproduce spacing exactly.
Strings and comments are not special-cased: their words are tokens too, which keeps the lexer free
of per-language rules and lets the model complete inside docstrings and comments.
"""

from __future__ import annotations

import heapq
import re
import sys
import threading
from array import array
from collections.abc import Callable, Sequence
from typing import Union

import attrs

_TOKEN_RE = re.compile(
    r"""
    (?:[ \t]*\r?\n)+[ \t]*                 # line break(s) + the next line's indentation: one token
    | [ \t\f\v]*                            # otherwise a token owns the spaces before it
      (?: [^\W\d]\w*                        # identifier (any script)
        | \d[\w.]*                          # number with its suffixes: 1.5, 0x1F, 10L, 3e8
        | \.\.\.|\*\*=|//=|>>=|<<=|===|!==
        | ==|!=|<=|>=|->|=>|::|\*\*|//|\+=|-=|\*=|/=|%=|&=|\|=|\^=|&&|\|\||<<|>>|:=|\+\+|--
        | \S                                # any other visible character, alone
      )
    | [ \t\f\v]+                            # spaces at the very end of the text
    | [\s\S]                                # anything else (a lone \r, exotic separators)
    """,
    re.VERBOSE,
)

_LONG = 4  # context length of the primary index
_SHORT = 2  # context length of the backoff index
_MAX_MATCH = 12  # longer shared contexts count as this long
_MAX_LONG_HITS = 256  # occurrences examined per lookup: bounds latency on boilerplate contexts
_MAX_SHORT_HITS = 256
_LOCAL_BONUS = 2  # the current document's occurrences count as this many extra matched tokens
_PRIOR = 2.0**3  # phantom competitor: a lone 3-token match is a coin flip
_BASE = 2.0  # each extra token of shared context doubles an occurrence's vote
_STEP_MIN = 0.3  # below this, completing an unfinished word is a guess
_LINE_MIN = 0.25  # below this share of the votes, the line is a guess
_MAX_VOTERS = 64  # the best-matching occurrences that vote: bounds latency
_MAX_STEPS = 64  # tokens per suggested line
_MAX_CHARS_PER_LINE = 240

# The generator, used when copying finds nothing sure: an n-gram model with stupid backoff
# (Brants et al. 2007) over contexts of 1.._GEN_ORDER tokens, plus a cache of the current document.
# Values measured with bench/offline.py.
_GEN_ORDER = 5
_GEN_BACKOFF = 0.4
_GEN_LOCAL_WEIGHT = 20.0
_GEN_STEPS = 24  # tokens per generated line
_GEN_MAX_TOKENS = 8  # longer composed lines are rarely right
_GEN_MIN_SHARE = 0.1
_GEN_HITS = 128  # occurrences per index (and in the document) examined per step: bounds latency

# Per-request windows of the current document: enough for the enclosing function and its
# neighbours while keeping lexing well under a millisecond.
_PREFIX_WINDOW = 8_000
_SUFFIX_WINDOW = 3_000

# Caps, so a huge workspace cannot take the editor down: files above these are skipped, and once
# the model holds DEFAULT_MAX_TOKENS tokens, further files are refused (add() returns False).
# 600k tokens is about 75k lines of Python, roughly 70 MiB (measured by bench/offline.py).
DEFAULT_MAX_TOKENS = 600_000
MAX_FILE_CHARS = 1_000_000
MAX_LINE_CHARS = 5_000  # longer lines mean minified or generated text: not worth learning from

_CONTROL_RE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
_SECRETISH_RE = re.compile(r"[A-Za-z0-9+/=]{24,}")

_Postings = Union[int, array]  # noqa: UP007 - a runtime alias, evaluated on Python 3.10 too


def lex(text: str) -> list[str]:
    """Split ``text`` into tokens that concatenate back to exactly ``text``."""
    return _TOKEN_RE.findall(text)


def is_indexable(text: str) -> bool:
    """Whether ``text`` looks like source code worth learning from (not binary, minified or huge)."""
    if not text or len(text) > MAX_FILE_CHARS or "\x00" in text:
        return False
    if len(_CONTROL_RE.findall(text)) * 100 > len(text):
        return False
    return max(map(len, text.split("\n"))) <= MAX_LINE_CHARS


def looks_secret(text: str) -> bool:
    """Whether ``text`` holds a long mixed-case alphanumeric run, the shape of keys and tokens.

    The model learns from raw workspace text, so it must not carry a credential from one file into
    another as a suggestion.
    """
    for run in _SECRETISH_RE.findall(text):
        if any(c.isdigit() for c in run) and any(c.isupper() for c in run) and any(c.islower() for c in run):
            return True
    return False


@attrs.frozen
class ModelStats:
    """What the model holds: counts and an estimate of its memory in bytes."""

    files: int
    tokens: int
    vocabulary: int
    memory_bytes: int
    skipped_files: int
    dead_tokens: int


@attrs.frozen
class _File:
    path: str
    ids: array  # token ids, array('i')
    digest: tuple[int, int]  # (length, hash) of the text, so an unchanged re-send is skipped


def _post(index: dict[int, _Postings], key: int, packed: int) -> None:
    """Append one position to an index entry; a lone position is stored bare to save memory."""
    found = index.get(key)
    if found is None:
        index[key] = packed
    elif isinstance(found, int):
        index[key] = array("q", (found, packed))
    else:
        found.append(packed)


def _tail(postings: _Postings | None, limit: int) -> Sequence[int]:
    if postings is None:
        return ()
    if isinstance(postings, int):
        return (postings,)
    return postings[-limit:]


def _match_len(seq: Sequence[int], end: int, ctx: Sequence[int], limit: int = _MAX_MATCH) -> int:
    """How many tokens before ``seq[end]`` equal the last tokens of ``ctx`` (at most ``limit``)."""
    n = len(ctx)
    length = 0
    while length < limit and length < end and length < n and seq[end - 1 - length] == ctx[n - 1 - length]:
        length += 1
    return length


def _line_tail(text: str, limit: int) -> str:
    """The last ``limit`` characters of ``text``, widened back to a line start so no token is cut."""
    if len(text) <= limit:
        return text
    start = text.find("\n", len(text) - limit)
    return text[start:] if start != -1 else text[-limit:]


def _line_head(text: str, limit: int) -> str:
    """The first ``limit`` characters of ``text``, cut at a line end so no token is cut."""
    if len(text) <= limit:
        return text
    end = text.rfind("\n", 0, limit)
    return text[:end] if end > 0 else text[:limit]


def _digest(text: str) -> tuple[int, int]:
    return len(text), hash(text)


def _is_word_end(text: str) -> bool:
    return bool(text) and (text[-1].isalnum() or text[-1] == "_")


def _trim_to_suffix(suggestion: str, line_rest: str) -> str:
    """Fit a suggestion before the text already right of the cursor (e.g. an auto-closed ``)``).

    Returns ``""`` when the suggestion does not lead into that text: inserting it would garble the line.
    """
    line_rest = line_rest.strip()
    if not line_rest:
        return suggestion
    if suggestion.endswith(line_rest):
        return suggestion[: len(suggestion) - len(line_rest)]
    cut = suggestion.rfind(line_rest)
    return suggestion[:cut] if cut > 0 else ""


# A match is (sequence, position of the predicted token, matched context length, bonus).
_Match = tuple[Sequence[int], int, int, int]


class _Request:
    """Token ids for one suggestion: the model's vocabulary plus the request's own new tokens."""

    def __init__(self, ids: dict[str, int], vocab: list[str]) -> None:
        self._ids = ids
        self._vocab = vocab
        self._base = len(vocab)
        self._extra: dict[str, int] = {}
        self._extra_tokens: list[str] = []

    def intern_all(self, tokens: list[str]) -> list[int]:
        # One C-level dict lookup per token; only tokens new to the model take the slow path.
        ids = list(map(self._ids.get, tokens))
        if None not in ids:
            return ids  # type: ignore[return-value]  # checked: no None
        for i, found in enumerate(ids):
            if found is None:
                ids[i] = self.intern(tokens[i])
        return ids  # type: ignore[return-value]  # every None was replaced

    def intern(self, token: str) -> int:
        found = self._ids.get(token)
        if found is not None:
            return found
        found = self._extra.get(token)
        if found is None:
            found = self._base + len(self._extra_tokens)
            self._extra[token] = found
            self._extra_tokens.append(token)
        return found

    def text(self, token_id: int) -> str:
        if token_id < self._base:
            return self._vocab[token_id]
        return self._extra_tokens[token_id - self._base]


class OfflineModel:
    """An index of the workspace's code that completes the current line from what it already shows.

    ``add``/``update``/``remove`` change one file's entries only; ``suggest`` reads. All methods take
    one lock, so the server may fill the model from a background thread while serving requests.
    Removed files leave dead index entries that are skipped and reclaimed by an occasional rebuild
    (once dead tokens outnumber live ones), which also drops vocabulary no live file uses.
    """

    def __init__(
        self,
        is_excluded: Callable[[str], bool] | None = None,
        max_tokens: int = DEFAULT_MAX_TOKENS,
    ) -> None:
        self._is_excluded = is_excluded or (lambda _path: False)
        self._max_tokens = max_tokens
        self._lock = threading.RLock()
        self._reset()
        self._skipped = 0

    def _reset(self) -> None:
        self._vocab: list[str] = []
        self._ids: dict[str, int] = {}
        self._files: dict[int, _File] = {}
        self._slots: dict[str, int] = {}
        self._next_slot = 1
        self._long: dict[int, _Postings] = {}
        self._short: dict[int, _Postings] = {}
        # Bigram counts (token -> next token -> count): the generator's shortest context, which
        # the position indexes cannot serve cheaply (a frequent token has thousands of positions).
        self._bigram: dict[int, dict[int, int]] = {}
        self._live = 0
        self._dead = 0

    # -- writing -----------------------------------------------------------------------------

    def add(self, path: str, text: str) -> bool:
        """Index ``text`` as the content of ``path`` (replacing any previous content).

        Returns False when the file is not indexed: excluded by the privacy gate, binary-looking,
        minified, over ``MAX_FILE_CHARS``, or over the model's token cap.
        """
        with self._lock:
            if self._holds(path, text):
                return True  # the walk and open/save re-send unchanged files: keep them as they are
            self._drop(path)
            if self._is_excluded(path) or not is_indexable(text):
                self._skipped += 1
                return False
            tokens = lex(text)
            if self._live + len(tokens) > self._max_tokens:
                self._skipped += 1
                return False
            self._insert(path, array("i", map(self._intern, tokens)), _digest(text))
            return True

    def _holds(self, path: str, text: str) -> bool:
        """Whether ``path`` is indexed with exactly ``text`` and still allowed."""
        slot = self._slots.get(path)
        return slot is not None and self._files[slot].digest == _digest(text) and not self._is_excluded(path)

    def update(self, path: str, text: str) -> bool:
        """Replace the content of ``path``: only that file's index entries change."""
        return self.add(path, text)

    def remove(self, path: str) -> None:
        """Forget ``path`` (no-op when it was never added)."""
        with self._lock:
            self._drop(path)
            if self._dead > max(self._live, 100_000):
                self._rebuild()

    def _intern(self, token: str) -> int:
        found = self._ids.get(token)
        if found is None:
            found = self._ids[token] = len(self._vocab)
            self._vocab.append(token)
        return found

    def _insert(self, path: str, ids: array, digest: tuple[int, int]) -> None:
        slot = self._next_slot
        self._next_slot += 1
        self._files[slot] = _File(path, ids, digest)
        self._slots[path] = slot
        self._live += len(ids)
        base = slot << 32
        long_index, short_index = self._long, self._short
        # zip over shifted views: position p is predicted by the tokens just before it; the last
        # view stops one short so that every position indexed has a token to predict.
        for p, (a, b, c, d) in enumerate(zip(ids, ids[1:], ids[2:], ids[3:-1], strict=False), start=_LONG):
            _post(long_index, hash((a, b, c, d)), base | p)
        for p, (a, b) in enumerate(zip(ids, ids[1:-1], strict=False), start=_SHORT):
            _post(short_index, hash((a, b)), base | p)
        self._count_bigrams(ids, 1)

    def _count_bigrams(self, ids: array, delta: int) -> None:
        bigram = self._bigram
        for a, b in zip(ids, ids[1:], strict=False):
            following = bigram.get(a)
            if following is None:
                following = bigram[a] = {}
            count = following.get(b, 0) + delta
            if count > 0:
                following[b] = count
            else:
                following.pop(b, None)

    def _drop(self, path: str) -> None:
        slot = self._slots.pop(path, None)
        if slot is not None:
            ids = self._files.pop(slot).ids
            self._count_bigrams(ids, -1)  # counts, unlike positions, cannot be skipped when dead
            size = len(ids)
            self._live -= size
            self._dead += size

    def _rebuild(self) -> None:
        """Re-index live files from scratch, reclaiming dead entries and unused vocabulary."""
        files = [(f.path, [self._vocab[i] for i in f.ids], f.digest) for f in self._files.values()]
        self._reset()
        for path, tokens, digest in files:
            self._insert(path, array("i", map(self._intern, tokens)), digest)

    # -- reading -----------------------------------------------------------------------------

    def stats(self) -> ModelStats:
        """Counts and a memory estimate (index, token arrays, vocabulary; excludes interpreter overhead)."""
        with self._lock:
            size = sys.getsizeof(self._long) + sys.getsizeof(self._short)
            size += 32 * (len(self._long) + len(self._short))  # the hash keys
            for index in (self._long, self._short):
                size += sum(sys.getsizeof(v) for v in index.values())
            size += sys.getsizeof(self._ids) + sys.getsizeof(self._vocab)
            size += sum(sys.getsizeof(t) for t in self._vocab)
            size += sum(sys.getsizeof(f.ids) + 180 for f in self._files.values())
            size += sys.getsizeof(self._bigram)
            size += sum(sys.getsizeof(v) + 28 * len(v) for v in self._bigram.values())
            return ModelStats(
                files=len(self._files),
                tokens=self._live,
                vocabulary=len(self._vocab),
                memory_bytes=size,
                skipped_files=self._skipped,
                dead_tokens=self._dead,
            )

    def suggest(self, prefix: str, suffix: str, path: str | None = None, max_lines: int = 1) -> str:
        """The text to insert at the cursor: the rest of the current line (or ``max_lines`` lines).

        Returns ``""`` when the model is not confident, the cursor is inside a word, the document
        is excluded or binary-looking, or there is nothing to go on.
        """
        if max_lines < 1 or not prefix.strip() or (path is not None and self._is_excluded(path)):
            return ""
        if _is_word_end(prefix) and _is_word_end(suffix[:1]):
            return ""  # mid-word: completing would split an existing identifier
        before = _line_tail(prefix, _PREFIX_WINDOW)
        after = _line_head(suffix, _SUFFIX_WINDOW)
        if "\x00" in before or "\x00" in after:
            return ""
        with self._lock:
            text = self._generate(before, after, path, max_lines)
        text = _trim_to_suffix(text, suffix.split("\n", 1)[0])
        return "" if looks_secret(text) else text

    def _generate(self, before: str, after: str, path: str | None, max_lines: int) -> str:
        request = _Request(self._ids, self._vocab)
        tokens = lex(before)
        pending = tokens.pop()
        ctx = request.intern_all(tokens)
        following = request.intern_all(lex(after))
        same_slot = self._slots.get(path) if path is not None else None
        copied = self._copy(list(ctx), following, pending, same_slot, request, max_lines)
        if copied:
            return copied
        # Nothing earlier reads the same way, or the occurrences disagree: compose the line from
        # shorter contexts instead (a pending word still has to start the first token).
        return self._compose(ctx, following, pending, request, max_lines)

    def _copy(
        self,
        ctx: list[int],
        following: list[int],
        pending: str,
        same_slot: int | None,
        request: _Request,
        max_lines: int,
    ) -> str:
        """The rest of the line copied from the best-agreed earlier occurrences of the context."""
        head = ""
        skip = len(pending)
        matches = self._find(ctx, following, same_slot)
        if pending:
            matches = [m for m in matches if request.text(m[0][m[1]]).startswith(pending)]
        if not matches:
            choice = _complete_word(pending, ctx, following, request, self._ids)
            if choice is None or choice[1] < _STEP_MIN:
                return ""
            head = request.text(choice[0])[len(pending) :]
            skip = 0
            ctx.append(choice[0])
            matches = self._find(ctx, following, same_slot)
            if not matches:
                return head
        if len(matches) > _MAX_VOTERS:
            matches = heapq.nlargest(_MAX_VOTERS, matches, key=lambda m: m[2] + m[3])
        votes: dict[str, float] = {}
        for seq, pos, length, bonus in matches:
            line = _continuation(seq, pos, max_lines, request, skip)
            if line is not None:
                votes[line] = votes.get(line, 0.0) + _BASE ** min(length + bonus, _MAX_MATCH)
        if not votes:
            return ""
        best = max(votes, key=votes.__getitem__)
        if votes[best] / (sum(votes.values()) + _PRIOR) < _LINE_MIN:
            return ""
        return head + best

    def _find(self, ctx: list[int], following: list[int], same_slot: int | None) -> list[_Match]:
        """Earlier occurrences of the end of ``ctx``: in the document first, then in the index."""
        matches: list[_Match] = []
        if len(ctx) < _SHORT:
            return matches
        _scan(ctx, len(ctx), ctx, _LOCAL_BONUS, matches)
        _scan(following, len(following), ctx, _LOCAL_BONUS, matches)
        long_found = any(m[2] >= _LONG for m in matches)
        if len(ctx) >= _LONG:
            key = hash((ctx[-4], ctx[-3], ctx[-2], ctx[-1]))
            long_found |= self._collect(_tail(self._long.get(key), _MAX_LONG_HITS), ctx, same_slot, matches)
        if not long_found:
            key = hash((ctx[-2], ctx[-1]))
            self._collect(_tail(self._short.get(key), _MAX_SHORT_HITS), ctx, same_slot, matches)
        return matches

    def _collect(
        self, postings: Sequence[int], ctx: list[int], same_slot: int | None, matches: list[_Match]
    ) -> bool:
        files = self._files
        found = False
        for packed in postings:
            slot = packed >> 32
            file = files.get(slot)
            if file is None:
                continue  # a removed file's entry, reclaimed by the next rebuild
            if slot == same_slot:
                # The indexed copy of the document being edited is stale: it holds the very line
                # being typed, whose old rest would outvote everything else. The live text around
                # the cursor is scanned already (_scan), so its copy in the index is skipped.
                continue
            pos = packed & 0xFFFFFFFF
            length = _match_len(file.ids, pos, ctx)
            if length >= _SHORT:  # hash collisions match less than their key's length
                matches.append((file.ids, pos, length, 0))
                found |= length >= _LONG
        return found

    def _compose(
        self, ctx: list[int], following: list[int], pending: str, request: _Request, max_lines: int
    ) -> str:
        """Generate the line token by token, greedily, from the n-gram model; stop at its end.

        Composed lines are far less often right than copied ones (bench/offline.py), so one is
        shown only when short (``_GEN_MAX_TOKENS``), when its first token had at least two tokens of
        context behind it, and when every step after the typed word won ``_GEN_MIN_SHARE`` of its
        order's count; otherwise ``""``.
        """
        # The typed part of the last token stays out of the counts: it must not vote for itself.
        local = _LocalCounts([ctx, following])
        ctx = list(ctx)
        out: list[str] = []
        lines = chars = produced = 0
        for step in range(_GEN_STEPS * max_lines):
            accept = (lambda t: request.text(t).startswith(pending)) if step == 0 else None
            found = self._next_token(ctx, local, accept)
            if found is None:
                return ""
            best, share = found
            piece = request.text(best)[len(pending) if step == 0 else 0 :]
            if piece:  # finishing the typed word as typed is no claim; anything else is
                if share < _GEN_MIN_SHARE:
                    return ""
                if produced == 0 and not self._has_context(ctx, local):
                    return ""
                produced += 1
            if "\n" in piece:
                lines += 1
                if lines >= max_lines:
                    return "".join(out) if produced <= _GEN_MAX_TOKENS + 1 else ""
                chars = 0
            chars += len(piece)
            if chars > _MAX_CHARS_PER_LINE:
                return ""
            out.append(piece)
            ctx.append(best)
        return ""  # no line end in sight: the model is looping, not completing

    def _next_token(
        self, ctx: list[int], local: _LocalCounts, accept: Callable[[int], bool] | None
    ) -> tuple[int, float] | None:
        """The best next token after ``ctx`` under stupid backoff (orders 1.._GEN_ORDER).

        Each order's relative frequencies count the index's occurrences plus the current document's,
        the latter weighted ``_GEN_LOCAL_WEIGHT`` (a cache model: the file at hand predicts itself
        best). A token's score is its best over the orders, each order below the longest seen
        discounted by ``_GEN_BACKOFF``. Only tokens ``accept`` allows compete. Returns the token and
        its share of its order's count (the step's confidence), or None.
        """
        top = min(_GEN_ORDER, len(ctx))
        counts = self._counts(ctx, top, local)
        best: int | None = None
        best_score = share = 0.0
        weight = 1.0
        for order in range(top, 0, -1):
            if best_score >= weight:
                break  # a lower order, discounted to ``weight`` at most, cannot win any more
            found = counts[order]
            if order == 1:
                for token, count in self._bigram.get(ctx[-1], {}).items():
                    found[token] = found.get(token, 0.0) + count
            if not found:
                continue
            total = sum(found.values())
            for token, weight_count in found.items():
                score = weight * weight_count / total
                if score > best_score and (accept is None or accept(token)):
                    best, best_score = token, score
                    share = weight_count / total
            weight *= _GEN_BACKOFF
        return None if best is None else (best, share)

    def _has_context(self, ctx: list[int], local: _LocalCounts) -> bool:
        """Whether the last two tokens of ``ctx`` occur together anywhere (index or document)."""
        if len(ctx) < _SHORT:
            return False
        counts: list[dict[int, float]] = [{}, {}, {}]
        local.count(ctx, _SHORT, counts)
        if counts[_SHORT]:
            return True
        self._count(_tail(self._short.get(hash((ctx[-2], ctx[-1]))), _GEN_HITS), ctx, _SHORT, _SHORT, counts)
        return bool(counts[_SHORT])

    def _counts(self, ctx: list[int], top: int, local: _LocalCounts) -> list[dict[int, float]]:
        """Next-token counts per context length 2..top (index and document) and 1 (document only)."""
        counts: list[dict[int, float]] = [{} for _ in range(top + 1)]
        if top >= _SHORT:
            postings = _tail(self._short.get(hash((ctx[-2], ctx[-1]))), _GEN_HITS)
            self._count(postings, ctx, _SHORT, min(top, _LONG - 1), counts)
        if top >= _LONG:
            postings = _tail(self._long.get(hash(tuple(ctx[-_LONG:]))), _GEN_HITS)
            self._count(postings, ctx, _LONG, top, counts)
        local.count(ctx, top, counts)
        return counts

    def _count(
        self, postings: Sequence[int], ctx: list[int], low: int, high: int, counts: list[dict[int, float]]
    ) -> None:
        """Add the indexed occurrences that share ``low..high`` tokens of context to those orders."""
        files = self._files
        for packed in postings:
            file = files.get(packed >> 32)
            if file is None:
                continue  # a removed file's entry
            pos = packed & 0xFFFFFFFF
            token = file.ids[pos]
            for order in range(low, _match_len(file.ids, pos, ctx, high) + 1):
                found = counts[order]
                found[token] = found.get(token, 0.0) + 1.0


class _LocalCounts:
    """The current document's windows as n-gram counts: every position, by the token before it."""

    def __init__(self, seqs: list[list[int]]) -> None:
        self._after: dict[int, list[tuple[list[int], int]]] = {}
        for seq in seqs:
            for pos in range(1, len(seq)):
                self._after.setdefault(seq[pos - 1], []).append((seq, pos))

    def count(self, ctx: list[int], top: int, counts: list[dict[int, float]]) -> None:
        if top < 1:
            return
        for seq, pos in self._after.get(ctx[-1], ())[-_GEN_HITS:]:
            token = seq[pos]
            for order in range(1, _match_len(seq, pos, ctx, top) + 1):
                found = counts[order]
                found[token] = found.get(token, 0.0) + _GEN_LOCAL_WEIGHT


def _continuation(seq: Sequence[int], pos: int, max_lines: int, request: _Request, skip: int) -> str | None:
    """The text from ``seq[pos]`` to the end of its line (``max_lines`` lines), minus ``skip`` chars."""
    out: list[str] = []
    lines = 0
    chars = 0
    for i in range(pos, min(len(seq), pos + _MAX_STEPS * max_lines)):
        piece = request.text(seq[i])
        if i == pos:
            piece = piece[skip:]
        if "\n" in piece:
            lines += 1
            chars = 0
            if lines >= max_lines:
                return "".join(out)
        chars += len(piece)
        if chars > _MAX_CHARS_PER_LINE:
            return None
        out.append(piece)
    return None  # no line end in sight: a run-away line or the end of the sequence


def _scan(seq: list[int], limit: int, ctx: list[int], bonus: int, matches: list[_Match]) -> None:
    """Occurrences in ``seq[:limit]`` of the last two tokens of ``ctx`` (list.index runs in C)."""
    last = ctx[-1]
    i = 0
    while True:
        try:
            i = seq.index(last, i, limit - 1)
        except ValueError:
            return
        i += 1  # seq[i] is the token that followed
        if i >= 2 and seq[i - 2] == ctx[-2]:
            matches.append((seq, i, _match_len(seq, i, ctx), bonus))


def _complete_word(
    pending: str, ctx: list[int], following: list[int], request: _Request, known: dict[str, int]
) -> tuple[int, float] | None:
    """Complete an unfinished identifier from the identifiers in the document's windows.

    A word the workspace already uses as a whole (``as``, ``set``) is taken as finished, not as the
    start of a longer one.
    """
    word = pending.lstrip(" \t")
    if len(word) < 2 or not (word[0].isalpha() or word[0] == "_") or not _is_word_end(word):
        return None
    spaces = pending[: len(pending) - len(word)]
    counts: dict[str, int] = {}
    for token_id in set(ctx) | set(following):
        text = request.text(token_id).lstrip(" \t")
        if text == word:
            return None
        if len(text) > len(word) and text.startswith(word):
            counts[text] = counts.get(text, 0) + 1
    if word in known or pending in known:
        return None
    if not counts:
        return None
    best = max(counts, key=counts.__getitem__)
    return request.intern(spaces + best), counts[best] / (sum(counts.values()) + 1)
