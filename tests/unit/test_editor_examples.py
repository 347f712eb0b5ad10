"""The settings the editor examples and the README's config show resolve with no problem, two models each."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from lsp_server.core import settings as config

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = ROOT / "editor-clients"


def _json_with_comments(path: Path) -> dict:
    return json.loads(re.sub(r"(?m)^\s*//.*$", "", path.read_text()))


def _examples() -> dict[str, tuple[object, object]]:
    """name -> (initializationOptions, workspace/configuration section) as each example sends them."""
    helix = tomllib.loads((CLIENTS / "helix" / "languages.toml").read_text())["language-server"]["llm-lsp"]
    zed = _json_with_comments(CLIENTS / "zed" / "settings.example.json")["lsp"]["llm-lsp"]
    sublime = _json_with_comments(CLIENTS / "sublime" / "LSP.sublime-settings")["clients"]["llm-lsp"]
    readme = (ROOT / "README.md").read_text()
    user_file = readme.split("Example `~/.config/llm-lsp/config.toml`", 1)[1].split("```toml\n", 1)[1]
    clients = (CLIENTS / "README.md").read_text().split("```toml\n", 1)[1]
    return {
        "helix": (helix["config"], helix["config"]),
        "zed": (zed["initialization_options"], zed["settings"]),
        # Sublime's LSP expands the dotted keys and answers section "llmLsp" with what is under it.
        "sublime": (sublime["initializationOptions"], config.nest(sublime["settings"])["llmLsp"]),
        "README config.toml": (tomllib.loads(user_file.split("```", 1)[0]), None),
        "editor-clients README config.toml": (tomllib.loads(clients.split("```", 1)[0]), None),
    }


@pytest.mark.parametrize("name", list(_examples()))
def test_each_example_resolves_cleanly_with_a_model_for_completion_and_another_for_actions(name: str):
    initialization, workspace = _examples()[name]
    settings, problems = config.resolve(
        config.Sources(initialization_options=initialization, workspace_configuration=workspace)
    )
    assert problems == []
    completion, actions = settings.role("completion"), settings.role("actions")
    assert completion.model and actions.model and completion.model != actions.model
