--- :checkhealth llm_lsp: Neovim version, the server command, the attached client and what the
--- server advertises, the model settings (never the key itself) and the last status.

local M = {}

local health = vim.health

function M.check()
  health.start('llm_lsp: Neovim')
  if vim.fn.has('nvim-0.11') == 1 then
    health.ok('Neovim ' .. tostring(vim.version()))
  else
    health.error('Neovim 0.11 or newer is needed (vim.lsp.config / vim.lsp.enable)')
    return
  end
  local llm = require('llm_lsp')
  if not llm.config then
    health.error('setup() was not called', { 'Add require("llm_lsp").setup({}) to your init.lua' })
    return
  end
  if llm._internal.use_native() then
    health.ok('ghost text: vim.lsp.inline_completion (built in)')
  else
    health.ok('ghost text: extmark renderer (virt_text inline + virt_lines)')
  end

  health.start('llm_lsp: server')
  local cmd = llm.config.cmd
  if type(cmd) == 'table' then
    local exe = vim.fn.exepath(cmd[1])
    if exe ~= '' then
      health.ok('server command: ' .. table.concat(cmd, ' ') .. ' (' .. exe .. ')')
    else
      health.error('server command not found: ' .. cmd[1], {
        'pip install llm-lsp (or pipx install llm-lsp)',
        'or pass the full path: require("llm_lsp").setup({ cmd = { "/path/to/llm-lsp" } })',
      })
    end
  end
  if llm._failed then
    health.error(llm._failed)
  end

  -- :checkhealth runs in its own buffer: fall back to any llm-lsp client.
  local client = llm.client() or vim.lsp.get_clients({ name = llm.config.name })[1]
  if client then
    health.ok(('running (client id %d, root %s)'):format(client.id, tostring(client.root_dir)))
    local caps = client.server_capabilities or {}
    local function cap(name, label)
      if caps[name] then
        health.ok('server offers ' .. label)
      else
        health.warn('server does not offer ' .. label)
      end
    end
    cap('inlineCompletionProvider', 'inline completion (ghost text)')
    cap('completionProvider', 'completion items')
    cap('codeActionProvider', 'code actions (quick fixes)')
    cap('executeCommandProvider', 'commands')
    local cmds = type(caps.executeCommandProvider) == 'table' and caps.executeCommandProvider.commands or {}
    if #cmds > 0 then
      health.info('commands: ' .. table.concat(cmds, ', '))
    end
  else
    health.info('no llm-lsp client attached to the current buffer (open a file to start it)')
  end

  health.start('llm_lsp: model')
  local s = llm.config.settings or {}
  s = s.llmLsp or s
  local model = s.model or vim.env.LLM_LSP_MODEL
  local base = s.baseUrl or vim.env.OPENAI_BASE_URL
  local has_key = (s.apiKey and s.apiKey ~= '') or (vim.env.OPENAI_API_KEY and vim.env.OPENAI_API_KEY ~= '')
  if model or base then
    health.ok(('model %s at %s, API key %s'):format(
      tostring(model or '(server default)'),
      tostring(base or '(OpenAI)'),
      has_key and 'set' or 'not set (fine for local servers)'
    ))
  else
    health.info('no model configured: the built-in offline engine answers (set settings.model / baseUrl or LLM_LSP_MODEL / OPENAI_BASE_URL)')
  end
  local st = llm.status()
  health.info(('last status: %s %s %s'):format(st.state or '?', st.model or '', st.message or ''))
end

return M
