--- llm_lsp: the Neovim client for the llm-lsp language server.
---
--- Registers the server for every filetype (vim.lsp.config + vim.lsp.enable, Neovim >= 0.11),
--- shows inline completions as ghost text (extmarks drawn here; opt-in: Neovim 0.12's built-in
--- vim.lsp.inline_completion, which has no partial accept), maps keys to accept the whole suggestion,
--- its next word or its next line, and to cycle alternatives, tells the server what was shown and
--- accepted (Copilot's textDocument/didShowCompletion and didPartiallyAcceptCompletion, the item's
--- command on a full accept: local figures only, see :LlmLsp stats), forwards the llm-lsp.* commands
--- and keeps the server's llmLsp/status notification for the statusline.
---
--- After a partial accept the rest of the same suggestion is drawn at once and no new request is
--- sent. Other modules can claim the accept key first (M.add_accept_handler: a visible next edit).
---
--- It must not restart a server that failed: a missing binary or a crash gives one message and the
--- client stays off until :LlmLsp restart.

local M = {}

local api = vim.api
local uv = vim.uv or vim.loop

local AUTOMATIC = 2 -- lsp.InlineCompletionTriggerKind.Automatic
local INVOKED = 1 -- lsp.InlineCompletionTriggerKind.Invoked

M.commands = { 'fix', 'explain', 'document', 'tests', 'simplify', 'refactor' }

local defaults = {
  -- Name of the vim.lsp config (also the client name shown by :checkhealth vim.lsp).
  name = 'llm_lsp',
  -- How to start the server. Environment variables (OPENAI_BASE_URL, OPENAI_API_KEY,
  -- LLM_LSP_MODEL) are inherited from Neovim's environment.
  cmd = { 'llm-lsp' },
  -- Extra environment for the server process, e.g. { LLM_LSP_MODEL = 'gpt-4o-mini' }.
  cmd_env = nil,
  -- nil attaches to every filetype; a list restricts it.
  filetypes = nil,
  root_markers = { '.git', '.hg', 'pyproject.toml', 'package.json', 'Cargo.toml', 'go.mod' },
  -- The llmLsp settings section (camelCase, nested), sent as initializationOptions and answered to
  -- workspace/configuration requests for section "llmLsp". Either the section itself
  -- ({ model = ..., completion = { enable = true } }) or wrapped ({ llmLsp = { ... } }).
  settings = {},
  ghost_text = {
    enable = true,
    -- false: the extmark renderer (partial accept, shown/accepted events, no re-request after a
    -- partial accept). true: Neovim 0.12's vim.lsp.inline_completion (accept and cycle only; no
    -- partial accept, no shown events). "auto": the built-in one where it exists.
    native = false,
    debounce_ms = 150,
    hl_group = 'LlmLspGhostText',
  },
  -- Insert-mode keys; set one to false to leave that key alone.
  keymaps = {
    accept = '<Tab>', -- falls back to a normal <Tab> when no suggestion is shown
    accept_word = '<M-Right>', -- the next word of the suggestion (falls back to the normal key)
    accept_line = '<M-C-Right>', -- the rest of its current line, with the line break
    next = '<M-]>', -- next alternative (asks the model for alternatives once)
    prev = '<M-[>',
    suggest = '<M-\\>',
    dismiss = '<C-]>', -- falls back to the normal key too
  },
}

M.config = nil
M._status = { state = 'offline', model = '', message = '', summary = '' }
-- Functions that may claim the accept key before the suggestion does (a visible next edit): each is
-- called in an expr mapping and returns true when it handled the key (it must vim.schedule edits).
M._accept_handlers = {}
M._failed = nil -- readable reason the server is not running, once it failed

local ns = api.nvim_create_namespace('llm_lsp.ghost_text')
local bufstate = {} -- bufnr -> ghost-text state (extmark renderer only)

---@return boolean
local function use_native()
  local gt = M.config and M.config.ghost_text or defaults.ghost_text
  local has = vim.lsp.inline_completion ~= nil and vim.lsp.inline_completion.enable ~= nil
  if gt.native == 'auto' then
    return has
  end
  return gt.native == true and has
end

--- The settings section without the optional llmLsp wrapper.
local function section()
  local s = (M.config and M.config.settings) or {}
  if type(s.llmLsp) == 'table' then
    return s.llmLsp
  end
  return s
end

local function notify_once(msg, level)
  vim.schedule(function()
    vim.notify_once('llm-lsp: ' .. msg, level or vim.log.levels.ERROR)
  end)
end

---@param bufnr? integer
---@return vim.lsp.Client?
function M.client(bufnr)
  local name = (M.config and M.config.name) or defaults.name
  local clients = vim.lsp.get_clients({ bufnr = bufnr or api.nvim_get_current_buf(), name = name })
  return clients[1]
end

local function redraw_status()
  pcall(api.nvim_exec_autocmds, 'User', { pattern = 'LlmLspStatus', modeline = false })
  pcall(vim.cmd.redrawstatus)
end

-- Status ---------------------------------------------------------------------------------------

local function on_status(_, params)
  if type(params) == 'table' then
    M._status = {
      state = params.state or 'idle',
      model = params.model or M._status.model or '',
      message = params.message or '',
      -- The user's acceptance figures in one line (accepted N of M suggestions ...).
      summary = params.summary or M._status.summary or '',
    }
    redraw_status()
  end
end

--- Statusline component: "llm-lsp: <state> (<model>)", or "" when no llm-lsp client is attached
--- to the current buffer and nothing failed. Example: vim.o.statusline = "%f %= %{v:lua.require'llm_lsp'.statusline()}"
---@return string
function M.statusline()
  if M._failed then
    return 'llm-lsp: error'
  end
  if not M.client() then
    return ''
  end
  local s = M._status
  local text = 'llm-lsp: ' .. (s.state or 'idle')
  if s.model and s.model ~= '' then
    text = text .. ' (' .. s.model .. ')'
  end
  if s.state == 'error' and s.message and s.message ~= '' then
    text = text .. ' ' .. s.message
  end
  return text
end

--- The last llmLsp/status params ({state, model, message, summary}).
function M.status()
  return vim.deepcopy(M._status)
end

-- Positions ------------------------------------------------------------------------------------

--- LSP position (in the client's encoding) -> 0-based byte column on that line.
local function byte_col(bufnr, pos, encoding)
  local line = api.nvim_buf_get_lines(bufnr, pos.line, pos.line + 1, false)[1] or ''
  if encoding == 'utf-8' then
    return math.min(pos.character, #line)
  end
  local ok, col = pcall(vim.str_byteindex, line, encoding, pos.character, false)
  if ok and col then
    return col
  end
  ok, col = pcall(vim.str_byteindex, line, pos.character, encoding == 'utf-16')
  return ok and col or #line
end

--- Plain text of an insertText (string or snippet StringValue): placeholders become their default.
local function plain_text(insert_text)
  if type(insert_text) == 'string' then
    return insert_text
  end
  local value = insert_text and insert_text.value or ''
  local ok, grammar = pcall(require, 'vim.lsp._snippet_grammar')
  if ok then
    local parsed_ok, parsed = pcall(grammar.parse, value)
    if parsed_ok then
      return tostring(parsed)
    end
  end
  value = value:gsub('%${%d+:([^}]*)}', '%1'):gsub('%${%d+}', ''):gsub('%$%d+', '')
  return value
end

--- Length of a string in UTF-16 code units (how Copilot's events count acceptedLength).
local function utf16_len(text)
  local ok, n = pcall(vim.str_utfindex, text, 'utf-16')
  if ok and type(n) == 'number' then
    return n
  end
  local _, n16 = vim.str_utfindex(text)
  return n16
end

--- Tell the server about an item (events are hints: never an error if the client is gone).
local function notify(item, method, params)
  local client = vim.lsp.get_client_by_id(item.client_id)
  if client and item.raw then
    pcall(function()
      client:notify(method, params)
    end)
  end
end

--- The next word of a suggestion's rest: leading blanks, then a word or a run of other characters
--- (a line break alone). As VS Code's "accept next word" cuts.
local function next_word(rest)
  local blanks = rest:match('^[ \t]*')
  local tail = rest:sub(#blanks + 1)
  local word = tail:match('^[%w_]+') or tail:match('^[^%w_%s]+') or tail:sub(1, 1)
  return blanks .. word
end

--- The rest of the suggestion's current line, with its line break (all of it on its last line).
local function next_line(rest)
  return rest:match('^[^\n]*\n') or rest
end

-- Extmark renderer ----------------------------------------------------------------------------------

local function state(bufnr)
  local st = bufstate[bufnr]
  if not st then
    st = { seq = 0, items = nil, index = 1 }
    bufstate[bufnr] = st
  end
  return st
end

local function stop_timer(st)
  if st.timer then
    st.timer:stop()
    if not st.timer:is_closing() then
      st.timer:close()
    end
    st.timer = nil
  end
end

--- Cancel the request in flight of a state table (`st.req = { client_id, id }`), if any.
local function drop_request(st)
  if st.req then
    local client = vim.lsp.get_client_by_id(st.req.client_id)
    if client then
      pcall(function()
        client:cancel_request(st.req.id)
      end)
    end
    st.req = nil
  end
end

local function cancel_request(st)
  st.seq = st.seq + 1 -- a late answer to the old request is ignored
  drop_request(st)
end

local function hide(bufnr)
  if api.nvim_buf_is_valid(bufnr) then
    api.nvim_buf_clear_namespace(bufnr, ns, 0, -1)
  end
  local st = bufstate[bufnr]
  if st then
    st.shown = nil
  end
end

--- Forget the suggestion, the pending request and the debounce timer of a buffer.
local function reset(bufnr)
  local st = bufstate[bufnr]
  if not st then
    return
  end
  stop_timer(st)
  cancel_request(st)
  hide(bufnr)
  st.items = nil
end

local function cursor_of(bufnr)
  local win = api.nvim_get_current_win()
  if api.nvim_win_get_buf(win) ~= bufnr then
    win = vim.fn.bufwinid(bufnr)
  end
  if win == -1 then
    return nil
  end
  local c = api.nvim_win_get_cursor(win)
  return c[1] - 1, c[2], win
end

--- What the current item would add at the cursor: the item text minus what is already typed
--- between the start of its range and the cursor. nil when the item no longer fits the buffer.
local function remainder(bufnr, item)
  local row, col = cursor_of(bufnr)
  if not row or item.srow ~= row or col < item.scol then
    return nil
  end
  local line = api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ''
  local typed = line:sub(item.scol + 1, col)
  if not vim.startswith(item.text, typed) then
    return nil
  end
  return item.text:sub(#typed + 1)
end

--- The buffer's state, its current item and what that item still adds at the cursor (nil, nil, nil
--- when there is none). `shown`: only an item drawn now.
local function current(bufnr, shown)
  local st = bufstate[bufnr]
  local item = st and (st.shown or not shown) and st.items and st.items[st.index]
  local rest = item and remainder(bufnr, item)
  if not rest or rest == '' then
    return nil, nil, nil
  end
  return st, item, rest
end

--- Draw the current item at the cursor: first line inline, the rest as virtual lines.
local function render(bufnr)
  hide(bufnr)
  local st, item, rest = current(bufnr, false)
  if not item then
    return false
  end
  local row, col = cursor_of(bufnr)
  local hl = M.config.ghost_text.hl_group
  local lines = vim.split(rest, '\n', { plain = true })
  local opts = { hl_mode = 'combine', right_gravity = false }
  if lines[1] ~= '' then
    opts.virt_text = { { lines[1], hl } }
    opts.virt_text_pos = 'inline'
  end
  if #lines > 1 then
    local virt_lines = {}
    for i = 2, #lines do
      virt_lines[#virt_lines + 1] = { { lines[i], hl } }
    end
    opts.virt_lines = virt_lines
  end
  st.extmark = api.nvim_buf_set_extmark(bufnr, ns, row, col, opts)
  st.shown = rest
  if not item.shown_sent then
    item.shown_sent = true
    notify(item, 'textDocument/didShowCompletion', { item = item.raw })
  end
  return true
end

--- Normalise the server's items to byte positions of this buffer.
local function to_items(bufnr, client, result, row, col)
  local raw_items = result and (result.items or result) or {}
  local items = {}
  for _, raw in ipairs(raw_items) do
    local text = plain_text(raw.insertText)
    -- raw: the item as received, sent back in the events; consumed: UTF-16 units of its text already
    -- accepted (partial accepts rebase the item onto the cursor, so this counts from raw insertText).
    local item = { text = text, command = raw.command, client_id = client.id, raw = raw, consumed = 0 }
    if raw.range then
      local enc = client.offset_encoding
      item.srow = raw.range.start.line
      item.scol = byte_col(bufnr, raw.range.start, enc)
      local erow = raw.range['end'].line
      local ecol = byte_col(bufnr, raw.range['end'], enc)
      if erow == row then
        -- Text replaced after the cursor (e.g. a closing bracket): kept as an offset from the cursor
        -- so that it still holds after more typing.
        item.after = math.max(0, ecol - col)
      else
        item.erow, item.ecol = erow, ecol
      end
    else
      item.srow, item.scol, item.after = row, col, 0
    end
    if text ~= '' then
      items[#items + 1] = item
    end
  end
  return items
end

local function request(bufnr, kind, cycle)
  local st = state(bufnr)
  stop_timer(st)
  cancel_request(st)
  local client = M.client(bufnr)
  if not client or not client.server_capabilities.inlineCompletionProvider then
    return false
  end
  local row, col, win = cursor_of(bufnr)
  if not row then
    return false
  end
  local params = vim.lsp.util.make_position_params(win, client.offset_encoding)
  params.context = { triggerKind = kind }
  local tick = api.nvim_buf_get_changedtick(bufnr)
  local seq = st.seq
  local ok, id = client:request('textDocument/inlineCompletion', params, function(err, result)
    if st.seq ~= seq or not api.nvim_buf_is_valid(bufnr) then
      return
    end
    st.req = nil
    if err then
      return -- logged by the server; typing never pops errors up
    end
    if api.nvim_buf_get_changedtick(bufnr) ~= tick then
      return
    end
    local r, c = cursor_of(bufnr)
    if r ~= row or c ~= col then
      return
    end
    if kind == AUTOMATIC and not vim.startswith(api.nvim_get_mode().mode, 'i') then
      return
    end
    st.items = to_items(bufnr, client, result, row, col)
    st.index = 1
    if cycle and #st.items > 0 then
      -- Alternatives asked for by next/prev: move on from the suggestion that was shown.
      for i, it in ipairs(st.items) do
        if it.text == cycle.text then
          st.index = (i - 1 + cycle.delta) % #st.items + 1
          break
        end
      end
    end
    render(bufnr)
  end, bufnr)
  if ok and id then
    st.req = { client_id = client.id, id = id }
  end
  return ok
end

local function schedule_request(bufnr)
  local st = state(bufnr)
  stop_timer(st)
  if not M.config.ghost_text.enable then
    return
  end
  st.timer = uv.new_timer()
  st.timer:start(
    M.config.ghost_text.debounce_ms,
    0,
    vim.schedule_wrap(function()
      stop_timer(st)
      if api.nvim_buf_is_valid(bufnr) and api.nvim_get_current_buf() == bufnr then
        request(bufnr, AUTOMATIC)
      end
    end)
  )
end

--- TextChangedI / CursorMovedI: typing keeps a matching suggestion on screen and asks again
--- (debounced); a pure cursor move drops it and cancels the request in flight.
local function on_insert_activity(bufnr)
  local st = state(bufnr)
  local tick = api.nvim_buf_get_changedtick(bufnr)
  local row, col = cursor_of(bufnr)
  local moved = not st.last_cursor or st.last_cursor[1] ~= row or st.last_cursor[2] ~= col
  if tick ~= st.last_tick then
    st.last_tick = tick
    cancel_request(st)
    if not render(bufnr) then
      st.items = nil
    end
    schedule_request(bufnr)
  elseif moved then
    cancel_request(st)
    hide(bufnr)
    st.items = nil
    schedule_request(bufnr)
  end
  st.last_cursor = { row, col }
end

local function attach_extmark_renderer(bufnr)
  local group = api.nvim_create_augroup('llm_lsp.ghost_text.' .. bufnr, { clear = true })
  api.nvim_create_autocmd({ 'TextChangedI', 'CursorMovedI' }, {
    group = group,
    buffer = bufnr,
    callback = function()
      on_insert_activity(bufnr)
    end,
  })
  api.nvim_create_autocmd('InsertEnter', {
    group = group,
    buffer = bufnr,
    callback = function()
      local st = state(bufnr)
      st.last_tick = api.nvim_buf_get_changedtick(bufnr)
      local row, col = cursor_of(bufnr)
      st.last_cursor = { row, col }
      schedule_request(bufnr)
    end,
  })
  api.nvim_create_autocmd({ 'InsertLeave', 'BufLeave' }, {
    group = group,
    buffer = bufnr,
    callback = function()
      reset(bufnr)
    end,
  })
  api.nvim_create_autocmd('BufWipeout', {
    group = group,
    buffer = bufnr,
    callback = function()
      reset(bufnr)
      bufstate[bufnr] = nil
      pcall(api.nvim_del_augroup_by_id, group)
    end,
  })
end

local function detach_extmark_renderer(bufnr)
  reset(bufnr)
  pcall(api.nvim_del_augroup_by_name, 'llm_lsp.ghost_text.' .. bufnr)
end

-- Public API -----------------------------------------------------------------------------------

--- Ask for a suggestion now at the cursor (also outside insert mode with the extmark renderer).
---@return boolean requested
function M.suggest()
  local bufnr = api.nvim_get_current_buf()
  if use_native() then
    -- The built-in completor asks on CursorMovedI (insert mode only).
    return pcall(api.nvim_exec_autocmds, 'CursorMovedI', { buffer = bufnr, modeline = false })
  end
  return request(bufnr, INVOKED)
end

--- The suggestion shown in the current buffer (the text still to be inserted), or nil.
---@return string?
function M.suggestion()
  local bufnr = api.nvim_get_current_buf()
  if use_native() then
    local native_ns = api.nvim_get_namespaces()['nvim.lsp.inline_completion']
    if not native_ns then
      return nil
    end
    local marks = api.nvim_buf_get_extmarks(bufnr, native_ns, 0, -1, { details = true })
    local mark = marks[1]
    if not mark then
      return nil
    end
    local parts = {}
    local first = {}
    for _, chunk in ipairs(mark[4].virt_text or {}) do
      if chunk[2] ~= 'ComplHintMore' then
        first[#first + 1] = chunk[1]
      end
    end
    parts[1] = table.concat(first)
    for _, vl in ipairs(mark[4].virt_lines or {}) do
      local line = {}
      for _, chunk in ipairs(vl) do
        if chunk[2] ~= 'ComplHintMore' then
          line[#line + 1] = chunk[1]
        end
      end
      parts[#parts + 1] = table.concat(line)
    end
    return table.concat(parts, '\n')
  end
  local st = bufstate[bufnr]
  return st and st.shown or nil
end

--- Replace (srow, scol)-(erow, ecol) by `text` and put the cursor after it; returns that position.
local function put_text(bufnr, win, srow, scol, erow, ecol, text)
  local lines = vim.split(text, '\n', { plain = true })
  api.nvim_buf_set_text(bufnr, srow, scol, erow, ecol, lines)
  local end_row = srow + #lines - 1
  local end_col = (#lines == 1 and scol or 0) + #lines[#lines]
  if win then
    pcall(api.nvim_win_set_cursor, win, { end_row + 1, end_col })
  end
  return end_row, end_col
end

local function apply_item(bufnr, item)
  local row, col, win = cursor_of(bufnr)
  local srow, scol = item.srow, item.scol
  local erow, ecol = item.erow, item.ecol
  if not erow then
    erow = row
    local line = api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ''
    ecol = math.min(#line, col + (item.after or 0))
  end
  local end_row, end_col = put_text(bufnr, win, srow, scol, erow, ecol, item.text)
  local st = state(bufnr)
  st.last_tick = api.nvim_buf_get_changedtick(bufnr)
  st.last_cursor = { end_row, end_col }
  if item.command then
    local client = vim.lsp.get_client_by_id(item.client_id)
    if client then
      client:exec_cmd(item.command, { bufnr = bufnr })
    end
  end
end

--- Insert the shown suggestion and send its command (llm-lsp.acceptCompletion).
--- Returns true if there was one. With the built-in renderer the insertion happens right after
--- this returns (scheduled, as vim.lsp.inline_completion.get() does).
---@return boolean
function M.accept()
  local bufnr = api.nvim_get_current_buf()
  if use_native() then
    return vim.lsp.inline_completion.get({ bufnr = bufnr })
  end
  local st = bufstate[bufnr]
  local item = st and st.shown and st.items and st.items[st.index]
  if not item then
    return false
  end
  stop_timer(st)
  cancel_request(st)
  hide(bufnr)
  st.items = nil
  apply_item(bufnr, item)
  return true
end

--- Insert the first `part` of the shown suggestion and draw its rest at once, with no new request.
local function accept_part(bufnr, cut)
  local st, item, rest = current(bufnr, true)
  if not item then
    return false
  end
  local part = cut(rest)
  if part == rest then
    return M.accept()
  end
  stop_timer(st)
  cancel_request(st)
  local row, col, win = cursor_of(bufnr)
  local line = api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ''
  local typed = line:sub(item.scol + 1, col)
  local end_row, end_col = put_text(bufnr, win, row, col, row, col, part)
  -- The item now starts at the cursor: what was typed and accepted is consumed.
  item.consumed = item.consumed + utf16_len(typed .. part)
  item.text = rest:sub(#part + 1)
  item.srow, item.scol = end_row, end_col
  -- This change is ours: TextChangedI must neither redraw nor ask the server again.
  st.last_tick = api.nvim_buf_get_changedtick(bufnr)
  st.last_cursor = { end_row, end_col }
  render(bufnr)
  notify(item, 'textDocument/didPartiallyAcceptCompletion', { item = item.raw, acceptedLength = item.consumed })
  return true
end

--- Insert the next word of the shown suggestion; the rest stays shown. Returns true if there was one.
---@return boolean
function M.accept_word()
  if use_native() then
    return M.accept() -- vim.lsp.inline_completion has no partial accept
  end
  return accept_part(api.nvim_get_current_buf(), next_word)
end

--- Insert the rest of the shown suggestion's current line (with its line break); the rest stays shown.
---@return boolean
function M.accept_line()
  if use_native() then
    return M.accept()
  end
  return accept_part(api.nvim_get_current_buf(), next_line)
end

--- Let `fn` claim the accept key before the suggestion does (e.g. a visible next edit).
--- fn(bufnr) runs inside an expr mapping: it returns true when it handled the key and must
--- vim.schedule any edit. Handlers added later are asked first.
---@param fn fun(bufnr: integer): boolean
function M.add_accept_handler(fn)
  table.insert(M._accept_handlers, 1, fn)
end

--- Whether a suggestion is shown in the current buffer.
---@return boolean
function M.visible()
  return M.suggestion() ~= nil
end

local function cycle(delta)
  local bufnr = api.nvim_get_current_buf()
  if use_native() then
    vim.lsp.inline_completion.select({ bufnr = bufnr, count = delta })
    return
  end
  local st = bufstate[bufnr]
  if not st or not st.items or #st.items <= 1 then
    -- One suggestion (or none) so far: ask for alternatives (an explicit request asks the model for
    -- several candidates once; the server's cache keeps them for the next cycle).
    local current = st and st.items and st.items[st.index]
    request(bufnr, INVOKED, current and { text = current.text, delta = delta } or nil)
    return
  end
  st.index = (st.index - 1 + delta) % #st.items + 1
  render(bufnr)
end

--- Show the next suggestion.
function M.next()
  cycle(1)
end

--- Show the previous suggestion.
function M.prev()
  cycle(-1)
end

--- Hide the suggestion and cancel the request in flight.
function M.dismiss()
  local bufnr = api.nvim_get_current_buf()
  if use_native() then
    local had = M.visible()
    local native_ns = api.nvim_get_namespaces()['nvim.lsp.inline_completion']
    if native_ns then
      api.nvim_buf_clear_namespace(bufnr, native_ns, 0, -1)
    end
    return had
  end
  local had = bufstate[bufnr] and bufstate[bufnr].shown ~= nil
  reset(bufnr)
  return had or false
end

-- Code actions ---------------------------------------------------------------------------------

--- A vim.diagnostic as an LSP Diagnostic (positions in `encoding`).
local function to_lsp_diagnostic(bufnr, d, encoding)
  if d.user_data and d.user_data.lsp then
    return d.user_data.lsp
  end
  local function char(row, col)
    local line = api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ''
    local ok, idx = pcall(vim.str_utfindex, line, encoding, math.min(col, #line), false)
    return ok and idx or col
  end
  local end_lnum = d.end_lnum or d.lnum
  local end_col = d.end_col or d.col
  return {
    range = {
      start = { line = d.lnum, character = char(d.lnum, d.col) },
      ['end'] = { line = end_lnum, character = char(end_lnum, end_col) },
    },
    severity = d.severity,
    message = d.message,
    source = d.source,
    code = d.code,
  }
end

--- vim.lsp.buf.code_action() with every diagnostic of the cursor line in the request context.
--- Neovim sends each server only its own diagnostics; llm-lsp's "Fix with AI" quick fixes are for
--- the errors that other servers and linters report, so this passes them all.
---@param opts? table options of vim.lsp.buf.code_action (context, filter, apply, range)
function M.code_action(opts)
  opts = vim.deepcopy(opts or {})
  local bufnr = api.nvim_get_current_buf()
  local client = M.client(bufnr)
  local encoding = client and client.offset_encoding or 'utf-16'
  local lnum = api.nvim_win_get_cursor(0)[1] - 1
  local diagnostics = {}
  for _, d in ipairs(vim.diagnostic.get(bufnr, { lnum = lnum })) do
    diagnostics[#diagnostics + 1] = to_lsp_diagnostic(bufnr, d, encoding)
  end
  opts.context = opts.context or {}
  if opts.context.diagnostics == nil then
    opts.context.diagnostics = diagnostics
  end
  vim.lsp.buf.code_action(opts)
end

--- Apply llm-lsp's first "Fix with AI" quick fix for the diagnostics on the cursor line.
function M.fix()
  M.code_action({
    context = { only = { 'quickfix' } },
    filter = function(action)
      return type(action.title) == 'string' and action.title:find('Fix with AI', 1, true) ~= nil
    end,
    apply = true,
  })
end

-- Commands -------------------------------------------------------------------------------------

--- Run an llm-lsp.* command on a range of the current buffer.
---@param name string one of M.commands (fix, explain, document, tests, simplify, refactor)
---@param opts? { range?: {integer, integer}, instruction?: string, on_done?: fun(err, result) }
---  range: 1-based first and last line (whole lines); default: the current line.
function M.run(name, opts)
  opts = opts or {}
  local bufnr = api.nvim_get_current_buf()
  local client = M.client(bufnr)
  if not client then
    vim.notify('llm-lsp: not attached to this buffer', vim.log.levels.WARN)
    return
  end
  local first, last
  if opts.range then
    first, last = opts.range[1], opts.range[2]
  else
    first = api.nvim_win_get_cursor(0)[1]
    last = first
  end
  local last_line = api.nvim_buf_get_lines(bufnr, last - 1, last, false)[1] or ''
  local range = vim.lsp.util.make_given_range_params(
    { first, 0 },
    { last, math.max(#last_line, 1) },
    bufnr,
    client.offset_encoding
  ).range
  local arg = { uri = vim.uri_from_bufnr(bufnr), range = range }
  if name == 'refactor' then
    local instruction = opts.instruction
    if not instruction or instruction == '' then
      instruction = vim.fn.input('Refactor instruction: ')
    end
    if instruction == '' then
      return
    end
    arg.instruction = instruction
  end
  client:exec_cmd({ title = name, command = 'llm-lsp.' .. name, arguments = { arg } }, { bufnr = bufnr }, function(err, result)
    if err then
      vim.notify('llm-lsp ' .. name .. ': ' .. (err.message or tostring(err)), vim.log.levels.ERROR)
    elseif type(result) == 'string' and result ~= '' then
      -- explain answers with text; the others apply their edit through workspace/applyEdit.
      vim.notify(result, vim.log.levels.INFO)
    end
    if opts.on_done then
      opts.on_done(err, result)
    end
  end)
end

--- Your acceptance figures as a table (llm-lsp.showStats; counts kept on this machine only).
---@param on_done fun(err: table?, text: string?)
function M.stats(on_done)
  local bufnr = api.nvim_get_current_buf()
  local client = M.client(bufnr)
  if not client then
    on_done({ message = 'not attached to this buffer' }, nil)
    return
  end
  client:exec_cmd(
    { title = 'stats', command = 'llm-lsp.showStats', arguments = { { format = 'text' } } },
    { bufnr = bufnr },
    function(err, result)
      on_done(err, type(result) == 'string' and result or vim.inspect(result))
    end
  )
end

local function define_user_command()
  api.nvim_create_user_command('LlmLsp', function(cmd)
    local sub = cmd.fargs[1]
    if sub == 'restart' then
      M.restart()
    elseif sub == 'status' then
      print(M.statusline() ~= '' and M.statusline() or 'llm-lsp: not attached')
    elseif sub == 'suggest' then
      M.suggest()
    elseif sub == 'stats' then
      M.stats(function(err, text)
        if err then
          vim.notify('llm-lsp stats: ' .. (err.message or tostring(err)), vim.log.levels.ERROR)
        else
          vim.notify(text, vim.log.levels.INFO)
        end
      end)
    elseif vim.tbl_contains(M.commands, sub) then
      M.run(sub, {
        range = cmd.range > 0 and { cmd.line1, cmd.line2 } or nil,
        instruction = table.concat(vim.list_slice(cmd.fargs, 2), ' '),
      })
    else
      vim.notify('llm-lsp: unknown subcommand ' .. tostring(sub), vim.log.levels.ERROR)
    end
  end, {
    nargs = '+',
    range = true,
    desc = 'llm-lsp: fix | explain | document | tests | simplify | refactor {instruction} | suggest | stats | status | restart',
    complete = function(arglead)
      local subs = vim.list_extend(vim.deepcopy(M.commands), { 'suggest', 'stats', 'status', 'restart' })
      return vim.tbl_filter(function(s)
        return vim.startswith(s, arglead)
      end, subs)
    end,
  })
end

-- Keymaps --------------------------------------------------------------------------------------

local function set_keymaps(bufnr)
  local km = M.config.keymaps or {}
  local function map(lhs, fn, desc)
    if lhs then
      vim.keymap.set('i', lhs, fn, { buffer = bufnr, desc = desc, silent = true })
    end
  end
  if km.accept then
    -- An expr mapping may not change the buffer, so the insertion is scheduled; without a
    -- suggestion the key does what it did before.
    vim.keymap.set('i', km.accept, function()
      for _, handler in ipairs(M._accept_handlers) do
        local ok, handled = pcall(handler, bufnr)
        if ok and handled then
          return ''
        end
      end
      if use_native() then
        if vim.lsp.inline_completion.get({ bufnr = bufnr }) then
          return ''
        end
        return km.accept
      end
      if M.suggestion() then
        vim.schedule(M.accept)
        return ''
      end
      if require('llm_lsp.next_edit').visible(bufnr) then -- no ghost text: a next edit takes <Tab>
        vim.schedule(require('llm_lsp.next_edit').tab)
        return ''
      end
      return km.accept
    end, { buffer = bufnr, expr = true, silent = true, desc = 'llm-lsp: accept suggestion' })
  end
  if km.dismiss then
    vim.keymap.set('i', km.dismiss, function()
      if M.suggestion() then
        vim.schedule(M.dismiss)
        return ''
      end
      return km.dismiss
    end, { buffer = bufnr, expr = true, silent = true, desc = 'llm-lsp: dismiss suggestion' })
  end
  local function partial(lhs, fn, desc)
    if lhs then
      vim.keymap.set('i', lhs, function()
        if M.suggestion() then
          vim.schedule(fn)
          return ''
        end
        return lhs
      end, { buffer = bufnr, expr = true, silent = true, desc = desc })
    end
  end
  partial(km.accept_word, M.accept_word, 'llm-lsp: accept the next word of the suggestion')
  partial(km.accept_line, M.accept_line, 'llm-lsp: accept the next line of the suggestion')
  map(km.next, M.next, 'llm-lsp: next suggestion')
  map(km.prev, M.prev, 'llm-lsp: previous suggestion')
  map(km.suggest, M.suggest, 'llm-lsp: suggest now')
end

-- Setup ----------------------------------------------------------------------------------------

local function on_attach(client, bufnr)
  if M.config.ghost_text.enable then
    if use_native() then
      vim.lsp.inline_completion.enable(true, { bufnr = bufnr })
    elseif client.server_capabilities.inlineCompletionProvider then
      attach_extmark_renderer(bufnr)
    end
  end
  set_keymaps(bufnr)
  require('llm_lsp.next_edit').attach(client, bufnr) -- next-edit suggestions (llm_lsp/next_edit.lua)
  if M.config.on_attach then
    M.config.on_attach(client, bufnr)
  end
end

local function on_exit(code, signal, _client_id)
  vim.schedule(function()
    for bufnr in pairs(bufstate) do
      pcall(detach_extmark_renderer, bufnr)
    end
  end)
  if code ~= 0 or (signal and signal ~= 0 and signal ~= 15) then
    -- One message and no restart loop: vim.lsp.enable would start a new client for every buffer
    -- opened later, so the config is disabled until :LlmLsp restart.
    M._failed = ('the server exited (code %s, signal %s); see :LspLog, :checkhealth llm_lsp, then :LlmLsp restart'):format(
      tostring(code),
      tostring(signal)
    )
    M._status = { state = 'error', model = M._status.model, message = 'server exited' }
    vim.schedule(function()
      pcall(vim.lsp.enable, M.config.name, false)
      redraw_status()
    end)
    notify_once(M._failed)
  else
    M._status = { state = 'offline', model = M._status.model, message = '' }
    vim.schedule(redraw_status)
  end
end

--- Check that the server command can run; on failure remember one readable reason.
local function check_cmd(cmd)
  if type(cmd) == 'function' then
    return true
  end
  local exe = cmd[1]
  if vim.fn.executable(exe) == 1 then
    return true
  end
  M._failed = ('server command %q not found. Install it (pip install llm-lsp) or set cmd in require("llm_lsp").setup({ cmd = { "/path/to/llm-lsp" } })'):format(
    exe
  )
  notify_once(M._failed)
  return false
end

--- Register llm-lsp with vim.lsp and enable it for every filetype.
---@param opts? table see `defaults` at the top of this file
function M.setup(opts)
  M.config = vim.tbl_deep_extend('force', vim.deepcopy(defaults), opts or {})
  -- tbl_deep_extend merges lists index by index; take the user's lists as given.
  if opts and opts.cmd then
    M.config.cmd = opts.cmd
  end
  if opts and opts.root_markers then
    M.config.root_markers = opts.root_markers
  end
  M._failed = nil

  if vim.fn.has('nvim-0.11') ~= 1 then
    notify_once('needs Neovim 0.11 or newer (vim.lsp.config / vim.lsp.enable)')
    return
  end

  api.nvim_set_hl(0, M.config.ghost_text.hl_group, { link = 'Comment', default = true })
  define_user_command()

  local settings = section()
  local capabilities = vim.lsp.protocol.make_client_capabilities()
  -- Tell the server we show inline completions, so it does not also put its suggestion into the
  -- completion list (that fallback is for clients without ghost text).
  if M.config.ghost_text.enable then
    capabilities.textDocument.inlineCompletion = { dynamicRegistration = false }
  end

  vim.lsp.config(M.config.name, {
    cmd = M.config.cmd,
    cmd_env = M.config.cmd_env,
    filetypes = M.config.filetypes,
    -- A function instead of root_markers so that a failed server is not started again for every
    -- buffer opened later (vim.lsp.enable would otherwise retry on each FileType event).
    root_dir = function(bufnr, on_dir)
      if M._failed then
        return
      end
      on_dir(vim.fs.root(bufnr, M.config.root_markers))
    end,
    capabilities = capabilities,
    init_options = settings,
    settings = { llmLsp = settings },
    handlers = { ['llmLsp/status'] = on_status },
    on_attach = on_attach,
    on_exit = on_exit,
  })

  if not check_cmd(M.config.cmd) then
    return
  end
  vim.lsp.enable(M.config.name)
end

--- Start again after a failure (or after changing settings with setup()).
function M.restart()
  for _, client in ipairs(vim.lsp.get_clients({ name = M.config.name })) do
    client:stop(true)
  end
  M._failed = nil
  if not check_cmd(M.config.cmd) then
    return
  end
  vim.defer_fn(function()
    vim.lsp.enable(M.config.name, false)
    vim.lsp.enable(M.config.name)
  end, 500)
end

--- Send changed settings to the running server (workspace/didChangeConfiguration).
---@param settings table the llmLsp section
function M.set_settings(settings)
  M.config.settings = settings
  for _, client in ipairs(vim.lsp.get_clients({ name = M.config.name })) do
    client.settings = { llmLsp = section() }
    client:notify('workspace/didChangeConfiguration', { settings = client.settings })
  end
end

M._internal = {
  use_native = use_native,
  ns = ns,
  byte_col = byte_col,
  stop_timer = stop_timer,
  drop_request = drop_request,
}

return M
