"""The pygls and lsprotocol internals lsp/protocol.py relies on still exist, with the shapes it assumes.

If a pygls release renames or reshapes one of them, this fails loudly here — not as a silent hang or a
request that never gets its answer in an editor. ``pyproject.toml`` pins pygls to the minor range this
passed on; widen the pin only after it passes on the new release.
"""

from __future__ import annotations

import inspect
from importlib.metadata import version

from lsprotocol import types
from pygls.protocol import LanguageServerProtocol

from lsp_server.lsp.protocol import PYGLS_PRIVATE_API, PYGLS_SERVER_PRIVATE_API, LlmLspProtocol
from lsp_server.lsp.server import LlmLanguageServer, server


def test_the_pinned_versions_are_the_tested_ones():
    assert version("pygls").startswith("2.1."), "re-run this contract test before widening the pin"
    assert version("lsprotocol").startswith("2025.0."), "re-run this contract test before widening the pin"


def test_private_protocol_members_exist_on_the_live_protocol():
    protocol = server.protocol
    assert isinstance(protocol, LlmLspProtocol)
    for name in PYGLS_PRIVATE_API:
        assert hasattr(protocol, name), f"pygls's protocol no longer has {name}"
    for name in PYGLS_SERVER_PRIVATE_API:
        assert hasattr(server, name), f"pygls's server no longer has {name}"


def test_overridden_private_methods_keep_their_signatures():
    expected = {
        "_execute_handler": ["msg_id", "handler", "callback", "args", "kwargs"],
        "_send_handler_result": ["future", "msg_id"],
        "_run_generator": ["future", "gen", "result_future"],
        "_handle_cancel_notification": ["msg_id"],
    }
    for name, params in expected.items():
        found = list(inspect.signature(getattr(LanguageServerProtocol, name)).parameters)[1:]
        assert found == params, f"pygls changed {name}{found}; lsp/protocol.py assumes {params}"


def test_builtin_document_handlers_we_replace_still_exist():
    # We skip pygls's own copy of each document by overriding these builtin handlers.
    for name in (
        "lsp_text_document__did_open",
        "lsp_text_document__did_change",
        "lsp_text_document__did_close",
    ):
        assert callable(getattr(LanguageServerProtocol, name, None)), f"pygls no longer defines {name}"
    assert inspect.isgeneratorfunction(LanguageServerProtocol.lsp_initialize), (
        "lsp_initialize is yielded from"
    )


def test_the_request_futures_and_result_types_are_dicts_keyed_by_id():
    protocol = server.protocol
    assert isinstance(protocol._request_futures, dict)
    assert isinstance(protocol._result_types, dict)


def test_lsprotocol_shapes_we_build_on():
    # The inline completion options must be passed explicitly (pygls does not advertise it otherwise),
    # and a change annotation carries needsConfirmation (safety confirmations rely on it).
    assert "needs_confirmation" in {a.name for a in types.ChangeAnnotation.__attrs_attrs__}
    assert {"insert_text", "range", "command"} <= {a.name for a in types.InlineCompletionItem.__attrs_attrs__}
    assert types.InlineCompletionTriggerKind.Invoked.value == 1
    assert isinstance(server, LlmLanguageServer)
