// The supervisors' dashboard in Debian Chromium: log in, watch live numbers change without a
// reload (camera counts from analysis, ticket tiles from the queue system), acknowledge an alert
// with a note, and change the chart date and see the chart data change.
// Usage: node dashboard.mjs BASE_URL OUT_DIR NAME PASSWORD INTEGRATION_TOKEN   (run by tests/browser.rs)
import { chromium } from 'playwright-core';

const [base, out, name, password, token] = process.argv.slice(2);
const fail = msg => { console.error('FAIL: ' + msg); process.exit(1); };
const HALL = 'h';
let seq = 0;
async function post(path, body) {
  const r = await fetch(base + path, { method: path.startsWith('/api/v1/counters') ? 'PUT' : 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer ' + token }, body: JSON.stringify(body) });
  if (!r.ok) fail(`${path}: ${r.status} ${await r.text()}`);
}
const iso = ms => new Date(ms).toISOString();
function ticket(id, issuedMs, { served } = {}) {
  const ev = [{ event_id: `e${++seq}`, hall: HALL, ticket_id: id, kind: 'issued', at: iso(issuedMs), number: id, field: 'HT' }];
  if (served) {
    ev.push({ event_id: `e${++seq}`, hall: HALL, ticket_id: id, kind: 'called', at: iso(issuedMs + served * 60e3), counter: 1 });
    ev.push({ event_id: `e${++seq}`, hall: HALL, ticket_id: id, kind: 'finished', at: iso(issuedMs + (served + 5) * 60e3), counter: 1 });
  }
  return ev;
}

// Yesterday's served tickets give the chart a day that differs from today.
const now = Date.now();
await post('/api/v1/counters', [{ hall: HALL, number: 1, name: 'Quầy 1', fields: ['HT'], opening_hours: {} }]);
await post('/api/v1/ticket-events', [...ticket('Y001', now - 86400e3, { served: 7 }), ...ticket('Y002', now - 86400e3 + 60e3, { served: 22 })]);

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.on('pageerror', e => console.error('page error: ' + e.message));
  await page.goto(base + '/');
  if (!page.url().includes('/login')) fail('anonymous dashboard did not ask for a login');
  await page.fill('#name', name);
  await page.fill('#password', password);
  await page.click('button[type=submit]');
  await page.waitForURL(u => u.pathname === '/');
  await page.evaluate(() => { window.sameDocument = true; });

  // Camera: live pictures and counts arrive by themselves.
  await page.waitForSelector('.cam .count', { timeout: 30000 }).catch(() => fail('no live camera on the dashboard'));
  const firstCount = await page.textContent('.cam .count');
  const counts = new Set([firstCount]);
  const t0 = Date.now();
  while (counts.size < 2 && Date.now() - t0 < 30000) {
    await page.waitForTimeout(500);
    counts.add(await page.textContent('.cam .count'));
  }
  if (counts.size < 2) fail('camera count never changed: ' + [...counts]);
  await page.waitForFunction(() => document.querySelector('.cam img')?.naturalWidth > 0, null, { timeout: 15000 })
    .catch(() => fail('no camera picture'));

  // Queue: three new tickets change the waiting tile without a reload.
  const tile = () => page.textContent('#tiles .tile .v');
  const before = await tile();
  await post('/api/v1/ticket-events', [...ticket('A101', Date.now()), ...ticket('A102', Date.now()), ...ticket('A103', Date.now())]);
  await page.waitForFunction(b => document.querySelector('#tiles .tile .v').textContent !== b, before, { timeout: 5000 })
    .catch(() => fail('waiting tile did not change'));
  const after = await tile();
  if (!(await page.evaluate(() => window.sameDocument === true))) fail('the page reloaded');

  // A dissatisfied rating opens an alert; acknowledge it with a note.
  await post('/api/v1/ratings', [{ rating_id: 'r1', hall: HALL, at: iso(Date.now()), scale: 'three', score: 1, counter: 1 }]);
  // Other alerts may be open too (a test machine's disk, say): act on this one.
  const row = page.locator('#alerts tr', { hasText: 'dissatisfied rating' });
  await row.locator('button.ack').waitFor({ timeout: 15000 }).catch(() => fail('no dissatisfied-rating alert to acknowledge'));
  await page.screenshot({ path: `${out}/dashboard.png`, fullPage: true });
  page.once('dialog', d => d.accept('Đã gọi lại cho công dân'));
  await row.locator('button.ack').click();
  await page.check('#alert-history');
  await page.locator('#alerts tr', { hasText: 'dissatisfied rating' }).filter({ hasText: 'Đã gọi lại cho công dân' })
    .waitFor({ timeout: 10000 }).catch(() => fail('acknowledgement not shown on the rating alert'));

  // Charts follow the date picker.
  const total = () => page.evaluate(() => Chart.getChart('c-waits').data.datasets.reduce((a, d) => a + d.data.reduce((x, y) => x + (y || 0), 0), 0));
  const loads = await page.evaluate(() => window.hwChartsLoaded);
  const today = await total();
  const yesterday = new Date(now - 86400e3 + 7 * 3600e3).toISOString().slice(0, 10);
  await page.fill('#date', yesterday);
  await page.dispatchEvent('#date', 'change');
  await page.waitForFunction(n => window.hwChartsLoaded > n, loads, { timeout: 10000 });
  const past = await total();
  if (past === today) fail(`chart data did not change with the date (${today} both days)`);
  console.log(JSON.stringify({ counts: [...counts], tile: [before, after], waits: { today, yesterday: past } }));
} finally {
  await browser.close();
}
