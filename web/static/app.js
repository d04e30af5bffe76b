// Shared by every HallWatch page: language (Vietnamese by default, English on request), hall
// time (Asia/Ho_Chi_Minh), escaping, and JSON fetches that send the session cookie.
'use strict';

const HW = (() => {
  const TZ = 'Asia/Ho_Chi_Minh';
  const HALL_OFFSET_MS = 7 * 3600 * 1000; // UTC+7 all year, no daylight saving
  let lang = localStorage.getItem('hw-lang') || 'vi';
  const dicts = { vi: {}, en: {} };

  function t(key) { return (dicts[lang] && dicts[lang][key]) || dicts.vi[key] || key; }

  function applyLang() {
    document.documentElement.lang = lang;
    document.querySelectorAll('[data-i18n]').forEach(el => { el.textContent = t(el.dataset.i18n); });
    document.querySelectorAll('[data-i18n-placeholder]').forEach(el => { el.placeholder = t(el.dataset.i18nPlaceholder); });
    document.querySelectorAll('[data-i18n-label]').forEach(el => { el.setAttribute('aria-label', t(el.dataset.i18nLabel)); });
    const sw = document.getElementById('lang-switch');
    if (sw) sw.textContent = lang === 'vi' ? 'English' : 'Tiếng Việt';
    document.dispatchEvent(new Event('hw-lang'));
  }

  function addWords(words) {
    for (const [key, [vi, en]] of Object.entries(words)) { dicts.vi[key] = vi; dicts.en[key] = en; }
  }

  function esc(s) {
    return String(s ?? '—').replace(/[&<>"']/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
  }

  function fmt(us, opts) {
    if (us === null || us === undefined) return '—';
    return new Date(us / 1000).toLocaleString(lang === 'vi' ? 'vi-VN' : 'en-GB', { timeZone: TZ, ...opts });
  }
  const fmtTime = us => fmt(us, { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
  const fmtDateTime = us => fmt(us, { dateStyle: 'short', timeStyle: 'medium', hour12: false });

  // Start (UTC ms) of the hall-local day given as YYYY-MM-DD.
  function dayStartMs(isoDay) { return Date.parse(isoDay + 'T00:00:00Z') - HALL_OFFSET_MS; }
  function todayIso() { return new Date(Date.now() + HALL_OFFSET_MS).toISOString().slice(0, 10); }
  // Hall-local HH:MM[:SS] on day `isoDay` → UTC ms.
  function hallTimeMs(isoDay, hhmmss) {
    const [h, m, s] = hhmmss.split(':').map(Number);
    return dayStartMs(isoDay) + ((h * 60 + m) * 60 + (s || 0)) * 1000;
  }
  const rfc3339 = ms => new Date(ms).toISOString();

  async function api(path, opts = {}) {
    const r = await fetch(path, { credentials: 'same-origin', ...opts });
    if (r.status === 401 && !path.startsWith('/api/login')) {
      location.href = '/login?next=' + encodeURIComponent(location.pathname + location.search);
      throw new Error(t('login.required'));
    }
    const body = r.headers.get('content-type')?.includes('json') ? await r.json() : await r.text();
    if (!r.ok) throw new Error((body && body.error) || r.statusText);
    return body;
  }

  async function logout() {
    await fetch('/api/logout', { method: 'POST', credentials: 'same-origin' });
    location.href = '/login';
  }

  addWords({
    'login.required': ['Cần đăng nhập', 'Login required'],
    'nav.dashboard': ['Bảng điều hành', 'Dashboard'],
    'nav.review': ['Phòng xem lại', 'Review room'],
    'nav.display': ['Màn hình công cộng', 'Public display'],
    'nav.logout': ['Đăng xuất', 'Log out'],
  });

  document.addEventListener('DOMContentLoaded', () => {
    const sw = document.getElementById('lang-switch');
    if (sw) sw.addEventListener('click', () => { lang = lang === 'vi' ? 'en' : 'vi'; localStorage.setItem('hw-lang', lang); applyLang(); });
    const out = document.getElementById('logout');
    if (out) out.addEventListener('click', logout);
    applyLang();
  });

  return { t, addWords, applyLang, esc, fmtTime, fmtDateTime, dayStartMs, todayIso, hallTimeMs, rfc3339, api, get lang() { return lang; } };
})();
