"""Neovim end to end: next-edit suggestions through editor-clients/neovim/lua/llm_lsp/next_edit.lua.

A real headless Neovim (>= 0.11) with the plugin, the real llm-lsp command and a fake model that
rewrites the editable region. The user changes a function's signature; the plugin shows the next
edit (the deleted text highlighted, the inserted text as virtual text), <Esc> dismisses it, <M-n>
asks again, <Tab> jumps to it and <Tab> applies it and sends the accept command; the rest of the
prediction (the call site) follows without a model call and is accepted the same way.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import pytest

from .conftest import FakeServerProcess, model_env
from .test_neovim import PLUGIN, nvim  # noqa: F401 - the fixture

DRIVER = Path(__file__).parent / "nvim" / "next_edit_driver.lua"
MODEL = Path(__file__).parent / "next_edit_model.py"
SOURCE = "def area(w):\n    return w * w\n\n\nprint(area(2))\n"
EXPECTED = ["def area(w, h):", "    return w * h", "", "", "print(area(2, 3))"]


@pytest.fixture
def rewriting_model():
    model = FakeServerProcess(
        MODEL, ["--replace", json.dumps([["w * w", "w * h"], ["area(2)", "area(2, 3)"]])], "next-edit model"
    )
    yield model
    model.stop()


def test_a_signature_change_shows_the_next_edit_and_tab_accepts_it(nvim, llm_lsp_cmd, rewriting_model):  # noqa: F811
    work = Path(tempfile.mkdtemp(prefix="nvim-next-edit-"))
    (work / ".git").mkdir()  # a project root for the plugin
    source = work / "area.py"
    source.write_text(SOURCE)
    out = work / "result.json"
    env = model_env(rewriting_model.base_url, "gpt-4o-mini")
    env.update(
        {
            "LLM_LSP_PLUGIN_DIR": str(PLUGIN),
            "LLM_LSP_TEST_OUT": str(out),
            "LLM_LSP_CMD_JSON": json.dumps(llm_lsp_cmd),
            "XDG_STATE_HOME": str(work / "state"),
            "XDG_DATA_HOME": str(work / "data"),
        }
    )
    proc = subprocess.run(
        [nvim, "--headless", "--clean", "-u", str(DRIVER), str(source)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert out.exists(), f"driver wrote no result; nvim exit {proc.returncode}: {proc.stderr[-2000:]}"
    result = json.loads(out.read_text())
    log = work / "state" / "nvim" / "lsp.log"
    assert result["ok"], (
        result.get("error"),
        result["steps"],
        log.read_text()[-3000:] if log.exists() else "",
    )
    assert "nextEdit" in result["experimental"]["llmLsp"]

    first = result["shown"][0]
    # `return w * w` -> `return w * h`: the deleted "w" highlighted, "h" inserted inline after it.
    assert (first["srow"], first["scol"], first["erow"], first["ecol"], first["text"]) == (1, 15, 1, 16, "h")
    marks = {m.get("hl_group", "virt"): m for m in first["marks"]}
    assert (marks["LlmLspNextEditDelete"]["row"], marks["LlmLspNextEditDelete"]["end_col"]) == (1, 16)
    assert marks["virt"]["virt_text"][0][0] == "h" and marks["virt"]["virt_text_pos"] == "inline"
    assert result["after_dismiss"] == {"visible": False, "marks": 0}
    assert "llmLsp/nextEdit" in result["requests"]  # <M-n> asked explicitly

    # <Tab> jumped from line 1 to the edit, then applied it.
    assert result["cursor_before_first"][0] == 1 and result["cursor_after_jump_first"] == [2, 15]
    assert result["lines_after_jump_first"][1] == "    return w * w"
    assert result["lines_first"][:2] == ["def area(w, h):", "    return w * h"]
    assert result["lines"] == EXPECTED, result["lines"]
    assert result["requests"].count("workspace/executeCommand llm-lsp.acceptNextEdit") == 2
    assert "textDocument/didShowInlineEdit" in result["notifications"]
