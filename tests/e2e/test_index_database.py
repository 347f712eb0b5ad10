"""The workspace index on disk, through the real server: a second launch, and files changed meanwhile.

Two launches of ``llm-lsp`` on one workspace with one ``XDG_CACHE_HOME``; what the index knows is read
off the prompts the fake model records (the definition of a class from another file).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from fake_openai import FakeOpenAI, Reply
from harness import inline_params, open_document, running_server, server_env
from lsprotocol import types

SERVICE = "from pkg.models import {name}\n\n\ndef make():\n    return {name}("


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


async def prompt_holds(client, fake: FakeOpenAI, uri: str, text: str, mark: str, tries: int = 40) -> bool:
    """Ask at the end of ``text`` (re-opened with a new version each try) until the prompt holds ``mark``."""
    line = text.count("\n")
    column = len(text) - (text.rfind("\n") + 1)
    for version in range(1, tries + 1):
        open_document(client, uri, text + " " * (version % 2), version=version)
        await client.text_document_inline_completion_async(inline_params(uri, line, column + version % 2))
        requests = fake.requests
        if requests and mark in requests[-1].prompt_text:
            return True
        await asyncio.sleep(0.1)
    return False


async def test_a_second_launch_knows_the_workspace_and_what_changed_while_it_was_down(tmp_path: Path):
    root = tmp_path / "project"
    write(
        root,
        {
            "pkg/__init__.py": "",
            "pkg/models.py": "class Account:\n    def deposit(self, amount):\n        return amount\n",
        },
    )
    cache = tmp_path / "cache"
    service = root / "pkg" / "service.py"
    with FakeOpenAI(default=Reply(text="1)")) as fake:
        env = server_env(fake.base_url, "starcoder2", XDG_CACHE_HOME=str(cache))
        async with running_server(env, root=root) as client:
            text = SERVICE.format(name="Account")
            assert await prompt_holds(client, fake, service.as_uri(), text, "class Account")
        databases = list((cache / "llm-lsp" / "index").glob("project-*.sqlite3"))
        assert len(databases) == 1

        # While the server is down: a class is added to models.py.
        models = "class Account:\n    pass\n\n\nclass Wallet:\n    def pay(self):\n        pass\n"
        write(root, {"pkg/models.py": models})
        async with running_server(env, root=root) as client:
            text = SERVICE.format(name="Wallet")
            assert await prompt_holds(client, fake, service.as_uri(), text, "class Wallet")

            # While it runs: a new file, announced by workspace/didChangeWatchedFiles.
            write(root, {"pkg/vault.py": "class Vault:\n    def open(self):\n        pass\n"})
            client.workspace_did_change_watched_files(
                types.DidChangeWatchedFilesParams(
                    changes=[
                        types.FileEvent(
                            uri=(root / "pkg" / "vault.py").as_uri(), type=types.FileChangeType.Created
                        )
                    ]
                )
            )
            text = "from pkg.vault import Vault\n\n\ndef make():\n    return Vault("
            assert await prompt_holds(client, fake, service.as_uri(), text, "class Vault")

        # ``llm-lsp index --clear`` removes it (a server rebuilds it at its next start).
        cleared = subprocess.run(
            [sys.executable, "-m", "lsp_server", "index", "--clear", "--root", str(root)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert cleared.returncode == 0 and "removed 1 index database" in cleared.stderr
        assert not list((cache / "llm-lsp" / "index").glob("project-*.sqlite3*"))
