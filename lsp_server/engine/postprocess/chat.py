"""Chat answers: the code of a fenced answer, without the echoed prefix, at the file's indentation.

Owns the steps that turn a chat model's answer into the raw text a FIM model would have produced, so
that every later step treats both prompt paths alike. Must not cut by scope or overlap.
"""

from __future__ import annotations

import re

from lsp_server.engine.postprocess.scene import Scene, indent_width, leading

_FENCE = re.compile(r"```[^\n`]*\n(.*?)(?:\n[ \t]*```|\Z)", re.DOTALL)
_HOLE_MARKERS = ("<|CURSOR|>", "<CURSOR>", "<FILL_ME>", "<FILL>")


def extract_chat_code(text: str, scene: Scene) -> str:
    """The code of a chat answer: the first fenced block if any, else the text; no hole markers."""
    match = _FENCE.search(text)
    code = match.group(1) if match else text.strip("\n")
    for marker in _HOLE_MARKERS:
        code = code.replace(marker, "")
    return code


def strip_echoed_prefix(text: str, scene: Scene) -> str:
    """Drop line(s) before the cursor that the model repeated at the start of its answer."""
    lines = text.split("\n")
    context = list(scene.above[-8:]) + [scene.before]
    for m in range(min(len(context), len(lines)), 0, -1):
        tail = context[-m:]
        if not tail[-1].strip() and m == 1:
            break
        if not any(t.strip() for t in tail):
            continue
        if all(lines[j].strip() == tail[j].strip() for j in range(m - 1)) and lines[
            m - 1
        ].lstrip().startswith(tail[-1].strip()):
            rest = lines[m - 1].lstrip()[len(tail[-1].strip()) :]
            if scene.before[-1:].isspace() or not scene.before:
                rest = rest.lstrip()
            return "\n".join([rest, *lines[m:]])
    return text


def reindent_chat(text: str, scene: Scene) -> str:
    """Place chat code (usually written at column 0) at the cursor line's indentation."""
    lines = text.split("\n")
    body = [line for line in lines[1:] if line.strip()]
    if not body:
        return text.lstrip() if not scene.before.strip() else text
    common = min(indent_width(line) for line in body)
    first_indent = indent_width(lines[0]) if lines[0].strip() else common
    common = min(common, first_indent)
    base = leading(scene.before) if not scene.before.strip() else leading(scene.before)
    out = [lines[0][common:] if lines[0][:common].isspace() else lines[0].lstrip()]
    for line in lines[1:]:
        out.append(base + line[common:] if line.strip() else "")
    if not scene.before.strip():
        out[0] = out[0].lstrip()
    return "\n".join(out)
