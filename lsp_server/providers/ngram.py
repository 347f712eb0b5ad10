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
  their votes. The best few lines become candidates, each with its evidence: its share of the votes
  (against a phantom competitor ``_PRIOR``), the runner-up's, the longest shared context, whether
  the current document voted, and whether the occurrence is followed by the same lines as the
  cursor's line (the suffix: fill-in-the-middle evidence).
* An unfinished word may also be the start of a longer name in scope: the names the windows show
  (nearest first) and those the index makes reachable are completed and the line continued after
  them, as further candidates. The closing line of an open construct (``scope.closing_line``) and
  the end of the line as its neighbours end (``scope.finish_line``) are candidates too.
* Agreement: a candidate that would write a name nothing reachable defines (not in the windows, the
  index's names for the file, the workspace's common words or the languages' keywords) is dropped.
* Calibration (``calibration.py``): each candidate's features give a confidence (a logistic model
  fitted on the benchmark's tuning repositories); ``propose`` returns the most confident candidate,
  ``suggest`` shows it only from ``THRESHOLD`` up. An empty suggestion beats a wrong one.

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
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable, Sequence

import attrs

from lsp_server.providers import bindings, calibration, scope
from lsp_server.providers.calibration import THRESHOLD

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
_MAX_NAMES = 2  # completions of an unfinished word that are continued and compete
_NEAR = 300  # tokens before the cursor whose names count double when completing a word
_MAX_CANDIDATES = 4  # copied lines that compete on confidence (after the agreement checks)
_AFTER_SCAN = 64  # tokens of the suffix searched for the end of the cursor's line
_AFTER_MATCH = 8  # tokens after the line compared with an occurrence's
_MAX_VOTERS = 64  # the best-matching occurrences that vote: bounds latency
_MAX_STEPS = 64  # tokens per suggested line
_MAX_CHARS_PER_LINE = 240
# A repeat: copies sharing the cursor's line so far and this many tokens before it all continue the
# same way. Shown at this confidence at least.
_REPEAT_MIN_TOKENS = 4
_REPEAT_COPIES = 2
_REPEAT_CONTEXT_LIMIT = 96  # tokens compared when checking that a copy shares the whole context
REPEAT_CONFIDENCE = 0.95

# Per-request windows of the current document: enough for the enclosing function and its
# neighbours while keeping lexing well under a millisecond.
_PREFIX_WINDOW = 4_000
_SUFFIX_WINDOW = 2_000

# Caps, so a huge workspace cannot take the editor down: files above these are skipped, and once
# the model holds DEFAULT_MAX_TOKENS tokens, further workspace files are refused (add() returns
# False) while the documents being edited still get in (update() makes room). The server offers the
# files nearest the open documents first. The tables take about 46 bytes a token (tracemalloc: 386k
# tokens of hypothesis, 16.7 MiB), so 320k tokens (about 40k lines of Python) hold them near 15 MiB
# whatever the workspace's size. Every repository bench/offline.py's figures use fits under it (the
# largest, rich, has 307k tokens), so those figures do not depend on it.
DEFAULT_MAX_TOKENS = 320_000
# The cap while a model serves completions and the engine only stands in when the model fails
# (``offlineFallback``): the SDK's classes already take about 30 MiB then, and a fallback for an
# outage needs the files near the open ones, not the workspace (64k tokens: about 3 MiB of tables).
FALLBACK_MAX_TOKENS = 64_000
_MIN_ROOM = 64  # tokens: with less room than this left, add() refuses without lexing
# Dead index entries (of removed or re-indexed texts) tolerated before a rebuild, whatever the live
# size: small workspaces are not rebuilt for every few edits.
_MIN_DEAD_TOKENS = 100_000
MAX_FILE_CHARS = 1_000_000
MAX_LINE_CHARS = 5_000  # longer lines mean minified or generated text: not worth learning from

_CONTROL_RE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
_SECRETISH_RE = re.compile(r"[A-Za-z0-9+/=]{24,}")


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
class Suggestion:
    """A candidate for the cursor: its text, the estimated chance it is exactly right, and its kind.

    ``source`` is ``copy`` (what followed the same context elsewhere), ``word`` (an unfinished name
    completed from the names in scope), ``word+copy`` (that name, then a copied rest), ``close`` (the
    brackets an earlier line opened), ``end`` (the line's own quote and brackets closed, then the
    terminator its neighbours end with) or ``repeat`` (a copy every other copy of this place agrees on).
    """

    text: str
    confidence: float
    source: str


@attrs.define
class Considered:
    """A candidate the engine looked at, for diagnostics and calibration.

    ``features`` is its evidence (the calibration's input), ``confidence`` None when it was dropped
    before being scored, and ``verdict`` says what became of it: ``best``, ``less confident than the
    best``, or ``dropped: <the rule>`` (the provider adds whether the best reached the threshold).
    """

    text: str
    source: str
    features: dict
    confidence: float | None = None
    verdict: str = ""

    def describe(self) -> str:
        """One line for a log: confidence, source, evidence, verdict and the text."""
        shown = "  -  " if self.confidence is None else f"{self.confidence:.2f} "
        keys = ("share", "voters", "longest", "local", "after", "repeat", "agree")
        evidence = ", ".join(
            f"{k} {self.features[k]:.2f}"
            if isinstance(self.features[k], float)
            else f"{k} {self.features[k]}"
            for k in keys
            if self.features.get(k)
        )
        return f"{shown}{self.source or '-':<9} {self.text!r:<50} [{evidence}] {self.verdict}"


def _better(best: Considered | None, entry: Considered) -> Considered:
    """The more confident of two scored candidates (the first on a tie)."""
    if best is None or best.confidence is None:
        return entry
    return entry if (entry.confidence or 0.0) > best.confidence else best


def _nothing(collect: list[Considered] | None, why: str) -> None:
    """Tell ``collect`` why there was nothing to consider."""
    if collect is not None:
        collect.append(Considered("", "", {}, verdict=f"no candidates: {why}"))
    return None


@attrs.frozen
class _File:
    path: str
    ids: array  # token ids, array('i')
    digest: tuple[int, int]  # (length, hash) of the text, so an unchanged re-send is skipped


def _file_runs(ids: array, slot: int) -> tuple[tuple[array, array], tuple[array, array]]:
    """One file's positions as a sorted run per index (4-token and 2-token contexts).

    Pure, so the model builds it outside its lock: posting a big file's positions one by one under
    the lock held a completion on the event loop for up to 175 ms while the indexer's thread taught
    the engine (``_pydecimal.py``, 60k tokens).
    """
    base = slot << 32
    # zip over shifted views: position p is predicted by the tokens just before it; the last view
    # stops one short so that every position indexed has a token to predict.
    long_keys = [hash(context) for context in zip(ids, ids[1:], ids[2:], ids[3:-1], strict=False)]
    short_keys = [hash(context) for context in zip(ids, ids[1:-1], strict=False)]
    return _sorted_run(long_keys, base + _LONG), _sorted_run(short_keys, base + _SHORT)


def _sorted_run(keys: list[int], first: int) -> tuple[array, array]:
    """Keys sorted with the positions ``first + i`` they came from; equal keys keep position order."""
    order = sorted(range(len(keys)), key=keys.__getitem__)  # stable
    return array("q", map(keys.__getitem__, order)), array("q", [first + i for i in order])


class _ContextIndex:
    """Positions by context hash, in insertion order: sorted runs, one per file learnt, merged as they grow.

    The storage of one of the model's two indexes (4-token and 2-token contexts). ``tail`` answers
    exactly what the last ``limit`` entries of one insertion-ordered list per key would: runs are
    kept in the order they were added, and merging keeps the older run's positions first.
    """

    __slots__ = ("runs",)

    def __init__(self) -> None:
        self.runs: list[tuple[array, array]] = []

    def add(self, run: tuple[array, array]) -> None:
        """Append one file's run (``_file_runs``): the newest positions."""
        if run[0]:
            self.runs.append(run)

    def next_merge(self) -> tuple[tuple[array, array], tuple[array, array]] | None:
        """The two newest runs when they should become one (the newer is at least half the older)."""
        runs = self.runs
        if len(runs) > 1 and len(runs[-2][0]) <= 2 * len(runs[-1][0]):
            return runs[-2], runs[-1]
        return None

    def replace(
        self, older: tuple[array, array], newer: tuple[array, array], merged: tuple[array, array]
    ) -> bool:
        """Put ``merged`` where ``older`` and ``newer`` still stand side by side; False if they do not."""
        runs = self.runs
        for i in range(len(runs) - 1):
            if runs[i] is older and runs[i + 1] is newer:
                runs[i : i + 2] = [merged]
                return True
        return False

    def tail(self, key: int, limit: int) -> Sequence[int]:
        """The last ``limit`` positions posted under ``key``, oldest first."""
        parts: list[Sequence[int]] = []
        need = limit
        for keys, values in reversed(self.runs):
            if need <= 0:
                break
            low = bisect_left(keys, key)
            if low == len(keys) or keys[low] != key:
                continue
            high = bisect_right(keys, key, low)
            start = max(low, high - need)
            parts.append(values[start:high])
            need -= high - start
        if not parts:
            return ()
        if len(parts) == 1:
            return parts[0][-limit:]
        ordered: list[int] = []
        for part in reversed(parts):
            ordered.extend(part)
        return ordered[-limit:]

    def memory_bytes(self) -> int:
        return sum(sys.getsizeof(k) + sys.getsizeof(v) for k, v in self.runs)

    def __len__(self) -> int:
        return sum(len(k) for k, _ in self.runs)


def _joined_runs(runs: list[tuple[array, array]]) -> tuple[array, array]:
    """One sorted run from ``runs`` in insertion order; on equal keys the earlier runs come first."""
    keys = array("q", [key for run_keys, _ in runs for key in run_keys])
    values = array("q", [value for _, run_values in runs for value in run_values])
    order = sorted(range(len(keys)), key=keys.__getitem__)  # stable, and it merges sorted stretches
    return array("q", map(keys.__getitem__, order)), array("q", map(values.__getitem__, order))


def _merge_runs(older: tuple[array, array], newer: tuple[array, array]) -> tuple[array, array]:
    """One sorted run from two; on equal keys the older run's positions come first."""
    old_keys, old_values = older
    new_keys, new_values = newer
    keys, values = array("q"), array("q")
    i = j = 0
    n_old, n_new = len(old_keys), len(new_keys)
    while i < n_old and j < n_new:
        if new_keys[j] < old_keys[i]:
            keys.append(new_keys[j])
            values.append(new_values[j])
            j += 1
        else:
            keys.append(old_keys[i])
            values.append(old_values[i])
            i += 1
    keys.extend(old_keys[i:])
    values.extend(old_values[i:])
    keys.extend(new_keys[j:])
    values.extend(new_values[j:])
    return keys, values


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


def _file_name(path: str) -> str:
    return path.replace("\\", "/").rsplit("/", 1)[-1]


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
    Removed and re-indexed files leave dead index entries that are skipped and reclaimed by an
    occasional rebuild (once dead tokens outnumber live ones), which also drops vocabulary no live
    file uses.
    """

    def __init__(
        self,
        is_excluded: Callable[[str], bool] | None = None,
        max_tokens: int = DEFAULT_MAX_TOKENS,
    ) -> None:
        self._is_excluded = is_excluded or (lambda _path: False)
        self._max_tokens = max_tokens
        self._lock = threading.RLock()
        # Paths learnt through add() (workspace files, nearest first), in that order: when an edited
        # document needs room, the last ones (the farthest) go first. Survives rebuilds.
        self._offered: dict[str, None] = {}
        self._reset()
        self._skipped = 0

    def _reset(self) -> None:
        self._vocab: list[str] = []
        self._ids: dict[str, int] = {}
        self._files: dict[int, _File] = {}
        self._slots: dict[str, int] = {}
        # File name -> indexed paths: prompts name files workspace-relative, the model by full path.
        self._by_file_name: dict[str, set[str]] = {}
        self._next_slot = 1
        self._long = _ContextIndex()
        self._short = _ContextIndex()
        # Identifier -> number of live files using it: the workspace's common words count as in scope.
        self._name_files: dict[str, int] = {}
        self._common: tuple[int, frozenset[str]] | None = None
        self._live = 0
        self._dead = 0

    # -- writing -----------------------------------------------------------------------------

    def add(self, path: str, text: str) -> bool:
        """Index ``text`` as the content of ``path`` (replacing any previous content).

        Returns False when the file is not indexed: excluded by the privacy gate, binary-looking,
        minified, over ``MAX_FILE_CHARS``, or over the model's token cap.
        """
        learnt = self._learn(path, text, make_room=False)
        self._merge_runs()
        return learnt

    def update(self, path: str, text: str) -> bool:
        """Replace the content of ``path`` (a document being edited): only that file's entries change.

        Unlike ``add``, a full model makes room: the files ``add`` learnt last go first.
        """
        learnt = self._learn(path, text, make_room=True)
        self._merge_runs()
        return learnt

    def _merge_runs(self) -> None:
        """Merge the indexes' sorted runs that are due, without holding the lock while merging.

        A merge walks up to every position the model holds (100-200 ms at its cap): under the lock,
        a request on the event loop waited for it while the indexer's thread taught the engine.
        Runs are never changed in place, so the merge reads them unlocked and the result replaces
        them only if they still stand side by side (a rebuild or another writer may have moved on).
        """
        for name in ("_long", "_short"):
            while True:
                with self._lock:
                    index: _ContextIndex = getattr(self, name)
                    due = index.next_merge()
                if due is None:
                    break
                merged = _merge_runs(*due)
                with self._lock:
                    index.replace(*due, merged)

    def _learn(self, path: str, text: str, make_room: bool) -> bool:
        """Learn ``text`` as ``path``; the lock is held for the model's tables, not for the text's work.

        Lexing and sorting a file's positions happen outside it (``_file_runs``), so a request on the
        event loop waits at most for the interning of one file's tokens while a thread teaches.
        """
        digest = _digest(text)
        with self._lock:
            if self._holds(path, digest):
                if make_room:
                    self._offered.pop(path, None)
                return True  # the walk and open/save re-send unchanged files: keep them as they are
            if self._max_tokens < _MIN_ROOM or not make_room and self._max_tokens - self._live < _MIN_ROOM:
                # Full (or capped at nothing: a model serves and its fallback never did): a real
                # file cannot fit, and lexing it only to refuse it was most of the cost of a
                # workspace walk past the cap (the stdlib: 1,600 files lexed for nothing).
                self._forget(path)
                self._skipped += 1
                return False
        tokens = lex(text) if is_indexable(text) else None
        with self._lock:
            self._forget(path)
            if tokens is None or self._is_excluded(path):
                self._skipped += 1
                return False
            if self._live + len(tokens) > self._max_tokens and not (
                make_room and self._make_room(len(tokens))
            ):
                self._skipped += 1
                return False
            ids = array("i", map(self._intern, tokens))
            slot = self._register(path, ids, digest)
            if not make_room:
                self._offered[path] = None
            indexes = (self._long, self._short)
        runs = _file_runs(ids, slot)
        with self._lock:
            # Unless a rebuild (which indexed the file itself) or a newer text of it came meanwhile.
            if (self._long, self._short) == indexes and self._slots.get(path) == slot:
                self._long.add(runs[0])
                self._short.add(runs[1])
        return True

    def _forget(self, path: str) -> None:
        """Drop ``path``'s entries before it is learnt again (or refused)."""
        self._drop(path)
        self._offered.pop(path, None)
        # Editing re-indexes the open file at every pause: without this, each update left the old
        # text's positions behind as dead entries, and the model grew for as long as one typed.
        self._reclaim()

    def _make_room(self, needed: int) -> bool:
        """Forget the workspace files learnt last until ``needed`` more tokens fit; False if they cannot."""
        while self._live + needed > self._max_tokens and self._offered:
            victim = next(reversed(self._offered))
            del self._offered[victim]
            self._drop(victim)
        self._reclaim()
        return self._live + needed <= self._max_tokens

    def _holds(self, path: str, digest: tuple[int, int]) -> bool:
        """Whether ``path`` is indexed with exactly the text of ``digest`` and still allowed."""
        slot = self._slots.get(path)
        return slot is not None and self._files[slot].digest == digest and not self._is_excluded(path)

    @property
    def max_tokens(self) -> int:
        """The cap on tokens held (workspace files and edited documents together)."""
        return self._max_tokens

    def has_room(self) -> bool:
        """Whether ``add`` could take a file now (no: it would refuse any, full or capped at 0)."""
        return self._max_tokens - self._live >= _MIN_ROOM

    def set_max_tokens(self, max_tokens: int) -> None:
        """Change the cap on tokens held.

        A lower cap forgets the workspace files learnt last (the farthest) and gives their memory
        back at once; a higher one takes the files ``add`` is offered from now on.
        """
        with self._lock:
            self._max_tokens = max(0, max_tokens)
            if self._live > self._max_tokens and self._offered:
                self._make_room(0)
                if self._dead:
                    self._rebuild()
        self._merge_runs()

    def remove(self, path: str) -> None:
        """Forget ``path`` (no-op when it was never added)."""
        with self._lock:
            self._offered.pop(path, None)
            self._drop(path)
            self._reclaim()
        self._merge_runs()

    def compact(self) -> None:
        """Rebuild now if any entry is dead (the editor is idle: every document was closed)."""
        with self._lock:
            if self._dead:
                self._rebuild()
        self._merge_runs()

    def _reclaim(self) -> None:
        """Rebuild once dead entries outnumber live ones: memory stays under ~2x the live index."""
        if self._dead > max(self._live, _MIN_DEAD_TOKENS):
            self._rebuild()

    def _intern(self, token: str) -> int:
        found = self._ids.get(token)
        if found is None:
            found = self._ids[token] = len(self._vocab)
            self._vocab.append(token)
        return found

    def _register(self, path: str, ids: array, digest: tuple[int, int]) -> int:
        """Give the file a slot and count it live; its positions are indexed by the caller."""
        slot = self._next_slot
        self._next_slot += 1
        self._files[slot] = _File(path, ids, digest)
        self._slots[path] = slot
        self._by_file_name.setdefault(_file_name(path), set()).add(path)
        self._live += len(ids)
        self._count_names(ids, 1)
        return slot

    def _count_names(self, ids: array, delta: int) -> None:
        vocab, counts = self._vocab, self._name_files
        for name in {vocab[i].lstrip(" \t") for i in set(ids)}:
            if name[:1].isalpha() or name[:1] == "_":
                count = counts.get(name, 0) + delta
                if count > 0:
                    counts[name] = count
                else:
                    counts.pop(name, None)

    def _drop(self, path: str) -> None:
        slot = self._slots.pop(path, None)
        if slot is not None:
            same_name = self._by_file_name.get(_file_name(path))
            if same_name is not None:
                same_name.discard(path)
                if not same_name:
                    del self._by_file_name[_file_name(path)]
        if slot is not None:
            ids = self._files.pop(slot).ids
            self._count_names(ids, -1)  # counts, unlike positions, cannot be skipped when dead
            size = len(ids)
            self._live -= size
            self._dead += size

    def _rebuild(self) -> None:
        """Re-index live files from scratch, reclaiming dead entries and unused vocabulary.

        One run per index for all of them: a run per file (as ``add`` makes) left hundreds of runs
        that every lookup bisects, since merging only ever looks at the two newest.
        """
        files = [(f.path, [self._vocab[i] for i in f.ids], f.digest) for f in self._files.values()]
        self._reset()
        long_runs, short_runs = [], []
        for path, tokens, digest in files:
            ids = array("i", map(self._intern, tokens))
            long_run, short_run = _file_runs(ids, self._register(path, ids, digest))
            long_runs.append(long_run)
            short_runs.append(short_run)
        self._long.add(_joined_runs(long_runs))
        self._short.add(_joined_runs(short_runs))

    # -- reading -----------------------------------------------------------------------------

    def resolve_path(self, path: str | None) -> str | None:
        """The indexed file a prompt's path names (prompts name files relative to the workspace).

        ``path`` itself when indexed; else the one indexed path that ends with it; else None.
        """
        if path is None:
            return None
        with self._lock:
            if path in self._slots:
                return path
            tail = "/" + path.replace("\\", "/").lstrip("./")
            found = [
                p for p in self._by_file_name.get(_file_name(path), ()) if p.replace("\\", "/").endswith(tail)
            ]
            return found[0] if len(found) == 1 else None

    def stats(self) -> ModelStats:
        """Counts and a memory estimate (index, token arrays, vocabulary; excludes interpreter overhead)."""
        with self._lock:
            size = self._long.memory_bytes() + self._short.memory_bytes()
            size += sys.getsizeof(self._ids) + sys.getsizeof(self._vocab)
            size += sum(sys.getsizeof(t) for t in self._vocab)
            size += sum(sys.getsizeof(f.ids) + 180 for f in self._files.values())
            size += sys.getsizeof(self._name_files) + 90 * len(self._name_files)
            return ModelStats(
                files=len(self._files),
                tokens=self._live,
                vocabulary=len(self._vocab),
                memory_bytes=size,
                skipped_files=self._skipped,
                dead_tokens=self._dead,
            )

    def suggest(
        self,
        prefix: str,
        suffix: str,
        path: str | None = None,
        max_lines: int = 1,
        scope_names: frozenset[str] = frozenset(),
    ) -> str:
        """The text to insert at the cursor (the rest of the line, or ``max_lines`` lines), or ``""``.

        ``""`` unless the best proposal's confidence reaches ``THRESHOLD`` (see ``propose``).
        """
        found = self.propose(prefix, suffix, path, max_lines, scope_names)
        return found.text if found is not None and found.confidence >= THRESHOLD else ""

    def propose(
        self,
        prefix: str,
        suffix: str,
        path: str | None = None,
        max_lines: int = 1,
        scope_names: frozenset[str] = frozenset(),
        collect: list[Considered] | None = None,
    ) -> Suggestion | None:
        """The most confident candidate for the cursor, whatever its confidence, or None.

        ``scope_names`` are names reachable from the document that its windows do not show (the
        workspace index's definitions of the file and of what it imports); the windows' own
        identifiers and the workspace's common words are added here. None when the cursor is inside
        a word, the document is excluded or binary-looking, or there is nothing to go on.

        A *repeat* — the workspace holds the cursor's line so far, and the code just before it, in two
        or more places, and every one of them goes on the same way — is the strongest evidence there is:
        it is proposed whatever the agreement rule and the calibration say (only text shaped like a
        credential is still refused). ``collect`` (diagnostics, benchmarks) receives a ``Considered``
        for every candidate, with the rule that dropped it.
        """
        path = self.resolve_path(path) or path
        if max_lines < 1 or not prefix.strip():
            _nothing(collect, "nothing typed before the cursor")
            return None
        if path is not None and self._is_excluded(path):
            _nothing(collect, "the file is excluded by the privacy rules")
            return None
        if _is_word_end(prefix) and _is_word_end(suffix[:1]):
            _nothing(collect, "the cursor is inside a word")
            return None
        before = _line_tail(prefix, _PREFIX_WINDOW)
        after = _line_head(suffix, _SUFFIX_WINDOW)
        if "\x00" in before or "\x00" in after:
            _nothing(collect, "the text looks binary")
            return None
        line_rest = suffix.split("\n", 1)[0]
        flags = scope.language_flags(path)
        family = bindings.family_of(path)
        line_before = before[before.rfind("\n") + 1 :]
        with self._lock:
            candidates, shown_words = self._candidates(before, after, path, max_lines, scope_names)
            known = (shown_words, scope_names, self._common_names(), scope.BASE_NAMES)
        considered: list[Considered] = []
        best: Considered | None = None
        for text, features in candidates:
            copied = text
            text = _trim_to_suffix(text, line_rest)
            entry = Considered(text or copied, str(features["source"]), features)
            considered.append(entry)
            if not text.strip():
                entry.verdict = "dropped: it does not lead into the text after the cursor"
                continue
            if looks_secret(text):
                entry.verdict = "dropped: it looks like a credential"
                continue
            first = text.split("\n", 1)[0]
            names = scope.mentioned_names(line_before, first, *flags)
            unknown = scope.unknown_names(names, known)
            if unknown:
                bound = bindings.bound_names(line_before + first, family, *flags)
                unknown = [name for name in unknown if name not in bound]
            features["names"] = len(names)
            features["chars"] = len(first)
            features["pending"] = float(_is_word_end(line_before))
            features["open_after"], features["over"] = scope.line_balance(line_before, first, *flags)
            entry.confidence = calibration.confidence(features)
            if features.get("repeat"):
                entry.source = "repeat"
                entry.confidence = max(entry.confidence, REPEAT_CONFIDENCE)
            elif unknown:
                entry.confidence = None
                entry.verdict = (
                    f"dropped: it writes names nothing reachable defines ({', '.join(unknown[:4])})"
                )
                continue
            best = _better(best, entry)
        finished = scope.finish_line(before, after, *flags) if not line_rest.strip() else None
        if finished is not None:
            features = {
                "source": "end",
                "agree": finished[1],
                "end_chars": len(finished[0]),
                "end_pending": float(_is_word_end(line_before)),
                "end_closes": float(finished[0][:1] in ")]}\"'`"),
                "end_header": float(finished[0] == ":" and flags[0] and scope.is_block_header(line_before)),
            }
            entry = Considered(finished[0], "end", features, calibration.confidence(features))
            considered.append(entry)
            best = _better(best, entry)
        closing = scope.closing_line(before, *flags)
        if closing and not line_rest.strip():
            features = {"source": "close", "chars": len(closing)}
            entry = Considered(closing, "close", features, calibration.confidence(features))
            considered.append(entry)
            best = _better(best, entry)
        if collect is not None:
            for entry in considered:
                if entry.confidence is not None:
                    entry.verdict = "best" if entry is best else "less confident than the best"
            collect.extend(
                considered or [Considered("", "", {}, verdict="no earlier occurrence of this context")]
            )
        if best is None or best.confidence is None:
            return None
        return Suggestion(best.text, best.confidence, best.source)

    def _common_names(self) -> frozenset[str]:
        """Identifiers used in many files of the workspace: keywords, builtins, the project's staples."""
        files = len(self._files)
        if self._common is None or self._common[0] != files:
            floor = max(3, files // 10)
            names = frozenset(n for n, count in self._name_files.items() if count >= floor)
            self._common = (files, names)
        return self._common[1]

    def _candidates(
        self, before: str, after: str, path: str | None, max_lines: int, scope_names: frozenset[str]
    ) -> tuple[list[tuple[str, dict]], set[str]]:
        """The candidates for the cursor, and the words the windows show (their names in scope)."""
        request = _Request(self._ids, self._vocab)
        tokens = lex(before)
        following_tokens = lex(after)
        # The windows' tokens already hold every identifier they show: no second pass over the text.
        shown_words = {t.lstrip(" \t") for t in {*tokens, *following_tokens}}
        pending = tokens.pop()
        ctx = request.intern_all(tokens)
        following = request.intern_all(following_tokens)
        same_slot = self._slots.get(path) if path is not None else None
        found = self._copy(ctx, following, pending, same_slot, request, max_lines, scope_names)
        return found, shown_words

    def _copy(
        self,
        ctx: list[int],
        following: list[int],
        pending: str,
        same_slot: int | None,
        request: _Request,
        max_lines: int,
        scope_names: frozenset[str],
    ) -> list[tuple[str, dict]]:
        """Candidate rests of the line copied from earlier occurrences of the context, with their evidence.

        Each candidate carries features for calibration: its share of the votes (against a phantom
        competitor ``_PRIOR``), the share of the runner-up, its longest shared context, how many
        occurrences and whether the current document voted for it.
        """
        matches = self._find(ctx, following, same_slot)
        need = _context_needed(ctx, request)
        strong = [m for m in matches if _shares_context(m, ctx, need)]
        if pending:
            matches = [m for m in matches if request.text(m[0][m[1]]).startswith(pending)]
        kept = {id(m) for m in matches}
        # A copy of the same place that goes on other than what is typed: the workspace disagrees.
        repeats = {id(m) for m in strong} if all(id(m) in kept for m in strong) else set()
        out = self._vote(matches, len(pending), request, max_lines, "", 1.0, following, repeats)
        # The typed word may also be the start of a longer name in scope: complete it from the names
        # the document shows (nearest and most used first), then continue the line after it.
        for token, share in _name_completions(pending, ctx, following, request, scope_names)[:_MAX_NAMES]:
            head = request.text(token)[len(pending) :]
            found = self._find([*ctx, token], following, same_slot)
            voted = self._vote(found, 0, request, max_lines, head, share, following)
            out.extend(voted or [(head, {"source": "word", "share": share, "tokens": 1})])
        return out

    def _vote(
        self,
        matches: list[_Match],
        skip: int,
        request: _Request,
        max_lines: int,
        head: str,
        head_share: float,
        following: list[int],
        repeats: set[int] | None = None,
    ) -> list[tuple[str, dict]]:
        """The lines the matches continue with, pooled, best first, with the evidence for each.

        ``repeats`` holds the matches that share the whole context of the cursor (``_shares_context``):
        when at least ``_REPEAT_COPIES`` of them vote and all for one line, that line is a repeat.
        """
        if not matches:
            return []
        if len(matches) > _MAX_VOTERS:
            matches = heapq.nlargest(_MAX_VOTERS, matches, key=lambda m: m[2] + m[3])
        votes: dict[
            str, list[float]
        ] = {}  # line -> [votes, voters, longest, local voters, after, same place]
        # The live lines after the cursor's line: an occurrence followed by the same lines sits in the
        # same kind of place (fill-in-the-middle evidence the context before the cursor cannot give).
        nl = next((i for i, t in enumerate(following[:_AFTER_SCAN]) if "\n" in request.text(t)), None)
        live_after = following[nl : nl + _AFTER_MATCH] if nl is not None else []
        unfinished_repeats = 0
        for match in matches:
            seq, pos, length, bonus = match
            same_place = bool(repeats) and id(match) in repeats  # type: ignore[operator]
            found = _continuation(seq, pos, max_lines, request, skip)
            if found is None:
                unfinished_repeats += same_place
                continue
            line, end = found
            entry = votes.get(line)
            if entry is None:
                entry = votes[line] = [0.0, 0, 0, 0, 0, 0]
            entry[5] += same_place
            entry[0] += _BASE ** min(length + bonus, _MAX_MATCH)
            entry[1] += 1
            entry[2] = max(entry[2], length)
            entry[3] += bonus > 0
            if live_after:
                agreed = 0
                for a, b in zip(live_after, seq[end : end + _AFTER_MATCH]):  # noqa: B905 - may be short
                    if a != b:
                        break
                    agreed += 1
                entry[4] = max(entry[4], agreed)
        if not votes:
            return []
        total = sum(v[0] for v in votes.values()) + _PRIOR
        ranked = sorted(votes.items(), key=lambda item: -item[1][0])[:_MAX_CANDIDATES]
        repeated = [line for line, v in votes.items() if v[5]]
        repeat = (
            repeated[0]
            if len(repeated) == 1 and votes[repeated[0]][5] >= _REPEAT_COPIES and not unfinished_repeats
            else None
        )
        out = []
        for rank, (line, (vote, voters, longest, local, after, copies)) in enumerate(ranked):
            rival = ranked[1][1][0] if rank == 0 and len(ranked) > 1 else ranked[0][1][0]
            features = {
                "source": "word+copy" if head else "copy",
                "share": vote / total * head_share,
                "rival": (rival / total) if len(ranked) > 1 else 0.0,
                "rank": rank,
                "longest": longest,
                "voters": voters,
                "local": local,
                "after": after,
                "tokens": len(lex(line)),
            }
            if line == repeat:
                features["repeat"] = copies
            out.append((head + line, features))
        return out

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
            long_found |= self._collect(self._long.tail(key, _MAX_LONG_HITS), ctx, same_slot, matches)
        if not long_found:
            key = hash((ctx[-2], ctx[-1]))
            self._collect(self._short.tail(key, _MAX_SHORT_HITS), ctx, same_slot, matches)
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


def _context_needed(ctx: list[int], request: _Request) -> int:
    """How many tokens before the cursor a copy must share to stand in the same place.

    The cursor's line so far with its indentation, and ``_REPEAT_MIN_TOKENS`` tokens before it that are
    not line breaks (the end of the line before, or more lines when that one is a lone ``}``). The whole
    context when the document starts sooner.
    """
    earlier = 0
    passed_line_start = False
    for i in range(len(ctx) - 1, max(-1, len(ctx) - 1 - _REPEAT_CONTEXT_LIMIT), -1):
        if "\n" in request.text(ctx[i]):
            passed_line_start = True
        elif passed_line_start:
            earlier += 1
            if earlier >= _REPEAT_MIN_TOKENS:
                return len(ctx) - i
    return min(len(ctx), _REPEAT_CONTEXT_LIMIT)


def _shares_context(match: _Match, ctx: list[int], need: int) -> bool:
    """Whether the occurrence ``match`` is preceded by the last ``need`` tokens of ``ctx``."""
    seq, pos, length, _ = match
    if length >= need:
        return True
    return length >= _MAX_MATCH and _match_len(seq, pos, ctx, need) >= need


def _continuation(
    seq: Sequence[int], pos: int, max_lines: int, request: _Request, skip: int
) -> tuple[str, int] | None:
    """The text from ``seq[pos]`` to the end of its line (``max_lines`` lines) and its line break's index.

    The first ``skip`` characters (the typed part of the first token) are left out.
    """
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
                return "".join(out), i
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


def _name_completions(
    pending: str, ctx: list[int], following: list[int], request: _Request, reachable: frozenset[str]
) -> list[tuple[int, float]]:
    """Longer names in scope that start with the unfinished word, with their shares, best first.

    Each occurrence in the document's windows counts once, and once more when it is among the last
    ``_NEAR`` tokens before the cursor (proximity: the name in use nearby is the likelier one); a
    name only the index makes reachable (defined in the file or what it imports) counts half.
    """
    word = pending.lstrip(" \t")
    if not word or not (word[0].isalpha() or word[0] == "_") or not _is_word_end(word):
        return []
    spaces = pending[: len(pending) - len(word)]
    # Count per distinct token first (C speed), then look at the text of each distinct token once.
    occurrences = Counter(ctx)
    occurrences.update(ctx[-_NEAR:])
    occurrences.update(following)
    counts: dict[str, float] = {}
    for token_id, count in occurrences.items():
        text = request.text(token_id).lstrip(" \t")
        if len(text) > len(word) and text.startswith(word) and _is_word_end(text):
            counts[text] = counts.get(text, 0.0) + count
    if len(word) >= 2:
        for name in reachable:
            if len(name) > len(word) and name.startswith(word):
                counts[name] = counts.get(name, 0.0) + 0.5
    if not counts:
        return []
    total = sum(counts.values()) + 1.0
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))  # ties: reproducibly
    return [(request.intern(spaces + name), count / total) for name, count in ranked]
