"""Nothing heavy before ``initialize`` is answered: serving imports no engine, privacy or model code."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = (
    "lsp_server.engine",
    "lsp_server.privacy.",
    "lsp_server.app",
    "openai",
    "tree_sitter",
    "detect_secrets",
)


def test_the_lsp_layer_imports_nothing_heavy():
    code = (
        "import json, sys\n"
        "from lsp_server.lsp import actions, handlers, transport\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    loaded = json.loads(
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    )
    assert [m for m in loaded if m.startswith(HEAVY)] == []
