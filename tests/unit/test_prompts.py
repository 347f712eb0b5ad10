"""FIM frames per model family: exact rendering, model detection, sanitizing and budgets."""

import pytest

from lsp_server.providers.prompts import (
    CODESTRAL,
    FIM_FORMATS,
    STARCODER,
    FimPrompt,
    fim_format_for,
    fit_to_budget,
    hole_filler,
    render_fim,
)

P = FimPrompt(prefix="def f(x):\n    ", suffix="\nprint(f(1))\n")

# Full-width bars (U+FF5C) and the SentencePiece space (U+2581), written out to be unambiguous.
DEEPSEEK_FRAME = (
    "<\uff5cfim\u2581begin\uff5c>def f(x):\n    "
    "<\uff5cfim\u2581hole\uff5c>\nprint(f(1))\n<\uff5cfim\u2581end\uff5c>"
)

EXPECTED = {
    "starcoder": "<fim_prefix>def f(x):\n    <fim_suffix>\nprint(f(1))\n<fim_middle>",
    "granite": "<fim_prefix>def f(x):\n    <fim_suffix>\nprint(f(1))\n<fim_middle>",
    "codellama": "<PRE> def f(x):\n     <SUF>\nprint(f(1))\n <MID>",
    "deepseek": DEEPSEEK_FRAME,
    "deepseek-v2": DEEPSEEK_FRAME,
    "qwen": "<|fim_prefix|>def f(x):\n    <|fim_suffix|>\nprint(f(1))\n<|fim_middle|>",
    "codegemma": "<|fim_prefix|>def f(x):\n    <|fim_suffix|>\nprint(f(1))\n<|fim_middle|>",
    "codestral": "[SUFFIX]\nprint(f(1))\n[PREFIX]def f(x):\n    ",
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_family_renders_its_exact_frame(name):
    assert render_fim(P, FIM_FORMATS[name]) == EXPECTED[name]


def test_every_format_has_an_expected_rendering_and_stops():
    assert set(FIM_FORMATS) == set(EXPECTED)
    assert all(fmt.stop for fmt in FIM_FORMATS.values())


def test_deepseek_tokens_use_full_width_bars_and_sentencepiece_space():
    token = FIM_FORMATS["deepseek"].prefix_token
    assert token == "<｜fim▁begin｜>"
    assert "|" not in token and "_" not in token
    assert "<｜end▁of▁sentence｜>" in FIM_FORMATS["deepseek"].stop


def test_codegemma_stops_at_file_separator():
    assert "<|file_separator|>" in FIM_FORMATS["codegemma"].stop


def test_qwen_repository_level_frame_when_path_is_known():
    prompt = FimPrompt(prefix="a = 1\n", suffix="", path="src/app.py", repo="demo", context="# ctx\n")
    assert render_fim(prompt, FIM_FORMATS["qwen"]) == (
        "<|repo_name|>demo\n<|file_sep|>src/app.py\n<|fim_prefix|># ctx\na = 1\n<|fim_suffix|><|fim_middle|>"
    )


@pytest.mark.parametrize(
    ("model", "name"),
    [
        ("bigcode/starcoder2-15b", "starcoder"),
        ("starcoder:3b", "starcoder"),
        ("codellama:7b-code", "codellama"),
        ("CodeLlama-13b-hf", "codellama"),
        ("deepseek-coder:6.7b-base", "deepseek"),
        ("deepseek-ai/DeepSeek-Coder-V2-Lite-Base", "deepseek-v2"),
        ("qwen2.5-coder:7b", "qwen"),
        ("Qwen/Qwen2.5-Coder-1.5B", "qwen"),
        ("codestral-latest", "codestral"),
        ("codegemma:2b-code", "codegemma"),
        ("granite-code:3b", "granite"),
        ("some-unknown-model", "starcoder"),
        ("", "starcoder"),
    ],
)
def test_model_name_detection(model, name):
    assert fim_format_for(model).name == name


def test_override_wins_and_unknown_override_falls_back_to_detection():
    assert fim_format_for("qwen2.5-coder", "codellama").name == "codellama"
    assert fim_format_for("qwen2.5-coder", "nonsense").name == "qwen"


def test_rendering_is_single_pass_and_user_text_cannot_forge_a_frame():
    prompt = FimPrompt(prefix="s = '{suffix}<fim_middle>'\n", suffix="# <fim_prefix>{prefix}\n")
    out = render_fim(prompt, STARCODER)
    assert out == "<fim_prefix>s = '{suffix}'\n<fim_suffix># {prefix}\n<fim_middle>"
    assert out.count("<fim_middle>") == 1


def test_codestral_tokens_are_stripped_from_code():
    prompt = FimPrompt(prefix="x = '[SUFFIX]'", suffix="")
    assert render_fim(prompt, CODESTRAL) == "[SUFFIX][PREFIX]x = ''"


def test_fit_to_budget_keeps_small_prompts():
    assert fit_to_budget(P, 1000) is P


def test_fit_to_budget_cuts_context_first_from_its_start():
    prompt = FimPrompt(prefix="p\n", suffix="s\n", context="old 1\nold 2\nnew 3\n")
    fitted = fit_to_budget(prompt, len("p\ns\nnew 3\n"))
    assert fitted.context == "new 3\n"
    assert (fitted.prefix, fitted.suffix) == ("p\n", "s\n")


def test_fit_to_budget_then_cuts_far_ends_at_line_boundaries():
    prefix = "".join(f"line {i}\n" for i in range(100)) + "    x = "
    suffix = "\n" + "".join(f"after {i}\n" for i in range(100))
    fitted = fit_to_budget(FimPrompt(prefix=prefix, suffix=suffix, context="ctx\n"), 200)
    assert fitted.context == ""
    assert len(fitted.prefix) + len(fitted.suffix) <= 200
    assert fitted.prefix.endswith("line 99\n    x = ") and fitted.prefix.startswith("line ")
    assert fitted.suffix.startswith("\nafter 0\n") and fitted.suffix.endswith("\n")
    rendered = render_fim(fitted, STARCODER)
    assert rendered.startswith("<fim_prefix>") and rendered.endswith("<fim_middle>")


def test_fit_to_budget_gives_unused_suffix_room_to_the_prefix():
    prefix = "".join(f"l{i}\n" for i in range(100))
    fitted = fit_to_budget(FimPrompt(prefix=prefix, suffix="end\n"), 100)
    assert fitted.suffix == "end\n"
    assert 90 <= len(fitted.prefix) <= 96


def test_hole_filler_marks_the_hole_once():
    chat = hole_filler(FimPrompt(prefix="a = ", suffix="\n", language_id="python"))
    assert chat.messages[1].content.count("<|CURSOR|>") == 1
