"""Emacs end to end: the Eglot and lsp-mode configurations in a real ``emacs --batch``.

editor-clients/emacs/llm-lsp-eglot.el with Debian's Eglot, against the real llm-lsp command and a
fake OpenAI server: attach, the completion item and the inline completion at a cursor, and a "Fix
with AI" quick fix applied to the buffer; lsp-mode likewise; and in both, the ghost text of
llm-lsp-inline.el: a word, a line and the rest of a multi-line suggestion accepted with its keys,
alternatives cycled, the model asked no more than needed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from .conftest import REPO, model_env, unavailable

CLIENT_DIR = REPO / "editor-clients" / "emacs"
DRIVER = Path(__file__).parent / "emacs" / "driver.el"
FIX = "```python\ndef add(a, b):\n    return a + b\n```"


@pytest.fixture(scope="module")
def emacs() -> str:
    exe = shutil.which("emacs")
    if not exe:
        unavailable("emacs", "emacs not installed (apt-get install emacs-nox elpa-eglot)")
    probe = subprocess.run(
        [exe, "--batch", "-q", "--eval", "(progn (require 'eglot) (princ (featurep 'eglot)))"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if probe.returncode != 0:
        reason = f"Eglot not available (apt-get install elpa-eglot): {probe.stderr.strip()[-200:]}"
        unavailable("emacs", reason)
    return exe


def run_driver(
    emacs: str,
    driver: Path,
    llm_lsp_cmd: list[str],
    base_url: str,
    prefix: str,
    text: str = "def add(a, b):\n    return \n",
    **extra: str,
) -> dict:
    """Run one Emacs batch driver on a fresh folder with a half-written and a broken file; its result."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    source = work / "example.py"
    source.write_text(text)
    broken = work / "broken.py"
    broken.write_text("def add(a, b):\n    return a +\n")
    out = work / "result.json"
    env = model_env(base_url, "starcoder2")
    env.update(
        {
            "LLM_LSP_CMD_JSON": json.dumps(llm_lsp_cmd),
            "LLM_LSP_TEST_OUT": str(out),
            "LLM_LSP_TEST_FILE": str(source),
            "LLM_LSP_TEST_FIX_FILE": str(broken),
            "LLM_LSP_TEST_DIAGNOSTIC": "SyntaxError: invalid syntax",
            "HOME": str(work),
            **extra,
        }
    )
    proc = subprocess.run(
        [emacs, "--batch", "-q", "-L", str(CLIENT_DIR), "-l", str(driver)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert out.exists(), f"emacs wrote no result (exit {proc.returncode}): {proc.stderr[-2000:]}"
    result = json.loads(out.read_text())
    assert result["ok"] is True, (result.get("error"), proc.stderr[-2000:])
    result["_env"] = env
    return result


def test_eglot_attaches_completes_and_fixes(emacs, llm_lsp_cmd, fake_model):
    model = fake_model({"invalid syntax": FIX}, fallback="a + b")
    result = run_driver(emacs, DRIVER, llm_lsp_cmd, model.base_url, "emacs-e2e-")
    assert result["attached"] is True
    assert result["inlineCompletionProvider"] is True
    # Eglot declares no inline completion, so the suggestion comes as a completion item too.
    assert any("a + b" in item for item in result["completion_items"]), result["completion_items"]
    assert any(item.startswith("a + b") for item in result["inline_items"]), result["inline_items"]
    if "fix_skipped" in result:
        pytest.skip(result["fix_skipped"])
    assert any(t.startswith("Fix with AI") for t in result["titles"]), result["titles"]
    assert "    return a + b\n" in result["fixed_text"], result["fixed_text"]


LSP_MODE_DRIVER = Path(__file__).parent / "emacs" / "lsp_mode_driver.el"
DOCUMENTED = 'def add(a, b):\n    """Return the sum of a and b."""\n    return a + b'


@pytest.fixture(scope="module")
def lsp_mode(emacs) -> str:
    probe = subprocess.run(
        [emacs, "--batch", "-q", "--eval", "(progn (require 'lsp-mode) (princ (lsp-version)))"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if probe.returncode != 0:
        reason = f"lsp-mode not available (apt-get install elpa-lsp-mode): {probe.stderr.strip()[-200:]}"
        unavailable("lsp-mode", reason)
    return probe.stdout.strip()


def test_lsp_mode_attaches_completes_fixes_and_runs_a_command(emacs, lsp_mode, llm_lsp_cmd, fake_model):
    """lsp-mode (Debian's 8.0): attach, the completion-list item, "Fix with AI" applied, a command run.

    lsp-mode 8.0 has no inline completion (`lsp-inline-completion-mode` came in a later lsp-mode), so it
    declares none and the server puts the suggestion in the completion list instead.
    """
    model = fake_model(
        {"invalid syntax": FIX, "Add documentation using": f"```python\n{DOCUMENTED}\n```"}, fallback="a + b"
    )
    result = run_driver(emacs, LSP_MODE_DRIVER, llm_lsp_cmd, model.base_url, "lsp-mode-e2e-")
    assert result["attached"] is True and result["server_id"] == "llm-lsp", result
    if result["inline_completion_mode"] is False:
        # No inline completion declared: the suggestion is an item of lsp-mode's completion list.
        items = result["completion_items"]
        assert any(item.startswith("a + b") for item in items), items
    assert any(t.startswith("Fix with AI") for t in result["titles"]), result["titles"]
    assert result["fixed_text"] == "def add(a, b):\n    return a + b\n", result["fixed_text"]
    assert result["documented_text"] == DOCUMENTED + "\n", result["documented_text"]


INLINE_DRIVER = Path(__file__).parent / "emacs" / "inline_driver.el"
BLOCK = "total = a + b\n    return total"
GHOST_SOURCE = "def add(a, b):\n   \n\n\ndef mul(a, b):\n    return\n"


@pytest.mark.parametrize("client", ["eglot", "lsp-mode"])
def test_ghost_text_accepts_a_word_a_line_the_rest_and_cycles(emacs, llm_lsp_cmd, fake_model, client):
    """llm-lsp-inline.el under Eglot and under lsp-mode 8.0 (neither has an inline UI of its own).

    M-f then C-e take a word and a line of a multi-line suggestion: the rest is shown at once, still
    0.5 s later, and no inline request goes out (the model is asked once for it); TAB takes the rest.
    M-] asks for alternatives once, M-] M-[ cycle, TAB accepts one. The server heard the events and
    its figures say so.
    """
    if client == "lsp-mode":
        probe = subprocess.run(
            [emacs, "--batch", "-q", "--eval", "(require 'lsp-mode)"], capture_output=True, timeout=60
        )
        if probe.returncode != 0:
            unavailable("lsp-mode", "lsp-mode not available (apt-get install elpa-lsp-mode)")
    # The second marker exists only once the block is accepted: the longest marker found wins.
    alternatives = ["a * b", "b * a", "a.__mul__(b)"]
    model = fake_model({"def add(a, b):": BLOCK, "return total\n\n\ndef mul(a, b):": alternatives})
    result = run_driver(
        emacs,
        INLINE_DRIVER,
        llm_lsp_cmd,
        model.base_url,
        f"emacs-inline-{client}-",
        GHOST_SOURCE,
        LLM_LSP_TEST_CLIENT=client,
    )
    assert result["suggestion"] == BLOCK
    assert result["line_after_word"] == "    total"
    assert result["ghost_after_word"] == result["ghost_later_word"] == " = a + b\n    return total"
    assert result["ghost_after_line"] == result["ghost_later_line"] == "    return total"
    assert result["requests_during_partial"] == 0
    assert result["ghost_after_all"] is None
    assert result["text_after_accept"].startswith("def add(a, b):\n    total = a + b\n    return total\n")
    assert result["first_alternative"] == "a * b"
    assert result["cycled"] == ["b * a", "a.__mul__(b)", "b * a"]
    assert result["final_text"].endswith("def mul(a, b):\n    return b * a\n")
    assert model.calls() == 3  # the block, the first answer on the last line, the alternatives once
    assert result["events"][:3] == [
        ["textDocument/didShowCompletion", None],
        ["textDocument/didPartiallyAcceptCompletion", len("total")],
        ["textDocument/didPartiallyAcceptCompletion", len("total = a + b\n")],
    ]
    assert "python" in result["stats"] and "sent nowhere" in result["stats"]
    figures = json.loads(
        subprocess.run(
            [*llm_lsp_cmd, "stats", "--json"], env=result["_env"], capture_output=True, text=True, timeout=60
        ).stdout
    )
    total = figures["total"]
    # Two suggestions shown (the block; the alternatives on the last line count as the ones shown).
    assert total["accepted"] == 2 and total["partiallyAccepted"] == 1, total
