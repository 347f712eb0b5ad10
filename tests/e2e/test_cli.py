"""The ``llm-lsp`` command line: complete, doctor, fix, and the serve flags editors pass."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI, Reply
from harness import SERVER, capabilities, server_env
from lsprotocol import types
from pytest_lsp import ClientServerConfig

CLI = [sys.executable, "-m", "lsp_server"]


def run(args: list[str], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(CLI + args, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def module(tmp_path: Path) -> Path:
    path = tmp_path / "shapes.py"
    path.write_text(
        "def area(width, height):\n    return width * height\n\n\n"
        "def perimeter(width, height):\n    return \n"
    )
    return path


def test_complete_with_a_model_prints_only_the_suggestion_on_stdout(module: Path):
    with FakeOpenAI(default=Reply(text="2 * (width + height)\n")) as fake:
        result = run(["complete", f"{module}:6:12"], server_env(fake.base_url, "starcoder2"))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "2 * (width + height)\n"
    assert "suggestion" in result.stderr  # progress goes to stderr
    body = fake.requests[-1].body_json
    assert body["prompt"].endswith("    return ")


def test_complete_works_with_nothing_configured(tmp_path: Path):
    path = tmp_path / "config_loader.py"
    path.write_text(
        "import json\n\n\ndef load(path):\n    with open(path) as handle:\n"
        "        return json.load(handle)\n\n\n"
        "def load_many(paths):\n    with open(paths[0]) as handle:\n        return json.\n"
    )
    result = run(["complete", f"{path}:11:21"], server_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout == "load(handle)\n"
    assert "offline engine" in result.stderr


def test_complete_rejects_a_bad_location_readably(module: Path):
    result = run(["complete", f"{module}:zero:1"], server_env())
    assert result.returncode != 0
    assert "FILE:LINE:COL" in result.stderr
    missing = run(["complete", f"{module.parent / 'nope.py'}:1:1"], server_env())
    assert missing.returncode != 0 and "cannot read" in missing.stderr


def test_doctor_masks_the_key_and_checks_the_model():
    key = "sk-test-doctor-" + "1234567890abcd"
    with FakeOpenAI(models=("starcoder2",)) as fake:
        result = run(["doctor"], server_env(fake.base_url, "starcoder2", OPENAI_API_KEY=key))
    assert result.returncode == 0, result.stdout + result.stderr
    assert key not in result.stdout + result.stderr
    assert "abcd" in result.stdout
    assert "model check:" in result.stdout


def test_doctor_says_plainly_when_the_model_is_unreachable():
    result = run(["doctor"], server_env("http://127.0.0.1:9/v1", "starcoder2"), timeout=60)
    assert result.returncode == 1
    assert "FAILED" in result.stdout


def test_doctor_without_a_model_explains_the_offline_engine():
    result = run(["doctor"], server_env())
    assert result.returncode == 0
    assert "not an LLM" in result.stdout and "OPENAI_BASE_URL" in result.stdout


def test_fix_prints_a_unified_diff_and_writes_only_when_asked(module: Path):
    answer = "```python\ndef perimeter(width, height):\n    return 2 * (width + height)\n```"
    with FakeOpenAI(default=Reply(text=answer)) as fake:
        env = server_env(fake.base_url, "gpt-4o-mini")
        shown = run(["fix", f"{module}:6"], env)
        assert shown.returncode == 0, shown.stderr
        assert "-    return \n" in shown.stdout and "+    return 2 * (width + height)\n" in shown.stdout
        assert "return 2 *" not in module.read_text()
        written = run(["fix", f"{module}:6", "--write"], env)
    assert written.returncode == 0, written.stderr
    assert "    return 2 * (width + height)\n" in module.read_text()


async def test_serve_accepts_stdio_and_log_flags(tmp_path: Path):
    log_file = tmp_path / "server.log"
    command = SERVER + ["--stdio", "--log-file", str(log_file), "--log-level", "debug"]
    client = await ClientServerConfig(server_command=command, server_env=server_env()).start()
    try:
        result = await client.initialize_session(types.InitializeParams(capabilities=capabilities()))
        assert result.server_info.name == "llm-lsp"
        await client.shutdown_session()
    finally:
        await client.stop()
    assert log_file.read_text().strip(), "the log file stays empty"
