"""VS Code end to end: the packaged extension in code-server, driven by headless Chromium.

Runs editor-clients/vscode/test/run-e2e.sh once per session (about 50 s once code-server is
installed; the first run installs it, about a minute more) and reports each of its checks as one test:
ghost text while typing with no explicit request, ghost text on request, Tab accepting it, a multi-line
block keeping its indentation, a suggestion inside auto-closed brackets, the "Fix with AI" quick fix
equal to the model's answer, and the status bar (model name, then offline). The script exits 77 when
a prerequisite (Chromium, ripgrep, Node 20, npm) is missing: the tests then skip with its reason.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from .conftest import REPO, unavailable, venv_tool

SCRIPT = REPO / "editor-clients" / "vscode" / "test" / "run-e2e.sh"
MISSING_PREREQUISITE = 77


@pytest.fixture(scope="module")
def vscode_run() -> dict:
    """The checks of one run-e2e.sh run: name -> {"ok", "detail", ...}."""
    exe = venv_tool("llm-lsp")
    if not exe:
        pytest.skip("llm-lsp command not installed (pip install -e .)")
    work = Path(tempfile.mkdtemp(prefix="vscode-e2e-"))
    result = work / "result.json"
    env = dict(os.environ, LLM_LSP=exe, LLM_LSP_E2E_RESULT=str(result))
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "LLM_LSP_MODEL"):
        env.pop(name, None)
    proc = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=900)
    if proc.returncode == MISSING_PREREQUISITE:
        reason = [line for line in proc.stderr.splitlines() if "SKIP:" in line]
        unavailable("vscode", reason[-1].split("SKIP: ", 1)[1] if reason else proc.stderr[-300:])
    if not result.exists():
        pytest.fail(f"run-e2e.sh recorded no check (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    checks = json.loads(result.read_text())["checks"]
    checks["_log"] = proc.stderr[-6000:]
    return checks


def verdict(checks: dict, name: str) -> dict:
    if name not in checks:
        pytest.fail(f"check {name} did not run:\n{checks['_log']}")
    return checks[name]


@pytest.mark.parametrize(
    "name",
    [
        "status_model",
        "ghost_automatic",
        "ghost_explicit",
        "accept_tab",
        "multiline_indent",
        "partial_accept",
        "cycle",
        "stats",
        "quick_fix",
        "next_edit",
        "status_offline",
    ],
)
def test_vscode(vscode_run, name):
    check = verdict(vscode_run, name)
    assert check["ok"], f"{name}: {check['detail']}\n{vscode_run['_log']}"


def test_vscode_closer_inside_auto_closed_brackets(vscode_run):
    """Typing ``def fib(`` auto-closes to ``def fib()``; the model answers ``n):`` and the body.

    Accepting must give the whole function with one ``)``: the inline item's ``range`` covers the
    ``)`` already there and VS Code replaces it. A doubled ``)``, or a suggestion cut before the closer
    (``def fib(n)``, what a server without that range sends), fails.
    """
    check = verdict(vscode_run, "closer_range")
    assert check["ok"], f"{check['detail']}\n{vscode_run['_log']}"
