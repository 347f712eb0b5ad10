//! Zed dev extension for llm-lsp: starts `llm-lsp --stdio` found on the worktree's PATH (or the
//! binary set in Zed's `lsp.llm-lsp.binary`), passes `lsp.llm-lsp.initialization_options` as
//! initializationOptions and answers workspace/configuration with `{"llmLsp": lsp.llm-lsp.settings}`.
use zed_extension_api::{self as zed, serde_json, settings::LspSettings, LanguageServerId, Result};

struct LlmLsp;

impl zed::Extension for LlmLsp {
    fn new() -> Self {
        LlmLsp
    }

    fn language_server_command(&mut self, id: &LanguageServerId, worktree: &zed::Worktree) -> Result<zed::Command> {
        let binary = LspSettings::for_worktree(id.as_ref(), worktree).ok().and_then(|s| s.binary);
        let configured = binary.as_ref().and_then(|b| b.path.clone());
        let command = match configured.or_else(|| worktree.which("llm-lsp")) {
            Some(path) => path,
            None => return Err("llm-lsp not found on PATH: pip install llm-lsp, or set lsp.llm-lsp.binary.path".into()),
        };
        let args = binary
            .as_ref()
            .and_then(|b| b.arguments.clone())
            .unwrap_or_else(|| vec!["--stdio".to_string()]);
        let mut env = worktree.shell_env();
        if let Some(extra) = binary.and_then(|b| b.env) {
            env.extend(extra);
        }
        Ok(zed::Command { command, args, env })
    }

    fn language_server_initialization_options(
        &mut self,
        id: &LanguageServerId,
        worktree: &zed::Worktree,
    ) -> Result<Option<serde_json::Value>> {
        Ok(LspSettings::for_worktree(id.as_ref(), worktree).ok().and_then(|s| s.initialization_options))
    }

    fn language_server_workspace_configuration(
        &mut self,
        id: &LanguageServerId,
        worktree: &zed::Worktree,
    ) -> Result<Option<serde_json::Value>> {
        let settings = LspSettings::for_worktree(id.as_ref(), worktree)
            .ok()
            .and_then(|s| s.settings)
            .unwrap_or_else(|| serde_json::json!({}));
        Ok(Some(serde_json::json!({ "llmLsp": settings })))
    }
}

zed::register_extension!(LlmLsp);
