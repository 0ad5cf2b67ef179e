// src/web/state.js: the page's state, one object S shared by every script (the user, the
// connection, conversations, the queue of unacknowledged messages, calls, transfers), and the
// client ids (cid) of this page load.
'use strict';

(() => {
  const C = window.Chat;
  const { LS, lsGet, randomHex } = C;

  const cidPrefix = `w${randomHex(6)}`; // unique per page load: cids belong to the name
  let cidCounter = 0;
  const nextCid = () => `${cidPrefix}-${++cidCounter}`;

  const S = {
    me: null,
    password: null, // memory only, for reconnects of a registered name; never stored
    newPassword: null, // sent in change_password, in use once password_changed confirms it
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

  Object.assign(C, { S, nextCid });
})();
