// src/web/connection.js: the WebSocket to the server: connecting and the hello (with the session
// to resume, the rooms and the last message seen), sending frames, pings, and reconnecting with
// backoff after a drop, with the banner counting down. Frames that arrive go to frames.js
// (Chat.handle); binary file chunks to transfers.js (Chat.onChunk).
'use strict';

(() => {
  const C = window.Chat;
  const { LS, S, banner, lsGet } = C;

  const PROTOCOL_VERSION = 1;
  const PING_EVERY_MS = 25000;
  const PONG_TIMEOUT_MS = 10000;
  const RECONNECT_MAX_MS = 30000;

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
        try { C.handle(f); } catch (e) { console.error('handling', f && f.type, e); }
      } else {
        try { C.onChunk(ev.data); } catch (e) { console.error('chunk', e); }
      }
    };
    ws.onclose = (ev) => { if (S.ws === ws) onSocketGone(ws, ev.reason || (ev.code === 1006 ? 'the connection was lost' : `closed (${ev.code})`)); };
    ws.onerror = () => { /* onclose follows */ };
  }

  function sendHello() {
    const rooms = C.roomNames();
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
      C.clearTypingOf(c);
    }
    if (S.call) C.endCallUi('the connection to the server was lost');
    for (const t of S.transfers.values()) if (t.state === 'in_progress' || t.state === 'pending') { t.sending = false; }
    C.sinksGone();
    C.renderTyping();
    if (S.stopped) return;
    if (!S.everLoggedIn) {
      C.loginError(S.loginAttempted ? `Could not reach the chat server: ${why}.` : null);
      C.setLoginBusy(false);
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

  Object.assign(C, {
    connect, scheduleReconnect, send, sendLive, startPings, updateReconnectBanner,
  });
})();
