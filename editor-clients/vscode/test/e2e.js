// Drives code-server in Debian's headless Chromium (puppeteer-core) like a user: types in a Python
// file until ghost text shows, accepts it with Tab, then opens a JavaScript file with a syntax error,
// presses Ctrl+. and applies "Fix with AI". Started by run-e2e.sh (URL, CHROMIUM, RUN_DIR).
'use strict';

const path = require('path');
const puppeteer = require('puppeteer-core');

const URL = process.env.URL;
const RUN_DIR = process.env.RUN_DIR || '/tmp';
const started = Date.now();
const log = (msg) => console.error(`[e2e ${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}`);

async function editorText(page) {
  // The visible lines of the active editor, in order (Monaco renders each line as a .view-line).
  return page.evaluate(() => {
    const editor = document.querySelector('.editor-group-container.active .monaco-editor .view-lines');
    if (!editor) return '';
    const lines = [...editor.querySelectorAll('.view-line')]
      .map((el) => ({ top: parseFloat(el.style.top || '0'), text: el.textContent.replace(/\u00a0/g, ' ') }))
      .sort((a, b) => a.top - b.top);
    return lines.map((l) => l.text).join('\n');
  });
}

async function openFile(page, name) {
  await page.keyboard.down('Control');
  await page.keyboard.press('KeyP');
  await page.keyboard.up('Control');
  await page.waitForSelector('.quick-input-widget input', { visible: true, timeout: 15000 });
  await page.keyboard.type(name, { delay: 20 });
  // Wait until the file shows up in the list, then open it.
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
}

async function shot(page, name) {
  const file = path.join(RUN_DIR, `${name}.png`);
  await page.screenshot({ path: file }).catch(() => {});
  return file;
}

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
  const result = {};
  try {
    await page.goto(URL, { waitUntil: 'domcontentloaded', timeout: 60000 });
    await page.waitForSelector('.monaco-workbench .part.editor', { timeout: 60000 });
    log('workbench loaded');

    // 1. Ghost text in example.py, accepted with Tab.
    await openFile(page, 'example.py');
    await page.keyboard.down('Control');
    await page.keyboard.press('End');
    await page.keyboard.up('Control');
    // The status bar item appears once the extension started the server.
    await page.waitForFunction(
      () =>
        [...document.querySelectorAll('.statusbar-item')].some((e) => {
          const label = e.getAttribute('aria-label') || e.textContent;
          return /llm-lsp/.test(label) && !/starting/.test(label);
        }),
      { timeout: 60000 },
    );
    log('status bar item shown');
    await new Promise((r) => setTimeout(r, Number(process.env.SETTLE_MS || 1000)));
    await page.keyboard.type(' ', { delay: 30 });
    let ghost;
    try {
      await page.waitForSelector('.ghost-text-decoration, .ghost-text-decoration-preview', { timeout: 20000 });
      ghost = await page.$$eval('.ghost-text-decoration, .ghost-text-decoration-preview', (els) =>
        els.map((e) => e.textContent.replace(/\u00a0/g, ' ')).join(''),
      );
    } catch (err) {
      // Ask explicitly (Alt+\ is VS Code's "Trigger Inline Suggestion") before giving up.
      await page.keyboard.down('Alt');
      await page.keyboard.press('Backslash');
      await page.keyboard.up('Alt');
      await page.waitForSelector('.ghost-text-decoration, .ghost-text-decoration-preview', { timeout: 10000 });
      ghost = await page.$$eval('.ghost-text-decoration, .ghost-text-decoration-preview', (els) =>
        els.map((e) => e.textContent.replace(/\u00a0/g, ' ')).join(''),
      );
    }
    result.ghost = ghost;
    log(`ghost text: ${JSON.stringify(ghost)}`);
    await shot(page, '1-ghost-text');
    if (!ghost.includes('a + b')) throw new Error(`unexpected ghost text ${JSON.stringify(ghost)}`);
    await page.keyboard.press('Tab');
    await page.waitForFunction(
      () => !document.querySelector('.ghost-text-decoration, .ghost-text-decoration-preview'),
      { timeout: 5000 },
    );
    const afterTab = await editorText(page);
    result.afterTab = afterTab;
    log(`after Tab: ${JSON.stringify(afterTab)}`);
    if (!afterTab.includes('return a + b')) throw new Error(`Tab did not insert the suggestion: ${JSON.stringify(afterTab)}`);
    const status = await page.$$eval('.statusbar-item', (els) =>
      els.map((e) => e.getAttribute('aria-label') || e.textContent).filter((t) => /llm-lsp/.test(t)),
    );
    result.status = status;
    log(`status bar: ${JSON.stringify(status)}`);

    // 2. Quick fix: a syntax error reported by VS Code's TypeScript server, fixed by llm-lsp.
    if (process.env.SKIP_QUICK_FIX) {
      log('quick fix skipped (SKIP_QUICK_FIX)');
    } else {
      await openFile(page, 'broken.js');
      await page.keyboard.down('Control');
      await page.keyboard.press('End');
      await page.keyboard.up('Control');
      await page.waitForSelector('.editor-group-container.active .squiggly-error', { timeout: 60000 });
      log('diagnostic shown');
      await page.keyboard.down('Control');
      await page.keyboard.press('Period');
      await page.keyboard.up('Control');
      await page.waitForFunction(
        () => [...document.querySelectorAll('.action-widget .monaco-list-row, .action-widget li')].some((r) => /Fix with AI/.test(r.textContent)),
        { timeout: 20000 },
      );
      const titles = await page.$$eval('.action-widget .monaco-list-row, .action-widget li', (rows) => rows.map((r) => r.textContent));
      result.actions = titles;
      log(`code actions: ${JSON.stringify(titles)}`);
      await shot(page, '2-code-actions');
      // Move the selection to the first "Fix with AI" row and apply it.
      const index = titles.findIndex((t) => /Fix with AI/.test(t));
      const firstSelectable = titles.findIndex((t) => !/^(Quick Fix|Refactor|More Actions|Source Action)/i.test(t.trim()) || /Fix with AI/.test(t));
      for (let i = firstSelectable; i < index; i++) {
        const header = /^(Quick Fix|Refactor|More Actions|Source Action)\.*$/i.test(titles[i].trim());
        if (!header) await page.keyboard.press('ArrowDown');
      }
      await page.keyboard.press('Enter');
      // The edit is resolved (model call) and applied: wait for the broken line to go.
      const deadline = Date.now() + 30000;
      let text = await editorText(page);
      while (/return sum \+\s*$/m.test(text) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        text = await editorText(page);
      }
      if (/return sum \+\s*$/m.test(text) || !/return sum/.test(text)) throw new Error(`quick fix not applied: ${JSON.stringify(text)}`);
      const fixed = await editorText(page);
      result.fixed = fixed;
      log(`after quick fix: ${JSON.stringify(fixed)}`);
      await shot(page, '3-fixed');
    }
    console.log(JSON.stringify({ ok: true, seconds: (Date.now() - started) / 1000, ...result }));
  } catch (err) {
    const file = await shot(page, 'failure');
    log(`FAILED: ${err && err.message} (screenshot ${file})`);
    console.log(JSON.stringify({ ok: false, error: String(err && err.message), ...result }));
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}

main();
