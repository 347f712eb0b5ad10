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
          \   'completion': {'enable': v:true, 'disabledLanguages': ['markdown']},
          \ },
          \ 'workspace_config': {'llmLsp': {
          \   'promptMode': 'auto',
          \   'completion': {'enable': v:true},
          \ }},
          \ })
  augroup END
endif

" Model: set LLM_LSP_MODEL / OPENAI_BASE_URL / OPENAI_API_KEY in the shell Vim starts from.
" Keys (vim-lsp's own commands):
"   nmap <leader>a <plug>(lsp-code-action)      " Fix with AI / AI: Simplify / ...
"   setlocal omnifunc=lsp#complete              " <C-x><C-o> shows the suggestion
autocmd FileType * setlocal omnifunc=lsp#complete
