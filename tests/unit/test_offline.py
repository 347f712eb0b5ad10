"""The offline engine: lexer round trip, the model's suggestions, its bounds, and the provider."""

from __future__ import annotations

import contextlib

from hypothesis import given
from hypothesis import strategies as st

from lsp_server.engine.index import WorkspaceIndex
from lsp_server.providers.base import Delta, ModelRequest
from lsp_server.providers.calibration import THRESHOLD
from lsp_server.providers.ngram import OfflineModel, is_indexable, lex, looks_secret
from lsp_server.providers.offline import OfflineProvider
from lsp_server.providers.prompts import ChatMessage, ChatPrompt, FimPrompt

HANDLERS = """\
class Server:
    def on_open(self, params):
        document = self.workspace.get_document(params.uri)
        self.publish(document.uri, self.check(document.source))

    def on_save(self, params):
        document = self.workspace.get_document(params.uri)
        self.publish(document.uri, self.check(document.source))
"""


# One copy of the handler: evidence for a line, not a repeat (HANDLERS holds it twice).
ONE_HANDLER = HANDLERS.split("\n\n")[0] + "\n"


def cursor(text: str) -> tuple[str, str]:
    """Split a fixture at its ``$0`` marker into (prefix, suffix)."""
    prefix, suffix = text.split("$0")
    return prefix, suffix


# -- lexer ------------------------------------------------------------------------------------------


@given(st.text())
def test_lex_reproduces_any_text_exactly(text):
    assert "".join(lex(text)) == text


def test_lex_keeps_spaces_with_tokens_and_indentation_with_line_breaks():
    assert lex("if x == 1:\n    return  y\n") == [
        "if",
        " x",
        " ==",
        " 1",
        ":",
        "\n    ",
        "return",
        "  y",
        "\n",
    ]


def test_lex_reads_identifiers_of_any_script_and_crlf():
    assert lex("größe = 1\r\n\tπ") == ["größe", " =", " 1", "\r\n\t", "π"]


# -- suggestions ------------------------------------------------------------------------------------


def test_copies_a_parallel_line_from_another_file_only_when_its_names_are_in_scope():
    model = OfflineModel()
    model.add("server.py", ONE_HANDLER)
    prefix, suffix = cursor(
        "class Other:\n    def on_close(self, params):\n        document = $0\n"
        "        self.publish(document.uri, self.check(document.source))\n"
    )
    # What the index makes reachable from this file (e.g. it imports the module defining them).
    reachable = frozenset({"workspace", "get_document", "uri"})
    got = model.suggest(prefix, suffix, "other.py", scope_names=reachable)
    assert got == "self.workspace.get_document(params.uri)"
    # Without them the copied line would introduce names nothing reachable defines: it is dropped.
    assert model.propose(prefix, suffix, "other.py") is None
    assert model.suggest(prefix, suffix, "other.py") == ""


def test_a_repeat_is_shown_whatever_names_it_writes():
    # The workspace shows this place twice and both copies go on the same way: the strongest evidence.
    model = OfflineModel()
    model.add("server.py", HANDLERS)
    prefix, suffix = cursor("class Other:\n    def on_close(self, params):\n        document = $0\n")
    found = model.propose(prefix, suffix, "other.py")
    assert found is not None and found.source == "repeat"
    assert found.text == "self.workspace.get_document(params.uri)"
    assert model.suggest(prefix, suffix, "other.py") == found.text


def test_copies_that_go_on_differently_are_not_a_repeat():
    model = OfflineModel()
    model.add("a.py", "def f(path):\n    with open(path) as handle:\n        rows = handle.read()\n")
    model.add("b.py", "def g(path):\n    with open(path) as handle:\n        rows = list(handle)\n")
    prefix, suffix = cursor("def h(path):\n    with open(path) as handle:\n        rows = $0\n")
    seen: list = []
    found = model.propose(prefix, suffix, "c.py", collect=seen)
    assert found is None or found.source != "repeat"
    assert not any(entry.source == "repeat" for entry in seen)


def test_a_copy_that_disagrees_with_what_is_typed_spoils_the_repeat():
    model = OfflineModel()
    body = "def f(path):\n    with open(path) as handle:\n        rows = [line for line in handle]\n"
    model.add("a.py", body)
    model.add("b.py", body.replace("f(", "g("))
    model.add("c.py", body.replace("f(", "k(").replace("[line for line in handle]", "sorted(handle)"))
    prefix, suffix = cursor("def h(path):\n    with open(path) as handle:\n        rows = [$0\n")
    found = model.propose(prefix, suffix, "d.py")
    assert found is None or found.source != "repeat"


def test_a_single_copy_is_evidence_not_a_repeat():
    model = OfflineModel()
    model.add("a.py", "def f(path):\n    with open(path) as handle:\n        rows = parse_rows(handle)\n")
    prefix, suffix = cursor("def h(path):\n    with open(path) as handle:\n        rows = $0\n")
    seen: list = []
    model.propose(prefix, suffix, "c.py", collect=seen)
    assert seen and all(entry.source != "repeat" for entry in seen)
    assert any("nothing reachable defines (parse_rows)" in entry.verdict for entry in seen)


def test_a_credential_is_refused_even_when_repeated():
    model = OfflineModel()
    body = 'def f():\n    client = connect()\n    token = "AKIAIOSFODNN7EXAMPLEq1w2e3r4"\n'
    model.add("a.py", body)
    model.add("b.py", body.replace("f(", "g("))
    prefix, suffix = cursor("def h():\n    client = connect()\n    token = $0\n")
    assert model.suggest(prefix, suffix, "c.py") == ""


def test_uses_the_current_document_even_when_it_was_never_added():
    model = OfflineModel()
    text = (
        HANDLERS + "\n    def on_close(self, params):\n        document = self.workspace.get_document(par$0\n"
    )
    prefix, suffix = cursor(text)
    assert model.suggest(prefix, suffix, "new.py") == "ams.uri)"


def test_completes_an_unfinished_name_from_the_names_in_scope_nearest_first():
    model = OfflineModel()
    prefix, suffix = cursor(
        "configuration_path = find()\nconfiguration_loader = make()\n"
        "print(configuration_loader)\nresult = configuration_l$0\n"
    )
    found = model.propose(prefix, suffix, None)
    assert found is not None and found.text == "oader" and found.source == "word"
    # A lone completed name is rarely the whole rest of a line (bench/offline.py): not shown.
    assert found.confidence < THRESHOLD and model.suggest(prefix, suffix, None) == ""


def test_never_completes_a_name_to_one_from_an_unrelated_file():
    # The example: the line needs DecoderDisallowUnknownFields; another file uses
    # DecoderUseNumber after the same context, but nothing reachable from this file defines it.
    model = OfflineModel()
    model.add("other/json.go", "func setup() {\n\tjson.EnableDecoderUseNumber = true\n}\n" * 5)
    prefix = "package binding\n\nvar EnableDecoderDisallowUnknownFields = false\n\nfunc f() {\n\tjson.Enable"
    suffix = "\n}\n"
    assert model.suggest(prefix, suffix, "binding/json.go") != "DecoderUseNumber = true"
    allowed = model.suggest(prefix, suffix, "binding/json.go", scope_names=frozenset({"DecoderUseNumber"}))
    assert allowed in ("", "DecoderUseNumber = true")  # shown only if the evidence is strong enough


def test_update_changes_only_what_that_file_teaches():
    model = OfflineModel()
    names = frozenset({"compute_sum", "values", "start", "other_thing", "items"})
    model.add("a.py", "def f(values):\n    total = compute_sum(values, start=0)\n    return total\n" * 4)
    model.add("b.py", "def g(items):\n    size = len(items)\n    return size\n" * 4)
    a_prefix, b_prefix = "def h(values):\n    total = ", "def k(items):\n    size = "
    assert (
        model.suggest(a_prefix, "\n    return total\n", "c.py", scope_names=names)
        == "compute_sum(values, start=0)"
    )
    model.update("a.py", "def f(values):\n    total = other_thing(values)\n    return total\n" * 4)
    assert model.suggest(a_prefix, "\n    return total\n", "c.py", scope_names=names) == "other_thing(values)"
    assert model.suggest(b_prefix, "\n    return size\n", "c.py", scope_names=names) == "len(items)"
    model.remove("a.py")
    assert model.suggest(a_prefix, "\n    return total\n", "c.py", scope_names=names) == ""
    assert model.stats().files == 1


def test_removing_many_files_rebuilds_and_keeps_live_files():
    model = OfflineModel()
    model.add("keep.py", "def ask(question):\n    answer = compute_answer(question)\n    return answer\n" * 4)
    for i in range(60):
        model.add(f"tmp{i}.py", "noise = value\n" * 2000)
        model.remove(f"tmp{i}.py")
    stats = model.stats()
    assert stats.dead_tokens < 120_000  # reclaimed by a rebuild along the way
    assert stats.files == 1
    prefix = "def ask(question):\n    answer = "
    got = model.suggest(prefix, "\n    return answer\n", "x.py", scope_names=frozenset({"compute_answer"}))
    assert got == "compute_answer(question)"


def test_stops_at_the_end_of_the_line_unless_more_lines_are_asked_for():
    model = OfflineModel()
    model.add("a.py", "def area(self):\n    return self.width * self.height\n\n" * 2)
    assert model.suggest("def area(self):", "", "b.py") == ""  # nothing left on that line
    assert (
        model.suggest("def area(self):", "", "b.py", max_lines=2) == "\n    return self.width * self.height"
    )


def test_fits_the_suggestion_before_text_right_of_the_cursor():
    model = OfflineModel()
    text = "left = 1\nright = 2\nresult = combine(left, right)\nprint(result)\n"
    model.add("a.py", text * 3)
    prefix = text * 2 + "left = 1\nright = 2\nresult = combine("
    assert model.suggest(prefix, ")\nprint(result)\n", "b.py") == "left, right"
    assert model.suggest(prefix, " + 1\nprint(result)\n", "b.py") == ""  # would garble the line


def test_says_nothing_when_the_workspace_disagrees_with_itself():
    model = OfflineModel()
    model.add("a.py", "".join(f"value = option_{i}(x)\n" for i in range(12)))
    assert model.suggest("value = ", "", "b.py") == ""


def test_says_nothing_without_material():
    model = OfflineModel()
    assert model.suggest("", "", None) == ""
    assert model.suggest("   \n", "", "a.py") == ""
    assert model.suggest("x = ", "", "a.py") == ""
    model.add("a.py", HANDLERS)
    assert model.suggest("(defun square (x) (* x", ")", "a.lisp") == ""
    assert model.suggest("document = self.work", "space", "a.py") == ""  # cursor inside a word


def test_never_learns_binary_minified_or_excluded_files():
    model = OfflineModel(is_excluded=lambda path: path.endswith(".env"))
    assert not model.add("blob.bin", "key = value\x00\x01\x02" * 100)
    assert not model.add("min.js", "var a=1;" * 1000)
    assert not model.add("secrets.env", "API_TOKEN = load_token(vault)\n" * 3)
    assert not is_indexable("\x01\x02\x03 ok")
    assert model.suggest("API_TOKEN = ", "", "x.py") == ""
    assert model.suggest("API_TOKEN = load_token(vault)\nAPI_TOKEN = ", "", "secrets.env") == ""
    assert model.stats().files == 0
    assert model.stats().skipped_files == 3


def test_binary_looking_document_gets_no_suggestion():
    model = OfflineModel()
    model.add("a.py", HANDLERS)
    assert model.suggest("\x00\x00document = ", "", "a.py") == ""


def test_refuses_files_beyond_the_token_cap():
    model = OfflineModel(max_tokens=100)
    assert model.add("a.py", "x = 1\n" * 10)
    assert not model.add("b.py", "y = 2\n" * 100)
    assert model.stats().tokens <= 100


def test_does_not_carry_credential_shaped_text_between_files():
    assert looks_secret('"sk-Ab3dE5fG7hJ9kL1mN3pQ5rS7tU9"')
    assert not looks_secret("self.workspace.get_document(params.uri)")
    model = OfflineModel()
    model.add("a.py", 'client = Client(key="Ab3dE5fG7hJ9kL1mN3pQ5rS7tU9vW")\n' * 3)
    assert model.suggest("client = Client(", "", "b.py") == ""


def test_stats_count_files_tokens_and_memory():
    model = OfflineModel()
    model.add("a.py", HANDLERS)
    stats = model.stats()
    assert (stats.files, stats.tokens) == (1, len(lex(HANDLERS)))
    assert 0 < stats.memory_bytes < 1_000_000


# -- provider ---------------------------------------------------------------------------------------


def request(prompt) -> ModelRequest:
    return ModelRequest(prompt=prompt, deadline=0.0)


async def collect(provider: OfflineProvider, prompt) -> list[Delta]:
    async with contextlib.aclosing(provider.stream(request(prompt))) as stream:
        return [delta async for delta in stream]


async def test_provider_answers_a_fim_prompt_with_one_finished_delta(tmp_path):
    # The index makes the names of the imported module reachable from the document.
    base, other = str(tmp_path / "base.py"), str(tmp_path / "other.py")
    index = WorkspaceIndex()
    index.add_file(
        base, "class Base:\n    workspace = None\n\n    def get_document(self, uri):\n        pass\n"
    )
    other_text = "from base import Base\n\n\nclass Other(Base):\n"
    other_text += "    def on_close(self, params):\n        document = \n"
    index.add_file(other, other_text)
    provider = OfflineProvider(index=index)
    provider.model.add(str(tmp_path / "server.py"), ONE_HANDLER)
    prompt = FimPrompt(
        prefix=other_text[:-1],
        suffix="\n        self.publish(document.uri, self.check(document.source))\n",
        path=other,
    )
    assert await collect(provider, prompt) == [Delta("self.workspace.get_document(params.uri)", "stop")]
    provider.index = None  # without the index, the copied line's names are not reachable
    assert await collect(provider, prompt) == [Delta("", "stop")]
    await provider.aclose()


async def test_provider_answers_chat_with_an_empty_finished_delta():
    provider = OfflineProvider()
    prompt = ChatPrompt(messages=(ChatMessage("user", "explain this"),))
    assert await collect(provider, prompt) == [Delta("", "stop")]


async def test_provider_never_raises_while_typing():
    class Broken(OfflineModel):
        def suggest(self, prefix, suffix, path=None, max_lines=1):
            raise RuntimeError("bug")

    provider = OfflineProvider(Broken())
    assert await collect(provider, FimPrompt(prefix="x = ", suffix="")) == [Delta("", "stop")]


def test_provider_says_it_is_not_an_llm():
    provider = OfflineProvider()
    assert provider.is_offline is True
    assert "not an LLM" in provider.description


def test_provider_fills_holes_natively():
    assert OfflineProvider().prompt_mode == "fim"


def test_update_with_unchanged_text_keeps_the_file_as_it_is():
    model = OfflineModel()
    assert model.update("a.py", HANDLERS)
    assert model.update("a.py", HANDLERS)  # the walk and open/save re-send unchanged files
    stats = model.stats()
    assert (stats.files, stats.dead_tokens) == (1, 0)
    model.update("a.py", HANDLERS + "\n")
    assert model.stats().dead_tokens > 0


def test_finishes_what_the_workspace_agrees_on_and_nothing_from_garbage():
    model = OfflineModel()
    model.add("a.py", "".join(f"value = compute({name})\n" for name in ("alpha", "beta", "gamma", "delta")))
    # The name is typed; all four lines agree on what follows it.
    assert model.suggest("other = compute(alpha", "\n", "b.py") == ")"
    assert model.suggest("(defun f (x) (* x", "", "c.lisp") == ""
    assert model.suggest("value = compute(\x00\x01", "", "d.py") == ""


def test_the_stale_indexed_copy_of_the_edited_file_does_not_outvote_its_live_text():
    # The workspace walk indexed this file from disk, including the line now being typed; its old
    # (empty) rest must not compete with what the live text above the cursor shows.
    source = "values = [1, 2, 3]\ntotal = sum(values)\nprint(total)\n\nvalues = [4, 5, 6]\ntotal = sum(\n"
    cursor = source.rindex("sum(") + 4
    model = OfflineModel()
    model.add("/project/example.py", source)
    assert model.suggest(source[:cursor], source[cursor:], "/project/example.py") == "values)"


def test_a_workspace_relative_prompt_path_finds_the_indexed_file():
    # Prompts name files relative to the workspace; the model knows them by full path, so the stale
    # indexed copy of the document must still be recognised (and skipped) through the relative name.
    source = "values = [1, 2, 3]\ntotal = sum(values)\nprint(total)\n\nvalues = [4, 5, 6]\ntotal = sum(\n"
    cursor = source.rindex("sum(") + 4
    model = OfflineModel()
    model.add("/project/pkg/example.py", source)
    model.add("/project/other/example.py", "x = 1\n")
    assert model.resolve_path("pkg/example.py") == "/project/pkg/example.py"
    assert model.resolve_path("example.py") is None  # two files end so: ambiguous
    assert model.suggest(source[:cursor], source[cursor:], "pkg/example.py") == "values)"


def test_reindexing_an_edited_file_keeps_the_model_bounded():
    """Every pause in typing re-indexes the open file; dead entries are reclaimed, not kept forever."""
    from lsp_server.providers.ngram import OfflineModel

    model = OfflineModel()
    line = "def handler_{0}(request, value):\n    return request.get(value) + {0}\n"
    body = "".join(line.format(i) for i in range(400))
    for edit in range(60):
        model.update("/w/edited.py", body + f"# edit {edit}\n")
    stats = model.stats()
    assert stats.files == 1
    assert stats.dead_tokens <= max(stats.tokens, 100_000)


def test_a_thread_teaching_a_file_does_not_hold_the_lock_while_it_lexes_and_sorts(monkeypatch):
    """A completion on the event loop waited up to 175 ms for the indexer's thread posting a big file."""
    import threading

    from lsp_server.providers import ngram

    model = OfflineModel()
    free: dict[str, bool] = {}

    def lock_is_free(step: str) -> None:
        tried: list[bool] = []

        def attempt() -> None:  # another thread, as the event loop would be
            got = model._lock.acquire(blocking=False)
            if got:
                model._lock.release()
            tried.append(got)

        other = threading.Thread(target=attempt)
        other.start()
        other.join()
        free[step] = tried[0]

    real_lex, real_runs = ngram.lex, ngram._file_runs

    def spying_lex(text: str) -> list[str]:
        lock_is_free("lex")
        return real_lex(text)

    def spying_runs(ids, slot):
        lock_is_free("runs")
        return real_runs(ids, slot)

    monkeypatch.setattr(ngram, "lex", spying_lex)
    monkeypatch.setattr(ngram, "_file_runs", spying_runs)
    text = "def handle_request(request):\n    return request.body\n" * 20
    assert model.add("/w/server.py", text)
    assert free == {"lex": True, "runs": True}
    assert model.suggest("def handle_request(request):\n    return ", "", "/w/other.py") == "request.body"


def test_a_rebuild_leaves_one_run_per_index_and_the_same_suggestions():
    """Each file learnt is a run of its own; a rebuild joining them file by file left one per file."""
    line = "def handler_{0}(request):\n    return request.body_{0}\n"
    # Each file a third of the one before: merging only the two newest runs leaves them all apart.
    texts = {f"/w/m{i}.py": line.format(i) * 3 ** (8 - i) for i in range(9)}
    model, fresh = OfflineModel(), OfflineModel()
    for path, text in texts.items():
        model.add(path, text)
    model.remove("/w/m0.py")
    model.compact()
    for path, text in list(texts.items())[1:]:
        fresh.add(path, text)
    assert len(model._long.runs) == len(model._short.runs) == 1
    prefix = "def handler_7(request):\n    return "
    rebuilt: list = []
    learnt: list = []
    model.propose(prefix, "\n", "/w/new.py", collect=rebuilt)
    fresh.propose(prefix, "\n", "/w/new.py", collect=learnt)
    assert [(c.text, c.features) for c in rebuilt] == [(c.text, c.features) for c in learnt]
    assert "request.body_7" in {c.text for c in rebuilt}  # the same copies, with the same evidence
