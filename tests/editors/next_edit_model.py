"""A fake model for the editors' next-edit tests: rewrites a next-edit prompt's editable region.

    python tests/editors/next_edit_model.py --port-file PATH --replace '[["old", "new"], ...]' [--log PATH]

Built on tests/fake_openai.py (``region_responder``): a next-edit prompt gets its region back with each
``old`` replaced by ``new``, as a chat model's fenced answer; any other prompt (ghost text) gets an empty
answer, so no ghost text competes with the next edit. Prints the base URL and serves until SIGTERM;
with --log, one JSON line per request (path, region found or not).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fake_openai import FakeOpenAI, Reply, editable_region, region_responder, serve_until_terminated  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--replace", default="[]", help='JSON list of ["old", "new"] pairs')
    parser.add_argument("--log", help="append one JSON line per request here")
    args = parser.parse_args()
    pairs = [tuple(pair) for pair in json.loads(args.replace)]

    def rewrite(region: str) -> str:
        for old, new in pairs:
            region = region.replace(old, new)
        return region

    respond = region_responder(rewrite)

    def logged(request) -> Reply:
        reply = respond(request)
        if args.log:
            with open(args.log, "a", encoding="utf-8") as f:
                f.write(json.dumps({"path": request.path, "region": editable_region(request)}) + "\n")
        return reply

    fake = FakeOpenAI(default=logged, models=("fake-model",), port=args.port)
    return serve_until_terminated(fake, args.port_file)


if __name__ == "__main__":
    sys.exit(main())
