// The auditors' review room in a real browser (Debian Chromium through playwright-core):
// login redirect, timeline, playback (currentTime advances, seeking, speed, frame step),
// signed export with downloads, the audit log, the language switch. Screenshots go to OUT.
// Usage: node review.mjs BASE_URL OUT_DIR NAME PASSWORD   (run by tests/browser.rs)
import { chromium } from 'playwright-core';
import { writeFileSync } from 'node:fs';

const [base, out, name, password] = process.argv.slice(2);
const fail = msg => { console.error('FAIL: ' + msg); process.exit(1); };

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox', '--autoplay-policy=no-user-gesture-required'] });
try {
  const page = await browser.newPage({ viewport: { width: 1366, height: 900 } });
  page.on('pageerror', e => console.error('page error: ' + e.message));

  await page.goto(base + '/review');
  if (!page.url().includes('/login?next=')) fail('anonymous /review did not redirect to login: ' + page.url());
  await page.screenshot({ path: `${out}/login.png`, fullPage: true });
  await page.fill('#name', name);
  await page.fill('#password', password);
  await page.click('button[type=submit]');
  await page.waitForURL(u => u.pathname === '/review');
  await page.waitForFunction(() => document.querySelectorAll('#camera option').length > 0);
  await page.fill('#purpose', 'Kiểm tra tự động (browser test)');
  await page.click('#load');
  await page.waitForFunction(() => document.querySelectorAll('#timeline .seg').length > 0, null, { timeout: 20000 });

  // Search the ticket served at counter 1 (camera "sim") by its number: its clip plays.
  await page.selectOption('#search-kind', 'ticket');
  await page.fill('#search-value', 'A023');
  await page.click('#search button[type=submit]');
  await page.waitForSelector('#search-found', { timeout: 15000 }).catch(async () => fail('ticket search: ' + await page.textContent('#search-result')));
  await page.waitForFunction(() => document.getElementById('video').currentTime > 1.0, null, { timeout: 20000 })
    .catch(async () => fail('ticket clip did not play: ' + await page.textContent('#play-error')));
  const markers = await page.locator('#timeline .marker').count();
  if (markers < 2) fail(`expected the ticket's call and end on the timeline, found ${markers} markers`);
  // Zoomed to ten minutes, the seconds of recording take a visible share of the bar (a whole
  // day shows them as hairlines).
  const covered = () => page.evaluate(() => [...document.querySelectorAll('#timeline .seg')].reduce((a, e) => a + parseFloat(e.style.width), 0));
  const dayShare = await covered();
  await page.selectOption('#zoom', '10');
  const zoomedShare = await covered();
  if (!(zoomedShare > 1 && zoomedShare > 8 * dayShare)) fail(`zoom: recording covers ${dayShare}% of the day bar and ${zoomedShare}% zoomed`);
  await page.screenshot({ path: `${out}/review-search.png`, fullPage: true });
  await page.selectOption('#zoom', '1440');

  // Click the timeline where the recording is; a click in a gap snaps to the recording.
  const box = await page.locator('#timeline').boundingBox();
  const frac = await page.evaluate(() => (timeline.segments[0].start_us / 1000 - HW.dayStartMs(day)) / 86400e3);
  // The ticket's clip is still playing past 1 s: wait for the clicked recording to load, or
  // the seek below can land on the old clip and be aborted by the new one.
  await page.evaluate(() => {
    window.clickedLoaded = false;
    document.getElementById('video').addEventListener('loadstart', () => { window.clickedLoaded = true; }, { once: true });
  });
  await page.mouse.click(box.x + frac * box.width, box.y + box.height / 2);
  await page.waitForFunction(() => window.clickedLoaded && document.getElementById('video').currentTime > 1.0, null, { timeout: 20000 })
    .catch(async () => fail('video did not advance: ' + await page.textContent('#play-error')));
  const clock = await page.textContent('#clock');
  if (!/\d/.test(clock)) fail('wall clock under the video is empty');

  // Seek back as a user would with the controls, then speed and frame step.
  const seeked = await page.evaluate(() => new Promise(res => {
    const v = document.getElementById('video');
    v.addEventListener('seeked', () => res(v.currentTime), { once: true });
    setTimeout(() => res(null), 20000);
    v.currentTime = 0.5;
  }));
  if (seeked === null) fail('seek did not finish within 20 s');
  if (Math.abs(seeked - 0.5) > 0.3) fail('seek landed at ' + seeked);
  await page.selectOption('#speed', '2');
  if (await page.evaluate(() => document.getElementById('video').playbackRate) !== 2) fail('speed control');
  await page.evaluate(() => document.getElementById('video').pause());
  const before = await page.evaluate(() => document.getElementById('video').currentTime);
  await page.click('#next-frame');
  await page.waitForFunction(b => document.getElementById('video').currentTime > b, before);
  await page.screenshot({ path: `${out}/review.png`, fullPage: true });

  // Export the first seconds of the recording.
  const [from, to] = await page.evaluate(() => {
    const s = timeline.segments[0].start_us / 1000 + 7 * 3600e3;
    const hms = ms => new Date(ms).toISOString().slice(11, 19);
    return [hms(s + 1000), hms(s + 6000)];
  });
  await page.fill('#ex-from', from);
  await page.fill('#ex-to', to);
  await page.click('#export button[type=submit]');
  await page.waitForSelector('#export-sha', { timeout: 30000 }).catch(async () => fail('export: ' + await page.textContent('#export-result')));
  const sha = await page.textContent('#export-sha');
  const clipUrl = await page.getAttribute('#export-clip', 'href');
  const manifestUrl = await page.getAttribute('#export-manifest', 'href');
  const clip = await page.request.get(base + clipUrl);
  const manifest = await page.request.get(base + manifestUrl);
  if (!clip.ok() || !manifest.ok()) fail('export downloads refused');
  writeFileSync(`${out}/export.mp4`, await clip.body());
  writeFileSync(`${out}/export.manifest.json`, await manifest.body());

  // The audit log shows the view and the export.
  await page.click('#au-load');
  await page.waitForFunction(() => document.getElementById('audit').textContent.includes('recording.export'));
  if (!(await page.textContent('#audit')).includes('recording.view')) fail('audit log lacks the view');

  await page.click('#lang-switch');
  if ((await page.textContent('#h-audit')) !== 'Access log') fail('English switch');
  await page.screenshot({ path: `${out}/review-en.png`, fullPage: true });
  console.log(JSON.stringify({ sha256: sha, clip: `${out}/export.mp4`, manifest: `${out}/export.manifest.json` }));
} finally {
  await browser.close();
}
