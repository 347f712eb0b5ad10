"""The Session: one privacy gate below every door, settings applied to exactly the parts they affect."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

import attrs
import pytest

from lsp_server.app.session import Session
from lsp_server.core import settings as config
from lsp_server.core.errors import ExcludedFile, ProviderError
from lsp_server.providers.base import Delta

PACKAGE = Path(__file__).resolve().parents[2] / "lsp_server"


@attrs.define
class RecordingProvider:
    """A model that records every request it is asked (and answers a fixed code block)."""

    requests: list = attrs.Factory(list)
    description: str = "recording"
    is_offline: bool = False
    prompt_mode: str = "fim"

    async def stream(self, request):
        self.requests.append(request)
        yield Delta("```python\nreturn 1\n```", finish_reason="stop")

    async def aclose(self) -> None:
        pass


@attrs.define
class FailingModel(RecordingProvider):
    """A model that is down: every request fails before any text."""

    async def stream(self, request):
        raise ProviderError("model down")
        yield  # an async generator


def session_in(root: Path, **workspace: object) -> Session:
    session = Session(environ={})
    session.roots = [root]
    if workspace:
        session.apply_settings(attrs.evolve(session.sources, workspace_configuration=workspace))
    return session


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / ".gitignore").write_text("secret_dir/\n")
    (tmp_path / "secret_dir").mkdir()
    (tmp_path / "secret_dir" / "creds.py").write_text("def token():\n    return 'x'\n")
    (tmp_path / ".env").write_text("KEY=1\n")
    (tmp_path / "app.py").write_text("def f(x):\n    return x +\n")
    return tmp_path


# Every function in the package that can hand a prompt to a provider. A new call site fails this test
# until it is added here, after checking that it is reached only through a gated Session method.
MODEL_CALL_SITES = {
    ("app/session.py", "complete", "completion.suggest"),
    ("app/session.py", "resolve_action", "actions.resolve"),
    ("app/session.py", "run_command", "commands.run"),
    ("app/session.py", "next_edit", "self.next_edits.predict"),
    ("app/completion.py", "read_candidates", "provider.stream"),
    # Reached by rewrite.ask (actions, commands) and next_edit._ask, behind the gated entries above.
    ("engine/rewrite.py", "read_answer", "provider.stream"),
    ("providers/openai.py", "_one_token", "self.stream"),  # doctor's check: a fixed prompt
    ("cli.py", "run_doctor", "provider.check"),  # a fixed one-token prompt: no file content
}
GATED = {"complete", "resolve_action", "run_command", "next_edit"}
ENTRIES = {
    "completion.suggest",
    "actions.resolve",
    "commands.run",
    "self.next_edits.predict",
    "provider.stream",
    "self.stream",
}


def _call_sites() -> set[tuple[str, str, str]]:
    found = set()
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for func in ast.walk(tree):
            if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(func):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                    target = ast.unparse(node.func)
                    if target in ENTRIES or target.endswith(".check") and "provider" in target:
                        found.add((path.relative_to(PACKAGE).as_posix(), func.name, target))
    return found


def test_every_call_site_that_reaches_a_provider_is_known():
    assert _call_sites() == MODEL_CALL_SITES


@pytest.mark.parametrize("name", [".env", "secret_dir/creds.py"])
async def test_every_gated_entry_refuses_excluded_files_before_asking(project: Path, name: str):
    session = session_in(project)
    await session.reload_gate()
    recorder = RecordingProvider()
    session.providers.pin(recorder)
    uri = (project / name).as_uri()
    session.open_document(uri, "python", 1, (project / name).read_text())
    attempts = {
        "complete": lambda: session.complete(uri, 3, explicit=True),
        "resolve_action": lambda: session.resolve_action(
            {"uri": uri, "version": 1, "range": [[0, 0], [0, 1]], "action": "fix"}
        ),
        "run_command": lambda: session.run_command("llm-lsp.fix", [{"uri": uri, "range": [[0, 0], [0, 1]]}]),
        "next_edit": lambda: session.next_edit(uri, (0, 1), explicit=True, always=True),
    }
    assert set(attempts) == GATED
    for attempt in attempts.values():
        with pytest.raises(ExcludedFile, match=r"excluded by the privacy rules \((denylist|\.gitignore)"):
            await attempt()
    assert recorder.requests == []


async def test_a_gated_entry_still_serves_an_ordinary_file(project: Path):
    session = session_in(project)
    await session.reload_gate()
    recorder = RecordingProvider()
    session.providers.pin(recorder)
    uri = (project / "app.py").as_uri()
    session.open_document(uri, "python", 1, (project / "app.py").read_text())
    await session.complete(uri, 24, explicit=True)
    assert len(recorder.requests) == 1
    assert str(project) not in repr(recorder.requests[0].prompt)  # no absolute path in the prompt
    assert recorder.requests[0].prompt.path == "app.py"


def test_workspace_settings_only_tighten_privacy(tmp_path: Path):
    user = {"privacy": {"exclude": ["secret_dir/"]}, "logPrompts": False}
    workspace = {"privacy": {"exclude": [], "redactSecrets": False}, "logPrompts": True}
    settings, problems = config.resolve(config.Sources(user_file=user, workspace_configuration=workspace))
    assert settings.privacy.exclude == ("secret_dir/",)  # the user's list survives an empty one
    assert settings.log_prompts is False
    assert settings.privacy.redact_secrets is True
    assert {p.key for p in problems} == {"logPrompts", "privacy.redactSecrets"}
    more, _ = config.resolve(
        config.Sources(user_file=user, workspace_configuration={"privacy": {"exclude": ["build/"]}})
    )
    assert more.privacy.exclude == ("secret_dir/", "build/")  # a workspace may add to it


async def test_a_new_privacy_exclude_rebuilds_the_gate_and_purges_the_index(project: Path):
    session = session_in(project)
    await session.load_workspace()
    app = str(project / "app.py")
    assert app in session.index.paths()
    session.apply_settings(
        attrs.evolve(session.sources, initialization_options={"privacy": {"exclude": ["app.py"]}})
    )
    assert session.gate_is_stale()
    await session.reload_gate()
    assert session.path_excluded(app)
    assert app not in session.index.paths()


def test_debounce_bounds_come_from_the_settings_and_follow_changes(tmp_path: Path):
    session = session_in(tmp_path)
    assert (session.debounce.min_delay, session.debounce.max_delay) == (0.075, 0.6)
    session.apply_settings(
        attrs.evolve(
            session.sources, initialization_options={"completion": {"debounceMinMs": 10, "debounceMaxMs": 90}}
        )
    )
    assert (session.debounce.min_delay, session.debounce.max_delay) == (0.01, 0.09)
    assert session.debounce.delay(now=100.0) <= 0.09


def test_display_paths_are_workspace_relative(tmp_path: Path):
    one, two = tmp_path / "one", tmp_path / "two"
    session = Session(environ={})
    session.roots = [one]
    assert session.display_path(str(one / "pkg" / "util.py")) == "pkg/util.py"
    assert session.display_path("/home/someone/elsewhere/notes.py") == "notes.py"
    session.roots = [one, two]
    assert session.display_path(str(two / "main.go")) == "two/main.go"


async def test_closing_hands_back_the_file_on_disk_and_forgets_the_text(tmp_path: Path):
    """A closed document's unsaved text leaves the index, the offline engine and the recent lists."""
    import asyncio

    from lsp_server.core.documents import Change

    (tmp_path / "app.py").write_text("def on_disk():\n    return 1\n")
    outside = tmp_path.parent / f"{tmp_path.name}-outside.py"
    outside.write_text("def elsewhere():\n    return 2\n")
    session = session_in(tmp_path)
    await session.load_workspace()
    model = session.offline_provider().model
    uri, other = (tmp_path / "app.py").as_uri(), outside.as_uri()
    session.open_document(uri, "python", 1, "def on_disk():\n    return 1\n")
    session.open_document(other, "python", 1, "def elsewhere():\n    return 2\n")
    session.change_document(uri, 2, [Change("def typed_only():\n    pass\n", ((0, 0), (0, 0)))])
    for opened in (uri, other):
        session.refresh_document(opened)  # a pause in typing: index and engine learn the buffer
    assert session.index.definitions("typed_only") and session.index.definitions("elsewhere")
    assert session.recent_edits and uri in session.recent_documents

    session.close_document(uri)
    session.close_document(other)
    await asyncio.gather(*session.background)

    assert not session.index.definitions("typed_only") and session.index.definitions("on_disk")
    assert not session.index.definitions("elsewhere")  # outside the workspace: forgotten
    assert model.resolve_path(outside.name) is None and model.resolve_path("app.py") is not None
    assert not session.recent_edits and not session.recent_documents and not session.edited
    assert model.stats().dead_tokens == 0  # idle: reclaimed
    outside.unlink()


async def test_the_offline_engine_learns_typed_text_when_it_is_about_to_answer(tmp_path: Path):
    """While a model serves, typing pauses do not re-index files into the offline engine; a fallback does."""
    from lsp_server.core.documents import Change

    session = session_in(tmp_path)
    await session.load_workspace()
    model = session.offline_provider().model
    session.providers.pin(FailingModel())
    uri = (tmp_path / "typed.py").as_uri()
    session.open_document(uri, "python", 1, "")
    session.change_document(uri, 2, [Change("def handle_request(req):\n    return req\n", ((0, 0), (0, 0)))])
    session.refresh_document(uri)  # a pause in typing
    assert session.index.definitions("handle_request")  # the index always follows the buffer
    assert model.resolve_path("typed.py") is None  # the fallback engine did not re-index it

    result = await session.complete(uri, 0, explicit=True)
    assert result.fallback
    assert model.resolve_path("typed.py") is not None and not session.offline_stale


async def test_the_offline_engine_learns_a_fallbacks_share_once_the_model_fails(tmp_path: Path):
    """Nothing while a model serves; the nearest files once it stood in for it; everything alone."""
    import time as clock

    from lsp_server.providers import ngram

    async def until(condition, seconds: float = 20) -> None:
        deadline = clock.monotonic() + seconds
        while not condition() and clock.monotonic() < deadline:
            await asyncio.sleep(0.05)  # the indexer's threads offer the stored files

    for i in range(45):  # about 95k tokens of workspace, more than a fallback holds
        (tmp_path / f"module_{i:02}.py").write_text(
            "".join(f"def handler_{i}_{k}(request):\n    return request.value + {k}\n" for k in range(150))
        )
    session = session_in(tmp_path)
    session.apply_settings(
        attrs.evolve(session.sources, environ={"LLM_LSP_MODEL": "m", "OPENAI_API_KEY": "k"})
    )
    await session.load_workspace()
    assert session.indexer is not None and session.indexer.wait_idle()
    # A model serves: nothing kept, and the engine not even created (its imports delayed a first
    # completion); the workspace is offered to it when it is created, after the indexer's pass.
    assert session.offline_budget() == 0 and session.offline is None

    session.providers.pin(FailingModel())
    uri = (tmp_path / "typed.py").as_uri()
    session.open_document(uri, "python", 1, "def handle_request(req):\n    return req\n")
    result = await session.complete(uri, 0, explicit=True)
    assert result.fallback
    model = session.offline_provider().model
    assert session.offline_budget() == ngram.FALLBACK_MAX_TOKENS
    assert model.resolve_path("typed.py") is not None  # the open document at once
    await until(lambda: model.stats().files > 1)
    held = model.stats().tokens
    assert 1 < model.stats().files < 46 and held <= ngram.FALLBACK_MAX_TOKENS

    session.apply_settings(attrs.evolve(session.sources, initialization_options={"offlineFallback": False}))
    assert session.offline_budget() == 0  # no fallback: no workspace file kept, the open one stays
    assert model.stats().files == 1 and model.resolve_path("typed.py") is not None

    session.apply_settings(attrs.evolve(session.sources, environ={}, initialization_options={}))
    assert session.offline_budget() == ngram.DEFAULT_MAX_TOKENS  # no model: the engine serves alone
    await until(lambda: model.stats().files >= 45)
    assert model.stats().files >= 45 and model.stats().tokens > held
    session.close_index()


async def test_indexing_waits_for_the_first_suggestions_but_not_for_long(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """An editor asks for a suggestion as it opens: the open documents and the workspace wait for it."""
    from lsp_server.app import session as session_module

    (tmp_path / "on_disk.py").write_text("def on_disk():\n    return 1\n")
    answering = True
    session = session_in(tmp_path)
    session.open_document((tmp_path / "typed.py").as_uri(), "python", 1, "def typed():\n    pass\n")
    loading = asyncio.ensure_future(session.load_workspace(answering=lambda: answering))
    await asyncio.sleep(0.2)
    assert not loading.done() and session.indexer is None
    assert not session.index.definitions("typed") and not session.index.definitions("on_disk")
    answering = False
    assert await loading == 1  # files walked: typed.py is not on disk
    assert session.index.definitions("typed") and session.index.definitions("on_disk")
    session.close_index()

    monkeypatch.setattr(session_module, "FIRST_ANSWERS_MAX_S", 0.1)  # a model that never answers
    again = session_in(tmp_path)
    assert await asyncio.wait_for(again.load_workspace(answering=lambda: True), 10) == 1
    assert again.index.definitions("on_disk")
    again.close_index()


async def test_an_index_closed_while_it_loads_is_not_rebuilt_in_memory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    """Shutdown closes the index mid-pass: the load stops there, not on the loop into memory."""
    for i in range(300):
        (tmp_path / f"module_{i}.py").write_text("".join(f"def f{i}_{k}():\n    pass\n" for k in range(50)))
    session = session_in(tmp_path)
    loading = asyncio.ensure_future(session.load_workspace())
    while session.indexer is None:
        await asyncio.sleep(0.002)
    session.close_index()  # what shutdown does
    await asyncio.wait_for(loading, 10)
    assert "into memory" not in caplog.text
    assert not session.index.definitions("f299_1") and not session.index.readers


async def test_the_secret_scanner_loads_in_a_worker_thread_and_prompts_wait_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Imported on the loop by the first prompt that met a secret-shaped line, it held the loop 0.1-0.3 s."""
    import threading

    from lsp_server.privacy import redaction

    loaded_in: list[threading.Thread] = []
    released = threading.Event()

    def slow_load() -> None:
        loaded_in.append(threading.current_thread())
        released.wait(5)

    monkeypatch.setattr(redaction, "load_scanner", slow_load)
    session = session_in(tmp_path)
    waiting = asyncio.ensure_future(session.ensure_privacy())
    await asyncio.sleep(0.05)
    assert not waiting.done()  # a prompt is not built before the scanner is there
    released.set()
    await waiting
    await session.ensure_privacy()  # loaded once
    assert len(loaded_in) == 1 and loaded_in[0] is not threading.main_thread()


SECRET_LINE = 'STRIPE_KEY = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"\n'


async def test_with_no_model_the_scanner_never_loads_and_the_prompt_stays_unredacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The offline engine's prompt never leaves the process: its first answer waits for no scanner."""
    from lsp_server.privacy import redaction

    loads: list[int] = []
    monkeypatch.setattr(redaction, "load_scanner", lambda: loads.append(1))
    session = session_in(tmp_path)
    uri = (tmp_path / "keys.py").as_uri()
    text = SECRET_LINE + "client = stripe.Client(STRIPE_KEY)\nclient."
    session.open_document(uri, "python", 1, text)
    await session.complete(uri, len(text), explicit=True)
    assert session.provider().is_offline and loads == []
    prompt = session.pipeline().build_prompt(session.store.get(uri), len(text))
    assert "sk_live_4eC39HqLyjWDarjtT1zdp7dc" in prompt.prefix

    recorder = RecordingProvider()  # a model now serves: its prompts wait for the scanner, redacted
    session.providers.pin(recorder)
    await session.complete(uri, len(text), explicit=True)
    assert loads == [1]
    sent = recorder.requests[0].prompt
    assert "sk_live" not in sent.prefix and redaction.PLACEHOLDER in sent.prefix


async def test_logged_offline_prompts_still_wait_for_the_scanner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """``logPrompts`` scrubs what it writes with the scanner, so it must be there, loaded off the loop."""
    from lsp_server.privacy import redaction

    loads: list[int] = []
    monkeypatch.setattr(redaction, "load_scanner", lambda: loads.append(1))
    session = session_in(tmp_path)
    session.apply_settings(attrs.evolve(session.sources, user_file={"logPrompts": True}))  # user only
    assert session.settings.log_prompts
    uri = (tmp_path / "plain.py").as_uri()
    session.open_document(uri, "python", 1, "value = 1\n")
    await session.complete(uri, 10, explicit=True)
    assert session.provider().is_offline and loads == [1]


async def test_the_sdk_loads_once_requests_pause_not_while_they_come(tmp_path: Path, monkeypatch):
    """Requests made before the SDK has loaded go out without it; the SDK loads once they pause.

    Its import (0.35-0.45 s of CPU) shares the interpreter with the event loop: started at once, it
    made a suggestion typed right after start-up twice as slow, and after the first request, it held
    the next ones up to 0.1 s.
    """
    from fake_openai import FakeOpenAI, Reply

    from lsp_server.app import session as session_module

    monkeypatch.setattr(session_module, "SDK_IDLE_WARM_UP_S", 0.3)
    with FakeOpenAI(default=Reply(text="1")) as fake:
        session = Session(environ={"OPENAI_BASE_URL": fake.base_url, "LLM_LSP_MODEL": "starcoder2"})
        session.roots = [tmp_path]
        provider = session.provider()
        assert not provider.is_offline and provider.warmed  # a request can go at once
        started: list[int] = []  # requests done when the SDK's load began
        real_warm_up = provider.warm_up

        async def warm_up() -> None:
            started.append(len(fake.requests))
            await real_warm_up()

        monkeypatch.setattr(provider, "warm_up", warm_up)
        uri = (tmp_path / "a.py").as_uri()
        session.open_document(uri, "python", 1, "value = ")
        for version in range(2, 8):  # typing: a request every 0.1 s, for longer than the idle wait
            text = "value = " + "x" * version + " + "
            session.open_document(uri, "python", version, text)
            result = await session.complete(uri, len(text), explicit=True)
            assert [item.text for item in result.items] == ["1"]
            await asyncio.sleep(0.1)
        assert started in ([], [6])  # not while requests came
        assert {r.headers["user-agent"].split("/")[0] for r in fake.requests} == {"llm-lsp"}  # not the SDK
        for _ in range(200):  # requests paused: the SDK loads now, off the loop
            if provider.sdk_loaded and not session.background_work():
                break
            await asyncio.sleep(0.05)
        assert started == [6] and provider.sdk_loaded and session.background_work() == 0
        other = (tmp_path / "b.py").as_uri()
        session.open_document(other, "python", 1, "total = ")
        await session.complete(other, 8, explicit=True)
        assert fake.requests[-1].headers["user-agent"].startswith("AsyncOpenAI/")
        await session.providers.aclose()


async def test_with_no_request_the_sdk_loads_after_an_idle_second(tmp_path: Path, monkeypatch):
    from lsp_server.app import session as session_module

    monkeypatch.setattr(session_module, "SDK_IDLE_WARM_UP_S", 0.05)
    session = Session(environ={"OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "LLM_LSP_MODEL": "starcoder2"})
    provider = session.provider()
    for _ in range(200):
        if provider.sdk_loaded:
            break
        await asyncio.sleep(0.05)
    assert provider.sdk_loaded
    await session.providers.aclose()


async def test_a_provider_retired_before_its_idle_moment_never_loads_the_sdk(tmp_path: Path, monkeypatch):
    from lsp_server.app import session as session_module

    monkeypatch.setattr(session_module, "SDK_IDLE_WARM_UP_S", 0.05)
    environ = {"OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "LLM_LSP_MODEL": "starcoder2"}
    session = Session(environ=environ)
    first = session.provider()
    changed = {**environ, "LLM_LSP_MODEL": "qwen2.5-coder"}
    session.apply_settings(attrs.evolve(session.sources, environ=changed))
    second = session.provider()
    assert second is not first
    for _ in range(200):
        if second.sdk_loaded:
            break
        await asyncio.sleep(0.05)
    assert second.sdk_loaded and not first.sdk_loaded  # the retired one was closed, never loaded
    await session.aclose()
    assert session.background_work() == 0


async def test_what_loads_once_is_frozen_out_of_full_collections(tmp_path: Path):
    """A full collection walked ~126,000 start-up objects: 25-55 ms on whichever thread set it off."""
    import gc

    gc.unfreeze()
    session = session_in(tmp_path)
    await session.load_workspace()
    for _ in range(100):
        if gc.get_freeze_count():
            break
        await asyncio.sleep(0.02)
    assert gc.get_freeze_count() > 1000  # the session's modules, frozen once they were in
    session.close_index()
