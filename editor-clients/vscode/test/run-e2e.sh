#!/usr/bin/env bash
# End-to-end test of the llm-lsp VS Code extension in real VS Code: code-server (the VS Code web
# build) with the packaged .vsix, driven by Debian's headless Chromium through puppeteer-core, against
# the real llm-lsp command and a fake OpenAI-compatible model on 127.0.0.1. No internet, no key.
#
#   editor-clients/vscode/test/run-e2e.sh             install what is missing (once), then test
#   editor-clients/vscode/test/run-e2e.sh --install   only install (CI does this before pytest)
#
# pytest runs it from tests/editors/test_vscode.py and reads the verdict of each check from
# $LLM_LSP_E2E_RESULT (JSON, written by e2e.js). Exit codes: 0 all checks passed, 1 a check or the
# setup failed, 77 a prerequisite is missing (the message says which; pytest then skips).
#
# Needs: Node 20 + npm, Debian packages chromium ripgrep libkrb5-dev pkg-config (apt-get install -y
# chromium ripgrep libkrb5-dev pkg-config), llm-lsp on PATH (or LLM_LSP=/path/to/llm-lsp).
# code-server 4.100.3 and puppeteer-core are installed once into $LLM_LSP_E2E_HOME
# (default ~/.cache/llm-lsp-vscode-e2e); the extension's own npm packages into editor-clients/vscode.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
EXT=$(dirname "$HERE")
REPO=$(cd "$EXT/../.." && pwd)
CACHE=${LLM_LSP_E2E_HOME:-$HOME/.cache/llm-lsp-vscode-e2e}
CODE_SERVER_VERSION=4.100.3
START=$(date +%s)
INSTALL_ONLY=
[ "${1:-}" = --install ] && INSTALL_ONLY=1

say() { printf '[vscode-e2e %3ss] %s\n' "$(( $(date +%s) - START ))" "$*" >&2; }
die() { say "FAIL: $*"; exit 1; }
missing() { say "SKIP: $*"; exit 77; }

# --- prerequisites ----------------------------------------------------------------------------------
CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
[ -n "$CHROMIUM" ] || missing "chromium not found: apt-get install -y chromium"
RG=$(command -v rg || true)
[ -n "$RG" ] || missing "ripgrep not found: apt-get install -y ripgrep"
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
[ "$node_major" = 20 ] || missing "code-server $CODE_SERVER_VERSION needs Node 20 (found: $(node --version 2>/dev/null || echo none))"
command -v npm >/dev/null || missing "npm not found (apt-get install -y npm)"

# --- code-server + puppeteer-core (once) --------------------------------------------------------------
CS_DIR="$CACHE/cs"
CODE_SERVER="$CS_DIR/node_modules/.bin/code-server"
if [ ! -x "$CODE_SERVER" ] || [ ! -e "$CS_DIR/node_modules/code-server/lib/vscode/node_modules/@vscode/ripgrep/bin/rg" ] \
   || [ ! -d "$CS_DIR/node_modules/puppeteer-core" ]; then
  # code-server's native modules build against Kerberos headers found through pkg-config.
  pkg-config --exists krb5-gssapi 2>/dev/null || missing "Kerberos headers not found: apt-get install -y libkrb5-dev pkg-config"
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
     npm_config_yes=true npm install --no-audit --no-fund --prefer-offline "code-server@$CODE_SERVER_VERSION" puppeteer-core@24 \
     > "$CACHE/install.log" 2>&1) || { tail -30 "$CACHE/install.log" >&2; die "npm install of code-server failed (log: $CACHE/install.log)"; }
  [ -e "$CS_DIR/node_modules/code-server/lib/vscode/node_modules/@vscode/ripgrep/bin/rg" ] \
    || die "code-server's postinstall did not run (log: $CACHE/install.log)"
fi

# --- the extension's build tools (esbuild, vsce, typescript), from package-lock.json -----------------
lock_stamp="$EXT/node_modules/.package-lock.json"
if [ ! -e "$lock_stamp" ] || [ "$EXT/package-lock.json" -nt "$lock_stamp" ]; then
  say "installing the extension's npm packages (npm ci)"
  (cd "$EXT" && npm ci --no-audit --no-fund --prefer-offline > "$CACHE/npm-ci.log" 2>&1) \
    || { tail -30 "$CACHE/npm-ci.log" >&2; die "npm ci failed in $EXT (log: $CACHE/npm-ci.log)"; }
fi
if [ -n "$INSTALL_ONLY" ]; then
  say "installed"
  exit 0
fi

LLM_LSP=${LLM_LSP:-$(command -v llm-lsp || true)}
[ -n "$LLM_LSP" ] && [ -x "$LLM_LSP" ] || missing "llm-lsp not found: pip install -e . (or set LLM_LSP=/path/to/llm-lsp)"
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$(dirname "$LLM_LSP")/python" ]; then PYTHON="$(dirname "$LLM_LSP")/python"; else PYTHON=python3; fi
fi

# --- the extension: one bundled file (esbuild) in a .vsix -----------------------------------------------
say "building the .vsix"
(cd "$EXT" && npm run --silent package > "$CACHE/package.log" 2>&1) \
  || { tail -30 "$CACHE/package.log" >&2; die "npm run package failed in $EXT"; }
VSIX="$EXT/llm-lsp.vsix"

# --- a throw-away VS Code profile and workspace ----------------------------------------------------------
RUN=$(mktemp -d "${TMPDIR:-/tmp}/llm-lsp-vscode-e2e.XXXXXX")
WS="$RUN/workspace"; UD="$RUN/user-data"; EXTDIR="$RUN/extensions"
mkdir -p "$WS" "$UD/User" "$EXTDIR"
RESULT=${LLM_LSP_E2E_RESULT:-$RUN/result.json}
rm -f "$RESULT"

PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -- -"$p" 2>/dev/null || true; done
  if [ -z "${KEEP:-}" ]; then rm -rf "$RUN"; else say "kept $RUN"; fi
}
trap cleanup EXIT

# The scenario: the workspace files, the fake model's answers (keyed by a marker in each file) and
# the texts each check expects, in one place. The files are visited in this order and the prompt of a
# later one quotes the earlier ones as context, so each later marker is longer (the longest key found
# in a prompt wins).
"$PYTHON" - "$WS" "$RUN" <<'PY'
import json, sys
from pathlib import Path
ws, run = Path(sys.argv[1]), Path(sys.argv[2])
add = {"file": "add.py", "text": "def add(a, b):\n    return", "marker": "def add(a, b):", "answer": "a + b"}
add["expected"] = "def add(a, b):\n    return a + b"
stack = "class Stack:\n    def __init__(self):\n        self.items = []\n\n    def push(self, item):"
body = "self.items.append(item)\n        if len(self.items) > 100:\n            self.items.pop(0)\n        return len(self.items)"
block = {"file": "stack.py", "text": stack, "marker": "def push(self, item):", "answer": body,
         "expected": stack + "\n        " + body}
head = "# Fibonacci numbers, the recursive way\n"
closer = {"file": "fib.py", "text": head, "marker": head.strip(), "typed": "def fib(",
          "answer": "n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)",
          "autoClosed": head + "def fib()"}
closer["expected"] = head + "def fib(" + closer["answer"]
# A multi-line block taken a word (Ctrl+Right), a line (Ctrl+Alt+Right, bound by the extension), then
# the rest (Tab); and alternatives for another cursor (Alt+] asks for them).
# Their markers are longer than the earlier ones: other open files reach the prompt as context.
scale_head = "# Sum a list of numbers, then scale the total by a factor k\n"
partial = {"file": "scale.py", "text": scale_head + "def scale(items, k):", "marker": scale_head.strip(),
           "answer": "total = sum(items)\n    return total * k"}
partial["expected"] = partial["text"] + "\n    " + partial["answer"]
mul_head = "# Multiply two numbers: there are several ways to write it, pick one\n"
cycle = {"file": "mul.py", "text": mul_head + "def mul(a, b):\n    return", "marker": mul_head.strip(),
         "answer": ["a * b", "b * a", "a.__mul__(b)"]}
broken = "function average(items) {\n  let sum = 0\n  for (const x of items) { sum += x }\n  return sum /\n}"
fixed = broken.replace("return sum /", "return sum / items.length")
fix = {"file": "average.js", "text": broken, "marker": "Expression expected",
       "answer": "```javascript\n" + fixed + "\n```", "expected": fixed}
cases = {"add": add, "block": block, "closer": closer, "fix": fix, "partial": partial, "cycle": cycle}
for case in cases.values():
    (ws / case["file"]).write_text(case["text"])
(run / "table.json").write_text(json.dumps({c["marker"]: c["answer"] for c in cases.values()}))
(run / "expect.json").write_text(json.dumps({"model": "starcoder2", **cases}))
PY
"$PYTHON" "$HERE/next-edit-scenario.py" "$WS" "$RUN"  # the next-edit check's file and answers

# --- the fake model ---------------------------------------------------------------------------------------------
setsid "$PYTHON" "$REPO/tests/editors/fake_model.py" --port-file "$RUN/model.port" --table "$(cat "$RUN/table.json")" \
  --log "$RUN/model.log" > /dev/null 2> "$RUN/model.err" &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$RUN/model.port" ] && break; sleep 0.1; done
[ -s "$RUN/model.port" ] || { cat "$RUN/model.err" >&2; die "fake model did not start"; }
MODEL_URL="http://127.0.0.1:$(tr -d '[:space:]' < "$RUN/model.port")/v1"

# The model comes from the extension's settings, not the environment: the offline check deletes these
# first two lines in VS Code's settings editor.
cat > "$UD/User/settings.json" <<JSON
{
  "llmLsp.model": "starcoder2",
  "llmLsp.baseUrl": "$MODEL_URL",
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

# code-server is a remote window: after a settings change VS Code reads machine-scoped settings
# (llmLsp.server.*) from the remote "Machine" settings only, so they go there as well.
mkdir -p "$UD/Machine"
cat > "$UD/Machine/settings.json" <<JSON
{
  "llmLsp.server.path": "$LLM_LSP",
  "llmLsp.server.args": ["--log-file", "$RUN/server.log", "--log-level", "debug"]
}
JSON

# --- code-server ---------------------------------------------------------------------------------------------
"$CODE_SERVER" --extensions-dir "$EXTDIR" --user-data-dir "$UD" --install-extension "$VSIX" > "$RUN/install-ext.log" 2>&1 \
  || { cat "$RUN/install-ext.log" >&2; die "installing the .vsix failed"; }
PORT=$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
say "starting code-server on 127.0.0.1:$PORT (model: $MODEL_URL)"
env -u OPENAI_BASE_URL -u OPENAI_API_KEY -u LLM_LSP_MODEL XDG_CONFIG_HOME="$RUN/xdg" XDG_STATE_HOME="$RUN/state" \
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
  WS="$WS" SETTINGS="$UD/User/settings.json" RESULT="$RESULT" EXPECT="$(cat "$RUN/expect.json")" \
  MODEL_LOG="$RUN/model.log" STATS="$RUN/state/llm-lsp/stats.json" \
  node "$HERE/e2e.js"
rc=$?
set -e
if [ $rc -ne 0 ]; then
  say "code-server log tail:"; tail -15 "$RUN/code-server.log" >&2 || true
  say "model requests:"; tail -c 3000 "$RUN/model.log" >&2 2>/dev/null || true
  say "server log tail:"; tail -30 "$RUN/server.log" >&2 2>/dev/null || true
  die "e2e failed (rc $rc); screenshots in $RUN (KEEP=1 keeps it)"
fi
say "PASS in $(( $(date +%s) - START )) s"
