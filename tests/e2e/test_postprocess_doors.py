"""The long tail of post-processing through the real server: what the editor is sent is what a user accepts.

The real ``llm-lsp`` over stdio against the fake OpenAI-compatible server, once with a FIM model and
once with a chat model (prose and a fenced block indented as in the file). The model over-generates:
it answers the true middle followed by the rest of the file. Each case is one of the issue's kinds:
the rest of the line at a line start, a list that goes on, an Allman header, whitespace at the seam.
"""

from __future__ import annotations

import pytest
from fake_openai import FakeOpenAI, Reply
from harness import inline_params, open_document, running_server, server_env

# (uri, languageId, document with $0 at the cursor, the true middle)
CASES = [
    (
        "file:///tmp/llm_lsp_e2e/rest.ts",
        "typescript",
        "function f(a: number): number {\n  const b = a * 2;\n  $0; // log it\n  return b;\n}\n",
        "console.log(b)",
    ),
    (
        "file:///tmp/llm_lsp_e2e/fields.go",
        "go",
        "package main\n\ntype Address struct {\n\tStreet string\n\tCity   $0\n}\n\nfunc main() {}\n",
        "string\n\tState  string\n\tZip    string",
    ),
    (
        "file:///tmp/llm_lsp_e2e/Person.cs",
        "csharp",
        "public class Person\n{\n    public string Name { get; set; }\n\n    public Person(string $0\n}\n",
        "name)\n    {\n        Name = name;\n    }",
    ),
    (
        "file:///tmp/llm_lsp_e2e/seam.py",
        "python",
        "def double(x):\n    return $0\n",
        "x * 2",
    ),
]


def _position(document: str) -> tuple[str, int, int]:
    offset = document.index("$0")
    text = document.replace("$0", "", 1)
    line = text.count("\n", 0, offset)
    return text, line, offset - (text.rfind("\n", 0, offset) + 1)


@pytest.fixture
def fake():
    with FakeOpenAI() as server:
        yield server


@pytest.mark.parametrize("case", CASES, ids=[c[0].rsplit("/", 1)[1] for c in CASES])
@pytest.mark.parametrize("model", ["starcoder2", "gpt-4o-mini"], ids=["fim", "chat"])
async def test_the_suggestion_sent_is_the_one_a_user_accepts(fake, case, model):
    uri, language, document, middle = case
    text, line, character = _position(document)
    offset = document.index("$0")
    # The seam case: the model repeats the space the cursor already stands after.
    answer = (" " if text[offset - 1 : offset] == " " else "") + middle + text[offset:]
    if model != "starcoder2":
        before = text[text.rfind("\n", 0, offset) + 1 : offset]
        code = (before + answer if not before.strip() else answer).rstrip("\n")
        answer = f"Here is the code that goes at the cursor:\n```\n{code}\n```\nIt fits the file."
    fake.script(Reply(text=answer))
    async with running_server(server_env(fake.base_url, model)) as client:
        open_document(client, uri, text, language_id=language)
        result = await client.text_document_inline_completion_async(inline_params(uri, line, character))
        assert [item.insert_text for item in result.items] == [middle]
