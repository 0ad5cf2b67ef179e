// src/web/alerts.js: telling the user: the banner at the top (connection state, with an
// optional action), short toasts, and desktop notifications (asked for with a button; shown
// only while the page has no focus).
'use strict';

(() => {
  const C = window.Chat;
  const { $, S, el } = C;

  // ---------------------------------------------------------------- banner, toasts
  let bannerAction = null;
  let bannerGen = 0;
  function banner(text, action, fn, kind) {
    bannerGen++;
    const b = $('banner');
    if (!text) { b.hidden = true; return; }
    b.hidden = false;
    b.className = `banner ${kind || ''}`;
    $('banner-text').textContent = text;
    const a = $('banner-action');
    a.hidden = !action;
    a.textContent = action || '';
    bannerAction = fn || null;
  }
  $('banner-action').addEventListener('click', () => bannerAction && bannerAction());
  // Hides the banner after ms, unless another one was put up meanwhile.
  function bannerFor(ms) {
    const gen = bannerGen;
    setTimeout(() => { if (gen === bannerGen) banner(null); }, ms);
  }

  function toast(text, kind) {
    const t = el('div', `toast ${kind || ''}`, text);
    t.setAttribute('role', kind === 'error' ? 'alert' : 'status');
    $('toasts').append(t);
    setTimeout(() => t.remove(), kind === 'error' ? 8000 : 5000);
  }

  // ---------------------------------------------------------------- notifications
  $('notify-enable').addEventListener('click', async () => {
    try {
      const p = await Notification.requestPermission();
      S.notifyOk = p === 'granted';
      $('notify-enable').hidden = true;
      if (!S.notifyOk) toast('Notifications stay off (the browser said no). Your browser settings can change that.');
    } catch (e) {
      toast(`Notifications are not available here: ${e.message}`, 'error');
    }
  });
  function notify(title, body, key) {
    if (!S.notifyOk || !(document.hidden || !S.focused)) return;
    try {
      const n = new Notification(title, { body: body.slice(0, 200), tag: key || undefined });
      n.onclick = () => { window.focus(); if (key && S.convs.has(key)) C.switchTo(key); n.close(); };
    } catch { /* some browsers allow them only from a service worker */ }
  }

  Object.assign(C, { banner, bannerFor, notify, toast });
})();
