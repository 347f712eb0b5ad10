"""A fake OpenAI-compatible model for the real-editor tests: answers by what the prompt contains.

    python tests/editors/fake_model.py --port-file PATH --table '{"marker in prompt": "answer", ...}' \
        [--fallback TEXT] [--log PATH]

Built on tests/fake_openai.py (lookup_responder: the longest key found in the prompt wins), so one
model serves a session that asks for ghost text in one file and a quick fix in another. An answer
given as a list is one text per choice (a request with ``n`` > 1 gets alternatives to cycle through).
Prints the base URL, serves until SIGTERM, and with --log appends one JSON line per request (path,
model, prompt): tests count the model calls from it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fake_openai import FakeOpenAI, Reply, lookup_responder, serve_until_terminated  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--table", default="{}", help="JSON object: prompt marker -> answer")
    parser.add_argument("--fallback", default="")
    parser.add_argument("--log", help="append one JSON line per request here")
    args = parser.parse_args()
    table = json.loads(args.table)
    # Lists become one marker each for lookup_responder (the longest key found wins as always), then
    # their texts the choices of the reply.
    respond = lookup_responder({k: k if isinstance(v, list) else v for k, v in table.items()}, args.fallback)

    def logged(request) -> Reply:
        reply = respond(request)
        if isinstance(table.get(reply.text), list):
            reply = Reply(choices=table[reply.text])
        if args.log:
            with open(args.log, "a", encoding="utf-8") as f:
                f.write(
                    json.dumps(
                        {
                            "path": request.path,
                            "prompt": request.prompt_text[-2000:],
                            "reply": reply.text or reply.choices,
                        }
                    )
                    + "\n"
                )
        return reply

    fake = FakeOpenAI(default=logged, models=("fake-model",), port=args.port)
    return serve_until_terminated(fake, args.port_file)


if __name__ == "__main__":
    sys.exit(main())
