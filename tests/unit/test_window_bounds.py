"""Per-request steps read a bounded window of characters, whatever the document's lines look like."""

from __future__ import annotations

import logging
import time

from lsp_server.app import completion
from lsp_server.core.documents import Snapshot
from lsp_server.core.settings import defaults, from_flat
from lsp_server.engine import context
from lsp_server.privacy import redaction

AWS_KEY = "AKIAIOSFODNN7EXAMPLE"


def snapshot_of(text: str, language: str = "javascript") -> Snapshot:
    return Snapshot(uri="file:///x.js", version=1, language_id=language, grammar=language, text=text)


def test_the_scene_window_is_bounded_on_a_single_huge_line():
    text = "var a=1;" * 500_000
    cursor = completion.cursor_for(snapshot_of(text), len(text) - 8, "auto")
    assert len(cursor.text) <= completion.LONG_LINE_SCENE_CHARS + completion.SCENE_AFTER_CHARS
    assert cursor.text[cursor.offset :] == text[-8:]


def test_the_scene_window_starts_at_a_line_start_when_one_is_in_reach():
    text = "".join(f"line_{i} = {i}\n" for i in range(10_000))
    offset = len(text) - 20
    cursor = completion.cursor_for(snapshot_of(text, "python"), offset, "auto")
    assert text[offset - cursor.offset - 1] == "\n"
    assert cursor.text[cursor.offset :] == text[offset:]


def test_member_access_reads_a_bounded_tail_of_a_huge_line():
    text = "x" * 2_000_000 + " obj.attr."
    started = time.perf_counter()
    assert context.member_access_at(text, len(text)) == ("obj", "attr")
    assert time.perf_counter() - started < 0.05


def test_a_secret_cut_by_the_window_clip_is_removed_from_the_window():
    head = "var a=1;var k='AKIAIOSF"
    prefix, suffix = "ODNN7EXAMPLE';var b=2;f(", ");var z='AKIAIOSFOD"
    tail = "NN7EXAMPLE';"
    assert redaction.redact_fim(prefix, suffix, "a.js")[:2] == (prefix, suffix)  # halves alone pass the scan
    new_prefix, new_suffix, _ = redaction.redact_fim(prefix, suffix, "a.js", margins=(head, tail))
    assert "ODNN7EXAMPLE" not in new_prefix and "AKIAIOSFOD" not in new_suffix
    assert new_prefix.endswith("';var b=2;f(") and new_suffix.startswith(");var z='")


def test_the_prompt_for_a_huge_line_is_bounded_and_leaks_no_half_of_a_clipped_secret():
    settings = from_flat(defaults())
    budget = settings.completion.max_prompt_chars
    sources = completion.PromptSources(settings=settings)
    filler = "var a=1;" * 20_000

    def text_with(pad: int) -> str:
        return filler + "var k='" + AWS_KEY + "';" + "b" * pad + "+f("

    far = text_with(budget)
    window = len(completion.gated_prompt(snapshot_of(far), len(far), "x.js", sources).prefix)
    assert window <= budget
    for cut in (3, 10, 17):  # the clip falls this many characters into the key
        text = text_with(window - 25 + cut)
        raw = text[len(text) - window :]
        assert AWS_KEY not in raw and AWS_KEY[cut:] in raw  # the window alone holds a part of the key
        prompt = completion.gated_prompt(snapshot_of(text), len(text), "x.js", sources)
        # (the placeholder may be longer than the part of the key it replaces)
        assert len(prompt.prefix) + len(prompt.suffix) <= budget + len(redaction.PLACEHOLDER)
        assert AWS_KEY[cut:][:6] not in prompt.prefix, prompt.prefix[:80]
        assert prompt.prefix.startswith(redaction.PLACEHOLDER)


def test_a_slow_step_is_logged(caplog):
    with caplog.at_level(logging.WARNING, logger="lsp_server.app.completion"):
        with completion.slow_step("example", "file:///x.py"):
            time.sleep(completion.SLOW_STEP_SECONDS + 0.01)
        with completion.slow_step("fast", "file:///x.py"):
            pass
    assert [r.getMessage().split(" took")[0] for r in caplog.records] == ["slow step: example"]
