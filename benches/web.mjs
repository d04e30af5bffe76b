// Web performance in Debian Chromium against the real server (run by benches/web.rs):
//  1. dashboard first contentful paint on loopback (target < 1 s), median of 7 loads;
//  2. live update: a ticket posted to the API → the dashboard's waiting tile changes
//     (target < 1 s), median and p90 of 30;
//  3. the public display's JS heap after 10,000 updates against its heap at the start
//     (after forced garbage collection), and its DOM node count.
// Usage: node web.mjs BASE_URL NAME PASSWORD INTEGRATION_TOKEN UPDATES
import { chromium } from '../tests/browser/node_modules/playwright-core/index.mjs';

const [base, name, password, token, updatesArg] = process.argv.slice(2);
const UPDATES = Number(updatesArg || 10000);
const median = v => { const s = [...v].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const pct = (v, q) => { const s = [...v].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.round((s.length - 1) * q))]; };
let seq = 0;
async function post(events) {
  const r = await fetch(base + '/api/v1/ticket-events', { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer ' + token }, body: JSON.stringify(events) });
  if (!r.ok) throw new Error(`post: ${r.status}`);
}
// A ticket joins the queue; `leave` takes it out again (a walkout), so the queue, and the work
// behind each update, stays the same size however many updates are driven.
async function issue() {
  seq++;
  await post([{ event_id: `b${seq}`, hall: 'h', ticket_id: `T${seq}`, kind: 'issued', at: new Date().toISOString(), number: `A${seq % 1000}`, field: 'HT' }]);
}
async function leave() {
  await post([{ event_id: `r${seq}`, hall: 'h', ticket_id: `T${seq}`, kind: 'removed', at: new Date().toISOString() }]);
}

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--js-flags=--expose-gc', '--enable-precise-memory-info'] });
try {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const login = await ctx.newPage();
  await login.goto(base + '/login');
  await login.fill('#name', name);
  await login.fill('#password', password);
  await login.click('button[type=submit]');
  await login.waitForURL(u => u.pathname === '/');
  await login.close();

  const fcp = [];
  for (let i = 0; i < 7; i++) {
    const p = await ctx.newPage();
    await p.goto(base + '/', { waitUntil: 'load' });
    const v = await p.evaluate(() => new Promise(res => {
      const e = performance.getEntriesByName('first-contentful-paint')[0];
      if (e) return res(e.startTime);
      new PerformanceObserver(l => res(l.getEntries()[0].startTime)).observe({ type: 'paint', buffered: true });
    }));
    fcp.push(v);
    await p.close();
  }

  const page = await ctx.newPage();
  await page.goto(base + '/');
  await page.waitForFunction(() => document.querySelector('#tiles .tile .v'));
  await page.waitForTimeout(1000);
  const lat = [];
  for (let i = 0; i < 30; i++) {
    const before = await page.textContent('#tiles .tile .v');
    const t0 = Date.now();
    await issue();
    await page.waitForFunction(b => document.querySelector('#tiles .tile .v').textContent !== b, before, { polling: 'raf', timeout: 10000 });
    lat.push(Date.now() - t0);
    await leave();
    await page.waitForTimeout(300);
  }
  await page.close();

  const tv = await ctx.newPage();
  await tv.goto(base + '/display');
  await tv.waitForFunction(() => document.getElementById('status').textContent.startsWith('Cập nhật lúc'));
  const heap = async () => tv.evaluate(() => { window.gc(); return performance.memory.usedJSHeapSize; });
  const renders = () => tv.evaluate(() => window.hwRenders || 0);
  await tv.waitForTimeout(500);
  const heap0 = await heap();
  const nodes0 = await tv.evaluate(() => document.getElementsByTagName('*').length);
  const r0 = await renders();
  const t0 = Date.now();
  while ((await renders()) - r0 < UPDATES) {
    // One event per request: each commit is a change the display is told about.
    await issue();
    await leave();
  }
  const secs = (Date.now() - t0) / 1000;
  const heap1 = await heap();
  const nodes1 = await tv.evaluate(() => document.getElementsByTagName('*').length);
  const done = (await renders()) - r0;
  console.log(`dashboard first contentful paint: median ${median(fcp).toFixed(0)} ms (runs ${fcp.map(v => v.toFixed(0)).join(', ')}), target < 1000 ms: ${(median(fcp) / 1000).toFixed(2)}x of target`);
  console.log(`live update, API post → dashboard tile: median ${median(lat)} ms, p90 ${pct(lat, 0.9)} ms, max ${Math.max(...lat)} ms over ${lat.length}, target < 1000 ms: ${(pct(lat, 0.9) / 1000).toFixed(2)}x of target at p90`);
  console.log(`public display: ${done} updates in ${secs.toFixed(0)} s; JS heap after GC ${(heap0 / 1024).toFixed(0)} KiB → ${(heap1 / 1024).toFixed(0)} KiB (${((heap1 - heap0) / 1024).toFixed(1)} KiB, ${((heap1 - heap0) / done).toFixed(2)} B/update); DOM elements ${nodes0} → ${nodes1}`);
} finally {
  await browser.close();
}
