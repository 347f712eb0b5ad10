"""Secret redaction: credentials never leave the machine, the code around them does.

detect-secrets' default plugins scan each line; only the secret value is replaced by ``PLACEHOLDER``.
Multi-line PEM private key blocks are removed whole. Verdicts are cached per distinct line content in
a bounded LRU. Also log hygiene (``scrub_for_log``). Pure and synchronous; detect-secrets loads at
first use (about 20 ms, against a stand-in for ``requests``: ``no_network``), never at import. Must
not import pygls or openai.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from lsp_server.privacy import no_network

log = logging.getLogger(__name__)

#: What a secret is replaced by. One placeholder for every kind, so the prompt does not tell the
#: model (or a log reader) which provider a removed key belonged to.
PLACEHOLDER = "<redacted-secret>"

#: Distinct line contents whose verdicts are remembered (least recently used dropped first). A
#: prompt window is ~200 lines; a few thousand entries hold every open file's window with room to
#: spare. Only lines up to CACHED_LINE_CHARS long are cached, so the cache holds at most about
#: 8192 x (512 + ~150 bytes of key and entry overhead), under 6 MiB; longer lines are rare and
#: scanned each time.
LINE_CACHE_SIZE = 8192
CACHED_LINE_CHARS = 512

# Hand-written because detect-secrets is line based: its PrivateKeyDetector flags only the
# `BEGIN ... PRIVATE KEY` line, not the key body on the lines after it.
_PEM_BEGIN = re.compile(r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|PuTTY-User-Key-File-\d")
_PEM_END = re.compile(r"-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")
# Without an END marker (the window cut the block) the body runs while text looks like key data:
# base64, whitespace, escaped newlines and the `Proc-Type: 4,ENCRYPTED` style headers.
_PEM_BODY = re.compile(r"(?:[A-Za-z0-9+/=\s:,\-]|\\[nr])*")
_PEM_SEARCH_LIMIT = 20_000

# Characters that can continue a token around a reported secret value. Some detect-secrets regexes
# report only a capture group (GitHub reports `ghp` for `ghp_<36 chars>`), so an occurrence that is
# glued to more token characters is widened to the whole token.
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-+/=")

# Plugins that guess (entropy, keyword) rather than match a provider's exact format; detect-secrets'
# heuristic filters apply to them only, a provider-format match is always redacted.
_ENTROPY_PLUGINS = frozenset({"Base64HighEntropyString", "HexHighEntropyString"})
_FUZZY_PLUGINS = _ENTROPY_PLUGINS | {"KeywordDetector"}

#: Shortest unquoted word the entropy plugins may report (see `_looks_like_bare_key`).
_BARE_KEY_MIN_CHARS = 20
# `=` only as trailing base64 padding, so that `TOKEN=<key>` splits into name and value.
_BARE_TOKEN = re.compile(rf"[A-Za-z0-9+/_\-]{{{_BARE_KEY_MIN_CHARS},}}={{0,2}}")

# A line shorter than this (ignoring whitespace) cannot hold a secret any plugin would report: the
# shortest reportable shapes (`pwd="ab1"`, a 20-character AWS key id) are longer. bench/secret_redaction.py
# measures that this pre-filter loses no recall.
_MIN_SCANNED_CHARS = 8


@dataclass(frozen=True)
class Redaction:
    """Text with secrets replaced by `PLACEHOLDER`, and how many were replaced."""

    text: str
    count: int


@dataclass(frozen=True)
class _Scanner:
    plugins: tuple[Any, ...]
    entropy_plugins: tuple[Any, ...]


@functools.lru_cache(maxsize=1)
def _scanner() -> _Scanner:
    """Import detect-secrets and build its default plugins (once, at first use).

    Imported against a stand-in for ``requests`` (``no_network``), which detect-secrets uses only to
    verify secrets online. Should a later detect-secrets need more of ``requests`` at import time
    than the stand-in has, it is imported again with the real package rather than not at all.
    """
    try:
        with no_network.standing_in():
            return _build_scanner()
    except (ImportError, AttributeError) as exc:
        log.warning("detect-secrets needs the real requests package to import (%s); loading it", exc)
        for name in [name for name in sys.modules if name.split(".")[0] == "detect_secrets"]:
            del sys.modules[name]
        return _build_scanner()


def _build_scanner() -> _Scanner:
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    from detect_secrets.filters import heuristic
    from detect_secrets.settings import get_settings

    assert heuristic  # imported here, with the plugins, for _is_false_positive

    # Plugins consult this global filter to decide whether to verify a secret over the network;
    # make sure it is off (it is by default) so scanning never sends a secret anywhere.
    get_settings().disable_filters("detect_secrets.filters.common.is_ignored_due_to_verification_policies")
    kinds: list[Any] = list(get_mapping_from_secret_type_to_class().values())
    plugins = tuple(kind() for kind in kinds)
    entropy = tuple(p for p in plugins if type(p).__name__ in _ENTROPY_PLUGINS)
    for plugin in entropy:
        plugin.charset_set = frozenset(plugin.charset)
    return _Scanner(plugins, entropy)


def load_scanner() -> None:
    """Import detect-secrets and build its plugins now (about 150 modules).

    Called in a worker thread after start-up, so the first request that meets a line shaped like a
    secret does not pay the import on the event loop.
    """
    _scanner()


def _is_false_positive(plugin: Any, value: str, line: str) -> bool:
    """detect-secrets' default heuristic filters, applied to the guessing plugins only.

    Left out on purpose: the `pragma: allowlist secret` comment (a line allowed into a git commit
    is not thereby allowed to leave for a model provider), and file-name filters (no file here).
    """
    from detect_secrets.filters import heuristic

    name = type(plugin).__name__
    if name not in _FUZZY_PLUGINS:
        return False
    if (
        heuristic.is_sequential_string(value)
        or heuristic.is_potential_uuid(value)
        or heuristic.is_templated_secret(value)
        or heuristic.is_prefixed_with_dollar_sign(value)
        or heuristic.is_not_alphanumeric_string(value)
        or heuristic.is_likely_id_string(value, line, plugin)
    ):
        return True
    # `secret = get_secret()` / `token = request.headers["x"]`: meant for the keyword plugin; for
    # the entropy plugins it would hide `Client(api_key="<key>")`.
    return name == "KeywordDetector" and heuristic.is_indirect_reference(line)


def _looks_like_bare_key(value: str) -> bool:
    # Hand-written because detect-secrets' entropy plugins require quotes, and shell, Dockerfile,
    # YAML and `Bearer <key>` strings carry keys unquoted. Unquoted words in code are identifiers,
    # so demand what random keys have and identifiers rarely do: length and mixed digits/letters.
    return (
        len(value) >= _BARE_KEY_MIN_CHARS
        and any(c.isdigit() for c in value)
        and any(c.isupper() for c in value)
        and any(c.islower() for c in value)
    )


def _value_spans(line: str, value: str, dotted: bool = False) -> list[tuple[int, int]]:
    """Where `value` sits in `line`: whole-token occurrences, else occurrences widened to the token.

    `dotted` widens to the right over dots too: the JWT plugin may report a token without its
    signature segment.
    """
    starts = []
    i = line.find(value)
    while i != -1:
        starts.append(i)
        i = line.find(value, i + 1)
    if not starts:
        return []
    right_chars = _TOKEN_CHARS | {"."} if dotted else _TOKEN_CHARS

    def bounded(s: int) -> bool:
        e = s + len(value)
        return (s == 0 or line[s - 1] not in _TOKEN_CHARS) and (e == len(line) or line[e] not in right_chars)

    exact = [(s, s + len(value)) for s in starts if bounded(s)]
    if exact:
        return exact
    spans = []
    for s in starts:
        e = s + len(value)
        # Widen left over word characters only (not `=`/`+`), so `key=ghp_...` keeps `key=`.
        while s > 0 and line[s - 1] in _TOKEN_CHARS and line[s - 1] not in "=+":
            s -= 1
        while e < len(line) and line[e] in right_chars:
            e += 1
        spans.append((s, e))
    return spans


def _merge(spans: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((s, e))
    return tuple(merged)


def _scan_name(filename: str) -> str:
    # detect-secrets' keyword plugin picks its regexes by file extension (quotes required in code,
    # not in YAML/INI/TOML); the base name is all it needs.
    return os.path.basename(filename) or "prompt.txt"


# A cheap necessary condition for any detector to fire, checked before the ~0.1 ms plugin scan.
# Token-shaped detectors (AWS, GitHub, Slack, Stripe, JWT, entropy, ...) need a run of at least
# 16 key characters; the keyword detector needs one of its keyword stems (password, pwd, secret,
# api_key, ...); basic-auth URLs need "://". Lines with none of these (most code) are skipped.
# bench/secret_redaction.py measures that recall is unchanged with and without it.
_SECRET_SHAPE = re.compile(
    r"[A-Za-z0-9+/=_\-.:~]{16,}|://|pass|pwd|secret|key|token|auth|cred|contrase",
    re.IGNORECASE,
)


def _may_hold_secret(line: str) -> bool:
    return _SECRET_SHAPE.search(line) is not None


def _line_spans(line: str, scan_name: str) -> tuple[tuple[int, int], ...]:
    """Spans of secret values in one line (no newline), cached per distinct content when short."""
    if len(line) > CACHED_LINE_CHARS:
        return _scan_line(line, scan_name)
    return _cached_line_spans(line, scan_name)


@functools.lru_cache(maxsize=LINE_CACHE_SIZE)
def _cached_line_spans(line: str, scan_name: str) -> tuple[tuple[int, int], ...]:
    return _scan_line(line, scan_name)


def clear_cache() -> None:
    """Forget cached line verdicts (every document closed; benchmarks measuring cold cost)."""
    _cached_line_spans.cache_clear()


def _scan_line(line: str, scan_name: str) -> tuple[tuple[int, int], ...]:
    if len(line.strip()) < _MIN_SCANNED_CHARS or not _may_hold_secret(line):
        return ()
    scanner = _scanner()
    spans: list[tuple[int, int]] = []
    for plugin in scanner.plugins:
        dotted = type(plugin).__name__ == "JwtTokenDetector"
        for secret in plugin.analyze_line(filename=scan_name, line=line, line_number=0, context=None):
            value = secret.secret_value
            if value and not _is_false_positive(plugin, value, line):
                spans.extend(_value_spans(line, value, dotted))
    # The plugins' own entropy test on unquoted words that look like keys (see _looks_like_bare_key).
    for match in _BARE_TOKEN.finditer(line):
        value = match.group(0)
        if not _looks_like_bare_key(value):
            continue
        for plugin in scanner.entropy_plugins:
            if (
                set(value) <= plugin.charset_set
                and plugin.calculate_shannon_entropy(value) > plugin.entropy_limit
                and not _is_false_positive(plugin, value, line)
            ):
                spans.append(match.span())
                break
    return _merge(spans)


def _pem_spans(text: str) -> list[tuple[int, int]]:
    spans = []
    pos = 0
    while (begin := _PEM_BEGIN.search(text, pos)) is not None:
        end = _PEM_END.search(text, begin.end(), begin.end() + _PEM_SEARCH_LIMIT)
        body = _PEM_BODY.match(text, begin.end())  # matches the empty string at worst
        stop = end.end() if end else body.end() if body else begin.end()
        # Keep trailing whitespace (the newline after a truncated block) outside the redaction.
        while stop > begin.end() and text[stop - 1].isspace() and not end:
            stop -= 1
        spans.append((begin.start(), stop))
        pos = stop
    return spans


def secret_spans(text: str, filename: str = "") -> tuple[tuple[int, int], ...]:
    """Character spans of secrets in `text`, sorted and merged (PEM blocks and per-line findings)."""
    scan_name = _scan_name(filename)
    spans: list[tuple[int, int]] = _pem_spans(text) if "PRIVATE KEY" in text or "PuTTY" in text else []
    offset = 0
    for line in text.split("\n"):
        for s, e in _line_spans(line, scan_name):
            spans.append((offset + s, offset + e))
        offset += len(line) + 1
    return _merge(spans)


def _apply(text: str, spans: Sequence[tuple[int, int]]) -> str:
    out = []
    last = 0
    for s, e in spans:
        out.append(text[last:s])
        out.append(PLACEHOLDER)
        last = e
    out.append(text[last:])
    return "".join(out)


def redact(text: str, filename: str = "") -> Redaction:
    """Replace each secret value in `text` by `PLACEHOLDER`, keeping the code around it.

    `filename` (optional) tells detect-secrets' keyword plugin the file type, so that unquoted
    `password: hunter2` is caught in YAML/INI/TOML/.properties but not demanded in code.
    """
    spans = secret_spans(text, filename)
    return Redaction(_apply(text, spans), len(spans))


def redact_fim(
    prefix: str, suffix: str, filename: str = "", margins: tuple[str, str] = ("", "")
) -> tuple[str, str, int]:
    """Redact a fill-in-the-middle pair as one text, then split it again at the cursor.

    The cursor line is scanned whole, so a secret split by the cursor is still found. A secret
    the cursor is inside is removed from both sides with no placeholder, so the model is not
    invited to continue it. ``margins`` is the document text just before ``prefix`` and just after
    ``suffix`` when the window was clipped inside a line: it is scanned with the pair (and never
    returned), so a secret cut by the clip is still found and its part inside the window replaced.
    Returns (prefix, suffix, count).
    """
    head, tail = margins
    cursor = len(prefix)
    whole = prefix + suffix
    if head or tail:
        # One scan of the window with its margins; a secret running over an edge is cut to the window
        # (its part inside is replaced like any secret, so no half of it is sent).
        start, end = len(head), len(head) + len(whole)
        found = secret_spans(head + whole + tail, filename)
        spans = tuple((max(s, start) - start, min(e, end) - start) for s, e in found if e > start and s < end)
    else:
        spans = secret_spans(whole, filename)
    before = [(s, e) for s, e in spans if e <= cursor]
    after = [(s - cursor, e - cursor) for s, e in spans if s >= cursor]
    straddling = [(s, e) for s, e in spans if s < cursor < e]
    cut_left = straddling[0][0] if straddling else cursor
    cut_right = straddling[0][1] if straddling else cursor
    new_prefix = _apply(whole[:cut_left], before)
    tail = whole[cut_right:]
    shift = cut_right - cursor
    new_suffix = _apply(tail, [(s - shift, e - shift) for s, e in after])
    return new_prefix, new_suffix, len(spans)


def scrub_for_log(text: str, debug: bool) -> str:
    """A log-safe form of prompt/model text: a summary, or the redacted text when debugging."""
    if debug:
        return redact(text).text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"<{len(text)} chars, {text.count(chr(10)) + 1} lines, sha256:{digest}>"
