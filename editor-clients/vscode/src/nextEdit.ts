// Next-edit suggestions in VS Code, with the stable API only (inline edits are proposed API there).
//
// After a pause that follows an edit, asks llm-lsp for the edit that follows (the request Copilot's
// language server answers, textDocument/copilotInlineEdit) and shows it with decorations where it
// would apply: the text it deletes struck through on a red background, the text it inserts after it
// on a green one (multi-line insertions in one line, in full in the hover). A context key
// (llmLsp.nextEditVisible) enables Tab, which jumps to the edit and, once the cursor is on it,
// applies it and runs its accept command; Escape dismisses it. A status bar item says one is shown.
// The edit is tied to the document version it was computed for: any change hides it, and an answer
// for an older version is never shown. It asks only with llmLsp.nextEdit.enable set; the server
// declines while its ghost text is shown at the cursor, and Tab / Escape leave a visible inline
// suggestion to VS Code.

import * as vscode from 'vscode';
import { ExecuteCommandRequest, LanguageClient, State } from 'vscode-languageclient/node';

const CONTEXT_KEY = 'llmLsp.nextEditVisible';
const AUTOMATIC = 'textDocument/copilotInlineEdit';
const EXPLICIT = 'llmLsp/nextEdit';
const DID_SHOW = 'textDocument/didShowInlineEdit';
const DELAY_MS = 500;

interface LspPosition {
  line: number;
  character: number;
}

interface Item {
  text: string;
  range: { start: LspPosition; end: LspPosition };
  textDocument: { uri: string; version: number };
  command?: { title: string; command: string; arguments?: unknown[] };
}

interface Answer {
  edits?: Item[];
  reason?: string;
}

interface Shown {
  uri: string;
  version: number;
  item: Item;
  range: vscode.Range;
}

export function registerNextEdit(
  context: vscode.ExtensionContext,
  getClient: () => LanguageClient | undefined,
  output: vscode.LogOutputChannel,
): void {
  const deleted = vscode.window.createTextEditorDecorationType({
    backgroundColor: new vscode.ThemeColor('diffEditor.removedTextBackground'),
    textDecoration: 'line-through',
  });
  const inserted = vscode.window.createTextEditorDecorationType({});
  const hint = vscode.window.createStatusBarItem('llmLsp.nextEdit', vscode.StatusBarAlignment.Right, 99);
  hint.name = 'llm-lsp next edit';
  hint.text = '$(arrow-right) llm-lsp next edit (Tab)';
  hint.tooltip = 'llm-lsp: a next edit is shown. Tab jumps to it, then applies it; Escape dismisses it.';
  context.subscriptions.push(deleted, inserted, hint);

  let shown: Shown | undefined;
  let timer: NodeJS.Timeout | undefined;
  let pending: vscode.CancellationTokenSource | undefined;

  function clear(): void {
    if (!shown) {
      return;
    }
    shown = undefined;
    for (const editor of vscode.window.visibleTextEditors) {
      editor.setDecorations(deleted, []);
      editor.setDecorations(inserted, []);
    }
    hint.hide();
    void vscode.commands.executeCommand('setContext', CONTEXT_KEY, false);
  }

  function cancel(): void {
    if (timer) {
      clearTimeout(timer);
      timer = undefined;
    }
    pending?.cancel();
    pending = undefined;
  }

  function show(editor: vscode.TextEditor, client: LanguageClient, item: Item): void {
    clear();
    const range = client.protocol2CodeConverter.asRange(item.range);
    const lines = item.text.split('\n');
    const label = lines.length > 1 ? `${lines[0]} ⏎ ${lines.slice(1).join(' ⏎ ')}` : lines[0];
    editor.setDecorations(deleted, range.isEmpty ? [] : [{ range, hoverMessage: 'llm-lsp next edit: deleted' }]);
    const hover = new vscode.MarkdownString().appendText('llm-lsp next edit (Tab: jump, then apply):').appendCodeblock(item.text);
    editor.setDecorations(
      inserted,
      item.text === ''
        ? []
        : [
            {
              range: new vscode.Range(range.end, range.end),
              hoverMessage: hover,
              renderOptions: {
                after: {
                  contentText: label,
                  backgroundColor: new vscode.ThemeColor('diffEditor.insertedTextBackground'),
                },
              },
            },
          ],
    );
    shown = { uri: editor.document.uri.toString(), version: editor.document.version, item, range };
    hint.show();
    void vscode.commands.executeCommand('setContext', CONTEXT_KEY, true);
    void client.sendNotification(DID_SHOW, { item });
  }

  async function request(explicit: boolean): Promise<void> {
    cancel();
    const client = getClient();
    const editor = vscode.window.activeTextEditor;
    if (!client || client.state !== State.Running || !editor) {
      return;
    }
    const document = editor.document;
    const version = document.version;
    const source = new vscode.CancellationTokenSource();
    pending = source;
    const params: Record<string, unknown> = {
      textDocument: { uri: document.uri.toString(), version },
      position: client.code2ProtocolConverter.asPosition(editor.selection.active),
    };
    if (explicit) {
      params.context = { triggerKind: 1 };
    }
    try {
      const answer = await client.sendRequest<Answer>(explicit ? EXPLICIT : AUTOMATIC, params, source.token);
      if (source.token.isCancellationRequested || document.version !== version || vscode.window.activeTextEditor !== editor) {
        return; // computed for a version the document left behind
      }
      const item = answer?.edits?.[0];
      if (item) {
        show(editor, client, item);
      } else if (explicit) {
        vscode.window.showInformationMessage(`llm-lsp: no next edit: ${answer?.reason ?? 'none'}`);
      } else if (answer?.reason) {
        output.debug(`no next edit: ${answer.reason}`);
      }
    } catch (err) {
      if (!source.token.isCancellationRequested) {
        output.debug(`next edit: ${err instanceof Error ? err.message : String(err)}`);
      }
    } finally {
      if (pending === source) {
        pending = undefined;
      }
      source.dispose();
    }
  }

  async function tab(): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    const client = getClient();
    const current = shown;
    if (!current || !editor || !client || editor.document.uri.toString() !== current.uri) {
      clear();
      return;
    }
    const line = editor.selection.active.line;
    if (line < current.range.start.line || line > current.range.end.line) {
      editor.selection = new vscode.Selection(current.range.start, current.range.start);
      editor.revealRange(current.range, vscode.TextEditorRevealType.InCenterIfOutsideViewport);
      return;
    }
    clear();
    if (editor.document.version !== current.version) {
      return; // stale: the document moved on since it was shown
    }
    const applied = await editor.edit((builder) => builder.replace(current.range, current.item.text));
    if (!applied) {
      return;
    }
    const end = editor.document.positionAt(editor.document.offsetAt(current.range.start) + current.item.text.length);
    editor.selection = new vscode.Selection(end, end);
    const command = current.item.command;
    if (command) {
      await client.sendRequest(ExecuteCommandRequest.type, { command: command.command, arguments: command.arguments ?? [] });
    }
  }

  context.subscriptions.push(
    vscode.commands.registerCommand('llmLsp.nextEdit.accept', tab),
    vscode.commands.registerCommand('llmLsp.nextEdit.dismiss', () => {
      cancel();
      clear();
    }),
    vscode.commands.registerCommand('llmLsp.nextEdit.suggest', () => request(true)),
    vscode.commands.registerCommand('llmLsp.nextEdit.toggle', async () => {
      const config = vscode.workspace.getConfiguration('llmLsp');
      const enable = !config.get<boolean>('nextEdit.enable', false);
      await config.update('nextEdit.enable', enable, vscode.ConfigurationTarget.Global);
      vscode.window.showInformationMessage(`llm-lsp: next edits ${enable ? 'on' : 'off'}.`);
    }),
    vscode.workspace.onDidChangeTextDocument((event) => {
      const editor = vscode.window.activeTextEditor;
      if (!editor || event.document !== editor.document || event.contentChanges.length === 0) {
        return;
      }
      clear();
      cancel();
      if (vscode.workspace.getConfiguration('llmLsp').get<boolean>('nextEdit.enable', false)) {
        timer = setTimeout(() => void request(false), DELAY_MS);
      }
    }),
    vscode.window.onDidChangeActiveTextEditor(() => {
      cancel();
      clear();
    }),
  );
}
