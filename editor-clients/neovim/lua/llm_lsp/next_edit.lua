--- llm_lsp.next_edit: next-edit suggestions from llm-lsp in Neovim (>= 0.11).
---
--- After a pause that follows an edit, asks the server for the edit that follows
--- (textDocument/copilotInlineEdit, the request Copilot's language server answers) and shows it
--- where it would apply: the text it deletes highlighted, the text it inserts as virtual text (the
--- first line inline, further lines as virtual lines). <Tab> jumps to it, a second <Tab> applies it
--- (at once when the cursor is already on it) and runs its accept command; <Esc> in normal mode
--- dismisses it. The shown event goes out as textDocument/didShowInlineEdit.
---
--- It never asks while ghost text is shown at the cursor, cancels its request when the buffer
--- changes, and drops an answer for a buffer that changed meanwhile. Configure through
--- require('llm_lsp').setup({ next_edit = { enable = true, debounce_ms = 500, keymaps = {...} } });
--- the server only answers with llmLsp.nextEdit.enable set (settings = { nextEdit = { enable = true } }).

local M = {}

local api = vim.api
local uv = vim.uv or vim.loop

local AUTOMATIC = 'textDocument/copilotInlineEdit'
local EXPLICIT = 'llmLsp/nextEdit'
local DID_SHOW = 'textDocument/didShowInlineEdit'

M.defaults = {
  enable = true,
  debounce_ms = 500,
  hl_delete = 'LlmLspNextEditDelete',
  hl_insert = 'LlmLspNextEditInsert',
  keymaps = {
    accept = '<Tab>', -- normal mode: jump to the edit, then apply it (insert mode: through llm_lsp's <Tab>)
    dismiss = '<Esc>', -- normal mode
    suggest = '<M-n>', -- normal mode: ask now
  },
}

M.ns = api.nvim_create_namespace('llm_lsp.next_edit')
local buffers = {} -- bufnr -> { timer, req, shown = { item, client_id, srow, scol, erow, ecol, tick } }

local function config()
  local root = require('llm_lsp').config or {}
  return vim.tbl_deep_extend('force', M.defaults, root.next_edit or {})
end

local function buf_state(bufnr)
  buffers[bufnr] = buffers[bufnr] or {}
  return buffers[bufnr]
end

local function supported(client)
  local experimental = client and client.server_capabilities.experimental
  return type(experimental) == 'table' and type(experimental.llmLsp) == 'table' and experimental.llmLsp.nextEdit ~= nil
end

--- LSP position (in `encoding`) -> 0-based byte column on that line (llm_lsp's own conversion).
local function byte_col(bufnr, pos, encoding)
  return require('llm_lsp')._internal.byte_col(bufnr, pos, encoding)
end

-- The timer and request helpers are llm_lsp's own (one copy for ghost text and next edits).
local function stop_timer(st)
  require('llm_lsp')._internal.stop_timer(st)
end

local function cancel(st)
  require('llm_lsp')._internal.drop_request(st)
end

--- Hide the shown edit of a buffer (if any).
function M.clear(bufnr)
  bufnr = bufnr or api.nvim_get_current_buf()
  if api.nvim_buf_is_valid(bufnr) then
    api.nvim_buf_clear_namespace(bufnr, M.ns, 0, -1)
  end
  local st = buffers[bufnr]
  if st then
    st.shown = nil
  end
end

--- The edit shown in the current buffer: { text, srow, scol, erow, ecol, item } (0-based bytes), or nil.
function M.shown(bufnr)
  local st = buffers[bufnr or api.nvim_get_current_buf()]
  return st and st.shown or nil
end

function M.visible(bufnr)
  return M.shown(bufnr) ~= nil
end

local function render(bufnr, client, item)
  local cfg = config()
  local enc = client.offset_encoding
  local srow, erow = item.range.start.line, item.range['end'].line
  local scol = byte_col(bufnr, item.range.start, enc)
  local ecol = byte_col(bufnr, item.range['end'], enc)
  M.clear(bufnr)
  if srow ~= erow or scol ~= ecol then
    api.nvim_buf_set_extmark(bufnr, M.ns, srow, scol, { end_row = erow, end_col = ecol, hl_group = cfg.hl_delete })
  end
  local lines = vim.split(item.text or '', '\n', { plain = true })
  local opts = { hl_mode = 'combine', right_gravity = false }
  if lines[1] ~= '' then
    opts.virt_text = { { lines[1], cfg.hl_insert } }
    opts.virt_text_pos = 'inline'
  end
  if #lines > 1 then
    local virt_lines = {}
    for i = 2, #lines do
      virt_lines[#virt_lines + 1] = { { lines[i], cfg.hl_insert } }
    end
    opts.virt_lines = virt_lines
  end
  if opts.virt_text or opts.virt_lines then
    api.nvim_buf_set_extmark(bufnr, M.ns, erow, ecol, opts)
  end
  buf_state(bufnr).shown = {
    item = item,
    client_id = client.id,
    text = item.text,
    srow = srow,
    scol = scol,
    erow = erow,
    ecol = ecol,
    tick = api.nvim_buf_get_changedtick(bufnr),
  }
  client:notify(DID_SHOW, { item = item })
end

--- Ask for the next edit at the cursor now (explicit: the server skips its automatic-only checks).
---@return boolean requested
function M.request(bufnr, explicit)
  bufnr = bufnr or api.nvim_get_current_buf()
  local st = buf_state(bufnr)
  stop_timer(st)
  cancel(st)
  local client = require('llm_lsp').client(bufnr)
  if not client or not supported(client) then
    return false
  end
  if not explicit and require('llm_lsp').suggestion() then
    return false -- ghost text at the cursor comes first
  end
  local win = api.nvim_get_current_win()
  if api.nvim_win_get_buf(win) ~= bufnr then
    return false
  end
  local params = vim.lsp.util.make_position_params(win, client.offset_encoding)
  params.textDocument.version = vim.lsp.util.buf_versions[bufnr] or api.nvim_buf_get_changedtick(bufnr)
  if explicit then
    params.context = { triggerKind = 1 }
  end
  local tick = api.nvim_buf_get_changedtick(bufnr)
  local sent -- this request's id, known once client:request returns
  local ok, id = client:request(explicit and EXPLICIT or AUTOMATIC, params, function(err, result)
    if st.req and st.req.id == sent then
      st.req = nil
    end
    if err or not result or not api.nvim_buf_is_valid(bufnr) then
      return
    end
    if api.nvim_buf_get_changedtick(bufnr) ~= tick then
      return -- computed for a version the buffer left behind
    end
    local item = result.edits and result.edits[1]
    if not item then
      if explicit and result.reason then
        vim.notify('llm-lsp: no next edit: ' .. result.reason, vim.log.levels.INFO)
      end
      return
    end
    if not explicit and require('llm_lsp').suggestion() then
      return
    end
    render(bufnr, client, item)
  end, bufnr)
  sent = id
  if ok and id then
    st.req = { client_id = client.id, id = id }
  end
  return ok
end

local function schedule(bufnr)
  local cfg = config()
  local st = buf_state(bufnr)
  stop_timer(st)
  cancel(st)
  if not cfg.enable then
    return
  end
  st.timer = uv.new_timer()
  st.timer:start(
    cfg.debounce_ms,
    0,
    vim.schedule_wrap(function()
      stop_timer(st)
      if api.nvim_buf_is_valid(bufnr) and api.nvim_get_current_buf() == bufnr then
        M.request(bufnr, false)
      end
    end)
  )
end

--- <Tab>: jump to the shown edit when the cursor is elsewhere, else apply it and run its command.
---@return boolean handled
function M.tab()
  local bufnr = api.nvim_get_current_buf()
  local shown = M.shown(bufnr)
  if not shown then
    return false
  end
  local cursor = api.nvim_win_get_cursor(0)
  local row = cursor[1] - 1
  if row < shown.srow or row > shown.erow then
    api.nvim_win_set_cursor(0, { shown.srow + 1, shown.scol })
    return true
  end
  local client = vim.lsp.get_client_by_id(shown.client_id)
  M.clear(bufnr)
  if not client or api.nvim_buf_get_changedtick(bufnr) ~= shown.tick then
    return true -- stale: the buffer moved on since it was shown
  end
  local item = shown.item
  vim.lsp.util.apply_text_edits({ { range = item.range, newText = item.text } }, bufnr, client.offset_encoding)
  local lines = vim.split(item.text, '\n', { plain = true })
  local end_row = shown.srow + #lines - 1
  local end_col = (#lines == 1 and shown.scol or 0) + #lines[#lines]
  pcall(api.nvim_win_set_cursor, 0, { end_row + 1, end_col })
  if item.command then
    client:exec_cmd(item.command, { bufnr = bufnr })
  end
  return true
end

--- Hide the shown edit and cancel the request in flight; true if one was shown.
function M.dismiss(bufnr)
  bufnr = bufnr or api.nvim_get_current_buf()
  local had = M.visible(bufnr)
  local st = buf_state(bufnr)
  stop_timer(st)
  cancel(st)
  M.clear(bufnr)
  return had
end

--- Start next edits in a buffer the llm-lsp client attached to (called from llm_lsp's on_attach).
function M.attach(client, bufnr)
  local cfg = config()
  if not cfg.enable or not supported(client) then
    return
  end
  api.nvim_set_hl(0, cfg.hl_delete, { link = 'DiffDelete', default = true })
  api.nvim_set_hl(0, cfg.hl_insert, { link = 'DiffAdd', default = true })
  local group = api.nvim_create_augroup('llm_lsp.next_edit.' .. bufnr, { clear = true })
  api.nvim_create_autocmd({ 'TextChanged', 'TextChangedI' }, {
    group = group,
    buffer = bufnr,
    callback = function()
      M.clear(bufnr) -- an edit shown for the old text no longer applies
      schedule(bufnr)
    end,
  })
  api.nvim_create_autocmd({ 'BufLeave', 'BufWipeout' }, {
    group = group,
    buffer = bufnr,
    callback = function()
      M.dismiss(bufnr)
    end,
  })
  local km = cfg.keymaps or {}
  if km.accept then
    vim.keymap.set('n', km.accept, function()
      if M.visible(bufnr) then
        vim.schedule(M.tab)
        return ''
      end
      return km.accept
    end, { buffer = bufnr, expr = true, silent = true, desc = 'llm-lsp: jump to / apply the next edit' })
  end
  if km.dismiss then
    vim.keymap.set('n', km.dismiss, function()
      if M.visible(bufnr) then
        vim.schedule(M.dismiss)
        return ''
      end
      return km.dismiss
    end, { buffer = bufnr, expr = true, silent = true, desc = 'llm-lsp: dismiss the next edit' })
  end
  if km.suggest then
    vim.keymap.set('n', km.suggest, function()
      M.request(bufnr, true)
    end, { buffer = bufnr, silent = true, desc = 'llm-lsp: next edit now' })
  end
end

return M
