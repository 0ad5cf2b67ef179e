// src/web/receipts.js: read receipts: the page says what it received (delivered) and what the
// user saw (read, only while the tab is visible and focused), and draws the ticks of its own
// messages from what the others said (sent, delivered to N, read by N).
'use strict';

(() => {
  const C = window.Chat;
  const { S, getConv, send } = C;

  const deliveredQueue = new Map();
  function queueDelivered(c, id) {
    if (id <= c.deliveredSent) return;
    deliveredQueue.set(c.key, Math.max(deliveredQueue.get(c.key) || 0, id));
    if (deliveredQueue.size === 1) queueMicrotask(flushDelivered);
  }
  function flushDelivered() {
    if (!S.loggedIn) { deliveredQueue.clear(); return; } // sent again after the next welcome
    for (const [key, id] of deliveredQueue) {
      const c = S.convs.get(key);
      if (!c || id <= c.deliveredSent) continue;
      c.deliveredSent = id;
      const f = { type: 'receipt', kind: 'delivered', up_to: id };
      if (c.kind === 'room') f.room = c.name; else f.peer = c.name;
      send(f);
    }
    deliveredQueue.clear();
  }

  function pageActive() { return document.visibilityState === 'visible' && S.focused; }

  function maybeRead() {
    if (!S.loggedIn || !pageActive()) return;
    const c = S.convs.get(S.current);
    if (!c || !c.lastId || c.lastId <= c.readSent) return;
    // Read up to the newest message someone else wrote (ours need no receipt).
    let upTo = 0;
    for (const [id, r] of c.msgs) if (!r.own && id > upTo) upTo = id;
    if (upTo <= c.readSent) return;
    c.readSent = upTo;
    if (upTo > c.deliveredSent) c.deliveredSent = upTo;
    const f = { type: 'receipt', kind: 'read', up_to: upTo };
    if (c.kind === 'room') f.room = c.name; else f.peer = c.name;
    send(f);
  }

  window.addEventListener('focus', () => { S.focused = true; maybeRead(); });
  window.addEventListener('blur', () => { S.focused = false; C.stopTyping(); });
  document.addEventListener('visibilitychange', () => { if (!document.hidden) maybeRead(); });

  function onReceipts(f) {
    const c = f.room ? getConv('room', f.room, false) : getConv('dm', f.peer, false);
    if (!c) return;
    for (const m of f.markers) {
      const old = c.markers.get(m.user) || { delivered: 0, read: 0 };
      c.markers.set(m.user, { delivered: Math.max(old.delivered, m.delivered, m.read), read: Math.max(old.read, m.read) });
    }
    for (const rec of c.msgs.values()) if (rec.own && rec.id) renderTicks(rec, c);
  }

  function renderTicks(rec, c) {
    if (!rec.ticksEl) return;
    c = c || S.convs.get(rec.conv);
    const t = rec.ticksEl;
    let state;
    let title;
    if (rec.failed) {
      state = 'failed'; title = `not sent: ${rec.failed}`;
    } else if (!rec.id) {
      state = 'pending'; title = S.loggedIn ? 'sending…' : 'waiting for the connection';
    } else {
      let n = rec.recipients;
      let d = 0;
      let r = 0;
      if (c) {
        for (const [u, m] of c.markers) {
          if (u === S.me) continue;
          if (m.delivered >= rec.id) d++;
          if (m.read >= rec.id) r++;
        }
      }
      // Unknown for our messages read back from history: the room's others now.
      if (n === null || n === undefined) n = Math.max(d, c ? (c.kind === 'dm' ? 1 : c.members.size - 1) : 0);
      d = Math.min(d, n);
      r = Math.min(r, n);
      if (n === 0) { state = 'sent'; title = 'sent (nobody else was in the room)'; }
      else if (r >= n) { state = 'read'; title = n === 1 ? 'read' : `read by ${r} of ${n}`; }
      else if (d >= n) { state = 'delivered'; title = n === 1 ? 'delivered' : `delivered to ${d} of ${n}, read by ${r} of ${n}`; }
      else { state = 'sent'; title = n === 1 ? 'sent' : `sent; delivered to ${d} of ${n}, read by ${r} of ${n}`; }
    }
    t.className = `ticks ${state}`;
    t.dataset.state = state;
    t.textContent = { pending: '🕓', failed: '⚠', sent: '✓', delivered: '✓✓', read: '✓✓' }[state];
    t.title = title;
    t.setAttribute('aria-label', title);
  }

  Object.assign(C, { maybeRead, onReceipts, pageActive, queueDelivered, renderTicks });
})();
