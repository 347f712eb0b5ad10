"""Next-edit prompt formats: how a model is asked to rewrite the region around the cursor.

Owns the formats as data, like the FIM formats of ``prompts``: Zed's Zeta markers
(``<|editable_region_start|>``, ``<|user_cursor_is_here|>``, ``<|editable_region_end|>``,
``<|start_of_file|>``), the instruction each format sends, how recent edits and the excerpt are
written, and what ends an answer. Two formats ship: ``zeta``, Zeta's own prompt as its model was
trained on it, sent raw to ``/v1/completions`` and stopped at ``<|editable_region_end|>`` (a Zeta
model served by vLLM or Ollama works as it is); ``chat``, the same markers inside a chat prompt with
the instructions in the system message and the user's text fenced as data.

Rendering is single-pass and removes the markers from the user's text, so a file cannot close the
region early or forge a second one. Pure: no I/O. Reading an answer back is the engine's
(``engine/next_edit_answer.py``); privacy (redaction, exclusion) happened before text reaches here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import attrs

from lsp_server.privacy import fences
from lsp_server.providers.prompts import ChatMessage, ChatPrompt, CompletionPrompt

REGION_START = "<|editable_region_start|>"
REGION_END = "<|editable_region_end|>"
CURSOR = "<|user_cursor_is_here|>"
START_OF_FILE = "<|start_of_file|>"
MARKERS = (REGION_START, REGION_END, CURSOR, START_OF_FILE)

# Zeta's instruction, word for word as the model was trained (zed-industries/zeta).
_ZETA_INSTRUCTION = (
    "You are a code completion assistant and your task is to analyze user edits and then rewrite an "
    "excerpt that the user provides, suggesting the appropriate edits within the excerpt, taking into "
    "account the cursor location."
)
# Zeta's frame: one pass replaces the three fields, so inserted text is never substituted again.
_ZETA_TEMPLATE = (
    "### Instruction:\n{instruction}\n\n### User Edits:\n\n{edits}\n\n"
    "### User Excerpt:\n\n{excerpt}\n\n### Response:\n"
)
_FIELD = re.compile(r"\{(instruction|edits|excerpt)\}")

# The markers are named, not written: the only ones in a chat prompt are the excerpt's own (a reader
# of the prompt, model or tool, finds exactly one region).
_CHAT_INSTRUCTION = (
    "You predict the next edit a programmer makes in their editor. You get their recent edits as unified "
    "diffs, oldest first, and an excerpt of the file they are in. In the excerpt, the lines between the "
    "editable_region_start and editable_region_end markers are the editable region, and the "
    "user_cursor_is_here marker shows the cursor.\n"
    "Rewrite the editable region as it will be after the programmer's next edit: finish the change "
    "their recent edits started (use a parameter they added, rename the other uses of a name they "
    "renamed, set a field they added, update the calls of a function whose signature changed). "
    "Change nothing else, keep the indentation and formatting, and never undo what they just typed. "
    "If nothing follows from their edits, give the region back unchanged.\n"
    "Answer with the whole rewritten region only, in one fenced code block: the start marker on its "
    "own line, the region's lines, the end marker on its own line, and no cursor marker."
)


@attrs.frozen
class EditDiff:
    """One recent edit as a unified diff of ``path``; ``accepted``: it came from an accepted prediction."""

    path: str
    diff: str
    accepted: bool = False


@attrs.frozen
class EditExcerpt:
    """The file around the cursor: read-only context, the editable region split at the cursor, context.

    ``before`` is whole lines ending with a line break (or empty); ``region_before`` starts a line and
    ``region_after`` ends one (without its line break); ``after`` is the lines below the region.
    ``start_of_file``: ``before`` starts at the file's first line.
    """

    path: str
    before: str
    region_before: str
    region_after: str
    after: str
    start_of_file: bool = False


@attrs.frozen
class EditFormat:
    """How one model family is asked for a next edit.

    ``kind`` is ``"completion"`` (``template`` filled in and sent raw to ``/v1/completions``) or
    ``"chat"`` (the instruction as the system message, the rest fenced as data); ``stop`` ends the
    answer; ``edited`` and ``accepted`` head one recent edit (``{path}`` is replaced once);
    ``headings`` are the template's section headings, defused where user text contains them.
    """

    name: str
    kind: str
    instruction: str
    template: str = ""
    stop: tuple[str, ...] = ()
    edited: str = 'User edited "{path}":'
    accepted: str = 'User accepted a suggested edit in "{path}":'
    headings: tuple[str, ...] = ()


ZETA = EditFormat(
    name="zeta",
    kind="completion",
    instruction=_ZETA_INSTRUCTION,
    template=_ZETA_TEMPLATE,
    stop=(REGION_END,),
    headings=("### Instruction:", "### User Edits:", "### User Excerpt:", "### Response:"),
)
CHAT = EditFormat(name="chat", kind="chat", instruction=_CHAT_INSTRUCTION)

EDIT_FORMATS: dict[str, EditFormat] = {fmt.name: fmt for fmt in (ZETA, CHAT)}

# Model-name substrings -> format. Everything else is asked in chat, which every server speaks.
_MODEL_PATTERNS: tuple[tuple[tuple[str, ...], str], ...] = ((("zeta",), "zeta"),)


def edit_format_for(model: str) -> EditFormat:
    """The next-edit format for a model name: ``zeta`` when the name says so, else ``chat``."""
    name = (model or "").lower()
    for needles, fmt in _MODEL_PATTERNS:
        if any(needle in name for needle in needles):
            return EDIT_FORMATS[fmt]
    return CHAT


def without_markers(text: str) -> str:
    """``text`` with the region markers removed: user text cannot open, close or forge a region."""
    for marker in MARKERS:
        while marker in text:
            text = text.replace(marker, "")
    return text


def holds_format_text(text: str, fmt: EditFormat) -> bool:
    """Whether rendering ``text`` in ``fmt`` would change it (it holds a marker or a section heading)."""
    return any(token in text for token in MARKERS + fmt.headings)


def _clean(text: str, fmt: EditFormat) -> str:
    text = without_markers(text)
    for heading in fmt.headings:
        if heading in text:
            # "### Response:" in a Markdown file must not look like the end of the prompt.
            text = text.replace(heading, heading.replace("### ", "###\u00a0"))
    return text


def fill(template: str, fields: Mapping[str, str]) -> str:
    """``template`` with ``{name}`` fields replaced in one pass (inserted text is never re-read)."""
    return _FIELD.sub(lambda match: fields[match.group(1)], template)


def render_edits(diffs: Sequence[EditDiff], fmt: EditFormat) -> str:
    """The recent edits, oldest first: a header line and a fenced ``diff`` block each."""
    parts = []
    for item in diffs:
        header = (fmt.accepted if item.accepted else fmt.edited).replace("{path}", _clean(item.path, fmt))
        parts.append(f"{header}\n```diff\n{_clean(item.diff, fmt).rstrip(chr(10))}\n```")
    return "\n\n".join(parts)


def render_excerpt(excerpt: EditExcerpt, fmt: EditFormat) -> str:
    """The excerpt as Zeta reads it: a fenced block named by the path, the region inside its markers."""
    head = f"```{_clean(excerpt.path, fmt)}\n"
    if excerpt.start_of_file:
        head += START_OF_FILE + "\n"
    region = _clean(excerpt.region_before, fmt) + CURSOR + _clean(excerpt.region_after, fmt)
    after = _clean(excerpt.after, fmt).rstrip("\n")
    tail = f"\n{after}" if after else ""
    return f"{head}{_clean(excerpt.before, fmt)}{REGION_START}\n{region}\n{REGION_END}{tail}\n```"


def edit_prompt(
    fmt: EditFormat, diffs: Sequence[EditDiff], excerpt: EditExcerpt
) -> ChatPrompt | CompletionPrompt:
    """The whole next-edit prompt in ``fmt``.

    Zeta: its own template on ``/v1/completions``. Chat: the instructions in the system message, the
    edits and the excerpt in the user message fenced as data under a fresh nonce (a planted "note to
    the AI" in the file stays data).
    """
    edits = render_edits(diffs, fmt)
    shown = render_excerpt(excerpt, fmt)
    if fmt.kind == "completion":
        return CompletionPrompt(
            fill(fmt.template, {"instruction": fmt.instruction, "edits": edits, "excerpt": shown})
        )
    nonce = fences.new_nonce()
    system = fmt.instruction + "\n" + fences.DATA_INSTRUCTION(nonce)
    parts = []
    if edits:
        parts.append(fences.fence("recent edits, oldest first", edits, nonce))
    else:
        parts.append("(no recent edits recorded)")
    parts.append(fences.fence(f"excerpt of {excerpt.path}", shown, nonce))
    return ChatPrompt((ChatMessage("system", system), ChatMessage("user", "\n\n".join(parts))))
