"""Settings: layering, validation problems, environment, machine-only keys."""

from pathlib import Path

from lsp_server.core import settings as config


def resolve(**kwargs):
    return config.resolve(config.Sources(**kwargs))


def test_defaults_are_complete_and_offline():
    settings, problems = resolve()
    assert problems == []
    assert set(settings.flat()) == set(config.FIELDS)
    assert settings.uses_offline_engine
    assert settings.completion.multiline == "auto"


def test_environment_selects_a_model_and_a_base_url_without_key_is_valid():
    settings, problems = resolve(
        environ={"OPENAI_BASE_URL": "http://127.0.0.1:11434/v1", "LLM_LSP_MODEL": "qwen2.5-coder"}
    )
    assert problems == []
    assert settings.model == "qwen2.5-coder"
    assert settings.api_key == ""
    assert not settings.uses_offline_engine


def test_a_key_alone_means_openai_default_model():
    settings, _ = resolve(environ={"OPENAI_API_KEY": "sk-test-1234567890"})
    assert settings.model == config.DEFAULT_OPENAI_MODEL


def test_layers_apply_lowest_first():
    settings, problems = resolve(
        environ={"LLM_LSP_MODEL": "env-model"},
        user_file={"model": "file-model", "completion": {"maxTokens": 64}},
        initialization_options={"model": "init-model"},
        workspace_configuration={"completion": {"maxTokens": 32}},
    )
    assert problems == []
    assert settings.model == "init-model"
    assert settings.completion.max_tokens == 32


def test_invalid_values_give_one_readable_problem_each_and_the_rest_applies():
    settings, problems = resolve(
        initialization_options={
            "completion": {"multiline": "sometimes", "maxTokens": "many", "enable": False},
            "model": "m",
            "nonsense": 1,
        }
    )
    messages = [str(p) for p in problems]
    assert len(problems) == 3
    assert any("llmLsp.completion.multiline" in m and "auto, always, never" in m for m in messages)
    assert any("llmLsp.completion.maxTokens" in m and "number" in m for m in messages)
    assert any("llmLsp.nonsense" in m and "unknown" in m for m in messages)
    assert settings.completion.multiline == "auto"
    assert settings.completion.enable is False
    assert settings.model == "m"


def test_bounds_are_checked():
    settings, problems = resolve(initialization_options={"connectTimeoutMs": 60000})
    assert "at most 3000" in str(problems[0])
    assert settings.connect_timeout_ms == 3000


def test_dotted_keys_and_section_wrapper_are_accepted():
    settings, problems = resolve(workspace_configuration={"llmLsp": {"completion.enable": False}})
    assert problems == []
    assert settings.completion.enable is False


def test_workspace_configuration_cannot_redirect_code_or_switch_redaction_off():
    settings, problems = resolve(
        environ={"OPENAI_BASE_URL": "http://127.0.0.1:1/v1"},
        workspace_configuration={
            "baseUrl": "http://attacker.example/v1",
            "privacy": {"redactSecrets": False},
        },
    )
    assert settings.base_url == "http://127.0.0.1:1/v1"
    assert settings.privacy.redact_secrets is True
    assert {p.key for p in problems} == {"baseUrl", "privacy.redactSecrets"}


def test_non_object_settings_are_a_problem_not_a_crash():
    _, problems = resolve(workspace_configuration=["not", "an", "object"])
    assert len(problems) == 1


def test_user_file_missing_is_fine_and_broken_is_one_problem(tmp_path: Path):
    assert config.load_user_file(tmp_path / "absent.toml") == (None, [])
    broken = tmp_path / "config.toml"
    broken.write_text("model = = 1\n")
    data, problems = config.load_user_file(broken)
    assert data is None and len(problems) == 1
    good = tmp_path / "good.toml"
    good.write_text('model = "x"\n[completion]\nmultiline = "never"\n')
    data, problems = config.load_user_file(good)
    settings, more = resolve(user_file=data)
    assert problems == more == []
    assert settings.completion.multiline == "never"


def test_user_file_path_honours_xdg(tmp_path: Path):
    assert config.user_file_path({"XDG_CONFIG_HOME": str(tmp_path)}) == tmp_path / "llm-lsp" / "config.toml"


def test_public_view_masks_the_key():
    settings, _ = resolve(environ={"OPENAI_API_KEY": "sk-secret-value-abcd"})
    shown = settings.public_view()
    assert "sk-secret" not in str(shown)
    assert shown["apiKey"].endswith("abcd")
