"""Nothing heavy before ``initialize`` is answered: serving imports no engine, privacy or model code."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = (
    "lsp_server.engine",
    "lsp_server.privacy.",
    "lsp_server.app",
    "openai",
    "tree_sitter",
    "detect_secrets",
)


@pytest.mark.parametrize("test_hooks", [False, True], ids=["user", "test-hooks"])
def test_the_lsp_layer_imports_nothing_heavy(test_hooks: bool):
    # With test hooks (the benches' servers), the debug commands load before `initialize` too.
    hooks = "from lsp_server.lsp import debug\n" if test_hooks else ""
    code = (
        "import json, sys\n"
        "from lsp_server.lsp import actions, handlers, transport\n"
        f"{hooks}"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    loaded = json.loads(
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    )
    assert [m for m in loaded if m.startswith(HEAVY)] == []
