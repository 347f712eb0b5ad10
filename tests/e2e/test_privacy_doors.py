"""Every door to the model refuses excluded files, and a workspace cannot loosen the user's privacy.

Doors: the CLI (``complete``, ``fix``, ``refactor``), every ``llm-lsp.*`` command, code action resolve
and inline completion, all against a fake model that records every request.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI, Reply
from harness import inline_params, open_document, running_server, server_env
from lsprotocol import types
from pygls.exceptions import JsonRpcException

CLI = [sys.executable, "-m", "lsp_server"]
ANSWER = "```python\ndef token():\n    return 'fixed'\n```"
AI_COMMANDS = ("fix", "explain", "document", "tests", "simplify", "annotate", "refactor")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".gitignore").write_text("secret_dir/\n")
    (tmp_path / "secret_dir").mkdir()
    (tmp_path / "secret_dir" / "creds.py").write_text("def token():\n    return 'hunter2' +\n")
    (tmp_path / ".env").write_text("API_TOKEN=abc\n")
    (tmp_path / "app.py").write_text(
        "def area(w, h):\n    return w * h\n\n\ndef perimeter(w, h):\n    return \n"
    )
    return tmp_path


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(CLI + args, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("name, rule", [("secret_dir/creds.py", ".gitignore"), (".env", "denylist")])
@pytest.mark.parametrize("command", ["complete", "fix", "refactor"])
def test_the_cli_refuses_excluded_files_and_names_the_rule(project: Path, name: str, rule: str, command: str):
    target = project / name
    location = {"complete": f"{target}:1:3", "fix": f"{target}:1", "refactor": f"{target}:1"}[command]
    args = [command, location] + {"complete": [], "fix": ["--write"], "refactor": ["use pathlib", "--write"]}[
        command
    ]
    before = target.read_text()
    with FakeOpenAI(default=Reply(text=ANSWER)) as fake:
        result = run(args, server_env(fake.base_url, "gpt-4o-mini"))
    assert result.returncode != 0
    assert "excluded by the privacy rules" in result.stderr and rule in result.stderr
    assert fake.requests == []
    assert target.read_text() == before


async def test_every_command_and_code_action_refuses_an_excluded_file(project: Path):
    uri = (project / "secret_dir" / "creds.py").as_uri()
    text = (project / "secret_dir" / "creds.py").read_text()
    with FakeOpenAI(default=Reply(text=ANSWER)) as fake:
        async with running_server(server_env(fake.base_url, "gpt-4o-mini"), root=project) as client:
            open_document(client, uri, text)
            for command in AI_COMMANDS:
                argument = {"uri": uri, "position": {"line": 1, "character": 4}, "instruction": "x"}
                with pytest.raises(JsonRpcException, match="excluded by the privacy rules"):
                    await client.workspace_execute_command_async(
                        types.ExecuteCommandParams(command=f"llm-lsp.{command}", arguments=[argument])
                    )
            # A client may send a resolve for data it made up: the listing refused, resolve must too.
            forged = types.CodeAction(
                title="Fix with AI",
                data={"uri": uri, "version": 1, "range": [[1, 0], [1, 20]], "action": "fix"},
            )
            with pytest.raises(JsonRpcException, match="excluded by the privacy rules"):
                await client.code_action_resolve_async(forged)
            result = await client.text_document_inline_completion_async(inline_params(uri, 1, 22))
            assert result.items == ()
    assert fake.requests == []
    assert client.applied_edits == []


async def test_a_workspace_cannot_empty_the_users_exclude_list_or_turn_on_prompt_logging(project: Path):
    log_file = project.parent / f"{project.name}-server.log"
    (project / "notes.py").write_text("def shout(word):\n    return word.upper()\n")
    with FakeOpenAI(default=Reply(text="word.lower()")) as fake:
        env = server_env(fake.base_url, "gpt-4o-mini")  # the chat prompt names the file
        user_config = Path(env["XDG_CONFIG_HOME"]) / "llm-lsp" / "config.toml"
        user_config.parent.mkdir(parents=True)
        user_config.write_text('[privacy]\nexclude = ["notes.py"]\n')
        hostile = {"privacy": {"exclude": []}, "logPrompts": True}
        args = ["--log-file", str(log_file), "--log-level", "debug"]
        async with running_server(env, root=project, configuration=hostile, server_args=args) as client:
            notes = (project / "notes.py").as_uri()
            open_document(client, notes, (project / "notes.py").read_text())
            refused = await client.text_document_inline_completion_async(inline_params(notes, 1, 11))
            app = (project / "app.py").as_uri()
            open_document(client, app, (project / "app.py").read_text())
            served = await client.text_document_inline_completion_async(inline_params(app, 5, 11))
    assert refused.items == ()
    assert [item.insert_text for item in served.items] == ["word.lower()"]
    assert len(fake.requests) == 1
    sent = json.dumps(fake.requests[0].body_json)
    assert "def shout" not in sent
    assert str(project) not in sent  # paths in prompts are workspace-relative
    assert "File: app.py" in sent
    log = log_file.read_text()
    assert "def area" not in log, "prompt text reached the log through a workspace setting"
    assert "logPrompts" in log  # the refusal is reported


def test_the_cli_falls_back_to_the_offline_engine_while_the_model_is_down(tmp_path: Path):
    (tmp_path / ".git").mkdir()
    path = tmp_path / "loader.py"
    path.write_text(
        "import json\n\n\ndef load(path):\n    with open(path) as handle:\n"
        "        return json.load(handle)\n\n\n"
        "def load_many(paths):\n    with open(paths[0]) as handle:\n        return json.\n"
    )
    result = run(["complete", f"{path}:11:21"], server_env("http://127.0.0.1:9/v1", "starcoder2"))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "load(handle)\n"
    assert "offline engine" in result.stderr
