"""Shared fixtures for the real-editor tests: the llm-lsp command and a fake OpenAI server.

Each test skips with a reason when its editor, the server command or tests/fake_openai.py is
missing, so the default pytest run stays green on machines without editors. CI installs the editors
and names them in LLM_LSP_REQUIRE_EDITORS (e.g. "nvim emacs lsp-mode vscode"): a named editor that is
missing then fails its tests instead of skipping them, so a broken install cannot pass silently.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FAKE_OPENAI = REPO / "tests" / "fake_openai.py"


def venv_tool(name: str) -> str | None:
    """A tool from PATH or from the directory of the running Python (the virtualenv)."""
    found = shutil.which(name)
    if found:
        return found
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else None


def unavailable(editor: str, reason: str) -> None:
    """Skip for a missing editor, or fail when LLM_LSP_REQUIRE_EDITORS names it."""
    if editor in os.environ.get("LLM_LSP_REQUIRE_EDITORS", "").split():
        pytest.fail(f"{editor} is required here (LLM_LSP_REQUIRE_EDITORS) but unavailable: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def llm_lsp_cmd() -> list[str]:
    """The server command, overridable with LLM_LSP_TEST_CMD (a shell-style string)."""
    override = os.environ.get("LLM_LSP_TEST_CMD")
    if override:
        import shlex

        return shlex.split(override)
    exe = venv_tool("llm-lsp")
    if not exe:
        pytest.skip("llm-lsp command not installed (pip install -e .)")
    probe = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip(f"llm-lsp --help fails, server not usable yet: {probe.stderr.strip()[-200:]}")
    return [exe]


class FakeServerProcess:
    """A fake model server script run as a subprocess; ready once it writes its port file."""

    def __init__(self, script: Path, args: list[str], label: str):
        if not FAKE_OPENAI.exists():
            pytest.skip("tests/fake_openai.py not there yet")
        self._dir = tempfile.mkdtemp(prefix="fake-model-")
        port_file = Path(self._dir) / "port"
        command = [sys.executable, str(script), "--port-file", str(port_file), *args]
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 15
        self.base_url = ""
        while time.monotonic() < deadline:
            if port_file.exists() and port_file.read_text().strip():
                self.base_url = f"http://127.0.0.1:{port_file.read_text().strip()}/v1"
                break
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        if not self.base_url:
            self.stop()
            err = self.proc.stderr.read() if self.proc.stderr else ""
            pytest.fail(f"{label} did not start: {err[-500:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self._dir, ignore_errors=True)


class FakeOpenAI(FakeServerProcess):
    """tests/fake_openai.py running on 127.0.0.1 with one scripted reply."""

    def __init__(self, reply: str, latency: float = 0.0):
        args = ["--port", "0", "--reply", reply]
        if latency:
            args += ["--latency", str(latency)]
        super().__init__(FAKE_OPENAI, args, "fake OpenAI server")


@pytest.fixture
def fake_openai():
    """Factory: fake_openai(reply) -> FakeOpenAI, stopped after the test."""
    servers: list[FakeOpenAI] = []

    def start(reply: str, latency: float = 0.0) -> FakeOpenAI:
        server = FakeOpenAI(reply, latency)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def model_env(base_url: str, model: str) -> dict[str, str]:
    """Environment for the server: the fake model, no real key, no user config file."""
    env = dict(os.environ)
    env.update(
        {
            "OPENAI_BASE_URL": base_url,
            "OPENAI_API_KEY": "test-key",
            "LLM_LSP_MODEL": model,
            "XDG_CONFIG_HOME": tempfile.mkdtemp(prefix="llm-lsp-xdg-"),
            # The server's acceptance figures go here, never into the real ~/.local/state.
            "XDG_STATE_HOME": tempfile.mkdtemp(prefix="llm-lsp-state-"),
        }
    )
    return env


class FakeModel(FakeServerProcess):
    """tests/editors/fake_model.py: answers by what the prompt contains (marker -> answer)."""

    def __init__(self, table: dict[str, str | list[str]], fallback: str):
        import json

        script = Path(__file__).parent / "fake_model.py"
        self.log = Path(tempfile.mkdtemp(prefix="fake-model-log-")) / "requests.jsonl"
        args = ["--table", json.dumps(table), "--fallback", fallback, "--log", str(self.log)]
        super().__init__(script, args, "fake model")

    def calls(self) -> int:
        """Completion requests the model answered so far."""
        return len(self.log.read_text().splitlines()) if self.log.exists() else 0


@pytest.fixture
def fake_model():
    """Factory: fake_model(table, fallback) -> FakeModel, stopped after the test."""
    models: list[FakeModel] = []

    def start(table: dict[str, str | list[str]], fallback: str = "") -> FakeModel:
        model = FakeModel(table, fallback)
        models.append(model)
        return model

    yield start
    for model in models:
        model.stop()
