// Drives code-server in Debian's headless Chromium (puppeteer-core) like a user and records one
// verdict per check in $RESULT (JSON), so that tests/editors/test_vscode.py reports each one:
//
//   status_model     the status bar item shows the model name once the server runs
//   ghost_automatic  typing shows ghost text with NO explicit request (Alt+\ is never pressed here)
//   ghost_explicit   after Escape hid it, the command "Trigger Inline Suggestion" shows it again
//   accept_tab       Tab inserts it: the saved file equals the file plus the model's answer
//   multiline_indent a multi-line block accepted on an auto-indented line keeps every indent exactly
//   closer_range     inside an auto-closed "(", accepting gives the whole answer with one ")" (the
//                    inline item's range covers the ")" already there; a doubled or cut one fails)
//   partial_accept   a multi-line block: Ctrl+Right takes a word, Ctrl+Alt+Right a line (VS Code's own
//                    accept word / line), Tab the rest; the rest stays drawn throughout (no frame without
//                    ghost text), the model is not asked again, the saved file is exact
//   cycle            Alt+] shows the next alternative (the server asks the model for alternatives once)
//   stats            "llm-lsp: Show Acceptance Statistics" writes the figures: shown, partly accepted
//                    and accepted suggestions are counted
//   quick_fix        Ctrl+. lists "Fix with AI"; applying it makes the function equal the model's answer
//   next_edit        a signature change shows the next edit, Tab jumps and applies it (nextEdit.e2e.js)
//   status_offline   with the model settings removed, the server restarts and the item says offline
//
// Files are compared as saved on disk (Ctrl+S), not as rendered, so indentation is exact. Started by
// run-e2e.sh, which writes the workspace and the fake model's table; the expected texts come in EXPECT.
'use strict';

const fs = require('fs');
const path = require('path');
const puppeteer = require('puppeteer-core');

const URL = process.env.URL;
const RUN_DIR = process.env.RUN_DIR || '/tmp';
const WS = process.env.WS;
const SETTINGS = process.env.SETTINGS;
const RESULT = process.env.RESULT || path.join(RUN_DIR, 'result.json');
const EXPECT = JSON.parse(process.env.EXPECT);
const MODEL_LOG = process.env.MODEL_LOG;
const STATS = process.env.STATS;
const modelCalls = () => (fs.existsSync(MODEL_LOG) ? fs.readFileSync(MODEL_LOG, 'utf8').split('\n').filter(Boolean).length : 0);
const GHOST = '.ghost-text-decoration, .ghost-text-decoration-preview, .ghost-text';
const started = Date.now();
const log = (msg) => console.error(`[e2e ${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const checks = {};
function record(name, ok, detail, extra = {}) {
  checks[name] = { ok, detail, ...extra };
  log(`${ok ? 'ok  ' : 'FAIL'} ${name}: ${detail}`);
  fs.writeFileSync(RESULT, JSON.stringify({ checks, seconds: (Date.now() - started) / 1000 }, null, 1));
}

async function chord(page, modifier, key) {
  await page.keyboard.down(modifier);
  await page.keyboard.press(key);
  await page.keyboard.up(modifier);
}

async function openFile(page, name) {
  await chord(page, 'Control', 'KeyP');
  await page.waitForSelector('.quick-input-widget input', { visible: true, timeout: 15000 });
  await page.keyboard.type(name, { delay: 20 });
  await page.waitForFunction(
    (n) => [...document.querySelectorAll('.quick-input-list .monaco-list-row')].some((r) => r.textContent.includes(n)),
    { timeout: 15000 },
    name,
  );
  await page.keyboard.press('Enter');
  await page.waitForFunction(
    (n) => {
      const tab = document.querySelector('.tabs-container .tab.active');
      return tab && tab.textContent.includes(n);
    },
    { timeout: 15000 },
    name,
  );
  await page.waitForSelector('.editor-group-container.active .monaco-editor .view-lines .view-line', { visible: true, timeout: 30000 });
  await page.click('.editor-group-container.active .monaco-editor .view-lines');
  await chord(page, 'Control', 'End');
}

/** The ghost text shown now, or null when none appears within `timeout` ms. */
async function ghostText(page, timeout) {
  try {
    await page.waitForSelector(GHOST, { timeout });
  } catch {
    return null;
  }
  await sleep(300); // a multi-line suggestion draws its lines one after the other
  // Monaco draws ghost text as one span per token (and view lines for a block): join them as drawn.
  return page.$$eval(GHOST, (els) =>
    els.filter((e) => !els.some((o) => o !== e && o.contains(e))).map((e) => e.textContent.replace(/\u00a0/g, ' ')).join(''),
  );
}

/** Whether the shown ghost text carries `answer` (compared without whitespace: spans drop line breaks). */
function shows(ghost, answer) {
  return ghost !== null && ghost.replace(/\s+/g, '').includes(answer.replace(/\s+/g, ''));
}

/** Whether the ghost text carries every line of `answer` (Monaco draws the block's lines before the inline part). */
function showsLines(ghost, answer) {
  return ghost !== null && answer.split('\n').every((line) => shows(ghost, line));
}

async function ghostGone(page, timeout) {
  try {
    await page.waitForFunction((sel) => !document.querySelector(sel), { timeout }, GHOST);
    return true;
  } catch {
    return false;
  }
}

/** Runs a command from the palette (Ctrl+Shift+P) by its title; focus goes back to the editor. */
async function runCommand(page, title) {
  await page.keyboard.down('Control');
  await page.keyboard.down('Shift');
  await page.keyboard.press('KeyP');
  await page.keyboard.up('Shift');
  await page.keyboard.up('Control');
  await page.waitForSelector('.quick-input-widget input', { visible: true, timeout: 15000 });
  await page.keyboard.type(title, { delay: 10 });
  await page.waitForFunction(
    (t) => {
      const row = document.querySelector('.quick-input-list .monaco-list-row.focused');
      return row && row.textContent.includes(t);
    },
    { timeout: 15000 },
    title,
  );
  await page.keyboard.press('Enter');
  await page.waitForSelector('.quick-input-widget', { hidden: true, timeout: 15000 });
}

/** Ctrl+S, then the file as saved (waits until the editor's dirty mark goes). */
async function saved(page, name) {
  await chord(page, 'Control', 'KeyS');
  await page
    .waitForFunction(() => !document.querySelector('.tabs-container .tab.active.dirty'), { timeout: 10000 })
    .catch(() => {});
  await sleep(200);
  return fs.readFileSync(path.join(WS, name), 'utf8');
}

async function statusLabels(page) {
  return page.$$eval('.statusbar-item', (els) =>
    els.map((e) => `${e.getAttribute('aria-label') || ''} ${e.textContent}`).filter((t) => /llm-lsp/.test(t)),
  );
}

async function waitStatus(page, pattern, timeout) {
  const deadline = Date.now() + timeout;
  let labels = [];
  while (Date.now() < deadline) {
    labels = await statusLabels(page);
    if (labels.some((l) => pattern.test(l))) return { ok: true, labels };
    await sleep(250);
  }
  return { ok: false, labels };
}

async function shot(page, name) {
  const file = path.join(RUN_DIR, `${name}.png`);
  await page.screenshot({ path: file }).catch(() => {});
  return file;
}

/** Runs one check; an exception fails that check only, with a screenshot. */
async function check(page, name, body) {
  try {
    await body();
  } catch (err) {
    const file = await shot(page, `fail-${name}`);
    record(name, false, `${err && err.message} (screenshot ${file})`);
  }
}

const show = (s) => JSON.stringify(s);

async function main() {
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--window-size=1400,900',
    ],
    defaultViewport: { width: 1400, height: 900 },
  });
  const page = await browser.newPage();
  try {
    await page.goto(URL, { waitUntil: 'domcontentloaded', timeout: 60000 });
    await page.waitForSelector('.monaco-workbench .part.editor', { timeout: 60000 });
    log('workbench loaded');

    // Ghost text in add.py: typing one space after "return" must be enough.
    await openFile(page, EXPECT.add.file);
    const status = await waitStatus(page, new RegExp(`llm-lsp.*${EXPECT.model}`), 60000);
    record('status_model', status.ok, `status bar ${show(status.labels)}`);
    await sleep(Number(process.env.SETTLE_MS || 1000));

    await check(page, 'ghost_automatic', async () => {
      await page.keyboard.type(' ', { delay: 30 });
      const ghost = await ghostText(page, 20000);
      await shot(page, '1-ghost-text');
      record(
        'ghost_automatic',
        shows(ghost, EXPECT.add.answer),
        ghost === null ? 'no ghost text within 20 s of typing (no explicit request was made)' : `ghost text ${show(ghost)}`,
      );
    });

    await check(page, 'ghost_explicit', async () => {
      await page.keyboard.press('Escape');
      if (!(await ghostGone(page, 5000))) throw new Error('Escape did not hide the ghost text');
      await sleep(500);
      await runCommand(page, 'Trigger Inline Suggestion');
      const ghost = await ghostText(page, 15000);
      record(
        'ghost_explicit',
        shows(ghost, EXPECT.add.answer),
        ghost === null ? 'no ghost text after Trigger Inline Suggestion' : `ghost text on request ${show(ghost)}`,
      );
    });

    await check(page, 'accept_tab', async () => {
      if (!(await page.$(GHOST))) {
        // The explicit check failed: type again so that Tab has something to accept.
        await page.keyboard.press('Backspace');
        await page.keyboard.type(' ', { delay: 30 });
        if ((await ghostText(page, 15000)) === null) throw new Error('no ghost text to accept');
      }
      await page.keyboard.press('Tab');
      await ghostGone(page, 5000);
      const text = await saved(page, EXPECT.add.file);
      record('accept_tab', text === EXPECT.add.expected, `saved ${show(text)}, expected ${show(EXPECT.add.expected)}`);
    });

    // A multi-line block on the line that Enter auto-indented inside a method.
    await check(page, 'multiline_indent', async () => {
      await openFile(page, EXPECT.block.file);
      await page.keyboard.press('Enter');
      const ghost = await ghostText(page, 20000);
      if (ghost === null) throw new Error('no ghost text on the auto-indented line');
      log(`block ghost text ${show(ghost)}`);
      await shot(page, '2-block-ghost');
      await page.keyboard.press('Tab');
      await ghostGone(page, 5000);
      const text = await saved(page, EXPECT.block.file);
      record('multiline_indent', text === EXPECT.block.expected, `saved ${show(text)}, expected ${show(EXPECT.block.expected)}`);
    });

    // Inside an auto-closed "(": the model answers the whole function, closer included.
    await check(page, 'closer_range', async () => {
      await openFile(page, EXPECT.closer.file);
      await page.keyboard.type(EXPECT.closer.typed, { delay: 60 });
      const before = await saved(page, EXPECT.closer.file);
      if (before !== EXPECT.closer.autoClosed) throw new Error(`the editor did not auto-close: ${show(before)}`);
      const ghost = await ghostText(page, 20000);
      if (ghost === null) throw new Error('no ghost text inside the brackets');
      await shot(page, '3-closer-ghost');
      await page.keyboard.press('Tab');
      await ghostGone(page, 5000);
      const text = await saved(page, EXPECT.closer.file);
      record('closer_range', text === EXPECT.closer.expected, `saved ${show(text)}, expected ${show(EXPECT.closer.expected)}`, {
        ghost,
      });
    });

    // Partial accept: a word, a line, then the rest of one multi-line suggestion.
    await check(page, 'partial_accept', async () => {
      const p = EXPECT.partial;
      await openFile(page, p.file);
      await page.keyboard.press('Enter');
      const ghost = await ghostText(page, 20000);
      if (!showsLines(ghost, p.answer)) throw new Error(`no block ghost text: ${show(ghost)}`);
      const calls = modelCalls();
      // From here on, any moment without ghost text is a flicker.
      await page.evaluate((sel) => {
        window.__ghostGone = false;
        window.__ghostObserver = new MutationObserver(() => {
          if (!document.querySelector(sel)) window.__ghostGone = true;
        });
        window.__ghostObserver.observe(document.body, { childList: true, subtree: true, characterData: true });
      }, GHOST);
      await chord(page, 'Control', 'ArrowRight');
      await sleep(600);
      const afterWord = await ghostText(page, 2000);
      await page.keyboard.down('Control');
      await page.keyboard.down('Alt');
      await page.keyboard.press('ArrowRight');
      await page.keyboard.up('Alt');
      await page.keyboard.up('Control');
      await sleep(600);
      const afterLine = await ghostText(page, 2000);
      const flicker = await page.evaluate(() => {
        window.__ghostObserver.disconnect();
        return window.__ghostGone;
      });
      const partialCalls = modelCalls() - calls;
      // The rest starts with a tab size of blanks at the start of a line: there VS Code's first Tab
      // indents (its inlineSuggestionHasIndentationLessThanTabSize rule) and the second accepts.
      await page.keyboard.press('Tab');
      if (!(await ghostGone(page, 1000))) await page.keyboard.press('Tab');
      await ghostGone(page, 5000);
      const text = await saved(page, p.file);
      const ok =
        text === p.expected && showsLines(afterWord, ' = sum(items)\n    return total * k') &&
        !shows(afterWord, 'total = sum') && shows(afterLine, 'return total * k') && !shows(afterLine, 'sum(items)') &&
        !flicker && partialCalls === 0;
      record(
        'partial_accept',
        ok,
        `after word ${show(afterWord)}, after line ${show(afterLine)}, a frame without ghost text: ${flicker}, ` +
          `model calls during the partial accepts: ${partialCalls}, saved ${show(text)}, expected ${show(p.expected)}`,
      );
    });

    // Alt+] (VS Code's "Show Next Inline Suggestion") asks for alternatives.
    await check(page, 'cycle', async () => {
      const c = EXPECT.cycle;
      await openFile(page, c.file);
      await page.keyboard.type(' ', { delay: 30 });
      const first = await ghostText(page, 20000);
      if (!shows(first, c.answer[0])) throw new Error(`no first suggestion: ${show(first)}`);
      await chord(page, 'Alt', 'BracketRight');
      let next = null;
      const deadline = Date.now() + 15000;
      while (Date.now() < deadline) {
        next = await ghostText(page, 2000);
        if (next !== null && !shows(next, c.answer[0])) break;
        await sleep(200);
      }
      await page.keyboard.press('Escape');
      record('cycle', shows(next, c.answer[1]) || shows(next, c.answer[2]), `first ${show(first)}, after Alt+] ${show(next)}`);
    });

    // The figures: the command writes them (and opens them beside the editor).
    await check(page, 'stats', async () => {
      await runCommand(page, 'llm-lsp: Show Acceptance Statistics');
      const deadline = Date.now() + 15000;
      while (!fs.existsSync(STATS) && Date.now() < deadline) await sleep(200);
      const rows = JSON.parse(fs.readFileSync(STATS, 'utf8')).rows;
      const sum = (k) => rows.reduce((n, r) => n + r[k], 0);
      const figures = { shown: sum('shown'), accepted: sum('accepted'), partiallyAccepted: sum('partiallyAccepted') };
      record(
        'stats',
        figures.shown >= 1 && figures.accepted >= 1 && figures.partiallyAccepted >= 1,
        `figures written: ${show(figures)}`,
      );
      await page.keyboard.press('Escape');
    });

    // Quick fix on a diagnostic of VS Code's TypeScript server.
    await check(page, 'quick_fix', async () => {
      await openFile(page, EXPECT.fix.file);
      await page.waitForSelector('.editor-group-container.active .squiggly-error', { timeout: 60000 });
      log('diagnostic shown');
      await chord(page, 'Control', 'Period');
      await page.waitForFunction(
        () => [...document.querySelectorAll('.action-widget .monaco-list-row, .action-widget li')].some((r) => /Fix with AI/.test(r.textContent)),
        { timeout: 20000 },
      );
      const titles = await page.$$eval('.action-widget .monaco-list-row, .action-widget li', (rows) => rows.map((r) => r.textContent));
      log(`code actions: ${show(titles)}`);
      await shot(page, '4-code-actions');
      // Move the selection to the first "Fix with AI" row (headers are not selectable) and apply it.
      const header = (t) => /^(Quick Fix|Refactor|More Actions|Source Action)\.*$/i.test(t.trim());
      const index = titles.findIndex((t) => /Fix with AI/.test(t));
      const first = titles.findIndex((t) => !header(t));
      for (let i = first; i < index; i++) {
        if (!header(titles[i])) await page.keyboard.press('ArrowDown');
      }
      await page.keyboard.press('Enter');
      // The edit is resolved (a model call) and applied: wait until the file changes.
      const original = fs.readFileSync(path.join(WS, EXPECT.fix.file), 'utf8');
      const deadline = Date.now() + 30000;
      let text = original;
      while (text === original && Date.now() < deadline) {
        await sleep(500);
        text = await saved(page, EXPECT.fix.file);
      }
      await shot(page, '5-fixed');
      record('quick_fix', text === EXPECT.fix.expected, `saved ${show(text)}, expected ${show(EXPECT.fix.expected)}`, { titles });
    });

    await require('./nextEdit.e2e.js').run(page, { check, record, openFile, saved, waitStatus, shot, sleep, chord, runCommand, EXPECT, SETTINGS });

    // Offline: without model settings the extension restarts the server, which serves offline.
    await check(page, 'status_offline', async () => {
      // As a user would: open settings.json in VS Code, delete its first two settings (llmLsp.model
      // and llmLsp.baseUrl, put there by run-e2e.sh) and save.
      const first = fs.readFileSync(SETTINGS, 'utf8').split('\n').slice(1, 3).join('\n');
      if (!/llmLsp\.model[\s\S]*llmLsp\.baseUrl/.test(first)) throw new Error(`unexpected settings.json: ${show(first)}`);
      await runCommand(page, 'Preferences: Open User Settings (JSON)');
      // Wait until the settings editor shows the file and has the keyboard focus.
      await page.waitForFunction(
        () => {
          const tab = document.querySelector('.tabs-container .tab.active');
          const editor = document.querySelector('.editor-group-container.active .monaco-editor');
          return (
            tab && tab.textContent.includes('settings.json') && editor && editor.classList.contains('focused') &&
            editor.querySelector('.view-lines').textContent.includes('llmLsp.baseUrl')
          );
        },
        { timeout: 15000 },
      );
      for (let attempt = 0; attempt < 3 && /llmLsp\.(model|baseUrl)/.test(fs.readFileSync(SETTINGS, 'utf8')); attempt++) {
        await chord(page, 'Control', 'Home');
        await page.keyboard.press('ArrowDown');
        for (let i = 0; i < 2; i++) {
          await page.keyboard.down('Control');
          await page.keyboard.down('Shift');
          await page.keyboard.press('KeyK');
          await page.keyboard.up('Shift');
          await page.keyboard.up('Control');
          await sleep(200);
        }
        await chord(page, 'Control', 'KeyS');
        await sleep(1000);
        if (attempt < 2 && /llmLsp\.(model|baseUrl)/.test(fs.readFileSync(SETTINGS, 'utf8'))) {
          log('settings.json unchanged yet; pressing the keys again');
          await chord(page, 'Control', 'KeyZ'); // undo what a half-done attempt deleted
          await chord(page, 'Control', 'KeyZ');
        }
      }
      const now = fs.readFileSync(SETTINGS, 'utf8');
      if (/llmLsp\.(model|baseUrl)/.test(now)) throw new Error(`the model settings are still there: ${show(now)}`);
      if (!/llmLsp\.server\.path/.test(now)) throw new Error(`deleted the wrong lines: ${show(now)}`);
      const offline = await waitStatus(page, /llm-lsp offline/, 30000);
      await shot(page, '6-offline');
      record('status_offline', offline.ok, `status bar ${show(offline.labels)}`);
    });
  } catch (err) {
    const file = await shot(page, 'failure');
    record('session', false, `${err && err.message} (screenshot ${file})`);
  } finally {
    await browser.close();
  }
  const failed = Object.entries(checks).filter(([, c]) => !c.ok).map(([n]) => n);
  log(failed.length ? `failed: ${failed.join(', ')}` : 'all checks passed');
  process.exitCode = failed.length ? 1 : 0;
}

main();
