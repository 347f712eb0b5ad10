-- Nothing starts until require("llm_lsp").setup() is called; this only defines the highlight
-- group early so colorschemes can override it.
if vim.g.loaded_llm_lsp then
  return
end
vim.g.loaded_llm_lsp = 1
vim.api.nvim_set_hl(0, 'LlmLspGhostText', { link = 'Comment', default = true })
