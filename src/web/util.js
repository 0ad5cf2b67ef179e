// src/web/util.js: the browser client of chat (issue 14), first of its scripts: it makes the
// namespace they share, window.Chat, and holds the constants and small helpers (DOM, localStorage,
// formatting) the others use. The client is plain modern JavaScript, no framework, no build step,
// nothing loaded from elsewhere; chat-server serves src/web/index.html and these classic scripts
// (each `defer`, so they run in the order the page lists them, after the document is parsed).
// It speaks docs/PROTOCOL.md over a same-origin WebSocket at /ws (connection.js). Everything
// another user wrote is put into the page as text (textContent), never as HTML.
//
// How the scripts share names: each is an IIFE with `const C = window.Chat` that ends with
// Object.assign(C, {...}) of what the others use. A name from a script loaded earlier is taken
// at the top (`const { $, S } = C;`); one from a script loaded later is called as `C.name(...)`,
// which runs only after every script has run (from an event, a timer or a frame). Shared
// mutable state lives in the object S (state.js), never in a variable another script reads.
'use strict';

(() => {
  const C = {};
  window.Chat = C;

  // ---------------------------------------------------------------- constants
  const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/; // a user's or a room's name
  // From a server without files_key (older), a file another user sends is held in memory until
  // complete (acceptOffer, transfers.js), and so is a store download: offers over this are refused.
  const MAX_IN_MEMORY_RECEIVE = 512 * 1024 * 1024;
  const LS = {
    name: 'chat.name',
    session: 'chat.session',
    rooms: 'chat.rooms',
    dms: 'chat.dms',
    base: 'chat.reconnectBaseMs', // tests shorten or lengthen the first reconnect delay
  };

  // ---------------------------------------------------------------- helpers
  const $ = (id) => document.getElementById(id);
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  const chars = (s) => Array.from(s).length;
  const utf8len = (s) => new TextEncoder().encode(s).length;
  function lsGet(k) { try { return localStorage.getItem(k); } catch { return null; } }
  function lsSet(k, v) { try { if (v === null || v === undefined) localStorage.removeItem(k); else localStorage.setItem(k, v); } catch { /* private mode */ } }
  function lsJson(k, dflt) { try { const v = JSON.parse(lsGet(k)); return v ?? dflt; } catch { return dflt; } }
  function randomHex(bytes) {
    const a = new Uint8Array(bytes);
    crypto.getRandomValues(a); // works outside secure contexts, unlike randomUUID
    return Array.from(a, (b) => b.toString(16).padStart(2, '0')).join('');
  }
  function fmtTime(ts) {
    return new Date(ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  }
  function fmtDay(ts) {
    return new Date(ts).toLocaleDateString([], { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' });
  }
  function dayKey(ts) { const d = new Date(ts); return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`; }
  function fmtBytes(n) {
    const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return `${i === 0 ? n : n.toFixed(1)} ${u[i]}`;
  }
  function fmtDuration(s) {
    if (!isFinite(s)) return '?';
    s = Math.round(s);
    if (s < 60) return `${s}s`;
    if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
    return `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, '0')}m`;
  }
  function stripHash(r) { return r.trim().replace(/^#/, ''); }
  function escapeRe(s) { return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'); }

  Object.assign(C, {
    $, LS, MAX_IN_MEMORY_RECEIVE, NAME_RE, chars, dayKey, el, escapeRe, fmtBytes, fmtDay,
    fmtDuration, fmtTime, lsGet, lsJson, lsSet, randomHex, stripHash, utf8len,
  });
})();
