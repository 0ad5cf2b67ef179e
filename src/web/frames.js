// src/web/frames.js: frames from the server: handle() sends each to the script that knows it,
// and this one handles the session's own: welcome (logged in, or back after a drop), synced
// (caught up), error (refused logins, and errors of frames the page sent) and bye.
'use strict';

(() => {
  const C = window.Chat;
  const {
    $, LS, NAME_RE, S, banner, bannerFor, connect, el, getConv, lsJson, lsSet, maybeRead,
    onAck, onCall, onFileCredit, onFileList, onFileState, onHistoryEnd, onJoined,
    onJsonChunk, onLeft, onMessage, onNotice, onReceipts, onRoomList, onSearchResults, onTopic,
    onTyping, pumpHistory, queueDelivered, renderMyStatus, renderPeople, renderTicks,
    requestHistory, resendPending, scheduleReconnect, send, setTransferState, startPings, toast,
  } = C;

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
        if (S.newPassword) S.password = S.newPassword; // reconnects need it from now on (memory only)
        S.newPassword = null;
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
    if (!$('login').hidden) C.showApp(); // a first login, or one after a refused reconnect
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
        C.showLogin(C.loginSentence(f));
        return;
      }
      if (S.everLoggedIn && f.code === 'too_many_attempts') { scheduleReconnect(f.message); return; }
      if (!S.everLoggedIn) { C.showLogin(C.loginSentence(f)); return; }
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
    if (f.re === 'change_password') S.newPassword = null;
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

  Object.assign(C, { handle });
})();
