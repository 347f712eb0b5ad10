-- Headless Neovim driver for tests/editors/test_neovim.py: loads the llm_lsp plugin from
-- editor-clients/neovim, plays one scenario like a user would (typing in insert mode, Tab,
-- code action) and writes what it saw as JSON to $LLM_LSP_TEST_OUT, then quits.
vim.g.loaded_python3_provider = 0
vim.g.loaded_node_provider = 0
vim.g.loaded_perl_provider = 0
vim.g.loaded_ruby_provider = 0
vim.opt.swapfile = false
vim.opt.shadafile = 'NONE'
vim.opt.rtp:prepend(os.getenv('LLM_LSP_PLUGIN_DIR'))

local out_path = assert(os.getenv('LLM_LSP_TEST_OUT'))
local scenario = os.getenv('LLM_LSP_TEST_SCENARIO') or 'ghost'
local result = { scenario = scenario, steps = {}, requests = {} }

local function lines()
  return vim.api.nvim_buf_get_lines(0, 0, -1, false)
end

local function finish(ok, err)
  result.ok = ok
  result.error = err
  result.lines = lines()
  result.statusline = require('llm_lsp').statusline()
  result.status = require('llm_lsp').status()
  result.failed = require('llm_lsp')._failed
  vim.fn.writefile({ vim.json.encode(result) }, out_path)
  vim.cmd('qa!')
end

local function step(name)
  table.insert(result.steps, name)
end

-- Calls on_ok(value) once cond() returns a truthy value; fails the run after timeout_ms.
local function poll(what, timeout_ms, cond, on_ok)
  local start = vim.uv.now()
  local timer = vim.uv.new_timer()
  timer:start(
    20,
    20,
    vim.schedule_wrap(function()
      if timer:is_closing() then
        return
      end
      local ok, value = pcall(cond)
      if ok and value then
        timer:stop()
        timer:close()
        on_ok(value)
      elseif vim.uv.now() - start > timeout_ms then
        timer:stop()
        timer:close()
        finish(false, 'timed out waiting for ' .. what .. (ok and '' or (': ' .. tostring(value))))
      end
    end)
  )
end

local function feed(keys, mode)
  vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes(keys, true, false, true), mode or 'n', false)
end

local cmd = vim.json.decode(os.getenv('LLM_LSP_CMD_JSON') or '["llm-lsp"]')
require('llm_lsp').setup({
  cmd = cmd,
  settings = vim.json.decode(os.getenv('LLM_LSP_SETTINGS_JSON') or '{}'),
  ghost_text = { debounce_ms = 50 },
})

local scenarios = {}

-- Leave insert mode, then write the result and quit.
local function done()
  feed('<Esc>')
  vim.defer_fn(function()
    finish(true)
  end, 50)
end

-- Type at the end of line 2 (or before column LLM_LSP_TEST_COL) in insert mode, wait for ghost text,
-- accept it with <Tab>.
function scenarios.ghost(client)
  local row = tonumber(os.getenv('LLM_LSP_TEST_ROW') or '2')
  local col = os.getenv('LLM_LSP_TEST_COL') -- insert before this 0-based byte column, else at the end
  vim.api.nvim_win_set_cursor(0, { row, tonumber(col or '0') })
  feed((col and 'i' or 'A') .. (os.getenv('LLM_LSP_TEST_TYPE') or ''))
  poll('ghost text', 15000, function()
    return require('llm_lsp').suggestion()
  end, function(text)
    step('shown')
    local llm = require('llm_lsp')
    result.mode_when_shown = vim.api.nvim_get_mode().mode
    result.suggestion = text
    result.extmarks = {}
    for _, m in ipairs(vim.api.nvim_buf_get_extmarks(0, llm._internal.ns, 0, -1, { details = true })) do
      table.insert(result.extmarks, {
        row = m[2],
        col = m[3],
        virt_text = m[4].virt_text,
        virt_text_pos = m[4].virt_text_pos,
        virt_lines = m[4].virt_lines,
      })
    end
    result.lines_before_accept = lines()
    feed('<Tab>', 'm') -- through the plugin's mapping
    poll('accepted text in the buffer', 5000, function()
      return not vim.deep_equal(lines(), result.lines_before_accept) and llm.suggestion() == nil
    end, function()
      step('accepted')
      result.cursor = vim.api.nvim_win_get_cursor(0)
      result.mode_after_accept = vim.api.nvim_get_mode().mode
      -- The item's command goes out after the insertion.
      poll('acceptCompletion command', 3000, function()
        for _, r in ipairs(result.requests) do
          if r:find('acceptCompletion', 1, true) then
            return true
          end
        end
        return not client.server_capabilities.executeCommandProvider
      end, done)
    end)
  end)
end

local function count(list, pattern)
  local n = 0
  for _, r in ipairs(list) do
    if r:find(pattern, 1, true) then
      n = n + 1
    end
  end
  return n
end

-- A multi-line suggestion on line 2: accept its next word, then its next line, then the rest with
-- <Tab>. After each partial accept the rest must be drawn at once and no request may go out.
function scenarios.partial(client)
  local llm = require('llm_lsp')
  vim.api.nvim_win_set_cursor(0, { tonumber(os.getenv('LLM_LSP_TEST_ROW') or '2'), 0 })
  feed('A')
  result.ghosts = {}
  local function step_accept(key, name, on_done)
    local before = lines()
    local requests = count(result.requests, 'textDocument/inlineCompletion')
    feed(key, 'm')
    poll(name .. ' to insert text', 5000, function()
      return not vim.deep_equal(lines(), before)
    end, function()
      -- Checked in the same tick as the text changed: the rest is already drawn (no flicker).
      result.ghosts[name] = llm.suggestion() or vim.NIL
      result['lines_after_' .. name] = lines()
      vim.defer_fn(function()
        result['requests_during_' .. name] = count(result.requests, 'textDocument/inlineCompletion') - requests
        result['ghost_later_' .. name] = llm.suggestion() or vim.NIL
        on_done()
      end, 400) -- well past the 50 ms debounce: a request would have gone out by now
    end)
  end
  poll('ghost text', 15000, function()
    return llm.suggestion()
  end, function(text)
    step('shown')
    result.suggestion = text
    step_accept('<M-Right>', 'word', function()
      step_accept('<M-C-Right>', 'line', function()
        step_accept('<Tab>', 'all', function()
          result.cursor = vim.api.nvim_win_get_cursor(0)
          llm.stats(function(err, text)
            result.stats_text = text or vim.NIL
            result.stats_error = err and err.message or vim.NIL
            done()
          end)
        end)
      end)
    end)
  end)
end

-- One suggestion while typing, then <M-]> asks for alternatives and cycles, <M-[> goes back, <Tab>
-- accepts the one shown.
function scenarios.cycle(client)
  local llm = require('llm_lsp')
  vim.api.nvim_win_set_cursor(0, { tonumber(os.getenv('LLM_LSP_TEST_ROW') or '2'), 0 })
  feed('A' .. (os.getenv('LLM_LSP_TEST_TYPE') or ''))
  result.cycled = {}
  local keys = { '<M-]>', '<M-]>', '<M-[>' }
  local function next_key(i)
    if i > #keys then
      local before = lines()
      feed('<Tab>', 'm')
      poll('the accepted alternative', 5000, function()
        return not vim.deep_equal(lines(), before)
      end, done)
      return
    end
    local shown = llm.suggestion()
    feed(keys[i], 'm')
    poll('alternative ' .. i, 10000, function()
      local now = llm.suggestion()
      return now and now ~= shown and now
    end, function(text)
      table.insert(result.cycled, text)
      next_key(i + 1)
    end)
  end
  poll('ghost text', 15000, function()
    return llm.suggestion()
  end, function(text)
    result.suggestion = text
    next_key(1)
  end)
end

-- Another tool reports an error on line 2; apply llm-lsp's "Fix with AI" quick fix through
-- vim.lsp.buf.code_action (filter + apply, no menu).
function scenarios.codeaction(client)
  if not client.server_capabilities.codeActionProvider then
    result.skipped = 'server does not advertise codeActionProvider'
    return finish(true)
  end
  local row = tonumber(os.getenv('LLM_LSP_TEST_ROW') or '2')
  local ns = vim.api.nvim_create_namespace('test-linter')
  local line = vim.api.nvim_buf_get_lines(0, row - 1, row, false)[1]
  vim.diagnostic.set(ns, 0, {
    {
      lnum = row - 1,
      col = 0,
      end_col = #line,
      severity = vim.diagnostic.severity.ERROR,
      message = os.getenv('LLM_LSP_TEST_DIAGNOSTIC') or 'invalid syntax',
      source = 'test-linter',
    },
  })
  vim.api.nvim_win_set_cursor(0, { row, 0 })
  result.lines_before = lines()
  local actions = {}
  require('llm_lsp').code_action({
    context = { only = { 'quickfix' } },
    filter = function(action)
      table.insert(actions, action.title)
      return type(action.title) == 'string' and action.title:find('Fix with AI', 1, true) ~= nil
    end,
    apply = true,
  })
  result.titles = actions
  poll('the quick fix edit', 15000, function()
    return not vim.deep_equal(lines(), result.lines_before)
  end, function()
    step('applied')
    finish(true)
  end)
end

-- The server dies at start: one message, and opening another file does not start it again.
if scenario == 'crash' then
  local messages = {}
  local orig_notify = vim.notify
  vim.notify = function(msg, ...)
    table.insert(messages, msg)
    return orig_notify(msg, ...)
  end
  vim.notify_once = function(msg, ...)
    if not vim.tbl_contains(messages, msg) then
      vim.notify(msg, ...)
    end
  end
  poll('the failure to be reported', 10000, function()
    return require('llm_lsp')._failed
  end, function()
    step('failed')
    vim.cmd('edit ' .. vim.fn.fnameescape(os.getenv('LLM_LSP_TEST_SECOND_FILE')))
    vim.defer_fn(function()
      result.messages = messages
      result.clients_running = #vim.lsp.get_clients({ name = 'llm_lsp' })
      finish(true)
    end, 1500)
  end)
end

vim.api.nvim_create_autocmd('LspAttach', {
  callback = function(ev)
    local client = vim.lsp.get_client_by_id(ev.data.client_id)
    if not client or client.name ~= 'llm_lsp' then
      return
    end
    step('attached')
    result.capabilities = {
      inline = client.server_capabilities.inlineCompletionProvider ~= nil,
      codeAction = client.server_capabilities.codeActionProvider ~= nil,
      executeCommand = client.server_capabilities.executeCommandProvider ~= nil,
    }
    local orig = client.request
    client.request = function(self, method, params, ...)
      table.insert(result.requests, method .. ((params and params.command) and (' ' .. params.command) or ''))
      return orig(self, method, params, ...)
    end
    result.notifications = {}
    local orig_notify = client.notify
    client.notify = function(self, method, params, ...)
      if method:find('Completion', 1, true) then
        table.insert(result.notifications, { method = method, acceptedLength = params and params.acceptedLength })
      end
      return orig_notify(self, method, params, ...)
    end
    vim.schedule(function()
      scenarios[scenario](client)
    end)
  end,
})

vim.defer_fn(function()
  finish(false, 'overall timeout (attached: ' .. tostring(result.steps[1] ~= nil) .. ')')
end, tonumber(os.getenv('LLM_LSP_TEST_TIMEOUT_MS') or '30000'))

-- A server that never starts (missing binary) still ends the run with its reason.
vim.defer_fn(function()
  if #result.steps == 0 and require('llm_lsp')._failed then
    finish(false, 'server failed: ' .. require('llm_lsp')._failed)
  end
end, 3000)
