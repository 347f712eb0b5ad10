" llm-lsp for Vim 9 with yegappan/lsp (https://github.com/yegappan/lsp).
" Put this in ~/.vimrc after the plugin is loaded (packadd lsp). Vim has no LSP ghost text: the
" suggestion is a completion item (autocomplete or <C-x><C-o>), "Fix with AI" / "AI: ..." are code
" actions (:LspCodeAction), and the llm-lsp.* commands run from them.
vim9script

if executable('llm-lsp')
  g:LspAddServer([{
    name: 'llm-lsp',
    filetype: ['python', 'javascript', 'typescript', 'go', 'rust', 'java', 'c', 'cpp', 'cs', 'ruby', 'php', 'sh'],
    path: exepath('llm-lsp'),
    args: ['--stdio'],
    initializationOptions: {
      promptMode: 'auto',
      completion: {enable: true, disabledLanguages: ['markdown'], model: 'qwen2.5-coder:1.5b-base'},
      actions: {model: 'qwen2.5-coder:7b-instruct'},
    },
    workspaceConfig: {llmLsp: {promptMode: 'auto', completion: {enable: true}}},
  }])
endif
# Server: set OPENAI_BASE_URL (e.g. http://127.0.0.1:11434/v1 for Ollama) / OPENAI_API_KEY in the shell
# Vim starts from. Two models above: a fill-in-the-middle model completes, a chat model fixes and
# refactors (without them, each job's model is LLM_LSP_MODEL, or chosen from the server's list).
# nnoremap <leader>a <Cmd>LspCodeAction<CR>
