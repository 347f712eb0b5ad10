// The VS Code client for the llm-lsp language server.
//
// It starts `llm-lsp` (llmLsp.server.path), passes the llmLsp.* settings as initializationOptions
// and answers workspace/configuration for section "llmLsp", shows the server's llmLsp/status in the
// status bar and its log in the "llm-lsp" output channel, and adds palette commands that forward the
// active editor's uri and selection to the server's llm-lsp.* commands. Ghost text, completion
// items and quick fixes come from vscode-languageclient's built-in features (inline completion is
// registered from the server capability, languageclient >= 10); accepting a word or a line and
// cycling alternatives are VS Code's own (Ctrl+Right, Alt+] / Alt+[; "Accept Line" is bound below).
//
// What the server learns, as far as the stable API allows (the provider's show and partial-accept
// hooks exist only in the proposed inlineCompletionsAdditions API, which a published extension
// cannot use): a full accept exactly (VS Code runs the item's command); "shown" when VS Code
// receives a non-empty answer for the cursor it asked about (it then shows the first item: an
// approximation, VS Code does not say); a partial accept when a multi-character insertion at the
// suggestion equals its next part (Accept Word / Accept Line by key, toolbar or palette; a
// one-character partial accept looks like typing and is not reported). Dismissals the server infers.
//
// It must not restart a server that crashed in a loop: one message, then "llm-lsp: Restart Server".

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as vscode from 'vscode';
import {
  CloseAction,
  ErrorAction,
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  RevealOutputChannelOn,
  ServerOptions,
  State,
} from 'vscode-languageclient/node';
import { registerNextEdit } from './nextEdit';

const SECTION = 'llmLsp';
const SECRET_API_KEY = 'llmLsp.apiKey';
const STATUS_NOTIFICATION = 'llmLsp/status';
const DID_SHOW = 'textDocument/didShowCompletion';
const DID_PARTIALLY_ACCEPT = 'textDocument/didPartiallyAcceptCompletion';

/** Settings that only the client uses; never sent to the server. */
const CLIENT_ONLY = ['server', 'trace'];
/** Settings the server accepts only at start (not through workspace/configuration); also per job. */
const START_ONLY = ['baseUrl', 'apiKey'];
const ROLES = ['completion', 'actions', 'nextEdit'];

/** Palette command -> server command, with what the server needs. */
const FORWARDED: { id: string; server: string; instruction?: boolean }[] = [
  { id: 'llmLsp.fix', server: 'llm-lsp.fix' },
  { id: 'llmLsp.explain', server: 'llm-lsp.explain' },
  { id: 'llmLsp.document', server: 'llm-lsp.document' },
  { id: 'llmLsp.tests', server: 'llm-lsp.tests' },
  { id: 'llmLsp.simplify', server: 'llm-lsp.simplify' },
  { id: 'llmLsp.refactor', server: 'llm-lsp.refactor', instruction: true },
];

interface Status {
  state: 'idle' | 'busy' | 'error' | 'offline' | string;
  model?: string;
  message?: string;
  summary?: string;
}

/** The inline items VS Code last received for a document: partial accepts are matched against them. */
interface Offered {
  version: number;
  items: vscode.InlineCompletionItem[];
}
const offered = new Map<string, Offered>();

/** An item as the server's events name it: its text and its command (which carries its id). */
function asEventItem(item: vscode.InlineCompletionItem): Record<string, unknown> {
  const text = typeof item.insertText === 'string' ? item.insertText : item.insertText.value;
  const command = item.command ? { command: item.command.command, arguments: item.command.arguments ?? [] } : undefined;
  return { insertText: text, command };
}

function notifyServer(method: string, params: unknown): void {
  if (client && client.state === State.Running) {
    client.sendNotification(method, params).catch(() => undefined); // a hint: never an error
  }
}

/** A multi-character insertion at an offered item that equals its next part: a partial accept. */
function reportPartialAccept(event: vscode.TextDocumentChangeEvent): void {
  const known = offered.get(event.document.uri.toString());
  if (!known || event.contentChanges.length !== 1) {
    return;
  }
  const change = event.contentChanges[0];
  if (change.rangeLength !== 0 || change.text.length < 2) {
    return;
  }
  for (const item of known.items) {
    const text = typeof item.insertText === 'string' ? item.insertText : item.insertText.value;
    const start = item.range?.start;
    if (!start || change.range.start.isBefore(start)) {
      continue;
    }
    // Document text from the item's start to the end of the insertion (UTF-16, like acceptedLength).
    const before = event.document.getText(new vscode.Range(start, change.range.start));
    const accepted = before + change.text;
    if (accepted.length < text.length && text.startsWith(accepted)) {
      notifyServer(DID_PARTIALLY_ACCEPT, { item: asEventItem(item), acceptedLength: accepted.length });
      return;
    }
  }
}

let client: LanguageClient | undefined;
let output: vscode.LogOutputChannel;
let statusItem: vscode.StatusBarItem;
let extensionContext: vscode.ExtensionContext;
let lastStatus: Status = { state: 'offline', model: '', message: '' };

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  extensionContext = context;
  output = vscode.window.createOutputChannel('llm-lsp', { log: true });
  statusItem = vscode.window.createStatusBarItem('llmLsp.status', vscode.StatusBarAlignment.Right, 100);
  statusItem.name = 'llm-lsp';
  statusItem.command = 'llmLsp.showLog';
  context.subscriptions.push(output, statusItem);

  for (const cmd of FORWARDED) {
    context.subscriptions.push(
      vscode.commands.registerCommand(cmd.id, (...args: unknown[]) => runServerCommand(cmd.server, !!cmd.instruction, args)),
    );
  }
  context.subscriptions.push(
    vscode.commands.registerCommand('llmLsp.setApiKey', setApiKey),
    vscode.commands.registerCommand('llmLsp.clearApiKey', async () => {
      await context.secrets.delete(SECRET_API_KEY);
      vscode.window.showInformationMessage('llm-lsp: API key removed.');
      await restart();
    }),
    vscode.commands.registerCommand('llmLsp.showLog', () => output.show(true)),
    vscode.commands.registerCommand('llmLsp.showStats', () =>
      runServerCommand('llm-lsp.showStats', false, [{ format: 'text' }]),
    ),
    vscode.workspace.onDidChangeTextDocument(reportPartialAccept),
    vscode.workspace.onDidCloseTextDocument((doc) => offered.delete(doc.uri.toString())),
    vscode.commands.registerCommand('llmLsp.restart', restart),
    vscode.workspace.onDidChangeConfiguration(async (e) => {
      const urls = ['baseUrl', ...ROLES.map((role) => `${role}.baseUrl`)];
      if (['server', ...urls].some((k) => e.affectsConfiguration(`${SECTION}.${k}`))) {
        await restart();
      }
    }),
  );

  registerNextEdit(context, () => client, output); // next-edit suggestions (nextEdit.ts)
  await start();
}

export async function deactivate(): Promise<void> {
  await stop();
}

// Settings ----------------------------------------------------------------------------------------

/** The llmLsp section as a plain nested object, without client-only keys and empty values. */
function serverSettings(includeStartOnly: boolean): Record<string, unknown> {
  const config = vscode.workspace.getConfiguration(SECTION);
  const plain = JSON.parse(JSON.stringify(config)) as Record<string, unknown>;
  for (const key of CLIENT_ONLY) {
    delete plain[key];
  }
  if (!includeStartOnly) {
    for (const key of START_ONLY) {
      delete plain[key];
      for (const role of ROLES) {
        delete (plain[role] as Record<string, unknown> | undefined)?.[key];
      }
    }
  } else {
    // A workspace's custom actions reach the server through workspace/configuration only, where their
    // prompts count as repository text; initializationOptions carry the user's own words.
    const actions = (plain.actions ?? {}) as Record<string, unknown>;
    const own = config.inspect('actions.custom')?.globalValue;
    if (own === undefined) {
      delete actions.custom;
    } else {
      actions.custom = own;
    }
  }
  // An empty model / base URL means "not set here": the server then uses its environment.
  for (const key of ['model', 'baseUrl']) {
    if (plain[key] === '') {
      delete plain[key];
    }
    for (const role of ROLES) {
      const section = plain[role] as Record<string, unknown> | undefined;
      if (section?.[key] === '') {
        delete section[key];
      }
    }
  }
  return plain;
}

function expandHome(p: string): string {
  return p.startsWith('~') ? path.join(os.homedir(), p.slice(1)) : p;
}

/** The absolute path of a command, or undefined when it cannot be found. */
function findExecutable(command: string): string | undefined {
  const candidate = expandHome(command);
  const isExecutable = (file: string) => {
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return fs.statSync(file).isFile();
    } catch {
      return false;
    }
  };
  if (candidate.includes(path.sep) || candidate.includes('/')) {
    return isExecutable(candidate) ? candidate : undefined;
  }
  const exts = process.platform === 'win32' ? (process.env.PATHEXT || '.EXE;.CMD;.BAT').split(';') : [''];
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    for (const ext of exts) {
      const file = path.join(dir, candidate + ext);
      if (isExecutable(file)) {
        return file;
      }
    }
  }
  return undefined;
}

// Server lifecycle --------------------------------------------------------------------------------

async function start(): Promise<void> {
  const config = vscode.workspace.getConfiguration(SECTION);
  const command = config.get<string>('server.path', 'llm-lsp') || 'llm-lsp';
  const args = config.get<string[]>('server.args', []);
  const executable = findExecutable(command);
  if (!executable) {
    const message = `llm-lsp: server command "${command}" not found. Install it (pip install llm-lsp) or set "llmLsp.server.path".`;
    output.error(message);
    showStatus({ state: 'error', message: `"${command}" not found` });
    const choice = await vscode.window.showErrorMessage(message, 'Open Settings');
    if (choice === 'Open Settings') {
      vscode.commands.executeCommand('workbench.action.openSettings', 'llmLsp.server.path');
    }
    return;
  }

  const env: Record<string, string> = { ...(process.env as Record<string, string>) };
  const apiKey = await extensionContext.secrets.get(SECRET_API_KEY);
  if (apiKey) {
    env.OPENAI_API_KEY = apiKey;
  }
  const serverOptions: ServerOptions = { command: executable, args, options: { env } };

  let crashed = false;
  const clientOptions: LanguageClientOptions = {
    // Ghost text, completion items and quick fixes for every file, saved or not.
    documentSelector: [{ scheme: 'file' }, { scheme: 'untitled' }],
    initializationOptions: serverSettings(true),
    synchronize: { configurationSection: SECTION },
    outputChannel: output,
    revealOutputChannelOn: RevealOutputChannelOn.Never,
    middleware: {
      // Remember what VS Code received and tell the server the first item is shown (see the top).
      provideInlineCompletionItems: async (document, position, context, token, next) => {
        const result = await next(document, position, context, token);
        const items = Array.isArray(result) ? result : result?.items ?? [];
        if (!token.isCancellationRequested && items.length > 0) {
          offered.set(document.uri.toString(), { version: document.version, items });
          notifyServer(DID_SHOW, { item: asEventItem(items[0]) });
        }
        return result;
      },
      workspace: {
        // Answer section "llmLsp" with the plain settings object (no client-only keys).
        configuration: async (params, token, next) => {
          const result = await next(params, token);
          if (!Array.isArray(result)) {
            return result;
          }
          return result.map((value, i) => (params.items[i]?.section === SECTION ? serverSettings(false) : value));
        },
      },
    },
    errorHandler: {
      error: () => ({ action: ErrorAction.Continue }),
      closed: () => {
        crashed = true;
        showStatus({ state: 'error', message: 'server stopped' });
        return {
          action: CloseAction.DoNotRestart,
          message: 'llm-lsp: the server stopped. See "llm-lsp: Show Server Log", then run "llm-lsp: Restart Server".',
        };
      },
    },
  };

  client = new LanguageClient('llmLsp', 'llm-lsp', serverOptions, clientOptions);
  client.onDidChangeState((e) => {
    if (e.newState === State.Stopped && !crashed) {
      showStatus({ state: 'offline', message: 'stopped' });
    }
  });
  showStatus({ state: 'busy', message: 'starting' });
  try {
    await client.start();
  } catch (err) {
    output.error(`llm-lsp failed to start: ${err}`);
    showStatus({ state: 'error', message: 'failed to start' });
    return;
  }
  client.onNotification(STATUS_NOTIFICATION, (params: Status) => showStatus(params));
  if (lastStatus.message === 'starting') {
    showStatus({ state: 'idle', message: '' });
  }
}

async function stop(): Promise<void> {
  const current = client;
  client = undefined;
  if (current && current.state !== State.Stopped) {
    try {
      await current.stop(2000);
    } catch (err) {
      output.warn(`stopping llm-lsp: ${err}`);
    }
  }
}

async function restart(): Promise<void> {
  await stop();
  await start();
}

// Status bar --------------------------------------------------------------------------------------

function showStatus(status: Status): void {
  lastStatus = { ...lastStatus, ...status };
  const model = lastStatus.model ? ` ${lastStatus.model}` : '';
  const message = lastStatus.message ? `\n${lastStatus.message}` : '';
  statusItem.backgroundColor = undefined;
  switch (lastStatus.state) {
    case 'busy':
      statusItem.text = `$(loading~spin) llm-lsp${model}`;
      break;
    case 'error':
      statusItem.text = `$(error) llm-lsp${model}`;
      statusItem.backgroundColor = new vscode.ThemeColor('statusBarItem.errorBackground');
      break;
    case 'offline':
      statusItem.text = `$(circle-slash) llm-lsp${model || ' offline'}`;
      break;
    default:
      statusItem.text = `$(sparkle) llm-lsp${model}`;
  }
  const summary = lastStatus.summary ? `\n${lastStatus.summary} (llm-lsp: Show Acceptance Statistics)` : '';
  statusItem.tooltip = `llm-lsp: ${lastStatus.state}${model}${message}${summary}\nClick to show the server log.`;
  statusItem.show();
}

// Commands ----------------------------------------------------------------------------------------

async function runServerCommand(command: string, needsInstruction: boolean, args: unknown[]): Promise<unknown> {
  if (!client || client.state !== State.Running) {
    vscode.window.showErrorMessage('llm-lsp: the server is not running (see "llm-lsp: Show Server Log").');
    return undefined;
  }
  // Called with arguments (from a code action or another extension): pass them through.
  let serverArgs: unknown[] = args.filter((a) => a !== undefined);
  if (serverArgs.length === 0 || serverArgs[0] instanceof vscode.Uri) {
    const editor = vscode.window.activeTextEditor;
    if (!editor) {
      vscode.window.showWarningMessage('llm-lsp: open a file first.');
      return undefined;
    }
    const argument: Record<string, unknown> = {
      uri: editor.document.uri.toString(),
      range: client.code2ProtocolConverter.asRange(editor.selection),
    };
    if (needsInstruction) {
      const instruction = await vscode.window.showInputBox({
        title: 'llm-lsp: Refactor',
        prompt: 'How should the selected code change?',
        placeHolder: 'e.g. use a dataclass; extract a function; make it async',
        ignoreFocusOut: true,
      });
      if (!instruction) {
        return undefined;
      }
      argument.instruction = instruction;
    }
    serverArgs = [argument];
  }
  try {
    const result = await client.sendRequest(ExecuteCommandRequest.type, { command, arguments: serverArgs });
    await showResult(command, result);
    return result;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    vscode.window.showErrorMessage(`llm-lsp: ${message}`);
    return undefined;
  }
}

/** Text answers (explain) open beside the code; edits arrive through workspace/applyEdit. */
async function showResult(command: string, result: unknown): Promise<void> {
  let text: string | undefined;
  if (typeof result === 'string') {
    text = result;
  } else if (result && typeof result === 'object') {
    const r = result as Record<string, unknown>;
    for (const key of ['markdown', 'text', 'message', 'explanation']) {
      if (typeof r[key] === 'string') {
        text = r[key] as string;
        break;
      }
    }
  }
  if (!text) {
    return;
  }
  if (text.length < 200 && !text.includes('\n')) {
    vscode.window.showInformationMessage(text);
    return;
  }
  const doc = await vscode.workspace.openTextDocument({ language: 'markdown', content: text });
  await vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.Beside, preview: true, preserveFocus: true });
  output.info(`${command}: answer opened beside the editor`);
}

async function setApiKey(): Promise<void> {
  const key = await vscode.window.showInputBox({
    title: 'llm-lsp: API key',
    prompt: 'Stored in VS Code secret storage and given to the server as OPENAI_API_KEY. Leave empty to cancel.',
    password: true,
    ignoreFocusOut: true,
  });
  if (!key) {
    return;
  }
  await extensionContext.secrets.store(SECRET_API_KEY, key);
  vscode.window.showInformationMessage('llm-lsp: API key stored; restarting the server.');
  await restart();
}
