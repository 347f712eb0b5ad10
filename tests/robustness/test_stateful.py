"""Hypothesis stateful fuzzing of one real server process against the fake model.

Random sequences of open / change (random and out-of-range ranges, astral, CJK and CRLF text) /
inline / completion / codeAction / resolve / cancel / close / configuration changes, while the fake
model answers with random latency and faults. Invariants, checked after every step and at the end
of each sequence:

- every request is answered exactly once, within ``BOUND`` seconds;
- the server's text of every open document equals the client's: read back through the test-only
  ``llm-lsp.debugDocumentText`` command (registered only with ``LLM_LSP_TEST_HOOKS=1``);
- nothing the server wrote to stderr contains a traceback.

Starting a server costs about a second, so ONE process serves every sequence of the run; each
sequence uses fresh document uris, so sequences cannot see each other's documents. The test run
keeps the number of examples small; ``bench/fuzz.py`` runs the same machine for longer.
"""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from fake_openai import FakeOpenAI, Recorded, Reply
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    precondition,
    rule,
)
from rawclient import RawClient, server_env

BOUND = 10.0  # seconds within which every request must be answered (deadlines below are shorter)
READ_TEXT = "llm-lsp.debugDocumentText"
CONFIGURATION = {
    "completion": {"deadlineMs": 1500, "debounceMinMs": 0, "debounceMaxMs": 50},
    "actions": {"deadlineMs": 2000},
}


@dataclass
class Stats:
    """What a run did: reported by bench/fuzz.py."""

    sequences: int = 0
    steps: int = 0
    requests: int = 0
    longest_answer: float = 0.0
    longest_method: str = ""


STATS = Stats()
_fault_random = random.Random(8)


def model_reply(_request: Recorded) -> Reply:
    """The fake model's answer: mostly code after a random delay, sometimes a fault."""
    roll = _fault_random.random()
    latency = _fault_random.random() * 0.3
    if roll < 0.08:
        return Reply(status=500, latency=latency)
    if roll < 0.14:
        return Reply(text="x = 1\ny = ", cut=True, latency=latency)
    if roll < 0.18:
        return Reply(hang=True)  # the request deadline must end it
    if roll < 0.22:
        return Reply(status=429, headers={"Retry-After": "30"})
    texts = ["a + b", "return 1\n", "```python\nx = 2\n```", "中文 = '😀'\n", "\r\nprint(1)\r\n", ""]
    return Reply(text=_fault_random.choice(texts), latency=latency)


# -- the client's model of a document: LSP positions applied independently of the server ---------

_BREAK = re.compile(r"\r\n|\r|\n")


def lsp_lines(text: str) -> list[tuple[int, int]]:
    """(start, content end) str offsets of each LSP line (line breaks: LF, CRLF, CR)."""
    lines, start = [], 0
    for match in _BREAK.finditer(text):
        lines.append((start, match.start()))
        start = match.end()
    lines.append((start, len(text)))
    return lines


def offset_at(text: str, line: int, character: int) -> int:
    """Str offset of a UTF-16 LSP position, clamped like LSP asks (past the end: the end)."""
    lines = lsp_lines(text)
    if line >= len(lines):
        return len(text)
    start, end = lines[line]
    units = 0
    for index in range(start, end):
        width = 2 if ord(text[index]) > 0xFFFF else 1
        if units + width > character:
            return index
        units += width
    return end


def apply_change(text: str, change: dict[str, Any]) -> str:
    """One ``contentChanges`` item applied to ``text`` (a reversed range counts as its mirror)."""
    if "range" not in change:
        return change["text"]
    start, end = change["range"]["start"], change["range"]["end"]
    if (end["line"], end["character"]) < (start["line"], start["character"]):
        start, end = end, start
    first = offset_at(text, start["line"], start["character"])
    last = offset_at(text, end["line"], end["character"])
    return text[:first] + change["text"] + text[last:]


# -- strategies -----------------------------------------------------------------------------------

pieces = st.sampled_from(
    ["def f(x):\n", "    return x\n", "中文", "😀", "𝔘", "\r\n", "\n", "\r", " ", "a", "é", "\t", "}", "'''"]
)
texts = st.lists(pieces, max_size=12).map("".join)
positions = st.fixed_dictionaries(
    {"line": st.integers(0, 12) | st.just(10**6), "character": st.integers(0, 30) | st.just(10**6)}
)
ranged_change = st.fixed_dictionaries(
    {"range": st.fixed_dictionaries({"start": positions, "end": positions}), "text": texts}
)
changes = st.lists(ranged_change | st.fixed_dictionaries({"text": texts}), min_size=1, max_size=3)


@dataclass
class Doc:
    """An open document as the client sees it."""

    uri: str
    text: str
    version: int = 1
    actions: list[dict[str, Any]] = field(default_factory=list)


class _Shared:
    """The one server process (and fake model) every sequence of this run talks to."""

    fake: FakeOpenAI | None = None
    client: RawClient | None = None
    sequence = 0

    @classmethod
    def get(cls) -> RawClient:
        if cls.client is None or cls.client.process.poll() is not None:
            cls.fake = FakeOpenAI(default=model_reply).start()
            cls.client = RawClient(server_env(cls.fake.base_url, "starcoder2"), configuration=CONFIGURATION)
            # No inline capability: the completion fallback then runs the model too.
            cls.client.initialize(
                {
                    "general": {"positionEncodings": ["utf-16"]},
                    "workspace": {"configuration": True, "applyEdit": True},
                    "window": {"workDoneProgress": True},
                    "textDocument": {
                        "completion": {},
                        "codeAction": {"resolveSupport": {"properties": ["edit"]}},
                    },
                }
            )
        return cls.client

    @classmethod
    def stop(cls) -> int | None:
        code = None
        if cls.client is not None:
            code = cls.client.shutdown_and_exit()
            cls.client.close()
        if cls.fake is not None:
            cls.fake.stop()
        cls.client = cls.fake = None
        return code


class ServerMachine(RuleBasedStateMachine):
    """One random sequence of editor traffic against the shared server."""

    docs = Bundle("docs")

    def __init__(self) -> None:
        super().__init__()
        self.client = _Shared.get()
        _Shared.sequence += 1
        self.prefix = f"file:///tmp/llm-lsp-fuzz/s{_Shared.sequence}"
        self.open: dict[str, Doc] = {}
        self.mine: list[Any] = []  # request ids sent by this sequence
        self.stderr_start = len(self.client.stderr_lines)
        self.counter = 0
        STATS.sequences += 1

    def _request(self, method: str, params: Any) -> Any:
        msg_id = self.client.request(method, params)
        self.mine.append(msg_id)
        STATS.requests += 1
        return msg_id

    @initialize(target=docs, text=texts)
    def first_document(self, text: str) -> Doc:
        return self.open_document(text)

    @precondition(lambda self: len(self.open) < 4)
    @rule(target=docs, text=texts)
    def open_document(self, text: str) -> Doc:
        self.counter += 1
        doc = Doc(uri=f"{self.prefix}/f{self.counter}.py", text=text)
        self.open[doc.uri] = doc
        item = {"uri": doc.uri, "languageId": "python", "version": 1, "text": text}
        self.client.notify("textDocument/didOpen", {"textDocument": item})
        return doc

    @rule(doc=docs, content=changes)
    def change(self, doc: Doc, content: list[dict[str, Any]]) -> None:
        if doc.uri not in self.open:
            return
        doc.version += 1
        for change in content:
            doc.text = apply_change(doc.text, change)
        params = {"textDocument": {"uri": doc.uri, "version": doc.version}, "contentChanges": content}
        self.client.notify("textDocument/didChange", params)

    @rule(doc=docs, position=positions, trigger=st.sampled_from([0, 1, 2]))
    def inline(self, doc: Doc, position: dict[str, int], trigger: int) -> None:
        context = {"triggerKind": trigger}
        params = {"textDocument": {"uri": doc.uri}, "position": position, "context": context}
        self._request("textDocument/inlineCompletion", params)

    @rule(doc=docs, position=positions)
    def completion(self, doc: Doc, position: dict[str, int]) -> None:
        params = {"textDocument": {"uri": doc.uri}, "position": position, "context": {"triggerKind": 1}}
        self._request("textDocument/completion", params)

    @rule(doc=docs, start=positions, end=positions)
    def code_action(self, doc: Doc, start: dict[str, int], end: dict[str, int]) -> None:
        params = {
            "textDocument": {"uri": doc.uri},
            "range": {"start": start, "end": end},
            "context": {"diagnostics": []},
        }
        answer = self.client.wait_answer(self._request("textDocument/codeAction", params), BOUND)
        doc.actions = [a for a in answer.get("result") or [] if isinstance(a, dict) and "data" in a]

    @rule(doc=docs, which=st.integers(0, 20))
    def resolve(self, doc: Doc, which: int) -> None:
        if doc.actions:
            self._request("codeAction/resolve", doc.actions[which % len(doc.actions)])

    @precondition(lambda self: bool(self.mine))
    @rule(which=st.integers(0, 1000))
    def cancel(self, which: int) -> None:
        self.client.notify("$/cancelRequest", {"id": self.mine[-1 - which % min(len(self.mine), 4)]})

    @rule(doc=consumes(docs))
    def close(self, doc: Doc) -> None:
        if self.open.pop(doc.uri, None) is not None:
            self.client.notify("textDocument/didClose", {"textDocument": {"uri": doc.uri}})

    @rule(debounce=st.integers(0, 100), bad=st.booleans())
    def configuration(self, debounce: int, bad: bool) -> None:
        section = {**CONFIGURATION, "completion": {**CONFIGURATION["completion"], "debounceMinMs": debounce}}
        if bad:
            section["noSuchSetting"] = "x"
        self.client.configuration = section
        self.client.notify("workspace/didChangeConfiguration", {"settings": None})

    @invariant()
    def answered_once_within_the_bound(self) -> None:
        STATS.steps += 1
        now = time.monotonic()
        for msg_id in self.mine:
            key = ("int", msg_id)
            got = self.client.answers.get(key, [])
            assert len(got) <= 1, f"request {msg_id} answered {len(got)} times"
            if not got:
                assert now - self.client.sent.get(key, now) < BOUND, (
                    f"request {msg_id} unanswered after {BOUND} s"
                )

    def teardown(self) -> None:
        client = self.client
        for msg_id in self.mine:
            client.wait_answer(msg_id, BOUND)
        for doc in self.open.values():
            read = client.call("workspace/executeCommand", {"command": READ_TEXT, "arguments": [doc.uri]})
            assert read.get("result") == {"version": doc.version, "text": doc.text}, (doc, read)
            client.notify("textDocument/didClose", {"textDocument": {"uri": doc.uri}})
        time.sleep(0.05)  # an answer sent twice would arrive right behind the first
        for msg_id in self.mine:
            answers = client.answers[("int", msg_id)]
            assert len(answers) == 1, f"request {msg_id} answered {len(answers)} times"
            took = client.answer_time(msg_id)
            if took > STATS.longest_answer:
                STATS.longest_answer = took
                STATS.longest_method = str(answers[0].message.get("error", {}).get("message", "result"))[:60]
        log = "".join(client.stderr_lines[self.stderr_start :])
        assert "Traceback" not in log, log


@pytest.fixture(scope="module", autouse=True)
def shared_server():
    yield
    assert _Shared.stop() in (0, None)


TestServerMachine = ServerMachine.TestCase
TestServerMachine.settings = settings(
    max_examples=12,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
