"""The real server over stdio against the fake model: code actions, resolve and the llm-lsp.* commands."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from fake_openai import FakeOpenAI, Reply
from harness import insert, open_document, running_server, server_env
from lsprotocol import types
from pygls.exceptions import JsonRpcException

SOURCE = (
    "import os\n"
    "\n"
    "\n"
    "class Greeter:\n"
    "    def greet(self, name):\n"
    "        message = 'hello ' + nme\n"
    "        return message\n"
    "\n"
    "\n"
    "def total(items):\n"
    "    result = 0\n"
    "    for item in items:\n"
    "        result += item\n"
    "    return reslt\n"
)
GREET_FIXED = "def greet(self, name):\n  message = 'hello ' + name\n  return message"


def diagnostic(line: int, start: int, end: int, message: str) -> types.Diagnostic:
    """A diagnostic as another language server (pyright) would publish it."""
    return types.Diagnostic(
        range=types.Range(
            start=types.Position(line=line, character=start), end=types.Position(line=line, character=end)
        ),
        message=message,
        source="pyright",
        severity=types.DiagnosticSeverity.Error,
    )


NME = diagnostic(5, 31, 34, '"nme" is not defined')
RESLT = diagnostic(13, 11, 16, '"reslt" is not defined')


def use_code_action_hook(client) -> None:
    """lsprotocol's client converter decodes a CodeAction carrying a command as a bare Command (FACTS.md)."""
    converter = client.protocol._converter
    union = types.Command | types.CodeAction

    def structure(value: Any, _type: Any):
        is_command = isinstance(value.get("command"), str) and set(value) <= {"title", "command", "arguments"}
        return converter.structure(value, types.Command if is_command else types.CodeAction)

    converter.register_structure_hook(union, structure)


def action_params(uri: str, rng: types.Range, diagnostics=(), only=None) -> types.CodeActionParams:
    """Parameters of textDocument/codeAction."""
    return types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        range=rng,
        context=types.CodeActionContext(diagnostics=list(diagnostics), only=only),
    )


def cursor(line: int, character: int = 0) -> types.Range:
    """An empty range (a cursor)."""
    position = types.Position(line=line, character=character)
    return types.Range(start=position, end=position)


def text_edits(edit: types.WorkspaceEdit) -> list[tuple[int | None, list[types.TextEdit]]]:
    """(version, edits) of each TextDocumentEdit of a workspace edit."""
    return [
        (change.text_document.version, change.edits)
        for change in edit.document_changes
        if isinstance(change, types.TextDocumentEdit)
    ]


@pytest.fixture
def fake():
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (tmp_path / "greet.py").write_text(SOURCE)
    return tmp_path


async def list_for(client, uri: str, rng: types.Range, diagnostics=()) -> list[types.CodeAction]:
    actions = await client.text_document_code_action_async(action_params(uri, rng, diagnostics))
    return actions or []


def by_title(actions, prefix: str) -> types.CodeAction:
    return next(a for a in actions if a.title.startswith(prefix))


async def test_listing_is_instant_and_calls_no_model(fake, workspace):
    uri = (workspace / "greet.py").as_uri()
    async with running_server(
        server_env(fake.base_url, "gpt-4o-mini"), initialization_options={"logLevel": "debug"}
    ) as client:
        use_code_action_hook(client)
        open_document(client, uri, SOURCE)
        open_document(client, "file:///tmp/notes.txt", "some notes\n", language_id="plaintext")
        for _ in range(5):  # the first listing pays for imports; later ones are the steady state
            actions = await list_for(client, uri, cursor(5, 10), [NME, RESLT])
        titles = [a.title for a in actions]
        assert titles[:3] == [
            'Fix with AI: "nme" is not defined',
            'Fix with AI: "reslt" is not defined',
            "Fix all 2 problems with AI",
        ]
        assert {"AI: Simplify", "AI: Add documentation", "AI: Add type annotations"} <= set(titles)
        assert {"AI: Generate tests", "AI: Explain"} <= set(titles)
        fix = actions[0]
        assert fix.kind == types.CodeActionKind.QuickFix and fix.edit is None
        assert fix.diagnostics[0].message == NME.message
        assert fix.data["version"] == 1 and fix.data["uri"] == uri
        explain = by_title(actions, "AI: Explain")
        assert explain.command.command == "llm-lsp.explain"

        plain = await list_for(client, "file:///tmp/notes.txt", cursor(0))
        assert "AI: Add type annotations" not in [a.title for a in plain]
        only_fixes = await client.text_document_code_action_async(
            action_params(uri, cursor(5), [NME], only=[types.CodeActionKind.QuickFix])
        )
        assert [a.kind for a in only_fixes] == [types.CodeActionKind.QuickFix]
        await asyncio.sleep(0.2)
        timings = [
            float(m.group(1))
            for message in client.log_messages
            if (m := re.search(r"code actions: \d+ listed in ([\d.]+) ms", message.message))
        ]
        assert len(timings) >= 7
        assert max(timings[1:]) < 20, timings
    assert fake.requests == []


async def test_fix_resolves_to_a_minimal_versioned_edit_from_prose_and_other_indentation(fake, workspace):
    uri = (workspace / "greet.py").as_uri()
    fake.script(Reply(text=f"Sure, here is the fix:\n```python\n{GREET_FIXED}\n```\nThe typo is fixed."))
    async with running_server(server_env(fake.base_url, "gpt-4o-mini")) as client:
        use_code_action_hook(client)
        open_document(client, uri, SOURCE, version=3)
        actions = await list_for(client, uri, NME.range, [NME])
        resolved = await client.code_action_resolve_async(actions[0])
        [(version, edits)] = text_edits(resolved.edit)
        assert version == 3
        assert len(edits) == 1
        assert edits[0].range.start.line == edits[0].range.end.line == 5
        assert edits[0].new_text == "a"  # "nme" -> "name": one character inserted
        body = fake.requests[-1].body_json
        system, user = body["messages"][0]["content"], body["messages"][1]["content"]
        assert "Fix the problems" in system and "nme" not in system
        assert '"nme" is not defined' in user and "def greet(self, name):" in user


async def test_fix_all_fixes_two_functions_in_one_edit(fake, workspace):
    uri = (workspace / "greet.py").as_uri()
    fixed = SOURCE.replace("nme", "name").replace("reslt", "result")
    scope = fixed[fixed.index("class Greeter") :].rstrip("\n")
    fake.script(Reply(text=f"```python\n{scope}\n```"))
    async with running_server(server_env(fake.base_url, "gpt-4o-mini")) as client:
        use_code_action_hook(client)
        open_document(client, uri, SOURCE)
        actions = await list_for(client, uri, NME.range, [NME, RESLT])
        resolved = await client.code_action_resolve_async(by_title(actions, "Fix all"))
        [(version, edits)] = text_edits(resolved.edit)
        assert version == 1
        assert sorted(e.range.start.line for e in edits) == [5, 13]


async def test_stale_edit_is_refused_when_the_user_types_while_the_model_answers(fake, workspace):
    uri = (workspace / "greet.py").as_uri()
    fake.script(Reply(text=f"```python\n{GREET_FIXED}\n```", latency=1.0))
    async with running_server(server_env(fake.base_url, "gpt-4o-mini")) as client:
        use_code_action_hook(client)
        open_document(client, uri, SOURCE)
        actions = await list_for(client, uri, NME.range, [NME])
        pending = asyncio.ensure_future(client.code_action_resolve_async(actions[0]))
        await asyncio.to_thread(fake.wait_for_requests, 1)
        insert(client, uri, 2, 1, 0, "# typing\n")
        with pytest.raises(JsonRpcException) as raised:
            await pending
        assert raised.value.code == -32801
        # The listing of an older version is refused at once, without asking the model.
        with pytest.raises(JsonRpcException) as again:
            await client.code_action_resolve_async(actions[0])
        assert again.value.code == -32801
        assert len(fake.requests) == 1


BAD_ANSWERS = [
    (Reply(text=f"```python\n{GREET_FIXED}", finish_reason="length"), "cut short"),
    (Reply(text="The bug is the name nme; rename it to name."), "no code block"),
    (Reply(text=f"```python\n{GREET_FIXED}\n```\nor\n```python\n{GREET_FIXED}\n```"), "2 code blocks"),
    (Reply(text="```python\ndef greet(self, name:\n    return (\n```"), "does not parse"),
    (Reply(chunks=["```python\n", "x = 1\n" * 40_000, "```"]), "too large"),
]


async def test_bad_answers_give_a_clear_message_and_no_edit(fake, workspace):
    uri = (workspace / "greet.py").as_uri()
    fake.script(*(reply for reply, _ in BAD_ANSWERS))
    async with running_server(server_env(fake.base_url, "gpt-4o-mini")) as client:
        use_code_action_hook(client)
        open_document(client, uri, SOURCE)
        actions = await list_for(client, uri, NME.range, [NME])
        for _, expected in BAD_ANSWERS:
            with pytest.raises(JsonRpcException) as raised:
                await client.code_action_resolve_async(actions[0])
            assert expected in raised.value.message
        await asyncio.sleep(0.1)
        for _, expected in BAD_ANSWERS:
            assert any(expected in m.message for m in client.messages), expected
        assert client.applied_edits == []
        assert len(fake.requests) == len(BAD_ANSWERS)


async def test_offline_engine_explains_how_to_configure_a_model(workspace):
    uri = (workspace / "greet.py").as_uri()
    async with running_server(server_env()) as client:
        use_code_action_hook(client)
        open_document(client, uri, SOURCE)
        actions = await list_for(client, uri, NME.range, [NME])
        with pytest.raises(JsonRpcException) as raised:
            await client.code_action_resolve_async(actions[0])
        assert "OPENAI_BASE_URL" in raised.value.message and "LLM_LSP_MODEL" in raised.value.message


async def test_refactor_command_applies_a_versioned_edit_with_progress(fake, workspace):
    uri = (workspace / "greet.py").as_uri()
    new_total = "def total(items):\n    return sum(items)"
    fake.script(Reply(text=f"```python\n{new_total}\n```"))
    async with running_server(server_env(fake.base_url, "gpt-4o-mini")) as client:
        open_document(client, uri, SOURCE, version=7)
        message = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(
                command="llm-lsp.refactor",
                arguments=[{"uri": uri, "position": {"line": 11, "character": 4}, "instruction": "use sum"}],
            )
        )
        assert "refactor" in message
        [params] = client.applied_edits
        [(version, edits)] = text_edits(params.edit)
        assert version == 7
        assert all(9 <= e.range.start.line <= 13 for e in edits)
        assert "use sum" in fake.requests[-1].body_json["messages"][0]["content"]
        kinds = [report.kind for reports in client.progress_reports.values() for report in reports]
        assert kinds[0] == "begin" and kinds[-1] == "end"


async def test_explain_opens_a_markdown_file_under_the_cache_directory(fake, workspace, tmp_path_factory):
    uri = (workspace / "greet.py").as_uri()
    cache = tmp_path_factory.mktemp("cache")
    fake.script(Reply(text="## What it does\n\nGreets someone by **name**."))
    async with running_server(server_env(fake.base_url, "gpt-4o-mini", XDG_CACHE_HOME=str(cache))) as client:
        open_document(client, uri, SOURCE)
        await client.workspace_execute_command_async(
            types.ExecuteCommandParams(
                command="llm-lsp.explain", arguments=[{"uri": uri, "position": {"line": 5, "character": 8}}]
            )
        )
        # The harness's client cannot open documents: the explanation comes as a message instead.
        assert client.shown_documents == []
        await asyncio.sleep(0.1)
        assert any("Greets someone by **name**." in m.message for m in client.messages)
        [path] = (cache / "llm-lsp" / "explain").iterdir()
        assert path.suffix == ".md" and "Greets someone by **name**." in path.read_text()
        assert client.applied_edits == []


async def test_generate_tests_creates_a_pytest_file_in_the_project_convention(fake, workspace):
    uri = (workspace / "greet.py").as_uri()
    fake.script(
        Reply(
            text="```python\nfrom greet import total\n\n\ndef test_total():\n    assert total([1]) == 1\n```"
        )
    )
    async with running_server(server_env(fake.base_url, "gpt-4o-mini")) as client:
        open_document(client, uri, SOURCE)
        await client.workspace_execute_command_async(
            types.ExecuteCommandParams(
                command="llm-lsp.tests", arguments=[{"uri": uri, "position": {"line": 10, "character": 4}}]
            )
        )
        [params] = client.applied_edits
        create, change = params.edit.document_changes
        target = (workspace / "tests" / "test_greet.py").as_uri()
        assert isinstance(create, types.CreateFile) and create.uri == target
        assert change.text_document.uri == target and change.text_document.version is None
        assert change.edits[0].new_text.startswith("from greet import total")


async def test_bad_input_gives_clear_errors_and_no_crash(fake, workspace):
    uri = (workspace / "greet.py").as_uri()
    notes = "file:///tmp/notes.txt"
    fake.script(Reply(text="```\nfirst line fixed\nsecond line\n```"))
    async with running_server(server_env(fake.base_url, "gpt-4o-mini")) as client:
        use_code_action_hook(client)
        open_document(client, uri, SOURCE)
        open_document(client, notes, "intro\n\nfirst lne\nsecond line\n\nlast\n", language_id="plaintext")
        beyond = types.Range(
            start=types.Position(line=99, character=0), end=types.Position(line=120, character=0)
        )
        with pytest.raises(JsonRpcException) as raised:
            await client.workspace_execute_command_async(
                types.ExecuteCommandParams(
                    command="llm-lsp.simplify", arguments=[{"uri": uri, "range": beyond}]
                )
            )
        assert "past the end of the file" in raised.value.message
        with pytest.raises(JsonRpcException) as raised:  # an empty selection on a blank line
            await client.workspace_execute_command_async(
                types.ExecuteCommandParams(
                    command="llm-lsp.fix", arguments=[{"uri": uri, "range": cursor(1)}]
                )
            )
        assert "nothing to work on" in raised.value.message
        with pytest.raises(JsonRpcException) as raised:
            await client.workspace_execute_command_async(
                types.ExecuteCommandParams(command="llm-lsp.refactor", arguments=[{"uri": uri}])
            )
        assert "instruction" in raised.value.message
        assert fake.requests == []
        # No grammar: the cursor's paragraph is the scope.
        await client.workspace_execute_command_async(
            types.ExecuteCommandParams(
                command="llm-lsp.fix", arguments=[{"uri": notes, "range": cursor(2, 3)}]
            )
        )
        [params] = client.applied_edits
        [(version, edits)] = text_edits(params.edit)
        assert [(e.range.start.line, e.new_text) for e in edits] == [(2, "ine fixed")]
        assert "second line" in fake.requests[-1].body_json["messages"][1]["content"]
        # The server is still healthy.
        assert await list_for(client, uri, cursor(5))
