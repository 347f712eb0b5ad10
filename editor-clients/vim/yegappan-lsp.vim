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
      completion: {enable: true, disabledLanguages: ['markdown']},
    },
    workspaceConfig: {llmLsp: {promptMode: 'auto', completion: {enable: true}}},
  }])
endif
# Model: set LLM_LSP_MODEL / OPENAI_BASE_URL / OPENAI_API_KEY in the shell Vim starts from.
# nnoremap <leader>a <Cmd>LspCodeAction<CR>
