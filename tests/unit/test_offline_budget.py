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


def test_a_lower_cap_forgets_the_farthest_workspace_files_and_frees_their_entries():
    near, middle, far = module("near"), module("middle"), module("far")
    model = OfflineModel()
    for name, text in (("near", near), ("middle", middle), ("far", far)):
        assert model.add(f"/ws/pkg/{name}.py", text)
    edited = module("edited")
    assert model.update("/ws/pkg/edited.py", edited)
    before = model.stats().memory_bytes

    # A model now serves and the engine is its fallback: room for the document and the nearest file.
    model.set_max_tokens(len(lex(edited)) + len(lex(near)))
    assert model.max_tokens == len(lex(edited)) + len(lex(near))
    assert model.resolve_path("near.py") is not None and model.resolve_path("edited.py") is not None
    assert model.resolve_path("middle.py") is None and model.resolve_path("far.py") is None
    assert model.stats().tokens <= model.max_tokens
    assert model.stats().memory_bytes < before  # rebuilt at once: the dropped files' entries are gone

    # Back to serving alone: a larger cap takes workspace files again.
    model.set_max_tokens(10**6)
    assert model.add("/ws/pkg/far.py", far)
    assert model.resolve_path("far.py") is not None


def test_a_zero_cap_refuses_workspace_files_without_lexing_them():
    model = OfflineModel(max_tokens=0)
    assert not model.add("/ws/pkg/near.py", module("near"))
    assert model.stats().tokens == 0


def test_a_zero_cap_refuses_an_edited_document_too(monkeypatch):
    """No budget at all (a model serves, its fallback never did): nothing is lexed to be refused."""
    from lsp_server.providers import ngram

    lexed: list[str] = []
    monkeypatch.setattr(ngram, "lex", lambda text: lexed.append(text) or [])
    model = OfflineModel(max_tokens=0)
    assert not model.update("/ws/pkg/edited.py", module("edited"))
    assert lexed == []
