// src/web/conversations.js: conversations (a room '#name' or a private one '@name'): creating one
// with its message box, removing it, switching to it, and the lists of them kept in localStorage.
'use strict';

(() => {
  const C = window.Chat;
  const { $, LS, S, el, lsSet } = C;

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
    box.addEventListener('scroll', () => { if (box.scrollTop < 60 && S.current === key) C.requestHistory(c); });
    $('conversations').append(box);
    S.convs.set(key, c);
    C.renderLists();
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
    C.renderLists();
    saveLists();
  }

  function switchTo(key) {
    if (S.typing.key && S.typing.key !== key) C.stopTyping();
    const prev = S.convs.get(S.current);
    if (prev) prev.box.hidden = true;
    S.current = key;
    const c = S.convs.get(key);
    $('empty-hint').hidden = !!c;
    $('composer').hidden = !c;
    if (!c) { C.renderHeader(); C.renderLists(); C.renderTyping(); return; }
    c.box.hidden = false;
    c.unread = 0;
    c.mention = false;
    C.renderHeader();
    C.renderLists();
    C.renderTyping();
    if (!c.historyAsked) C.requestHistory(c);
    c.box.scrollTop = c.box.scrollHeight;
    C.maybeRead();
    C.closeSidebar();
  }

  Object.assign(C, { convKey, getConv, removeConv, roomNames, saveLists, switchTo });
})();
