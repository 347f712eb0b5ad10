"""Conversions between LSP types and the domain's plain values (ranges, diagnostics, edits, changes).

Pure translation, no decisions: a ``ProposedEdit`` becomes ``documentChanges`` carrying the version it
was computed for, with a change annotation when the edit needs the user's confirmation.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from lsp_server.core.documents import Change

if TYPE_CHECKING:  # the engine loads after ``initialize`` is answered, never at start-up
    from lsp_server.engine.rewrite import Diagnostic, ProposedEdit

PlainRange = tuple[tuple[int, int], tuple[int, int]]


def lsp_range(rng: PlainRange) -> types.Range:
    """``((line, character), (line, character))`` as an LSP range."""
    (sl, sc), (el, ec) = rng
    return types.Range(start=types.Position(line=sl, character=sc), end=types.Position(line=el, character=ec))


def plain_range(rng: types.Range) -> PlainRange:
    """An LSP range as ``((line, character), (line, character))``."""
    return (rng.start.line, rng.start.character), (rng.end.line, rng.end.character)


def plain_diagnostic(diagnostic: types.Diagnostic) -> Diagnostic:
    """An LSP diagnostic as the domain's ``Diagnostic``."""
    from lsp_server.engine.rewrite import Diagnostic

    code = diagnostic.code
    return Diagnostic(
        range=plain_range(diagnostic.range),
        message=diagnostic.message,
        source=diagnostic.source or "",
        code="" if code is None else str(code),
    )


def change(content_change: Any) -> Change:
    """A ``didChange`` content change as the store's ``Change`` (no range: the whole text)."""
    if isinstance(content_change, types.TextDocumentContentChangePartial):
        start, end = content_change.range.start, content_change.range.end
        return Change(
            text=content_change.text, range=((start.line, start.character), (end.line, end.character))
        )
    return Change(text=content_change.text)


def workspace_edit(proposed: Iterable[ProposedEdit]) -> types.WorkspaceEdit:
    """``documentChanges`` carrying each file's version, with a confirmation annotation where needed."""
    changes: list[Any] = []
    annotations: dict[str, types.ChangeAnnotation] = {}
    for index, edit in enumerate(proposed):
        annotation = None
        if edit.needs_confirmation:
            annotation = f"llm-lsp-{index}"
            # The label is what an editor shows first (VS Code groups its preview by it): it names what
            # the edit adds; the description repeats it with the edit's own name.
            annotations[annotation] = types.ChangeAnnotation(
                label=f"llm-lsp: {edit.warning}" if edit.warning else edit.label,
                needs_confirmation=True,
                description=f"{edit.label}. Proposed by the AI model: review before applying.",
            )
        if edit.create:
            changes.append(
                types.CreateFile(
                    uri=edit.uri,
                    options=types.CreateFileOptions(overwrite=False, ignore_if_exists=False),
                    annotation_id=annotation,
                )
            )
        edits: list[Any] = []
        for text_edit in edit.edits:
            where = lsp_range((text_edit.start, text_edit.end))
            if annotation is None:
                edits.append(types.TextEdit(range=where, new_text=text_edit.new_text))
            else:
                edits.append(
                    types.AnnotatedTextEdit(
                        range=where, new_text=text_edit.new_text, annotation_id=annotation
                    )
                )
        changes.append(
            types.TextDocumentEdit(
                text_document=types.OptionalVersionedTextDocumentIdentifier(
                    uri=edit.uri, version=edit.version
                ),
                edits=edits,
            )
        )
    return types.WorkspaceEdit(document_changes=changes, change_annotations=annotations or None)
