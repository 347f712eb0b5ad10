" llm-lsp for Vim with prabirshrestha/vim-lsp (https://github.com/prabirshrestha/vim-lsp).
" Put this in ~/.vimrc (or ~/.vim/plugin/llm-lsp.vim). Vim has no LSP ghost text: the suggestion is
" a completion item (<C-x><C-o>, or asyncomplete.vim), "Fix with AI" / "AI: ..." are code actions
" (:LspCodeAction), and the llm-lsp.* commands run from them.
if executable('llm-lsp')
  augroup llm_lsp_register
    autocmd!
    autocmd User lsp_setup call lsp#register_server({
          \ 'name': 'llm-lsp',
          \ 'cmd': {server_info -> ['llm-lsp', '--stdio']},
          \ 'allowlist': ['*'],
          \ 'initialization_options': {
          \   'promptMode': 'auto',
          \   'completion': {'enable': v:true, 'disabledLanguages': ['markdown'],
          \                  'model': 'qwen2.5-coder:1.5b-base'},
          \   'actions': {'model': 'qwen2.5-coder:7b-instruct'},
          \ },
          \ 'workspace_config': {'llmLsp': {
          \   'promptMode': 'auto',
          \   'completion': {'enable': v:true},
          \ }},
          \ })
  augroup END
endif

" Server: set OPENAI_BASE_URL (e.g. http://127.0.0.1:11434/v1 for Ollama) / OPENAI_API_KEY in the shell
" Vim starts from. Two models above: a fill-in-the-middle model completes, a chat model fixes and
" refactors (without them, each job's model is LLM_LSP_MODEL, or chosen from the server's list).
" Keys (vim-lsp's own commands):
"   nmap <leader>a <plug>(lsp-code-action)      " Fix with AI / AI: Simplify / ...
"   setlocal omnifunc=lsp#complete              " <C-x><C-o> shows the suggestion
autocmd FileType * setlocal omnifunc=lsp#complete
