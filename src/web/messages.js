// src/web/messages.js: messages in a conversation: building each one's element (text, mentions
// marked, time, ticks), day separators and grouping by sender, live messages with unread counts
// and notifications, and history: older pages asked for as the user scrolls up.
'use strict';

(() => {
  const C = window.Chat;
  const { S, dayKey, el, escapeRe, fmtDay, fmtTime, getConv, notify, renderLists, send } = C;

  const HISTORY_PAGE = 50;

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
    if (rec.own) C.renderTicks(rec);
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
    if (c.typers.has(f.from)) { clearTimeout(c.typers.get(f.from)); c.typers.delete(f.from); C.renderTyping(); }
    if (f.replay === 'missed' && !c.missedMarked) {
      c.missedMarked = true;
      addSystem(c, 'Sent while you were away:', 'missed-sep', f.ts);
    }
    appendNode(c, messageEl(rec));
    C.queueDelivered(c, f.id);
    const visible = S.current === c.key && C.pageActive();
    if (!own && !visible) {
      c.unread++;
      if (rec.mention || c.kind === 'dm') c.mention = true;
      renderLists();
    }
    if (!own && (document.hidden || !S.focused)) {
      if (c.kind === 'dm') notify(`${f.from} (private)`, f.text, c.key);
      else if (rec.mention) notify(`${f.from} in #${c.name}`, f.text, c.key);
    }
    C.maybeRead();
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
    if (c.lastId) C.queueDelivered(c, c.lastId);
    if (!firstOld) {
      box.scrollTop = box.scrollHeight;
    } else {
      box.scrollTop = oldTop + (box.scrollHeight - oldHeight);
    }
    if (S.current === c.key) {
      C.maybeRead();
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

  Object.assign(C, {
    addSystem, appendNode, messageEl, onHistoryEnd, onMessage, pumpHistory, relayout,
    requestHistory,
  });
})();
