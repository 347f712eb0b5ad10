-- Headless Neovim driver for tests/editors/test_neovim_next_edit.py: loads the llm_lsp plugin from
-- editor-clients/neovim, changes a function's signature like a user (normal mode, then insert),
-- waits for the next edit the plugin shows, dismisses it with <Esc>, asks again, then <Tab> jumps
-- to it and <Tab> applies it; the rest of the prediction follows and is accepted the same way.
-- Writes what it saw as JSON to $LLM_LSP_TEST_OUT, then quits.
vim.g.loaded_python3_provider = 0
vim.g.loaded_node_provider = 0
vim.g.loaded_perl_provider = 0
vim.g.loaded_ruby_provider = 0
vim.opt.swapfile = false
vim.opt.shadafile = 'NONE'
vim.opt.rtp:prepend(os.getenv('LLM_LSP_PLUGIN_DIR'))

local out_path = assert(os.getenv('LLM_LSP_TEST_OUT'))
local result = { steps = {}, requests = {}, notifications = {}, shown = {} }

local function lines()
  return vim.api.nvim_buf_get_lines(0, 0, -1, false)
end

local function finish(ok, err)
  result.ok = ok
  result.error = err
  result.lines = lines()
  vim.fn.writefile({ vim.json.encode(result) }, out_path)
  vim.cmd('qa!')
end

local function step(name)
  table.insert(result.steps, name)
end

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

require('llm_lsp').setup({
  cmd = vim.json.decode(os.getenv('LLM_LSP_CMD_JSON') or '["llm-lsp"]'),
  settings = { nextEdit = { enable = true } },
  ghost_text = { debounce_ms = 50 },
  next_edit = { debounce_ms = 300 },
})

local next_edit = require('llm_lsp.next_edit')

-- What the plugin draws for the shown edit: the deleted range's highlight and the inserted text.
local function snapshot_marks()
  local marks = {}
  for _, m in ipairs(vim.api.nvim_buf_get_extmarks(0, next_edit.ns, 0, -1, { details = true })) do
    table.insert(marks, {
      row = m[2],
      col = m[3],
      end_row = m[4].end_row,
      end_col = m[4].end_col,
      hl_group = m[4].hl_group,
      virt_text = m[4].virt_text,
      virt_text_pos = m[4].virt_text_pos,
      virt_lines = m[4].virt_lines,
    })
  end
  return marks
end

local function shown(label, then_)
  poll(label, 15000, function()
    return next_edit.shown()
  end, function(edit)
    step(label)
    table.insert(result.shown, { text = edit.text, srow = edit.srow, scol = edit.scol, erow = edit.erow, ecol = edit.ecol, marks = snapshot_marks() })
    then_(edit)
  end)
end

local function tab_tab(label, then_)
  local before = lines()
  result['cursor_before_' .. label] = vim.api.nvim_win_get_cursor(0)
  feed('<Tab>', 'm') -- through the plugin's mapping: jump
  vim.defer_fn(function()
    result['cursor_after_jump_' .. label] = vim.api.nvim_win_get_cursor(0)
    result['lines_after_jump_' .. label] = lines()
    feed('<Tab>', 'm') -- apply
    poll('the ' .. label .. ' edit applied', 5000, function()
      return not vim.deep_equal(lines(), before)
    end, function()
      step('applied ' .. label)
      result['lines_' .. label] = lines()
      then_()
    end)
  end, 100)
end

local function accepted_count()
  local n = 0
  for _, r in ipairs(result.requests) do
    if r:find('acceptNextEdit', 1, true) then
      n = n + 1
    end
  end
  return n
end

local function scenario()
  -- The user adds a parameter: normal mode to the ")" of line 1, then types ", h" in insert mode.
  vim.api.nvim_win_set_cursor(0, { 1, 0 })
  feed('f)i, h<Esc>')
  shown('shown', function()
    feed('<Esc>', 'm') -- dismiss
    vim.defer_fn(function()
      result.after_dismiss = { visible = next_edit.visible(), marks = #snapshot_marks() }
      feed('<M-n>', 'm') -- ask again, explicitly
      shown('shown again', function()
        tab_tab('first', function()
          poll('acceptNextEdit for the first edit', 5000, function()
            return accepted_count() >= 1
          end, function()
            -- The rest of the same prediction (the call below) comes next.
            shown('the rest', function()
              tab_tab('second', function()
                poll('acceptNextEdit for the second edit', 5000, function()
                  return accepted_count() >= 2
                end, function()
                  finish(true)
                end)
              end)
            end)
          end)
        end)
      end)
    end, 200)
  end)
end

vim.api.nvim_create_autocmd('LspAttach', {
  callback = function(ev)
    local client = vim.lsp.get_client_by_id(ev.data.client_id)
    if not client or client.name ~= 'llm_lsp' then
      return
    end
    step('attached')
    result.experimental = client.server_capabilities.experimental
    local request, notify = client.request, client.notify
    client.request = function(self, method, params, ...)
      table.insert(result.requests, method .. ((params and params.command) and (' ' .. params.command) or ''))
      return request(self, method, params, ...)
    end
    client.notify = function(self, method, params, ...)
      table.insert(result.notifications, method)
      return notify(self, method, params, ...)
    end
    vim.schedule(scenario)
  end,
})

vim.defer_fn(function()
  finish(false, 'overall timeout (steps: ' .. table.concat(result.steps, ', ') .. ')')
end, tonumber(os.getenv('LLM_LSP_TEST_TIMEOUT_MS') or '45000'))
