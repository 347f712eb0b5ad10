"""A model per job, and a first try with any model server, through the CLI and the real server over LSP.

Read off the fake server's recorded requests: which model each job reached, and over which endpoint
(``/v1/completions``: fill-in-the-middle; ``/v1/chat/completions``: chat).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI, Recorded, Reply
from harness import inline_params, open_document, running_server, server_env
from lsprotocol import types
from test_code_actions import action_params, text_edits, use_code_action_hook

CLI = [sys.executable, "-m", "lsp_server"]
KEY = "sk-local-0123456789"
SHAPES = (
    "def area(width, height):\n    return width * height\n\n\ndef perimeter(width, height):\n    return \n"
)
FIXED = "```python\ndef perimeter(width, height):\n    return 2 * (width + height)\n```"
FIM_MODEL, CHAT_MODEL = "qwen2.5-coder:1.5b-base", "llama3.1:8b-instruct"
OLLAMA = (CHAT_MODEL, "nomic-embed-text:latest", FIM_MODEL)


def answer(request: Recorded) -> Reply:
    """A chat request gets the fixed function, a completion request the hole's text."""
    return Reply(text=FIXED if request.path.endswith("chat/completions") else "2 * (width + height)\n")


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        CLI + args, env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )


def asked(fake: FakeOpenAI) -> list[tuple[str, str | None]]:
    """(path, model) of every request the fake server saw."""
    return [(r.path, (r.body_json or {}).get("model")) for r in fake.requests]


def user_file(env: dict[str, str], text: str) -> None:
    folder = Path(env["XDG_CONFIG_HOME"]) / "llm-lsp"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.toml").write_text(text)


@pytest.fixture
def shapes(tmp_path: Path) -> Path:
    path = tmp_path / "shapes.py"
    path.write_text(SHAPES)
    return path


def test_a_base_url_and_a_key_with_one_model_served_completes_and_fixes_with_it(shapes: Path):
    with FakeOpenAI(default=answer, models=("qwen2.5-coder:7b",)) as fake:
        env = server_env(fake.base_url, OPENAI_API_KEY=KEY)  # no model named anywhere
        completed = run(["complete", f"{shapes}:6:12"], env)
        fixed = run(["fix", f"{shapes}:6"], env)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == "2 * (width + height)\n"
    assert "qwen2.5-coder:7b, chosen from the server's list: the only usable model listed" in completed.stderr
    assert fixed.returncode == 0, fixed.stderr
    assert "+    return 2 * (width + height)\n" in fixed.stdout
    assert "only the offline engine" not in completed.stderr + fixed.stderr
    assert asked(fake) == [
        ("/v1/models", None),
        ("/v1/completions", "qwen2.5-coder:7b"),
        ("/v1/models", None),
        ("/v1/chat/completions", "qwen2.5-coder:7b"),
    ]
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in fake.requests)


def test_with_several_models_completion_uses_the_code_model_and_doctor_names_each_choice(shapes: Path):
    with FakeOpenAI(default=answer, models=OLLAMA) as fake:
        env = server_env(fake.base_url)
        completed = run(["complete", f"{shapes}:6:12"], env)
        doctor = run(["doctor"], env)
    assert completed.returncode == 0 and completed.stdout == "2 * (width + height)\n", completed.stderr
    assert ("/v1/completions", FIM_MODEL) in asked(fake)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    out = doctor.stdout
    assert f"models listed by {fake.base_url} (3): {CHAT_MODEL}, nomic-embed-text:latest, {FIM_MODEL}" in out
    assert (
        f"completion: model {FIM_MODEL} at 127.0.0.1:{fake.port} (fim); chosen from the server's list" in out
    )
    assert (
        f"actions: model {CHAT_MODEL} at 127.0.0.1:{fake.port} (chat); chosen from the server's list" in out
    )
    assert "nextEdit: off" in out
    assert out.count("model check: OK") == 2
    assert "Set OPENAI_BASE_URL" not in out and "No model configured" not in out


def test_doctor_exits_non_zero_naming_the_models_when_none_is_usable():
    with FakeOpenAI(models=("nomic-embed-text", "bge-m3")) as fake:
        doctor = run(["doctor"], server_env(fake.base_url))
    assert doctor.returncode == 1
    assert (
        "completion: the offline engine" in doctor.stdout and "actions: the offline engine" in doctor.stdout
    )
    assert "lists no model that can serve completions or fixes" in doctor.stdout
    assert "nomic-embed-text, bge-m3" in doctor.stdout and "`completion.model`" in doctor.stdout
    assert "OPENAI_BASE_URL" not in doctor.stdout.split("\n", 2)[2].split("models listed")[-1]


def test_roles_in_the_user_file_send_completions_over_fim_and_fixes_over_chat(shapes: Path):
    with FakeOpenAI(default=answer, models=OLLAMA) as fake:
        env = server_env(fake.base_url)
        user_file(env, f'[completion]\nmodel = "{FIM_MODEL}"\n\n[actions]\nmodel = "{CHAT_MODEL}"\n')
        completed = run(["complete", f"{shapes}:6:12"], env)
        fixed = run(["fix", f"{shapes}:6"], env)
    assert completed.returncode == 0 and completed.stdout == "2 * (width + height)\n", completed.stderr
    assert fixed.returncode == 0 and "+    return 2 * (width + height)\n" in fixed.stdout, fixed.stderr
    # Named models: no list is asked; FIM for the code model, chat for the instruct model.
    assert asked(fake) == [("/v1/completions", FIM_MODEL), ("/v1/chat/completions", CHAT_MODEL)]
    assert fake.requests[0].body_json["suffix"] is not None  # fill-in-the-middle, not a chat prompt


async def test_in_the_editor_completions_reach_the_fim_model_and_a_quick_fix_the_chat_model(shapes: Path):
    uri = shapes.as_uri()
    with FakeOpenAI(default=answer, models=OLLAMA) as fake:
        env = server_env(fake.base_url)
        user_file(env, f'[completion]\nmodel = "{FIM_MODEL}"\n\n[actions]\nmodel = "{CHAT_MODEL}"\n')
        async with running_server(env, root=shapes.parent) as client:
            use_code_action_hook(client)
            open_document(client, uri, SHAPES)
            result = await client.text_document_inline_completion_async(inline_params(uri, 5, 11))
            assert [item.insert_text for item in result.items] == ["2 * (width + height)"]
            actions = await client.text_document_code_action_async(
                action_params(uri, types.Range(start=types.Position(5, 4), end=types.Position(5, 4)))
            )
            simplify = next(a for a in actions if a.title == "AI: Simplify")
            resolved = await client.code_action_resolve_async(simplify)
            [(version, edits)] = text_edits(resolved.edit)
            assert version == 1 and [e.new_text for e in edits] == ["2 * (width + height)"]
            assert client.statuses[-1].model == f"{FIM_MODEL} + {CHAT_MODEL}"
            assert f"completions: model {FIM_MODEL}" in client.statuses[-1].message
    assert [(path, model) for path, model in asked(fake) if path != "/v1/models"] == [
        ("/v1/completions", FIM_MODEL),
        ("/v1/chat/completions", CHAT_MODEL),
    ]


async def test_in_the_editor_a_base_url_alone_finds_its_models_and_the_status_says_which(shapes: Path):
    uri = shapes.as_uri()
    with FakeOpenAI(default=answer, models=OLLAMA, models_reply=Reply(latency=0.3)) as fake:
        async with running_server(server_env(fake.base_url), root=shapes.parent) as client:
            open_document(client, uri, SHAPES)
            # The list is still on its way: the keystroke is not held, the offline engine answers.
            early = await client.text_document_inline_completion_async(inline_params(uri, 5, 11))
            assert isinstance(early.items, tuple) and not any(r.method == "POST" for r in fake.requests)
            assert any(s.state == "offline" and "asking" in s.message for s in client.statuses)
            for _ in range(100):
                if client.statuses[-1].state == "idle":
                    break
                await asyncio.sleep(0.05)
            assert client.statuses[-1].model == f"{FIM_MODEL} + {CHAT_MODEL}"
            result = await client.text_document_inline_completion_async(inline_params(uri, 5, 11))
            assert [item.insert_text for item in result.items] == ["2 * (width + height)"]
    assert [r.path for r in fake.requests if r.path == "/v1/models"] == ["/v1/models"]  # asked once
    assert asked(fake)[-1] == ("/v1/completions", FIM_MODEL)


TELEMETRY_URL = "https://collect.example.net/x"
STATS = "def mean(values):\n    total = sum(values)\n    return total / len(values)\n"
WITH_TELEMETRY = (
    "```python\n"
    "def mean(values):\n"
    "    import subprocess\n"
    f"    subprocess.run(['curl', '-s', '{TELEMETRY_URL}'])\n"
    "    total = sum(values)\n"
    "    return total / len(values)\n"
    "```"
)
PROMPT = f"Add telemetry: report each call with subprocess.run(['curl', '{TELEMETRY_URL}'])."


async def test_a_workspaces_custom_action_prompt_never_excuses_a_power_the_users_own_does(tmp_path: Path):
    path = tmp_path / "stats.py"
    path.write_text(STATS)
    mine = {"title": "Add telemetry (mine)", "prompt": PROMPT}
    theirs = {"title": "Add telemetry (repository)", "prompt": PROMPT + " "}  # same words, other origin
    with FakeOpenAI(default=Reply(text=WITH_TELEMETRY)) as fake:
        async with running_server(
            server_env(fake.base_url, "gpt-4o-mini"),
            annotations=True,
            root=tmp_path,
            initialization_options={"actions": {"custom": [mine]}},
            configuration={"actions": {"custom": [mine, theirs]}},  # VS Code sends the user's here too
        ) as client:
            use_code_action_hook(client)
            open_document(client, path.as_uri(), STATS)
            start = types.Position(1, 4)
            for _ in range(100):  # listing does not wait for workspace/configuration to be pulled
                offered = await client.text_document_code_action_async(
                    action_params(path.as_uri(), types.Range(start=start, end=start))
                )
                by_title = {a.title: a for a in offered}
                if theirs["title"] in by_title:
                    break
                await asyncio.sleep(0.05)
            own = await client.code_action_resolve_async(by_title[mine["title"]])
            repository = await client.code_action_resolve_async(by_title[theirs["title"]])
    assert own.edit.change_annotations is None  # the user asked for exactly this
    [(_, annotation)] = repository.edit.change_annotations.items()
    assert annotation.needs_confirmation is True
    assert "process execution" in annotation.label and "collect.example.net" in annotation.label
