"""The workspace index on disk: one SQLite database per root, kept in step by the indexer's worker.

Each test drives the real worker thread (``engine/indexer.py``) over a small workspace in ``tmp_path``
and reads back through the index (``engine/index.py``) or straight from the database file.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

import attrs
import pytest

from lsp_server.app.session import Session
from lsp_server.core.layout import index_dir
from lsp_server.engine import store
from lsp_server.engine.index import WorkspaceIndex
from lsp_server.engine.indexer import Indexer, Outcome


@attrs.define
class Run:
    """One indexer over one workspace, with what its callbacks reported."""

    indexer: Indexer
    index: WorkspaceIndex
    outcome: Outcome
    taught: dict[str, str]
    forgotten: list[str]

    def stop(self) -> None:
        self.indexer.stop()
        for reader in self.index.detach():
            reader.close()


def run_indexer(roots: list[Path], directory: Path, excluded=lambda _p: False, **kwargs) -> Run:
    """Start an indexer, attach its databases to a fresh index, and wait for its first pass."""
    index = WorkspaceIndex(is_excluded=excluded)
    indexed = threading.Event()
    outcomes: list[Outcome] = []
    taught: dict[str, str] = {}
    forgotten: list[str] = []

    def done(outcome: Outcome) -> None:
        outcomes.append(outcome)
        indexed.set()

    indexer = Indexer(
        roots,
        directory,
        index,
        is_excluded=excluded,
        on_ready=lambda readers: [index.attach(r) for r in readers],
        on_done=done,
        on_text=taught.__setitem__,
        on_forget=forgotten.append,
        **kwargs,
    )
    indexer.start()
    assert indexed.wait(30), "the first pass did not end"
    return Run(indexer, index, outcomes[0], taught, forgotten)


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    write(
        root,
        {
            "pkg/__init__.py": "",
            "pkg/models.py": "class Account:\n    def deposit(self, amount):\n        return amount\n",
            "pkg/service.py": "from pkg.models import Account\n\ndef open_account():\n    return Account()\n",
            "pkg/util.py": "def helper():\n    return 1\n",
        },
    )
    return root


def names(index: WorkspaceIndex, name: str) -> list[str]:
    return [os.path.basename(d.path) for d in index.definitions(name)]


def database_of(directory: Path, root: Path) -> Path:
    return store.database_path(directory, root)


def test_a_second_start_reads_nothing_that_did_not_change_and_resolves_at_once(project: Path, tmp_path: Path):
    cache = tmp_path / "cache"
    first = run_indexer([project], cache)
    assert first.outcome.written == 4 and first.outcome.unchanged == 0
    assert names(first.index, "Account") == ["models.py"]
    first.stop()

    second = run_indexer([project], cache)
    assert (second.outcome.written, second.outcome.unchanged, second.outcome.forgotten) == (0, 4, 0)
    service = str(project / "pkg" / "service.py")
    assert [d.name for d in second.index.resolve(service, "Account")] == ["Account"]
    assert [m.name for m in second.index.resolve_member(service, "Account", "deposit")] == ["deposit"]
    # The offline engine still learns every file, unchanged ones included.
    assert set(second.taught) == {str(p) for p in project.rglob("*.py")}
    second.stop()


def test_files_changed_added_and_removed_while_the_server_was_down(project: Path, tmp_path: Path):
    cache = tmp_path / "cache"
    run_indexer([project], cache).stop()
    write(
        project,
        {"pkg/util.py": "def renamed_helper():\n    return 2\n", "pkg/extra.py": "def added():\n    pass\n"},
    )
    (project / "pkg" / "service.py").unlink()
    models = project / "pkg" / "models.py"
    os.utime(
        models, ns=(models.stat().st_atime_ns, models.stat().st_mtime_ns + 10_000_000_000)
    )  # touched only

    run = run_indexer([project], cache)
    # util.py and extra.py are parsed; models.py only had its stamp renewed (same bytes, same hash).
    assert (run.outcome.written, run.outcome.forgotten) == (2, 1)
    assert names(run.index, "renamed_helper") == ["util.py"] and names(run.index, "helper") == []
    assert names(run.index, "added") == ["extra.py"]
    assert names(run.index, "open_account") == []
    assert names(run.index, "Account") == ["models.py"]
    run.stop()
    assert run_indexer([project], cache).outcome.written == 0  # the renewed stamp holds: nothing re-read


def test_files_changed_added_and_removed_while_it_runs(project: Path, tmp_path: Path):
    run = run_indexer([project], tmp_path / "cache")
    write(
        project,
        {"pkg/util.py": "def helper_v2():\n    return 2\n", "pkg/fresh.py": "class Fresh:\n    pass\n"},
    )
    (project / "pkg" / "service.py").unlink()
    run.indexer.refresh([str(project / "pkg" / p) for p in ("util.py", "fresh.py", "service.py")])
    assert run.indexer.wait_idle()
    assert names(run.index, "helper_v2") == ["util.py"] and names(run.index, "helper") == []
    assert names(run.index, "Fresh") == ["fresh.py"]
    assert names(run.index, "open_account") == []
    assert str(project / "pkg" / "service.py") in run.forgotten  # the offline engine forgets it too
    run.stop()


def test_stored_files_are_offered_again_when_the_learner_asks(project: Path, tmp_path: Path):
    """The offline engine's budget grew (a model no longer serves): every stored file comes again."""
    run = run_indexer([project], tmp_path / "cache")
    assert run.indexer.wait_idle()
    first = dict(run.taught)
    assert str(project / "pkg" / "models.py") in first
    run.taught.clear()
    run.indexer.reoffer()
    assert run.indexer.wait_idle()
    deadline = time.monotonic() + 10
    while len(run.taught) < len(first) and time.monotonic() < deadline:
        time.sleep(0.01)  # the teacher thread learns what the worker offered
    assert run.taught == first
    run.stop()


def test_languages_without_a_grammar_are_stored_without_symbols_and_taught(project: Path, tmp_path: Path):
    """A PHP or Kotlin project teaches the offline engine its files; scripts are not listed."""
    write(
        project,
        {
            "web/Cart.php": "<?php\nfunction total($items) {\n    return array_sum($items);\n}\n",
            "app/Main.kt": "fun main() {\n    println(total(listOf(1, 2)))\n}\n",
            "deploy.sh": "export TOKEN=not-for-the-engine\n",
        },
    )
    run = run_indexer([project], tmp_path / "cache")
    php, kotlin = str(project / "web" / "Cart.php"), str(project / "app" / "Main.kt")
    assert php in run.taught and kotlin in run.taught
    assert str(project / "deploy.sh") not in run.taught
    assert run.outcome.written == 6  # the four Python files, the PHP and the Kotlin one
    run.stop()

    again = run_indexer([project], tmp_path / "cache")
    assert again.outcome.unchanged == 6 and again.outcome.written == 0  # stored: not re-read
    again.stop()


def test_a_corrupt_database_is_rebuilt_not_trusted(project: Path, tmp_path: Path):
    cache = tmp_path / "cache"
    run_indexer([project], cache).stop()
    database = database_of(cache, project)
    data = database.read_bytes()
    database.write_bytes(data[:100] + b"\xff" * 4096 + data[4196:])  # the header survives, pages do not
    for suffix in ("-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)

    run = run_indexer([project], cache)
    assert run.outcome.written == 4  # everything re-read into a fresh file
    assert names(run.index, "Account") == ["models.py"]
    run.stop()

    database.write_bytes(b"not a database at all" * 100)
    run = run_indexer([project], cache)
    assert run.outcome.written == 4 and names(run.index, "helper") == ["util.py"]
    run.stop()


def test_a_foreign_database_is_rebuilt(project: Path, tmp_path: Path):
    cache = tmp_path / "cache"
    other = tmp_path / "other"
    write(other, {"lib.py": "def from_other_root():\n    pass\n"})
    run_indexer([other], cache).stop()
    # Another root's database under this root's name (copied, or a hash collision).
    database = database_of(cache, project)
    database.parent.mkdir(parents=True, exist_ok=True)
    database.write_bytes(database_of(cache, other).read_bytes())

    run = run_indexer([project], cache)
    assert run.outcome.written == 4
    assert names(run.index, "from_other_root") == [] and names(run.index, "Account") == ["models.py"]
    run.stop()
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'root'").fetchone() == (str(project),)


def test_an_exclusion_added_later_purges_the_rows_and_hides_them_at_once(project: Path, tmp_path: Path):
    excluded: set[str] = set()
    run = run_indexer(
        [project], tmp_path / "cache", excluded=lambda p: p.endswith("util.py") and bool(excluded)
    )
    assert names(run.index, "helper") == ["util.py"]
    excluded.add("on")
    # Before the worker purges, the index already refuses to read the excluded file's rows.
    assert names(run.index, "helper") == [] and str(project / "pkg" / "util.py") not in run.index.paths()
    run.indexer.purge()
    assert run.indexer.wait_idle()
    with sqlite3.connect(database_of(tmp_path / "cache", project)) as conn:
        stored = {row[0] for row in conn.execute("SELECT path FROM files")}
        assert str(project / "pkg" / "util.py") not in stored
        assert conn.execute("SELECT count(*) FROM defs WHERE name = 'helper'").fetchone() == (0,)
    assert str(project / "pkg" / "util.py") in run.forgotten
    run.stop()


def test_two_workspaces_side_by_side_get_two_databases(project: Path, tmp_path: Path):
    cache = tmp_path / "cache"
    other = tmp_path / "elsewhere" / "project"  # the same folder name, another place
    write(other, {"main.py": "def only_in_other():\n    pass\n"})
    one = run_indexer([project], cache)
    two = run_indexer([other], cache)
    assert database_of(cache, project) != database_of(cache, other)
    assert sorted(p.name for p in cache.glob("*.sqlite3")) == sorted(
        [database_of(cache, project).name, database_of(cache, other).name]
    )
    assert names(one.index, "only_in_other") == [] and names(two.index, "only_in_other") == ["main.py"]
    assert names(two.index, "Account") == []
    one.stop()
    two.stop()


def test_the_database_stops_growing_at_its_bound(project: Path, tmp_path: Path):
    write(
        project,
        {
            f"gen/mod_{i}.py": "".join(f"def f_{i}_{k}(x):\n    return x\n" for k in range(200))
            for i in range(8)
        },
    )
    run = run_indexer([project], tmp_path / "cache", max_database_bytes=64 * 1024)
    assert run.outcome.full
    stored = len(run.index.paths())
    assert 0 < stored < 12
    run.stop()


async def test_nothing_excluded_is_ever_written_to_the_database(tmp_path: Path):
    """Through the Session and the real privacy gate: grep the database files for excluded text."""
    root = tmp_path / "repo"
    write(
        root,
        {
            ".gitignore": "private/\n",
            "private/keys.py": "def leaked_marker_gitignored():\n    return 'x'\n",
            "notes/drafts.py": "def leaked_marker_setting():\n    pass\n",
            "app.py": "def visible_marker():\n    pass\n",
        },
    )
    (root / ".env.py").write_text("def leaked_marker_denylist():\n    pass\n")
    session = Session(environ={})
    session.roots = [root]
    session.apply_settings(
        attrs.evolve(session.sources, initialization_options={"privacy": {"exclude": ["notes/"]}})
    )
    await session.load_workspace()
    assert session.index.definitions("visible_marker")
    session.close_index()
    files = list(index_dir().glob("*"))
    assert files
    dump = b"".join(f.read_bytes() for f in files)
    assert b"visible_marker" in dump
    for marker in (
        b"leaked_marker_gitignored",
        b"leaked_marker_setting",
        b"leaked_marker_denylist",
        b"keys.py",
    ):
        assert marker not in dump


async def test_without_a_usable_cache_folder_the_index_is_built_in_memory(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder should be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    session = Session(environ={})
    session.roots = [project]
    assert await session.load_workspace() == 4
    assert not session.index.readers
    service = str(project / "pkg" / "service.py")
    assert [d.name for d in session.index.resolve(service, "Account")] == ["Account"]
    session.close_index()
