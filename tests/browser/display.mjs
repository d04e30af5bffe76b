// The citizens' wait display in Debian Chromium, logged out: its numbers match the API, and
// when the server is killed and restarted the page marks itself stale, then recovers by itself.
// Usage: node display.mjs BASE_URL OUT_DIR SERVER_PID SERVER_LOG BINARY ARG...   (run by tests/browser.rs)
import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { openSync } from 'node:fs';

const [base, out, pid, log, ...serverCmd] = process.argv.slice(2);
const fail = msg => { console.error('FAIL: ' + msg); process.exit(1); };

async function api() { return (await fetch(base + '/api/display/h')).json(); }

// What the page shows, in the API's shape.
const shown = page => page.evaluate(() => [...document.querySelectorAll('section[data-field]')].map(s => ({
  field: s.dataset.field,
  waiting: Number(s.querySelector('.waiting').textContent),
  serving: [...s.querySelectorAll('.num')].map(n => n.textContent),
  ewt: s.querySelector('.ewt').textContent,
})));
const expected = d => d.fields.map(f => ({
  field: f.field, waiting: f.waiting, serving: f.counters.map(c => c.open ? (c.now_serving || '—') : 'Tạm đóng'), ewt: f.ewt.text,
}));
async function matchesApi(page) {
  // The page and the API are read a moment apart; retry until they agree (they must, soon).
  for (let i = 0; i < 20; i++) {
    const [a, b] = [JSON.stringify(await shown(page)), JSON.stringify(expected(await api()))];
    if (a === b) return;
    await page.waitForTimeout(250);
  }
  fail(`display ${JSON.stringify(await shown(page))} != API ${JSON.stringify(expected(await api()))}`);
}
const alive = p => { try { process.kill(p, 0); return true; } catch { return false; } };

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });
let restarted = null;
try {
  const tv = await browser.newPage({ viewport: { width: 1920, height: 1080 } });
  tv.on('pageerror', e => console.error('page error: ' + e.message));
  await tv.goto(base + '/display');
  await tv.waitForFunction(() => document.getElementById('status').textContent.startsWith('Cập nhật lúc'), null, { timeout: 15000 })
    .catch(() => fail('display never showed figures'));
  await matchesApi(tv);
  await tv.screenshot({ path: `${out}/display.png` });
  const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true });
  await phone.goto(base + '/display');
  await phone.waitForFunction(() => document.getElementById('status').textContent.startsWith('Cập nhật lúc'), null, { timeout: 15000 });
  await phone.screenshot({ path: `${out}/display-phone.png`, fullPage: true });
  await phone.close();

  // Kill the server: the page keeps its figures and says it is updating, never an error page.
  process.kill(Number(pid), 'SIGTERM');
  for (let i = 0; alive(Number(pid)) && i < 100; i++) await new Promise(r => setTimeout(r, 100));
  await tv.waitForFunction(() => document.getElementById('status').classList.contains('stale'), null, { timeout: 40000 })
    .catch(() => fail('display did not mark itself stale'));
  if (!(await tv.textContent('#status')).includes('Đang cập nhật')) fail('stale notice text');
  if ((await shown(tv)).length === 0) fail('figures vanished while the server was down');
  await tv.screenshot({ path: `${out}/display-stale.png` });

  const logFd = openSync(log, 'a');
  const child = spawn(serverCmd[0], serverCmd.slice(1), { detached: true, stdio: ['ignore', logFd, logFd] });
  restarted = child.pid;
  child.unref();
  // Told at once, so the test can stop this server even if a check below fails.
  console.log(JSON.stringify({ restarted }));
  await tv.waitForFunction(() => !document.getElementById('status').classList.contains('stale'), null, { timeout: 40000 })
    .catch(() => fail('display did not recover after the restart'));
  await matchesApi(tv);
  console.log(JSON.stringify({ pid: restarted }));
} finally {
  await browser.close();
}
