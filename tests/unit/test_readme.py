"""The README documents every setting of the schema and shows the two set-up commands."""

from pathlib import Path

from lsp_server.core import settings as config

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_documented():
    missing = [f.key for f in config.SCHEMA if f"| `{f.key}` |" not in README]
    assert missing == []


def test_set_up_commands_come_first():
    setup = README.split("## Set up", 1)[1].split("##", 1)[0]
    assert "pip install '.[test]'" in setup and "pytest" in setup
