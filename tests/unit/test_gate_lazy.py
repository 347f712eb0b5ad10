"""The privacy gate reads a directory's ignore files when a path under it is first judged.

Its verdicts must be those of the gate that walked every directory at load (the previous
implementation, kept below as the oracle), on scripted and on random trees: nested files, `!`
re-includes, ignore files inside ignored or vendored directories (never read), `.llm-lspignore`
over `.gitignore`, and the `privacy.exclude` setting.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from pathlib import Path

import pathspec
import pytest

from lsp_server.core.layout import GITIGNORE, LLMLSPIGNORE, VENDORED_DIRS
from lsp_server.privacy import gate
from lsp_server.privacy.gate import SETTING_SOURCE, PrivacyGate


def _walked(root: Path, name: str, outer: Sequence[gate._IgnoreFile]) -> list[gate._IgnoreFile]:
    """The oracle: every ``name`` file a walk of the whole tree reads, deepest first."""
    found: list[gate._IgnoreFile] = []
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath).relative_to(root).as_posix()
        base = "" if base == "." else base
        if name in filenames:
            spec = gate._read_spec(Path(dirpath) / name)
            if spec is not None:
                found.append(gate._IgnoreFile(base, name, spec))
        rules = [*sorted(found, key=_deepest_first), *outer]
        kept = []
        for d in sorted(dirnames):
            rel = f"{base}/{d}" if base else d
            if d in VENDORED_DIRS or gate._verdict(rules, rel + "/") is not None:
                continue
            kept.append(d)
        dirnames[:] = kept
    return sorted(found, key=_deepest_first)


def _deepest_first(rule: gate._IgnoreFile) -> tuple[int, str]:
    return (-(rule.base.count("/") + 1) if rule.base else 0, rule.base)


def walked_verdict(root: Path, exclude: Sequence[str], rel: str) -> str | None:
    setting = (
        [gate._IgnoreFile("", SETTING_SOURCE, pathspec.GitIgnoreSpec.from_lines(list(exclude)))]
        if exclude
        else []
    )
    gitignores = _walked(root, GITIGNORE, setting)
    ours = _walked(root, LLMLSPIGNORE, [*setting, *gitignores])
    return gate._verdict([*setting, *ours, *gitignores], rel)


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


SCRIPTED = {
    ".gitignore": "build/\n*.log\n!keep.log\nsecret_dir/\n",
    "build/.gitignore": "!*\n",  # inside an ignored directory: never read
    "build/out.py": "",
    "node_modules/.gitignore": "!*\n",  # vendored: never read
    "node_modules/pkg/index.js": "",
    "src/.gitignore": "generated/\n*.tmp\n",
    "src/.llm-lspignore": "!generated/\nprivate.py\n",
    "src/generated/api.py": "",
    "src/generated/.gitignore": "*.py\n",
    "src/app.py": "",
    "src/private.py": "",
    "src/cache.tmp": "",
    "src/debug.log": "",
    "src/keep.log": "",
    "docs/.llm-lspignore": "drafts/\n",
    "docs/drafts/plan.md": "",
    "docs/drafts/.llm-lspignore": "!*\n",
    "docs/index.md": "",
    "a/b/c/.gitignore": "!*.log\n",
    "a/b/c/trace.log": "",
    "a/b/other.log": "",
    "secret_dir/.gitignore": "!*\n",
    "secret_dir/notes.txt": "",
    "notes.bak": "",
    "important.bak": "",
}


@pytest.mark.parametrize("exclude", [(), ("*.bak", "!important.bak"), ("src/",), ("docs/**/*.md",)])
def test_scripted_tree_gives_the_walked_verdicts(tmp_path: Path, exclude: tuple[str, ...]) -> None:
    write(tmp_path, SCRIPTED)
    lazy = PrivacyGate.load([tmp_path], exclude)
    for rel in sorted(SCRIPTED):
        if rel.rsplit("/", 1)[-1] in (GITIGNORE, LLMLSPIGNORE):
            continue
        expected = walked_verdict(tmp_path, exclude, rel)
        assert lazy.exclusion_reason(tmp_path / rel) == expected, rel


def test_scripted_tree_reads_only_the_directories_above_judged_paths(tmp_path: Path) -> None:
    write(tmp_path, SCRIPTED)
    lazy = PrivacyGate.load([tmp_path])
    assert lazy.roots[0]._files == {}  # loading reads nothing under the root
    assert lazy.exclusion_reason(tmp_path / "src" / "app.py") is None
    read = {directory for directory, _name in lazy.roots[0]._files}
    assert read == {"", "src"}
    assert lazy.exclusion_reason(tmp_path / "build" / "out.py") == ".gitignore"
    assert not any(directory.startswith("build") for directory, _ in lazy.roots[0]._files)


NAMES = ["a", "b", "gen", "out", "node_modules", "build", ".hidden"]
PATTERNS = [
    "*.py",
    "!*.py",
    "*.log",
    "!keep.log",
    "gen/",
    "!gen/",
    "out/",
    "b/",
    "/a",
    "**/x.py",
    "!x.py",
    "*",
]


@pytest.mark.parametrize("seed", range(12))
def test_random_trees_give_the_walked_verdicts(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    directories = [""]
    for _ in range(14):
        parent = rng.choice(directories)
        child = f"{parent}/{rng.choice(NAMES)}" if parent else rng.choice(NAMES)
        if child not in directories:
            directories.append(child)
    files: dict[str, str] = {}
    for directory in directories:
        prefix = f"{directory}/" if directory else ""
        for name in rng.sample(["x.py", "y.py", "keep.log", "z.log", "notes.txt"], 3):
            files[prefix + name] = ""
        for ignore in (GITIGNORE, LLMLSPIGNORE):
            if rng.random() < 0.35:
                files[prefix + ignore] = "\n".join(rng.sample(PATTERNS, rng.randint(1, 3))) + "\n"
    write(tmp_path, files)
    exclude = tuple(rng.sample(PATTERNS, rng.randint(0, 2)))
    lazy = PrivacyGate.load([tmp_path], exclude)
    judged = [rel for rel in files if rel.rsplit("/", 1)[-1] not in (GITIGNORE, LLMLSPIGNORE)]
    rng.shuffle(judged)  # the order paths are judged in must not matter
    for rel in judged:
        assert lazy.exclusion_reason(tmp_path / rel) == walked_verdict(tmp_path, exclude, rel), (rel, exclude)


def test_invalidate_reads_changed_ignore_files_again(tmp_path: Path) -> None:
    write(tmp_path, {"src/app.py": "", "src/.gitignore": ""})
    lazy = PrivacyGate.load([tmp_path])
    assert lazy.exclusion_reason(tmp_path / "src" / "app.py") is None
    (tmp_path / "src" / ".gitignore").write_text("app.py\n")
    lazy.invalidate()
    assert lazy.exclusion_reason(tmp_path / "src" / "app.py") == ".gitignore"


def test_the_directory_memory_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gate, "_DIRECTORY_CACHE_MAX", 8)
    files = {f"d{i}/f.py": "" for i in range(30)} | {"d7/.gitignore": "f.py\n"}
    write(tmp_path, files)
    lazy = PrivacyGate.load([tmp_path])
    for _ in range(2):  # the second round reads again what the bound made it forget
        for i in range(30):
            expected = ".gitignore" if i == 7 else None
            assert lazy.exclusion_reason(tmp_path / f"d{i}" / "f.py") == expected
            assert len(lazy.roots[0]._files) <= 8
        lazy._cache.clear()
