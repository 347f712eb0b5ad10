"""Documents whose cost used to follow their longest line (issue 17), answered within bounds.

The shapes: a 4 MB minified bundle on one line, a 60k-character literal line, a 200k-line file.
In each, an explicit completion near the end is answered with a prompt within its budget, and a
request for a small file sent while it is being served is answered promptly: no step holds the event
loop for long. The margins are generous (a loaded 2-core CI machine); bench/server.py prints the
measured figures against the issue's targets (300 ms and 100 ms).
"""

from __future__ import annotations

import asyncio
import time

import pytest
from fake_openai import FakeOpenAI, Reply
from harness import inline_params, open_document, running_server, server_env

BUDGET = 8000  # completion.maxPromptChars' default
ANSWER_LIMIT_S = 1.5  # issue target 0.3 s; before the fix the bundle took 1-4 s
SMALL_WAIT_LIMIT_S = 0.75  # issue target 0.1 s; before the fix it waited as long as the big answer

SMALL_URI = "file:///tmp/llm_lsp_e2e/small.py"
SMALL = "def add(a, b):\n    return \n\nprint(add(1, 2))\n"


def bundle() -> str:
    text = "".join(f"function f{i}(a,b){{return a+b*{i}}};var v{i}=f{i}(1,2);" for i in range(80_000))
    return text[: 4 * 1024 * 1024]


def literal() -> str:
    return 'DATA = "' + ("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo" * 2000)[:60_000] + '"\nvalue = DATA'


def generated() -> str:
    return "".join(f"ROW_{i} = {i * 7}\n" for i in range(200_000)) + "total = ROW_1"


@pytest.fixture
def fake():
    with FakeOpenAI(default=Reply(text=" + 1")) as server:
        yield server


@pytest.mark.parametrize(
    ("name", "language", "make"),
    [
        ("bundle.js", "javascript", bundle),
        ("literal.py", "python", literal),
        ("rows.py", "python", generated),
    ],
)
async def test_answer_within_budget_while_a_small_file_is_served_promptly(fake, name, language, make):
    text = make()
    uri = f"file:///tmp/llm_lsp_e2e/{name}"
    last_line = text.count("\n")
    column = len(text) - (text.rfind("\n") + 1)
    async with running_server(server_env(fake.base_url, "starcoder2")) as client:
        open_document(client, SMALL_URI, SMALL)
        await client.text_document_inline_completion_async(inline_params(SMALL_URI, 1, 11))
        open_document(client, uri, text, language_id=language)
        await client.text_document_inline_completion_async(inline_params("file:///not/open.py", 0, 0))

        answers, waits = [], []
        asked = len(fake.requests)
        for k in range(2):  # a second cursor: the suggestion cache must not answer it
            started = time.monotonic()
            big = asyncio.ensure_future(
                client.text_document_inline_completion_async(inline_params(uri, last_line, column - k))
            )
            await asyncio.sleep(0.005)
            sent = time.monotonic()
            await client.text_document_inline_completion_async(inline_params(SMALL_URI, 1, 11 - k))
            waits.append(time.monotonic() - sent)
            result = await big
            answers.append(time.monotonic() - started)
            assert result is not None
            big_prompts = [r.body_json for r in fake.requests[asked:] if "print(add" not in r.prompt_text]
            assert len(big_prompts) == k + 1  # the model was asked (the cache did not answer)
            assert all(len(p["prompt"]) + len(p["suffix"]) <= BUDGET for p in big_prompts)
        print(
            f"{name}: answers {[round(a * 1000) for a in answers]} ms, small-file waits "
            f"{[round(w * 1000) for w in waits]} ms"
        )
        assert max(answers) < ANSWER_LIMIT_S
        assert max(waits) < SMALL_WAIT_LIMIT_S
