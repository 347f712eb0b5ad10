"""Emacs end to end: next edits through editor-clients/emacs/llm-lsp-next-edit.el with Eglot.

A real ``emacs --batch`` with Debian's Eglot, the real llm-lsp command and a fake model that rewrites
the editable region: a signature change shows the next edit as an overlay (deleted text in one face,
inserted text as an after-string), TAB jumps to it and TAB applies it and runs the accept command; the
rest of the prediction follows and is accepted the same way.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

from .conftest import model_env
from .test_emacs import CLIENT_DIR, emacs  # noqa: F401 - the fixture
from .test_neovim_next_edit import EXPECTED, SOURCE, rewriting_model  # noqa: F401 - the fixture

DRIVER = Path(__file__).parent / "emacs" / "next_edit_driver.el"


def test_a_signature_change_shows_the_next_edit_and_tab_accepts_it(emacs, llm_lsp_cmd, rewriting_model):  # noqa: F811
    work = Path(tempfile.mkdtemp(prefix="emacs-next-edit-"))
    (work / ".git").mkdir()
    source = work / "area.py"
    source.write_text(SOURCE)
    out = work / "result.json"
    env = model_env(rewriting_model.base_url, "gpt-4o-mini")
    env.update(
        {
            "LLM_LSP_CMD_JSON": json.dumps(llm_lsp_cmd),
            "LLM_LSP_TEST_OUT": str(out),
            "LLM_LSP_TEST_FILE": str(source),
            "HOME": str(work),
        }
    )
    proc = subprocess.run(
        [emacs, "--batch", "-q", "-L", str(CLIENT_DIR), "-l", str(DRIVER)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert out.exists(), f"emacs wrote no result (exit {proc.returncode}): {proc.stderr[-2000:]}"
    result = json.loads(out.read_text())
    assert result["ok"] is True, (result.get("error"), proc.stderr[-2000:])
    shown = result["shown"]
    # `return w * w` -> `return w * h`: the "w" deleted (its face), "h" inserted after it.
    assert (shown["text"], shown["start"], shown["end"]) == ("h", [2, 15], [2, 16])
    assert shown["face"] == "llm-lsp-next-edit-deleted"
    assert shown["after_string"] == "h" and shown["after_face"] == "llm-lsp-next-edit-inserted"
    assert result["point_after_jump_first"] == [2, 15] and result["unchanged_after_jump_first"] is True
    assert result["text_first"] == SOURCE.replace("area(w)", "area(w, h)").replace("w * w", "w * h")
    assert result["shown_rest"]["text"] == ", 3"
    assert result["text_second"] == "\n".join(EXPECTED) + "\n"
    assert result["commands"] == ["llm-lsp.acceptNextEdit", "llm-lsp.acceptNextEdit"]
    assert "textDocument/didShowInlineEdit" in result["notifications"]
