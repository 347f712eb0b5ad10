"""Next edits, measured: real commits replayed, the server's own time on a 10k-line file, the call budget.

Three parts, against the real ``llm-lsp`` process over stdio (tests/e2e/harness.py) and the fake model
(tests/fake_openai.py); prints what it measured, asserts nothing.

1. **Commit replay** (``--repo``, default this repository's own history): every non-merge commit that
   changes a file with a grammar in two or more places (line hunks, difflib) is a case. The file is
   opened as it was before the commit, the first hunk is made as the user's edit (one ``didChange``),
   the cursor goes to the end of it, and ``llmLsp/nextEdit`` is asked (explicit: the call budget is
   part 3's). The fake model answers the region the prompt holds, rewritten as the commit has it
   ("true"), and three variants: the true region with the user's first hunk reverted too ("revert"),
   the region unchanged ("unchanged"), the true region with trailing spaces on two unchanged lines
   ("whitespace"). Reported per prompt kind (a chat model, fenced answer; Zeta on /v1/completions, its
   own answer shape): how often exactly the next hunk is offered (the edit applied gives the document
   with the commit's second hunk, and nothing else), how often nothing is offered where nothing should
   be, the offered edits' size, and how many cases have their next hunk inside the editable region at
   all (the model cannot rewrite what it is not shown).
2. **Server time on a 10,000-line file**: the server's own time per next-edit request, the model's wait
   excluded (the server logs both), beside the same figure for inline completions on the same file in
   the same run.
3. **Typing replay with the call budget**: bench/typing_replay.py's files, pauses and true-continuation
   model, with an editor that also asks ``textDocument/copilotInlineEdit`` at each pause of 500 ms or
   more (as the Neovim plugin and the VS Code extension do), and one that asks after every keystroke
   with a model that completes nothing (no ghost text holds a request back: the budget alone does);
   model calls per keystroke, completions and next edits apart, beside the same typing without them.

    python bench/next_edit.py [--repo PATH] [--commits 300] [--cases 60] [--chars 400] [--skip-typing] \
        2> /dev/null    # the servers' logs go to stderr
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "e2e"), str(ROOT / "bench")]

from fake_openai import REGION_END, REGION_START, FakeOpenAI, Recorded, Reply, editable_region  # noqa: E402
from harness import inline_params, open_document, running_server, server_env  # noqa: E402
from lsprotocol import types  # noqa: E402
from pygls.exceptions import JsonRpcException  # noqa: E402
from typing_replay import (  # noqa: E402  # noqa: E402
    CANDIDATES,
    SITE,
    Responder,
    pause_after,
    percentile,
    pick_segment,
    position,
)

from lsp_server.core.syntax import grammar_name  # noqa: E402
from lsp_server.core.text import split_lines  # noqa: E402

ENABLED = {"nextEdit": {"enable": True}}
VARIANTS = ("true", "revert", "unchanged", "whitespace")
MODELS = (("chat", "gpt-4o-mini"), ("zeta", "zed-industries/zeta"))
_TIMING = re.compile(r"(next edit|inline) timing: ([0-9.]+) ms total, ([0-9.]+) ms waiting")


# -- part 1: commits ------------------------------------------------------------------------------------


@dataclass
class Case:
    """One file of one commit: its text before, after the first hunk (the user's edit), and after."""

    name: str
    language: str
    before: str
    current: str
    after: str
    edit: tuple[int, int, str]  # lines [first, end) of ``before`` replaced by this text
    cursor: tuple[int, int]
    expected: str  # ``current`` with the second hunk applied: what an exact next edit gives
    following: tuple[int, int]  # lines [first, end) of ``current`` the second hunk replaces


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True, errors="replace"
    ).stdout


def hunks(before: str, after: str) -> list[tuple[int, int, int, int]]:
    old, new = split_lines(before), split_lines(after)
    opcodes = SequenceMatcher(None, old, new, autojunk=False).get_opcodes()
    return [(i1, i2, j1, j2) for tag, i1, i2, j1, j2 in opcodes if tag != "equal"]


def cases(repo: Path, commits: int, limit: int) -> list[Case]:
    """Files changed in two or more places by the latest ``commits`` non-merge commits of ``repo``."""
    found: list[Case] = []
    for sha in git(repo, "log", "--no-merges", "--format=%H", f"-n{commits}").split():
        for path in git(repo, "diff-tree", "--no-commit-id", "--name-only", "-r", sha).split("\n"):
            grammar = grammar_name(None, path) if path else None
            if grammar is None:
                continue
            try:
                before = git(repo, "show", f"{sha}^:{path}")
                after = git(repo, "show", f"{sha}:{path}")
            except subprocess.CalledProcessError:
                continue  # added or deleted by the commit
            if len(before) > 400_000 or "\r" in before:
                continue
            changes = hunks(before, after)
            if len(changes) < 2:
                continue
            (i1, i2, j1, j2), (k1, k2, m1, m2) = changes[0], changes[1]
            old, new = split_lines(before), split_lines(after)
            first = "".join(new[j1:j2])
            current = "".join(old[:i1]) + first + "".join(old[i2:])
            shift = (j2 - j1) - (i2 - i1)
            cur = split_lines(current)
            expected = "".join(cur[: k1 + shift]) + "".join(new[m1:m2]) + "".join(cur[k2 + shift :])
            end_line = j1 + max(0, j2 - j1 - 1)
            cursor = (end_line, len(new[end_line].rstrip("\r\n")) if j2 > j1 else 0)
            following = (k1 + shift, k2 + shift)
            edit = (i1, i2, first)
            found.append(
                Case(f"{sha[:8]}:{path}", grammar, before, current, after, edit, cursor, expected, following)
            )
            if len(found) >= limit:
                return found
    return found


def _within(span: tuple[int, int], first: int, end: int) -> bool | None:
    """Whether old lines ``span`` lie inside region lines [first, end): True, False, or None (across an edge).

    An insertion (an empty span) is inside only strictly between two region lines.
    """
    lo, hi = span
    if lo == hi:
        return first < lo < end
    if hi <= first or lo >= end:
        return False
    return True if first <= lo and hi <= end else None


def true_region(case: Case, region: str) -> tuple[str | None, bool]:
    """The region as the commit has it (None: a hunk crosses its edge), and whether the next hunk is in it."""
    start = case.current.find(region)
    if start < 0 or case.current.find(region, start + 1) >= 0:
        return None, False
    first = case.current.count("\n", 0, start)
    end = first + region.count("\n") + 1
    old, new = split_lines(case.current), split_lines(case.after)
    out: list[str] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag == "equal":
            lo, hi = max(i1, first), min(i2, end)
            out.extend(new[j1 + lo - i1 : j1 + hi - i1] if lo < hi else ())
            continue
        inside = _within((i1, i2), first, end)
        if inside is None:
            return None, False
        if inside:
            out.extend(new[j1:j2])
    text = "".join(out)
    if text.endswith("\n") and not region.endswith("\n"):
        text = text[:-1]
    return text, bool(_within(case.following, first, end))


class CommitModel:
    """Answers a next-edit prompt with the current case's region in the current variant."""

    def __init__(self, style: str) -> None:
        self.style = style
        self.case: Case | None = None
        self.variant = "true"
        self.inside = True  # the last case's next hunk lies inside the region

    def __call__(self, request: Recorded) -> Reply:
        case, region = self.case, editable_region(request)
        if case is None or region is None:
            return Reply(text="")
        rewritten, self.inside = true_region(case, region)
        answer = rewritten if rewritten is not None else region
        if self.variant == "unchanged":
            answer = region
        elif self.variant == "revert":
            first, end, text = case.edit
            user = text.rstrip("\n")
            old = "".join(split_lines(case.before)[first:end]).rstrip("\n")
            if user and user in answer:
                answer = answer.replace(user, old, 1)
        elif self.variant == "whitespace":
            lines = answer.split("\n")
            for index in (0, len(lines) - 1):
                if lines[index].strip():
                    lines[index] += "  "
            answer = "\n".join(lines)
        if self.style == "zeta":
            return Reply(text=f"```x\n{REGION_START}\n{answer}\n")
        return Reply(text=f"```\n{REGION_START}\n{answer}\n{REGION_END}\n```")


@dataclass
class Tally:
    asked: int = 0
    inside: int = 0
    exact: int = 0
    nothing: int = 0
    offered: int = 0
    sizes: list[int] = field(default_factory=list)
    errors: int = 0


def span(text: str, edit) -> tuple[int, int]:
    """Str offsets of an answered edit's range in ``text`` (the bench's files are ASCII: utf-16 = str)."""
    lines = text.splitlines(keepends=True) + [""]
    start = sum(map(len, lines[: edit.range.start.line])) + edit.range.start.character
    end = sum(map(len, lines[: edit.range.end.line])) + edit.range.end.character
    return start, end


def apply(text: str, edit) -> str:
    start, end = span(text, edit)
    return text[:start] + edit.text + text[end:]


def changed(uri: str, version: int, start: tuple[int, int], end: tuple[int, int], text: str):
    """One ``didChange`` replacing ``start``..``end`` with ``text``."""
    return types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[
            types.TextDocumentContentChangePartial(
                range=types.Range(start=types.Position(*start), end=types.Position(*end)), text=text
            )
        ],
    )


def next_edit_params(uri: str, version: int, line: int, character: int) -> dict:
    return {
        "textDocument": {"uri": uri, "version": version},
        "position": {"line": line, "character": character},
    }


async def replay_commits(all_cases: list[Case], style: str, model: str, log_file: Path) -> dict[str, Tally]:
    responder = CommitModel(style)
    tallies = {variant: Tally() for variant in VARIANTS}
    with FakeOpenAI(default=responder, keep_alive=True) as fake:
        env = server_env(fake.base_url, model)
        args = ["--log-file", str(log_file), "--log-level", "debug"]
        async with running_server(env, initialization_options=ENABLED, server_args=args) as client:
            for index, case in enumerate(all_cases):
                uri = f"file:///tmp/llm_lsp_next_edit/{index}/{Path(case.name.split(':', 1)[1]).name}"
                open_document(client, uri, case.before, case.language)
                first, end, text = case.edit
                last = split_lines(case.before)[end - 1] if end > first else ""
                stop = (end - 1, len(last.rstrip("\r\n"))) if end > first else (first, 0)
                client.text_document_did_change(
                    changed(uri, 2, (first, 0), stop, text.rstrip("\n") if end > first else text)
                )
                responder.case = case
                for variant in VARIANTS:
                    responder.variant = variant
                    responder.inside = False  # stays False when the server asks nothing
                    tally = tallies[variant]
                    tally.asked += 1
                    try:
                        result = await client.protocol.send_request_async(
                            "llmLsp/nextEdit", next_edit_params(uri, 2, *case.cursor)
                        )
                    except JsonRpcException:
                        tally.errors += 1
                        continue
                    tally.inside += responder.inside
                    edits = result.edits
                    if not edits:
                        tally.nothing += 1
                        continue
                    tally.offered += 1
                    start, end = span(case.current, edits[0])
                    tally.sizes.append(len(edits[0].text) + end - start)
                    tally.exact += apply(case.current, edits[0]) == case.expected
                client.text_document_did_close(
                    types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
                )
    return tallies


def server_times(log_file: Path, kind: str) -> list[float]:
    return [
        float(total) - float(model)
        for what, total, model in _TIMING.findall(log_file.read_text())
        if what == kind
    ]


def report_commits(style: str, tallies: dict[str, Tally], log_file: Path) -> None:
    print(f"\n== commit replay, {style} prompt ==")
    for variant, t in tallies.items():
        inside = t.inside
        line = (
            f"{variant:>10}: asked {t.asked}, next hunk inside the region {inside}; "
            f"offered {t.offered}, nothing offered {t.nothing}, errors {t.errors}"
        )
        if variant in ("true", "revert", "whitespace"):
            line += f"; exactly the next hunk {t.exact} ({t.exact / max(1, inside):.0%} of those inside)"
        if t.sizes:
            line += f"; edit size p50 {statistics.median(t.sizes):.0f} chars, max {max(t.sizes)}"
        print(line)
    times = server_times(log_file, "next edit")
    if times:
        print(
            f"server's own time per next edit (model excluded): p50 {percentile(times, 0.5):.2f} ms, "
            f"p90 {percentile(times, 0.9):.2f} ms over {len(times)} requests"
        )


# -- part 2: a 10,000-line file -----------------------------------------------------------------------


def big_python(lines: int = 10_000) -> str:
    """Real Python from this repository, concatenated up to ``lines`` lines."""
    parts: list[str] = []
    count = 0
    for path in sorted((ROOT / "lsp_server").rglob("*.py")):
        text = path.read_text()
        parts.append(text)
        count += text.count("\n")
        if count >= lines:
            break
    text = "".join(parts)
    return "".join(split_lines(text)[:lines])


async def big_file(requests: int) -> None:
    text = big_python()
    doc_lines = split_lines(text)
    target = next(i for i in range(len(doc_lines) // 2, len(doc_lines)) if doc_lines[i].startswith("def "))
    header = doc_lines[target]
    paren = header.index("(") + 1
    log_file = Path(tempfile.mkdtemp(prefix="next-edit-bench-")) / "server.log"

    def respond(request: Recorded) -> Reply:
        region = editable_region(request)
        if region is None:
            return Reply(text="pass")
        # A real change (a comment after the region's first line): every check runs on an offered edit.
        head, _, rest = region.partition("\n")
        changed = f"{head}  # checked\n{rest}"
        return Reply(text=f"```\n{REGION_START}\n{changed}\n{REGION_END}\n```")

    with FakeOpenAI(default=respond, keep_alive=True) as fake:
        env = server_env(fake.base_url, "gpt-4o-mini")
        args = ["--log-file", str(log_file), "--log-level", "debug"]
        async with running_server(env, initialization_options=ENABLED, server_args=args) as client:
            uri = "file:///tmp/llm_lsp_next_edit/big.py"
            open_document(client, uri, text)
            version = 1
            for i in range(requests):
                version += 1
                character = paren + i % 5
                client.text_document_did_change(
                    changed(uri, version, (target, character), (target, character), "x")
                )
                await client.protocol.send_request_async(
                    "llmLsp/nextEdit", next_edit_params(uri, version, target, character + 1)
                )
                await client.text_document_inline_completion_async(inline_params(uri, target, character + 1))
    nexts, inlines = server_times(log_file, "next edit"), server_times(log_file, "inline")
    refused = sum(1 for line in log_file.read_text().splitlines() if "no next edit" in line)
    print(f"\n== a {len(doc_lines)}-line Python file, {requests} requests of each kind, same run ==")
    print(f"next edits offered {requests - refused} of {requests} (each one past every check)")
    for label, values in (("next edit", nexts), ("inline completion (reference)", inlines)):
        print(
            f"{label:>30}: server's own time p50 {percentile(values, 0.5):.2f} ms, "
            f"p90 {percentile(values, 0.9):.2f} ms, max {max(values):.2f} ms"
        )


# -- part 3: the typing replay with the call budget -----------------------------------------------------


@dataclass
class Calls:
    keystrokes: int = 0
    completion: int = 0
    next_edit: int = 0
    next_edit_asked: int = 0


async def typing(chars: int, seed: int, asks: str, latency: float) -> Calls:
    """Type the replay's files; ``asks``: when the editor asks for next edits.

    ``never``; ``pauses``: 500 ms into each pause of 500 ms or more, as the editor clients do;
    ``every-key``: after every keystroke, with a model that completes nothing (no ghost text ever
    holds a request back), the worst a client can do to the budget.
    """
    files = [(lang, SITE / rel) for lang, rel in CANDIDATES if (SITE / rel).exists()]
    segments = [pick_segment(lang, path, max(1, chars // len(files))) for lang, path in files]
    rng = random.Random(seed)
    completions = Responder(latency)

    def respond(request: Recorded) -> Reply:
        region = editable_region(request)
        if region is not None:  # a next edit: the region back unchanged (no edit, one call spent)
            return Reply(text=f"```\n{REGION_START}\n{region}\n{REGION_END}\n```", latency=latency)
        if asks == "every-key":
            return Reply(text="", latency=latency)
        return completions(request)

    calls = Calls()
    with FakeOpenAI(default=respond, keep_alive=True) as fake:
        settings = ENABLED if asks != "never" else None
        async with running_server(
            server_env(fake.base_url, "starcoder2"), initialization_options=settings
        ) as client:
            tasks = []
            for index, segment in enumerate(segments):
                completions.segment, completions.file = segment, index
                uri = f"file:///tmp/llm_lsp_next_edit/typing/{index}_{segment.path.name}"
                doc = segment.text[: segment.start] + segment.text[segment.end :]
                open_document(client, uri, doc, segment.language)
                await asyncio.sleep(0.3)
                offset, version = segment.start, 1
                for key in segment.keys:
                    line, character = position(doc, offset)
                    version += 1
                    client.text_document_did_change(
                        changed(uri, version, (line, character), (line, character), key)
                    )
                    doc = doc[:offset] + key + doc[offset:]
                    offset += len(key)
                    calls.keystrokes += 1
                    cursor = position(doc, offset)
                    inline = client.text_document_inline_completion_async(
                        inline_params(uri, *cursor, explicit=False)
                    )
                    tasks.append(asyncio.ensure_future(_quiet(inline)))
                    gap = pause_after(key, rng)
                    wait = 0.5 if asks == "pauses" else 0.0
                    if asks == "every-key" or (asks == "pauses" and gap >= wait):
                        await asyncio.sleep(wait)  # the editor's debounce
                        calls.next_edit_asked += 1
                        asked = client.protocol.send_request_async(
                            "textDocument/copilotInlineEdit", next_edit_params(uri, version, *cursor)
                        )
                        tasks.append(asyncio.ensure_future(_quiet(asked)))
                    await asyncio.sleep(max(0.0, gap - wait))
                await asyncio.gather(*tasks)
                await asyncio.sleep(1.0)
        posts = [r for r in fake.requests if r.method == "POST"]
        calls.next_edit = sum(editable_region(r) is not None for r in posts)
        calls.completion = len(posts) - calls.next_edit
    return calls


async def _quiet(awaitable) -> None:
    # Cancelled or stale answers are normal here: the replay counts model calls, not answers.
    with contextlib.suppress(JsonRpcException):
        await awaitable


def report_typing(label: str, calls: Calls) -> None:
    total = calls.completion + calls.next_edit
    keys = calls.keystrokes
    print(
        f"{label:>24}: {keys} keystrokes, model calls {total} = {total / keys:.3f} per keystroke "
        f"(completions {calls.completion / keys:.3f}, next edits {calls.next_edit / keys:.3f} "
        f"from {calls.next_edit_asked} requests)"
    )


# -- main ---------------------------------------------------------------------------------------------


async def main(args: argparse.Namespace) -> None:
    if not args.skip_commits:
        found = cases(Path(args.repo), args.commits, args.cases)
        where = f"the last {args.commits} commits of {args.repo}"
        print(f"{len(found)} cases (a file changed in two or more places) in {where}")
        for style, model in MODELS:
            log_file = Path(tempfile.mkdtemp(prefix="next-edit-bench-")) / "server.log"
            tallies = await replay_commits(found, style, model, log_file)
            report_commits(style, tallies, log_file)
    if not args.skip_big:
        await big_file(args.requests)
    if not args.skip_typing:
        latency = f"{args.latency * 1000:.0f} ms"
        files = len(CANDIDATES)
        print(f"\n== typing replay, {args.chars} keystrokes over {files} files, model latency {latency} ==")
        report_typing("without next edits", await typing(args.chars, args.seed, "never", args.latency))
        report_typing("asked at pauses", await typing(args.chars, args.seed, "pauses", args.latency))
        report_typing("asked every keystroke", await typing(args.chars, args.seed, "every-key", args.latency))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repo", default=str(ROOT), help="a git repository whose history is replayed")
    parser.add_argument("--commits", type=int, default=300, help="latest non-merge commits searched")
    parser.add_argument("--cases", type=int, default=60, help="cases replayed at most")
    parser.add_argument("--requests", type=int, default=60, help="requests of each kind on the 10k-line file")
    parser.add_argument("--chars", type=int, default=400, help="keystrokes typed in the typing replay")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--latency", type=float, default=0.2, help="the typing replay's model latency, seconds"
    )
    parser.add_argument("--skip-commits", action="store_true")
    parser.add_argument("--skip-big", action="store_true")
    parser.add_argument("--skip-typing", action="store_true")
    started = time.monotonic()
    asyncio.run(main(parser.parse_args()))
    print(f"\nwall time {time.monotonic() - started:.0f} s")
