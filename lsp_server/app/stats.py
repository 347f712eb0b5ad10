"""The user's own acceptance figures: how many suggestions were shown, accepted, partly accepted, dismissed.

Owns the counts and their file, ``$XDG_STATE_HOME/llm-lsp/stats.json``. Counts only — never code,
paths or document names — and sent nowhere. Rows are keyed by (kind, language, model); each row has
four counters and a histogram of the times to show (request arrival to the editor's "shown" event).

Bounded whatever happens: at most ``MAX_ROWS`` rows (the smallest fold into an ``other`` row), each
with at most ``BUCKETS`` histogram buckets, so the file stays under about 150 KB. A histogram instead
of a list of times: two processes' histograms add up exactly, a reservoir of samples would not, and
its median is within ``BUCKET_ERROR`` of the true one.

Several servers (one per editor window) share the file. Each keeps the counts it has not written yet
and adds them to what is on disk under an exclusive lock (merge on write), so none loses another's
counts. A write goes to a temporary file renamed over the old one: a crash leaves the old or the new
file, never half of one. A file that cannot be read is set aside (``stats.json.corrupt``) and a new
one started. ``flush`` does the file work and is run off the event loop (``schedule``: at most every
``FLUSH_EVERY_S`` seconds; ``aflush`` at shutdown; an ``atexit`` hook for an exit without shutdown).

Must not know LSP, providers or documents: it sees keys and numbers only.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import logging
import math
import os
import posixpath
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from lsp_server.core.layout import state_dir

log = logging.getLogger(__name__)

FILE_NAME = "stats.json"
FORMAT_VERSION = 1
COUNTS = ("shown", "accepted", "partiallyAccepted", "dismissed")
MAX_ROWS = 64
MAX_KEY_CHARS = 64
OTHER = "other"
FLUSH_EVERY_S = 5.0
# Histogram of times to show: bucket b holds [2^(b/8), 2^((b+1)/8)) ms, from 1 ms to about 17 minutes.
BUCKETS_PER_DOUBLING = 8
BUCKETS = 160
BUCKET_ERROR = 2 ** (0.5 / BUCKETS_PER_DOUBLING) - 1  # a median read at a bucket's middle: within ~4.4 %

Key = tuple[str, str, str]  # (kind, language, model)

try:  # POSIX: an advisory lock serialises the read-merge-write of several servers
    import fcntl
except ImportError:  # pragma: no cover - Windows: no lock; concurrent writes may lose a few seconds of counts
    fcntl = None  # type: ignore[assignment]


def stats_file(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_STATE_HOME/llm-lsp/stats.json`` (``~/.local/state`` by default)."""
    return state_dir(environ) / FILE_NAME


def bucket(milliseconds: float) -> int:
    """The histogram bucket of a time to show."""
    if milliseconds <= 1:
        return 0
    return min(BUCKETS - 1, int(math.log2(milliseconds) * BUCKETS_PER_DOUBLING))


def bucket_middle(index: int) -> float:
    """The (geometric) middle of a bucket, in milliseconds."""
    return float(2 ** ((index + 0.5) / BUCKETS_PER_DOUBLING))


_SAFE_KEY = re.compile(r"[^\w.+#:@/-]")


def clean_key(value: str, *, model: bool = False) -> str:
    """A row key as it may be stored: short, printable, never a file system path.

    A model can be named by its file (llama.cpp's ``-m /home/me/models/x.gguf``): only the file's name
    is kept. Hugging Face ids (``Qwen/Qwen2.5-Coder-7B``) stay as they are.
    """
    value = value.strip()
    if model and (value.startswith(("/", "~", ".")) or "\\" in value or re.match(r"[A-Za-z]:", value)):
        value = posixpath.basename(value.replace("\\", "/"))
    value = _SAFE_KEY.sub("_", value)[:MAX_KEY_CHARS]
    return value or "unknown"


@attrs.define
class Row:
    """The counts of one (kind, language, model): four counters and a histogram of times to show."""

    shown: int = 0
    accepted: int = 0
    partially_accepted: int = 0
    dismissed: int = 0
    times: dict[int, int] = attrs.field(factory=dict)

    def add(self, other: Row) -> None:
        """Add ``other``'s counts to this row."""
        self.shown += other.shown
        self.accepted += other.accepted
        self.partially_accepted += other.partially_accepted
        self.dismissed += other.dismissed
        for index, count in other.times.items():
            self.times[index] = self.times.get(index, 0) + count

    def counts(self) -> dict[str, int]:
        """The four counters under their JSON names."""
        values = (self.shown, self.accepted, self.partially_accepted, self.dismissed)
        return dict(zip(COUNTS, values, strict=True))

    def median_ms(self) -> float | None:
        """The median time to show (the middle of its bucket), or None before any was measured."""
        total = sum(self.times.values())
        if not total:
            return None
        seen = 0
        for index in sorted(self.times):
            seen += self.times[index]
            if 2 * seen >= total:
                return round(bucket_middle(index), 1)
        return None  # pragma: no cover - the loop always reaches half of the total

    def figures(self) -> dict[str, Any]:
        """The row as ``llm-lsp stats --json`` prints it."""
        shown = self.shown
        return {
            **self.counts(),
            "acceptanceRate": round(self.accepted / shown, 3) if shown else None,
            "medianTimeToShowMs": self.median_ms(),
        }

    def to_json(self, key: Key) -> dict[str, Any]:
        """The row as stored in the file."""
        kind, language, model = key
        return {
            "kind": kind,
            "language": language,
            "model": model,
            **self.counts(),
            "timeToShowMs": {str(index): count for index, count in sorted(self.times.items())},
        }


class CorruptFile(ValueError):
    """The stats file is not what this module writes."""


def _count(value: Any) -> int:
    if type(value) is not int or value < 0:
        raise CorruptFile(f"a count must be a non-negative integer, got {value!r}")
    return value


def parse(data: Any) -> dict[Key, Row]:
    """The rows of a stats file's JSON; ``CorruptFile`` for anything this module would not write.

    Checked by hand: the shape is four integers and a small map, and the point is to reject what does
    not fit (negative or non-integer counts, unknown buckets) rather than coerce it.
    """
    if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
        raise CorruptFile("not a version-1 stats file")
    if not isinstance(data.get("rows"), list):
        raise CorruptFile("not a version-1 stats file")
    rows: dict[Key, Row] = {}
    for item in data["rows"]:
        if not isinstance(item, dict):
            raise CorruptFile("a row is not an object")
        key = tuple(item.get(name) for name in ("kind", "language", "model"))
        if not all(isinstance(part, str) and part for part in key):
            raise CorruptFile("a row has no kind, language or model")
        times = item.get("timeToShowMs", {})
        if not isinstance(times, dict):
            raise CorruptFile("timeToShowMs is not an object")
        shown, accepted, partly, dismissed = (_count(item.get(name, 0)) for name in COUNTS)
        row = Row(shown, accepted, partly, dismissed)
        for index, count in times.items():
            if not (isinstance(index, str) and index.isdigit() and int(index) < BUCKETS):
                raise CorruptFile(f"unknown histogram bucket {index!r}")
            row.times[int(index)] = _count(count)
        rows.setdefault(key, Row()).add(row)  # type: ignore[arg-type]
    return rows


def merged(*tables: Mapping[Key, Row]) -> dict[Key, Row]:
    """The sum of several tables of rows, bounded to ``MAX_ROWS`` (the smallest fold into ``other``)."""
    out: dict[Key, Row] = {}
    for table in tables:
        for key, row in table.items():
            out.setdefault(key, Row()).add(row)
    if len(out) > MAX_ROWS:
        ranked = sorted(out, key=lambda k: (out[k].shown, k), reverse=True)
        for key in ranked[MAX_ROWS - 1 :]:
            row = out.pop(key)
            out.setdefault((key[0], OTHER, OTHER), Row()).add(row)
        # ``other`` rows of several kinds may still exceed the bound by the number of kinds: fine.
    return out


def read_rows(path: Path) -> dict[Key, Row]:
    """The rows in ``path`` ({} when it does not exist); a corrupt file is set aside and {} returned."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    try:
        return parse(json.loads(raw))
    except (ValueError, RecursionError) as exc:  # CorruptFile and json errors are ValueErrors
        aside = path.with_name(path.name + ".corrupt")
        log.warning("stats file %s unreadable (%s): set aside as %s, starting anew", path, exc, aside)
        with contextlib.suppress(OSError):
            os.replace(path, aside)
        return {}


def write_rows(path: Path, rows: Mapping[Key, Row]) -> None:
    """Write ``rows`` to ``path`` atomically: a temporary file in the same folder, then a rename."""
    data = {"version": FORMAT_VERSION, "rows": [row.to_json(key) for key, row in sorted(rows.items())]}
    temporary = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        temporary.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(OSError):
            temporary.unlink()


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold the exclusive lock of the stats file (a sibling ``.lock`` file, which renames never replace)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as handle:
        if fcntl is not None:
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield  # closing the handle releases the lock


def figures(rows: Mapping[Key, Row]) -> dict[str, Any]:
    """``{"total", "byLanguage", "byModel"}`` as ``llm-lsp stats --json`` and ``llm-lsp.showStats`` give them.

    ``total`` also splits by kind (``kinds``: completion, nextEdit) when rows of a kind exist.
    """
    total = Row()
    kinds: dict[str, Row] = {}
    languages: dict[str, Row] = {}
    models: dict[str, Row] = {}
    for (kind, language, model), row in rows.items():
        total.add(row)
        kinds.setdefault(kind, Row()).add(row)
        languages.setdefault(language, Row()).add(row)
        models.setdefault(model, Row()).add(row)
    out = total.figures()
    out["kinds"] = {name: row.figures() for name, row in sorted(kinds.items())}
    return {
        "total": out,
        "byLanguage": {name: row.figures() for name, row in sorted(languages.items())},
        "byModel": {name: row.figures() for name, row in sorted(models.items())},
    }


def summary(rows: Mapping[Key, Row]) -> str:
    """One short line for a status tooltip ("" before anything was shown)."""
    total = Row()
    for row in rows.values():
        total.add(row)
    if not total.shown:
        return ""
    text = f"accepted {total.accepted} of {total.shown} suggestions ({total.accepted / total.shown:.0%})"
    if total.partially_accepted:
        text += f", {total.partially_accepted} in part"
    median = total.median_ms()
    if median is not None:
        text += f"; median {median:.0f} ms to show"
    return text


def render(data: Mapping[str, Any], where: str = "") -> str:
    """The figures of ``figures()`` as a readable table (``llm-lsp stats``)."""
    headers = ("", "shown", "accepted", "in part", "dismissed", "rate", "median to show")

    def line(name: str, row: Mapping[str, Any]) -> tuple[str, ...]:
        rate = row.get("acceptanceRate")
        median = row.get("medianTimeToShowMs")
        return (
            name,
            str(row["shown"]),
            str(row["accepted"]),
            str(row["partiallyAccepted"]),
            str(row["dismissed"]),
            "-" if rate is None else f"{rate:.0%}",
            "-" if median is None else f"{median:.0f} ms",
        )

    total = data["total"]
    sections: list[tuple[str, list[tuple[str, ...]]]] = [("", [line("total", total)])]
    kinds = total.get("kinds", {})
    if len(kinds) > 1:
        sections.append(("by kind", [line(name, row) for name, row in kinds.items()]))
    sections.append(("by language", [line(name, row) for name, row in data["byLanguage"].items()]))
    sections.append(("by model", [line(name, row) for name, row in data["byModel"].items()]))
    every = [headers] + [row for _, rows in sections for row in rows]
    widths = [max(len(row[i]) for row in every) for i in range(len(headers))]

    def fmt(row: tuple[str, ...]) -> str:
        first = row[0].ljust(widths[0])
        rest = "  ".join(cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True))
        return f"  {first}  {rest}".rstrip()

    out = [fmt(headers)]
    for title, rows in sections:
        if title:
            out.append(f"{title}:")
        out.extend(fmt(row) for row in rows)
    if not total["shown"]:
        out.append("No suggestion shown yet.")
    out.append("Counts only, kept on this machine and sent nowhere" + (f": {where}" if where else "."))
    return "\n".join(out)


class UsageStats:
    """The counts of this process not yet written, and the file's as last read: together, the figures."""

    def __init__(self, path: Path | None, *, on_flushed: Callable[[], None] | None = None) -> None:
        """``path`` None keeps the figures in memory only."""
        self.path = path
        self.on_flushed = on_flushed
        self._lock = threading.Lock()  # the event loop records while a worker thread flushes
        self._pending: dict[Key, Row] = {}
        self._known: dict[Key, Row] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._flush_lock = asyncio.Lock()  # one flush at a time from the loop (the file lock covers others)
        self._exit_hook = False

    # recording (event loop) ---------------------------------------------------------------------

    def count(self, key: Key, name: str) -> None:
        """Add one to counter ``name`` ("shown", "accepted", "partiallyAccepted", "dismissed") of ``key``."""
        field = {"partiallyAccepted": "partially_accepted"}.get(name, name)
        with self._lock:
            row = self._pending.setdefault(key, Row())
            setattr(row, field, getattr(row, field) + 1)
        self.schedule()

    def time_to_show(self, key: Key, seconds: float) -> None:
        """Record one time from a request's arrival to its suggestion being shown."""
        index = bucket(max(0.0, seconds) * 1000)
        with self._lock:
            times = self._pending.setdefault(key, Row()).times
            times[index] = times.get(index, 0) + 1
        self.schedule()

    def rows(self) -> dict[Key, Row]:
        """Every count known here: the file's as last read plus this process's not yet written."""
        with self._lock:
            return merged(self._known, self._pending)

    def figures(self) -> dict[str, Any]:
        """``figures()`` of ``rows()``."""
        return figures(self.rows())

    def summary(self) -> str:
        """``summary()`` of ``rows()``."""
        return summary(self.rows())

    @property
    def dirty(self) -> bool:
        """True while counts wait to be written."""
        with self._lock:
            return bool(self._pending)

    # writing (worker thread) --------------------------------------------------------------------

    def flush(self) -> None:
        """Merge the pending counts into the file (and read what other processes wrote). Blocking I/O.

        Never raises: a file system error keeps the counts pending for the next try.
        """
        if self.path is None:
            return
        with self._lock:
            batch, self._pending = self._pending, {}
        if not batch and not self.path.exists():
            return  # nothing to write and nothing to read: create nothing
        try:
            with locked(self.path):
                disk = read_rows(self.path)
                rows = merged(disk, batch)
                if batch:
                    write_rows(self.path, rows)
        except OSError as exc:
            log.warning("the stats file %s could not be written: %s", self.path, exc)
            with self._lock:
                self._pending = merged(batch, self._pending)
            return
        with self._lock:
            self._known = rows

    # scheduling (event loop) --------------------------------------------------------------------

    def schedule(self) -> None:
        """Write within ``FLUSH_EVERY_S`` seconds, in a worker thread (one timer at a time)."""
        if self.path is None or self._timer is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # recorded outside a loop (a script): written at exit
            loop = None
        if not self._exit_hook:
            atexit.register(self.flush)  # an exit without shutdown, or a crash of the loop
            self._exit_hook = True
        if loop is not None:
            self._timer = loop.call_later(FLUSH_EVERY_S, self._start_flush)

    def _start_flush(self) -> None:
        self._timer = None
        asyncio.ensure_future(self.aflush())

    async def aflush(self) -> None:
        """``flush`` in a worker thread (one at a time), then ``on_flushed``."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        async with self._flush_lock:
            await asyncio.to_thread(self.flush)
        if self.on_flushed is not None:
            self.on_flushed()
