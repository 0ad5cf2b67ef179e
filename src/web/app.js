// src/web/app.js: the browser client of chat (issue 14), served by chat-server with
// src/web/index.html and src/web/app.css. Plain modern JavaScript, no framework, no build
// step, nothing loaded from elsewhere. It speaks docs/PROTOCOL.md over a same-origin
// WebSocket at /ws: one TEXT message is one JSON frame (no length prefix); file chunks are
// BINARY messages (8-byte big-endian transfer id, 8-byte big-endian offset, raw bytes).
// Everything another user wrote is put into the page as text (textContent), never as HTML.
'use strict';

(() => {
  // ---------------------------------------------------------------- constants
  const PROTOCOL_VERSION = 1;
  const MAX_TEXT_CHARS = 4000; // Unicode scalar values, as the server counts
  const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/;
  const TYPING_REFRESH_MS = 3000;
  const TYPING_EXPIRE_MS = 7000; // fallback if the server's active:false is lost
  const PING_EVERY_MS = 25000;
  const PONG_TIMEOUT_MS = 10000;
  const RECONNECT_MAX_MS = 30000;
  const HISTORY_PAGE = 50;
  const CHUNK = 65536;
  const CREDIT_WINDOW = 1024 * 1024;
  // Received files are held in memory until complete (see the TODO in onChunk).
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

  // ---------------------------------------------------------------- state
  const cidPrefix = `w${randomHex(6)}`; // unique per page load: cids belong to the name
  let cidCounter = 0;
  const nextCid = () => `${cidPrefix}-${++cidCounter}`;

  const S = {
    me: null,
    password: null, // memory only, for reconnects of a registered name; never stored
    status: 'online',
    awayMessage: '',
    session: lsGet(LS.session),
    boot: null,
    ws: null,
    loggedIn: false, // a welcome arrived on the current socket
    everLoggedIn: false, // this page has been logged in (so drops reconnect)
    stopped: false, // taken over or logged out: no reconnecting
    retries: 0,
    reconnectTimer: null,
    reconnectAt: 0,
    pingTimer: null,
    pongTimer: null,
    pingSeq: 0,
    maxSeen: 0, // the highest message id seen: next resume.since
    convs: new Map(), // key ('#room' or '@name') -> conversation
    current: null,
    users: new Map(), // name -> {status, rooms}
    pending: [], // unacknowledged own messages, in order: {cid, frame, msg}
    lastSentText: '',
    typing: { key: null, at: 0 }, // our typing state
    historyQueue: [], // convs waiting for a history request
    historyFifo: [], // convs whose history request is answered next, in order
    call: null, // {id, peer, media, state:'ringing-out'|'ringing-in'|'active', since}
    transfers: new Map(),
    notifyOk: false,
    focused: document.hasFocus(),
    catchingUp: false,
  };

  // ---------------------------------------------------------------- connection
  function wsUrl() {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    return `${proto}//${location.host}/ws`;
  }

  function send(frame) {
    if (!S.ws || S.ws.readyState !== WebSocket.OPEN) return false;
    S.ws.send(JSON.stringify(frame));
    return true;
  }
  const sendLive = (frame) => S.loggedIn && send(frame);

  function connect() {
    clearTimeout(S.reconnectTimer);
    S.reconnectTimer = null;
    if (S.ws) { try { S.ws.close(); } catch { /* already closed */ } }
    S.loggedIn = false;
    let ws;
    try {
      ws = new WebSocket(wsUrl());
    } catch (e) {
      onSocketGone(null, `could not open a connection (${e.message})`);
      return;
    }
    ws.binaryType = 'arraybuffer';
    S.ws = ws;
    if (S.everLoggedIn) banner('Connecting to the server…');
    ws.onopen = () => { if (S.ws === ws) sendHello(); };
    ws.onmessage = (ev) => {
      if (S.ws !== ws) return;
      if (typeof ev.data === 'string') {
        let f;
        try { f = JSON.parse(ev.data); } catch { console.warn('unparsable frame', ev.data); return; }
        try { handle(f); } catch (e) { console.error('handling', f && f.type, e); }
      } else {
        try { onChunk(ev.data); } catch (e) { console.error('chunk', e); }
      }
    };
    ws.onclose = (ev) => { if (S.ws === ws) onSocketGone(ws, ev.reason || (ev.code === 1006 ? 'the connection was lost' : `closed (${ev.code})`)); };
    ws.onerror = () => { /* onclose follows */ };
  }

  function sendHello() {
    const rooms = roomNames();
    const hello = { type: 'hello', version: PROTOCOL_VERSION, name: S.me, status: S.status };
    const first = rooms[0] || S.loginRoom || 'general';
    hello.room = first;
    if (S.password) hello.password = S.password;
    const resume = {};
    if (S.session) resume.session = S.session;
    if (rooms.length) resume.rooms = rooms;
    if (S.everLoggedIn && S.maxSeen > 0) resume.since = S.maxSeen;
    S.catchingUp = resume.since !== undefined;
    S.missedCount = 0;
    if (Object.keys(resume).length) hello.resume = resume;
    send(hello);
  }

  function onSocketGone(ws, why) {
    stopPings();
    const wasIn = S.loggedIn;
    S.loggedIn = false;
    if (ws && S.ws === ws) S.ws = null;
    S.historyFifo = [];
    S.historyQueue = [];
    for (const c of S.convs.values()) {
      if (c.historyLoading) c.historyAsked = false; // its answer is lost: ask again
      c.historyLoading = false;
      c.historyBatch = null;
      clearTypingOf(c);
    }
    if (S.call) endCallUi('the connection to the server was lost');
    for (const t of S.transfers.values()) if (t.state === 'in_progress' || t.state === 'pending') { t.sending = false; }
    renderTyping();
    if (S.stopped) return;
    if (!S.everLoggedIn) {
      loginError(S.loginAttempted ? `Could not reach the chat server: ${why}.` : null);
      setLoginBusy(false);
      return;
    }
    const bye = S.byeReason;
    S.byeReason = null;
    scheduleReconnect(bye ? `The server closed the connection: ${bye}.` : wasIn ? `Connection to the server lost (${why}).` : `Could not reach the server (${why}).`);
  }

  function reconnectBase() {
    const v = Number(lsGet(LS.base));
    return v > 0 ? v : 1000;
  }

  function scheduleReconnect(why) {
    clearTimeout(S.reconnectTimer);
    const base = Math.min(RECONNECT_MAX_MS, reconnectBase() * 2 ** Math.min(S.retries, 10));
    const delay = Math.round(base * (0.5 + Math.random() * 0.5)); // jitter: not everyone at once
    S.retries++;
    S.reconnectAt = Date.now() + delay;
    S.reconnectWhy = why;
    S.reconnectTimer = setTimeout(connect, delay);
    updateReconnectBanner();
  }

  let bannerTicker = null;
  function updateReconnectBanner() {
    clearTimeout(bannerTicker);
    if (!S.reconnectTimer) return;
    const secs = Math.max(0, Math.ceil((S.reconnectAt - Date.now()) / 1000));
    const q = S.pending.length ? ` ${S.pending.length} message${S.pending.length > 1 ? 's' : ''} will be sent once it is back.` : '';
    banner(`${S.reconnectWhy} Reconnecting in ${secs} s…${q}`, 'Reconnect now', () => { S.retries = 0; connect(); }, 'warn');
    bannerTicker = setTimeout(updateReconnectBanner, 1000);
  }

  function startPings() {
    stopPings();
    S.pingTimer = setInterval(() => {
      if (!S.loggedIn) return;
      send({ type: 'ping', seq: ++S.pingSeq });
      clearTimeout(S.pongTimer);
      S.pongTimer = setTimeout(() => {
        console.warn('no pong: the connection is dead');
        if (S.ws) S.ws.close();
      }, PONG_TIMEOUT_MS);
    }, PING_EVERY_MS);
  }
  function stopPings() { clearInterval(S.pingTimer); clearTimeout(S.pongTimer); }

  window.addEventListener('online', () => { if (S.reconnectTimer) { S.retries = 0; connect(); } });

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

  // ---------------------------------------------------------------- login
  function loginError(text) {
    const e = $('login-error');
    e.hidden = !text;
    e.textContent = text || '';
  }
  function setLoginBusy(busy) {
    $('login-submit').disabled = busy;
    $('login-submit').textContent = busy ? 'Logging in…' : 'Log in';
  }

  $('login-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    unlockAudio();
    const name = $('login-name').value.trim();
    const password = $('login-password').value;
    const room = stripHash($('login-room').value || 'general') || 'general';
    if (!NAME_RE.test(name)) {
      loginError('A name is 1 to 32 letters, digits, "_", "-" or ".", starting with a letter or digit.');
      return;
    }
    if (!NAME_RE.test(room)) {
      loginError('A room name is 1 to 32 letters, digits, "_", "-" or ".", starting with a letter or digit.');
      return;
    }
    if (password && chars(password) < 8) {
      loginError('A password has at least 8 characters. Leave it empty to use an unregistered name.');
      return;
    }
    if (S.everLoggedIn && name !== S.me) {
      // Another name after this page was logged in: start from a clean page.
      lsSet(LS.name, name);
      lsSet(LS.session, null);
      lsSet(LS.rooms, null);
      lsSet(LS.dms, null);
      location.reload();
      return;
    }
    if (name !== lsGet(LS.name)) { S.session = null; lsSet(LS.rooms, null); lsSet(LS.dms, null); }
    S.me = name;
    S.password = password || null;
    S.loginRoom = room;
    S.loginAttempted = true;
    S.stopped = false;
    loginError(null);
    setLoginBusy(true);
    connect();
  });

  function showApp() {
    $('login').hidden = true;
    $('app').hidden = false;
    $('me-name').textContent = S.me;
    document.title = `chat — ${S.me}`;
    if ('Notification' in window && Notification.permission === 'default') $('notify-enable').hidden = false;
    S.notifyOk = 'Notification' in window && Notification.permission === 'granted';
  }

  function showLogin(message) {
    $('app').hidden = true;
    $('login').hidden = false;
    $('login-name').value = S.me || lsGet(LS.name) || '';
    $('login-password').value = '';
    setLoginBusy(false);
    loginError(message);
    (S.me ? $('login-password') : $('login-name')).focus();
  }

  // Sentences for refused logins; the server's own sentence is used for everything else.
  function loginSentence(f) {
    switch (f.code) {
      case 'auth_required': return `"${S.me}" is a registered name: enter its password.`;
      case 'bad_password': return 'That password is wrong for this name.';
      case 'invalid':
      case 'name_taken':
      case 'too_many_attempts':
      case 'version_mismatch':
      default: return f.message;
    }
  }

  // ---------------------------------------------------------------- conversations
  function convKey(kind, name) { return (kind === 'room' ? '#' : '@') + name; }
  function roomNames() { return [...S.convs.values()].filter((c) => c.kind === 'room' && c.joined).map((c) => c.name); }
  function saveLists() {
    lsSet(LS.rooms, JSON.stringify(roomNames()));
    lsSet(LS.dms, JSON.stringify([...S.convs.values()].filter((c) => c.kind === 'dm').map((c) => c.name)));
  }

  function getConv(kind, name, create = true) {
    const key = convKey(kind, name);
    let c = S.convs.get(key);
    if (c || !create) return c;
    const box = el('div', 'messages');
    box.setAttribute('role', 'log');
    box.setAttribute('aria-label', kind === 'room' ? `Messages in #${name}` : `Private messages with ${name}`);
    box.tabIndex = 0;
    box.hidden = true;
    box.dataset.key = key;
    c = {
      key, kind, name, box,
      joined: kind === 'dm',
      members: new Set(),
      msgs: new Map(), // id -> message record
      firstId: null, lastId: 0,
      more: true, historyLoading: false, historyBatch: null, historyAsked: false,
      unread: 0, mention: false,
      topic: '', topicBy: '',
      markers: new Map(), // user -> {delivered, read}
      typers: new Map(), // name -> expiry timer
      readSent: 0, deliveredSent: 0,
      lastMsgEl: null,
    };
    box.addEventListener('scroll', () => { if (box.scrollTop < 60 && S.current === key) requestHistory(c); });
    $('conversations').append(box);
    S.convs.set(key, c);
    renderLists();
    if (kind === 'dm') saveLists();
    return c;
  }

  function removeConv(c) {
    c.box.remove();
    S.convs.delete(c.key);
    if (S.current === c.key) {
      const next = [...S.convs.values()].find((x) => x.kind === 'room') || [...S.convs.values()][0];
      switchTo(next ? next.key : null);
    }
    renderLists();
    saveLists();
  }

  function switchTo(key) {
    if (S.typing.key && S.typing.key !== key) stopTyping();
    const prev = S.convs.get(S.current);
    if (prev) prev.box.hidden = true;
    S.current = key;
    const c = S.convs.get(key);
    $('empty-hint').hidden = !!c;
    $('composer').hidden = !c;
    if (!c) { renderHeader(); renderLists(); renderTyping(); return; }
    c.box.hidden = false;
    c.unread = 0;
    c.mention = false;
    renderHeader();
    renderLists();
    renderTyping();
    if (!c.historyAsked) requestHistory(c);
    c.box.scrollTop = c.box.scrollHeight;
    maybeRead();
    closeSidebar();
  }

  function renderHeader() {
    const c = S.convs.get(S.current);
    const isRoom = c && c.kind === 'room';
    $('conv-name').textContent = c ? (isRoom ? `#${c.name}` : c.name) : '';
    const topic = $('conv-topic');
    if (isRoom && c.topic) {
      topic.textContent = c.topic;
      topic.title = c.topicBy ? `topic set by ${c.topicBy}` : '';
    } else if (c && !isRoom) {
      const u = S.users.get(c.name);
      topic.textContent = u ? `${u.status}` : 'offline';
      topic.title = '';
    } else {
      topic.textContent = isRoom ? `${c.members.size} member${c.members.size === 1 ? '' : 's'}` : '';
      topic.title = '';
    }
    $('topic-edit').hidden = !isRoom;
    $('search-open').hidden = !c;
    $('members-toggle').hidden = !isRoom;
    if (isRoom) $('members-toggle').textContent = `Members (${c.members.size})`;
    renderMembers();
    $('leave-room').hidden = !isRoom;
    $('call-voice').hidden = !c || isRoom;
    $('call-video').hidden = !c || isRoom;
    $('send-file').hidden = !c || isRoom;
    $('input').placeholder = c ? (isRoom ? `Message #${c.name}` : `Message ${c.name}`) : 'Message';
  }

  function renderLists() {
    const rooms = $('room-list');
    const dms = $('dm-list');
    rooms.replaceChildren();
    dms.replaceChildren();
    const sorted = [...S.convs.values()].sort((a, b) => a.name.localeCompare(b.name));
    for (const c of sorted) {
      const li = el('li');
      const b = el('button', `conv${c.key === S.current ? ' current' : ''}${c.unread ? ' unread' : ''}`);
      b.type = 'button';
      b.dataset.key = c.key;
      if (c.key === S.current) b.setAttribute('aria-current', 'page');
      if (c.kind === 'dm') {
        const u = S.users.get(c.name);
        const dot = el('span', `dot ${u ? u.status : 'offline'}`);
        dot.setAttribute('aria-hidden', 'true');
        b.append(dot);
      }
      b.append(el('span', 'conv-label', c.kind === 'room' ? `#${c.name}` : c.name));
      let label = c.kind === 'room' ? `room ${c.name}` : `private conversation with ${c.name}`;
      if (c.mention) { b.append(el('span', 'badge mention', '@')); label += ', mentions you'; }
      if (c.unread) { b.append(el('span', 'badge', String(c.unread))); label += `, ${c.unread} unread`; }
      b.setAttribute('aria-label', label);
      b.addEventListener('click', () => switchTo(c.key));
      li.append(b);
      (c.kind === 'room' ? rooms : dms).append(li);
    }
    const unread = [...S.convs.values()].reduce((n, c) => n + c.unread, 0);
    document.title = `${unread ? `(${unread}) ` : ''}chat — ${S.me || ''}`;
  }

  function renderPeople() {
    const ul = $('people-list');
    ul.replaceChildren();
    for (const [name, u] of [...S.users.entries()].sort((a, b) => a[0].localeCompare(b[0]))) {
      const li = el('li');
      const b = el('button', 'person');
      b.type = 'button';
      const dot = el('span', `dot ${u.status}`);
      dot.setAttribute('aria-hidden', 'true');
      b.append(dot, el('span', 'name', name));
      if (name === S.me) b.append(el('span', 'you', '(you)'));
      b.setAttribute('aria-label', `${name}, ${u.status}${u.rooms && u.rooms.length ? `, in ${u.rooms.map((r) => `#${r}`).join(' ')}` : ''}`);
      b.title = `${u.status}${u.rooms && u.rooms.length ? ` — ${u.rooms.map((r) => `#${r}`).join(' ')}` : ''}`;
      if (name !== S.me) b.addEventListener('click', () => switchTo(getConv('dm', name).key));
      else b.disabled = true;
      li.append(b);
      ul.append(li);
    }
    renderLists();
    renderHeader();
  }

  let usersTimer = null;
  function refreshUsersSoon() {
    clearTimeout(usersTimer);
    usersTimer = setTimeout(() => sendLive({ type: 'list_users' }), 400);
  }
  setInterval(() => { if (S.loggedIn) sendLive({ type: 'list_users' }); }, 30000);

  // ---------------------------------------------------------------- messages
  function mentionRe() {
    if (!S.me) return null;
    return new RegExp(`(^|[^A-Za-z0-9_.-])(@?${escapeRe(S.me)})(?![A-Za-z0-9_-])`, 'i');
  }
  function mentionsMe(text) { const re = mentionRe(); return !!re && re.test(text); }

  // The text of a message, as text nodes, with mentions of our name in <mark>.
  function textNodes(text, own) {
    const span = el('span', 'text');
    const re = mentionRe();
    if (!re || own) { span.textContent = text; return span; }
    const g = new RegExp(re.source, 'gi');
    let last = 0;
    let m;
    while ((m = g.exec(text))) {
      const start = m.index + m[1].length;
      if (start > last) span.append(document.createTextNode(text.slice(last, start)));
      span.append(el('mark', 'mention', m[2]));
      last = start + m[2].length;
      if (g.lastIndex === m.index) g.lastIndex++;
    }
    if (last < text.length) span.append(document.createTextNode(text.slice(last)));
    return span;
  }

  function convOfMessage(f) {
    if (f.room) return getConv('room', f.room);
    const peer = f.from === S.me ? f.to : f.from;
    return getConv('dm', peer);
  }

  // Builds the element of one message (ours or someone's).
  function messageEl(rec) {
    const div = el('div', 'msg');
    div.dataset.id = rec.id || '';
    if (rec.cid) div.dataset.cid = rec.cid;
    div.dataset.from = rec.from;
    div.dataset.ts = rec.ts;
    if (rec.own) div.classList.add('own');
    if (rec.mention) div.classList.add('mention');
    if (rec.replay === 'missed') div.classList.add('missed');
    const meta = el('div', 'meta');
    const from = el('span', 'from', rec.from);
    const time = el('time', 'time', fmtTime(rec.ts));
    time.dateTime = new Date(rec.ts).toISOString();
    time.title = new Date(rec.ts).toLocaleString();
    meta.append(from, time);
    if (rec.replay === 'missed') meta.append(el('span', 'tag', 'missed'));
    const body = el('div', 'body');
    body.append(textNodes(rec.text, rec.own));
    if (rec.own) {
      const ticks = el('span', 'ticks');
      ticks.setAttribute('role', 'img');
      body.append(ticks);
      rec.ticksEl = ticks;
    }
    div.append(meta, body);
    rec.el = div;
    if (rec.own) renderTicks(rec);
    return div;
  }

  function systemEl(text, ts, cls) {
    const div = el('div', `sys ${cls || ''}`);
    div.dataset.ts = ts || Date.now();
    div.append(el('time', 'time', fmtTime(ts || Date.now())), el('span', 'text', text));
    return div;
  }

  // Sets the day separators and sender grouping of a conversation's elements from scratch.
  function relayout(c) {
    let prevDay = null;
    let prev = null;
    for (const node of [...c.box.children]) {
      if (node.classList.contains('day')) { node.remove(); continue; }
    }
    for (const node of [...c.box.children]) {
      const ts = Number(node.dataset.ts);
      const dk = dayKey(ts);
      if (dk !== prevDay) {
        const sep = el('div', 'day', fmtDay(ts));
        sep.setAttribute('role', 'separator');
        c.box.insertBefore(sep, node);
        prevDay = dk;
        prev = null;
      }
      if (node.classList.contains('msg')) {
        const cont = prev && prev.classList.contains('msg') && prev.dataset.from === node.dataset.from &&
          ts - Number(prev.dataset.ts) < 5 * 60 * 1000 && prev.classList.contains('missed') === node.classList.contains('missed');
        node.classList.toggle('cont', !!cont);
      }
      prev = node;
    }
    c.lastMsgEl = prev;
  }

  // Appends at the bottom, with a day separator and grouping as needed.
  function appendNode(c, node) {
    const atBottom = c.box.scrollHeight - c.box.scrollTop - c.box.clientHeight < 80;
    const ts = Number(node.dataset.ts);
    const prev = c.lastMsgEl;
    if (!prev || dayKey(Number(prev.dataset.ts)) !== dayKey(ts)) {
      const sep = el('div', 'day', fmtDay(ts));
      sep.setAttribute('role', 'separator');
      c.box.append(sep);
    } else if (node.classList.contains('msg') && prev.classList.contains('msg') && prev.dataset.from === node.dataset.from &&
      ts - Number(prev.dataset.ts) < 5 * 60 * 1000 && prev.classList.contains('missed') === node.classList.contains('missed')) {
      node.classList.add('cont');
    }
    c.box.append(node);
    c.lastMsgEl = node;
    if (atBottom || node.classList.contains('own')) c.box.scrollTop = c.box.scrollHeight;
  }

  function addSystem(c, text, cls, ts) { appendNode(c, systemEl(text, ts, cls)); }

  function onMessage(f) {
    const c = convOfMessage(f);
    if (f.id > S.maxSeen) S.maxSeen = f.id; // history too: it is of our conversations
    if (c.msgs.has(f.id)) return; // shown already (history overlap, or a replay)
    if (f.replay === 'missed') S.missedCount++;
    const own = f.from === S.me;
    const rec = { id: f.id, ts: f.ts, from: f.from, text: f.text, own, replay: f.replay, mention: !own && mentionsMe(f.text), conv: c.key, recipients: null };
    if (f.replay === 'history') {
      if (c.historyBatch) c.historyBatch.push(rec);
      return;
    }
    c.msgs.set(f.id, rec);
    if (c.firstId === null || f.id < c.firstId) c.firstId = f.id;
    if (f.id > c.lastId) c.lastId = f.id;
    // A live message ends its sender's typing state.
    if (c.typers.has(f.from)) { clearTimeout(c.typers.get(f.from)); c.typers.delete(f.from); renderTyping(); }
    if (f.replay === 'missed' && !c.missedMarked) {
      c.missedMarked = true;
      addSystem(c, 'Sent while you were away:', 'missed-sep', f.ts);
    }
    appendNode(c, messageEl(rec));
    queueDelivered(c, f.id);
    const visible = S.current === c.key && pageActive();
    if (!own && !visible) {
      c.unread++;
      if (rec.mention || c.kind === 'dm') c.mention = true;
      renderLists();
    }
    if (!own && (document.hidden || !S.focused)) {
      if (c.kind === 'dm') notify(`${f.from} (private)`, f.text, c.key);
      else if (rec.mention) notify(`${f.from} in #${c.name}`, f.text, c.key);
    }
    maybeRead();
  }

  function onHistoryEnd(f) {
    const c = f.room ? getConv('room', f.room, false) : getConv('dm', f.peer, false);
    const i = S.historyFifo.indexOf(c);
    if (i >= 0) S.historyFifo.splice(i, 1);
    pumpHistory();
    if (!c) return;
    const batch = c.historyBatch || [];
    c.historyBatch = null;
    c.historyLoading = false;
    c.more = f.more;
    const box = c.box;
    const oldHeight = box.scrollHeight;
    const oldTop = box.scrollTop;
    const firstOld = [...box.children].find((n) => !n.classList.contains('day'));
    const frag = document.createDocumentFragment();
    for (const rec of batch) {
      if (c.msgs.has(rec.id)) continue;
      c.msgs.set(rec.id, rec);
      if (c.firstId === null || rec.id < c.firstId) c.firstId = rec.id;
      if (rec.id > c.lastId) c.lastId = rec.id;
      frag.append(messageEl(rec));
    }
    if (!c.more) {
      const start = el('div', 'sys start', c.kind === 'room' ? `This is the beginning of what you can read of #${c.name}.` : `This is the beginning of your conversation with ${c.name}.`);
      start.dataset.ts = batch.length ? batch[0].ts : (firstOld ? firstOld.dataset.ts : Date.now());
      frag.prepend(start);
    }
    box.insertBefore(frag, firstOld || null);
    relayout(c);
    if (c.lastId) queueDelivered(c, c.lastId);
    if (!firstOld) {
      box.scrollTop = box.scrollHeight;
    } else {
      box.scrollTop = oldTop + (box.scrollHeight - oldHeight);
    }
    if (S.current === c.key) {
      maybeRead();
      // Not enough to scroll? Fetch more so that scrolling up can ask for the rest.
      if (c.more && box.scrollHeight <= box.clientHeight + 60) requestHistory(c);
    }
  }

  function requestHistory(c) {
    if (c.historyLoading || !c.more || !c.joined && c.kind === 'room') return;
    c.historyAsked = true;
    c.historyLoading = true;
    S.historyQueue.push(c);
    pumpHistory();
  }

  // The server serves at most 4 disk reads in flight per connection: ask 2 at a time.
  function pumpHistory() {
    while (S.loggedIn && S.historyFifo.length < 2 && S.historyQueue.length) {
      const c = S.historyQueue.shift();
      if (!S.convs.has(c.key)) continue;
      const f = { type: 'history', limit: HISTORY_PAGE };
      if (c.kind === 'room') f.room = c.name; else f.peer = c.name;
      if (c.firstId !== null) f.before = c.firstId;
      c.historyBatch = [];
      S.historyFifo.push(c);
      send(f);
    }
  }

  // ---------------------------------------------------------------- receipts and ticks
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
  window.addEventListener('blur', () => { S.focused = false; stopTyping(); });
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

  // ---------------------------------------------------------------- sending
  function sendText(text) {
    const c = S.convs.get(S.current);
    if (!c) { toast('Join a room or pick someone first.', 'error'); return false; }
    if (!text.trim()) return false;
    if (text.includes('\0')) { toast('A message cannot contain NUL characters.', 'error'); return false; }
    const n = chars(text);
    if (n > MAX_TEXT_CHARS) { toast(`That message is ${n} characters long; the most is ${MAX_TEXT_CHARS}.`, 'error'); return false; }
    const cid = nextCid();
    const frame = c.kind === 'room' ? { type: 'room_msg', room: c.name, text, cid } : { type: 'private_msg', to: c.name, text, cid };
    const rec = { id: null, cid, ts: Date.now(), from: S.me, text, own: true, conv: c.key, recipients: null };
    const node = messageEl(rec);
    node.classList.add('pending');
    appendNode(c, node);
    S.pending.push({ cid, frame, rec });
    S.lastSentText = text;
    S.typing.key = null; // the message ends our typing state on the server
    if (S.loggedIn) send(frame);
    else updateReconnectBanner();
    return true;
  }

  function onAck(f) {
    const i = S.pending.findIndex((p) => p.cid === f.cid);
    if (i < 0) return;
    const { rec } = S.pending[i];
    S.pending.splice(i, 1);
    const c = S.convs.get(rec.conv);
    rec.id = f.id;
    rec.ts = f.ts;
    rec.recipients = f.recipients;
    rec.el.dataset.id = f.id;
    rec.el.dataset.ts = f.ts;
    rec.el.classList.remove('pending');
    const time = rec.el.querySelector('time');
    time.textContent = fmtTime(f.ts);
    time.dateTime = new Date(f.ts).toISOString();
    if (c) {
      c.msgs.set(f.id, rec);
      if (f.id > c.lastId) c.lastId = f.id;
      if (c.firstId === null || f.id < c.firstId) c.firstId = f.id;
      // Sent from the queue after a reconnect: what we missed (older) came first. Keep the
      // conversation in id order.
      let after = null;
      for (let n = rec.el.nextElementSibling; n; n = n.nextElementSibling) {
        if (n.classList.contains('msg') && n.dataset.id && Number(n.dataset.id) < f.id) after = n;
      }
      if (after) { after.after(rec.el); relayout(c); }
    }
    if (f.id > S.maxSeen) S.maxSeen = f.id;
    renderTicks(rec, c);
  }

  function resendPending() {
    for (const p of S.pending) { send(p.frame); renderTicks(p.rec); }
  }

  // ---------------------------------------------------------------- typing
  function startTypingMaybe() {
    const c = S.convs.get(S.current);
    if (!c || !S.loggedIn) return;
    const text = $('input').value;
    if (!text.trim() || text.startsWith('/')) { stopTyping(); return; }
    const now = Date.now();
    if (S.typing.key === c.key && now - S.typing.at < TYPING_REFRESH_MS) return;
    S.typing = { key: c.key, at: now };
    send(c.kind === 'room' ? { type: 'typing', room: c.name, active: true } : { type: 'typing', to: c.name, active: true });
  }
  function stopTyping() {
    const key = S.typing.key;
    if (!key) return;
    S.typing = { key: null, at: 0 };
    const c = S.convs.get(key);
    if (!c || !S.loggedIn) return;
    send(c.kind === 'room' ? { type: 'typing', room: c.name, active: false } : { type: 'typing', to: c.name, active: false });
  }
  // Keep the refresh going while the box holds text and the user is still around.
  setInterval(() => { if (S.typing.key && Date.now() - S.typing.at >= TYPING_REFRESH_MS && S.lastKeyAt > Date.now() - TYPING_REFRESH_MS) startTypingMaybe(); }, 1000);

  function onTyping(f) {
    if (f.from === S.me) return;
    const c = f.room ? getConv('room', f.room, false) : getConv('dm', f.from, f.active);
    if (!c) return;
    clearTimeout(c.typers.get(f.from));
    if (f.active) {
      c.typers.set(f.from, setTimeout(() => { c.typers.delete(f.from); renderTyping(); }, TYPING_EXPIRE_MS));
    } else {
      c.typers.delete(f.from);
    }
    renderTyping();
  }
  function clearTypingOf(c) { for (const t of c.typers.values()) clearTimeout(t); c.typers.clear(); }

  function renderTyping() {
    const c = S.convs.get(S.current);
    const names = c ? [...c.typers.keys()] : [];
    let text = '';
    if (names.length === 1) text = `${names[0]} is typing…`;
    else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
    else if (names.length > 2) text = `${names.length} people are typing…`;
    $('typing').textContent = text;
  }

  // ---------------------------------------------------------------- composer
  const input = $('input');
  function autosize() {
    input.style.height = 'auto';
    input.style.height = `${Math.min(input.scrollHeight, 200)}px`;
  }
  input.addEventListener('input', () => { S.lastKeyAt = Date.now(); autosize(); startTypingMaybe(); });
  input.addEventListener('blur', () => stopTyping());
  input.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      submitInput();
    } else if (ev.key === 'ArrowUp' && input.value === '' && S.lastSentText) {
      ev.preventDefault();
      input.value = S.lastSentText;
      autosize();
    }
  });
  $('composer').addEventListener('submit', (ev) => { ev.preventDefault(); submitInput(); input.focus(); });

  function submitInput() {
    const text = input.value;
    if (!text.trim()) return;
    let ok;
    if (text.startsWith('/') && !text.startsWith('//')) ok = command(text);
    else ok = sendText(text.startsWith('//') ? text.slice(1) : text);
    if (ok) { input.value = ''; autosize(); stopTyping(); }
  }

  // A few of the terminal client's commands, for those who know them (the server's error
  // sentences mention some, e.g. "/join lab creates it").
  function command(line) {
    const [cmd, ...rest] = line.slice(1).split(/\s+/);
    const arg = line.slice(1 + cmd.length).trim();
    const c = S.convs.get(S.current);
    switch (cmd.toLowerCase()) {
      case 'join': if (!rest[0]) return false; joinRoom(rest[0]); return true;
      case 'create': if (!rest[0]) return false; sendLive({ type: 'create_room', room: stripHash(rest[0]) }); return true;
      case 'leave': { const r = rest[0] ? stripHash(rest[0]) : c && c.kind === 'room' && c.name; if (r) sendLive({ type: 'leave', room: r }); return true; }
      case 'msg':
      case 'query': {
        const who = rest[0];
        if (!who) return false;
        let key;
        if (who.startsWith('#')) key = convKey('room', who.slice(1));
        else if (NAME_RE.test(who) && who !== S.me) key = getConv('dm', who).key;
        if (!key || !S.convs.has(key)) { toast(`No conversation ${who}: /join a room, or name someone.`, 'error'); return false; }
        switchTo(key);
        const msg = arg.slice(who.length).trim();
        if (msg) sendText(msg);
        return true;
      }
      case 'me': if (!arg) return false; return sendText(`* ${S.me} ${arg}`);
      case 'status': setStatus(rest[0] || 'online', ''); return true;
      case 'away': setStatus(arg ? 'away' : 'online', arg); return true;
      case 'topic': if (c && c.kind === 'room') { if (arg) sendLive({ type: 'set_topic', room: c.name, topic: arg }); else toast(c.topic ? `Topic of #${c.name}: ${c.topic}` : `#${c.name} has no topic.`); } return true;
      case 'call': if (rest[0]) startCall(rest[0], rest[1] === 'video' ? 'video' : 'voice'); return true;
      case 'hangup': hangup(); return true;
      case 'users': sendLive({ type: 'list_users' }); toast('The list of people is in the sidebar.'); openSidebar(); return true;
      case 'rooms': $('browse-rooms').open = true; sendLive({ type: 'list_rooms' }); openSidebar(); return true;
      case 'files': openFiles(); return true;
      case 'search': if (!arg) return false; openSearch(); $('search-text').value = arg; $('search-scope').value = 'all'; $('search-form').requestSubmit(); return true;
      case 'names': $('members-panel').hidden = false; renderMembers(); return true;
      case 'passwd': $('password-open').click(); return true;
      case 'reconnect': if (!S.loggedIn && !S.stopped) { S.retries = 0; connect(); } return true;
      case 'quit': case 'logout': logout(); return true;
      case 'help':
        toast('Commands: /join ROOM, /create ROOM, /leave [ROOM], /msg NAME TEXT, /query NAME, /me ACTION, /status online|busy|away, /away [MESSAGE], /topic [TEXT], /call NAME [video], /hangup, /users, /rooms, /names, /search WORDS, /files, /passwd, /reconnect, /quit. Start a message with // to send a leading /.');
        return true;
      default:
        toast(`Unknown command /${cmd}. /help lists the commands; start with // to send a message beginning with /.`, 'error');
        return false;
    }
  }

  // ---------------------------------------------------------------- rooms, status
  function joinRoom(name) {
    const r = stripHash(name);
    if (!NAME_RE.test(r)) { toast('A room name is 1 to 32 letters, digits, "_", "-" or ".", starting with a letter or digit.', 'error'); return; }
    const c = S.convs.get(convKey('room', r));
    if (c && c.joined) { switchTo(c.key); return; }
    S.switchOnJoin = r;
    if (!sendLive({ type: 'join', room: r })) toast('Not connected: try again once the connection is back.', 'error');
  }
  $('join-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const v = $('join-name').value.trim();
    if (!v) return;
    joinRoom(v);
    $('join-name').value = '';
  });
  $('browse-rooms').addEventListener('toggle', () => { if ($('browse-rooms').open) sendLive({ type: 'list_rooms' }); });
  $('leave-room').addEventListener('click', () => {
    const c = S.convs.get(S.current);
    if (c && c.kind === 'room') sendLive({ type: 'leave', room: c.name });
  });

  function onJoined(f) {
    const c = getConv('room', f.room);
    c.joined = true;
    c.members = new Set(f.members);
    saveLists();
    if (f.created) addSystem(c, `You created #${f.room}.`);
    if (!S.current || S.switchOnJoin === f.room) { S.switchOnJoin = null; switchTo(c.key); }
    else if (S.current === c.key) renderHeader();
    renderLists();
    if (!c.historyAsked && S.current === c.key) requestHistory(c);
  }

  function onLeft(f) {
    const c = getConv('room', f.room, false);
    if (!c) return;
    c.joined = false;
    removeConv(c);
  }

  function onNotice(f) {
    switch (f.event) {
      case 'join':
      case 'leave': {
        const c = f.room && getConv('room', f.room, false);
        if (c) {
          if (f.event === 'join') c.members.add(f.user); else c.members.delete(f.user);
          addSystem(c, f.text, f.event);
          if (c.typers.has(f.user) && f.event === 'leave') { clearTimeout(c.typers.get(f.user)); c.typers.delete(f.user); renderTyping(); }
          if (S.current === c.key) renderHeader();
        }
        refreshUsersSoon();
        break;
      }
      case 'status': {
        const u = S.users.get(f.user);
        if (u && f.status) { u.status = f.status; renderPeople(); }
        if (f.user === S.me && f.status) { S.status = f.status; renderMyStatus(); }
        else refreshUsersSoon();
        break;
      }
      case 'away': {
        const c = getConv('dm', f.user);
        addSystem(c, f.text, 'away');
        break;
      }
      case 'upload': {
        const c = S.convs.get(S.current);
        if (c) addSystem(c, f.text, 'upload');
        if (!$('files-panel').hidden) sendLive({ type: 'list_files' });
        break;
      }
      default: {
        const c = S.convs.get(S.current);
        if (c) addSystem(c, f.text);
      }
    }
  }

  function onTopic(f) {
    const c = getConv('room', f.room, false);
    if (!c) return;
    // A topic frame right after joined is the room's standing topic, not news: it is shown
    // as a line only the first time, or if it changed while we were away.
    const standing = S.afterJoined === f.room;
    if (!standing || c.topic !== f.topic) {
      if (standing) addSystem(c, `Topic: ${f.topic} (set by ${f.by})`, 'topic');
      else addSystem(c, f.topic ? `${f.by} set the topic: ${f.topic}` : `${f.by} cleared the topic`, 'topic');
    }
    c.topic = f.topic;
    c.topicBy = f.by;
    if (S.current === c.key) renderHeader();
  }

  $('topic-edit').addEventListener('click', () => {
    const c = S.convs.get(S.current);
    if (!c || c.kind !== 'room') return;
    $('topic-form').hidden = false;
    $('topic-input').value = c.topic || '';
    $('topic-input').focus();
  });
  $('topic-cancel').addEventListener('click', () => { $('topic-form').hidden = true; });
  $('topic-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const c = S.convs.get(S.current);
    const t = $('topic-input').value;
    if (utf8len(t) > 512) { toast('A topic is at most 512 bytes.', 'error'); return; }
    if (c && c.kind === 'room') sendLive({ type: 'set_topic', room: c.name, topic: t });
    $('topic-form').hidden = true;
  });

  function setStatus(status, message) {
    if (!['online', 'busy', 'away'].includes(status)) { toast('A status is online, busy or away.', 'error'); return; }
    if (message && utf8len(message) > 256) { toast('An away message is at most 256 bytes.', 'error'); return; }
    S.status = status;
    S.awayMessage = status === 'away' ? message : '';
    const f = { type: 'set_status', status };
    if (status === 'away' && message) f.message = message;
    sendLive(f);
    renderMyStatus();
  }
  function renderMyStatus() {
    $('status-select').value = S.status;
    $('me-dot').className = `dot ${S.status}`;
    $('away-message').hidden = S.status !== 'away' && $('status-select').value !== 'away';
    if (document.activeElement !== $('away-message')) $('away-message').value = S.awayMessage || '';
  }
  $('status-select').addEventListener('change', () => {
    const v = $('status-select').value;
    $('away-message').hidden = v !== 'away';
    if (v !== 'away') setStatus(v, '');
    else $('away-message').focus();
  });
  $('status-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    setStatus($('status-select').value, $('away-message').value.trim());
  });

  function logout() {
    S.stopped = true;
    stopTyping();
    send({ type: 'logout' });
    lsSet(LS.session, null);
    S.session = null;
    S.password = null;
    setTimeout(() => location.reload(), 300);
  }
  $('logout').addEventListener('click', logout);

  // ---------------------------------------------------------------- members
  function renderMembers() {
    const c = S.convs.get(S.current);
    const panel = $('members-panel');
    if (!c || c.kind !== 'room') { panel.hidden = true; $('members-toggle').setAttribute('aria-expanded', 'false'); return; }
    if (panel.hidden) return;
    const ul = $('members-list');
    ul.replaceChildren();
    for (const name of [...c.members].sort((a, b) => a.localeCompare(b))) {
      const u = S.users.get(name);
      const li = el('li');
      const dot = el('span', `dot ${u ? u.status : 'offline'}`);
      dot.setAttribute('aria-hidden', 'true');
      li.append(dot, el('span', 'name', name));
      li.setAttribute('aria-label', `${name}, ${u ? u.status : 'status unknown'}`);
      ul.append(li);
    }
  }
  $('members-toggle').addEventListener('click', () => {
    const panel = $('members-panel');
    panel.hidden = !panel.hidden;
    $('members-toggle').setAttribute('aria-expanded', String(!panel.hidden));
    renderMembers();
  });

  // ---------------------------------------------------------------- search
  let lastSearch = null; // the frame of the search shown, for "older results"
  function openSearch() {
    $('search-panel').hidden = false;
    const c = S.convs.get(S.current);
    $('search-scope').options[0].textContent = c ? `In ${c.kind === 'room' ? `#${c.name}` : `your chat with ${c.name}`}` : 'In this conversation';
    $('search-text').focus();
  }
  function doSearch(frame) {
    lastSearch = frame;
    $('search-status').textContent = 'Searching…';
    if (!sendLive(frame)) $('search-status').textContent = 'Not connected: try again once the connection is back.';
  }
  $('search-open').addEventListener('click', openSearch);
  $('search-close').addEventListener('click', () => { $('search-panel').hidden = true; });
  $('search-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = $('search-text').value.trim();
    if (!text) return;
    if (utf8len(text) > 256) { $('search-status').textContent = 'Search for at most 256 bytes of words.'; return; }
    const f = { type: 'search', text };
    const c = S.convs.get(S.current);
    if ($('search-scope').value === 'here' && c) { if (c.kind === 'room') f.room = c.name; else f.peer = c.name; }
    $('search-results').replaceChildren();
    doSearch(f);
  });
  $('search-more').addEventListener('click', () => { if (lastSearch && lastSearch.nextBefore) doSearch({ ...lastSearch, before: lastSearch.nextBefore, nextBefore: undefined }); });
  function onSearchResults(f) {
    const ul = $('search-results');
    for (const hit of f.results) {
      const li = el('li');
      const b = el('button');
      b.type = 'button';
      const peer = hit.room ? null : (hit.from === S.me ? hit.to : hit.from);
      const where = hit.room ? `#${hit.room}` : `with ${peer}`;
      const when = new Date(hit.ts);
      const w = el('span', 'where', `${where} · ${when.toLocaleDateString()} ${fmtTime(hit.ts)}`);
      b.append(w, el('span', 'from', hit.from), el('span', 'text', hit.text));
      b.addEventListener('click', () => {
        const key = hit.room ? convKey('room', hit.room) : getConv('dm', peer).key;
        if (S.convs.has(key)) switchTo(key);
        $('search-panel').hidden = true;
      });
      li.append(b);
      ul.append(li);
    }
    const n = ul.children.length;
    $('search-status').textContent = n ? `${n} message${n === 1 ? '' : 's'} found, newest first${f.more ? '; there are older ones' : ''}.` : `Nothing found for "${f.text}".`;
    $('search-more').hidden = !f.more;
    if (lastSearch && f.results.length) lastSearch = { ...lastSearch, nextBefore: f.results[f.results.length - 1].id };
  }

  // ---------------------------------------------------------------- password
  let newPassword = null;
  $('password-open').addEventListener('click', () => {
    $('password-panel').hidden = false;
    $('password-error').hidden = true;
    for (const id of ['password-old', 'password-new', 'password-again']) $(id).value = '';
    $('password-old').focus();
  });
  $('password-cancel').addEventListener('click', () => { $('password-panel').hidden = true; });
  $('password-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const old = $('password-old').value;
    const neu = $('password-new').value;
    const err = (t) => { $('password-error').hidden = false; $('password-error').textContent = t; };
    if (chars(neu) < 8) { err('A password has at least 8 characters.'); return; }
    if (utf8len(neu) > 1024) { err('A password is at most 1024 bytes.'); return; }
    if (neu !== $('password-again').value) { err('The two new passwords differ.'); return; }
    const f = { type: 'change_password', new: neu };
    if (old) f.old = old;
    newPassword = neu;
    if (!sendLive(f)) { err('Not connected: try again once the connection is back.'); return; }
    $('password-panel').hidden = true;
  });

  // Escape closes what is open on top: a panel, then the sidebar of a phone.
  document.addEventListener('keydown', (ev) => {
    if (ev.key !== 'Escape') return;
    for (const id of ['search-panel', 'files-panel', 'password-panel']) {
      if (!$(id).hidden) { $(id).hidden = true; input.focus(); return; }
    }
    if (document.body.classList.contains('sidebar-open')) closeSidebar();
  });

  // ---------------------------------------------------------------- sidebar (phones)
  function openSidebar() { document.body.classList.add('sidebar-open'); $('menu').setAttribute('aria-expanded', 'true'); }
  function closeSidebar() { document.body.classList.remove('sidebar-open'); $('menu').setAttribute('aria-expanded', 'false'); }
  $('menu').addEventListener('click', () => (document.body.classList.contains('sidebar-open') ? closeSidebar() : openSidebar()));

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
      n.onclick = () => { window.focus(); if (key && S.convs.has(key)) switchTo(key); n.close(); };
    } catch { /* some browsers allow them only from a service worker */ }
  }

  // ---------------------------------------------------------------- calls
  let audioCtx = null;
  function unlockAudio() {
    try {
      if (!audioCtx) audioCtx = new (window.AudioContext || window.webkitAudioContext)();
      if (audioCtx.state === 'suspended') audioCtx.resume();
    } catch { audioCtx = null; }
  }
  // Browsers start audio only after a gesture: the first click or key unlocks it, so that a
  // page that logged in by itself (from its stored session) can still ring.
  for (const ev of ['pointerdown', 'keydown']) document.addEventListener(ev, unlockAudio, { once: true, capture: true });
  let ringTimer = null;
  function ring(on) {
    clearInterval(ringTimer);
    ringTimer = null;
    if (!on || !audioCtx) return;
    const burst = () => {
      const t0 = audioCtx.currentTime;
      for (const [i, freq] of [[0, 880], [1, 660], [2, 880], [3, 660]]) {
        const o = audioCtx.createOscillator();
        const g = audioCtx.createGain();
        o.type = 'sine';
        o.frequency.value = freq;
        const s = t0 + i * 0.2;
        g.gain.setValueAtTime(0.0001, s);
        g.gain.exponentialRampToValueAtTime(0.2, s + 0.02);
        g.gain.exponentialRampToValueAtTime(0.0001, s + 0.18);
        o.connect(g).connect(audioCtx.destination);
        o.start(s);
        o.stop(s + 0.2);
      }
    };
    burst();
    ringTimer = setInterval(burst, 2000);
  }

  function startCall(peer, media) {
    if (S.call) { toast('You are already in a call: hang up first.', 'error'); return; }
    unlockAudio();
    if (!sendLive({ type: 'call', to: peer, media })) toast('Not connected.', 'error');
  }
  $('call-voice').addEventListener('click', () => { const c = S.convs.get(S.current); if (c && c.kind === 'dm') startCall(c.name, 'voice'); });
  $('call-video').addEventListener('click', () => { const c = S.convs.get(S.current); if (c && c.kind === 'dm') startCall(c.name, 'video'); });
  function hangup() { if (S.call) sendLive({ type: 'hangup', call: S.call.id }); }
  $('call-hangup').addEventListener('click', hangup);
  $('call-accept').addEventListener('click', () => { if (S.call) sendLive({ type: 'call_accept', call: S.call.id }); ring(false); $('call-dialog').hidden = true; });
  $('call-decline').addEventListener('click', () => { if (S.call) sendLive({ type: 'call_decline', call: S.call.id }); ring(false); $('call-dialog').hidden = true; });

  let callClock = null;
  function renderCallBar() {
    clearInterval(callClock);
    const bar = $('call-bar');
    const call = S.call;
    if (!call || call.state === 'ringing-in') { bar.hidden = true; return; }
    bar.hidden = false;
    const kind = call.media === 'video' ? 'video call' : 'call';
    if (call.state === 'ringing-out') $('call-text').textContent = `Calling ${call.peer} (${kind})… ringing`;
    else {
      const tick = () => { $('call-text').textContent = `In a ${kind} with ${call.peer} — ${fmtDuration((Date.now() - call.since) / 1000)} (signalling only: talk in your usual voice app)`; };
      tick();
      callClock = setInterval(tick, 1000);
    }
  }

  function onCall(f) {
    switch (f.type) {
      case 'call_ringing':
        S.call = { id: f.call, peer: f.to, media: f.media, state: 'ringing-out' };
        addSystem(getConv('dm', f.to), `Calling ${f.to}…`, 'call');
        break;
      case 'call_incoming': {
        S.call = { id: f.call, peer: f.from, media: f.media, state: 'ringing-in' };
        $('call-dialog-text').textContent = `${f.from} is calling you (${f.media === 'video' ? 'video' : 'voice'}).`;
        $('call-dialog').hidden = false;
        $('call-accept').focus();
        ring(true);
        addSystem(getConv('dm', f.from), `${f.from} is calling you`, 'call');
        notify('Incoming call', `${f.from} is calling you`, convKey('dm', f.from));
        break;
      }
      case 'call_accepted':
        S.call = { id: f.call, peer: f.peer, media: f.media, state: 'active', since: Date.now() };
        ring(false);
        $('call-dialog').hidden = true;
        addSystem(getConv('dm', f.peer), `Call with ${f.peer} connected`, 'call');
        break;
      case 'call_ended': {
        const wasIncoming = S.call && S.call.id === f.call && S.call.state === 'ringing-in';
        let text;
        switch (f.reason) {
          case 'busy': text = `${f.peer} is busy in another call`; break;
          case 'declined': text = f.by === S.me ? `You declined the call from ${f.peer}` : `${f.peer} declined the call`; break;
          case 'missed': text = wasIncoming ? `Missed call from ${f.peer}` : `${f.peer} did not answer`; break;
          case 'disconnected': text = `Call ended: ${f.by && f.by !== S.me ? f.by : f.peer} lost their connection`; break;
          default: text = `Call with ${f.peer} ended${f.by ? ` (${f.by === S.me ? 'you' : f.by} hung up)` : ''}`;
        }
        addSystem(getConv('dm', f.peer), text, `call ${f.reason}`);
        if (!S.call || S.call.id === f.call) S.call = null;
        ring(false);
        $('call-dialog').hidden = true;
        break;
      }
      default:
    }
    renderCallBar();
  }
  function endCallUi(why) {
    if (S.call) addSystem(getConv('dm', S.call.peer), `Call with ${S.call.peer} ended: ${why}`, 'call');
    S.call = null;
    ring(false);
    $('call-dialog').hidden = true;
    renderCallBar();
  }

  // ---------------------------------------------------------------- frames from the server
  function handle(f) {
    if (f.type !== 'topic') S.afterJoined = f.type === 'joined' ? f.room : null;
    switch (f.type) {
      case 'welcome': return onWelcome(f);
      case 'error': return onError(f);
      case 'pong': clearTimeout(S.pongTimer); return undefined;
      case 'ack': return onAck(f);
      case 'message': return onMessage(f);
      case 'synced': return onSynced(f);
      case 'history_end': return onHistoryEnd(f);
      case 'joined': return onJoined(f);
      case 'left': return onLeft(f);
      case 'notice': return onNotice(f);
      case 'topic': return onTopic(f);
      case 'typing': return onTyping(f);
      case 'receipts': return onReceipts(f);
      case 'room_list': return onRoomList(f);
      case 'user_list':
        S.users = new Map(f.users.map((u) => [u.name, u]));
        return renderPeople();
      case 'call_ringing': case 'call_incoming': case 'call_accepted': case 'call_ended': return onCall(f);
      case 'bye': return onBye(f);
      case 'file_state': return onFileState(f);
      case 'file_credit': return onFileCredit(f);
      case 'file_chunk': return onJsonChunk(f);
      case 'file_list': return onFileList(f);
      case 'password_changed':
        if (newPassword) S.password = newPassword; // reconnects need it from now on (memory only)
        newPassword = null;
        return toast(f.registered ? `"${f.name}" is now registered to you: logging in under it needs the password.` : 'Password changed.');
      case 'search_results': return onSearchResults(f);
      default: return undefined; // unknown frame types are ignored (PROTOCOL.md, Versioning)
    }
  }

  function onWelcome(f) {
    const first = !S.everLoggedIn;
    const newBoot = S.boot !== null && S.boot !== f.boot;
    S.me = f.name;
    S.loggedIn = true;
    S.everLoggedIn = true;
    S.retries = 0;
    S.session = f.session;
    S.filesKey = f.files_key || null; // opens GET /files/NAME while we are online
    lsSet(LS.session, f.session);
    lsSet(LS.name, f.name);
    if (S.maxSeen === 0) S.maxSeen = f.last_id;
    S.boot = f.boot;
    clearTimeout(S.reconnectTimer);
    S.reconnectTimer = null;
    startPings();
    if (!$('login').hidden) showApp(); // a first login, or one after a refused reconnect
    if (first) {
      banner(null);
      // Conversations of an earlier visit: private ones are reopened from their history.
      for (const name of lsJson(LS.dms, [])) if (typeof name === 'string' && NAME_RE.test(name) && name !== S.me) getConv('dm', name);
    } else {
      banner(S.catchingUp ? 'Reconnected; catching up…' : 'Reconnected.', null, null, 'ok');
      if (!S.catchingUp) bannerFor(3000);
    }
    for (const c of S.convs.values()) c.missedMarked = false;
    if (newBoot) {
      for (const t of S.transfers.values()) {
        if (!['completed', 'cancelled', 'rejected', 'failed'].includes(t.state)) setTransferState(t, 'failed', 'the server restarted and lost this transfer');
      }
    }
    // Our away message does not survive a new session: say it again.
    if (S.status === 'away' && S.awayMessage) send({ type: 'set_status', status: 'away', message: S.awayMessage });
    resendPending();
    for (const c of S.convs.values()) {
      if (c.kind === 'dm' && !c.historyAsked) requestHistory(c);
      // Receipts not yet sent (the connection was down) go now.
      if (c.lastId > c.deliveredSent) queueDelivered(c, c.lastId);
    }
    pumpHistory();
    send({ type: 'list_users' });
    maybeRead();
    renderMyStatus();
    for (const p of S.pending) renderTicks(p.rec);
  }

  function onSynced(f) {
    const was = S.catchingUp;
    S.catchingUp = false;
    if (!was) return; // held private messages at a first login: they speak for themselves
    // Our own count: the server's f.count includes what this page had already shown.
    const n = S.missedCount;
    banner(n > 0 ? `Reconnected; caught up on ${n} missed message${n === 1 ? '' : 's'}.` : 'Reconnected; nothing was missed.', null, null, 'ok');
    bannerFor(5000);
  }

  function onError(f) {
    if (f.re === 'hello') {
      // A refused login: the connection stays open, but we start afresh on the next try.
      if (S.ws) { const ws = S.ws; S.ws = null; ws.close(); }
      if (f.code === 'name_taken' && S.everLoggedIn) {
        S.stopped = true;
        banner(`You are disconnected: ${f.message}`, 'Log in again', () => location.reload(), 'error');
        return;
      }
      if (S.everLoggedIn && (f.code === 'auth_required' || f.code === 'bad_password')) {
        S.stopped = true;
        showLogin(loginSentence(f));
        return;
      }
      if (S.everLoggedIn && f.code === 'too_many_attempts') { scheduleReconnect(f.message); return; }
      if (!S.everLoggedIn) { showLogin(loginSentence(f)); return; }
      scheduleReconnect(f.message);
      return;
    }
    if (f.code === 'slow_down' && !f.re) { toast('You are sending quickly: the server is pacing your messages (none are lost).'); return; }
    if (f.re === 'history') {
      // Refused (slow_down, or a room we just left): try again a little later.
      const c = S.historyFifo.shift();
      if (c) { c.historyBatch = null; c.historyLoading = false; if (f.code === 'slow_down') setTimeout(() => requestHistory(c), 1000); else c.more = false; }
      pumpHistory();
      return;
    }
    if (f.cid) {
      const i = S.pending.findIndex((p) => p.cid === f.cid);
      if (i >= 0) {
        const p = S.pending[i];
        if (f.code === 'store_failed') {
          p.rec.ticksEl.title = `${f.message} (will try again)`;
          setTimeout(() => { if (S.pending.includes(p)) send(p.frame); }, 5000);
          return;
        }
        S.pending.splice(i, 1);
        p.rec.failed = f.message;
        p.rec.el.classList.add('failed');
        p.rec.el.append(el('div', 'error-line', f.message));
        renderTicks(p.rec);
        return;
      }
      const t = [...S.transfers.values()].find((x) => x.cid === f.cid);
      if (t) { setTransferState(t, 'failed', f.message); return; }
    }
    if (f.re === 'typing' || f.re === 'receipt') { console.warn('server refused', f); return; }
    if (f.re === 'change_password') newPassword = null;
    if (f.re === 'search' || f.code === 'search_failed') { $('search-status').textContent = f.message; return; }
    if (f.re === 'join' || f.re === 'create_room') S.switchOnJoin = null;
    toast(f.message, 'error');
  }

  function onBye(f) {
    if (f.code === 'taken_over') {
      S.stopped = true;
      banner(`${f.reason}. This page will not reconnect by itself, or the two would take the session from each other forever.`, 'Take it back here', () => { S.stopped = false; S.retries = 0; connect(); }, 'error');
    } else if (f.code === 'logged_out') {
      S.stopped = true;
    } else {
      S.byeReason = f.reason;
    }
  }

  function onRoomList(f) {
    const ul = $('all-rooms');
    ul.replaceChildren();
    for (const r of f.rooms) {
      const li = el('li');
      const b = el('button', 'link', `#${r.name}`);
      b.type = 'button';
      b.addEventListener('click', () => joinRoom(r.name));
      li.append(b, el('span', 'count', ` ${r.members} member${r.members === 1 ? '' : 's'}`));
      ul.append(li);
    }
    if (!f.rooms.length) ul.append(el('li', 'hint', 'No rooms yet.'));
  }

  // ---------------------------------------------------------------- files
  // Incremental SHA-256 in plain JavaScript. crypto.subtle exists only in secure contexts
  // (https, or localhost): a chat server on a LAN served over plain http has none, and
  // subtle.digest needs the whole file in memory anyway. This one hashes slice by slice.
  // Int32Array, not Uint32Array: V8 keeps 32-bit signed values as small integers, while
  // unsigned ones above 2^31 become doubles (about 5 times slower here).
  const K256 = new Int32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
  ]);
  class Sha256 {
    constructor() {
      this.h = new Int32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
      this.buf = new Uint8Array(64);
      this.bufLen = 0;
      this.len = 0; // bytes hashed so far
      this.w = new Int32Array(64);
    }
    clone() {
      const c = new Sha256();
      c.h.set(this.h); c.buf.set(this.buf); c.bufLen = this.bufLen; c.len = this.len;
      return c;
    }
    block(d, o) {
      const w = this.w;
      const h = this.h;
      for (let i = 0; i < 16; i++) w[i] = (d[o + 4 * i] << 24) | (d[o + 4 * i + 1] << 16) | (d[o + 4 * i + 2] << 8) | d[o + 4 * i + 3];
      for (let i = 16; i < 64; i++) {
        const a = w[i - 15];
        const b = w[i - 2];
        const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
        const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
        w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
      }
      let A = h[0]; let B = h[1]; let C = h[2]; let D = h[3];
      let E = h[4]; let F = h[5]; let G = h[6]; let H = h[7];
      for (let i = 0; i < 64; i++) {
        const S1 = ((E >>> 6) | (E << 26)) ^ ((E >>> 11) | (E << 21)) ^ ((E >>> 25) | (E << 7));
        const ch = (E & F) ^ (~E & G);
        const t1 = (H + S1 + ch + K256[i] + w[i]) | 0;
        const S0 = ((A >>> 2) | (A << 30)) ^ ((A >>> 13) | (A << 19)) ^ ((A >>> 22) | (A << 10));
        const maj = (A & B) ^ (A & C) ^ (B & C);
        const t2 = (S0 + maj) | 0;
        H = G; G = F; F = E; E = (D + t1) | 0; D = C; C = B; B = A; A = (t1 + t2) | 0;
      }
      h[0] = (h[0] + A) | 0; h[1] = (h[1] + B) | 0; h[2] = (h[2] + C) | 0; h[3] = (h[3] + D) | 0;
      h[4] = (h[4] + E) | 0; h[5] = (h[5] + F) | 0; h[6] = (h[6] + G) | 0; h[7] = (h[7] + H) | 0;
    }
    update(data) {
      let i = 0;
      const n = data.length;
      this.len += n;
      if (this.bufLen) {
        while (i < n && this.bufLen < 64) this.buf[this.bufLen++] = data[i++];
        if (this.bufLen < 64) return this;
        this.block(this.buf, 0);
        this.bufLen = 0;
      }
      for (; i + 64 <= n; i += 64) this.block(data, i);
      while (i < n) this.buf[this.bufLen++] = data[i++];
      return this;
    }
    hex() {
      const c = this.clone();
      const bits = c.len * 8;
      const pad = new Uint8Array(((c.bufLen < 56 ? 56 : 120) - c.bufLen) + 8);
      pad[0] = 0x80;
      const dv = new DataView(pad.buffer);
      dv.setUint32(pad.length - 8, Math.floor(bits / 0x100000000));
      dv.setUint32(pad.length - 4, bits >>> 0);
      c.update(pad);
      return Array.from(c.h, (x) => (x >>> 0).toString(16).padStart(8, '0')).join('');
    }
  }
  window.chatSha256 = (bytes) => new Sha256().update(bytes).hex(); // for the browser tests

  // The file-name rule of PROTOCOL.md (Files), checked before offering or accepting.
  function fileNameProblem(name) {
    const n = utf8len(name);
    if (n < 1 || n > 250) return 'it must be 1 to 250 bytes long';
    if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) return 'it contains a control character';
    if (/[/\\]/.test(name)) return 'it contains a path separator';
    if (/[:*?<>|"]/.test(name)) return 'it contains one of : * ? < > | "';
    if (/^\.+$/.test(name) || name.includes('..')) return 'it contains ".."';
    if (/[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u2028\u2029]/.test(name)) return 'it contains a bidi control or line separator';
    if (/^[\s\u200b-\u200d\u2060\ufeff\u00ad\u3164\uffa0\u115f\u1160]*$/.test(name)) return 'it is only whitespace or invisible characters';
    if (/^[.\-\s]/.test(name)) return 'it starts with ".", "-" or whitespace';
    if (/[.\s]$/.test(name)) return 'it ends with "." or whitespace';
    if (/^(con|prn|aux|nul|com[1-9¹²³]|lpt[1-9¹²³]|conin\$|conout\$)(\.|$)/i.test(name)) return 'it is a Windows device name';
    return null;
  }

  // A transfer: {id, role, peer, name, size, sha256, state, file (sender), chunks (receiver),
  //              done (bytes), credit, hasher, started, cid, card}
  function transferOf(id) { return S.transfers.get(id); }

  async function hashFile(file, progress) {
    const h = new Sha256();
    const step = 4 * 1024 * 1024;
    for (let off = 0; off < file.size; off += step) {
      const buf = new Uint8Array(await file.slice(off, Math.min(file.size, off + step)).arrayBuffer());
      h.update(buf);
      if (progress) progress(Math.min(file.size, off + step));
    }
    return h.hex();
  }

  async function offerFile(file, to) {
    const problem = fileNameProblem(file.name);
    if (problem) { toast(`Cannot send "${file.name}": ${problem}. Rename it first.`, 'error'); return; }
    const cid = nextCid();
    const t = { id: null, cid, role: 'sender', peer: to, name: file.name, size: file.size, file, state: 'hashing', done: 0, credit: 0 };
    S.transfers.set(cid, t);
    renderTransfer(t);
    t.sha256 = await hashFile(file, (n) => { t.hashed = n; renderTransfer(t); });
    t.state = 'offering';
    renderTransfer(t);
    const f = to ? { type: 'file_offer', to, name: file.name, size: file.size, sha256: t.sha256, cid } : { type: 'upload', name: file.name, size: file.size, sha256: t.sha256, cid };
    if (!sendLive(f)) setTransferState(t, 'failed', 'not connected to the server');
  }

  function onFileState(f) {
    let t = transferOf(f.id);
    if (!t && f.cid && S.transfers.has(f.cid)) {
      t = S.transfers.get(f.cid);
      S.transfers.delete(f.cid);
      t.id = f.id;
      S.transfers.set(f.id, t);
    }
    if (!t) {
      t = { id: f.id, role: f.role, peer: f.peer || null, name: f.name, size: f.size, sha256: f.sha256, state: f.state, done: 0, credit: 0 };
      S.transfers.set(f.id, t);
      if (f.role === 'receiver' && f.state === 'pending') {
        if (f.peer) {
          addSystem(getConv('dm', f.peer), `${f.peer} offers you a file: ${f.name} (${fmtBytes(f.size)})`, 'file');
          notify('File offered', `${f.peer} offers ${f.name} (${fmtBytes(f.size)})`, convKey('dm', f.peer));
        }
        const problem = fileNameProblem(f.name);
        if (problem) {
          send({ type: 'file_reject', id: f.id });
          setTransferState(t, 'rejected', `declined: the name is unsafe (${problem})`);
          return;
        }
      }
    }
    t.role = f.role;
    t.peer = f.peer || null;
    t.name = f.name;
    t.size = f.size;
    t.sha256 = f.sha256;
    t.by = f.by;
    t.reason = f.reason;
    const was = t.state;
    if (f.state === 'in_progress' && was !== 'in_progress') {
      t.started = Date.now();
      t.startedAt = f.offset;
      if (t.role === 'sender' && was !== 'paused') {
        // A new stream (accepted, or resumed after an interruption) starts at f.offset with
        // the credit the server sends after this frame.
        t.sent = f.offset;
        t.done = f.offset;
        t.credit = 0;
      }
    }
    setTransferState(t, f.state, f.reason);
    if (t.role === 'sender' && f.state === 'in_progress') {
      if (f.prefix_sha256 && f.offset > 0 && was !== 'paused') checkPrefix(t, f.offset, f.prefix_sha256);
      else pumpSend(t);
    }
    if (t.role === 'receiver') {
      if (f.state === 'in_progress' && t.accepted) grantCredit(t);
      if (f.state === 'pending' && t.autoAccept && !t.accepted) acceptOffer(t);
      // The sender asks to continue: answer with what we hold and its hash.
      if (f.state === 'resuming' && t.chunks) resumeTransfer(t);
    }
  }

  // After a resume the sender checks that the receiver's bytes are a true prefix of its file,
  // and starts over from 0 if not (a chunk at offset 0 tells the receiver so).
  async function checkPrefix(t, offset, prefixHash) {
    t.checking = true;
    let ok = false;
    try { ok = (await hashFile(t.file.slice(0, offset))) === prefixHash; } catch { ok = false; }
    t.checking = false;
    if (ok) t.resumedFrom = offset;
    else { t.sent = 0; t.done = 0; t.resumedFrom = 0; console.warn(`transfer ${t.id}: the receiver's ${offset} bytes are not our file's; starting over`); }
    renderTransfer(t);
    pumpSend(t);
  }

  function setTransferState(t, state, reason) {
    t.state = state;
    if (reason) t.reason = reason;
    if (state === 'completed' && t.role === 'receiver') finishReceive(t);
    if (['cancelled', 'rejected', 'failed'].includes(state)) { t.chunks = null; t.hasher = null; }
    renderTransfer(t);
  }

  function acceptOffer(t) {
    if (t.size > MAX_IN_MEMORY_RECEIVE) {
      toast(`${t.name} is ${fmtBytes(t.size)}: the page can receive at most ${fmtBytes(MAX_IN_MEMORY_RECEIVE)} for now. Use chat-client for it.`, 'error');
      return;
    }
    // TODO(issue 14): a file offered by another user is held in memory until complete (a Blob
    // at the end), so offers over MAX_IN_MEMORY_RECEIVE are refused here. The shared store is
    // downloaded over HTTP instead (GET /files/NAME?key=welcome.files_key, streamed to disk by
    // the browser); person-to-person files need a server-side way to do the same (or the
    // File System Access API, which only some browsers have) before big ones can be taken.
    t.accepted = true;
    t.chunks = [];
    t.done = 0;
    t.hasher = new Sha256();
    t.granted = 0;
    send({ type: 'file_accept', id: t.id, offset: 0 });
    if (t.size === 0) send({ type: 'file_done', id: t.id });
  }

  function grantCredit(t) {
    // Keep CREDIT_WINDOW bytes granted ahead of what arrived.
    const want = Math.min(t.size, t.done + CREDIT_WINDOW) - t.granted;
    if (want >= Math.min(CHUNK * 4, t.size - t.granted) && want > 0 && t.state === 'in_progress') {
      t.granted += want;
      send({ type: 'file_credit', id: t.id, bytes: want });
    }
  }

  function onChunk(buf) {
    const dv = new DataView(buf);
    if (buf.byteLength < 17) return;
    const id = Number(dv.getBigUint64(0));
    const offset = Number(dv.getBigUint64(8));
    receiveBytes(id, offset, new Uint8Array(buf, 16));
  }
  function onJsonChunk(f) {
    const bin = atob(f.data);
    const a = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) a[i] = bin.charCodeAt(i);
    receiveBytes(f.id, f.offset, a);
  }
  function receiveBytes(id, offset, bytes) {
    const t = transferOf(id);
    if (!t || t.role !== 'receiver' || !t.chunks) return;
    if (offset === 0 && t.done > 0) { t.chunks = []; t.done = 0; t.hasher = new Sha256(); } // start over
    if (offset !== t.done) { console.warn(`transfer ${id}: chunk at ${offset}, expected ${t.done}`); return; }
    t.chunks.push(bytes.slice());
    t.hasher.update(bytes);
    t.done += bytes.length;
    grantCredit(t);
    if (t.done === t.size) {
      const got = t.hasher.hex();
      if (got === t.sha256) send({ type: 'file_done', id: t.id });
      else send({ type: 'file_failed', id: t.id, reason: `checksum mismatch: got ${got}` });
    }
    renderTransferSoon(t);
  }

  function finishReceive(t) {
    if (!t.chunks) return;
    const blob = new Blob(t.chunks, { type: 'application/octet-stream' });
    t.chunks = null;
    t.blobSize = blob.size;
    t.blobUrl = URL.createObjectURL(blob);
  }

  function onFileCredit(f) {
    const t = transferOf(f.id);
    if (!t || t.role !== 'sender') return;
    t.credit += f.bytes;
    pumpSend(t);
  }

  async function pumpSend(t) {
    if (t.sending || t.checking || !t.file) return;
    t.sending = true;
    const ws = S.ws;
    try {
      while (t.state === 'in_progress' && t.credit > 0 && t.sent < t.size && S.loggedIn && S.ws === ws) {
        if (ws.bufferedAmount > 4 * 1024 * 1024) { await new Promise((r) => setTimeout(r, 20)); continue; }
        const n = Math.min(CHUNK, t.credit, t.size - t.sent);
        const off = t.sent;
        const data = new Uint8Array(await t.file.slice(off, off + n).arrayBuffer());
        if (t.state !== 'in_progress' || t.sent !== off || S.ws !== ws) break;
        const msg = new Uint8Array(16 + n);
        const dv = new DataView(msg.buffer);
        dv.setBigUint64(0, BigInt(t.id));
        dv.setBigUint64(8, BigInt(off));
        msg.set(data, 16);
        ws.send(msg);
        t.sent += n;
        t.done = t.sent;
        t.credit -= n;
        renderTransferSoon(t);
      }
    } finally {
      t.sending = false;
    }
  }

  const renderSoon = new Set();
  function renderTransferSoon(t) {
    if (renderSoon.has(t)) return;
    renderSoon.add(t);
    setTimeout(() => { renderSoon.delete(t); renderTransfer(t); }, 250);
  }

  function renderTransfer(t) {
    if (t.dismissed) return;
    if (!t.card) {
      t.card = el('div', 'transfer');
      t.card.setAttribute('role', 'group');
      $('transfers').append(t.card);
    }
    const card = t.card;
    card.replaceChildren();
    card.dataset.id = t.id ?? '';
    card.dataset.state = t.state;
    if (t.resumedFrom !== undefined) card.dataset.resumedFrom = t.resumedFrom;
    const who = t.role === 'sender' ? (t.peer ? `to ${t.peer}` : 'to the shared store') : (t.peer ? `from ${t.peer}` : 'from the shared store');
    const head = el('div', 'transfer-head');
    head.append(el('strong', 'fname', t.name), el('span', 'who', ` ${who} · ${fmtBytes(t.size)}`));
    card.setAttribute('aria-label', `file ${t.name} ${who}`);
    const stateLine = el('div', 'transfer-state');
    let text = t.state.replace('_', ' ');
    if (t.state === 'hashing') text = `checking the file (SHA-256) ${t.size ? Math.floor(100 * (t.hashed || 0) / t.size) : 100}%`;
    if (t.state === 'in_progress' || t.state === 'paused') {
      const pct = t.size ? Math.floor(100 * t.done / t.size) : 100;
      const secs = (Date.now() - (t.started || Date.now())) / 1000;
      const rate = secs > 0.5 ? (t.done - (t.startedAt || 0)) / secs : 0;
      const eta = rate > 0 ? (t.size - t.done) / rate : Infinity;
      text = `${t.state === 'paused' ? `paused${t.by ? ` by ${t.by}` : ''}, ` : ''}${pct}% · ${fmtBytes(t.done)} of ${fmtBytes(t.size)}${rate ? ` · ${fmtBytes(rate)}/s · ETA ${fmtDuration(eta)}` : ''}`;
      const bar = el('progress');
      bar.max = t.size || 1;
      bar.value = t.done;
      bar.setAttribute('aria-label', `${t.name}: ${pct}%`);
      card.append(head, bar);
    } else {
      card.append(head);
    }
    if (t.reason && ['failed', 'rejected', 'cancelled', 'interrupted'].includes(t.state)) text += `: ${t.reason}`;
    else if (t.by && ['cancelled', 'rejected'].includes(t.state)) text += ` by ${t.by}`;
    stateLine.textContent = text;
    card.append(stateLine);
    const actions = el('div', 'transfer-actions');
    const button = (label, fn, cls) => { const b = el('button', `small ${cls || ''}`, label); b.type = 'button'; b.addEventListener('click', fn); actions.append(b); };
    const live = !['completed', 'cancelled', 'rejected', 'failed', 'hashing', 'offering'].includes(t.state);
    if (t.role === 'receiver' && t.state === 'pending' && !t.accepted) {
      button('Accept', () => acceptOffer(t), 'ok');
      button('Reject', () => send({ type: 'file_reject', id: t.id }), 'danger');
    } else if (live) {
      if (t.state === 'in_progress') button('Pause', () => send({ type: 'file_pause', id: t.id }));
      if (t.state === 'paused' || (t.state === 'interrupted' && (t.role === 'sender' ? t.file : t.chunks))) {
        button('Resume', () => resumeTransfer(t));
      }
      button('Cancel', () => send({ type: 'file_cancel', id: t.id }), 'danger');
    }
    if (t.blobUrl) {
      const a = el('a', 'button small ok', 'Save');
      a.href = t.blobUrl;
      a.download = t.name;
      a.dataset.size = t.blobSize;
      a.setAttribute('aria-label', `Save ${t.name}`);
      actions.append(a);
    }
    if (!live && t.state !== 'pending') button('Dismiss', () => { t.dismissed = true; card.remove(); t.card = null; if (t.blobUrl) URL.revokeObjectURL(t.blobUrl); S.transfers.delete(t.id ?? t.cid); });
    card.append(actions);
  }

  function resumeTransfer(t) {
    if (t.state === 'paused') { send({ type: 'file_resume', id: t.id }); return; }
    if (t.role === 'receiver') {
      // Continue from what we hold, proving it with its hash.
      send({ type: 'file_accept', id: t.id, offset: t.done, prefix_sha256: t.hasher.hex() });
      t.granted = t.done;
    } else {
      send({ type: 'file_resume', id: t.id });
    }
  }

  $('send-file').addEventListener('click', () => $('offer-input').click());
  $('offer-input').addEventListener('change', () => {
    const c = S.convs.get(S.current);
    const file = $('offer-input').files[0];
    $('offer-input').value = '';
    if (file && c && c.kind === 'dm') offerFile(file, c.name);
  });

  // Shared store
  function openFiles() {
    $('files-panel').hidden = false;
    sendLive({ type: 'list_files' });
    $('files-close').focus();
  }
  $('files-open').addEventListener('click', openFiles);
  $('files-close').addEventListener('click', () => { $('files-panel').hidden = true; });
  $('files-refresh').addEventListener('click', () => sendLive({ type: 'list_files' }));
  $('upload-input').addEventListener('change', () => {
    const file = $('upload-input').files[0];
    $('upload-input').value = '';
    if (file) offerFile(file, null);
  });
  function onFileList(f) {
    const body = $('files-body');
    body.replaceChildren();
    for (const file of f.files) {
      const tr = el('tr');
      tr.append(el('td', 'fname', file.name), el('td', 'num', fmtBytes(file.size)), el('td', '', file.uploader), el('td', '', new Date(file.ts).toLocaleString()));
      const td = el('td');
      if (S.filesKey) {
        // The browser's own download manager fetches it over HTTP (streamed to disk, resumable):
        // nothing is held in the page's memory, whatever the size.
        const a = el('a', 'button small', 'Download');
        const href = () => `/files/${encodeURIComponent(file.name)}?key=${encodeURIComponent(S.filesKey)}`;
        a.href = href();
        a.download = file.name;
        a.setAttribute('aria-label', `Download ${file.name}`);
        a.addEventListener('click', () => { a.href = href(); }); // the key changes with each login
        td.append(a);
        tr.append(td);
        body.append(tr);
        continue;
      }
      // A server without HTTP downloads: fetch it over the WebSocket, into memory.
      const b = el('button', 'small', 'Download');
      b.type = 'button';
      b.setAttribute('aria-label', `Download ${file.name}`);
      b.addEventListener('click', () => {
        if (file.size > MAX_IN_MEMORY_RECEIVE) { toast(`${file.name} is too big for the page for now (${fmtBytes(MAX_IN_MEMORY_RECEIVE)} at most); use chat-client.`, 'error'); return; }
        const cid = nextCid();
        const t = { id: null, cid, role: 'receiver', peer: null, name: file.name, size: file.size, state: 'requested', done: 0, credit: 0, autoAccept: true };
        S.transfers.set(cid, t);
        renderTransfer(t);
        sendLive({ type: 'download', name: file.name, cid });
      });
      td.append(b);
      tr.append(td);
      body.append(tr);
    }
    if (!f.files.length) { const tr = el('tr'); const td = el('td', 'hint', 'The store is empty.'); td.colSpan = 5; tr.append(td); body.append(tr); }
  }
  // Drag and drop onto the page: upload to the store.
  let dragDepth = 0;
  window.addEventListener('dragenter', (ev) => {
    if (!S.loggedIn || !ev.dataTransfer || ![...ev.dataTransfer.types].includes('Files')) return;
    dragDepth++;
    $('drop-overlay').hidden = false;
  });
  window.addEventListener('dragleave', () => { if (--dragDepth <= 0) { dragDepth = 0; $('drop-overlay').hidden = true; } });
  window.addEventListener('dragover', (ev) => { if (ev.dataTransfer && [...ev.dataTransfer.types].includes('Files')) ev.preventDefault(); });
  window.addEventListener('drop', (ev) => {
    dragDepth = 0;
    $('drop-overlay').hidden = true;
    if (!ev.dataTransfer || !ev.dataTransfer.files.length) return;
    ev.preventDefault();
    for (const file of ev.dataTransfer.files) offerFile(file, null);
  });

  // ---------------------------------------------------------------- start
  function start() {
    const name = lsGet(LS.name);
    $('login-name').value = name || '';
    if (name && S.session && NAME_RE.test(name)) {
      // Coming back to the page: try the stored session (an open name needs no password).
      S.me = name;
      for (const r of lsJson(LS.rooms, [])) if (typeof r === 'string' && NAME_RE.test(r)) { const c = getConv('room', r); c.joined = true; }
      S.loginAttempted = true;
      setLoginBusy(true);
      connect();
    } else {
      $('login-name').focus();
    }
  }
  $('composer').hidden = true;
  start();
})();
