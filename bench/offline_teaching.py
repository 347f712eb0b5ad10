"""The offline engine taught a big workspace in a thread, while requests read it: how long they wait.

Run: python bench/offline_teaching.py [--reference REV] [--root DIR] [--probe-ms 2]

The indexer's thread teaches the offline engine every workspace file (``OfflineModel.add``) while the
event loop answers completions, which read the same engine under its lock. This runs the current
``lsp_server/providers/ngram.py`` ("new") and the one of git revision ``--reference`` ("old", by
default 5197d0e, which lexed a file and posted its positions with the lock held) one after the other
in this process. For each: a thread teaches the Python files of ``--root`` (default: the standard
library of the Python running this) in sorted order until the engine is full, while this thread asks
``resolve_path`` (one lock acquisition, nothing else) every ``--probe-ms`` ms; it prints

- how long teaching took in all, and how many files and tokens it learnt;
- the probes' waits: p50, p99 and max (what a completion on the event loop waits for the lock);
- the file whose teaching was going on during the longest wait;
- a digest of the suggestions both engines give afterwards, ten cuts per file learnt (equal
  digests: the change kept every answer). ``PYTHONHASHSEED`` must be fixed for the digests to agree
  between processes; within this process they compare as they are.

Prints what it measured; asserts nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import sysconfig
import threading
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import reference  # noqa: E402

from lsp_server.providers import ngram as new_ngram  # noqa: E402

REFERENCE = "5197d0e"


def sources(root: Path) -> list[tuple[str, str]]:
    found = []
    for path in sorted(root.rglob("*.py")):
        try:
            found.append((str(path), path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError):
            continue
    return found


def run(module: types.ModuleType, files: list[tuple[str, str]], probe_s: float) -> dict:
    model = module.OfflineModel()
    current = {"file": ""}
    learnt = {"files": 0, "seconds": 0.0}
    done = threading.Event()

    def teach() -> None:
        started = time.perf_counter()
        for path, text in files:
            if not model.has_room():
                break
            current["file"] = path
            learnt["files"] += model.add(path, text)
        learnt["seconds"] = time.perf_counter() - started
        done.set()

    waits: list[tuple[float, str]] = []
    teacher = threading.Thread(target=teach)
    teacher.start()
    while not done.is_set():
        began = time.perf_counter()
        model.resolve_path("not/learnt.py")
        waits.append((time.perf_counter() - began, current["file"]))
        time.sleep(probe_s)
    teacher.join()
    durations = sorted(w for w, _ in waits)
    worst = max(waits)
    digest = hashlib.sha256()
    answered = cuts = 0
    for path, text in files[: learnt["files"]]:
        # Ten lines from the middle of each file learnt, cut a third into the line's code: the
        # engine sees the file up to there as a new file (another path), as if it were typed again.
        lines = text.split("\n")
        for k in range(len(lines) // 2, min(len(lines), len(lines) // 2 + 10)):
            code = lines[k].lstrip()
            if not code:
                continue
            typed = len(lines[k]) - len(code) + max(1, len(code) // 3)
            prefix = "\n".join(lines[:k]) + "\n" + lines[k][:typed]
            suggestion = model.suggest(prefix, "\n".join(lines[k + 1 : k + 5]), path + ".next")
            cuts += 1
            answered += bool(suggestion)
            digest.update(suggestion.encode() + b"\0")
    return {
        "seconds": learnt["seconds"],
        "files": learnt["files"],
        "tokens": model.stats().tokens,
        "probes": len(durations),
        "p50": durations[len(durations) // 2],
        "p99": durations[int(len(durations) * 0.99)],
        "max": worst[0],
        "worst_file": worst[1],
        "digest": f"{digest.hexdigest()[:12]} ({answered} of {cuts} cuts answered)",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", default=REFERENCE, help="git revision of the old engine")
    parser.add_argument("--root", type=Path, default=Path(sysconfig.get_paths()["stdlib"]))
    parser.add_argument("--probe-ms", type=float, default=2.0)
    args = parser.parse_args()
    files = sources(args.root)
    print(f"command: python {' '.join(sys.argv)}")
    print(f"workspace: {args.root} ({len(files)} Python files offered, in sorted order)")
    engines = {
        "old": reference.load_reference(args.reference, "lsp_server/providers/ngram.py"),
        "new": new_ngram,
    }
    header = (
        f"{'engine':7} {'teach':>8} {'files':>6} {'tokens':>8} {'probes':>7} {'p50':>7} {'p99':>7} {'max':>8}"
    )
    print(header + "  worst during                suggestions' digest")
    for name, module in engines.items():
        r = run(module, files, args.probe_ms / 1000)
        worst = Path(r["worst_file"]).relative_to(args.root) if r["worst_file"] else "-"
        print(
            f"{name:7} {r['seconds'] * 1000:6.0f}ms {r['files']:6d} {r['tokens']:8d} {r['probes']:7d}"
            f" {r['p50'] * 1000:5.2f}ms {r['p99'] * 1000:5.1f}ms {r['max'] * 1000:6.1f}ms"
            f"  {str(worst):26} {r['digest']}"
        )


if __name__ == "__main__":
    main()
