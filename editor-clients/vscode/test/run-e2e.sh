#!/usr/bin/env bash
# End-to-end test of the llm-lsp VS Code extension in real VS Code: code-server (the VS Code web
# build) with the packaged .vsix, driven by Debian's headless Chromium through puppeteer-core, against
# the real llm-lsp command and a fake OpenAI-compatible model on 127.0.0.1. No internet, no key.
#
#   editor-clients/vscode/test/run-e2e.sh
#
# Needs: Node 20 + npm, Debian packages chromium ripgrep libkrb5-dev pkg-config (apt-get install -y
# chromium ripgrep libkrb5-dev pkg-config), llm-lsp on PATH (or LLM_LSP=/path/to/llm-lsp).
# code-server 4.100.3 and puppeteer-core are installed once into $LLM_LSP_E2E_HOME
# (default ~/.cache/llm-lsp-vscode-e2e); the first run takes about a minute longer.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
EXT=$(dirname "$HERE")
REPO=$(cd "$EXT/../.." && pwd)
CACHE=${LLM_LSP_E2E_HOME:-$HOME/.cache/llm-lsp-vscode-e2e}
CODE_SERVER_VERSION=4.100.3
START=$(date +%s)

say() { printf '[vscode-e2e %3ss] %s\n' "$(( $(date +%s) - START ))" "$*" >&2; }
die() { say "FAIL: $*"; exit 1; }

# --- prerequisites ----------------------------------------------------------------------------------
LLM_LSP=${LLM_LSP:-$(command -v llm-lsp || true)}
[ -n "$LLM_LSP" ] && [ -x "$LLM_LSP" ] || die "llm-lsp not found: pip install -e . (or set LLM_LSP=/path/to/llm-lsp)"
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$(dirname "$LLM_LSP")/python" ]; then PYTHON="$(dirname "$LLM_LSP")/python"; else PYTHON=python3; fi
fi
CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
[ -n "$CHROMIUM" ] || die "chromium not found: apt-get install -y chromium"
RG=$(command -v rg || true)
[ -n "$RG" ] || die "ripgrep not found: apt-get install -y ripgrep"
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
[ "$node_major" = 20 ] || die "code-server $CODE_SERVER_VERSION needs Node 20 (found: $(node --version 2>/dev/null || echo none))"

# --- code-server + puppeteer-core (once) --------------------------------------------------------------
CS_DIR="$CACHE/cs"
CODE_SERVER="$CS_DIR/node_modules/.bin/code-server"
if [ ! -x "$CODE_SERVER" ] || [ ! -e "$CS_DIR/node_modules/code-server/lib/vscode/node_modules/@vscode/ripgrep/bin/rg" ] \
   || [ ! -d "$CS_DIR/node_modules/puppeteer-core" ]; then
  say "installing code-server $CODE_SERVER_VERSION and puppeteer-core into $CS_DIR (once)"
  mkdir -p "$CS_DIR" "$CACHE/tmp"
  # @vscode/ripgrep's postinstall downloads rg from GitHub; pre-seed its cache with Debian's rg.
  seed=$(mktemp -d)
  cp "$RG" "$seed/rg"
  tar -czf "$seed/rg.tar.gz" -C "$seed" rg
  for v in 1.15.9 1.15.10 1.15.11 1.15.13 1.15.14 1.17.0 1.17.1 1.18.0; do
    mkdir -p "$CACHE/tmp/vscode-ripgrep-cache-$v"
    cp "$seed/rg.tar.gz" "$CACHE/tmp/vscode-ripgrep-cache-$v/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz"
  done
  rm -rf "$seed"
  [ -f "$CS_DIR/package.json" ] || echo '{"name":"llm-lsp-vscode-e2e","private":true}' > "$CS_DIR/package.json"
  # unsafe_perm: code-server's postinstall refuses to run as root without it; the install-script
  # switch: npm >= 11 skips dependency install scripts unless allowed (older npm ignores it).
  (cd "$CS_DIR" && TMPDIR="$CACHE/tmp" npm_config_unsafe_perm=true npm_config_dangerously_allow_all_scripts=true \
     npm_config_yes=true npm install --no-audit --no-fund "code-server@$CODE_SERVER_VERSION" puppeteer-core@24 \
     > "$CACHE/install.log" 2>&1) || { tail -30 "$CACHE/install.log" >&2; die "npm install of code-server failed (log: $CACHE/install.log)"; }
  [ -e "$CS_DIR/node_modules/code-server/lib/vscode/node_modules/@vscode/ripgrep/bin/rg" ] \
    || die "code-server's postinstall did not run (log: $CACHE/install.log)"
fi

# --- the extension -----------------------------------------------------------------------------------
say "building the .vsix"
(cd "$EXT" && { [ -d node_modules ] || npm install --no-audit --no-fund >/dev/null 2>&1; } && npm run --silent package >/dev/null) \
  || die "npm run package failed in $EXT"
VSIX="$EXT/llm-lsp.vsix"

# --- a throw-away VS Code profile and workspace ----------------------------------------------------------
RUN=$(mktemp -d "${TMPDIR:-/tmp}/llm-lsp-vscode-e2e.XXXXXX")
WS="$RUN/workspace"; UD="$RUN/user-data"; EXTDIR="$RUN/extensions"
mkdir -p "$WS" "$UD/User" "$EXTDIR"
printf 'def add(a, b):\n    return' > "$WS/example.py"
printf 'function total(items) {\n  let sum = 0\n  for (const x of items) { sum += x }\n  return sum +\n}' > "$WS/broken.js"
cat > "$UD/User/settings.json" <<JSON
{
  "llmLsp.server.path": "$LLM_LSP",
  "llmLsp.logLevel": "debug",
  "llmLsp.server.args": ["--log-file", "$RUN/server.log", "--log-level", "debug"],
  "llmLsp.trace.server": "${TRACE:-off}",
  "workbench.startupEditor": "none",
  "workbench.tips.enabled": false,
  "workbench.enableExperiments": false,
  "security.workspace.trust.enabled": false,
  "telemetry.telemetryLevel": "off",
  "extensions.autoCheckUpdates": false,
  "extensions.autoUpdate": false,
  "update.mode": "none",
  "editor.inlineSuggest.enabled": true,
  "editor.quickSuggestions": { "other": false, "comments": false, "strings": false },
  "editor.suggestOnTriggerCharacters": false,
  "files.autoSave": "off",
  "chat.commandCenter.enabled": false
}
JSON

PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -- -"$p" 2>/dev/null || true; done
  if [ -z "${KEEP:-}" ]; then rm -rf "$RUN"; else say "kept $RUN"; fi
}
trap cleanup EXIT

# --- the fake model: ghost text for example.py, the fixed function for the quick fix ---------------------
FIX_ANSWER=$(printf '```javascript\nfunction total(items) {\n  let sum = 0\n  for (const x of items) { sum += x }\n  return sum\n}\n```')
TABLE=$("$PYTHON" -c 'import json,sys; print(json.dumps({"Expression expected": sys.argv[1]}))' "$FIX_ANSWER")
setsid "$PYTHON" "$REPO/tests/editors/fake_model.py" --port-file "$RUN/model.port" --table "$TABLE" \
  --fallback "a + b" --log "$RUN/model.log" > /dev/null 2> "$RUN/model.err" &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$RUN/model.port" ] && break; sleep 0.1; done
[ -s "$RUN/model.port" ] || { cat "$RUN/model.err" >&2; die "fake model did not start"; }
MODEL_URL="http://127.0.0.1:$(tr -d '[:space:]' < "$RUN/model.port")/v1"

# --- code-server ---------------------------------------------------------------------------------------------
"$CODE_SERVER" --extensions-dir "$EXTDIR" --user-data-dir "$UD" --install-extension "$VSIX" > "$RUN/install-ext.log" 2>&1 \
  || { cat "$RUN/install-ext.log" >&2; die "installing the .vsix failed"; }
PORT=$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
say "starting code-server on 127.0.0.1:$PORT (model: $MODEL_URL)"
OPENAI_BASE_URL="$MODEL_URL" OPENAI_API_KEY=test-key LLM_LSP_MODEL=starcoder2 XDG_CONFIG_HOME="$RUN/xdg" \
  setsid "$CODE_SERVER" --auth none --bind-addr "127.0.0.1:$PORT" --disable-telemetry --disable-update-check \
  --disable-workspace-trust --disable-getting-started-override --user-data-dir "$UD" --extensions-dir "$EXTDIR" "$WS" \
  > "$RUN/code-server.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 300); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null || { tail -20 "$RUN/code-server.log" >&2; die "code-server did not start"; }

# --- drive it --------------------------------------------------------------------------------------------------
say "driving VS Code in headless Chromium"
set +e
NODE_PATH="$CS_DIR/node_modules" CHROMIUM="$CHROMIUM" URL="http://127.0.0.1:$PORT/?folder=$WS" RUN_DIR="$RUN" \
  node "$HERE/e2e.js"
rc=$?
set -e
if [ $rc -ne 0 ]; then
  say "code-server log tail:"; tail -15 "$RUN/code-server.log" >&2 || true
  say "model requests:"; tail -c 1500 "$RUN/model.log" >&2 2>/dev/null || true
  say "server log tail:"; tail -20 "$RUN/server.log" >&2 2>/dev/null || true
  die "e2e failed (rc $rc); screenshots in $RUN (KEEP=1 keeps it)"
fi
say "PASS in $(( $(date +%s) - START )) s"
