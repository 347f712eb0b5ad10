"""Typing replay: type real files key by key against the real server and a fake 200 ms model.

An editor is simulated over stdio against ``llm-lsp`` (tests/e2e/harness.py): a segment of each file is
removed, then typed back one keystroke at a time with human-like pauses (seeded: mostly 60-180 ms
between keys, sometimes 400-1500 ms at line ends and after punctuation). After every keystroke the
"editor" sends ``didChange`` and an automatic inline completion request, like VS Code does; the server
debounces and cancels the previous request (-32800, counted, not a failure). Enter is one keystroke
that also inserts the next line's indentation (editor auto-indent).

The fake model (tests/fake_openai.py) answers after ``--latency`` seconds with the true next lines of
the file from the cursor, so the suggestions are realistic and post-processing trims them.

A simulated user accepts some suggestions (``--accept``, seeded): at a pause where a suggestion is
visible and is what the file goes on with, they take it (as much of it as ends on a keystroke
boundary: the editor inserts it, one ``didChange``) instead of typing it. The replay runs twice on the
same files, seed and policy: first with an editor that reports nothing (the server's debounce sees no
acceptance: the debounce as it was before it weighed acceptance), then with one that reports what it
shows and what is accepted, as Copilot's clients do (``textDocument/didShowCompletion`` for every
answer that arrives while the text is unchanged, the item's command on an accept, a
``didPartiallyAcceptCompletion`` when only part of it ends on a keystroke boundary). Dismissals the
server infers from the next request.

Figures, for each of the two runs:

- model calls per typed keystroke (fake requests / keystrokes typed; target <= 0.15);
- share of pauses >= 300 ms with a suggestion visible: the latest request before the pause answered
  non-empty before the pause ended (target >= 90 %);
- cache hits: non-empty answers for a cursor the model was never asked about;
- p50 / p99 latency of answered requests (send -> answer);
- suggestions accepted, and (with events) the server's own figures (``llm-lsp.showStats``).

Run: ``python bench/typing_replay.py [--chars 1500] [--speed 1.0] [--seed 7] [--latency 0.2]
[--accept 0.5]``.
``--speed 2`` halves every pause (and the 300 ms threshold with it); the model latency is not scaled.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "e2e")]

from fake_openai import FakeOpenAI, Recorded, Reply  # noqa: E402
from harness import inline_params, insert, open_document, running_server, server_env  # noqa: E402
from lsprotocol import types  # noqa: E402
from lsprotocol.converters import get_converter  # noqa: E402
from pygls.exceptions import JsonRpcException  # noqa: E402

SITE = Path(sys.prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
# Real, ASCII, secret-free source files that ship with the venv (language id, path).
CANDIDATES = (
    ("python", "click/_textwrap.py"),
    ("python", "idna/codec.py"),
    ("python", "certifi/core.py"),
    ("python", "attr/_funcs.py"),
    ("javascript", "urllib3/contrib/emscripten/emscripten_fetch_worker.js"),
)
PAUSE = 0.3  # a gap at least this long (before scaling) is a pause where the user reads the ghost text
_PUNCTUATION = set(".,:;()[]{}=")


@dataclass
class Sent:
    """One automatic inline request as the editor saw it."""

    file: int
    typed: int  # keystrokes typed in this file when sent (identifies the cursor state)
    sent: float
    answered: float | None = None
    items: int = 0
    error: int | None = None  # JSON-RPC error code (-32800 cancelled, -32801 content modified)
    key: str = ""  # the keystroke just typed
    item: types.InlineCompletionItem | None = None  # the first non-empty item answered


@dataclass
class User:
    """What the simulated user does with suggestions, and whether their editor reports it."""

    accept: float  # chance of taking a visible suggestion that is what the file goes on with
    reports: bool  # the editor sends didShowCompletion and runs the item's command
    rng: random.Random
    version: int = 0  # the document version now (an answer for an older one is never shown)
    accepted: int = 0
    partly: int = 0


@dataclass
class Segment:
    """The part of a file that is typed back: document = text[:start] + text[end:] at first.

    ``start`` is a line start and ``end`` a line end, so typing starts on an empty line.
    """

    language: str
    path: Path
    text: str
    start: int
    end: int
    keys: list[str] = field(default_factory=list)  # keystrokes (Enter carries the auto-indent)


def keystrokes(typed: str) -> list[str]:
    """Keystrokes typing ``typed``: one per character, Enter together with the next line's indent."""
    keys: list[str] = []
    i = 0
    while i < len(typed):
        if typed[i] == "\n":
            j = i + 1
            while j < len(typed) and typed[j] in " \t":
                j += 1
            keys.append(typed[i:j])
            i = j
        else:
            keys.append(typed[i])
            i += 1
    return keys


def pick_segment(language: str, path: Path, budget: int) -> Segment:
    """About ``budget`` keystrokes of ``path`` starting at a line start a third of the way in."""
    text = path.read_text(encoding="utf-8")
    start = text.find("\n", len(text) // 3) + 1
    end = start
    while end < len(text) and len(keystrokes(text[start:end])) < budget:
        end += 1
    # Finish the line but leave its newline in the document: the user types on a line they opened,
    # with the rest of the file below it, as in a real edit.
    newline = text.find("\n", end)
    end = len(text) if newline < 0 else newline
    return Segment(language, path, text, start, end, keystrokes(text[start:end]))


def pause_after(key: str, rng: random.Random) -> float:
    """A human-like gap after ``key`` (seconds, unscaled)."""
    if (key.startswith("\n") or key in _PUNCTUATION) and rng.random() < 0.35:
        return rng.uniform(0.4, 1.5)
    return min(0.18, max(0.06, rng.gauss(0.11, 0.035)))


def position(text: str, offset: int) -> tuple[int, int]:
    """(line, utf-16 character) of ``offset`` in ``text`` (the files are ASCII)."""
    line = text.count("\n", 0, offset)
    return line, offset - (text.rfind("\n", 0, offset) + 1)


def next_lines(text: str, offset: int, lines: int = 3) -> str:
    """What a good model answers at ``offset``: the rest of the line and the next few lines."""
    return "".join(text[offset:].splitlines(keepends=True)[:lines])


class Responder:
    """Answers each model request with the true continuation of the file being typed."""

    def __init__(self, latency: float) -> None:
        """``latency``: seconds before the first byte of every answer."""
        self.latency = latency
        self.segment: Segment | None = None
        self.file = 0
        self.asked: set[tuple[int, int]] = set()  # (file, keystrokes typed) the model was asked about

    def __call__(self, request: Recorded) -> Reply:
        """The reply to one recorded request."""
        segment = self.segment
        body = request.body_json if isinstance(request.body_json, dict) else {}
        prompt = str(body.get("prompt", ""))
        if segment is None or not prompt:
            return Reply(text="", latency=self.latency)
        tail = prompt[-300:]
        found = segment.text.find(tail, max(0, segment.start - len(tail)))
        if found < 0:
            return Reply(text="", latency=self.latency)
        offset = found + len(tail)
        self.asked.add((self.file, len(keystrokes(segment.text[segment.start : offset]))))
        return Reply(text=next_lines(segment.text, offset), latency=self.latency)


async def request(
    client, uri: str, line: int, character: int, record: Sent, user: User, version: int
) -> None:
    """Send one automatic inline request and record its outcome (shown if the text did not move on)."""
    try:
        result = await client.text_document_inline_completion_async(
            inline_params(uri, line, character, explicit=False)
        )
        items = [item for item in result.items if item.insert_text.strip()] if result else []
        record.items = len(items)
        record.item = items[0] if items else None
    except JsonRpcException as exc:
        record.error = exc.code
    record.answered = time.monotonic()
    if user.reports and record.item is not None and user.version == version:
        item = get_converter().unstructure(record.item)
        client.protocol.notify("textDocument/didShowCompletion", {"item": item})


def keys_covered(keys: list[str], start: int, text: str) -> int:
    """How many keys from ``start`` on spell out the longest start of ``text`` ending on a key boundary."""
    end, taken = start, ""
    while end < len(keys) and text.startswith(taken + keys[end]):
        taken += keys[end]
        end += 1
    return end


async def type_segment(
    client,
    index: int,
    segment: Segment,
    rng: random.Random,
    speed: float,
    sent: list[Sent],
    gaps: list,
    user: User,
) -> None:
    """Open the document without the segment and type it back, one request per keystroke.

    At a pause with a visible suggestion that the file goes on with, the user may take it instead.
    """
    uri = f"file:///tmp/llm_lsp_replay/{index}_{segment.path.name}"
    doc = segment.text[: segment.start] + segment.text[segment.end :]
    open_document(client, uri, doc, segment.language)
    await asyncio.sleep(0.3)  # let the server parse and settle, like a file just opened
    offset, version, tasks, typed = segment.start, 1, [], 0

    def type_in(text: str) -> None:
        """One didChange inserting ``text`` at the cursor (a keystroke, or an accepted suggestion)."""
        nonlocal doc, offset, version
        line, character = position(doc, offset)
        version += 1
        user.version = version
        insert(client, uri, version, line, character, text)
        doc = doc[:offset] + text + doc[offset:]
        offset += len(text)

    while typed < len(segment.keys):
        key = segment.keys[typed]
        type_in(key)
        typed += 1
        record = Sent(index, typed, time.monotonic(), key=key)
        sent.append(record)
        task = asyncio.ensure_future(request(client, uri, *position(doc, offset), record, user, version))
        tasks.append(task)
        gap = pause_after(key, rng) / speed
        gaps.append((record, gap * speed))
        started = time.monotonic()
        if gap >= PAUSE / speed and user.accept > 0:
            await asyncio.wait({task}, timeout=gap)
            shown = record.item if task.done() else None
            if shown is not None and user.rng.random() < user.accept:
                end = keys_covered(segment.keys, typed, shown.insert_text)
                if end > typed:  # it is what the file goes on with, at least up to a key boundary
                    await asyncio.sleep(max(0.0, gap - (time.monotonic() - started)))
                    text = "".join(segment.keys[typed:end])
                    type_in(text)
                    typed = end
                    await report_accept(client, user, shown, text)
                    continue
        await asyncio.sleep(max(0.0, gap - (time.monotonic() - started)))
    await asyncio.gather(*tasks)


async def report_accept(client, user: User, item: types.InlineCompletionItem, text: str) -> None:
    """The editor tells the server: the whole item (its command) or the part taken (UTF-16 length)."""
    whole = text == item.insert_text
    if whole:
        user.accepted += 1
    else:
        user.partly += 1
    if not user.reports:
        return
    if whole:
        await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command=item.command.command, arguments=item.command.arguments)
        )
    else:
        length = len(text.encode("utf-16-le")) // 2
        client.protocol.notify(
            "textDocument/didPartiallyAcceptCompletion",
            {"item": get_converter().unstructure(item), "acceptedLength": length},
        )


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values`` by nearest rank; 0.0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def report(
    sent: list[Sent], gaps: list, calls: int, asked: set, speed: float, show: bool = False
) -> dict[str, float]:
    """Print and return the figures."""
    keys = len(sent)
    answered = [r for r in sent if r.error is None and r.answered is not None]
    cancelled = sum(r.error == -32800 for r in sent)
    stale = sum(r.error is not None and r.error != -32800 for r in sent)
    latencies = [(r.answered - r.sent) * 1000 for r in answered]
    shown = [r for r in answered if r.items]
    hits = sum((r.file, r.typed) not in asked for r in shown)
    # After a segment's last key the rest of the file is already there: showing nothing is right.
    final: dict[int, int] = {}
    for r in sent:
        final[r.file] = max(final.get(r.file, 0), r.typed)
    pauses = [
        (record, gap / speed) for record, gap in gaps if gap >= PAUSE and record.typed != final[record.file]
    ]
    visible = sum(
        record.items > 0 and record.answered is not None and record.answered - record.sent <= gap
        for record, gap in pauses
    )
    figures = {
        "keystrokes": keys,
        "model_calls": calls,
        "calls_per_key": calls / keys if keys else 0.0,
        "pauses": len(pauses),
        "visible_share": visible / len(pauses) if pauses else 0.0,
        "cache_hits": hits,
        "p50_ms": percentile(latencies, 0.5),
        "p99_ms": percentile(latencies, 0.99),
    }
    print(f"keystrokes typed {keys}, model calls {calls}: {figures['calls_per_key']:.3f} calls per keystroke")
    print(
        f"answered {len(answered)} (non-empty {len(shown)}), cancelled -32800 {cancelled}, "
        f"stale/other errors {stale}; cache hits {hits}"
    )
    print(
        f"pauses >= {PAUSE * 1000:.0f} ms (x{speed:g} speed): {len(pauses)}, suggestion visible in "
        f"{visible} = {figures['visible_share']:.1%}"
    )
    print(
        f"latency of answered requests: p50 {figures['p50_ms']:.0f} ms, p99 {figures['p99_ms']:.0f} ms"
        f" (mean {statistics.fmean(latencies) if latencies else 0:.0f} ms)"
    )
    if show:
        for record, gap in pauses:
            if not (record.items and record.answered and record.answered - record.sent <= gap):
                took = f"{(record.answered - record.sent) * 1000:.0f} ms" if record.answered else "-"
                print(
                    f"  miss: file {record.file} key {record.typed} pause {gap * 1000:.0f} ms answered in "
                    f"{took} items {record.items} error {record.error} after {record.key!r}"
                )
    return figures


async def replay(args: argparse.Namespace, reports: bool) -> dict[str, float]:
    """Type every chosen file against a fresh server; return the figures."""
    files = [(lang, SITE / rel) for lang, rel in CANDIDATES if (SITE / rel).exists()][: args.files]
    if not files:
        raise SystemExit(f"no source files found under {SITE}")
    budget = max(1, args.chars // len(files))
    segments = [pick_segment(lang, path, budget) for lang, path in files]
    rng = random.Random(args.seed)
    user = User(accept=args.accept, reports=reports, rng=random.Random(args.seed + 1))
    responder = Responder(args.latency)
    sent: list[Sent] = []
    gaps: list = []
    server_figures = None
    with FakeOpenAI(default=responder) as fake:
        async with running_server(server_env(fake.base_url, args.model)) as client:
            for index, segment in enumerate(segments):
                responder.segment, responder.file = segment, index
                print(f"typing {len(segment.keys)} keys of {segment.path.name} ({segment.language})")
                await type_segment(client, index, segment, rng, args.speed, sent, gaps, user)
                await asyncio.sleep(1.0)  # let the last answers land before the next file
            server_figures = await client.workspace_execute_command_async(
                types.ExecuteCommandParams(command="llm-lsp.showStats", arguments=[])
            )
        calls = len([r for r in fake.requests if r.method == "POST"])
    figures = report(sent, gaps, calls, responder.asked, args.speed, args.show)
    figures["accepted"], figures["partly"] = user.accepted, user.partly
    total = server_figures["total"] if isinstance(server_figures, dict) else {}
    print(
        f"the user took {user.accepted} suggestions whole and {user.partly} in part; the server counted "
        + ", ".join(f"{k} {total.get(k)}" for k in ("shown", "accepted", "partiallyAccepted", "dismissed"))
    )
    return figures


def main() -> None:
    """Parse arguments and run the replay."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--chars", type=int, default=1500, help="keystrokes to type, split over the files")
    parser.add_argument("--files", type=int, default=len(CANDIDATES), help="how many files to type")
    parser.add_argument("--speed", type=float, default=1.0, help="divide every pause by this factor")
    parser.add_argument("--seed", type=int, default=7, help="seed of the pause distribution")
    parser.add_argument("--latency", type=float, default=0.2, help="model latency in seconds")
    parser.add_argument("--show", action="store_true", help="list the pauses without a suggestion")
    parser.add_argument("--model", default="starcoder2", help="model name (picks the FIM format)")
    parser.add_argument(
        "--accept", type=float, default=0.5, help="chance that the user takes a visible, right suggestion"
    )
    args = parser.parse_args()
    started = time.monotonic()
    runs = {}
    for reports in (False, True):
        title = "with shown/accepted events" if reports else "without events (no acceptance seen)"
        print(f"--- {title}")
        runs[reports] = asyncio.run(replay(args, reports))
    print("--- side by side (without events -> with events)")
    keys = ("keystrokes", "model_calls", "calls_per_key", "pauses", "visible_share", "accepted", "partly")
    for key in keys:
        before, after = runs[False][key], runs[True][key]
        shown = (lambda v: f"{v:.3f}") if isinstance(before, float) else str
        print(f"  {key}: {shown(before)} -> {shown(after)}")
    print(f"wall time {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
