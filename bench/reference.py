"""A module of this project as it was at a git revision, loaded beside the current one.

For benches that run an implementation before and after a change in one process (``documents.py``,
``offline_teaching.py``): the old source is read with ``git show`` and executed under another name,
so it imports the current versions of everything else. Needs the repository's history.
"""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_reference(rev: str, path: str) -> types.ModuleType:
    """The module at ``path`` (e.g. ``lsp_server/core/documents.py``) of revision ``rev``."""
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{rev}:{path}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    module = types.ModuleType(Path(path).stem + "_reference")
    module.__file__ = f"<{rev}:{path}>"
    sys.modules[module.__name__] = module
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    return module
