// The next-edit check of e2e.js, in real VS Code (code-server in headless Chromium):
//
//   next_edit   next edits turned on (palette: "Turn Next Edits On/Off"); in area_next.py the user adds a parameter to a
//               function; the extension shows the next edit (status item, decorations), Tab jumps to
//               it and Tab applies it; the rest of the prediction (the call below) follows and is
//               accepted the same way; the saved file equals the expected one.
//
// run-e2e.sh writes the file and the fake model's answer (next-edit-scenario.py); e2e.js calls run()
// with its helpers before the offline check (which removes the model).
'use strict';

const fs = require('fs');

async function run(page, h) {
  const E = h.EXPECT.nextEdit;
  await h.check(page, 'next_edit', async () => {
    // Off by default: turned on as a user does, with the palette command (VS Code writes settings.json).
    await h.runCommand(page, 'Turn Next Edits On/Off');
    const deadline = Date.now() + 10000;
    while (!/llmLsp\.nextEdit\.enable"?\s*:\s*true/.test(fs.readFileSync(h.SETTINGS, 'utf8')) && Date.now() < deadline) {
      await h.sleep(200);
    }
    await h.openFile(page, E.file);
    await h.sleep(2000); // the setting reaches the extension and the server
    // The cursor after "(w" in the signature (line 2), then the user types ", h".
    await h.chord(page, 'Control', 'Home');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('End');
    await page.keyboard.press('ArrowLeft');
    await page.keyboard.press('ArrowLeft');
    await page.keyboard.type(', h', { delay: 50 });
    const viewText = () => page.$eval('.editor-group-container.active .view-lines', (e) => e.textContent.replace(/\u00a0/g, ' '));
    const accept = async (label) => {
      // The hint item alone: the main item names the jobs ("next edits: model") since models per job.
      const shown = await h.waitStatus(page, /llm-lsp next edit \(Tab\)/, 20000);
      if (!shown.ok) throw new Error(`no next edit shown (${label}): status bar ${JSON.stringify(shown.labels)}`);
      const decorated = await viewText();
      await h.shot(page, `7-next-edit-${label}`);
      await page.keyboard.press('Tab'); // jump to it
      await h.sleep(300);
      await page.keyboard.press('Tab'); // apply it
      return decorated;
    };
    const first = await accept('first');
    await page.waitForFunction(
      (sel) => document.querySelector(sel).textContent.replace(/\u00a0/g, ' ').includes('return w * h'),
      { timeout: 5000 },
      '.editor-group-container.active .view-lines',
    );
    const second = await accept('rest');
    await page.waitForFunction(
      (sel) => document.querySelector(sel).textContent.replace(/\u00a0/g, ' ').includes('rect_area(2, 3)'),
      { timeout: 5000 },
      '.editor-group-container.active .view-lines',
    );
    const text = await h.saved(page, E.file);
    h.record('next_edit', text === E.expected, `saved ${JSON.stringify(text)}, expected ${JSON.stringify(E.expected)}`, {
      decorated: [first, second],
    });
  });
}

module.exports = { run };
