"""Print how long listing code actions takes (in process; no model call, no LSP transport).

Usage: python bench/code_actions_listing.py [N_LINES] [REPEATS]
"""

from __future__ import annotations

import statistics
import sys
import time

from lsp_server.app import actions as code_actions
from lsp_server.core.documents import DocumentStore
from lsp_server.engine.rewrite import Diagnostic


def main() -> None:
    """Time ``list_actions`` on a generated Python file with a few diagnostics."""
    lines = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    body = "".join(f"def f{i}(x):\n    return x + {i}\n\n" for i in range(lines // 3))
    snapshot = DocumentStore().open("file:///bench/a.py", "python", 1, body)
    diagnostics = [Diagnostic(((n, 4), (n, 10)), f"problem {n}", "bench") for n in (1, 4, 7)]
    custom = [{"title": "Translate comments", "prompt": "Translate the comments to English"}]
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        code_actions.list_actions(snapshot, ((4, 4), (4, 4)), diagnostics, custom)
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    print(
        f"list_actions on {snapshot.line_count} lines, {len(diagnostics)} diagnostics, {repeats} runs: "
        f"median {statistics.median(samples):.3f} ms, p99 {samples[int(len(samples) * 0.99)]:.3f} ms, "
        f"max {samples[-1]:.3f} ms"
    )


if __name__ == "__main__":
    main()
