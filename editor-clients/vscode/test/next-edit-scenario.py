"""The next-edit part of run-e2e.sh's scenario: a workspace file, the fake model's answer, the expected text.

    python next-edit-scenario.py WORKSPACE RUN_DIR

Adds area_next.py to the workspace and its entries to RUN_DIR/table.json (the fake model's answers,
keyed by prompt text) and RUN_DIR/expect.json (what nextEdit.e2e.js checks). The model answers the
next-edit prompt (keyed by text only that prompt holds: the cursor marker) with the editable region
rewritten, and ghost-text prompts of this file with nothing (a key longer than the other files' ones),
so no ghost text competes with the next edit.
"""

import json
import sys
from pathlib import Path

ws, run = Path(sys.argv[1]), Path(sys.argv[2])
head = "# rectangle helpers, checked by the next-edit end-to-end test of llm-lsp\n"
text = head + "def rect_area(w):\n    return w * w\n\n\nprint(rect_area(2))\n"
typed = text.replace("rect_area(w)", "rect_area(w, h)")
expected = typed.replace("w * w", "w * h").replace("rect_area(2)", "rect_area(2, 3)")
region = "\n".join(["<|editable_region_start|>", expected.rstrip("\n"), "<|editable_region_end|>"])
(ws / "area_next.py").write_text(text)
table = json.loads((run / "table.json").read_text())
table[head.strip()] = ""  # ghost text in this file: nothing
table[head + "def rect_area(w, h<|user_cursor_is_here|>):\n    return w * w"] = f"```python\n{region}\n```"
(run / "table.json").write_text(json.dumps(table))
expect = json.loads((run / "expect.json").read_text())
expect["nextEdit"] = {"file": "area_next.py", "typed": typed, "expected": expected}
(run / "expect.json").write_text(json.dumps(expect))
