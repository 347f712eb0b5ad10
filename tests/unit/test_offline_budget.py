"""The offline model's token budget: workspace files fill it nearest first, edited documents always get in."""

from __future__ import annotations

from lsp_server.providers.ngram import OfflineModel, lex


def module(name: str, lines: int = 40) -> str:
    return "".join(f"def {name}_{i}(value):\n    return value + {i}\n" for i in range(lines))


def test_a_full_model_refuses_workspace_files_but_makes_room_for_an_edited_document():
    near, middle, far = module("near"), module("middle"), module("far")
    budget = len(lex(near)) + len(lex(middle)) + len(lex(far)) // 2
    model = OfflineModel(max_tokens=budget)
    assert model.add("/ws/pkg/near.py", near)
    assert model.add("/ws/pkg/middle.py", middle)
    assert not model.add("/ws/other/far.py", far)  # offered last, and it does not fit
    assert model.resolve_path("far.py") is None

    edited = module("edited")
    assert model.update("/ws/pkg/edited.py", edited)  # the document being edited gets in...
    assert model.resolve_path("edited.py") is not None
    assert model.resolve_path("middle.py") is None  # ...the workspace file offered last made room
    assert model.resolve_path("near.py") is not None
    assert model.stats().tokens <= budget

    # Edited text replaces itself; it is never evicted to make room for a workspace file.
    assert not model.add("/ws/pkg/middle.py", middle)
    assert model.resolve_path("edited.py") is not None
