"""Code action listing (cheap, no model) and resolve (version checks) without a server."""

from __future__ import annotations

import time

import pytest

from lsp_server.app import actions as code_actions
from lsp_server.core import settings as config
from lsp_server.core.documents import DocumentStore
from lsp_server.core.errors import ContentModified, InvalidRequest
from lsp_server.engine.rewrite import Diagnostic
from lsp_server.providers.base import Delta

PY = "def f(x):\n    return x +\n"


def settings(**values):
    resolved, _ = config.resolve(config.Sources(environ={}))
    return config.from_flat({**resolved.flat(), **values})


def test_listing_offers_fixes_rewrites_and_custom_actions_quickly():
    store = DocumentStore()
    snapshot = store.open("file:///p/a.py", "python", 4, PY)
    diags = [
        Diagnostic(((1, 11), (1, 13)), "Expected expression", "pyright"),
        Diagnostic(((0, 4), (0, 5)), "x"),
    ]
    custom = [{"title": "Translate comments", "prompt": "Translate comments to English"}, {"title": 3}]
    started = time.perf_counter()
    offers = code_actions.list_actions(snapshot, ((1, 4), (1, 4)), diags, custom)
    elapsed = time.perf_counter() - started
    titles = [o.title for o in offers]
    assert titles[:3] == ["Fix with AI: Expected expression", "Fix with AI: x", "Fix all 2 problems with AI"]
    assert "AI: Add type annotations" in titles and titles[-1] == "Translate comments"
    assert offers[0].data["version"] == 4 and offers[0].data["scope"] == "enclosing"
    assert elapsed < 0.02


def test_go_gets_no_type_annotation_action_and_only_filters_kinds():
    snapshot = DocumentStore().open("file:///p/a.go", "go", 1, "package a\n")
    offers = code_actions.list_actions(snapshot, ((0, 0), (0, 0)), [], only=["refactor"])
    assert "AI: Add type annotations" not in [o.title for o in offers]
    assert {o.kind for o in offers} == {"refactor.rewrite"}


class _Model:
    is_offline = False

    def __init__(self, store, text: str, type_meanwhile: bool = False) -> None:
        self.store, self.text, self.type_meanwhile = store, text, type_meanwhile

    async def stream(self, request):
        if self.type_meanwhile:
            from lsp_server.core.documents import Change

            self.store.change("file:///p/a.py", 5, [Change("# hi\n", ((0, 0), (0, 0)))])
        yield Delta(self.text, "stop")


async def test_resolve_returns_a_versioned_minimal_edit_and_refuses_stale_documents():
    store = DocumentStore()
    snapshot = store.open("file:///p/a.py", "python", 4, PY)
    [fix] = code_actions.list_actions(snapshot, ((1, 4), (1, 4)), [Diagnostic(((1, 11), (1, 12)), "bad")])[:1]
    edit = await code_actions.resolve(
        fix.data, store, _Model(store, "```python\ndef f(x):\n    return x + 1\n```"), settings()
    )
    assert edit.version == 4 and [e.start for e in edit.edits] == [(1, 14)]
    with pytest.raises(ContentModified):
        await code_actions.resolve(
            fix.data, store, _Model(store, "```\nx\n```", type_meanwhile=True), settings()
        )
    with pytest.raises(ContentModified):  # the listing was for version 4; the document is at 5 now
        await code_actions.resolve(fix.data, store, _Model(store, ""), settings())
    with pytest.raises(InvalidRequest):
        await code_actions.resolve({"nonsense": 1}, store, _Model(store, ""), settings())
