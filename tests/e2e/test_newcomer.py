"""A newcomer's first try: the README's main job, ``llm-lsp complete FILE:LINE:COL``, with nothing configured.

Each case is a small project as a new user has one: the workspace already holds the same code two or
more times (a repeated line, a repeated call, a repeated block) and one file starts another copy.
The command is run exactly as the README shows it — the installed ``llm-lsp`` script, from the
project's folder, a relative path, no key, no server, no user settings — and the suggestion itself is
asserted, not only that something was printed.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from harness import inline_params, insert, open_document, running_server, server_env

LLM_LSP = shutil.which("llm-lsp", path=str(Path(sys.executable).parent)) or shutil.which("llm-lsp")

PY_LOADER = """def load_{name}(path):
    with open(path) as handle:
        rows = [line.strip().split(",") for line in handle]
    return rows
"""
PY_CLIENT = """def fetch_{name}(client, url):
    response = client.request("GET", url, headers=HEADERS, timeout=30)
    return response.json()
"""
PY_SAVE = """def save_{name}(db, record):
    if record is None:
        raise ValueError("missing record")
    db.insert(record)
"""

TS_LOADER = """export async function load{name}(path: string): Promise<string[][]> {{
  const text = await readFile(path, "utf8");
  const rows = text.split("\\n").map((line) => line.split(","));
  return rows;
}}
"""
TS_CLIENT = """export async function fetch{name}(id: number) {{
  const url = `${{BASE}}/{name}/${{id}}`;
  const response = await fetch(url, {{ headers: authHeaders(), cache: "no-store" }});
  return response.json();
}}
"""
TS_GUARD = """export function check{name}(value: unknown): void {{
  if (value === undefined || value === null) {{
    throw new TypeError("{name} is required");
  }}
}}
"""

GO_LOADER = """func Load{name}(path string) ([][]string, error) {{
\tdata, err := os.ReadFile(path)
\tif err != nil {{
\t\treturn nil, err
\t}}
\treturn parseRows(string(data)), nil
}}
"""

RUST_LOADER = """pub fn load_{name}(path: &Path) -> io::Result<Vec<Vec<String>>> {{
    let text = fs::read_to_string(path)?;
    let rows = text.lines().map(|line| line.split(',').map(String::from).collect()).collect();
    Ok(rows)
}}
"""


def project(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def complete(root: Path, location: str, *options: str) -> subprocess.CompletedProcess:
    """``llm-lsp complete LOCATION`` run in ``root`` as a newcomer runs it (nothing configured)."""
    assert LLM_LSP, "the llm-lsp script is not installed: pip install '.[test]'"
    env = server_env()
    env.pop("PYTHONPATH", None)  # the installed script, as a user has it
    env["HOME"] = str(root / ".home")
    env["XDG_CACHE_HOME"] = str(root / ".home" / "cache")
    env["XDG_STATE_HOME"] = str(root / ".home" / "state")
    return subprocess.run(
        [LLM_LSP, "complete", location, *options],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def cut(text: str, marker: str) -> tuple[str, int, int]:
    """``text`` up to the end of ``marker`` (whose line is cut there), and that cursor's line and column."""
    at = text.index(marker) + len(marker)
    line_end = text.find("\n", at)
    cut_text = text[:at] + (text[line_end:] if line_end != -1 else "")
    line = text.count("\n", 0, at) + 1
    column = at - (text.rfind("\n", 0, at) + 1) + 1
    return cut_text, line, column


# Languages without a grammar here: the walk lists their files for the offline engine all the same.
PHP_LOADER = """function load_{name}($path) {{
    $handle = fopen($path, "r");
    $rows = [];
    while (($line = fgets($handle)) !== false) {{
        $rows[] = explode(",", trim($line));
    }}
    return $rows;
}}
"""
KOTLIN_CLIENT = """fun fetch{name}(client: HttpClient, id: Int): String {{
    val response = client.get("$BASE/{name}/$id") {{ header("Accept", "application/json") }}
    return response.bodyAsText()
}}
"""

# (case id, files already in the workspace, the new file's complete text, where the user stopped
# typing in it (the rest of that line is cut), the expected suggestion)
CASES = [
    (
        "python-repeated-line",
        {"loaders.py": PY_LOADER.format(name="users") + "\n\n" + PY_LOADER.format(name="items")},
        ("orders.py", PY_LOADER.format(name="orders"), "        rows = "),
        '[line.strip().split(",") for line in handle]',
    ),
    (
        "python-repeated-call",
        {"api.py": PY_CLIENT.format(name="users") + "\n\n" + PY_CLIENT.format(name="items")},
        ("orders_api.py", PY_CLIENT.format(name="orders"), "client.request("),
        '"GET", url, headers=HEADERS, timeout=30)',
    ),
    (
        "python-repeated-block",
        {"store.py": PY_SAVE.format(name="user") + "\n\n" + PY_SAVE.format(name="item")},
        ("orders_store.py", PY_SAVE.format(name="order"), "    if record is None:\n        "),
        'raise ValueError("missing record")',
    ),
    (
        "typescript-repeated-line",
        {"loaders.ts": TS_LOADER.format(name="Users") + "\n" + TS_LOADER.format(name="Items")},
        ("orders.ts", TS_LOADER.format(name="Orders"), "  const rows = "),
        'text.split("\\n").map((line) => line.split(","));',
    ),
    (
        "typescript-repeated-call",
        {"api.ts": TS_CLIENT.format(name="users") + "\n" + TS_CLIENT.format(name="items")},
        ("orders.ts", TS_CLIENT.format(name="orders"), "{ headers: "),
        'authHeaders(), cache: "no-store" });',
    ),
    (
        "typescript-repeated-block",
        {"guards.ts": TS_GUARD.format(name="User") + "\n" + TS_GUARD.format(name="Item")},
        ("orders.ts", TS_GUARD.format(name="Order"), "  if (value === undefined || "),
        "value === null) {",
    ),
    (
        "go-repeated-block",
        {
            "load.go": "package data\n\n"
            + GO_LOADER.format(name="Users")
            + "\n"
            + GO_LOADER.format(name="Items")
        },
        ("orders.go", "package data\n\n" + GO_LOADER.format(name="Orders"), "\tif err != nil {\n\t\t"),
        "return nil, err",
    ),
    (
        "go-repeated-line",
        {
            "load.go": "package data\n\n"
            + GO_LOADER.format(name="Users")
            + "\n"
            + GO_LOADER.format(name="Items")
        },
        ("orders.go", "package data\n\n" + GO_LOADER.format(name="Orders"), "\tdata, err := "),
        "os.ReadFile(path)",
    ),
    (
        "rust-repeated-line",
        {"load.rs": RUST_LOADER.format(name="users") + "\n" + RUST_LOADER.format(name="items")},
        ("orders.rs", RUST_LOADER.format(name="orders"), "    let rows = "),
        "text.lines().map(|line| line.split(',').map(String::from).collect()).collect();",
    ),
    (
        "rust-repeated-call",
        {"load.rs": RUST_LOADER.format(name="users") + "\n" + RUST_LOADER.format(name="items")},
        ("orders.rs", RUST_LOADER.format(name="orders"), "    let text = "),
        "fs::read_to_string(path)?;",
    ),
    (
        "php-repeated-line-across-files",
        {
            "src/Users.php": "<?php\n" + PHP_LOADER.format(name="users"),
            "src/Items.php": "<?php\n" + PHP_LOADER.format(name="items"),
        },
        ("src/Orders.php", "<?php\n" + PHP_LOADER.format(name="orders"), "        $rows[] = "),
        'explode(",", trim($line));',
    ),
    (
        "kotlin-repeated-call-across-files",
        {
            "Users.kt": KOTLIN_CLIENT.format(name="Users"),
            "Items.kt": KOTLIN_CLIENT.format(name="Items"),
        },
        ("Orders.kt", KOTLIN_CLIENT.format(name="Orders"), "    return "),
        "response.bodyAsText()",
    ),
]


@pytest.mark.parametrize("files, new_file, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_the_readme_command_completes_what_the_workspace_repeats(
    tmp_path: Path, files: dict[str, str], new_file: tuple[str, str, str], expected: str
):
    name, full, typed = new_file
    text, line, column = cut(full, typed)
    root = project(tmp_path, {**files, name: text})
    result = complete(root, f"{name}:{line}:{column}")
    assert result.stdout.rstrip("\n") == expected, result.stderr
    assert result.returncode == 0


def test_debug_log_lists_the_candidates_and_why_each_was_dropped(tmp_path: Path):
    root = project(
        tmp_path,
        {
            "loaders.py": PY_LOADER.format(name="users") + "\n\n" + PY_LOADER.format(name="items"),
            "orders.py": "def load_orders(path):\n    with open(path) as handle:\n        rows = \n",
            "other.py": "def other(path):\n    total = unknown_helper(\n",
        },
    )
    shown = complete(root, "orders.py:3:16")
    assert shown.stdout.startswith("[line.strip()")
    assert "candidate" not in shown.stderr  # not at the default level
    debug = complete(root, "orders.py:3:16", "--log-level", "debug")
    assert "repeat" in debug.stderr and "shown" in debug.stderr, debug.stderr
    quiet = complete(root, "other.py:2:28", "--log-level", "debug")
    assert quiet.stdout == ""
    assert "below the threshold" in quiet.stderr, quiet.stderr  # the one candidate, and why it stayed hidden


async def test_the_editor_shows_the_repeated_line_while_typing(tmp_path: Path):
    """The same first try in an editor: the project opened as the workspace, the line typed, ghost text."""
    root = project(
        tmp_path, {"loaders.py": PY_LOADER.format(name="users") + "\n\n" + PY_LOADER.format(name="items")}
    )
    typed = "def load_orders(path):\n    with open(path) as handle:\n        rows"
    (root / "orders.py").write_text(typed + "\n", encoding="utf-8")
    uri = (root / "orders.py").as_uri()
    env = server_env(XDG_CACHE_HOME=str(root / ".cache"), XDG_STATE_HOME=str(root / ".state"))
    async with running_server(env, root=root) as client:
        open_document(client, uri, typed + "\n")
        insert(client, uri, 2, 2, 12, " = ")  # the user types " = " after "rows"
        shown: list[str] = []
        for _ in range(50):  # the workspace walk runs in the background: ask again as an editor would
            result = await client.text_document_inline_completion_async(
                inline_params(uri, 2, 15, explicit=False)
            )
            shown = [item.insert_text for item in result.items] if result else []
            if shown:
                break
            await asyncio.sleep(0.1)
    assert shown == ['[line.strip().split(",") for line in handle]']
