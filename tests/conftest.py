"""Shared test set-up: makes the test helpers beside this file (fake_openai, ...) importable.

Tests never write into the user's real cache or state: ``XDG_CACHE_HOME`` and ``XDG_STATE_HOME`` point
into a temporary folder for the whole run (set at import, so servers that module- and session-scoped
fixtures start inherit it too), and into a fresh one per test. The server keeps its index databases
under ``$XDG_CACHE_HOME/llm-lsp/index``.
"""

import os
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

_RUN_HOME = Path(tempfile.mkdtemp(prefix="llm-lsp-test-xdg-"))
os.environ["XDG_CACHE_HOME"] = str(_RUN_HOME / "cache")
os.environ["XDG_STATE_HOME"] = str(_RUN_HOME / "state")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path_factory.mktemp("xdg")
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / "state"))


@pytest.fixture(autouse=True)
def _thawed_collector():
    """Give the collector back what a test's sessions froze (``core/collector.py``).

    In this one long process, objects of one test must not stay out of its reach for the next.
    """
    yield
    import gc

    gc.unfreeze()
